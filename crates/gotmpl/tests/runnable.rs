//! What a runnable template keeps of its parse tree: its string constants stay in the tree,
//! where code that reads a template's tree after it joined a set finds them (Helm's
//! `include` memo asks whether a helper can see `.Template`, following the names it includes).

use std::rc::Rc;

use gantry_gotmpl::parse::{Arg, Node};
use gantry_gotmpl::{Funcs, MissingKey, Templates};

#[test]
fn a_runnable_template_keeps_its_trees_string_constants() {
    let set = Templates::new(
        "t",
        Rc::new(Funcs::with_builtins(Default::default())),
        MissingKey::Zero,
    );
    let text = r#"{{ define "outer" }}{{ template "inner" . }}{{ printf "%s-%s" "a" "b" }}{{ end }}{{ printf "%q" "top" }}"#;
    let templates = set.parse_runnable("t", text).expect("parses");
    let strings = |name: &str| -> Vec<String> {
        let (_, t) = templates
            .iter()
            .find(|(n, _)| n == name)
            .expect("the template");
        // Every string argument of the template's actions names a constant the tree holds.
        for node in &t.tree.root.nodes {
            if let Node::Action { pipe, .. } = node {
                for cmd in &pipe.cmds {
                    for arg in &cmd.args {
                        if let Arg::String { quoted, index, .. } = arg {
                            assert_eq!(
                                t.tree
                                    .strings
                                    .get(*index as usize)
                                    .map(|s| format!("{s:?}")),
                                Some(quoted.to_string()),
                                "{name}"
                            );
                        }
                    }
                }
            }
        }
        t.tree.strings.iter().map(|s| s.to_string()).collect()
    };
    assert_eq!(strings("outer"), ["%s-%s", "a", "b"]);
    assert_eq!(strings("t"), ["%q", "top"]);
}
