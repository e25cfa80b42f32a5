//! End-to-end tests of the Mastodon connector: the real host serving the real
//! `hayon_mastodon.wasm` from `spin.toml`, talking to the Mastodon test double (a 4.4
//! instance that checks client authentication, exact redirect URIs, PKCE S256 and
//! single-use codes) over loopback, driven over HTTP as the front end and the browser
//! would.
//!
//! Every test gets its own double, data directory and host. Every answer of the host is
//! checked for the tokens the double issued: none may ever appear in one.

use std::time::Duration;

use hayon_double_mastodon::{
    AccountState, AppCredentials, AppSpec, Decision, Endpoint, Fault, MastodonDouble, NewUser,
    PkceCheck,
};
use hayon_e2e::TestHost;
use hayon_e2e::oauth_flow::{
    self, call_route, edit_stored, follow_callback, query_param, raw_get, settings_error,
    settings_success,
};
use serde_json::{Value, json};

const USER: &str = "user-1";
const CALLBACK_PATH: &str = "/api/platform/mastodon/callback";

/// A host configured for a Mastodon double with a registered app and the user `alice`.
struct Setup {
    host: TestHost,
    mastodon: MastodonDouble,
    app: AppCredentials,
    token: String,
}

impl Setup {
    /// The instance URL is given as an operator might write it: upper-case scheme,
    /// trailing slash.
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Self {
        let mastodon = MastodonDouble::start().await.expect("the double starts");
        mastodon
            .add_user(NewUser::new("alice").display_name("Alice A."))
            .expect("alice");
        mastodon.add_user("bob").expect("bob");
        let placeholder = format!("http://127.0.0.1{CALLBACK_PATH}");
        let app = mastodon
            .register_app(AppSpec::new([placeholder.as_str()], "read write push"))
            .expect("app registered");
        let instance = format!("{}/", mastodon.base_url().replace("http://", "HTTP://"));
        let mut vars = vec![
            ("mastodon_instance_url", instance.as_str()),
            ("mastodon_client_key", app.client_id.as_str()),
            ("mastodon_client_secret", app.client_secret.expose()),
        ];
        vars.extend_from_slice(extra);
        let host = TestHost::start(&vars).await;
        // The operator registered exactly the callback the host serves.
        mastodon
            .set_redirect_uris(&app.client_id, [host.url(CALLBACK_PATH)])
            .expect("redirect URI set");
        let token = host.mint_token(USER);
        Self {
            host,
            mastodon,
            app,
            token,
        }
    }

    async fn api(&self, method: &str, route: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let answer = call_route(&self.host, "mastodon", method, route, &self.token).await;
        self.assert_no_token_in(&answer.2.to_string());
        answer
    }

    /// `connect`'s authorization URL.
    async fn auth_url(&self) -> String {
        let (status, _, body) = self.api("GET", "connect").await;
        assert_eq!(status, 200, "{body}");
        body["data"]["authUrl"]
            .as_str()
            .expect("data.authUrl")
            .to_owned()
    }

    /// The browser following the instance's redirect to our callback: the `Location`
    /// our callback answers with (always a 302).
    async fn follow(&self, redirect: &str) -> String {
        let (location, body) = follow_callback(&self.host, redirect).await;
        self.assert_no_token_in(&body.to_string());
        self.assert_no_token_in(&location);
        location
    }

    /// Connects `username` for [`USER`] all the way; answers the callback's redirect.
    async fn connect_as(&self, username: &str) -> String {
        let redirect = self
            .mastodon
            .authorize(&self.auth_url().await, Decision::approve(username))
            .expect("the instance redirects back");
        self.follow(&redirect).await
    }

    async fn accounts(&self) -> Value {
        let (status, _, body) = self.api("GET", "status").await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accounts"].clone()
    }

    fn assert_no_token_in(&self, text: &str) {
        let issued = self.mastodon.tokens();
        let tokens = issued.iter().map(|issued| issued.token.expose());
        oauth_flow::assert_no_secret_in(text, tokens, self.app.client_secret.expose());
    }
}

fn success() -> String {
    settings_success("mastodon")
}

fn failure(reason: &str) -> String {
    settings_error("mastodon", reason)
}

// ---------------------------------------------------------------------------------------
// connect

