//! Leases and state in the `gantry-state` bucket of a real nats-server.

use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use gantry_reconciler::state::{EnvKey, EnvState, StateError, StateStore};

#[tokio::test]
async fn one_holder_at_a_time_with_expiry() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let a = StateStore::open(&js, "worker-a", Duration::from_secs(1)).await?;
    let b = StateStore::open(&js, "worker-b", Duration::from_secs(1)).await?;

    let lease = a.acquire(&k("web", "dev"), Duration::ZERO).await?;
    match b
        .acquire(&k("web", "dev"), Duration::from_millis(100))
        .await
    {
        Err(StateError::Held { holder, .. }) => assert_eq!(holder, "worker-a"),
        other => panic!("expected Held, got {other:?}"),
    }
    // Other environments are independent.
    let other = b.acquire(&k("web", "prod"), Duration::ZERO).await?;
    other.release().await;
    // Released: the next worker takes it at once.
    lease.release().await;
    let lease_b = b.acquire(&k("web", "dev"), Duration::ZERO).await?;
    // Renewed while held: it outlives its TTL. Rather than sleeping past the TTL, follow the
    // lease record until a renewal has moved its expiry a whole TTL beyond the first one (so the
    // first expiry has passed); the other worker still cannot take it.
    let keep = lease_b.keep_alive();
    let kv = js.get_key_value(gantry_nats::STATE_BUCKET).await?;
    let key = "acme.platform.web.dev.lease";
    let first = lease_expiry(&kv.get(key).await?.unwrap_or_default())?;
    let mut renewals = kv.watch(key).await?;
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(entry) = renewals.next().await {
            if lease_expiry(&entry?.value)? >= first + 1000 {
                return anyhow::Ok(());
            }
        }
        anyhow::bail!("the watch ended")
    })
    .await??;
    assert!(
        a.acquire(&k("web", "dev"), Duration::from_millis(50))
            .await
            .is_err()
    );
    // A holder that dies stops renewing; the lease expires and another worker takes it (well
    // within the wait: the TTL is 1s).
    drop(keep);
    let _lease_a = a.acquire(&k("web", "dev"), Duration::from_secs(5)).await?;

    let st = EnvState {
        revision: "abc".into(),
        repository: "acme/platform".into(),
        app: "web".into(),
        environment: "dev".into(),
        ..Default::default()
    };
    a.put(&k("web", "dev"), &st).await?;
    assert_eq!(b.get(&k("web", "dev")).await?, Some(st.clone()));
    assert_eq!(b.get(&k("web", "staging")).await?, None);
    Ok(())
}

/// A record deleted or purged with the KV API reads as absent, and one written again reads as
/// written: the reads go to the bucket stream's leader, past the KV API.
#[tokio::test]
async fn deleted_and_purged_records_read_as_absent() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let s = StateStore::open(&js, "w", Duration::from_secs(5)).await?;
    let kv = js.get_key_value(gantry_nats::STATE_BUCKET).await?;
    let key = k("web", "dev");
    let st = |rev: &str| EnvState {
        revision: rev.into(),
        repository: "acme/platform".into(),
        app: "web".into(),
        environment: "dev".into(),
        ..Default::default()
    };
    s.put(&key, &st("1")).await?;
    assert_eq!(s.get(&key).await?, Some(st("1")));
    kv.delete("acme.platform.web.dev.state").await?;
    assert_eq!(s.get(&key).await?, None);
    s.put(&key, &st("2")).await?;
    assert_eq!(s.get(&key).await?, Some(st("2")));
    kv.purge("acme.platform.web.dev.state").await?;
    assert_eq!(s.get(&key).await?, None);
    // A record that is not Gantry's reads as absent (the environment is then deployed anew).
    kv.put("acme.platform.web.dev.state", "not json".into())
        .await?;
    assert_eq!(s.get(&key).await?, None);
    Ok(())
}

/// The `expires` (Unix milliseconds) of a lease record.
fn lease_expiry(record: &[u8]) -> Result<i64> {
    let v: serde_json::Value = serde_json::from_slice(record)?;
    v["expires"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no expires in {v}"))
}

fn k(app: &str, env: &str) -> EnvKey {
    EnvKey::new("acme/platform", app, env)
}

/// Two repositories with the same app and environment names have separate records and leases;
/// listing finds each, per repository or all.
#[tokio::test]
async fn records_are_per_repository() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    assert!(
        gantry_reconciler::state::read_all(&js, None)
            .await?
            .is_empty()
    );
    let s = StateStore::open(&js, "w", Duration::from_secs(5)).await?;
    assert!(s.list(None).await?.is_empty());
    let one = EnvKey::new("acme/one", "web", "dev");
    let two = EnvKey::new("Acme/Two", "web", "dev");
    s.put(
        &one,
        &EnvState {
            revision: "1".into(),
            ..Default::default()
        },
    )
    .await?;
    s.put(
        &two,
        &EnvState {
            revision: "2".into(),
            ..Default::default()
        },
    )
    .await?;
    s.attempted(
        &EnvKey::repository("acme/two"),
        gantry_reconciler::state::Attempt {
            revision: "3".into(),
            outcome: gantry_reconciler::state::AttemptOutcome::Error,
            phase: "render".into(),
            message: ".gantry.yaml:1: bad".into(),
            trigger: "webhook".into(),
            at: 1,
        },
    )
    .await?;
    assert_eq!(s.get(&one).await?.map(|x| x.revision), Some("1".into()));
    assert_eq!(s.get(&two).await?.map(|x| x.revision), Some("2".into()));
    let _l1 = s.acquire(&one, Duration::ZERO).await?;
    let _l2 = s.acquire(&two, Duration::ZERO).await?;
    let mut all: Vec<(String, String, String)> = s
        .list(None)
        .await?
        .into_iter()
        .map(|x| (x.repository, x.app, x.revision))
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            ("acme/one".into(), "web".into(), "1".into()),
            ("acme/two".into(), "-".into(), "".into()),
            ("acme/two".into(), "web".into(), "2".into()),
        ]
    );
    assert_eq!(s.list(Some("ACME/one")).await?.len(), 1);
    assert_eq!(
        gantry_reconciler::state::read_all(&js, Some("acme/two"))
            .await?
            .len(),
        2
    );
    Ok(())
}
