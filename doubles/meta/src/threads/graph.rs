//! The Threads API host (`graph.threads.net`): `POST /oauth/access_token` (flat errors),
//! `GET /access_token` (`th_exchange_token`), `GET /refresh_access_token`
//! (`th_refresh_token`) and `GET /v1.0/me` (Graph errors).

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::fields::{self, Field};
use crate::graph_error::{GraphError, flat_token_error};
use crate::log::split_version;
use crate::threads::model::ThreadsUser;
use crate::threads::state::{CODE_TTL, REFRESH_MIN_AGE, ThreadsState, TokenEntry};
use crate::wire::{Incoming, Reply};

/// The text of the flat error for an unknown, used or expired code.
const CODE_NOT_FOUND: &str = "Matching code was not found or was already used";

/// A failed request: either shape.
enum Failure {
    Flat(String),
    Graph(GraphError),
}

impl From<GraphError> for Failure {
    fn from(error: GraphError) -> Self {
        Self::Graph(error)
    }
}

impl ThreadsState {
    /// The API host's HTTP answer.
    pub(crate) fn graph_http(&mut self, incoming: &Incoming) -> Reply {
        match self.route(incoming) {
            Ok(reply) => reply,
            Err(Failure::Flat(message)) => flat_token_error(&message),
            Err(Failure::Graph(error)) => error.reply(&mut self.minter),
        }
    }

