//! A test double of Tumblr's OAuth 1.0a endpoints and `GET /v2/user/info`, for Hayon's
//! end-to-end tests.
//!
//! [`TumblrDouble::start`] binds two plain-HTTP listeners on `127.0.0.1:0`:
//!
//! * the **www** host ([`TumblrDouble::www_url`], the stand-in for `https://www.tumblr.com`):
//!   `POST /oauth/request_token`, `GET /oauth/authorize?oauth_token=…` (the browser step) and
//!   `GET`/`POST /oauth/access_token`;
//! * the **api** host ([`TumblrDouble::api_url`], for `https://api.tumblr.com`):
//!   `GET /v2/user/info`.
//!
//! Every signed request is verified with the double's own RFC 5849 implementation
//! ([`oauth1`], pinned by the vectors of `platforms.md` §2.3), against the request as received:
//! scheme `http`, the `Host` header (lower-cased, default port dropped), the path as sent,
//! the query, the `Authorization: OAuth …` parameters (without `realm` and `oauth_signature`)
//! and a body only when it is `application/x-www-form-urlencoded`. A mismatch is answered
//! like Tumblr: `401` plain text `oauth_signature [X] does not match expected value [Y]`.
//!
//! What it emulates (`platforms.md` §2.7): `request_token` requiring `oauth_callback` and
//! answering form-encoded credentials with `oauth_callback_confirmed=true` (or `false`, or
//! missing: [`TumblrDouble::set_callback_confirmed`]); the authorize step with test control of
//! who approves or denies; `access_token` requiring the temporary token, its verifier and a
//! signature keyed with the **temporary** token secret; single-use and expiring temporary
//! tokens; a timestamp window and nonce-replay refusal; `user/info` with the
//! `{"meta":…,"response":…}` envelope for users with zero, one and several blogs
//! ([`fixtures`]); revoked tokens; and injected 429, HTML 5xx, empty bodies and slow answers.
//!
//! # A typical test
//!
//! ```no_run
//! use hayon_double_tumblr::{Decision, Endpoint, TumblrDouble, fixtures};
//!
//! # async fn connect_through_the_host(_: &TumblrDouble) -> anyhow::Result<String> { todo!() }
//! # async fn follow_callback_through_the_host(_: &str) -> anyhow::Result<()> { todo!() }
//! # async fn example() -> anyhow::Result<()> {
//! let tumblr = TumblrDouble::start().await?;
//! tumblr.add_user(fixtures::several_blogs());
//!
//! // Start the host with the variables tumblr_www_url = tumblr.www_url(),
//! // tumblr_api_url = tumblr.api_url(), tumblr_consumer_key = tumblr.consumer_key() and
//! // tumblr_consumer_secret = tumblr.consumer_secret(); then call
//! // GET /api/platform/tumblr/connect and take data.authUrl from the answer.
//! let auth_url: String = connect_through_the_host(&tumblr).await?;
//!
//! // The user approves in the browser: the double answers the 302 Tumblr would send.
//! let callback = tumblr.authorize(&auth_url, Decision::approve(fixtures::DAVID))?;
//! assert!(callback.contains("oauth_verifier=") && callback.ends_with("#_=_"));
//! follow_callback_through_the_host(&callback).await?;
//!
//! // Every step was signed correctly, and the temporary token was exchanged once.
//! let log = tumblr.requests();
//! assert!(log.iter().filter(|r| r.endpoint != Some(Endpoint::Authorize))
//!     .all(|r| r.signature.is_valid()));
//! assert_eq!(tumblr.requests_to(Endpoint::AccessToken).len(), 1);
//!
//! // Later: Tumblr revokes the app; the next refresh sees 401.
//! tumblr.revoke_user_tokens(fixtures::DAVID);
//! tumblr.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Choices where Tumblr's behaviour is not documented
//!
//! * A refusal redirects to the callback with `oauth_token` and no `oauth_verifier`
//!   ([`Decision::Deny`]); [`Decision::DenyWithoutParameters`] gives a bare callback.
//! * Statuses follow RFC 5849 §3.2: 400 (plain text) for a malformed request (missing
//!   parameter, duplicated protocol parameter, unsupported method or version), 401 for bad
//!   credentials (unknown consumer or token, signature, timestamp, nonce, used or expired
//!   temporary token, wrong verifier). On the API host both are JSON envelopes; a revoked
//!   token gets exactly `{"meta":{"status":401,"msg":"Unauthorized"},"response":[]}`.
//! * Protocol parameters are read from the `Authorization` header only (Tumblr's documented
//!   placement); `oauth_*` names elsewhere are signed as ordinary parameters but not used.
//! * Unused temporary tokens expire after 10 minutes; timestamps must be within 300 s of the
//!   double's clock. Both can be changed.
//! * The double does not require `User-Agent`; the log records it so tests can assert on it.
//! * It serves plain HTTP, so Tumblr's "non-HTTPS requests fail" rule is not emulated.

