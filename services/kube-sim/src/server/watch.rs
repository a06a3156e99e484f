//! Watch streams: synthetic ADDED events or a replay from the event log, then live changes,
//! as newline-delimited JSON or length-delimited protobuf frames.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::request::Repr;
use super::{App, Reply, Req, Target};
use crate::proto;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::EventType;

/// One event in the stream's framing: a JSON line, or a length-delimited protobuf WatchEvent.
/// An object with no protobuf form (a custom resource) goes as JSON, as the stream was negotiated
/// for the resource (custom resources' streams are always JSON).
fn event_frame(repr: Repr, ty: &str, object: &Value) -> Bytes {
    if repr == Repr::Protobuf
        && let Some(frame) = proto::watch_frame(ty, object)
    {
        return Bytes::from(frame);
    }
    let mut line = serde_json::to_vec(&json!({"type": ty, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub(super) fn watch(app: &Arc<App>, t: &Target, req: &Req) -> Result<Reply, ApiError> {
    let ls = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())?;
    let fs = FieldSelector::parse(
        req.q("fieldSelector").unwrap_or_default(),
        &t.rt.group,
        &t.rt.plural,
    )?;
    let timeout = match req.q("timeoutSeconds") {
        Some(s) => Duration::from_secs(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {s:?}")))?,
        ),
        None => Duration::from_secs(1800),
    };
    let initial_events = req.flag("sendInitialEvents");
    let repr = if t.rt.builtin {
        req.watch_repr()
    } else {
        Repr::Json
    };
    let rv_param = req.q("resourceVersion").unwrap_or_default();
    let matches = move |o: &Value| ls.matches(o) && fs.matches(o);
    let mut first: Vec<Bytes> = Vec::new();
    let mut gone = false;
    let cursor = {
        let inner = app.store.lock();
        if rv_param.is_empty() || rv_param == "0" || initial_events {
            // "Get state and start at most recent": synthetic ADDED for what exists now.
            for o in inner
                .list(&t.key(), t.ns.as_deref())
                .iter()
                .filter(|o| matches(o))
            {
                first.push(event_frame(repr, "ADDED", &t.present(o)));
            }
            if initial_events {
                let bookmark = json!({"kind": t.rt.kind, "apiVersion": t.api_version(), "metadata": {
                    "resourceVersion": inner.rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                first.push(event_frame(repr, "BOOKMARK", &bookmark));
            }
            inner.rv
        } else {
            let n: u64 = rv_param.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param:?}"))
            })?;
            if let Err(g) = inner.events_since(n) {
                first.push(gone_frame(repr, n, g.oldest));
                gone = true;
            }
            n
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let app2 = app.clone();
    let key = t.key();
    let ns = t.ns.clone();
    let present = {
        let rt = t.rt.clone();
        let api_version = t.api_version();
        move |o: &Value| {
            let mut o = o.clone();
            o["apiVersion"] = json!(api_version);
            o["kind"] = json!(rt.kind);
            o
        }
    };
    tokio::spawn(async move {
        for line in first {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        if gone {
            return;
        }
        let mut notify = app2.store.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut cursor = cursor;
        loop {
            let batch = app2.store.lock().events_since(cursor);
            let events = match batch {
                Ok(e) => e,
                Err(g) => {
                    let _ = tx.send(gone_frame(repr, cursor, g.oldest)).await;
                    return;
                }
            };
            for e in events {
                cursor = e.rv;
                if e.key != key || ns.as_deref().is_some_and(|n| n != e.namespace) {
                    continue;
                }
                let now_matches = matches(&e.object);
                let ty = match e.ty {
                    EventType::Added if now_matches => "ADDED",
                    EventType::Deleted if now_matches => "DELETED",
                    EventType::Modified => {
                        match (e.old.as_deref().is_some_and(&matches), now_matches) {
                            (true, true) => "MODIFIED",
                            (false, true) => "ADDED",
                            (true, false) => "DELETED",
                            (false, false) => continue,
                        }
                    }
                    _ => continue,
                };
                if tx
                    .send(event_frame(repr, ty, &present(&e.object)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            tokio::select! {
                r = notify.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = app2.cancel.cancelled() => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let content_type = match repr {
        Repr::Protobuf => proto::WATCH_MEDIA_TYPE,
        _ => "application/json",
    };
    Ok(Reply::Raw(
        (
            StatusCode::OK,
            [(CONTENT_TYPE, content_type)],
            Body::from_stream(stream),
        )
            .into_response(),
    ))
}

fn gone_frame(repr: Repr, asked: u64, oldest: u64) -> Bytes {
    let err = ApiError::gone(format!(
        "too old resource version: {asked} ({})",
        oldest.saturating_sub(1)
    ));
    event_frame(repr, "ERROR", &err.to_status())
}
