//! Values that fail `values.schema.json` are reported in the words, order and nesting of Helm's
//! validator (santhosh-tekuri/jsonschema), and `pattern` is Go's regular expression: each case
//! is checked against Helm v4's own library.

mod common;

use common::{files, helm_oracle, request, write_chart};

/// (schema, values): each fails in one place, or in places whose order Helm fixes (Go's map
/// order would make several failing properties come out in any order).
const CASES: &[(&str, &str)] = &[
    // Before 2019-09 a `$ref`'s siblings are not read: only `/a` fails.
    (
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"a":{"type":"integer"},"imp":{"type":"integer","$ref":"#/definitions/e"}},"definitions":{"e":{"type":"object"}}}"##,
        r##"{"a":{},"imp":{}}"##,
    ),
    (
        r##"{"properties":{"l":{"items":{"pattern":"(?i)^x"}}}}"##,
        r##"{"l":["y"]}"##,
    ),
    (r##"{"required":["a","b"]}"##, "{}"),
    (r##"{"required":["a"]}"##, "{}"),
    (r##"{"required":["it's","x\"y"]}"##, "{}"),
    (
        r##"{"properties":{"a":{"type":"integer"}}}"##,
        r##"{"a":"x"}"##,
    ),
    (
        r##"{"properties":{"a":{"type":["integer","boolean"]}}}"##,
        r##"{"a":"x"}"##,
    ),
    (
        r##"{"properties":{"a":{"type":"integer"}}}"##,
        r##"{"a":1.5}"##,
    ),
    (r##"{"properties":{"a":{"type":"null"}}}"##, r##"{"a":{}}"##),
    (
        r##"{"properties":{"a":{"type":"string","minLength":5}}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"properties":{"a":{"enum":["x","y",1,null]}}}"##,
        r##"{"a":"z"}"##,
    ),
    (r##"{"properties":{"a":{"enum":["x"]}}}"##, r##"{"a":"z"}"##),
    (
        r##"{"properties":{"a":{"enum":["x\ny","it's"]}}}"##,
        r##"{"a":"z"}"##,
    ),
    (
        r##"{"properties":{"a":{"enum":[1.5,true,[1]]}}}"##,
        r##"{"a":2}"##,
    ),
    (
        r##"{"properties":{"a":{"const":{"k":1}}}}"##,
        r##"{"a":"z"}"##,
    ),
    (
        r##"{"properties":{"a":{"const":12345}}}"##,
        r##"{"a":"z"}"##,
    ),
    (r##"{"properties":{"a":{"minimum":3}}}"##, r##"{"a":1}"##),
    (
        r##"{"properties":{"a":{"minimum":1000000}}}"##,
        r##"{"a":1500}"##,
    ),
    (
        r##"{"properties":{"a":{"maximum":0.001}}}"##,
        r##"{"a":123456789.25}"##,
    ),
    (
        r##"{"properties":{"a":{"maximum":100}}}"##,
        r##"{"a":100000.5}"##,
    ),
    (r##"{"properties":{"a":{"minimum":1e-7}}}"##, r##"{"a":0}"##),
    (
        r##"{"properties":{"a":{"maximum":3.5,"exclusiveMinimum":0}}}"##,
        r##"{"a":0}"##,
    ),
    (
        r##"{"properties":{"a":{"multipleOf":0.01}}}"##,
        r##"{"a":0.005}"##,
    ),
    (
        r##"{"properties":{"a":{"minLength":3,"maxLength":1}}}"##,
        r##"{"a":"ab"}"##,
    ),
    (
        r##"{"properties":{"a":{"minLength":1000}}}"##,
        r##"{"a":"x"}"##,
    ),
    (
        r##"{"properties":{"a":{"minItems":3,"uniqueItems":true}}}"##,
        r##"{"a":[1,1]}"##,
    ),
    (
        r##"{"additionalProperties":false,"properties":{"a":{}}}"##,
        r##"{"b":1}"##,
    ),
    (
        r##"{"properties":{"a":{"anyOf":[{"type":"string"},{"type":"integer"}]}}}"##,
        r##"{"a":true}"##,
    ),
    (
        r##"{"properties":{"a":{"anyOf":[{"type":"string","minLength":5,"pattern":"^x"},{"type":"integer"}]}}}"##,
        r##"{"a":"ab"}"##,
    ),
    (
        r##"{"properties":{"a":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}"##,
        r##"{"a":true}"##,
    ),
    (
        r##"{"properties":{"a":{"oneOf":[{"type":"integer"},{"type":"number"}]}}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"properties":{"a":{"allOf":[{"type":"string"},{"minimum":2}]}}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"properties":{"a":{"not":{"type":"string"}}}}"##,
        r##"{"a":"s"}"##,
    ),
    (
        r##"{"properties":{"a":{"$ref":"#/$defs/t"}},"$defs":{"t":{"type":"string"}}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"properties":{"a":{"$ref":"#/$defs/t"}},"$defs":{"t":{"minLength":3,"maxLength":1}}}"##,
        r##"{"a":"ab"}"##,
    ),
    (
        r##"{"properties":{"a":{"properties":{"b":{"type":"string"}},"required":["c"]}}}"##,
        r##"{"a":{"b":1}}"##,
    ),
    (
        r##"{"properties":{"a":{"type":"array","items":{"type":"string"}}}}"##,
        r##"{"a":["x",1,2]}"##,
    ),
    (
        r##"{"if":{"properties":{"a":{"const":1}}},"then":{"required":["b"]}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"properties":{"a":{"if":{"type":"string"},"else":{"minimum":5}}}}"##,
        r##"{"a":1}"##,
    ),
    (r##"{"properties":{"a":false}}"##, r##"{"a":1}"##),
    (
        r##"{"patternProperties":{"^x":{"type":"string"}}}"##,
        r##"{"xa":1}"##,
    ),
    (r##"{"propertyNames":{"maxLength":2}}"##, r##"{"abc":1}"##),
    (r##"{"dependentRequired":{"a":["b","c"]}}"##, r##"{"a":1}"##),
    (
        r##"{"properties":{"a":{"dependentSchemas":{"x":{"required":["y"]}}}}}"##,
        r##"{"a":{"x":1}}"##,
    ),
    (
        r##"{"properties":{"a":{"contains":{"type":"string"}}}}"##,
        r##"{"a":[1]}"##,
    ),
    (
        r##"{"properties":{"a":{"minContains":2,"contains":{"type":"string"}}}}"##,
        r##"{"a":["x",1]}"##,
    ),
    (
        r##"{"properties":{"a":{"maxContains":1,"contains":{"type":"string"}}}}"##,
        r##"{"a":["x","y",1]}"##,
    ),
    (
        r##"{"properties":{"a":{"prefixItems":[{"type":"string"}],"items":false}}}"##,
        r##"{"a":[1,2]}"##,
    ),
    (
        r##"{"properties":{"a/b":{"type":"string"}}}"##,
        r##"{"a/b":1}"##,
    ),
    (
        r##"{"properties":{"a":{"type":"object","maxProperties":1}}}"##,
        r##"{"a":{"x":1,"y":2}}"##,
    ),
    (
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"a":{"$ref":"#/definitions/t","type":"integer"}},"definitions":{"t":{"type":"string"}}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"a":{"type":"array","items":[{"type":"string"}],"additionalItems":false}}}"##,
        r##"{"a":[1,2]}"##,
    ),
    (
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","dependencies":{"a":["b"]}}"##,
        r##"{"a":1}"##,
    ),
    // The header naming the schema is left out whatever its `$id`; a reference may name it.
    (
        r##"{"$id":"https://example.com/v.json","properties":{"a":{"$ref":"https://example.com/v.json#/$defs/t"}},"$defs":{"t":{"type":"string"}}}"##,
        r##"{"a":1}"##,
    ),
    (
        r##"{"properties":{"a":{"$ref":"#t"}},"$defs":{"t":{"$anchor":"t","type":"string"}}}"##,
        r##"{"a":1}"##,
    ),
    // A reference holding characters RFC 3986 does not allow, as cert-manager's generated
    // schemas have (the jsonschema crate refused to compile them).
    (
        r##"{"properties":{"revisions":{"type":"array","prefixItems":[{"$ref":"#/$defs/helm-values.revisions[0]"}]}},"$defs":{"helm-values.revisions[0]":{"type":"string"}}}"##,
        r##"{"revisions":[1]}"##,
    ),
    // Go's RE2: POSIX classes, and ASCII `\d`, `\w` and `\s`.
    (
        r##"{"properties":{"a":{"pattern":"^[[:alpha:]]+$"}}}"##,
        r##"{"a":"abc1"}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"^\\d+$"}}}"##,
        r##"{"a":"١٢"}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"^\\w+$"}}}"##,
        r##"{"a":"é"}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"^\\s$"}}}"##,
        "{\"a\":\"\u{a0}\"}",
    ),
];

/// Schemas whose values pass in Helm, where the jsonschema crate's own reading of `pattern`
/// or of a `$ref` refused them or would.
const PASSING: &[(&str, &str)] = &[
    // Go patterns the meta-schema's ECMA check refused (`(?i)`), in any place a schema is, and
    // a property named `pattern`.
    (
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"x":{"pattern":"(?i)^x"}}}"##,
        r##"{"x":"X"}"##,
    ),
    (
        r##"{"properties":{"l":{"items":{"pattern":"(?i)^x"}},"pattern":{"type":"string","pattern":"^a"}}}"##,
        r##"{"l":["X","x"],"pattern":"a"}"##,
    ),
    (
        r##"{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"r":{"type":"array","items":{"$ref":"#/$defs/rev[0] {x}|^"}}},"$defs":{"rev[0] {x}|^":{"type":"string"}}}"##,
        r##"{"r":["a"]}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"^[[:alpha:]]+$"}}}"##,
        r##"{"a":"abc"}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"^\\p{L}+$"}}}"##,
        r##"{"a":"é"}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"\\Qa.b\\E"}}}"##,
        r##"{"a":"a.b"}"##,
    ),
    (
        r##"{"properties":{"a":{"pattern":"^[a-z]+$"}}}"##,
        r##"{"a":5}"##,
    ),
    (
        r##"{"properties":{"a":{"type":"integer"}}}"##,
        r##"{"a":1e20}"##,
    ),
    (
        r##"{"properties":{"a":{"multipleOf":0.1}}}"##,
        r##"{"a":0.3}"##,
    ),
];

fn chart(schema: &str, values: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    files(&[
        ("Chart.yaml", "apiVersion: v2\nname: p\nversion: 1.0.0\n"),
        ("values.yaml", values),
        ("values.schema.json", schema),
        ("templates/cm.yaml", "x: 1\n"),
    ])
}

/// Helm's answer for each case: its error, or `None` where it renders.
fn helm(cases: &[(&str, &str)]) -> Vec<Option<String>> {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let jobs: Vec<serde_json::Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (schema, values))| {
            let dir = tmp.path().join(i.to_string());
            write_chart(&dir, &chart(schema, values));
            serde_json::json!({"chart": dir, "values": null})
        })
        .collect();
    helm_oracle(&jobs)
        .into_iter()
        .map(|r| r["error"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn failures_are_told_as_helm_tells_them() {
    let want = helm(CASES);
    let mut wrong = Vec::new();
    for ((schema, values), want) in CASES.iter().zip(want) {
        let want = want.unwrap_or_else(|| panic!("Helm renders {schema} with {values}"));
        let got = gantry_helm::render(request(chart(schema, values)))
            .expect_err("Gantry fails")
            .to_string();
        if got.trim_end() != want.trim_end() {
            wrong.push(format!(
                "{schema} {values}\n  helm:   {want:?}\n  gantry: {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn go_patterns_pass_where_helm_passes() {
    for ((schema, values), want) in PASSING.iter().zip(helm(PASSING)) {
        assert_eq!(want, None, "Helm refuses {schema} with {values}");
        let got = gantry_helm::render(request(chart(schema, values)));
        assert!(got.is_ok(), "{schema} {values}: {:?}", got.err());
    }
}

/// A `values.schema.json` that is not JSON fails in the words of Helm's validator (Go's
/// decoder, then its own check for anything after the value).
#[test]
fn a_schema_that_is_not_json_fails_in_helms_words() {
    for schema in [
        "",
        "  \n",
        "{",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"type\":\"object\"} x",
        "{\"type\":\"object\"}{}",
    ] {
        let (want, got) = common::both_fail(chart(schema, "a: 1\n"));
        assert_eq!(got, want, "{schema:?}");
    }
}
