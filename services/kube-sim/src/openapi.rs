//! OpenAPI v3 documents, one per group version: each kind's operations with their query parameters
//! (kubectl's `--validate=strict` looks for `fieldValidation` on PATCH, then leaves validation to
//! the server) and its field schemas — built-in kinds' from the Kubernetes `.proto` files (see
//! `schema.rs`), custom resources' from their CRD's `openAPIV3Schema` — for `kubectl explain`.

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
        if t.create_only {
            // Reviews are created: POST on the collection.
            let collection = if t.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
            } else {
                format!("{prefix}/{}", t.plural)
            };
            paths.insert(
                collection,
                json!({"post": op("create", &["dryRun", "fieldManager", "fieldValidation"])}),
            );
        }
        {
            // Every kind, reviews included, has PATCH with `fieldValidation`: kubectl looks for it
            // to leave validation to the server, and would otherwise validate against
            // `/openapi/v2`, which the emulator does not serve.
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
        }
        let api_version = t.api_version(version);
        let served = if t.builtin {
            crate::schema::add_kind(&api_version, &t.kind, &gvk, &mut schemas)
        } else {
            crd_schema(t, version, &gvk, &mut schemas)
        };
        if served.as_deref() != Some(schema_name.as_str()) {
            schemas.insert(
                schema_name,
                json!({
                    "type": "object",
                    "description": format!("{} (the emulator has no field schema for it).", t.kind),
                    "x-kubernetes-preserve-unknown-fields": true,
                    "x-kubernetes-group-version-kind": [gvk],
                }),
            );
        }
    }
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{}.{}.0", crate::discovery::MAJOR, crate::discovery::MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    Ok(json_response(StatusCode::OK, &doc))
}

/// The component name of a kind: the proto message's for built-ins, the reversed group's for
/// custom resources (`com.example.v1.Widget`), as the real documents name them.
fn schema_name(t: &ResourceType, version: &str) -> String {
    if t.builtin
        && let Some(m) = crate::proto::kind_descriptor(&t.api_version(version), &t.kind)
    {
        return crate::schema::component_name(m.full_name());
    }
    let group = t.group.split('.').rev().collect::<Vec<_>>().join(".");
    format!("{group}.{version}.{}", t.kind)
}

/// A custom resource's schema: its CRD's `openAPIV3Schema` with `apiVersion`, `kind` and
/// `metadata` as the real server adds them.
fn crd_schema(
    t: &ResourceType,
    version: &str,
    gvk: &Value,
    out: &mut Map<String, Value>,
) -> Option<String> {
    let mut schema = t
        .schemas
        .iter()
        .find(|(v, _)| v == version)
        .map(|(_, s)| s.clone())?;
    if !schema.is_object() {
        return None;
    }
    let meta = crate::schema::add_object_meta(out)?;
    if !schema.get("properties").is_some_and(Value::is_object) {
        schema["properties"] = json!({});
    }
    let props = &mut schema["properties"];
    props["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"});
    props["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"});
    props["metadata"] = json!({"allOf": [{"$ref": format!("#/components/schemas/{meta}")}], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"});
    schema["x-kubernetes-group-version-kind"] = json!([gvk]);
    let name = schema_name(t, version);
    out.insert(name.clone(), schema);
    Some(name)
}
