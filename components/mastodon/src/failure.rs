//! What a Mastodon error answer means for the account.
//!
//! Mastodon's errors are `{"error": "...", "error_description": "..."}` and the HTTP status
//! is the primary signal. The shared classifier ([`UpstreamFailure::classify`]) already
//! sorts most of them: a JSON 401 means the token is dead, a 429 is throttling (its wait
//! comes from the ISO-8601 `X-RateLimit-Reset`), 5xx and anything that is not JSON
//! (proxies answer HTML pages) is the instance being unavailable. Mastodon adds two cases:
//!
//! * 403 from `verify_credentials` names a login the instance has disabled, or one still
//!   missing a confirmed e-mail address or approval: the account is unavailable, the
//!   token is not dead;
//! * 422 "This method requires an authenticated user" means the token belongs to no user
//!   (an app-only token): it cannot work for this account, so it counts as dead.

use hayon_guest::upstream::error_fields;
use hayon_guest::{ApiError, FailureClass, OutboundResponse, Phase, Timestamp, UpstreamFailure};

/// The meaning of a Mastodon error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MastodonFailure {
    /// The instance says the account cannot be used now (403): its message.
    AccountUnavailable(String),
    /// Any other failure, in the shared buckets.
    Upstream(UpstreamFailure),
}

impl MastodonFailure {
    /// The contract's error for this failure.
    pub fn into_api(self, phase: Phase) -> ApiError {
        match self {
            Self::AccountUnavailable(reason) => ApiError::AccountUnavailable {
                message: format!(
                    "The Mastodon instance says this account cannot be used right now \
                     (\"{reason}\"). Sign in on the instance to fix it, then try again."
                ),
            },
            Self::Upstream(failure) => failure.into_api("Mastodon", phase),
        }
    }
}

impl From<UpstreamFailure> for MastodonFailure {
    fn from(failure: UpstreamFailure) -> Self {
        Self::Upstream(failure)
    }
}

/// Classifies a non-2xx answer from a Mastodon instance.
pub fn classify(response: &OutboundResponse, now: Timestamp) -> MastodonFailure {
    let generic = UpstreamFailure::classify(response, now);
    if generic.class == FailureClass::Transient {
        return MastodonFailure::Upstream(generic);
    }
    let error = response
        .json_body()
        .map(|body| error_fields(&body))
        .and_then(|(name, _description)| name)
        .unwrap_or_default();
    match response.status {
        403 => MastodonFailure::AccountUnavailable(error),
        422 => MastodonFailure::Upstream(UpstreamFailure {
            class: FailureClass::CredentialsDead,
            ..generic
        }),
        _ => MastodonFailure::Upstream(generic),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: Timestamp = Timestamp::from_unix(1_787_229_000);

    fn api_code(response: &OutboundResponse) -> (&'static str, u16) {
        let error = classify(response, NOW).into_api(Phase::Stored);
        (error.code(), error.status())
    }

    #[test]
    fn a_json_401_means_the_token_is_dead() {
        let response =
            OutboundResponse::json(401, &json!({"error": "The access token is invalid"}));
        assert_eq!(api_code(&response), ("reconnect_required", 409));
    }

    #[test]
    fn a_token_without_a_user_is_dead_too() {
        let response = OutboundResponse::json(
            422,
            &json!({"error": "This method requires an authenticated user"}),
        );
        assert_eq!(api_code(&response), ("reconnect_required", 409));
    }

    #[test]
    fn every_403_login_state_is_an_unavailable_account() {
        for message in [
            "Your login is currently disabled",
            "Your login is missing a confirmed e-mail address",
            "Your login is currently pending approval",
        ] {
            let response = OutboundResponse::json(403, &json!({ "error": message }));
            assert_eq!(
                classify(&response, NOW),
                MastodonFailure::AccountUnavailable(message.into())
            );
            assert_eq!(api_code(&response), ("account_unavailable", 422));
        }
    }

    #[test]
    fn throttling_waits_until_the_iso_reset() {
        let response = OutboundResponse::json(429, &json!({"error": "Too many requests"}))
            .with_header("X-RateLimit-Remaining", "0")
            .with_header("X-RateLimit-Reset", "2026-08-20T12:35:00.000000Z");
        let error = classify(&response, NOW).into_api(Phase::Stored);
        assert_eq!(
            (error.code(), error.retry_after()),
            ("rate_limited", Some(300))
        );
    }

    #[test]
    fn server_errors_and_html_never_mean_dead_credentials() {
        for response in [
            OutboundResponse::with_body(503, "text/html", "<html>Service Unavailable</html>"),
            OutboundResponse::json(500, &json!({"error": "boom"})),
            OutboundResponse::with_body(502, "text/html", ""),
            OutboundResponse::with_body(401, "text/html", "<html>proxy login</html>"),
            OutboundResponse::with_body(403, "text/html", "<html>Forbidden</html>"),
        ] {
            assert_eq!(
                api_code(&response),
                ("upstream_unavailable", 502),
                "{response:?}"
            );
        }
    }

    #[test]
    fn a_refused_code_is_a_plain_refusal() {
        let response = OutboundResponse::json(
            400,
            &json!({"error": "invalid_grant",
                    "error_description": "The provided grant is invalid"}),
        );
        let failure = classify(&response, NOW);
        let MastodonFailure::Upstream(failure) = failure else {
            panic!("expected a shared failure, got {failure:?}");
        };
        assert_eq!(failure.class, FailureClass::RequestError);
        assert_eq!(failure.error.as_deref(), Some("invalid_grant"));
    }
}