pub mod control;
pub mod fixtures;
pub mod log;
pub mod model;
pub mod oauth1;
mod reply;
mod server;
mod state;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::task::JoinHandle;

pub use control::{CallbackConfirmed, Decision, Endpoint, Failure, Site};
pub use log::{LoggedRequest, Outcome, SignatureCheck, Via};
pub use model::{Avatar, Blog, TumblrUser};
pub use state::{AccessCredentials, AccessTokenInfo, RequestTokenInfo, RequestTokenStatus};

use server::{Shared, lock};
use state::{Authorization, State};

/// Consumer key the double accepts unless [`TumblrDoubleConfig`] says otherwise.
pub const DEFAULT_CONSUMER_KEY: &str = "hayonDoubleConsumerKey0123456789abcdefghijklmnopq";
/// Consumer secret matching [`DEFAULT_CONSUMER_KEY`].
pub const DEFAULT_CONSUMER_SECRET: &str = "hayonDoubleConsumerSecret0123456789abcdefghijklmn";

/// The app credentials the double knows (more can be added with
/// [`TumblrDouble::add_consumer`]).
#[derive(Clone, PartialEq, Eq)]
pub struct TumblrDoubleConfig {
    /// `oauth_consumer_key` of the registered app.
    pub consumer_key: String,
    /// Its consumer secret (redacted from `Debug`).
    pub consumer_secret: String,
}

impl Default for TumblrDoubleConfig {
    fn default() -> Self {
        Self {
            consumer_key: DEFAULT_CONSUMER_KEY.to_owned(),
            consumer_secret: DEFAULT_CONSUMER_SECRET.to_owned(),
        }
    }
}

impl std::fmt::Debug for TumblrDoubleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TumblrDoubleConfig")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"[redacted]")
            .finish()
    }
}

/// A running Tumblr double: two listeners and the handle to control them.
///
/// Dropping it stops the listeners; [`TumblrDouble::shutdown`] does the same and waits.
pub struct TumblrDouble {
    shared: Shared,
    config: TumblrDoubleConfig,
    www_addr: SocketAddr,
    api_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TumblrDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TumblrDouble")
            .field("www", &self.www_addr)
            .field("api", &self.api_addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TumblrDouble {
    /// Starts the double with [`TumblrDoubleConfig::default`] (no users yet).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(TumblrDoubleConfig::default()).await
    }

    /// Starts the double with the given app credentials (no users yet).
    pub async fn start_with(config: TumblrDoubleConfig) -> anyhow::Result<Self> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(config, any_port, any_port).await
    }

    /// Starts the double with the given app credentials on fixed addresses (port 0: any
    /// free port), e.g. for a sandbox whose URLs should not change between runs.
    pub async fn start_on(
        config: TumblrDoubleConfig,
        www: SocketAddr,
        api: SocketAddr,
    ) -> anyhow::Result<Self> {
        let state = State::new(config.consumer_key.clone(), config.consumer_secret.clone());
        let shared: Shared = std::sync::Arc::new(std::sync::Mutex::new(state));
        let (www_addr, www_task) = server::start(Site::Www, shared.clone(), www)
            .await
            .with_context(|| format!("binding the Tumblr double's www listener on {www}"))?;
        let (api_addr, api_task) = server::start(Site::Api, shared.clone(), api)
            .await
            .with_context(|| format!("binding the Tumblr double's api listener on {api}"))?;
        Ok(Self {
            shared,
            config,
            www_addr,
            api_addr,
            tasks: vec![www_task, api_task],
        })
    }

