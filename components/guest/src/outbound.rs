//! Calls to platform APIs: the request and response values, and the transport trait.
//!
//! In the component the transport is `wasi:http/outgoing-handler` with connect,
//! first-byte and between-bytes timeouts plus a total budget, and a cap on the response
//! body (`wasi.rs`); tests use closures. [`crate::Env::send`] wraps every call with
//! logging (host, path, status, latency — never a query string or a body) and turns
//! transport failures into the "transient" bucket of `upstream.rs`.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

use crate::error::ApiError;

/// Characters left as they are by [`percent_encode`]: RFC 3986 "unreserved".
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `value` per RFC 3986 (everything but `A-Z a-z 0-9 - . _ ~`, upper-case
/// hex, a space as `%20`). This is also exactly the encoding OAuth 1.0a signatures need
/// (RFC 5849 §3.6), byte for byte.
///
/// ```
/// use hayon_guest::outbound::percent_encode;
/// assert_eq!(percent_encode("a b*c~é"), "a%20b%2Ac~%C3%A9");
/// ```
pub fn percent_encode(value: &str) -> String {
    percent_encode_bytes(value.as_bytes())
}

/// [`percent_encode`] for bytes that need not be UTF-8 (decoded form values).
pub fn percent_encode_bytes(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, UNRESERVED).to_string()
}

/// A query string (`a=1&b=x%20y`) from pairs, each name and value [`percent_encode`]d.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An `application/x-www-form-urlencoded` body from pairs.
pub fn form_body<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// An HTTP method for outbound calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// A request to a platform API.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL (`http` or `https`), query included.
    pub url: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for OutboundRequest {
    /// Shows method and URL without its query, and header names only: queries, headers
    /// and bodies carry tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl OutboundRequest {
    /// A request with no headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A POST request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A DELETE request.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Sets header `name` (replacing an earlier value).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value.into()));
        self
    }

    /// Sets `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Appends query parameters (percent-encoded) to the URL.
    pub fn query<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let query = query_string(pairs);
        if !query.is_empty() {
            let separator = if self.url.contains('?') { '&' } else { '?' };
            self.url = format!("{}{separator}{query}", self.url);
        }
        self
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Result<Self, ApiError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|error| ApiError::internal(format!("encoding a JSON body: {error}")))?;
        let mut request = self.header("content-type", "application/json");
        request.body = bytes;
        Ok(request)
    }

    /// Sets a form body.
    pub fn form<'a>(self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut request = self.header("content-type", "application/x-www-form-urlencoded");
        request.body = form_body(pairs).into_bytes();
        request
    }

    /// The header value of `name`, if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// `(host, path)` of the URL, for logs: no scheme, userinfo, query or fragment.
    pub fn log_target(&self) -> (String, String) {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(index) => rest.split_at(index),
            None => (rest, "/"),
        };
        let host = authority.rsplit('@').next().unwrap_or_default();
        (host.to_owned(), path.to_owned())
    }
}

/// A platform's answer. Its `Debug` shows the status, headers (credential values
/// redacted) and the body's size, never the body, which carries tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    /// The status code.
    pub status: u16,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`Timeouts::max_body`] bytes).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for OutboundResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundResponse")
            .field("status", &self.status)
            .field("headers", &crate::http::RedactedHeaders(&self.headers))
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl OutboundResponse {
    /// A response with a JSON body (tests).
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string().into_bytes(),
        }
    }

    /// A response with any content type and body (tests).
    pub fn with_body(status: u16, content_type: &str, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header (tests).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the content type says JSON (`application/json`, `…+json`).
    pub fn has_json_content_type(&self) -> bool {
        self.header("content-type").is_some_and(|value| {
            let media = value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            media == "application/json" || media.ends_with("+json")
        })
    }

    /// Whether the answer is an HTML page — by content type, or by a body that starts
    /// with `<` — as the error pages of proxies and load balancers are. Useful where a
    /// platform's own answers are not JSON either (form-encoded or plain-text bodies).
    pub fn looks_like_html(&self) -> bool {
        let html_type = self.header("content-type").is_some_and(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("text/html")
        });
        let first = self.body.iter().find(|byte| !byte.is_ascii_whitespace());
        html_type || first == Some(&b'<')
    }

    /// The body parsed as JSON, `None` when it is not JSON (HTML error pages, truncated
    /// bodies, garbage). The content type is not trusted either way.
    pub fn json_body(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Time limits and the body cap for one outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until the connection is established.
    pub connect: Duration,
    /// From sending the request until the first response byte.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub between_bytes: Duration,
    /// For the whole call, body included.
    pub total: Duration,
    /// The largest response body read; larger is an error.
    pub max_body: usize,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            between_bytes: Duration::from_secs(10),
            total: Duration::from_secs(15),
            max_body: 1024 * 1024,
        }
    }
}

