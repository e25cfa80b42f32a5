//! Failures a test can inject: Graph errors with every code that matters, flat errors,
//! HTML and empty bodies, and slow answers.
//!
//! A fault is armed for a route pattern and a number of uses
//! ([`crate::MetaDouble::fail_next`], [`crate::MetaDouble::fail_times`],
//! [`crate::MetaDouble::fail_always`]). Patterns are matched against the version-less path
//! (`/me/accounts`, `/oauth/access_token`, `/dialog/oauth`, `/12345`), optionally
//! preceded by a method (`DELETE /me/permissions`); `*` matches every request of the
//! double. Every request is logged before a fault is applied.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::graph_error::{GraphError, flat_token_error};
use crate::minter::Minter;
use crate::wire::{HTML, Reply};

/// One injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A Graph-style JSON error (any code, subcode, status and headers).
    Graph(GraphError),
    /// The flat token-endpoint shape `{"error_type","code","error_message"}` (HTTP 400).
    FlatToken(String),
    /// An arbitrary body, e.g. an HTML error page, an empty or a truncated JSON body.
    Raw {
        /// HTTP status.
        status: u16,
        /// `Content-Type`, if any.
        content_type: Option<String>,
        /// The body.
        body: String,
    },
    /// Wait this long (real time), then answer normally.
    Delay(Duration),
}

impl Fault {
    /// Error 190 with `subcode` (458, 459, 460, 463, 464, 467, 492 or 0).
    pub fn token_dead(subcode: i64) -> Self {
        Self::Graph(GraphError::token_dead(subcode, "0", 0, 0))
    }

    /// Error 190 without a subcode.
    pub fn token_invalid() -> Self {
        Self::Graph(GraphError::token_unknown())
    }

    /// Code 4 "Application request limit reached" on HTTP 403, `is_transient: true`, with
    /// an `X-App-Usage` header at 100 %.
    pub fn app_rate_limit() -> Self {
        Self::Graph(
            GraphError::new(4, "(#4) Application request limit reached")
                .status(403)
                .transient(true)
                .header(
                    "x-app-usage",
                    r#"{"call_count":100,"total_cputime":12,"total_time":20}"#,
                ),
        )
    }

    /// Code 17 "User request limit reached".
    pub fn user_rate_limit() -> Self {
        Self::Graph(GraphError::new(17, "(#17) User request limit reached").transient(true))
    }

    /// Code 32 "Page request limit reached", with an `X-Page-Usage` header at 100 %.
    pub fn page_rate_limit() -> Self {
        Self::Graph(
            GraphError::new(32, "(#32) Page request limit reached")
                .transient(true)
                .header(
                    "x-page-usage",
                    r#"{"call_count":100,"total_cputime":20,"total_time":30}"#,
                ),
        )
    }

    /// Code 613 "Calls to this api have exceeded the rate limit."
    pub fn custom_rate_limit() -> Self {
        Self::Graph(
            GraphError::new(
                613,
                "(#613) Calls to this api have exceeded the rate limit.",
            )
            .transient(true),
        )
    }

    /// A business-use-case limit (80001 Pages, 80002 Instagram, …) for `business_id`, with
    /// `X-Business-Use-Case-Usage` naming `estimated_time_to_regain_access` in minutes.
    pub fn business_use_case_limit(code: i64, business_id: &str, regain_minutes: u32) -> Self {
        let (kind, what) = match code {
            80001 => ("pages", "this Page"),
            80002 => ("instagram", "this Instagram account"),
            80003 => ("custom_audience", "this ad account"),
            80004 => ("ads_management", "this ad account"),
            80005 => ("leadgen", "this Page"),
            80006 => ("messenger", "this Messenger account"),
            _ => ("ads_insights", "this ad account"),
        };
        let usage = json!({
            business_id: [{
                "type": kind,
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 30,
                "estimated_time_to_regain_access": regain_minutes,
            }]
        });
        Self::Graph(
            GraphError::new(
                code,
                format!(
                    "(#{code}) There have been too many calls to {what}. Wait a bit and try \
                     again. For more info, please refer to \
                     https://developers.facebook.com/docs/graph-api/overview/rate-limiting."
                ),
            )
            .transient(true)
            .header("x-business-use-case-usage", usage.to_string()),
        )
    }

    /// Code 2 "Service temporarily unavailable" on HTTP 500, `is_transient: true`.
    pub fn temporarily_unavailable() -> Self {
        Self::Graph(
            GraphError::new(
                2,
                "An unexpected error has occurred. Please retry your request later.",
            )
            .status(500)
            .transient(true),
        )
    }

    /// Code 200 "requires `permission`" (permission declined or missing).
    pub fn permission_missing(permission: &str) -> Self {
        Self::Graph(
            GraphError::new(200, format!("(#200) Requires {permission} permission"))
                .kind("OAuthException"),
        )
    }

    /// Code 100 "The requested resource does not exist" (a dead Threads/IG token).
    pub fn resource_missing() -> Self {
        Self::Graph(GraphError::resource_missing())
    }

