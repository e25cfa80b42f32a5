//! Two `hayon-host` processes sharing one Redis, as behind a load balancer: a connection
//! begun on one process completes on the other, and a session rotated by one is the one
//! the other uses.
//!
//! Each test starts its own `redis-server` on a free loopback port (skipped with a printed
//! note where Redis is not installed, a failure under CI, where `.ci/run` installs it),
//! writes a Spin runtime-config file pointing at it, and runs the `hayon-host` binary
//! twice with that file and the same variables, `PUBLIC_BASE_URL` being the load
//! balancer's address. The test plays the load balancer: it sends each request to the
//! process it chooses.

mod support;

use hayon_double_atproto::{Account, AtprotoDouble, Endpoint};
use hayon_double_mastodon::{AppSpec, Decision, MastodonDouble, NewUser};
use hayon_host::keyvalue::KvBackend;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Deployment, FRONTEND_URL, HostProcess, PUBLIC_URL};

const USER: &str = "user-1";

// ---------------------------------------------------------------------------------------
// Mastodon: an OAuth connection begun on A, completed on B

/// The path and query the load balancer forwards for a URL on the public address.
fn forwarded_path(url: &str) -> &str {
    match url.strip_prefix(PUBLIC_URL) {
        Some(path) => path,
        None => panic!("{url} is not on the public address {PUBLIC_URL}"),
    }
}

/// The callback, forwarded to `process`: where the process redirects the browser.
async fn callback_on(process: &HostProcess, redirect: &str) -> String {
    let (status, headers, body) = process.get(forwarded_path(redirect), None).await;
    assert_eq!(status, 302, "a callback only redirects: {body}");
    headers["location"].to_str().expect("ascii").to_owned()
}

async fn mastodon_accounts_on(process: &HostProcess, token: &str) -> Value {
    let path = "/api/platform/mastodon/status";
    let (status, _, body) = process.get(path, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["accounts"].clone()
}

#[tokio::test]
async fn a_connection_begun_on_one_process_completes_on_the_other() {
    let mastodon = MastodonDouble::start().await.expect("the double starts");
    let alice = mastodon
        .add_user(NewUser::new("alice").display_name("Alice A."))
        .expect("alice");
    let callback = format!("{PUBLIC_URL}/api/platform/mastodon/callback");
    let app = mastodon
        .register_app(AppSpec::new([callback.as_str()], "read write push"))
        .expect("app registered");
    let Some(mut deployment) = Deployment::start(&[
        ("MASTODON_INSTANCE_URL", mastodon.base_url()),
        ("MASTODON_CLIENT_KEY", app.client_id.as_str()),
        ("MASTODON_CLIENT_SECRET", app.client_secret.expose()),
    ])
    .await
    else {
        return;
    };
    let token = deployment.token(USER);
    let token_exchanges = || mastodon.requests_to("POST", "/oauth/token").len();

    // A begins: the pending authorization goes to Redis, the browser to Mastodon.
    let (status, _, body) = deployment
        .a
        .get("/api/platform/mastodon/connect", Some(&token))
        .await;
    assert_eq!(status, 200, "{body}");
    let auth_url = body["data"]["authUrl"].as_str().expect("data.authUrl");
    let redirect = mastodon
        .authorize(auth_url, Decision::approve("alice"))
        .expect("the instance redirects back");
    assert!(
        forwarded_path(&redirect).starts_with("/api/platform/mastodon/callback?"),
        "{redirect}"
    );

    // B completes it, from what A stored.
    let success = format!("{FRONTEND_URL}/settings?success=mastodon_connected");
    assert_eq!(callback_on(&deployment.b, &redirect).await, success);
    assert_eq!(token_exchanges(), 1);

    for process in [&deployment.a, &deployment.b] {
        let accounts = mastodon_accounts_on(process, &token).await;
        assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
        assert_eq!(accounts[0]["accountId"], alice.id.as_str(), "{accounts}");
        assert_eq!(accounts[0]["handle"], alice.handle.as_str(), "{accounts}");
        assert_eq!(accounts[0]["status"], "active", "{accounts}");
    }

    // B consumed the state in Redis: a replay on A is refused before any exchange.
    let state_invalid = format!("{FRONTEND_URL}/settings?error=mastodon_state_invalid");
    assert_eq!(callback_on(&deployment.a, &redirect).await, state_invalid);
    assert_eq!(token_exchanges(), 1);

    let store = deployment.redis().store().expect("redis answers");
    let keys = store.list_keys("default", None, 100).expect("keys");
    assert!(
        keys.iter().any(|k| k.starts_with("accounts/mastodon/")),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.starts_with("pending/")), "{keys:?}");
    deployment.assert_processes_healthy_and_stateless();
}

