//! Plain HTTP request and response values for the incoming side.
//!
//! The WASI adapter (`wasi.rs`) turns a `wasi:http` incoming request into an
//! [`HttpRequest`] (reading at most [`BODY_LIMIT`] + 1 bytes of body) and writes an
//! [`HttpResponse`] back, so routing, authentication and the envelope are ordinary Rust
//! that the unit tests drive directly.

/// The largest request body accepted; larger is `413 payload_too_large`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The body of an incoming request.
#[derive(Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The whole body (at most [`BODY_LIMIT`] bytes).
    Complete(Vec<u8>),
    /// The body was longer than [`BODY_LIMIT`]; the rest was not read.
    TooLarge,
}

/// An incoming request.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for RequestBody {
    /// The size only: a body carries passwords and tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Complete(bytes) => write!(f, "Complete(<{} bytes>)", bytes.len()),
            Self::TooLarge => f.write_str("TooLarge"),
        }
    }
}

impl std::fmt::Debug for HttpRequest {
    /// Method, path, header names and the body's size: the query, credential headers and
    /// the body carry secrets (callback codes, bearer tokens, passwords).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &format_args!("<{} bytes>", self.query.len()))
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &self.body)
            .finish()
    }
}

/// Headers for `Debug`: names with their values, except the values of headers that carry
/// credentials (`authorization`, `proxy-authorization`, `cookie`, `set-cookie`), which are
/// `[redacted]`.
pub struct RedactedHeaders<'a>(pub &'a [(String, String)]);

impl std::fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SENSITIVE: [&str; 4] = [
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
        ];
        let mut list = f.debug_list();
        for (name, value) in self.0 {
            if SENSITIVE.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                list.entry(&(name, "[redacted]"));
            } else {
                list.entry(&(name, value));
            }
        }
        list.finish()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials_and_bodies() {
        let request = HttpRequest::new("POST", "/api/platform/x/callback?code=very-secret-code")
            .with_header("Authorization", "Bearer very-secret-jwt")
            .with_header("cookie", "sid=very-secret-cookie")
            .with_header("content-type", "application/json")
            .with_body(r#"{"appPassword":"very-secret-password"}"#);
        let printed = format!("{request:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(printed.contains("authorization"), "{printed}");
        assert!(printed.contains("application/json"), "{printed}");
        assert!(printed.contains("/api/platform/x/callback"), "{printed}");
    }
}
