//! The receiver on a NATS cluster: `--nats-url` as a list of seed servers, `--nats-replicas`
//! reaching the events stream it creates, and an existing stream with other replicas reported,
//! never changed.

mod common;

use anyhow::{Result, bail};
use async_nats::jetstream;
use common::{Receiver, SECRET, unique};
use gantry_tests::{NatsCluster, NatsServer, free_port};
use serde_json::{Value, json};

fn push_body(n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "ref": "refs/heads/main",
        "before": "1111111111111111111111111111111111111111",
        "after": format!("{n:040x}"),
        "repository": {"full_name": "acme/app", "html_url": "https://github.com/acme/app"}
    }))
    .unwrap_or_default()
}

/// Starts a receiver on a server of its own and points it at `url` with `replicas` instead.
async fn receiver_on(url: &str, replicas: usize) -> Result<Receiver> {
    let url = url.to_owned();
    // The harness's receiver owns a server; this one stays idle, the receiver uses `url`.
    Receiver::start_on(NatsServer::start()?, move |c| {
        c.nats_url = url;
        c.nats_replicas = replicas;
    })
    .await
}

async fn readyz(r: &Receiver) -> Result<Value> {
    Ok(r.http
        .get(format!("{}/readyz", r.base))
        .send()
        .await?
        .json()
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_receiver_creates_the_events_stream_on_every_server_of_a_cluster() -> Result<()> {
    let cluster = NatsCluster::start(3)?;
    let r = receiver_on(&cluster.url(), 3).await?;
    let resp = r
        .delivery("github", "push", &unique("r3"), push_body(1))
        .send()
        .await?;
    let status = resp.status();
    assert_eq!(status, 202, "{}", resp.text().await?);

    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    let mut s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let info = s.info().await?;
    assert_eq!(info.config.num_replicas, 3);
    let peers = info.cluster.as_ref().map(|c| c.replicas.len()).unwrap_or(0);
    assert_eq!(peers, 2, "a leader and two replicas: {:?}", info.cluster);
    assert_eq!(info.state.messages, 1);
    let ready = readyz(&r).await?;
    assert_eq!(ready["stream_differences"], json!([]), "{ready}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_stream_with_other_replicas_is_reported_not_changed() -> Result<()> {
    let cluster = NatsCluster::start(3)?;
    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    js.create_stream(gantry_nats::events_stream_config(1))
        .await?;
    let r = receiver_on(&cluster.url(), 3).await?;
    let ready = readyz(&r).await?;
    assert_eq!(
        ready["stream_differences"],
        json!(["replicas: server has 1, Gantry expects 3"]),
        "{ready}"
    );
    let mut s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    assert_eq!(s.info().await?.config.num_replicas, 1);
    // The stream still stores events while the difference is reported.
    let resp = r
        .delivery("github", "push", &unique("r1"), push_body(2))
        .send()
        .await?;
    assert_eq!(resp.status(), 202);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_list_with_a_dead_server_still_connects() -> Result<()> {
    let nats = NatsServer::start()?;
    let dead = format!("nats://127.0.0.1:{}", free_port()?);
    let url = format!("{dead}, {}", nats.url());
    let r = Receiver::start_on(nats, move |c| c.nats_url = url).await?;
    // A 503 with Retry-After is the receiver's honest answer when JetStream is slow to ack (a
    // loaded CI machine); a sender retries it, and so does this test, the same delivery id.
    let id = unique("seed");
    let mut answers = Vec::new();
    for _ in 0..5 {
        let resp = r
            .delivery("github", "push", &id, push_body(3))
            .send()
            .await?;
        let status = resp.status().as_u16();
        answers.push(format!("{status} {}", resp.text().await?));
        match status {
            202 => return Ok(()),
            503 => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            _ => break,
        }
    }
    bail!("the delivery was never stored: {answers:?}")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_server_address_is_an_error_at_start() -> Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut config = gantry_receiver::Config::for_tests("nats://127.0.0.1:4222", SECRET);
    config.nats_url = "nats://127.0.0.1:4222,http://example.com".to_owned();
    match gantry_receiver::run(listener, config, std::future::pending()).await {
        Err(e) => {
            let chain = format!("{:#}", anyhow::Error::from(e));
            assert!(chain.contains("http://example.com"), "{chain}");
            Ok(())
        }
        Ok(()) => bail!("the receiver started with an unusable server address"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_majority_the_receiver_answers_503_and_loses_nothing_it_accepted() -> Result<()> {
    let mut cluster = NatsCluster::start(3)?;
    let url = cluster.url();
    let r = Receiver::start_on(NatsServer::start()?, move |c| {
        c.nats_url = url;
        c.nats_replicas = 3;
        c.publish_timeout = std::time::Duration::from_millis(1500);
    })
    .await?;
    let mut accepted = Vec::new();
    let mut n = 0;
    let mut send = async |accepted: &mut Vec<String>| -> Result<u16> {
        n += 1;
        let id = unique("majority");
        let resp = r
            .delivery("github", "push", &id, push_body(n))
            .send()
            .await?;
        let status = resp.status().as_u16();
        if status == 202 {
            accepted.push(format!("github:{id}"));
        } else {
            assert_eq!(status, 503, "{}", resp.text().await?);
            assert!(resp.headers().contains_key("retry-after"));
        }
        Ok(status)
    };
    assert_eq!(send(&mut accepted).await?, 202);

    // Two of three servers lost: no stream leader can be elected, nothing can be stored.
    cluster.kill(1);
    cluster.kill(2);
    for _ in 0..3 {
        assert_eq!(send(&mut accepted).await?, 503);
    }

    // One comes back: a majority again; deliveries are stored once a leader is elected.
    cluster.restart(1)?;
    let mut stored_again = false;
    for _ in 0..100 {
        if send(&mut accepted).await? == 202 {
            stored_again = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        stored_again,
        "no delivery was stored after the majority came back"
    );

    let js = jetstream::new(async_nats::connect(cluster.urls()).await?);
    let s = js.get_stream(gantry_nats::EVENTS_STREAM).await?;
    let mut info = s.clone();
    let last = info.info().await?.state.last_sequence;
    let mut ids = std::collections::HashSet::new();
    for seq in 1..=last {
        if let Ok(m) = s.get_raw_message(seq).await
            && let Some(id) = m.headers.get(gantry_nats::HEADER_MSG_ID)
        {
            ids.insert(id.as_str().to_owned());
        }
    }
    for id in &accepted {
        assert!(ids.contains(id), "{id} was answered 202 but is not stored");
    }
    Ok(())
}
