//! End-to-end tests of the Tumblr connector: the real host serving the real
//! `hayon_tumblr.wasm` from `spin.toml`, talking over loopback to the Tumblr double, whose
//! signature verifier is independent of the connector's signer.
//!
//! Each test gets its own double and host. The person's browser is played by
//! [`TumblrDouble::authorize`] (the approval page answers the redirect Tumblr would send)
//! and by the harness's HTTP client, which does not follow redirects, so every `302` is
//! checked where it lands.

use std::collections::BTreeSet;
use std::time::Duration;

use hayon_double_tumblr::{
    CallbackConfirmed, Decision, Endpoint, Failure, RequestTokenStatus, TumblrDouble, fixtures,
};
use hayon_e2e::TestHost;
use hayon_e2e::oauth_flow::{
    edit_stored, follow_callback, raw_get, settings_error, settings_success,
};
use serde_json::Value;

const CONNECT: &str = "/api/platform/tumblr/connect";
const REFRESH: &str = "/api/platform/tumblr/refresh";
const STATUS: &str = "/api/platform/tumblr/status";
const DISCONNECT: &str = "/api/platform/tumblr/disconnect";

/// A Tumblr double with the fixture users, and a host pointed at it.
struct World {
    tumblr: TumblrDouble,
    host: TestHost,
    /// Every answer body and `Location` the host gave, for the leak check.
    seen: std::sync::Mutex<Vec<String>>,
}

impl World {
    async fn start() -> Self {
        let tumblr = TumblrDouble::start()
            .await
            .expect("the Tumblr double starts");
        tumblr.add_user(fixtures::no_blogs());
        tumblr.add_user(fixtures::one_blog());
        tumblr.add_user(fixtures::several_blogs());
        let host = TestHost::start(&[
            ("tumblr_consumer_key", tumblr.consumer_key()),
            ("tumblr_consumer_secret", tumblr.consumer_secret()),
            ("tumblr_www_url", &tumblr.www_url()),
            ("tumblr_api_url", &tumblr.api_url()),
        ])
        .await;
        Self {
            tumblr,
            host,
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn remember(&self, text: impl Into<String>) {
        self.seen.lock().expect("not poisoned").push(text.into());
    }

    /// `GET path` with `user`'s bearer token: status, `Retry-After`, JSON body.
    async fn get(&self, path: &str, user: &str) -> (u16, Option<String>, Value) {
        let token = self.host.mint_token(user);
        let (status, headers, body) = self.host.get(path, Some(&token)).await;
        self.remember(body.to_string());
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, retry_after, body)
    }

    /// `DELETE path` with `user`'s bearer token.
    async fn delete(&self, path: &str, user: &str) -> (u16, Value) {
        let token = self.host.mint_token(user);
        let (status, _, body) = self.host.delete(path, Some(&token)).await;
        self.remember(body.to_string());
        (status, body)
    }

    /// Starts a connection for `user` and returns the authorization URL.
    async fn connect(&self, user: &str) -> String {
        let (status, _, body) = self.get(CONNECT, user).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true, "{body}");
        let url = body["data"]["authUrl"]
            .as_str()
            .expect("data.authUrl")
            .to_owned();
        assert!(
            url.starts_with(&format!(
                "{}/oauth/authorize?oauth_token=",
                self.tumblr.www_url()
            )),
            "{url}"
        );
        url
    }

    /// Plays the person's decision on the authorization page: the callback URL Tumblr
    /// redirects the browser to.
    fn decide(&self, auth_url: &str, decision: Decision) -> String {
        let callback = self
            .tumblr
            .authorize(auth_url, decision)
            .expect("the double authorizes");
        let expected = format!("{}/api/platform/tumblr/callback", self.host.base_url());
        assert!(callback.starts_with(&expected), "{callback}");
        callback
    }

    /// Follows a callback URL as a browser does (no bearer, fragment not sent) and
    /// returns the `Location` of the host's `302`.
    async fn follow(&self, callback_url: &str) -> String {
        let (location, body) = follow_callback(&self.host, callback_url).await;
        self.remember(body.to_string());
        self.remember(location.clone());
        location
    }