#[tokio::test]
async fn connect_answers_a_pkce_authorization_url_for_the_instance_however_written() {
    let setup = Setup::start().await;
    let url = setup.auth_url().await;

    let (endpoint, query) = url.split_once('?').expect("a query");
    assert_eq!(
        endpoint,
        format!("{}/oauth/authorize", setup.mastodon.base_url())
    );
    assert!(
        query.contains("&scope=read%20write%20push&"),
        "spaces as %20: {query}"
    );
    let redirect = setup.host.url(CALLBACK_PATH);
    let expected = [
        ("response_type", "code"),
        ("client_id", setup.app.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", "read write push"),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in expected {
        assert_eq!(
            query_param(&url, name).as_deref(),
            Some(value),
            "{name} in {url}"
        );
    }
    let state = query_param(&url, "state").expect("state");
    assert!(
        state.len() >= 32 && !state.contains(USER),
        "unguessable, no user id: {state}"
    );
    let challenge = query_param(&url, "code_challenge").expect("code_challenge");
    assert_eq!(
        challenge.len(),
        43,
        "S256 challenge, base64url: {challenge}"
    );

    let again = setup.auth_url().await;
    assert_ne!(
        query_param(&again, "state"),
        Some(state),
        "a fresh state per attempt"
    );
    assert_ne!(
        query_param(&again, "code_challenge"),
        Some(challenge),
        "a fresh verifier"
    );
}

#[tokio::test]
async fn configured_scopes_are_asked_for() {
    let setup = Setup::start_with(&[("mastodon_scopes", "read  write")]).await;
    let url = setup.auth_url().await;
    assert!(url.contains("&scope=read%20write&"), "{url}");
    let redirect = setup
        .mastodon
        .authorize(&url, Decision::approve("alice"))
        .expect("ok");
    assert_eq!(setup.follow(&redirect).await, success());
}

#[tokio::test]
async fn without_app_credentials_connect_is_503_not_configured() {
    let host = TestHost::start(&[]).await;
    let token = host.mint_token(USER);
    let (status, _, body) = host
        .get("/api/platform/mastodon/connect", Some(&token))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["data"]["code"], "not_configured");
    // People get a plain sentence; the variable to set is only in the operator's log.
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Connecting Mastodon is not available on this server yet."),
        "{message}"
    );
    assert!(!message.contains("MASTODON_CLIENT_KEY"), "{message}");
    let (status, _, body) = host.get("/api/platform/mastodon/connect", None).await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (401, &json!("unauthorized"))
    );
}

// ---------------------------------------------------------------------------------------
// callback

#[tokio::test]
async fn a_connection_exchanges_the_code_with_the_verifier_and_stores_the_account() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_as("alice").await, success());

    let exchanges = setup.mastodon.requests_to("POST", "/oauth/token");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].status, 200);
    assert_eq!(exchanges[0].pkce, Some(PkceCheck::Verified));
    assert_eq!(
        exchanges[0].param("redirect_uri").map(str::to_owned),
        Some(setup.host.url(CALLBACK_PATH)),
        "the same redirect URI as in the authorization URL"
    );

    let alice = setup.mastodon.account("alice").expect("alice");
    let accounts = setup.accounts().await;
    assert_eq!(accounts.as_array().map(Vec::len), Some(1));
    let account = &accounts[0];
    assert_eq!(account["platform"], "mastodon");
    assert_eq!(account["accountId"], alice.id.as_str());
    assert_eq!(
        account["handle"],
        format!("@alice@{}", setup.mastodon.local_domain())
    );
    assert_eq!(account["displayName"], "Alice A.");
    assert_eq!(account["profileUrl"], alice.url.as_str());
    assert_eq!(account["expiresAt"], Value::Null);
    assert_eq!(account["status"], "active");
}

#[tokio::test]
async fn a_fragment_after_the_callback_query_is_ignored() {
    let setup = Setup::start().await;
    let redirect = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::approve("alice"))
        .expect("redirect");
    let target = redirect.strip_prefix(&setup.host.base_url()).expect("ours");
    let (status, location) = raw_get(&setup.host, &format!("{target}#_=_")).await;
    assert_eq!(status, 302);
    assert_eq!(location, Some(success()));
    assert_eq!(setup.accounts().await[0]["status"], "active");
}

#[tokio::test]
async fn a_refusal_is_auth_denied_and_stores_nothing() {
    let setup = Setup::start().await;
    let redirect = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::Deny)
        .expect("redirect");
    assert!(redirect.contains("error=access_denied"), "{redirect}");
    assert_eq!(setup.follow(&redirect).await, failure("auth_denied"));
    assert_eq!(setup.accounts().await, json!([]));
    assert!(
        setup
            .mastodon
            .requests_to("POST", "/oauth/token")
            .is_empty()
    );
}

