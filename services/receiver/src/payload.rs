//! Turns a GitHub or Gitea push / pull_request payload into a `gantry.v1.Event`.
//!
//! Both hosts' payloads share GitHub's field names, so one set of lenient serde types reads
//! both: every field that is not needed to act on the event is optional, because older GitHub
//! Enterprise and Gitea versions lack fields that github.com added later.

use gantry_proto::v1::{self, EventKind, Provider};
use serde::Deserialize;
use serde::de::IgnoredAny;

/// Why a payload was not turned into an event.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The body is JSON but lacks or mistypes what the event needs.
    #[error("the payload is not a valid {event} event: {message}")]
    Invalid {
        /// The event name.
        event: &'static str,
        /// What is missing or wrong.
        message: String,
    },
}

impl PayloadError {
    fn from_serde(event: &'static str, e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => PayloadError::Invalid {
                event,
                message: e.to_string(),
            },
            _ => PayloadError::Json(e),
        }
    }

    fn missing(event: &'static str, what: &str) -> Self {
        PayloadError::Invalid {
            event,
            message: format!("{what} is missing or empty"),
        }
    }
}

/// What the receiver does with a verified delivery.
#[derive(Debug)]
pub enum Outcome {
    /// Publish this event.
    Publish(Box<v1::Event>),
    /// Answer 200 `{"ignored": reason}` and publish nothing.
    Ignore(&'static str),
}

/// The event names the receiver understands, from the provider's event header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    /// `push`
    Push,
    /// `pull_request`
    PullRequest,
    /// `ping`
    Ping,
    /// Anything else (issues, create, delete, release, ...).
    Other,
}

impl EventName {
    /// Classifies an event header value. Gitea's `pull_request_sync` (older versions put the
    /// event type in the event header) is a pull request too.
    pub fn parse(s: &str) -> EventName {
        match s {
            "push" => EventName::Push,
            "pull_request" | "pull_request_sync" => EventName::PullRequest,
            "ping" => EventName::Ping,
            _ => EventName::Other,
        }
    }

    /// A bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            EventName::Push => "push",
            EventName::PullRequest => "pull_request",
            EventName::Ping => "ping",
            EventName::Other => "other",
        }
    }
}

/// What the delivery's headers say beyond the event name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints<'a> {
    /// Gitea's `X-Gitea-Event-Type` (`pull_request_sync` for a pushed pull request).
    pub event_type: Option<&'a str>,
}

/// Parses `json` as the event `name` from `provider` and decides what to do with it.
pub fn normalise(
    provider: Provider,
    name: EventName,
    hints: Hints<'_>,
    delivery: &str,
    json: &[u8],
) -> Result<Outcome, PayloadError> {
    match name {
        EventName::Push => push(provider, delivery, json),
        EventName::PullRequest => pull_request(provider, hints, delivery, json),
        EventName::Ping => {
            check_json(json)?;
            Ok(Outcome::Ignore("ping"))
        }
        EventName::Other => {
            check_json(json)?;
            Ok(Outcome::Ignore("unsupported_event"))
        }
    }
}

fn check_json(json: &[u8]) -> Result<(), PayloadError> {
    serde_json::from_slice::<IgnoredAny>(json)
        .map(|_| ())
        .map_err(PayloadError::Json)
}

#[derive(Debug, Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    before: String,
    after: String,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    forced: Option<bool>,
    #[serde(default)]
    commits: Option<Vec<CommitPayload>>,
    repository: RepoPayload,
    #[serde(default)]
    pusher: Option<UserPayload>,
    #[serde(default)]
    sender: Option<UserPayload>,
}

#[derive(Debug, Deserialize)]
struct CommitPayload {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    author: Option<UserPayload>,
    #[serde(default)]
    added: Option<Vec<String>>,
    #[serde(default)]
    removed: Option<Vec<String>>,
    #[serde(default)]
    modified: Option<Vec<String>>,
}

