//! What the API keeps current while it serves: the RBAC rules and the repositories' apps (read
//! at start, at the refresh interval, and at once when `GANTRY_EVENTS` says their repository was
//! pushed), and the index of the audit stream.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use tokio::task::JoinHandle;

use crate::config::RbacSource;
use crate::server::AppState;

/// Starts the background tasks; abort them at shutdown.
pub fn start(s: Arc<AppState>) -> Vec<JoinHandle<()>> {
    let (kick, kicked) = tokio::sync::mpsc::channel::<String>(64);
    let mut tasks = vec![tokio::spawn(crate::audit::follow(
        s.js.clone(),
        s.audit.clone(),
        s.config.nats_replicas,
    ))];
    tasks.push(tokio::spawn(refresh_loop(s.clone(), kicked)));
    tasks.push(tokio::spawn(follow_pushes(s.clone(), kick)));
    tasks
}

/// Re-reads everything at start and every interval, and one repository when kicked.
async fn refresh_loop(s: Arc<AppState>, mut kicked: tokio::sync::mpsc::Receiver<String>) {
    load_rules(&s).await;
    s.catalog.refresh_all().await;
    let mut tick = tokio::time::interval(s.config.refresh_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                load_rules(&s).await;
                s.catalog.refresh_all().await;
            }
            Some(repo) = kicked.recv() => {
                if let RbacSource::Git { repository, .. } = &s.config.rbac
                    && repository.eq_ignore_ascii_case(&repo)
                {
                    load_rules(&s).await;
                }
                if s.catalog.repository(&repo).is_some()
                    && let Err(e) = s.catalog.refresh_repo(&repo).await
                {
                    tracing::warn!(repository = %repo, error = %e, "cannot re-read the pushed repository");
                }
            }
        }
    }
}

/// Reads the rule file from its source.
pub async fn load_rules(s: &AppState) {
    match &s.config.rbac {
        RbacSource::None => s.rules.offer("(no rules configured)", b""),
        RbacSource::File(p) => match tokio::fs::read(p).await {
            Ok(text) => s.rules.offer(&format!("file:{}", p.display()), &text),
            Err(e) => s.rules.failed(format!("cannot read {}: {e}", p.display())),
        },
        RbacSource::Git {
            repository,
            branch,
            path,
        } => {
            let heads = match s.catalog.refresh_repo(repository).await {
                Ok(h) => h,
                Err(e) => return s.rules.failed(e),
            };
            let Some(head) = heads.get(branch).copied() else {
                return s
                    .rules
                    .failed(format!("{repository} has no branch {branch}"));
            };
            let mirror = match s.catalog.mirror(repository) {
                Ok(m) => m,
                Err(e) => return s.rules.failed(gantry_telemetry::error_chain(&e)),
            };
            let p = path.clone();
            let read = tokio::task::spawn_blocking(move || mirror.file(head, &p)).await;
            let origin = format!("{repository}@{head}:{path}");
            match read {
                Ok(Ok(Some(text))) => s.rules.offer(&origin, &text),
                Ok(Ok(None)) => s.rules.failed(format!("{origin} does not exist")),
                Ok(Err(e)) => s.rules.failed(gantry_telemetry::error_chain(&e)),
                Err(e) => s.rules.failed(e.to_string()),
            }
        }
    }
}

/// Follows new pushes on `GANTRY_EVENTS` and kicks the refresh of the pushed repository.
async fn follow_pushes(s: Arc<AppState>, kick: tokio::sync::mpsc::Sender<String>) {
    let mut delay = Duration::from_millis(200);
    loop {
        if let Err(e) = follow_once(&s.js, &kick, s.config.nats_replicas).await {
            tracing::debug!(error = %e, "following GANTRY_EVENTS; retrying");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn follow_once(
    js: &jetstream::Context,
    kick: &tokio::sync::mpsc::Sender<String>,
    replicas: usize,
) -> Result<(), String> {
    gantry_nats::ensure_stream(
        js,
        &gantry_nats::events_stream_config(replicas),
        gantry_nats::EVENTS_STREAM,
    )
    .await
    .map_err(|e| e.to_string())?;
    let stream = js
        .get_stream(gantry_nats::EVENTS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = c.messages().await.map_err(|e| e.to_string())?;
    while let Some(m) = messages.next().await {
        let m = m.map_err(|e| e.to_string())?;
        if let Some(repo) = pushed_repository(m.subject.as_str()) {
            let _ = kick.send(repo).await;
        }
    }
    Ok(())
}

/// `owner/name` of a push or merge event's subject.
pub fn pushed_repository(subject: &str) -> Option<String> {
    let t: Vec<&str> = subject.split('.').collect();
    if t.len() != 6 || t[0] != "gantry" || t[1] != "events" {
        return None;
    }
    if !matches!(t[5], "push" | "pr_merged") {
        return None;
    }
    let owner = gantry_nats::unescape_token(t[3])?;
    let name = gantry_nats::unescape_token(t[4])?;
    Some(format!("{owner}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(
            pushed_repository("gantry.events.gitea.acme.my%2Erbac.push").as_deref(),
            Some("acme/my.rbac")
        );
        assert_eq!(pushed_repository("gantry.events.api.acme.x.sync"), None);
    }
}
