//! The Meta double: the Graph API host and the Facebook Login dialog host, for Facebook
//! Pages and the Instagram professional accounts linked to them.
//!
//! Two listeners, so that a connector that sends a Graph call to the dialog host (or the
//! reverse) fails as it would against Meta: [`MetaDouble::graph_url`] stands for
//! `https://graph.facebook.com`, [`MetaDouble::dialog_url`] for `https://www.facebook.com`.
//! Any version prefix (`/v26.0/…`) is accepted and recorded in the request log.

mod dialog;
mod graph;
pub(crate) mod model;
mod oauth;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::app::RegisteredApp;
use crate::clock::Clock;
use crate::consent::{Decision, DialogError};
use crate::fault::Fault;
use crate::issued::IssuedToken;
use crate::lock;
use crate::log::{Listener, LoggedRequest, masked, split_version};
use crate::server::{Server, Service, spawn};
use crate::wire::{Incoming, Reply};
use model::{FacebookPage, FacebookUser};
use state::{MetaState, UserEntry};

pub use graph::appsecret_proof;

/// A running double of Meta's Graph API and Login dialog. Dropping it stops both listeners.
///
/// See the crate documentation for a typical test.
#[derive(Debug)]
pub struct MetaDouble {
    shared: Arc<Shared>,
    graph: Server,
    dialog: Server,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<MetaState>,
}

