//! Meta's error bodies: the Graph shape and the two flat shapes of the Threads/Instagram
//! token endpoint and authorization window.
//!
//! Graph: `{"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}`
//! (fields other than `message` may be absent; `error_subcode` may be `0`).
//! Token endpoint: `{"error_type":"OAuthException","code":400,"error_message":"..."}`.
//! Authorization window: `{"error_message":"...","error_code":1349026}`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::clock::meta_date;
use crate::minter::Minter;
use crate::wire::Reply;

/// A Graph-style error answer; build one with the constructors or fill the fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status (Meta usually answers 400; 403 for some throttling, 500 for failures).
    pub status: u16,
    /// `error.code`.
    pub code: i64,
    /// `error.error_subcode`; `None` leaves the field out, `Some(0)` writes `0`.
    pub subcode: Option<i64>,
    /// `error.message`.
    pub message: String,
    /// `error.type`, usually `OAuthException`.
    pub kind: String,
    /// `error.is_transient`, when present.
    pub is_transient: Option<bool>,
    /// `error.error_user_title` and `error.error_user_msg`, when present (boxed to keep
    /// `Result<_, GraphError>` small).
    pub user_text: Option<Box<(String, String)>>,
    /// Extra response headers (rate-usage headers, `WWW-Authenticate`).
    pub headers: Vec<(String, String)>,
}

