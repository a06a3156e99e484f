//! The commit-status endpoints of both dialects: routing, auth, validation, fault injection.

// A ready-made error response is the natural error of a validation step in a handler.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::{Fault, RequestLog, Shared, Status};

/// GitHub refuses a longer description.
pub const GITHUB_DESCRIPTION_MAX: usize = 140;

const GITHUB_STATES: [&str; 4] = ["error", "failure", "pending", "success"];
/// `CommitStatusState` of Gitea's `modules/structs/commit_status.go`.
const GITEA_STATES: [&str; 5] = ["pending", "success", "error", "failure", "warning"];
const GITHUB_DOCS: &str = "https://docs.github.com/rest/commits/statuses#create-a-commit-status";
const SECONDARY_LIMIT_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Github,
    Gitea,
}

enum Route {
    Create {
        dialect: Dialect,
        repo: String,
        sha: String,
    },
    List {
        dialect: Dialect,
        repo: String,
        sha: String,
    },
}

/// Routes `/repos/{o}/{r}/statuses/{sha}` (create; GitHub's legacy list with GET),
/// `/repos/{o}/{r}/commits/{ref}/statuses` (list), the same under `/api/v1` for Gitea.
fn route(method: &Method, path: &str) -> Option<Route> {
    let (dialect, rest) = match path.strip_prefix("/api/v1") {
        Some(rest) => (Dialect::Gitea, rest),
        None => (Dialect::Github, path),
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["repos", owner, repo, "statuses", sha] if !sha.is_empty() => {
            let repo = format!("{owner}/{repo}").to_ascii_lowercase();
            let sha = sha.to_ascii_lowercase();
            if *method == Method::POST {
                Some(Route::Create { dialect, repo, sha })
            } else if *method == Method::GET {
                Some(Route::List { dialect, repo, sha })
            } else {
                None
            }
        }
        ["repos", owner, repo, "commits", sha, "statuses"] if *method == Method::GET => {
            Some(Route::List {
                dialect,
                repo: format!("{owner}/{repo}").to_ascii_lowercase(),
                sha: sha.to_ascii_lowercase(),
            })
        }
        _ => None,
    }
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20).await;
    let resp = answer(&shared, &method, &path, &headers, body.ok());
    shared.lock().log.push(RequestLog {
        method: method.to_string(),
        path,
        status: resp.status().as_u16(),
    });
    resp
}

fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: Option<bytes::Bytes>,
) -> Response {
    let Some(route) = route(method, path) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        );
    };
    let dialect = match &route {
        Route::Create { dialect, .. } | Route::List { dialect, .. } => *dialect,
    };
    let fault = shared.lock().faults.pop_front();
    if let Some(f) = fault {
        return fault_response(f);
    }
    // Reading a public repository's statuses needs no token on either host; a token that is
    // sent must still be valid. Creating always needs one.
    let anonymous_read =
        matches!(route, Route::List { .. }) && !headers.contains_key("authorization");
    if !anonymous_read && let Err(resp) = check_auth(&shared.tokens, dialect, headers) {
        return resp;
    }
    match route {
        Route::List { dialect, repo, sha } => {
            let inner = shared.lock();
            let list = inner
                .statuses
                .get(&(repo.clone(), sha.clone()))
                .cloned()
                .unwrap_or_default();
            // Both APIs list newest first.
            let items: Vec<Value> = list
                .iter()
                .rev()
                .map(|s| render(dialect, &repo, &sha, s))
                .collect();
            json_response(StatusCode::OK, Value::Array(items))
        }
        Route::Create { dialect, repo, sha } => {
            let body = body.unwrap_or_default();
            let parsed = match dialect {
                Dialect::Github => validate_github(&sha, &body),
                Dialect::Gitea => validate_gitea(&sha, &body),
            };
            let (state, description, target_url, context) = match parsed {
                Ok(v) => v,
                Err(resp) => return resp,
            };
            let mut inner = shared.lock();
            inner.next_id += 1;
            let status = Status {
                id: inner.next_id,
                state,
                description,
                target_url,
                context,
                created_at: now_rfc3339(),
                api: match dialect {
                    Dialect::Github => "github",
                    Dialect::Gitea => "gitea",
                },
            };
            let rendered = render(dialect, &repo, &sha, &status);
            inner.statuses.entry((repo, sha)).or_default().push(status);
            json_response(StatusCode::CREATED, rendered)
        }
    }
}

