//! The errors of Meta's Graph APIs (Facebook, Instagram and Threads) and what they mean.
//!
//! Meta answers errors in three shapes and does not key them on the HTTP status:
//!
//! * API calls: `{"error": {"message", "type", "code", "error_subcode", "is_transient", …}}`;
//! * token endpoints (Threads, Instagram Login): `{"error_type", "code", "error_message"}`;
//! * the authorization window: `{"error_message", "error_code"}`.
//!
//! [`classify`] refines the generic [`UpstreamFailure::classify`] with Meta's codes. Only
//! a dead token — code 190, the legacy 102, or (for a stored token) code 100 "does not
//! exist", which Threads and Instagram answer for some dead tokens — lands in the
//! credentials-dead bucket. Throttling arrives as codes 4/17/32/613/80001+ with
//! `type: OAuthException` on a 400 or 403, or as HTTP 429; it is never a dead token. 5xx,
//! HTML, garbage and codes 1/2 or `is_transient` errors are the platform being unavailable.
//!
//! Ids of Graph objects (Pages, Instagram and Threads users) are [`GraphId`]s: digits kept
//! as the exact text Meta sent — they exceed 2^53 and have arrived as JSON numbers.
//!
//! Meta's throttling codes often come without any hint of how long to wait; a throttled
//! answer then asks for [`THROTTLE_WAIT_SECONDS`] (a bare HTTP 429 without a Meta code gets
//! the general default of `error.rs`).

use std::fmt;

use serde::{Deserialize, Deserializer, de};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::outbound::OutboundResponse;
use crate::time::Timestamp;
use crate::upstream::{self, FailureClass, Phase, UpstreamFailure};

/// The longest wait passed on, in seconds (one day).
const MAX_RETRY_AFTER: u64 = 86_400;

/// The wait asked for when Meta throttles with one of its codes but names no wait. Its
/// app, user and Page limits are rolling windows of an hour; a few minutes lets most of a
/// burst drain, where the general minute would mostly earn another refusal.
pub const THROTTLE_WAIT_SECONDS: u32 = 300;

/// The longest id accepted (Meta's are 15–20 digits today).
const MAX_ID_LEN: usize = 32;

/// The id of a Graph API object: ASCII digits, kept exactly as sent.
///
/// Read from a JSON string or a JSON number — through the raw JSON text, never a float, so
/// an id above 2^53 (or above `u64`) stays exact. Checked to be digits only, because it
/// becomes part of Graph URL paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GraphId(String);

impl GraphId {
    /// The id if `text` is one (1–32 ASCII digits).
    pub fn parse(text: &str) -> Option<Self> {
        let valid = !text.is_empty()
            && text.len() <= MAX_ID_LEN
            && text.bytes().all(|byte| byte.is_ascii_digit());
        valid.then(|| Self(text.to_owned()))
    }

    /// The id's digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GraphId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GraphId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get().trim();
        let digits = if text.starts_with('"') {
            serde_json::from_str::<String>(text).map_err(de::Error::custom)?
        } else {
            text.to_owned()
        };
        Self::parse(digits.trim()).ok_or_else(|| de::Error::custom("a Graph id must be digits"))
    }
}

/// A Meta error, whichever of the three shapes it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    /// `code` / `error_code`; absent in some answers.
    pub code: Option<i64>,
    /// `error_subcode`; `0` is kept as sent.
    pub subcode: Option<i64>,
    /// `message` / `error_message`.
    pub message: String,
    /// `type` / `error_type`, e.g. `OAuthException`.
    pub kind: Option<String>,
    /// `is_transient`, false when absent.
    pub is_transient: bool,
}

#[derive(Deserialize)]
struct NestedShape {
    error: NestedError,
}

#[derive(Deserialize)]
struct NestedError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    error_subcode: Option<Value>,
    #[serde(default)]
    is_transient: Option<bool>,
}

