//! Several hosts behind one load balancer, sharing one Redis: the host keeps no state of
//! its own, so a connection begun on one host completes on another, a session rotated by
//! one is used by the other, and a callback raced on both is accepted once.
//!
//! Each test starts its own `redis-server` on a free loopback port (skipped with a printed
//! note where Redis is not installed; `.ci/run` installs it) and two hosts in this process,
//! each with its own data directory and engine, both configured with the same public URL —
//! the load balancer's, [`PUBLIC_URL`] — so that the platforms redirect the browser there;
//! the test then plays the load balancer by sending the callback to the other host.

use hayon_double_atproto::{Account, AtprotoDouble, Endpoint};
use hayon_double_mastodon::{AppSpec, Decision, MastodonDouble, NewUser};
use hayon_e2e::redis::TestRedis;
use hayon_e2e::{TEST_FRONTEND_URL, TestHost};
use hayon_host::keyvalue::KvBackend;
use hayon_host::keyvalue::config::KeyValueConfig;
use hayon_host::keyvalue::redis_store::RedisUrl;
use serde_json::{Value, json};

/// The address browsers and platforms know the service by (nothing listens there).
const PUBLIC_URL: &str = "http://lb.hayon.test";
const USER: &str = "user-1";
const ALICE_APP: &str = "alic-eapp-pw7x-q2zz";

/// Two hosts on one Redis, with `vars` on top of the harness defaults.
async fn two_hosts(redis: &TestRedis, vars: &[(&str, &str)]) -> (TestHost, TestHost) {
    let host = || {
        TestHost::builder()
            .vars(vars)
            .var("public_base_url", PUBLIC_URL)
            .key_value(redis.key_value_config())
            .start()
    };
    let a = host().await;
    let b = host().await;
    (a, b)
}

/// Neither host wrote anything of its own: everything is in Redis.
fn assert_no_local_storage(hosts: &[&TestHost]) {
    for host in hosts {
        let file = host.data_dir().join(hayon_host::KV_FILE);
        assert!(!file.exists(), "{} exists", file.display());
    }
}

// ---------------------------------------------------------------------------------------
// Mastodon: an OAuth connection across hosts

struct Mastodon {
    double: MastodonDouble,
    a: TestHost,
    b: TestHost,
    token: String,
}

impl Mastodon {
    async fn start(redis: &TestRedis) -> Self {
        let double = MastodonDouble::start().await.expect("the double starts");
        double
            .add_user(NewUser::new("alice").display_name("Alice A."))
            .expect("alice");
        let callback = format!("{PUBLIC_URL}/api/platform/mastodon/callback");
        let app = double
            .register_app(AppSpec::new([callback.as_str()], "read write push"))
            .expect("app registered");
        let (a, b) = two_hosts(
            redis,
            &[
                ("mastodon_instance_url", double.base_url()),
                ("mastodon_client_key", app.client_id.as_str()),
                ("mastodon_client_secret", app.client_secret.expose()),
            ],
        )
        .await;
        let token = a.mint_token(USER);
        Self {
            double,
            a,
            b,
            token,
        }
    }

    /// `connect` on `host`, then the user approves as alice: the URL the platform sends
    /// the browser to.
    async fn begin_on(&self, host: &TestHost) -> String {
        let path = "/api/platform/mastodon/connect";
        let (status, _, body) = host.get(path, Some(&self.token)).await;
        assert_eq!(status, 200, "{body}");
        let auth_url = body["data"]["authUrl"].as_str().expect("data.authUrl");
        let redirect = self
            .double
            .authorize(auth_url, Decision::approve("alice"))
            .expect("the instance redirects back");
        assert!(redirect.starts_with(PUBLIC_URL), "{redirect}");
        redirect
    }

    /// The load balancer sends the browser's callback to `host`: where the host redirects.
    async fn callback_on(host: &TestHost, redirect: &str) -> String {
        let path = redirect.strip_prefix(PUBLIC_URL).expect("our public URL");
        let (status, headers, body) = host.get(path, None).await;
        assert_eq!(status, 302, "a callback only redirects: {body}");
        headers["location"].to_str().expect("ascii").to_owned()
    }

