//! kube-rs against the emulator: discovery, every verb, errors, selectors, paging and watch.

mod common;

use common::{api_err, quiet, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Discovery, Scope};
use serde_json::json;

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "tier": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": image}]}}
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn discovery_finds_builtin_kinds() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let v = client.apiserver_version().await?;
    assert_eq!(v.major, "1");
    let d = Discovery::new(client.clone()).run().await?;
    for (group, kind, namespaced) in [
        ("", "Namespace", false),
        ("", "ConfigMap", true),
        ("apps", "Deployment", true),
        ("batch", "CronJob", true),
        ("networking.k8s.io", "Ingress", true),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", false),
        ("apiextensions.k8s.io", "CustomResourceDefinition", false),
        ("policy", "PodDisruptionBudget", true),
        ("autoscaling", "HorizontalPodAutoscaler", true),
    ] {
        let found = d
            .groups()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.kind == kind);
        let (_, caps) = found.unwrap_or_else(|| panic!("{kind} not discovered"));
        assert_eq!(caps.scope == Scope::Namespaced, namespaced, "{kind}");
        assert!(caps.supports_operation(discovery::verbs::WATCH), "{kind}");
    }
    let (ar, _) =
        discovery::pinned_kind(&client, &GroupVersionKind::gvk("apps", "v1", "Deployment")).await?;
    assert_eq!(ar.plural, "deployments");
    Ok(())
}

#[tokio::test]
async fn deployment_crud_and_errors() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &deployment("web", "nginx:1.27"))
        .await?;
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.creation_timestamp.is_some() && meta.resource_version.is_some()
    );
    assert_eq!(meta.generation, Some(1));

    let err = api_err(
        api.create(&PostParams::default(), &deployment("web", "nginx"))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "deployments.apps \"web\" already exists");

    let got = api.get("web").await?;
    assert_eq!(got.metadata.uid, meta.uid);
    let err = api_err(api.get("nope").await);
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "deployments.apps \"nope\" not found");

    // Update with the current resourceVersion works and bumps generation; a stale one is a 409.
    let mut changed = got.clone();
    changed.spec.as_mut().expect("spec").replicas = Some(3);
    let updated = api.replace("web", &PostParams::default(), &changed).await?;
    assert_eq!(updated.metadata.generation, Some(2));
    let err = api_err(api.replace("web", &PostParams::default(), &changed).await);
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    // A label-only change does not bump generation.
    let patched = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"extra": "x"}}})),
        )
        .await?;
    assert_eq!(patched.metadata.generation, Some(2));

    // A namespaced object in a namespace that does not exist is a NotFound for the namespace.
    let missing: Api<Deployment> = Api::namespaced(client.clone(), "missing");
    let err = api_err(
        missing
            .create(&PostParams::default(), &deployment("web", "nginx"))
            .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "namespaces \"missing\" not found");

    // No name: 422 Invalid naming the field.
    let mut nameless = deployment("x", "nginx");
    nameless.metadata.name = None;
    let err = api_err(api.create(&PostParams::default(), &nameless).await);
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("metadata.name: Required value"),
        "{}",
        err.message
    );

    let del = api.delete("web", &DeleteParams::background()).await?;
    assert!(del.is_right(), "deleted at once: a Status");
    let err = api_err(api.get("web").await);
    assert_eq!(err.code, 404);
    let err = api_err(api.delete("web", &DeleteParams::default()).await);
    assert_eq!(err.code, 404);
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() -> anyhow::Result<()> {
    let (sim, _client) = start(quiet()).await?;
    let url = format!("{}/api/v1/namespaces/default/configmaps", sim.url());
    for body in ["{not json", "[1, 2", "\"just a string\""] {
        let (code, status) = raw_post(&url, body).await?;
        assert_eq!(code, 400, "{body}: {status}");
        assert_eq!(status["kind"], "Status");
        assert_eq!(status["reason"], "BadRequest");
    }
    // The server is still fine.
    let (code, _) = raw_post(
        &url,
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok"}}"#,
    )
    .await?;
    assert_eq!(code, 201);
    Ok(())
}

