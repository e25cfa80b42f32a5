//! A test double of one Mastodon instance: its OAuth 2.0 server (Doorkeeper, as Mastodon
//! configures it) and the few REST endpoints a "connect my account" flow touches.
//!
//! [`MastodonDouble::start`] binds `127.0.0.1:0` and serves, on a tokio task:
//!
//! - `POST /api/v1/apps`: a per-instance app registry (client ids and secrets differ per
//!   instance); 422 `Validation failed: …` for unknown scopes, bad redirect URIs, a blank name.
//! - `GET /oauth/authorize` (`POST` approves, `DELETE` denies): checks the client id, the
//!   redirect URI (byte for byte a registered one — loopback ports aside, see
//!   [`RedirectMatching`] — else the HTML page "The redirect uri included is not valid."
//!   and no redirect), `response_type=code`, scopes within the app's, PKCE
//!   `S256`; passes `state` through.
//! - `POST /oauth/token`: form or JSON; the client authenticates with `client_secret_post`
//!   or HTTP Basic; codes are single use and expire after 10 minutes; the redirect URI and
//!   the code verifier are checked; the answer is
//!   `{"access_token","token_type":"Bearer","scope","created_at"}` (no expiry, no refresh).
//! - `POST /oauth/revoke`: 200 `{}` (idempotent, unknown tokens too); 403
//!   `unauthorized_client` for another app's token or bad client credentials.
//! - `GET /api/v1/accounts/verify_credentials`: a CredentialAccount; 401, 403 (disabled,
//!   unconfirmed, pending approval, missing scope), 422 (app-only token).
//! - `GET /api/v2/instance` (`domain`), `GET /api/v1/instance` (`uri`): the LOCAL_DOMAIN
//!   (`example.social` by default), not the API host.
//! - `GET /api/v1/apps/verify_credentials`, and from 4.3 on
//!   `GET /.well-known/oauth-authorization-server` and `GET /oauth/userinfo` (404 before).
//!
//! Every `/api/` call with a token counts against a per-token limit (300 per 5 minutes) and
//! carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (ISO 8601
//! with microseconds); over the limit it is a 429 `{"error":"Too many requests"}`.
//! Faults ([`Fault`]) replace an endpoint's answer with a 429, an nginx HTML 502/503/504, a
//! JSON error, an empty or truncated body, or delay it. The clock that ages codes and rate
//! windows is moved with [`MastodonDouble::advance_clock`]. Every request is logged
//! ([`LoggedRequest`]) with secret parameters masked.
//!
//! # The user's part of the flow
//!
//! The authorization page is where a person signs in and presses "Authorize" or "Deny".
//! Tests decide for that person in one of three ways:
//! - in process: [`MastodonDouble::authorize`]`(&auth_url, Decision::approve("alice"))`
//!   runs the page's checks and returns the URL the browser would be sent to (the
//!   product's callback with `code` and `state`, or with `error=access_denied`);
//! - over HTTP: add the header [`USER_HEADER`] (`x-double-user: alice`) or the parameter
//!   [`USER_PARAM`] (`double_user=alice`) to the request to approve as that user, or
//!   [`DECISION_HEADER`]/[`DECISION_PARAM`] `deny` to deny; the answer is the `302`;
//! - [`MastodonDouble::set_default_decision`]: plain `GET`s of the authorization URL are
//!   then decided that way. With no decision at all, the page itself (HTML, 200) is shown.
//!
//! # A typical end-to-end test
//!
//! ```no_run
//! use hayon_double_mastodon::{AppSpec, Decision, MastodonDouble, NewUser, PkceCheck};
//!
//! # async fn flow() -> anyhow::Result<()> {
//! let mastodon = MastodonDouble::start().await?;
//! let alice = mastodon.add_user(NewUser::new("alice").display_name("Alice"))?;
//! assert_eq!(alice.handle, "@alice@example.social");
//!
//! // The operator registered an app; the product is configured with its credentials.
//! let callback = "http://127.0.0.1:8080/api/platform/mastodon/callback";
//! let app = mastodon.register_app(AppSpec::new([callback], "read write push"))?;
//! // mastodon_instance_url  = mastodon.base_url()   (any case / trailing slash)
//! // mastodon_client_key    = app.client_id
//! // mastodon_client_secret = app.client_secret.expose()
//! // If the callback's port is known only after the host started:
//! // mastodon.set_redirect_uris(&app.client_id, [real_callback])?;
//!
//! // The product's `connect` answered {"authUrl": …}:
//! # let auth_url = String::new();
//! let redirect = mastodon.authorize(&auth_url, Decision::approve("alice"))?;
//! // `redirect` is "<callback>?code=…&state=…": GET it on the product, expect its 302.
//!
//! let exchanges = mastodon.requests_to("POST", "/oauth/token");
//! assert_eq!(exchanges[0].status, 200);
//! assert_eq!(exchanges[0].pkce, Some(PkceCheck::Verified));
//! assert!(!exchanges[0].query.iter().any(|(name, _)| name == "client_secret"));
//! # Ok(()) }
//! ```
//!
//! Failure cases follow the same shape: `mastodon.fail_next(Endpoint::Token,
//! Fault::HtmlError(503))`, `mastodon.set_account_state("alice", AccountState::Disabled)`,
//! `mastodon.revoke_authorization("alice")` (the user revoked the app on Mastodon),
//! `mastodon.advance_clock(Duration::from_secs(601))` (the code expired), then assert on
//! the product's answer and on [`MastodonDouble::requests`].
//!
//! # Versions
//!
//! [`MastodonOptions::version`] picks the release imitated: [`MastodonVersion::V4_4`]
//! (PKCE checked, `profile` scope, metadata document), [`MastodonVersion::V4_2`] (legacy:
//! PKCE parameters ignored, no metadata, no `profile`) or [`MastodonVersion::V3_5`] (also
//! no `/api/v2/instance`).

