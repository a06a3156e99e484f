//! The executor of Go's text/template (`exec.go`): pipelines, variables and their scopes,
//! `if`/`with`/`range` (with `break`, `continue`, maps in key order, integers), `template`,
//! Go's argument checking and constant conversion per parameter type, `missingkey` options,
//! short-circuit `and`/`or`, and Go's error messages with `name:line:col` locations.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use crate::gofmt;
use crate::parse::{
    self, Arg, BranchKind, BranchNode, CommandNode, ListNode, Node, NumberNode, ParseError,
    PipeNode, Pos, Span, TemplateNode, Tree, VariableNode,
};
use crate::value::{List, MAP_ANY, Map, Method, NativeFn, Sig, Str, Ty, Value};
use crate::{FastMap, GoError};

/// What a missing map key yields (`Option("missingkey=...")`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// No value (`missingkey=default`).
    Invalid,
    /// The element type's zero value (`missingkey=zero`, what Helm uses).
    #[default]
    Zero,
    /// An error (`missingkey=error`, Helm's strict mode).
    Error,
}

/// Builtins that the executor implements itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// A plain function.
    None,
    /// `and` (short-circuit).
    And,
    /// `or` (short-circuit).
    Or,
    /// `call`.
    Call,
}

/// A template function.
#[derive(Clone)]
pub struct Func {
    /// Its Go signature.
    pub sig: Sig,
    /// Its body.
    pub f: NativeFn,
    /// Whether the executor implements it.
    pub special: Special,
    /// Whether it handles a Go string that is not valid UTF-8 byte for byte.
    pub go_bytes: bool,
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Func({:?})", self.sig)
    }
}

impl Func {
    /// A function with a signature and a body.
    pub fn new(
        params: &'static [Ty],
        variadic: Option<Ty>,
        f: impl Fn(&mut Runtime<'_>, &[Value]) -> Result<Value, GoError> + 'static,
    ) -> Func {
        Func {
            sig: Sig::new(params, variadic),
            f: Rc::new(f),
            special: Special::None,
            go_bytes: false,
        }
    }

    /// The same function, declared to handle a string that is not valid UTF-8
    /// ([`Value::BinStr`]) byte for byte; other functions refuse one.
    pub fn with_go_bytes(mut self) -> Func {
        self.go_bytes = true;
        self
    }
}

/// The functions templates can call: the caller's, then Go's builtins.
#[derive(Debug, Default)]
pub struct Funcs {
    /// Functions defined by the caller (they shadow builtins of the same name).
    pub user: FastMap<String, Func>,
    /// Go's builtins.
    pub builtins: FastMap<String, Func>,
}

impl Funcs {
    /// Go's builtins and the given functions.
    pub fn with_builtins(user: FastMap<String, Func>) -> Funcs {
        Funcs {
            user,
            builtins: crate::builtins::builtins(),
        }
    }

    /// The function called `name`, and whether it is a builtin.
    pub fn get(&self, name: &str) -> Option<(&Func, bool)> {
        if let Some(f) = self.user.get(name) {
            return Some((f, false));
        }
        self.builtins.get(name).map(|f| (f, true))
    }

    /// Whether `name` is defined.
    pub fn has(&self, name: &str) -> bool {
        self.user.contains_key(name) || self.builtins.contains_key(name)
    }

    /// The names of every function, for a parse on another thread (the functions themselves
    /// stay on this one).
    pub fn names(&self) -> crate::FastSet<&str> {
        self.user
            .keys()
            .chain(self.builtins.keys())
            .map(String::as_str)
            .collect()
    }
}

/// A template ready to run: its tree, and its string constants as the shared strings values
/// hold.
#[derive(Debug)]
pub struct Template {
    /// The parse tree.
    pub tree: Tree,
    strings: Box<[Str]>,
    // How large its output is likely to be: its top-level text at first, then the length of
    // its last output. An output grown by doubling from nothing was about a tenth of executing
    // a chart of many small templates (`include` of the same helpers, over and over).
    size_hint: Cell<usize>,
}

impl Template {
    /// Makes a parsed tree runnable.
    pub fn new(tree: Tree) -> Template {
        // The tree keeps its own copies. They were made by the thread that parsed it, most
        // often the helper, and freeing them here was a free across threads for each; and a
        // reader of the tree after it joined a set finds its constants (which helper a Helm
        // `include` names, when it asks whether a helper can see `.Template`: with the
        // constants taken, every helper that includes another was taken to see it).
        let strings = tree.strings.iter().map(|s| Str::from(&**s)).collect();
        let text = tree
            .root
            .nodes
            .iter()
            .map(|n| match n {
                Node::Text { text, .. } => text.len(),
                _ => 0,
            })
            .sum();
        Template {
            tree,
            strings,
            size_hint: Cell::new(text),
        }
    }
}

/// The trees of one parse, made runnable, for [`Templates::add_shared`].
pub fn runnable(trees: HashMap<String, Tree>) -> Vec<(String, Rc<Template>)> {
    trees
        .into_iter()
        .map(|(n, t)| (n, Rc::new(Template::new(t))))
        .collect()
}

struct SetInner {
    own: RefCell<FastMap<String, Rc<Template>>>,
    parent: Option<Rc<SetInner>>,
    name: String,
    funcs: Rc<Funcs>,
    missing_key: MissingKey,
}

/// A set of associated templates (Go's `*Template` and its common namespace). Cloning the
/// handle shares the set; [`Templates::layer`] makes a copy-on-write clone as
/// `Template.Clone` does.
#[derive(Clone)]
pub struct Templates {
    inner: Rc<SetInner>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Templates({:?})", self.inner.name)
    }
}