    async fn accounts_on(&self, host: &TestHost) -> Value {
        let path = "/api/platform/mastodon/status";
        let (status, _, body) = host.get(path, Some(&self.token)).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accounts"].clone()
    }

    fn token_exchanges(&self) -> usize {
        self.double.requests_to("POST", "/oauth/token").len()
    }
}

fn success() -> String {
    format!("{TEST_FRONTEND_URL}/settings?success=mastodon_connected")
}

fn state_invalid() -> String {
    format!("{TEST_FRONTEND_URL}/settings?error=mastodon_state_invalid")
}

#[tokio::test]
async fn a_connection_begun_on_one_host_completes_on_the_other() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let env = Mastodon::start(&redis).await;

    let redirect = env.begin_on(&env.a).await;
    assert_eq!(Mastodon::callback_on(&env.b, &redirect).await, success());
    assert_eq!(env.token_exchanges(), 1);

    let alice = env.double.account("alice").expect("alice");
    for host in [&env.a, &env.b] {
        let accounts = env.accounts_on(host).await;
        assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
        assert_eq!(accounts[0]["accountId"], alice.id.as_str());
        assert_eq!(accounts[0]["status"], "active");
    }

    // The state was consumed in the shared store: a replay on the first host is refused
    // before any exchange.
    assert_eq!(
        Mastodon::callback_on(&env.a, &redirect).await,
        state_invalid()
    );
    assert_eq!(env.token_exchanges(), 1);

    let store = redis.store().expect("redis answers");
    let keys = store.list_keys("default", None, 100).expect("keys");
    assert!(
        keys.iter().any(|k| k.starts_with("accounts/mastodon/")),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.starts_with("pending/")), "{keys:?}");
    assert_no_local_storage(&[&env.a, &env.b]);
    env.a.stop().await;
    env.b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_callback_raced_on_both_hosts_connects_once() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let env = Mastodon::start(&redis).await;
    for round in 0..3 {
        let redirect = env
            .begin_on(if round % 2 == 0 { &env.a } else { &env.b })
            .await;
        let exchanges = env.token_exchanges();
        let (on_a, on_b) = tokio::join!(
            Mastodon::callback_on(&env.a, &redirect),
            Mastodon::callback_on(&env.b, &redirect)
        );
        let mut outcomes = [on_a, on_b];
        outcomes.sort();
        // "…error=…" sorts before "…success=…".
        assert_eq!(outcomes, [state_invalid(), success()], "round {round}");
        assert_eq!(env.token_exchanges(), exchanges + 1, "round {round}");
    }
    env.a.stop().await;
    env.b.stop().await;
}

// ---------------------------------------------------------------------------------------
// Bluesky: a rotating session used from both hosts

struct Bluesky {
    double: AtprotoDouble,
    a: TestHost,
    b: TestHost,
}

impl Bluesky {
    async fn start(redis: &TestRedis) -> Self {
        let double = AtprotoDouble::start().await.expect("the double starts");
        double.add_account(
            Account::new("alice.test", "alice-main-password-7Qx2").app_password(ALICE_APP),
        );
        let (a, b) = two_hosts(
            redis,
            &[
                ("bluesky_service_url", double.entryway_url()),
                ("bluesky_plc_url", double.plc_url()),
                ("bluesky_pds_hosts", "http://127.0.0.1:*"),
            ],
        )
        .await;
        Self { double, a, b }
    }