// ---------------------------------------------------------------------------------------
// Bluesky: a session created on A, rotated on B

const ALICE_APP_PASSWORD: &str = "alic-eapp-pw7x-q2zz";

/// `method /api/platform/bluesky/<route>` on `process`; `connect` carries alice's app
/// password. Answers the accounts of a 200.
async fn bluesky_accounts(
    process: &HostProcess,
    token: &str,
    method: Method,
    route: &str,
) -> Vec<Value> {
    let path = format!("/api/platform/bluesky/{route}");
    let body = (route == "connect")
        .then(|| json!({"identifier": "alice.test", "appPassword": ALICE_APP_PASSWORD}));
    let (status, _, json) = process
        .request(method, &path, Some(token), body.as_ref())
        .await;
    assert_eq!(status, 200, "{route}: {json}");
    json["data"]["accounts"]
        .as_array()
        .cloned()
        .expect("accounts")
}

/// The refresh token the double issued last.
fn latest_refresh_token(double: &AtprotoDouble) -> String {
    double
        .issued_tokens()
        .into_iter()
        .rev()
        .find(|t| AtprotoDouble::refresh_token_id(t).is_some())
        .expect("a refresh token was issued")
}

/// The refresh token presented by the only `refreshSession` since the last call.
fn presented_refresh_token(double: &AtprotoDouble) -> Option<String> {
    let refreshes = double.requests_to(Endpoint::RefreshSession);
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    double.clear_requests();
    refreshes[0].bearer.clone()
}

#[tokio::test]
async fn a_session_refreshed_on_one_process_is_seen_and_used_by_the_other() {
    let double = AtprotoDouble::start().await.expect("the double starts");
    let alice = double.add_account(
        Account::new("alice.test", "alice-main-password-7Qx2")
            .app_password(ALICE_APP_PASSWORD)
            .display_name("Alice"),
    );
    let Some(mut deployment) = Deployment::start(&[
        ("BLUESKY_SERVICE_URL", double.entryway_url()),
        ("BLUESKY_PLC_URL", double.plc_url()),
        ("BLUESKY_PDS_HOSTS", "http://127.0.0.1:*"),
    ])
    .await
    else {
        return;
    };
    let token = deployment.token(USER);

    let connected = bluesky_accounts(&deployment.a, &token, Method::POST, "connect").await;
    assert_eq!(connected.len(), 1, "{connected:?}");
    assert_eq!(connected[0]["displayName"], "Alice", "{connected:?}");
    let first = latest_refresh_token(&double);
    double.clear_requests();

    // B refreshes the session A created (re-reading the renamed profile) and stores the
    // rotated token.
    double.set_profile(alice.did_str(), Some("Alice Renamed"), None);
    let refreshed = bluesky_accounts(&deployment.b, &token, Method::GET, "refresh").await;
    assert_eq!(
        refreshed[0]["displayName"], "Alice Renamed",
        "{refreshed:?}"
    );
    assert_eq!(presented_refresh_token(&double), Some(first.clone()));
    let second = latest_refresh_token(&double);
    assert_ne!(second, first);

    // A shows what B stored, and refreshes with the token B got, not the one it had.
    let status = bluesky_accounts(&deployment.a, &token, Method::GET, "status").await;
    assert_eq!(status, refreshed, "A's status is B's refresh");
    bluesky_accounts(&deployment.a, &token, Method::GET, "refresh").await;
    assert_eq!(presented_refresh_token(&double), Some(second));

    deployment.assert_processes_healthy_and_stateless();
}