#[derive(Deserialize)]
struct FlatShape {
    error_message: String,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    error_code: Option<Value>,
}

/// A numeric code sent as a number or as a string of digits.
fn code_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

impl GraphError {
    /// Reads any of Meta's three error shapes; `None` when the body is none of them.
    pub fn parse(body: &[u8]) -> Option<Self> {
        if let Ok(NestedShape { error }) = serde_json::from_slice::<NestedShape>(body) {
            return Some(Self {
                code: code_of(error.code.as_ref()),
                subcode: code_of(error.error_subcode.as_ref()),
                message: error.message.unwrap_or_default(),
                kind: error.kind,
                is_transient: error.is_transient.unwrap_or(false),
            });
        }
        let flat: FlatShape = serde_json::from_slice(body).ok()?;
        Some(Self {
            code: code_of(flat.error_code.as_ref().or(flat.code.as_ref())),
            subcode: None,
            message: flat.error_message,
            kind: flat.error_type,
            is_transient: false,
        })
    }

    /// Whether the code is one of Meta's throttling codes (4, 17, 32, 613, 80001 and up
    /// to 80099 for business-use-case limits).
    pub fn is_throttling(&self) -> bool {
        matches!(self.code, Some(4 | 17 | 32 | 613 | 80_001..=80_099))
    }

    /// Whether the error says the token is dead, given whose token the call used: 190 and
    /// 102 always; code 100 "does not exist" only for a stored token.
    pub fn is_dead_token(&self, phase: Phase) -> bool {
        match self.code {
            Some(190 | 102) => true,
            Some(100) => {
                phase == Phase::Stored
                    && self.message.to_ascii_lowercase().contains("does not exist")
            }
            _ => false,
        }
    }

    /// Whether Meta marks the error as temporary (codes 1 and 2, or `is_transient`).
    pub fn is_transient(&self) -> bool {
        self.is_transient || matches!(self.code, Some(1 | 2))
    }
}

/// Classifies a non-2xx Meta answer for a call whose token came from `phase`.
pub fn classify(response: &OutboundResponse, now: Timestamp, phase: Phase) -> UpstreamFailure {
    let generic = UpstreamFailure::classify(response, now);
    let Some(error) = GraphError::parse(&response.body) else {
        // HTML, garbage, or JSON of no Meta shape: the generic buckets apply (429 and
        // non-JSON are transient).
        return generic;
    };

    let throttling = error.is_throttling();
    let rate_limited = throttling || response.status == 429;
    let class = if rate_limited {
        FailureClass::Transient
    } else if error.is_dead_token(phase) {
        FailureClass::CredentialsDead
    } else if error.is_transient() || response.status >= 500 {
        FailureClass::Transient
    } else {
        FailureClass::RequestError
    };
    UpstreamFailure {
        class,
        status: Some(response.status),
        error: error.code.map(|code| match error.subcode {
            Some(subcode) if subcode != 0 => format!("{code}/{subcode}"),
            _ => code.to_string(),
        }),
        message: Some(error.message).filter(|message| !message.is_empty()),
        rate_limited,
        retry_after: if rate_limited {
            retry_after(response, now).or_else(|| throttling.then_some(THROTTLE_WAIT_SECONDS))
        } else {
            None
        },
    }
}

