//! The HTTP face of a connector: `/api/platform/<platform>/{connect,callback,refresh,
//! disconnect,status}`.
//!
//! | route | method | `data` of the answer |
//! |---|---|---|
//! | `connect` | `POST` + JSON (credentials) | `{"accounts": […]}` |
//! | `connect` | `GET` (redirect platforms) | `{"<redirect_field>": url}` |
//! | `callback` | `GET`, redirect platforms only, no bearer | none: `302` to the front end |
//! | `refresh` | `GET` | `{"accounts": […]}` |
//! | `disconnect` | `DELETE` | `{"removed", "revoked", "revocationProblem"}` |
//! | `status` | `GET` | `{"accounts": […]}` |
//!
//! Checks run in this order: route (`404`), method (`405` + `Allow`), bearer token (`401`),
//! body size (`413`), body syntax (`400`). Every JSON answer is the envelope of
//! `envelope.rs`; `callback` answers only redirects.

use serde_json::{Value, json};

use crate::auth::{UserId, authenticate};
use crate::callback::{CallbackQuery, redirect_location};
use crate::connector::{BeginOutcome, Connector, Credentials, DisconnectOutcome, Platform};
use crate::env::Env;
use crate::envelope;
use crate::error::{ApiError, FieldErrors};
use crate::http::{BODY_LIMIT, HttpRequest, HttpResponse, RequestBody};
use crate::secret::Password;

/// Longest identifier accepted in a credentials body, before platform checks.
const MAX_IDENTIFIER_LEN: usize = 512;
/// Longest password accepted in a credentials body.
const MAX_PASSWORD_LEN: usize = 256;

/// The operations reachable over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `connect`
    Connect,
    /// `callback`
    Callback,
    /// `refresh`
    Refresh,
    /// `disconnect`
    Disconnect,
    /// `status`
    Status,
}

impl Action {
    /// The method this action accepts on `platform`.
    pub fn method(self, platform: &Platform) -> &'static str {
        match self {
            Self::Connect if platform.auth.is_redirect() => "GET",
            Self::Connect => "POST",
            Self::Callback | Self::Refresh | Self::Status => "GET",
            Self::Disconnect => "DELETE",
        }
    }
}

/// The action `path` names on `platform` (one trailing slash tolerated).
pub fn route(platform: &Platform, path: &str) -> Option<Action> {
    let rest = path
        .strip_prefix("/api/platform/")?
        .strip_prefix(platform.id)?;
    let rest = rest.strip_prefix('/')?;
    let name = rest.strip_suffix('/').unwrap_or(rest);
    match name {
        "connect" => Some(Action::Connect),
        "callback" if platform.auth.is_redirect() => Some(Action::Callback),
        "refresh" => Some(Action::Refresh),
        "disconnect" => Some(Action::Disconnect),
        "status" => Some(Action::Status),
        _ => None,
    }
}

/// Serves one HTTP request with connector `C`.
pub fn serve<C: Connector>(env: &Env, request: &HttpRequest) -> HttpResponse {
    let platform = C::PLATFORM;
    let response = match dispatch::<C>(env, request) {
        Ok(response) => response,
        Err(error) => {
            log_failure(&platform, request, &error);
            envelope::failure(&error)
        }
    };
    // The host logs every request line; this is the component's view, for debugging.
    tracing::debug!(
        platform = platform.id,
        method = %request.method,
        path = %request.path,
        status = response.status,
        "request"
    );
    response
}

fn dispatch<C: Connector>(env: &Env, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let platform = C::PLATFORM;
    let action = route(&platform, &request.path).ok_or(ApiError::NotFound)?;
    let allowed = action.method(&platform);
    if request.method != allowed {
        return Err(ApiError::MethodNotAllowed {
            allow: allowed.to_owned(),
        });
    }
    if action == Action::Callback {
        return callback::<C>(env, request);
    }

    let secret = env.config.access_token_secret()?;
    let now = u64::try_from(env.now().unix()).unwrap_or(0);
    let user = authenticate(request.header("authorization"), &secret, now)?;
    let body = match &request.body {
        RequestBody::Complete(body) => body.as_slice(),
        RequestBody::TooLarge => return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT }),
    };

    match action {
        Action::Connect => connect::<C>(env, &user, body),
        Action::Refresh => {
            let accounts = C::refresh(env, &user)?;
            let message = format!("{} account refreshed.", platform.name);
            Ok(envelope::success(&message, json!({ "accounts": accounts })))
        }
        Action::Disconnect => {
            let outcome = C::disconnect(env, &user)?;
            Ok(disconnected(&platform, &outcome))
        }
        Action::Status => {
            let accounts = C::status(env, &user)?;
            let message = if accounts.is_empty() {
                format!("No {} account is connected.", platform.name)
            } else {
                format!("{} account status.", platform.name)
            };
            Ok(envelope::success(&message, json!({ "accounts": accounts })))
        }
        Action::Callback => Err(ApiError::NotFound),
    }
}

