//! Whether a template given a chart's top-level object as `.` can see `.Template`, the one
//! entry Helm changes between one template file and the next: what `include` gives for a
//! template blind to it holds for the chart's next file too.
//!
//! The answer is read off the parse tree and errs towards "can see": `.` is followed through
//! `with` and `range`, the top-level object may only be used through field chains that name
//! neither `Template` nor `Subcharts` (whose charts have a `.Template` of their own), or as the
//! `.` of an `include` or `template` of a named template that is itself blind. Any other use
//! (printed, given to a function, stored in a variable, ranged over) can see everything.

use std::rc::Rc;

use gantry_gotmpl::parse::{Arg, BranchKind, ListNode, Node, PipeNode, Span};
use gantry_gotmpl::{Runtime, Template};

/// Whether `tpl`, run with the top-level object as `.`, cannot see `.Template`.
pub(crate) fn blind(rt: &Runtime<'_>, tpl: &Rc<Template>) -> bool {
    let mut walk = Walk {
        rt,
        seen: Vec::new(),
    };
    !walk.list(&tpl.tree.root, &tpl.tree.strings, true)
}

struct Walk<'r, 'a> {
    rt: &'r Runtime<'a>,
    /// The named templates already looked at: a recursive one ends the walk.
    seen: Vec<String>,
}

impl Walk<'_, '_> {
    /// Whether the nodes can see `.Template`, `.` being the top-level object when `root`.
    fn list(&mut self, l: &ListNode, s: &[Box<str>], root: bool) -> bool {
        l.nodes.iter().any(|n| self.node(n, s, root))
    }

    fn node(&mut self, n: &Node, s: &[Box<str>], root: bool) -> bool {
        match n {
            Node::Text { .. }
            | Node::Break { .. }
            | Node::Continue { .. }
            | Node::Comment { .. } => false,
            Node::Action { pipe, .. } => self.pipe(pipe, s, root),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                // `with .` and `with $` keep the top-level object as `.`; ranging over it
                // gives its entries, `.Template` among them.
                let inner = b.kind == BranchKind::With && is_root(&b.pipe, root);
                let body_root = match b.kind {
                    BranchKind::If => root,
                    BranchKind::With => inner,
                    BranchKind::Range => false,
                };
                (!inner && self.pipe(&b.pipe, s, root))
                    || self.list(&b.list, s, body_root)
                    || b.else_list.as_ref().is_some_and(|e| self.list(e, s, root))
            }
            Node::Template(t) => match &t.pipe {
                None => false,
                Some(p) if is_root(p, root) => self.named(&t.name),
                Some(p) => self.pipe(p, s, root),
            },
        }
    }

    fn pipe(&mut self, p: &PipeNode, s: &[Box<str>], root: bool) -> bool {
        p.cmds.iter().any(|c| {
            // `include "name" .`: as blind as the named template.
            if let [
                Arg::Identifier { name, .. },
                Arg::String { index, .. },
                data,
            ] = &c.args[..]
                && &**name == "include"
                && arg_is_root(data, root)
            {
                return match s.get(*index as usize) {
                    Some(n) => self.named(n),
                    None => true,
                };
            }
            c.args.iter().any(|a| self.arg(a, s, root))
        })
    }

    fn arg(&mut self, a: &Arg, s: &[Box<str>], root: bool) -> bool {
        match a {
            Arg::Dot { .. } => root,
            Arg::Variable(v) => match &v.ident[..] {
                [d] if d == "$" => true,
                [d, fields @ ..] if d == "$" => sees(fields),
                _ => false,
            },
            Arg::Field { ident, .. } => root && sees(ident),
            Arg::Chain { node, .. } => self.arg(node, s, root),
            Arg::Pipe(p) => self.pipe(p, s, root),
            Arg::Identifier { .. }
            | Arg::Nil { .. }
            | Arg::Bool { .. }
            | Arg::Number(_)
            | Arg::String { .. } => false,
        }
    }

    /// The named template run with the top-level object as `.`.
    fn named(&mut self, name: &str) -> bool {
        if self.seen.iter().any(|s| s == name) {
            // Its nodes are already being looked at.
            return false;
        }
        let Some(t) = self.rt.lookup(name) else {
            return true;
        };
        self.seen.push(name.to_owned());
        self.list(&t.tree.root, &t.tree.strings, true)
    }
}

/// A field chain from the top-level object that can reach a `.Template`.
fn sees(fields: &[Span]) -> bool {
    fields
        .first()
        .is_some_and(|f| f == "Template" || f == "Subcharts")
}

fn arg_is_root(a: &Arg, root: bool) -> bool {
    match a {
        Arg::Dot { .. } => root,
        Arg::Variable(v) => v.ident.len() == 1 && v.ident[0] == "$",
        _ => false,
    }
}

/// A pipeline that is the top-level object itself.
fn is_root(p: &PipeNode, root: bool) -> bool {
    p.decl.is_empty()
        && matches!(&p.cmds[..], [c] if matches!(&c.args[..], [a] if arg_is_root(a, root)))
}