/// GitHub's commit authors and pushers (`name`, `email`, `username`) and both hosts' user
/// objects (`login`, Gitea's `username` and `full_name`) in one shape.
#[derive(Debug, Default, Deserialize)]
struct UserPayload {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    login: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RepoPayload {
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    owner: Option<UserPayload>,
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PullRequestPayload {
    action: String,
    #[serde(default)]
    number: Option<u64>,
    pull_request: PullPayload,
    repository: RepoPayload,
    #[serde(default)]
    sender: Option<UserPayload>,
}

#[derive(Debug, Deserialize)]
struct PullPayload {
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    head: BranchPayload,
    base: BranchPayload,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merge_commit_sha: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BranchPayload {
    #[serde(rename = "ref", default)]
    git_ref: Option<String>,
    #[serde(default)]
    sha: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn person(u: Option<UserPayload>) -> Option<v1::Person> {
    let u = u?;
    let username = non_empty(u.login)
        .or(non_empty(u.username))
        .unwrap_or_default();
    let name = non_empty(u.full_name)
        .or(non_empty(u.name))
        .unwrap_or_else(|| username.clone());
    Some(v1::Person {
        name,
        email: u.email.unwrap_or_default(),
        username,
    })
}

fn repository(event: &'static str, r: RepoPayload) -> Result<v1::Repository, PayloadError> {
    let owner_login = r
        .owner
        .and_then(|o| non_empty(o.login).or(non_empty(o.username)));
    let (owner, name) = match non_empty(r.full_name.clone()) {
        Some(full) => match full.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() => (o.to_owned(), n.to_owned()),
            _ => {
                return Err(PayloadError::Invalid {
                    event,
                    message: format!("repository.full_name {full:?} is not \"owner/name\""),
                });
            }
        },
        None => (
            owner_login.ok_or_else(|| PayloadError::missing(event, "repository.owner.login"))?,
            non_empty(r.name).ok_or_else(|| PayloadError::missing(event, "repository.name"))?,
        ),
    };
    Ok(v1::Repository {
        full_name: format!("{owner}/{name}"),
        owner,
        name,
        clone_url: r.clone_url.unwrap_or_default(),
        web_url: r.html_url.unwrap_or_default(),
        default_branch: r.default_branch.unwrap_or_default(),
    })
}

fn timestamp(s: Option<&str>) -> Option<prost_types::Timestamp> {
    let t = time::OffsetDateTime::parse(s?, &time::format_description::well_known::Rfc3339).ok()?;
    Some(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: i32::try_from(t.nanosecond()).unwrap_or(0),
    })
}

fn is_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'0')
}

fn push(provider: Provider, delivery: &str, json: &[u8]) -> Result<Outcome, PayloadError> {
    const EV: &str = "push";
    let p: PushPayload =
        serde_json::from_slice(json).map_err(|e| PayloadError::from_serde(EV, e))?;
    if is_zero(&p.before) && is_zero(&p.after) {
        // Gitea's "Test Delivery" sends a fake all-zero push; it is neither a push nor a deletion.
        return Ok(Outcome::Ignore("test_delivery"));
    }
    if p.deleted == Some(true) || is_zero(&p.after) {
        return Ok(Outcome::Ignore(if p.git_ref.starts_with("refs/tags/") {
            "tag_deletion"
        } else {
            "branch_deletion"
        }));
    }
    if !p.git_ref.starts_with("refs/") {
        return Err(PayloadError::Invalid {
            event: EV,
            message: format!("ref {:?} is not a full ref name", p.git_ref),
        });
    }
    if !is_sha(&p.after) {
        return Err(PayloadError::Invalid {
            event: EV,
            message: format!("after {:?} is not a commit id", p.after),
        });
    }
    let repository = repository(EV, p.repository)?;
    let mut commits: Vec<v1::Commit> = p
        .commits
        .unwrap_or_default()
        .into_iter()
        .map(|c| v1::Commit {
            time: timestamp(c.timestamp.as_deref()),
            sha: c.id,
            message: c.message,
            author: person(c.author),
            added: c.added.unwrap_or_default(),
            modified: c.modified.unwrap_or_default(),
            removed: c.removed.unwrap_or_default(),
            url: c.url.unwrap_or_default(),
        })
        .collect();
    if provider == Provider::Gitea {
        // Gitea lists pushed commits newest first (go-gitea/gitea#21252); GitHub oldest first.
        commits.reverse();
    }
    let created = p.created.unwrap_or_else(|| is_zero(&p.before));
    Ok(Outcome::Publish(Box::new(v1::Event {
        id: event_id(provider, delivery),
        provider: provider as i32,
        delivery_id: delivery.to_owned(),
        kind: EventKind::Push as i32,
        received_at: None,
        repository: Some(repository),
        r#ref: p.git_ref,
        before: p.before,
        after: p.after,
        commits,
        pusher: person(p.pusher),
        sender: person(p.sender),
        pull_request: None,
        forced: p.forced.unwrap_or(false),
        created,
        sync: None,
    })))
}

