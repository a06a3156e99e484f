//! Leases and state in the `gantry-state` bucket of a real nats-server.

use std::time::{Duration, Instant};

use anyhow::Result;
use gantry_reconciler::state::{EnvState, StateError, StateStore};

#[tokio::test]
async fn one_holder_at_a_time_with_expiry() -> Result<()> {
    let nats = gantry_tests::NatsServer::start()?;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await?);
    let a = StateStore::open(&js, "worker-a", Duration::from_secs(1)).await?;
    let b = StateStore::open(&js, "worker-b", Duration::from_secs(1)).await?;

    let lease = a.acquire("web", "dev", Duration::ZERO).await?;
    match b.acquire("web", "dev", Duration::from_millis(100)).await {
        Err(StateError::Held { holder, .. }) => assert_eq!(holder, "worker-a"),
        other => panic!("expected Held, got {other:?}"),
    }
    // Other environments are independent.
    let other = b.acquire("web", "prod", Duration::ZERO).await?;
    other.release().await;
    // Released: the next worker takes it at once.
    lease.release().await;
    let lease_b = b.acquire("web", "dev", Duration::ZERO).await?;
    // Renewed while held: it does not expire.
    let keep = lease_b.keep_alive();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        a.acquire("web", "dev", Duration::from_millis(50))
            .await
            .is_err()
    );
    // A holder that dies stops renewing; the lease expires and another worker takes it.
    drop(keep);
    let t = Instant::now();
    let _lease_a = a.acquire("web", "dev", Duration::from_secs(5)).await?;
    assert!(t.elapsed() < Duration::from_secs(3));

    let st = EnvState {
        revision: "abc".into(),
        ..Default::default()
    };
    a.put("web", "dev", &st).await?;
    assert_eq!(b.get("web", "dev").await?, Some(st));
    assert_eq!(b.get("web", "staging").await?, None);
    Ok(())
}
