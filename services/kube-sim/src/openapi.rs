//! OpenAPI v3 documents, as far as kubectl needs them: its `--validate=strict` check looks for
//! the `fieldValidation` parameter on each kind's PATCH operation, then leaves validation to the server.

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::registry::{Registry, ResourceType};
use crate::server::{App, json_response};
use crate::status::ApiError;

/// A stable fingerprint of what is served, so that clients caching by hash refetch after a CRD change.
fn fingerprint(reg: &Registry) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in reg.all() {
        for b in t
            .group
            .bytes()
            .chain(t.plural.bytes())
            .chain(t.versions.join(",").bytes())
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016X}")
}

pub(crate) fn serve(
    app: &Arc<App>,
    segs: &[&str],
    _query: &[(String, String)],
) -> Result<Response, ApiError> {
    let reg = app.store.lock().registry.clone();
    match segs {
        ["v3"] => {
            let hash = fingerprint(&reg);
            let mut paths = Map::new();
            paths.insert(
                "api/v1".into(),
                json!({"serverRelativeURL": format!("/openapi/v3/api/v1?hash={hash}")}),
            );
            for (g, vs) in reg.groups() {
                for v in vs {
                    paths.insert(
                        format!("apis/{g}/{v}"),
                        json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash={hash}")}),
                    );
                }
            }
            Ok(json_response(StatusCode::OK, &json!({"paths": paths})))
        }
        ["v3", "api", v] => gv_doc(&reg, "", v),
        ["v3", "apis", g, v] => gv_doc(&reg, g, v),
        _ => Err(ApiError::no_route()),
    }
}

fn gv_doc(reg: &Registry, group: &str, version: &str) -> Result<Response, ApiError> {
    let types: Vec<&ResourceType> = reg.in_group_version(group, version).collect();
    if types.is_empty() {
        return Err(ApiError::no_route());
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for t in types {
        let gvk = json!({"group": t.group, "version": version, "kind": t.kind});
        let item = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let schema_name = schema_name(t, version);
        let ok = json!({"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}});
        let query = |n: &str| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        let op = |action: &str, extra: &[&str]| {
            let mut params: Vec<Value> = extra.iter().map(|n| query(n)).collect();
            params.push(query("pretty"));
            json!({
                "operationId": format!("{action}{}", t.kind),
                "parameters": params,
                "responses": ok,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let mut path_params = vec![
            json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}),
        ];
        if t.namespaced {
            path_params.push(json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        paths.insert(
            item,
            json!({
                "get": op("get", &[]),
                "put": op("put", &["dryRun", "fieldManager", "fieldValidation"]),
                "patch": op("patch", &["dryRun", "fieldManager", "fieldValidation", "force"]),
                "delete": op("delete", &["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
                "parameters": path_params,
            }),
        );
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "description": format!("{} (the emulator does not publish field schemas).", t.kind),
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": [gvk],
            }),
        );
    }
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", crate::discovery::MAJOR, crate::discovery::MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    Ok(json_response(StatusCode::OK, &doc))
}

fn schema_name(t: &ResourceType, version: &str) -> String {
    let group = if t.group.is_empty() {
        "core".to_string()
    } else {
        t.group.split('.').rev().collect::<Vec<_>>().join(".")
    };
    format!("io.k8s.api.{group}.{version}.{}", t.kind)
}
