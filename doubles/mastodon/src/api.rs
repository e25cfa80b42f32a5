//! The REST side of the instance: app registration, `verify_credentials`, the instance
//! documents, and the access-token checks every authenticated call makes.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use crate::clock::iso8601_millis;
use crate::instance::{Instance, presented_token};
use crate::model::{AccountState, App, Token, User};
use crate::reply::Reply;
use crate::request::{Incoming, ParamValue};

/// A made-up but well-formed VAPID public key.
const VAPID_KEY: &str =
    "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M=";

impl Instance {
    /// Doorkeeper's token check (`doorkeeper_authorize!`): 401 for a missing, unknown or
    /// revoked token, 403 when none of `scopes` was granted (empty `scopes`: any token).
    fn authenticate(&self, req: &Incoming, scopes: &[&str]) -> Result<Token, Reply> {
        let unauthorized = |description: &str| {
            let challenge = format!(
                "Bearer realm=\"Doorkeeper\", error=\"invalid_token\", \
                 error_description=\"{description}\""
            );
            Reply::api_error(StatusCode::UNAUTHORIZED, description)
                .with_header(header::WWW_AUTHENTICATE, challenge)
        };
        let Some(token) = presented_token(req).and_then(|value| self.token(value)) else {
            return Err(unauthorized("The access token is invalid"));
        };
        if token.revoked_at.is_some() {
            return Err(unauthorized("The access token was revoked"));
        }
        if !scopes.is_empty() && !token.scopes.iter().any(|s| scopes.contains(&s.as_str())) {
            let challenge = "Bearer realm=\"Doorkeeper\", error=\"insufficient_scope\"".to_owned();
            return Err(Reply::api_error(
                StatusCode::FORBIDDEN,
                "This action is outside the authorized scopes",
            )
            .with_header(header::WWW_AUTHENTICATE, challenge));
        }
        Ok(token.clone())
    }

