//! A small in-process stand-in for the AT Protocol services, for the connector's native
//! flow tests: an entryway (the default service), a Bluesky-run PDS behind it, a
//! third-party PDS, and a PLC directory. It answers through `hayon_guest`'s outbound
//! trait, so no socket is opened. (The end-to-end tests use the full HTTP double in
//! `doubles/atproto`.)

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use hayon_guest::OutboundResponse;
use hayon_guest::outbound::{Method, OutboundRequest, TransportError};
use serde_json::{Value, json};

pub const ENTRYWAY: &str = "http://entryway.test";
pub const BSKY_PDS: &str = "http://pds1.host.test";
pub const OTHER_PDS: &str = "http://pds.other.test";
pub const PLC: &str = "http://plc.test";

pub const ALICE_DID: &str = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
pub const CAROL_DID: &str = "did:plc:cccccccccccccccccccccccc";

/// An account the fake knows.
#[derive(Debug, Clone)]
pub struct FakeAccount {
    pub did: String,
    pub handle: String,
    pub email: String,
    pub password: String,
    pub home: String,
    pub display_name: Option<String>,
    pub avatar: Option<String>,
    pub takedown: bool,
    pub auth_factor: bool,
    pub inactive_status: Option<String>,
}

#[derive(Debug, Clone)]
struct RefreshState {
    did: String,
    /// The token it was rotated into, if any.
    rotated: bool,
    revoked: bool,
}

#[derive(Default)]
pub struct State {
    pub accounts: Vec<FakeAccount>,
    refresh: BTreeMap<String, RefreshState>,
    access: BTreeMap<String, (String, bool)>,
    counter: u64,
    /// Whether a rotated-out refresh token may be used again (the 2-hour grace window).
    pub grace: bool,
    /// Canned answers for the next calls whose URL contains the key.
    pub inject: VecDeque<(String, OutboundResponse)>,
    /// Every call as `METHOD url-without-query`.
    pub calls: Vec<String>,
    /// Authorization headers seen on refreshSession / deleteSession.
    pub refresh_auth: Vec<String>,
    /// Bodies seen on refreshSession (must be empty).
    pub refresh_bodies: Vec<Vec<u8>>,
    /// Expire the next access token issued.
    pub expire_next_access: bool,
}

type Hook = Box<dyn FnOnce()>;

/// The fake services; clones share state.
#[derive(Clone, Default)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
    before_refresh: Arc<Mutex<Option<Hook>>>,
}

impl Fake {
    /// Alice on Bluesky's PDS (reachable through the entryway) and Carol on a third-party
    /// PDS, rotation with a grace window.
    pub fn new() -> Self {
        let fake = Fake::default();
        {
            let mut state = fake.state.lock().unwrap();
            state.grace = true;
            state.accounts.push(FakeAccount {
                did: ALICE_DID.into(),
                handle: "alice.bsky.social".into(),
                email: "alice@example.com".into(),
                password: "aaaa-bbbb-cccc-dddd".into(),
                home: BSKY_PDS.into(),
                display_name: Some("Alice".into()),
                avatar: Some("https://cdn.test/alice.jpg".into()),
                takedown: false,
                auth_factor: false,
                inactive_status: None,
            });
            state.accounts.push(FakeAccount {
                did: CAROL_DID.into(),
                handle: "carol.example.org".into(),
                email: "carol@example.org".into(),
                password: "carol-app-pass".into(),
                home: OTHER_PDS.into(),
                display_name: Some("   ".into()),
                avatar: None,
                takedown: false,
                auth_factor: false,
                inactive_status: None,
            });
        }
        fake
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn account_mut<R>(&self, did: &str, f: impl FnOnce(&mut FakeAccount) -> R) -> R {
        self.with(|state| f(state.accounts.iter_mut().find(|a| a.did == did).unwrap()))
    }

    /// Answers the next call whose URL contains `url_part` with `response`.
    pub fn inject(&self, url_part: &str, response: OutboundResponse) {
        self.with(|state| state.inject.push_back((url_part.into(), response)));
    }

    /// Runs `hook` when the next refreshSession arrives, before answering it.
    pub fn before_next_refresh(&self, hook: impl FnOnce() + 'static) {
        *self.before_refresh.lock().unwrap() = Some(Box::new(hook));
    }

    /// Revokes every refresh token of `did` (as if the App Password were revoked).
    pub fn revoke_all(&self, did: &str) {
        self.with(|state| {
            for session in state.refresh.values_mut().filter(|s| s.did == did) {
                session.revoked = true;
            }
        });
    }

    /// Whether `token` is a live refresh token.
    pub fn refresh_token_live(&self, token: &str) -> bool {
        self.with(|state| {
            state
                .refresh
                .get(token)
                .is_some_and(|s| !s.revoked && !s.rotated)
        })
    }

    pub fn calls(&self) -> Vec<String> {
        self.with(|state| state.calls.clone())
    }

    /// The outbound function to give an `Env`.
    pub fn outbound(
        &self,
    ) -> impl Fn(&OutboundRequest) -> Result<OutboundResponse, TransportError> + 'static {
        let fake = self.clone();
        move |request| Ok(fake.handle(request))
    }

