//! Commits through the REST API: GitHub's Git Data API (trees, commits, refs) and Gitea's
//! file-change API, with their refusals (no credentials, not a fast forward, a stale blob sha).

use anyhow::Result;
use gantry_forge_sim::{Config, ForgeSim};
use serde_json::{Value, json};

use gantry_tests::git_in as git;

#[tokio::test(flavor = "multi_thread")]
async fn git_data_and_file_changes() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = tempfile::tempdir()?;
    let sim = ForgeSim::start(Config::github_hosting(tmp.path().join("repos"))).await?;
    let hosting = sim.hosting().cloned().expect("hosting");
    hosting.repos().create("acme/platform", "main").await?;
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work)?;
    let url = format!("{}/acme/platform.git", sim.url());
    let w = work.clone();
    let head = tokio::task::spawn_blocking(move || -> Result<String> {
        git(&w, &["init", "-q"])?;
        std::fs::write(w.join("a.txt"), "a\n")?;
        std::fs::write(w.join("b.txt"), "b\n")?;
        git(&w, &["add", "."])?;
        git(&w, &["commit", "-qm", "one"])?;
        git(&w, &["push", "-q", &url, "HEAD:main"])?;
        git(&w, &["rev-parse", "HEAD"])
    })
    .await??;
    let tree = git(&work, &["rev-parse", "HEAD^{tree}"])?;
    let http = reqwest::Client::new();
    let api = |p: &str| format!("{}/repos/acme/platform/{p}", sim.url());
    let post = |p: &str, v: Value| http.post(api(p)).bearer_auth("t").json(&v).send();

    let r = http
        .post(api("git/trees"))
        .json(&json!({"tree": []}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    let t: Value = post(
        "git/trees",
        json!({"base_tree": tree, "tree": [
            {"path": "a.txt", "mode": "100644", "type": "blob", "content": "A\n"},
            {"path": "b.txt", "mode": "100644", "type": "blob", "sha": null},
        ]}),
    )
    .await?
    .json()
    .await?;
    let c: Value = post(
        "git/commits",
        json!({"message": "two", "tree": t["sha"], "parents": [head],
        "author": {"name": "Alice", "email": "alice@example.com"}}),
    )
    .await?
    .json()
    .await?;
    let sha = c["sha"].as_str().unwrap_or_default().to_owned();
    let r = http
        .patch(api("git/refs/heads/main"))
        .bearer_auth("t")
        .json(&json!({"sha": sha}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    git(
        &work,
        &[
            "fetch",
            "-q",
            &format!("{}/acme/platform.git", sim.url()),
            "main",
        ],
    )?;
    assert_eq!(git(&work, &["rev-parse", "FETCH_HEAD"])?, sha);
    assert_eq!(git(&work, &["show", "FETCH_HEAD:a.txt"])?, "A");
    assert!(git(&work, &["show", "FETCH_HEAD:b.txt"]).is_err());
    assert_eq!(
        git(&work, &["log", "-1", "--format=%an", "FETCH_HEAD"])?,
        "Alice"
    );
    // Back to the first commit is not a fast forward.
    let r = http
        .patch(api("git/refs/heads/main"))
        .bearer_auth("t")
        .json(&json!({"sha": head}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 422);

    // Gitea: one commit on a new branch; a stale sha is refused.
    let gitea = format!("{}/api/v1/repos/acme/platform/contents", sim.url());
    let a_blob = git(&work, &["rev-parse", "FETCH_HEAD:a.txt"])?;
    let r = http
        .post(&gitea)
        .header("Authorization", "token t")
        .json(&json!({"branch": "main", "files": [{"operation": "update", "path": "a.txt", "sha": "0000000000000000000000000000000000000001", "content": "eA=="}]}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 422);
    let r: Value = http
        .post(&gitea)
        .header("Authorization", "token t")
        .json(
            &json!({"branch": "main", "new_branch": "fix", "message": "three", "files": [
            {"operation": "update", "path": "a.txt", "sha": a_blob, "content": "eA=="},
            {"operation": "create", "path": "c.txt", "content": "Yw=="}]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let three = r["commit"]["sha"].as_str().unwrap_or_default().to_owned();
    git(
        &work,
        &[
            "fetch",
            "-q",
            &format!("{}/acme/platform.git", sim.url()),
            "fix",
        ],
    )?;
    assert_eq!(git(&work, &["rev-parse", "FETCH_HEAD"])?, three);
    assert_eq!(git(&work, &["show", "FETCH_HEAD:a.txt"])?, "x");
    assert_eq!(git(&work, &["show", "FETCH_HEAD:c.txt"])?, "c");
    Ok(())
}
