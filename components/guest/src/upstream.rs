//! Classifying what a platform answered, and mapping it to the contract's codes.
//!
//! `platforms.md` §0 sorts failures into three buckets, and only one of them may
//! disconnect an account:
//!
//! * **credentials dead** — the platform refuses the credentials: at connect time the
//!   person typed or approved something wrong (`invalid_credentials`); for stored
//!   credentials the account must be reconnected (`reconnect_required`);
//! * **transient** — 5xx, 429 and throttling, timeouts, HTML or unreadable bodies: retry
//!   later, keep the account (`rate_limited` / `upstream_unavailable`);
//! * **request error** — the platform refused this particular request (our bug, or
//!   content it rejects): fail the operation only (`internal`).
//!
//! [`UpstreamFailure::classify`] does the platform-neutral part from status, headers and
//! body; a connector refines it with its platform's error codes (Bluesky's
//! `ExpiredToken`, Meta's code 190…) before calling [`UpstreamFailure::into_api`], the one
//! place a failure becomes an [`ApiError`].

use serde_json::Value;

use crate::error::ApiError;
use crate::outbound::{OutboundResponse, TransportError};
use crate::time::Timestamp;

/// The longest wait we pass on to callers, in seconds (one day).
const MAX_RETRY_AFTER: i64 = 86_400;

/// The three buckets of `platforms.md` §0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The credentials are refused (wrong, revoked, expired beyond refresh).
    CredentialsDead,
    /// Try again later; the account stays as it is.
    Transient,
    /// This request was refused; nothing to retry.
    RequestError,
}

/// Whose credentials a call used, which decides what "credentials dead" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Credentials just typed or approved by the person (connect, callback).
    Connect,
    /// Credentials we stored earlier (refresh, disconnect).
    Stored,
}

/// A failed platform call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFailure {
    /// The bucket.
    pub class: FailureClass,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The platform's error name or code (`ExpiredToken`, `190`, `invalid_grant`).
    pub error: Option<String>,
    /// The platform's error message, for logs (may be shown: platforms write them for
    /// people, and they carry no secrets).
    pub message: Option<String>,
    /// Whether this is throttling (transient with a wait).
    pub rate_limited: bool,
    /// Seconds to wait, when the platform said.
    pub retry_after: Option<u32>,
}

impl UpstreamFailure {
    /// A failure of the given class with nothing else known.
    pub fn new(class: FailureClass) -> Self {
        Self {
            class,
            status: None,
            error: None,
            message: None,
            rate_limited: false,
            retry_after: None,
        }
    }

    /// A transport failure (timeout, connection refused, body too large): transient.
    pub fn transport(error: &TransportError) -> Self {
        Self {
            message: Some(error.to_string()),
            ..Self::new(FailureClass::Transient)
        }
    }

    /// A success response whose body could not be read as expected: transient (platforms
    /// and their proxies answer HTML or truncated bodies under load).
    pub fn unreadable(response: &OutboundResponse) -> Self {
        Self {
            status: Some(response.status),
            message: Some("the answer was not the JSON expected".into()),
            ..Self::new(FailureClass::Transient)
        }
    }

    /// Classifies a non-2xx response on status, headers and body alone:
    ///
    /// * 429 → transient, rate-limited, with the wait from the headers;
    /// * 5xx, or any error answer that is not JSON (HTML pages, garbage) → transient;
    /// * 401 with a JSON body → credentials dead;
    /// * other 4xx with a JSON body → request error.
    pub fn classify(response: &OutboundResponse, now: Timestamp) -> Self {
        let body = response.json_body();
        let (error, message) = body.as_ref().map(error_fields).unwrap_or_default();
        let class = match response.status {
            429 => FailureClass::Transient,
            500..=599 => FailureClass::Transient,
            _ if body.is_none() => FailureClass::Transient,
            401 => FailureClass::CredentialsDead,
            _ => FailureClass::RequestError,
        };
        let rate_limited = response.status == 429;
        Self {
            class,
            status: Some(response.status),
            error,
            message,
            rate_limited,
            retry_after: if rate_limited {
                retry_after(response, now)
            } else {
                None
            },
        }
    }

    /// Turns this failure into the contract's error, with messages naming `platform`
    /// (e.g. `Bluesky`). The single mapping from upstream failures to codes.
    pub fn into_api(self, platform: &str, phase: Phase) -> ApiError {
        match (self.class, phase) {
            (FailureClass::CredentialsDead, Phase::Connect) => ApiError::InvalidCredentials {
                message: format!(
                    "{platform} did not accept those credentials. Check them and try again."
                ),
            },
            (FailureClass::CredentialsDead, Phase::Stored) => ApiError::ReconnectRequired {
                message: format!(
                    "{platform} no longer accepts Hayon's access to this account. \
                     Connect the account again."
                ),
            },
            (FailureClass::Transient, _) if self.rate_limited => {
                ApiError::rate_limited(platform, self.retry_after)
            }
            (FailureClass::Transient, _) => ApiError::UpstreamUnavailable {
                message: format!(
                    "{platform} is not answering properly right now. \
                     Try again in a few minutes."
                ),
            },
            (FailureClass::RequestError, _) => ApiError::internal(format!(
                "{platform} refused a request: status {:?}, error {:?}, message {:?}",
                self.status, self.error, self.message
            )),
        }
    }
}

/// The platform's error name and message from common JSON error shapes:
/// `{"error": "Name", "message": "…"}` (atproto), `{"error": "…", "error_description": "…"}`
/// (OAuth, Mastodon), `{"error": {"code": 190, "message": "…"}}` (Meta).
pub fn error_fields(body: &Value) -> (Option<String>, Option<String>) {
    let text = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    match body.get("error") {
        Some(Value::Object(inner)) => (
            inner.get("code").and_then(text),
            inner.get("message").and_then(text),
        ),
        Some(name) => (
            text(name),
            body.get("message")
                .or_else(|| body.get("error_description"))
                .and_then(text),
        ),
        None => (None, body.get("message").and_then(text)),
    }
}

