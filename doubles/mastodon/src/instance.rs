//! One Mastodon instance's state and the request pipeline around the handlers: faults,
//! rate limiting, routing, and the request log. The OAuth handlers live in `oauth.rs`, the
//! REST ones in `api.rs`; both are `impl Instance` blocks.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

use crate::clock::{Clock, start_of_day};
use crate::error::DoubleError;
use crate::faults::{Endpoint, Fault, Faults, RateLimiter, RateWindow};
use crate::log::LoggedRequest;
use crate::model::{
    Account, AccountState, App, AppCredentials, AppSpec, Decision, Grant, NewUser,
    OOB_REDIRECT_URI, Token, TokenInfo, User, is_known_scope, parse_scopes,
};
use crate::options::MastodonOptions;
use crate::pages;
use crate::reply::Reply;
use crate::request::{BodyKind, Incoming};
use crate::secret::Secret;

/// The first account id handed out: snowflake-sized, above 2^53, like Mastodon's.
const FIRST_ACCOUNT_ID: u64 = 113_000_000_000_000_000;

/// The state of one instance. Lives behind a mutex; no handler awaits while holding it.
#[derive(Debug)]
pub(crate) struct Instance {
    pub options: MastodonOptions,
    /// `http://127.0.0.1:<port>`, no trailing slash: the WEB_DOMAIN side of the instance.
    pub base_url: String,
    pub clock: Clock,
    pub faults: Faults,
    pub log: Vec<LoggedRequest>,
    /// What happens on a plain `GET /oauth/authorize` that carries no test control.
    pub default_decision: Option<Decision>,
    pub(crate) apps: Vec<App>,
    pub(crate) users: Vec<User>,
    pub(crate) grants: HashMap<String, Grant>,
    pub(crate) tokens: Vec<Token>,
    limiter: RateLimiter,
    next_app_id: u64,
    next_account_id: u64,
}

