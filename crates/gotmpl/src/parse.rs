//! The parser of Go's text/template (`text/template/parse`): the same tree, the same checks
//! (undefined functions and variables, `break` outside `range`, ...) and the same messages,
//! `template: NAME:LINE: ...`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::lex::{Item, ItemType, Lexer, keyword, leading_spaces, word_end};

/// A template's parse tree. It holds nothing shared by reference count (`Send`), so that a
/// chart's templates can be parsed on another thread while its values are processed.
#[derive(Debug)]
pub struct Tree {
    /// The template's name.
    pub name: String,
    /// The name of the file (top-level template) it was parsed from, for error locations.
    pub parse_name: Arc<str>,
    /// The text it was parsed from, for error locations.
    pub text: SharedText,
    /// The body.
    pub root: ListNode,
    /// The values of its string constants, indexed by [`Arg::String`]'s `index` (the executor
    /// shares them, so that evaluating a constant allocates nothing).
    pub strings: Vec<Box<str>>,
}

impl Tree {
    /// Go's `ErrorContext`: `name:line:col` of a position (col is the 0-based byte offset in
    /// its line).
    pub fn location(&self, pos: Pos) -> String {
        let pos = (pos as usize).min(self.text.len());
        let text = &self.text[..pos];
        let col = match text.rfind('\n') {
            None => pos,
            Some(i) => pos - (i + 1),
        };
        let line = 1 + text.bytes().filter(|&b| b == b'\n').count();
        format!("{}:{}:{}", self.parse_name, line, col)
    }
}

/// A template's text as its trees share it: a `String` behind one pointer, so that a text
/// read into a buffer is shared as it is (an `Arc<str>` is a copy into a block of its own,
/// which for a chart's templates was a megabyte copied on the render thread while the parser
/// waited for it), and so that a [`Span`] is two words.
pub type SharedText = Arc<String>;

/// Plain text of a template, or a word of it: a range of the text it was parsed from, shared
/// rather than copied. A template is mostly text (a chart's CRDs are megabytes of it), and each
/// copy was as much fresh memory for the kernel to hand over a page at a time. The words of
/// field chains are spans too: a string each was most of a parse tree's allocations. The
/// range is two `u32`s (a part past 4 GiB into its text is a copy), so that a span is two
/// words.
#[derive(Clone)]
pub struct Span {
    src: SharedText,
    start: u32,
    end: u32,
}

impl Span {
    /// The range of a span that is all of its own text (one past 4 GiB cannot be a range).
    const WHOLE: u32 = u32::MAX;

    /// `part` of `src` (by address) shares it; any other text is kept on its own.
    fn of(src: &SharedText, part: &str) -> Span {
        let base = src.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        let within = at
            .checked_sub(base)
            .filter(|start| start + part.len() <= src.len())
            .and_then(|start| {
                Some((
                    u32::try_from(start).ok()?,
                    u32::try_from(start + part.len()).ok()?,
                ))
            })
            .filter(|&(_, end)| end < Span::WHOLE);
        match within {
            Some((start, end)) => Span {
                src: Arc::clone(src),
                start,
                end,
            },
            // Its own copy, whatever its length.
            None => Span {
                src: Arc::new(part.to_owned()),
                start: Span::WHOLE,
                end: Span::WHOLE,
            },
        }
    }
}

impl std::ops::Deref for Span {
    type Target = str;

    fn deref(&self) -> &str {
        if self.start == Span::WHOLE {
            return &self.src;
        }
        &self.src[self.start as usize..self.end as usize]
    }
}

impl PartialEq<str> for Span {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl PartialEq<&str> for Span {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// A byte position in a template's text (Go's `parse.Pos`): 32 bits, as a text longer than
/// that is refused ([`parse_shared`]). A chart's trees are kept for its whole render, and a
/// node is mostly positions and lists: with `usize` positions and `Vec` lists (a word more
/// than a boxed slice, whose length is fixed once parsed) a node was 72 bytes and an operand
/// 40, and the 1,000-template chart's trees 5.4 MB, a third of the pages its process touched.
pub type Pos = u32;

/// A list of nodes.
#[derive(Debug, Default)]
pub struct ListNode {
    /// Position.
    pub pos: Pos,
    /// The nodes.
    pub nodes: Box<[Node]>,
}

/// A node of a template body.
#[derive(Debug)]
pub enum Node {
    /// Plain text.
    Text {
        /// Position.
        pos: Pos,
        /// The text.
        text: Span,
    },
    /// `{{pipeline}}`.
    Action {
        /// Position.
        pos: Pos,
        /// The pipeline.
        pipe: PipeNode,
    },
    /// `{{if}}`.
    If(Box<BranchNode>),
    /// `{{range}}`.
    Range(Box<BranchNode>),
    /// `{{with}}`.
    With(Box<BranchNode>),
    /// `{{template "name" pipeline}}`.
    Template(Box<TemplateNode>),
    /// `{{break}}`.
    Break {
        /// Position.
        pos: Pos,
    },
    /// `{{continue}}`.
    Continue {
        /// Position.
        pos: Pos,
    },
    /// `{{/* comment */}}` (kept only when asked for).
    Comment {
        /// Position.
        pos: Pos,
        /// The comment text.
        text: String,
    },
}

/// The kind of a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchKind {
    /// `if`.
    If,
    /// `range`.
    Range,
    /// `with`.
    With,
}

/// `if`, `range` or `with`.
#[derive(Debug)]
pub struct BranchNode {
    /// Which.
    pub kind: BranchKind,
    /// Position.
    pub pos: Pos,
    /// The condition.
    pub pipe: PipeNode,
    /// The body.
    pub list: ListNode,
    /// The `else` body.
    pub else_list: Option<ListNode>,
}

/// `{{template}}`.
#[derive(Debug)]
pub struct TemplateNode {
    /// Position.
    pub pos: Pos,
    /// The template's name.
    pub name: String,
    /// The value for dot.
    pub pipe: Option<PipeNode>,
}

/// A pipeline with optional declarations.
#[derive(Debug)]
pub struct PipeNode {
    /// Position.
    pub pos: Pos,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// Declared or assigned variables.
    pub decl: Box<[VariableNode]>,
    /// The commands, in order.
    pub cmds: Box<[CommandNode]>,
}

/// A variable, possibly with field accesses (`$x.a.b`).
#[derive(Debug, Clone)]
pub struct VariableNode {
    /// Position.
    pub pos: Pos,
    /// The variable's name then the fields.
    pub ident: Box<[Span]>,
}

/// A command: a function, method or value and its arguments.
#[derive(Debug)]
pub struct CommandNode {
    /// Position.
    pub pos: Pos,
    /// The words.
    pub args: Box<[Arg]>,
}

/// A number constant, with every type it fits.
#[derive(Debug, Clone)]
pub struct NumberNode {
    /// Position.
    pub pos: Pos,
    /// Fits an int64.
    pub is_int: bool,
    /// Fits a uint64.
    pub is_uint: bool,
    /// Fits a float64.
    pub is_float: bool,
    /// Is complex.
    pub is_complex: bool,
    /// The int64 value.
    pub int64: i64,
    /// The uint64 value.
    pub uint64: u64,
    /// The float64 value.
    pub float64: f64,
    /// The text as written (a span of the template's text, not an allocation of its own).
    pub text: Span,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// A function name.
    Identifier {
        /// Position.
        pos: Pos,
        /// The name (shared with the template's text, as every word of it that is kept whole).
        name: Span,
    },
    /// `.`.
    Dot {
        /// Position.
        pos: Pos,
    },
    /// `nil`.
    Nil {
        /// Position.
        pos: Pos,
    },
    /// `$x.a.b`.
    Variable(VariableNode),
    /// `.a.b`.
    Field {
        /// Position.
        pos: Pos,
        /// The field names.
        ident: Box<[Span]>,
    },
    /// `(pipeline).a.b` or `func.a`.
    Chain {
        /// Position.
        pos: Pos,
        /// The operand fields apply to.
        node: Box<Arg>,
        /// The field names.
        fields: Box<[Span]>,
    },
    /// `true` or `false`.
    Bool {
        /// Position.
        pos: Pos,
        /// The value.
        val: bool,
    },
    /// A number.
    Number(Box<NumberNode>),
    /// A string.
    String {
        /// Position.
        pos: Pos,
        /// As written, quotes included.
        quoted: Span,
        /// Where its value is in the tree's [`Tree::strings`].
        index: u32,
    },
    /// `(pipeline)`.
    Pipe(Box<PipeNode>),
}

impl Arg {
    /// Position.
    pub fn pos(&self) -> Pos {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Field { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Variable(v) => v.pos,
            Arg::Number(n) => n.pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

// Go's String() of each node, used in error contexts.

impl std::fmt::Display for ListNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for n in &self.nodes {
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Node::Text { text, .. } => f.write_str(text),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) | Node::Range(b) | Node::With(b) => write!(f, "{b}"),
            Node::Template(t) => write!(f, "{t}"),
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
            Node::Comment { text, .. } => write!(f, "{{{{{text}}}}}"),
        }
    }
}

impl std::fmt::Display for BranchNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        write!(f, "{{{{{name} {}}}}}{}", self.pipe, self.list)?;
        if let Some(e) = &self.else_list {
            write!(f, "{{{{else}}}}{e}")?;
        }
        f.write_str("{{end}}")
    }
}