#[tokio::test]
async fn a_callback_without_code_is_auth_failed() {
    let setup = Setup::start().await;
    let state = query_param(&setup.auth_url().await, "state").expect("state");
    let location = setup
        .follow(&setup.host.url(&format!("{CALLBACK_PATH}?state={state}")))
        .await;
    assert_eq!(location, failure("auth_failed"));
    let location = setup.follow(&setup.host.url(CALLBACK_PATH)).await;
    assert_eq!(location, failure("auth_failed"));
    assert_eq!(setup.accounts().await, json!([]));
}

#[tokio::test]
async fn unknown_and_tampered_states_are_refused_without_an_exchange() {
    let setup = Setup::start().await;
    let redirect = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::approve("alice"))
        .expect("redirect");
    let state = query_param(&redirect, "state").expect("state");
    let code = query_param(&redirect, "code").expect("code");

    let mut tampered = state.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for bad in [
        tampered.as_str(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        USER,
    ] {
        let url = setup
            .host
            .url(&format!("{CALLBACK_PATH}?code={code}&state={bad}"));
        assert_eq!(
            setup.follow(&url).await,
            failure("state_invalid"),
            "state {bad}"
        );
    }
    assert!(
        setup
            .mastodon
            .requests_to("POST", "/oauth/token")
            .is_empty()
    );
    assert_eq!(setup.accounts().await, json!([]));

    // The genuine state still works after the forgeries.
    assert_eq!(setup.follow(&redirect).await, success());
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let mut setup = Setup::start().await;
    let redirect = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::approve("alice"))
        .expect("redirect");
    // Fifteen minutes pass before the browser comes back.
    edit_stored(&mut setup.host, "pending/mastodon/", |record| {
        record["expires_at"] = json!("2020-01-01T00:00:00Z");
    })
    .await;
    assert_eq!(setup.follow(&redirect).await, failure("state_invalid"));
    assert!(
        setup
            .mastodon
            .requests_to("POST", "/oauth/token")
            .is_empty()
    );
    assert_eq!(setup.accounts().await, json!([]));
}

#[tokio::test]
async fn a_replayed_callback_connects_and_overwrites_nothing() {
    let setup = Setup::start().await;
    let first = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::approve("alice"))
        .expect("redirect");
    assert_eq!(setup.follow(&first).await, success());
    // The user connects another account afterwards.
    assert_eq!(setup.connect_as("bob").await, success());
    let before = setup.accounts().await;
    assert_eq!(
        before[0]["handle"],
        format!("@bob@{}", setup.mastodon.local_domain())
    );
    let exchanges = setup.mastodon.requests_to("POST", "/oauth/token").len();

    // The first callback URL comes back (back button, prefetch, an attacker's replay).
    assert_eq!(setup.follow(&first).await, failure("state_invalid"));
    assert_eq!(setup.accounts().await, before, "nothing overwritten");
    assert_eq!(
        setup.mastodon.requests_to("POST", "/oauth/token").len(),
        exchanges
    );
}

#[tokio::test]
async fn a_refused_code_is_connect_failed() {
    let setup = Setup::start().await;
    let redirect = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::approve("alice"))
        .expect("redirect");
    // The code expires (Doorkeeper: 10 minutes) before it is exchanged.
    setup.mastodon.advance_clock(Duration::from_secs(601));
    assert_eq!(setup.follow(&redirect).await, failure("connect_failed"));
    let exchanges = setup.mastodon.requests_to("POST", "/oauth/token");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].status, 400);
    assert_eq!(setup.accounts().await, json!([]));

    let redirect = setup
        .mastodon
        .authorize(&setup.auth_url().await, Decision::approve("alice"))
        .expect("redirect");
    let forged = redirect.replacen("code=", "code=x", 1);
    assert_eq!(setup.follow(&forged).await, failure("connect_failed"));
}

#[tokio::test]
async fn outages_and_throttling_during_the_exchange_have_their_own_reasons() {
    let setup = Setup::start().await;
    setup
        .mastodon
        .fail_next(Endpoint::Token, Fault::HtmlError(503));
    assert_eq!(
        setup.connect_as("alice").await,
        failure("upstream_unavailable")
    );
    setup
        .mastodon
        .fail_next(Endpoint::Token, Fault::RateLimited);
    assert_eq!(setup.connect_as("alice").await, failure("rate_limited"));
    setup
        .mastodon
        .fail_next(Endpoint::VerifyCredentials, Fault::TruncatedJson);
    assert_eq!(
        setup.connect_as("alice").await,
        failure("upstream_unavailable")
    );
    assert_eq!(setup.accounts().await, json!([]));
    assert_eq!(setup.connect_as("alice").await, success());
}

