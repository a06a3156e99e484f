//! `values.schema.json`, enforced as Helm does for the chart and each subchart with values.
//! Gantry never fetches a remote schema reference: such a schema is refused.

use gantry_gotmpl::{Map, Value};

use crate::HelmError;
use crate::chart::Chart;

fn validate_one(values: &Map, schema: &[u8]) -> Result<(), String> {
    let schema: serde_json::Value =
        serde_json::from_slice(schema).map_err(|e| format!("invalid values.schema.json: {e}\n"))?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| {
        format!(
            "unable to compile values.schema.json (Gantry resolves no remote references): {e}\n"
        )
    })?;
    let instance =
        crate::json::to_serde(&Value::Map(values.clone())).map_err(|e| format!("{e}\n"))?;
    let mut out = String::new();
    for err in validator.iter_errors(&instance) {
        out.push_str(&format!("- at '{}': {}\n", err.instance_path(), err));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn validate(c: &Chart, values: &Map, out: &mut String) {
    if let Some(schema) = &c.schema
        && let Err(e) = validate_one(values, schema)
    {
        out.push_str(&format!("{}:\n{e}", c.metadata.name));
    }
    for sub in &c.dependencies {
        match values.get(&sub.metadata.name) {
            None | Some(Value::Nil) => {}
            Some(Value::Map(m)) => validate(sub, &m, out),
            Some(other) => out.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.metadata.name,
                other.type_name()
            )),
        }
    }
}

/// `ValidateAgainstSchema`.
pub fn check(c: &Chart, values: &Map) -> Result<(), HelmError> {
    let mut out = String::new();
    validate(c, values, &mut out);
    if out.is_empty() {
        Ok(())
    } else {
        Err(HelmError::Schema(out))
    }
}
