//! Lists and dicts: Sprig's list.go and dict.go (with their panics as errors), mergo's
//! `Merge`/`MergeWithOverwrite` as `merge`/`mergeOverwrite` use them, and `deepCopy`.

use gantry_gotmpl::value::{
    LIST_ANY, LIST_LIST, LIST_STR, MAP_ANY, MAX_NESTING, deep_copy_within, deep_equal,
};
use gantry_gotmpl::{Entries, GoError, List, Map, Ty, Value};

use super::convert::{empty, strval, to_int};
use super::{Reg, nil_deref, s};

const A: Ty = Ty::Any;
const M: Ty = Ty::MapAny;

/// The elements of a slice argument, or Sprig's error for another kind (`Cannot <what> on
/// type <kind>`); a nil argument is Go's nil-pointer panic.
pub fn list_items(v: &Value, what: &str) -> Result<List, GoError> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Bytes(b) => Ok(List::new(b.iter().map(|x| Value::Int(*x as i64)).collect())),
        Value::Invalid | Value::Nil => Err(nil_deref()),
        other => Err(GoError::new(format!("{what} {}", other.kind_name()))),
    }
}

fn any_list(items: Vec<Value>, unordered: bool) -> Value {
    let mut l = List::new(items);
    l.unordered = unordered;
    Value::List(l)
}

fn map_arg(v: &Value) -> Option<Map> {
    match v {
        Value::Map(m) if !m.nil => Some(m.clone()),
        _ => None,
    }
}

fn new_map(data: Entries) -> Value {
    Value::Map(Map::typed(data, &MAP_ANY))
}

/// mergo's `isEmptyValue` on a map element (dereferencing interfaces).
fn merge_empty(v: &Value) -> bool {
    match v {
        Value::Object(_) => false,
        other => empty(other),
    }
}

/// mergo's `deepMerge` of two `map[string]interface{}` values.
fn deep_merge(dst: &Map, src: &Map, overwrite: bool, depth: usize) -> Result<(), GoError> {
    if depth > 10_000 {
        return Err(GoError::limit("merge nested too deep"));
    }
    if dst.ptr_eq(src) {
        // Merging a map into itself changes nothing.
        return Ok(());
    }
    let src_entries: Vec<(String, Value)> = src
        .data
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let dst_empty_before = dst.is_empty();
    for (key, sv) in src_entries {
        let dv = dst.get(&key);
        if sv.is_nil() {
            if overwrite {
                dst.insert(key, Value::Nil);
            }
            continue;
        }
        match &sv {
            Value::Map(sm) => {
                if let Some(Value::Map(dm)) = &dv
                    && !dm.nil
                {
                    deep_merge(dm, sm, overwrite, depth + 1)?;
                }
            }
            Value::List(_) | Value::Bytes(_) => {
                let dst_slice = match &dv {
                    None | Some(Value::Nil) => Value::List(List::new(Vec::new())),
                    Some(d) => d.clone(),
                };
                // mergo tests the emptiness of the two maps, not of the elements.
                let set_src = (!src.is_empty()) && (overwrite || dst_empty_before);
                dst.insert(key.clone(), if set_src { sv.clone() } else { dst_slice });
            }
            _ => {}
        }
        if let Some(d) = &dv
            && !merge_empty(&current(dst, &key, d))
        {
            if matches!(sv, Value::List(_) | Value::Bytes(_)) {
                continue;
            }
            if matches!(sv, Value::Map(_)) && matches!(d, Value::Map(_)) {
                continue;
            }
        }
        let d_valid_nonempty = matches!(&dv, Some(d) if !merge_empty(&current(dst, &key, d)));
        if overwrite || dv.is_none() || !d_valid_nonempty {
            dst.insert(key, sv);
        }
    }
    Ok(())
}

/// The element as mergo sees it after its recursive merge (maps change in place).
fn current(_dst: &Map, _key: &str, d: &Value) -> Value {
    d.clone()
}