fn pull_request(
    provider: Provider,
    hints: Hints<'_>,
    delivery: &str,
    json: &[u8],
) -> Result<Outcome, PayloadError> {
    const EV: &str = "pull_request";
    let p: PullRequestPayload =
        serde_json::from_slice(json).map_err(|e| PayloadError::from_serde(EV, e))?;
    let merged = p.pull_request.merged.unwrap_or(false);
    let kind = if hints.event_type == Some("pull_request_sync") {
        EventKind::PrUpdated
    } else {
        match p.action.as_str() {
            "opened" => EventKind::PrOpened,
            // GitHub says "synchronize", Gitea "synchronized".
            "reopened" | "synchronize" | "synchronized" => EventKind::PrUpdated,
            "closed" if merged => EventKind::PrMerged,
            "closed" => EventKind::PrClosed,
            _ => return Ok(Outcome::Ignore("unsupported_action")),
        }
    };
    let repository = repository(EV, p.repository)?;
    let number = p
        .pull_request
        .number
        .or(p.number)
        .ok_or_else(|| PayloadError::missing(EV, "pull_request.number"))?;
    let head_sha = non_empty(p.pull_request.head.sha)
        .ok_or_else(|| PayloadError::missing(EV, "pull_request.head.sha"))?;
    let head_ref = non_empty(p.pull_request.head.git_ref)
        .ok_or_else(|| PayloadError::missing(EV, "pull_request.head.ref"))?;
    let base_ref = non_empty(p.pull_request.base.git_ref)
        .ok_or_else(|| PayloadError::missing(EV, "pull_request.base.ref"))?;
    let base_sha = p.pull_request.base.sha.unwrap_or_default();
    // GitHub fills merge_commit_sha with a test merge while the pull request is open; it only
    // names the real merge once merged.
    let merge_commit_sha = if merged {
        non_empty(p.pull_request.merge_commit_sha)
            .ok_or_else(|| PayloadError::missing(EV, "pull_request.merge_commit_sha"))?
    } else {
        String::new()
    };
    let after = if merged {
        merge_commit_sha.clone()
    } else {
        head_sha.clone()
    };
    Ok(Outcome::Publish(Box::new(v1::Event {
        id: event_id(provider, delivery),
        provider: provider as i32,
        delivery_id: delivery.to_owned(),
        kind: kind as i32,
        received_at: None,
        repository: Some(repository),
        r#ref: format!("refs/heads/{base_ref}"),
        before: base_sha.clone(),
        after,
        commits: Vec::new(),
        pusher: None,
        sender: person(p.sender),
        pull_request: Some(v1::PullRequest {
            number,
            title: p.pull_request.title.unwrap_or_default(),
            web_url: p.pull_request.html_url.unwrap_or_default(),
            head_sha,
            head_ref,
            base_ref,
            merged,
            merge_commit_sha,
            base_sha,
            action: p.action,
        }),
        forced: false,
        created: false,
        sync: None,
    })))
}

/// The event id and JetStream message id: stable across redeliveries of one delivery.
pub fn event_id(provider: Provider, delivery: &str) -> String {
    format!("{}:{delivery}", provider.token())
}

