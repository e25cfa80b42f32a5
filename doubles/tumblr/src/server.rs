//! The two listeners (www and api) and the routing from HTTP requests to [`State`].
//!
//! Each listener is an axum router with a single fallback handler: routing is done here by
//! hand so that every request, matched or not, is logged with the path exactly as received
//! (the path is part of the signature base string).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::control::{Endpoint, Failure, Site};
use crate::reply::{Reply, page};
use crate::state::{ReceivedRequest, State};

/// The state shared by both listeners and the [`TumblrDouble`](crate::TumblrDouble) handle.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Bodies larger than this are refused (Tumblr's OAuth and user/info requests are tiny).
const BODY_LIMIT: usize = 1 << 20;

/// Locks the state; a panic in another holder does not make the double unusable.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Binds `addr` (port 0: any free port) for `site` and serves it in a background task.
pub(crate) async fn start(
    site: Site,
    shared: Shared,
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let router = Router::new().fallback(handle).with_state((site, shared));
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::warn!(site = ?site, %error, "tumblr double listener stopped");
        }
    });
    Ok((addr, task))
}

/// Where a request goes.
enum Route {
    To(Endpoint),
    MethodNotAllowed(&'static str),
    NotFound,
}

fn route(site: Site, method: &Method, path: &str) -> Route {
    let endpoint_and_allowed: Option<(Endpoint, &[Method], &'static str)> = match (site, path) {
        (Site::Www, "/oauth/request_token") => {
            Some((Endpoint::RequestToken, &[Method::POST], "POST"))
        }
        (Site::Www, "/oauth/authorize") => Some((Endpoint::Authorize, &[Method::GET], "GET")),
        (Site::Www, "/oauth/access_token") => Some((
            Endpoint::AccessToken,
            &[Method::GET, Method::POST],
            "GET, POST",
        )),
        (Site::Api, "/v2/user/info") => Some((Endpoint::UserInfo, &[Method::GET], "GET")),
        _ => None,
    };
    match endpoint_and_allowed {
        Some((endpoint, allowed, _)) if allowed.contains(method) => Route::To(endpoint),
        Some((_, _, allow)) => Route::MethodNotAllowed(allow),
        None => Route::NotFound,
    }
}

async fn handle(AxumState((site, shared)): AxumState<(Site, Shared)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        return into_response(Reply::text(413, "Request body too large".to_owned()));
    };
    let received = ReceivedRequest {
        method: parts.method.as_str().to_owned(),
        host: header_text(&parts.headers, header::HOST),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        content_type: header_text(&parts.headers, header::CONTENT_TYPE),
        authorization: header_text(&parts.headers, header::AUTHORIZATION),
        user_agent: header_text(&parts.headers, header::USER_AGENT),
        body: body.to_vec(),
    };

    let endpoint = match route(site, &parts.method, &received.path) {
        Route::To(endpoint) => endpoint,
        Route::MethodNotAllowed(allow) => {
            let mut reply = not_found_or_405(site, 405);
            reply.headers.push(("Allow".to_owned(), allow.to_owned()));
            return into_response(lock(&shared).serve_unrouted(site, &received, reply));
        }
        Route::NotFound => {
            let reply = not_found_or_405(site, 404);
            return into_response(lock(&shared).serve_unrouted(site, &received, reply));
        }
    };

    let failure = lock(&shared).take_failure(endpoint);
    let reply = match failure {
        Some(Failure::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            lock(&shared).serve(site, endpoint, &received)
        }
        Some(failure) => lock(&shared).serve_failure(site, endpoint, &received, failure),
        None => lock(&shared).serve(site, endpoint, &received),
    };
    into_response(reply)
}

fn not_found_or_405(site: Site, status: u16) -> Reply {
    let msg = if status == 404 {
        "Not Found"
    } else {
        "Method Not Allowed"
    };
    match site {
        Site::Api => Reply::envelope(status, msg),
        Site::Www => Reply::html(status, page(msg, "There's nothing here.")),
    }
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn into_response(reply: Reply) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    if let Some(content_type) = reply.content_type.as_deref()
        && let Ok(value) = HeaderValue::from_str(content_type)
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    response
}
