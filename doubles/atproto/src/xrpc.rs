//! XRPC answers: the `{"error","message"}` failure shape of platforms.md §1.3 and the
//! transport-neutral [`Reply`] the endpoint logic produces.

use serde_json::{Value, json};

/// An answer, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(value: &Value) -> Self {
        Self::json_status(200, value)
    }

    /// A JSON body with this status.
    pub fn json_status(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: Some("application/json; charset=utf-8"),
            headers: Vec::new(),
            body: value.to_string().into_bytes(),
        }
    }

    /// A body of any type.
    pub fn raw(status: u16, content_type: Option<&'static str>, body: &str) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The body parsed as JSON (`Null` when it is not JSON): for tests.
    #[cfg(test)]
    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An XRPC error: status, `error` name and `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {name}: {message}")]
pub(crate) struct XrpcError {
    pub status: u16,
    pub name: &'static str,
    pub message: String,
}

impl XrpcError {
    /// An error with this status, name and message.
    pub fn new(status: u16, name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            name,
            message: message.into(),
        }
    }

    /// 400 `InvalidRequest`.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", message)
    }

    /// 401 `AuthenticationRequired` "Invalid identifier or password".
    pub fn bad_login() -> Self {
        Self::new(
            401,
            "AuthenticationRequired",
            "Invalid identifier or password",
        )
    }

    /// 401 `AuthMissing`.
    pub fn auth_missing() -> Self {
        Self::new(401, "AuthMissing", "Authentication Required")
    }

    /// 400 `ExpiredToken` "Token has expired".
    pub fn expired() -> Self {
        Self::new(400, "ExpiredToken", "Token has expired")
    }

    /// 400 `ExpiredToken` "Token has been revoked".
    pub fn revoked() -> Self {
        Self::new(400, "ExpiredToken", "Token has been revoked")
    }

    /// 400 `InvalidToken` with this message.
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidToken", message)
    }

    /// 401 `AccountTakedown`.
    pub fn takedown() -> Self {
        Self::new(401, "AccountTakedown", "Account has been taken down")
    }
}

impl From<XrpcError> for Reply {
    fn from(error: XrpcError) -> Self {
        Reply::json_status(
            error.status,
            &json!({"error": error.name, "message": error.message}),
        )
    }
}
