//! Every shared fixture and every push, pull_request and ping example of
//! `@octokit/webhooks-examples` gets the right answer and, where due, the right stored event.

mod common;

use anyhow::{Context, Result};
use common::{Receiver, stored, unique};
use gantry_proto::v1::EventKind;
use serde_json::Value;

/// What a delivery should produce.
#[derive(Debug)]
enum Want {
    Stored(EventKind),
    Ignored(&'static str),
}

/// The revision an independent reading of the payload says the event is about.
fn expected_after(v: &Value, kind: EventKind) -> String {
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match kind {
        EventKind::Push => s("/after"),
        EventKind::PrMerged => s("/pull_request/merge_commit_sha"),
        _ => s("/pull_request/head/sha"),
    }
}

async fn check(
    r: &Receiver,
    provider: &str,
    event: &str,
    extra: &[(&str, &str)],
    body: Vec<u8>,
    want: Want,
    label: &str,
) -> Result<()> {
    let delivery = unique("fx");
    let v: Value = serde_json::from_slice(&body).with_context(|| label.to_owned())?;
    let mut rb = r.delivery(provider, event, &delivery, body);
    for (k, val) in extra {
        rb = rb.header(*k, *val);
    }
    let resp = rb.send().await?;
    let status = resp.status().as_u16();
    let json: Value = resp.json().await?;
    match want {
        Want::Ignored(reason) => {
            assert_eq!(status, 200, "{label}: {json}");
            assert_eq!(json["ignored"], reason, "{label}: {json}");
        }
        Want::Stored(kind) => {
            assert_eq!(status, 202, "{label}: {json}");
            assert_eq!(json["delivery"], delivery.as_str(), "{label}");
            assert_eq!(json["duplicate"], false, "{label}");
            let seq = json["stream_sequence"]
                .as_u64()
                .context("stream_sequence")?;
            let (e, headers, subject) = stored(&r.js().await?, seq).await?;
            assert_eq!(subject, json["subject"].as_str().unwrap_or(""), "{label}");
            assert_eq!(e.kind(), kind, "{label}");
            assert!(
                subject.ends_with(&format!(".{}", kind.token())),
                "{label}: {subject}"
            );
            assert!(
                subject.starts_with(&format!("gantry.events.{provider}.")),
                "{label}: {subject}"
            );
            assert_eq!(e.after, expected_after(&v, kind), "{label}");
            assert_eq!(e.delivery_id, delivery, "{label}");
            let full = v
                .pointer("/repository/full_name")
                .and_then(Value::as_str)
                .unwrap_or("");
            assert_eq!(
                e.repository.as_ref().map(|x| x.full_name.as_str()),
                Some(full),
                "{label}"
            );
            let h = |n: &str| {
                headers
                    .get(n)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            assert_eq!(
                h("Nats-Msg-Id"),
                format!("{provider}:{delivery}"),
                "{label}"
            );
            assert_eq!(h("Gantry-Schema"), "gantry.v1.Event", "{label}");
            assert_eq!(h("Content-Type"), "application/protobuf", "{label}");
            assert_eq!(h("ce-specversion"), "1.0", "{label}");
            assert_eq!(
                h("ce-type"),
                format!("dev.gantry.{}", kind.token()),
                "{label}"
            );
            assert_eq!(h("ce-id"), e.id, "{label}");
            assert!(
                !h("ce-source").is_empty() && !h("ce-time").is_empty(),
                "{label}"
            );
            let tp = h("traceparent");
            assert!(
                tp.len() == 55 && tp.starts_with("00-"),
                "{label}: traceparent {tp:?}"
            );
            if kind == EventKind::Push {
                assert_eq!(e.r#ref, v["ref"].as_str().unwrap_or(""), "{label}");
                let n = v["commits"].as_array().map_or(0, Vec::len);
                assert_eq!(e.commits.len(), n, "{label}");
            } else {
                let pr = e.pull_request.context("pull request")?;
                assert_eq!(
                    Some(pr.number),
                    v.pointer("/pull_request/number").and_then(Value::as_u64),
                    "{label}"
                );
            }
        }
    }
    Ok(())
}

fn fixture(path: &str) -> Result<Vec<u8>> {
    let p = gantry_tests::shared_fixture(path, "a GitHub or Gitea webhook payload")?;
    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_fixtures() -> Result<()> {
    use EventKind::*;
    use Want::*;
    let r = Receiver::start().await?;
    let sync: &[(&str, &str)] = &[("X-Gitea-Event-Type", "pull_request_sync")];
    /// Fixture path, endpoint, event header, extra headers, expected result.
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, &'a str)], Want);
    let cases: &[Case] = &[
        (
            "github/drone-go-scm/pr_closed.json",
            "github",
            "pull_request",
            &[],
            Stored(PrClosed),
        ),
        (
            "github/drone-go-scm/pr_opened.json",
            "github",
            "pull_request",
            &[],
            Stored(PrOpened),
        ),
        (
            "github/drone-go-scm/pr_reopened.json",
            "github",
            "pull_request",
            &[],
            Stored(PrUpdated),
        ),
        (
            "github/drone-go-scm/pr_sync.json",
            "github",
            "pull_request",
            &[],
            Stored(PrUpdated),
        ),
        (
            "github/drone-go-scm/push.json",
            "github",
            "push",
            &[],
            Stored(Push),
        ),
        (
            "github/drone-go-scm/push_branch_create.json",
            "github",
            "push",
            &[],
            Stored(Push),
        ),
        (
            "github/drone-go-scm/push_branch_delete.json",
            "github",
            "push",
            &[],
            Ignored("branch_deletion"),
        ),
        (
            "github/drone-go-scm/push_tag.json",
            "github",
            "push",
            &[],
            Stored(Push),
        ),
        (
            "github/go-playground-webhooks/ping.json",
            "github",
            "ping",
            &[],
            Ignored("ping"),
        ),
        (
            "github/go-playground-webhooks/pull-request.json",
            "github",
            "pull_request",
            &[],
            Stored(PrOpened),
        ),
        (
            "github/go-playground-webhooks/push.json",
            "github",
            "push",
            &[],
            Stored(Push),
        ),
        (
            "gitea/constructed/gitea-pull_request-closed-merged.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrMerged),
        ),
        (
            "gitea/constructed/gitea-pull_request-closed-unmerged.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrClosed),
        ),
        (
            "gitea/constructed/gitea-push-test-delivery.json",
            "gitea",
            "push",
            &[],
            Ignored("test_delivery"),
        ),
        (
            "gitea/constructed/gitea-push.json",
            "gitea",
            "push",
            &[],
            Stored(Push),
        ),
        (
            "gitea/fixtures/drone-go-scm/branch_create.json",
            "gitea",
            "create",
            &[],
            Ignored("unsupported_event"),
        ),
        (
            "gitea/fixtures/drone-go-scm/branch_delete.json",
            "gitea",
            "delete",
            &[],
            Ignored("unsupported_event"),
        ),
        (
            "gitea/fixtures/drone-go-scm/pull_request_closed.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrClosed),
        ),
        (
            "gitea/fixtures/drone-go-scm/pull_request_edited.json",
            "gitea",
            "pull_request",
            &[],
            Ignored("unsupported_action"),
        ),
        (
            "gitea/fixtures/drone-go-scm/pull_request_merged.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrMerged),
        ),
        (
            "gitea/fixtures/drone-go-scm/pull_request_opened.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrOpened),
        ),
        (
            "gitea/fixtures/drone-go-scm/pull_request_reopened.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrUpdated),
        ),
        (
            "gitea/fixtures/drone-go-scm/pull_request_synchronized.json",
            "gitea",
            "pull_request",
            sync,
            Stored(PrUpdated),
        ),
        (
            "gitea/fixtures/drone-go-scm/push.json",
            "gitea",
            "push",
            &[],
            Stored(Push),
        ),
        (
            "gitea/fixtures/drone-go-scm/tag_create.json",
            "gitea",
            "create",
            &[],
            Ignored("unsupported_event"),
        ),
        (
            "gitea/fixtures/drone-go-scm/tag_delete.json",
            "gitea",
            "delete",
            &[],
            Ignored("unsupported_event"),
        ),
        (
            "gitea/fixtures/go-playground-webhooks/create-event.json",
            "gitea",
            "create",
            &[],
            Ignored("unsupported_event"),
        ),
        (
            "gitea/fixtures/go-playground-webhooks/delete-event.json",
            "gitea",
            "delete",
            &[],
            Ignored("unsupported_event"),
        ),
        (
            "gitea/fixtures/go-playground-webhooks/pull-request-event.json",
            "gitea",
            "pull_request",
            &[],
            Stored(PrOpened),
        ),
        (
            "gitea/fixtures/go-playground-webhooks/push-event.json",
            "gitea",
            "push",
            &[],
            Stored(Push),
        ),
    ];
    // Every webhook fixture is in the table, so a new one cannot be skipped silently.
    let mut on_disk = Vec::new();
    for dir in [
        "github/drone-go-scm",
        "github/go-playground-webhooks",
        "gitea/constructed",
        "gitea/fixtures/drone-go-scm",
        "gitea/fixtures/go-playground-webhooks",
    ] {
        for e in std::fs::read_dir(gantry_tests::shared_fixture(
            dir,
            "GitHub and Gitea webhook payloads from other projects' test suites",
        )?)? {
            on_disk.push(format!("{dir}/{}", e?.file_name().to_string_lossy()));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(listed, on_disk);

    for (path, provider, event, extra, want) in cases {
        let body = fixture(path)?;
        let want = match want {
            Stored(k) => Stored(*k),
            Ignored(r) => Ignored(r),
        };
        check(&r, provider, event, extra, body, want, path).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn gitea_push_is_head_first_and_tags_keep_their_ref() -> Result<()> {
    let r = Receiver::start().await?;
    let body = fixture("gitea/constructed/gitea-push.json")?;
    let resp: Value = r
        .delivery("gitea", "push", &unique("g"), body)
        .send()
        .await?
        .json()
        .await?;
    let (e, _, subject) = stored(
        &r.js().await?,
        resp["stream_sequence"].as_u64().unwrap_or(0),
    )
    .await?;
    assert_eq!(subject, "gantry.events.gitea.acme.gitops-config.push");
    assert_eq!(e.after, "b5e3a9d7c1f24e6a8b0c2d4e6f8a0b1c3d5e7f90");
    // Stored oldest first, so the last commit is the head.
    assert_eq!(
        e.commits.last().map(|c| c.sha.as_str()),
        Some(e.after.as_str())
    );

    let body = fixture("github/drone-go-scm/push_tag.json")?;
    let resp: Value = r
        .delivery("github", "push", &unique("t"), body)
        .send()
        .await?
        .json()
        .await?;
    let (e, _, _) = stored(
        &r.js().await?,
        resp["stream_sequence"].as_u64().unwrap_or(0),
    )
    .await?;
    assert_eq!(e.r#ref, "refs/tags/v0.0.1");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn octokit_examples() -> Result<()> {
    let root = gantry_tests::octokit_examples();
    anyhow::ensure!(
        root.exists(),
        "{} is missing: run scripts/tools.sh (scripts/test does)",
        root.display()
    );
    let r = Receiver::start().await?;
    let mut sent = 0;
    for entry in std::fs::read_dir(&root)? {
        let index = entry?.path().join("index.json");
        if !index.exists() {
            continue;
        }
        let all: Vec<Value> = serde_json::from_slice(&std::fs::read(&index)?)?;
        for group in all {
            let name = group["name"].as_str().unwrap_or("");
            if !["push", "pull_request", "ping"].contains(&name) {
                continue;
            }
            for (i, ex) in group["examples"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let label = format!("{} {name} #{i}", index.display());
                let want = match name {
                    "ping" => Want::Ignored("ping"),
                    "push" if ex["deleted"] == true => Want::Ignored(
                        if ex["ref"].as_str().unwrap_or("").starts_with("refs/tags/") {
                            "tag_deletion"
                        } else {
                            "branch_deletion"
                        },
                    ),
                    "push" => Want::Stored(EventKind::Push),
                    _ => match ex["action"].as_str().unwrap_or("") {
                        "opened" => Want::Stored(EventKind::PrOpened),
                        "reopened" | "synchronize" => Want::Stored(EventKind::PrUpdated),
                        "closed"
                            if ex.pointer("/pull_request/merged") == Some(&Value::Bool(true)) =>
                        {
                            Want::Stored(EventKind::PrMerged)
                        }
                        "closed" => Want::Stored(EventKind::PrClosed),
                        _ => Want::Ignored("unsupported_action"),
                    },
                };
                check(
                    &r,
                    "github",
                    name,
                    &[],
                    serde_json::to_vec(&ex)?,
                    want,
                    &label,
                )
                .await?;
                sent += 1;
            }
        }
    }
    assert!(
        sent >= 40,
        "only {sent} examples found under {}",
        root.display()
    );
    Ok(())
}