    /// Connects `tumblr_user`'s account for Hayon user `user`; the callback's `Location`.
    async fn connect_as(&self, user: &str, tumblr_user: &str) -> String {
        let auth_url = self.connect(user).await;
        let callback = self.decide(&auth_url, Decision::approve(tumblr_user));
        self.follow(&callback).await
    }

    async fn accounts(&self, user: &str) -> Vec<Value> {
        let (status, _, body) = self.get(STATUS, user).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accounts"]
            .as_array()
            .expect("data.accounts")
            .clone()
    }

    /// Checks that every signed request the double saw verified, with one `User-Agent`,
    /// and that nothing the host answered carries a verifier, a token or a secret.
    fn assert_clean(&self) {
        let log = self.tumblr.requests();
        let signed: Vec<_> = log
            .iter()
            .filter(|r| r.endpoint.is_some() && r.endpoint != Some(Endpoint::Authorize))
            .filter(|r| r.status < 500 && r.status != 429)
            .collect();
        for request in &signed {
            assert!(
                request.signature.is_valid(),
                "signature refused: {request:?}"
            );
        }
        let agents: BTreeSet<_> = signed.iter().map(|r| r.user_agent.clone()).collect();
        assert!(agents.len() <= 1, "one User-Agent: {agents:?}");
        assert!(!agents.contains(&None), "a User-Agent on every call");

        let mut secrets = vec![self.tumblr.consumer_secret().to_owned()];
        for token in self.tumblr.request_tokens() {
            match token.status {
                RequestTokenStatus::Authorized { verifier, .. } => secrets.push(verifier),
                RequestTokenStatus::Exchanged { access_token, .. } => secrets.push(access_token),
                _ => {}
            }
        }
        secrets.extend(self.tumblr.access_tokens().into_iter().map(|t| t.token));
        let seen = self.seen.lock().expect("not poisoned");
        for text in seen.iter() {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "a credential reached a caller: {text}"
                );
            }
        }
    }
}

fn success() -> String {
    settings_success("tumblr")
}

fn error(reason: &str) -> String {
    settings_error("tumblr", reason)
}

/// Removes the `oauth_verifier` parameter from a callback URL.
fn without_verifier(callback: &str) -> String {
    let (base, query) = callback.split_once('?').expect("a query");
    let query = query.split('#').next().unwrap_or_default();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("oauth_verifier="))
        .collect();
    format!("{base}?{}", kept.join("&"))
}

#[tokio::test]
async fn connect_approve_callback_connects_the_primary_blog_for_the_right_user() {
    let world = World::start().await;
    let auth_url = world.connect("user-a").await;

    let issued = world.tumblr.request_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        issued[0].callback,
        format!("{}/api/platform/tumblr/callback", world.host.base_url()),
        "the callback URL is ours, from public_base_url, with nothing the user controls"
    );

    let callback = world.decide(&auth_url, Decision::approve(fixtures::DAVID));
    assert!(callback.ends_with("#_=_"), "{callback}");
    assert_eq!(world.follow(&callback).await, success());

    let accounts = world.accounts("user-a").await;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let account = &accounts[0];
    assert_eq!(account["platform"], "tumblr");
    assert_eq!(
        account["accountId"],
        fixtures::DAVID_PRIMARY_UUID,
        "primary, listed second"
    );
    assert_eq!(
        account["handle"],
        fixtures::DAVID_PRIMARY_HOSTNAME,
        "custom domain"
    );
    assert_eq!(account["displayName"], "David's Log");
    assert_eq!(account["profileUrl"], "https://www.davidslog.com/");
    assert_eq!(
        account["avatar"],
        format!(
            "{}/v2/blog/www.davidslog.com/avatar/128",
            world.tumblr.api_url()
        )
    );
    assert_eq!(account["expiresAt"], Value::Null);
    assert_eq!(account["status"], "active");
    assert!(
        account["connectedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    assert!(
        world.accounts("user-b").await.is_empty(),
        "nobody else got the account"
    );
    assert_eq!(world.tumblr.requests_to(Endpoint::AccessToken).len(), 1);
    assert_eq!(world.tumblr.requests_to(Endpoint::UserInfo).len(), 1);
    world.assert_clean();

    let raw = std::fs::read(world.host.data_dir().join(hayon_host::KV_FILE)).expect("database");
    let access_token = &world.tumblr.access_tokens()[0].token;
    assert!(
        !String::from_utf8_lossy(&raw).contains(access_token.as_str()),
        "stored in clear"
    );
}