mod api;
mod clock;
mod error;
mod faults;
mod instance;
mod log;
mod model;
mod oauth;
mod options;
mod pages;
mod pkce;
mod reply;
mod request;
mod secret;
mod server;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use axum::http::{HeaderMap, Method};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use error::DoubleError;
pub use faults::{Endpoint, Fault};
pub use log::{LoggedRequest, PkceCheck, REDACTED};
pub use model::{
    Account, AccountState, AppCredentials, AppSpec, Decision, NewUser, OOB_REDIRECT_URI, TokenInfo,
};
pub use oauth::{DECISION_HEADER, DECISION_PARAM, USER_HEADER, USER_PARAM};
pub use options::{AuthorizeErrors, MastodonOptions, MastodonVersion, RedirectMatching};
pub use pkce::s256_challenge;
pub use secret::Secret;

use instance::Instance;
use oauth::AuthorizeAction;
use request::Incoming;
use server::{Shared, lock};

/// A running Mastodon double. Dropping it stops the server.
#[derive(Debug)]
pub struct MastodonDouble {
    addr: SocketAddr,
    base_url: String,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MastodonDouble {
    /// Starts a Mastodon 4.4 double with [`MastodonOptions::default`] on `127.0.0.1:0`.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(MastodonOptions::default()).await
    }