/// POSTs a body with a bare HTTP/1.1 request, so that nothing client-side second-guesses it.
async fn raw_post(url: &str, body: &str) -> anyhow::Result<(u16, serde_json::Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').expect("path");
    let mut s = tokio::net::TcpStream::connect(host).await?;
    let req = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).await?;
    let code: u16 = resp.split(' ').nth(1).unwrap_or("0").parse()?;
    let json_start = resp.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0);
    let body = &resp[json_start..];
    let body = body.find('{').map(|i| &body[i..]).unwrap_or(body);
    let body = body.rfind('}').map(|i| &body[..=i]).unwrap_or(body);
    Ok((
        code,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    ))
}

#[tokio::test]
async fn dynamic_objects_selectors_and_paging() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let (ar, _) =
        discovery::pinned_kind(&client, &GroupVersionKind::gvk("", "v1", "ConfigMap")).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    for i in 0..7 {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i}"), "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }, "gantry.dev/app": "demo"}},
            "data": {"i": i.to_string()}
        }))?;
        api.create(&PostParams::default(), &obj).await?;
    }
    let even = api
        .list(&ListParams::default().labels("parity=even"))
        .await?;
    assert_eq!(even.items.len(), 4);
    let set_based = api
        .list(&ListParams::default().labels("parity in (odd),gantry.dev/app"))
        .await?;
    assert_eq!(set_based.items.len(), 3);
    let none = api
        .list(&ListParams::default().labels("!gantry.dev/app"))
        .await?;
    assert!(none.items.is_empty());
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=cm-3"))
        .await?;
    assert_eq!(by_name.items.len(), 1);
    assert_eq!(by_name.items[0].data["data"]["i"], "3");
    let err = api_err(api.list(&ListParams::default().fields("spec.nope=1")).await);
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));

    // Paging: 3 at a time over the 7 config maps.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await?;
        pages += 1;
        names.extend(page.items.iter().filter_map(|o| o.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "no duplicates, in order");
    assert_eq!(names.len(), 7);

    // Dynamic update, patch and delete.
    let mut cm = api.get("cm-0").await?;
    cm.data["data"]["i"] = json!("zero");
    api.replace("cm-0", &PostParams::default(), &cm).await?;
    api.patch(
        "cm-0",
        &PatchParams::default(),
        &Patch::Json::<()>(serde_json::from_value(
            json!([{"op": "add", "path": "/data/j", "value": "1"}]),
        )?),
    )
    .await?;
    let cm = api.get("cm-0").await?;
    assert_eq!(cm.data["data"], json!({"i": "zero", "j": "1"}));
    api.delete("cm-0", &DeleteParams::default()).await?;
    assert_eq!(api_err(api.get("cm-0").await).code, 404);
    Ok(())
}

