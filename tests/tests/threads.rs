//! End-to-end tests of the Threads connector: the real host serving the real
//! `hayon_threads.wasm` from `spin.toml`, talking to the Threads test double (its Graph
//! host and its authorization window, which check the app id, exact redirect URIs,
//! single-use codes and the 24-hour rule of `th_refresh_token`) over loopback, driven over
//! HTTP as the front end and the browser would.
//!
//! Every test gets its own double, data directory and host. Every answer of the host is
//! checked for the tokens the double issued: none may ever appear in one.

use std::time::Duration;

use hayon_double_meta::{Decision, Fault, RegisteredApp, ThreadsDouble, ThreadsUser, TokenKind};
use hayon_e2e::TestHost;
use hayon_e2e::oauth_flow::{
    self, call_route, follow_callback, now_unix, raw_get, settings_error, settings_success,
    unix_seconds,
};
use serde_json::{Value, json};

const USER: &str = "user-1";
const CALLBACK_PATH: &str = "/api/platform/threads/callback";
const APP_ID: &str = "987654321012345";
const APP_SECRET: &str = "threads-app-secret-0123456789";
/// Above 2^53: a JSON number this size loses digits through a double.
const ALICE: &str = "17841400000000000123";
const BOB: &str = "17841400000000000457";
const LONG_LIVED_SECONDS: i64 = 5_183_944;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

struct Setup {
    host: TestHost,
    threads: ThreadsDouble,
    token: String,
}

impl Setup {
    async fn start() -> Self {
        let threads = ThreadsDouble::start().await.expect("the double starts");
        threads
            .add_user(ThreadsUser::new(ALICE, "alice"))
            .expect("alice");
        threads
            .add_user(ThreadsUser::new(BOB, "bob").without_name())
            .expect("bob");
        let graph = format!("{}/", threads.graph_url());
        let window = threads.authorize_url();
        let host = TestHost::start(&[
            ("threads_app_id", APP_ID),
            ("threads_app_secret", APP_SECRET),
            ("threads_graph_url", &graph),
            ("threads_authorize_url", &window),
        ])
        .await;
        threads.register_app(RegisteredApp::new(
            APP_ID,
            APP_SECRET,
            [host.url(CALLBACK_PATH)],
        ));
        let token = host.mint_token(USER);
        Self {
            host,
            threads,
            token,
        }
    }

    async fn api(&self, method: &str, route: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let answer = call_route(&self.host, "threads", method, route, &self.token).await;
        self.assert_no_token_in(&answer.2.to_string());
        answer
    }

    async fn auth_url(&self) -> String {
        let (status, _, body) = self.api("GET", "connect").await;
        assert_eq!(status, 200, "{body}");
        body["data"]["url"].as_str().expect("data.url").to_owned()
    }

    /// The window's redirect to our callback after `decision`.
    async fn decide(&self, decision: Decision) -> String {
        self.threads
            .authorize(&self.auth_url().await, decision)
            .expect("the window redirects back")
    }

    /// The browser following a redirect to our callback: the `Location` we answer with.
    async fn follow(&self, redirect: &str) -> String {
        let (location, _) = follow_callback(&self.host, redirect).await;
        self.assert_no_token_in(&location);
        location
    }

    async fn connect_as(&self, user_id: &str) -> String {
        let redirect = self.decide(Decision::Approve(user_id.to_owned())).await;
        self.follow(&redirect).await
    }

    async fn accounts(&self) -> Value {
        let (status, _, body) = self.api("GET", "status").await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accounts"].clone()
    }

    fn assert_no_token_in(&self, text: &str) {
        let tokens = self.threads.tokens().into_iter().map(|issued| issued.token);
        oauth_flow::assert_no_secret_in(text, tokens, APP_SECRET);
    }

    fn calls(&self, method: &str, path: &str) -> usize {
        self.threads.requests_to(method, path).len()
    }

    /// Stops the host, changes the stored value of the first key starting with
    /// `key_prefix`, and starts the host again on the same data.
    async fn edit_stored(&mut self, key_prefix: &str, edit: impl FnOnce(&mut Value)) {
        oauth_flow::edit_stored(&mut self.host, key_prefix, edit).await;
    }

    /// Our side sees the stored token as received long ago (more than 24 hours).
    async fn age_stored_token(&mut self) {
        let key = format!("accounts/threads/{USER}");
        self.edit_stored(&key, |value| {
            value["accounts"][0]["extras"]["token_issued_at"] = json!("2026-01-01T00:00:00Z");
        })
        .await;
    }
}

fn success() -> String {
    settings_success("threads")
}

fn failure(reason: &str) -> String {
    settings_error("threads", reason)
}

/// The raw (still encoded) value of query parameter `name`.
fn raw_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}

