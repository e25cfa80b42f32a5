//! Native tests of the whole flow through the HTTP routes, against an in-process fake
//! Graph API (the end-to-end tests run the same flows through the host against the Meta
//! test double).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hayon_guest::http::{HttpRequest, HttpResponse};
use hayon_guest::outbound::{Method, TransportError};
use hayon_guest::router::serve;
use hayon_guest::secret::{AccessToken, Secret};
use hayon_guest::state::STATE_TTL_SECONDS;
use hayon_guest::store::KeyValue;
use hayon_guest::testing::{InterleavedStore, TEST_START, TestEnv};
use hayon_guest::{CallbackQuery, Connector, Env, OutboundRequest, OutboundResponse, UserId};
use serde_json::{Value, json};

use crate::Facebook;
use crate::graph::appsecret_proof;

const GRAPH: &str = "https://graph.example/v26.0/";
const CALLBACK: &str = "https://api.example/api/platform/facebook/callback";
const APP_ID: &str = "1234";
const APP_SECRET: &str = "app-secret";
const PAGE: &str = "134895793791914";
const IG: &str = "17841405822304914";
const LONG_LIVED: i64 = 5_183_944;

/// One request the fake received: method, path after the version, bearer token.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    token: Option<String>,
    params: BTreeMap<String, String>,
}

/// What the fake Graph API remembers.
struct GraphState {
    /// code → redirect_uri it was issued for
    codes: BTreeMap<String, String>,
    short_tokens: Vec<String>,
    long_tokens: Vec<String>,
    next: u32,
    /// `/me/accounts` entries (the fake adds each Page's token).
    pages: Vec<Value>,
    /// The first `/me/accounts` answer is empty with a `next` link.
    empty_first_listing: bool,
    long_expires_in: Option<i64>,
    /// Answers forced once for a path (`me/accounts`, `oauth/access_token`, a node id).
    forced: BTreeMap<String, OutboundResponse>,
    calls: Vec<Call>,
}

#[derive(Clone)]
struct Fake(Arc<Mutex<GraphState>>);

fn page_with_instagram() -> Value {
    json!({
        "id": PAGE, "name": "Alice's Bakery", "tasks": ["ANALYZE", "CREATE_CONTENT", "MANAGE"],
        "picture": {"data": {"url": "https://pic.example/page.jpg", "is_silhouette": false}},
        "instagram_business_account": {"id": IG, "username": "alicebakes", "name": "Alice Bakes",
                                       "profile_picture_url": "https://pic.example/ig.jpg"}
    })
}

fn page_without_instagram() -> Value {
    let mut page = page_with_instagram();
    page.as_object_mut()
        .map(|page| page.remove("instagram_business_account"));
    page
}

