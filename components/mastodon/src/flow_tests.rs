//! Native tests of the whole flow through the HTTP routes, against an in-process fake
//! instance (the end-to-end tests run the same flows through the host and the Mastodon
//! test double).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hayon_guest::http::{HttpRequest, HttpResponse};
use hayon_guest::outbound::TransportError;
use hayon_guest::router::serve;
use hayon_guest::store::KeyValue;
use hayon_guest::testing::TestEnv;
use hayon_guest::{Env, OutboundRequest, OutboundResponse};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Mastodon;

const INSTANCE: &str = "https://social.example";
const CALLBACK: &str = "https://api.example/api/platform/mastodon/callback";

/// What the fake instance remembers.
#[derive(Default)]
struct Instance {
    /// code → (PKCE challenge, redirect_uri)
    codes: BTreeMap<String, (String, String)>,
    tokens: Vec<String>,
    next: u32,
    verify_answer: Option<OutboundResponse>,
    revoke_status: u16,
    revoked: Vec<String>,
    calls: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Instance>>);

impl Fake {
    fn with<T>(&self, f: impl FnOnce(&mut Instance) -> T) -> T {
        f(&mut self.0.lock().expect("fake instance lock"))
    }

    /// The instance approving an authorization URL: issues a code for its challenge.
    fn approve(&self, authorize_url: &str) -> String {
        let query = authorize_url.split_once('?').expect("query").1;
        let params: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        self.with(|instance| {
            instance.next += 1;
            let code = format!("code-{}", instance.next);
            let entry = (
                params["code_challenge"].clone(),
                params["redirect_uri"].clone(),
            );
            instance.codes.insert(code.clone(), entry);
            format!("code={code}&state={}", params["state"])
        })
    }

    fn answer(&self, request: &OutboundRequest) -> OutboundResponse {
        let path = request
            .url
            .strip_prefix(INSTANCE)
            .unwrap_or(&request.url)
            .to_owned();
        let form: BTreeMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        self.with(|instance| {
            instance.calls.push(path.clone());
            match path.as_str() {
                "/oauth/token" => {
                    let Some((challenge, redirect)) = instance.codes.remove(&form["code"]) else {
                        return OutboundResponse::json(400, &json!({"error": "invalid_grant"}));
                    };
                    let verified = URL_SAFE_NO_PAD
                        .encode(Sha256::digest(form["code_verifier"].as_bytes()))
                        == challenge;
                    if !verified || redirect != form["redirect_uri"] || form["client_id"] != "ck" {
                        return OutboundResponse::json(400, &json!({"error": "invalid_grant"}));
                    }
                    let token = format!("token-{}", instance.next);
                    instance.tokens.push(token.clone());
                    OutboundResponse::json(
                        200,
                        &json!({"access_token": token, "token_type": "Bearer",
                                "scope": "read write push", "created_at": 1}),
                    )
                }
                "/api/v1/accounts/verify_credentials" => {
                    if let Some(answer) = instance.verify_answer.clone() {
                        return answer;
                    }
                    let bearer = request.header_value("authorization").unwrap_or_default();
                    let known = instance
                        .tokens
                        .iter()
                        .any(|t| bearer == format!("Bearer {t}"));
                    if !known {
                        return OutboundResponse::json(
                            401,
                            &json!({"error": "The access token is invalid"}),
                        );
                    }
                    OutboundResponse::json(
                        200,
                        &json!({"id": "109", "username": "alice", "acct": "alice",
                                "display_name": "Alice", "url": "https://social.example/@alice",
                                "avatar": "https://files.example/a.png"}),
                    )
                }
                "/api/v2/instance" => {
                    OutboundResponse::json(200, &json!({"domain": "example.org"}))
                }
                "/oauth/revoke" => {
                    instance.revoked.push(form["token"].clone());
                    instance.tokens.retain(|t| *t != form["token"]);
                    OutboundResponse::json(instance.revoke_status, &json!({}))
                }
                _ => OutboundResponse::json(404, &json!({"error": "Not found"})),
            }
        })
    }

    fn env(&self, test: &TestEnv) -> Env {
        let fake = self.clone();
        test.env_with(
            move |request: &OutboundRequest| -> Result<_, TransportError> {
                Ok(fake.answer(request))
            },
        )
    }
}

