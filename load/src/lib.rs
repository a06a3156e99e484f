//! `gantry-load`: signed GitHub push webhooks against Gantry's receiver at a fixed rate or full
//! concurrency, with HDR-histogram latencies, a one-command benchmark of the receiver against
//! the HTTP and JetStream ceilings measured in the same run, and one of the whole pipeline.

pub mod bench;
pub mod cli;
pub mod driver;
pub mod payload;
pub mod pipeline;
pub mod procstat;
pub mod report;
pub mod wrk;

pub use cli::{BenchArgs, PipelineArgs, SendArgs, send};
