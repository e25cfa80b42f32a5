//! The OAuth side of the instance, as Mastodon's Doorkeeper setup behaves: the
//! authorization page, the token endpoint (authorization code with optional PKCE, client
//! credentials), revocation, the server metadata document and `/oauth/userinfo`.
//!
//! The order of the checks follows Doorkeeper's validations, because it decides which
//! error a client sees when several things are wrong at once.

use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::json;

use crate::clock::unix_seconds;
use crate::instance::Instance;
use crate::log::PkceCheck;
use crate::model::{
    App, Challenge, Decision, Grant, OOB_REDIRECT_URI, Token, known_scopes, parse_scopes,
};
use crate::options::{AuthorizeErrors, RedirectMatching};
use crate::pages;
use crate::pkce::verifier_matches;
use crate::reply::Reply;
use crate::request::Incoming;

/// Header naming the user who approves on `/oauth/authorize` (test control).
pub const USER_HEADER: &str = "x-double-user";
/// Query or form parameter naming the user who approves (test control).
pub const USER_PARAM: &str = "double_user";
/// Header carrying the decision, `approve` or `deny` (test control).
pub const DECISION_HEADER: &str = "x-double-decision";
/// Query or form parameter carrying the decision, `approve` or `deny` (test control).
pub const DECISION_PARAM: &str = "double_decision";

const INVALID_CLIENT: &str = concat!(
    "Client authentication failed due to unknown client, no client authentication included, ",
    "or unsupported authentication method."
);
const INVALID_GRANT: &str = concat!(
    "The provided authorization grant is invalid, expired, revoked, does not match the ",
    "redirection URI used in the authorization request, or was issued to another client."
);
const INVALID_REDIRECT_URI: &str = "The redirect uri included is not valid.";
const INVALID_SCOPE: &str = "The requested scope is invalid, unknown, or malformed.";
const ACCESS_DENIED: &str = "The resource owner or authorization server denied the request.";
const UNSUPPORTED_RESPONSE_TYPE: &str =
    "The authorization server does not support this response type.";
const UNSUPPORTED_GRANT_TYPE: &str =
    "The authorization grant type is not supported by the authorization server.";
const INVALID_CODE_CHALLENGE_METHOD: &str = "The code_challenge_method must be S256.";
const REVOKE_UNAUTHORIZED: &str = "You are not authorized to revoke this token";

fn missing(param: &str) -> String {
    format!("Missing required parameter: {param}.")
}

/// What to do once an authorization request checks out.
#[derive(Debug, Clone)]
pub(crate) enum AuthorizeAction {
    /// The user decided.
    Decide(Decision),
    /// Nobody decided yet: show the authorization page.
    Ask,
}

impl Instance {
    /// `GET|POST|DELETE /oauth/authorize`, with the test-control header or parameter
    /// choosing who approves.
    pub(crate) fn authorize_endpoint(&mut self, req: &Incoming) -> Reply {
        let control = |header: &str, param: &str| {
            req.header(header)
                .or_else(|| req.present(param))
                .map(str::to_owned)
        };
        let user = control(USER_HEADER, USER_PARAM);
        let decision = control(DECISION_HEADER, DECISION_PARAM).map(|d| d.to_ascii_lowercase());
        let form_delete = req.method == Method::POST && req.param("_method") == Some("delete");
        let denied =
            decision.as_deref() == Some("deny") || req.method == Method::DELETE || form_delete;

        let action = if denied {
            AuthorizeAction::Decide(Decision::Deny)
        } else if let Some(user) = user {
            AuthorizeAction::Decide(Decision::Approve(user))
        } else if let Some(default) = self.default_decision.clone() {
            AuthorizeAction::Decide(default)
        } else {
            AuthorizeAction::Ask
        };
        self.authorize(req, action)
    }

