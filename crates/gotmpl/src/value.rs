//! Values as a Go template sees them through reflection: Go's dynamic types (`int` is not
//! `int64` is not `float64`), maps shared by reference, nil interfaces distinct from missing
//! values, and objects with fields and methods.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use crate::GoError;
pub use crate::entries::Entries;
use crate::exec::Runtime;

/// An immutable shared string.
pub type Str = Rc<str>;

/// A Go value.
#[derive(Clone)]
pub enum Value {
    /// No value at all (Go's zero `reflect.Value`): a missing key after a pipeline, a variable
    /// holding nothing. Printed as `<no value>` by an action.
    Invalid,
    /// A nil `interface{}` (a `null` in values, a function returning nil).
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `int64`.
    Int64(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    String(Str),
    /// A Go `string` whose bytes are not valid UTF-8 (a binary file read with Helm's
    /// `.Files.Get`). Only [`Value::go_string`] makes one, so a `String` is never one of these.
    /// The functions that declare they handle raw bytes ([`Method::go_bytes`]) see it; passing
    /// it to any other is an error naming the function, never a guess.
    BinStr(Rc<[u8]>),
    /// `[]byte`.
    Bytes(Rc<[u8]>),
    /// A slice.
    List(List),
    /// A map with string keys.
    Map(Map),
    /// A struct, a pointer to one, or another Go object with fields and methods.
    Object(Rc<dyn Object>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Invalid => f.write_str("Invalid"),
            Value::Nil => f.write_str("Nil"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::Int64(i) => write!(f, "Int64({i})"),
            Value::Float(x) => write!(f, "Float({x})"),
            Value::String(s) => write!(f, "String({s:?})"),
            Value::BinStr(b) => write!(f, "BinStr({b:?})"),
            Value::Bytes(b) => write!(f, "Bytes({b:?})"),
            Value::List(l) => write!(f, "List<{}>({:?})", l.ty.name, l.items),
            Value::Map(m) => write!(f, "Map<{}>({:?})", m.ty.name, m.data.borrow()),
            Value::Object(o) => write!(f, "Object<{}>", o.type_name()),
        }
    }
}

/// What a slice or map holds, which decides the zero value of a missing element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    /// `interface{}`.
    Any,
    /// `string`.
    Str,
    /// `int`.
    Int,
    /// `[]byte`.
    Bytes,
    /// `[]interface{}`.
    List,
}

impl Elem {
    /// The element type's zero value.
    pub fn zero(self) -> Value {
        match self {
            Elem::Any => Value::Nil,
            Elem::Str => Value::str(""),
            Elem::Int => Value::Int(0),
            Elem::Bytes => Value::Bytes(Rc::from(Vec::new())),
            Elem::List => Value::List(List::nil()),
        }
    }
}

/// Methods of a named type, found by name on a receiver.
pub type ListMethods = fn(&List, &str) -> Option<Method>;
/// Methods of a named map type.
pub type MapMethods = fn(&Map, &str) -> Option<Method>;

/// A slice type.
#[derive(Debug)]
pub struct ListType {
    /// Go's name for it (`%T`).
    pub name: &'static str,
    /// Element type.
    pub elem: Elem,
    /// Methods, for named types.
    pub methods: Option<ListMethods>,
}

/// A map type (keys are always strings).
#[derive(Debug)]
pub struct MapType {
    /// Go's name for it (`%T`).
    pub name: &'static str,
    /// Element type.
    pub elem: Elem,
    /// Methods, for named types.
    pub methods: Option<MapMethods>,
    /// Whether a function parameter of type `map[string]interface{}` accepts it.
    pub assignable_to_map_any: bool,
}

