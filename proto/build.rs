//! Compiles `gantry/v1/*.proto` with protox (pure Rust), so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let files = ["gantry/v1/event.proto", "gantry/v1/audit.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
    let descriptors = protox::compile(files, [&dir])?;
    // The descriptor set is embedded too, so tools can print any stored message as proto3 JSON.
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("gantry_descriptor_set.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::prost_types")
        .compile_fds(descriptors)?;
    Ok(())
}