    fn handle(&self, request: &OutboundRequest) -> OutboundResponse {
        let (base, path, query) = split(&request.url);
        let is_refresh = path == "/xrpc/com.atproto.server.refreshSession";
        if is_refresh {
            let hook = self.before_refresh.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        let mut state = self.state.lock().unwrap();
        state
            .calls
            .push(format!("{} {base}{path}", request.method.as_str()));
        if let Some(index) = state
            .inject
            .iter()
            .position(|(part, _)| request.url.contains(part))
        {
            return state.inject.remove(index).unwrap().1;
        }
        let bearer = request
            .header_value("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        match (request.method, base.as_str(), path.as_str()) {
            (Method::Get, ENTRYWAY, "/xrpc/com.atproto.identity.resolveHandle") => {
                let handle = query_param(&query, "handle").unwrap_or_default();
                match state.accounts.iter().find(|a| a.handle == handle) {
                    Some(account) => OutboundResponse::json(200, &json!({"did": account.did})),
                    None => error(400, "InvalidRequest", "Unable to resolve handle"),
                }
            }
            (Method::Get, PLC, did) => {
                let did = did.trim_start_matches('/');
                match state.accounts.iter().find(|a| a.did == did) {
                    Some(account) => OutboundResponse::json(200, &did_doc(account)),
                    None => error(404, "NotFound", "DID not registered"),
                }
            }
            (Method::Post, host, "/xrpc/com.atproto.server.createSession") => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                state.create_session(host, &body)
            }
            (Method::Post, host, "/xrpc/com.atproto.server.refreshSession") => {
                state
                    .refresh_auth
                    .push(request.header_value("authorization").unwrap_or("").into());
                state.refresh_bodies.push(request.body.clone());
                state.refresh_session(host, bearer.as_deref())
            }
            (Method::Post, _, "/xrpc/com.atproto.server.deleteSession") => {
                state
                    .refresh_auth
                    .push(request.header_value("authorization").unwrap_or("").into());
                match bearer.and_then(|token| state.refresh.get_mut(&token)) {
                    Some(session) if !session.revoked => {
                        session.revoked = true;
                        OutboundResponse::with_body(200, "application/json", "")
                    }
                    _ => error(400, "ExpiredToken", "Token has been revoked"),
                }
            }
            (Method::Get, host, "/xrpc/app.bsky.actor.getProfile") => {
                let actor = query_param(&query, "actor").unwrap_or_default();
                state.get_profile(host, bearer.as_deref(), &actor)
            }
            _ => OutboundResponse::with_body(404, "text/html", "<html>not found</html>"),
        }
    }
}

impl State {
    fn issue(&mut self, did: &str) -> (String, String) {
        self.counter += 1;
        let access = format!("access-{}-{}", self.counter, did);
        let refresh = format!("refresh-{}-{}", self.counter, did);
        let expired = std::mem::take(&mut self.expire_next_access);
        self.access
            .insert(access.clone(), (did.to_owned(), expired));
        self.refresh.insert(
            refresh.clone(),
            RefreshState {
                did: did.to_owned(),
                rotated: false,
                revoked: false,
            },
        );
        (access, refresh)
    }