impl Templates {
    /// An empty set named `name` (the name only appears in error messages).
    pub fn new(name: &str, funcs: Rc<Funcs>, missing_key: MissingKey) -> Templates {
        Templates {
            inner: Rc::new(SetInner {
                own: RefCell::new(FastMap::default()),
                parent: None,
                name: name.to_owned(),
                funcs,
                missing_key,
            }),
        }
    }

    /// The set's identity while it lives: two handles of one set give the same number.
    pub fn id(&self) -> usize {
        Rc::as_ptr(&self.inner) as usize
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The functions.
    pub fn funcs(&self) -> &Rc<Funcs> {
        &self.inner.funcs
    }

    /// A clone whose new definitions stay in the clone (Go's `Template.Clone`).
    pub fn layer(&self) -> Templates {
        Templates {
            inner: Rc::new(SetInner {
                own: RefCell::new(FastMap::default()),
                parent: Some(self.inner.clone()),
                name: self.inner.name.clone(),
                funcs: self.inner.funcs.clone(),
                missing_key: self.inner.missing_key,
            }),
        }
    }

    /// The template called `name`.
    pub fn lookup(&self, name: &str) -> Option<Rc<Template>> {
        let mut s = Some(&self.inner);
        while let Some(set) = s {
            if let Some(t) = set.own.borrow().get(name) {
                return Some(t.clone());
            }
            s = set.parent.as_ref();
        }
        None
    }

    /// Makes room for `n` more templates: a chart knows its count before it parses, and a
    /// set grown by rehashing copies every entry into fresh memory at each step.
    pub fn reserve(&self, n: usize) {
        self.inner.own.borrow_mut().reserve(n);
    }

    /// Parses `text` as the template `name` and adds it and its definitions, replacing earlier
    /// definitions except by empty ones (Go's `t.New(name).Parse(text)`); returns the template
    /// `name` itself.
    pub fn parse(&self, name: &str, text: &str) -> Result<Rc<Template>, ParseError> {
        Ok(self.add_shared(
            name,
            || Arc::new(text.to_owned()),
            &self.parse_runnable(name, text)?,
        ))
    }

    /// Whether the set's functions include `name` (what a parse of its templates needs).
    pub fn has_func(&self, name: &str) -> bool {
        self.inner.funcs.has(name)
    }

    /// The first half of [`Templates::parse`]: the templates `text` makes with this set's
    /// functions, not yet added, so that they can be added to many sets
    /// ([`Templates::add_shared`]).
    pub fn parse_runnable(
        &self,
        name: &str,
        text: &str,
    ) -> Result<Vec<(String, Rc<Template>)>, ParseError> {
        self.parse_runnable_shared(name, Arc::new(text.to_owned()))
    }

    /// [`Templates::parse_runnable`] of a text the caller already shares: the trees keep it
    /// as it is, not a copy.
    pub fn parse_runnable_shared(
        &self,
        name: &str,
        text: parse::SharedText,
    ) -> Result<Vec<(String, Rc<Template>)>, ParseError> {
        let funcs = self.inner.funcs.clone();
        let has = move |n: &str| funcs.has(n);
        Ok(runnable(parse::parse_shared(name, text, &has)?))
    }

    /// Adds the trees [`parse::parse`] made of `text` as the template `name` (the second half
    /// of [`Templates::parse`], for trees parsed elsewhere).
    pub fn add(&self, name: &str, text: &str, trees: HashMap<String, Tree>) -> Rc<Template> {
        self.add_shared(name, || Arc::new(text.to_owned()), &runnable(trees))
    }

    /// [`Templates::add`] of templates made runnable once and added to any number of sets
    /// (Helm's `tpl` parses the same text into a fresh copy of the set at every call). `text`
    /// is asked for only when `templates` hold none named `name` (its tree is then empty).
    pub fn add_shared(
        &self,
        name: &str,
        text: impl FnOnce() -> parse::SharedText,
        templates: &[(String, Rc<Template>)],
    ) -> Rc<Template> {
        let mut main = None;
        for (n, t) in templates {
            if n == name {
                main = Some(t.clone());
            }
            let keep_old = parse::is_empty_list(&t.tree.root) && self.lookup(n).is_some();
            if !keep_old {
                self.inner.own.borrow_mut().insert(n.clone(), t.clone());
            }
        }
        // The template object Go's `New(name)` returned keeps its own tree even when the set
        // keeps an older, non-empty definition of the name.
        main.unwrap_or_else(|| {
            Rc::new(Template::new(Tree {
                name: name.to_owned(),
                parse_name: Arc::from(name),
                text: text(),
                root: parse::ListNode::default(),
                strings: Vec::new(),
            }))
        })
    }

    /// Executes the template `name` with `data` as dot.
    pub fn execute(
        &self,
        name: &str,
        data: Value,
        host: &mut dyn Any,
        budget: &mut Budget,
    ) -> Result<Vec<u8>, GoError> {
        self.execute_pending(name, data, host, budget, None)
    }

    /// [`Templates::execute`] on a set still being filled: a name the set lacks calls
    /// `complete` with it (which adds what the set will hold under that name) before it is
    /// looked up again.
    pub fn execute_pending(
        &self,
        name: &str,
        data: Value,
        host: &mut dyn Any,
        budget: &mut Budget,
        complete: Option<&Complete<'_>>,
    ) -> Result<Vec<u8>, GoError> {
        let mut rt = Runtime {
            set: self.clone(),
            host,
            budget,
            complete,
        };
        rt.execute(name, data)
    }
}

/// Limits on one render: time, output and nesting.
#[derive(Debug, Clone)]
pub struct Budget {
    /// When the render must stop.
    pub deadline: Option<Instant>,
    /// Bytes any one template's output may reach.
    pub max_output: usize,
    /// Nested template executions (`template`, `include`, `tpl`).
    pub max_depth: usize,
    depth: usize,
    steps: u64,
    /// Why the output may differ between two renders of the same input.
    pub nondeterminism: std::collections::BTreeSet<String>,
    notes: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(None, 64 << 20, 2_000)
    }
}

