//! End-to-end tests of the Bluesky connector: the real host serving the real
//! `hayon_bluesky.wasm` from `spin.toml`, talking to the AT Protocol test double over
//! loopback, driven over HTTP exactly as the front end would.
//!
//! Every test gets its own double, data directory and host. Every response the host
//! gives is kept, and each test ends by checking that none of them contains a token the
//! double issued, a password, or one of the host's secrets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hayon_double_atproto::{
    Account, AccountStatus, AtprotoDouble, AuthKind, Endpoint, Fault, FaultRule, PdsIdStyle,
    Service,
};
use hayon_e2e::{TEST_ACCESS_TOKEN_SECRET, TEST_TOKEN_ENCRYPTION_KEY, TestHost};
use hayon_host::keyvalue::KvBackend;
use hayon_host::keyvalue::redb_store::RedbStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALICE_MAIN: &str = "alice-main-password-7Qx2";
const ALICE_APP: &str = "alic-eapp-pw7x-q2zz";
const CAROL_APP: &str = "caro-lapp-pw3k-m9yy";
const TWOFA_MAIN: &str = "twofa-main-password-4Lp8";
const TWOFA_APP: &str = "twof-aapp-pw5n-r1ww";
const BARE_APP: &str = "bare-app0-pw8t-k6vv";
const GONE_APP: &str = "gone-app0-pw2r-x4uu";
const ASLEEP_APP: &str = "asle-epap-pw6h-j3tt";
const PASSWORDS: [&str; 8] = [
    ALICE_MAIN, ALICE_APP, CAROL_APP, TWOFA_MAIN, TWOFA_APP, BARE_APP, GONE_APP, ASLEEP_APP,
];
const ALICE_AVATAR: &str = "https://cdn.bsky.app/img/avatar/plain/alice/bafkreialice@jpeg";

/// Longer than the connector's upstream timeouts, shorter than the host's request limit.
const SLOW_UPSTREAM: Duration = Duration::from_secs(25);

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client: enough to send any method, header and body, including the
// malformed and oversized ones a real client library would refuse to send.

/// One answer of the host.
#[derive(Debug, Clone)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the host");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // A server may answer (413) and close before reading an oversized body: ignore write
    // errors and read what it said.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    if let Err(error) = stream.read_to_end(&mut raw).await {
        assert!(
            !raw.is_empty(),
            "reading the answer to {method} {path} failed: {error}"
        );
    }
    parse_response(&raw).unwrap_or_else(|| {
        panic!(
            "unparsable answer to {method} {path}: {}",
            String::from_utf8_lossy(&raw)
        )
    })
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------
// The environment: the double and a host (the harness's `TestHost`) pointed at it.

struct Env {
    double: AtprotoDouble,
    host: TestHost,
    /// Every response the host gave, for the leak check.
    seen: Arc<Mutex<Vec<Response>>>,
    alice: Account,
    carol: Account,
    twofa: Account,
    bare: Account,
}

impl Env {
    async fn start() -> Self {
        let double = AtprotoDouble::start()
            .await
            .expect("start the atproto double");
        let alice = double.add_account(
            Account::new("alice.test", ALICE_MAIN)
                .app_password(ALICE_APP)
                .email("alice@example.com")
                .display_name("Alice")
                .avatar(ALICE_AVATAR),
        );
        let carol = double.add_account(
            Account::new("carol.example", CAROL_APP)
                .on_third_party_pds()
                .display_name("Carol")
                .pds_id_style(PdsIdStyle::Absolute)
                .extra_services_first(),
        );
        let twofa = double.add_account(
            Account::new("twofa.test", TWOFA_MAIN)
                .app_password(TWOFA_APP)
                .two_factor("K7Q2-9ZXM"),
        );
        let bare = double.add_account(Account::new("bare.test", BARE_APP));
        double.add_account(Account::new("gone.test", GONE_APP).status(AccountStatus::Takendown));
        double.add_account(
            Account::new("asleep.test", ASLEEP_APP).status(AccountStatus::Deactivated),
        );
        let host = TestHost::start(&[
            ("bluesky_service_url", double.entryway_url()),
            ("bluesky_plc_url", double.plc_url()),
            ("bluesky_pds_hosts", "http://127.0.0.1:*"),
        ])
        .await;
        Env {
            double,
            host,
            seen: Arc::default(),
            alice,
            carol,
            twofa,
            bare,
        }
    }

