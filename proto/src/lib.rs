//! The `gantry.v1` wire schema: Rust types generated from `proto/gantry/v1/*.proto`.
//!
//! The `.proto` files are the contract; these types are one language's view of them.

/// Messages of the `gantry.v1` package.
pub mod v1 {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/gantry.v1.rs"));

    /// The value of the `Gantry-Schema` header on event messages.
    pub const EVENT_SCHEMA: &str = "gantry.v1.Event";
    /// The value of the `Gantry-Schema` header on audit messages.
    pub const AUDIT_SCHEMA: &str = "gantry.v1.AuditRecord";

    impl EventKind {
        /// The subject token and CloudEvents type suffix for this kind.
        pub fn token(self) -> &'static str {
            match self {
                EventKind::Unspecified => "unspecified",
                EventKind::Push => "push",
                EventKind::PrOpened => "pr_opened",
                EventKind::PrUpdated => "pr_updated",
                EventKind::PrClosed => "pr_closed",
                EventKind::PrMerged => "pr_merged",
                EventKind::Sync => "sync",
            }
        }
    }

    impl Provider {
        /// The subject token for this provider.
        pub fn token(self) -> &'static str {
            match self {
                Provider::Unspecified => "unspecified",
                Provider::Github => "github",
                Provider::Gitea => "gitea",
                Provider::Api => "api",
            }
        }
    }

    impl Outcome {
        /// The audit subject token for this outcome.
        pub fn token(self) -> &'static str {
            match self {
                Outcome::Unspecified => "unspecified",
                Outcome::Started => "started",
                Outcome::Succeeded => "succeeded",
                Outcome::Failed => "failed",
                Outcome::Skipped => "skipped",
                Outcome::Superseded => "superseded",
                Outcome::Drifted => "drifted",
                Outcome::Healed => "healed",
                Outcome::Denied => "denied",
            }
        }
    }

    impl Phase {
        /// The phase's name as the contract writes it (`fetch`, `drift`, `api`, ...).
        pub fn token(self) -> &'static str {
            match self {
                Phase::Unspecified => "unspecified",
                Phase::Fetch => "fetch",
                Phase::Render => "render",
                Phase::Apply => "apply",
                Phase::Prune => "prune",
                Phase::Verify => "verify",
                Phase::Report => "report",
                Phase::Drift => "drift",
                Phase::Api => "api",
            }
        }
    }

    impl Trigger {
        /// The trigger's name as the contract writes it (`webhook`, `resync`, `api`).
        pub fn token(self) -> &'static str {
            match self {
                Trigger::Unspecified => "unspecified",
                Trigger::Webhook => "webhook",
                Trigger::Resync => "resync",
                Trigger::Api => "api",
            }
        }
    }
}

/// Messages as proto3 JSON, for tools and people: `gantry events tail` prints them this way.
pub mod json {
    use std::sync::OnceLock;

    use prost_reflect::{DescriptorPool, DynamicMessage};

    /// Why bytes could not be shown as JSON.
    #[derive(Debug, thiserror::Error)]
    pub enum Error {
        /// The schema name is not a message of `gantry.v1`.
        #[error("unknown schema {0:?}")]
        UnknownSchema(String),
        /// The bytes are not that message.
        #[error("the body is not a valid {schema}")]
        Decode {
            /// The schema tried.
            schema: String,
            /// What the decoder said.
            #[source]
            source: prost::DecodeError,
        },
        /// The message could not be turned into JSON.
        #[error("cannot write {schema} as JSON")]
        Json {
            /// The schema.
            schema: String,
            /// What serde said.
            #[source]
            source: serde_json::Error,
        },
    }

    fn pool() -> &'static DescriptorPool {
        static POOL: OnceLock<DescriptorPool> = OnceLock::new();
        POOL.get_or_init(|| {
            let bytes: &[u8] =
                include_bytes!(concat!(env!("OUT_DIR"), "/gantry_descriptor_set.bin"));
            // The set was produced by this crate's build script from the same files, so it
            // always decodes; an empty pool would only make every lookup fail cleanly.
            DescriptorPool::decode(bytes).unwrap_or_default()
        })
    }

    /// Decodes `bytes` as the message named `schema` (the `Gantry-Schema` header, e.g.
    /// `gantry.v1.Event`) and returns its proto3 JSON form, with the `.proto` field names.
    pub fn to_json(schema: &str, bytes: &[u8]) -> Result<serde_json::Value, Error> {
        let desc = pool()
            .get_message_by_name(schema)
            .ok_or_else(|| Error::UnknownSchema(schema.to_owned()))?;
        let msg = DynamicMessage::decode(desc, bytes).map_err(|source| Error::Decode {
            schema: schema.to_owned(),
            source,
        })?;
        let opts = prost_reflect::SerializeOptions::new()
            .use_proto_field_name(true)
            .skip_default_fields(true);
        msg.serialize_with_options(serde_json::value::Serializer, &opts)
            .map_err(|source| Error::Json {
                schema: schema.to_owned(),
                source,
            })
    }

    #[cfg(test)]
    mod tests {
        use prost::Message;

        use super::*;
        use crate::v1;

        #[test]
        fn events_and_audit_records_print_as_proto3_json() {
            let e = v1::Event {
                id: "github:1".into(),
                kind: v1::EventKind::PrMerged as i32,
                r#ref: "refs/heads/main".into(),
                received_at: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: 0,
                }),
                ..Default::default()
            };
            let j = to_json(v1::EVENT_SCHEMA, &e.encode_to_vec()).expect("decodes");
            assert_eq!(j["kind"], "EVENT_KIND_PR_MERGED");
            assert_eq!(j["ref"], "refs/heads/main");
            assert_eq!(j["received_at"], "1970-01-01T00:00:00Z");
            let a = v1::AuditRecord {
                phase: v1::Phase::Verify as i32,
                ..Default::default()
            };
            let j = to_json(v1::AUDIT_SCHEMA, &a.encode_to_vec()).expect("decodes");
            assert_eq!(j["phase"], "PHASE_VERIFY");
            assert!(to_json("gantry.v1.Nope", b"").is_err());
            assert!(to_json(v1::EVENT_SCHEMA, b"\xff\xff").is_err());
        }
    }
}
