//! `GET /{version}/oauth/access_token` (code exchange, `fb_exchange_token`,
//! `client_credentials`) and `GET /{version}/debug_token` on the Graph host.

use serde_json::{Value, json};

use crate::graph_error::GraphError;
use crate::meta::state::{CODE_TTL, Caller, DATA_ACCESS_TTL, MetaState, TokenEntry};
use crate::wire::Incoming;

/// Permissions whose `granular_scopes` entry lists Page ids.
const PAGE_SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_manage_posts",
    "pages_manage_metadata",
    "pages_manage_engagement",
    "read_insights",
];

impl MetaState {
    /// The app a token request authenticates as (`client_id` + `client_secret`).
    fn client(&self, incoming: &Incoming) -> Result<String, GraphError> {
        let app_id = incoming
            .non_empty("client_id")
            .ok_or_else(|| GraphError::new(101, "Missing client_id parameter."))?;
        let app = self.apps.get(app_id).ok_or_else(|| {
            GraphError::new(101, "Error validating application. Invalid application ID.")
        })?;
        match incoming.non_empty("client_secret") {
            None => Err(GraphError::new(1, "Missing client_secret parameter.")),
            Some(secret) if secret != app.secret => {
                Err(GraphError::new(1, "Error validating client secret."))
            }
            Some(_) => Ok(app.id.clone()),
        }
    }

    /// `GET /oauth/access_token`.
    pub(crate) fn access_token(&mut self, incoming: &Incoming) -> Result<Value, GraphError> {
        match incoming.param("grant_type") {
            None | Some("authorization_code") => self.exchange_code(incoming),
            Some("fb_exchange_token") => self.exchange_for_long_lived(incoming),
            Some("client_credentials") => {
                let app_id = self.client(incoming)?;
                let token = self.minter.alphanumeric(&format!("{app_id}|"), 27);
                self.app_tokens.insert(token.clone(), app_id);
                Ok(json!({ "access_token": token, "token_type": "bearer" }))
            }
            Some(other) => Err(GraphError::new(
                100,
                format!("Unsupported grant_type: {other}"),
            )),
        }
    }

    fn exchange_code(&mut self, incoming: &Incoming) -> Result<Value, GraphError> {
        let app_id = self.client(incoming)?;
        let redirect_uri = incoming
            .param("redirect_uri")
            .ok_or_else(|| GraphError::new(191, "Missing redirect_uri parameter."))?;
        let code_text = incoming
            .non_empty("code")
            .ok_or_else(|| GraphError::new(100, "Missing code parameter."))?;
        let now = self.now();
        let invalid =
            || GraphError::new(100, "Invalid verification code format.").invalid_code_header();
        let code = self.codes.get_mut(code_text).ok_or_else(invalid)?;
        if code.app_id != app_id || code.revoked {
            return Err(invalid());
        }
        if code.used {
            return Err(
                GraphError::new(100, "This authorization code has been used.")
                    .subcode(36009)
                    .invalid_code_header(),
            );
        }
        if now >= code.issued_at + CODE_TTL {
            return Err(GraphError::new(100, "This authorization code has expired.")
                .subcode(36007)
                .invalid_code_header());
        }
        if code.redirect_uri != redirect_uri {
            return Err(GraphError::new(
                100,
                "Error validating verification code. Please make sure your redirect_uri is \
                 identical to the one you used in the OAuth dialog request",
            )
            .subcode(36008)
            .invalid_code_header());
        }
        code.used = true;
        let user_id = code.user_id.clone();
        let (scopes, pages) = self.granted(&app_id, &user_id);
        let (token, lifetime) = self.mint_user_token(&app_id, &user_id, false, scopes, pages);
        Ok(json!({ "access_token": token, "token_type": "bearer", "expires_in": lifetime }))
    }

    fn exchange_for_long_lived(&mut self, incoming: &Incoming) -> Result<Value, GraphError> {
        let app_id = self.client(incoming)?;
        let token = incoming
            .non_empty("fb_exchange_token")
            .ok_or_else(|| GraphError::new(100, "Missing fb_exchange_token parameter."))?;
        let entry = match self.check(token)? {
            Caller::Token(_, entry) if entry.page_id.is_none() => entry,
            _ => {
                return Err(GraphError::new(
                    100,
                    "fb_exchange_token must be a user access token.",
                ));
            }
        };
        if entry.app_id != app_id {
            return Err(GraphError::new(
                190,
                "Error validating access token: the token was not issued to this app.",
            ));
        }
        let (token, lifetime) =
            self.mint_user_token(&app_id, &entry.user_id, true, entry.scopes, entry.pages);
        let mut body = json!({ "access_token": token, "token_type": "bearer" });
        if let Some(expires_in) = lifetime {
            body["expires_in"] = json!(expires_in);
        }
        Ok(body)
    }