/// The wait a throttling answer asks for, in seconds (at least 1, at most a day), from
/// `Retry-After` (seconds or an HTTP date), `RateLimit-Reset` (atproto: Unix seconds; a
/// small number is read as seconds to wait) or `X-RateLimit-Reset` (Mastodon: an ISO 8601
/// time).
pub fn retry_after(response: &OutboundResponse, now: Timestamp) -> Option<u32> {
    let until = |at: i64| now.seconds_until(Timestamp::from_unix(at));
    let from_retry_after = response.header("retry-after").and_then(|value| {
        let value = value.trim();
        value.parse::<i64>().ok().or_else(|| {
            let at = httpdate::parse_http_date(value).ok()?;
            let at = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
            Some(until(i64::try_from(at).ok()?))
        })
    });
    let reset = |name: &str| {
        let value = response.header(name)?.trim();
        match value.parse::<i64>() {
            Ok(number) if number > 1_000_000_000 => Some(until(number)),
            Ok(number) => Some(number),
            Err(_) => Timestamp::parse_rfc3339(value).map(|at| until(at.unix())),
        }
    };
    let seconds = from_retry_after
        .or_else(|| reset("ratelimit-reset"))
        .or_else(|| reset("x-ratelimit-reset"))?;
    u32::try_from(seconds.clamp(1, MAX_RETRY_AFTER)).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_787_227_200);

    fn classify(response: OutboundResponse) -> UpstreamFailure {
        UpstreamFailure::classify(&response, NOW)
    }

    #[test]
    fn html_and_garbage_are_transient_never_credentials() {
        for status in [401, 403, 404, 502, 503] {
            let html = OutboundResponse::with_body(status, "text/html", "<html>oops</html>");
            assert_eq!(classify(html).class, FailureClass::Transient, "{status}");
        }
        let truncated = OutboundResponse::with_body(401, "application/json", "{\"error\":");
        assert_eq!(classify(truncated).class, FailureClass::Transient);
        let empty = OutboundResponse::with_body(504, "text/plain", "");
        assert_eq!(classify(empty).class, FailureClass::Transient);
    }

    #[test]
    fn json_statuses() {
        let failure = classify(OutboundResponse::json(
            401,
            &json!({"error": "AuthenticationRequired", "message": "Invalid identifier"}),
        ));
        assert_eq!(failure.class, FailureClass::CredentialsDead);
        assert_eq!(failure.error.as_deref(), Some("AuthenticationRequired"));
        let failure = classify(OutboundResponse::json(
            400,
            &json!({"error": "InvalidRequest"}),
        ));
        assert_eq!(failure.class, FailureClass::RequestError);
        let failure = classify(OutboundResponse::json(
            502,
            &json!({"error": "UpstreamFailure"}),
        ));
        assert_eq!(failure.class, FailureClass::Transient);
    }

    #[test]
    fn error_shapes() {
        let meta =
            json!({"error": {"message": "Session expired", "type": "OAuthException", "code": 190}});
        assert_eq!(
            error_fields(&meta),
            (Some("190".into()), Some("Session expired".into()))
        );
        let oauth = json!({"error": "invalid_grant", "error_description": "expired"});
        assert_eq!(
            error_fields(&oauth),
            (Some("invalid_grant".into()), Some("expired".into()))
        );
    }

    #[test]
    fn retry_after_sources() {
        let base = || OutboundResponse::json(429, &json!({"error": "RateLimitExceeded"}));
        let epoch = (NOW.unix() + 120).to_string();
        assert_eq!(
            classify(base().with_header("RateLimit-Reset", &epoch)).retry_after,
            Some(120)
        );
        assert_eq!(
            classify(base().with_header("Retry-After", "30")).retry_after,
            Some(30)
        );
        let date = "Thu, 20 Aug 2026 12:01:00 GMT";
        assert_eq!(
            classify(base().with_header("Retry-After", date)).retry_after,
            Some(60)
        );
        let iso = "2026-08-20T12:05:00.000000Z";
        assert_eq!(
            classify(base().with_header("X-RateLimit-Reset", iso)).retry_after,
            Some(300)
        );
        let past = (NOW.unix() - 50).to_string();
        assert_eq!(
            classify(base().with_header("RateLimit-Reset", &past)).retry_after,
            Some(1)
        );
        let failure = classify(base());
        assert!(failure.rate_limited);
        assert_eq!(failure.retry_after, None);
    }

    #[test]
    fn mapping_to_contract_codes() {
        let dead = UpstreamFailure::new(FailureClass::CredentialsDead);
        assert_eq!(
            dead.clone().into_api("Bluesky", Phase::Connect).code(),
            "invalid_credentials"
        );
        assert_eq!(
            dead.into_api("Bluesky", Phase::Stored).code(),
            "reconnect_required"
        );
        let limited = UpstreamFailure {
            rate_limited: true,
            retry_after: Some(9),
            ..UpstreamFailure::new(FailureClass::Transient)
        };
        let error = limited.into_api("Bluesky", Phase::Stored);
        assert_eq!(
            (error.code(), error.retry_after()),
            ("rate_limited", Some(9))
        );
        let down = UpstreamFailure::transport(&TransportError::Timeout);
        assert_eq!(
            down.into_api("Bluesky", Phase::Connect).code(),
            "upstream_unavailable"
        );
        let bug = UpstreamFailure::new(FailureClass::RequestError);
        assert_eq!(bug.into_api("Bluesky", Phase::Connect).code(), "internal");
    }
}