fn configured() -> (TestEnv, Fake) {
    let test = TestEnv::new();
    test.config_set("mastodon_instance_url", "HTTPS://Social.Example/");
    test.config_set("mastodon_client_key", "ck");
    test.config_set("mastodon_client_secret", "cs");
    let fake = Fake::default();
    fake.with(|instance| instance.revoke_status = 200);
    (test, fake)
}

fn call(test: &TestEnv, fake: &Fake, method: &str, route: &str, user: &str) -> HttpResponse {
    let request = HttpRequest::new(method, &format!("/api/platform/mastodon/{route}"))
        .with_header("authorization", &test.bearer(user));
    serve::<Mastodon>(&fake.env(test), &request)
}

fn json_of(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).expect("JSON body")
}

fn callback(test: &TestEnv, fake: &Fake, query: &str) -> String {
    let request = HttpRequest::new("GET", &format!("/api/platform/mastodon/callback?{query}"));
    let response = serve::<Mastodon>(&fake.env(test), &request);
    assert_eq!(response.status, 302);
    response.header("location").expect("location").to_owned()
}

fn connect(test: &TestEnv, fake: &Fake, user: &str) -> String {
    let response = call(test, fake, "GET", "connect", user);
    assert_eq!(response.status, 200);
    json_of(&response)["data"]["authUrl"]
        .as_str()
        .expect("authUrl")
        .to_owned()
}

#[test]
fn connect_answers_a_pkce_authorization_url() {
    let (test, fake) = configured();
    let url = connect(&test, &fake, "u1");
    let (endpoint, query) = url.split_once('?').expect("query");
    assert_eq!(endpoint, "https://social.example/oauth/authorize");
    assert!(query.starts_with("response_type=code&client_id=ck&redirect_uri="));
    assert!(query.contains(&format!(
        "redirect_uri={}",
        hayon_guest::outbound::percent_encode(CALLBACK)
    )));
    assert!(query.contains("&scope=read%20write%20push&state="));
    assert!(query.ends_with("&code_challenge_method=S256"));
    assert!(query.contains("&code_challenge="));
}