/// `[]interface {}`.
pub static LIST_ANY: ListType = ListType {
    name: "[]interface {}",
    elem: Elem::Any,
    methods: None,
};
/// `[]string`.
pub static LIST_STR: ListType = ListType {
    name: "[]string",
    elem: Elem::Str,
    methods: None,
};
/// `[]int`.
pub static LIST_INT: ListType = ListType {
    name: "[]int",
    elem: Elem::Int,
    methods: None,
};
/// `[][]interface {}`.
pub static LIST_LIST: ListType = ListType {
    name: "[][]interface {}",
    elem: Elem::List,
    methods: None,
};
/// `map[string]interface {}`.
pub static MAP_ANY: MapType = MapType {
    name: "map[string]interface {}",
    elem: Elem::Any,
    methods: None,
    assignable_to_map_any: true,
};
/// `map[string]string`.
pub static MAP_STR: MapType = MapType {
    name: "map[string]string",
    elem: Elem::Str,
    methods: None,
    assignable_to_map_any: false,
};

/// A Go slice: shared, never mutated in place (the functions that "modify" slices copy).
#[derive(Clone, Debug)]
pub struct List {
    /// The elements.
    pub items: Rc<Vec<Value>>,
    /// The slice's type.
    pub ty: &'static ListType,
    /// A nil slice (JSON `null`), as opposed to an empty one.
    pub nil: bool,
    /// Built from a Go map's keys or values: Go would order it randomly.
    pub unordered: bool,
}

impl List {
    /// A `[]interface{}` of `items`.
    pub fn new(items: Vec<Value>) -> List {
        List::typed(items, &LIST_ANY)
    }

    /// A slice of type `ty`.
    pub fn typed(items: Vec<Value>, ty: &'static ListType) -> List {
        List {
            items: Rc::new(items),
            ty,
            nil: false,
            unordered: false,
        }
    }

    /// A nil slice of the given type (`regexFindAll` with no match is a nil `[]string`).
    pub fn nil_typed(ty: &'static ListType) -> List {
        List {
            items: Rc::new(Vec::new()),
            ty,
            nil: true,
            unordered: false,
        }
    }