    fn route(&mut self, incoming: &Incoming) -> Result<Reply, Failure> {
        let (version, path) = split_version(&incoming.path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let verb = incoming.method.as_str().to_ascii_lowercase();
        let versioned = version.as_deref().is_none_or(|v| v == "v1.0");
        match (&incoming.method, segments.as_slice(), version.is_some()) {
            (&Method::POST, ["oauth", "access_token"], false) => self.exchange_code(incoming),
            (&Method::GET, ["oauth", "access_token"], false) => self.app_token(incoming),
            (&Method::GET, ["access_token"], false) => self.exchange_for_long_lived(incoming),
            (&Method::GET, ["refresh_access_token"], false) => self.refresh(incoming),
            (&Method::GET, [id], _) if versioned && *id != "oauth" => {
                let entry = self.authenticate(incoming)?;
                let user = self.own_user(&entry, id)?;
                let fields = match incoming.non_empty("fields") {
                    None => fields::plain(&["id"]),
                    Some(text) => fields::parse(text).map_err(|m| GraphError::new(2500, m))?,
                };
                Ok(Reply::json(StatusCode::OK, &user_value(&user, &fields)?))
            }
            (&Method::GET, [id, "threads_publishing_limit"], _) if versioned => {
                let entry = self.authenticate(incoming)?;
                self.own_user(&entry, id)?;
                let limit = json!({ "data": [{
                    "quota_usage": 0,
                    "config": { "quota_total": 250, "quota_duration": 86_400 }
                }]});
                Ok(Reply::json(StatusCode::OK, &limit))
            }
            _ => Err(GraphError::no_such_object(segments[0], &verb).into()),
        }
    }

    /// The token of an API call, alive and with `threads_basic`.
    fn authenticate(&self, incoming: &Incoming) -> Result<TokenEntry, GraphError> {
        let token = incoming
            .access_token()
            .ok_or_else(GraphError::token_missing)?;
        let entry = self.check(token)?;
        if !entry.scopes.iter().any(|s| s == "threads_basic") {
            return Err(permission_missing());
        }
        Ok(entry)
    }

    fn own_user(&self, entry: &TokenEntry, id: &str) -> Result<ThreadsUser, GraphError> {
        if id != "me" && id != entry.user_id {
            return Err(GraphError::no_such_object(id, "get"));
        }
        self.users
            .get(&entry.user_id)
            .cloned()
            .ok_or_else(GraphError::resource_missing)
    }

    /// The app of a token-endpoint request, checked with its secret (flat errors).
    fn client(&self, incoming: &Incoming) -> Result<String, Failure> {
        let app = incoming
            .non_empty("client_id")
            .and_then(|id| self.apps.get(id))
            .ok_or_else(|| Failure::Flat("Invalid platform app".to_owned()))?;
        if incoming.param("client_secret") != Some(app.secret.as_str()) {
            return Err(Failure::Flat("Error validating client secret.".to_owned()));
        }
        Ok(app.id.clone())
    }

    /// `POST /oauth/access_token` with `grant_type=authorization_code`.
    fn exchange_code(&mut self, incoming: &Incoming) -> Result<Reply, Failure> {
        if incoming.param("grant_type") == Some("client_credentials") {
            return self.app_token(incoming);
        }
        let app_id = self.client(incoming)?;
        if incoming.param("grant_type") != Some("authorization_code") {
            return Err(Failure::Flat(
                "Invalid grant_type: use authorization_code".to_owned(),
            ));
        }
        let redirect_uri = incoming
            .non_empty("redirect_uri")
            .ok_or_else(|| Failure::Flat("Missing required parameter: redirect_uri".to_owned()))?;
        let now = self.now();
        let not_found = || Failure::Flat(CODE_NOT_FOUND.to_owned());
        let code = incoming
            .non_empty("code")
            .and_then(|c| self.codes.get_mut(c))
            .ok_or_else(not_found)?;
        if code.app_id != app_id || code.used || now >= code.issued_at + CODE_TTL {
            return Err(not_found());
        }
        if code.redirect_uri != redirect_uri {
            return Err(Failure::Flat(
                "Error validating verification code. Please make sure your redirect_uri is \
                 identical to the one you used in the OAuth dialog request"
                    .to_owned(),
            ));
        }
        code.used = true;
        let (user_id, scopes) = (code.user_id.clone(), code.scopes.clone());
        let (token, _) = self.mint_token(&app_id, &user_id, false, scopes);
        // `user_id` goes out as a JSON number, digit for digit, even above 2^53.
        let body = format!(
            "{{\"access_token\":{},\"user_id\":{user_id}}}",
            Value::String(token)
        );
        Ok(Reply::json_text(StatusCode::OK, body))
    }

    /// `GET|POST /oauth/access_token?grant_type=client_credentials`: an app token.
    fn app_token(&mut self, incoming: &Incoming) -> Result<Reply, Failure> {
        if incoming.param("grant_type") != Some("client_credentials") {
            return Err(Failure::Flat(
                "Unsupported request: exchange authorization codes with POST".to_owned(),
            ));
        }
        let app_id = self.client(incoming)?;
        let token = self.minter.alphanumeric(&format!("TH|{app_id}|"), 27);
        self.app_tokens.insert(token.clone(), app_id);
        let body = json!({ "access_token": token, "token_type": "bearer" });
        Ok(Reply::json(StatusCode::OK, &body))
    }

    /// `GET /access_token?grant_type=th_exchange_token&client_secret=…&access_token=…`.
    fn exchange_for_long_lived(&mut self, incoming: &Incoming) -> Result<Reply, Failure> {
        if incoming.param("grant_type") != Some("th_exchange_token") {
            return Err(unsupported_grant(incoming).into());
        }
        let token = incoming
            .access_token()
            .ok_or_else(GraphError::token_missing)?;
        let entry = self.check(token)?;
        let secret_ok = self
            .apps
            .get(&entry.app_id)
            .is_some_and(|app| incoming.param("client_secret") == Some(app.secret.as_str()));
        if !secret_ok {
            return Err(GraphError::new(1, "Error validating client secret.").into());
        }
        if entry.long_lived {
            return Err(GraphError::new(
                100,
                "(#100) th_exchange_token needs a short-lived access token",
            )
            .into());
        }
        let (token, lifetime) = self.mint_token(&entry.app_id, &entry.user_id, true, entry.scopes);
        Ok(token_answer(&token, lifetime))
    }

    /// `GET /refresh_access_token?grant_type=th_refresh_token&access_token=…`.
    fn refresh(&mut self, incoming: &Incoming) -> Result<Reply, Failure> {
        if incoming.param("grant_type") != Some("th_refresh_token") {
            return Err(unsupported_grant(incoming).into());
        }
        let token = incoming
            .access_token()
            .ok_or_else(GraphError::token_missing)?;
        let entry = self.check(token)?;
        if !entry.long_lived {
            return Err(GraphError::new(
                100,
                "(#100) Only long-lived access tokens can be refreshed",
            )
            .into());
        }
        if !entry.scopes.iter().any(|s| s == "threads_basic") {
            return Err(permission_missing().into());
        }
        if self.now() - entry.issued_at < REFRESH_MIN_AGE {
            return Err(GraphError::new(
                100,
                "(#100) The access token is too young to be refreshed: long-lived tokens can be \
                 refreshed once they are at least 24 hours old",
            )
            .into());
        }
        let (token, lifetime) = self.mint_token(&entry.app_id, &entry.user_id, true, entry.scopes);
        Ok(token_answer(&token, lifetime))
    }
}

fn token_answer(token: &str, lifetime: i64) -> Reply {
    let body = json!({ "access_token": token, "token_type": "bearer", "expires_in": lifetime });
    Reply::json(StatusCode::OK, &body)
}

fn unsupported_grant(incoming: &Incoming) -> GraphError {
    GraphError::new(
        100,
        format!(
            "Unsupported grant_type: {}",
            incoming.param("grant_type").unwrap_or("(none)")
        ),
    )
}

fn permission_missing() -> GraphError {
    GraphError::new(
        10,
        "(#10) Application does not have permission for this action",
    )
}

fn user_value(user: &ThreadsUser, fields: &[Field]) -> Result<Value, GraphError> {
    let mut out = Map::new();
    let optional = |value: &Option<String>| value.as_ref().map(|v| json!(v));
    for field in fields {
        let value = match field.name.as_str() {
            "id" => Some(json!(user.id)),
            "username" => Some(json!(user.username)),
            "name" => optional(&user.name),
            "threads_profile_picture_url" => optional(&user.profile_picture_url),
            "threads_biography" => optional(&user.biography),
            "is_verified" => Some(json!(user.is_verified)),
            other => return Err(GraphError::no_such_field(other, "ThreadsUser")),
        };
        if let Some(value) = value {
            out.insert(field.name.clone(), value);
        }
    }
    Ok(Value::Object(out))
}