impl Fake {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(GraphState {
            codes: BTreeMap::new(),
            short_tokens: Vec::new(),
            long_tokens: Vec::new(),
            next: 0,
            pages: vec![page_with_instagram()],
            empty_first_listing: false,
            long_expires_in: Some(LONG_LIVED),
            forced: BTreeMap::new(),
            calls: Vec::new(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut GraphState) -> T) -> T {
        f(&mut self.0.lock().expect("fake graph lock"))
    }

    fn force(&self, path: &str, answer: OutboundResponse) {
        self.with(|graph| graph.forced.insert(path.to_owned(), answer));
    }

    fn calls_to(&self, method: Method, path: &str) -> Vec<Call> {
        self.with(|graph| {
            graph
                .calls
                .iter()
                .filter(|c| c.method == method && c.path == path)
                .cloned()
                .collect()
        })
    }

    /// The dialog approving an authorization URL: the callback query with `#_=_`.
    fn approve(&self, authorize_url: &str) -> String {
        let params = params_of(authorize_url.split_once('?').expect("query").1);
        self.with(|graph| {
            graph.next += 1;
            let code = format!("AQ-code-{}", graph.next);
            graph
                .codes
                .insert(code.clone(), params["redirect_uri"].clone());
            format!("code={code}&state={}#_=_", params["state"])
        })
    }

    fn answer(&self, request: &OutboundRequest) -> OutboundResponse {
        let rest = request.url.strip_prefix(GRAPH).expect("a Graph v26.0 URL");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let params = params_of(query);
        let token = request
            .header_value("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned);
        self.with(|graph| {
            graph.calls.push(Call {
                method: request.method,
                path: path.to_owned(),
                token: token.clone(),
                params: params.clone(),
            });
            if let Some(forced) = graph.forced.remove(path) {
                return forced;
            }
            if path == "oauth/access_token" {
                return graph.token_endpoint(&params);
            }
            let Some(token) = token else {
                return graph_error(400, 104, "An access token is required.");
            };
            let proof = appsecret_proof(&Secret::new(APP_SECRET), &AccessToken::new(token.clone()));
            if params.get("appsecret_proof") != Some(&proof) {
                return graph_error(400, 100, "Invalid appsecret_proof");
            }
            let user_token = graph.long_tokens.contains(&token);
            match (request.method, path) {
                (Method::Get, "me/accounts") if user_token => graph.listing(&params),
                (Method::Delete, "me/permissions") if user_token => {
                    graph.long_tokens.clear();
                    OutboundResponse::json(200, &json!({"success": true}))
                }
                (Method::Get, PAGE) if token.starts_with("page-") => OutboundResponse::json(
                    200,
                    &json!({"id": PAGE, "name": "Alice's Bakery 2",
                        "picture": {"data": {"url": "https://pic.example/p2.jpg"}}}),
                ),
                (Method::Get, IG) if user_token => OutboundResponse::json(
                    200,
                    &json!({"id": IG, "username": "alicebakes2", "name": "Alice Bakes 2"}),
                ),
                _ => graph_error(400, 190, "Invalid OAuth access token."),
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

impl GraphState {
    fn token_endpoint(&mut self, params: &BTreeMap<String, String>) -> OutboundResponse {
        if params.get("client_id").map(String::as_str) != Some(APP_ID)
            || params.get("client_secret").map(String::as_str) != Some(APP_SECRET)
        {
            return graph_error(400, 1, "Error validating client secret.");
        }
        self.next += 1;
        if params.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
            let old = &params["fb_exchange_token"];
            if !self.short_tokens.contains(old) && !self.long_tokens.contains(old) {
                return graph_error(400, 190, "Invalid OAuth access token.");
            }
            let token = format!("long-{}", self.next);
            self.long_tokens.push(token.clone());
            let mut body = json!({"access_token": token, "token_type": "bearer"});
            if let Some(expires_in) = self.long_expires_in {
                body["expires_in"] = json!(expires_in);
            }
            return OutboundResponse::json(200, &body);
        }
        match self.codes.remove(&params["code"]) {
            Some(redirect) if redirect == params["redirect_uri"] => {
                let token = format!("short-{}", self.next);
                self.short_tokens.push(token.clone());
                OutboundResponse::json(
                    200,
                    &json!({"access_token": token, "token_type": "bearer", "expires_in": 5400}),
                )
            }
            _ => OutboundResponse::json(
                400,
                &json!({"error": {"message": "This authorization code has been used.",
                        "type": "OAuthException", "code": 100, "error_subcode": 36009}}),
            ),
        }
    }

    fn listing(&mut self, params: &BTreeMap<String, String>) -> OutboundResponse {
        if self.empty_first_listing && !params.contains_key("after") {
            return OutboundResponse::json(
                200,
                &json!({"data": [], "paging": {"cursors": {"before": "b0", "after": "a0"},
                                               "next": "https://graph.example/next"}}),
            );
        }
        let data: Vec<Value> = self
            .pages
            .iter()
            .map(|page| {
                let mut page = page.clone();
                page["access_token"] = json!(format!("page-{}", page["id"].as_str().unwrap_or("")));
                page
            })
            .collect();
        OutboundResponse::json(200, &json!({"data": data}))
    }
}

fn graph_error(status: u16, code: i64, message: &str) -> OutboundResponse {
    OutboundResponse::json(
        status,
        &json!({"error": {"message": message, "type": "OAuthException", "code": code}}),
    )
}

fn params_of(query: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn configured() -> (TestEnv, Fake) {
    let test = TestEnv::new();
    test.config_set("meta_app_id", APP_ID);
    test.config_set("meta_app_secret", APP_SECRET);
    test.config_set("meta_graph_url", "https://graph.example/");
    (test, Fake::new())
}

fn call(test: &TestEnv, fake: &Fake, method: &str, route: &str, user: &str) -> HttpResponse {
    let request = HttpRequest::new(method, &format!("/api/platform/facebook/{route}"))
        .with_header("authorization", &test.bearer(user));
    serve::<Facebook>(&fake.env(test), &request)
}

fn json_of(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body).expect("JSON body")
}

fn accounts(response: &HttpResponse) -> Vec<Value> {
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    json_of(response)["data"]["accounts"]
        .as_array()
        .cloned()
        .expect("accounts")
}

fn callback(test: &TestEnv, fake: &Fake, query: &str) -> String {
    let request = HttpRequest::new("GET", &format!("/api/platform/facebook/callback?{query}"));
    let response = serve::<Facebook>(&fake.env(test), &request);
    assert_eq!(response.status, 302);
    response.header("location").expect("location").to_owned()
}

fn connect_url(test: &TestEnv, fake: &Fake, user: &str) -> String {
    let response = call(test, fake, "GET", "connect", user);
    assert_eq!(response.status, 200);
    json_of(&response)["data"]["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// Connects `user` and answers the callback's redirect.
fn connect(test: &TestEnv, fake: &Fake, user: &str) -> String {
    let approved = fake.approve(&connect_url(test, fake, user));
    callback(test, fake, &approved)
}

fn stored(test: &TestEnv, user: &str) -> Option<Vec<u8>> {
    test.store
        .get(&format!("accounts/facebook/{user}"))
        .expect("store")
}

const CONNECTED: &str = "https://app.example/settings?success=facebook_connected";

fn error_location(reason: &str) -> String {
    format!("https://app.example/settings?error=facebook_{reason}")
}

#[test]
fn connect_answers_the_dialog_url() {
    let (test, fake) = configured();
    let url = connect_url(&test, &fake, "u1");
    let (endpoint, query) = url.split_once('?').expect("query");
    assert_eq!(endpoint, "https://www.facebook.com/v26.0/dialog/oauth");
    let state = params_of(query)["state"].clone();
    assert_eq!(
        query,
        format!(
            "client_id=1234\
             &redirect_uri=https%3A%2F%2Fapi.example%2Fapi%2Fplatform%2Ffacebook%2Fcallback\
             &state={state}&response_type=code\
             &scope=instagram_basic%2Cinstagram_content_publish%2Cinstagram_manage_insights\
             %2Cpages_show_list%2Cpages_read_engagement%2Cpages_manage_posts\
             %2Cpages_manage_metadata%2Cpublic_profile%2Cbusiness_management"
        )
    );
    assert!(
        !state.contains("u1") && state.len() >= 40,
        "state is opaque: {state}"
    );
    assert_ne!(
        connect_url(&test, &fake, "u1"),
        url,
        "a fresh state each time"
    );
}

#[test]
fn a_connection_with_instagram_stores_two_accounts() {
    let (test, fake) = configured();
    assert_eq!(connect(&test, &fake, "u1"), CONNECTED);

    let exchange = &fake.calls_to(Method::Get, "oauth/access_token")[0];
    assert_eq!(
        exchange.params["redirect_uri"], CALLBACK,
        "same redirect_uri"
    );
    assert!(!exchange.params.contains_key("grant_type"));
    let listing = &fake.calls_to(Method::Get, "me/accounts")[0];
    assert_eq!(
        listing.token.as_deref(),
        Some("long-3"),
        "listed with the long-lived token"
    );
    assert!(listing.params["fields"].contains("instagram_business_account{"));

    let accounts = accounts(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(accounts.len(), 2);
    assert_eq!(
        accounts[0],
        json!({
            "platform": "facebook", "accountId": PAGE, "handle": "Alice's Bakery",
            "displayName": "Alice's Bakery", "avatar": "https://pic.example/page.jpg",
            "profileUrl": format!("https://www.facebook.com/{PAGE}"),
            "connectedAt": "2026-08-20T12:00:00Z", "refreshedAt": "2026-08-20T12:00:00Z",
            "expiresAt": null, "status": "active"
        })
    );
    assert_eq!(
        accounts[1],
        json!({
            "platform": "instagram", "accountId": IG, "handle": "alicebakes",
            "displayName": "Alice Bakes", "avatar": "https://pic.example/ig.jpg",
            "profileUrl": "https://www.instagram.com/alicebakes",
            "connectedAt": "2026-08-20T12:00:00Z", "refreshedAt": "2026-08-20T12:00:00Z",
            "expiresAt": TEST_START.plus_seconds(LONG_LIVED).to_rfc3339(), "status": "active"
        })
    );
    let raw = String::from_utf8(stored(&test, "u1").expect("stored")).expect("utf-8");
    for token in ["short-2", "long-3", &format!("page-{PAGE}")] {
        assert!(!raw.contains(token), "{token} must be sealed");
    }
}

#[test]
fn a_reconnect_without_instagram_removes_the_stale_instagram_account() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    assert_eq!(
        accounts(&call(&test, &fake, "GET", "status", "u1")).len(),
        2
    );

    fake.with(|graph| graph.pages = vec![page_without_instagram()]);
    test.clock.advance(60);
    assert_eq!(connect(&test, &fake, "u1"), CONNECTED);
    let accounts = accounts(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["platform"], "facebook");
    assert_eq!(
        accounts[0]["connectedAt"], "2026-08-20T12:00:00Z",
        "same Page"
    );
    assert_eq!(accounts[0]["refreshedAt"], "2026-08-20T12:01:00Z");
}

#[test]
fn no_pages_stores_nothing() {
    let (test, fake) = configured();
    fake.with(|graph| graph.pages.clear());
    assert_eq!(connect(&test, &fake, "u1"), error_location("no_pages"));
    assert_eq!(stored(&test, "u1"), None);
    assert!(test.store.keys().is_empty(), "the state was consumed too");
}

#[test]
fn an_empty_first_result_page_is_followed_by_its_cursor() {
    let (test, fake) = configured();
    fake.with(|graph| graph.empty_first_listing = true);
    assert_eq!(connect(&test, &fake, "u1"), CONNECTED);
    let listings = fake.calls_to(Method::Get, "me/accounts");
    assert_eq!(listings.len(), 2);
    assert_eq!(
        listings[1].params.get("after").map(String::as_str),
        Some("a0")
    );
}

#[test]
fn a_long_lived_token_without_expires_in_has_no_expiry() {
    let (test, fake) = configured();
    fake.with(|graph| graph.long_expires_in = None);
    connect(&test, &fake, "u1");
    let accounts = accounts(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(accounts[1]["expiresAt"], Value::Null);
}

#[test]
fn upstream_failures_while_connecting_end_in_their_reasons() {
    let cases = [
        (
            "oauth/access_token",
            graph_error(400, 100, "Invalid verification code format."),
            "connect_failed",
        ),
        (
            "oauth/access_token",
            OutboundResponse::with_body(502, "text/html", "<html>x</html>"),
            "upstream_unavailable",
        ),
        (
            "me/accounts",
            graph_error(403, 4, "(#4) Application request limit reached"),
            "rate_limited",
        ),
        (
            "me/accounts",
            OutboundResponse::with_body(200, "text/html", "<html>?</html>"),
            "upstream_unavailable",
        ),
    ];
    for (path, answer, reason) in cases {
        let (test, fake) = configured();
        fake.force(path, answer);
        assert_eq!(
            connect(&test, &fake, "u1"),
            error_location(reason),
            "{path} → {reason}"
        );
        assert_eq!(stored(&test, "u1"), None, "{reason}");
    }

    let (test, fake) = configured();
    fake.force(
        "me/accounts",
        OutboundResponse::json(200, &json!({"data": [{"id": PAGE, "name": "P"}]})),
    );
    assert_eq!(
        connect(&test, &fake, "u1"),
        error_location("connect_failed"),
        "no Page token"
    );
}

#[test]
fn refusals_bad_states_and_replays_connect_nothing() {
    let (test, fake) = configured();
    let approved = fake.approve(&connect_url(&test, &fake, "u1"));
    let state = params_of(approved.split('#').next().unwrap_or_default())["state"].clone();
    let denied = format!(
        "error=access_denied&error_code=200&error_description=Permissions+error\
         &error_reason=user_denied&state={state}#_=_"
    );
    assert_eq!(
        callback(&test, &fake, &denied),
        error_location("auth_denied")
    );
    assert_eq!(
        callback(&test, &fake, &approved),
        error_location("state_invalid"),
        "spent"
    );

    let approved = fake.approve(&connect_url(&test, &fake, "u1"));
    let state = params_of(approved.split('#').next().unwrap_or_default())["state"].clone();
    assert_eq!(
        callback(&test, &fake, &format!("state={state}")),
        error_location("auth_failed")
    );
    assert_eq!(
        callback(&test, &fake, "code=AQ-forged&state=forged"),
        error_location("state_invalid")
    );
    assert!(
        fake.calls_to(Method::Get, "oauth/access_token").is_empty(),
        "no exchange"
    );

    let approved = fake.approve(&connect_url(&test, &fake, "u1"));
    assert_eq!(callback(&test, &fake, &approved), CONNECTED);
    let before = stored(&test, "u1");
    assert_eq!(
        callback(&test, &fake, &approved),
        error_location("state_invalid")
    );
    assert_eq!(stored(&test, "u1"), before, "the replay overwrote nothing");
    assert_eq!(
        fake.calls_to(Method::Get, "oauth/access_token").len(),
        2,
        "one code exchange"
    );
}

#[test]
fn an_expired_state_is_refused_before_any_exchange() {
    let (test, fake) = configured();
    let approved = fake.approve(&connect_url(&test, &fake, "u1"));
    test.clock.advance(STATE_TTL_SECONDS);
    assert_eq!(
        callback(&test, &fake, &approved),
        error_location("state_invalid")
    );
    assert!(fake.calls_to(Method::Get, "oauth/access_token").is_empty());
    assert_eq!(stored(&test, "u1"), None);
}

#[test]
fn refresh_rereads_both_profiles_and_re_extends_the_user_token() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    test.clock.advance(3600);
    let accounts = accounts(&call(&test, &fake, "GET", "refresh", "u1"));
    assert_eq!(accounts[0]["handle"], "Alice's Bakery 2");
    assert_eq!(accounts[0]["refreshedAt"], "2026-08-20T13:00:00Z");
    assert_eq!(accounts[0]["connectedAt"], "2026-08-20T12:00:00Z");
    assert_eq!(accounts[1]["handle"], "alicebakes2");
    assert_eq!(accounts[1]["avatar"], Value::Null);
    let new_expiry = TEST_START.plus_seconds(3600 + LONG_LIVED).to_rfc3339();
    assert_eq!(accounts[1]["expiresAt"], new_expiry);

    assert_eq!(
        fake.calls_to(Method::Get, PAGE)[0].token,
        Some(format!("page-{PAGE}"))
    );
    assert_eq!(
        fake.calls_to(Method::Get, IG)[0].token.as_deref(),
        Some("long-3")
    );
    let exchanges = fake.calls_to(Method::Get, "oauth/access_token");
    assert_eq!(
        exchanges.last().map(|c| c.params["grant_type"].as_str()),
        Some("fb_exchange_token")
    );

    // The extended token is the one used from now on.
    let gone = call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(json_of(&gone)["data"]["revoked"], true);
    assert_eq!(
        fake.calls_to(Method::Delete, "me/permissions")[0]
            .token
            .as_deref(),
        Some("long-4")
    );
}

#[test]
fn a_refused_extension_keeps_the_token_and_still_refreshes() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    let before = accounts(&call(&test, &fake, "GET", "status", "u1"));
    fake.force(
        "oauth/access_token",
        graph_error(400, 100, "Cannot extend this token"),
    );
    let accounts = accounts(&call(&test, &fake, "GET", "refresh", "u1"));
    assert_eq!(accounts[1]["expiresAt"], before[1]["expiresAt"]);
    call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(
        fake.calls_to(Method::Delete, "me/permissions")[0]
            .token
            .as_deref(),
        Some("long-3")
    );
}

#[test]
fn refresh_failures() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    let before = stored(&test, "u1");

    fake.force(
        PAGE,
        graph_error(403, 4, "(#4) Application request limit reached"),
    );
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("300"));
    assert_eq!(stored(&test, "u1"), before, "throttling changes nothing");

    fake.force(
        IG,
        OutboundResponse::with_body(500, "text/html", "<html>oops</html>"),
    );
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(
        (response.status, json_of(&response)["data"]["code"].clone()),
        (502, json!("upstream_unavailable"))
    );
    assert_eq!(stored(&test, "u1"), before, "an outage changes nothing");

    fake.force(
        IG,
        graph_error(
            400,
            100,
            "Object with ID '1784' does not exist, cannot be loaded",
        ),
    );
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(response.status, 409);
    let statuses: Vec<Value> = accounts(&call(&test, &fake, "GET", "status", "u1"))
        .iter()
        .map(|account| account["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("active"), json!("reconnect_required")],
        "only Instagram"
    );

    fake.force(
        PAGE,
        graph_error(400, 190, "Error validating access token: password changed"),
    );
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(
        (response.status, json_of(&response)["data"]["code"].clone()),
        (409, json!("reconnect_required"))
    );
    let accounts = accounts(&call(&test, &fake, "GET", "status", "u1"));
    assert!(
        accounts
            .iter()
            .all(|account| account["status"] == "reconnect_required")
    );

    // A later good refresh brings them back.
    let accounts = crate::flow_tests::accounts(&call(&test, &fake, "GET", "refresh", "u1"));
    assert!(accounts.iter().all(|account| account["status"] == "active"));
}

#[test]
fn refresh_and_disconnect_when_not_connected() {
    let (test, fake) = configured();
    let response = call(&test, &fake, "GET", "refresh", "u1");
    assert_eq!(
        (response.status, json_of(&response)["data"]["code"].clone()),
        (404, json!("not_connected"))
    );
    let response = call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(
        json_of(&response)["data"],
        json!({"removed": 0, "revoked": false, "revocationProblem": null})
    );
}

#[test]
fn disconnect_revokes_and_always_deletes() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    let response = call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(
        json_of(&response)["data"],
        json!({"removed": 2, "revoked": true, "revocationProblem": null})
    );
    assert_eq!(stored(&test, "u1"), None);

    connect(&test, &fake, "u1");
    fake.force(
        "me/permissions",
        OutboundResponse::with_body(500, "text/html", "<html>x</html>"),
    );
    let response = call(&test, &fake, "DELETE", "disconnect", "u1");
    let data = json_of(&response)["data"].clone();
    assert_eq!(
        (data["removed"].clone(), data["revoked"].clone()),
        (json!(2), json!(false))
    );
    let problem = data["revocationProblem"].as_str().expect("a problem");
    assert!(
        problem.contains("did not answer properly") && problem.contains("Business integrations")
    );
    assert_eq!(stored(&test, "u1"), None, "deleted anyway");
}

#[test]
fn not_configured_is_503_everywhere_it_matters() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    test.config_set("meta_app_secret", "");
    for (method, route) in [("GET", "connect"), ("GET", "refresh")] {
        let response = call(&test, &fake, method, route, "u1");
        assert_eq!(
            (response.status, json_of(&response)["data"]["code"].clone()),
            (503, json!("not_configured")),
            "{route}"
        );
    }
    assert_eq!(
        accounts(&call(&test, &fake, "GET", "status", "u1")).len(),
        2
    );
    let response = call(&test, &fake, "DELETE", "disconnect", "u1");
    assert_eq!(
        json_of(&response)["data"]["removed"],
        2,
        "disconnect still deletes"
    );
}

#[test]
fn users_do_not_see_each_others_accounts() {
    let (test, fake) = configured();
    connect(&test, &fake, "alice");
    assert_eq!(
        accounts(&call(&test, &fake, "GET", "status", "bob")),
        Vec::<Value>::new()
    );
    let response = call(&test, &fake, "GET", "refresh", "bob");
    assert_eq!(response.status, 404);
}

/// An environment whose store lets `rival` run just before this request's first
/// compare-and-swap (the refresh's write).
fn racing_env(test: &TestEnv, fake: &Fake, rival: impl FnOnce() + 'static) -> Env {
    let mut env = fake.env(test);
    env.store = Box::new(InterleavedStore::new(test.store.clone(), rival));
    env
}

#[test]
fn a_refresh_racing_a_disconnect_does_not_bring_the_accounts_back() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    let rival = fake.env(&test);
    let env = racing_env(&test, &fake, move || {
        let user = UserId::parse("u1").expect("user");
        Facebook::disconnect(&rival, &user).expect("disconnected");
    });
    let user = UserId::parse("u1").expect("user");
    let error = Facebook::refresh(&env, &user).expect_err("gone meanwhile");
    assert_eq!(error.code(), "not_connected");
    assert_eq!(stored(&test, "u1"), None);
}

#[test]
fn a_refresh_racing_a_reconnect_leaves_the_new_connection_alone() {
    let (test, fake) = configured();
    connect(&test, &fake, "u1");
    let approved = fake.approve(&connect_url(&test, &fake, "u1"));
    fake.with(|graph| graph.pages = vec![page_without_instagram()]);
    let rival = fake.env(&test);
    let env = racing_env(&test, &fake, move || {
        Facebook::complete(&rival, &CallbackQuery::parse(&approved)).expect("reconnected");
    });
    let user = UserId::parse("u1").expect("user");
    let accounts = Facebook::refresh(&env, &user).expect("answers what is stored");
    assert_eq!(
        accounts.len(),
        1,
        "the reconnect's single account, not the refreshed two"
    );
    assert_eq!(
        accounts[0].handle, "Alice's Bakery",
        "not the refresh's re-read name"
    );
    let stored_now = self::accounts(&call(&test, &fake, "GET", "status", "u1"));
    assert_eq!(stored_now.len(), 1);
}