fn merge_fn(a: &[Value], overwrite: bool) -> Result<Value, GoError> {
    let dst = match &a[0] {
        Value::Map(m) if !m.nil => m.clone(),
        _ => Map::new(),
    };
    for src in &a[1..] {
        if let Some(sm) = map_arg(src) {
            deep_merge(&dst, &sm, overwrite, 0)?;
        }
    }
    Ok(Value::Map(dst))
}

fn dig(a: &[Value]) -> Result<Value, GoError> {
    if a.len() < 3 {
        return Err(GoError::new("dig needs at least three arguments"));
    }
    let n = a.len();
    let mut dict = match &a[n - 1] {
        Value::Map(m) if std::ptr::eq(m.ty, &MAP_ANY) => m.clone(),
        other => {
            return Err(GoError::new(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                if other.is_nil() {
                    "nil".to_owned()
                } else {
                    other.type_name()
                }
            )));
        }
    };
    let def = a[n - 2].clone();
    let keys = &a[..n - 2];
    for (i, k) in keys.iter().enumerate() {
        let Value::String(key) = k else {
            return Err(GoError::new(format!(
                "interface conversion: interface {{}} is {}, not string",
                if k.is_nil() {
                    "nil".to_owned()
                } else {
                    k.type_name()
                }
            )));
        };
        let Some(step) = dict.get(key) else {
            return Ok(def);
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        dict = match step {
            Value::Map(m) if std::ptr::eq(m.ty, &MAP_ANY) => m,
            other => {
                return Err(GoError::new(format!(
                    "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                    if other.is_nil() {
                        "nil".to_owned()
                    } else {
                        other.type_name()
                    }
                )));
            }
        };
    }
    Ok(def)
}