impl GraphError {
    /// An `OAuthException` with HTTP 400 and no subcode.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            subcode: None,
            message: message.into(),
            kind: "OAuthException".to_owned(),
            is_transient: None,
            user_text: None,
            headers: Vec::new(),
        }
    }

    /// Sets `error_subcode`.
    pub fn subcode(mut self, subcode: i64) -> Self {
        self.subcode = Some(subcode);
        self
    }

    /// Sets the HTTP status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets `error.type`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// Sets `is_transient`.
    pub fn transient(mut self, is_transient: bool) -> Self {
        self.is_transient = Some(is_transient);
        self
    }

    /// Sets `error_user_title` and `error_user_msg`.
    pub fn user_text(mut self, title: impl Into<String>, msg: impl Into<String>) -> Self {
        self.user_text = Some(Box::new((title.into(), msg.into())));
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Error 190 for a token that died with `subcode` (458, 459, 460, 463, 464, 467, 492,
    /// or 0), with Meta's message for it. 463 uses `expired_at` in its message.
    pub fn token_dead(subcode: i64, app_id: &str, expired_at: i64, now: i64) -> Self {
        let message = match subcode {
            458 => format!(
                "Error validating access token: The user has not authorized application \
                 {app_id}."
            ),
            459 => "Error validating access token: You cannot access the app till you log in \
                    to www.facebook.com and follow the instructions given."
                .to_owned(),
            460 => "Error validating access token: The session has been invalidated because \
                    the user changed their password or Facebook has changed the session for \
                    security reasons."
                .to_owned(),
            463 => format!(
                "Error validating access token: Session has expired on {}. The current time \
                 is {}.",
                meta_date(expired_at),
                meta_date(now)
            ),
            464 => "Error validating access token: Sessions for the user are not allowed \
                    because the user is not a confirmed user."
                .to_owned(),
            467 => "Error validating access token: The session is invalid because the user \
                    logged out."
                .to_owned(),
            492 => "Error validating access token: The session is invalid because the user's \
                    role on the Page changed."
                .to_owned(),
            _ => "Error validating access token: The session was invalidated explicitly using \
                  an API call."
                .to_owned(),
        };
        Self::new(190, message)
            .subcode(subcode)
            .invalid_token_header()
    }

    /// Error 190 without a subcode for a token this double never issued.
    pub fn token_unknown() -> Self {
        Self::new(
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
        .invalid_token_header()
    }

    /// Error 104 for a request without any access token.
    pub fn token_missing() -> Self {
        Self::new(104, "An access token is required to request this resource.")
    }

    /// Error 100/33 for an object that does not exist or that the token cannot see.
    pub fn no_such_object(id: &str, method: &str) -> Self {
        Self::new(
            100,
            format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation. Please \
                 read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .subcode(33)
        .kind("GraphMethodException")
    }

    /// Error 100 for a field the node type does not have.
    pub fn no_such_field(field: &str, node_type: &str) -> Self {
        Self::new(
            100,
            format!(
                "(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"
            ),
        )
    }

    /// Error 100 "The requested resource does not exist" (seen for dead Threads/IG tokens).
    pub fn resource_missing() -> Self {
        Self::new(100, "The requested resource does not exist")
    }

    fn invalid_token_header(self) -> Self {
        let value = format!(
            "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
            self.message.replace('"', "'")
        );
        self.header("www-authenticate", value)
    }

    /// Adds `WWW-Authenticate: OAuth "Facebook Platform" "invalid_code" "<message>"`.
    pub(crate) fn invalid_code_header(self) -> Self {
        let value = format!(
            "OAuth \"Facebook Platform\" \"invalid_code\" \"{}\"",
            self.message.replace('"', "'")
        );
        self.header("www-authenticate", value)
    }

    /// The JSON body, with a fresh `fbtrace_id`.
    pub(crate) fn body(&self, minter: &mut Minter) -> Value {
        let mut error = Map::new();
        error.insert("message".to_owned(), json!(self.message));
        error.insert("type".to_owned(), json!(self.kind));
        error.insert("code".to_owned(), json!(self.code));
        if let Some(subcode) = self.subcode {
            error.insert("error_subcode".to_owned(), json!(subcode));
        }
        if let Some(is_transient) = self.is_transient {
            error.insert("is_transient".to_owned(), json!(is_transient));
        }
        if let Some((title, msg)) = self.user_text.as_deref() {
            error.insert("error_user_title".to_owned(), json!(title));
            error.insert("error_user_msg".to_owned(), json!(msg));
        }
        error.insert("fbtrace_id".to_owned(), json!(minter.url_safe("A", 22)));
        json!({ "error": error })
    }

    /// The HTTP answer.
    pub(crate) fn reply(&self, minter: &mut Minter) -> Reply {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut reply = Reply::json(status, &self.body(minter))
            .with_header("x-fb-trace-id", minter.url_safe("", 11));
        for (name, value) in &self.headers {
            reply = reply.with_header(name, value.clone());
        }
        reply
    }
}

/// The flat token-endpoint error of Threads and Instagram Login, HTTP 400:
/// `{"error_type":"OAuthException","code":400,"error_message":...}`.
pub(crate) fn flat_token_error(message: &str) -> Reply {
    let body = json!({ "error_type": "OAuthException", "code": 400, "error_message": message });
    Reply::json(StatusCode::BAD_REQUEST, &body)
}

/// The flat authorization-window error of Threads, HTTP 400:
/// `{"error_message":...,"error_code":...}`.
pub(crate) fn flat_window_error(message: &str, error_code: i64) -> Reply {
    let body = json!({ "error_message": message, "error_code": error_code });
    Reply::json(StatusCode::BAD_REQUEST, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_body_has_the_documented_shape() {
        let mut minter = Minter::new();
        let body = GraphError::token_dead(0, "1", 0, 0).body(&mut minter);
        let error = &body["error"];
        assert_eq!(error["type"], "OAuthException");
        assert_eq!(error["code"], 190);
        assert_eq!(error["error_subcode"], 0);
        assert!(error["fbtrace_id"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(error.get("is_transient").is_none());
        let no_subcode = GraphError::token_unknown().body(&mut minter);
        assert!(no_subcode["error"].get("error_subcode").is_none());
    }

    #[test]
    fn expired_message_names_both_times() {
        let error = GraphError::token_dead(463, "1", 0, 86_400);
        assert!(
            error
                .message
                .contains("Session has expired on Thursday, 01-Jan-70")
        );
        assert!(
            error
                .message
                .contains("The current time is Friday, 02-Jan-70")
        );
    }
}
