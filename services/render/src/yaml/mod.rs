//! YAML in and out, the way kustomize does it: input decoded with yaml.v3's rules for plain
//! scalars, output encoded like sigs.k8s.io/yaml (JSON round trip, then goyaml.v2's emitter).

mod analysis;
mod emit;
mod gofmt;
mod parse;
mod style;

pub use emit::{to_yaml_document, to_yaml_stream};
pub use gofmt::number_text;
pub use parse::{
    ParseError, ParsedDoc, parse_documents, parse_documents_last_key_wins, parse_documents_yaml11,
    parse_kustomization, resolve_plain, resolve_plain_v2,
};
