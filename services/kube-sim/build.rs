//! Compiles the Kubernetes API's protobuf definitions into a descriptor set, so that the emulator
//! can speak `application/vnd.kubernetes.protobuf` as kubectl's typed clients do. The `.proto`
//! files come from the `k8s-rs-pb` crate (a build dependency built without any of its code), found
//! through `cargo metadata`; `GANTRY_K8S_PROTOS` may point at such a folder instead.

use std::path::PathBuf;
use std::process::Command;

/// Overrides where the `.proto` files are read from (the folder holding `api/` and `apimachinery/`).
const PROTOS_ENV: &str = "GANTRY_K8S_PROTOS";
/// The Kubernetes minor release whose definitions are compiled.
const RELEASE: &str = "v1_35";

/// The groups the emulator serves, plus what they import.
const FILES: &[&str] = &[
    "api/core/v1/generated.proto",
    "api/apps/v1/generated.proto",
    "api/batch/v1/generated.proto",
    "api/networking/v1/generated.proto",
    "api/autoscaling/v1/generated.proto",
    "api/autoscaling/v2/generated.proto",
    "api/policy/v1/generated.proto",
    "api/rbac/v1/generated.proto",
    "api/events/v1/generated.proto",
    "api/authentication/v1/generated.proto",
    "api/authorization/v1/generated.proto",
    "api/certificates/v1/generated.proto",
    "api/storage/v1/generated.proto",
    "api/admissionregistration/v1/generated.proto",
    "api/scheduling/v1/generated.proto",
    "api/coordination/v1/generated.proto",
    "api/node/v1/generated.proto",
    "api/discovery/v1/generated.proto",
    "kube_aggregator/pkg/apis/apiregistration/v1/generated.proto",
    "apiextensions_apiserver/pkg/apis/apiextensions/v1/generated.proto",
    "apimachinery/pkg/apis/meta/v1/generated.proto",
];

fn protos_dir() -> PathBuf {
    println!("cargo:rerun-if-env-changed={PROTOS_ENV}");
    if let Some(dir) = std::env::var_os(PROTOS_ENV) {
        return PathBuf::from(dir);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
            .join("Cargo.toml");
    // Only this platform's packages: others' may not be downloaded, and this must work offline.
    let target = std::env::var("TARGET").expect("TARGET");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(&target)
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("running cargo metadata to find the k8s-rs-pb crate");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata printed JSON");
    let pkg = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "k8s-rs-pb")
        .expect("k8s-rs-pb is a build dependency of gantry-kube-sim");
    let manifest = PathBuf::from(pkg["manifest_path"].as_str().expect("manifest_path"));
    manifest
        .parent()
        .expect("a manifest has a folder")
        .join("src")
        .join(RELEASE)
}

fn main() {
    let dir = protos_dir();
    let mut compiler = protox::Compiler::new([&dir]).expect("the proto folder is readable");
    // The doc comments are kept: they are the field descriptions of the served OpenAPI.
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(FILES)
        .unwrap_or_else(|e| panic!("compiling the Kubernetes protos in {}: {e}", dir.display()));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("k8s.pb");
    std::fs::write(&out, compiler.encode_file_descriptor_set())
        .expect("writing the descriptor set");
    println!("cargo:rerun-if-changed=build.rs");
}