    /// Starts a double with the given options on `127.0.0.1:0`.
    pub async fn start_with(options: MastodonOptions) -> anyhow::Result<Self> {
        Self::start_on(options, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts a double with the given options on `addr` (port 0: any free port), e.g. for
    /// a sandbox whose URLs should not change between runs.
    pub async fn start_on(options: MastodonOptions, addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the Mastodon double to {addr}"))?;
        let addr = listener
            .local_addr()
            .context("reading the Mastodon double's address")?;
        let base_url = format!("http://{addr}");
        let shared: Shared = Arc::new(Mutex::new(Instance::new(options, base_url.clone())));
        let router = server::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // A dropped sender also means "stop".
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the Mastodon double stopped with an error");
            }
        });
        tracing::debug!(%addr, "Mastodon double listening");
        Ok(Self {
            addr,
            base_url,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops the server, waiting up to 5 seconds for open connections to finish.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
        Ok(())
    }

    // ----- addresses ------------------------------------------------------------------

    /// The instance's base URL, `http://127.0.0.1:<port>` (no trailing slash): the value
    /// for `mastodon_instance_url`, and the host of account `url`s (the WEB_DOMAIN).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The socket address the double listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The LOCAL_DOMAIN: the domain in handles and in `/api/v2/instance`'s `domain`.
    pub fn local_domain(&self) -> String {
        lock(&self.shared).options.local_domain.clone()
    }

    /// The Mastodon release imitated.
    pub fn version(&self) -> MastodonVersion {
        lock(&self.shared).options.version
    }

    // ----- apps -----------------------------------------------------------------------

    /// Registers an app as the operator would (same validation as `POST /api/v1/apps`),
    /// and returns the credentials to configure the product with.
    pub fn register_app(&self, spec: AppSpec) -> Result<AppCredentials, DoubleError> {
        lock(&self.shared).register_app(&spec)
    }

    /// A registered app's credentials.
    pub fn app(&self, client_id: &str) -> Option<AppCredentials> {
        lock(&self.shared)
            .app(client_id)
            .map(|app| app.credentials())
    }

    /// Every registered app (including those registered over HTTP).
    pub fn apps(&self) -> Vec<AppCredentials> {
        lock(&self.shared)
            .apps
            .iter()
            .map(|app| app.credentials())
            .collect()
    }

    /// Replaces an app's redirect URIs (Mastodon's "edit application" page). The client id
    /// and secret stay.
    pub fn set_redirect_uris<I, S>(&self, client_id: &str, uris: I) -> Result<(), DoubleError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let uris = uris.into_iter().map(Into::into).collect();
        lock(&self.shared).set_redirect_uris(client_id, uris)
    }

    /// Deletes an app with its codes and tokens (as pre-4.3 servers "vacuumed" unused
    /// apps): its credentials then fail with `invalid_client`, its tokens with 401.
    pub fn remove_app(&self, client_id: &str) -> Result<(), DoubleError> {
        lock(&self.shared).remove_app(client_id)
    }

    // ----- users ----------------------------------------------------------------------

    /// Adds a user: `add_user("alice")` or `add_user(NewUser::new("alice").display_name(…))`.
    pub fn add_user(&self, user: impl Into<NewUser>) -> Result<Account, DoubleError> {
        lock(&self.shared).add_user(user.into())
    }

    /// A user's account as `verify_credentials` would show it.
    pub fn account(&self, username: &str) -> Option<Account> {
        let instance = lock(&self.shared);
        instance
            .user_by_name(username)
            .map(|user| instance.account(user))
    }

    /// Changes a user's login state (what `verify_credentials` then answers).
    pub fn set_account_state(
        &self,
        username: &str,
        state: AccountState,
    ) -> Result<(), DoubleError> {
        lock(&self.shared).set_account_state(username, state)
    }

    /// Changes a user's display name (e.g. to see a refresh pick it up).
    pub fn set_display_name(&self, username: &str, display_name: &str) -> Result<(), DoubleError> {
        lock(&self.shared).set_display_name(username, display_name)
    }

    // ----- the authorization page -----------------------------------------------------