    /// Sends a request and keeps the answer for the leak check.
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let response = http(self.host.addr(), method, path, headers, body).await;
        self.seen.lock().expect("leak log").push(response.clone());
        response
    }

    async fn call(&self, method: &str, route: &str, user: &str, body: Option<Value>) -> Response {
        let bearer = format!("Bearer {}", self.host.mint_token(user));
        let path = format!("/api/platform/bluesky/{route}");
        match body {
            Some(body) => {
                let headers = [
                    ("Authorization", bearer.as_str()),
                    ("Content-Type", "application/json"),
                ];
                self.send(method, &path, &headers, body.to_string().as_bytes())
                    .await
            }
            None => {
                self.send(method, &path, &[("Authorization", bearer.as_str())], b"")
                    .await
            }
        }
    }

    async fn connect(&self, user: &str, identifier: &str, app_password: &str) -> Response {
        let body = json!({"identifier": identifier, "appPassword": app_password});
        self.call("POST", "connect", user, Some(body)).await
    }

    async fn refresh(&self, user: &str) -> Response {
        self.call("GET", "refresh", user, None).await
    }

    async fn status(&self, user: &str) -> Response {
        self.call("GET", "status", user, None).await
    }

    async fn disconnect(&self, user: &str) -> Response {
        self.call("DELETE", "disconnect", user, None).await
    }

    /// The last refresh token the double issued (the one the client should hold now).
    fn latest_refresh_token(&self) -> String {
        let issued = self.double.issued_tokens();
        issued
            .into_iter()
            .rev()
            .find(|t| AtprotoDouble::refresh_token_id(t).is_some())
            .expect("the double issued a refresh token")
    }

    /// Things that must never appear in an answer or in storage.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = self.double.issued_tokens();
        secrets.extend(PASSWORDS.iter().map(|p| (*p).to_owned()));
        secrets.push(TEST_ACCESS_TOKEN_SECRET.to_owned());
        secrets.push(TEST_TOKEN_ENCRYPTION_KEY.to_owned());
        secrets
    }

    /// Checks every answer so far for tokens, passwords and secrets, then stops the host.
    async fn finish(self) {
        let secrets = self.secrets();
        for response in self.seen.lock().expect("leak log").iter() {
            let mut text = response.text();
            for (name, value) in &response.headers {
                text.push_str(&format!("\n{name}: {value}"));
            }
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "an answer leaks a secret: {text}"
                );
                // A token's signature alone is as good as the token for an attacker.
                if let Some((_, signature)) = secret.rsplit_once('.') {
                    assert!(
                        !text.contains(signature),
                        "an answer leaks a token part: {text}"
                    );
                }
            }
        }
        self.host.stop().await;
    }
}

// ---------------------------------------------------------------------------------------
// Assertions on the contract's envelope.

#[track_caller]
fn assert_error(response: &Response, status: u16, code: &str) -> Value {
    assert_eq!(
        response.status,
        status,
        "expected {status} {code}, got {}",
        response.text()
    );
    let body = response.json();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["data"]["code"], code, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        !message.trim().is_empty(),
        "a failure needs a message: {body}"
    );
    body
}

#[track_caller]
fn accounts_of(response: &Response) -> Vec<Value> {
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["success"], true, "{body}");
    body["data"]["accounts"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no accounts: {body}"))
}

#[track_caller]
fn single_account(response: &Response) -> Value {
    let accounts = accounts_of(response);
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    accounts[0].clone()
}

fn is_rfc3339(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() >= 20 && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T' && s.contains(':')
    })
}

// ---------------------------------------------------------------------------------------
// Connect

