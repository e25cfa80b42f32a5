//! The OAuth 2.0 authorization-code flow, as Facebook, Threads and Mastodon share it.
//!
//! A connector built on this module keeps only what is particular to its platform — the
//! endpoints and parameter names, what follows the code exchange, how the platform words
//! its errors — and leaves the rest here:
//!
//! * [`RedirectUri`]: the callback URL, `${public_base_url}/api/platform/<p>/callback`,
//!   built once from configuration and passed to both the authorize URL and the token
//!   request, which platforms compare byte for byte;
//! * [`start`]: a `state` bound to the user and platform (single use, expiring; see
//!   `state.rs`), with a PKCE S256 pair when asked, and any sealed extras;
//! * [`AuthorizeUrl`]: the authorization URL with every value percent-encoded (RFC 3986
//!   unreserved characters kept, so a space is `%20` and a comma `%2C`);
//! * [`accept`]: the callback's query as a typed outcome — refused, no code, bad state, or
//!   an [`Authorized`] code with the user and extras recovered from the consumed state;
//! * [`code_exchange`] and [`exchange`]: the token request (form `POST` or query `GET`)
//!   and reading its JSON answer with the platform's error classifier, noting the receipt
//!   time from which `expires_in` counts;
//! * [`connect_failure`] and [`stored_failure`]: the two places an [`UpstreamFailure`]
//!   becomes what the caller sees — a callback reason while connecting, or an
//!   [`ApiError`] (marking the account `reconnect_required` when the credentials it still
//!   holds are the ones that died) for a stored account;
//! * [`meta`]: the error vocabulary of Meta's Graph APIs (Facebook, Instagram, Threads).
//!
//! The callback's order of checks: a platform error (`error=access_denied` is
//! `auth_denied`, any other `auth_failed`) and a missing code (`auth_failed`) are answered
//! first, spending the state when it is valid so it cannot be used again; then the state
//! must be valid (`state_invalid`), and it is consumed before the code is exchanged, so a
//! second use of the same callback URL connects and overwrites nothing.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::account::{AccountRecord, AccountStore};
use crate::auth::UserId;
use crate::callback::{CallbackError, CallbackQuery, CallbackReason};
use crate::config::Config;
use crate::connector::Platform;
use crate::env::Env;
use crate::error::ApiError;
use crate::outbound::{OutboundRequest, OutboundResponse, query_string};
use crate::secret::{AuthorizationCode, PkceVerifier, Secret};
use crate::state::{self, Pkce, StateError};
use crate::time::Timestamp;
use crate::upstream::{FailureClass, Phase, UpstreamFailure};

pub mod meta;

/// The extras key under which [`start`] keeps the PKCE verifier.
const PKCE_VERIFIER: &str = "pkce_verifier";

/// Joins a configured base URL and a path; trailing slashes on the base are tolerated:
/// `endpoint("https://x/", "/oauth")` is `https://x/oauth`.
pub fn endpoint(base: &str, path: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    let path = path.trim_start_matches('/');
    format!("{base}/{path}")
}

/// The callback URL registered with the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// `${public_base_url}/api/platform/<platform>/callback`, with `public_base_url`
    /// normalized (trailing slash dropped, scheme and host lower case) so the same
    /// configuration always gives the same bytes. Unset or invalid is `not_configured`.
    pub fn from_config(config: &Config, platform: &str) -> Result<Self, ApiError> {
        config.callback_url(platform).map(Self)
    }

    /// The URL as sent to the platform.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An authorization URL: the platform's authorize endpoint and its parameters in the
/// order added, each percent-encoded.
///
/// ```
/// use hayon_guest::oauth2::AuthorizeUrl;
/// let url = AuthorizeUrl::new("https://threads.net/oauth/authorize")
///     .param("client_id", "123")
///     .param("scope", "threads_basic,threads_content_publish")
///     .build();
/// assert_eq!(
///     url,
///     "https://threads.net/oauth/authorize?client_id=123\
///      &scope=threads_basic%2Cthreads_content_publish"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct AuthorizeUrl {
    endpoint: String,
    params: Vec<(String, String)>,
}

