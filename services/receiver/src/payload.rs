//! Turns a GitHub or Gitea push / pull_request payload into a `gantry.v1.Event`.
//!
//! Both hosts' payloads share GitHub's field names, so one set of lenient serde types reads
//! both: every field that is not needed to act on the event is optional, because older GitHub
//! Enterprise and Gitea versions lack fields that github.com added later.

use gantry_proto::v1::{self, EventKind, Provider};
use std::borrow::Cow;

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

/// A string read from the body: borrowed from it when the JSON has no escapes in it (most
/// fields: ids, refs, URLs, names), owned otherwise. It is copied once, into the event, and
/// the fields the event does not keep are never copied at all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
    fn owned(self) -> String {
        self.0.into_owned()
    }
}

#[derive(Debug, Deserialize)]
struct PushPayload<'a> {
    #[serde(rename = "ref", borrow)]
    git_ref: Text<'a>,
    #[serde(default, borrow)]
    before: Text<'a>,
    #[serde(borrow)]
    after: Text<'a>,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default)]
    deleted: Option<bool>,
    #[serde(default)]
    forced: Option<bool>,
    #[serde(default, borrow)]
    commits: Option<Vec<CommitPayload<'a>>>,
    #[serde(borrow)]
    repository: RepoPayload<'a>,
    #[serde(default, borrow)]
    pusher: Option<UserPayload<'a>>,
    #[serde(default, borrow)]
    sender: Option<UserPayload<'a>>,
}

#[derive(Debug, Deserialize)]
struct CommitPayload<'a> {
    #[serde(default, borrow)]
    id: Text<'a>,
    #[serde(default, borrow)]
    message: Text<'a>,
    #[serde(default, borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(default, borrow)]
    url: Option<Text<'a>>,
    #[serde(default, borrow)]
    author: Option<UserPayload<'a>>,
    #[serde(default, borrow)]
    added: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    removed: Option<Vec<Text<'a>>>,
    #[serde(default, borrow)]
    modified: Option<Vec<Text<'a>>>,
}

/// GitHub's commit authors and pushers (`name`, `email`, `username`) and both hosts' user
/// objects (`login`, Gitea's `username` and `full_name`) in one shape.
#[derive(Debug, Default, Deserialize)]
struct UserPayload<'a> {
    #[serde(default, borrow)]
    name: Option<Text<'a>>,
    #[serde(default, borrow)]
    full_name: Option<Text<'a>>,
    #[serde(default, borrow)]
    email: Option<Text<'a>>,
    #[serde(default, borrow)]
    username: Option<Text<'a>>,
    #[serde(default, borrow)]
    login: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct RepoPayload<'a> {
    #[serde(default, borrow)]
    full_name: Option<Text<'a>>,
    #[serde(default, borrow)]
    name: Option<Text<'a>>,
    #[serde(default, borrow)]
    owner: Option<UserPayload<'a>>,
    #[serde(default, borrow)]
    clone_url: Option<Text<'a>>,
    #[serde(default, borrow)]
    html_url: Option<Text<'a>>,
    #[serde(default, borrow)]
    default_branch: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct PullRequestPayload<'a> {
    #[serde(borrow)]
    action: Text<'a>,
    #[serde(default)]
    number: Option<u64>,
    #[serde(borrow)]
    pull_request: PullPayload<'a>,
    #[serde(borrow)]
    repository: RepoPayload<'a>,
    #[serde(default, borrow)]
    sender: Option<UserPayload<'a>>,
}

#[derive(Debug, Deserialize)]
struct PullPayload<'a> {
    #[serde(default)]
    number: Option<u64>,
    #[serde(default, borrow)]
    title: Option<Text<'a>>,
    #[serde(default, borrow)]
    html_url: Option<Text<'a>>,
    #[serde(borrow)]
    head: BranchPayload<'a>,
    #[serde(borrow)]
    base: BranchPayload<'a>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default, borrow)]
    merge_commit_sha: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct BranchPayload<'a> {
    #[serde(rename = "ref", default, borrow)]
    git_ref: Option<Text<'a>>,
    #[serde(default, borrow)]
    sha: Option<Text<'a>>,
}

fn non_empty(s: Option<Text<'_>>) -> Option<String> {
    s.filter(|s| !s.as_str().is_empty()).map(Text::owned)
}