#[tokio::test]
async fn a_disabled_login_fails_the_connection() {
    let setup = Setup::start().await;
    setup
        .mastodon
        .set_account_state("alice", AccountState::PendingApproval)
        .expect("state");
    assert_eq!(setup.connect_as("alice").await, failure("connect_failed"));
    assert_eq!(setup.accounts().await, json!([]));
}

// ---------------------------------------------------------------------------------------
// refresh

#[tokio::test]
async fn refresh_re_reads_the_profile() {
    let setup = Setup::start().await;
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (404, &json!("not_connected"))
    );

    setup.connect_as("alice").await;
    setup
        .mastodon
        .set_display_name("alice", "Alice Renamed")
        .expect("renamed");
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["accounts"][0]["displayName"], "Alice Renamed");
    assert_eq!(setup.accounts().await[0]["displayName"], "Alice Renamed");
}

#[tokio::test]
async fn a_revoked_token_marks_the_account_and_answers_409() {
    let setup = Setup::start().await;
    setup.connect_as("alice").await;
    // Alice removes the app under "Authorized apps" on her instance.
    assert_eq!(
        setup
            .mastodon
            .revoke_authorization("alice")
            .expect("revoked"),
        1
    );
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["code"], "reconnect_required");
    assert_eq!(setup.accounts().await[0]["status"], "reconnect_required");

    // Connecting again makes it usable.
    assert_eq!(setup.connect_as("alice").await, success());
    assert_eq!(setup.accounts().await[0]["status"], "active");
}

#[tokio::test]
async fn throttling_and_outages_leave_the_account_as_it_was() {
    let setup = Setup::start().await;
    setup.connect_as("alice").await;
    let before = setup.accounts().await;

    setup
        .mastodon
        .fail_next(Endpoint::VerifyCredentials, Fault::RateLimited);
    let (status, headers, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["data"]["code"], "rate_limited");
    let wait: u32 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=300).contains(&wait), "from X-RateLimit-Reset: {wait}");
    assert_eq!(setup.accounts().await, before);

    for fault in [
        Fault::HtmlError(502),
        Fault::EmptyBody(503),
        Fault::JsonError {
            status: 500,
            message: "boom".into(),
        },
    ] {
        setup.mastodon.fail_next(Endpoint::VerifyCredentials, fault);
        let (status, _, body) = setup.api("GET", "refresh").await;
        assert_eq!(
            (status, &body["data"]["code"]),
            (502, &json!("upstream_unavailable"))
        );
        assert_eq!(setup.accounts().await, before);
    }
}

#[tokio::test]
async fn a_disabled_login_is_account_unavailable_not_dead() {
    let setup = Setup::start().await;
    setup.connect_as("alice").await;
    let before = setup.accounts().await;
    setup
        .mastodon
        .set_account_state("alice", AccountState::Disabled)
        .expect("state");
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (422, &json!("account_unavailable"))
    );
    assert_eq!(setup.accounts().await, before);
}

// ---------------------------------------------------------------------------------------
// disconnect

#[tokio::test]
async fn disconnect_revokes_the_token_and_deletes_the_account() {
    let setup = Setup::start().await;
    setup.connect_as("alice").await;
    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["removed"], 1);
    assert_eq!(body["data"]["revoked"], true);
    assert_eq!(body["data"]["revocationProblem"], Value::Null);

    let revokes = setup.mastodon.requests_to("POST", "/oauth/revoke");
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].status, 200);
    assert_eq!(
        revokes[0].param("client_id"),
        Some(setup.app.client_id.as_str())
    );
    assert!(setup.mastodon.tokens().iter().all(|token| token.revoked));
    assert_eq!(setup.accounts().await, json!([]));

    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["removed"], 0);
}

#[tokio::test]
async fn a_failed_revocation_is_reported_and_the_account_deleted_anyway() {
    let setup = Setup::start().await;
    setup.connect_as("alice").await;
    setup
        .mastodon
        .fail_next(Endpoint::Revoke, Fault::HtmlError(503));
    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["removed"], 1);
    assert_eq!(body["data"]["revoked"], false);
    let problem = body["data"]["revocationProblem"]
        .as_str()
        .expect("a problem");
    assert!(
        problem.contains("Authorized apps"),
        "tells what to do: {problem}"
    );
    assert_eq!(setup.accounts().await, json!([]));
}