impl AuthorizeUrl {
    /// Starts from the authorize endpoint (already joined with its base URL).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            params: Vec::new(),
        }
    }

    /// Adds one parameter.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `redirect_uri`.
    pub fn redirect_uri(self, redirect_uri: &RedirectUri) -> Self {
        self.param("redirect_uri", redirect_uri.as_str())
    }

    /// Adds `state` and, when the authorization uses PKCE, `code_challenge` and
    /// `code_challenge_method=S256`.
    pub fn authorization(self, authorization: &Authorization) -> Self {
        let url = self.param("state", &authorization.state);
        match &authorization.code_challenge {
            Some(challenge) => url
                .param("code_challenge", challenge)
                .param("code_challenge_method", "S256"),
            None => url,
        }
    }

    /// The finished URL.
    pub fn build(&self) -> String {
        let query = query_string(
            self.params
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        if query.is_empty() {
            return self.endpoint.clone();
        }
        let separator = if self.endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}{query}", self.endpoint)
    }
}

/// Whether an authorization uses PKCE (RFC 7636, S256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMode {
    /// Send a `code_challenge`; keep the verifier for the token request (Mastodon).
    S256,
    /// No PKCE (Meta's confidential-client flows).
    None,
}

/// A begun authorization: what goes into the authorization URL.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The `state` value (carries no user id; see `state.rs`).
    pub state: String,
    /// The S256 `code_challenge`, when PKCE is used.
    pub code_challenge: Option<String>,
}

/// Begins an authorization for `user` on `platform` (its id): issues a single-use,
/// expiring `state` whose pending record keeps `extras` (sealed) and, with
/// [`PkceMode::S256`], a fresh PKCE verifier.
pub fn start(
    env: &Env,
    platform: &str,
    user: &UserId,
    pkce: PkceMode,
    extras: BTreeMap<String, Secret>,
) -> Result<Authorization, ApiError> {
    let mut extras = extras;
    let code_challenge = match pkce {
        PkceMode::S256 => {
            let pair = Pkce::generate()?;
            extras.insert(
                PKCE_VERIFIER.to_owned(),
                Secret::new(pair.verifier.expose_secret()),
            );
            Some(pair.challenge)
        }
        PkceMode::None => None,
    };
    let state = state::issue(env, platform, user, &extras)?;
    Ok(Authorization {
        state,
        code_challenge,
    })
}

/// A callback that carried a code and a valid state (now consumed).
#[derive(Debug)]
pub struct Authorized {
    /// The user who began the connection.
    pub user: UserId,
    /// The code to exchange.
    pub code: AuthorizationCode,
    /// The PKCE verifier, when the authorization used PKCE.
    pub pkce_verifier: Option<PkceVerifier>,
    /// The other extras given to [`start`].
    pub extras: BTreeMap<String, Secret>,
    /// When the connection was begun.
    pub started_at: Timestamp,
}

/// At most this many characters of a platform's `error` code are logged.
const ERROR_CODE_MAX: usize = 40;

