//! The Threads double: the Threads API host and the authorization window host.
//!
//! [`ThreadsDouble::graph_url`] stands for `https://graph.threads.net` (token endpoints
//! and `/v1.0/…`), [`ThreadsDouble::authorize_url`] for `https://threads.net`
//! (`/oauth/authorize`). Threads apps are registered here, apart from the Facebook apps of
//! the [`crate::MetaDouble`], as on Meta.

mod authorize;
mod graph;
pub(crate) mod model;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure};

use crate::app::RegisteredApp;
use crate::clock::Clock;
use crate::consent::{Decision, DialogError};
use crate::fault::Fault;
use crate::issued::IssuedToken;
use crate::lock;
use crate::log::{Listener, LoggedRequest, masked, split_version};
use crate::meta::dialog_request;
use crate::server::{Server, Service, spawn};
use crate::wire::{Incoming, Reply};
use model::ThreadsUser;
use state::{Death, ThreadsState};

/// A running double of the Threads API and its authorization window. Dropping it stops
/// both listeners.
#[derive(Debug)]
pub struct ThreadsDouble {
    shared: Arc<Shared>,
    graph: Server,
    window: Server,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<ThreadsState>,
}

impl ThreadsDouble {
    /// Starts both listeners on `127.0.0.1:0` with a fresh [`Clock`].
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with_clock(Clock::new()).await
    }

    /// Starts both listeners with `clock`, e.g. the one of a [`crate::MetaDouble`].
    pub async fn start_with_clock(clock: Clock) -> anyhow::Result<Self> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(clock, any_port, any_port).await
    }

    /// Starts the Threads API listener on `graph` and the authorization window on
    /// `window` (port 0: any free port), e.g. for a sandbox whose URLs should not change.
    pub async fn start_on(
        clock: Clock,
        graph: SocketAddr,
        window: SocketAddr,
    ) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(ThreadsState::new(clock)),
        });
        let graph = spawn(Arc::clone(&shared), Listener::ThreadsGraph, graph).await?;
        let window = spawn(Arc::clone(&shared), Listener::ThreadsAuthorize, window).await?;
        Ok(Self {
            shared,
            graph,
            window,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ThreadsState> {
        lock(&self.shared.state)
    }

    /// Base URL standing for `https://graph.threads.net` (`threads_graph_url`).
    pub fn graph_url(&self) -> String {
        self.graph.base_url()
    }

    /// Base URL standing for `https://threads.net` (`threads_authorize_url`).
    pub fn authorize_url(&self) -> String {
        self.window.base_url()
    }

    /// The host variables pointing at this double: `threads_graph_url`,
    /// `threads_authorize_url`.
    pub fn variables(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("threads_graph_url".to_owned(), self.graph_url()),
            ("threads_authorize_url".to_owned(), self.authorize_url()),
        ])
    }

    /// The double's clock.
    pub fn clock(&self) -> Clock {
        self.state().clock.clone()
    }

    /// Moves the double's clock forward.
    pub fn advance(&self, by: Duration) {
        self.state().clock.advance(by);
    }

    /// Registers a Threads app (its Threads app id and secret), replacing one with the
    /// same id.
    pub fn register_app(&self, app: RegisteredApp) {
        self.state().apps.insert(app.id.clone(), app);
    }

    /// Adds (or replaces) a user; the id must be decimal digits.
    pub fn add_user(&self, user: ThreadsUser) -> anyhow::Result<()> {
        ensure!(
            !user.id.is_empty() && user.id.bytes().all(|b| b.is_ascii_digit()),
            "a Threads user id is decimal digits, got {:?}",
            user.id
        );
        self.state().users.insert(user.id.clone(), user);
        Ok(())
    }

    /// Runs the window for `auth_url` (which must point at [`Self::authorize_url`]) with
    /// the same checks as the HTTP endpoint; answers the callback URL. Logged, no faults.
    pub fn authorize(&self, auth_url: &str, decision: Decision) -> Result<String, DialogError> {
        let incoming = dialog_request(&self.authorize_url(), auth_url, "/oauth/authorize")?;
        if incoming.path != "/oauth/authorize" {
            return Err(DialogError::WrongEndpoint(auth_url.to_owned()));
        }
        let mut state = self.state();
        record(&mut state, Listener::ThreadsAuthorize, &incoming);
        let request = state.validate_window(&incoming)?;
        state.complete_window(&request, decision)
    }

    /// Queues a decision for the next HTTP window request that carries none.
    pub fn queue_decision(&self, decision: Decision) {
        self.state().decisions.push_back(decision);
    }

    /// Every later HTTP window request without a decision is approved by `user_id`.
    pub fn log_in(&self, user_id: &str) {
        self.state().logged_in = Some(user_id.to_owned());
    }

    /// Window requests without a decision get the login page again.
    pub fn log_out(&self) {
        self.state().logged_in = None;
    }

    /// Lifetime of short-lived tokens (default 3 600 s).
    pub fn set_short_lived_ttl(&self, ttl: Duration) {
        self.state().settings.short_lived_ttl = secs(ttl);
    }

    /// `expires_in` and lifetime of long-lived tokens (default 5 183 944 s).
    pub fn set_long_lived_expires_in(&self, expires_in: Duration) {
        self.state().settings.long_lived_expires_in = secs(expires_in);
    }

    /// Mints a token directly, without the window, issued now (double clock).
    pub fn issue_token(
        &self,
        app_id: &str,
        user_id: &str,
        long_lived: bool,
        scopes: &[&str],
    ) -> anyhow::Result<String> {
        let mut state = self.state();
        if !state.apps.contains_key(app_id) {
            bail!("issue_token: unknown Threads app {app_id}");
        }
        if !state.users.contains_key(user_id) {
            bail!("issue_token: unknown Threads user {user_id}");
        }
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        Ok(state.mint_token(app_id, user_id, long_lived, scopes).0)
    }

    /// Every token issued so far, in issue order.
    pub fn tokens(&self) -> Vec<IssuedToken> {
        self.state().issued()
    }

    /// The tokens issued to `user_id`, in issue order.
    pub fn tokens_of(&self, user_id: &str) -> Vec<IssuedToken> {
        self.tokens()
            .into_iter()
            .filter(|t| t.user_id == user_id)
            .collect()
    }

    /// Kills a token: API calls answer 190/`subcode`. False if unknown.
    pub fn revoke_token(&self, token: &str, subcode: i64) -> bool {
        self.kill(token, Death::Revoked(subcode))
    }

    /// Kills a token the other way Threads reports it: code 100 "The requested resource
    /// does not exist". False if unknown.
    pub fn make_token_missing(&self, token: &str) -> bool {
        self.kill(token, Death::Missing)
    }

    fn kill(&self, token: &str, death: Death) -> bool {
        match self.state().tokens.get_mut(token) {
            Some(entry) => {
                entry.death = Some(death);
                true
            }
            None => false,
        }
    }

    /// Kills every token of `user_id` with 190/`subcode`.
    pub fn revoke_user(&self, user_id: &str, subcode: i64) {
        for entry in self.state().tokens.values_mut() {
            if entry.user_id == user_id && entry.death.is_none() {
                entry.death = Some(Death::Revoked(subcode));
            }
        }
    }

    /// Makes a token expire now (190/463 afterwards; it can no longer be refreshed).
    pub fn expire_token(&self, token: &str) -> bool {
        let mut state = self.state();
        let now = state.now();
        match state.tokens.get_mut(token) {
            Some(entry) => {
                entry.expires_at = now;
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

    /// The requests with `method` on the version-less `path`, e.g. `("GET", "/me")`.
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
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn record(state: &mut ThreadsState, listener: Listener, incoming: &Incoming) {
    let (version, path) = split_version(&incoming.path);
    let token = incoming.access_token().map(|t| state.summary(t));
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
            Listener::ThreadsAuthorize => state.window_http(&incoming),
            _ => state.graph_http(&incoming),
        }
    }
}