    /// HTTP 429 with a Graph body (code 4, transient), as the Threads edge answers.
    pub fn too_many_requests() -> Self {
        Self::Graph(
            GraphError::new(4, "(#4) Application request limit reached")
                .status(429)
                .transient(true),
        )
    }

    /// An HTML error page with `status` (e.g. 500, 502, 503, 504).
    pub fn html(status: u16) -> Self {
        Self::Raw {
            status,
            content_type: Some(HTML.to_owned()),
            body: format!(
                "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Sorry, \
                 something went wrong.</h1><p>We're working on it and we'll get it fixed as \
                 soon as we can.</p><!-- {status} --></body></html>"
            ),
        }
    }

    /// An empty body with `status`.
    pub fn empty(status: u16) -> Self {
        Self::Raw {
            status,
            content_type: None,
            body: String::new(),
        }
    }

    /// A JSON content type with a body cut in the middle.
    pub fn truncated_json(status: u16) -> Self {
        Self::Raw {
            status,
            content_type: Some(crate::wire::JSON.to_owned()),
            body: r#"{"error":{"message":"An unexpected error has occ"#.to_owned(),
        }
    }

    /// The flat token-endpoint error with `message` (Threads `POST /oauth/access_token`).
    pub fn flat_token(message: &str) -> Self {
        Self::FlatToken(message.to_owned())
    }

    /// Answer normally after waiting `delay` of real time.
    pub fn slow(delay: Duration) -> Self {
        Self::Delay(delay)
    }

    /// The HTTP answer for every fault but [`Fault::Delay`].
    pub(crate) fn reply(&self, minter: &mut Minter) -> Option<Reply> {
        match self {
            Self::Graph(error) => Some(error.reply(minter)),
            Self::FlatToken(message) => Some(flat_token_error(message)),
            Self::Raw {
                status,
                content_type,
                body,
            } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
                Some(Reply {
                    status,
                    content_type: content_type.clone(),
                    headers: Vec::new(),
                    body: body.clone(),
                })
            }
            Self::Delay(_) => None,
        }
    }
}

/// An armed fault: a pattern, the fault and how many more requests it applies to.
#[derive(Clone, Debug)]
pub(crate) struct FaultRule {
    pattern: String,
    fault: Fault,
    remaining: Option<usize>,
}

/// The armed faults of one double, first match wins.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Arms `fault` for `pattern`, `times` times (`None`: until cleared).
    pub(crate) fn arm(&mut self, pattern: &str, fault: Fault, times: Option<usize>) {
        if times == Some(0) {
            return;
        }
        self.rules.push(FaultRule {
            pattern: pattern.trim().to_owned(),
            fault,
            remaining: times,
        });
    }

    /// Disarms everything.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Takes the fault for a request with `method` and version-less `path`, if one matches.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let index = self
            .rules
            .iter()
            .position(|rule| matches(&rule.pattern, method, path))?;
        let rule = &mut self.rules[index];
        let fault = rule.fault.clone();
        if let Some(remaining) = rule.remaining.as_mut() {
            *remaining -= 1;
            if *remaining == 0 {
                self.rules.remove(index);
            }
        }
        Some(fault)
    }
}

fn matches(pattern: &str, method: &str, path: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.split_once(' ') {
        Some((want_method, want_path)) => {
            want_method.eq_ignore_ascii_case(method) && want_path.trim() == path
        }
        None => pattern == path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_as_often_as_armed_then_disarm() {
        let mut faults = Faults::default();
        faults.arm("/me/accounts", Fault::html(502), Some(2));
        assert!(faults.take("GET", "/me").is_none());
        assert!(faults.take("GET", "/me/accounts").is_some());
        assert!(faults.take("GET", "/me/accounts").is_some());
        assert!(faults.take("GET", "/me/accounts").is_none());
    }

    #[test]
    fn method_patterns_and_wildcards_match() {
        let mut faults = Faults::default();
        faults.arm("DELETE /me/permissions", Fault::html(500), None);
        assert!(faults.take("GET", "/me/permissions").is_none());
        assert!(faults.take("delete", "/me/permissions").is_some());
        assert!(faults.take("DELETE", "/me/permissions").is_some());
        faults.clear();
        faults.arm("*", Fault::empty(503), Some(1));
        assert!(faults.take("POST", "/oauth/access_token").is_some());
        assert!(faults.take("POST", "/oauth/access_token").is_none());
    }

    #[test]
    fn business_use_case_fault_carries_the_usage_header() {
        let Fault::Graph(error) = Fault::business_use_case_limit(80002, "1784", 7) else {
            panic!("expected a Graph error");
        };
        assert_eq!(error.code, 80002);
        let (_, usage) = error
            .headers
            .iter()
            .find(|(name, _)| name == "x-business-use-case-usage")
            .expect("usage header");
        let usage: serde_json::Value = serde_json::from_str(usage).expect("usage is JSON");
        assert_eq!(usage["1784"][0]["estimated_time_to_regain_access"], 7);
        assert_eq!(usage["1784"][0]["type"], "instagram");
    }
}