/// Seconds to wait: the longest `estimated_time_to_regain_access` (minutes) in
/// `X-Business-Use-Case-Usage`, else the generic headers (`Retry-After`…).
fn retry_after(response: &OutboundResponse, now: Timestamp) -> Option<u32> {
    let from_usage = response
        .header("x-business-use-case-usage")
        .and_then(|header| {
            let usage: Value = serde_json::from_str(header).ok()?;
            usage
                .as_object()?
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|entry| entry.get("estimated_time_to_regain_access")?.as_u64())
                .max()
                .filter(|minutes| *minutes > 0)
                .map(|minutes| minutes.saturating_mul(60).min(MAX_RETRY_AFTER))
        });
    match from_usage {
        Some(seconds) => u32::try_from(seconds).ok(),
        None => upstream::retry_after(response, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TEST_START;

    fn response(status: u16, body: &str) -> OutboundResponse {
        OutboundResponse::with_body(status, "application/json; charset=UTF-8", body)
    }

    fn classify_stored(response: &OutboundResponse) -> UpstreamFailure {
        classify(response, TEST_START, Phase::Stored)
    }

    #[test]
    fn ids_stay_exact_whether_sent_as_text_or_number() {
        let read = |json: &str| serde_json::from_str::<GraphId>(json).map(|id| id.0);
        assert_eq!(
            read("\"17841405822304914\"").ok().as_deref(),
            Some("17841405822304914")
        );
        assert_eq!(
            read("9007199254740993").ok().as_deref(),
            Some("9007199254740993")
        );
        assert_eq!(
            read("25025320285412345678").ok().as_deref(),
            Some("25025320285412345678"),
            "above u64: still exact"
        );
        let value = serde_json::json!({"id": 17_841_405_822_304_914_u64});
        let id = GraphId::deserialize(&value["id"]).expect("from a Value too");
        assert_eq!(id.as_str(), "17841405822304914");
        for bad in [
            "\"\"",
            "\"12a\"",
            "\"../me\"",
            "-1",
            "1.5",
            "1.5e20",
            "null",
            "[]",
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_three_shapes_parse() {
        let nested = GraphError::parse(
            br#"{"error":{"message":"Error validating access token","type":"OAuthException",
                "code":190,"error_subcode":463,"fbtrace_id":"A1"}}"#,
        );
        assert_eq!(
            nested,
            Some(GraphError {
                code: Some(190),
                subcode: Some(463),
                message: "Error validating access token".into(),
                kind: Some("OAuthException".into()),
                is_transient: false,
            })
        );

        let token = GraphError::parse(
            br#"{"error_type":"OAuthException","code":400,
                "error_message":"Matching code was not found or was already used"}"#,
        )
        .expect("flat token shape");
        assert_eq!(token.code, Some(400));
        assert_eq!(token.kind.as_deref(), Some("OAuthException"));

        let window = GraphError::parse(
            br#"{"error_message":"No app ID was provided in the request.","error_code":4476002}"#,
        )
        .expect("flat window shape");
        assert_eq!(window.code, Some(4_476_002));

        assert_eq!(GraphError::parse(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(GraphError::parse(br#"{"data":[]}"#), None);
    }

    #[test]
    fn dead_tokens() {
        for body in [
            r#"{"error":{"message":"Session has expired","type":"OAuthException","code":190,
               "error_subcode":463}}"#,
            r#"{"error":{"message":"Invalid OAuth access token","code":190,"error_subcode":0}}"#,
            r#"{"error":{"message":"Session key invalid","code":102}}"#,
            r#"{"error":{"message":"The requested resource does not exist","code":100}}"#,
        ] {
            let failure = classify_stored(&response(400, body));
            assert_eq!(failure.class, FailureClass::CredentialsDead, "{body}");
            assert_eq!(
                failure.into_api("Threads", Phase::Stored).code(),
                "reconnect_required"
            );
        }
        let failure = classify_stored(&response(
            400,
            r#"{"error":{"message":"expired","code":190,"error_subcode":463}}"#,
        ));
        assert_eq!(failure.error.as_deref(), Some("190/463"));
    }

    #[test]
    fn code_100_is_only_dead_for_a_stored_token() {
        let missing = response(
            400,
            r#"{"error":{"message":"The requested resource does not exist","code":100}}"#,
        );
        let failure = classify(&missing, TEST_START, Phase::Connect);
        assert_eq!(failure.class, FailureClass::RequestError);
        let used_code = response(
            400,
            r#"{"error":{"message":"This authorization code has been used.","code":100,
                "error_subcode":36009}}"#,
        );
        assert_eq!(
            classify_stored(&used_code).class,
            FailureClass::RequestError
        );
    }

    #[test]
    fn throttling_is_never_a_dead_token() {
        for code in [4, 17, 32, 613, 80_001, 80_002, 80_009] {
            let body = format!(
                r#"{{"error":{{"message":"limit","type":"OAuthException","code":{code},
                    "is_transient":true}}}}"#
            );
            let failure = classify_stored(&response(403, &body));
            assert_eq!(failure.class, FailureClass::Transient, "code {code}");
            assert!(failure.rate_limited, "code {code}");
            assert_eq!(
                failure.into_api("Threads", Phase::Stored).code(),
                "rate_limited"
            );
        }
        let html_429 = OutboundResponse::with_body(429, "text/html", "<html>Too Many</html>");
        let failure = classify_stored(&html_429);
        assert!(failure.rate_limited);
        let json_429 = response(429, r#"{"error":{"message":"Too many calls","code":190}}"#);
        assert!(
            classify_stored(&json_429).rate_limited,
            "429 wins over any code"
        );
    }

    #[test]
    fn throttling_waits_as_long_as_meta_says() {
        let usage = response(
            400,
            r#"{"error":{"message":"User request limit reached","code":80002}}"#,
        )
        .with_header(
            "X-Business-Use-Case-Usage",
            r#"{"1234":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":5},
               {"type":"instagram","estimated_time_to_regain_access":12}]}"#,
        );
        assert_eq!(classify_stored(&usage).retry_after, Some(720));
        let retry_after = response(429, "{}").with_header("Retry-After", "30");
        assert_eq!(classify_stored(&retry_after).retry_after, Some(30));
        let no_hint = response(400, r#"{"error":{"message":"limit","code":4}}"#);
        assert_eq!(
            classify_stored(&no_hint).retry_after,
            Some(THROTTLE_WAIT_SECONDS)
        );
        let bare_429 = response(429, r#"{"error":{"message":"Too many calls"}}"#);
        assert_eq!(
            classify_stored(&bare_429).retry_after,
            None,
            "no Meta code: the general default applies when the error is answered"
        );
        let dead = response(400, r#"{"error":{"message":"x","code":190}}"#);
        assert_eq!(classify_stored(&dead).retry_after, None);
    }

    #[test]
    fn unavailable_upstreams() {
        for case in [
            OutboundResponse::with_body(502, "text/html", "<html>Bad Gateway</html>"),
            response(
                500,
                r#"{"error":{"message":"An unknown error occurred","code":1}}"#,
            ),
            response(
                400,
                r#"{"error":{"message":"Service temporarily unavailable","code":2}}"#,
            ),
            response(
                400,
                r#"{"error":{"message":"retry","code":10,"is_transient":true}}"#,
            ),
            response(400, ""),
            OutboundResponse::with_body(400, "text/html", "<html>Sorry</html>"),
        ] {
            let failure = classify_stored(&case);
            assert_eq!(failure.class, FailureClass::Transient, "{case:?}");
            assert!(!failure.rate_limited, "{case:?}");
        }
    }

    #[test]
    fn refused_codes_are_request_errors() {
        let refused = classify(
            &response(
                400,
                r#"{"error_type":"OAuthException","code":400,
                    "error_message":"Matching code was not found or was already used"}"#,
            ),
            TEST_START,
            Phase::Connect,
        );
        assert_eq!(refused.class, FailureClass::RequestError);
        assert_eq!(refused.error.as_deref(), Some("400"));
        assert!(
            refused
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("Matching code"))
        );
        let permission = classify_stored(&response(
            403,
            r#"{"error":{"message":"Requires threads_basic","code":10}}"#,
        ));
        assert_eq!(permission.class, FailureClass::RequestError);
    }
}
