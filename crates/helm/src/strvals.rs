//! `--set` as Helm parses it (`pkg/strvals`): dotted keys, `[i]` indexes, `{a,b}` lists, `\`
//! escapes, and typed values (`true`, `null`, integers as int64, the rest strings).

use gantry_gotmpl::{List, Map, Value};

const MAX_INDEX: i64 = 65536;
const MAX_NESTED: usize = 30;

enum Err {
    Eof,
    NotList,
    Msg(String),
}

impl Err {
    fn text(self) -> String {
        match self {
            Err::Eof => "EOF".into(),
            Err::NotList => "not a list".into(),
            Err::Msg(m) => m,
        }
    }
}

struct Parser {
    s: Vec<char>,
    pos: usize,
    string_values: bool,
}

fn type_err(got: &Value, want: &str) -> Err {
    Err::Msg(format!(
        "unable to parse key: interface conversion: interface {{}} is {}, not {want}",
        if got.is_nil() {
            "nil".into()
        } else {
            got.type_name()
        }
    ))
}

impl Parser {
    fn read(&mut self) -> Option<char> {
        let c = self.s.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    /// Reads until a stop rune; returns the text, the stop rune (None at EOF).
    fn until(&mut self, stop: &[char]) -> (Vec<char>, Option<char>) {
        let mut v = Vec::new();
        loop {
            match self.read() {
                None => return (v, None),
                Some(r) if stop.contains(&r) => return (v, Some(r)),
                Some('\\') => match self.read() {
                    None => return (v, None),
                    Some(n) => v.push(n),
                },
                Some(r) => v.push(r),
            }
        }
    }

    fn typed(&self, v: &[char]) -> Value {
        let val: String = v.iter().collect();
        if self.string_values {
            return Value::string(val);
        }
        if val.eq_ignore_ascii_case("true") {
            return Value::Bool(true);
        }
        if val.eq_ignore_ascii_case("false") {
            return Value::Bool(false);
        }
        if val.eq_ignore_ascii_case("null") {
            return Value::Nil;
        }
        if val == "0" {
            return Value::Int64(0);
        }
        if !val.is_empty() && !val.starts_with('0') {
            let body = val.strip_prefix(['+', '-']).unwrap_or(&val);
            if !body.is_empty()
                && body.bytes().all(|b| b.is_ascii_digit())
                && let Ok(i) = val.parse::<i64>()
            {
                return Value::Int64(i);
            }
        }
        Value::string(val)
    }

    fn key(&mut self, data: &Map, nested: usize) -> Result<(), Err> {
        let (k, last) = self.until(&['=', '[', ',', '.']);
        let ks: String = k.iter().collect();
        match last {
            None => {
                if k.is_empty() {
                    return Err(Err::Eof);
                }
                Err(Err::Msg(format!(
                    "key {} has no value",
                    gantry_gotmpl::gofmt::quote(&ks)
                )))
            }
            Some('[') => {
                let i = self
                    .key_index()
                    .map_err(|e| Err::Msg(format!("error parsing index: {}", e.text())))?;
                let list = match data.get(&ks) {
                    None => Vec::new(),
                    Some(Value::List(l)) => l.items.to_vec(),
                    Some(other) => return Err(type_err(&other, "[]interface {}")),
                };
                let r = self.list_item(list, i, nested);
                match r {
                    Ok(l) => {
                        set(data, &ks, Value::List(List::new(l)));
                        Ok(())
                    }
                    Err((l, e)) => {
                        set(data, &ks, Value::List(List::new(l)));
                        Err(e)
                    }
                }
            }
            Some('=') => match self.val_list() {
                Ok(vl) => {
                    set(data, &ks, Value::List(List::new(vl)));
                    Ok(())
                }
                Err(Err::Eof) => {
                    set(data, &ks, Value::str(""));
                    Err(Err::Eof)
                }
                Err(Err::NotList) => {
                    let (rs, _) = self.until(&[',']);
                    let v = self.typed(&rs);
                    set(data, &ks, v);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Some(',') => {
                set(data, &ks, Value::str(""));
                Err(Err::Msg(format!(
                    "key {} has no value (cannot end with ,)",
                    gantry_gotmpl::gofmt::quote(&ks)
                )))
            }
            Some(_) => {
                let nested = nested + 1;
                if nested > MAX_NESTED {
                    return Err(Err::Msg(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED}"
                    )));
                }
                let inner = match data.get(&ks) {
                    None => Map::new(),
                    Some(Value::Map(m)) => m,
                    Some(other) => return Err(type_err(&other, "map[string]interface {}")),
                };
                let e = self.key(&inner, nested);
                if e.is_ok() && inner.is_empty() {
                    return Err(Err::Msg(format!(
                        "key map {} has no value",
                        gantry_gotmpl::gofmt::quote(&ks)
                    )));
                }
                if !inner.is_empty() {
                    set(data, &ks, Value::Map(inner));
                }
                e
            }
        }
    }

    fn key_index(&mut self) -> Result<i64, Err> {
        let (v, last) = self.until(&[']']);
        if last.is_none() {
            return Err(Err::Eof);
        }
        let s: String = v.iter().collect();
        s.parse::<i64>().map_err(|_| {
            Err::Msg(format!(
                "strconv.Atoi: parsing {}: invalid syntax",
                gantry_gotmpl::gofmt::quote(&s)
            ))
        })
    }

    fn list_item(
        &mut self,
        list: Vec<Value>,
        i: i64,
        nested: usize,
    ) -> Result<Vec<Value>, (Vec<Value>, Err)> {
        if i < 0 {
            return Err((list, Err::Msg(format!("negative {i} index not allowed"))));
        }
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            let ks: String = k.iter().collect();
            return Err((
                list,
                Err::Msg(format!(
                    "unexpected data at end of array index: {}",
                    gantry_gotmpl::gofmt::quote(&ks)
                )),
            ));
        }
        match last {
            None => Err((list, Err::Eof)),
            Some('=') => match self.val_list() {
                Ok(vl) => set_index(list, i, Value::List(List::new(vl))),
                Err(Err::Eof) => set_index(list, i, Value::str("")),
                Err(Err::NotList) => {
                    let (rs, _) = self.until(&[',']);
                    let v = self.typed(&rs);
                    set_index(list, i, v)
                }
                Err(e) => Err((list, e)),
            },
            Some('[') => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => {
                        return Err((list, Err::Msg(format!("error parsing index: {}", e.text()))));
                    }
                };
                let crt = match list.get(i as usize) {
                    Some(Value::List(l)) => l.items.to_vec(),
                    Some(Value::Nil) | None => Vec::new(),
                    Some(other) => {
                        let e = type_err(other, "[]interface {}");
                        return Err((list, e));
                    }
                };
                match self.list_item(crt, next, nested) {
                    Ok(l2) => set_index(list, i, Value::List(List::new(l2))),
                    Err((_, e)) => Err((list, e)),
                }
            }
            Some(_) => {
                let mut list = list;
                let inner = match list.get(i as usize) {
                    Some(Value::Map(m)) => m.clone(),
                    Some(_) => {
                        let m = Map::new();
                        list[i as usize] = Value::Map(m.clone());
                        m
                    }
                    None => Map::new(),
                };
                if let Err(e) = self.key(&inner, nested) {
                    return Err((list, e));
                }
                set_index(list, i, Value::Map(inner))
            }
        }
    }

    fn val_list(&mut self) -> Result<Vec<Value>, Err> {
        match self.read() {
            None => return Err(Err::Eof),
            Some('{') => {}
            Some(_) => {
                self.unread();
                return Err(Err::NotList);
            }
        }
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.until(&[',', '}']);
            match last {
                None => return Err(Err::Msg("list must terminate with '}'".into())),
                Some('}') => {
                    if let Some(r) = self.read()
                        && r != ','
                    {
                        self.unread();
                    }
                    list.push(self.typed(&rs));
                    return Ok(list);
                }
                Some(_) => list.push(self.typed(&rs)),
            }
        }
    }
}

