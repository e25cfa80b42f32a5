//! The JSON envelope every answer uses: `{"success", "message", "data"}`.
//!
//! Successes carry the operation's data; failures carry `{"code": …}` plus `errors` for
//! validation failures and `retryAfter` for rate limits, with the `Allow` and
//! `Retry-After` headers the contract asks for. All of it comes from [`ApiError`]'s single
//! mapping.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::HttpResponse;

#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    message: &'a str,
    data: Value,
}

fn encode(status: u16, envelope: &Envelope<'_>) -> HttpResponse {
    // Serializing a `Value` with string keys cannot fail; fall back to a fixed body anyway.
    let body = serde_json::to_vec(envelope).unwrap_or_else(|_| {
        br#"{"success":false,"message":"internal error","data":{"code":"internal"}}"#.to_vec()
    });
    HttpResponse::json(status, body)
}

/// A `200` success with `data`.
pub fn success(message: &str, data: Value) -> HttpResponse {
    encode(
        200,
        &Envelope {
            success: true,
            message,
            data,
        },
    )
}

/// The failure answer for `error`, with its status and headers.
pub fn failure(error: &ApiError) -> HttpResponse {
    let mut data = json!({ "code": error.code() });
    if let Some(fields) = error.fields() {
        data["errors"] = json!(fields);
    }
    if let Some(seconds) = error.retry_after() {
        data["retryAfter"] = json!(seconds);
    }
    let message = error.public_message();
    let mut response = encode(
        error.status(),
        &Envelope {
            success: false,
            message: &message,
            data,
        },
    );
    if let ApiError::MethodNotAllowed { allow } = error {
        response.headers.push(("allow".into(), allow.clone()));
    }
    if let Some(seconds) = error.retry_after() {
        response
            .headers
            .push(("retry-after".into(), seconds.to_string()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &HttpResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn success_shape() {
        let response = success("Connected.", json!({"accounts": []}));
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            body(&response),
            json!({"success": true, "message": "Connected.", "data": {"accounts": []}})
        );
    }

    #[test]
    fn validation_failure_lists_fields() {
        let response = failure(&ApiError::invalid_field("identifier", "Enter a handle."));
        assert_eq!(response.status, 400);
        assert_eq!(
            body(&response),
            json!({
                "success": false,
                "message": "Enter a handle.",
                "data": {"code": "validation_failed", "errors": {"identifier": ["Enter a handle."]}}
            })
        );
    }

    #[test]
    fn method_not_allowed_sets_allow() {
        let response = failure(&ApiError::MethodNotAllowed {
            allow: "POST".into(),
        });
        assert_eq!(response.status, 405);
        assert_eq!(response.header("allow"), Some("POST"));
        assert_eq!(
            body(&response)["data"],
            json!({"code": "method_not_allowed"})
        );
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let error = ApiError::RateLimited {
            retry_after: Some(30),
            message: "Slow down.".into(),
        };
        let response = failure(&error);
        assert_eq!(response.status, 429);
        assert_eq!(response.header("retry-after"), Some("30"));
        assert_eq!(
            body(&response)["data"],
            json!({"code": "rate_limited", "retryAfter": 30})
        );
        assert_eq!(body(&response)["success"], json!(false));
    }

    #[test]
    fn rate_limited_without_a_hint_still_sets_retry_after() {
        let error = ApiError::RateLimited {
            retry_after: None,
            message: "Slow down.".into(),
        };
        let response = failure(&error);
        let default = crate::error::DEFAULT_RETRY_AFTER_SECONDS;
        assert_eq!(
            response.header("retry-after"),
            Some(default.to_string().as_str())
        );
        assert_eq!(body(&response)["data"]["retryAfter"], json!(default));
    }

    #[test]
    fn internal_failure_hides_detail() {
        let response = failure(&ApiError::internal("secret detail"));
        assert_eq!(response.status, 500);
        assert!(
            !String::from_utf8(response.body)
                .unwrap()
                .contains("secret detail")
        );
    }
}