fn connect<C: Connector>(env: &Env, user: &UserId, body: &[u8]) -> Result<HttpResponse, ApiError> {
    let platform = C::PLATFORM;
    let credentials = if platform.auth.is_redirect() {
        None
    } else {
        Some(parse_credentials(body)?)
    };
    match C::begin(env, user, credentials)? {
        BeginOutcome::Connected(accounts) => {
            let message = format!("{} account connected.", platform.name);
            Ok(envelope::success(&message, json!({ "accounts": accounts })))
        }
        BeginOutcome::Redirect(url) => {
            let message = format!(
                "Open this address to let Hayon use your {} account.",
                platform.name
            );
            let mut data = serde_json::Map::new();
            data.insert(platform.redirect_field.to_owned(), Value::String(url));
            Ok(envelope::success(&message, Value::Object(data)))
        }
    }
}

/// Reads `{"identifier": "…", "appPassword": "…"}`, listing every problem at once.
pub fn parse_credentials(body: &[u8]) -> Result<Credentials, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::ValidationFailed {
        message: "The request body must be a JSON object with identifier and appPassword.".into(),
        fields: FieldErrors::new(),
    })?;
    let Value::Object(object) = value else {
        return Err(ApiError::ValidationFailed {
            message: "The request body must be a JSON object with identifier and appPassword."
                .into(),
            fields: FieldErrors::new(),
        });
    };

    let mut fields = FieldErrors::new();
    let mut text = |name: &str, missing: &str, max: usize| -> Option<String> {
        match object.get(name) {
            Some(Value::String(value)) if value.trim().is_empty() => {
                fields.entry(name.into()).or_default().push(missing.into());
                None
            }
            Some(Value::String(value)) if value.chars().count() > max => {
                let message = format!("This is too long (at most {max} characters).");
                fields.entry(name.into()).or_default().push(message);
                None
            }
            Some(Value::String(value)) => Some(value.clone()),
            Some(_) => {
                fields
                    .entry(name.into())
                    .or_default()
                    .push("This must be a string.".into());
                None
            }
            None => {
                fields.entry(name.into()).or_default().push(missing.into());
                None
            }
        }
    };
    let identifier = text(
        "identifier",
        "Enter your handle (like alice.bsky.social), e-mail address or DID.",
        MAX_IDENTIFIER_LEN,
    );
    let password = text(
        "appPassword",
        "Enter an App Password (create one in your account's settings under App Passwords).",
        MAX_PASSWORD_LEN,
    );
    match (identifier, password) {
        (Some(identifier), Some(password)) if fields.is_empty() => Ok(Credentials {
            identifier,
            password: Password::new(password),
        }),
        _ => Err(ApiError::ValidationFailed {
            message: "Some fields are missing or invalid.".into(),
            fields,
        }),
    }
}

fn disconnected(platform: &Platform, outcome: &DisconnectOutcome) -> HttpResponse {
    let message = match (&outcome.revocation_problem, outcome.removed) {
        (_, 0) => format!("No {} account was connected.", platform.name),
        (Some(problem), _) => format!(
            "{} account disconnected here, but {} did not confirm ending Hayon's access: \
             {problem}",
            platform.name, platform.name
        ),
        (None, _) => format!("{} account disconnected.", platform.name),
    };
    let data = json!({
        "removed": outcome.removed,
        "revoked": outcome.revoked,
        "revocationProblem": outcome.revocation_problem,
    });
    envelope::success(&message, data)
}

fn callback<C: Connector>(env: &Env, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let platform = C::PLATFORM;
    // Without a front-end address there is nowhere to send the browser: this is the one
    // case a callback answers with the (not_configured) envelope.
    let frontend = env.config.frontend_url()?;
    let query = CallbackQuery::parse(&request.query);
    let outcome = match C::complete(env, &query) {
        Ok(completion) => {
            tracing::info!(
                platform = platform.id,
                user = %completion.user,
                accounts = completion.accounts.len(),
                "connected"
            );
            Ok(())
        }
        Err(error) => {
            tracing::warn!(
                platform = platform.id,
                reason = error.reason.as_str(),
                message = %error.message,
                "callback failed"
            );
            Err(error.reason)
        }
    };
    Ok(HttpResponse::redirect(redirect_location(
        &frontend,
        platform.id,
        outcome,
    )))
}

