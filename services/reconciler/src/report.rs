//! Commit statuses (contract section 6) on GitHub and Gitea, retried with backoff that honours
//! `Retry-After` and the `x-ratelimit-*` headers. A status that cannot be posted within the
//! budget is an error the caller turns into a nak, so it is never silently dropped.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::config::{Forge, ForgeKind};
use crate::metrics::{Metrics, PostOutcome};
use gantry_proto::v1::{Outcome, Phase};

use crate::error::Stop;
use crate::reconcile::{Reconciler, Run};
use crate::state::{AttemptOutcome, EnvState, Reported};
use crate::verify::Checked;

/// GitHub's limit on a description.
pub const DESCRIPTION_MAX: usize = 140;

/// Why a status was not posted.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The host kept failing (5xx, rate limits, unreachable) for the whole budget; retry later.
    #[error("posting the {context} status to {forge} kept failing")]
    Unavailable {
        /// The forge's name.
        forge: String,
        /// The status context.
        context: String,
        /// The last failure.
        #[source]
        last: PostFailure,
        /// When the host said to come back, if it did.
        retry_after: Option<Duration>,
    },
    /// The host refused the request for good (401, 404, 422): retrying cannot help.
    #[error("{forge} refused the {context} status: HTTP {code}: {body}")]
    Rejected {
        /// The forge's name.
        forge: String,
        /// The status context.
        context: String,
        /// The HTTP status.
        code: u16,
        /// The start of the response body.
        body: String,
    },
}

/// Why one request to the host failed in a way worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum PostFailure {
    /// The host answered a status worth retrying (5xx, 408, 429, a rate limit).
    #[error("HTTP {0}")]
    Status(u16),
    /// The request got no answer (connection, TLS, timeout).
    #[error("the request failed")]
    Request(#[source] reqwest::Error),
    /// The GitHub App's installation token could not be had.
    #[error("no installation token")]
    Token(#[source] gantry_forge_auth::Error),
}

/// The four states Gantry posts (and keeps, as the applied revision's outcome, in `gantry-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Work started.
    Pending,
    /// Deployed and healthy.
    Success,
    /// The rollout or health check failed.
    Failure,
    /// The revision could not be fetched, rendered or applied.
    Error,
}

impl State {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
        }
    }
}

/// One status to post.
#[derive(Debug, Clone)]
pub struct CommitStatus {
    /// The state.
    pub state: State,
    /// What happened; cut to 140 characters when posted.
    pub description: String,
    /// `gantry/<app>/<env>`.
    pub context: String,
    /// A link for details.
    pub target_url: Option<String>,
}

/// `gantry/<app>/<environment>`: the commit-status context of an environment (contract
/// section 6); the one place it is spelled.
pub fn status_context(app: &str, environment: &str) -> String {
    format!("gantry/{app}/{environment}")
}

/// The app and environment of a context `status_context` built; `None` for the repository-wide
/// context `gantry`.
pub fn context_parts(context: &str) -> Option<(&str, &str)> {
    context.strip_prefix("gantry/")?.split_once('/')
}

/// Cuts `s` to at most `max` characters at a word boundary, ending with `…` when cut, so that a
/// reader never meets half a word (`pod pay`). A single word longer than the room is cut inside.
pub fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_owned();
    }
    // One character is the ellipsis.
    let room = max.saturating_sub(1);
    let cut: String = s.chars().take(room).collect();
    let at_boundary = s.chars().nth(room).is_some_and(char::is_whitespace);
    let words = if at_boundary {
        cut.as_str()
    } else {
        match cut.rfind(char::is_whitespace) {
            Some(i) if !cut[..i].trim().is_empty() => &cut[..i],
            _ => cut.as_str(),
        }
    };
    // `deployed …` reads better than `deployed, …` or `in 4.2s: …`.
    let words = words.trim_end_matches(|c: char| c.is_whitespace() || ",;:".contains(c));
    format!("{words}\u{2026}")
}

