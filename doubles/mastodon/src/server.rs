//! The HTTP front: one axum fallback handler that parses every request, applies a due
//! fault (sleeping for a delay without holding the state lock), and lets the instance
//! answer.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use crate::faults::{Endpoint, Fault};
use crate::instance::Instance;
use crate::request::Incoming;

/// The instance state shared by the server task and the test's handle.
pub(crate) type Shared = Arc<Mutex<Instance>>;

/// Locks the state. A panic while holding the lock (a bug in a test's closure) leaves the
/// state usable, so the poison is ignored rather than failing every later request.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, Instance> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The router serving every path through [`dispatch`].
pub(crate) fn router(shared: Shared) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

async fn dispatch(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = Incoming::parse(method, uri.path(), uri.query(), headers, &body);
    let endpoint = Endpoint::route(&req.method, &req.path);
    let fault = endpoint.and_then(|endpoint| lock(&shared).faults.take(endpoint));
    if let Some(Fault::Delay(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    let reply = lock(&shared).serve(endpoint, fault, &req);
    tracing::debug!(
        method = %req.method,
        path = %req.path,
        status = reply.status.as_u16(),
        error = reply.error.as_deref().unwrap_or(""),
        "mastodon double answered"
    );
    reply.into_response()
}
