//! OpenAPI documents, as far as kubectl needs them.

use std::sync::Arc;

use axum::response::Response;

use crate::server::App;
use crate::status::ApiError;

pub(crate) fn serve(
    _app: &Arc<App>,
    _segs: &[&str],
    _query: &[(String, String)],
) -> Result<Response, ApiError> {
    Err(ApiError::no_route())
}
