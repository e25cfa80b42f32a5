//! The XRPC calls the connector makes, and what Bluesky's refusals mean
//! (`platforms.md` §1.1 and §1.3).
//!
//! Bluesky's error body is `{"error": "<Name>", "message": "…"}`. The traps: an expired
//! token is a **400** `ExpiredToken`, not a 401; a wrong password, a wrong identifier and
//! an account on another PDS all look the same (401 `AuthenticationRequired`); the main
//! password with e-mail 2FA is 401 `AuthFactorTokenRequired`; and load balancers answer
//! HTML. The functions at the bottom are the one place those become the contract's codes.

use hayon_guest::outbound::OutboundRequest;
use hayon_guest::secret::{AccessToken, Password, RefreshToken};
use hayon_guest::{ApiError, Env, FailureClass, OutboundResponse, Phase, UpstreamFailure};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::PLATFORM_NAME;

/// What `createSession` and `refreshSession` answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Short-lived token for API calls.
    pub access_jwt: AccessToken,
    /// Long-lived token for `refreshSession` and `deleteSession`; rotates.
    pub refresh_jwt: RefreshToken,
    /// The account's handle.
    pub handle: String,
    /// The account's DID.
    pub did: String,
    /// The account's DID document (names its PDS).
    #[serde(default)]
    pub did_doc: Option<Value>,
    /// False when the account is taken down, suspended or deactivated.
    #[serde(default)]
    pub active: Option<bool>,
    /// Why the account is not active.
    #[serde(default)]
    pub status: Option<String>,
}

/// The profile fields we show.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The account's DID.
    pub did: String,
    /// The handle (`handle.invalid` when bidirectional verification failed).
    pub handle: String,
    /// Display name; may be absent or empty.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Avatar URL; may be absent.
    #[serde(default)]
    pub avatar: Option<String>,
}

fn xrpc(pds: &str, nsid: &str) -> String {
    format!("{pds}/xrpc/{nsid}")
}

fn read<T: for<'de> Deserialize<'de>>(
    env: &Env,
    response: OutboundResponse,
) -> Result<T, UpstreamFailure> {
    if !response.is_success() {
        return Err(UpstreamFailure::classify(&response, env.now()));
    }
    serde_json::from_slice(&response.body).map_err(|_| UpstreamFailure::unreadable(&response))
}

/// `com.atproto.server.createSession` on `pds`.
pub fn create_session(
    env: &Env,
    pds: &str,
    identifier: &str,
    password: &Password,
) -> Result<Session, UpstreamFailure> {
    let body = json!({ "identifier": identifier, "password": password.expose_secret() });
    let request = OutboundRequest::post(xrpc(pds, "com.atproto.server.createSession"))
        .json(&body)
        .map_err(|_| UpstreamFailure::new(FailureClass::RequestError))?;
    read(env, env.send(&request)?)
}

/// `com.atproto.server.refreshSession` on `pds`, the refresh token in the header.
pub fn refresh_session(
    env: &Env,
    pds: &str,
    refresh: &RefreshToken,
) -> Result<Session, UpstreamFailure> {
    let request = OutboundRequest::post(xrpc(pds, "com.atproto.server.refreshSession"))
        .bearer(refresh.expose_secret());
    read(env, env.send(&request)?)
}

/// `com.atproto.server.deleteSession` on `pds` (ends the session upstream).
pub fn delete_session(env: &Env, pds: &str, refresh: &RefreshToken) -> Result<(), UpstreamFailure> {
    let request = OutboundRequest::post(xrpc(pds, "com.atproto.server.deleteSession"))
        .bearer(refresh.expose_secret());
    let response = env.send(&request)?;
    if response.is_success() {
        Ok(())
    } else {
        Err(UpstreamFailure::classify(&response, env.now()))
    }
}

