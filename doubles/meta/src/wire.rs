//! What a double receives and what it answers, independent of axum.
//!
//! Every listener turns the HTTP request into an [`Incoming`] (query string and
//! form-encoded body merged into one parameter list, as the Graph API does) and its
//! handlers answer a [`Reply`], which knows its status, content type, headers and body.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `Content-Type` of every JSON answer from Meta's hosts.
pub(crate) const JSON: &str = "application/json; charset=UTF-8";
/// `Content-Type` of HTML pages.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// One request as the doubles' handlers see it.
#[derive(Clone, Debug)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    /// The path as sent, percent-decoding left to the handlers.
    pub(crate) path: String,
    /// Query parameters, then form-body parameters, in order, decoded.
    pub(crate) params: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
}

impl Incoming {
    /// Builds the view from the parts of an HTTP request.
    pub(crate) fn new(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: HeaderMap,
        body: &[u8],
    ) -> Self {
        let mut params: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            params.extend(form_urlencoded::parse(body).into_owned());
        }
        Self {
            method,
            path: path.to_owned(),
            params,
            headers,
        }
    }

    /// The first value of parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, treating an empty value as missing.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.param(name).filter(|v| !v.is_empty())
    }

    /// The access token: the `access_token` parameter, else `Authorization: Bearer|OAuth`.
    pub(crate) fn access_token(&self) -> Option<&str> {
        self.non_empty("access_token").or_else(|| {
            let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            let known =
                scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth");
            known.then(|| token.trim()).filter(|t| !t.is_empty())
        })
    }

    /// A header value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer: status, content type, extra headers and body.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    /// A JSON answer from a `serde_json::Value`.
    pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        Self::json_text(status, value.to_string())
    }

    /// A JSON answer from text the caller already serialized (used where the exact
    /// number text matters, e.g. a Threads `user_id` above 2^53).
    pub(crate) fn json_text(status: StatusCode, body: String) -> Self {
        Self {
            status,
            content_type: Some(JSON.to_owned()),
            headers: Vec::new(),
            body,
        }
    }

    /// An HTML page.
    pub(crate) fn html(status: StatusCode, body: String) -> Self {
        Self {
            status,
            content_type: Some(HTML.to_owned()),
            headers: Vec::new(),
            body,
        }
    }

    /// A `302 Found` to `location`.
    pub(crate) fn redirect(location: &str) -> Self {
        Self {
            status: StatusCode::FOUND,
            content_type: Some(HTML.to_owned()),
            headers: vec![("location".to_owned(), location.to_owned())],
            body: String::new(),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some(content_type) = self.content_type
            && let Ok(value) = HeaderValue::from_str(&content_type)
        {
            headers.insert(header::CONTENT_TYPE, value);
        }
        for (name, value) in self.headers {
            let name = header::HeaderName::from_bytes(name.as_bytes());
            if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&value)) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// Percent-encodes a query value the way `application/x-www-form-urlencoded` does.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Appends `query` (already encoded) to `base`, with `?` or `&` as `base` needs.
pub(crate) fn append_query(base: &str, query: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

/// Escapes text for an HTML page.
pub(crate) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