pub(super) fn register(r: &mut Reg<'_>) {
    for name in ["list", "tuple"] {
        r.add(name, &[], Some(A), |_, a| {
            Ok(Value::List(List::new(a.to_vec())))
        });
    }
    r.add("dict", &[], Some(A), |_, a| {
        let mut m = Entries::new();
        let mut i = 0;
        while i < a.len() {
            let k = strval(&a[i])?;
            let v = a.get(i + 1).cloned().unwrap_or_else(|| Value::str(""));
            m.insert(k, v);
            i += 2;
        }
        Ok(new_map(m))
    });
    r.add("get", &[M, Ty::Str], None, |_, a| {
        Ok(map_arg(&a[0])
            .and_then(|m| m.get(s(&a[1])))
            .unwrap_or_else(|| Value::str("")))
    });
    r.add("set", &[M, Ty::Str, A], None, |_, a| {
        let Value::Map(m) = &a[0] else {
            return Err(GoError::new("assignment to entry in nil map"));
        };
        if m.nil {
            return Err(GoError::new("assignment to entry in nil map"));
        }
        m.insert(s(&a[1]), a[2].clone());
        Ok(a[0].clone())
    });
    r.add("unset", &[M, Ty::Str], None, |_, a| {
        if let Some(m) = map_arg(&a[0]) {
            m.remove(s(&a[1]));
        }
        Ok(a[0].clone())
    });
    r.add("hasKey", &[M, Ty::Str], None, |_, a| {
        Ok(Value::Bool(
            map_arg(&a[0]).is_some_and(|m| m.get(s(&a[1])).is_some()),
        ))
    });
    r.add("pluck", &[Ty::Str], Some(M), |_, a| {
        let key = s(&a[0]);
        Ok(any_list(
            a[1..]
                .iter()
                .filter_map(|d| map_arg(d).and_then(|m| m.get(key)))
                .collect(),
            false,
        ))
    });
    r.add("keys", &[], Some(M), |_, a| {
        let mut k = Vec::new();
        for d in a {
            if let Some(m) = map_arg(d) {
                k.extend(m.data.borrow().keys().map(|x| Value::str(x)));
            }
        }
        let mut l = List::typed(k, &LIST_STR);
        l.unordered = true;
        Ok(Value::List(l))
    });
    r.add("values", &[M], None, |_, a| {
        let v: Vec<Value> = map_arg(&a[0])
            .map(|m| m.data.borrow().values().cloned().collect())
            .unwrap_or_default();
        Ok(any_list(v, true))
    });
    r.add("pick", &[M], Some(Ty::Str), |_, a| {
        let mut out = Entries::new();
        if let Some(m) = map_arg(&a[0]) {
            for k in &a[1..] {
                if let Some(v) = m.get(s(k)) {
                    out.insert(s(k).to_owned(), v);
                }
            }
        }
        Ok(new_map(out))
    });
    r.add("omit", &[M], Some(Ty::Str), |_, a| {
        let mut out = Entries::new();
        if let Some(m) = map_arg(&a[0]) {
            for (k, v) in m.data.borrow().iter() {
                if !a[1..].iter().any(|o| s(o) == k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(new_map(out))
    });
    r.add("merge", &[M], Some(M), |_, a| merge_fn(a, false));
    r.add("mustMerge", &[M], Some(M), |_, a| merge_fn(a, false));
    r.add("mergeOverwrite", &[M], Some(M), |_, a| merge_fn(a, true));
    r.add("mustMergeOverwrite", &[M], Some(M), |_, a| {
        merge_fn(a, true)
    });
    for name in ["deepCopy", "mustDeepCopy"] {
        r.add(name, &[A], None, move |_, a| {
            // copystructure asks reflection for the type of nil, which panics (the template
            // reports it as the call's error).
            if matches!(a[0], Value::Nil | Value::Invalid) {
                return Err(GoError::new(
                    "reflect: call of reflect.Value.Type on zero Value",
                ));
            }
            deep_copy_within(&a[0], MAX_NESTING).ok_or_else(|| {
                GoError::limit(format!(
                    "{name} of a value nested more than {MAX_NESTING} deep \
                     (one that contains itself?)"
                ))
            })
        });
    }
    r.add("dig", &[], Some(A), |_, a| dig(a));

    for name in ["append", "push", "mustAppend", "mustPush"] {
        r.add(name, &[A, A], None, |_, a| {
            let l = list_items(&a[0], "Cannot push on type")?;
            let mut v = l.items.to_vec();
            v.push(a[1].clone());
            Ok(any_list(v, l.unordered))
        });
    }
    for name in ["prepend", "mustPrepend"] {
        r.add(name, &[A, A], None, |_, a| {
            let l = list_items(&a[0], "Cannot prepend on type")?;
            let mut v = vec![a[1].clone()];
            v.extend(l.items.iter().cloned());
            Ok(any_list(v, l.unordered))
        });
    }
    for name in ["first", "mustFirst"] {
        r.add(name, &[A], None, |rt, a| {
            let l = list_items(&a[0], "Cannot find first on type")?;
            if l.unordered && l.items.len() > 1 {
                rt.budget
                    .note_nondeterminism("first of a map's keys or values");
            }
            Ok(l.items.first().cloned().unwrap_or(Value::Nil))
        });
    }
    for name in ["last", "mustLast"] {
        r.add(name, &[A], None, |rt, a| {
            let l = list_items(&a[0], "Cannot find last on type")?;
            if l.unordered && l.items.len() > 1 {
                rt.budget
                    .note_nondeterminism("last of a map's keys or values");
            }
            Ok(l.items.last().cloned().unwrap_or(Value::Nil))
        });
    }
    for name in ["rest", "mustRest"] {
        r.add(name, &[A], None, |_, a| {
            let l = list_items(&a[0], "Cannot find rest on type")?;
            if l.items.is_empty() {
                return Ok(Value::List(List::nil()));
            }
            Ok(any_list(l.items[1..].to_vec(), l.unordered))
        });
    }
    for name in ["initial", "mustInitial"] {
        r.add(name, &[A], None, |_, a| {
            let l = list_items(&a[0], "Cannot find initial on type")?;
            if l.items.is_empty() {
                return Ok(Value::List(List::nil()));
            }
            Ok(any_list(l.items[..l.items.len() - 1].to_vec(), l.unordered))
        });
    }
    for name in ["reverse", "mustReverse"] {
        r.add(name, &[A], None, |_, a| {
            let l = list_items(&a[0], "Cannot find reverse on type")?;
            Ok(any_list(
                l.items.iter().rev().cloned().collect(),
                l.unordered,
            ))
        });
    }
    for name in ["compact", "mustCompact"] {
        r.add(name, &[A], None, |_, a| {
            let l = list_items(&a[0], "Cannot compact on type")?;
            Ok(any_list(
                l.items.iter().filter(|v| !empty(v)).cloned().collect(),
                l.unordered,
            ))
        });
    }
    for name in ["uniq", "mustUniq"] {
        r.add(name, &[A], None, |_, a| {
            let l = list_items(&a[0], "Cannot find uniq on type")?;
            let mut out: Vec<Value> = Vec::new();
            for v in l.items.iter() {
                if !out.iter().any(|o| deep_equal(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(any_list(out, l.unordered))
        });
    }
    for name in ["without", "mustWithout"] {
        r.add(name, &[A], Some(A), |_, a| {
            let l = list_items(&a[0], "Cannot find without on type")?;
            let omit = &a[1..];
            Ok(any_list(
                l.items
                    .iter()
                    .filter(|v| !omit.iter().any(|o| deep_equal(o, v)))
                    .cloned()
                    .collect(),
                l.unordered,
            ))
        });
    }
    for name in ["has", "mustHas"] {
        r.add(name, &[A, A], None, |_, a| {
            if a[1].is_nil() {
                return Ok(Value::Bool(false));
            }
            let l = list_items(&a[1], "Cannot find has on type")?;
            Ok(Value::Bool(l.items.iter().any(|v| deep_equal(&a[0], v))))
        });
    }
    for name in ["slice", "mustSlice"] {
        r.add(name, &[A], Some(A), |_, a| {
            let l = list_items(&a[0], "list should be type of slice or array but")?;
            let n = l.items.len() as i64;
            if n == 0 {
                return Ok(Value::Nil);
            }
            let start = a.get(1).map(to_int).unwrap_or(0);
            let end = if a.len() < 3 { n } else { to_int(&a[2]) };
            if start < 0 || end < start || end > n {
                // Sprig's `slice` asks reflect, whose panic the template reports.
                return Err(GoError::new(
                    "reflect.Value.Slice: slice index out of bounds",
                ));
            }
            let mut out = List::typed(l.items[start as usize..end as usize].to_vec(), l.ty);
            out.unordered = l.unordered;
            Ok(Value::List(out))
        });
    }
    r.add("concat", &[], Some(A), |_, a| {
        let mut res: Vec<Value> = Vec::new();
        let mut any = false;
        let mut unordered = false;
        for v in a {
            match v {
                Value::List(l) => {
                    unordered |= l.unordered;
                    res.extend(l.items.iter().cloned());
                    any |= !l.items.is_empty();
                }
                Value::Invalid | Value::Nil => return Err(nil_deref()),
                other => {
                    return Err(GoError::new(format!(
                        "Cannot concat type {} as list",
                        other.kind_name()
                    )));
                }
            }
        }
        if !any {
            return Ok(Value::List(List::nil()));
        }
        Ok(any_list(res, unordered))
    });
    for name in ["chunk", "mustChunk"] {
        r.add(name, &[Ty::Int, A], None, |_, a| {
            let size = a[0].as_int();
            let l = list_items(&a[1], "Cannot chunk type")?;
            let n = l.items.len() as i64;
            if size <= 0 {
                return Err(GoError::new("runtime error: integer divide by zero"));
            }
            let cs = ((n - 1) as f64 / size as f64).floor() as i64 + 1;
            let mut out = Vec::new();
            for i in 0..cs.max(0) {
                let mut clen = size;
                if i == cs - 1 {
                    clen = n % size;
                    if clen == 0 {
                        clen = size;
                    }
                }
                let start = (i * size) as usize;
                let end = (start + clen as usize).min(l.items.len());
                out.push(Value::List(List::new(l.items[start..end].to_vec())));
            }
            Ok(Value::List(List::typed(out, &LIST_LIST)))
        });
    }
    let _ = &LIST_ANY;
}