    /// The scopes and Page selection the user has granted the app.
    fn granted(&self, app_id: &str, user_id: &str) -> (Vec<String>, Option<Vec<String>>) {
        self.grants
            .get(&(app_id.to_owned(), user_id.to_owned()))
            .map(|g| (g.scopes.iter().cloned().collect(), g.pages.clone()))
            .unwrap_or_default()
    }

    /// `GET /debug_token?input_token=…&access_token=<app token or a user token of the app>`.
    pub(crate) fn debug_token(&self, incoming: &Incoming) -> Result<Value, GraphError> {
        let needs_app_token = || {
            GraphError::new(
                100,
                "(#100) You must provide an app access token, or a user access token that is an \
                 owner or developer of the app",
            )
        };
        let caller_app = match incoming.access_token().map(|t| self.check(t)) {
            None => return Err(needs_app_token()),
            Some(Err(error)) => return Err(error),
            Some(Ok(Caller::App(app))) => app,
            Some(Ok(Caller::Token(_, entry))) => entry.app_id,
        };
        let input = incoming
            .non_empty("input_token")
            .ok_or_else(|| GraphError::new(100, "(#100) The parameter input_token is required"))?;
        let application = self
            .apps
            .get(&caller_app)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        if let Some(Ok(app)) = self.app_of_app_token(input) {
            if app != caller_app {
                return Err(app_mismatch());
            }
            return Ok(json!({ "data": {
                "app_id": app, "type": "APP", "application": application, "is_valid": true
            }}));
        }
        let Some(entry) = self.tokens.get(input) else {
            return Ok(json!({ "data": {
                "error": { "code": 190,
                    "message": "Invalid OAuth access token - Cannot parse access token" },
                "is_valid": false,
                "scopes": []
            }}));
        };
        if entry.app_id != caller_app {
            return Err(app_mismatch());
        }
        Ok(json!({ "data": self.describe(entry, &application) }))
    }

    fn describe(&self, entry: &TokenEntry, application: &str) -> Value {
        let mut data = json!({
            "app_id": entry.app_id,
            "type": if entry.page_id.is_some() { "PAGE" } else { "USER" },
            "application": application,
            "data_access_expires_at": entry.issued_at + DATA_ACCESS_TTL,
            "expires_at": entry.expires_at.unwrap_or(0),
            "is_valid": true,
            "issued_at": entry.issued_at,
            "scopes": entry.scopes,
            "granular_scopes": self.granular_scopes(entry),
            "user_id": entry.user_id,
        });
        if let Some(page_id) = &entry.page_id {
            data["profile_id"] = json!(page_id);
        }
        if let Err(error) = self.alive(entry) {
            data["is_valid"] = json!(false);
            let mut detail = json!({ "code": error.code, "message": error.message });
            if let Some(subcode) = error.subcode {
                detail["subcode"] = json!(subcode);
            }
            data["error"] = detail;
        }
        data
    }

    fn granular_scopes(&self, entry: &TokenEntry) -> Vec<Value> {
        let pages = entry.pages.clone().unwrap_or_else(|| {
            self.users
                .get(&entry.user_id)
                .map(|u| u.pages.clone())
                .unwrap_or_default()
        });
        let instagram: Vec<String> = pages
            .iter()
            .filter_map(|p| {
                self.pages
                    .get(p)?
                    .instagram
                    .as_ref()
                    .map(|ig| ig.id.clone())
            })
            .collect();
        entry
            .scopes
            .iter()
            .map(|scope| {
                if PAGE_SCOPES.contains(&scope.as_str()) {
                    json!({ "scope": scope, "target_ids": pages })
                } else if scope.starts_with("instagram_") {
                    json!({ "scope": scope, "target_ids": instagram })
                } else {
                    json!({ "scope": scope })
                }
            })
            .collect()
    }
}

fn app_mismatch() -> GraphError {
    GraphError::new(
        100,
        "(#100) The App_id in the input_token did not match the Viewing App",
    )
}
