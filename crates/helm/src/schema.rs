//! `values.schema.json`, enforced as Helm does for the chart and each subchart with values.
//! Gantry never fetches a remote schema reference: such a schema is refused.

use gantry_gotmpl::{Map, Value};

use crate::HelmError;
use crate::chart::Chart;

/// A schema's validator, or the message its compilation failed with.
type Compiled = Result<jsonschema::Validator, String>;
/// Each distinct schema text and what it compiled to.
type CompiledAll = Vec<(Vec<u8>, Compiled)>;

/// The chart's and its subcharts' schemas, compiled on a thread of their own while the render
/// thread coalesces values: compiling a schema (and, once per process, the meta-schema it is
/// checked against) was a tenth of a whole render of a chart that has one.
#[derive(Debug)]
pub struct Schemas {
    compiling: Option<std::thread::JoinHandle<CompiledAll>>,
}

impl Schemas {
    /// Starts compiling every schema of `c` and its subcharts, enabled or not (which are
    /// enabled is known only after values are coalesced).
    pub fn compile(c: &Chart) -> Schemas {
        let mut texts = Vec::new();
        collect(c, &mut texts);
        if texts.is_empty() {
            return Schemas { compiling: None };
        }
        // A large stack, as the render thread's: compiling recurses as deep as the schema.
        let compiling = std::thread::Builder::new()
            .name("helm-schema".into())
            .stack_size(64 << 20)
            .spawn(move || {
                texts
                    .into_iter()
                    .map(|t| {
                        let v = compile_one(&t);
                        (t, v)
                    })
                    .collect()
            })
            .ok();
        Schemas { compiling }
    }

    fn finish(self) -> CompiledAll {
        self.compiling
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

fn collect(c: &Chart, out: &mut Vec<Vec<u8>>) {
    if let Some(s) = &c.schema
        && !out.contains(s)
    {
        out.push(s.clone());
    }
    for sub in &c.dependencies {
        collect(sub, out);
    }
}

fn compile_one(schema: &[u8]) -> Compiled {
    let schema: serde_json::Value =
        serde_json::from_slice(schema).map_err(|e| format!("invalid values.schema.json: {e}\n"))?;
    jsonschema::validator_for(&schema).map_err(|e| {
        format!(
            "unable to compile values.schema.json (Gantry resolves no remote references): {e}\n"
        )
    })
}

fn validate_one(
    values: &Map,
    schema: &[u8],
    compiled: &[(Vec<u8>, Compiled)],
) -> Result<(), String> {
    // Compiled here when the other thread could not be started (or a subchart's schema
    // appeared after it was): the answer is the same, only later.
    let own;
    let validator = match compiled.iter().find(|(t, _)| t == schema) {
        Some((_, c)) => c,
        None => {
            own = compile_one(schema);
            &own
        }
    };
    let validator = validator.as_ref().map_err(Clone::clone)?;
    let instance =
        crate::json::to_serde(&Value::Map(values.clone())).map_err(|e| format!("{e}\n"))?;
    let mut out = String::new();
    for err in validator.iter_errors(&instance) {
        out.push_str(&format!("- at '{}': {}\n", err.instance_path(), err));
    }
    if out.is_empty() { Ok(()) } else { Err(out) }
}

fn validate(c: &Chart, values: &Map, compiled: &[(Vec<u8>, Compiled)], out: &mut String) {
    if let Some(schema) = &c.schema
        && let Err(e) = validate_one(values, schema, compiled)
    {
        out.push_str(&format!("{}:\n{e}", c.metadata.name));
    }
    for sub in &c.dependencies {
        match values.get(&sub.metadata.name) {
            None | Some(Value::Nil) => {}
            Some(Value::Map(m)) => validate(sub, &m, compiled, out),
            Some(other) => out.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.metadata.name,
                other.type_name()
            )),
        }
    }
}

/// `ValidateAgainstSchema`, with the schemas [`Schemas::compile`] started on.
pub fn check(c: &Chart, values: &Map, schemas: Schemas) -> Result<(), HelmError> {
    let compiled = schemas.finish();
    let mut out = String::new();
    validate(c, values, &compiled, &mut out);
    if out.is_empty() {
        Ok(())
    } else {
        Err(HelmError::Schema(out))
    }
}
