//! Go's text/template semantics, case by case: each template was rendered by Helm v4 (Go's own
//! text/template, with only the builtins used) and its output or error recorded in
//! `data/go_semantics.json`. The engine must print the same bytes, or fail with the same
//! innermost message at the same location.

use std::rc::Rc;

use gantry_gotmpl::{Budget, Funcs, List, Map, MissingKey, Templates, Value};

fn to_value(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().expect("a JSON number")),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::List(List::new(a.iter().map(to_value).collect())),
        serde_json::Value::Object(o) => Value::Map(Map::from_map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<gantry_gotmpl::Entries>(),
        )),
    }
}

/// What Helm shows as the innermost message of an error.
fn innermost(helm_error: &str) -> String {
    if let Some(rest) = helm_error.strip_prefix("parse error at (") {
        let msg = rest.split_once("): ").map(|x| x.1).unwrap_or(rest);
        return msg.to_owned();
    }
    let last = helm_error.lines().last().unwrap_or("").trim();
    match last.rsplit_once(": ") {
        Some((_, m)) if helm_error.starts_with("template: ") => m.to_owned(),
        _ => last.to_owned(),
    }
}

#[test]
fn go_semantics_match_go() {
    let data: serde_json::Value =
        serde_json::from_str(include_str!("data/go_semantics.json")).expect("fixture data");
    let values = to_value(&data["values"]);
    let mut failures = Vec::new();
    let mut n = 0;
    for case in data["cases"].as_array().expect("fixture data") {
        let name = case["name"].as_str().expect("fixture data");
        // sprig's `slice` replaces Go's builtin in Helm; it is tested with the Helm functions.
        if name == "slice_builtin_str" {
            continue;
        }
        n += 1;
        let tmpl = case["template"].as_str().expect("fixture data");
        let set = Templates::new(
            "gotpl",
            Rc::new(Funcs::with_builtins(Default::default())),
            MissingKey::Zero,
        );
        let top = Map::new();
        top.insert("Values", values.clone());
        let got = set
            .parse("c/templates/t.yaml", tmpl)
            .map(|_| ())
            .map_err(|e| e.msg)
            .and_then(|()| {
                let mut host = ();
                set.execute(
                    "c/templates/t.yaml",
                    Value::Map(top),
                    &mut host,
                    &mut Budget::default(),
                )
                .map(|s| String::from_utf8_lossy(&s).replace("<no value>", ""))
                .map_err(|e| e.msg)
            });
        match (case.get("output"), got) {
            (Some(want), Ok(out)) if want.as_str().expect("fixture data") == out => {}
            (Some(want), other) => failures.push(format!("{name}: want {want:?}, got {other:?}")),
            (None, Ok(out)) => failures.push(format!("{name}: want an error, got {out:?}")),
            (None, Err(e)) => {
                let want = innermost(case["error"].as_str().expect("fixture data"));
                let ok = if case["error"]
                    .as_str()
                    .expect("fixture data")
                    .starts_with("parse error")
                {
                    e.ends_with(&want) || e.ends_with(&format!(": {want}"))
                } else {
                    e.ends_with(&want)
                };
                // Exec errors must also point at the same place.
                let helm = case["error"].as_str().expect("fixture data");
                let loc_ok = if let Some(loc) = helm.strip_prefix("template: ") {
                    let loc = loc.split(": ").next().expect("fixture data");
                    e.contains(loc)
                } else if !helm.starts_with("parse error") {
                    let loc = helm.lines().next().expect("fixture data");
                    e.contains(&format!("template: {loc}: "))
                } else {
                    let line = helm
                        .split_once("): ")
                        .expect("fixture data")
                        .0
                        .trim_start_matches("parse error at (");
                    e.contains(&format!("template: {line}: "))
                };
                if !ok || !loc_ok {
                    failures.push(format!("{name}: want error {helm:?}, got {e:?}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