/// A platform's `error` value reduced to something safe to log: ASCII letters, digits, `_`,
/// `-` and `.` kept, anything else `?`, at most [`ERROR_CODE_MAX`] characters.
fn error_code(error: &str) -> String {
    error
        .chars()
        .take(ERROR_CODE_MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Reads a callback's query: a refusal, a missing code or a bad state is the matching
/// [`CallbackError`]; otherwise the state is consumed and the code returned with whom it
/// belongs to. Any fragment (`#_=_`, `#_`) was dropped by [`CallbackQuery::parse`].
pub fn accept(
    env: &Env,
    platform: &Platform,
    query: &CallbackQuery,
) -> Result<Authorized, CallbackError> {
    let state = query.get("state");

    if let Some(error) = query.get("error") {
        spend(env, platform.id, state);
        return Err(if error == "access_denied" {
            CallbackError::new(
                CallbackReason::AuthDenied,
                format!(
                    "The person declined to let Hayon use their {} account.",
                    platform.name
                ),
            )
        } else {
            // The query's own words never reach a message or a log line: only a bounded
            // code made of the characters OAuth error codes use (RFC 6749 §4.1.2.1).
            tracing::info!(
                platform = platform.id,
                code = %error_code(error),
                "the platform reported an authorization error"
            );
            CallbackError::new(
                CallbackReason::AuthFailed,
                format!("{} reported an authorization error.", platform.name),
            )
        });
    }

    let Some(code) = query.get("code") else {
        spend(env, platform.id, state);
        return Err(CallbackError::new(
            CallbackReason::AuthFailed,
            format!(
                "{} sent the browser back without an authorization code.",
                platform.name
            ),
        ));
    };

    let pending = state::consume(env, platform.id, state.unwrap_or_default())
        .map_err(|error| state_failure(platform, error))?;
    let mut extras = pending.extras;
    let pkce_verifier = extras
        .remove(PKCE_VERIFIER)
        .map(|secret| PkceVerifier::new(secret.expose_secret()));
    Ok(Authorized {
        user: pending.user,
        code: AuthorizationCode::new(code),
        pkce_verifier,
        extras,
        started_at: pending.created_at,
    })
}

/// Consumes `state` if it is valid, so a refused or code-less callback cannot be replayed
/// with a code later. Its validity does not change the answer.
fn spend(env: &Env, platform: &str, state: Option<&str>) {
    if let Some(state) = state {
        let _ = state::consume(env, platform, state);
    }
}

fn state_failure(platform: &Platform, error: StateError) -> CallbackError {
    match error {
        StateError::Invalid => CallbackError::new(
            CallbackReason::StateInvalid,
            format!(
                "The {} sign-in link is unknown, expired or was already used. Start again.",
                platform.name
            ),
        ),
        StateError::Api(error) => {
            tracing::error!(platform = platform.id, %error, "could not check a callback state");
            CallbackError::new(CallbackReason::ConnectFailed, error.public_message())
        }
    }
}

/// How the token request carries its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTransport {
    /// `POST` with an `application/x-www-form-urlencoded` body (Mastodon, Threads).
    PostForm,
    /// `GET` with the parameters in the query (Facebook's Graph API).
    GetQuery,
}

/// The platform's app credentials for the token request.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The app's client id (Meta's app id, Mastodon's client key).
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: Secret,
}

/// The request exchanging `authorized`'s code at `token_endpoint`: `client_id`,
/// `client_secret`, `code`, `redirect_uri` (the same [`RedirectUri`] as the authorize URL),
/// `code_verifier` when PKCE was used, and `grant_type=authorization_code` unless
/// `with_grant_type` is false (Facebook's endpoint takes none).
pub fn code_exchange(
    token_endpoint: &str,
    transport: TokenTransport,
    client: &ClientCredentials,
    authorized: &Authorized,
    redirect_uri: &RedirectUri,
    with_grant_type: bool,
) -> OutboundRequest {
    let mut params: Vec<(&str, &str)> = Vec::with_capacity(6);
    if with_grant_type {
        params.push(("grant_type", "authorization_code"));
    }
    params.push(("client_id", &client.client_id));
    params.push(("client_secret", client.client_secret.expose_secret()));
    params.push(("code", authorized.code.expose_secret()));
    params.push(("redirect_uri", redirect_uri.as_str()));
    if let Some(verifier) = &authorized.pkce_verifier {
        params.push(("code_verifier", verifier.expose_secret()));
    }
    token_request(token_endpoint, transport, &params)
}

/// Any token request (`th_exchange_token`, `fb_exchange_token`, `th_refresh_token`,
/// revocation…): `params` in a form body or in the query. The request carries secrets;
/// `Env::send` logs only its host and path.
pub fn token_request(
    url: &str,
    transport: TokenTransport,
    params: &[(&str, &str)],
) -> OutboundRequest {
    match transport {
        TokenTransport::PostForm => OutboundRequest::post(url).form(params.iter().copied()),
        TokenTransport::GetQuery => OutboundRequest::get(url).query(params.iter().copied()),
    }
}

/// A platform's error classifier: a non-2xx answer, the time, and whose credentials the
/// call used, to a classified failure. The default is [`UpstreamFailure::classify`];
/// Meta platforms use [`meta::classify`].
pub type Classifier = fn(&OutboundResponse, Timestamp, Phase) -> UpstreamFailure;