fn fault_response(f: Fault) -> Response {
    match f {
        Fault::Status(code) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut r = Response::new(Body::from(format!(
                "<html><body><h1>{code}</h1></body></html>\n"
            )));
            *r.status_mut() = code;
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("text/html"));
            r
        }
        Fault::TooManyRequests { retry_after } => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "Too Many Requests"}),
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            r
        }
        Fault::SecondaryRateLimit { retry_after } => {
            let mut r = json_response(
                StatusCode::FORBIDDEN,
                json!({"message": SECONDARY_LIMIT_MESSAGE, "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}),
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            r
        }
        Fault::PrimaryRateLimit { reset_after } => {
            let reset = time::OffsetDateTime::now_utc().unix_timestamp() as u64 + reset_after;
            let mut r = json_response(
                StatusCode::FORBIDDEN,
                json!({"message": "API rate limit exceeded for installation.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}),
            );
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(5000u64));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u64));
            h.insert("x-ratelimit-used", HeaderValue::from(5000u64));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
            h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
            r
        }
    }
}

/// GitHub takes `Bearer` and `token`; Gitea takes `token` and `Bearer` too (and basic auth,
/// which Gantry never sends and this emulator refuses).
fn check_auth(
    tokens: &crate::app::Tokens,
    dialect: Dialect,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let unauthorized = |message: &str| match dialect {
        Dialect::Github => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        ),
        Dialect::Gitea => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": message, "url": "https://docs.gitea.com/api"}),
        ),
    };
    let Some(raw) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(match dialect {
            Dialect::Github => "Requires authentication",
            Dialect::Gitea => "token is required",
        }));
    };
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("token "))
        .map(str::trim)
        .unwrap_or("");
    if !tokens.valid(token) {
        return Err(unauthorized("Bad credentials"));
    }
    Ok(())
}

type Parsed = (String, String, String, String);

fn github_invalid(message: &str, field: &str, code: &str) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": message,
            "errors": [{"resource": "Status", "field": field, "code": code}],
            "documentation_url": GITHUB_DOCS,
            "status": "422",
        }),
    )
}

fn is_sha(sha: &str) -> bool {
    (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A string field: absent and `null` read as empty; another type is an error.
fn string_field(obj: &Map<String, Value>, key: &str) -> Result<String, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

fn validate_github(sha: &str, body: &[u8]) -> Result<Parsed, Response> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Err(json_response(
            StatusCode::BAD_REQUEST,
            json!({"message": "Problems parsing JSON", "documentation_url": GITHUB_DOCS, "status": "400"}),
        ));
    };
    let state = match obj.get("state") {
        None | Some(Value::Null) => {
            return Err(github_invalid(
                "Invalid request.\n\n\"state\" wasn't supplied.",
                "state",
                "missing_field",
            ));
        }
        Some(Value::String(s)) if GITHUB_STATES.contains(&s.as_str()) => s.clone(),
        Some(other) => {
            return Err(github_invalid(
                &format!(
                    "Invalid request.\n\n{other} is not a member of [\"error\", \"failure\", \"pending\", \"success\"]."
                ),
                "state",
                "invalid",
            ));
        }
    };
    let mut fields = Vec::new();
    for key in ["description", "target_url", "context"] {
        match string_field(&obj, key) {
            Ok(v) => fields.push(v),
            Err(()) => {
                return Err(github_invalid(
                    &format!("Invalid request.\n\nFor '{key}', the value is not a string or null."),
                    key,
                    "invalid",
                ));
            }
        }
    }
    let context = fields.pop().unwrap_or_default();
    let target_url = fields.pop().unwrap_or_default();
    let description = fields.pop().unwrap_or_default();
    if description.chars().count() > GITHUB_DESCRIPTION_MAX {
        return Err(github_invalid(
            "Validation Failed: description is too long (maximum is 140 characters)",
            "description",
            "custom",
        ));
    }
    if !(target_url.is_empty()
        || target_url.starts_with("http://")
        || target_url.starts_with("https://"))
    {
        return Err(github_invalid(
            "Validation Failed: target_url is not a valid URL",
            "target_url",
            "custom",
        ));
    }
    if !is_sha(sha) {
        return Err(github_invalid(
            &format!("No commit found for SHA: {sha}"),
            "sha",
            "invalid",
        ));
    }
    let context = if context.is_empty() {
        "default".to_owned()
    } else {
        context
    };
    Ok((state, description, target_url, context))
}

