//! Plain HTTP request and response values for the incoming side.
//!
//! The WASI adapter (`wasi.rs`) turns a `wasi:http` incoming request into an
//! [`HttpRequest`] (reading at most [`BODY_LIMIT`] + 1 bytes of body) and writes an
//! [`HttpResponse`] back, so routing, authentication and the envelope are ordinary Rust
//! that the unit tests drive directly.

/// The largest request body accepted; larger is `413 payload_too_large`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The body of an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The whole body (at most [`BODY_LIMIT`] bytes).
    Complete(Vec<u8>),
    /// The body was longer than [`BODY_LIMIT`]; the rest was not read.
    TooLarge,
}

/// An incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, upper case (`GET`, `POST`, …).
    pub method: String,
    /// The path without query, e.g. `/api/platform/bluesky/connect`.
    pub path: String,
    /// The raw query without `?` (empty when none).
    pub query: String,
    /// Headers with lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: RequestBody,
}

impl HttpRequest {
    /// A request with no headers and an empty body; `target` may carry a query.
    pub fn new(method: &str, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, query),
            None => (target, ""),
        };
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: RequestBody::Complete(Vec::new()),
        }
    }

    /// Adds a header (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        self.body = if body.len() > BODY_LIMIT {
            RequestBody::TooLarge
        } else {
            RequestBody::Complete(body)
        };
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response.
    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-store".into()),
            ],
            body,
        }
    }

    /// A `302 Found` to `location`. No body; the referrer is not passed on, so the
    /// callback URL (which carried a code) does not reach the next page.
    pub fn redirect(location: String) -> Self {
        Self {
            status: 302,
            headers: vec![
                ("location".into(), location),
                ("cache-control".into(), "no-store".into()),
                ("referrer-policy".into(), "no-referrer".into()),
            ],
            body: Vec::new(),
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}