fn expires_at(account: &Value) -> i64 {
    unix_seconds(account["expiresAt"].as_str().expect("expiresAt"))
}

// ---------------------------------------------------------------------------------------
// connect

#[tokio::test]
async fn connect_answers_the_window_url_with_the_threads_app_id_and_scopes() {
    let setup = Setup::start().await;
    let url = setup.auth_url().await;
    let (endpoint, _) = url.split_once('?').expect("a query");
    assert_eq!(
        endpoint,
        format!("{}/oauth/authorize", setup.threads.authorize_url())
    );
    assert_eq!(raw_param(&url, "client_id"), Some(APP_ID));
    assert_eq!(raw_param(&url, "response_type"), Some("code"));
    assert_eq!(
        raw_param(&url, "scope"),
        Some("threads_basic%2Cthreads_content_publish%2Cthreads_manage_insights")
    );
    let redirect = setup
        .host
        .url(CALLBACK_PATH)
        .replace(':', "%3A")
        .replace('/', "%2F");
    assert_eq!(raw_param(&url, "redirect_uri"), Some(redirect.as_str()));
    let state = raw_param(&url, "state").expect("state");
    assert!(state.len() >= 32 && !state.contains(USER), "{state}");
    assert_ne!(raw_param(&setup.auth_url().await, "state"), Some(state));
}

#[tokio::test]
async fn without_app_credentials_connect_is_503_not_configured() {
    let host = TestHost::start(&[]).await;
    let token = host.mint_token(USER);
    let (status, _, body) = host
        .get("/api/platform/threads/connect", Some(&token))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["data"]["code"], "not_configured");
    // People get a plain sentence; the variable to set is only in the operator's log.
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Connecting Threads is not available on this server yet."),
        "{message}"
    );
    assert!(!message.contains("THREADS_APP_ID"), "{message}");
}

// ---------------------------------------------------------------------------------------
// callback

#[tokio::test]
async fn a_connection_upgrades_the_token_and_keeps_the_big_id_exact() {
    let setup = Setup::start().await;
    let started = now_unix();
    assert_eq!(setup.connect_as(ALICE).await, success());

    let exchange = setup.threads.requests_to("POST", "/oauth/access_token");
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].param("grant_type"), Some("authorization_code"));
    assert_eq!(exchange[0].param("client_id"), Some(APP_ID));
    let callback = setup.host.url(CALLBACK_PATH);
    assert_eq!(exchange[0].param("redirect_uri"), Some(callback.as_str()));
    let upgrade = setup.threads.requests_to("GET", "/access_token");
    assert_eq!(upgrade.len(), 1);
    assert_eq!(upgrade[0].param("grant_type"), Some("th_exchange_token"));
    assert_eq!(upgrade[0].token_kind(), Some(TokenKind::UserShortLived));
    let me = setup.threads.requests_to("GET", "/me");
    assert_eq!(
        me.last().and_then(|r| r.token_kind()),
        Some(TokenKind::UserLongLived)
    );

    let accounts = setup.accounts().await;
    assert_eq!(accounts.as_array().map(Vec::len), Some(1));
    let account = &accounts[0];
    assert_eq!(account["platform"], "threads");
    assert_eq!(account["accountId"], ALICE, "exact, as a string");
    assert_eq!(account["handle"], "alice");
    assert_eq!(account["displayName"], "alice");
    assert_eq!(account["status"], "active");
    let expiry = expires_at(account);
    let earliest = started + LONG_LIVED_SECONDS;
    assert!(
        (earliest..=now_unix() + LONG_LIVED_SECONDS).contains(&expiry),
        "{expiry}"
    );
}

#[tokio::test]
async fn a_fragment_after_the_callback_query_is_ignored() {
    let setup = Setup::start().await;
    let redirect = setup.decide(Decision::Approve(BOB.to_owned())).await;
    assert!(
        redirect.ends_with("#_"),
        "the window appends #_: {redirect}"
    );
    let target = redirect.strip_prefix(&setup.host.base_url()).expect("ours");
    let (status, location) = raw_get(&setup.host, target).await;
    assert_eq!((status, location), (302, Some(success())));
    let account = &setup.accounts().await[0];
    assert_eq!(account["accountId"], BOB);
    assert_eq!(account["displayName"], Value::Null);
}

#[tokio::test]
async fn a_refusal_is_auth_denied_and_a_missing_code_auth_failed() {
    let setup = Setup::start().await;
    let redirect = setup.decide(Decision::Deny).await;
    assert!(redirect.contains("error=access_denied"), "{redirect}");
    assert_eq!(setup.follow(&redirect).await, failure("auth_denied"));

    let url = setup.auth_url().await;
    let state = raw_param(&url, "state").expect("state");
    let bare = setup.host.url(&format!("{CALLBACK_PATH}?state={state}#_"));
    assert_eq!(setup.follow(&bare).await, failure("auth_failed"));
    assert_eq!(setup.accounts().await, json!([]));
    assert_eq!(setup.calls("POST", "/oauth/access_token"), 0);
}

