//! The Graph host: routing, token checks and the nodes and edges the connectors read —
//! `/me`, `/{user-id}`, `/{page-id}`, `/{ig-user-id}`, `/me/accounts`,
//! `/me/permissions` (GET and DELETE) — plus the OAuth endpoints in `oauth.rs`.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::fields::{self, Field};
use crate::graph_error::GraphError;
use crate::log::split_version;
use crate::meta::model::{FacebookPage, FacebookUser, InstagramAccount};
use crate::meta::state::{Caller, MetaState, TokenEntry};
use crate::wire::{Incoming, Reply, encode};

/// Default page size of edges such as `/me/accounts`.
const DEFAULT_LIMIT: usize = 25;
/// Fields `/me/accounts` returns when none are asked for.
const ACCOUNTS_DEFAULT_FIELDS: &[&str] = &[
    "access_token",
    "category",
    "category_list",
    "name",
    "id",
    "tasks",
];

impl MetaState {
    /// The Graph host's HTTP answer.
    pub(crate) fn graph_http(&mut self, incoming: &Incoming) -> Reply {
        match self.route(incoming) {
            Ok(value) => self.ok(&value),
            Err(error) => error.reply(&mut self.minter),
        }
    }

    fn ok(&mut self, value: &Value) -> Reply {
        Reply::json(StatusCode::OK, value)
            .with_header("x-fb-trace-id", self.minter.url_safe("", 11))
            .with_header(
                "x-app-usage",
                r#"{"call_count":1,"total_cputime":1,"total_time":1}"#,
            )
    }