    /// Base URL of the www host, e.g. `http://127.0.0.1:41234` (no trailing slash): the value
    /// for `tumblr_www_url`.
    pub fn www_url(&self) -> String {
        format!("http://{}", self.www_addr)
    }

    /// Base URL of the API host (no trailing slash): the value for `tumblr_api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Address of the www listener.
    pub fn www_addr(&self) -> SocketAddr {
        self.www_addr
    }

    /// Address of the API listener.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The configured consumer key: the value for `tumblr_consumer_key`.
    pub fn consumer_key(&self) -> &str {
        &self.config.consumer_key
    }

    /// The configured consumer secret: the value for `tumblr_consumer_secret`.
    pub fn consumer_secret(&self) -> &str {
        &self.config.consumer_secret
    }

    /// Registers another app (consumer key and secret) the double accepts.
    pub fn add_consumer(&self, key: impl Into<String>, secret: impl Into<String>) {
        lock(&self.shared).add_consumer(key.into(), secret.into());
    }

    // ---- users --------------------------------------------------------------------------

    /// Adds a user, or replaces the user of the same name (e.g. to change blogs between a
    /// connect and a refresh).
    pub fn add_user(&self, user: TumblrUser) {
        lock(&self.shared).add_user(user);
    }

    /// Removes a user; their access tokens then get 401 like revoked ones.
    pub fn remove_user(&self, name: &str) -> Option<TumblrUser> {
        lock(&self.shared).remove_user(name)
    }

    /// The user of that name, if added.
    pub fn user(&self, name: &str) -> Option<TumblrUser> {
        lock(&self.shared).user(name)
    }

    // ---- the authorization step ---------------------------------------------------------

    /// Plays the user's part on the authorization page at `auth_url` (the URL the connector
    /// sent the browser to) and returns the `Location` Tumblr would redirect to.
    ///
    /// `auth_url` must be this double's `{www_url}/oauth/authorize?oauth_token=…`; it is
    /// refused if it points at another host or path, or if the token is unknown, expired,
    /// already exchanged or already refused. With [`Decision::Approve`] the returned URL is
    /// the `oauth_callback` given at `request_token`, with `oauth_token` and `oauth_verifier`
    /// appended to its query and `#_=_` as fragment; see [`Decision`] for refusals. An `oob`
    /// callback is an error (there is nothing to redirect to). Injected failures of
    /// [`Endpoint::Authorize`] apply only to HTTP requests, not to this method.
    ///
    /// The same step is reachable over HTTP: `GET {www_url}/oauth/authorize?oauth_token=…`
    /// with the test-only parameter `double_decision=approve:<user>`, `deny` or `deny-bare`,
    /// or with a default set by [`TumblrDouble::set_authorize_decision`]; with neither it
    /// answers 200 with a login page, as the real dialog would.
    pub fn authorize(&self, auth_url: &str, decision: Decision) -> anyhow::Result<String> {
        let url = url::Url::parse(auth_url)
            .with_context(|| format!("the authorization URL [{auth_url}] is not a URL"))?;
        let expected_port = self.www_addr.port();
        let host_matches = url.scheme() == "http"
            && url.host_str() == Some(&self.www_addr.ip().to_string())
            && url.port_or_known_default() == Some(expected_port);
        if !host_matches {
            bail!(
                "the authorization URL [{auth_url}] does not point at the double's www host \
                 [{}]",
                self.www_url()
            );
        }
        if url.path() != "/oauth/authorize" {
            bail!("the authorization URL [{auth_url}] is not /oauth/authorize");
        }

        let result = lock(&self.shared).authorize_by_method(url.path(), url.query(), decision);
        match result {
            Ok(Authorization::Redirect(location)) => Ok(location),
            Ok(Authorization::OutOfBand(_)) => {
                bail!("the request token's callback is oob: there is no redirect")
            }
            Ok(Authorization::Page(_)) => bail!("no decision was taken"),
            Err(reason) => bail!("the authorization page refused [{auth_url}]: {reason}"),
        }
    }

    /// Sets what `GET /oauth/authorize` does when the request carries no `double_decision`
    /// parameter (`None`: show the login page, the default).
    pub fn set_authorize_decision(&self, decision: Option<Decision>) {
        lock(&self.shared).settings.authorize_decision = decision;
    }

    // ---- temporary and access tokens ----------------------------------------------------

