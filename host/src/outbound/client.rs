//! The pooled HTTP client that carries components' outbound requests.
//!
//! `wasmtime-wasi-http`'s default sender opens a new connection (and TLS session) per
//! request. This client keeps idle connections per host and reuses them, speaks HTTPS
//! with the Mozilla root store (`webpki-roots`) and plain HTTP, and bounds every request:
//! a connect timeout, a time limit until the response head arrives, and a limit on the
//! pause between body chunks. A guest's `request-options` shorten or lengthen the last
//! two; the host's values apply otherwise.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::address::{NonPublicAddress, PublicOnlyResolver, is_public};

/// Limits for outbound requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundOptions {
    /// Time to open a TCP connection.
    pub connect_timeout: Duration,
    /// Time from sending the request to receiving the response head, unless the guest
    /// sets its own `first-byte-timeout`.
    pub first_byte_timeout: Duration,
    /// Longest pause between response body chunks, unless the guest sets its own
    /// `between-bytes-timeout`.
    pub between_bytes_timeout: Duration,
    /// How long an unused connection is kept for reuse.
    pub idle_timeout: Duration,
}

impl Default for OutboundOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(20),
            between_bytes_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the outbound HTTPS client: {0}")]
pub struct ClientSetupError(String);

/// Which addresses a request may connect to (see [`crate::outbound::address`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any address: the allow list names the host literally.
    Any,
    /// Public addresses only: the host is allowed by a wildcard entry only.
    PublicOnly,
    /// None: the destination is not allowed at all.
    None,
}

/// A shared, pooled HTTP/1.1 client; clones share the pools. Requests that may reach
/// public addresses only use their own pool, whose connector resolves names with
/// [`PublicOnlyResolver`], so they never reuse a connection to a private address.
#[derive(Clone)]
pub struct OutboundClient {
    client: Client<HttpsConnector<HttpConnector>, WasiBody>,
    public_only: Client<HttpsConnector<HttpConnector<PublicOnlyResolver>>, WasiBody>,
    options: OutboundOptions,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    /// Builds a client with the given limits.
    pub fn new(options: OutboundOptions) -> Result<Self, ClientSetupError> {
        let client = build_client(HttpConnector::new(), &options)?;
        let public_only = build_client(
            HttpConnector::new_with_resolver(PublicOnlyResolver::new()),
            &options,
        )?;
        Ok(Self {
            client,
            public_only,
            options,
        })
    }

    /// Sends `request` (whose URI is absolute) and returns the response with a body that
    /// enforces the between-bytes limit.
    /// `reach` limits the addresses it may connect to: with [`Reach::PublicOnly`] an
    /// address literal or a name resolving to no public address fails with
    /// `HTTP-request-denied`.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        guest: Option<RequestOptions>,
        reach: Reach,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        if reach == Reach::None {
            return Err(HttpError::HttpRequestDenied);
        }
        if reach == Reach::PublicOnly {
            // The connector resolves names through the filter but connects to address
            // literals directly: check those here.
            let host = request.uri().host().unwrap_or_default();
            let literal = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = literal.parse::<std::net::IpAddr>()
                && !is_public(ip)
            {
                return Err(HttpError::HttpRequestDenied);
            }
        }
        let guest = guest.unwrap_or_default();
        let first_byte = guest
            .first_byte_timeout
            .unwrap_or(self.options.first_byte_timeout);
        let between_bytes = guest
            .between_bytes_timeout
            .unwrap_or(self.options.between_bytes_timeout);
        // Limitation: the pooled connector has one connect timeout for every request; a
        // guest's `connect-timeout` only adds to the wait for the response head.
        let head_limit = first_byte + guest.connect_timeout.unwrap_or(Duration::ZERO);

        let sending = match reach {
            Reach::PublicOnly => self.public_only.request(request),
            Reach::Any | Reach::None => self.client.request(request),
        };
        let response = tokio::time::timeout(head_limit, sending)
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(|e| classify(&e))?;