    async fn call(&self, host: &TestHost, method: &str, route: &str) -> (u16, Value) {
        let token = host.mint_token(USER);
        let path = format!("/api/platform/bluesky/{route}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let body = (route == "connect")
            .then(|| json!({"identifier": "alice.test", "appPassword": ALICE_APP}));
        let (status, _, json) = host
            .request(method, &path, Some(&token), body.as_ref())
            .await;
        (status, json)
    }

    async fn accounts(&self, host: &TestHost, method: &str, route: &str) -> Vec<Value> {
        let (status, body) = self.call(host, method, route).await;
        assert_eq!(status, 200, "{route}: {body}");
        body["data"]["accounts"]
            .as_array()
            .cloned()
            .expect("accounts")
    }

    /// The refresh token the double issued last (the one the store should hold).
    fn latest_refresh_token(&self) -> String {
        self.double
            .issued_tokens()
            .into_iter()
            .rev()
            .find(|t| AtprotoDouble::refresh_token_id(t).is_some())
            .expect("a refresh token was issued")
    }

    /// The refresh token presented by the only `refreshSession` since the last check.
    fn presented_refresh_token(&self) -> Option<String> {
        let refreshes = self.double.requests_to(Endpoint::RefreshSession);
        assert_eq!(refreshes.len(), 1, "{refreshes:?}");
        self.double.clear_requests();
        refreshes[0].bearer.clone()
    }
}

#[tokio::test]
async fn a_session_rotated_by_one_host_is_the_one_the_other_uses() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let env = Bluesky::start(&redis).await;
    assert_eq!(env.accounts(&env.a, "POST", "connect").await.len(), 1);
    let first = env.latest_refresh_token();
    env.double.clear_requests();

    // Host B refreshes the session host A created, and stores the rotated token.
    let refreshed = env.accounts(&env.b, "GET", "refresh").await;
    assert_eq!(refreshed[0]["status"], "active", "{refreshed:?}");
    assert_eq!(env.presented_refresh_token(), Some(first.clone()));
    let second = env.latest_refresh_token();
    assert_ne!(second, first);

    // Host A uses the token B got, not the one it had itself.
    env.accounts(&env.a, "GET", "refresh").await;
    assert_eq!(env.presented_refresh_token(), Some(second));

    // Disconnecting on B is seen on A.
    let (status, body) = env.call(&env.b, "DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert!(env.accounts(&env.a, "GET", "status").await.is_empty());
    assert_no_local_storage(&[&env.a, &env.b]);
    env.a.stop().await;
    env.b.stop().await;
}

// ---------------------------------------------------------------------------------------
// Redis unavailable

#[tokio::test]
async fn a_redis_outage_is_a_clean_500_and_service_resumes_when_it_is_back() {
    let Some(mut redis) = TestRedis::start() else {
        return;
    };
    let env = Bluesky::start(&redis).await;
    assert_eq!(env.accounts(&env.a, "POST", "connect").await.len(), 1);

    redis.stop();
    for host in [&env.a, &env.b] {
        let (status, body) = env.call(host, "GET", "status").await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["data"]["code"], "internal", "{body}");
        assert!(
            !body.to_string().contains("127.0.0.1"),
            "storage details stay in the log: {body}"
        );
        let (status, _) = host.get_text("/healthz").await;
        assert_eq!(status, 200, "the host itself keeps serving");
    }

    // The test server keeps nothing on disk: it comes back empty, and both hosts use it.
    redis.restart();
    for host in [&env.a, &env.b] {
        assert!(env.accounts(host, "GET", "status").await.is_empty());
    }
    assert_eq!(env.accounts(&env.b, "POST", "connect").await.len(), 1);
    assert_eq!(env.accounts(&env.a, "GET", "status").await.len(), 1);
    env.a.stop().await;
    env.b.stop().await;
}

#[tokio::test]
async fn a_host_whose_redis_is_unreachable_does_not_start() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = RedisUrl::new(format!("redis://:hunter2@127.0.0.1:{port}/0"));
    let Err(error) = TestHost::builder()
        .key_value(KeyValueConfig::redis(url))
        .try_start()
        .await
    else {
        panic!("the host started without its Redis");
    };
    let message = format!("{error:#}");
    assert!(message.contains("key-value store `default`"), "{message}");
    assert!(message.contains("cannot connect to Redis"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the password is not shown: {message}"
    );
}
