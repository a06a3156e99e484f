//! Gantry's self-service API (contract section 12): internal developer platforms and people
//! list apps, sync them and roll them back, authenticated by OIDC or static tokens and
//! authorised by RBAC rules kept in Git.
//!
//! The binary only parses configuration and calls [`run`]; tests call [`run`] in-process.

pub mod audit;
pub mod auth;
mod background;
pub mod catalog;
pub mod config;
pub mod jwt_ring;
pub mod metrics;
pub mod oidc;
pub mod rbac;
mod rollback;
mod server;
pub mod state;
mod sync;
pub mod tokens;

pub use config::{Args, Config};
pub use server::{Error, MAX_BODY_BYTES, run};

/// The HTTP client for OIDC discovery and the forges' REST APIs (rustls with ring's provider).
pub(crate) fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("gantry-api/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}