#[tokio::test]
async fn connect_returns_the_account_and_switches_to_the_pds_named_in_the_did_document() {
    let env = Env::start().await;
    let account = single_account(&env.connect("user-1", "alice.test", ALICE_APP).await);
    assert_eq!(account["platform"], "bluesky");
    assert_eq!(account["accountId"], env.alice.did_str());
    assert_eq!(account["handle"], "alice.test");
    assert_eq!(account["displayName"], "Alice");
    assert_eq!(account["avatar"], ALICE_AVATAR);
    assert_eq!(account["status"], "active");
    assert!(
        account["profileUrl"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "{account}"
    );
    assert!(is_rfc3339(&account["connectedAt"]), "{account}");
    assert!(is_rfc3339(&account["refreshedAt"]), "{account}");

    let logins = env.double.requests_to(Endpoint::CreateSession);
    assert_eq!(logins.len(), 1, "{logins:?}");
    // A handle may log in at the entryway or, once resolved, at its own PDS (which
    // forwards to the entryway); either way exactly once.
    assert!(
        matches!(logins[0].service, Service::Entryway | Service::BlueskyPds),
        "{logins:?}"
    );
    let profiles = env.double.requests_to(Endpoint::GetProfile);
    assert!(!profiles.is_empty(), "the profile was never fetched");
    for profile in &profiles {
        assert_eq!(
            profile.service,
            Service::BlueskyPds,
            "profile not fetched from the PDS"
        );
        assert_eq!(profile.auth, AuthKind::AccessToken);
    }

    let status = single_account(&env.status("user-1").await);
    assert_eq!(status["accountId"], env.alice.did_str());
    assert_eq!(status["status"], "active");
    env.finish().await;
}

#[tokio::test]
async fn an_email_login_goes_to_the_entryway_and_later_calls_to_the_pds_it_names() {
    let env = Env::start().await;
    let account = single_account(&env.connect("user-em", "alice@example.com", ALICE_APP).await);
    assert_eq!(account["accountId"], env.alice.did_str());
    let logins = env.double.requests_to(Endpoint::CreateSession);
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(
        logins[0].service,
        Service::Entryway,
        "an e-mail cannot be resolved"
    );
    single_account(&env.refresh("user-em").await);
    let later: Vec<_> = env
        .double
        .requests()
        .into_iter()
        .filter(|r| {
            matches!(
                r.endpoint,
                Some(Endpoint::GetProfile | Endpoint::RefreshSession | Endpoint::DeleteSession)
            )
        })
        .collect();
    assert!(!later.is_empty());
    for request in &later {
        assert_eq!(
            request.service,
            Service::BlueskyPds,
            "not sent to the PDS: {request:?}"
        );
    }
    env.finish().await;
}

#[tokio::test]
async fn connect_accepts_identifiers_as_people_type_and_paste_them() {
    let env = Env::start().await;
    let forms = [
        "@alice.test",
        "ALICE.TEST",
        "  alice.test \t",
        "\u{202a}@alice.test\u{202c}",
        "\u{2066}alice.test\u{2069}\u{200b}",
        "\u{feff}Alice.Test",
        "alice@example.com",
        "Alice@Example.com",
    ];
    for (n, form) in forms.iter().enumerate() {
        let response = env.connect(&format!("forms-{n}"), form, ALICE_APP).await;
        assert_eq!(
            response.status,
            200,
            "identifier {form:?}: {}",
            response.text()
        );
        let account = single_account(&response);
        assert_eq!(account["accountId"], env.alice.did_str(), "{form:?}");
        assert_eq!(account["handle"], "alice.test", "{form:?}");
    }
    let did_form = env
        .connect("forms-did", env.alice.did_str(), ALICE_APP)
        .await;
    assert_eq!(single_account(&did_form)["accountId"], env.alice.did_str());
    env.finish().await;
}

#[tokio::test]
async fn connect_rejects_what_cannot_be_an_identifier() {
    let env = Env::start().await;
    let long = format!("{}.test", "a".repeat(260));
    for identifier in [
        "alice",
        "@alice",
        "",
        "   ",
        "\u{202a}\u{202c}",
        long.as_str(),
        "a b.test",
    ] {
        let response = env.connect("user-v", identifier, ALICE_APP).await;
        let body = assert_error(&response, 400, "validation_failed");
        let errors = &body["data"]["errors"]["identifier"];
        assert!(
            errors.as_array().is_some_and(|e| !e.is_empty()),
            "identifier {identifier:?} needs errors.identifier: {body}"
        );
    }
    let no_password = env.call(
        "POST",
        "connect",
        "user-v",
        Some(json!({"identifier": "alice.test"})),
    );
    let body = assert_error(&no_password.await, 400, "validation_failed");
    assert!(body["data"]["errors"]["appPassword"].is_array(), "{body}");
    let not_strings = json!({"identifier": 5, "appPassword": ["x"]});
    assert_error(
        &env.call("POST", "connect", "user-v", Some(not_strings))
            .await,
        400,
        "validation_failed",
    );
    assert!(
        env.double.requests_to(Endpoint::CreateSession).is_empty(),
        "invalid input went upstream"
    );
    assert!(accounts_of(&env.status("user-v").await).is_empty());
    env.finish().await;
}

#[tokio::test]
async fn connect_finds_an_account_on_another_pds_by_resolving_its_handle() {
    let env = Env::start().await;
    let account = single_account(&env.connect("user-c", "@Carol.Example", CAROL_APP).await);
    assert_eq!(account["accountId"], env.carol.did_str());
    assert_eq!(account["handle"], "carol.example");
    assert_eq!(account["displayName"], "Carol");

    let logins = env.double.requests_to(Endpoint::CreateSession);
    let succeeded: Vec<_> = logins.iter().filter(|r| r.status == 200).collect();
    assert_eq!(succeeded.len(), 1, "{logins:?}");
    assert_eq!(succeeded[0].service, Service::ThirdPartyPds);
    let plc = env.double.requests_to(Endpoint::DidDocument);
    assert!(
        plc.iter().any(|r| r.path.ends_with(env.carol.did_str())),
        "DID doc never read"
    );

    // Its session lives on its own PDS: refresh and profile go there.
    let refreshed = single_account(&env.refresh("user-c").await);
    assert_eq!(refreshed["status"], "active");
    let refreshes = env.double.requests_to(Endpoint::RefreshSession);
    assert!(
        !refreshes.is_empty()
            && refreshes
                .iter()
                .all(|r| r.service == Service::ThirdPartyPds)
    );
    env.finish().await;
}

#[tokio::test]
async fn connect_by_did_of_an_account_on_another_pds() {
    let env = Env::start().await;
    let response = env.connect("user-cd", env.carol.did_str(), CAROL_APP).await;
    assert_eq!(single_account(&response)["accountId"], env.carol.did_str());
    env.finish().await;
}

#[tokio::test]
async fn profile_without_display_name_or_avatar() {
    let env = Env::start().await;
    let account = single_account(&env.connect("user-b", "bare.test", BARE_APP).await);
    assert_eq!(account["accountId"], env.bare.did_str());
    let name = &account["displayName"];
    assert!(
        name.is_null() || name == "bare.test",
        "displayName must fall back: {account}"
    );
    assert!(account["avatar"].is_null(), "{account}");

    env.double.set_profile(env.bare.did_str(), Some(""), None);
    let account = single_account(&env.refresh("user-b").await);
    let name = &account["displayName"];
    assert!(
        name.is_null() || name == "bare.test",
        "empty displayName must fall back: {account}"
    );
    env.finish().await;
}

#[tokio::test]
async fn refused_credentials_map_to_the_contract_codes_and_store_nothing() {
    let env = Env::start().await;
    let wrong = env
        .connect("user-r", "alice.test", "wron-gpas-swor-dxxx")
        .await;
    assert_error(&wrong, 422, "invalid_credentials");
    let twofa = env.connect("user-r", "twofa.test", TWOFA_MAIN).await;
    assert_error(&twofa, 422, "auth_factor_required");
    let gone = env.connect("user-r", "gone.test", GONE_APP).await;
    assert_error(&gone, 422, "account_unavailable");
    let asleep = env.connect("user-r", "asleep.test", ASLEEP_APP).await;
    assert_error(&asleep, 422, "account_unavailable");
    // An account on another PDS with a wrong password: still just bad credentials.
    let carol = env
        .connect("user-r", "carol.example", "wron-gpas-swor-dyyy")
        .await;
    assert_error(&carol, 422, "invalid_credentials");
    // A handle nobody has.
    let unknown = env.connect("user-r", "nobody.test", ALICE_APP).await;
    assert_error(&unknown, 422, "invalid_credentials");
    // An e-mail nobody has.
    let nobody = env.connect("user-r", "nobody@example.com", ALICE_APP).await;
    assert_error(&nobody, 422, "invalid_credentials");
    assert!(accounts_of(&env.status("user-r").await).is_empty());

    // The app password bypasses 2FA.
    let ok = single_account(&env.connect("user-r", "twofa.test", TWOFA_APP).await);
    assert_eq!(ok["accountId"], env.twofa.did_str());
    env.finish().await;
}

#[tokio::test]
async fn upstream_rate_limit_becomes_429_with_retry_after() {
    let env = Env::start().await;
    env.double.set_login_rate_limit(1, Duration::from_secs(300));
    assert_error(
        &env.connect("user-l", "alice.test", "wron-gpas-swor-dxxx")
            .await,
        422,
        "invalid_credentials",
    );
    let limited = env.connect("user-l", "alice.test", ALICE_APP).await;
    assert_error(&limited, 429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", limited.headers));
    assert!(
        (1..=301).contains(&retry),
        "Retry-After {retry} does not follow RateLimit-Reset"
    );

    let reset_in = Duration::from_secs(120);
    let rule = FaultRule::new(Endpoint::CreateSession, Fault::RateLimited { reset_in });
    env.double.inject(rule.times(1));
    let limited = env.connect("user-l2", "bare.test", BARE_APP).await;
    assert_error(&limited, 429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        (110..=121).contains(&retry),
        "Retry-After {retry}, RateLimit-Reset said 120 s"
    );
    assert!(accounts_of(&env.status("user-l").await).is_empty());
    env.finish().await;
}

#[tokio::test]
async fn broken_upstream_answers_are_upstream_unavailable_not_bad_credentials() {
    let env = Env::start().await;
    let faults = [
        Fault::Html502,
        Fault::UpstreamFailure502,
        Fault::NotEnoughResources503,
        Fault::GatewayTimeout504,
        Fault::EmptyBody,
        Fault::TruncatedJson,
    ];
    for fault in faults {
        env.double.clear_faults();
        env.double
            .inject(FaultRule::new(Endpoint::CreateSession, fault.clone()));
        let response = env.connect("user-u", "alice.test", ALICE_APP).await;
        assert_error(&response, 502, "upstream_unavailable");
        assert!(
            !response.text().contains("<html"),
            "{fault:?}: {}",
            response.text()
        );
    }
    for endpoint in [Endpoint::ResolveHandle, Endpoint::DidDocument] {
        env.double.clear_faults();
        env.double.inject(FaultRule::new(endpoint, Fault::Html502));
        let response = env.connect("user-u", "alice.test", ALICE_APP).await;
        assert_error(&response, 502, "upstream_unavailable");
    }
    assert!(accounts_of(&env.status("user-u").await).is_empty());

    // The session is good but the profile is not available: either the connect fails as
    // unavailable, or the account is connected without its display fields.
    env.double.clear_faults();
    env.double
        .inject(FaultRule::new(Endpoint::GetProfile, Fault::Html502));
    let response = env.connect("user-u", "alice.test", ALICE_APP).await;
    if response.status == 200 {
        let account = single_account(&response);
        assert_eq!(account["accountId"], env.alice.did_str());
        assert_eq!(account["handle"], "alice.test");
        assert_eq!(account["status"], "active");
        env.double.clear_faults();
        let account = single_account(&env.refresh("user-u").await);
        assert_eq!(
            account["displayName"], "Alice",
            "the next refresh fills the profile in"
        );
    } else {
        assert_error(&response, 502, "upstream_unavailable");
        assert!(accounts_of(&env.status("user-u").await).is_empty());
    }
    env.finish().await;
}

#[tokio::test]
async fn slow_upstream_is_upstream_unavailable() {
    let env = Env::start().await;
    env.double.inject(FaultRule::new(
        Endpoint::CreateSession,
        Fault::Delay(SLOW_UPSTREAM),
    ));
    let started = std::time::Instant::now();
    let response = env.connect("user-s", "alice.test", ALICE_APP).await;
    assert_error(&response, 502, "upstream_unavailable");
    assert!(
        started.elapsed() < SLOW_UPSTREAM,
        "the connector waited for the slow upstream"
    );
    env.finish().await;
}

#[tokio::test]
async fn reconnecting_replaces_the_account_and_users_are_isolated() {
    let env = Env::start().await;
    single_account(&env.connect("user-a", "alice.test", ALICE_APP).await);
    single_account(&env.connect("user-a", "alice.test", ALICE_APP).await);
    let accounts = accounts_of(&env.status("user-a").await);
    assert_eq!(
        accounts.len(),
        1,
        "reconnect duplicated the account: {accounts:?}"
    );
    assert!(
        accounts_of(&env.status("user-other").await).is_empty(),
        "another user sees it"
    );
    assert_error(&env.refresh("user-other").await, 404, "not_connected");
    env.finish().await;
}

// ---------------------------------------------------------------------------------------
// Refresh

#[tokio::test]
async fn refresh_rotates_the_session_at_the_pds_and_uses_the_new_token_next_time() {
    let env = Env::start().await;
    single_account(&env.connect("user-f", "alice.test", ALICE_APP).await);
    let first = env.latest_refresh_token();
    env.double.clear_requests();

    let account = single_account(&env.refresh("user-f").await);
    assert_eq!(account["status"], "active");
    assert_eq!(account["accountId"], env.alice.did_str());
    let refreshes = env.double.requests_to(Endpoint::RefreshSession);
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(
        refreshes[0].service,
        Service::BlueskyPds,
        "refresh must go to the account's PDS"
    );
    assert_eq!(refreshes[0].auth, AuthKind::RefreshToken);
    assert_eq!(refreshes[0].bearer.as_deref(), Some(first.as_str()));
    assert!(
        !refreshes[0].body.contains(&first),
        "the refresh token went in the body"
    );
    assert!(
        env.double.requests_to(Endpoint::CreateSession).is_empty(),
        "refresh logged in again"
    );
    let second = env.latest_refresh_token();
    assert_ne!(second, first);

    env.double.clear_requests();
    single_account(&env.refresh("user-f").await);
    let refreshes = env.double.requests_to(Endpoint::RefreshSession);
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(
        refreshes[0].bearer.as_deref(),
        Some(second.as_str()),
        "old token reused"
    );

    // The profile is re-read on refresh.
    env.double
        .set_profile(env.alice.did_str(), Some("Alice Renamed"), None);
    let account = single_account(&env.refresh("user-f").await);
    assert_eq!(account["displayName"], "Alice Renamed");
    assert!(account["avatar"].is_null(), "{account}");
    env.finish().await;
}

#[tokio::test]
async fn refresh_with_an_expired_access_token_still_works() {
    let env = Env::start().await;
    single_account(&env.connect("user-e", "alice.test", ALICE_APP).await);
    let first_access = env.double.issued_tokens()[0].clone();
    env.double.advance_clock(Duration::from_secs(3 * 60 * 60));
    env.double.clear_requests();

    let account = single_account(&env.refresh("user-e").await);
    assert_eq!(account["status"], "active");
    let profiles = env.double.requests_to(Endpoint::GetProfile);
    let last = profiles.last().expect("the profile was re-read");
    assert_eq!(last.status, 200, "{profiles:?}");
    assert_ne!(last.bearer.as_deref(), Some(first_access.as_str()));
    assert!(env.double.requests_to(Endpoint::CreateSession).is_empty());
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_never_lose_the_session() {
    let env = Env::start().await;
    single_account(&env.connect("user-race", "alice.test", ALICE_APP).await);
    // Widen the race: every refreshSession answer takes a while.
    let delay = Fault::Delay(Duration::from_millis(300));
    env.double
        .inject(FaultRule::new(Endpoint::RefreshSession, delay));
    for round in [2usize, 5, 8] {
        let calls = (0..round).map(|_| env.refresh("user-race"));
        let answers = futures_join_all(calls).await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "round {round}: {}", answer.text());
            assert_eq!(single_account(answer)["status"], "active", "round {round}");
        }
        let status = single_account(&env.status("user-race").await);
        assert_eq!(status["status"], "active", "round {round}: {status}");
    }
    env.double.clear_faults();
    // Well after every grace window, the stored token must still be the live one.
    env.double.advance_clock(Duration::from_secs(3 * 60 * 60));
    let later = single_account(&env.refresh("user-race").await);
    assert_eq!(later["status"], "active");
    let last = env.double.requests_to(Endpoint::RefreshSession);
    assert_eq!(last.last().map(|r| r.status), Some(200), "{last:?}");
    env.finish().await;
}

/// Stricter than password sessions upstream: no grace window at all, as with atproto
/// OAuth. Only one of the racing requests can rotate; a loser may have to answer 409, but
/// the winner's fresh session must leave the account active.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_single_use_refresh_tokens_never_lose_the_session() {
    let env = Env::start().await;
    env.double.set_refresh_grace(Duration::ZERO);
    single_account(&env.connect("user-strict", "alice.test", ALICE_APP).await);
    let delay = Fault::Delay(Duration::from_millis(300));
    env.double
        .inject(FaultRule::new(Endpoint::RefreshSession, delay));
    for round in [2usize, 5, 8] {
        let answers = futures_join_all((0..round).map(|_| env.refresh("user-strict"))).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert!(
            statuses.contains(&200),
            "round {round}: nobody won: {statuses:?}"
        );
        for answer in answers.iter().filter(|a| a.status != 200) {
            assert_error(answer, 409, "reconnect_required");
        }
        let status = single_account(&env.status("user-strict").await);
        assert_eq!(
            status["status"], "active",
            "round {round}: answers {statuses:?}, {status}"
        );
    }
    env.double.clear_faults();
    assert_eq!(
        single_account(&env.refresh("user-strict").await)["status"],
        "active"
    );
    env.finish().await;
}