#[tokio::test]
async fn watch_events_in_order_and_resume() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start_rv = api
        .list(&ListParams::default())
        .await?
        .metadata
        .resource_version
        .expect("rv");
    let mut stream = api
        .watch(&WatchParams::default().labels("w=1").timeout(10), &start_rv)
        .await?
        .boxed();

    let cm = |name: &str, v: &str| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"w": "1"}}, "data": {"v": v}}),
        )
        .expect("cm")
    };
    api.create(&PostParams::default(), &cm("a", "1")).await?;
    let mid_rv = api
        .create(&PostParams::default(), &cm("b", "1"))
        .await?
        .metadata
        .resource_version
        .expect("rv");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await?;
    // Leaving the selector is a DELETED for this watch.
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"w": "0"}}})),
    )
    .await?;
    api.delete("a", &DeleteParams::default()).await?;

    let mut seen = Vec::new();
    while seen.len() < 5 {
        match stream.try_next().await? {
            Some(WatchEvent::Added(o)) => {
                seen.push(format!("ADDED {}", o.metadata.name.unwrap_or_default()))
            }
            Some(WatchEvent::Modified(o)) => {
                seen.push(format!("MODIFIED {}", o.metadata.name.unwrap_or_default()))
            }
            Some(WatchEvent::Deleted(o)) => {
                seen.push(format!("DELETED {}", o.metadata.name.unwrap_or_default()))
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["ADDED a", "ADDED b", "MODIFIED a", "DELETED b", "DELETED a"]
    );

    // Resuming from b's creation misses nothing after it: the three changes since, in order.
    let mut resumed = api
        .watch(&WatchParams::default().timeout(30), &mid_rv)
        .await?
        .boxed();
    let mut again = Vec::new();
    while again.len() < 3 {
        match resumed.try_next().await? {
            Some(WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o)) => {
                again.push(o.metadata.name.unwrap_or_default())
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(again, ["a", "b", "a"]);
    Ok(())
}

#[tokio::test]
async fn too_old_resource_version_is_gone() -> anyhow::Result<()> {
    let (_sim, client) = start(gantry_kube_sim::Config {
        event_history: 5,
        ..quiet()
    })
    .await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x0"}}))?,
        )
        .await?
        .metadata
        .resource_version
        .expect("rv");
    for i in 1..10 {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("x{i}")}}))?,
        )
        .await?;
    }
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &first)
        .await?
        .boxed();
    match stream.try_next().await? {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    // kube-runtime's watcher recovers by relisting. It lists, then watches from the list's
    // resourceVersion; changes to other kinds push that version out of the 5-event log, so when
    // its 1-second watch ends and it resumes, it gets 410 and must list again.
    use kube::runtime::watcher::{Config, Event, watcher};
    let mut events = watcher(api.clone(), Config::default().timeout(1)).boxed();
    let mut lists = 0;
    let expected: Vec<String> = (0..10).map(|i| format!("x{i}")).collect();
    let mut names = Vec::new();
    let mut expired = false;
    while lists < 2 {
        let item = events.next().await.expect("the watcher does not end");
        // The 410 comes through as an error item; the watcher then starts over with a list.
        if let Err(kube::runtime::watcher::Error::WatchError(e)) = &item {
            assert_eq!((lists, e.code, e.reason.as_str()), (1, 410, "Expired"));
            expired = true;
            continue;
        }
        match item? {
            Event::Init => names.clear(),
            Event::InitApply(o) => names.push(o.name_any()),
            Event::InitDone => {
                names.sort();
                assert_eq!(names, expected);
                lists += 1;
                if lists == 1 {
                    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
                        Api::namespaced(client.clone(), "default");
                    for i in 0..10 {
                        secrets
                            .create(
                                &PostParams::default(),
                                &serde_json::from_value(
                                    json!({"metadata": {"name": format!("s{i}")}}),
                                )?,
                            )
                            .await?;
                    }
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(expired, "the second list follows a 410");
    Ok(())
}

#[tokio::test]
async fn namespace_delete_cascades() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "team"}}))?,
    )
    .await?;
    let ns = nss.get("team").await?;
    assert_eq!(
        ns.labels()
            .get("kubernetes.io/metadata.name")
            .map(String::as_str),
        Some("team")
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "c"}}))?,
    )
    .await?;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "team");
    deps.create(&PostParams::default(), &deployment("d", "nginx"))
        .await?;
    let deleted = nss.delete("team", &DeleteParams::default()).await?;
    let terminating = deleted
        .left()
        .expect("a namespace lingers while it terminates");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    // Nothing new goes into a terminating namespace.
    let err = api_err(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}}))?,
        )
        .await,
    );
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    common::eventually("the namespace to go", || {
        let nss = nss.clone();
        async move {
            nss.get_opt("team")
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(())
        }
    })
    .await;
    assert_eq!(api_err(cms.get("c").await).code, 404);
    assert_eq!(api_err(deps.get("d").await).code, 404);
    Ok(())
}

use kube::ResourceExt;

/// Sends a raw request and returns the status, Content-Type and body.
async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    accept: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Accept", accept);
    if let Some(ct) = content_type {
        b = b.header("Content-Type", ct);
    }
    let resp = client.send(b.body(kube::client::Body::from(body))?).await?;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await?
        .to_bytes()
        .to_vec();
    Ok((status, ct, bytes))
}

