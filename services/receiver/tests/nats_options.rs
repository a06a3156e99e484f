//! `--nats-url` and `--nats-replicas` on the `gantry-receiver` binary: a bad value exits 64
//! with one line naming the key.

use anyhow::Result;

const BIN: &str = env!("CARGO_BIN_EXE_gantry-receiver");

#[test]
fn bad_nats_options_exit_64_with_one_line_naming_the_key() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("r.yaml");
    std::fs::write(&file, "webhookSecrets: [s]\nnats: {replicas: 6}\n")?;
    let file = file.to_string_lossy().into_owned();
    gantry_tests::assert_usage_errors(
        BIN,
        &[
            (
                vec!["--webhook-secret", "s", "--nats-replicas", "0"],
                vec![],
                "--nats-replicas",
            ),
            (
                vec!["--webhook-secret", "s"],
                vec![("GANTRY_NATS_REPLICAS", "seven")],
                "GANTRY_NATS_REPLICAS",
            ),
            (
                vec!["--webhook-secret", "s"],
                vec![("GANTRY_NATS_URL", "nats://a:4222,,nats://b:4222")],
                "GANTRY_NATS_URL",
            ),
            (
                vec!["--webhook-secret", "s", "--nats-url", "http://a:4222"],
                vec![],
                "--nats-url",
            ),
            (vec!["--config", &file], vec![], "nats.replicas"),
        ],
    )
}