#[tokio::test]
async fn unknown_tampered_and_expired_states_are_refused() {
    let mut setup = Setup::start().await;
    let redirect = setup.decide(Decision::Approve(ALICE.to_owned())).await;
    let state = raw_param(&redirect, "state").expect("state").to_owned();
    let code = raw_param(&redirect, "code").expect("code").to_owned();

    let mut tampered = state.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for bad in [tampered.as_str(), "bm90LWEtc3RhdGU", USER, ""] {
        let url = setup
            .host
            .url(&format!("{CALLBACK_PATH}?code={code}&state={bad}"));
        assert_eq!(
            setup.follow(&url).await,
            failure("state_invalid"),
            "state {bad:?}"
        );
    }
    assert_eq!(setup.calls("POST", "/oauth/access_token"), 0);

    // The person comes back after the state expired.
    setup
        .edit_stored("pending/threads/", |record| {
            record["expires_at"] = json!("2020-01-01T00:00:00Z");
        })
        .await;
    assert_eq!(setup.follow(&redirect).await, failure("state_invalid"));
    assert_eq!(setup.calls("POST", "/oauth/access_token"), 0);
    assert_eq!(setup.accounts().await, json!([]));
}

#[tokio::test]
async fn a_replayed_callback_connects_and_overwrites_nothing() {
    let setup = Setup::start().await;
    let first = setup.decide(Decision::Approve(ALICE.to_owned())).await;
    assert_eq!(setup.follow(&first).await, success());
    assert_eq!(setup.connect_as(BOB).await, success());
    let before = setup.accounts().await;
    assert_eq!(before[0]["accountId"], BOB);
    let exchanges = setup.calls("POST", "/oauth/access_token");

    assert_eq!(setup.follow(&first).await, failure("state_invalid"));
    assert_eq!(setup.accounts().await, before);
    assert_eq!(setup.calls("POST", "/oauth/access_token"), exchanges);
}

#[tokio::test]
async fn a_refused_code_is_connect_failed() {
    let setup = Setup::start().await;
    let redirect = setup.decide(Decision::Approve(ALICE.to_owned())).await;
    let code = raw_param(&redirect, "code").expect("code");
    let forged = redirect.replacen(code, "AQBforgedcode", 1);
    assert_eq!(setup.follow(&forged).await, failure("connect_failed"));
    assert_eq!(setup.calls("POST", "/oauth/access_token"), 1);
    assert_eq!(setup.accounts().await, json!([]));
}

#[tokio::test]
async fn a_failed_long_lived_exchange_fails_the_connection() {
    let setup = Setup::start().await;
    setup
        .threads
        .fail_next("GET /access_token", Fault::token_invalid());
    assert_eq!(setup.connect_as(ALICE).await, failure("connect_failed"));
    setup
        .threads
        .fail_next("GET /access_token", Fault::html(502));
    assert_eq!(
        setup.connect_as(ALICE).await,
        failure("upstream_unavailable")
    );
    setup
        .threads
        .fail_next("GET /access_token", Fault::app_rate_limit());
    assert_eq!(setup.connect_as(ALICE).await, failure("rate_limited"));
    assert_eq!(
        setup.accounts().await,
        json!([]),
        "a one-hour token is never stored"
    );
    assert_eq!(setup.calls("GET", "/me"), 0);
}

// ---------------------------------------------------------------------------------------
// refresh

#[tokio::test]
async fn refresh_of_a_young_token_only_re_reads_the_profile() {
    let setup = Setup::start().await;
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (404, &json!("not_connected"))
    );

    setup.connect_as(ALICE).await;
    let before = setup.accounts().await;
    // Even if Threads would accept an extension already, ours is less than a day old.
    setup.threads.advance(DAY + DAY);
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(setup.calls("GET", "/refresh_access_token"), 0);
    assert_eq!(setup.calls("GET", "/me"), 2);
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["accountId"], ALICE);
    assert_eq!(account["expiresAt"], before[0]["expiresAt"]);
}

