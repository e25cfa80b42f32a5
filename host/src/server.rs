//! The HTTP front: accepts connections, routes each request, answers host endpoints.
//!
//! - `GET /healthz` and `GET /metrics` belong to the host and are answered here.
//! - Any other path is looked up in the manifest's routes; a match goes to the component
//!   (with Spin's `spin-*` routing headers set, as Spin would), anything else is a 404 in
//!   the contract's JSON envelope.
//! - A request whose component traps, overruns its deadline or finds no free instance is
//!   answered with a 5xx envelope that says nothing about the cause; the log says more.
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

fn failure_response(failure: Failure) -> Response {
    match failure {
        Failure::Trap | Failure::NoResponse => self::failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side. Please try again later.",
        ),
        Failure::Timeout => self::failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal",
            "The request took too long and was stopped. Please try again.",
        ),
        Failure::Overloaded => {
            let mut response = self::failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "The server is busy. Please try again in a moment.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
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
            .header_read_timeout(Duration::from_secs(30))
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
        latency_ms = latency.as_secs_f64() * 1000.0,
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
        return (failure_response(Failure::NoResponse), None);
    };

    set_spin_headers(&mut request, &found, client);
    let result = component
        .handle(
            &state.runtime,
            request,
            state.memory_limit,
            state.request_timeout,
        )
        .await;
    let response = result.unwrap_or_else(failure_response);
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
