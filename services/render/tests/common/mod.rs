//! The live kustomize the render tests compare against: pykustomize (kustomize v5.8's Go API)
//! through `tests/oracle.py`. A missing oracle fails the test that needs it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Python that `scripts/tools.sh` installs pykustomize into.
pub fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `. scripts/tools.sh`, which installs pykustomize, the oracle",
        p.display()
    );
    p
}

/// Writes `files` (path, contents) below `root`.
pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let full = root.join(p);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
        std::fs::write(full, c).expect("write");
    }
}

/// `kustomize build DIR` as the CLI runs it (legacy order unless `sortOptions`, kustomize's
/// default load restrictor): the output, or kustomize's error.
pub fn kustomize_build(dir: &Path) -> Result<String, String> {
    let out = tempfile::tempdir().expect("tempdir");
    let prefix = out.path().join("result");
    let mut child = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oracle starts");
    writeln!(
        child.stdin.take().expect("stdin"),
        "{}\t{}\tunspecified\tRootOnly",
        dir.display(),
        prefix.display()
    )
    .expect("write the job");
    let done = child.wait_with_output().expect("the oracle runs");
    assert!(
        done.status.success(),
        "the kustomize oracle failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    match std::fs::read_to_string(prefix.with_extension("yaml")) {
        Ok(y) => Ok(y),
        Err(_) => Err(std::fs::read_to_string(prefix.with_extension("err"))
            .expect("the oracle wrote a result")),
    }
}