#[test]
fn a_full_connection_refresh_and_disconnect() {
    let (test, fake) = configured();
    let authorize = connect(&test, &fake, "u1");
    let location = callback(&test, &fake, &format!("{}#_=_", fake.approve(&authorize)));
    assert_eq!(
        location,
        "https://app.example/settings?success=mastodon_connected"
    );

    let status = json_of(&call(&test, &fake, "GET", "status", "u1"));
    let account = &status["data"]["accounts"][0];
    assert_eq!(account["handle"], "@alice@example.org");
    assert_eq!(account["accountId"], "109");
    assert_eq!(account["expiresAt"], Value::Null);
    assert!(
        !status.to_string().contains("token-"),
        "no token in answers"
    );
    let stored = test
        .store
        .get("accounts/mastodon/u1")
        .ok()
        .flatten()
        .expect("stored");
    assert!(
        !String::from_utf8_lossy(&stored).contains("token-1"),
        "token sealed"
    );

    let refreshed = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(refreshed.status, 200);
    assert_eq!(
        json_of(&refreshed)["data"]["accounts"][0]["displayName"],
        "Alice"
    );

    let gone = call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(gone.status, 200);
    assert_eq!(json_of(&gone)["data"]["revoked"], true);
    assert_eq!(fake.with(|instance| instance.revoked.clone()), ["token-1"]);
    let status = json_of(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(status["data"]["accounts"], json!([]));
}

#[test]
fn a_replayed_callback_neither_connects_nor_overwrites() {
    let (test, fake) = configured();
    let first = fake.approve(&connect(&test, &fake, "u1"));
    assert!(callback(&test, &fake, &first).ends_with("success=mastodon_connected"));
    let before = test.store.get("accounts/mastodon/u1").ok().flatten();
    let calls_before = fake.with(|instance| instance.calls.len());

    assert!(callback(&test, &fake, &first).ends_with("error=mastodon_state_invalid"));
    assert_eq!(
        test.store.get("accounts/mastodon/u1").ok().flatten(),
        before
    );
    assert_eq!(
        fake.with(|instance| instance.calls.len()),
        calls_before,
        "no exchange"
    );
}

#[test]
fn refused_codes_and_refusals() {
    let (test, fake) = configured();
    let approved = fake.approve(&connect(&test, &fake, "u1"));
    let wrong_code = approved.replacen("code=code-1", "code=forged", 1);
    assert!(callback(&test, &fake, &wrong_code).ends_with("error=mastodon_connect_failed"));

    let authorize = connect(&test, &fake, "u1");
    let state = authorize
        .split("state=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .expect("state");
    let denied = format!("error=access_denied&error_description=nope&state={state}");
    assert!(callback(&test, &fake, &denied).ends_with("error=mastodon_auth_denied"));
    assert!(callback(&test, &fake, "state=x").ends_with("error=mastodon_auth_failed"));
    assert_eq!(test.store.get("accounts/mastodon/u1").ok().flatten(), None);
}

#[test]
fn dead_tokens_throttling_and_outages_on_refresh() {
    let (test, fake) = configured();
    let approved = fake.approve(&connect(&test, &fake, "u1"));
    callback(&test, &fake, &approved);
    let before = test.store.get("accounts/mastodon/u1").ok().flatten();

    let throttled = OutboundResponse::json(429, &json!({"error": "Too many requests"}))
        .with_header("X-RateLimit-Reset", "2026-08-20T12:05:00.000000Z");
    fake.with(|instance| instance.verify_answer = Some(throttled));
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("300"));
    assert_eq!(
        test.store.get("accounts/mastodon/u1").ok().flatten(),
        before
    );

    let outage = OutboundResponse::with_body(503, "text/html", "<html>down</html>");
    fake.with(|instance| instance.verify_answer = Some(outage));
    assert_eq!(call(&test, &fake, "GET", "refresh", "u1").status, 502);
    assert_eq!(
        test.store.get("accounts/mastodon/u1").ok().flatten(),
        before
    );

    let disabled =
        OutboundResponse::json(403, &json!({"error": "Your login is currently disabled"}));
    fake.with(|instance| instance.verify_answer = Some(disabled));
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(json_of(&response)["data"]["code"], "account_unavailable");

    fake.with(|instance| {
        instance.verify_answer = None;
        instance.tokens.clear();
    });
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(response.status, 409);
    assert_eq!(json_of(&response)["data"]["code"], "reconnect_required");
    let status = json_of(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(
        status["data"]["accounts"][0]["status"],
        "reconnect_required"
    );
}

#[test]
fn a_late_refusal_of_a_replaced_token_leaves_the_reconnected_account_alone() {
    let (test, fake) = configured();
    let approved = fake.approve(&connect(&test, &fake, "u1"));
    callback(&test, &fake, &approved);

    // The refresh reads token-1; while Mastodon is being asked, the person reconnects in
    // another tab (token-2), and then the instance refuses token-1.
    let racing = {
        let (test, fake) = (test.clone(), fake.clone());
        test.clone().env_with(
            move |request: &OutboundRequest| -> Result<_, TransportError> {
                let old = request.header_value("authorization") == Some("Bearer token-1");
                if old && request.url.ends_with("/verify_credentials") {
                    let approved = fake.approve(&connect(&test, &fake, "u1"));
                    callback(&test, &fake, &approved);
                    fake.with(|instance| instance.tokens.retain(|t| t != "token-1"));
                }
                Ok(fake.answer(request))
            },
        )
    };
    let request = HttpRequest::new("GET", "/api/platform/mastodon/refresh")
        .with_header("authorization", &test.bearer("u1"));
    assert_eq!(serve::<Mastodon>(&racing, &request).status, 409);

    let status = json_of(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(status["data"]["accounts"][0]["status"], "active");
    let refreshed = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(refreshed.status, 200, "token-2 works");
}

#[test]
fn a_failed_revocation_is_reported_and_the_record_deleted_anyway() {
    let (test, fake) = configured();
    let approved = fake.approve(&connect(&test, &fake, "u1"));
    callback(&test, &fake, &approved);
    fake.with(|instance| instance.revoke_status = 403);
    let response = call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(response.status, 200);
    let body = json_of(&response);
    assert_eq!(body["data"]["revoked"], false);
    assert_eq!(body["data"]["removed"], 1);
    assert!(
        body["data"]["revocationProblem"]
            .as_str()
            .is_some_and(|p| p.contains("403"))
    );
    assert_eq!(test.store.get("accounts/mastodon/u1").ok().flatten(), None);
}

#[test]
fn not_configured_is_503_and_not_connected_is_404() {
    let test = TestEnv::new();
    let fake = Fake::default();
    let response = call(&test, &fake, "GET", "connect", "u1");
    assert_eq!(response.status, 503);
    assert_eq!(json_of(&response)["data"]["code"], "not_configured");
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(json_of(&response)["data"]["code"], "not_connected");
}