/// `app.bsky.actor.getProfile` for `did`, through the PDS with the access token.
pub fn get_profile(
    env: &Env,
    pds: &str,
    access: &AccessToken,
    did: &str,
) -> Result<Profile, UpstreamFailure> {
    let request = OutboundRequest::get(xrpc(pds, "app.bsky.actor.getProfile"))
        .query([("actor", did)])
        .bearer(access.expose_secret());
    read(env, env.send(&request)?)
}

fn error_name(failure: &UpstreamFailure) -> &str {
    failure.error.as_deref().unwrap_or_default()
}

/// Whether an authed call failed only because the access token expired (400
/// `ExpiredToken`; some servers send it as 401): refresh, then retry once.
pub fn is_expired_access(failure: &UpstreamFailure) -> bool {
    matches!(failure.status, Some(400 | 401)) && error_name(failure) == "ExpiredToken"
}

/// Whether stored credentials are dead for good: expired or revoked tokens (400
/// `ExpiredToken`/`InvalidToken`), refused authentication, takedown or deactivation.
/// Outages, throttling and HTML pages never are.
pub fn is_dead(failure: &UpstreamFailure) -> bool {
    if failure.class == FailureClass::Transient {
        return false;
    }
    matches!(
        error_name(failure),
        "ExpiredToken"
            | "InvalidToken"
            | "AuthenticationRequired"
            | "AccountTakedown"
            | "AccountDeactivated"
    ) || failure.class == FailureClass::CredentialsDead
}

/// A failed login (`createSession`) or failed profile read right after it, as the
/// contract's error.
pub fn login_error(failure: UpstreamFailure) -> ApiError {
    if failure.class == FailureClass::Transient {
        return failure.into_api(PLATFORM_NAME, Phase::Connect);
    }
    match error_name(&failure) {
        "AuthFactorTokenRequired" => ApiError::AuthFactorRequired {
            message: "Bluesky asked for a sign-in code from your e-mail, which means you \
                      typed your main password. Create an App Password in Bluesky \
                      (Settings → Privacy and security → App passwords) and use it here."
                .into(),
        },
        "AccountTakedown" => ApiError::AccountUnavailable {
            message: "Bluesky says this account has been taken down, so it cannot be \
                      connected."
                .into(),
        },
        "AccountDeactivated" => ApiError::AccountUnavailable {
            message: "Bluesky says this account is deactivated. Reactivate it in Bluesky, \
                      then connect it again."
                .into(),
        },
        _ if matches!(failure.status, Some(400 | 401)) => ApiError::InvalidCredentials {
            message: "Bluesky did not accept that identifier and password. Check the handle \
                      and use an App Password (Settings → Privacy and security → App \
                      passwords), not your main password."
                .into(),
        },
        _ => failure.into_api(PLATFORM_NAME, Phase::Connect),
    }
}

/// A session `createSession` reported inactive (`active: false`), as the contract's error.
pub fn inactive_error(status: Option<&str>) -> ApiError {
    let state = match status {
        Some("takendown") => "taken down",
        Some("suspended") => "suspended",
        Some("deactivated") => "deactivated",
        _ => "not active",
    };
    ApiError::AccountUnavailable {
        message: format!("Bluesky says this account is {state}, so it cannot be connected."),
    }
}

/// A failed call with stored credentials (refresh, profile re-read), as the contract's
/// error. Dead credentials are `reconnect_required` (the caller marks the account).
pub fn stored_error(failure: UpstreamFailure) -> ApiError {
    if !is_dead(&failure) {
        return failure.into_api(PLATFORM_NAME, Phase::Stored);
    }
    let message = match error_name(&failure) {
        "AccountTakedown" => "Bluesky says this account has been taken down. Hayon can no \
                              longer use it."
            .to_owned(),
        "AccountDeactivated" => "Bluesky says this account is deactivated. Reactivate it in \
                                 Bluesky, then connect it again."
            .to_owned(),
        _ => "Bluesky no longer accepts Hayon's session for this account (the App Password \
              may have been revoked). Connect the account again."
            .to_owned(),
    };
    ApiError::ReconnectRequired { message }
}

