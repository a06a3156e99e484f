//! Realistic, varied GitHub push deliveries, built and signed before the timed phase.
//!
//! Every body starts from a real push payload (`push_template.json`, drone/go-scm's GitHub
//! fixture) and varies the repository, branch, SHAs and commits (messages, authors, paths) so the
//! receiver parses and hashes something like production traffic, not one cached string.
//! Sizes spread uniformly over 4–8 KiB: the template with one commit is ~7.4 KB compact, so
//! smaller bodies leave out some of the repository's and owner's API URL templates (the receiver
//! reads none of them; older GitHub Enterprise versions send fewer too).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::HeaderValue;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// Smallest body generated, in bytes.
pub const MIN_BODY: usize = 4 * 1024;
/// Largest body generated, in bytes.
pub const MAX_BODY: usize = 8 * 1024;

const TEMPLATE: &str = include_str!("push_template.json");

/// `(owner, repository)`; `web.app` exercises the subject-token escaping of `.`.
const REPOS: &[(&str, &str)] = &[
    ("acme", "platform"),
    ("acme", "payments-api"),
    ("acme", "web.app"),
    ("Codertocat", "Hello-World"),
    ("gantry-dev", "infra_live"),
];

const BRANCHES: &[&str] = &[
    "refs/heads/main",
    "refs/heads/main",
    "refs/heads/main",
    "refs/heads/master",
    "refs/heads/release-1.4",
    "refs/heads/feature/canary-rollout",
];

const AUTHORS: &[(&str, &str, &str)] = &[
    ("Ada Lovelace", "ada@example.com", "ada"),
    ("Grace Hopper", "grace@example.com", "ghopper"),
    ("Linus Pauling", "linus.p@example.org", "lpauling"),
    (
        "Dependabot",
        "49699333+dependabot[bot]@users.noreply.github.com",
        "dependabot[bot]",
    ),
    ("Zoë Ünicode", "zoe@example.net", "zoe-u"),
];

const SUBJECTS: &[&str] = &[
    "Bump image tag to",
    "Scale web deployment to 4 replicas",
    "Fix readiness probe path",
    "Add staging overlay for",
    "Rotate database credentials reference",
    "Update README",
    "chore(deps): bump serde from 1.0.210 to 1.0.219",
    "Merge pull request #412 from acme/feature/canary-rollout",
    "Revert \"Raise memory limit\"",
    "feat: expose /metrics on port 9090",
];

const BODIES: &[&str] = &[
    "",
    "",
    "\n\nThe previous value starved the pod during start-up.",
    "\n\nSigned-off-by: Ada Lovelace <ada@example.com>",
    "\n\nCloses #88.\n\nCo-authored-by: Grace Hopper <grace@example.com>",
    "\n\n* kustomize: move common labels to the base\n* helm: pin chart version\n* docs: explain the rollout",
];

const PATHS: &[&str] = &[
    "README.md",
    "deploy/base/kustomization.yaml",
    "deploy/base/deployment.yaml",
    "deploy/base/service.yaml",
    "deploy/overlays/prod/kustomization.yaml",
    "deploy/overlays/staging/patch-replicas.yaml",
    "charts/web/values.yaml",
    "charts/web/templates/deployment.yaml",
    ".gantry.yaml",
    "src/main.rs",
    "src/handlers/webhook.rs",
    "Cargo.lock",
    "docs/runbook.md",
    "config/app.toml",
];

/// Fields of `repository` and `repository.owner` that the receiver never reads and that
/// smaller bodies may leave out.
const KEEP: &[&str] = &[
    "html_url",
    "clone_url",
    "git_url",
    "ssh_url",
    "svn_url",
    "url",
];

/// One pre-built delivery: the body and its `X-Hub-Signature-256` value.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub body: Bytes,
    pub signature: HeaderValue,
}

/// Builds `count` signed push deliveries, reproducibly for a given `seed`.
pub fn generate(count: usize, secret: &[u8], seed: u64) -> Result<Vec<Webhook>> {
    if count == 0 {
        bail!("at least one payload is needed");
    }
    let template: Value = serde_json::from_str(TEMPLATE).context("parsing push_template.json")?;
    let template = serde_json::to_string(&template)?;
    let per_repo = REPOS
        .iter()
        .map(|(owner, repo)| repo_template(&template, owner, repo))
        .collect::<Result<Vec<_>>>()?;
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let (base, owner, repo) = &per_repo[i % per_repo.len()];
            let body = push_body(&mut rng, base, owner, repo)?;
            let signature = HeaderValue::from_str(&gantry_tests::github_signature(secret, &body))?;
            Ok(Webhook {
                body: Bytes::from(body),
                signature,
            })
        })
        .collect()
}