    /// A nil `[]interface{}`.
    pub fn nil() -> List {
        List {
            items: Rc::new(Vec::new()),
            ty: &LIST_ANY,
            nil: true,
            unordered: false,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

thread_local! {
    static MAP_WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times a map has been written on this thread ([`Map::insert`], [`Map::remove`],
/// [`Map::data_mut`]): a result computed from maps stays valid while this number stays the
/// same. Maps are `Rc`, so only this thread's writes can change this thread's maps.
pub fn map_writes() -> u64 {
    MAP_WRITES.with(std::cell::Cell::get)
}

fn note_map_write() {
    MAP_WRITES.with(|w| w.set(w.get().wrapping_add(1)));
}

/// A Go map with string keys: shared by reference, as Go maps are, so `set` on one name is
/// seen through every other.
#[derive(Clone, Debug)]
pub struct Map {
    /// The entries, in Go's sorted key order. Read them here; write them through
    /// [`Map::insert`], [`Map::remove`] or [`Map::data_mut`], which [`map_writes`] counts.
    pub data: Rc<RefCell<Entries>>,
    /// The map's type.
    pub ty: &'static MapType,
    /// A nil map (JSON `null`; writing to it fails).
    pub nil: bool,
}

impl Map {
    /// A new empty `map[string]interface{}`.
    pub fn new() -> Map {
        Map::typed(Entries::new(), &MAP_ANY)
    }

    /// A map of type `ty` holding `data`.
    pub fn typed(data: Entries, ty: &'static MapType) -> Map {
        Map {
            data: Rc::new(RefCell::new(data)),
            ty,
            nil: false,
        }
    }

    /// A `map[string]interface{}` holding `data`.
    pub fn from_map(data: Entries) -> Map {
        Map::typed(data, &MAP_ANY)
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.data.borrow().get(key).cloned()
    }

    /// Sets `key`.
    pub fn insert(&self, key: impl Into<String>, value: Value) {
        note_map_write();
        self.data.borrow_mut().insert(key.into(), value);
    }

    /// Deletes `key`.
    pub fn remove(&self, key: &str) -> Option<Value> {
        note_map_write();
        self.data.borrow_mut().remove(key)
    }

    /// The entries, to change in place.
    pub fn data_mut(&self) -> std::cell::RefMut<'_, Entries> {
        note_map_write();
        self.data.borrow_mut()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.data.borrow().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.data.borrow().is_empty()
    }

    /// Whether both names refer to the same Go map.
    pub fn ptr_eq(&self, other: &Map) -> bool {
        Rc::ptr_eq(&self.data, &other.data)
    }
}

impl Default for Map {
    fn default() -> Self {
        Map::new()
    }
}

/// A function's or method's Go parameter type, which decides how an argument is checked and
/// how a constant is converted (Go's `evalArg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `interface{}`.
    Any,
    /// `reflect.Value` (the builtins): receives the value as it is, even a missing one.
    Reflect,
    /// `string`.
    Str,
    /// `int`.
    Int,
    /// `int64`.
    Int64,
    /// `float64`.
    Float,
    /// `bool`.
    Bool,
    /// `map[string]interface{}`.
    MapAny,
    /// `[]interface{}`.
    SliceAny,
}

impl Ty {
    /// Go's name for the type, as error messages print it.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Reflect => "reflect.Value",
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Int64 => "int64",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::MapAny => "map[string]interface {}",
            Ty::SliceAny => "[]interface {}",
        }
    }

    /// Whether Go's `nil` is a value of this type.
    pub fn can_be_nil(self) -> bool {
        matches!(self, Ty::Any | Ty::Reflect | Ty::MapAny | Ty::SliceAny)
    }
}

/// A function's Go signature.
#[derive(Debug, Clone, Copy)]
pub struct Sig {
    /// The fixed parameters.
    pub params: &'static [Ty],
    /// The element type of a final `...T` parameter.
    pub variadic: Option<Ty>,
}

impl Sig {
    /// A signature.
    pub const fn new(params: &'static [Ty], variadic: Option<Ty>) -> Sig {
        Sig { params, variadic }
    }
}

/// The body of a function or method.
pub type NativeFn = Rc<dyn Fn(&mut Runtime<'_>, &[Value]) -> Result<Value, GoError>>;

/// A callable: a template function or a bound method.
#[derive(Clone)]
pub struct Method {
    /// Its signature.
    pub sig: Sig,
    /// Its body.
    pub f: NativeFn,
    /// Whether it handles a string that is not valid UTF-8 ([`Value::BinStr`]) byte for byte.
    pub go_bytes: bool,
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Method({:?})", self.sig)
    }
}

/// A Go object a template can reach into: a struct (or pointer to one), `time.Time`, a semver
/// version.
pub trait Object: fmt::Debug {
    /// Go's type name (`%T`), e.g. `*common.Capabilities`.
    fn type_name(&self) -> &str;
    /// reflect's kind name: `ptr` or `struct`.
    fn kind(&self) -> &'static str {
        "ptr"
    }
    /// An exported field.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    /// A method, bound to this receiver.
    fn method(&self, _name: &str) -> Option<Method> {
        None
    }
    /// What `fmt` prints for the value passed as an interface (its `String()` when the value
    /// itself implements `fmt.Stringer`, else Go's struct syntax).
    fn format(&self) -> String;
    /// What a template action prints: as `format`, except that a `String()` on the pointer
    /// receiver also counts, since the template holds an addressable value.
    fn template_print(&self) -> String {
        self.format()
    }
    /// What `encoding/json` encodes it as, as a plain value.
    fn json(&self) -> Result<Value, String>;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
}

impl Value {
    /// A map's or slice's identity (the address of what its copies share) and Go's name for
    /// its type; `None` for anything else. What walks a value watches, past some depth, to
    /// find one that contains itself (a template makes one with `set`): Go's encoding/json
    /// reports it, and a walk that did not would recurse until the stack overflowed.
    pub fn identity(&self) -> Option<(usize, &'static str)> {
        match self {
            Value::Map(m) => Some((Rc::as_ptr(&m.data) as *const () as usize, m.ty.name)),
            Value::List(l) => Some((Rc::as_ptr(&l.items) as *const () as usize, l.ty.name)),
            _ => None,
        }
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::String(Rc::from(s))
    }

