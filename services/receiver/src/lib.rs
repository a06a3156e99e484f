//! Gantry's webhook receiver: verifies GitHub and Gitea deliveries, normalises them into
//! `gantry.v1.Event`, and answers 2xx only once JetStream has stored them.
//!
//! The binary only parses configuration and calls [`run`]; tests call [`run`] in-process.

pub mod config;
pub mod metrics;
pub mod payload;
pub mod publish;
mod server;
pub mod signature;
mod state;
pub mod webhook;

pub use config::{Args, Config};
pub use server::{Error, run};