/// Why a call produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A time limit ran out.
    #[error("timed out")]
    Timeout,
    /// The connection could not be made (DNS, refused, TLS, host not allowed).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The response body was larger than the cap.
    #[error("response body over the limit")]
    BodyTooLarge,
    /// The exchange broke off (protocol error, reset).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The URL could not be used.
    #[error("invalid URL")]
    InvalidUrl,
}

/// Something that performs outbound HTTP calls.
pub trait Outbound {
    /// Performs `request` within `timeouts`.
    fn send(
        &self,
        request: &OutboundRequest,
        timeouts: &Timeouts,
    ) -> Result<OutboundResponse, TransportError>;
}

impl<F> Outbound for F
where
    F: Fn(&OutboundRequest) -> Result<OutboundResponse, TransportError>,
{
    fn send(
        &self,
        request: &OutboundRequest,
        _timeouts: &Timeouts,
    ) -> Result<OutboundResponse, TransportError> {
        self(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_debug_hides_the_body_and_cookies() {
        let mut response = OutboundResponse::json(
            200,
            &serde_json::json!({"access_token": "very-secret-token"}),
        );
        response
            .headers
            .push(("set-cookie".into(), "sid=very-secret-cookie".into()));
        let printed = format!("{response:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("200"), "{printed}");
        assert!(printed.contains("set-cookie"), "{printed}");
    }

    #[test]
    fn percent_encoding_is_rfc3986() {
        assert_eq!(
            percent_encode("Ladies + Gentlemen"),
            "Ladies%20%2B%20Gentlemen"
        );
        assert_eq!(
            percent_encode("An encoded string!"),
            "An%20encoded%20string%21"
        );
        assert_eq!(percent_encode("-._~aZ09"), "-._~aZ09");
        assert_eq!(percent_encode("☃"), "%E2%98%83");
        assert_eq!(percent_encode("a=b&c/d?"), "a%3Db%26c%2Fd%3F");
    }

    #[test]
    fn query_and_form_bodies() {
        let request = OutboundRequest::get("https://h/x").query([("actor", "did:plc:a b")]);
        assert_eq!(request.url, "https://h/x?actor=did%3Aplc%3Aa%20b");
        let request = request.query([("b", "1")]);
        assert!(request.url.ends_with("&b=1"));
        assert_eq!(
            form_body([("grant_type", "code"), ("x", "a b&c")]),
            "grant_type=code&x=a+b%26c"
        );
    }

    #[test]
    fn debug_and_log_target_hide_query_and_secrets() {
        let request =
            OutboundRequest::get("https://user@graph.example:8443/v1/me?access_token=SECRET")
                .bearer("TOKEN");
        let debug = format!("{request:?}");
        assert!(
            !debug.contains("SECRET") && !debug.contains("TOKEN"),
            "{debug}"
        );
        assert_eq!(
            request.log_target(),
            ("graph.example:8443".into(), "/v1/me".into())
        );
        assert_eq!(
            OutboundRequest::get("http://127.0.0.1:9").log_target(),
            ("127.0.0.1:9".into(), "/".into())
        );
    }

    #[test]
    fn json_detection() {
        let html = OutboundResponse::with_body(502, "text/html", "<html>Bad gateway</html>");
        assert!(!html.has_json_content_type());
        assert_eq!(html.json_body(), None);
        let problem = OutboundResponse::with_body(400, "application/problem+json", "{}");
        assert!(problem.has_json_content_type());
    }

    #[test]
    fn html_detection() {
        assert!(OutboundResponse::with_body(502, "Text/HTML; charset=utf-8", "").looks_like_html());
        assert!(OutboundResponse::with_body(401, "text/plain", "\n  <html>").looks_like_html());
        assert!(
            !OutboundResponse::with_body(401, "text/plain", "oauth_problem=x").looks_like_html()
        );
        assert!(!OutboundResponse::with_body(200, "", "").looks_like_html());
    }
}