    /// Plays the user on the authorization page: runs every check `GET /oauth/authorize`
    /// makes on `auth_url`, then approves as the named user or denies, and returns the URL
    /// the browser is redirected to — the client's redirect URI with `code` and `state`,
    /// with `error=access_denied&error_description=…&state=…`, or with another redirected
    /// error such as `error=invalid_scope`.
    ///
    /// Fails when `auth_url` is not this double's `/oauth/authorize`, when the approving
    /// user does not exist, or when the page does not redirect (unknown client, redirect URI
    /// not registered, out-of-band code page, or errors set to render). Faults aimed at
    /// [`Endpoint::Authorize`] apply to HTTP requests only. The call is logged like a `GET`.
    pub fn authorize(&self, auth_url: &str, decision: Decision) -> Result<String, DoubleError> {
        let foreign = || DoubleError::ForeignUrl {
            url: auth_url.to_owned(),
            base_url: self.base_url.clone(),
        };
        let url = url::Url::parse(auth_url).map_err(|_| foreign())?;
        let same_host = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
        if url.scheme() != "http"
            || !same_host
            || url.port_or_known_default() != Some(self.addr.port())
        {
            return Err(foreign());
        }
        let req = Incoming::parse(Method::GET, url.path(), url.query(), HeaderMap::new(), &[]);
        if req.path != "/oauth/authorize" {
            return Err(foreign());
        }

        let mut instance = lock(&self.shared);
        if let Decision::Approve(username) = &decision
            && instance.user_by_name(username).is_none()
        {
            return Err(DoubleError::UnknownUser(username.clone()));
        }
        let reply = instance.authorize(&req, AuthorizeAction::Decide(decision));
        instance.record(&req, &reply);
        match reply.location() {
            Some(location) => Ok(location.to_owned()),
            None => Err(DoubleError::NotRedirected {
                status: reply.status.as_u16(),
                error: reply
                    .error
                    .clone()
                    .unwrap_or_else(|| "out-of-band code page".to_owned()),
            }),
        }
    }

    /// The decision applied to `/oauth/authorize` requests that carry no test-control
    /// header or parameter (`None`: show the authorization page).
    pub fn set_default_decision(&self, decision: Option<Decision>) {
        lock(&self.shared).default_decision = decision;
    }

    // ----- tokens ---------------------------------------------------------------------

    /// Issues a token directly, as if an authorization had completed earlier (`username`
    /// `None`: an app-only token). Scopes are not checked.
    pub fn issue_token(
        &self,
        client_id: &str,
        username: Option<&str>,
        scopes: &str,
    ) -> Result<Secret, DoubleError> {
        lock(&self.shared).issue_token(client_id, username, scopes)
    }

    /// Revokes one token, as `POST /oauth/revoke` would. `false` if it is unknown.
    pub fn revoke_token(&self, token: &str) -> bool {
        lock(&self.shared).revoke_token(token)
    }

    /// The user revokes the app on Mastodon's "Authorized apps" page: all their tokens (and
    /// unused codes) die. Returns how many live tokens were revoked.
    pub fn revoke_authorization(&self, username: &str) -> Result<usize, DoubleError> {
        lock(&self.shared).revoke_authorization(username)
    }

    /// Every token issued so far, revoked ones included.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        lock(&self.shared).token_infos()
    }

    // ----- faults and time ------------------------------------------------------------

    /// Answers the next request to `endpoint` with `fault` (queued one-shot faults are used
    /// in order, before any standing fault).
    pub fn fail_next(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.shared).faults.push_once(endpoint, fault);
    }

    /// Answers every request to `endpoint` with `fault` until [`Self::stop_failing`].
    pub fn fail_always(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.shared).faults.set_always(endpoint, Some(fault));
    }

    /// Removes the standing fault of `endpoint`.
    pub fn stop_failing(&self, endpoint: Endpoint) {
        lock(&self.shared).faults.set_always(endpoint, None);
    }

    /// Removes every queued and standing fault.
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Moves the double's clock forward (code expiry, rate-limit windows, `created_at`).
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared).clock.advance(by);
    }

    /// The double's current time.
    pub fn now(&self) -> SystemTime {
        lock(&self.shared).now()
    }

    // ----- the request log ------------------------------------------------------------

    /// Every request served so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared).log.clone()
    }

    /// The requests with this method and path (as sent, e.g. `("POST", "/oauth/revoke")`).
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<LoggedRequest> {
        lock(&self.shared)
            .log
            .iter()
            .filter(|logged| logged.method.eq_ignore_ascii_case(method) && logged.path == path)
            .cloned()
            .collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared).log.clear();
    }
}

impl Drop for MastodonDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MastodonDouble;

    #[test]
    fn the_handle_can_be_shared_across_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<MastodonDouble>();
    }
}