#[tokio::test]
async fn a_single_blog_account_connects_with_its_tumblr_host_name() {
    let world = World::start().await;
    assert_eq!(world.connect_as("user-a", fixtures::SOLO).await, success());
    let accounts = world.accounts("user-a").await;
    assert_eq!(accounts[0]["accountId"], fixtures::SOLO_BLOG_UUID);
    assert_eq!(accounts[0]["handle"], fixtures::SOLO_BLOG_HOSTNAME);
    assert_eq!(accounts[0]["displayName"], "Solo's corner");
    assert_eq!(accounts[0]["profileUrl"], "https://solo.tumblr.com/");
    world.assert_clean();
}

#[tokio::test]
async fn refusing_on_tumblr_is_auth_denied_and_a_bare_callback_is_auth_failed() {
    let world = World::start().await;
    let auth_url = world.connect("user-a").await;
    let refused = world.decide(&auth_url, Decision::Deny);
    assert_eq!(world.follow(&refused).await, error("auth_denied"));

    let auth_url = world.connect("user-a").await;
    let bare = world.decide(&auth_url, Decision::DenyWithoutParameters);
    assert_eq!(world.follow(&bare).await, error("auth_failed"));

    assert!(world.accounts("user-a").await.is_empty());
    assert!(world.tumblr.requests_to(Endpoint::AccessToken).is_empty());
    world.assert_clean();
}

#[tokio::test]
async fn a_callback_without_verifier_burns_the_token() {
    let world = World::start().await;
    let auth_url = world.connect("user-a").await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));
    assert_eq!(
        world.follow(&without_verifier(&callback)).await,
        error("auth_denied")
    );
    // The same token with its verifier no longer works: it was consumed.
    assert_eq!(world.follow(&callback).await, error("state_invalid"));
    assert!(world.tumblr.requests_to(Endpoint::AccessToken).is_empty());
    assert!(world.accounts("user-a").await.is_empty());
}

#[tokio::test]
async fn a_fragment_sent_along_is_ignored() {
    let world = World::start().await;
    let auth_url = world.connect("user-a").await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));
    let target = callback
        .strip_prefix(&world.host.base_url())
        .expect("a host URL");
    assert!(target.ends_with("#_=_"), "{target}");
    let (status, location) = raw_get(&world.host, target).await;
    assert_eq!((status, location), (302, Some(success())));
    assert_eq!(world.accounts("user-a").await.len(), 1);
}

#[tokio::test]
async fn unknown_and_replayed_tokens_are_state_invalid() {
    let world = World::start().await;
    let forged = format!(
        "{}/api/platform/tumblr/callback?oauth_token=forged&oauth_verifier=v",
        world.host.base_url()
    );
    assert_eq!(world.follow(&forged).await, error("state_invalid"));

    let auth_url = world.connect("user-a").await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));
    assert_eq!(world.follow(&callback).await, success());
    assert_eq!(
        world.follow(&callback).await,
        error("state_invalid"),
        "replay"
    );
    assert_eq!(world.tumblr.requests_to(Endpoint::AccessToken).len(), 1);
    world.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_callbacks_at_once_connect_exactly_once() {
    let world = World::start().await;
    let auth_url = world.connect("user-a").await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));
    let (first, second) = tokio::join!(world.follow(&callback), world.follow(&callback));
    let mut outcomes = vec![first, second];
    outcomes.sort();
    assert_eq!(outcomes, vec![error("state_invalid"), success()]);
    assert_eq!(world.tumblr.requests_to(Endpoint::AccessToken).len(), 1);
    assert_eq!(world.accounts("user-a").await.len(), 1);
}