    /// Sets what `request_token` answers in `oauth_callback_confirmed`.
    pub fn set_callback_confirmed(&self, mode: CallbackConfirmed) {
        lock(&self.shared).settings.callback_confirmed = mode;
    }

    /// Sets how long an unused temporary token stays valid (default 10 minutes). Expiry is
    /// measured on the double's clock, so [`TumblrDouble::advance_clock`] expires tokens.
    pub fn set_request_token_ttl(&self, ttl: Duration) {
        lock(&self.shared).settings.request_token_ttl = ttl;
    }

    /// The temporary token `token`, if the double issued it.
    pub fn request_token(&self, token: &str) -> Option<RequestTokenInfo> {
        lock(&self.shared).request_token(token)
    }

    /// Every temporary token issued, oldest first.
    pub fn request_tokens(&self) -> Vec<RequestTokenInfo> {
        lock(&self.shared).request_tokens()
    }

    /// Issues an access token for `user` to the configured consumer without the OAuth dance
    /// (for testing the API host directly).
    pub fn issue_access_token(&self, user: &str) -> anyhow::Result<AccessCredentials> {
        let mut state = lock(&self.shared);
        if state.user(user).is_none() {
            bail!("there is no Tumblr user [{user}] in the double");
        }
        Ok(state.issue_access_token(&self.config.consumer_key, user))
    }

    /// Every access token issued, oldest first.
    pub fn access_tokens(&self) -> Vec<AccessTokenInfo> {
        lock(&self.shared).access_tokens()
    }

    /// Revokes one access token; `true` if it existed and was not revoked yet. API calls
    /// with it then get `401` `{"meta":{"status":401,"msg":"Unauthorized"},"response":[]}`.
    pub fn revoke_access_token(&self, token: &str) -> bool {
        lock(&self.shared).revoke_access_token(token)
    }

    /// Revokes every access token of `user` (the user removed the app); returns how many.
    pub fn revoke_user_tokens(&self, user: &str) -> usize {
        lock(&self.shared).revoke_user_tokens(user)
    }

    // ---- clock --------------------------------------------------------------------------

    /// The double's clock, in Unix seconds (real time plus the test's offset).
    pub fn now(&self) -> i64 {
        lock(&self.shared).now()
    }

    /// Moves the double's clock forward (temporary tokens expire, client timestamps fall
    /// out of the window).
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared).advance_clock(by);
    }

    /// Sets the double's clock to `unix_seconds`; it keeps running from there.
    pub fn set_clock(&self, unix_seconds: i64) {
        lock(&self.shared).set_clock(unix_seconds);
    }

    /// Sets how far `oauth_timestamp` may be from the double's clock (default 300 s).
    pub fn set_timestamp_window(&self, window: Duration) {
        lock(&self.shared).settings.timestamp_window = window;
    }

    // ---- failures -----------------------------------------------------------------------

    /// Answers the next request to `endpoint` with `failure` (queued: several calls fail
    /// several requests in order).
    pub fn fail_next(&self, endpoint: Endpoint, failure: Failure) {
        lock(&self.shared).fail_next(endpoint, failure);
    }

    /// Answers every request to `endpoint` with `failure` until
    /// [`TumblrDouble::clear_failures`] (queued one-shot failures still come first).
    pub fn fail_always(&self, endpoint: Endpoint, failure: Failure) {
        lock(&self.shared).fail_always(endpoint, failure);
    }

    /// Removes every planned failure.
    pub fn clear_failures(&self) {
        lock(&self.shared).clear_failures();
    }

    // ---- request log --------------------------------------------------------------------

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared).requests()
    }

    /// The requests answered for `endpoint`, in order.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<LoggedRequest> {
        let mut requests = self.requests();
        requests.retain(|r| r.endpoint == Some(endpoint));
        requests
    }

    /// Empties the log (sequence numbers start again from 0).
    pub fn clear_requests(&self) {
        lock(&self.shared).clear_requests();
    }

    /// Stops both listeners and waits for them to end.
    pub async fn shutdown(mut self) {
        for task in &mut self.tasks {
            task.abort();
            // The task was just aborted: its result is the cancellation, not worth reporting.
            let _ = task.await;
        }
    }
}

impl Drop for TumblrDouble {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