/// 32 random bytes, base64url without padding (43 characters), like Doorkeeper's tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Instance {
    pub(crate) fn new(options: MastodonOptions, base_url: String) -> Self {
        Self {
            options,
            base_url,
            clock: Clock::default(),
            faults: Faults::default(),
            log: Vec::new(),
            default_decision: None,
            apps: Vec::new(),
            users: Vec::new(),
            grants: HashMap::new(),
            tokens: Vec::new(),
            limiter: RateLimiter::default(),
            next_app_id: 1,
            next_account_id: FIRST_ACCOUNT_ID,
        }
    }

    // ----- the request pipeline -------------------------------------------------------

    /// Answers one request (a fault's answer if one is due), and logs it.
    pub(crate) fn serve(
        &mut self,
        endpoint: Option<Endpoint>,
        fault: Option<Fault>,
        req: &Incoming,
    ) -> Reply {
        let now = self.clock.now();
        let limits =
            RateWindow::current(now, self.options.rate_limit, self.options.rate_limit_period);
        let reply = match fault.as_ref().and_then(|fault| fault.reply(&limits)) {
            Some(reply) => reply,
            None => self.route(endpoint, req),
        };
        self.record(req, &reply);
        reply
    }

    /// Appends a request and its answer to the log.
    pub(crate) fn record(&mut self, req: &Incoming, reply: &Reply) {
        let mut logged = LoggedRequest::record(req, reply.status.as_u16());
        logged.error = reply.error.clone();
        logged.pkce = reply.pkce;
        self.log.push(logged);
    }

    fn route(&mut self, endpoint: Option<Endpoint>, req: &Incoming) -> Reply {
        if req.body_kind == BodyKind::Malformed {
            return Reply::html(StatusCode::BAD_REQUEST, pages::bad_request())
                .with_error("malformed body");
        }
        let Some(endpoint) = endpoint else {
            return not_found();
        };

        // Rack::Attack counts API requests per access token before the app runs.
        let window = if req.path.starts_with("/api/") {
            let now = self.clock.now();
            let (limit, period) = (self.options.rate_limit, self.options.rate_limit_period);
            // Only tokens the server knows have a throttle key (`authenticated_token_id`).
            presented_token(req)
                .filter(|token| self.token(token).is_some())
                .map(|token| self.limiter.hit(token, now, limit, period))
        } else {
            None
        };
        if let Some(window) = window.as_ref().filter(|w| w.exceeded) {
            return window.too_many_requests();
        }

        let version = self.options.version;
        let mut reply = match endpoint {
            Endpoint::RegisterApp => self.register_app_endpoint(req),
            Endpoint::VerifyApp => self.verify_app_endpoint(req),
            Endpoint::Authorize => self.authorize_endpoint(req),
            Endpoint::Token => self.token_endpoint(req),
            Endpoint::Revoke => self.revoke_endpoint(req),
            Endpoint::AuthServerMetadata if version.supports_pkce() => self.metadata_endpoint(),
            Endpoint::UserInfo if version.supports_pkce() => self.userinfo_endpoint(req),
            Endpoint::VerifyCredentials => self.verify_credentials_endpoint(req),
            Endpoint::InstanceV1 => self.instance_v1_endpoint(),
            Endpoint::InstanceV2 if version.has_instance_v2() => self.instance_v2_endpoint(),
            Endpoint::AuthServerMetadata | Endpoint::UserInfo | Endpoint::InstanceV2 => not_found(),
        };
        if let Some(window) = window {
            reply.headers.extend(window.headers());
        }
        reply
    }

    // ----- apps -----------------------------------------------------------------------

    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|app| app.client_id == client_id)
    }

    /// Registers an app after the checks `POST /api/v1/apps` makes.
    pub(crate) fn create_app(
        &mut self,
        name: &str,
        redirect_uris: &[String],
        scopes: &str,
        website: Option<&str>,
    ) -> Result<&App, String> {
        let scopes = parse_scopes(scopes);
        validate_app(self, name, redirect_uris, &scopes, website)?;
        let app = App {
            id: self.next_app_id,
            name: name.to_owned(),
            website: website.map(str::to_owned),
            redirect_uris: redirect_uris.to_vec(),
            scopes,
            client_id: random_token(),
            client_secret: Secret::new(random_token()),
        };
        self.next_app_id += 1;
        self.apps.push(app);
        self.apps
            .last()
            .ok_or_else(|| "the app was not stored".to_owned())
    }

    pub(crate) fn register_app(&mut self, spec: &AppSpec) -> Result<AppCredentials, DoubleError> {
        let uris: Vec<String> = spec
            .redirect_uris
            .iter()
            .flat_map(|u| u.split_whitespace())
            .map(str::to_owned)
            .collect();
        self.create_app(&spec.name, &uris, &spec.scopes, spec.website.as_deref())
            .map(App::credentials)
            .map_err(DoubleError::AppRejected)
    }

    pub(crate) fn set_redirect_uris(
        &mut self,
        client_id: &str,
        uris: Vec<String>,
    ) -> Result<(), DoubleError> {
        let scopes = self
            .app(client_id)
            .ok_or_else(|| DoubleError::UnknownApp(client_id.to_owned()))?
            .scopes
            .clone();
        let name = self
            .app(client_id)
            .map(|app| app.name.clone())
            .unwrap_or_default();
        validate_app(self, &name, &uris, &scopes, None).map_err(DoubleError::AppRejected)?;
        if let Some(app) = self.apps.iter_mut().find(|app| app.client_id == client_id) {
            app.redirect_uris = uris;
        }
        Ok(())
    }

    /// Deletes an app with its codes and tokens (what pre-4.3 "vacuuming" did).
    pub(crate) fn remove_app(&mut self, client_id: &str) -> Result<(), DoubleError> {
        if self.app(client_id).is_none() {
            return Err(DoubleError::UnknownApp(client_id.to_owned()));
        }
        self.apps.retain(|app| app.client_id != client_id);
        self.grants.retain(|_, grant| grant.client_id != client_id);
        self.tokens.retain(|token| token.client_id != client_id);
        Ok(())
    }

    // ----- users ----------------------------------------------------------------------

    pub(crate) fn user_by_name(&self, username: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|user| user.username.eq_ignore_ascii_case(username))
    }

    pub(crate) fn user_by_id(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|user| user.id == id)
    }

    fn user_mut(&mut self, username: &str) -> Result<&mut User, DoubleError> {
        self.users
            .iter_mut()
            .find(|user| user.username.eq_ignore_ascii_case(username))
            .ok_or_else(|| DoubleError::UnknownUser(username.to_owned()))
    }

    pub(crate) fn add_user(&mut self, new: NewUser) -> Result<Account, DoubleError> {
        if self.user_by_name(&new.username).is_some() {
            return Err(DoubleError::DuplicateUser(new.username));
        }
        let user = User {
            id: self.next_account_id.to_string(),
            username: new.username,
            display_name: new.display_name,
            note: new.note,
            locked: new.locked,
            bot: new.bot,
            avatar: new.avatar,
            state: new.state,
            created_at: start_of_day(self.clock.now()),
        };
        self.next_account_id += 1;
        let account = self.account(&user);
        self.users.push(user);
        Ok(account)
    }

    pub(crate) fn set_account_state(
        &mut self,
        username: &str,
        state: AccountState,
    ) -> Result<(), DoubleError> {
        self.user_mut(username)?.state = state;
        Ok(())
    }

    pub(crate) fn set_display_name(
        &mut self,
        username: &str,
        display_name: &str,
    ) -> Result<(), DoubleError> {
        self.user_mut(username)?.display_name = display_name.to_owned();
        Ok(())
    }

    /// The public view of a user.
    pub(crate) fn account(&self, user: &User) -> Account {
        Account {
            id: user.id.clone(),
            username: user.username.clone(),
            acct: user.username.clone(),
            display_name: user.display_name.clone(),
            handle: format!("@{}@{}", user.username, self.options.local_domain),
            url: format!("{}/@{}", self.base_url, user.username),
            avatar: self.avatar_url(user),
            state: user.state,
        }
    }

    pub(crate) fn avatar_url(&self, user: &User) -> String {
        user.avatar
            .clone()
            .unwrap_or_else(|| format!("{}/avatars/original/missing.png", self.base_url))
    }

    // ----- tokens ---------------------------------------------------------------------

    pub(crate) fn token(&self, value: &str) -> Option<&Token> {
        self.tokens
            .iter()
            .find(|token| token.value.expose() == value)
    }

    /// Doorkeeper's `find_or_create_access_token` with `reuse_access_token`: an unrevoked
    /// token of the same app, user and scopes is answered again.
    pub(crate) fn find_or_create_token(
        &mut self,
        client_id: &str,
        user_id: Option<&str>,
        scopes: &[String],
    ) -> Token {
        let same_scopes = |token: &Token| {
            let mut a = token.scopes.clone();
            let mut b = scopes.to_vec();
            a.sort();
            b.sort();
            a == b
        };
        if let Some(user_id) = user_id {
            let reusable = self.tokens.iter().rev().find(|token| {
                token.client_id == client_id
                    && token.user_id.as_deref() == Some(user_id)
                    && token.revoked_at.is_none()
                    && same_scopes(token)
            });
            if let Some(token) = reusable {
                return token.clone();
            }
        }
        self.create_token(client_id, user_id, scopes)
    }

    pub(crate) fn create_token(
        &mut self,
        client_id: &str,
        user_id: Option<&str>,
        scopes: &[String],
    ) -> Token {
        let token = Token {
            value: Secret::new(random_token()),
            client_id: client_id.to_owned(),
            user_id: user_id.map(str::to_owned),
            scopes: scopes.to_vec(),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.tokens.push(token.clone());
        token
    }

    pub(crate) fn issue_token(
        &mut self,
        client_id: &str,
        username: Option<&str>,
        scopes: &str,
    ) -> Result<Secret, DoubleError> {
        if self.app(client_id).is_none() {
            return Err(DoubleError::UnknownApp(client_id.to_owned()));
        }
        let user_id = match username {
            Some(name) => Some(
                self.user_by_name(name)
                    .ok_or_else(|| DoubleError::UnknownUser(name.to_owned()))?
                    .id
                    .clone(),
            ),
            None => None,
        };
        Ok(self
            .create_token(client_id, user_id.as_deref(), &parse_scopes(scopes))
            .value)
    }

    /// Revokes a token; `false` if it is unknown.
    pub(crate) fn revoke_token(&mut self, value: &str) -> bool {
        let now = self.clock.now();
        match self
            .tokens
            .iter_mut()
            .find(|token| token.value.expose() == value)
        {
            Some(token) => {
                token.revoked_at.get_or_insert(now);
                true
            }
            None => false,
        }
    }

    /// What "Revoke" on the user's "Authorized apps" page does: every token and unused
    /// code of that user dies. Returns how many tokens were revoked.
    pub(crate) fn revoke_authorization(&mut self, username: &str) -> Result<usize, DoubleError> {
        let user_id = self
            .user_by_name(username)
            .ok_or_else(|| DoubleError::UnknownUser(username.to_owned()))?
            .id
            .clone();
        let now = self.clock.now();
        let mut revoked = 0;
        for token in self
            .tokens
            .iter_mut()
            .filter(|t| t.user_id.as_deref() == Some(user_id.as_str()))
        {
            if token.revoked_at.is_none() {
                token.revoked_at = Some(now);
                revoked += 1;
            }
        }
        for grant in self.grants.values_mut().filter(|g| g.user_id == user_id) {
            grant.used = true;
        }
        Ok(revoked)
    }

    pub(crate) fn token_infos(&self) -> Vec<TokenInfo> {
        self.tokens
            .iter()
            .map(|token| TokenInfo {
                token: token.value.clone(),
                client_id: token.client_id.clone(),
                username: token
                    .user_id
                    .as_deref()
                    .and_then(|id| self.user_by_id(id))
                    .map(|user| user.username.clone()),
                scopes: token.scopes.clone(),
                revoked: token.revoked_at.is_some(),
            })
            .collect()
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

/// The access token a request presents: `Authorization: Bearer …`, else the
/// `access_token` or `bearer_token` parameter (Doorkeeper's default token sources).
pub(crate) fn presented_token(req: &Incoming) -> Option<&str> {
    let from_header = req.header("authorization").and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim())
    });
    from_header
        .or_else(|| req.present("access_token"))
        .or_else(|| req.present("bearer_token"))
        .filter(|token| !token.is_empty())
}