/// The generic classifier ([`UpstreamFailure::classify`]), ignoring the phase.
pub fn generic_classifier(
    response: &OutboundResponse,
    now: Timestamp,
    _phase: Phase,
) -> UpstreamFailure {
    UpstreamFailure::classify(response, now)
}

/// A JSON answer and when we received it (the base of `expires_in`).
#[derive(Debug)]
pub struct Received<T> {
    /// The answer.
    pub value: T,
    /// Our clock when the answer arrived.
    pub received_at: Timestamp,
}

/// Sends `request` and reads a 2xx answer as `T`; a non-2xx answer goes through
/// `classify`, a 2xx answer that is not the JSON expected is transient.
pub fn exchange<T: DeserializeOwned>(
    env: &Env,
    request: &OutboundRequest,
    phase: Phase,
    classify: Classifier,
) -> Result<Received<T>, UpstreamFailure> {
    let response = env.send(request)?;
    let received_at = env.now();
    if !response.is_success() {
        return Err(classify(&response, received_at, phase));
    }
    let value = serde_json::from_slice(&response.body)
        .map_err(|_| UpstreamFailure::unreadable(&response))?;
    Ok(Received { value, received_at })
}

/// A failure while completing a callback, as its redirect reason: throttling is
/// `rate_limited`, outages `upstream_unavailable`, anything else `connect_failed`.
pub fn connect_failure(platform: &Platform, failure: UpstreamFailure) -> CallbackError {
    tracing::warn!(
        platform = platform.id,
        status = failure.status,
        error = failure.error.as_deref(),
        message = failure.message.as_deref(),
        "connecting failed upstream"
    );
    CallbackError::from(failure.into_api(platform.name, Phase::Connect))
}

