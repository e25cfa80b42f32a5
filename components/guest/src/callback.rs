//! Callbacks: reading the query a platform sends back, and the redirect we answer with.
//!
//! A callback always ends in `302` to `${frontend_url}/settings?success=<p>_connected` or
//! `?error=<p>_<reason>`; never a page, never a token in the URL. Platforms append
//! fragments (`#_=_` from Facebook and Tumblr, `#_` from Threads); browsers do not send
//! them, but a query pasted into the typed `complete` call may carry one, so everything
//! from the first `#` is dropped before parsing.

use crate::error::ApiError;

/// The decoded parameters of a callback's query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackQuery {
    params: Vec<(String, String)>,
}

impl CallbackQuery {
    /// Parses a raw query (a leading `?` and any fragment are ignored).
    pub fn parse(raw: &str) -> Self {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        let raw = raw.split_once('#').map_or(raw, |(query, _fragment)| query);
        let params = form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        Self { params }
    }

    /// The first value of `name`, if present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// Whether `name` is present at all (even empty).
    pub fn contains(&self, name: &str) -> bool {
        self.params.iter().any(|(key, _)| key == name)
    }
}

/// Why a callback did not connect an account; each is an `error=<platform>_<reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackReason {
    /// The person refused access on the platform.
    AuthDenied,
    /// The callback carried no code or verifier.
    AuthFailed,
    /// The state (or request token) is unknown, forged, expired or already used.
    StateInvalid,
    /// The platform refused the exchange or the account could not be read.
    ConnectFailed,
    /// The platform answered 5xx, HTML, garbage, or not in time.
    UpstreamUnavailable,
    /// The platform throttled us.
    RateLimited,
    /// Facebook only: the person manages no Page.
    NoPages,
}

impl CallbackReason {
    /// The reason as written in the redirect, e.g. `state_invalid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthDenied => "auth_denied",
            Self::AuthFailed => "auth_failed",
            Self::StateInvalid => "state_invalid",
            Self::ConnectFailed => "connect_failed",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::RateLimited => "rate_limited",
            Self::NoPages => "no_pages",
        }
    }
}

/// A callback that did not connect an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct CallbackError {
    /// The reason used in the redirect.
    pub reason: CallbackReason,
    /// A sentence for logs and embedders; never a secret.
    pub message: String,
}

impl CallbackError {
    /// A callback error with a reason and a message.
    pub fn new(reason: CallbackReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl From<ApiError> for CallbackError {
    /// Failures while completing a callback: throttling and outages keep their own reason;
    /// anything else means the connection could not be made.
    fn from(error: ApiError) -> Self {
        let reason = match error {
            ApiError::RateLimited { .. } => CallbackReason::RateLimited,
            ApiError::UpstreamUnavailable { .. } => CallbackReason::UpstreamUnavailable,
            _ => CallbackReason::ConnectFailed,
        };
        if let ApiError::Internal { detail } = &error {
            // The detail is for the operator's log; embedders get the public sentence.
            tracing::error!(%detail, "callback failed internally");
        }
        Self {
            reason,
            message: error.public_message(),
        }
    }
}

/// The front-end address a callback redirects to.
pub fn redirect_location(
    frontend_url: &str,
    platform: &str,
    outcome: Result<(), CallbackReason>,
) -> String {
    let base = frontend_url.trim_end_matches('/');
    match outcome {
        Ok(()) => format!("{base}/settings?success={platform}_connected"),
        Err(reason) => format!("{base}/settings?error={platform}_{}", reason.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_never_reach_values() {
        for raw in [
            "code=AQD123&state=s1#_=_",
            "?code=AQD123&state=s1#_",
            "code=AQD123&state=s1#",
            "code=AQD123#_&state=ignored",
        ] {
            let query = CallbackQuery::parse(raw);
            assert_eq!(query.get("code"), Some("AQD123"), "{raw}");
        }
        let query = CallbackQuery::parse("state=s1&code=AQD123#_=_");
        assert_eq!(query.get("state"), Some("s1"));
        assert_eq!(query.get("_"), None);
    }

    #[test]
    fn values_are_percent_decoded_and_empty_is_absent() {
        let query = CallbackQuery::parse("oauth_token=a%2Bb&oauth_verifier=&error=access_denied");
        assert_eq!(query.get("oauth_token"), Some("a+b"));
        assert_eq!(query.get("oauth_verifier"), None);
        assert!(query.contains("oauth_verifier"));
        assert_eq!(query.get("error"), Some("access_denied"));
    }

    #[test]
    fn redirect_locations() {
        assert_eq!(
            redirect_location("https://app.example/", "threads", Ok(())),
            "https://app.example/settings?success=threads_connected"
        );
        assert_eq!(
            redirect_location(
                "https://app.example",
                "facebook",
                Err(CallbackReason::NoPages)
            ),
            "https://app.example/settings?error=facebook_no_pages"
        );
    }

    #[test]
    fn api_errors_become_reasons() {
        let limited = ApiError::RateLimited {
            retry_after: None,
            message: "m".into(),
        };
        assert_eq!(
            CallbackError::from(limited).reason,
            CallbackReason::RateLimited
        );
        let down = ApiError::UpstreamUnavailable {
            message: "m".into(),
        };
        assert_eq!(
            CallbackError::from(down).reason,
            CallbackReason::UpstreamUnavailable
        );
        let other = ApiError::InvalidCredentials {
            message: "m".into(),
        };
        assert_eq!(
            CallbackError::from(other).reason,
            CallbackReason::ConnectFailed
        );
    }

    #[test]
    fn internal_details_stay_out_of_the_message() {
        let error = CallbackError::from(ApiError::internal("seal key slot 3 failed"));
        assert_eq!(error.reason, CallbackReason::ConnectFailed);
        assert!(!error.message.contains("slot 3"), "{}", error.message);
        assert_eq!(error.message, ApiError::internal("x").public_message());
    }
}