/// Mastodon's 404 for an unknown route.
pub(crate) fn not_found() -> Reply {
    Reply::html(StatusCode::NOT_FOUND, pages::not_found()).with_error("not found")
}

/// The model validations of `Doorkeeper::Application` plus Mastodon's, as the
/// `"Validation failed: …"` message Rails builds from them.
fn validate_app(
    instance: &Instance,
    name: &str,
    redirect_uris: &[String],
    scopes: &[String],
    website: Option<&str>,
) -> Result<(), String> {
    let mut errors = Vec::new();
    if name.trim().is_empty() {
        errors.push("Application name can't be blank".to_owned());
    } else if name.chars().count() > 60 {
        errors.push("Application name is too long (maximum is 60 characters)".to_owned());
    }
    if redirect_uris.iter().all(|uri| uri.trim().is_empty()) {
        errors.push("Redirect URI can't be blank".to_owned());
    }
    for uri in redirect_uris
        .iter()
        .filter(|uri| uri.as_str() != OOB_REDIRECT_URI)
    {
        if let Some(problem) = redirect_uri_problem(uri) {
            errors.push(format!("Redirect URI {problem}"));
        }
    }
    if let Some(website) = website.filter(|w| !w.trim().is_empty()) {
        let is_web_url =
            url::Url::parse(website).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !is_web_url {
            errors.push("Application website is invalid".to_owned());
        }
    }
    if scopes
        .iter()
        .any(|scope| !is_known_scope(instance.options.version, scope))
    {
        errors.push("Scopes doesn't match configured on the server.".to_owned());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        errors.dedup();
        Err(format!("Validation failed: {}", errors.join(", ")))
    }
}