/// Posts statuses.
#[derive(Debug, Clone)]
pub struct Reporter {
    http: reqwest::Client,
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter {
    /// A reporter with its own HTTP client (rustls with ring's provider).
    pub fn new() -> Reporter {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("gantry-reconciler/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Reporter { http }
    }

    /// Posts `status` on `sha` of `full_name`, retrying for up to `budget`: one `status` span,
    /// whose `attempts` field counts the requests made.
    pub async fn post(
        &self,
        metrics: &Metrics,
        forge: &Forge,
        full_name: &str,
        sha: &str,
        status: &CommitStatus,
        budget: Duration,
    ) -> Result<(), ReportError> {
        let span = tracing::info_span!(
            "status",
            otel.name = "POST commit status",
            otel.kind = "client",
            forge = %forge.name,
            context = %status.context,
            sha,
            state = status.state.as_str(),
            attempts = tracing::field::Empty,
        );
        tracing::Instrument::instrument(
            self.send(metrics, forge, full_name, sha, status, budget),
            span,
        )
        .await
    }

    /// The newest status of `context` on `sha` as the host shows it, read with one request and
    /// no retries: `None` when the newest page of the commit's statuses has none of `context`.
    /// Both hosts list newest first; the highest `id` is taken all the same.
    pub async fn shown(
        &self,
        forge: &Forge,
        full_name: &str,
        sha: &str,
        context: &str,
    ) -> Result<Option<Shown>, PostFailure> {
        let url = match forge.kind {
            ForgeKind::Github => format!(
                "{}/repos/{full_name}/commits/{sha}/statuses?per_page=100",
                forge.api_url
            ),
            ForgeKind::Gitea => format!(
                "{}/api/v1/repos/{full_name}/commits/{sha}/statuses?limit=50",
                forge.api_url
            ),
        };
        let token = match &forge.app {
            None => forge.token.clone(),
            Some(app) => app.token().await.map_err(PostFailure::Token)?,
        };
        let req = with_host_headers(self.http.get(&url), forge.kind, &token);
        let resp = req.send().await.map_err(PostFailure::Request)?;
        let code = resp.status().as_u16();
        if !resp.status().is_success() {
            return Err(PostFailure::Status(code));
        }
        let items: Vec<serde_json::Value> = resp.json().await.map_err(PostFailure::Request)?;
        Ok(newest(&items, context))
    }

    async fn send(
        &self,
        metrics: &Metrics,
        forge: &Forge,
        full_name: &str,
        sha: &str,
        status: &CommitStatus,
        budget: Duration,
    ) -> Result<(), ReportError> {
        let url = match forge.kind {
            ForgeKind::Github => format!("{}/repos/{full_name}/statuses/{sha}", forge.api_url),
            ForgeKind::Gitea => {
                format!("{}/api/v1/repos/{full_name}/statuses/{sha}", forge.api_url)
            }
        };
        let mut body = json!({
            "state": status.state.as_str(),
            "description": truncate(&status.description, DESCRIPTION_MAX),
            "context": status.context,
        });
        if let Some(u) = &status.target_url {
            body["target_url"] = json!(u);
        }
        let deadline = Instant::now() + budget;
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            tracing::Span::current().record("attempts", i64::from(attempt));
            let token = match &forge.app {
                None => forge.token.clone(),
                Some(app) => match app.token().await {
                    Ok(t) => t,
                    Err(e) if e.is_transient() => {
                        let wait = backoff(attempt);
                        if Instant::now() + wait > deadline {
                            metrics.status_post(forge.kind.as_str(), PostOutcome::Failed);
                            return Err(ReportError::Unavailable {
                                forge: forge.name.clone(),
                                context: status.context.clone(),
                                last: PostFailure::Token(e),
                                retry_after: Some(wait),
                            });
                        }
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    Err(e) => {
                        metrics.status_post(forge.kind.as_str(), PostOutcome::Rejected);
                        return Err(ReportError::Rejected {
                            forge: forge.name.clone(),
                            context: status.context.clone(),
                            code: match &e {
                                gantry_forge_auth::Error::Rejected { code, .. } => *code,
                                _ => 401,
                            },
                            body: truncate(&crate::error::chain(&e), 200),
                        });
                    }
                },
            };
            let req = with_host_headers(self.http.post(&url), forge.kind, &token).json(&body);
            let (wait, last) = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    metrics.status_post(forge.kind.as_str(), PostOutcome::Success);
                    return Ok(());
                }
                // An installation token the host no longer takes (expired, revoked): get a new
                // one and try again at once, once.
                Ok(resp) if resp.status().as_u16() == 401 && !refreshed && forge.app.is_some() => {
                    if let Some(app) = &forge.app {
                        app.invalidate(&token).await;
                    }
                    refreshed = true;
                    attempt -= 1;
                    continue;
                }
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let text = resp.text().await.unwrap_or_default();
                    match classify(code, &headers, &text, attempt) {
                        Verdict::Retry(wait) => (wait, PostFailure::Status(code)),
                        Verdict::Reject => {
                            metrics.status_post(forge.kind.as_str(), PostOutcome::Rejected);
                            return Err(ReportError::Rejected {
                                forge: forge.name.clone(),
                                context: status.context.clone(),
                                code,
                                body: truncate(&text, 200),
                            });
                        }
                    }
                }
                Err(e) => (backoff(attempt), PostFailure::Request(e)),
            };
            metrics.status_post(forge.kind.as_str(), PostOutcome::Retried);
            let now = Instant::now();
            if now + wait > deadline {
                metrics.status_post(forge.kind.as_str(), PostOutcome::Failed);
                return Err(ReportError::Unavailable {
                    forge: forge.name.clone(),
                    context: status.context.clone(),
                    last,
                    retry_after: Some(wait),
                });
            }
            tracing::debug!(%url, attempt, wait_ms = wait.as_millis() as u64, last = %crate::error::chain(&last), "retrying a commit status");
            tokio::time::sleep(wait).await;
        }
    }
}

