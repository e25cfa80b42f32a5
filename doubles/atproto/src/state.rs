//! The double's shared state: accounts, the refresh-token store (one per token
//! authority, like the reference PDS's `refresh_token` table), the clock, the login rate
//! limiter, faults and the request log.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::accounts::{Account, AccountStatus, Home};
use crate::faults::FaultRule;
use crate::log::RequestRecord;
use crate::token::{ACCESS_TYP, Claims, REFRESH_TYP, SCOPE_REFRESH, SigningKey};
use crate::xrpc::XrpcError;
use crate::{Authority, Service};

/// How long a rotated-out refresh token keeps working by default (reference PDS: 2 hours).
pub(crate) const REFRESH_GRACE: Duration = Duration::from_secs(2 * 60 * 60);

/// One refresh token the authority knows (by `jti`).
#[derive(Debug, Clone)]
pub(crate) struct RefreshRecord {
    pub did: String,
    /// The access scope sessions from this token get.
    pub access_scope: String,
    /// The app password the session was created with, if any (revoking it ends it).
    pub app_password: Option<String>,
    /// Unix seconds after which the token is refused as revoked.
    pub expires_at: i64,
    /// The `jti` the token rotated to, once it has been used.
    pub next_id: Option<String>,
}

/// A login rate-limit policy: `limit` createSession calls per `window` per identifier.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginLimit {
    pub limit: u32,
    pub window: Duration,
}

/// Result of counting one login attempt.
pub(crate) struct LoginCount {
    pub headers: Vec<(&'static str, String)>,
    pub exceeded: bool,
}

/// Token lifetimes (reference PDS defaults: 2 hours and 90 days).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

/// Everything the listeners and the control methods share, behind one mutex.
pub(crate) struct State {
    pub urls: HashMap<Service, String>,
    pub accounts: Vec<Account>,
    pub sessions: HashMap<String, RefreshRecord>,
    pub faults: Vec<FaultRule>,
    pub log: Vec<RequestRecord>,
    pub next_seq: u64,
    pub issued: Vec<String>,
    pub clock_offset: Duration,
    pub login_limit: LoginLimit,
    pub login_windows: HashMap<String, (i64, u32)>,
    pub lifetimes: Lifetimes,
    /// How long a rotated-out refresh token keeps working.
    pub refresh_grace: Duration,
    fleet_key: SigningKey,
    third_party_key: SigningKey,
    next_jti: u64,
}

impl State {
    /// Fresh state for listeners at these base URLs.
    pub fn new(urls: HashMap<Service, String>) -> Self {
        Self {
            urls,
            accounts: Vec::new(),
            sessions: HashMap::new(),
            faults: Vec::new(),
            log: Vec::new(),
            next_seq: 0,
            issued: Vec::new(),
            clock_offset: Duration::ZERO,
            login_limit: LoginLimit {
                limit: 30,
                window: Duration::from_secs(300),
            },
            login_windows: HashMap::new(),
            lifetimes: Lifetimes {
                access: Duration::from_secs(2 * 60 * 60),
                refresh: Duration::from_secs(90 * 24 * 60 * 60),
            },
            refresh_grace: REFRESH_GRACE,
            fleet_key: SigningKey::random(),
            third_party_key: SigningKey::random(),
            next_jti: 0,
        }
    }