/// What Doorkeeper's redirect URI validator says about one URI, if anything.
fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    match url::Url::parse(uri) {
        Err(url::ParseError::RelativeUrlWithoutBase) => Some("must be an absolute URI."),
        Err(_) => Some("must be a valid URI."),
        Ok(parsed) if matches!(parsed.scheme(), "data" | "vbscript" | "javascript") => {
            Some("is forbidden by the server.")
        }
        Ok(parsed) if parsed.fragment().is_some() => Some("cannot contain a fragment."),
        Ok(parsed) if parsed.scheme() == "localhost" || parsed.cannot_be_a_base() => {
            Some("must specify a scheme.")
        }
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::MastodonVersion;

    fn instance(version: MastodonVersion) -> Instance {
        let options = MastodonOptions {
            version,
            ..MastodonOptions::default()
        };
        Instance::new(options, "http://127.0.0.1:9".to_owned())
    }

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn apps_get_distinct_credentials() {
        let mut inst = instance(MastodonVersion::V4_4);
        let a = inst
            .register_app(&AppSpec::new(["https://a.example/cb"], "read"))
            .unwrap();
        let b = inst
            .register_app(&AppSpec::new(["https://a.example/cb"], "read"))
            .unwrap();
        assert_ne!(a.client_id, b.client_id);
        assert_ne!(a.client_secret, b.client_secret);
        assert_eq!(a.client_id.len(), 43);
    }

    #[test]
    fn unknown_scopes_and_bad_redirects_are_refused() {
        let mut inst = instance(MastodonVersion::V4_2);
        let err = inst
            .create_app("x", &uris(&["https://a.example/cb"]), "read profile", None)
            .unwrap_err();
        assert_eq!(
            err,
            "Validation failed: Scopes doesn't match configured on the server."
        );
        let err = inst
            .create_app("x", &uris(&["/cb"]), "read", None)
            .unwrap_err();
        assert_eq!(
            err,
            "Validation failed: Redirect URI must be an absolute URI."
        );
        let err = inst
            .create_app("x", &uris(&["https://a.example/cb#x"]), "read", None)
            .unwrap_err();
        assert_eq!(
            err,
            "Validation failed: Redirect URI cannot contain a fragment."
        );
        let err = inst.create_app("", &uris(&[]), "read", None).unwrap_err();
        assert_eq!(
            err,
            "Validation failed: Application name can't be blank, Redirect URI can't be blank"
        );
        assert!(
            inst.create_app("x", &uris(&[OOB_REDIRECT_URI]), "read write push", None)
                .is_ok()
        );
    }

    #[test]
    fn account_ids_are_strings_above_2_pow_53() {
        let mut inst = instance(MastodonVersion::V4_4);
        let alice = inst.add_user(NewUser::new("alice")).unwrap();
        assert!(alice.id.parse::<u64>().unwrap() > (1u64 << 53));
        assert_eq!(alice.handle, "@alice@example.social");
        assert_eq!(alice.url, "http://127.0.0.1:9/@alice");
        assert!(matches!(
            inst.add_user(NewUser::new("ALICE")),
            Err(DoubleError::DuplicateUser(_))
        ));
    }

    #[test]
    fn tokens_are_reused_for_the_same_app_user_and_scopes_until_revoked() {
        let mut inst = instance(MastodonVersion::V4_4);
        let scopes = parse_scopes("read write");
        let first = inst.find_or_create_token("app", Some("1"), &scopes);
        let again = inst.find_or_create_token("app", Some("1"), &parse_scopes("write read"));
        assert_eq!(first.value, again.value);
        let other = inst.find_or_create_token("app", Some("1"), &parse_scopes("read"));
        assert_ne!(first.value, other.value);
        assert!(inst.revoke_token(first.value.expose()));
        let fresh = inst.find_or_create_token("app", Some("1"), &scopes);
        assert_ne!(first.value, fresh.value);
    }
}
