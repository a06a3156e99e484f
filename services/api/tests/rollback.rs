//! Rollback through the Git host's REST API on the emulator: by commit (GitHub's Git Data API,
//! then Gitea's file-change API) and by pull request; the new commit's files under the
//! environment's inputs equal the old revision's, nothing else moves, the host announces the push
//! (which is what makes the pipeline deploy it), and revisions that are not ancestors get 409.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use async_nats::jetstream::{self, consumer};
use common::*;
use futures::StreamExt;
use gantry_proto::v1;
use prost::Message;

const WEB_DEV: &str = "/api/v1/apps/web/environments/dev";
const WEB_PROD: &str = "/api/v1/apps/web/environments/prod";

/// Waits until the receiver stored a push of `sha` (the Git host announced the new commit).
async fn wait_push(nats_url: &str, sha: &str) -> Result<()> {
    let js = jetstream::new(async_nats::connect(nats_url).await?);
    let s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let c = s
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: "gantry.events.github.>".to_owned(),
            ..Default::default()
        })
        .await?;
    let mut msgs = c.messages().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let m = match tokio::time::timeout_at(deadline, msgs.next()).await {
            Ok(Some(m)) => m.map_err(|e| anyhow::anyhow!("{e}"))?,
            _ => bail!("no push of {sha} reached GANTRY_EVENTS"),
        };
        let e = v1::Event::decode(m.payload.clone())?;
        if e.kind == v1::EventKind::Push as i32 && e.after == sha {
            return Ok(());
        }
    }
}