fn repo_template(compact: &str, owner: &str, repo: &str) -> Result<(Value, String, String)> {
    let text = compact
        .replace("Codertocat/Hello-World", &format!("{owner}/{repo}"))
        .replace("Hello-World", repo)
        .replace("Codertocat", owner);
    Ok((
        serde_json::from_str(&text)?,
        owner.to_owned(),
        repo.to_owned(),
    ))
}

fn push_body(rng: &mut StdRng, base: &Value, owner: &str, repo: &str) -> Result<Vec<u8>> {
    let mut v = base.clone();
    let web = format!("https://github.com/{owner}/{repo}");
    let before = sha(rng);
    let n_commits = *[1usize, 1, 1, 2, 2, 3].choose(rng).unwrap_or(&1);
    let mut commits: Vec<Value> = (0..n_commits).map(|i| commit(rng, &web, i)).collect();
    let target = rng.random_range(MIN_BODY..=MAX_BODY);

    let obj = v.as_object_mut().context("template is an object")?;
    obj.insert(
        "ref".into(),
        Value::from(*BRANCHES.choose(rng).unwrap_or(&"refs/heads/main")),
    );
    obj.insert("before".into(), Value::from(before.clone()));
    obj.insert("forced".into(), Value::from(rng.random_bool(0.05)));

    // Optional fields in a random order, so bodies of the same size differ in shape too.
    let mut optional: Vec<(bool, String)> = Vec::new();
    for is_owner in [false, true] {
        let o = if is_owner {
            owner_obj(obj)?
        } else {
            repository(obj)?
        };
        for k in o
            .keys()
            .filter(|k| k.ends_with("_url") && !KEEP.contains(&k.as_str()))
        {
            optional.push((is_owner, k.clone()));
        }
    }
    optional.shuffle(rng);

    loop {
        set_commits(obj, &commits, &web, &before)?;
        let mut len = serde_json::to_vec(&*obj)?.len();
        if len > MAX_BODY && commits.len() > 1 {
            commits.pop();
            continue;
        }
        // Removing `"key":"value",` saves its serialised length; re-serialise once at the end.
        while len > target {
            let Some((is_owner, key)) = optional.pop() else {
                break;
            };
            let map = if is_owner {
                owner_obj(obj)?
            } else {
                repository(obj)?
            };
            if let Some(val) = map.get(&key) {
                let saved = key.len() + 4 + serde_json::to_string(val)?.len();
                if len - saved < MIN_BODY {
                    break;
                }
                map.remove(&key);
                len -= saved;
            }
        }
        let body = serde_json::to_vec(&*obj)?;
        if body.len() < MIN_BODY && commits.len() < 8 {
            commits.push(commit(rng, &web, commits.len()));
            continue;
        }
        return Ok(body);
    }
}

fn repository(obj: &mut Map<String, Value>) -> Result<&mut Map<String, Value>> {
    obj.get_mut("repository")
        .and_then(Value::as_object_mut)
        .context("template has a repository")
}

fn owner_obj(obj: &mut Map<String, Value>) -> Result<&mut Map<String, Value>> {
    repository(obj)?
        .get_mut("owner")
        .and_then(Value::as_object_mut)
        .context("template has a repository owner")
}

fn set_commits(
    obj: &mut Map<String, Value>,
    commits: &[Value],
    web: &str,
    before: &str,
) -> Result<()> {
    let head = commits.last().context("at least one commit")?;
    let after = head["id"].as_str().unwrap_or_default().to_owned();
    obj.insert("after".into(), Value::from(after.clone()));
    obj.insert(
        "compare".into(),
        Value::from(format!(
            "{web}/compare/{}...{}",
            &before[..12],
            &after[..12]
        )),
    );
    obj.insert("commits".into(), Value::from(commits.to_vec()));
    obj.insert("head_commit".into(), head.clone());
    Ok(())
}