impl std::fmt::Display for TemplateNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{template {}", crate::gofmt::quote(&self.name))?;
        if let Some(p) = &self.pipe {
            write!(f, " {p}")?;
        }
        f.write_str("}}")
    }
}

impl std::fmt::Display for PipeNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for VariableNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, w) in self.ident.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

impl std::fmt::Display for CommandNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Variable(v) => write!(f, "{v}"),
            Arg::Field { ident, .. } => {
                for i in ident {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Chain { node, fields, .. } => {
                if let Arg::Pipe(p) = node.as_ref() {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Bool { val, .. } => f.write_str(if *val { "true" } else { "false" }),
            Arg::Number(n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

/// A parse error, with Go's message (`template: NAME:LINE: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The message.
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ParseError {}

type PResult<T> = Result<T, ParseError>;

// Parser-internal nodes that end a list.
enum ListEnd {
    End,
    Else { pos: Pos },
}

enum Parsed {
    Node(Node),
    End(ListEnd),
}

/// Parses templates the way `parse.Parse` does.
struct Parser<'a, 'f> {
    parse_name: Arc<str>,
    text: SharedText,
    /// The text the tokens' ranges are in (the lexer's own is cut short by an error).
    src: &'a str,
    lex: Lexer<'a>,
    token: [Option<Item>; 3],
    peek_count: usize,
    vars: Vec<String>,
    action_line: usize,
    range_depth: usize,
    stack_depth: usize,
    has_func: &'f dyn Fn(&str) -> bool,
    tree_set: HashMap<String, Tree>,
    last_line: usize,
    // Lists, pipelines and commands are gathered on these stacks and moved into boxed slices
    // of exactly their length when complete: a vector grown by doubling and then shrunk keeps
    // its largest block (the allocator shrinks in place), which was most of a parse tree's
    // memory. `split_off` moves them with one copy into a vector of exactly their length (its
    // `at` of 0 no longer hands over the stack's own block), which `into_boxed_slice` keeps as
    // it is; collecting a `drain` moved them one by one.
    nodes: Vec<Node>,
    cmds: Vec<CommandNode>,
    args: Vec<Arg>,
    // The words of the field or variable chain being parsed (moved out, like the stacks above,
    // into a vector of exactly their number: a parse tree is kept for the whole render).
    idents: Vec<Span>,
    // The string constants of the tree being parsed (a definition starts its own).
    strings: Vec<Box<str>>,
    /// Whether actions of the usual shapes are read straight from the text
    /// ([`Parser::quick_action`]); tests turn it off to compare.
    quick: bool,
}

const MAX_STACK_DEPTH: usize = 10_000;

/// The most parentheses the quick read of an action nests (`Parser::quick_action`).
const QUICK_DEPTH: usize = 8;

/// Whether the action closes after the word ending at `after`, whose spaces end at `sp`: a
/// right delimiter, or a trimmed one (` -}}`), whose marker needs a space before it.
fn closes(b: &[u8], after: usize, sp: usize) -> bool {
    let rest = &b[sp..];
    rest.starts_with(b"}}") || (sp > after && rest.starts_with(b"-}}"))
}

/// Parses `text` as the template `name`: the trees of the template and of every `define` in it.
pub fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> PResult<HashMap<String, Tree>> {
    parse_shared(name, Arc::new(text.to_owned()), has_func)
}

/// [`parse`] of a text the caller already shares: the trees keep it (for the locations of
/// errors) without a copy, which for a chart's large CRD templates was a megabyte of fresh
/// memory to copy into.
pub fn parse_shared(
    name: &str,
    text_rc: SharedText,
    has_func: &dyn Fn(&str) -> bool,
) -> PResult<HashMap<String, Tree>> {
    parse_with(name, text_rc, has_func, true)
}

fn parse_with(
    name: &str,
    text_rc: SharedText,
    has_func: &dyn Fn(&str) -> bool,
    quick: bool,
) -> PResult<HashMap<String, Tree>> {
    // A token's range is 32 bits: a longer text is refused, never misread (a chart's files
    // are at most 5 MiB).
    if u32::try_from(text_rc.len()).is_err() {
        return Err(ParseError {
            msg: format!(
                "template: {name}: text of {} bytes is too long",
                text_rc.len()
            ),
        });
    }
    // The lexer borrows the text for as long as the parser holds its own reference.
    let borrowed = Arc::clone(&text_rc);
    let mut lex = Lexer::new(&borrowed);
    lex.options.break_ok = !has_func("break");
    lex.options.continue_ok = !has_func("continue");
    let mut p = Parser {
        parse_name: Arc::from(name),
        text: text_rc,
        src: &borrowed,
        lex,
        token: [None, None, None],
        peek_count: 0,
        vars: vec!["$".into()],
        action_line: 0,
        range_depth: 0,
        stack_depth: 0,
        has_func,
        tree_set: HashMap::new(),
        last_line: 0,
        nodes: Vec::new(),
        cmds: Vec::new(),
        args: Vec::new(),
        idents: Vec::new(),
        strings: Vec::new(),
        quick,
    };
    let root = p.parse_top()?;
    let tree = Tree {
        name: name.to_owned(),
        parse_name: p.parse_name.clone(),
        text: p.text.clone(),
        root,
        strings: std::mem::take(&mut p.strings),
    };
    p.add(tree)?;
    Ok(p.tree_set)
}

/// Whether a tree has nothing but space and comments (Go's `IsEmptyTree`).
pub fn is_empty_list(l: &ListNode) -> bool {
    l.nodes.iter().all(|n| match n {
        Node::Text { text, .. } => text
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .is_empty(),
        Node::Comment { .. } => true,
        _ => false,
    })
}

impl<'a, 'f> Parser<'a, 'f> {
    fn errorf(&self, msg: impl std::fmt::Display) -> ParseError {
        ParseError {
            msg: format!("template: {}:{}: {}", self.parse_name, self.last_line, msg),
        }
    }

    fn next(&mut self) -> Item {
        let item = if self.peek_count > 0 {
            self.peek_count -= 1;
            self.token[self.peek_count]
        } else {
            let i = self.lex.next_item();
            self.token[0] = Some(i);
            Some(i)
        };
        let item = item.unwrap_or_else(Item::none);
        // Go's errorf reports token[0].line: the most recently lexed token.
        if let Some(t) = &self.token[0] {
            self.last_line = t.line();
        }
        item
    }

    fn backup(&mut self) {
        self.peek_count += 1;
    }

    fn backup2(&mut self, t1: Item) {
        self.token[1] = Some(t1);
        self.peek_count = 2;
    }

    fn backup3(&mut self, t2: Item, t1: Item) {
        self.token[1] = Some(t1);
        self.token[2] = Some(t2);
        self.peek_count = 3;
    }

    fn peek(&mut self) -> Item {
        if self.peek_count > 0
            && let Some(t) = self.token[self.peek_count - 1]
        {
            return t;
        }
        self.peek_count = 1;
        let i = self.lex.next_item();
        self.last_line = i.line();
        self.token[0] = Some(i);
        i
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        // Most calls find the token already peeked: taking it and backing up would leave
        // everything as it is (`last_line` is already that of `token[0]`).
        if self.peek_count > 0
            && let Some(t) = self.token[self.peek_count - 1]
            && t.typ != ItemType::Space
        {
            return t;
        }
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn expect(&mut self, expected: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != expected {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn unexpected(&self, token: &Item, context: &str) -> ParseError {
        if token.typ == ItemType::Error {
            let message = self.lex.error();
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line() {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if message.ends_with(" action") {
                    extra = extra[" in action".len()..].to_owned();
                }
            }
            return self.errorf(format!("{message}{extra}"));
        }
        self.errorf(format!("unexpected {} in {context}", token.shown(self.src)))
    }

    fn add(&mut self, tree: Tree) -> PResult<()> {
        match self.tree_set.get(&tree.name) {
            Some(existing) if !is_empty_list(&existing.root) => {
                if !is_empty_list(&tree.root) {
                    return Err(self.errorf(format!(
                        "template: multiple definition of template {}",
                        crate::gofmt::quote(&tree.name)
                    )));
                }
                Ok(())
            }
            _ => {
                self.tree_set.insert(tree.name.clone(), tree);
                Ok(())
            }
        }
    }

    fn parse_top(&mut self) -> PResult<ListNode> {
        let pos = self.peek().pos();
        let start = self.nodes.len();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let delim = self.next();
                if let Some(n) = self.quick_action() {
                    self.nodes.push(n);
                    continue;
                }
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup2(delim);
            }
            match self.text_or_action()? {
                Parsed::End(ListEnd::End) => return Err(self.errorf("unexpected {{end}}")),
                Parsed::End(ListEnd::Else { .. }) => {
                    return Err(self.errorf("unexpected {{else}}"));
                }
                Parsed::Node(n) => self.nodes.push(n),
            }
        }
        Ok(ListNode {
            pos,
            nodes: self.nodes.split_off(start).into_boxed_slice(),
        })
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let name_tok = self.next_non_space();
        if name_tok.typ != ItemType::String && name_tok.typ != ItemType::RawString {
            return Err(self.unexpected(&name_tok, context));
        }
        let name = unquote(name_tok.val(self.src)).map_err(|e| self.errorf(e))?;
        self.expect(ItemType::RightDelim, context)?;
        // A definition parses with fresh variables, as Go's startParse does.
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = self.range_depth;
        let saved_strings = std::mem::take(&mut self.strings);
        self.range_depth = 0;
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        if !matches!(end, ListEnd::End) {
            return Err(self.errorf(format!("unexpected {} in {context}", "{{else}}")));
        }
        let tree = Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: list,
            strings: std::mem::replace(&mut self.strings, saved_strings),
        };
        self.add(tree)
    }

    fn item_list(&mut self) -> PResult<(ListNode, ListEnd)> {
        let pos = self.peek_non_space().pos();
        let start = self.nodes.len();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::End(e) => {
                    let nodes = self.nodes.split_off(start).into_boxed_slice();
                    return Ok((ListNode { pos, nodes }, e));
                }
                Parsed::Node(n) => self.nodes.push(n),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text {
                pos: token.pos(),
                text: Span::of(&self.text, token.val(self.src)),
            })),
            ItemType::LeftDelim => {
                if let Some(n) = self.quick_action() {
                    return Ok(Parsed::Node(n));
                }
                if let Some(end) = self.quick_end() {
                    return Ok(Parsed::End(end));
                }
                self.action_line = token.line();
                let r = self.action();
                self.action_line = 0;
                r
            }
            ItemType::Comment => Ok(Parsed::Node(Node::Comment {
                pos: token.pos(),
                text: token.val(self.src).to_owned(),
            })),
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(Parsed::Node),
            ItemType::Break => return self.break_control(token.pos(), "break").map(Parsed::Node),
            ItemType::Continue => {
                return self
                    .break_control(token.pos(), "continue")
                    .map(Parsed::Node);
            }
            ItemType::Else => return self.else_control(),
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed::End(ListEnd::End));
            }
            ItemType::If => return self.branch(BranchKind::If).map(Parsed::Node),
            ItemType::Range => return self.branch(BranchKind::Range).map(Parsed::Node),
            ItemType::Template => return self.template_control().map(Parsed::Node),
            ItemType::With => return self.branch(BranchKind::With).map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let token = self.peek();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Parsed::Node(Node::Action {
            pos: token.pos(),
            pipe,
        }))
    }

    /// `{{pipeline}}` read straight from the text after its left delimiter, for the shapes
    /// nearly every action of a chart has: functions, fields, variables and their chains, plain
    /// strings, decimal integers, `true` and `false`, pipes, parenthesized pipelines and their
    /// fields, and a first `$x :=` or `$x =`. The general path takes each token, spaces
    /// included, through the lexer's state machine, its queue and this parser's lookahead
    /// (about 290 instructions a token); this reads each byte once. `None`, with nothing
    /// changed, wherever the general path must decide: anything else (other numbers, raw
    /// strings, escapes, keywords, characters not ASCII) and every error, whose words are the
    /// general path's.
    fn quick_action(&mut self) -> Option<Node> {
        let pipe = self.quick_pipe(false)?;
        Some(Node::Action {
            pos: pipe.pos,
            pipe,
        })
    }

    /// `{{end}}` and `{{else}}` (the word alone, trimmed or not) read straight from the text, as
    /// [`Self::quick_action`] reads a pipeline: over a quarter of the conformance charts' actions,
    /// each four or five tokens for the general path. `else if`, `else with` and anything else
    /// are its.
    fn quick_end(&mut self) -> Option<ListEnd> {
        let from = self.quick_from()?;
        let b = self.src.as_bytes();
        let i = from + leading_spaces(&b[from..]);
        let (after, is_end) = if b[i..].starts_with(b"end") {
            (i + 3, true)
        } else if b[i..].starts_with(b"else") {
            (i + 4, false)
        } else {
            return None;
        };
        if !closes(b, after, after + leading_spaces(&b[after..])) {
            return None;
        }
        let t = self.quick_close(after);
        // `else_control` places a plain `else` at its right delimiter.
        Some(if is_end {
            ListEnd::End
        } else {
            ListEnd::Else { pos: t.pos() }
        })
    }

    /// The pipeline of an action or of `if`, `with` or `range` (whose declaration may have
    /// two variables), up to and with its right delimiter, read as [`Self::quick_action`]
    /// reads it.
    fn quick_pipe(&mut self, range: bool) -> Option<PipeNode> {
        let from = self.quick_from()?;
        let marks = (
            self.cmds.len(),
            self.args.len(),
            self.idents.len(),
            self.strings.len(),
            self.vars.len(),
        );
        let Some((pipe, end)) = self.quick_pipeline(from, range, 0) else {
            self.cmds.truncate(marks.0);
            self.args.truncate(marks.1);
            self.idents.truncate(marks.2);
            self.strings.truncate(marks.3);
            self.vars.truncate(marks.4);
            return None;
        };
        self.quick_close(end);
        Some(pipe)
    }

    /// Where the action just opened starts, when the quick read may take it: quick reading is
    /// on and no token is waiting in the lookahead.
    fn quick_from(&self) -> Option<usize> {
        if !self.quick || self.peek_count != 0 {
            return None;
        }
        self.lex.action_at()
    }

    /// Ends a quickly read action at `at` ([`Lexer::close_action`]) and keeps its right
    /// delimiter's token as `next_non_space` would have left it: the last token lexed.
    fn quick_close(&mut self, at: usize) -> Item {
        #[cfg(test)]
        tests::QUICK_TAKEN.with(|n| n.set(n.get() + 1));
        let t = self.lex.close_action(at);
        self.token[0] = Some(t);
        self.last_line = t.line();
        t
    }

    /// The pipeline of [`Self::quick_action`] from `from`, and where the spaces before its
    /// right delimiter start; `range` for a range's. Within `depth` parentheses, the pipeline
    /// inside them and the position after its `)`.
    fn quick_pipeline(
        &mut self,
        from: usize,
        range: bool,
        depth: usize,
    ) -> Option<(PipeNode, usize)> {
        let src = self.src;
        let b = src.as_bytes();
        let mut i = from + leading_spaces(&b[from..]);
        let pos = i as Pos;
        let mut decl: Box<[VariableNode]> = Box::default();
        let mut is_assign = false;
        if b.get(i) == Some(&b'$') {
            let (_, end) = word_end(b, i + 1, ItemType::Variable)?;
            let mut j = end + leading_spaces(&b[end..]);
            // `range $k, $v :=`: a second variable after a comma, in a range alone.
            let mut second = None;
            if range && b.get(j) == Some(&b',') {
                let k = j + 1 + leading_spaces(&b[j + 1..]);
                if b.get(k) != Some(&b'$') {
                    return None;
                }
                let (_, e) = word_end(b, k + 1, ItemType::Variable)?;
                second = Some((k, e));
                j = e + leading_spaces(&b[e..]);
            }
            let op = match b.get(j..j + 2)? {
                [b':', b'='] => Some((false, j + 2)),
                [b'=', _] => Some((true, j + 1)),
                _ => None,
            };
            match (op, second) {
                (Some((assign, after)), _) => {
                    let mut var = |from: usize, to: usize| {
                        let name = &src[from..to];
                        self.vars.push(name.to_owned());
                        VariableNode {
                            pos: from as Pos,
                            ident: Box::new([Span::of(&self.text, name)]),
                        }
                    };
                    let first = var(i, end);
                    decl = match second {
                        None => Box::new([first]),
                        Some((k, e)) => Box::new([first, var(k, e)]),
                    };
                    is_assign = assign;
                    i = after + leading_spaces(&b[after..]);
                }
                // `$k, $v` then a command: the general path's.
                (None, Some(_)) => return None,
                (None, None) => {}
            }
        }
        let cmds = self.cmds.len();
        let end = loop {
            let cmd_pos = i as Pos;
            let args = self.args.len();
            let (next, last) = loop {
                let (arg, after) = self.quick_operand(i, depth)?;
                // A later command must start with something to run (`check_pipeline`).
                if self.cmds.len() > cmds
                    && self.args.len() == args
                    && matches!(
                        arg,
                        Arg::Bool { .. } | Arg::Dot { .. } | Arg::String { .. } | Arg::Number(_)
                    )
                {
                    return None;
                }
                self.args.push(arg);
                let sp = after + leading_spaces(&b[after..]);
                if depth > 0 {
                    if b.get(sp) == Some(&b')') {
                        break (sp + 1, true);
                    }
                } else if closes(b, after, sp) {
                    break (after, true);
                }
                match b.get(sp)? {
                    b'|' => break (sp + 1, false),
                    _ if sp > after => i = sp,
                    _ => return None,
                }
            };
            let cmd = CommandNode {
                pos: cmd_pos,
                args: self.args.split_off(args).into_boxed_slice(),
            };
            self.cmds.push(cmd);
            if last {
                break next;
            }
            i = next + leading_spaces(&b[next..]);
        };
        let pipe = PipeNode {
            pos,
            is_assign,
            decl,
            cmds: self.cmds.split_off(cmds).into_boxed_slice(),
        };
        Some((pipe, end))
    }

    /// One operand of [`Self::quick_pipeline`] at `i`, within `depth` parentheses, and the
    /// position after it.
    fn quick_operand(&mut self, i: usize, depth: usize) -> Option<(Arg, usize)> {
        let src = self.src;
        let b = src.as_bytes();
        let at = i as Pos;
        match *b.get(i)? {
            b'.' => {
                if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
                let (typ, end) = word_end(b, i + 1, ItemType::Field)?;
                if typ == ItemType::Dot {
                    // A `.` after it is an error of the general path's.
                    return (b.get(end) != Some(&b'.')).then_some((Arg::Dot { pos: at }, end));
                }
                let start = self.idents.len();
                self.idents.push(Span::of(&self.text, &src[i + 1..end]));
                let (pos, end) = self.quick_chain(at, end)?;
                let ident = self.idents.split_off(start).into_boxed_slice();
                Some((Arg::Field { pos, ident }, end))
            }
            b'$' => {
                let (_, end) = word_end(b, i + 1, ItemType::Variable)?;
                let name = &src[i..end];
                if !self.vars.iter().any(|v| v == name) {
                    return None;
                }
                let start = self.idents.len();
                self.idents.push(Span::of(&self.text, name));
                let (pos, end) = self.quick_chain(at, end)?;
                let ident = self.idents.split_off(start).into_boxed_slice();
                Some((Arg::Variable(VariableNode { pos, ident }), end))
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let (_, end) = word_end(b, i + 1, ItemType::Identifier)?;
                let word = &src[i..end];
                // Keywords, and chains after a word (`f.a`, an error after a constant).
                if keyword(word).is_some() || b.get(end) == Some(&b'.') {
                    return None;
                }
                let arg = match word {
                    "true" | "false" => Arg::Bool {
                        pos: at,
                        val: word == "true",
                    },
                    _ if (self.has_func)(word) => Arg::Identifier {
                        pos: at,
                        name: Span::of(&self.text, word),
                    },
                    _ => return None,
                };
                Some((arg, end))
            }
            b'0'..=b'9' => {
                // Decimal digits alone (no `0` before others, no sign, point, exponent, base
                // or `_`): anything else after them is for the lexer's number scan.
                let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if (b[i] == b'0' && end > i + 1)
                    || !matches!(
                        b.get(end)?,
                        b' ' | b'\t' | b'\r' | b'\n' | b'|' | b'}' | b')'
                    )
                {
                    return None;
                }
                let text = Span::of(&self.text, &src[i..end]);
                let n = if end - i <= 18 {
                    // Under 10^18: an int64 and a uint64 as written, and a float64 exactly
                    // where it has one (as `new_number` converts the int64).
                    let v = src[i..end]
                        .bytes()
                        .fold(0, |v, d| v * 10 + u64::from(d - b'0'));
                    NumberNode {
                        pos: at,
                        is_int: true,
                        is_uint: true,
                        is_float: true,
                        is_complex: false,
                        int64: v as i64,
                        uint64: v,
                        float64: v as i64 as f64,
                        text,
                    }
                } else {
                    new_number(at, text, ItemType::Number).ok()?
                };
                Some((Arg::Number(Box::new(n)), end))
            }
            // A parenthesized pipeline, and the fields after it (`(f .a).b`); deep nests are
            // the general path's.
            b'(' if depth < QUICK_DEPTH => {
                let (pipe, end) = self.quick_pipeline(i + 1, false, depth + 1)?;
                let start = self.idents.len();
                let (pos, end) = self.quick_chain(at, end)?;
                let node = Arg::Pipe(Box::new(pipe));
                if self.idents.len() == start {
                    return Some((node, end));
                }
                let fields = self.idents.split_off(start).into_boxed_slice();
                let node = Box::new(node);
                Some((Arg::Chain { pos, node, fields }, end))
            }
            b'"' => {
                let close = i + 1 + memchr::memchr3(b'"', b'\\', b'\n', &b[i + 1..])?;
                if b[close] != b'"' {
                    return None;
                }
                // With no escape and no line break, the value is the text between the quotes.
                let inner = &src[i + 1..close];
                debug_assert_eq!(unquote(&src[i..=close]).as_deref(), Ok(inner));
                self.strings.push(inner.into());
                let arg = Arg::String {
                    pos: at,
                    quoted: Span::of(&self.text, &src[i..=close]),
                    index: (self.strings.len() - 1) as u32,
                };
                Some((arg, close + 1))
            }
            _ => None,
        }
    }

    /// The fields after a term's first word (`.b.c` of `.a.b.c` or `$x.b.c`), onto `idents`;
    /// the chain's position (Go's: its first field after the term, else the term's) and end.
    fn quick_chain(&mut self, at: Pos, mut end: usize) -> Option<(Pos, usize)> {
        let src = self.src;
        let b = src.as_bytes();
        let mut pos = None;
        while b.get(end) == Some(&b'.') {
            if b.get(end + 1).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            let (typ, e) = word_end(b, end + 1, ItemType::Field)?;
            if typ == ItemType::Dot {
                return None;
            }
            pos.get_or_insert(end as Pos);
            self.idents.push(Span::of(&self.text, &src[end + 1..e]));
            end = e;
        }
        Some((pos.unwrap_or(at), end))
    }

    fn break_control(&mut self, pos: Pos, word: &str) -> PResult<Node> {
        let token = self.next_non_space();
        if token.typ != ItemType::RightDelim {
            return Err(self.unexpected(&token, &format!("{{{{{word}}}}}")));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}")));
        }
        Ok(if word == "break" {
            Node::Break { pos }
        } else {
            Node::Continue { pos }
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<PipeNode> {
        let token = self.peek_non_space();
        let pos = token.pos();
        let mut is_assign = false;
        let mut decl = Vec::new();
        let start = self.cmds.len();
        'decls: loop {
            let v = self.peek_non_space();
            if v.typ == ItemType::Variable {
                self.next();
                let after = self.peek();
                let next = self.peek_non_space();
                if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                    is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    decl.push(VariableNode {
                        pos: v.pos(),
                        ident: Box::new([Span::of(&self.text, v.val(self.src))]),
                    });
                    self.vars.push(v.val(self.src).to_string());
                } else if next.typ == ItemType::Char && next.val(self.src) == "," {
                    self.next_non_space();
                    decl.push(VariableNode {
                        pos: v.pos(),
                        ident: Box::new([Span::of(&self.text, v.val(self.src))]),
                    });
                    self.vars.push(v.val(self.src).to_string());
                    if context == "range" && decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue 'decls;
                            }
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                } else if after.typ == ItemType::Space {
                    self.backup3(v, after);
                } else {
                    self.backup2(v);
                }
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            match token.typ {
                t if t == end => {
                    let pipe = PipeNode {
                        pos,
                        is_assign,
                        decl: decl.into_boxed_slice(),
                        cmds: self.cmds.split_off(start).into_boxed_slice(),
                    };
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    self.cmds.push(c);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &PipeNode, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(Arg::Bool { .. } | Arg::Dot { .. } | Arg::Nil { .. })
                    | Some(Arg::Number(_) | Arg::String { .. })
            ) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn branch(&mut self, kind: BranchKind) -> PResult<Node> {
        let context = match kind {
            BranchKind::If => "if",
            BranchKind::Range => "range",
            BranchKind::With => "with",
        };
        let nvars = self.vars.len();
        let r = self.branch_inner(kind, context);
        self.vars.truncate(nvars);
        let b = r?;
        Ok(match kind {
            BranchKind::If => Node::If(Box::new(b)),
            BranchKind::Range => Node::Range(Box::new(b)),
            BranchKind::With => Node::With(Box::new(b)),
        })
    }

    fn branch_inner(&mut self, kind: BranchKind, context: &str) -> PResult<BranchNode> {
        let pipe = match self.quick_pipe(kind == BranchKind::Range) {
            Some(pipe) => pipe,
            None => self.pipeline(context, ItemType::RightDelim)?,
        };
        if kind == BranchKind::Range {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if kind == BranchKind::Range {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let ListEnd::Else { pos, .. } = next {
            if kind == BranchKind::If && self.peek().typ == ItemType::If {
                self.next();
                let inner = self.branch(BranchKind::If)?;
                else_list = Some(ListNode {
                    pos,
                    nodes: Box::new([inner]),
                });
            } else if kind == BranchKind::With && self.peek().typ == ItemType::With {
                self.next();
                let inner = self.branch(BranchKind::With)?;
                else_list = Some(ListNode {
                    pos,
                    nodes: Box::new([inner]),
                });
            } else {
                let (l, n) = self.item_list()?;
                if !matches!(n, ListEnd::End) {
                    return Err(self.errorf("expected end; found {{else}}"));
                }
                else_list = Some(l);
            }
        }
        Ok(BranchNode {
            kind,
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn else_control(&mut self) -> PResult<Parsed> {
        let peek = self.peek_non_space();
        if peek.typ == ItemType::If || peek.typ == ItemType::With {
            return Ok(Parsed::End(ListEnd::Else { pos: peek.pos() }));
        }
        let token = self.expect(ItemType::RightDelim, "else")?;
        Ok(Parsed::End(ListEnd::Else { pos: token.pos() }))
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, context)?;
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = self.range_depth;
        let saved_strings = std::mem::take(&mut self.strings);
        self.range_depth = 0;
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let strings = std::mem::replace(&mut self.strings, saved_strings);
        let (list, end) = r?;
        if !matches!(end, ListEnd::End) {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        let tree = Tree {
            name: name.clone(),
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: list,
            strings,
        };
        self.add(tree)?;
        Ok(Node::Template(Box::new(TemplateNode {
            pos: token.pos(),
            name,
            pipe: Some(pipe),
        })))
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, context)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, ItemType::RightDelim)?);
        }
        Ok(Node::Template(Box::new(TemplateNode {
            pos: token.pos(),
            name,
            pipe,
        })))
    }

    fn template_name(&self, token: &Item, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => {
                unquote(token.val(self.src)).map_err(|e| self.errorf(e))
            }
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn command(&mut self) -> PResult<CommandNode> {
        let pos = self.peek_non_space().pos();
        let start = self.args.len();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                self.args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if self.args.len() == start {
            return Err(self.errorf("empty command"));
        }
        Ok(CommandNode {
            pos,
            args: self.args.split_off(start).into_boxed_slice(),
        })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        // A field or variable term leaves its words on `idents`, and the fields after it join
        // them there: the chain is then moved into one vector of its length (it was a vector
        // for the term's words, another for the fields, and two reallocations to join them).
        let start = self.idents.len();
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let chained = self.peek().typ == ItemType::Field;
        if !chained && !matches!(node, Arg::Field { .. } | Arg::Variable(_)) {
            return Ok(Some(node));
        }
        // Go gives a chain the position of its first field after the term.
        let pos = if chained {
            self.peek().pos()
        } else {
            node.pos()
        };
        while self.peek().typ == ItemType::Field {
            let f = self.next().val(self.src);
            self.idents.push(Span::of(&self.text, &f[1..]));
        }
        Ok(Some(match node {
            Arg::Field { .. } => Arg::Field {
                pos,
                ident: self.idents.split_off(start).into_boxed_slice(),
            },
            Arg::Variable(_) => Arg::Variable(VariableNode {
                pos,
                ident: self.idents.split_off(start).into_boxed_slice(),
            }),
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number(_)
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return Err(self.errorf(format!("unexpected . after term {}", quote_node(&node))));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields: self.idents.split_off(start).into_boxed_slice(),
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_func)(token.val(self.src)) {
                    return Err(self.errorf(format!(
                        "function {} not defined",
                        crate::gofmt::quote(token.val(self.src))
                    )));
                }
                Arg::Identifier {
                    pos: token.pos(),
                    name: Span::of(&self.text, token.val(self.src)),
                }
            }
            ItemType::Dot => Arg::Dot { pos: token.pos() },
            ItemType::Nil => Arg::Nil { pos: token.pos() },
            ItemType::Variable => {
                // The lexer ends a variable at a `.`: its token is the name alone (Go splits
                // it on `.` in general), and it is kept as the chain's first word.
                let name = token.val(self.src);
                if !self.vars.iter().any(|v| v == name) {
                    return Err(
                        self.errorf(format!("undefined variable {}", crate::gofmt::quote(name)))
                    );
                }
                // The word goes on `idents`, for `operand` to finish the chain.
                self.idents.push(Span::of(&self.text, name));
                Arg::Variable(VariableNode {
                    pos: token.pos(),
                    ident: Box::default(),
                })
            }
            ItemType::Field => {
                // One word too: `.a.b` is lexed as two fields.
                self.idents
                    .push(Span::of(&self.text, &token.val(self.src)[1..]));
                Arg::Field {
                    pos: token.pos(),
                    ident: Box::default(),
                }
            }
            ItemType::Bool => Arg::Bool {
                pos: token.pos(),
                val: token.val(self.src) == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => Arg::Number(Box::new(
                new_number(
                    token.pos(),
                    Span::of(&self.text, token.val(self.src)),
                    token.typ,
                )
                .map_err(|e| self.errorf(e))?,
            )),
            ItemType::LeftParen => {
                if self.stack_depth >= MAX_STACK_DEPTH {
                    return Err(self.errorf("max expression depth exceeded"));
                }
                self.stack_depth += 1;
                let r = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.stack_depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            ItemType::String | ItemType::RawString => {
                let s = unquote(token.val(self.src)).map_err(|e| self.errorf(e))?;
                self.strings.push(s.into_boxed_str());
                Arg::String {
                    pos: token.pos(),
                    quoted: Span::of(&self.text, token.val(self.src)),
                    // Each constant is at least its two quotes of a text under 4 GiB.
                    index: (self.strings.len() - 1) as u32,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

fn quote_node(a: &Arg) -> String {
    crate::gofmt::quote(&a.to_string())
}

/// Go's `strconv.Unquote` for the string forms a template can hold.
pub fn unquote(s: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_owned();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(err());
    }
    let (q, last) = (b[0], b[b.len() - 1]);
    if q != last {
        return Err(err());
    }
    let inner = &s[1..s.len() - 1];
    match q {
        b'`' => {
            if inner.contains('`') {
                return Err(err());
            }
            Ok(inner.replace('\r', ""))
        }
        // Most of a chart's strings have nothing to unescape: the text between the quotes, as
        // [`unescape`] would copy it.
        b'"' if !inner.bytes().any(|c| matches!(c, b'\\' | b'"' | b'\n')) => Ok(inner.to_owned()),
        b'"' | b'\'' => unescape(inner, q),
        _ => Err(err()),
    }
}

/// The length of the one character or escape `body` (a character constant after its opening
/// quote) starts with, as Go's `strconv.UnquoteChar` reads it; `None` when it is not one.
fn char_constant_len(body: &str) -> Option<usize> {
    let mut cs = body.chars();
    let c = cs.next()?;
    if c == '\'' {
        return None;
    }
    if c != '\\' {
        return Some(c.len_utf8());
    }
    let (len, digit): (usize, fn(&u8) -> bool) = match cs.next()? {
        'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' | '\'' => return Some(2),
        'x' => (4, u8::is_ascii_hexdigit),
        'u' => (6, u8::is_ascii_hexdigit),
        'U' => (10, u8::is_ascii_hexdigit),
        '0'..='7' => (4, |b: &u8| (b'0'..=b'7').contains(b)),
        _ => return None,
    };
    let skip = if len == 4 && body.as_bytes()[1].is_ascii_digit() {
        1
    } else {
        2
    };
    let digits = body.as_bytes().get(skip..len)?;
    digits.iter().all(digit).then_some(len)
}

/// The text between the quotes `q` of a quoted string, its escapes read as Go's.
fn unescape(inner: &str, q: u8) -> Result<String, String> {
    let err = || "invalid syntax".to_owned();
    if q == b'\'' && inner.chars().count() != 1 && !inner.starts_with('\\') {
        return Err(err());
    }
    let mut bytes = Vec::new();
    let mut chars = inner.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == q as char || c == '\n' {
            return Err(err());
        }
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err(err());
        };
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '\'' if q == b'\'' => Some(b'\''),
            '"' if q == b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(x) = simple {
            bytes.push(x);
            continue;
        }
        let mut take = |n: usize, radix: u32| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let Some((_, d)) = chars.next() else {
                    return Err(err());
                };
                v = v * radix + d.to_digit(radix).ok_or_else(err)?;
            }
            Ok(v)
        };
        match e {
            'x' => bytes.push(take(2, 16)? as u8),
            '0'..='7' => {
                let rest = take(2, 8)?;
                let v = (e as u32 - '0' as u32) * 64 + rest;
                if v > 255 {
                    return Err(err());
                }
                bytes.push(v as u8);
            }
            'u' | 'U' => {
                let v = take(if e == 'u' { 4 } else { 8 }, 16)?;
                let c = char::from_u32(v).ok_or_else(err)?;
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(err()),
        }
    }
    String::from_utf8(bytes)
        .map_err(|_| "a string constant that is not valid UTF-8 (unsupported by Gantry)".to_owned())
}

fn new_number(pos: Pos, span: Span, typ: ItemType) -> Result<NumberNode, String> {
    let mut n = NumberNode {
        pos,
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int64: 0,
        uint64: 0,
        float64: 0.0,
        text: span.clone(),
    };
    let text = &*span;
    if typ == ItemType::CharConstant {
        // Go's `strconv.UnquoteChar` takes one character (or escape) after the quote; more
        // before the closing quote is a malformed constant, not a syntax error.
        let body = &text[1..];
        let first = char_constant_len(body).ok_or("invalid syntax")?;
        if &body[first..] != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        let s = unquote(text)?;
        let mut cs = s.chars();
        let c = cs.next().ok_or("invalid syntax")?;
        if cs.next().is_some() {
            return Err(format!("malformed character constant: {text}"));
        }
        n.int64 = c as i64;
        n.is_int = true;
        n.uint64 = c as u64;
        n.is_uint = true;
        n.float64 = c as u32 as f64;
        n.is_float = true;
        return Ok(n);
    }
    if typ == ItemType::Complex || text.ends_with('i') {
        return Err(format!(
            "complex constant {} (unsupported by Gantry)",
            crate::gofmt::quote(text)
        ));
    }
    let u = crate::strconv::parse_uint(text, 0);
    if let Some(u) = u {
        n.is_uint = true;
        n.uint64 = u;
    }
    if let Some(i) = crate::strconv::parse_int(text, 0) {
        n.is_int = true;
        n.int64 = i;
        if i == 0 {
            n.is_uint = true;
            n.uint64 = u.unwrap_or(0);
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float64 = n.int64 as f64;
    } else if n.is_uint {
        n.is_float = true;
        n.float64 = n.uint64 as f64;
    } else if let Some(f) = crate::strconv::parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", crate::gofmt::quote(text)));
        }
        n.is_float = true;
        n.float64 = f;
        if !n.is_int && (f as i64) as f64 == f && f.is_finite() {
            n.is_int = true;
            n.int64 = f as i64;
        }
        if !n.is_uint && f >= 0.0 && (f as u64) as f64 == f && f.is_finite() {
            n.is_uint = true;
            n.uint64 = f as u64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gofmt::quote(text)
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chart's trees live for its whole render, a node for each piece of text and action:
    /// a field grown back to a `usize` or a `Vec` shows here before it shows in page faults.
    #[test]
    fn tree_nodes_stay_small() {
        use std::mem::size_of;
        assert_eq!(
            [
                size_of::<Node>(),
                size_of::<PipeNode>(),
                size_of::<CommandNode>(),
                size_of::<Arg>(),
                size_of::<ListNode>(),
            ],
            [48, 40, 24, 32, 24]
        );
    }

    /// The trees (by name, with their text, strings and positions) or the error, of a parse
    /// with or without [`Parser::quick_action`].
    fn both_ways(text: &str, has_func: &dyn Fn(&str) -> bool) -> [String; 2] {
        [true, false].map(|quick| {
            match parse_with("t", Arc::new(text.to_owned()), has_func, quick) {
                Ok(set) => {
                    let mut trees: Vec<_> = set.into_iter().collect();
                    trees.sort_by(|a, b| a.0.cmp(&b.0));
                    format!("{trees:#?}")
                }
                Err(e) => e.msg,
            }
        })
    }

    thread_local! {
        /// How many actions [`Parser::quick_action`] read, on this thread.
        pub(super) static QUICK_TAKEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    const FUNCS: &[&str] = &["f", "g", "printf", "include", "quote", "nindent", "break"];

    fn has_func(n: &str) -> bool {
        FUNCS.contains(&n)
    }

    /// Tokens of actions, those the quick read takes and those it leaves to the general path.
    const TOKENS: &[&str] = &[
        " ", "\n", ".", ".a", ".b.c", "$", "$x", "$y", ":=", "=", "|", "\"s\"", "\"\\t\"", "`r`",
        "1", "0", "07", "63", "1e3", "2.5", "-", "f", "g", "h", "true", "nil", "if", "(", ")", ",",
        "é", "-}}", "}}", ".1", "..", "'c'", "break", "\t", "end", "else", "endx",
    ];

    /// Where an action's text is put: at the top, after a declaration, in an `if`, a
    /// definition and a `range`, and as the pipeline of `if`, `else if`, `with` and `range`;
    /// each followed by more text and an action, whose positions and lines follow from where
    /// the action ended.
    fn contexts(seq: &str) -> [String; 10] {
        [
            format!("A{{{{{seq}}}}}B\n{{{{ .z }}}}"),
            format!("{{{{ $x := .v }}}}\n{{{{- {seq} -}}}}\n{{{{ $x }}}}"),
            format!("{{{{ if .c }}}}\n{{{{{seq}}}}}{{{{ else }}}}{{{{ .e }}}}{{{{ end }}}}"),
            format!("{{{{ define \"d\" }}}}{{{{{seq}}}}}{{{{ end }}}}{{{{ template \"d\" . }}}}"),
            format!("{{{{ range $i, $y := .l }}}}{{{{{seq}}}}}{{{{ end }}}}{{{{ .q }}}}"),
            format!("{{{{ if {seq}}}}}a{{{{ else if {seq} -}}}}\nb{{{{ end }}}}{{{{ .z }}}}"),
            format!("{{{{- with {seq}}}}}a{{{{ else with .w }}}}b{{{{ end }}}}\n{{{{ .z }}}}"),
            format!(
                "{{{{ $x := 1 }}}}{{{{ range {seq}}}}}{{{{ . }}}}{{{{ break }}}}{{{{ end }}}}{{{{ $x }}}}"
            ),
            // The line of an error after it.
            format!("{{{{- {seq} -}}}}\n\n  {{{{ .x | h }}}}"),
            format!("{{{{ if {seq} }}}}\n{{{{ end }}}}\n{{{{ .x (h) }}}}"),
        ]
    }

    /// Every action of up to three of the tokens above, in each context, parses to the same
    /// trees or fails with the same words with the quick read as without it.
    #[test]
    fn quick_actions_parse_as_the_general_path_does() {
        let mut quick = 0;
        for seq in gantry_tests::up_to(TOKENS, 3) {
            for text in contexts(&seq) {
                let [a, b] = both_ways(&text, &has_func);
                assert_eq!(a, b, "{text:?}");
                quick += usize::from(!a.starts_with("template:"));
            }
        }
        // Most are errors; enough parse, and enough of those quickly, for the comparison to
        // mean something.
        assert!(quick > 10_000, "{quick}");
        let taken = QUICK_TAKEN.with(std::cell::Cell::get);
        assert!(taken > 5_000, "{taken}");
    }

    /// Longer actions drawn at random (a fixed seed) from the tokens and the usual shapes.
    #[test]
    fn longer_quick_actions_parse_as_the_general_path_does() {
        let shapes = [
            " ",
            " ",
            " ",
            "  ",
            ".a",
            ".b.c",
            "$x",
            "$",
            "|",
            " | ",
            "\"s\"",
            "f",
            "g",
            "include",
            "quote",
            "true",
            "false",
            ".",
            "\n",
            "$x := ",
            "$y = ",
            "-}}",
            "1",
            "(",
            ")",
            "nil",
            "\"\\\"\"",
            ".Values.a-b",
            "$.x.y",
            "4",
            "10",
            "0",
            "0x1F",
            "99999999999999999999",
            "999999999999999999",
            "1_0",
            "3i",
            "$k, $v := ",
            ",",
            "$k",
            " , ",
            "$v",
            "(",
            ")",
            " (f .a)",
            "(.a).b",
            " (include \"x\" .) ",
            "(quote (f 1))",
            "( g )",
            "(true)",
            "(1).x",
            "(.a | f).b.c",
            "((((((((((.a))))))))))",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let len = 4 + next(6);
            let seq: String = (0..len).map(|_| shapes[next(shapes.len())]).collect();
            for text in contexts(&seq) {
                let [a, b] = both_ways(&text, &has_func);
                assert_eq!(a, b, "{text:?}");
            }
        }
    }

    /// The conformance charts' templates parse to the same trees with the quick read.
    #[test]
    fn fixture_templates_parse_as_the_general_path_does() {
        let root = gantry_tests::shared_fixture("helm/cases", "the Helm cases").expect("fixtures");
        let mut stack = vec![root];
        let mut seen = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let in_templates = path.components().any(|c| c.as_os_str() == "templates");
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !in_templates || !text.contains("{{") {
                    continue;
                }
                let [a, b] = both_ways(&text, &|_| true);
                assert_eq!(a, b, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen > 500, "{seen}");
        let taken = QUICK_TAKEN.with(std::cell::Cell::get);
        assert!(taken > 5_000, "{taken}");
    }

    fn p(s: &str) -> Result<String, String> {
        let f = |n: &str| matches!(n, "printf" | "include" | "len" | "eq");
        parse("t", s, &f)
            .map(|set| set["t"].root.to_string())
            .map_err(|e| e.msg)
    }

    /// Every string of up to four characters over eight, quoted: a string with nothing to
    /// unescape is what the escape reader makes of it, and one with a quote, a line break or a
    /// backslash is left to that reader.
    #[test]
    fn strings_without_escapes_unquote_as_the_escape_reader_reads_them() {
        let alphabet = ['a', 'é', ' ', '\t', '"', '\n', '\\', 'n'];
        let inners = gantry_tests::up_to(&alphabet, 4);
        for inner in &inners {
            assert_eq!(
                unquote(&format!("\"{inner}\"")),
                unescape(inner, b'"'),
                "{inner:?}"
            );
        }
    }

    /// A template's text nodes are ranges of the text it was parsed from, not copies: a chart's
    /// CRD templates are megabytes of text.
    #[test]
    fn text_nodes_share_the_parsed_text() {
        // One pointer and a range of two `u32`s.
        assert_eq!(std::mem::size_of::<Span>(), 16);
        let src: SharedText = Arc::new("a {{- 1 }} b {{ define \"d\" }} c {{ end }}".into());
        let set = parse_shared("t", Arc::clone(&src), &|_| false).expect("parses");
        let within = |t: &Span| {
            let (at, base) = (t.as_ptr() as usize, src.as_ptr() as usize);
            at >= base && at + t.len() <= base + src.len()
        };
        let mut texts = Vec::new();
        for tree in set.values() {
            for n in &tree.root.nodes {
                if let Node::Text { text, .. } = n {
                    assert!(within(text), "{text:?} is a range of the source");
                    texts.push(text.to_string());
                }
            }
        }
        texts.sort();
        assert_eq!(texts, [" b ", " c ", "a"]);
        // Text that is not the source's own is kept on its own.
        let other = Span::of(&src, "elsewhere");
        assert!(!within(&other));
        assert_eq!(&*other, "elsewhere");
        // The words of field chains are ranges of the source too.
        let src: SharedText = Arc::new("{{ $x := .a }}{{ .Values.apps }}{{ $x.b.c }}".into());
        let set = parse_shared("w", Arc::clone(&src), &|_| false).expect("parses");
        let base = src.as_ptr() as usize;
        let mut words = Vec::new();
        for n in &set["w"].root.nodes {
            let Node::Action { pipe, .. } = n else {
                continue;
            };
            let args = pipe.cmds.iter().flat_map(|c| &c.args);
            for a in args {
                let ws = match a {
                    Arg::Field { ident, .. } | Arg::Variable(VariableNode { ident, .. }) => ident,
                    _ => continue,
                };
                for w in ws {
                    let at = w.as_ptr() as usize;
                    assert!(
                        at >= base && at + w.len() <= base + src.len(),
                        "{w} is shared"
                    );
                    words.push(w.to_string());
                }
            }
        }
        assert_eq!(words, ["a", "Values", "apps", "$x", "b", "c"]);
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(
            p("{{ if eq .a 1 }}x{{ else if .b }}y{{ end }}").unwrap(),
            "{{if eq .a 1}}x{{else}}{{if .b}}y{{end}}{{end}}"
        );
        assert_eq!(
            p("{{ $x := (len .a) | printf \"%d\" }}").unwrap(),
            "{{$x := (len .a) | printf \"%d\"}}"
        );
        assert_eq!(
            p("{{ range $i, $v := .l }}{{ $v }}{{ end }}").unwrap(),
            "{{range $i, $v := .l}}{{$v}}{{end}}"
        );
    }

    #[test]
    fn errors_like_go() {
        assert_eq!(
            p("{{ foo }}").unwrap_err(),
            "template: t:1: function \"foo\" not defined"
        );
        assert_eq!(
            p("a\n{{ $x }}").unwrap_err(),
            "template: t:2: undefined variable \"$x\""
        );
        assert_eq!(
            p("{{ end }}").unwrap_err(),
            "template: t:1: unexpected {{end}}"
        );
        assert_eq!(
            p("{{ if .a }}").unwrap_err(),
            "template: t:1: unexpected EOF"
        );
        assert_eq!(
            p("{{ break }}").unwrap_err(),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            p("{{ .a | 3 }}").unwrap_err(),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            p("{{ \"x\".y }}").unwrap_err(),
            "template: t:1: unexpected . after term \"\\\"x\\\"\""
        );
        assert_eq!(
            p("{{ .a\n\n .b ( }}").unwrap_err(),
            "template: t:3: unclosed left paren in action started at t:1"
        );
    }
}