/// Runs futures concurrently on this task (no extra dependency for `join_all`).
async fn futures_join_all<F: std::future::Future<Output = Response>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Response> {
    let mut set = Vec::new();
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<Response>> = vec![None; set.len()];
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, future) in outputs.iter_mut().zip(set.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *slot = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test]
async fn refresh_after_upstream_revocation_requires_reconnect() {
    let env = Env::start().await;
    single_account(&env.connect("user-x", "alice.test", ALICE_APP).await);
    env.double.revoke_sessions(env.alice.did_str());
    assert_error(&env.refresh("user-x").await, 409, "reconnect_required");
    let status = single_account(&env.status("user-x").await);
    assert_eq!(status["status"], "reconnect_required", "{status}");
    assert_eq!(status["accountId"], env.alice.did_str());

    // Connecting again heals it.
    let account = single_account(&env.connect("user-x", "alice.test", ALICE_APP).await);
    assert_eq!(account["status"], "active");
    env.finish().await;
}

#[tokio::test]
async fn refresh_token_expired_beyond_refresh_requires_reconnect() {
    let env = Env::start().await;
    single_account(&env.connect("user-old", "alice.test", ALICE_APP).await);
    env.double
        .advance_clock(Duration::from_secs(91 * 24 * 60 * 60));
    assert_error(&env.refresh("user-old").await, 409, "reconnect_required");
    assert_eq!(
        single_account(&env.status("user-old").await)["status"],
        "reconnect_required"
    );
    env.finish().await;
}