/// The repository's full name, read leniently from a payload before its signature is checked,
/// only to choose which secrets to check it against.
pub fn claimed_repository(json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Claim {
        repository: Option<ClaimRepo>,
    }
    #[derive(Deserialize)]
    struct ClaimRepo {
        full_name: Option<String>,
    }
    serde_json::from_slice::<Claim>(json)
        .ok()?
        .repository?
        .full_name
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// All-zero object id: a created ref's `before`, a deleted ref's `after`.
    const ZERO_SHA: &str = "0000000000000000000000000000000000000000";

    fn publish(o: Outcome) -> v1::Event {
        match o {
            Outcome::Publish(e) => *e,
            Outcome::Ignore(r) => panic!("ignored: {r}"),
        }
    }

    #[test]
    fn gitea_commits_are_reversed_and_after_is_head() {
        let body = br#"{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111",
          "after":"2222222222222222222222222222222222222222",
          "commits":[{"id":"2222222222222222222222222222222222222222","message":"new","added":null},
                     {"id":"3333333333333333333333333333333333333333","message":"old"}],
          "repository":{"full_name":"acme/app","name":"app","owner":{"login":"acme","username":"acme"}}}"#;
        let e = publish(
            normalise(
                Provider::Gitea,
                EventName::Push,
                Hints::default(),
                "d1",
                body,
            )
            .unwrap(),
        );
        assert_eq!(e.after, "2222222222222222222222222222222222222222");
        assert_eq!(e.commits[0].message, "old");
        assert_eq!(e.commits[1].message, "new");
        assert_eq!(e.id, "gitea:d1");
    }

    #[test]
    fn zero_pushes_are_ignored() {
        let z = ZERO_SHA;
        let test = format!(
            r#"{{"ref":"refs/heads/main","before":"{z}","after":"{z}","repository":{{"full_name":"a/b"}}}}"#
        );
        let del = format!(
            r#"{{"ref":"refs/tags/v1","before":"1111111111111111111111111111111111111111","after":"{z}","repository":{{"full_name":"a/b"}}}}"#
        );
        assert!(matches!(
            normalise(
                Provider::Gitea,
                EventName::Push,
                Hints::default(),
                "d",
                test.as_bytes()
            )
            .unwrap(),
            Outcome::Ignore("test_delivery")
        ));
        assert!(matches!(
            normalise(
                Provider::Github,
                EventName::Push,
                Hints::default(),
                "d",
                del.as_bytes()
            )
            .unwrap(),
            Outcome::Ignore("tag_deletion")
        ));
    }

    #[test]
    fn missing_fields_are_invalid_and_bad_json_is_json() {
        let e = normalise(
            Provider::Github,
            EventName::Push,
            Hints::default(),
            "d",
            br#"{"ref":"refs/heads/x"}"#,
        )
        .unwrap_err();
        assert!(matches!(e, PayloadError::Invalid { .. }), "{e}");
        let e = normalise(
            Provider::Github,
            EventName::Push,
            Hints::default(),
            "d",
            b"{nope",
        )
        .unwrap_err();
        assert!(matches!(e, PayloadError::Json(_)), "{e}");
        let e = normalise(
            Provider::Github,
            EventName::Other,
            Hints::default(),
            "d",
            b"[",
        )
        .unwrap_err();
        assert!(matches!(e, PayloadError::Json(_)), "{e}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512),
                                       which in 0u8..4) {
            let name = [EventName::Push, EventName::PullRequest, EventName::Ping, EventName::Other][which as usize];
            let _ = normalise(Provider::Github, name, Hints::default(), "d", &body);
            let _ = normalise(Provider::Gitea, name, Hints { event_type: Some("pull_request_sync") }, "d", &body);
            let _ = claimed_repository(&body);
        }

        #[test]
        fn arbitrary_json_shapes_never_panic(r in "[a-z/]{0,12}", after in "[0-9a-f]{0,41}", action in "[a-z]{0,12}", merged: bool) {
            let push = format!(r#"{{"ref":"refs/heads/{r}","before":"","after":"{after}","repository":{{"full_name":"{r}"}},"commits":[{{"timestamp":"{r}"}}]}}"#);
            let _ = normalise(Provider::Github, EventName::Push, Hints::default(), "d", push.as_bytes());
            let pr = format!(r#"{{"action":"{action}","number":1,"pull_request":{{"head":{{"ref":"{r}","sha":"{after}"}},"base":{{"ref":"{r}"}},"merged":{merged},"merge_commit_sha":"{after}"}},"repository":{{"full_name":"{r}"}}}}"#);
            let _ = normalise(Provider::Gitea, EventName::PullRequest, Hints::default(), "d", pr.as_bytes());
        }
    }
}
