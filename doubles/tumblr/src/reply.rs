//! Answers in Tumblr's formats, and the one place where refusals become HTTP.
//!
//! The www host speaks plain text and form encoding (`platforms.md` §2.5: "OAuth endpoints
//! answer in plain text / form encoding"); the API host always answers the JSON envelope
//! `{"meta":{"status":…,"msg":…},"response":…}`.

use serde::Serialize;
use serde_json::json;

use crate::control::{Failure, Site};

/// Tumblr's API envelope; a struct so that `meta` lists `status` before `msg`, as Tumblr does.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope {
    pub meta: Meta,
    pub response: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<serde_json::Value>>,
}

/// The `meta` object of [`Envelope`].
#[derive(Debug, Serialize)]
pub(crate) struct Meta {
    pub status: u16,
    pub msg: String,
}

impl Envelope {
    pub fn new(status: u16, msg: &str, response: serde_json::Value) -> Self {
        Self {
            meta: Meta {
                status,
                msg: msg.to_owned(),
            },
            response,
            errors: None,
        }
    }
}

/// An answer, before it becomes an axum response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn new(status: u16, content_type: Option<&str>, body: String) -> Self {
        Self {
            status,
            content_type: content_type.map(str::to_owned),
            headers: Vec::new(),
            body,
        }
    }

    /// A 200 form-encoded OAuth answer.
    // Limitation: the content type of Tumblr's OAuth answers is not documented; the double
    // sends the one that names the format. Callers should not depend on it.
    pub fn form(body: String) -> Self {
        Self::new(
            200,
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            body,
        )
    }

    pub fn text(status: u16, body: String) -> Self {
        Self::new(status, Some("text/plain; charset=utf-8"), body)
    }

    pub fn html(status: u16, body: String) -> Self {
        Self::new(status, Some("text/html; charset=utf-8"), body)
    }

    pub fn json(status: u16, value: &impl Serialize) -> Self {
        // Serializing plain data (strings, numbers, maps with string keys) cannot fail.
        let body = serde_json::to_string(value).unwrap_or_default();
        Self::new(status, Some("application/json; charset=utf-8"), body)
    }

    /// The API envelope with an empty `response` array.
    pub fn envelope(status: u16, msg: &str) -> Self {
        Self::json(status, &Envelope::new(status, msg, json!([])))
    }

    pub fn redirect(location: String) -> Self {
        let mut reply = Self::html(302, page("Redirecting", "You are being redirected."));
        reply.headers.push(("Location".to_owned(), location));
        reply
    }

    /// The answer an injected failure gives on `site` (`Failure::Slow` never gets here).
    pub fn failure(site: Site, failure: &Failure) -> Self {
        match failure {
            Failure::Html(status) => Self::html(*status, proxy_error_page(*status)),
            Failure::Empty(status) => Self::new(*status, None, String::new()),
            Failure::RateLimited { retry_after } => {
                let mut reply = match site {
                    Site::Api => Self::envelope(429, "Limit Exceeded"),
                    Site::Www => Self::text(429, "Limit Exceeded".to_owned()),
                };
                if let Some(seconds) = retry_after {
                    reply
                        .headers
                        .push(("Retry-After".to_owned(), seconds.to_string()));
                }
                reply
            }
            Failure::Envelope { status, msg } => match site {
                Site::Api => Self::envelope(*status, msg),
                Site::Www => Self::text(*status, msg.clone()),
            },
            Failure::Raw {
                status,
                content_type,
                body,
            } => {
                let content_type = Some(content_type.as_str()).filter(|c| !c.is_empty());
                Self::new(*status, content_type, body.clone())
            }
            Failure::Slow(_) => Self::text(500, "double bug: Slow is not an answer".to_owned()),
        }
    }

    /// How `rejection` is answered on `site`.
    pub fn rejection(site: Site, rejection: &Rejection) -> Self {
        let status = rejection.status();
        match site {
            Site::Www => Self::text(status, rejection.to_string()),
            Site::Api => {
                let msg = if status == 401 {
                    "Unauthorized"
                } else {
                    "Bad Request"
                };
                if matches!(rejection, Rejection::Revoked) {
                    return Self::envelope(status, msg);
                }
                let mut envelope = Envelope::new(status, msg, json!([]));
                envelope.errors = Some(vec![
                    json!({ "title": msg, "code": 0, "detail": rejection.to_string() }),
                ]);
                Self::json(status, &envelope)
            }
        }
    }
}

/// Why a signed request was refused. The text is what the www host sends as its plain-text
/// body; the status follows RFC 5849 §3.2 (400 for a malformed request, 401 for credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    #[error("Missing Host header")]
    MissingHost,
    #[error("Missing or invalid Authorization header: {0}")]
    BadHeader(String),
    #[error("Missing required parameter [{0}]")]
    MissingParameter(&'static str),
    #[error("Duplicated protocol parameter [{0}]")]
    DuplicateParameter(String),
    #[error("Unsupported signature method [{0}]")]
    SignatureMethod(String),
    #[error("Unsupported oauth_version [{0}]")]
    Version(String),
    #[error("oauth_timestamp [{0}] is not a number of seconds")]
    TimestampFormat(String),
    #[error("oauth_callback [{0}] is neither an absolute http(s) URL nor oob")]
    Callback(String),
    #[error("Consumer key [{0}] is invalid")]
    UnknownConsumer(String),
    #[error("oauth_timestamp [{got}] is out of range; server time is [{now}] (window {window} s)")]
    Timestamp { got: i64, now: i64, window: u64 },
    #[error("oauth_token [{0}] is invalid")]
    UnknownToken(String),
    #[error("oauth_signature [{received}] does not match expected value [{expected}]")]
    SignatureMismatch { received: String, expected: String },
    #[error("oauth_nonce [{0}] has already been used")]
    NonceReplay(String),
    #[error("oauth_token [{0}] has already been used")]
    TokenUsed(String),
    #[error("oauth_token [{0}] has expired")]
    TokenExpired(String),
    #[error("oauth_token [{0}] has not been authorized by the user")]
    NotAuthorized(String),
    #[error("oauth_verifier [{0}] is invalid")]
    Verifier(String),
    #[error("The access token has been revoked")]
    Revoked,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingHost
            | Self::BadHeader(_)
            | Self::MissingParameter(_)
            | Self::DuplicateParameter(_)
            | Self::SignatureMethod(_)
            | Self::Version(_)
            | Self::TimestampFormat(_)
            | Self::Callback(_) => 400,
            Self::UnknownConsumer(_)
            | Self::Timestamp { .. }
            | Self::UnknownToken(_)
            | Self::SignatureMismatch { .. }
            | Self::NonceReplay(_)
            | Self::TokenUsed(_)
            | Self::TokenExpired(_)
            | Self::NotAuthorized(_)
            | Self::Verifier(_)
            | Self::Revoked => 401,
        }
    }
}

/// A small HTML page.
pub(crate) fn page(title: &str, text: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p></body></html>\n"
    )
}

/// The kind of page a reverse proxy answers with when the application behind it fails.
fn proxy_error_page(status: u16) -> String {
    let reason = match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        _ => "Error",
    };
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
         </body>\r\n</html>\r\n"
    )
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