fn gitea_error(code: StatusCode, message: &str) -> Response {
    json_response(
        code,
        json!({"message": message, "url": "https://docs.gitea.com/api"}),
    )
}

/// `CreateStatusOption`: every field is an optional string; `state` must be a
/// `CommitStatusState`. Unknown fields are ignored, as Go's JSON binding does.
fn validate_gitea(sha: &str, body: &[u8]) -> Result<Parsed, Response> {
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => {
            return Err(gitea_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "json: cannot unmarshal into Go value of type structs.CreateStatusOption",
            ));
        }
        Err(e) => {
            return Err(gitea_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &e.to_string(),
            ));
        }
    };
    let mut fields = Vec::new();
    for key in ["state", "description", "target_url", "context"] {
        match string_field(&obj, key) {
            Ok(v) => fields.push(v),
            Err(()) => {
                return Err(gitea_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!(
                        "json: cannot unmarshal into Go struct field CreateStatusOption.{key} of type string"
                    ),
                ));
            }
        }
    }
    let context = fields.pop().unwrap_or_default();
    let target_url = fields.pop().unwrap_or_default();
    let description = fields.pop().unwrap_or_default();
    let state = fields.pop().unwrap_or_default();
    if !GITEA_STATES.contains(&state.as_str()) {
        return Err(gitea_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid commit status state: {state:?}"),
        ));
    }
    if !is_sha(sha) {
        return Err(gitea_error(
            StatusCode::NOT_FOUND,
            &format!("object does not exist [id: {sha}, rel_path: ]"),
        ));
    }
    Ok((state, description, target_url, context))
}

fn render(dialect: Dialect, repo: &str, sha: &str, s: &Status) -> Value {
    match dialect {
        Dialect::Github => json!({
            "url": format!("https://api.github.com/repos/{repo}/statuses/{sha}"),
            "id": s.id,
            "node_id": format!("SC_{}", s.id),
            "state": s.state,
            "description": if s.description.is_empty() { Value::Null } else { Value::from(s.description.clone()) },
            "target_url": if s.target_url.is_empty() { Value::Null } else { Value::from(s.target_url.clone()) },
            "context": s.context,
            "created_at": s.created_at,
            "updated_at": s.created_at,
            // GitHub's `nullable-simple-user`, every required field present.
            "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4",
            "creator": {
                "login": "gantry", "id": 1, "node_id": "BOT_1", "type": "Bot", "site_admin": false,
                "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4", "gravatar_id": "",
                "url": "https://api.github.com/users/gantry", "html_url": "https://github.com/gantry",
                "followers_url": "https://api.github.com/users/gantry/followers",
                "following_url": "https://api.github.com/users/gantry/following{/other_user}",
                "gists_url": "https://api.github.com/users/gantry/gists{/gist_id}",
                "starred_url": "https://api.github.com/users/gantry/starred{/owner}{/repo}",
                "subscriptions_url": "https://api.github.com/users/gantry/subscriptions",
                "organizations_url": "https://api.github.com/users/gantry/orgs",
                "repos_url": "https://api.github.com/users/gantry/repos",
                "events_url": "https://api.github.com/users/gantry/events{/privacy}",
                "received_events_url": "https://api.github.com/users/gantry/received_events",
            },
        }),
        Dialect::Gitea => json!({
            "id": s.id,
            "status": s.state,
            "target_url": s.target_url,
            "description": s.description,
            "url": format!("/api/v1/repos/{repo}/statuses/{sha}"),
            "context": s.context,
            "creator": {"id": 1, "login": "gantry", "username": "gantry"},
            "created_at": s.created_at,
            "updated_at": s.created_at,
        }),
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn json_response(code: StatusCode, v: Value) -> Response {
    let mut r = (code, v.to_string()).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}