/// A status as the host shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// GitHub's `state`, Gitea's `status` (which may also be `warning`).
    pub state: String,
    /// The description as stored (empty when none).
    pub description: String,
}

impl Shown {
    /// Whether this is what posting `state` with `description` would show.
    pub fn says(&self, state: State, description: &str) -> bool {
        self.state == state.as_str() && self.description == truncate(description, DESCRIPTION_MAX)
    }
}

/// The newest (highest `id`) of `context` among a commit's listed statuses, in either host's
/// spelling.
fn newest(items: &[serde_json::Value], context: &str) -> Option<Shown> {
    items
        .iter()
        .filter(|s| s["context"].as_str() == Some(context))
        .max_by_key(|s| s["id"].as_u64().unwrap_or(0))
        .map(|s| Shown {
            state: s["state"]
                .as_str()
                .or_else(|| s["status"].as_str())
                .unwrap_or_default()
                .to_owned(),
            description: s["description"].as_str().unwrap_or_default().to_owned(),
        })
}

/// The token as each host takes it, and the media type and API version GitHub asks for.
fn with_host_headers(
    req: reqwest::RequestBuilder,
    kind: ForgeKind,
    token: &str,
) -> reqwest::RequestBuilder {
    let req = req.header("accept", "application/json");
    match kind {
        ForgeKind::Github => req
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28"),
        ForgeKind::Gitea => req.header("authorization", format!("token {token}")),
    }
}

enum Verdict {
    Retry(Duration),
    Reject,
}

/// Exponential backoff from 250 ms, capped at 10 s, with up to 25 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250) * 2u32.saturating_pow(attempt.saturating_sub(1).min(6));
    let base = base.min(Duration::from_secs(10));
    let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
    base + base * jitter / 4000
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = header(h, "retry-after")?;
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// GitHub's primary limit: `x-ratelimit-remaining: 0` and a reset time in Unix seconds.
fn ratelimit_reset(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    if header(h, "x-ratelimit-remaining")? != "0" {
        return None;
    }
    let reset: i64 = header(h, "x-ratelimit-reset")?.parse().ok()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Some(Duration::from_secs((reset - now).max(1) as u64))
}

/// GitHub's documented handling: Retry-After first, then the primary reset, then at least a
/// minute for a secondary limit; 5xx with backoff; other client errors are final.
fn classify(code: u16, h: &reqwest::header::HeaderMap, body: &str, attempt: u32) -> Verdict {
    match code {
        429 => Verdict::Retry(
            retry_after(h)
                .or_else(|| ratelimit_reset(h))
                .unwrap_or_else(|| backoff(attempt)),
        ),
        403 => {
            if let Some(d) = retry_after(h) {
                Verdict::Retry(d)
            } else if let Some(d) = ratelimit_reset(h) {
                Verdict::Retry(d)
            } else if body.to_ascii_lowercase().contains("rate limit") {
                Verdict::Retry(Duration::from_secs(60))
            } else {
                Verdict::Reject
            }
        }
        408 | 500..=599 => Verdict::Retry(retry_after(h).unwrap_or_else(|| backoff(attempt))),
        _ => Verdict::Reject,
    }
}