#[tokio::test]
async fn transient_failures_during_refresh_keep_the_account_connected() {
    let env = Env::start().await;
    single_account(&env.connect("user-t", "alice.test", ALICE_APP).await);
    env.double
        .inject(FaultRule::new(Endpoint::RefreshSession, Fault::Html502).times(1));
    assert_error(&env.refresh("user-t").await, 502, "upstream_unavailable");
    let limit = Fault::RateLimited {
        reset_in: Duration::from_secs(60),
    };
    env.double
        .inject(FaultRule::new(Endpoint::RefreshSession, limit).times(1));
    let limited = env.refresh("user-t").await;
    assert_error(&limited, 429, "rate_limited");
    assert!(
        limited.header("retry-after").is_some(),
        "{:?}",
        limited.headers
    );
    assert_eq!(
        single_account(&env.status("user-t").await)["status"],
        "active"
    );
    assert_eq!(
        single_account(&env.refresh("user-t").await)["status"],
        "active"
    );
    env.finish().await;
}

#[tokio::test]
async fn a_rotation_is_kept_even_when_the_profile_fetch_after_it_fails() {
    let env = Env::start().await;
    single_account(&env.connect("user-k", "alice.test", ALICE_APP).await);
    env.double
        .inject(FaultRule::new(Endpoint::GetProfile, Fault::UpstreamFailure502).times(1));
    assert_error(&env.refresh("user-k").await, 502, "upstream_unavailable");
    let rotated = env.latest_refresh_token();
    assert_eq!(
        single_account(&env.status("user-k").await)["status"],
        "active"
    );

    // Well past the grace window of the token used before the failure.
    env.double.advance_clock(Duration::from_secs(3 * 60 * 60));
    env.double.clear_requests();
    assert_eq!(
        single_account(&env.refresh("user-k").await)["status"],
        "active"
    );
    let refreshes = env.double.requests_to(Endpoint::RefreshSession);
    assert_eq!(
        refreshes[0].bearer.as_deref(),
        Some(rotated.as_str()),
        "rotation was lost"
    );
    env.finish().await;
}

