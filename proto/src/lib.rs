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
            }
        }
    }
}