impl Budget {
    /// A budget.
    pub fn new(deadline: Option<Instant>, max_output: usize, max_depth: usize) -> Budget {
        Budget {
            deadline,
            max_output,
            max_depth,
            depth: 0,
            steps: 0,
            nondeterminism: std::collections::BTreeSet::new(),
            notes: 0,
        }
    }

    /// Records that the output depends on time, randomness or Go's map order.
    pub fn note_nondeterminism(&mut self, why: &str) {
        self.notes += 1;
        if !self.nondeterminism.contains(why) {
            self.nondeterminism.insert(why.to_owned());
        }
    }

    /// How many times [`Budget::note_nondeterminism`] was called: a part of the render during
    /// which it stayed the same gives the same output every time.
    pub fn nondeterministic_calls(&self) -> u64 {
        self.notes
    }

    /// How many template executions are nested at this point.
    pub fn depth(&self) -> usize {
        self.depth
    }

    fn step(&mut self) -> Result<(), GoError> {
        self.steps += 1;
        if self.steps & 0x3ff == 0
            && let Some(d) = self.deadline
            && Instant::now() > d
        {
            return Err(GoError::limit("rendering took longer than the time limit"));
        }
        Ok(())
    }
}

/// Adds templates to a set still being filled: those a lookup of the name needs, or (`None`)
/// all of them.
pub type Complete<'a> = dyn Fn(Option<&str>) + 'a;

/// What a function sees of the render: the template set it runs in (for `include` and
/// `tpl`), the caller's state, and the limits.
pub struct Runtime<'a> {
    /// The set of the executing template.
    pub set: Templates,
    /// The caller's per-render state.
    pub host: &'a mut dyn Any,
    /// The limits.
    pub budget: &'a mut Budget,
    /// Adds templates to a set still being filled, so that no lookup misses what it will
    /// hold: those a lookup of the name needs, or (`None`) all of them.
    pub complete: Option<&'a Complete<'a>>,
}

impl std::fmt::Debug for Runtime<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runtime({:?})", self.set)
    }
}

impl Runtime<'_> {
    /// The template `name` in the current set, once the set holds everything it will.
    pub fn lookup(&self, name: &str) -> Option<Rc<Template>> {
        self.set.lookup(name).or_else(|| {
            let complete = self.complete?;
            complete(Some(name));
            self.set.lookup(name)
        })
    }

    /// Completes the set now (see [`Runtime::complete`]).
    pub fn complete_set(&self) {
        if let Some(complete) = self.complete {
            complete(None);
        }
    }

    /// Go's `ExecuteTemplate` on the current set.
    pub fn execute(&mut self, name: &str, data: Value) -> Result<Vec<u8>, GoError> {
        let Some(tree) = self.lookup(name) else {
            return Err(GoError::new(format!(
                "template: no template {} associated with template {}",
                gofmt::quote(name),
                gofmt::quote(self.set.name())
            )));
        };
        self.execute_tree(name, &tree, data)
    }

    /// Executes a parsed tree as the template `name`.
    pub fn execute_tree(
        &mut self,
        name: &str,
        tpl: &Rc<Template>,
        data: Value,
    ) -> Result<Vec<u8>, GoError> {
        // Data passed in as an interface: a nil interface is no value at all.
        let data = match data {
            Value::Nil => Value::Invalid,
            d => d,
        };
        if self.budget.depth >= self.budget.max_depth {
            return Err(GoError::limit(format!(
                "templates nested more than {} deep",
                self.budget.max_depth
            )));
        }
        self.budget.depth += 1;
        // Never more than the budget lets one output reach.
        let mut out = Vec::with_capacity(tpl.size_hint.get().min(self.budget.max_output));
        let mut st = State {
            rt: self,
            name,
            tree: &tpl.tree,
            strings: &tpl.strings,
            vars: vec![("$", data.clone(), false)],
            node: Cur::None,
            depth: 0,
            dot_iface: false,
        };
        let r = st.walk_list(&data, &tpl.tree.root, &mut out);
        self.budget.depth -= 1;
        match r {
            Ok(()) => {
                tpl.size_hint.set(out.len());
                Ok(out)
            }
            Err(Flow::Err(e)) => Err(e),
            Err(Flow::Break | Flow::Continue) => {
                Err(GoError::new("break or continue outside range"))
            }
        }
    }

    /// Runs `f` with `set` as the current template set.
    pub fn with_set<R>(&mut self, set: Templates, f: impl FnOnce(&mut Runtime<'_>) -> R) -> R {
        let saved = std::mem::replace(&mut self.set, set);
        let r = f(self);
        self.set = saved;
        r
    }
}

/// Functions whose result does not depend on the order of a list argument, or that only
/// carry the list on (a template given it notes what it does with it).
const ORDER_BLIND: &[&str] = &[
    "len",
    "empty",
    "has",
    "mustHas",
    "typeOf",
    "kindOf",
    "typeIs",
    "kindIs",
    "typeIsLike",
    "ternary",
    "include",
    "tpl",
    "dict",
    "set",
    "merge",
    "mergeOverwrite",
    "mustMerge",
    "mustMergeOverwrite",
    "and",
    "or",
    "not",
    "default",
    "coalesce",
    "fail",
    "required",
];