    /// The authorization request itself.
    pub(crate) fn authorize(&mut self, req: &Incoming, action: AuthorizeAction) -> Reply {
        // Client and redirect URI first: until both are known, nothing may redirect.
        let Some(client_id) = req.present("client_id") else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &missing("client_id"),
            );
        };
        let Some(app) = self.app(client_id).cloned() else {
            return error_page(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
        };
        let redirect_uri = match req.present("redirect_uri") {
            Some(uri) if self.redirect_uri_registered(&app, uri) => uri.to_owned(),
            _ => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "invalid_redirect_uri",
                    INVALID_REDIRECT_URI,
                );
            }
        };
        let state = req.present("state").map(str::to_owned);
        let refuse = |code: &str, description: &str| {
            self.authorize_error(&redirect_uri, state.as_deref(), code, description)
        };

        let Some(response_type) = req.present("response_type") else {
            return refuse("invalid_request", &missing("response_type"));
        };
        if response_type != "code" {
            return refuse("unsupported_response_type", UNSUPPORTED_RESPONSE_TYPE);
        }
        let scopes = match requested_scopes(req, &app) {
            Some(scopes) => scopes,
            None => return refuse("invalid_scope", INVALID_SCOPE),
        };
        let challenge = if self.options.version.supports_pkce() {
            match req.present("code_challenge") {
                None => None,
                Some(value) => match req.present("code_challenge_method") {
                    Some("S256") => Some(Challenge {
                        value: value.to_owned(),
                        method: "S256".to_owned(),
                    }),
                    _ => {
                        return refuse(
                            "invalid_code_challenge_method",
                            INVALID_CODE_CHALLENGE_METHOD,
                        );
                    }
                },
            }
        } else {
            None
        };

        let username = match action {
            AuthorizeAction::Ask => return authorization_form(req, &app, &scopes),
            AuthorizeAction::Decide(Decision::Deny) => {
                return refuse("access_denied", ACCESS_DENIED);
            }
            AuthorizeAction::Decide(Decision::Approve(username)) => username,
        };
        let Some(user_id) = self.user_by_name(&username).map(|user| user.id.clone()) else {
            let message = format!("No user named {username:?} on this instance (test control).");
            return error_page(StatusCode::FORBIDDEN, "unknown_user", &message);
        };

        let code = crate::instance::random_token();
        let grant = Grant {
            client_id: app.client_id.clone(),
            user_id,
            redirect_uri: redirect_uri.clone(),
            scopes,
            challenge,
            created_at: self.clock.now(),
            used: false,
        };
        self.grants.insert(code.clone(), grant);
        if redirect_uri == OOB_REDIRECT_URI {
            return Reply::html(StatusCode::OK, pages::authorization_code(&code));
        }
        let mut params = vec![("code", code.as_str())];
        params.extend(state.as_deref().map(|s| ("state", s)));
        Reply::redirect(with_query(&redirect_uri, &params))
    }

    /// An error after the client and redirect URI are known: a redirect to the client, or a
    /// page when so configured or when the redirect URI is the out-of-band one.
    fn authorize_error(
        &self,
        redirect_uri: &str,
        state: Option<&str>,
        code: &str,
        description: &str,
    ) -> Reply {
        if self.options.authorize_errors == AuthorizeErrors::Render
            || redirect_uri == OOB_REDIRECT_URI
        {
            return error_page(StatusCode::BAD_REQUEST, code, description);
        }
        let mut params = vec![("error", code), ("error_description", description)];
        params.extend(state.map(|s| ("state", s)));
        Reply::redirect(with_query(redirect_uri, &params)).with_error(code)
    }

    /// Whether `uri` is one of the app's registered redirect URIs.
    fn redirect_uri_registered(&self, app: &App, uri: &str) -> bool {
        app.redirect_uris
            .iter()
            .any(|registered| self.redirect_uris_match(uri, registered))
    }

    /// Doorkeeper's `URIChecker.matches?`: equal strings, or loopback URIs that differ only
    /// in the port (RFC 8252 §7.3), unless the double is set to exact matching.
    pub(crate) fn redirect_uris_match(&self, requested: &str, registered: &str) -> bool {
        if requested == registered {
            return true;
        }
        if self.options.redirect_matching == RedirectMatching::Exact {
            return false;
        }
        let (Ok(a), Ok(b)) = (url::Url::parse(requested), url::Url::parse(registered)) else {
            return false;
        };
        let loopback = |u: &url::Url| match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
        loopback(&a)
            && loopback(&b)
            && a.scheme() == b.scheme()
            && a.username() == b.username()
            && a.password() == b.password()
            && a.host() == b.host()
            && a.path() == b.path()
            && a.query() == b.query()
            && a.fragment() == b.fragment()
    }

    /// `POST /oauth/token`.
    pub(crate) fn token_endpoint(&mut self, req: &Incoming) -> Reply {
        let Some(grant_type) = req.present("grant_type") else {
            return Reply::oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &missing("grant_type"),
            );
        };
        match grant_type {
            "authorization_code" => self.exchange_code(req),
            "client_credentials" => self.client_credentials(req),
            // Limitation: Mastodon also enables the password grant; the double does not.
            _ => Reply::oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                UNSUPPORTED_GRANT_TYPE,
            ),
        }
    }

    /// The authorization-code grant, checked in Doorkeeper 5.8's order: parameters, client,
    /// grant (exists, same app, unused, unexpired), redirect URI, code verifier.
    fn exchange_code(&mut self, req: &Incoming) -> Reply {
        let Some(code) = req.present("code") else {
            return Reply::oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &missing("code"),
            );
        };
        let grant = self.grants.get(code).cloned();
        let pkce_supported = self.options.version.supports_pkce();
        let verifier = req.present("code_verifier");
        let uses_pkce = grant.as_ref().is_some_and(|g| g.challenge.is_some());

        if pkce_supported && uses_pkce && verifier.is_none() {
            return Reply::oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &missing("code_verifier"),
            )
            .with_pkce(PkceCheck::MissingVerifier);
        }
        let Some(redirect_uri) = req.present("redirect_uri") else {
            return Reply::oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &missing("redirect_uri"),
            );
        };
        let Some(app) = self.authenticate_client(req).cloned() else {
            return Reply::oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
        };
        let invalid_grant =
            || Reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", INVALID_GRANT);
        let Some(grant) = grant.filter(|g| g.client_id == app.client_id) else {
            return invalid_grant();
        };
        let expired = self
            .clock
            .now()
            .duration_since(grant.created_at)
            .unwrap_or_default()
            > self.options.code_lifetime;
        if grant.used || expired {
            return invalid_grant();
        }
        if !self.redirect_uris_match(redirect_uri, &grant.redirect_uri) {
            return invalid_grant();
        }
        let pkce = pkce_check(pkce_supported, grant.challenge.as_ref(), verifier);
        if matches!(pkce, PkceCheck::Mismatch | PkceCheck::UnexpectedVerifier) {
            return invalid_grant().with_pkce(pkce);
        }

        if let Some(stored) = self.grants.get_mut(code) {
            stored.used = true;
        }
        let token = self.find_or_create_token(&app.client_id, Some(&grant.user_id), &grant.scopes);
        token_response(&token).with_pkce(pkce)
    }

    /// The client-credentials grant: an app-only token.
    fn client_credentials(&mut self, req: &Incoming) -> Reply {
        let Some(app) = self.authenticate_client(req).cloned() else {
            return Reply::oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", INVALID_CLIENT);
        };
        let Some(scopes) = requested_scopes(req, &app) else {
            return Reply::oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", INVALID_SCOPE);
        };
        let token = self.create_token(&app.client_id, None, &scopes);
        token_response(&token)
    }

    /// `POST /oauth/revoke` (RFC 7009 as Doorkeeper does it): the client must authenticate,
    /// an unknown token is a success, another app's token is refused.
    pub(crate) fn revoke_endpoint(&mut self, req: &Incoming) -> Reply {
        let refused = || {
            Reply::oauth_error(
                StatusCode::FORBIDDEN,
                "unauthorized_client",
                REVOKE_UNAUTHORIZED,
            )
        };
        let Some(client_id) = self
            .authenticate_client(req)
            .map(|app| app.client_id.clone())
        else {
            return refused();
        };
        let Some(value) = req.param("token") else {
            return Reply::json(StatusCode::OK, json!({}));
        };
        let Some(token) = self.token(value) else {
            return Reply::json(StatusCode::OK, json!({}));
        };
        if token.client_id != client_id {
            return refused();
        }
        let value = value.to_owned();
        self.revoke_token(&value);
        Reply::json(StatusCode::OK, json!({}))
    }

    /// `GET /.well-known/oauth-authorization-server` (4.3+).
    pub(crate) fn metadata_endpoint(&self) -> Reply {
        let base = &self.base_url;
        Reply::json(
            StatusCode::OK,
            json!({
                "issuer": format!("{base}/"),
                "service_documentation": "https://docs.joinmastodon.org/",
                "authorization_endpoint": format!("{base}/oauth/authorize"),
                "token_endpoint": format!("{base}/oauth/token"),
                "app_registration_endpoint": format!("{base}/api/v1/apps"),
                "revocation_endpoint": format!("{base}/oauth/revoke"),
                "userinfo_endpoint": format!("{base}/oauth/userinfo"),
                "scopes_supported": known_scopes(self.options.version),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "fragment", "form_post"],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "token_endpoint_auth_methods_supported":
                    ["client_secret_basic", "client_secret_post"],
            }),
        )
    }

    /// The app whose credentials the request carries: HTTP Basic first, then the
    /// `client_id`/`client_secret` parameters (Doorkeeper's `from_basic`, `from_params`).
    pub(crate) fn authenticate_client(&self, req: &Incoming) -> Option<&App> {
        let (client_id, secret) = basic_credentials(req).or_else(|| {
            let client_id = req.present("client_id")?;
            Some((
                client_id.to_owned(),
                req.param("client_secret").unwrap_or("").to_owned(),
            ))
        })?;
        self.app(&client_id)
            .filter(|app| app.client_secret.expose() == secret)
    }
}