#[tokio::test]
async fn refresh_when_not_connected_is_not_connected() {
    let env = Env::start().await;
    assert_error(&env.refresh("user-n").await, 404, "not_connected");
    let status = env.status("user-n").await;
    assert!(accounts_of(&status).is_empty());
    assert!(env.double.requests().is_empty(), "nothing to ask upstream");
    env.finish().await;
}

// ---------------------------------------------------------------------------------------
// Disconnect

#[tokio::test]
async fn disconnect_ends_the_upstream_session_and_deletes_ours() {
    let env = Env::start().await;
    single_account(&env.connect("user-d", "alice.test", ALICE_APP).await);
    single_account(&env.refresh("user-d").await);
    let held = env.latest_refresh_token();
    env.double.clear_requests();

    let response = env.disconnect("user-d").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["success"], true);
    let deletes = env.double.requests_to(Endpoint::DeleteSession);
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0].service, Service::BlueskyPds);
    assert_eq!(deletes[0].auth, AuthKind::RefreshToken);
    assert_eq!(deletes[0].bearer.as_deref(), Some(held.as_str()));
    assert_eq!(deletes[0].status, 200);

    assert!(accounts_of(&env.status("user-d").await).is_empty());
    assert_error(&env.refresh("user-d").await, 404, "not_connected");
    env.finish().await;
}