        Ok(response.map(|body| {
            TimedBody {
                inner: body,
                limit: between_bytes,
                sleep: Box::pin(tokio::time::sleep(between_bytes)),
            }
            .boxed_unsync()
        }))
    }
}

/// A pooled client over `http` (HTTPS with the Mozilla roots, or plain HTTP).
fn build_client<R>(
    mut http: HttpConnector<R>,
    options: &OutboundOptions,
) -> Result<Client<HttpsConnector<HttpConnector<R>>, WasiBody>, ClientSetupError>
where
    HttpsConnector<HttpConnector<R>>:
        hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    http.enforce_http(false);
    http.set_connect_timeout(Some(options.connect_timeout));
    http.set_nodelay(true);

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| ClientSetupError(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);

    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(options.idle_timeout)
        .pool_max_idle_per_host(32)
        .build(https))
}

/// Maps a client failure to the closest `wasi:http` error code.
fn classify(error: &hyper_util::client::legacy::Error) -> HttpError {
    tracing::debug!(error = ?error, "outbound request failed");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<NonPublicAddress>() {
            return HttpError::HttpRequestDenied;
        }
        source = next_cause(cause);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => HttpError::TlsCertificateError,
                rustls::Error::AlertReceived(_) => HttpError::TlsAlertReceived {
                    alert_id: None,
                    alert_message: Some(tls.to_string()),
                },
                _ => HttpError::TlsProtocolError,
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::TimedOut => return HttpError::ConnectionTimeout,
                std::io::ErrorKind::ConnectionRefused => return HttpError::ConnectionRefused,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
                    return HttpError::ConnectionTerminated;
                }
                _ => {}
            }
        }
        if cause.to_string().contains("dns error") {
            return HttpError::DnsError {
                rcode: Some("address not resolved".to_owned()),
                info_code: None,
            };
        }
        source = next_cause(cause);
    }
    if error.is_connect() {
        HttpError::ConnectionRefused
    } else {
        HttpError::HttpProtocolError
    }
}

/// The error behind `error`. An `io::Error` built around another error hides that error
/// from `source()` (it returns the inner error's source), so it is unwrapped here.
fn next_cause<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e (dyn std::error::Error + 'static)> {
    let wrapped = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref);
    match wrapped {
        Some(inner) => Some(inner),
        None => error.source(),
    }
}

/// A response body that fails when no chunk arrives within `limit`.
struct TimedBody {
    inner: Incoming,
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = Instant::now() + self.limit;
                self.sleep.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(self.sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Empty, Full};

    fn get(url: &str) -> http::Request<WasiBody> {
        let body = Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(url).body(body).unwrap()
    }

    #[tokio::test]
    async fn a_closed_port_is_connection_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = OutboundClient::new(OutboundOptions::default()).unwrap();
        let error = client
            .send(get(&format!("http://{addr}/")), None, Reach::Any)
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::ConnectionRefused), "{error}");
    }

    #[tokio::test]
    async fn a_silent_server_hits_the_guests_first_byte_timeout() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        let client = OutboundClient::new(OutboundOptions::default()).unwrap();
        let options = RequestOptions {
            first_byte_timeout: Some(Duration::from_millis(100)),
            ..RequestOptions::default()
        };
        let error = client
            .send(get(&format!("http://{addr}/")), Some(options), Reach::Any)
            .await
            .unwrap_err();
        assert!(matches!(error, HttpError::ConnectionReadTimeout), "{error}");
        server.abort();
    }

    #[tokio::test]
    async fn connections_are_reused() {
        // A server that counts connections and answers every request on each.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&connections);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
        let client = OutboundClient::new(OutboundOptions::default()).unwrap();
        for _ in 0..3 {
            let response = client
                .send(get(&format!("http://{addr}/")), None, Reach::Any)
                .await
                .unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
        server.abort();
    }
}