/// The requested scopes if they are acceptable for the app: present, free of tabs and
/// newlines, and all registered (Doorkeeper's `ScopeChecker`). The default is `read`
/// when the app has it.
fn requested_scopes(req: &Incoming, app: &App) -> Option<Vec<String>> {
    let requested = match req.present("scope") {
        Some(scope) => scope.to_owned(),
        None if app.scopes.iter().any(|s| s == "read") => "read".to_owned(),
        None => return None,
    };
    if requested.contains(['\n', '\r', '\t']) {
        return None;
    }
    let scopes = parse_scopes(&requested);
    // An app registered with no scopes may ask for any scope the server knows; Mastodon
    // checks those at registration, so the double does not repeat the check here.
    let allowed = app.scopes.is_empty() || scopes.iter().all(|s| app.scopes.contains(s));
    (!scopes.is_empty() && allowed).then_some(scopes)
}

/// How the verifier compares with the stored challenge.
fn pkce_check(supported: bool, challenge: Option<&Challenge>, verifier: Option<&str>) -> PkceCheck {
    if !supported {
        return PkceCheck::Ignored;
    }
    match (challenge, verifier) {
        (None, None) => PkceCheck::NotUsed,
        (None, Some(_)) => PkceCheck::UnexpectedVerifier,
        (Some(_), None) => PkceCheck::MissingVerifier,
        (Some(challenge), Some(verifier)) => {
            if verifier_matches(&challenge.method, &challenge.value, verifier) {
                PkceCheck::Verified
            } else {
                PkceCheck::Mismatch
            }
        }
    }
}