    /// Mastodon's `require_user!`: the token must act for a user whose login works.
    fn require_user(&self, token: &Token) -> Result<User, Reply> {
        let Some(user) = token.user_id.as_deref().and_then(|id| self.user_by_id(id)) else {
            return Err(Reply::api_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This method requires an authenticated user",
            ));
        };
        let refusal = match user.state {
            AccountState::Active => return Ok(user.clone()),
            AccountState::Disabled => "Your login is currently disabled",
            AccountState::Unconfirmed => "Your login is missing a confirmed e-mail address",
            AccountState::PendingApproval => "Your login is currently pending approval",
        };
        Err(Reply::api_error(StatusCode::FORBIDDEN, refusal))
    }

    /// The scopes that let a token read its own account.
    fn profile_scopes(&self) -> &'static [&'static str] {
        if self.options.version.supports_pkce() {
            &["profile", "read", "read:accounts"]
        } else {
            &["read", "read:accounts"]
        }
    }

    /// `GET /api/v1/accounts/verify_credentials`.
    pub(crate) fn verify_credentials_endpoint(&self, req: &Incoming) -> Reply {
        let result = self
            .authenticate(req, self.profile_scopes())
            .and_then(|token| self.require_user(&token));
        match result {
            Ok(user) => api_ok(self.credential_account(&user)),
            Err(reply) => reply,
        }
    }

    /// `GET /oauth/userinfo` (4.4+, `profile` scope): OpenID Connect claims.
    pub(crate) fn userinfo_endpoint(&self, req: &Incoming) -> Reply {
        let result = self
            .authenticate(req, &["profile"])
            .and_then(|token| self.require_user(&token));
        match result {
            Ok(user) => api_ok(json!({
                "iss": format!("{}/", self.base_url),
                "sub": format!("{}/users/{}", self.base_url, user.username),
                "name": user.display_name,
                "preferred_username": user.username,
                "profile": format!("{}/@{}", self.base_url, user.username),
                "picture": self.avatar_url(&user),
            })),
            Err(reply) => reply,
        }
    }

    /// `POST /api/v1/apps`.
    pub(crate) fn register_app_endpoint(&mut self, req: &Incoming) -> Reply {
        let modern = self.options.version.supports_pkce();
        let redirect_uris: Vec<String> = match req.value("redirect_uris") {
            Some(ParamValue::One(value)) => value.split_whitespace().map(str::to_owned).collect(),
            // Arrays are accepted from 4.3 on; older servers drop them as unpermitted.
            Some(ParamValue::Many(values)) if modern => values
                .iter()
                .flat_map(|v| v.split_whitespace())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let name = req.param("client_name").unwrap_or("").to_owned();
        let scopes = req.param("scopes").unwrap_or("read").to_owned();
        let website = req.param("website").map(str::to_owned);
        match self.create_app(&name, &redirect_uris, &scopes, website.as_deref()) {
            Ok(app) => {
                let body = if modern {
                    credential_application(app)
                } else {
                    legacy_application(app)
                };
                api_ok(body)
            }
            Err(message) => Reply::api_error(StatusCode::UNPROCESSABLE_ENTITY, &message),
        }
    }

    /// `GET /api/v1/apps/verify_credentials`: any valid token of the app.
    pub(crate) fn verify_app_endpoint(&self, req: &Incoming) -> Reply {
        let token = match self.authenticate(req, &[]) {
            Ok(token) => token,
            Err(reply) => return reply,
        };
        let Some(app) = self.app(&token.client_id) else {
            return Reply::api_error(StatusCode::UNAUTHORIZED, "The access token is invalid");
        };
        let mut body = json!({
            "id": app.id.to_string(),
            "name": app.name,
            "website": app.website,
            "vapid_key": VAPID_KEY,
        });
        if self.options.version.supports_pkce() {
            body["scopes"] = json!(app.scopes);
            body["redirect_uri"] = json!(app.redirect_uris.join("\n"));
            body["redirect_uris"] = json!(app.redirect_uris);
        }
        api_ok(body)
    }

    /// `GET /api/v2/instance` (4.0+): `domain` is the LOCAL_DOMAIN.
    pub(crate) fn instance_v2_endpoint(&self) -> Reply {
        let options = &self.options;
        api_ok(json!({
            "domain": options.local_domain,
            "title": options.title,
            "version": options.version.as_str(),
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A Mastodon test double.",
            "usage": { "users": { "active_month": self.users.len() } },
            "thumbnail": { "url": format!("{}/packs/media/images/preview.png", self.base_url) },
            "icon": [],
            "languages": ["en"],
            "configuration": {
                "urls": { "streaming": self.base_url.replacen("http", "ws", 1), "status": null },
                "vapid": { "public_key": VAPID_KEY },
                "accounts": { "max_featured_tags": 10, "max_pinned_statuses": 5 },
                "statuses": { "max_characters": 500, "max_media_attachments": 4,
                              "characters_reserved_per_url": 23 },
                "translation": { "enabled": false },
            },
            "registrations": { "enabled": false, "approval_required": false, "message": null },
            "api_versions": { "mastodon": 2 },
            "contact": { "email": "", "account": null },
            "rules": [],
        }))
    }

    /// `GET /api/v1/instance`: `uri` is the LOCAL_DOMAIN.
    pub(crate) fn instance_v1_endpoint(&self) -> Reply {
        let options = &self.options;
        api_ok(json!({
            "uri": options.local_domain,
            "title": options.title,
            "short_description": "",
            "description": "A Mastodon test double.",
            "email": "",
            "version": options.version.as_str(),
            "urls": { "streaming_api": self.base_url.replacen("http", "ws", 1) },
            "stats": { "user_count": self.users.len(), "status_count": 0, "domain_count": 0 },
            "thumbnail": null,
            "languages": ["en"],
            "registrations": false,
            "approval_required": false,
            "invites_enabled": false,
            "configuration": {
                "statuses": { "max_characters": 500, "max_media_attachments": 4 },
            },
            "contact_account": null,
            "rules": [],
        }))
    }

    /// A CredentialAccount: the account plus its `source`.
    fn credential_account(&self, user: &User) -> Value {
        let base = &self.base_url;
        let avatar = self.avatar_url(user);
        let header_image = format!("{base}/headers/original/missing.png");
        json!({
            "id": user.id,
            "username": user.username,
            "acct": user.username,
            "display_name": user.display_name,
            "locked": user.locked,
            "bot": user.bot,
            "discoverable": true,
            "indexable": false,
            "group": false,
            "created_at": iso8601_millis(user.created_at),
            "note": user.note,
            "url": format!("{base}/@{}", user.username),
            "uri": format!("{base}/users/{}", user.username),
            "avatar": avatar,
            "avatar_static": avatar,
            "header": header_image,
            "header_static": header_image,
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
            "last_status_at": null,
            "hide_collections": null,
            "noindex": false,
            "source": {
                "privacy": "public",
                "sensitive": false,
                "language": null,
                "note": "",
                "fields": [],
                "follow_requests_count": 0,
                "hide_collections": null,
                "discoverable": true,
                "indexable": false,
                "attribution_domains": [],
            },
            "emojis": [],
            "roles": [],
            "fields": [],
            "role": { "id": "-99", "name": "", "permissions": "65536", "color": "",
                      "highlighted": false },
        })
    }
}

fn api_ok(body: Value) -> Reply {
    Reply::json(StatusCode::OK, body).with_header(
        header::CACHE_CONTROL,
        "no-cache, no-store, max-age=0, must-revalidate".to_owned(),
    )
}

/// The 4.3+ CredentialApplication.
fn credential_application(app: &App) -> Value {
    json!({
        "id": app.id.to_string(),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes,
        "redirect_uri": app.redirect_uris.join("\n"),
        "redirect_uris": app.redirect_uris,
        "vapid_key": VAPID_KEY,
        "client_id": app.client_id,
        "client_secret": app.client_secret.expose(),
        "client_secret_expires_at": 0,
    })
}

/// The pre-4.3 Application with credentials.
fn legacy_application(app: &App) -> Value {
    json!({
        "id": app.id.to_string(),
        "name": app.name,
        "website": app.website,
        "redirect_uri": app.redirect_uris.join("\n"),
        "client_id": app.client_id,
        "client_secret": app.client_secret.expose(),
        "vapid_key": VAPID_KEY,
    })
}
