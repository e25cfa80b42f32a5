//! Native tests of the whole flow through the HTTP routes, against an in-process fake
//! Threads API (the end-to-end tests run the same flows through the host and the Meta
//! test double).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hayon_guest::http::{HttpRequest, HttpResponse};
use hayon_guest::outbound::TransportError;
use hayon_guest::router::serve;
use hayon_guest::store::KeyValue;
use hayon_guest::testing::{TEST_START, TestEnv};
use hayon_guest::{Env, OutboundRequest, OutboundResponse};
use serde_json::{Value, json};

use crate::Threads;
use crate::api::REFRESH_MIN_AGE_SECONDS;

const GRAPH: &str = "https://graph.threads.example";
const CALLBACK: &str = "https://api.example/api/platform/threads/callback";
const BIG_ID: &str = "17841405822304914123";

#[derive(Default)]
struct Api {
    /// code → redirect_uri
    codes: BTreeMap<String, String>,
    short: Vec<String>,
    long: Vec<String>,
    next: u32,
    fail_exchange: bool,
    refresh_refused: bool,
    me_answer: Option<OutboundResponse>,
    paths: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Api>>);

fn params(text: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn graph_error(code: u32, message: &str) -> OutboundResponse {
    OutboundResponse::json(
        400,
        &json!({"error": {"message": message, "type": "OAuthException", "code": code}}),
    )
}

impl Fake {
    fn with<T>(&self, f: impl FnOnce(&mut Api) -> T) -> T {
        f(&mut self.0.lock().expect("fake lock"))
    }

    fn approve(&self, authorize_url: &str) -> String {
        let query = params(authorize_url.split_once('?').expect("query").1);
        assert_eq!(query["client_id"], "threads-app");
        self.with(|api| {
            api.next += 1;
            let code = format!("code-{}", api.next);
            api.codes
                .insert(code.clone(), query["redirect_uri"].clone());
            format!("code={code}&state={}#_", query["state"])
        })
    }

    fn answer(&self, request: &OutboundRequest) -> OutboundResponse {
        let url = request.url.strip_prefix(GRAPH).unwrap_or(&request.url);
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let query = params(query);
        let form = params(&String::from_utf8_lossy(&request.body));
        self.with(|api| {
            api.paths.push(path.to_owned());
            match path {
                "/oauth/access_token" => match api.codes.remove(&form["code"]) {
                    Some(redirect) if redirect == form["redirect_uri"] => {
                        let token = format!("short-{}", api.next);
                        api.short.push(token.clone());
                        let body = format!(r#"{{"access_token":"{token}","user_id":{BIG_ID}}}"#);
                        OutboundResponse::with_body(200, "application/json", &body)
                    }
                    _ => OutboundResponse::json(
                        400,
                        &json!({"error_type": "OAuthException", "code": 400,
                                "error_message":
                                    "Matching code was not found or was already used"}),
                    ),
                },
                "/access_token" => {
                    if api.fail_exchange || !api.short.contains(&query["access_token"]) {
                        return graph_error(190, "Error validating access token");
                    }
                    let token = format!("long-{}", api.next);
                    api.long.push(token.clone());
                    OutboundResponse::json(
                        200,
                        &json!({"access_token": token, "token_type": "bearer",
                                "expires_in": 5_183_944}),
                    )
                }
                "/refresh_access_token" => {
                    if !api.long.contains(&query["access_token"]) {
                        return graph_error(190, "Error validating access token");
                    }
                    if api.refresh_refused {
                        return graph_error(10, "Token is too new to be refreshed");
                    }
                    api.next += 1;
                    let token = format!("long-{}", api.next);
                    api.long.push(token.clone());
                    OutboundResponse::json(
                        200,
                        &json!({"access_token": token, "token_type": "bearer",
                                "expires_in": 5_184_000}),
                    )
                }
                "/v1.0/me" => {
                    if let Some(answer) = api.me_answer.clone() {
                        return answer;
                    }
                    if !api.long.contains(&query["access_token"]) {
                        return graph_error(190, "Error validating access token");
                    }
                    let body = format!(
                        r#"{{"id":"{BIG_ID}","username":"alice","name":"Alice",
                            "threads_profile_picture_url":"https://cdn.example/a.jpg"}}"#
                    );
                    OutboundResponse::with_body(200, "application/json", &body)
                }
                _ => graph_error(100, "Unknown path"),
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
    test.config_set("threads_app_id", "threads-app");
    test.config_set("threads_app_secret", "threads-secret");
    test.config_set("threads_graph_url", &format!("{GRAPH}/"));
    test.config_set("threads_authorize_url", "https://threads.example");
    (test, Fake::default())
}

fn call(test: &TestEnv, fake: &Fake, method: &str, route: &str) -> HttpResponse {
    let request = HttpRequest::new(method, &format!("/api/platform/threads/{route}"))
        .with_header("authorization", &test.bearer("u1"));
    serve::<Threads>(&fake.env(test), &request)
}

fn json_of(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).expect("JSON body")
}

fn callback(test: &TestEnv, fake: &Fake, query: &str) -> String {
    let request = HttpRequest::new("GET", &format!("/api/platform/threads/callback?{query}"));
    let response = serve::<Threads>(&fake.env(test), &request);
    assert_eq!(response.status, 302);
    response.header("location").expect("location").to_owned()
}

fn connected(test: &TestEnv, fake: &Fake) {
    let url = json_of(&call(test, fake, "GET", "connect"))["data"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let location = callback(test, fake, &fake.approve(&url));
    assert_eq!(
        location,
        "https://app.example/settings?success=threads_connected"
    );
}

fn stored(test: &TestEnv) -> Option<Vec<u8>> {
    test.store.get("accounts/threads/u1").ok().flatten()
}

#[test]
fn connect_answers_the_authorization_url() {
    let (test, fake) = configured();
    let body = json_of(&call(&test, &fake, "GET", "connect"));
    let url = body["data"]["url"].as_str().expect("url");
    let (endpoint, query) = url.split_once('?').expect("query");
    assert_eq!(endpoint, "https://threads.example/oauth/authorize");
    let expected_start = format!(
        "client_id=threads-app&redirect_uri={}&scope=threads_basic%2Cthreads_content_publish\
         %2Cthreads_manage_insights&response_type=code&state=",
        hayon_guest::outbound::percent_encode(CALLBACK)
    );
    assert!(query.starts_with(&expected_start), "{query}");
}

#[test]
fn a_connection_keeps_the_big_id_exact_and_the_real_expiry() {
    let (test, fake) = configured();
    connected(&test, &fake);
    let status = json_of(&call(&test, &fake, "GET", "status"));
    let account = &status["data"]["accounts"][0];
    assert_eq!(account["accountId"], BIG_ID);
    assert_eq!(account["handle"], "alice");
    assert_eq!(account["profileUrl"], "https://www.threads.com/@alice");
    let expected = hayon_guest::Timestamp::from_unix(TEST_START.unix() + 5_183_944);
    assert_eq!(account["expiresAt"], expected.to_rfc3339());
    let raw = String::from_utf8(stored(&test).expect("stored")).expect("utf-8");
    assert!(
        !raw.contains("long-1") && !raw.contains("short-1"),
        "tokens sealed"
    );
}

#[test]
fn a_failed_long_lived_exchange_fails_the_connection() {
    let (test, fake) = configured();
    fake.with(|api| api.fail_exchange = true);
    let url = json_of(&call(&test, &fake, "GET", "connect"))["data"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let location = callback(&test, &fake, &fake.approve(&url));
    assert_eq!(
        location,
        "https://app.example/settings?error=threads_connect_failed"
    );
    assert_eq!(stored(&test), None);
}

#[test]
fn replayed_and_refused_callbacks() {
    let (test, fake) = configured();
    let url = json_of(&call(&test, &fake, "GET", "connect"))["data"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let approved = fake.approve(&url);
    assert!(callback(&test, &fake, &approved).ends_with("success=threads_connected"));
    let before = stored(&test);
    assert!(callback(&test, &fake, &approved).ends_with("error=threads_state_invalid"));
    assert_eq!(stored(&test), before);

    let url = json_of(&call(&test, &fake, "GET", "connect"))["data"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let refused = fake.approve(&url).replace("code=code-2", "code=unknown");
    assert!(callback(&test, &fake, &refused).ends_with("error=threads_connect_failed"));
}

#[test]
fn a_young_token_is_only_re_read() {
    let (test, fake) = configured();
    connected(&test, &fake);
    test.clock.advance(REFRESH_MIN_AGE_SECONDS - 1);
    let response = call(&test, &fake, "GET", "refresh");
    assert_eq!(response.status, 200);
    assert!(!fake.with(|api| api.paths.contains(&"/refresh_access_token".to_owned())));
}

#[test]
fn a_day_old_token_is_extended() {
    let (test, fake) = configured();
    connected(&test, &fake);
    test.clock.advance(REFRESH_MIN_AGE_SECONDS);
    let response = call(&test, &fake, "GET", "refresh");
    assert_eq!(response.status, 200);
    assert!(fake.with(|api| api.paths.contains(&"/refresh_access_token".to_owned())));
    let expected =
        hayon_guest::Timestamp::from_unix(TEST_START.unix() + REFRESH_MIN_AGE_SECONDS + 5_184_000);
    assert_eq!(
        json_of(&response)["data"]["accounts"][0]["expiresAt"],
        expected.to_rfc3339()
    );

    // The extended token is the one used from now on.
    fake.with(|api| api.long.retain(|token| token != "long-1"));
    assert_eq!(call(&test, &fake, "GET", "refresh").status, 200);
}

#[test]
fn a_refused_extension_is_not_a_dead_token() {
    let (test, fake) = configured();
    connected(&test, &fake);
    fake.with(|api| api.refresh_refused = true);
    test.clock.advance(2 * REFRESH_MIN_AGE_SECONDS);
    let response = call(&test, &fake, "GET", "refresh");
    assert_eq!(response.status, 200);
    assert_eq!(
        json_of(&response)["data"]["accounts"][0]["status"],
        "active"
    );
}

#[test]
fn dead_tokens_and_throttling() {
    let (test, fake) = configured();
    connected(&test, &fake);
    let before = stored(&test);

    let throttled = OutboundResponse::json(
        403,
        &json!({"error": {"message": "Application request limit reached", "code": 4,
                "type": "OAuthException", "is_transient": true}}),
    );
    fake.with(|api| api.me_answer = Some(throttled));
    let response = call(&test, &fake, "GET", "refresh");
    assert_eq!(response.status, 429);
    assert_eq!(stored(&test), before);

    let outage = OutboundResponse::with_body(502, "text/html", "<html>Bad Gateway</html>");
    fake.with(|api| api.me_answer = Some(outage));
    assert_eq!(call(&test, &fake, "GET", "refresh").status, 502);
    assert_eq!(stored(&test), before);

    let missing = graph_error(100, "The requested resource does not exist");
    fake.with(|api| api.me_answer = Some(missing));
    let response = call(&test, &fake, "GET", "refresh");
    assert_eq!(response.status, 409);
    let status = json_of(&call(&test, &fake, "GET", "status"));
    assert_eq!(
        status["data"]["accounts"][0]["status"],
        "reconnect_required"
    );
}

#[test]
fn disconnect_deletes_ours() {
    let (test, fake) = configured();
    connected(&test, &fake);
    let body = json_of(&call(&test, &fake, "DELETE", "disconnect"));
    assert_eq!(body["data"]["removed"], 1);
    assert_eq!(body["data"]["revoked"], false);
    assert_eq!(stored(&test), None);
}
