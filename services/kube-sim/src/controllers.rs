//! Simulated controllers.

use std::sync::Arc;

use crate::server::App;

pub(crate) async fn run(_app: Arc<App>) {}