#[tokio::test]
async fn protobuf_is_negotiated_for_builtin_kinds_only() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let pb = "application/vnd.kubernetes.protobuf";
    // A built-in object in protobuf, the `k8s\0` envelope first.
    let (code, ct, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default",
        &format!("{pb},application/json"),
        None,
        vec![],
    )
    .await?;
    assert_eq!((code, ct.as_str()), (200, pb));
    assert_eq!(&body[..4], b"k8s\0");
    // Errors too are Status messages in protobuf.
    let (code, ct, body) = raw(&client, "GET", "/api/v1/namespaces/nope", pb, None, vec![]).await?;
    assert_eq!((code, ct.as_str()), (404, pb));
    assert_eq!(&body[..4], b"k8s\0");
    // The same object as JSON when JSON comes first.
    let (_, ct, _) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default",
        &format!("application/json,{pb}"),
        None,
        vec![],
    )
    .await?;
    assert_eq!(ct, "application/json");
    // Nothing acceptable: 406.
    let (code, _, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default",
        "text/html",
        None,
        vec![],
    )
    .await?;
    let status: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(
        (code, status["reason"].as_str()),
        (406, Some("NotAcceptable"))
    );

    // Custom resources have no protobuf form: JSON when the client also takes it, 406 when it
    // takes only protobuf, 415 for a protobuf body.
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))?;
    crds.create(&PostParams::default(), &crd).await?;
    let list = "/apis/example.com/v1/namespaces/default/widgets";
    let (code, ct, _) = raw(
        &client,
        "GET",
        list,
        &format!("{pb},application/json"),
        None,
        vec![],
    )
    .await?;
    assert_eq!((code, ct.as_str()), (200, "application/json"));
    let (code, _, _) = raw(&client, "GET", list, pb, None, vec![]).await?;
    assert_eq!(code, 406);
    let (code, _, body) = raw(
        &client,
        "POST",
        list,
        "application/json",
        Some(pb),
        b"k8s\0".to_vec(),
    )
    .await?;
    let status: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(
        (code, status["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    // A malformed protobuf body for a built-in kind is a 400, not a crash.
    let (code, _, body) = raw(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        Some(pb),
        b"k8s\0\xff\xff".to_vec(),
    )
    .await?;
    let status: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    Ok(())
}

/// The README's verbs that no other test reaches: create with `generateName`, a page's
/// `remainingItemCount`, the 400 for an unsupported field selector, deletecollection by label,
/// and a delete whose precondition does not hold.
#[tokio::test]
async fn generate_name_remaining_count_deletecollection_and_preconditions() -> anyhow::Result<()> {
    let (_sim, client) = start(quiet()).await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let mut made = Vec::new();
    for i in 0..5 {
        let cm: ConfigMap = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"generateName": "gen-", "labels": {"keep": if i < 2 { "yes" } else { "no" }}},
        }))?;
        let created = api.create(&PostParams::default(), &cm).await?;
        let name = created.metadata.name.unwrap_or_default();
        assert!(name.starts_with("gen-") && name.len() > 4, "{name}");
        made.push(name);
    }
    made.sort();
    made.dedup();
    assert_eq!(made.len(), 5, "every generated name is new");

    let page = api.list(&ListParams::default().limit(2)).await?;
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.metadata.remaining_item_count, Some(3));

    let err = api_err(api.list(&ListParams::default().fields("data.x=1")).await);
    assert_eq!(err.code, 400);
    assert!(
        err.message.contains("field label not supported"),
        "{}",
        err.message
    );

    let gone = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("keep=no"),
        )
        .await?;
    let removed = gone.left().map(|l| l.items.len());
    assert_eq!(removed, Some(3), "deletecollection returns what it deleted");
    let left = api.list(&ListParams::default()).await?;
    assert_eq!(left.items.len(), 2);
    assert!(left.items.iter().all(|c| {
        c.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("keep"))
            .map(String::as_str)
            == Some("yes")
    }));

    // A precondition on the uid that does not hold: 409, nothing deleted.
    let name = left.items[0].metadata.name.clone().unwrap_or_default();
    let dp = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-its-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let err = api_err(api.delete(&name, &dp).await);
    assert_eq!(err.code, 409, "{}", err.message);
    assert!(api.get(&name).await.is_ok());
    Ok(())
}
