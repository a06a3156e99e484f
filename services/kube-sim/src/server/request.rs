//! One request, read whole (bodies are small; the real server caps them at 3 MiB too): its path,
//! query, body in JSON, YAML or protobuf, and the representation its Accept header negotiates.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{Method, StatusCode};
use serde_json::Value;

use crate::proto;
use crate::status::ApiError;

/// A representation of an object the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repr {
    Json,
    Yaml,
    Protobuf,
    /// `as=Table` (JSON): what kubectl's printers ask for.
    Table,
}

/// The request.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    accept: Vec<Repr>,
    /// Only discovery documents were asked for, in the aggregated form.
    aggregated: bool,
    pub content_type: String,
    user_agent: String,
    pub body: Bytes,
}

/// Parses an Accept header into the representations it names, in its order.
fn negotiate(accept: &str) -> (Vec<Repr>, bool) {
    if accept.trim().is_empty() {
        return (vec![Repr::Json], false);
    }
    let mut out = Vec::new();
    let mut aggregated = false;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let ty = parts.next().unwrap_or_default().to_ascii_lowercase();
        let params: Vec<(String, String)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        match (ty.as_str(), param("as"), param("g")) {
            ("application/json", Some("Table"), Some("meta.k8s.io")) => out.push(Repr::Table),
            ("application/json", Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io")) => {
                aggregated = aggregated || out.is_empty();
            }
            // A Table has no protobuf form; a real server skips such ranges.
            (_, Some(_), _) => {}
            ("application/json" | "application/*" | "*/*", None, _) => out.push(Repr::Json),
            ("application/yaml", None, _) => out.push(Repr::Yaml),
            (t, None, _) if t == proto::MEDIA_TYPE => out.push(Repr::Protobuf),
            _ => {}
        }
    }
    (out, aggregated)
}

impl Req {
    /// Reads the request; the only failure is a body over the size limit.
    pub async fn read(req: Request) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 3 * 1024 * 1024)
            .await
            .map_err(|_| ApiError::too_large())?;
        let header = |h| {
            parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let segs = parts
            .uri
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let query =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
        let (accept, aggregated) = negotiate(&header(ACCEPT));
        Ok(Req {
            method: parts.method,
            path: parts.uri.to_string(),
            segs,
            query,
            accept,
            aggregated,
            content_type: header(CONTENT_TYPE),
            user_agent: header(USER_AGENT),
            body,
        })
    }

    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.q("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dryRun value: {other:?}: supported values: \"All\""
            ))),
        }
    }

    /// The field manager, from the query or else from the User-Agent as the real server derives
    /// it (`kubectl/v1.37.1 (linux/amd64) ...` becomes `kubectl`).
    pub fn manager(&self) -> String {
        match self.q("fieldManager") {
            Some(m) if !m.is_empty() => m.to_string(),
            _ => {
                let ua = self.user_agent.split('/').next().unwrap_or_default();
                ua.chars().take(128).collect()
            }
        }
    }

    /// The first acceptable representation is a Table.
    pub fn wants_table(&self) -> bool {
        self.accept.first() == Some(&Repr::Table)
    }

    pub fn wants_aggregated(&self) -> bool {
        self.aggregated
    }

    /// The first acceptable representation of a watch stream.
    pub fn watch_repr(&self) -> Repr {
        match self.accept.first() {
            Some(Repr::Protobuf) => Repr::Protobuf,
            _ => Repr::Json,
        }
    }

    pub fn is_protobuf(&self) -> bool {
        media_type(&self.content_type) == proto::MEDIA_TYPE
    }

    /// The body as a JSON value, from JSON, YAML or Kubernetes protobuf.
    pub fn parse_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("the body of the request was empty"));
        }
        if self.is_protobuf() {
            return proto::decode(&self.body).map_err(|e| ApiError::bad_request(e.to_string()));
        }
        let text = std::str::from_utf8(&self.body)
            .map_err(|_| ApiError::bad_request("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"))?;
        match serde_json::from_str::<Value>(text) {
            Ok(v) => Ok(v),
            Err(json_err) => {
                let trimmed = text.trim_start();
                if trimmed.starts_with('{') || trimmed.starts_with('[') {
                    return Err(ApiError::bad_request(format!(
                        "json parse error: {json_err}"
                    )));
                }
                serde_saphyr::from_str::<Value>(text).map_err(|e| {
                    ApiError::bad_request(format!("error converting YAML to JSON: {e}"))
                })
            }
        }
    }

    /// Encodes an API object (or Status) in the first representation the client accepts that the
    /// object has; 406 when there is none, as on a real server.
    pub fn respond(&self, code: StatusCode, v: &Value) -> Response {
        for repr in &self.accept {
            match repr {
                Repr::Json | Repr::Table => return body(code, "application/json", json_bytes(v)),
                Repr::Yaml => {
                    if let Ok(text) = serde_saphyr::to_string(v) {
                        return body(code, "application/yaml", text.into_bytes());
                    }
                }
                Repr::Protobuf => {
                    if let Some(bytes) = proto::encode(v) {
                        return body(code, proto::MEDIA_TYPE, bytes);
                    }
                }
            }
        }
        let e = ApiError::not_acceptable();
        body(
            e.status_code(),
            "application/json",
            json_bytes(&e.to_status()),
        )
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn body(code: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Response {
    (code, [(CONTENT_TYPE, content_type)], Body::from(bytes)).into_response()
}

/// The media type without parameters, lowercased.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_kubectl_sends() {
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf,application/json").0,
            [Repr::Protobuf, Repr::Json]
        );
        assert_eq!(
            negotiate("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json").0,
            [Repr::Table, Repr::Table, Repr::Json]
        );
        assert_eq!(
            negotiate(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json"
            )
            .0,
            [Repr::Json]
        );
        let (_, aggregated) = negotiate(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        );
        assert!(aggregated);
        assert_eq!(negotiate("").0, [Repr::Json]);
        assert!(negotiate("text/html").0.is_empty());
    }
}