    /// A string value from an owned string.
    pub fn string(s: String) -> Value {
        Value::String(Rc::from(s))
    }

    /// A Go string of arbitrary bytes: a `String` when they are valid UTF-8, else a `BinStr`.
    pub fn go_string(b: Vec<u8>) -> Value {
        match String::from_utf8(b) {
            Ok(s) => Value::string(s),
            Err(e) => Value::BinStr(Rc::from(e.into_bytes())),
        }
    }

    /// The bytes of a Go string (`String` or `BinStr`).
    pub fn go_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(s) => Some(s.as_bytes()),
            Value::BinStr(b) => Some(b),
            _ => None,
        }
    }

    /// Go's `%T` for the value.
    pub fn type_name(&self) -> String {
        match self {
            Value::Invalid | Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Int64(_) => "int64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) | Value::BinStr(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(l) => l.ty.name.into(),
            Value::Map(m) => m.ty.name.into(),
            Value::Object(o) => o.type_name().into(),
        }
    }

    /// reflect's `Kind().String()` (what sprig's `kindOf` returns).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Invalid | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) | Value::BinStr(_) => "string",
            Value::Bytes(_) | Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) => o.kind(),
        }
    }

    /// Whether this is a nil interface or no value at all.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Invalid | Value::Nil)
    }

    /// Go's `isTrue` (what `if`, `with`, `and`, `or`, `not` use); `Invalid` is false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Invalid | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::BinStr(b) | Value::Bytes(b) => !b.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.data.borrow().is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Whether the value is assignable to a parameter of type `ty` as it is.
    pub fn assignable(&self, ty: Ty) -> bool {
        match ty {
            Ty::Any | Ty::Reflect => true,
            Ty::Str => matches!(self, Value::String(_) | Value::BinStr(_)),
            Ty::Int => matches!(self, Value::Int(_)),
            Ty::Int64 => matches!(self, Value::Int64(_)),
            Ty::Float => matches!(self, Value::Float(_)),
            Ty::Bool => matches!(self, Value::Bool(_)),
            Ty::MapAny => matches!(self, Value::Map(m) if m.ty.assignable_to_map_any),
            Ty::SliceAny => matches!(self, Value::List(l) if std::ptr::eq(l.ty, &LIST_ANY)),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A Go `int` argument (the executor has checked its type).
    pub fn as_int(&self) -> i64 {
        match self {
            Value::Int(i) | Value::Int64(i) => *i,
            Value::Float(f) => *f as i64,
            _ => 0,
        }
    }

    /// A Go `float64` argument.
    pub fn as_float(&self) -> f64 {
        match self {
            Value::Float(f) => *f,
            Value::Int(i) | Value::Int64(i) => *i as f64,
            _ => 0.0,
        }
    }

    /// A Go `bool` argument.
    pub fn as_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The number of elements of a string, slice or map.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Option<usize> {
        match self {
            Value::String(s) => Some(s.len()),
            Value::BinStr(b) | Value::Bytes(b) => Some(b.len()),
            Value::List(l) => Some(l.items.len()),
            Value::Map(m) => Some(m.data.borrow().len()),
            _ => None,
        }
    }
}

/// reflect.DeepEqual: identical types and deeply equal contents.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    deep_equal_seen(a, b, &mut Vec::new())
}