#[tokio::test]
async fn disconnect_works_when_the_upstream_session_is_already_dead() {
    let env = Env::start().await;
    single_account(&env.connect("user-dd", "alice.test", ALICE_APP).await);
    env.double.revoke_sessions(env.alice.did_str());
    env.double
        .advance_clock(Duration::from_secs(91 * 24 * 60 * 60));
    let response = env.disconnect("user-dd").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(accounts_of(&env.status("user-dd").await).is_empty());
    env.finish().await;
}

// ---------------------------------------------------------------------------------------
// The bearer token, methods and bodies

#[tokio::test]
async fn every_route_refuses_bad_bearer_tokens_with_401() {
    let env = Env::start().await;
    let now = hayon_host::token::now_seconds().expect("clock");
    let secret = TEST_ACCESS_TOKEN_SECRET.as_bytes();
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let sign =
        |header: &Value, claims: Value, key: &[u8]| hayon_host::token::sign(header, &claims, key);
    let bad_tokens = [
        (
            "expired",
            sign(&hs256, json!({"sub": "user-1", "exp": now - 60}), secret),
        ),
        (
            "alg none",
            sign(
                &json!({"alg": "none", "typ": "JWT"}),
                json!({"sub": "user-1", "exp": now + 600}),
                secret,
            ),
        ),
        (
            "HS512",
            sign(
                &json!({"alg": "HS512", "typ": "JWT"}),
                json!({"sub": "user-1", "exp": now + 600}),
                secret,
            ),
        ),
        (
            "bad signature",
            sign(
                &hs256,
                json!({"sub": "user-1", "exp": now + 600}),
                b"another-secret",
            ),
        ),
        (
            "bad sub",
            sign(
                &hs256,
                json!({"sub": "../accounts/x", "exp": now + 600}),
                secret,
            ),
        ),
        (
            "long sub",
            sign(
                &hs256,
                json!({"sub": "a".repeat(129), "exp": now + 600}),
                secret,
            ),
        ),
        ("no sub", sign(&hs256, json!({"exp": now + 600}), secret)),
        ("no exp", sign(&hs256, json!({"sub": "user-1"}), secret)),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    let routes = [
        ("POST", "connect"),
        ("GET", "refresh"),
        ("GET", "status"),
        ("DELETE", "disconnect"),
    ];
    let body = json!({"identifier": "alice.test", "appPassword": ALICE_APP}).to_string();
    for (method, route) in routes {
        let path = format!("/api/platform/bluesky/{route}");
        let response = env
            .send(
                method,
                &path,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await;
        assert_error(&response, 401, "unauthorized");
        let basic = [
            ("Authorization", "Basic dXNlcjpwYXNz"),
            ("Content-Type", "application/json"),
        ];
        assert_error(
            &env.send(method, &path, &basic, body.as_bytes()).await,
            401,
            "unauthorized",
        );
        for (what, token) in &bad_tokens {
            let bearer = format!("Bearer {token}");
            let headers = [
                ("Authorization", bearer.as_str()),
                ("Content-Type", "application/json"),
            ];
            let response = env.send(method, &path, &headers, body.as_bytes()).await;
            assert_eq!(
                response.status,
                401,
                "{what} on {method} {route}: {}",
                response.text()
            );
            assert_error(&response, 401, "unauthorized");
        }
    }
    assert!(
        env.double.requests().is_empty(),
        "an unauthenticated request went upstream"
    );
    env.finish().await;
}

#[tokio::test]
async fn wrong_methods_unknown_routes_big_and_malformed_bodies() {
    let env = Env::start().await;
    let bearer = format!("Bearer {}", env.host.mint_token("user-m"));
    let auth = [("Authorization", bearer.as_str())];
    let cases = [
        ("GET", "connect", "POST"),
        ("POST", "status", "GET"),
        ("POST", "refresh", "GET"),
        ("GET", "disconnect", "DELETE"),
    ];
    for (method, route, allowed) in cases {
        let response = env
            .send(
                method,
                &format!("/api/platform/bluesky/{route}"),
                &auth,
                b"",
            )
            .await;
        assert_error(&response, 405, "method_not_allowed");
        let allow = response
            .header("allow")
            .unwrap_or_else(|| panic!("no Allow on {route}"));
        assert!(
            allow.split(',').any(|m| m.trim() == allowed),
            "Allow: {allow} on {route}"
        );
    }
    let unknown = env
        .send("GET", "/api/platform/bluesky/nope", &auth, b"")
        .await;
    assert_error(&unknown, 404, "not_found");

    let json_auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let big = format!(
        "{{\"identifier\":\"alice.test\",\"appPassword\":\"{ALICE_APP}\",\"pad\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    let response = env
        .send(
            "POST",
            "/api/platform/bluesky/connect",
            &json_auth,
            big.as_bytes(),
        )
        .await;
    assert_error(&response, 413, "payload_too_large");
    for malformed in [
        "{\"identifier\": \"alice.test\",",
        "not json",
        "[]",
        "null",
        "",
    ] {
        let response = env
            .send(
                "POST",
                "/api/platform/bluesky/connect",
                &json_auth,
                malformed.as_bytes(),
            )
            .await;
        assert_error(&response, 400, "validation_failed");
    }
    assert!(
        env.double.requests().is_empty(),
        "a refused request went upstream"
    );
    env.finish().await;
}

// ---------------------------------------------------------------------------------------
// Durability and storage

#[tokio::test]
async fn a_connected_account_survives_a_host_restart() {
    let mut env = Env::start().await;
    single_account(&env.connect("user-p", "alice.test", ALICE_APP).await);
    single_account(&env.refresh("user-p").await);
    let held = env.latest_refresh_token();

    env.host.restart().await;
    let status = single_account(&env.status("user-p").await);
    assert_eq!(status["accountId"], env.alice.did_str());
    assert_eq!(status["status"], "active");
    env.double.clear_requests();
    single_account(&env.refresh("user-p").await);
    let refreshes = env.double.requests_to(Endpoint::RefreshSession);
    assert_eq!(refreshes.last().and_then(|r| r.bearer.clone()), Some(held));

    env.host.shutdown().await;
    assert_storage_is_sealed(&env, "user-p");
    env.finish().await;
}

/// Opens the stopped host's database: the account record is where the plan says, and no
/// token, password or secret is in the file in clear.
fn assert_storage_is_sealed(env: &Env, user: &str) {
    let path = env.host.data_dir().join(hayon_host::KV_FILE);
    let raw = std::fs::read(&path).expect("read the database file");
    let raw_text = String::from_utf8_lossy(&raw);
    // Control: values are stored uncompressed, so what is not sealed is readable here.
    assert!(
        raw_text.contains(env.alice.did_str()),
        "the scan cannot see stored values"
    );
    for secret in env.secrets() {
        assert!(
            !raw_text.contains(secret.as_str()),
            "the database holds a secret in clear"
        );
        if let Some((_, signature)) = secret.rsplit_once('.') {
            assert!(
                !raw_text.contains(signature),
                "the database holds a token part in clear"
            );
        }
    }

    let store = RedbStore::open(&path).expect("open the database");
    let keys = store.list_keys("default", None, 1000).expect("list keys");
    let key = format!("accounts/bluesky/{user}");
    assert!(keys.contains(&key), "no {key} in {keys:?}");
    let value = store
        .get("default", &key)
        .expect("read")
        .expect("the record exists");
    let record: Value = serde_json::from_slice(&value).expect("the record is JSON");
    assert_eq!(record["v"], 1, "{record}");
    let accounts = record["accounts"].as_array().expect("accounts array");
    assert_eq!(accounts.len(), 1, "{record}");
    let text = record.to_string();
    assert!(
        text.contains(env.alice.did_str()),
        "the record names the account: {record}"
    );
}