#[tokio::test]
async fn an_expired_pending_record_is_state_invalid() {
    let mut world = World::start().await;
    let auth_url = world.connect("user-a").await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));

    // Age the pending record in the host's database by an hour.
    let pending = edit_stored(&mut world.host, "pending/tumblr/", |record| {
        record["expires_at"] = Value::String("2020-01-01T00:00:00Z".into());
    })
    .await;
    assert_eq!(pending.len(), 1, "{pending:?}");

    assert_eq!(world.follow(&callback).await, error("state_invalid"));
    assert!(world.tumblr.requests_to(Endpoint::AccessToken).is_empty());
}

#[tokio::test]
async fn a_request_token_tumblr_expired_is_connect_failed() {
    let world = World::start().await;
    let auth_url = world.connect("user-a").await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));
    world.tumblr.set_request_token_ttl(Duration::from_secs(1));
    world.tumblr.advance_clock(Duration::from_secs(5));
    world.tumblr.set_timestamp_window(Duration::from_secs(3600));
    assert_eq!(world.follow(&callback).await, error("connect_failed"));
    assert!(world.accounts("user-a").await.is_empty());
}

#[tokio::test]
async fn the_pending_record_survives_a_host_restart() {
    let mut world = World::start().await;
    let auth_url = world.connect("user-a").await;
    world.host.restart().await;
    let callback = world.decide(&auth_url, Decision::approve(fixtures::DAVID));
    let callback = callback.replacen(
        &world.tumblr.request_tokens()[0].callback,
        &format!("{}/api/platform/tumblr/callback", world.host.base_url()),
        1,
    );
    assert_eq!(world.follow(&callback).await, success());
    assert_eq!(
        world.accounts("user-a").await[0]["handle"],
        fixtures::DAVID_PRIMARY_HOSTNAME
    );
    world.assert_clean();
}

#[tokio::test]
async fn a_user_without_blogs_gets_connect_failed() {
    let world = World::start().await;
    assert_eq!(
        world.connect_as("user-a", fixtures::BLOGLESS).await,
        error("connect_failed")
    );
    assert!(world.accounts("user-a").await.is_empty());
    world.assert_clean();
}