#[tokio::test]
async fn refresh_of_a_day_old_token_extends_it() {
    let mut setup = Setup::start().await;
    setup.connect_as(ALICE).await;
    let before = expires_at(&setup.accounts().await[0]);
    setup.age_stored_token().await;
    setup.threads.advance(DAY + Duration::from_secs(3_600));
    // Extensions get a lifetime one day longer, so the new expiry shows even though our
    // own clock moved only seconds.
    let longer = LONG_LIVED_SECONDS + 86_400;
    let longer_seconds = u64::try_from(longer).expect("positive");
    setup
        .threads
        .set_long_lived_expires_in(Duration::from_secs(longer_seconds));

    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 200, "{body}");
    let extensions = setup.threads.requests_to("GET", "/refresh_access_token");
    assert_eq!(extensions.len(), 1);
    assert_eq!(extensions[0].param("grant_type"), Some("th_refresh_token"));
    let after = expires_at(&body["data"]["accounts"][0]);
    assert!(
        after >= before + 86_400,
        "receipt time + expires_in: {before} → {after}"
    );
    assert!(after <= now_unix() + longer, "{after}");

    // The extended token is the one stored: the old one may die, refreshing still works,
    // and the next refresh finds a young token.
    let tokens: Vec<_> = setup
        .threads
        .tokens_of(ALICE)
        .into_iter()
        .filter(|t| t.kind == TokenKind::UserLongLived)
        .collect();
    assert_eq!(tokens.len(), 2, "connect and one extension");
    setup.threads.revoke_token(&tokens[0].token, 460);
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["accounts"][0]["status"], "active");
    assert_eq!(setup.calls("GET", "/refresh_access_token"), 1);
}

#[tokio::test]
async fn an_extension_threads_finds_too_early_is_not_a_dead_token() {
    let mut setup = Setup::start().await;
    setup.connect_as(ALICE).await;
    let before = setup.accounts().await;
    // Our record says a day has passed; the double's clock says it has not.
    setup.age_stored_token().await;
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(setup.calls("GET", "/refresh_access_token"), 1);
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["status"], "active");
    assert_eq!(account["expiresAt"], before[0]["expiresAt"]);
}

#[tokio::test]
async fn dead_tokens_mark_the_account_and_answer_409() {
    let setup = Setup::start().await;
    setup.connect_as(ALICE).await;
    setup.threads.revoke_user(ALICE, 460);
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["code"], "reconnect_required");
    assert_eq!(setup.accounts().await[0]["status"], "reconnect_required");

    assert_eq!(setup.connect_as(ALICE).await, success());
    assert_eq!(setup.accounts().await[0]["status"], "active");
    let long_lived = setup
        .threads
        .tokens_of(ALICE)
        .into_iter()
        .rfind(|t| t.kind == TokenKind::UserLongLived)
        .expect("a long-lived token");
    // Threads reports this dead token as a missing resource (code 100).
    assert!(setup.threads.make_token_missing(&long_lived.token));
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (409, &json!("reconnect_required"))
    );
}

#[tokio::test]
async fn an_expired_token_cannot_be_extended_and_needs_a_reconnect() {
    let mut setup = Setup::start().await;
    setup.connect_as(ALICE).await;
    setup.age_stored_token().await;
    setup
        .threads
        .advance(Duration::from_secs(70 * 24 * 60 * 60));
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (409, &json!("reconnect_required"))
    );
    assert_eq!(setup.accounts().await[0]["status"], "reconnect_required");
}

#[tokio::test]
async fn throttling_and_outages_leave_the_account_as_it_was() {
    let setup = Setup::start().await;
    setup.connect_as(ALICE).await;
    let before = setup.accounts().await;

    let throttles = [
        Fault::app_rate_limit(),
        Fault::user_rate_limit(),
        Fault::business_use_case_limit(80_002, APP_ID, 7),
        Fault::too_many_requests(),
    ];
    for fault in throttles {
        setup.threads.fail_next("GET /me", fault);
        let (status, _, body) = setup.api("GET", "refresh").await;
        assert_eq!(
            (status, &body["data"]["code"]),
            (429, &json!("rate_limited")),
            "{body}"
        );
        assert_eq!(setup.accounts().await, before);
    }
    setup
        .threads
        .fail_next("GET /me", Fault::business_use_case_limit(80_002, APP_ID, 7));
    let (_, headers, _) = setup.api("GET", "refresh").await;
    assert_eq!(
        headers["retry-after"], "420",
        "estimated_time_to_regain_access minutes"
    );

    for fault in [
        Fault::html(502),
        Fault::empty(503),
        Fault::temporarily_unavailable(),
    ] {
        setup.threads.fail_next("GET /me", fault);
        let (status, _, body) = setup.api("GET", "refresh").await;
        assert_eq!(
            (status, &body["data"]["code"]),
            (502, &json!("upstream_unavailable"))
        );
        assert_eq!(setup.accounts().await, before);
    }
}

// ---------------------------------------------------------------------------------------
// disconnect

#[tokio::test]
async fn disconnect_deletes_ours() {
    let setup = Setup::start().await;
    setup.connect_as(ALICE).await;
    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["removed"], 1);
    assert_eq!(
        body["data"]["revoked"], false,
        "Threads has no revocation call"
    );
    assert_eq!(setup.accounts().await, json!([]));
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (404, &json!("not_connected"))
    );
}
