//! What a handler answers, before it becomes an HTTP response: status, headers, body, and
//! the facts the request log keeps about it (the error the double chose, the PKCE check).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::log::PkceCheck;

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// A response body.
#[derive(Debug, Clone)]
pub(crate) enum ReplyBody {
    Json(Value),
    Html(String),
    Raw {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
    Empty,
}

/// A handler's answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: ReplyBody,
    /// The error code or message the double answered with, for the request log.
    pub error: Option<String>,
    /// The PKCE outcome of a code exchange, for the request log.
    pub pkce: Option<PkceCheck>,
}

impl Reply {
    fn new(status: StatusCode, body: ReplyBody) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            error: None,
            pkce: None,
        }
    }

    /// A JSON answer.
    pub(crate) fn json(status: StatusCode, value: Value) -> Self {
        Self::new(status, ReplyBody::Json(value))
    }

    /// An HTML page.
    pub(crate) fn html(status: StatusCode, page: String) -> Self {
        Self::new(status, ReplyBody::Html(page))
    }

    /// A body of any type, possibly malformed on purpose.
    pub(crate) fn raw(status: StatusCode, content_type: &'static str, bytes: Vec<u8>) -> Self {
        Self::new(
            status,
            ReplyBody::Raw {
                content_type,
                bytes,
            },
        )
    }

    /// A status with no body at all.
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self::new(status, ReplyBody::Empty)
    }

    /// A `302 Found` to `location`, with the little HTML body Rails sends.
    pub(crate) fn redirect(location: String) -> Self {
        let page = format!(
            "<html><body>You are being <a href=\"{}\">redirected</a>.</body></html>",
            escape_html(&location)
        );
        Self::html(StatusCode::FOUND, page).with_header(header::LOCATION, location)
    }

    /// An OAuth error from `/oauth/token` or `/oauth/revoke`:
    /// `{"error": code, "error_description": description}`.
    pub(crate) fn oauth_error(status: StatusCode, code: &str, description: &str) -> Self {
        let mut reply = Self::json(
            status,
            json!({ "error": code, "error_description": description }),
        )
        .with_header(header::CACHE_CONTROL, "no-store, no-cache".to_owned())
        .with_error(code);
        if status == StatusCode::UNAUTHORIZED {
            let challenge = format!(
                "Bearer realm=\"Doorkeeper\", error=\"{code}\", error_description=\"{description}\""
            );
            reply = reply.with_header(header::WWW_AUTHENTICATE, challenge);
        }
        reply
    }

    /// A Mastodon API error: `{"error": message}`.
    pub(crate) fn api_error(status: StatusCode, message: &str) -> Self {
        Self::json(status, json!({ "error": message })).with_error(message)
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Records the error this answer stands for.
    pub(crate) fn with_error(mut self, error: &str) -> Self {
        self.error = Some(error.to_owned());
        self
    }

    /// Records the PKCE outcome.
    pub(crate) fn with_pkce(mut self, pkce: PkceCheck) -> Self {
        self.pkce = Some(pkce);
        self
    }

    /// The `Location` header, if this is a redirect.
    pub(crate) fn location(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| *name == header::LOCATION)
            .map(|(_, value)| value.as_str())
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            ReplyBody::Json(value) => (Some(JSON), value.to_string().into_bytes()),
            ReplyBody::Html(page) => (Some(HTML), page.into_bytes()),
            ReplyBody::Raw {
                content_type,
                bytes,
            } => (Some(content_type), bytes),
            ReplyBody::Empty => (None, Vec::new()),
        };
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        for (name, value) in self.headers {
            // The double builds every header value itself; one that is not a valid header
            // value (none is) is dropped rather than failing the answer.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// Escapes text for an HTML page.
pub(crate) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}
