//! A test double of the AT Protocol services a Bluesky password-session client talks to
//! (platforms.md §1), for Hayon's end-to-end tests.
//!
//! [`AtprotoDouble::start`] binds four listeners on `127.0.0.1:0`, each a [`Service`]:
//!
//! - the **entryway** (like `bsky.social`): logs in fleet accounts and answers with a DID
//!   document that names the fleet PDS, a different host;
//! - the **fleet PDS** (like `*.host.bsky.network`): the same accounts and token authority,
//!   where a client should send its calls after login;
//! - an **independent PDS**: the only place its accounts can log in (the entryway answers
//!   401 `AuthenticationRequired` for them), with its own signing key;
//! - a **PLC directory**: `GET /<did>` DID documents.
//!
//! Sessions are real HS256 JWTs (`at+jwt` access, `refresh+jwt` refresh with a `jti`).
//! `refreshSession` rotates; the used refresh token stays valid for a 2-hour grace window
//! in which re-use yields the same next id, then it is revoked. The double's clock can be
//! moved forward, faults can be injected per endpoint, and every request is logged.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use hayon_double_atproto::{Account, AtprotoDouble, Endpoint, Fault, FaultRule};
//! let double = AtprotoDouble::start().await?;
//! let alice = double.add_account(Account::new("alice.test", "pw").app_password("a-b-c-d"));
//! double.inject(FaultRule::new(Endpoint::CreateSession, Fault::Html502).times(1));
//! println!("{} at {}", alice.did_str(), double.entryway_url());
//! # Ok(()) }
//! ```

mod accounts;
mod endpoints;
mod faults;
mod log;
mod server;
mod state;
mod token;
mod xrpc;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use accounts::{Account, AccountStatus, Home, PdsIdStyle};
pub use faults::{Endpoint, Fault, FaultRule};
pub use log::{AuthKind, RequestRecord};

use server::{Shared, lock};
use state::{LoginLimit, State};

/// One listener of the double.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The default service, like `bsky.social`.
    Entryway,
    /// The PDS the entryway's accounts are hosted on.
    BlueskyPds,
    /// An independent PDS whose accounts the entryway does not know.
    ThirdPartyPds,
    /// A `plc.directory`-style DID-document responder.
    Plc,
}

impl Service {
    const ALL: [Service; 4] = [
        Service::Entryway,
        Service::BlueskyPds,
        Service::ThirdPartyPds,
        Service::Plc,
    ];

    /// The token authority behind an XRPC service (`None` for the PLC directory).
    pub(crate) fn authority(self) -> Option<Authority> {
        match self {
            Service::Entryway | Service::BlueskyPds => Some(Authority::Fleet),
            Service::ThirdPartyPds => Some(Authority::ThirdParty),
            Service::Plc => None,
        }
    }
}

/// Who signs and remembers an account's sessions: the entryway for its fleet (the fleet
/// PDS forwards to it), or the independent PDS for its own accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Authority {
    Fleet,
    ThirdParty,
}

/// A running double; its listeners stop when it is dropped.
pub struct AtprotoDouble {
    shared: Shared,
    urls: HashMap<Service, String>,
    tasks: Vec<JoinHandle<()>>,
}

impl AtprotoDouble {
    /// Binds every listener on `127.0.0.1:0` and starts serving.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(|_| SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Binds each listener on the address `addr_of` gives for its service (port 0: any
    /// free port) and starts serving, e.g. for a sandbox whose URLs should not change.
    pub async fn start_on(addr_of: impl Fn(Service) -> SocketAddr) -> anyhow::Result<Self> {
        let mut listeners = Vec::new();
        let mut urls = HashMap::new();
        for service in Service::ALL {
            let addr = addr_of(service);
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the atproto double's {service:?} on {addr}"))?;
            urls.insert(service, format!("http://{}", listener.local_addr()?));
            listeners.push((service, listener));
        }
        let shared = Arc::new(Mutex::new(State::new(urls.clone())));
        let tasks = listeners
            .into_iter()
            .map(|(service, listener)| server::spawn(listener, shared.clone(), service))
            .collect();
        Ok(Self {
            shared,
            urls,
            tasks,
        })
    }

    /// Base URL (`http://127.0.0.1:<port>`, no trailing slash) of a listener.
    pub fn url(&self, service: Service) -> &str {
        self.urls
            .get(&service)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The entryway's base URL (use it as the client's default service).
    pub fn entryway_url(&self) -> &str {
        self.url(Service::Entryway)
    }

