//! The HTTP front: accepts connections, routes each request, answers host endpoints.
//!
//! - `GET /healthz` and `GET /metrics` belong to the host and are answered here.
//! - Any other path is looked up in the manifest's routes; a match goes to the component
//!   (with Spin's `spin-*` routing headers set, as Spin would), anything else is a 404 in
//!   the contract's JSON envelope.
//! - The request body is read in full (at most [`MAX_BODY_BYTES`], within the body read
//!   timeout) before an instance is taken, so slow uploads cannot exhaust the instance
//!   pool; a larger body is a 413 `payload_too_large`, a late one a 400
//!   `validation_failed`.
//! - A request whose component traps, overruns its deadline or finds no free instance is
//!   answered with an envelope that says nothing about the cause (the log says more):
//!   a deadline is 502 `upstream_unavailable`, anything else 500 `internal`. On callback
//!   routes (`.../<platform>/callback`) every such failure is instead the contract's
//!   302 to `${frontend_url}/settings?error=<platform>_upstream_unavailable`.
//!
//! Every request is logged once, at `info`: method, path (never the query string, which
//! may carry codes or tokens), status, latency and component.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::metrics::Metrics;
use crate::routes::RouteTable;
use crate::runtime::{ComponentRuntime, Failure, Runtime};

/// Everything the request path needs.
pub(crate) struct HostState {
    pub runtime: Arc<Runtime>,
    pub routes: RouteTable,
    pub components: BTreeMap<String, Arc<ComponentRuntime>>,
    pub metrics: Arc<Metrics>,
    pub memory_limit: usize,
    pub request_timeout: Duration,
    pub body_read_timeout: Duration,
}

type Response = hyper::Response<HyperOutgoingBody>;

fn body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A JSON response with the given status.
fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut response = hyper::Response::new(body(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The contract's failure envelope.
fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({ "success": false, "message": message, "data": { "code": code } }),
    )
}

/// The largest request body the host hands to a component: the contract's limit.
pub(crate) const MAX_BODY_BYTES: usize = 64 << 10;

/// How long a client may take to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure the host answers itself, without (or instead of) the component's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostFailure {
    /// The component could not answer (see [`Failure`]).
    Component(Failure),
    /// The request body is larger than [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The request body did not arrive within the body read timeout.
    BodyTimeout,
    /// The request body could not be read (the client broke the connection).
    BodyUnreadable,
}

/// The JSON envelope for a host failure. The contract pairs codes with statuses:
/// a deadline is the platform not answering in time (`upstream_unavailable`, 502);
/// a trap or a full instance pool is ours (`internal`, 500; the pool with
/// `Retry-After`). 429 is kept for the platform's own throttling.
fn failure_response(failure: HostFailure) -> Response {
    match failure {
        HostFailure::Component(Failure::Trap | Failure::NoResponse) => self::failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side. Please try again later.",
        ),
        HostFailure::Component(Failure::Timeout) => self::failure(
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            "The platform did not answer in time. Please try again.",
        ),
        HostFailure::Component(Failure::Overloaded) => {
            let mut response = self::failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The server is busy. Please try again in a moment.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        HostFailure::BodyTooLarge => self::failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is too large (64 KiB at most).",
        ),
        HostFailure::BodyTimeout => self::failure(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "The request body did not arrive in time.",
        ),
        HostFailure::BodyUnreadable => self::failure(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "The request body could not be read.",
        ),
    }
}

/// The platform of a callback route (`/api/platform/<p>/callback`): the path segment
/// before the final `callback`, if it is a plain name.
fn callback_platform(path: &str) -> Option<&str> {
    let head = path.strip_suffix("/callback")?;
    let platform = head.rsplit('/').next()?;
    let plain = !platform.is_empty()
        && platform
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then_some(platform)
}

/// The contract's answer to a callback the host could not complete: a 302 to the
/// front end's settings page, never JSON.
fn callback_redirect(frontend_url: &str, platform: &str) -> Response {
    let location = format!(
        "{}/settings?error={platform}_upstream_unavailable",
        frontend_url.trim_end_matches('/')
    );
    let mut response = hyper::Response::new(body(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// The host's answer to `failure` on `path`: a redirect on callback routes (when the
/// component has a `frontend_url`), the JSON envelope elsewhere.
fn failure_for_route(failure: HostFailure, path: &str, frontend: Option<&str>) -> Response {
    match (callback_platform(path), frontend) {
        (Some(platform), Some(frontend)) => callback_redirect(frontend, platform),
        _ => failure_response(failure),
    }
}

/// Reads the whole request body, at most [`MAX_BODY_BYTES`] and within `timeout`,
/// before any instance is taken: a slow client holds a connection, never an instance.
async fn read_body(
    request: hyper::Request<Incoming>,
    timeout: Duration,
) -> Result<hyper::Request<Bytes>, HostFailure> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(HostFailure::BodyTooLarge);
    }
    let (parts, incoming) = request.into_parts();
    let limited = http_body_util::Limited::new(incoming, MAX_BODY_BYTES);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(HostFailure::BodyTimeout),
        Ok(Ok(collected)) => Ok(hyper::Request::from_parts(parts, collected.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(HostFailure::BodyTooLarge),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot read a request body");
            Err(HostFailure::BodyUnreadable)
        }
    }
}

/// Accepts connections until `shutdown` fires, then lets open connections finish their
/// current request (for at most `drain`).
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<HostState>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
    drain: Duration,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        let service = hyper::service::service_fn(move |request| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(dispatch(&state, request, client).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open at shutdown; closing them");
    }
}

async fn dispatch(
    state: &HostState,
    request: hyper::Request<Incoming>,
    client: SocketAddr,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();

    let (response, component) = match path.as_str() {
        "/healthz" | "/metrics" => (host_endpoint(state, &method, &path), None),
        _ => route(state, request, client).await,
    };

    let status = response.status().as_u16();
    let latency = started.elapsed();
    match &component {
        Some(component) => component.metrics().record_request(status, latency),
        None if path != "/healthz" && path != "/metrics" => state.metrics.record_unrouted(),
        None => {}
    }
    tracing::info!(
        %method,
        path = %path,
        status,
        latency_ms = crate::metrics::log_millis(latency),
        component = %component.as_ref().map_or("-", |c| c.id()),
        "request"
    );
    response
}

fn host_endpoint(state: &HostState, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut response = failure(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This endpoint only answers GET.",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == "/metrics" {
        let mut response = hyper::Response::new(body(state.metrics.render()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return response;
    }
    let components: Vec<&str> = state.components.keys().map(String::as_str).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": "The host is running.",
            "data": { "status": "ok", "components": components },
        }),
    )
}