fn owned(s: Option<Text<'_>>) -> String {
    s.map(Text::owned).unwrap_or_default()
}

fn owned_list(l: Option<Vec<Text<'_>>>) -> Vec<String> {
    l.unwrap_or_default().into_iter().map(Text::owned).collect()
}

fn person(u: Option<UserPayload<'_>>) -> Option<v1::Person> {
    let u = u?;
    let username = non_empty(u.login)
        .or_else(|| non_empty(u.username))
        .unwrap_or_default();
    let name = non_empty(u.full_name)
        .or_else(|| non_empty(u.name))
        .unwrap_or_else(|| username.clone());
    Some(v1::Person {
        name,
        email: owned(u.email),
        username,
    })
}

fn repository(event: &'static str, r: RepoPayload<'_>) -> Result<v1::Repository, PayloadError> {
    let owner_login = r
        .owner
        .and_then(|o| non_empty(o.login).or_else(|| non_empty(o.username)));
    let (owner, name) = match r.full_name.as_ref().filter(|f| !f.as_str().is_empty()) {
        Some(full) => match full.as_str().split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() => (o.to_owned(), n.to_owned()),
            _ => {
                return Err(PayloadError::Invalid {
                    event,
                    message: format!(
                        "repository.full_name {:?} is not \"owner/name\"",
                        full.as_str()
                    ),
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
        clone_url: owned(r.clone_url),
        web_url: owned(r.html_url),
        default_branch: owned(r.default_branch),
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
    if is_zero(p.before.as_str()) && is_zero(p.after.as_str()) {
        // Gitea's "Test Delivery" sends a fake all-zero push; it is neither a push nor a deletion.
        return Ok(Outcome::Ignore("test_delivery"));
    }
    if p.deleted == Some(true) || is_zero(p.after.as_str()) {
        return Ok(Outcome::Ignore(
            if p.git_ref.as_str().starts_with("refs/tags/") {
                "tag_deletion"
            } else {
                "branch_deletion"
            },
        ));
    }
    if !p.git_ref.as_str().starts_with("refs/") {
        return Err(PayloadError::Invalid {
            event: EV,
            message: format!("ref {:?} is not a full ref name", p.git_ref.as_str()),
        });
    }
    if !is_sha(p.after.as_str()) {
        return Err(PayloadError::Invalid {
            event: EV,
            message: format!("after {:?} is not a commit id", p.after.as_str()),
        });
    }
    let repository = repository(EV, p.repository)?;
    let mut commits: Vec<v1::Commit> = p
        .commits
        .unwrap_or_default()
        .into_iter()
        .map(|c| v1::Commit {
            time: timestamp(c.timestamp.as_ref().map(Text::as_str)),
            sha: c.id.owned(),
            message: c.message.owned(),
            author: person(c.author),
            added: owned_list(c.added),
            modified: owned_list(c.modified),
            removed: owned_list(c.removed),
            url: owned(c.url),
        })
        .collect();
    if provider == Provider::Gitea {
        // Gitea lists pushed commits newest first (go-gitea/gitea#21252); GitHub oldest first.
        commits.reverse();
    }
    let created = p.created.unwrap_or_else(|| is_zero(p.before.as_str()));
    Ok(Outcome::Publish(Box::new(v1::Event {
        id: event_id(provider, delivery),
        provider: provider as i32,
        delivery_id: delivery.to_owned(),
        kind: EventKind::Push as i32,
        received_at: None,
        repository: Some(repository),
        r#ref: p.git_ref.owned(),
        before: p.before.owned(),
        after: p.after.owned(),
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
    let base_sha = owned(p.pull_request.base.sha);
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
            title: owned(p.pull_request.title),
            web_url: owned(p.pull_request.html_url),
            head_sha,
            head_ref,
            base_ref,
            merged,
            merge_commit_sha,
            base_sha,
            action: p.action.owned(),
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
    struct Claim<'a> {
        #[serde(borrow)]
        repository: Option<ClaimRepo<'a>>,
    }
    #[derive(Deserialize)]
    struct ClaimRepo<'a> {
        #[serde(borrow)]
        full_name: Option<Text<'a>>,
    }
    serde_json::from_slice::<Claim<'_>>(json)
        .ok()?
        .repository?
        .full_name
        .map(Text::owned)
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