    fn session_json(&mut self, account: &FakeAccount) -> OutboundResponse {
        let (access, refresh) = self.issue(&account.did);
        let mut body = json!({
            "accessJwt": access, "refreshJwt": refresh, "handle": account.handle,
            "did": account.did, "didDoc": did_doc(account), "email": account.email,
        });
        if let Some(status) = &account.inactive_status {
            body["active"] = json!(false);
            body["status"] = json!(status);
        }
        OutboundResponse::json(200, &body)
    }

    fn create_session(&mut self, host: &str, body: &Value) -> OutboundResponse {
        let identifier = body["identifier"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        let password = body["password"].as_str().unwrap_or_default();
        let found = self.accounts.iter().find(|a| {
            if identifier.contains('@') {
                a.email == identifier
            } else {
                a.handle == identifier || a.did == identifier
            }
        });
        let Some(account) = found.cloned() else {
            return error(
                401,
                "AuthenticationRequired",
                "Invalid identifier or password",
            );
        };
        let served_here = account.home == host || (host == ENTRYWAY && account.home == BSKY_PDS);
        if !served_here || account.password != password {
            return error(
                401,
                "AuthenticationRequired",
                "Invalid identifier or password",
            );
        }
        if account.takedown {
            return error(401, "AccountTakedown", "Account has been taken down");
        }
        if account.auth_factor {
            return error(
                401,
                "AuthFactorTokenRequired",
                "A sign in code has been sent",
            );
        }
        self.session_json(&account)
    }

    fn refresh_session(&mut self, host: &str, token: Option<&str>) -> OutboundResponse {
        let Some(token) = token else {
            return error(401, "AuthMissing", "Authentication Required");
        };
        if self.access.contains_key(token) {
            return error(400, "InvalidToken", "Invalid token type");
        }
        let Some(session) = self.refresh.get(token).cloned() else {
            return error(400, "InvalidToken", "Token could not be verified");
        };
        if session.revoked || (session.rotated && !self.grace) {
            return error(400, "ExpiredToken", "Token has been revoked");
        }
        let account = self
            .accounts
            .iter()
            .find(|a| a.did == session.did)
            .cloned()
            .unwrap();
        if account.home != host && !(host == ENTRYWAY && account.home == BSKY_PDS) {
            return error(400, "InvalidToken", "Token could not be verified");
        }
        if account.takedown {
            return error(401, "AccountTakedown", "Account has been taken down");
        }
        if let Some(old) = self.refresh.get_mut(token) {
            old.rotated = true;
        }
        self.session_json(&account)
    }

    fn get_profile(&mut self, host: &str, token: Option<&str>, actor: &str) -> OutboundResponse {
        let Some((did, expired)) = token.and_then(|t| self.access.get(t)).cloned() else {
            return error(400, "InvalidToken", "Token could not be verified");
        };
        if expired {
            return error(400, "ExpiredToken", "Token has expired");
        }
        let caller = self.accounts.iter().find(|a| a.did == did).unwrap();
        if caller.home != host {
            return error(400, "InvalidToken", "Token could not be verified");
        }
        let Some(account) = self.accounts.iter().find(|a| a.did == actor) else {
            return error(400, "InvalidRequest", "Profile not found");
        };
        let mut body = json!({"did": account.did, "handle": account.handle});
        if let Some(name) = &account.display_name {
            body["displayName"] = json!(name);
        }
        if let Some(avatar) = &account.avatar {
            body["avatar"] = json!(avatar);
        }
        OutboundResponse::json(200, &body)
    }
}

fn did_doc(account: &FakeAccount) -> Value {
    json!({
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": account.did,
        "alsoKnownAs": [format!("at://{}", account.handle)],
        "service": [
            {"id": "#bsky_notif", "type": "BskyNotificationService",
             "serviceEndpoint": "http://notify.test"},
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
             "serviceEndpoint": account.home}
        ]
    })
}

pub fn error(status: u16, name: &str, message: &str) -> OutboundResponse {
    OutboundResponse::json(status, &json!({"error": name, "message": message}))
}

fn split(url: &str) -> (String, String, String) {
    let (without_query, query) = url.split_once('?').unwrap_or((url, ""));
    let after_scheme = without_query.find("://").map_or(0, |i| i + 3);
    let path_start = without_query[after_scheme..]
        .find('/')
        .map_or(without_query.len(), |i| i + after_scheme);
    (
        without_query[..path_start].to_owned(),
        without_query[path_start..].to_owned(),
        query.to_owned(),
    )
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