fn commit(rng: &mut StdRng, web: &str, index: usize) -> Value {
    let id = sha(rng);
    let (name, email, login) = *AUTHORS.choose(rng).unwrap_or(&AUTHORS[0]);
    let subject = *SUBJECTS.choose(rng).unwrap_or(&SUBJECTS[0]);
    let mut message = subject.to_owned();
    if subject.ends_with(" to") || subject.ends_with(" for") {
        let _ = write!(
            message,
            " v1.{}.{}",
            rng.random_range(0..40),
            rng.random_range(0..10)
        );
    }
    message.push_str(BODIES.choose(rng).unwrap_or(&""));
    let mut paths = PATHS.to_vec();
    paths.shuffle(rng);
    let n_mod = rng.random_range(1..=3);
    let n_add = rng.random_range(0..=2);
    let n_rem = rng.random_range(0..=1);
    let modified = &paths[..n_mod];
    let added = &paths[n_mod..n_mod + n_add];
    let removed = &paths[n_mod + n_add..n_mod + n_add + n_rem];
    let timestamp = format!(
        "2025-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        rng.random_range(1..=12),
        rng.random_range(1..=28),
        rng.random_range(0..24),
        rng.random_range(0..60),
        index.min(59),
    );
    json!({
        "id": id,
        "tree_id": sha(rng),
        "distinct": true,
        "message": message,
        "timestamp": timestamp,
        "url": format!("{web}/commit/{id}"),
        "author": {"name": name, "email": email, "username": login},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": added,
        "removed": removed,
        "modified": modified,
    })
}

fn sha(rng: &mut StdRng) -> String {
    let bytes: [u8; 20] = rng.random();
    let mut s = String::with_capacity(40);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Unique `X-GitHub-Delivery` values in GitHub's UUID shape: a random per-process prefix and a
/// counter, so ids never repeat within a run and two runs against one stream do not collide.
#[derive(Debug)]
pub struct DeliveryIds {
    prefix: (u32, u16, u16),
    next: AtomicU64,
}

impl DeliveryIds {
    pub fn new() -> Self {
        let mut rng = rand::rng();
        DeliveryIds {
            prefix: (rng.random(), rng.random(), rng.random::<u16>() & 0x0fff),
            next: AtomicU64::new(0),
        }
    }

    /// The next id; never returns the same value twice for one `DeliveryIds`.
    pub fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (a, b, c) = self.prefix;
        let id = format!(
            "{a:08x}-{b:04x}-4{c:03x}-{:04x}-{:012x}",
            0x8000 | ((n >> 48) & 0x3fff),
            n & 0xffff_ffff_ffff
        );
        // Hex digits and dashes are always a valid header value.
        HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

impl Default for DeliveryIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn bodies_are_varied_valid_pushes_within_the_size_range() {
        let hooks = generate(200, b"s3cret", 7).expect("generate");
        let mut distinct = HashSet::new();
        let mut sizes = Vec::new();
        for h in &hooks {
            let len = h.body.len();
            assert!((MIN_BODY..=MAX_BODY).contains(&len), "body of {len} bytes");
            sizes.push(len);
            let v: Value = serde_json::from_slice(&h.body).expect("valid JSON");
            assert_eq!(v["deleted"], Value::Bool(false));
            assert_eq!(v["created"], Value::Bool(false));
            let after = v["after"].as_str().expect("after");
            assert_eq!(after.len(), 40);
            assert_eq!(v["head_commit"]["id"].as_str(), Some(after));
            assert!(!v["commits"].as_array().expect("commits").is_empty());
            assert!(
                v["repository"]["full_name"]
                    .as_str()
                    .expect("full_name")
                    .contains('/')
            );
            assert_eq!(
                h.signature.to_str().expect("ascii"),
                gantry_tests::github_signature(b"s3cret", &h.body)
            );
            distinct.insert(h.body.clone());
        }
        assert_eq!(distinct.len(), hooks.len(), "every body differs");
        sizes.sort_unstable();
        assert!(
            sizes[20] < 5 * 1024 && sizes[180] > 7 * 1024,
            "sizes spread: {sizes:?}"
        );
    }

    #[test]
    fn generation_is_reproducible_per_seed() {
        let a = generate(5, b"k", 1).expect("a");
        let b = generate(5, b"k", 1).expect("b");
        let c = generate(5, b"k", 2).expect("c");
        assert!(a.iter().zip(&b).all(|(x, y)| x.body == y.body));
        assert!(a.iter().zip(&c).any(|(x, y)| x.body != y.body));
    }

    #[test]
    fn delivery_ids_are_unique_and_uuid_shaped() {
        let ids = DeliveryIds::new();
        let all: HashSet<_> = (0..10_000).map(|_| ids.next()).collect();
        assert_eq!(all.len(), 10_000);
        let one = ids.next();
        let s = one.to_str().expect("ascii");
        assert_eq!(s.len(), 36);
        assert_eq!(s.matches('-').count(), 4);
    }
}