fn set(data: &Map, key: &str, v: Value) {
    if !key.is_empty() {
        data.insert(key, v);
    }
}

fn set_index(mut list: Vec<Value>, i: i64, v: Value) -> Result<Vec<Value>, (Vec<Value>, Err)> {
    if i > MAX_INDEX {
        return Err((
            list,
            Err::Msg(format!(
                "index of {i} is greater than maximum supported index of {MAX_INDEX}"
            )),
        ));
    }
    let i = i as usize;
    if list.len() <= i {
        list.resize(i + 1, Value::Nil);
    }
    list[i] = v;
    Ok(list)
}

/// `strvals.ParseInto(s, dest)` (`--set`); `string_values` is `--set-string`.
pub fn parse_into(s: &str, dest: &Map, string_values: bool) -> Result<(), String> {
    let mut p = Parser {
        s: s.chars().collect(),
        pos: 0,
        string_values,
    };
    loop {
        match p.key(dest, 0) {
            Ok(()) => continue,
            Err(Err::Eof) => return Ok(()),
            Err(e) => return Err(e.text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        let m = Map::new();
        match parse_into(s, &m, false) {
            Ok(()) => gantry_gotmpl::gofmt::format_v(&Value::Map(m)).unwrap(),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn parses_like_helm() {
        assert_eq!(p("a=1,b=true,c=null,d=x"), "map[a:1 b:true c:<nil> d:x]");
        assert_eq!(p("a.b.c=1"), "map[a:map[b:map[c:1]]]");
        assert_eq!(p("l={a,b,c}"), "map[l:[a b c]]");
        assert_eq!(p("l[1]=x"), "map[l:[<nil> x]]");
        assert_eq!(p("l[0].n=x"), "map[l:[map[n:x]]]");
        assert_eq!(p("a=0755"), "map[a:0755]");
        assert_eq!(p("a\\.b=1"), "map[a.b:1]");
        assert_eq!(p("a"), "ERR key \"a\" has no value");
        assert_eq!(p("a="), "map[a:]");
    }
}