/// A failure of a call made with a stored account's credentials, as the caller's error.
/// When the credentials are dead, `used` — the records as read before the call, whose
/// credentials it used — are marked `reconnect_required` first, each only if it still
/// holds those credentials ([`AccountStore::mark_reconnect_required`]); throttling and
/// outages leave the accounts as they are.
pub fn stored_failure(
    store: &AccountStore<'_>,
    platform: &Platform,
    used: &[&AccountRecord],
    failure: UpstreamFailure,
) -> ApiError {
    tracing::warn!(
        platform = platform.id,
        status = failure.status,
        error = failure.error.as_deref(),
        class = ?failure.class,
        "call with stored credentials failed"
    );
    // Limitation: when the account was reconnected while this call was under way, it is
    // left alone, but this answer is still `reconnect_required` for the refused token; the
    // next status or refresh shows the new connection (only Bluesky retries with it).
    if failure.class == FailureClass::CredentialsDead
        && let Err(error) = store.mark_reconnect_required(used)
    {
        return error;
    }
    failure.into_api(platform.name, Phase::Stored)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::account::{Account, AccountStatus};
    use crate::connector::AuthKind;
    use crate::outbound::{Method, TransportError};
    use crate::state::pkce_challenge;
    use crate::testing::TestEnv;

    const DEMO: Platform = Platform {
        id: "demo",
        name: "Demo",
        auth: AuthKind::OAuth2,
        account_platforms: &["demo"],
        redirect_field: "url",
    };

    fn user(id: &str) -> UserId {
        UserId::parse(id).expect("valid user id")
    }

    fn started(test: &TestEnv, pkce: PkceMode) -> Authorization {
        let extras = BTreeMap::from([("instance".to_owned(), Secret::new("https://i.example"))]);
        start(&test.env(), DEMO.id, &user("u1"), pkce, extras).expect("state issued")
    }

    fn query(text: &str) -> CallbackQuery {
        CallbackQuery::parse(text)
    }

    #[test]
    fn endpoints_tolerate_trailing_slashes() {
        assert_eq!(
            endpoint("https://x.example/", "/oauth/token"),
            "https://x.example/oauth/token"
        );
        assert_eq!(
            endpoint("https://x.example", "oauth/token"),
            "https://x.example/oauth/token"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9//", "/a"),
            "http://127.0.0.1:9/a"
        );
    }

    #[test]
    fn redirect_uri_is_the_same_whatever_the_operator_wrote() {
        let test = TestEnv::new();
        let uris: Vec<String> = [
            "https://api.example",
            "https://api.example/",
            "HTTPS://API.example//",
        ]
        .into_iter()
        .map(|base| {
            test.config_set("public_base_url", base);
            RedirectUri::from_config(&test.env().config, "mastodon")
                .expect("valid base")
                .to_string()
        })
        .collect();
        assert!(
            uris.iter()
                .all(|uri| uri == "https://api.example/api/platform/mastodon/callback")
        );
        test.config_set("public_base_url", "");
        let error = RedirectUri::from_config(&test.env().config, "mastodon").unwrap_err();
        assert_eq!(error.code(), "not_configured");
    }

    #[test]
    fn authorize_url_encodes_every_value_in_order() {
        let redirect = RedirectUri("https://api.example/api/platform/demo/callback".into());
        let authorization = Authorization {
            state: "st_1-2".into(),
            code_challenge: Some("ch~al".into()),
        };
        let url = AuthorizeUrl::new(endpoint("https://demo.example/", "/oauth/authorize"))
            .param("response_type", "code")
            .param("client_id", "key with space")
            .redirect_uri(&redirect)
            .param("scope", "read write push")
            .authorization(&authorization)
            .build();
        assert_eq!(
            url,
            "https://demo.example/oauth/authorize?response_type=code\
             &client_id=key%20with%20space\
             &redirect_uri=https%3A%2F%2Fapi.example%2Fapi%2Fplatform%2Fdemo%2Fcallback\
             &scope=read%20write%20push&state=st_1-2&code_challenge=ch~al\
             &code_challenge_method=S256"
        );
        let plain = AuthorizeUrl::new("https://x/a?v=1")
            .param("s", "a,b")
            .build();
        assert_eq!(plain, "https://x/a?v=1&s=a%2Cb");
    }

    #[test]
    fn a_good_callback_recovers_user_code_verifier_and_extras() {
        let test = TestEnv::new();
        let authorization = started(&test, PkceMode::S256);
        let callback = query(&format!("code=c%2B1&state={}#_=_", authorization.state));
        let authorized = accept(&test.env(), &DEMO, &callback).expect("accepted");
        assert_eq!(authorized.user, user("u1"));
        assert_eq!(authorized.code.expose_secret(), "c+1");
        let verifier = authorized.pkce_verifier.as_ref().expect("verifier kept");
        assert_eq!(Some(pkce_challenge(verifier)), authorization.code_challenge);
        assert_eq!(
            authorized.extras["instance"].expose_secret(),
            "https://i.example"
        );
        assert!(!authorized.extras.contains_key(PKCE_VERIFIER));
        assert!(!format!("{authorized:?}").contains("c+1"));
    }

    #[test]
    fn without_pkce_there_is_no_challenge_or_verifier() {
        let test = TestEnv::new();
        let authorization = started(&test, PkceMode::None);
        assert_eq!(authorization.code_challenge, None);
        let callback = query(&format!("code=c&state={}#_", authorization.state));
        let authorized = accept(&test.env(), &DEMO, &callback).expect("accepted");
        assert!(authorized.pkce_verifier.is_none());
    }

    fn reason(test: &TestEnv, text: &str) -> CallbackReason {
        accept(&test.env(), &DEMO, &query(text))
            .expect_err("refused")
            .reason
    }

    #[test]
    fn a_replayed_callback_is_refused() {
        let test = TestEnv::new();
        let state = started(&test, PkceMode::S256).state;
        let text = format!("code=c&state={state}");
        assert!(accept(&test.env(), &DEMO, &query(&text)).is_ok());
        assert_eq!(reason(&test, &text), CallbackReason::StateInvalid);
    }

    #[test]
    fn refusals_and_missing_codes_spend_the_state() {
        let test = TestEnv::new();
        let state = started(&test, PkceMode::None).state;
        let denied = format!("error=access_denied&error_reason=user_denied&state={state}#_=_");
        assert_eq!(reason(&test, &denied), CallbackReason::AuthDenied);
        assert_eq!(
            reason(&test, &format!("code=c&state={state}")),
            CallbackReason::StateInvalid
        );

        let state = started(&test, PkceMode::None).state;
        assert_eq!(
            reason(&test, &format!("state={state}")),
            CallbackReason::AuthFailed
        );
        assert_eq!(
            reason(&test, &format!("code=c&state={state}")),
            CallbackReason::StateInvalid
        );

        let state = started(&test, PkceMode::None).state;
        let other = format!("error=invalid_scope&state={state}");
        assert_eq!(reason(&test, &other), CallbackReason::AuthFailed);
        assert!(test.store.keys().is_empty(), "every state was spent");
    }

    #[test]
    fn a_platform_error_is_never_copied_into_the_message() {
        let test = TestEnv::new();
        let state = started(&test, PkceMode::None).state;
        let forged = format!("error=x%0AERROR%20forged%20line&state={state}");
        let error = accept(&test.env(), &DEMO, &query(&forged)).expect_err("refused");
        assert_eq!(error.reason, CallbackReason::AuthFailed);
        assert!(!error.message.contains("forged"), "{}", error.message);
        assert!(!error.message.contains('\n'), "{}", error.message);
        assert_eq!(error_code("x\nERROR forged"), "x?ERROR?forged");
        assert_eq!(error_code(&"a".repeat(500)).len(), ERROR_CODE_MAX);
    }

    #[test]
    fn bad_states_are_state_invalid() {
        let test = TestEnv::new();
        let state = started(&test, PkceMode::None).state;
        let mut tampered = state.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        for text in [
            "code=c".to_owned(),
            "code=c&state=".to_owned(),
            "code=c&state=u1".to_owned(),
            format!("code=c&state={tampered}"),
        ] {
            assert_eq!(reason(&test, &text), CallbackReason::StateInvalid, "{text}");
        }
        let other_platform = Platform {
            id: "other",
            ..DEMO
        };
        let error = accept(
            &test.env(),
            &other_platform,
            &query(&format!("code=c&state={state}")),
        )
        .expect_err("bound to its platform");
        assert_eq!(error.reason, CallbackReason::StateInvalid);

        test.clock.advance(state::STATE_TTL_SECONDS);
        assert_eq!(
            reason(&test, &format!("code=c&state={state}")),
            CallbackReason::StateInvalid
        );
    }

    #[test]
    fn code_exchange_carries_the_same_redirect_uri_and_the_verifier() {
        let test = TestEnv::new();
        let authorization = started(&test, PkceMode::S256);
        let authorized = accept(
            &test.env(),
            &DEMO,
            &query(&format!("code=the%20code&state={}", authorization.state)),
        )
        .expect("accepted");
        let redirect = RedirectUri::from_config(&test.env().config, "demo").expect("configured");
        let client = ClientCredentials {
            client_id: "id 1".into(),
            client_secret: Secret::new("s&cret"),
        };

        let post = code_exchange(
            "https://demo.example/oauth/token",
            TokenTransport::PostForm,
            &client,
            &authorized,
            &redirect,
            true,
        );
        assert_eq!(post.method, Method::Post);
        let body = String::from_utf8(post.body.clone()).expect("utf-8");
        let fields: BTreeMap<String, String> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(fields["grant_type"], "authorization_code");
        assert_eq!(fields["client_id"], "id 1");
        assert_eq!(fields["client_secret"], "s&cret");
        assert_eq!(fields["code"], "the code");
        assert_eq!(
            fields["redirect_uri"],
            "https://api.example/api/platform/demo/callback"
        );
        let verifier = authorized.pkce_verifier.as_ref().expect("verifier");
        assert_eq!(fields["code_verifier"], verifier.expose_secret());

        let get = code_exchange(
            "https://graph.example/v26.0/oauth/access_token",
            TokenTransport::GetQuery,
            &client,
            &authorized,
            &redirect,
            false,
        );
        assert_eq!(get.method, Method::Get);
        assert!(!get.url.contains("grant_type"));
        assert!(get.url.contains(
            "&redirect_uri=https%3A%2F%2Fapi.example%2Fapi%2Fplatform%2Fdemo%2Fcallback"
        ));
        assert!(
            !format!("{get:?}").contains("cret"),
            "Debug must not show the query"
        );
    }

    #[derive(Debug, serde::Deserialize)]
    struct Token {
        access_token: String,
    }

    #[test]
    fn exchange_reads_json_and_classifies_failures() {
        let test = TestEnv::new();
        let request = OutboundRequest::post("https://demo.example/oauth/token");

        let env = test.env_with(|_: &OutboundRequest| {
            Ok(OutboundResponse::json(200, &json!({"access_token": "t1"})))
        });
        let received: Received<Token> =
            exchange(&env, &request, Phase::Connect, generic_classifier).expect("token");
        assert_eq!(received.value.access_token, "t1");
        assert_eq!(received.received_at, crate::testing::TEST_START);

        let env = test.env_with(|_: &OutboundRequest| {
            Ok(OutboundResponse::with_body(
                200,
                "text/html",
                "<html>hi</html>",
            ))
        });
        let failure = exchange::<Token>(&env, &request, Phase::Connect, generic_classifier)
            .expect_err("unreadable");
        assert_eq!(failure.class, FailureClass::Transient);

        let env = test.env_with(|_: &OutboundRequest| {
            Ok(OutboundResponse::json(
                400,
                &json!({"error": "invalid_grant"}),
            ))
        });
        let failure = exchange::<Token>(&env, &request, Phase::Connect, generic_classifier)
            .expect_err("refused");
        assert_eq!(
            connect_failure(&DEMO, failure).reason,
            CallbackReason::ConnectFailed
        );

        let env = test.env_with(|_: &OutboundRequest| -> Result<OutboundResponse, _> {
            Err(TransportError::Timeout)
        });
        let failure = exchange::<Token>(&env, &request, Phase::Connect, generic_classifier)
            .expect_err("timeout");
        assert_eq!(
            connect_failure(&DEMO, failure).reason,
            CallbackReason::UpstreamUnavailable
        );

        let env = test.env_with(|_: &OutboundRequest| {
            Ok(OutboundResponse::json(429, &json!({"error": "slow down"})))
        });
        let failure = exchange::<Token>(&env, &request, Phase::Connect, generic_classifier)
            .expect_err("throttled");
        assert_eq!(
            connect_failure(&DEMO, failure).reason,
            CallbackReason::RateLimited
        );
    }

    fn stored_account(test: &TestEnv) -> AccountRecord {
        let env = test.env();
        let now = crate::testing::TEST_START;
        let account = Account {
            platform: "demo".into(),
            account_id: "42".into(),
            handle: "demo".into(),
            display_name: None,
            avatar: None,
            profile_url: None,
            connected_at: now,
            refreshed_at: now,
            expires_at: None,
            status: AccountStatus::Active,
        };
        let store = AccountStore::new(&env, "demo", &user("u1"));
        let mut record = AccountRecord::new(account);
        store
            .seal(&mut record, "access_token", "t1")
            .expect("sealed");
        store.save(std::slice::from_ref(&record)).expect("saved");
        record
    }

    #[test]
    fn dead_stored_credentials_mark_the_account_and_answer_409() {
        let test = TestEnv::new();
        let used = stored_account(&test);
        let env = test.env();
        let store = AccountStore::new(&env, "demo", &user("u1"));
        let error = stored_failure(
            &store,
            &DEMO,
            &[&used],
            UpstreamFailure::new(FailureClass::CredentialsDead),
        );
        assert_eq!((error.code(), error.status()), ("reconnect_required", 409));
        assert_eq!(
            store.views().expect("views")[0].status,
            AccountStatus::ReconnectRequired
        );
    }

    #[test]
    fn throttling_of_stored_credentials_leaves_the_account_alone() {
        let test = TestEnv::new();
        let used = stored_account(&test);
        let env = test.env();
        let store = AccountStore::new(&env, "demo", &user("u1"));
        let before = store.load().expect("load");
        let throttled = UpstreamFailure {
            rate_limited: true,
            retry_after: Some(30),
            ..UpstreamFailure::new(FailureClass::Transient)
        };
        let error = stored_failure(&store, &DEMO, &[&used], throttled);
        assert_eq!((error.status(), error.retry_after()), (429, Some(30)));
        assert_eq!(store.load().expect("load"), before);
    }
}