/// Mastodon's token answer: no `expires_in`, no `refresh_token`.
fn token_response(token: &Token) -> Reply {
    Reply::json(
        StatusCode::OK,
        json!({
            "access_token": token.value.expose(),
            "token_type": "Bearer",
            "scope": token.scopes.join(" "),
            "created_at": unix_seconds(token.created_at),
        }),
    )
    .with_header(header::CACHE_CONTROL, "no-store".to_owned())
    .with_header(header::PRAGMA, "no-cache".to_owned())
}

fn basic_credentials(req: &Incoming) -> Option<(String, String)> {
    let encoded = req.header("authorization")?.strip_prefix("Basic ")?.trim();
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (client_id, secret) = text.split_once(':').unwrap_or((text.as_str(), ""));
    (!client_id.trim().is_empty()).then(|| (client_id.to_owned(), secret.to_owned()))
}

/// Doorkeeper's error page (`authorizations/error`), which never redirects.
fn error_page(status: StatusCode, code: &str, description: &str) -> Reply {
    Reply::html(status, pages::authorization_error(description)).with_error(code)
}

fn authorization_form(req: &Incoming, app: &App, scopes: &[String]) -> Reply {
    let names = [
        "client_id",
        "redirect_uri",
        "state",
        "response_type",
        "scope",
        "code_challenge",
        "code_challenge_method",
    ];
    let fields: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|name| req.param(name).map(|value| (*name, value)))
        .collect();
    Reply::html(
        StatusCode::OK,
        pages::authorization_form(&app.name, scopes, &fields),
    )
}

/// `uri` with `params` appended to its query string (form-encoded, spaces as `+`).
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = match uri.split_once('?') {
        Some((_, query)) if query.is_empty() || query.ends_with('&') => "",
        Some(_) => "&",
        None => "?",
    };
    format!("{uri}{separator}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_appended_to_any_existing_query() {
        assert_eq!(
            with_query("https://a/cb", &[("code", "x"), ("state", "a b")]),
            "https://a/cb?code=x&state=a+b"
        );
        assert_eq!(
            with_query("https://a/cb?p=1", &[("code", "x")]),
            "https://a/cb?p=1&code=x"
        );
        assert_eq!(
            with_query("https://a/cb?", &[("code", "x")]),
            "https://a/cb?code=x"
        );
    }

    #[test]
    fn pkce_outcomes() {
        let challenge = Challenge {
            value: crate::pkce::s256_challenge("v"),
            method: "S256".to_owned(),
        };
        assert_eq!(
            pkce_check(true, Some(&challenge), Some("v")),
            PkceCheck::Verified
        );
        assert_eq!(
            pkce_check(true, Some(&challenge), Some("w")),
            PkceCheck::Mismatch
        );
        assert_eq!(
            pkce_check(true, Some(&challenge), None),
            PkceCheck::MissingVerifier
        );
        assert_eq!(
            pkce_check(true, None, Some("v")),
            PkceCheck::UnexpectedVerifier
        );
        assert_eq!(pkce_check(true, None, None), PkceCheck::NotUsed);
        assert_eq!(
            pkce_check(false, Some(&challenge), Some("w")),
            PkceCheck::Ignored
        );
    }
}