async fn route(
    state: &HostState,
    mut request: hyper::Request<Incoming>,
    client: SocketAddr,
) -> (Response, Option<Arc<ComponentRuntime>>) {
    let path = request.uri().path().to_owned();
    let Some(found) = state.routes.lookup(&path) else {
        let response = failure(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this address.",
        );
        return (response, None);
    };
    let Some(component) = state.components.get(found.component).cloned() else {
        // The manifest check guarantees every route names a component; stay safe anyway.
        let response = failure_response(HostFailure::Component(Failure::NoResponse));
        return (response, None);
    };

    set_spin_headers(&mut request, &found, client);
    let request = match read_body(request, state.body_read_timeout).await {
        Ok(request) => request,
        Err(failure) => {
            let response =
                failure_for_route(failure, &path, component.config_value("frontend_url"));
            return (response, Some(component));
        }
    };
    let result = component
        .handle(
            &state.runtime,
            request,
            state.memory_limit,
            state.request_timeout,
        )
        .await;
    let response = match result {
        Ok(response) => response,
        Err(failure) => failure_for_route(
            HostFailure::Component(failure),
            &path,
            component.config_value("frontend_url"),
        ),
    };
    (response, Some(component))
}

/// Sets the routing headers Spin gives a component, replacing any a client sent.
fn set_spin_headers(
    request: &mut hyper::Request<Incoming>,
    found: &crate::routes::RouteMatch<'_, '_>,
    client: SocketAddr,
) {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let headers = request.headers_mut();
    let spoofed: Vec<_> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    let values = [
        ("spin-full-url", format!("http://{host}{path_and_query}")),
        ("spin-path-info", found.path_info.to_owned()),
        ("spin-matched-route", found.route.source().to_owned()),
        ("spin-raw-component-route", found.route.source().to_owned()),
        ("spin-component-route", found.route.component_route()),
        ("spin-base-path", "/".to_owned()),
        ("spin-client-addr", client.to_string()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn json_of(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn host_failures_use_the_contracts_status_and_code_pairs() {
        let cases = [
            (HostFailure::Component(Failure::Trap), 500, "internal"),
            (HostFailure::Component(Failure::NoResponse), 500, "internal"),
            (
                HostFailure::Component(Failure::Timeout),
                502,
                "upstream_unavailable",
            ),
            (HostFailure::Component(Failure::Overloaded), 500, "internal"),
            (HostFailure::BodyTooLarge, 413, "payload_too_large"),
            (HostFailure::BodyTimeout, 400, "validation_failed"),
        ];
        for (failure, status, code) in cases {
            let response = failure_response(failure);
            assert_eq!(response.status().as_u16(), status, "{failure:?}");
            let busy = response.headers().get(header::RETRY_AFTER).cloned();
            let body = json_of(response).await;
            assert_eq!(body["success"], false, "{failure:?}");
            assert_eq!(body["data"]["code"], code, "{failure:?}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
            let overloaded = failure == HostFailure::Component(Failure::Overloaded);
            assert_eq!(busy.is_some(), overloaded, "{failure:?}");
        }
    }

    #[test]
    fn callback_routes_are_told_by_their_last_segment() {
        assert_eq!(
            callback_platform("/api/platform/bluesky/callback"),
            Some("bluesky")
        );
        assert_eq!(
            callback_platform("/api/platform/x-y_1/callback"),
            Some("x-y_1")
        );
        assert_eq!(callback_platform("/api/platform/bluesky/connect"), None);
        assert_eq!(callback_platform("/api/platform/bluesky/callbacks"), None);
        assert_eq!(callback_platform("/callback"), None);
        assert_eq!(callback_platform("/api/platform/a%2Fb/callback"), None);
    }

    #[tokio::test]
    async fn callback_routes_never_get_json_other_routes_do() {
        let frontend = Some("http://front.test");
        for failure in [
            HostFailure::Component(Failure::Trap),
            HostFailure::Component(Failure::Timeout),
            HostFailure::Component(Failure::Overloaded),
            HostFailure::BodyTimeout,
        ] {
            let response = failure_for_route(failure, "/api/platform/threads/callback", frontend);
            assert_eq!(response.status(), StatusCode::FOUND, "{failure:?}");
            assert_eq!(
                response.headers()[header::LOCATION],
                "http://front.test/settings?error=threads_upstream_unavailable"
            );
            let response = failure_for_route(failure, "/api/platform/threads/status", frontend);
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/json",
                "{failure:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_callback_is_a_redirect_to_the_settings_page() {
        let response = callback_redirect("https://app.example/", "tumblr");
        assert_eq!(response.status(), StatusCode::FOUND);
        let headers = response.headers();
        assert_eq!(
            headers[header::LOCATION],
            "https://app.example/settings?error=tumblr_upstream_unavailable"
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert!(headers.get(header::CONTENT_TYPE).is_none());
    }
}
