//! Gantry's reconciler: turns events stored on `GANTRY_EVENTS` into applied, verified and
//! reported deployments (contract sections 3 to 7), laid out as a reconcile reads:
//! [`fetch`], [`plan`], [`state`], [`render`], [`apply`] (with prune), [`verify`], [`report`],
//! [`audit`], and the [`worker`] loop that acks, naks and dead-letters.
//!
//! The binary only parses configuration and calls [`run`]; tests call [`run`] in-process.

pub mod apply;
pub mod audit;
pub mod config;
pub mod drift;
pub mod error;
pub mod fetch;
pub mod heads;
pub mod metrics;
pub mod plan;
pub mod prune;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod resync;
pub mod state;
pub mod trust;
pub mod verify;
pub mod worker;

pub use config::{Args, Config};
pub use worker::{Error, run};