#[cfg(test)]
mod tests {
    use hayon_guest::testing::TEST_START;

    use super::*;

    fn failure(status: u16, error: &str) -> UpstreamFailure {
        let body = json!({ "error": error, "message": "m" });
        UpstreamFailure::classify(&OutboundResponse::json(status, &body), TEST_START)
    }

    fn html(status: u16) -> UpstreamFailure {
        let response = OutboundResponse::with_body(status, "text/html", "<html>502</html>");
        UpstreamFailure::classify(&response, TEST_START)
    }

    #[test]
    fn login_errors_follow_section_1_3() {
        let cases = [
            (
                failure(401, "AuthenticationRequired"),
                "invalid_credentials",
                422,
            ),
            (
                failure(401, "AuthFactorTokenRequired"),
                "auth_factor_required",
                422,
            ),
            (failure(401, "AccountTakedown"), "account_unavailable", 422),
            (
                failure(401, "AccountDeactivated"),
                "account_unavailable",
                422,
            ),
            (failure(400, "InvalidRequest"), "invalid_credentials", 422),
            (failure(429, "RateLimitExceeded"), "rate_limited", 429),
            (failure(502, "UpstreamFailure"), "upstream_unavailable", 502),
            (
                failure(503, "NotEnoughResources"),
                "upstream_unavailable",
                502,
            ),
            (failure(504, "UpstreamTimeout"), "upstream_unavailable", 502),
            (html(502), "upstream_unavailable", 502),
            (html(401), "upstream_unavailable", 502),
            (html(200), "upstream_unavailable", 502),
        ];
        for (failure, code, status) in cases {
            let error = login_error(failure.clone());
            assert_eq!(
                (error.code(), error.status()),
                (code, status),
                "{failure:?}"
            );
        }
        let message = login_error(failure(401, "AuthenticationRequired")).public_message();
        assert!(message.contains("App Password"), "{message}");
    }

    #[test]
    fn rate_limit_carries_retry_after_from_ratelimit_reset() {
        let reset = (TEST_START.unix() + 300).to_string();
        let response = OutboundResponse::json(429, &json!({"error": "RateLimitExceeded"}))
            .with_header("RateLimit-Limit", "30")
            .with_header("RateLimit-Remaining", "0")
            .with_header("RateLimit-Reset", &reset)
            .with_header("RateLimit-Policy", "30;w=300");
        let error = login_error(UpstreamFailure::classify(&response, TEST_START));
        assert_eq!(error.retry_after(), Some(300));
    }

    #[test]
    fn stored_errors_separate_dead_from_transient() {
        for dead in [
            failure(400, "ExpiredToken"),
            failure(400, "InvalidToken"),
            failure(401, "AccountTakedown"),
            failure(401, "AuthenticationRequired"),
        ] {
            assert!(is_dead(&dead), "{dead:?}");
            assert_eq!(stored_error(dead).code(), "reconnect_required");
        }
        for transient in [
            failure(502, "UpstreamFailure"),
            failure(429, "RateLimitExceeded"),
            html(503),
        ] {
            assert!(!is_dead(&transient), "{transient:?}");
            assert_ne!(stored_error(transient).code(), "reconnect_required");
        }
        assert!(!is_dead(&failure(400, "InvalidRequest")));
    }

    #[test]
    fn expired_access_token_is_the_400() {
        assert!(is_expired_access(&failure(400, "ExpiredToken")));
        assert!(!is_expired_access(&failure(400, "InvalidToken")));
        assert!(!is_expired_access(&html(400)));
    }

    #[test]
    fn inactive_sessions() {
        let error = inactive_error(Some("takendown"));
        assert_eq!(error.code(), "account_unavailable");
        assert!(error.public_message().contains("taken down"));
        assert!(inactive_error(None).public_message().contains("not active"));
    }
}
