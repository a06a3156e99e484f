//! The `gantry-api` binary: bad options exit 64 with one line naming the key.

use std::process::Command;

use anyhow::Result;

const BIN: &str = env!("CARGO_BIN_EXE_gantry-api");

#[test]
fn bad_options_exit_64_with_one_line_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "rbak: {file: rules.yaml}\n")?;
    let typo = typo.to_string_lossy().into_owned();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--config", &typo], vec![], "rbak"),
        (vec!["--listen", "nowhere"], vec![], "--listen"),
        (
            vec!["--oidc-issuer", "https://idp.example.com"],
            vec![],
            "--oidc-audience",
        ),
        (
            vec![],
            vec![("GANTRY_PUBLISH_TIMEOUT", "soon")],
            "GANTRY_PUBLISH_TIMEOUT",
        ),
        (
            vec!["--tokens-file", "/nonexistent/tokens"],
            vec![],
            "tokensFile",
        ),
        (vec!["--no-such-flag"], vec![], "--no-such-flag"),
    ];
    for (args, env, key) in cases {
        let mut c = Command::new(BIN);
        c.args(&args).env_clear();
        for (k, v) in &env {
            c.env(k, v);
        }
        let o = c.output()?;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(64), "{args:?} {env:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.contains(key), "{args:?}: {err:?} does not name {key}");
    }
    Ok(())
}