    /// The fleet PDS's base URL (named in fleet accounts' DID documents).
    pub fn pds_url(&self) -> &str {
        self.url(Service::BlueskyPds)
    }

    /// The independent PDS's base URL.
    pub fn third_party_pds_url(&self) -> &str {
        self.url(Service::ThirdPartyPds)
    }

    /// The PLC directory's base URL.
    pub fn plc_url(&self) -> &str {
        self.url(Service::Plc)
    }

    /// Adds (or replaces, by DID) an account and returns it.
    pub fn add_account(&self, account: Account) -> Account {
        let mut state = lock(&self.shared);
        state.accounts.retain(|known| known.did != account.did);
        state.accounts.push(account.clone());
        account
    }

    /// Changes an account's standing (takedown, deactivation, reactivation).
    pub fn set_status(&self, did: &str, status: AccountStatus) {
        self.update_account(did, |account| account.status = status);
    }

    /// Changes an account's profile display name and avatar.
    pub fn set_profile(&self, did: &str, display_name: Option<&str>, avatar: Option<&str>) {
        self.update_account(did, |account| {
            account.display_name = display_name.map(str::to_owned);
            account.avatar = avatar.map(str::to_owned);
        });
    }

    /// Revokes every refresh token of the account (as a password change does).
    pub fn revoke_sessions(&self, did: &str) {
        lock(&self.shared)
            .sessions
            .retain(|_, record| record.did != did);
    }

    /// Deletes an app password and every session created with it.
    pub fn revoke_app_password(&self, did: &str, password: &str) {
        self.update_account(did, |account| {
            account.app_passwords.retain(|p| p != password)
        });
        lock(&self.shared).sessions.retain(|_, record| {
            record.did != did || record.app_password.as_deref() != Some(password)
        });
    }

    /// How many refresh tokens of the account are still usable (including rotated-out
    /// ones inside their grace window).
    pub fn live_refresh_tokens(&self, did: &str) -> usize {
        let state = lock(&self.shared);
        let now = state.now_secs();
        state
            .sessions
            .values()
            .filter(|r| r.did == did && r.expires_at > now)
            .count()
    }

    /// Moves the double's clock forward (tokens expire, grace windows end, rate-limit
    /// windows reset).
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared).clock_offset += by;
    }

    /// The double's now.
    pub fn now(&self) -> SystemTime {
        lock(&self.shared).now()
    }

    /// Sets the per-identifier createSession limit (default 30 per 5 minutes).
    pub fn set_login_rate_limit(&self, limit: u32, window: Duration) {
        let mut state = lock(&self.shared);
        state.login_limit = LoginLimit { limit, window };
        state.login_windows.clear();
    }

    /// Sets access and refresh token lifetimes for sessions issued from now on.
    pub fn set_token_lifetimes(&self, access: Duration, refresh: Duration) {
        lock(&self.shared).lifetimes = state::Lifetimes { access, refresh };
    }

    /// Sets how long a rotated-out refresh token keeps working (default 2 hours, as the
    /// reference PDS). Zero makes refresh tokens strictly single-use, as atproto OAuth
    /// does: a stricter upstream than password sessions, for probing refresh races.
    pub fn set_refresh_grace(&self, grace: Duration) {
        lock(&self.shared).refresh_grace = grace;
    }

    /// Adds a fault rule; rules are tried in the order added.
    pub fn inject(&self, rule: FaultRule) {
        lock(&self.shared).faults.push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).log.clone()
    }

    /// The requests received so far for one endpoint.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RequestRecord> {
        let state = lock(&self.shared);
        state
            .log
            .iter()
            .filter(|r| r.endpoint == Some(endpoint))
            .cloned()
            .collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared).log.clear();
    }

    /// Every access and refresh token the double has issued, oldest first: scan responses
    /// and stored data for them to prove no token leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared).issued.clone()
    }

    /// The `jti` of a refresh token (read without verifying): to compare rotations.
    pub fn refresh_token_id(token: &str) -> Option<String> {
        token::peek_claims(token).and_then(|claims| claims.jti)
    }

    fn update_account(&self, did: &str, change: impl FnOnce(&mut Account)) {
        let mut state = lock(&self.shared);
        if let Some(account) = state.accounts.iter_mut().find(|a| a.did == did) {
            change(account);
        }
    }
}

impl Drop for AtprotoDouble {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