/// A list in Go's random map order (`keys`, `values`) whose order can show.
fn exposes_order(v: &Value) -> bool {
    matches!(v, Value::List(l) if l.unordered && l.items.len() > 1)
}

enum Flow {
    Err(GoError),
    Break,
    Continue,
}

impl From<GoError> for Flow {
    fn from(e: GoError) -> Flow {
        Flow::Err(e)
    }
}

type R<T> = Result<T, Flow>;

/// The node execution is at, for error messages (Go's `s.at`).
#[derive(Clone, Copy)]
enum Cur<'t> {
    None,
    Node(&'t Node),
    Branch(&'t BranchNode),
    Tmpl(&'t TemplateNode),
    Pipe(&'t PipeNode),
    Cmd(&'t CommandNode),
    Arg(&'t Arg),
    Var(&'t VariableNode),
    Num(&'t NumberNode),
}

impl Cur<'_> {
    fn pos(&self) -> Pos {
        match self {
            Cur::None => 0,
            Cur::Node(n) => match n {
                Node::Text { pos, .. }
                | Node::Action { pos, .. }
                | Node::Break { pos }
                | Node::Continue { pos }
                | Node::Comment { pos, .. } => *pos,
                Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
                Node::Template(t) => t.pos,
            },
            Cur::Branch(b) => b.pos,
            Cur::Tmpl(t) => t.pos,
            Cur::Pipe(p) => p.pos,
            Cur::Cmd(c) => c.pos,
            Cur::Arg(a) => a.pos(),
            Cur::Var(v) => v.pos,
            Cur::Num(n) => n.pos,
        }
    }

    fn context(&self) -> String {
        match self {
            Cur::None => String::new(),
            Cur::Node(n) => n.to_string(),
            Cur::Branch(b) => b.to_string(),
            Cur::Tmpl(t) => t.to_string(),
            Cur::Pipe(p) => p.to_string(),
            Cur::Cmd(c) => c.to_string(),
            Cur::Arg(a) => a.to_string(),
            Cur::Var(v) => v.to_string(),
            Cur::Num(n) => n.text.to_string(),
        }
    }
}

struct State<'t, 'r, 'a> {
    rt: &'r mut Runtime<'a>,
    name: &'t str,
    tree: &'t Tree,
    strings: &'t [Str],
    // Each variable, and whether it holds its value in an interface (a `range` element of a
    // `[]interface{}` or a map of them), which changes the type Go names in errors.
    vars: Vec<(&'t str, Value, bool)>,
    node: Cur<'t>,
    depth: usize,
    /// Whether dot is held in an interface (a range element of a `[]interface{}` or a map of
    /// them), which changes the type Go names in errors.
    dot_iface: bool,
}

const MAX_EXEC_DEPTH: usize = 100_000;

fn is_hex_int(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') && !s.contains(['p', 'P'])
}

impl<'t, 'r, 'a> State<'t, 'r, 'a> {
    fn at(&mut self, c: Cur<'t>) {
        self.node = c;
    }

    /// Go's `s.errorf`.
    fn err(&self, msg: impl std::fmt::Display) -> GoError {
        let text = match self.node {
            Cur::None => format!("template: {}: {}", self.name, msg),
            c => format!(
                "template: {}: executing {} at <{}>: {}",
                self.tree.location(c.pos()),
                gofmt::quote(self.name),
                c.context(),
                msg
            ),
        };
        GoError {
            msg: text,
            cause: None,
            exec: true,
            kind: crate::ErrorKind::Go,
        }
    }

    /// `s.errorf("...: %w", err)`.
    fn wrap_err(&self, prefix: String, cause: GoError) -> GoError {
        let mut e = self.err(format!("{prefix}{}", cause.msg));
        e.kind = cause.kind;
        e.cause = Some(Box::new(cause));
        e
    }

    fn push(&mut self, name: &'t str, v: Value) {
        self.vars.push((name, v, false));
    }

    fn set_var(&mut self, name: &str, v: Value, iface: bool) -> R<()> {
        for slot in self.vars.iter_mut().rev() {
            if slot.0 == name {
                slot.1 = v;
                slot.2 = iface;
                return Ok(());
            }
        }
        Err(self.err(format!("undefined variable: {name}")).into())
    }

    fn set_top_var(&mut self, n: usize, v: Value, iface: bool) {
        let len = self.vars.len();
        self.vars[len - n].1 = v;
        self.vars[len - n].2 = iface;
    }

    /// A variable's value, and whether it is held in an interface.
    fn var_value(&self, name: &str) -> R<(Value, bool)> {
        for slot in self.vars.iter().rev() {
            if slot.0 == name {
                return Ok((slot.1.clone(), slot.2));
            }
        }
        Err(self.err(format!("undefined variable: {name}")).into())
    }

    fn write(&mut self, out: &mut Vec<u8>, s: &[u8]) -> R<()> {
        if out.len() + s.len() > self.rt.budget.max_output {
            return Err(GoError::limit(format!(
                "a template's output exceeds {} bytes",
                self.rt.budget.max_output
            ))
            .into());
        }
        out.extend_from_slice(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'t ListNode, out: &mut Vec<u8>) -> R<()> {
        for n in &list.nodes {
            self.walk(dot, n, out)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'t Node, out: &mut Vec<u8>) -> R<()> {
        self.rt.budget.step()?;
        self.at(Cur::Node(node));
        match node {
            Node::Action { pipe, .. } => {
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(Cur::Node(node));
                    match &val {
                        Value::BinStr(b) => self.write(out, b)?,
                        Value::String(s) => self.write(out, s.as_bytes())?,
                        _ => {
                            if exposes_order(&val) {
                                self.note_unordered();
                            }
                            let s = self.printable(&val)?;
                            self.write(out, s.as_bytes())?;
                        }
                    }
                }
                Ok(())
            }
            Node::Break { .. } => Err(Flow::Break),
            Node::Continue { .. } => Err(Flow::Continue),
            Node::Comment { .. } => Ok(()),
            Node::If(b) | Node::With(b) => self.walk_if_or_with(dot, b, out),
            Node::Range(b) => self.walk_range(dot, b, out),
            Node::Template(t) => self.walk_template(dot, t, out),
            Node::Text { text, .. } => self.write(out, text.as_bytes()),
        }
    }

    /// Go's `printableValue` and `fmt.Fprint`.
    fn printable(&self, v: &Value) -> R<String> {
        match v {
            Value::Invalid => Ok("<no value>".into()),
            Value::String(s) => Ok(s.to_string()),
            Value::Object(o) => Ok(o.template_print()),
            other => Ok(gofmt::format_v(other)?),
        }
    }

    fn walk_if_or_with(&mut self, dot: &Value, b: &'t BranchNode, out: &mut Vec<u8>) -> R<()> {
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if val.truth() {
                if b.kind == BranchKind::With {
                    let saved = std::mem::replace(&mut self.dot_iface, false);
                    let r = self.walk_list(&val, &b.list, out);
                    self.dot_iface = saved;
                    r
                } else {
                    self.walk_list(dot, &b.list, out)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e, out)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, r: &'t BranchNode, out: &mut Vec<u8>) -> R<()> {
        self.at(Cur::Branch(r));
        let outer = self.vars.len();
        let res = self.walk_range_inner(dot, r, out);
        self.vars.truncate(outer);
        match res {
            Err(Flow::Break) => Ok(()),
            other => other,
        }
    }

    fn one_iteration(
        &mut self,
        r: &'t BranchNode,
        mark: usize,
        index: Value,
        elem: Value,
        elem_iface: bool,
        out: &mut Vec<u8>,
    ) -> R<()> {
        let decl = &r.pipe.decl;
        if !decl.is_empty() {
            if r.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0].ident[0], index.clone(), false)?;
                } else {
                    self.set_var(&decl[0].ident[0], elem.clone(), elem_iface)?;
                }
            } else {
                self.set_top_var(1, elem.clone(), elem_iface);
            }
        }
        if decl.len() > 1 {
            if r.pipe.is_assign {
                self.set_var(&decl[1].ident[0], elem.clone(), elem_iface)?;
            } else {
                self.set_top_var(2, index, false);
            }
        }
        let saved = std::mem::replace(&mut self.dot_iface, elem_iface);
        let res = self.walk_list(&elem, &r.list, out);
        self.dot_iface = saved;
        self.vars.truncate(mark);
        match res {
            Err(Flow::Continue) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &Value, r: &'t BranchNode, out: &mut Vec<u8>) -> R<()> {
        let val = self.eval_pipeline(dot, &r.pipe)?;
        let val = match val {
            Value::Nil => Value::Invalid,
            v => v,
        };
        let mark = self.vars.len();
        match &val {
            Value::Int(n) | Value::Int64(n) => {
                if r.pipe.decl.len() > 1 {
                    let s = gofmt::format_v(&val)?;
                    return Err(self
                        .err(format!(
                            "can't use {s} to iterate over more than one variable"
                        ))
                        .into());
                }
                if *n > 0 {
                    for i in 0..*n {
                        let v = if matches!(val, Value::Int(_)) {
                            Value::Int(i)
                        } else {
                            Value::Int64(i)
                        };
                        self.one_iteration(r, mark, Value::Invalid, v, false, out)?;
                    }
                    return Ok(());
                }
            }
            Value::List(l) => {
                if !l.items.is_empty() {
                    if l.unordered && l.items.len() > 1 {
                        self.note_unordered();
                    }
                    let items = l.items.clone();
                    let iface = l.ty.elem == crate::value::Elem::Any;
                    for (i, item) in items.iter().enumerate() {
                        self.one_iteration(
                            r,
                            mark,
                            Value::Int(i as i64),
                            item.clone(),
                            iface,
                            out,
                        )?;
                    }
                    return Ok(());
                }
            }
            Value::Map(m) => {
                let entries: Vec<(String, Value)> = m
                    .data
                    .borrow()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !entries.is_empty() {
                    let iface = m.ty.elem == crate::value::Elem::Any;
                    for (k, v) in entries {
                        self.one_iteration(r, mark, Value::string(k), v, iface, out)?;
                    }
                    return Ok(());
                }
            }
            Value::Invalid => {}
            Value::Bytes(_) => {
                return Err(
                    GoError::unsupported("range over a []byte is not supported by Gantry").into(),
                );
            }
            other => {
                let s = gofmt::format_v(other)?;
                return Err(self.err(format!("range can't iterate over {s}")).into());
            }
        }
        if let Some(e) = &r.else_list {
            self.walk_list(dot, e, out)?;
        }
        Ok(())
    }

    fn note_unordered(&mut self) {
        self.rt
            .budget
            .note_nondeterminism("a list built from a map's keys or values, in Go's random order");
    }

    fn walk_template(&mut self, dot: &Value, t: &'t TemplateNode, out: &mut Vec<u8>) -> R<()> {
        self.at(Cur::Tmpl(t));
        let Some(tpl) = self.rt.lookup(&t.name) else {
            return Err(self
                .err(format!("template {} not defined", gofmt::quote(&t.name)))
                .into());
        };
        if self.depth == MAX_EXEC_DEPTH {
            return Err(self
                .err(format!(
                    "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
                ))
                .into());
        }
        let new_dot = match &t.pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => Value::Invalid,
        };
        if self.rt.budget.depth >= self.rt.budget.max_depth {
            return Err(GoError::limit(format!(
                "templates nested more than {} deep",
                self.rt.budget.max_depth
            ))
            .into());
        }
        self.rt.budget.depth += 1;
        let mut st = State {
            rt: &mut *self.rt,
            name: &t.name,
            tree: &tpl.tree,
            strings: &tpl.strings,
            vars: vec![("$", new_dot.clone(), false)],
            node: Cur::None,
            depth: self.depth + 1,
            dot_iface: false,
        };
        let res = st.walk_list(&new_dot, &tpl.tree.root, out);
        self.rt.budget.depth -= 1;
        res
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t PipeNode) -> R<Value> {
        self.at(Cur::Pipe(pipe));
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // An interface result is replaced by what it holds; a nil one by no value.
            value = Some(match v {
                Value::Nil => Value::Invalid,
                v => v,
            });
        }
        let value = value.unwrap_or(Value::Invalid);
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&var.ident[0], value.clone(), false)?;
            } else {
                self.push(&var.ident[0], value.clone());
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &'t [Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self
                .err(format!("can't give argument to non-function {}", args[0]))
                .into());
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t CommandNode, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { ident, .. } => {
                self.at(Cur::Arg(first));
                let iface = self.dot_iface;
                return self.eval_field_chain(
                    dot,
                    dot.clone(),
                    Cur::Arg(first),
                    ident,
                    &cmd.args,
                    fin,
                    iface,
                );
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, fin),
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, Cur::Cmd(cmd), &cmd.args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable(v) => return self.eval_variable(dot, v, &cmd.args, fin),
            _ => {}
        }
        self.at(Cur::Arg(first));
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.err("nil is not a command").into()),
            Arg::Number(n) => self.ideal_constant(n),
            Arg::String { index, .. } => Ok(Value::String(self.strings[*index as usize].clone())),
            _ => Err(self
                .err(format!(
                    "can't evaluate command {}",
                    gofmt::quote(&first.to_string())
                ))
                .into()),
        }
    }

    fn ideal_constant(&mut self, n: &'t NumberNode) -> R<Value> {
        self.at(Cur::Num(n));
        if n.is_complex {
            return Err(GoError::unsupported("complex numbers are not supported by Gantry").into());
        }
        if n.is_float
            && !is_hex_int(&n.text)
            && !n.text.starts_with('\'')
            && n.text.contains(['.', 'e', 'E', 'p', 'P'])
        {
            return Ok(Value::Float(n.float64));
        }
        if n.is_int {
            return Ok(Value::Int(n.int64));
        }
        if n.is_uint {
            return Err(self.err(format!("{} overflows int", n.text)).into());
        }
        Ok(Value::Invalid)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'t Arg,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let Arg::Chain { node, fields, .. } = chain else {
            return Ok(Value::Invalid);
        };
        self.at(Cur::Arg(chain));
        if matches!(node.as_ref(), Arg::Nil { .. }) {
            return Err(self
                .err(format!("indirection through explicit nil in {chain}"))
                .into());
        }
        let pipe = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, pipe, Cur::Arg(chain), fields, args, fin, false)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        v: &'t VariableNode,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(Cur::Var(v));
        let (value, iface) = self.var_value(&v.ident[0])?;
        if v.ident.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, Cur::Var(v), &v.ident[1..], args, fin, iface)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        receiver: Value,
        node: Cur<'t>,
        ident: &'t [Span],
        args: &'t [Arg],
        fin: Option<Value>,
        iface: bool,
    ) -> R<Value> {
        let n = ident.len();
        let mut receiver = receiver;
        let mut iface = iface;
        for name in &ident[..n - 1] {
            let (v, i) = self.eval_field(dot, name, node, &[], None, receiver, iface)?;
            receiver = v;
            iface = i;
        }
        let (v, _) = self.eval_field(dot, &ident[n - 1], node, args, fin, receiver, iface)?;
        Ok(v)
    }

    /// Go's `evalField`; also reports whether the result is held in an interface.
    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        field: &str,
        node: Cur<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
        receiver: Value,
        iface: bool,
    ) -> R<(Value, bool)> {
        if matches!(receiver, Value::Invalid) {
            if self.rt.set.inner.missing_key == MissingKey::Error {
                return Err(self
                    .err(format!(
                        "nil data; no entry for key {}",
                        gofmt::quote(field)
                    ))
                    .into());
            }
            return Ok((Value::Invalid, false));
        }
        // Go's name for the receiver's type, only ever needed for an error.
        let typ = || {
            if iface || matches!(receiver, Value::Nil) {
                "interface {}".to_owned()
            } else {
                receiver.type_name()
            }
        };
        if matches!(receiver, Value::Nil) {
            return Err(self
                .err(format!("nil pointer evaluating {}.{field}", typ()))
                .into());
        }
        let method = match &receiver {
            Value::Object(o) => o.method(field),
            Value::Map(m) => m.ty.methods.and_then(|f| f(m, field)),
            Value::List(l) => l.ty.methods.and_then(|f| f(l, field)),
            _ => None,
        };
        if let Some(m) = method {
            let v = self.eval_call(dot, &m, false, node, field, args, fin)?;
            return Ok((v, false));
        }
        let has_args = args.len() > 1 || fin.is_some();
        match &receiver {
            Value::Object(o) => {
                if let Some(v) = o.field(field) {
                    if has_args {
                        return Err(self
                            .err(format!(
                                "{field} has arguments but cannot be invoked as function"
                            ))
                            .into());
                    }
                    return Ok((v, false));
                }
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self
                        .err(format!("{field} is not a method but has arguments"))
                        .into());
                }
                let found = m.get(field);
                let is_iface = m.ty.elem == crate::value::Elem::Any;
                return Ok(match found {
                    Some(v) => (v, is_iface),
                    None => match self.rt.set.inner.missing_key {
                        MissingKey::Invalid => (Value::Invalid, false),
                        MissingKey::Zero => (m.ty.elem.zero(), is_iface),
                        MissingKey::Error => {
                            return Err(self
                                .err(format!("map has no entry for key {}", gofmt::quote(field)))
                                .into());
                        }
                    },
                });
            }
            _ => {}
        }
        Err(self
            .err(format!("can't evaluate field {field} in type {}", typ()))
            .into())
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &str,
        cmd: Cur<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at(Cur::Arg(ident));
        let funcs = self.rt.set.inner.funcs.clone();
        let Some((func, builtin)) = funcs.get(name) else {
            return Err(self
                .err(format!("{} is not a defined function", gofmt::quote(name)))
                .into());
        };
        match func.special {
            Special::And | Special::Or if builtin => {
                return self.eval_and_or(dot, func.special == Special::Or, name, args, fin);
            }
            Special::Call if builtin => return self.eval_builtin_call(dot, cmd, args, fin),
            _ => {}
        }
        let m = Method {
            sig: func.sig,
            f: func.f.clone(),
            go_bytes: func.go_bytes,
        };
        self.eval_call(dot, &m, builtin, cmd, name, args, fin)
    }

    fn eval_and_or(
        &mut self,
        dot: &Value,
        is_or: bool,
        name: &str,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let num_in = args.len() + usize::from(fin.is_some());
        if num_in < 1 {
            return Err(self
                .err(format!(
                    "wrong number of args for {name}: want at least 1 got {}",
                    args.len()
                ))
                .into());
        }
        let mut v = Value::Invalid;
        for a in args {
            v = self.eval_arg(dot, Some(Ty::Reflect), a)?;
            if v.truth() == is_or {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = f;
        }
        Ok(v)
    }

    /// Go's `call` builtin. No value of a chart's is a function (values are data, and a
    /// method is called where it is named), so it fails as Go's does once its arguments are
    /// evaluated: `call of nil`, or `non-function NAME of type T`.
    fn eval_builtin_call(
        &mut self,
        dot: &Value,
        node: Cur<'t>,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let given = &args[1.min(args.len())..];
        if given.is_empty() && fin.is_none() {
            return Err(self
                .err("wrong number of args for call: want at least 1 got 0")
                .into());
        }
        let mut argv = Vec::with_capacity(given.len() + 1);
        for a in given {
            argv.push(self.eval_arg(dot, Some(Ty::Any), a)?);
        }
        // The callee is named by its node, or by the piped value's Go `String()`.
        let name = match (given.first(), &fin) {
            (Some(a), _) => a.to_string(),
            (None, Some(Value::String(s))) => s.to_string(),
            (None, Some(v)) => format!("<{} Value>", v.type_name()),
            (None, None) => String::new(),
        };
        argv.extend(fin);
        self.rt.budget.step()?;
        let msg = match &argv[0] {
            Value::Invalid | Value::Nil => "call of nil".to_owned(),
            v => format!("non-function {name} of type {}", v.type_name()),
        };
        self.at(node);
        Err(self
            .wrap_err("error calling call: ".to_owned(), GoError::new(msg))
            .into())
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        m: &Method,
        _builtin: bool,
        node: Cur<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let sig = m.sig;
        let nparams = sig.params.len() + usize::from(sig.variadic.is_some());
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if sig.variadic.is_some() {
            if num_in < sig.params.len() {
                return Err(self
                    .err(format!(
                        "wrong number of args for {name}: want at least {} got {}",
                        sig.params.len(),
                        args.len()
                    ))
                    .into());
            }
            sig.params.len()
        } else {
            if num_in != sig.params.len() {
                return Err(self
                    .err(format!(
                        "wrong number of args for {name}: want {} got {num_in}",
                        nparams
                    ))
                    .into());
            }
            args.len()
        };
        // On the stack: most calls take three arguments or fewer, and a chart makes tens of
        // thousands of calls (the 1,000-template chart, about 25 per template).
        let mut argv: SmallVec<[Value; 3]> = SmallVec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(sig.params[i]), &args[i])?);
            i += 1;
        }
        if let Some(vt) = sig.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(vt), &args[i])?);
                i += 1;
            }
        }
        if let Some(f) = fin {
            let t = if sig.variadic.is_some() && num_in > num_fixed {
                sig.variadic.unwrap_or(Ty::Any)
            } else {
                sig.params[num_in - 1]
            };
            argv.push(self.validate_type(f, Some(t))?);
        }
        self.rt.budget.step()?;
        if !m.go_bytes && argv.iter().any(|a| matches!(a, Value::BinStr(_))) {
            self.at(node);
            return Err(self
                .wrap_err(
                    format!("error calling {name}: "),
                    GoError::unsupported(format!(
                        "{name} of a string that is not valid UTF-8 (a binary file's bytes) is not supported by Gantry"
                    )),
                )
                .into());
        }
        match (m.f)(self.rt, &argv) {
            Ok(v) => {
                // A list keeps its flag; anything else made from an unordered list may show
                // its order (`join`, `toJson`, `index`, `printf`).
                if argv.iter().any(exposes_order)
                    && !matches!(v, Value::List(_))
                    && !ORDER_BLIND.contains(&name)
                {
                    self.note_unordered();
                }
                Ok(v)
            }
            Err(e) => {
                self.at(node);
                if e.kind == crate::ErrorKind::Limit && e.cause.is_none() {
                    return Err(e.into());
                }
                Err(self.wrap_err(format!("error calling {name}: "), e).into())
            }
        }
    }

    /// Go's `validateType`.
    fn validate_type(&self, value: Value, typ: Option<Ty>) -> R<Value> {
        let Some(typ) = typ else {
            return Ok(value);
        };
        if matches!(value, Value::Invalid) {
            return match typ {
                Ty::Reflect => Ok(Value::Invalid),
                Ty::Any => Ok(Value::Nil),
                Ty::MapAny => Ok(Value::Map(Map {
                    nil: true,
                    ..Map::new()
                })),
                Ty::SliceAny => Ok(Value::List(List::nil())),
                _ => Err(self
                    .err(format!("invalid value; expected {}", typ.name()))
                    .into()),
            };
        }
        if value.assignable(typ) {
            // `reflect.Value.Call` assigns each argument to its parameter's type: a named map
            // (Helm's `common.Values`) is a plain `map[string]interface {}` inside the function,
            // and so is what `set .Values ...` or `merge .Values ...` hands back (`dig` takes
            // it; `typeOf` names it). The entries stay the same, as the map does in Go.
            if typ == Ty::MapAny
                && let Value::Map(m) = &value
                && !std::ptr::eq(m.ty, &MAP_ANY)
            {
                return Ok(Value::Map(Map {
                    ty: &MAP_ANY,
                    ..m.clone()
                }));
            }
            return Ok(value);
        }
        let got = if matches!(value, Value::Nil) {
            "interface {}".to_owned()
        } else {
            value.type_name()
        };
        Err(self
            .err(format!(
                "wrong type for value; expected {}; got {got}",
                typ.name()
            ))
            .into())
    }

    /// Go's `evalArg` (a `None` type accepts anything as it is).
    fn eval_arg(&mut self, dot: &Value, typ: Option<Ty>, n: &'t Arg) -> R<Value> {
        self.at(Cur::Arg(n));
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), typ),
            Arg::Nil { .. } => {
                return match typ {
                    None | Some(Ty::Reflect) => Ok(Value::Invalid),
                    Some(t) if t.can_be_nil() => self.validate_type(Value::Invalid, Some(t)),
                    Some(t) => Err(self
                        .err(format!("cannot assign nil to {}", t.name()))
                        .into()),
                };
            }
            Arg::Field { ident, .. } => {
                let iface = self.dot_iface;
                let v = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    Cur::Arg(n),
                    ident,
                    std::slice::from_ref(n),
                    None,
                    iface,
                )?;
                return self.validate_type(v, typ);
            }
            Arg::Variable(v) => {
                let val = self.eval_variable(dot, v, &[], None)?;
                return self.validate_type(val, typ);
            }
            Arg::Pipe(p) => {
                let val = self.eval_pipeline(dot, p)?;
                return self.validate_type(val, typ);
            }
            Arg::Identifier { name, .. } => {
                let val = self.eval_function(dot, n, name, Cur::Arg(n), &[], None)?;
                return self.validate_type(val, typ);
            }
            Arg::Chain { .. } => {
                let val = self.eval_chain(dot, n, &[], None)?;
                return self.validate_type(val, typ);
            }
            _ => {}
        }
        let Some(typ) = typ else {
            return Err(GoError::unsupported(format!(
                "a constant ({n}) used as a field's receiver"
            ))
            .into());
        };
        match typ {
            Ty::Bool => match n {
                Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
                _ => Err(self.err(format!("expected bool; found {n}")).into()),
            },
            Ty::Float => match n {
                Arg::Number(num) if num.is_float => Ok(Value::Float(num.float64)),
                _ => Err(self.err(format!("expected float; found {n}")).into()),
            },
            Ty::Int | Ty::Int64 => match n {
                Arg::Number(num) if num.is_int => Ok(if typ == Ty::Int {
                    Value::Int(num.int64)
                } else {
                    Value::Int64(num.int64)
                }),
                _ => Err(self.err(format!("expected integer; found {n}")).into()),
            },
            Ty::Str => match n {
                Arg::String { index, .. } => {
                    Ok(Value::String(self.strings[*index as usize].clone()))
                }
                _ => Err(self.err(format!("expected string; found {n}")).into()),
            },
            Ty::Any | Ty::Reflect => self.eval_empty_interface(dot, n),
            Ty::MapAny | Ty::SliceAny => Err(self
                .err(format!("can't handle {n} for arg of type {}", typ.name()))
                .into()),
        }
    }

    fn eval_empty_interface(&mut self, dot: &Value, n: &'t Arg) -> R<Value> {
        self.at(Cur::Arg(n));
        match n {
            Arg::Bool { val, .. } => Ok(Value::Bool(*val)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Number(num) => self.ideal_constant(num),
            Arg::String { index, .. } => Ok(Value::String(self.strings[*index as usize].clone())),
            Arg::Nil { .. } => Err(self.err("evalEmptyInterface: nil (can't happen)").into()),
            _ => Err(self
                .err(format!(
                    "can't handle assignment of {n} to empty interface argument"
                ))
                .into()),
        }
    }
}