    /// The double's now.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    /// The double's now in Unix seconds.
    pub fn now_secs(&self) -> i64 {
        let since = self.now().duration_since(UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    }

    /// Base URL of a listener.
    pub fn url(&self, service: Service) -> &str {
        self.urls
            .get(&service)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The base URL of the PDS an account is hosted on.
    pub fn pds_url_of(&self, account: &Account) -> &str {
        match account.home {
            Home::Fleet => self.url(Service::BlueskyPds),
            Home::ThirdParty => self.url(Service::ThirdPartyPds),
        }
    }

    /// Index of the account with this DID.
    pub fn account_by_did(&self, did: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.did == did)
    }

    /// Index of the account a handle or DID names (case-insensitive handle).
    pub fn account_by_actor(&self, actor: &str) -> Option<usize> {
        let actor = actor.to_ascii_lowercase();
        self.accounts
            .iter()
            .position(|a| a.did == actor || a.handle == actor)
    }

    /// The signing key of an authority.
    pub fn key(&self, authority: Authority) -> &SigningKey {
        match authority {
            Authority::Fleet => &self.fleet_key,
            Authority::ThirdParty => &self.third_party_key,
        }
    }

    /// Counts a login attempt for `identifier` and says whether it is over the limit,
    /// with the `RateLimit-*` headers to send either way.
    pub fn count_login(&mut self, identifier: &str) -> LoginCount {
        let now = self.now_secs();
        let LoginLimit { limit, window } = self.login_limit;
        let window_secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        let entry = self
            .login_windows
            .entry(identifier.to_ascii_lowercase())
            .or_insert((now, 0));
        if now >= entry.0.saturating_add(window_secs) {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let (start, count) = *entry;
        LoginCount {
            headers: rate_limit_headers(
                limit,
                limit.saturating_sub(count),
                start + window_secs,
                window,
            ),
            exceeded: count > limit,
        }
    }

    /// Issues an access + refresh pair for the account at `index`; `jti` reuses a known
    /// next id (rotation inside the grace window), otherwise a new record is stored.
    pub fn issue_session(
        &mut self,
        index: usize,
        access_scope: &str,
        app_password: Option<String>,
        jti: Option<String>,
    ) -> (String, String) {
        let now = self.now_secs();
        let access_exp = now.saturating_add(secs(self.lifetimes.access));
        let refresh_exp = now.saturating_add(secs(self.lifetimes.refresh));
        let jti = jti.unwrap_or_else(|| self.new_jti());
        let did = self.accounts[index].did.clone();
        let authority = Authority::of_home(self.accounts[index].home);
        self.sessions
            .entry(jti.clone())
            .or_insert_with(|| RefreshRecord {
                did: did.clone(),
                access_scope: access_scope.to_owned(),
                app_password,
                expires_at: refresh_exp,
                next_id: None,
            });
        let aud = authority.service_did().to_owned();
        let access = Claims {
            scope: access_scope.to_owned(),
            sub: did.clone(),
            aud: aud.clone(),
            iat: now,
            exp: access_exp,
            jti: None,
        };
        let refresh = Claims {
            scope: SCOPE_REFRESH.to_owned(),
            sub: did,
            aud,
            iat: now,
            exp: refresh_exp,
            jti: Some(jti),
        };
        let access = self.key(authority).sign(ACCESS_TYP, &access);
        let refresh = self.key(authority).sign(REFRESH_TYP, &refresh);
        self.issued.push(access.clone());
        self.issued.push(refresh.clone());
        (access, refresh)
    }

    /// Rotates the refresh token `jti`: marks it used (kept for the grace window) and
    /// returns the record of the token it rotates to. Re-use inside the grace window
    /// yields the same next id.
    pub fn rotate(&mut self, jti: &str) -> Result<(String, RefreshRecord), XrpcError> {
        let now = self.now_secs();
        let grace_end = now.saturating_add(secs(self.refresh_grace));
        let record = self
            .sessions
            .get(jti)
            .cloned()
            .ok_or_else(XrpcError::revoked)?;
        if record.expires_at <= now || (record.next_id.is_some() && self.refresh_grace.is_zero()) {
            self.sessions.remove(jti);
            return Err(XrpcError::revoked());
        }
        let index = self
            .account_by_did(&record.did)
            .ok_or_else(XrpcError::revoked)?;
        if matches!(
            self.accounts[index].status,
            AccountStatus::Takendown | AccountStatus::Suspended
        ) {
            return Err(XrpcError::takedown());
        }
        let next_id = record.next_id.clone().unwrap_or_else(|| self.new_jti());
        if let Some(old) = self.sessions.get_mut(jti) {
            old.expires_at = old.expires_at.min(grace_end);
            old.next_id = Some(next_id.clone());
        }
        Ok((next_id, record))
    }

    /// The session output (`createSession`/`refreshSession`/`getSession` shape).
    pub fn session_json(&self, index: usize, tokens: Option<(String, String)>) -> Value {
        let account = &self.accounts[index];
        let mut out = json!({
            "handle": account.handle,
            "did": account.did,
            "didDoc": account.did_document(self.pds_url_of(account)),
            "emailAuthFactor": account.auth_factor_code.is_some(),
            "active": account.status == AccountStatus::Active,
        });
        let Some(map) = out.as_object_mut() else {
            return out;
        };
        if let Some((access, refresh)) = tokens {
            map.insert("accessJwt".into(), Value::String(access));
            map.insert("refreshJwt".into(), Value::String(refresh));
        }
        if let Some(email) = &account.email {
            map.insert("email".into(), Value::String(email.clone()));
            map.insert("emailConfirmed".into(), Value::Bool(true));
        }
        if let Some(status) = account.status.as_status() {
            map.insert("status".into(), Value::String(status.into()));
        }
        out
    }

    fn new_jti(&mut self) -> String {
        self.next_jti += 1;
        format!("{:016x}{:08x}", rand::random::<u64>(), self.next_jti)
    }
}

/// The four `RateLimit-*` headers of `xrpc-server` (names lower-case, as HTTP/2 sends them).
pub(crate) fn rate_limit_headers(
    limit: u32,
    remaining: u32,
    reset_at: i64,
    window: Duration,
) -> Vec<(&'static str, String)> {
    vec![
        ("ratelimit-limit", limit.to_string()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", reset_at.to_string()),
        (
            "ratelimit-policy",
            format!("{limit};w={}", window.as_secs()),
        ),
    ]
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