fn log_failure(platform: &Platform, request: &HttpRequest, error: &ApiError) {
    let code = error.code();
    match error {
        ApiError::Internal { .. } => {
            tracing::error!(platform = platform.id, path = %request.path, code, %error, "failed");
        }
        // An unconfigured platform is the operator's to-do, not a fault: every click on it
        // would otherwise fill the error log.
        ApiError::NotConfigured { .. }
        | ApiError::UpstreamUnavailable { .. }
        | ApiError::RateLimited { .. } => {
            tracing::warn!(platform = platform.id, path = %request.path, code, %error, "failed");
        }
        _ => {
            tracing::info!(platform = platform.id, path = %request.path, code, "refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::account::{Account, AccountRecord, AccountStatus, AccountStore};
    use crate::callback::{CallbackError, CallbackReason};
    use crate::connector::{AuthKind, Completion};
    use crate::testing::TestEnv;
    use crate::time::Timestamp;

    thread_local! {
        static SEEN_PASSWORD: Cell<bool> = const { Cell::new(false) };
    }

    fn account() -> Account {
        Account {
            platform: "demo".into(),
            account_id: "42".into(),
            handle: "alice".into(),
            display_name: Some("Alice".into()),
            avatar: None,
            profile_url: None,
            connected_at: Timestamp::from_unix(0),
            refreshed_at: Timestamp::from_unix(0),
            expires_at: None,
            status: AccountStatus::Active,
        }
    }

    /// A credentials connector that stores one account.
    struct Demo;
    impl Connector for Demo {
        const PLATFORM: Platform = Platform {
            id: "demo",
            name: "Demo",
            auth: AuthKind::Credentials,
            account_platforms: &["demo"],
            redirect_field: "",
        };
        fn begin(
            env: &Env,
            user: &UserId,
            credentials: Option<Credentials>,
        ) -> Result<BeginOutcome, ApiError> {
            let credentials = credentials.ok_or_else(|| ApiError::internal("no credentials"))?;
            if credentials.password.expose_secret() != "right" {
                return Err(ApiError::InvalidCredentials {
                    message: "Wrong.".into(),
                });
            }
            SEEN_PASSWORD.with(|seen| seen.set(true));
            AccountStore::new(env, "demo", user).save(&[AccountRecord::new(account())])?;
            Ok(BeginOutcome::Connected(vec![account()]))
        }
        fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
            let views = AccountStore::new(env, "demo", user).views()?;
            if views.is_empty() {
                return Err(ApiError::NotConnected {
                    platform: "Demo".into(),
                });
            }
            Ok(views)
        }
        fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
            let store = AccountStore::new(env, "demo", user);
            let removed = u32::try_from(store.views()?.len()).unwrap_or(0);
            store.delete()?;
            Ok(DisconnectOutcome {
                removed,
                revoked: false,
                revocation_problem: Some("Demo said no.".into()),
            })
        }
    }

    /// A redirect connector whose callback succeeds when `code=good`.
    struct Redirecting;
    impl Connector for Redirecting {
        const PLATFORM: Platform = Platform {
            id: "oauthy",
            name: "OAuthy",
            auth: AuthKind::OAuth2,
            account_platforms: &["oauthy"],
            redirect_field: "url",
        };
        fn begin(
            _env: &Env,
            _user: &UserId,
            credentials: Option<Credentials>,
        ) -> Result<BeginOutcome, ApiError> {
            assert!(credentials.is_none());
            Ok(BeginOutcome::Redirect(
                "https://oauthy.example/authorize?state=s".into(),
            ))
        }
        fn complete(_env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
            match query.get("code") {
                Some("good") => Ok(Completion {
                    user: UserId::parse("u1").unwrap(),
                    accounts: vec![account()],
                }),
                Some(_) => Err(CallbackError::new(
                    CallbackReason::ConnectFailed,
                    "bad code",
                )),
                None => Err(CallbackError::new(CallbackReason::AuthFailed, "no code")),
            }
        }
        fn refresh(_env: &Env, _user: &UserId) -> Result<Vec<Account>, ApiError> {
            Err(ApiError::UpstreamUnavailable {
                message: "down".into(),
            })
        }
        fn disconnect(_env: &Env, _user: &UserId) -> Result<DisconnectOutcome, ApiError> {
            Ok(DisconnectOutcome {
                removed: 0,
                revoked: false,
                revocation_problem: None,
            })
        }
    }

    fn json_of(response: &HttpResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    fn connect_request(test: &TestEnv, body: &str) -> HttpRequest {
        HttpRequest::new("POST", "/api/platform/demo/connect")
            .with_header("Authorization", &test.bearer("u1"))
            .with_body(body)
    }

    #[test]
    fn unknown_routes_are_404_envelopes() {
        let test = TestEnv::new();
        for path in [
            "/api/platform/demo/nope",
            "/api/platform/demo",
            "/api/platform/other/status",
            "/api/platform/demoX/status",
            "/api/platform/demo/callback",
        ] {
            let response = serve::<Demo>(&test.env(), &HttpRequest::new("GET", path));
            assert_eq!(response.status, 404, "{path}");
            assert_eq!(json_of(&response)["data"]["code"], "not_found");
            assert_eq!(json_of(&response)["success"], false);
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let test = TestEnv::new();
        let cases = [
            ("GET", "/api/platform/demo/connect", "POST"),
            ("POST", "/api/platform/demo/status", "GET"),
            ("GET", "/api/platform/demo/disconnect", "DELETE"),
            ("DELETE", "/api/platform/demo/refresh", "GET"),
        ];
        for (method, path, allow) in cases {
            let response = serve::<Demo>(&test.env(), &HttpRequest::new(method, path));
            assert_eq!(response.status, 405, "{method} {path}");
            assert_eq!(response.header("allow"), Some(allow));
        }
        let response = serve::<Redirecting>(
            &test.env(),
            &HttpRequest::new("POST", "/api/platform/oauthy/connect"),
        );
        assert_eq!(response.header("allow"), Some("GET"));
    }

    #[test]
    fn missing_bearer_is_401() {
        let test = TestEnv::new();
        let request = HttpRequest::new("GET", "/api/platform/demo/status");
        let response = serve::<Demo>(&test.env(), &request);
        assert_eq!(response.status, 401);
        assert_eq!(json_of(&response)["data"]["code"], "unauthorized");
    }

    #[test]
    fn status_of_nothing_is_an_empty_list() {
        let test = TestEnv::new();
        let request = HttpRequest::new("GET", "/api/platform/demo/status/")
            .with_header("authorization", &test.bearer("u1"));
        let response = serve::<Demo>(&test.env(), &request);
        assert_eq!(response.status, 200);
        assert_eq!(json_of(&response)["data"], json!({"accounts": []}));
    }

    #[test]
    fn connect_status_refresh_disconnect() {
        let test = TestEnv::new();
        let response = serve::<Demo>(
            &test.env(),
            &connect_request(&test, r#"{"identifier":"alice","appPassword":"right"}"#),
        );
        assert_eq!(response.status, 200);
        assert_eq!(json_of(&response)["data"]["accounts"][0]["accountId"], "42");
        assert!(SEEN_PASSWORD.with(Cell::get));

        let authed = |method: &str, action: &str| {
            HttpRequest::new(method, &format!("/api/platform/demo/{action}"))
                .with_header("authorization", &test.bearer("u1"))
        };
        let status = serve::<Demo>(&test.env(), &authed("GET", "status"));
        assert_eq!(
            json_of(&status)["data"]["accounts"][0]["displayName"],
            "Alice"
        );
        let refresh = serve::<Demo>(&test.env(), &authed("GET", "refresh"));
        assert_eq!(refresh.status, 200);

        let gone = serve::<Demo>(&test.env(), &authed("DELETE", "disconnect"));
        assert_eq!(gone.status, 200);
        assert_eq!(
            json_of(&gone)["data"],
            json!({"removed": 1, "revoked": false, "revocationProblem": "Demo said no."})
        );
        let refresh = serve::<Demo>(&test.env(), &authed("GET", "refresh"));
        assert_eq!(refresh.status, 404);
        assert_eq!(json_of(&refresh)["data"]["code"], "not_connected");
    }

    #[test]
    fn credentials_body_validation() {
        let test = TestEnv::new();
        let cases = [
            ("", None),
            ("not json", None),
            ("[1,2]", None),
            (r#"{}"#, Some(vec!["appPassword", "identifier"])),
            (
                r#"{"identifier":"  ","appPassword":"x"}"#,
                Some(vec!["identifier"]),
            ),
            (
                r#"{"identifier":"a.b","appPassword":""}"#,
                Some(vec!["appPassword"]),
            ),
            (
                r#"{"identifier":7,"appPassword":"x"}"#,
                Some(vec!["identifier"]),
            ),
        ];
        for (body, fields) in cases {
            let response = serve::<Demo>(&test.env(), &connect_request(&test, body));
            assert_eq!(response.status, 400, "{body}");
            let json = json_of(&response);
            assert_eq!(json["data"]["code"], "validation_failed");
            if let Some(fields) = fields {
                let names: Vec<&str> = json["data"]["errors"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(names, fields, "{body}");
            }
        }
        let long = format!(
            r#"{{"identifier":"a.b","appPassword":"{}"}}"#,
            "x".repeat(300)
        );
        let response = serve::<Demo>(&test.env(), &connect_request(&test, &long));
        assert!(json_of(&response)["data"]["errors"]["appPassword"].is_array());
    }

    #[test]
    fn oversized_body_is_413() {
        let test = TestEnv::new();
        let body = format!(r#"{{"identifier":"{}"}}"#, "a".repeat(BODY_LIMIT));
        let response = serve::<Demo>(&test.env(), &connect_request(&test, &body));
        assert_eq!(response.status, 413);
        assert_eq!(json_of(&response)["data"]["code"], "payload_too_large");
    }

    #[test]
    fn platform_refusal_passes_through() {
        let test = TestEnv::new();
        let response = serve::<Demo>(
            &test.env(),
            &connect_request(&test, r#"{"identifier":"a.b","appPassword":"wrong"}"#),
        );
        assert_eq!(response.status, 422);
        assert_eq!(json_of(&response)["data"]["code"], "invalid_credentials");
    }

    #[test]
    fn redirect_connect_answers_the_url_under_its_field() {
        let test = TestEnv::new();
        let request = HttpRequest::new("GET", "/api/platform/oauthy/connect")
            .with_header("authorization", &test.bearer("u1"));
        let response = serve::<Redirecting>(&test.env(), &request);
        assert_eq!(response.status, 200);
        assert_eq!(
            json_of(&response)["data"],
            json!({"url": "https://oauthy.example/authorize?state=s"})
        );
    }

    #[test]
    fn callbacks_only_redirect() {
        let test = TestEnv::new();
        let cases = [
            (
                "code=good&state=s#_=_",
                "https://app.example/settings?success=oauthy_connected",
            ),
            (
                "code=bad&state=s",
                "https://app.example/settings?error=oauthy_connect_failed",
            ),
            (
                "state=s",
                "https://app.example/settings?error=oauthy_auth_failed",
            ),
        ];
        for (query, location) in cases {
            let request =
                HttpRequest::new("GET", &format!("/api/platform/oauthy/callback?{query}"));
            let response = serve::<Redirecting>(&test.env(), &request);
            assert_eq!(response.status, 302, "{query}");
            assert_eq!(response.header("location"), Some(location));
            assert!(response.body.is_empty());
        }
    }

    #[test]
    fn upstream_errors_keep_their_status() {
        let test = TestEnv::new();
        let request = HttpRequest::new("GET", "/api/platform/oauthy/refresh")
            .with_header("authorization", &test.bearer("u1"));
        let response = serve::<Redirecting>(&test.env(), &request);
        assert_eq!(response.status, 502);
        assert_eq!(json_of(&response)["data"]["code"], "upstream_unavailable");
    }

    #[test]
    fn missing_secret_is_503() {
        let test = TestEnv::new();
        test.config_set("access_token_secret", "");
        let request = HttpRequest::new("GET", "/api/platform/demo/status")
            .with_header("authorization", &test.bearer("u1"));
        let lines = crate::logging::capture(|| {
            let response = serve::<Demo>(&test.env(), &request);
            assert_eq!(response.status, 503);
            let body = json_of(&response);
            assert_eq!(body["data"]["code"], "not_configured");
            let message = body["message"].as_str().unwrap_or_default();
            assert!(message.contains("not configured correctly"), "{message}");
            assert!(
                !message.to_ascii_uppercase().contains("SECRET"),
                "{message}"
            );
        });
        // The operator's reason is logged, at WARN (an unconfigured setting is no fault).
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("WARN failed "), "{lines:?}");
        assert!(
            lines[0].contains("ACCESS_TOKEN_SECRET is not set"),
            "{lines:?}"
        );
    }
}