/// [`deep_equal`], with the pairs of maps and slices already being compared: as DeepEqual
/// does, a pair met again is taken as equal, so that comparing maps that contain themselves
/// (a template makes them with `set`) ends, where it recursed until the stack overflowed.
fn deep_equal_seen(a: &Value, b: &Value, seen: &mut Vec<(usize, usize)>) -> bool {
    if let (Some((x, _)), Some((y, _))) = (a.identity(), b.identity()) {
        let pair = (x.min(y), x.max(y));
        if seen.contains(&pair) {
            return true;
        }
        seen.push(pair);
    }
    match (a, b) {
        (Value::Invalid | Value::Nil, Value::Invalid | Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        // DeepEqual uses ==, so NaN is never equal to itself.
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) | (Value::BinStr(x), Value::BinStr(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            std::ptr::eq(x.ty, y.ty)
                && x.nil == y.nil
                && x.items.len() == y.items.len()
                && x.items
                    .iter()
                    .zip(y.items.iter())
                    .all(|(p, q)| deep_equal_seen(p, q, seen))
        }
        (Value::Map(x), Value::Map(y)) => {
            if !std::ptr::eq(x.ty, y.ty) || x.nil != y.nil {
                return false;
            }
            if x.ptr_eq(y) {
                return true;
            }
            let (p, q) = (x.data.borrow(), y.data.borrow());
            p.len() == q.len()
                && p.iter().all(|(k, v)| match q.get(k) {
                    Some(w) => deep_equal_seen(v, w, seen),
                    None => false,
                })
        }
        (Value::Object(x), Value::Object(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

/// Whether `m` and every map and list inside it are held only where they are: a reference
/// count of one each (the holder's), so that no change made through them shows elsewhere.
pub fn is_unshared(m: &Map) -> bool {
    fn inner(v: &Value) -> bool {
        match v {
            Value::Map(m) => is_unshared(m),
            Value::List(l) => {
                Rc::strong_count(&l.items) == 1
                    && Rc::weak_count(&l.items) == 0
                    && l.items.iter().all(inner)
            }
            _ => true,
        }
    }
    Rc::strong_count(&m.data) == 1
        && Rc::weak_count(&m.data) == 0
        && m.data.try_borrow().is_ok_and(|d| d.values().all(inner))
}

/// Copies a value deeply (sprig's `deepCopy`): maps become new maps.
pub fn deep_copy(v: &Value) -> Value {
    deep_copy_within(v, usize::MAX).unwrap_or(Value::Invalid)
}

/// How many maps and slices inside each other a walk that does not watch for one containing
/// itself (`%v`, `deepCopy`) goes before it gives up with a limit error: Go's own walks
/// recurse until its stack limit ends the process.
pub const MAX_NESTING: usize = 10_000;

/// [`deep_copy`] of maps and slices at most `depth` inside each other; `None` past it. A map
/// that contains itself (a template makes one with `set`) has no end to copy: Go's
/// copystructure recurses until its stack limit ends the process, and a copy without a
/// limit overflowed the render's stack.
pub fn deep_copy_within(v: &Value, depth: usize) -> Option<Value> {
    Some(match v {
        Value::List(_) | Value::Map(_) if depth == 0 => return None,
        Value::List(l) => Value::List(List {
            items: Rc::new(
                l.items
                    .iter()
                    .map(|i| deep_copy_within(i, depth - 1))
                    .collect::<Option<_>>()?,
            ),
            ty: l.ty,
            nil: l.nil,
            unordered: l.unordered,
        }),
        Value::Map(m) => {
            let data = m
                .data
                .borrow()
                .iter()
                .map(|(k, v)| Some((k.clone(), deep_copy_within(v, depth - 1)?)))
                .collect::<Option<_>>()?;
            Value::Map(Map {
                data: Rc::new(RefCell::new(data)),
                ty: m.ty,
                nil: m.nil,
            })
        }
        other => other.clone(),
    })
}

/// The bytes as Go's `[]rune(string(b))` and encoding/json see them: each byte that is not part
/// of a valid UTF-8 sequence becomes U+FFFD on its own (Rust's lossy conversion would merge a
/// truncated sequence into one).
pub fn go_lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

/// Go's `utf8.RuneCount`: an invalid byte counts as one rune.
pub fn go_rune_count(b: &[u8]) -> usize {
    b.utf8_chunks()
        .map(|c| c.valid().chars().count() + c.invalid().len())
        .sum()
}
