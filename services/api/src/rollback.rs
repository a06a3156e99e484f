//! `POST …/rollback`: a commit on the environment's branch (or a pull request) whose files under
//! the environment's inputs are those of an earlier revision.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use crate::audit::ApiRecord;
use crate::auth::Actor;
use crate::server::{ApiError, AppState, Target};

/// Handles a rollback request.
pub async fn rollback(
    _s: &AppState,
    _raw: &[u8],
    _actor: &Actor,
    _t: &Target,
    _rec: &mut ApiRecord,
) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "rollback is not available yet",
    ))
}