impl MetaDouble {
    /// Starts both listeners on `127.0.0.1:0` with a fresh [`Clock`].
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_clock(Clock::new()).await
    }

    /// Starts both listeners with `clock`, e.g. one shared with a [`crate::ThreadsDouble`].
    pub async fn start_with_clock(clock: Clock) -> anyhow::Result<Self> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(clock, any_port, any_port).await
    }

    /// Starts the Graph listener on `graph` and the dialog listener on `dialog` (port 0:
    /// any free port), e.g. for a sandbox whose URLs should not change between runs.
    pub async fn start_on(
        clock: Clock,
        graph: SocketAddr,
        dialog: SocketAddr,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(MetaState::new(clock)),
        });
        let graph = spawn(Arc::clone(&shared), Listener::Graph, graph).await?;
        let dialog = spawn(Arc::clone(&shared), Listener::Dialog, dialog).await?;
        lock(&shared.state).graph_base = graph.base_url();
        Ok(Self {
            shared,
            graph,
            dialog,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MetaState> {
        lock(&self.shared.state)
    }

    /// Base URL standing for `https://graph.facebook.com` (`meta_graph_url`), no trailing
    /// slash.
    pub fn graph_url(&self) -> String {
        self.graph.base_url()
    }

    /// Base URL standing for `https://www.facebook.com` (`meta_dialog_url`), no trailing
    /// slash.
    pub fn dialog_url(&self) -> String {
        self.dialog.base_url()
    }

    /// The host variables pointing at this double: `meta_graph_url`, `meta_dialog_url`.
    pub fn variables(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("meta_graph_url".to_owned(), self.graph_url()),
            ("meta_dialog_url".to_owned(), self.dialog_url()),
        ])
    }

    /// The double's clock (a handle to the same time).
    pub fn clock(&self) -> Clock {
        self.state().clock.clone()
    }

    /// Moves the double's clock forward.
    pub fn advance(&self, by: Duration) {
        self.state().clock.advance(by);
    }

    /// Registers an app, replacing one with the same id (e.g. to add a redirect URI once
    /// the host's port is known).
    pub fn register_app(&self, app: RegisteredApp) {
        self.state().apps.insert(app.id.clone(), app);
    }

    /// Adds (or replaces) a user who can log in; their Pages are kept on replacement.
    pub fn add_user(&self, user: FacebookUser) {
        let mut state = self.state();
        let pages = state
            .users
            .remove(&user.id)
            .map(|entry| entry.pages)
            .unwrap_or_default();
        state
            .users
            .insert(user.id.clone(), UserEntry { user, pages });
    }

    /// Gives `user_id` the Page (listed after their other Pages), or replaces the Page's
    /// data if it exists (e.g. to unlink its Instagram account between two connects).
    pub fn add_page(&self, user_id: &str, page: FacebookPage) -> anyhow::Result<()> {
        let mut state = self.state();
        let entry = state
            .users
            .get_mut(user_id)
            .with_context(|| format!("add_page: unknown user {user_id}; add_user first"))?;
        if !entry.pages.contains(&page.id) {
            entry.pages.push(page.id.clone());
        }
        state.pages.insert(page.id.clone(), page);
        Ok(())
    }

    /// Takes the Page away from every user (its tokens stay valid but see nothing).
    pub fn remove_page(&self, page_id: &str) {
        let mut state = self.state();
        for entry in state.users.values_mut() {
            entry.pages.retain(|p| p != page_id);
        }
        state.pages.remove(page_id);
    }

    /// Runs the dialog for `auth_url` (which must point at [`Self::dialog_url`]) with the
    /// same checks as the HTTP endpoint and answers the callback URL the browser would be
    /// sent to. The request is logged like an HTTP one; faults are not applied.
    pub fn authorize(&self, auth_url: &str, decision: Decision) -> Result<String, DialogError> {
        let incoming = dialog_request(&self.dialog_url(), auth_url, "/dialog/oauth")?;
        let mut state = self.state();
        record(&mut state, Listener::Dialog, &incoming);
        let request = state.validate_dialog(&incoming)?;
        state.complete_dialog(&request, decision)
    }

    /// Queues a decision for the next HTTP dialog request that carries none.
    pub fn queue_decision(&self, decision: Decision) {
        self.state().decisions.push_back(decision);
    }

    /// Logs `user_id` in: every later HTTP dialog request without a decision of its own is
    /// approved by this user (as Facebook completes a repeated login without prompting).
    pub fn log_in(&self, user_id: &str) {
        self.state().logged_in = Some(user_id.to_owned());
    }

    /// Logs the browser user out: dialog requests without a decision get the login page.
    pub fn log_out(&self) {
        self.state().logged_in = None;
    }

    /// Lifetime of short-lived user tokens from the code exchange (default 5 400 s).
    pub fn set_short_lived_ttl(&self, ttl: Duration) {
        self.state().settings.short_lived_ttl = secs(ttl);
    }

    /// `expires_in` of `fb_exchange_token` answers (default 5 183 944 s); `None` leaves
    /// `expires_in` out and the long-lived token never expires.
    pub fn set_long_lived_expires_in(&self, expires_in: Option<Duration>) {
        self.state().settings.long_lived_expires_in = expires_in.map(secs);
    }

    /// Caps the page size of `/me/accounts` whatever `limit` asks for, to force pagination
    /// with a few Pages (`None`: honour `limit`, default 25).
    pub fn set_accounts_page_size(&self, size: Option<usize>) {
        self.state().settings.accounts_page_cap = size;
    }

    /// Mints a user token directly, without the dialog (the grant is what `scopes` says,
    /// all of the user's Pages).
    pub fn issue_user_token(
        &self,
        app_id: &str,
        user_id: &str,
        long_lived: bool,
        scopes: &[&str],
    ) -> anyhow::Result<String> {
        let mut state = self.state();
        if !state.apps.contains_key(app_id) {
            bail!("issue_user_token: unknown app {app_id}");
        }
        if !state.users.contains_key(user_id) {
            bail!("issue_user_token: unknown user {user_id}");
        }
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let grant = state
            .grants
            .entry((app_id.to_owned(), user_id.to_owned()))
            .or_default();
        grant.scopes.extend(scopes.iter().cloned());
        Ok(state
            .mint_user_token(app_id, user_id, long_lived, scopes, None)
            .0)
    }

    /// Every user and Page token issued so far, in issue order.
    pub fn tokens(&self) -> Vec<IssuedToken> {
        self.state().issued()
    }

    /// The tokens issued to `user_id` (user and Page tokens), in issue order.
    pub fn tokens_of(&self, user_id: &str) -> Vec<IssuedToken> {
        self.tokens()
            .into_iter()
            .filter(|t| t.user_id == user_id)
            .collect()
    }

    /// The permissions `user_id` has granted `app_id`, if the app is installed for them.
    pub fn granted_scopes(&self, app_id: &str, user_id: &str) -> Option<Vec<String>> {
        self.state()
            .grants
            .get(&(app_id.to_owned(), user_id.to_owned()))
            .map(|g| g.scopes.iter().cloned().collect())
    }

    /// Kills one token with 190/`subcode` (a user token takes the Page tokens derived from
    /// it along). False if the double never issued it.
    pub fn revoke_token(&self, token: &str, subcode: i64) -> bool {
        self.state().kill_token(token, subcode)
    }

    /// Kills every user and Page token of `user_id`, for every app, with 190/`subcode`
    /// (460 password changed, 459 checkpoint, 467 logged out, …).
    pub fn revoke_user(&self, user_id: &str, subcode: i64) {
        let mut state = self.state();
        for entry in state.tokens.values_mut() {
            if entry.user_id == user_id && entry.death.is_none() {
                entry.death = Some(subcode);
            }
        }
    }

    /// What `DELETE /me/permissions` does: the app is removed for the user, all its user and
    /// Page tokens die with 190/458 and the grant is forgotten.
    pub fn remove_app(&self, app_id: &str, user_id: &str) {
        self.state().remove_app_for_user(app_id, user_id, 458);
    }

    /// Makes a token expire now (later calls get 190/463). False if unknown.
    pub fn expire_token(&self, token: &str) -> bool {
        let mut state = self.state();
        let now = state.now();
        match state.tokens.get_mut(token) {
            Some(entry) => {
                entry.expires_at = Some(now);
                true
            }
            None => false,
        }
    }

    /// Arms `fault` for the next request matching `pattern` (see [`crate::fault`]).
    pub fn fail_next(&self, pattern: &str, fault: Fault) {
        self.state().faults.arm(pattern, fault, Some(1));
    }

    /// Arms `fault` for the next `times` requests matching `pattern`.
    pub fn fail_times(&self, pattern: &str, fault: Fault, times: usize) {
        self.state().faults.arm(pattern, fault, Some(times));
    }

    /// Arms `fault` for every request matching `pattern` until [`Self::clear_faults`].
    pub fn fail_always(&self, pattern: &str, fault: Fault) {
        self.state().faults.arm(pattern, fault, None);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Every request received so far (both listeners, and [`Self::authorize`] calls).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    /// The requests with `method` on the version-less `path`, e.g. `("GET", "/me/accounts")`.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<LoggedRequest> {
        self.state()
            .log
            .iter()
            .filter(|r| r.is(method, path))
            .cloned()
            .collect()
    }

    /// Forgets the logged requests.
    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    /// A `signed_request` as Meta posts to the deauthorize and data-deletion callbacks,
    /// for `user_id`, signed with the secret of `app_id`.
    pub fn signed_request(&self, app_id: &str, user_id: &str) -> anyhow::Result<String> {
        let state = self.state();
        let app = state
            .apps
            .get(app_id)
            .with_context(|| format!("signed_request: unknown app {app_id}"))?;
        let payload = json!({
            "algorithm": "HMAC-SHA256",
            "issued_at": state.now(),
            "user_id": user_id,
        });
        Ok(sign_request(&app.secret, &payload))
    }
}