impl Reconciler {
    /// Report: stores the outcome with the applied record, posts it on every status commit,
    /// and remembers that this event posted it.
    pub(crate) async fn report_phase(
        &self,
        run: &Run<'_>,
        mut state: EnvState,
        checked: Checked,
    ) -> Result<(), Stop> {
        let (job, env) = (run.job, run.env);
        let Checked {
            state: final_state,
            description,
        } = checked;
        state.reported = Some(Reported {
            state: final_state,
            description: description.clone(),
            posted_by: String::new(),
        });
        let outcome = if final_state == State::Success {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::Failure
        };
        state.last_attempt = Some(job.attempt(Phase::Verify, outcome, &description));
        self.state
            .put(&run.key, &state)
            .await
            .map_err(|e| run.transient(e))?;
        self.post(job, &run.context, final_state, &description)
            .await
            .map_err(|e| run.transient(e))?;
        // Remember that this event posted it. Should this write fail, a redelivery posts the
        // status once more, which is the lesser harm than never posting it.
        if let Some(rep) = state.reported.as_mut() {
            rep.posted_by = job.event_id.clone();
            if let Err(e) = self.state.put(&run.key, &state).await {
                tracing::warn!(error = %crate::error::chain(&e), "recording the posted status failed");
            }
        }
        self.audit(
            job,
            run.entry(
                Phase::Report,
                Outcome::Succeeded,
                format!("posted {} on {}", final_state.as_str(), job.shas.join(", ")),
            ),
        )
        .await?;
        let metric = if final_state == State::Success {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::Failure
        };
        self.metrics.reconciled(&env.app, &env.name, metric);
        tracing::info!(event = %job.event_id, app = %env.app, env = %env.name, revision = %run.rev, state = final_state.as_str(), %description, "reconciled");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn the_newest_status_of_a_context_in_either_spelling() {
        let items = vec![
            json!({"id": 7, "state": "success", "description": "deployed", "context": "gantry/web/dev"}),
            json!({"id": 9, "state": "failure", "description": null, "context": "gantry/api/dev"}),
            json!({"id": 5, "state": "pending", "description": "deploying", "context": "gantry/web/dev"}),
        ];
        let shown = newest(&items, "gantry/web/dev").expect("listed");
        assert!(shown.says(State::Success, "deployed"));
        assert!(!shown.says(State::Failure, "deployed"));
        assert!(!shown.says(State::Success, "deployed again"));
        let api = newest(&items, "gantry/api/dev").expect("listed");
        assert_eq!(
            (api.state.as_str(), api.description.as_str()),
            ("failure", "")
        );
        assert_eq!(newest(&items, "gantry/web/prod"), None);
        // Gitea spells the state `status`.
        let gitea = vec![json!({"id": 1, "status": "error", "description": "x", "context": "c"})];
        assert!(newest(&gitea, "c").expect("listed").says(State::Error, "x"));
        // A description longer than the host keeps is compared as it was cut.
        let long = "word ".repeat(60);
        let cut = vec![
            json!({"id": 1, "state": "success", "description": truncate(&long, DESCRIPTION_MAX), "context": "c"}),
        ];
        assert!(
            newest(&cut, "c")
                .expect("listed")
                .says(State::Success, &long)
        );
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("short", 140), "short");
        // One word longer than the room is cut inside it, still within the limit.
        let long = "é".repeat(200);
        let t = truncate(&long, 140);
        assert_eq!(t.chars().count(), 140);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn truncates_at_a_word_boundary() {
        let d = "rollout failed: pod payments-7d9f8c6b5-x2x4z is CrashLoopBackOff (back-off 10s \
                 restarting failed container payments in pod payments-7d9f8c6b5-x2x4z_payments-dev)";
        assert!(d.chars().count() > 140);
        let t = truncate(d, 140);
        assert!(t.chars().count() <= 140, "{t}");
        let kept = t
            .strip_suffix('…')
            .unwrap_or_else(|| panic!("no ellipsis: {t}"));
        assert!(d.starts_with(kept), "{t}");
        assert!(
            d[kept.len()..].starts_with(char::is_whitespace),
            "cut inside a word: {t}"
        );
        assert_eq!(
            truncate("deployed 3f2a1c9 in 4.2s: twelve objects applied", 30),
            "deployed 3f2a1c9 in 4.2s…"
        );
        // Exactly at a boundary: the whole word before it stays.
        assert_eq!(truncate("aaaa bbbb cccc", 10), "aaaa bbbb…");
    }

    #[test]
    fn one_context_per_environment() {
        assert_eq!(status_context("payments", "dev"), "gantry/payments/dev");
    }

    #[test]
    fn classifies_rate_limits() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert!(
            matches!(classify(429, &h, "", 1), Verdict::Retry(d) if d == Duration::from_secs(3))
        );
        assert!(
            matches!(classify(403, &h, "secondary rate limit", 1), Verdict::Retry(d) if d == Duration::from_secs(3))
        );
        let mut h = HeaderMap::new();
        let reset = time::OffsetDateTime::now_utc().unix_timestamp() + 5;
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        assert!(
            matches!(classify(403, &h, "", 1), Verdict::Retry(d) if d <= Duration::from_secs(5) && d >= Duration::from_secs(4))
        );
        let empty = HeaderMap::new();
        assert!(
            matches!(classify(403, &empty, "You have exceeded a secondary rate limit", 1), Verdict::Retry(d) if d == Duration::from_secs(60))
        );
        assert!(matches!(
            classify(403, &empty, "Resource not accessible", 1),
            Verdict::Reject
        ));
        assert!(matches!(classify(422, &empty, "", 1), Verdict::Reject));
        assert!(matches!(classify(502, &empty, "", 1), Verdict::Retry(_)));
    }
}