#[tokio::test]
async fn connect_refuses_an_unconfirmed_callback() {
    let world = World::start().await;
    for mode in [CallbackConfirmed::Missing, CallbackConfirmed::False] {
        world.tumblr.set_callback_confirmed(mode);
        let (status, _, body) = world.get(CONNECT, "user-a").await;
        assert_eq!(status, 502, "{mode:?}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["data"]["code"], "upstream_unavailable");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("did not confirm")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn connect_maps_tumblr_outages_and_throttling() {
    let world = World::start().await;
    world
        .tumblr
        .fail_next(Endpoint::RequestToken, Failure::Html(503));
    let (status, _, body) = world.get(CONNECT, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (502, &Value::from("upstream_unavailable"))
    );

    world.tumblr.fail_next(
        Endpoint::RequestToken,
        Failure::RateLimited {
            retry_after: Some(7),
        },
    );
    let (status, retry_after, body) = world.get(CONNECT, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (429, &Value::from("rate_limited"))
    );
    assert_eq!(retry_after.as_deref(), Some("7"));

    let token = world.host.mint_token("user-a");
    let (status, _, _) = world.host.get(CONNECT, None).await;
    assert_eq!(status, 401, "connect needs the bearer token");
    let (status, _, _) = world
        .host
        .post(CONNECT, Some(&token), serde_json::json!({}))
        .await;
    assert_eq!(status, 405, "connect is GET");
}

#[tokio::test]
async fn callback_maps_exchange_failures() {
    let world = World::start().await;
    let cases = [
        (
            Endpoint::AccessToken,
            Failure::Html(502),
            "upstream_unavailable",
        ),
        (
            Endpoint::AccessToken,
            Failure::RateLimited { retry_after: None },
            "rate_limited",
        ),
        (
            Endpoint::UserInfo,
            Failure::Html(504),
            "upstream_unavailable",
        ),
    ];
    for (endpoint, failure, reason) in cases {
        let auth_url = world.connect("user-a").await;
        let callback = world.decide(&auth_url, Decision::approve(fixtures::SOLO));
        world.tumblr.fail_next(endpoint, failure);
        assert_eq!(world.follow(&callback).await, error(reason), "{endpoint:?}");
    }
    assert!(world.accounts("user-a").await.is_empty());
}

#[tokio::test]
async fn refresh_rereads_the_blog_and_maps_failures() {
    let world = World::start().await;
    let (status, _, body) = world.get(REFRESH, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (404, &Value::from("not_connected"))
    );

    assert_eq!(world.connect_as("user-a", fixtures::DAVID).await, success());
    let mut david = fixtures::several_blogs();
    david.blogs[1].title = Some("David's Renamed Log".into());
    world.tumblr.add_user(david);
    let (status, _, body) = world.get(REFRESH, "user-a").await;
    assert_eq!(status, 200, "{body}");
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["displayName"], "David's Renamed Log");
    assert_eq!(account["accountId"], fixtures::DAVID_PRIMARY_UUID);

    world.tumblr.fail_next(
        Endpoint::UserInfo,
        Failure::RateLimited {
            retry_after: Some(30),
        },
    );
    let (status, retry_after, body) = world.get(REFRESH, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (429, &Value::from("rate_limited"))
    );
    assert_eq!(retry_after.as_deref(), Some("30"));

    world
        .tumblr
        .fail_next(Endpoint::UserInfo, Failure::Html(502));
    let (status, _, body) = world.get(REFRESH, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (502, &Value::from("upstream_unavailable"))
    );
    assert_eq!(
        world.accounts("user-a").await[0]["status"],
        "active",
        "outages keep it"
    );

    world.tumblr.revoke_user_tokens(fixtures::DAVID);
    let (status, _, body) = world.get(REFRESH, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (409, &Value::from("reconnect_required"))
    );
    assert_eq!(
        world.accounts("user-a").await[0]["status"],
        "reconnect_required"
    );

    // Connecting again makes it usable.
    assert_eq!(world.connect_as("user-a", fixtures::DAVID).await, success());
    assert_eq!(world.accounts("user-a").await[0]["status"], "active");
    world.assert_clean();
}

#[tokio::test]
async fn disconnect_deletes_our_record() {
    let world = World::start().await;
    assert_eq!(world.connect_as("user-a", fixtures::SOLO).await, success());
    let before = world.tumblr.requests().len();
    let (status, body) = world.delete(DISCONNECT, "user-a").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["removed"], 1);
    assert_eq!(body["data"]["revoked"], false);
    assert!(world.accounts("user-a").await.is_empty());
    assert_eq!(world.tumblr.requests().len(), before, "no call to Tumblr");

    let (status, body) = world.delete(DISCONNECT, "user-a").await;
    assert_eq!((status, &body["data"]["removed"]), (200, &Value::from(0)));
    let (status, _, body) = world.get(REFRESH, "user-a").await;
    assert_eq!(
        (status, &body["data"]["code"]),
        (404, &Value::from("not_connected"))
    );
}

#[tokio::test]
async fn without_app_credentials_connect_is_not_configured() {
    let tumblr = TumblrDouble::start()
        .await
        .expect("the Tumblr double starts");
    let host = TestHost::start(&[
        ("tumblr_www_url", &tumblr.www_url()),
        ("tumblr_api_url", &tumblr.api_url()),
    ])
    .await;
    let token = host.mint_token("user-a");
    let (status, _, body) = host.get(CONNECT, Some(&token)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["data"]["code"], "not_configured");
    // People get a plain sentence; the variable to set is only in the operator's log.
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Connecting Tumblr is not available on this server yet."),
        "{message}"
    );
    assert!(!message.contains("TUMBLR_CONSUMER_KEY"), "{message}");
    let (status, _, body) = host.get(STATUS, Some(&token)).await;
    assert_eq!(
        (status, &body["data"]["accounts"]),
        (200, &serde_json::json!([]))
    );
    // A request token nobody issued is state_invalid whatever the configuration.
    let unknown = format!(
        "{}/api/platform/tumblr/callback?oauth_token=abc&oauth_verifier=def",
        host.base_url()
    );
    let (location, _) = follow_callback(&host, &unknown).await;
    assert_eq!(location, settings_error("tumblr", "state_invalid"));
    assert!(tumblr.requests().is_empty());
}
