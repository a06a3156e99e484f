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
    let crate_dir = from_metadata().unwrap_or_else(|metadata_error| {
        from_registry().unwrap_or_else(|| {
            panic!(
                "k8s-rs-pb's sources were not found: cargo metadata failed ({metadata_error}) \
                 and no k8s-rs-pb of Cargo.lock's version is in the registry; set {PROTOS_ENV}"
            )
        })
    });
    crate_dir.join("src").join(RELEASE)
}

/// The k8s-rs-pb folder as `cargo metadata` names it (this also finds a vendored or patched copy).
fn from_metadata() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
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
        .arg(manifest_dir().join("Cargo.toml"))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let pkg = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "k8s-rs-pb")
        .ok_or("k8s-rs-pb is not among the packages")?;
    let manifest = PathBuf::from(pkg["manifest_path"].as_str().ok_or("no manifest_path")?);
    Ok(manifest
        .parent()
        .ok_or("a manifest has a folder")?
        .to_path_buf())
}

/// The k8s-rs-pb folder in cargo's registry, of the version Cargo.lock pins. `cargo metadata
/// --offline` resolves the whole workspace, so it fails when `cargo test -p gantry-kube-sim` on a
/// fresh clone has downloaded only this package's dependencies; k8s-rs-pb is one of them.
fn from_registry() -> Option<PathBuf> {
    let lock = std::fs::read_to_string(manifest_dir().join("../../Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    lines.find(|l| *l == "name = \"k8s-rs-pb\"")?;
    let version = lines
        .next()?
        .strip_prefix("version = \"")?
        .strip_suffix('"')?
        .to_string();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    std::fs::read_dir(home.join("registry").join("src"))
        .ok()?
        .flatten()
        .map(|index| index.path().join(format!("k8s-rs-pb-{version}")))
        .find(|dir| dir.join("src").join(RELEASE).is_dir())
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"))
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
