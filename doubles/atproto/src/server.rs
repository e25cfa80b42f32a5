//! HTTP plumbing: one axum listener per [`Service`], all sharing the state. Each request
//! is logged on arrival, may be answered by an injected fault, and otherwise goes to the
//! endpoint logic.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Service;
use crate::endpoints::{Incoming, handle};
use crate::faults::{Endpoint, Fault};
use crate::log::{AuthKind, RequestRecord};
use crate::state::{State, rate_limit_headers};
use crate::xrpc::{Reply, XrpcError};

/// Largest request body the double reads.
const MAX_BODY: usize = 1 << 20;

/// The shared state handle.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Locks the state; a test that panicked while holding it leaves usable data behind.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone)]
struct Listener {
    shared: Shared,
    service: Service,
}

/// Serves `service` on `listener` until the task is aborted.
pub(crate) fn spawn(listener: TcpListener, shared: Shared, service: Service) -> JoinHandle<()> {
    let router = Router::new()
        .fallback(serve)
        .with_state(Listener { shared, service });
    tokio::spawn(async move {
        // The double stops when its task is aborted; a serve error only ends this listener.
        let _ = axum::serve(listener, router).await;
    })
}

async fn serve(AxumState(listener): AxumState<Listener>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY).await.unwrap_or_default().to_vec();
    let header_str = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let incoming = Incoming {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        host: header_str(header::HOST).unwrap_or_default().to_owned(),
        authorization: header_str(header::AUTHORIZATION).map(str::to_owned),
        content_type: header_str(header::CONTENT_TYPE).map(str::to_owned),
        body,
    };
    let service = listener.service;
    let endpoint = Endpoint::from_path(service, &incoming.path);

    let (seq, fault) = arrive(&listener.shared, service, endpoint, &incoming);
    if let Some(Fault::Delay(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    let reply = {
        let mut state = lock(&listener.shared);
        let now = state.now_secs();
        match fault.and_then(|fault| fault_reply(&fault, now)) {
            Some(reply) => reply,
            None => handle(&mut state, service, &incoming),
        }
    };

    let mut state = lock(&listener.shared);
    if let Some(record) = state.log.iter_mut().rev().find(|r| r.seq == seq) {
        record.status = reply.status;
    }
    drop(state);
    into_response(reply)
}

/// Logs the request and takes the first fault rule that applies to it.
fn arrive(
    shared: &Shared,
    service: Service,
    endpoint: Option<Endpoint>,
    incoming: &Incoming,
) -> (u64, Option<Fault>) {
    let mut state = lock(shared);
    let seq = state.next_seq;
    state.next_seq += 1;
    let (auth, bearer) = AuthKind::of(incoming.authorization.as_deref());
    state.log.push(RequestRecord {
        seq,
        service,
        endpoint,
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        host: incoming.host.clone(),
        auth,
        bearer,
        body: String::from_utf8_lossy(&incoming.body).into_owned(),
        status: 0,
    });
    let fault = endpoint.and_then(|endpoint| {
        state
            .faults
            .iter_mut()
            .find_map(|rule| rule.take(service, endpoint))
    });
    (seq, fault)
}

/// The answer an injected fault gives instead of the real one (`None` for a delay, after
/// which the endpoint answers normally).
pub(crate) fn fault_reply(fault: &Fault, now_secs: i64) -> Option<Reply> {
    const HTML: Option<&str> = Some("text/html");
    let reply = match fault {
        Fault::Html502 => Reply::raw(
            502,
            HTML,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
             <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n",
        ),
        Fault::UpstreamFailure502 => {
            XrpcError::new(502, "UpstreamFailure", "Upstream Failure").into()
        }
        Fault::NotEnoughResources503 => {
            XrpcError::new(503, "NotEnoughResources", "Not enough resources").into()
        }
        Fault::GatewayTimeout504 => Reply::raw(
            504,
            HTML,
            "<html><head><title>504 Gateway Time-out</title></head><body>\
             <center><h1>504 Gateway Time-out</h1></center></body></html>",
        ),
        Fault::EmptyBody => Reply::raw(200, Some("application/json; charset=utf-8"), ""),
        Fault::TruncatedJson => Reply::raw(
            200,
            Some("application/json; charset=utf-8"),
            "{\"accessJwt\":\"eyJ0eXAiOiJhdCtqd3QiLCJhbGci",
        ),
        Fault::RateLimited { reset_in } => {
            let reset_at =
                now_secs.saturating_add(i64::try_from(reset_in.as_secs()).unwrap_or(i64::MAX));
            let error: Reply =
                XrpcError::new(429, "RateLimitExceeded", "Rate Limit Exceeded").into();
            rate_limit_headers(10, 0, reset_at, std::time::Duration::from_secs(86_400))
                .into_iter()
                .fold(error, |reply, (name, value)| reply.with_header(name, value))
        }
        Fault::Delay(_) => return None,
    };
    Some(reply)
}

fn into_response(reply: Reply) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Some(content_type) = reply.content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    response
}