    fn route(&mut self, incoming: &Incoming) -> Result<Value, GraphError> {
        let (version, path) = split_version(&incoming.path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = &incoming.method;
        let verb = method.as_str().to_ascii_lowercase();
        match (method, segments.as_slice()) {
            // Graph takes the token exchange as GET (documented) or POST (form).
            (&Method::GET | &Method::POST, ["oauth", "access_token"]) => {
                self.access_token(incoming)
            }
            (&Method::GET, ["debug_token"]) => self.debug_token(incoming),
            (_, ["oauth", ..] | ["dialog", ..] | [""]) => {
                Err(GraphError::no_such_object(segments[0], &verb))
            }
            (&Method::GET, [id]) => {
                let caller = self.authenticate(incoming)?;
                self.node(&caller, id, incoming)
            }
            (&Method::GET, [id, "accounts"]) => {
                let caller = self.authenticate(incoming)?;
                self.accounts(&caller, id, incoming, version.as_deref())
            }
            (&Method::GET, [id, "permissions"]) => {
                let caller = self.authenticate(incoming)?;
                let entry = self.own_user_token(&caller, id, &verb)?;
                Ok(self.permissions(&entry))
            }
            (&Method::DELETE, [id, "permissions"]) => {
                let caller = self.authenticate(incoming)?;
                let entry = self.own_user_token(&caller, id, &verb)?;
                self.remove_app_for_user(&entry.app_id, &entry.user_id, 458);
                Ok(json!({ "success": true }))
            }
            (&Method::DELETE, [id, "permissions", permission]) => {
                let caller = self.authenticate(incoming)?;
                let entry = self.own_user_token(&caller, id, &verb)?;
                self.revoke_permission(&entry, permission);
                Ok(json!({ "success": true }))
            }
            _ => Err(GraphError::no_such_object(segments[0], &verb)),
        }
    }

    /// Checks the token (and `appsecret_proof`, when sent) of an API call.
    fn authenticate(&self, incoming: &Incoming) -> Result<Caller, GraphError> {
        let token = incoming
            .access_token()
            .ok_or_else(GraphError::token_missing)?;
        let caller = self.check(token)?;
        if let (Some(proof), Caller::Token(_, entry)) = (incoming.param("appsecret_proof"), &caller)
        {
            let secret = self
                .apps
                .get(&entry.app_id)
                .map(|a| a.secret.as_str())
                .unwrap_or_default();
            if proof != appsecret_proof(secret, token) {
                return Err(GraphError::new(
                    100,
                    "Invalid appsecret_proof provided in the API argument",
                )
                .kind("GraphMethodException"));
            }
        }
        Ok(caller)
    }

    /// The caller's user token, when `id` is `me` or the caller's own user id (the
    /// `permissions` edge exists on users only).
    fn own_user_token(
        &self,
        caller: &Caller,
        id: &str,
        verb: &str,
    ) -> Result<TokenEntry, GraphError> {
        match caller {
            Caller::Token(_, entry) if entry.page_id.is_some() && id == "me" => {
                Err(GraphError::no_such_field("permissions", "Page"))
            }
            Caller::Token(_, entry)
                if entry.page_id.is_none() && (id == "me" || id == entry.user_id) =>
            {
                Ok(entry.clone())
            }
            Caller::App(_) if id == "me" => Err(current_user_needed()),
            _ => Err(GraphError::no_such_object(id, verb)),
        }
    }

    fn node(
        &mut self,
        caller: &Caller,
        id: &str,
        incoming: &Incoming,
    ) -> Result<Value, GraphError> {
        let requested = requested_fields(incoming)?;
        let (token, entry) = match caller {
            Caller::App(_) if id == "me" => return Err(current_user_needed()),
            Caller::App(_) => return Err(GraphError::no_such_object(id, "get")),
            Caller::Token(token, entry) => (token.clone(), entry.clone()),
        };
        let pages = self.visible_pages(&entry);
        let page_id = match (id, &entry.page_id) {
            ("me", Some(page_id)) => Some(page_id.clone()),
            ("me", None) => None,
            _ => pages.iter().find(|p| p.as_str() == id).cloned(),
        };
        if let Some(page_id) = page_id {
            let fields = requested.unwrap_or_else(|| fields::plain(&["id", "name"]));
            return self.page_value(&token, &entry, &page_id, &fields);
        }
        if id == "me" || id == entry.user_id {
            let user = self
                .users
                .get(&entry.user_id)
                .map(|u| u.user.clone())
                .ok_or_else(|| GraphError::no_such_object(id, "get"))?;
            let fields = requested.unwrap_or_else(|| fields::plain(&["id", "name"]));
            return user_value(&user, &fields);
        }
        let instagram = pages
            .iter()
            .filter_map(|p| self.pages.get(p)?.instagram.clone())
            .find(|ig| ig.id == id);
        match instagram {
            Some(ig) => instagram_value(&ig, &requested.unwrap_or_else(|| fields::plain(&["id"]))),
            None => Err(GraphError::no_such_object(id, "get")),
        }
    }

    fn page_value(
        &mut self,
        token: &str,
        entry: &TokenEntry,
        page_id: &str,
        fields: &[Field],
    ) -> Result<Value, GraphError> {
        let page = self
            .pages
            .get(page_id)
            .cloned()
            .ok_or_else(|| GraphError::no_such_object(page_id, "get"))?;
        let page_token = if !fields.iter().any(|f| f.name == "access_token") {
            None
        } else if entry.page_id.is_some() {
            Some(token.to_owned())
        } else {
            self.page_token_for(token, page_id)
        };
        page_json(&page, page_token.as_deref(), fields)
    }

    fn accounts(
        &mut self,
        caller: &Caller,
        id: &str,
        incoming: &Incoming,
        version: Option<&str>,
    ) -> Result<Value, GraphError> {
        let (token, entry) = match caller {
            Caller::Token(_, entry) if entry.page_id.is_some() => {
                return Err(GraphError::no_such_field("accounts", "Page"));
            }
            Caller::Token(token, entry) if id == "me" || id == entry.user_id => {
                (token.clone(), entry.clone())
            }
            Caller::App(_) if id == "me" => return Err(current_user_needed()),
            _ => return Err(GraphError::no_such_object(id, "get")),
        };
        let fields =
            requested_fields(incoming)?.unwrap_or_else(|| fields::plain(ACCOUNTS_DEFAULT_FIELDS));
        let limit = match incoming.non_empty("limit") {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| GraphError::new(100, "(#100) Param limit must be a number"))?,
        };
        let size = self
            .settings
            .accounts_page_cap
            .map_or(limit, |cap| limit.min(cap.max(1)));
        let pages = self.visible_pages(&entry);
        let start = match (incoming.non_empty("after"), incoming.non_empty("before")) {
            (Some(after), _) => position(&pages, after)? + 1,
            (None, Some(before)) => position(&pages, before)?.saturating_sub(size),
            (None, None) => 0,
        };
        let end = match (incoming.non_empty("after"), incoming.non_empty("before")) {
            (None, Some(before)) => position(&pages, before)?,
            _ => (start + size).min(pages.len()),
        };
        let window: Vec<String> = pages[start.min(end)..end].to_vec();
        let mut data = Vec::with_capacity(window.len());
        for page_id in &window {
            data.push(self.page_value(&token, &entry, page_id, &fields)?);
        }
        let mut body = json!({ "data": data });
        if let (Some(first), Some(last)) = (window.first(), window.last()) {
            let mut paging =
                json!({ "cursors": { "before": cursor(first), "after": cursor(last) } });
            let edge = |direction: &str, at: &str| {
                let version = version.map(|v| format!("/{v}")).unwrap_or_default();
                let mut url = format!(
                    "{}{version}/{}/accounts?access_token={}",
                    self.graph_base,
                    entry.user_id,
                    encode(&token)
                );
                if let Some(fields) = incoming.param("fields") {
                    url.push_str(&format!("&fields={}", encode(fields)));
                }
                url.push_str(&format!("&limit={limit}&{direction}={}", cursor(at)));
                url
            };
            if end < pages.len() {
                paging["next"] = json!(edge("after", last));
            }
            if start > 0 {
                paging["previous"] = json!(edge("before", first));
            }
            body["paging"] = paging;
        }
        Ok(body)
    }

    fn permissions(&self, entry: &TokenEntry) -> Value {
        let grant = self
            .grants
            .get(&(entry.app_id.clone(), entry.user_id.clone()));
        let mut data: Vec<Value> = entry
            .scopes
            .iter()
            .map(|p| json!({ "permission": p, "status": "granted" }))
            .collect();
        if let Some(grant) = grant {
            data.extend(
                grant
                    .declined
                    .iter()
                    .map(|p| json!({ "permission": p, "status": "declined" })),
            );
        }
        json!({ "data": data })
    }