/// Signs `payload` as Meta's `signed_request`: `b64url(HMAC-SHA256(secret, p)).p` with
/// `p = b64url(JSON payload)`, base64url without padding.
pub fn sign_request(app_secret: &str, payload: &serde_json::Value) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
    let signature = match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(encoded.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("{}.{encoded}", URL_SAFE_NO_PAD.encode(signature))
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Turns an authorization URL into the request its dialog endpoint would receive, after
/// checking it points at `base` + `/{version}` + `path`.
pub(crate) fn dialog_request(base: &str, url: &str, path: &str) -> Result<Incoming, DialogError> {
    let parsed = url::Url::parse(url).map_err(|e| DialogError::BadUrl(e.to_string()))?;
    let origin = parsed.origin().ascii_serialization();
    let (_, bare_path) = split_version(parsed.path());
    if origin != base || bare_path != path {
        return Err(DialogError::WrongEndpoint(url.to_owned()));
    }
    Ok(Incoming {
        method: axum::http::Method::GET,
        path: parsed.path().to_owned(),
        params: parsed.query_pairs().into_owned().collect(),
        headers: axum::http::HeaderMap::new(),
    })
}

fn record(state: &mut MetaState, listener: Listener, incoming: &Incoming) {
    let (version, path) = split_version(&incoming.path);
    let token = incoming
        .access_token()
        .or_else(|| incoming.non_empty("fb_exchange_token"))
        .map(|t| state.summary(t));
    state.log.push(LoggedRequest {
        listener,
        method: incoming.method.as_str().to_owned(),
        version,
        path,
        params: masked(&incoming.params),
        token,
    });
}

impl Service for Shared {
    fn admit(&self, listener: Listener, incoming: &Incoming) -> Option<Fault> {
        let mut state = lock(&self.state);
        record(&mut state, listener, incoming);
        let (_, path) = split_version(&incoming.path);
        state.faults.take(incoming.method.as_str(), &path)
    }

    fn fault_reply(&self, fault: &Fault) -> Option<Reply> {
        fault.reply(&mut lock(&self.state).minter)
    }

    fn answer(&self, listener: Listener, incoming: Incoming) -> Reply {
        let mut state = lock(&self.state);
        match listener {
            Listener::Dialog => state.dialog_http(&incoming),
            _ => state.graph_http(&incoming),
        }
    }
}