fn tree(dir: &std::path::Path, rev: &str, paths: &[&str]) -> Result<String> {
    let mut args = vec!["ls-tree", "-r", rev, "--"];
    args.extend_from_slice(paths);
    git(dir, &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_by_commit_and_by_pull_request() -> Result<()> {
    let mut setup = Setup::default();
    setup.repos[0]
        .1
        .push(("apps/base/cm.yaml", "b: 1\n".to_owned()));
    let mut h = Harness::start(setup).await?;
    let work = h.work("acme/platform");
    let rev1 = git(&work, &["rev-parse", "HEAD"])?;

    // The reconciler recorded that web/dev's render also read apps/base/cm.yaml.
    let js = jetstream::new(async_nats::connect(h.nats.url()).await?);
    let store =
        gantry_reconciler::state::StateStore::open(&js, "w1", Duration::from_secs(30)).await?;
    store
        .put(
            &gantry_reconciler::state::EnvKey::new("acme/platform", "web", "dev"),
            &gantry_reconciler::state::EnvState {
                revision: rev1.clone(),
                inputs: vec![
                    "apps/web/dev/cm.yaml".to_owned(),
                    "apps/base/cm.yaml".to_owned(),
                ],
                ..Default::default()
            },
        )
        .await?;

    let head2 = h
        .push(
            "acme/platform",
            &[
                ("apps/web/dev/cm.yaml", "a: 2\n"),
                ("apps/web/dev/extra.yaml", "x: 1\n"),
                ("apps/web/prod/cm.yaml", "a: 2\n"),
                ("apps/base/cm.yaml", "b: 2\n"),
                ("README.md", "unrelated\n"),
            ],
            "second",
        )
        .await?;

    // A developer may not roll back; the platform may, naming the revision as `git log
    // --oneline` and `gantry status` print it.
    let body = format!(r#"{{"revision": "{}"}}"#, &rev1[..7]);
    let (code, _) = h
        .post(&format!("{WEB_DEV}/rollback"), Some(DEV_TOKEN), &body)
        .await?;
    assert_eq!(code, 403);
    let (code, v) = h
        .post(&format!("{WEB_DEV}/rollback"), Some(IDP_TOKEN), &body)
        .await?;
    assert_eq!(code, 202, "{v}");
    let commit = v["commit"].as_str().unwrap_or_default().to_owned();
    assert_eq!(v["branch"], "main");
    wait_push(&h.nats.url(), &commit).await?;

    git(&work, &["fetch", "-q", "origin"])?;
    let inputs = ["apps/web/dev", "apps/base"];
    assert_eq!(tree(&work, &commit, &inputs)?, tree(&work, &rev1, &inputs)?);
    assert_eq!(
        tree(
            &work,
            &commit,
            &["apps/web/prod", "README.md", ".gantry.yaml"]
        )?,
        tree(
            &work,
            &head2,
            &["apps/web/prod", "README.md", ".gantry.yaml"]
        )?,
        "only the environment's inputs move"
    );
    assert_eq!(git(&work, &["rev-parse", &format!("{commit}^")])?, head2);
    assert_eq!(
        git(&work, &["log", "-1", "--format=%an|%ae|%cn|%ce", &commit])?,
        "token:idp|idp@tokens.gantry.invalid|Gantry|gantry@gantry.invalid"
    );
    assert_eq!(git(&work, &["rev-parse", "origin/main"])?, commit);

    // The same again changes nothing.
    let (code, v) = h
        .post(&format!("{WEB_DEV}/rollback"), Some(IDP_TOKEN), &body)
        .await?;
    assert_eq!((code, v["unchanged"].as_bool()), (200, Some(true)), "{v}");

    // Not an ancestor of the branch head: a commit on another branch, an unknown commit.
    git(&work, &["checkout", "-qb", "side", &rev1])?;
    std::fs::write(work.join("apps/web/dev/cm.yaml"), "a: side\n")?;
    git(&work, &["commit", "-qam", "side"])?;
    git(&work, &["push", "-q", "origin", "side"])?;
    let side = git(&work, &["rev-parse", "HEAD"])?;
    git(&work, &["checkout", "-q", "main"])?;
    // ... and an abbreviation no commit starts with.
    let unknown = if rev1.starts_with("ffff") {
        "eeeeeee"
    } else {
        "fffffff"
    };
    let too_long = "a".repeat(65);
    let refused = [
        (side.as_str(), 409, "not_an_ancestor"),
        (
            "0123456789abcdef0123456789abcdef01234567",
            409,
            "not_an_ancestor",
        ),
        (unknown, 409, "not_an_ancestor"),
        ("HEAD", 400, "bad_request"),
        ("abc", 400, "bad_request"),
        ("main~1", 400, "bad_request"),
        (too_long.as_str(), 400, "bad_request"),
    ];
    for (rev, status, error) in refused {
        let (code, v) = h
            .post(
                &format!("{WEB_DEV}/rollback"),
                Some(IDP_TOKEN),
                &format!(r#"{{"revision": "{rev}"}}"#),
            )
            .await?;
        assert_eq!(
            (code, v["error"].as_str()),
            (status, Some(error)),
            "{rev}: {v}"
        );
    }

    // A sync by an abbreviated id publishes the full one, so every reconciler reads one commit.
    let (code, v) = h
        .post(
            &format!("{WEB_DEV}/sync"),
            Some(IDP_TOKEN),
            &format!(r#"{{"revision": "{}"}}"#, rev1[..9].to_ascii_uppercase()),
        )
        .await?;
    assert_eq!(code, 202, "{v}");
    let seq = v["stream_sequence"].as_u64().unwrap_or_default();
    let stored = js
        .get_stream(gantry_nats::EVENTS_STREAM)
        .await?
        .get_raw_message(seq)
        .await?;
    let event = v1::Event::decode(stored.payload)?;
    assert_eq!(
        event.sync.map(|s| s.revision).unwrap_or_default(),
        rev1,
        "the event names the full commit id"
    );
    let (code, _) = h
        .post(
            &format!("{WEB_DEV}/rollback"),
            Some(IDP_TOKEN),
            &format!(r#"{{"revision": "{rev1}", "mode": "yolo"}}"#),
        )
        .await?;
    assert_eq!(code, 400);

    // By pull request: a branch with the old files, proposed against main; main does not move.
    let (code, v) = h
        .post(
            &format!("{WEB_PROD}/rollback"),
            Some(IDP_TOKEN),
            &format!(r#"{{"revision": "{rev1}", "mode": "pull_request"}}"#),
        )
        .await?;
    assert_eq!(code, 202, "{v}");
    assert!(v["pull_request"]["number"].as_u64().is_some(), "{v}");
    let branch = v["pull_request"]["branch"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let pr_commit = v["commit"].as_str().unwrap_or_default().to_owned();
    git(&work, &["fetch", "-q", "origin"])?;
    assert_eq!(
        git(&work, &["rev-parse", &format!("origin/{branch}")])?,
        pr_commit
    );
    assert_eq!(
        tree(&work, &pr_commit, &["apps/web/prod"])?,
        tree(&work, &rev1, &["apps/web/prod"])?
    );
    assert_eq!(git(&work, &["rev-parse", "origin/main"])?, commit);
    let pr: serde_json::Value = h
        .http
        .get(format!(
            "{}/repos/acme/platform/pulls/{}",
            h.sim.url(),
            v["pull_request"]["number"]
        ))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(pr["base"]["ref"], "main", "{pr}");
    assert_eq!(pr["head"]["ref"], branch.as_str());

    // Gitea's file-change API: roll web/dev forward again to the second revision's files.
    h.stop_api().await?;
    h.config.forges[0].kind = gantry_api::config::ForgeKind::Gitea;
    h.start_api().await?;
    let (code, v) = h
        .post(
            &format!("{WEB_DEV}/rollback"),
            Some(IDP_TOKEN),
            &format!(r#"{{"revision": "{head2}"}}"#),
        )
        .await?;
    assert_eq!(code, 202, "{v}");
    let gitea_commit = v["commit"].as_str().unwrap_or_default().to_owned();
    wait_push(&h.nats.url(), &gitea_commit).await?;
    git(&work, &["fetch", "-q", "origin"])?;
    assert_eq!(
        tree(&work, &gitea_commit, &inputs)?,
        tree(&work, &head2, &inputs)?
    );
    assert_eq!(
        git(&work, &["rev-parse", &format!("{gitea_commit}^")])?,
        commit
    );

    // Every rollback is audited with its revision and actor.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, v) = h.get(WEB_DEV, Some(IDP_TOKEN)).await?;
        assert_eq!(code, 200);
        let audit = v["audit"].as_array().cloned().unwrap_or_default();
        if audit.iter().any(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.contains("/rollback: 202"))
                && r["revision"] == head2.as_str()
        }) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the rollback's audit record is missing: {v}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