    fn revoke_permission(&mut self, entry: &TokenEntry, permission: &str) {
        let key = (entry.app_id.clone(), entry.user_id.clone());
        if let Some(grant) = self.grants.get_mut(&key) {
            grant.scopes.remove(permission);
            grant.declined.insert(permission.to_owned());
        }
        for token in self.tokens.values_mut() {
            if token.app_id == entry.app_id && token.user_id == entry.user_id {
                token.scopes.retain(|s| s != permission);
            }
        }
    }
}

/// `appsecret_proof` for `token`: hex HMAC-SHA256 of the token keyed with the app secret
/// (what a client sends, and what the double checks when a request carries one).
pub fn appsecret_proof(secret: &str, token: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn current_user_needed() -> GraphError {
    GraphError::new(
        2500,
        "An active access token must be used to query information about the current user.",
    )
}

fn requested_fields(incoming: &Incoming) -> Result<Option<Vec<Field>>, GraphError> {
    match incoming.non_empty("fields") {
        None => Ok(None),
        Some(text) => fields::parse(text)
            .map(Some)
            .map_err(|message| GraphError::new(2500, message)),
    }
}

fn cursor(page_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("page:{page_id}"))
}

fn position(pages: &[String], cursor_text: &str) -> Result<usize, GraphError> {
    let invalid = || GraphError::new(100, "(#100) The parameter cursor is invalid");
    let decoded = URL_SAFE_NO_PAD.decode(cursor_text).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let page_id = text.strip_prefix("page:").ok_or_else(invalid)?;
    pages.iter().position(|p| p == page_id).ok_or_else(invalid)
}

/// `picture` of a user or Page: `{"data":{"height","is_silhouette","url","width"}}`.
fn picture_value(url: Option<&str>, field: &Field, node: &str) -> Result<Value, GraphError> {
    let full = json!({
        "height": 50,
        "is_silhouette": url.is_none(),
        "url": url.unwrap_or("https://pictures.example/silhouette.png"),
        "width": 50,
    });
    let Some(sub) = &field.sub else {
        return Ok(json!({ "data": full }));
    };
    let mut data = Map::new();
    for f in sub.iter().filter(|f| f.name != "data") {
        let value = full.get(&f.name).ok_or_else(|| {
            GraphError::no_such_field(&f.name, &format!("{node}ProfilePictureSource"))
        })?;
        data.insert(f.name.clone(), value.clone());
    }
    Ok(json!({ "data": data }))
}

fn user_value(user: &FacebookUser, fields: &[Field]) -> Result<Value, GraphError> {
    let mut out = Map::new();
    for field in fields {
        let value = match field.name.as_str() {
            "id" => json!(user.id),
            "name" => json!(user.name),
            "picture" => picture_value(user.picture_url.as_deref(), field, "")?,
            "email" => match &user.email {
                Some(email) => json!(email),
                None => continue,
            },
            other => return Err(GraphError::no_such_field(other, "User")),
        };
        out.insert(field.name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn page_json(
    page: &FacebookPage,
    page_token: Option<&str>,
    fields: &[Field],
) -> Result<Value, GraphError> {
    let mut out = Map::new();
    for field in fields {
        let value = match field.name.as_str() {
            "id" => json!(page.id),
            "name" => json!(page.name),
            "access_token" => match page_token {
                Some(token) => json!(token),
                None => continue,
            },
            "category" => json!(page.category),
            "category_list" => json!([{ "id": "2201", "name": page.category }]),
            "tasks" => json!(page.tasks),
            "link" => json!(page.link),
            "username" => match &page.username {
                Some(username) => json!(username),
                None => continue,
            },
            "picture" => picture_value(page.picture_url.as_deref(), field, "Page")?,
            "fan_count" | "followers_count" => json!(page.followers),
            "instagram_business_account" => match &page.instagram {
                Some(ig) => instagram_value(ig, &field.sub_or(&["id"]))?,
                None => continue,
            },
            other => return Err(GraphError::no_such_field(other, "Page")),
        };
        out.insert(field.name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn instagram_value(ig: &InstagramAccount, fields: &[Field]) -> Result<Value, GraphError> {
    let mut out = Map::new();
    let optional = |value: &Option<String>| value.as_ref().map(|v| json!(v));
    for field in fields {
        let value = match field.name.as_str() {
            "id" => Some(json!(ig.id)),
            "username" => Some(json!(ig.username)),
            "name" => optional(&ig.name),
            "profile_picture_url" => optional(&ig.profile_picture_url),
            "biography" => optional(&ig.biography),
            "followers_count" => Some(json!(ig.followers_count)),
            "media_count" => Some(json!(ig.media_count)),
            other => return Err(GraphError::no_such_field(other, "IGUser")),
        };
        if let Some(value) = value {
            out.insert(field.name.clone(), value);
        }
    }
    Ok(Value::Object(out))
}
