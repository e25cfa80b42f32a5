//! End-to-end tests of the Facebook + Instagram connector: the real host serving the real
//! `hayon_facebook.wasm` from `spin.toml`, talking to the Meta test double (Graph API and
//! Login dialog, each on its own loopback listener; exact redirect URIs, single-use codes,
//! short- and long-lived user tokens, Page tokens, revocation) and driven over HTTP as the
//! front end and the browser would.
//!
//! Every test gets its own double, data directory and host. Every answer of the host is
//! checked for the tokens the double issued and the app secret: none may appear in one.
//!
//! The state's expiry is checked against the component's clock, which is the host's wall
//! clock and cannot be moved from here; expiry is covered by the connector's native tests
//! (`components/facebook/src/flow_tests.rs`) and the guest library's. Here, unknown and
//! tampered states are.

use hayon_double_meta::{
    Decision, FacebookPage, FacebookUser, Fault, GraphError, InstagramAccount, LoggedRequest,
    MetaDouble, RegisteredApp, TokenKind,
};
use hayon_e2e::TestHost;
use hayon_e2e::oauth_flow::{
    self, call_route, follow_callback, now_unix, query_param, query_params, raw_request,
    settings_error, settings_success, unix_seconds,
};
use serde_json::{Value, json};

const USER: &str = "user-1";
const CALLBACK_PATH: &str = "/api/platform/facebook/callback";
const APP_ID: &str = "987654321012345";
const APP_SECRET: &str = "e2e-meta-app-secret";
/// Alice manages a Page with a linked Instagram account; Bob manages no Page.
const ALICE: &str = "10150000000000001";
const BOB: &str = "10150000000000002";
/// Ids above 2^53, as Meta's are.
const PAGE: &str = "104857600000000001";
const IG: &str = "17841400000000001";
const SCOPES: [&str; 9] = [
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_insights",
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "pages_manage_metadata",
    "public_profile",
    "business_management",
];
/// The double's default `expires_in` for long-lived user tokens.
const LONG_LIVED_SECONDS: i64 = 5_183_944;

fn bakery() -> FacebookPage {
    FacebookPage::new(PAGE, "Alice's Bakery")
        .instagram(InstagramAccount::new(IG, "alicebakes").without_picture())
}

/// A host configured for a Meta double with a registered app, Alice and Bob.
struct Setup {
    host: TestHost,
    meta: MetaDouble,
    token: String,
}

impl Setup {
    async fn start() -> Self {
        let meta = MetaDouble::start().await.expect("the double starts");
        meta.add_user(FacebookUser::new(ALICE, "Alice"));
        meta.add_user(FacebookUser::new(BOB, "Bob"));
        meta.add_page(ALICE, bakery()).expect("Alice exists");
        let mut vars = meta.variables();
        vars.insert("meta_app_id".to_owned(), APP_ID.to_owned());
        vars.insert("meta_app_secret".to_owned(), APP_SECRET.to_owned());
        let vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let host = TestHost::start(&vars).await;
        // The operator registered exactly the callback the host serves.
        meta.register_app(RegisteredApp::new(
            APP_ID,
            APP_SECRET,
            [host.url(CALLBACK_PATH)],
        ));
        let token = host.mint_token(USER);
        Self { host, meta, token }
    }

    async fn api(&self, method: &str, route: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let answer = call_route(&self.host, "facebook", method, route, &self.token).await;
        self.assert_no_secret_in(&answer.2.to_string());
        answer
    }

    /// `connect`'s dialog URL.
    async fn auth_url(&self) -> String {
        let (status, _, body) = self.api("GET", "connect").await;
        assert_eq!(status, 200, "{body}");
        body["data"]["url"].as_str().expect("data.url").to_owned()
    }

    /// The person deciding in the dialog: the URL the browser is sent back to.
    fn decide(&self, auth_url: &str, decision: Decision) -> String {
        self.meta
            .authorize(auth_url, decision)
            .expect("the dialog redirects back")
    }

    /// The browser following the dialog's redirect to our callback (a browser does not
    /// send the `#_=_` fragment): the `Location` our callback answers with.
    async fn follow(&self, redirect: &str) -> String {
        let (location, body) = follow_callback(&self.host, redirect).await;
        assert_eq!(body, Value::Null, "a callback has no page");
        self.assert_no_secret_in(&location);
        location
    }

    /// Connects Alice's Facebook for [`USER`] all the way; answers the callback's redirect.
    async fn connect_alice(&self) -> String {
        let redirect = self.decide(&self.auth_url().await, Decision::Approve(ALICE.into()));
        self.follow(&redirect).await
    }

    async fn accounts(&self) -> Vec<Value> {
        let (status, _, body) = self.api("GET", "status").await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accounts"]
            .as_array()
            .expect("accounts")
            .clone()
    }

    fn statuses(accounts: &[Value]) -> Vec<(String, String)> {
        accounts
            .iter()
            .map(|a| {
                (
                    a["platform"].as_str().unwrap_or("").to_owned(),
                    a["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Code exchanges (not `fb_exchange_token`) the double received.
    fn code_exchanges(&self) -> Vec<LoggedRequest> {
        self.meta
            .requests_to("GET", "/oauth/access_token")
            .into_iter()
            .filter(|r| r.param("grant_type").is_none())
            .collect()
    }

    fn assert_no_secret_in(&self, text: &str) {
        let tokens = self.meta.tokens().into_iter().map(|issued| issued.token);
        oauth_flow::assert_no_secret_in(text, tokens, APP_SECRET);
    }
}

fn success() -> String {
    settings_success("facebook")
}

fn failure(reason: &str) -> String {
    settings_error("facebook", reason)
}

/// The decoded value of query parameter `name` of `url`, which must have one.
fn param(url: &str, name: &str) -> String {
    query_param(url, name).unwrap_or_else(|| panic!("no {name} in {url}"))
}

/// Unix seconds of an RFC 3339 UTC timestamp, which must be `YYYY-MM-DDTHH:MM:SSZ`.
fn unix_of(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().expect("an RFC 3339 string");
    assert!(
        text.len() == 20 && text.ends_with('Z'),
        "not RFC 3339 UTC: {text}"
    );
    unix_seconds(text)
}

#[tokio::test]
async fn connect_answers_the_dialog_url_with_every_parameter_encoded() {
    let setup = Setup::start().await;
    let url = setup.auth_url().await;
    let (endpoint, query) = url.split_once('?').expect("a query");
    assert_eq!(
        endpoint,
        format!("{}/v26.0/dialog/oauth", setup.meta.dialog_url())
    );
    let names: Vec<String> = query_params(&url)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "client_id",
            "redirect_uri",
            "state",
            "response_type",
            "scope"
        ]
    );
    assert_eq!(param(&url, "client_id"), APP_ID);
    assert_eq!(param(&url, "redirect_uri"), setup.host.url(CALLBACK_PATH));
    assert_eq!(param(&url, "response_type"), "code");
    assert_eq!(param(&url, "scope"), SCOPES.join(","));
    assert!(
        query.contains("&scope=instagram_basic%2Cinstagram_content_publish%2C"),
        "{query}"
    );
    let redirect = format!(
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A{}%2Fapi",
        setup.host.addr().port()
    );
    assert!(query.contains(&redirect), "{query}");
    let state = param(&url, "state");
    assert!(
        state.len() >= 32 && !state.contains(USER),
        "an opaque state: {state}"
    );

    // The dialog accepts it as Facebook would (registered app, exact URI, known scopes).
    let redirect = setup.decide(&url, Decision::Approve(ALICE.into()));
    assert!(redirect.ends_with("#_=_"), "{redirect}");
    let dialog = setup.meta.requests_to("GET", "/dialog/oauth");
    assert_eq!(dialog.len(), 1);
    assert_eq!(dialog[0].version.as_deref(), Some("v26.0"));

    assert_ne!(setup.auth_url().await, url, "a fresh state each time");
    let (status, _, body) = setup.host.get("/api/platform/facebook/connect", None).await;
    assert_eq!(
        (status, body["data"]["code"].clone()),
        (401, json!("unauthorized"))
    );
}

#[tokio::test]
async fn a_page_with_instagram_connects_two_accounts() {
    let setup = Setup::start().await;
    let before = now_unix();
    assert_eq!(setup.connect_alice().await, success());

    let accounts = setup.accounts().await;
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    let facebook = &accounts[0];
    assert_eq!(facebook["platform"], "facebook");
    assert_eq!(facebook["accountId"], PAGE, "ids stay exact strings");
    assert_eq!(facebook["handle"], "Alice's Bakery");
    assert_eq!(facebook["displayName"], "Alice's Bakery");
    assert_eq!(
        facebook["avatar"],
        format!("https://pictures.example/page/{PAGE}.jpg")
    );
    assert_eq!(
        facebook["profileUrl"],
        format!("https://www.facebook.com/{PAGE}")
    );
    assert_eq!(
        facebook["expiresAt"],
        Value::Null,
        "Page tokens from long-lived tokens never expire"
    );
    assert_eq!(facebook["status"], "active");
    let instagram = &accounts[1];
    assert_eq!(instagram["platform"], "instagram");
    assert_eq!(instagram["accountId"], IG);
    assert_eq!(instagram["handle"], "alicebakes");
    assert_eq!(instagram["avatar"], Value::Null, "no profile_picture_url");
    assert_eq!(
        instagram["profileUrl"],
        "https://www.instagram.com/alicebakes"
    );
    assert_eq!(instagram["status"], "active");
    let expires = unix_of(&instagram["expiresAt"]);
    assert!(
        (before + LONG_LIVED_SECONDS..=now_unix() + LONG_LIVED_SECONDS).contains(&expires),
        "expiresAt = receipt time + expires_in: {expires}"
    );

    // The exchange used the authorize request's redirect_uri, byte for byte.
    let dialog = setup.meta.requests_to("GET", "/dialog/oauth");
    let exchanges = setup.code_exchanges();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(
        exchanges[0].param("redirect_uri"),
        dialog[0].param("redirect_uri")
    );
    assert_eq!(
        exchanges[0].param("redirect_uri"),
        Some(setup.host.url(CALLBACK_PATH).as_str())
    );
    assert_eq!(exchanges[0].version.as_deref(), Some("v26.0"));

    // Short-lived → long-lived, then the Pages listed with the long-lived token.
    let extended = setup.meta.requests_to("GET", "/oauth/access_token");
    assert_eq!(extended[1].param("grant_type"), Some("fb_exchange_token"));
    assert_eq!(extended[1].token_kind(), Some(TokenKind::UserShortLived));
    let listing = setup.meta.requests_to("GET", "/me/accounts");
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].token_kind(), Some(TokenKind::UserLongLived));
    let fields = listing[0].param("fields").expect("fields");
    assert!(fields.contains("access_token") && fields.contains("instagram_business_account{"));

    // The stored Page token is the non-expiring one the listing handed out.
    let page_tokens: Vec<TokenKind> = setup
        .meta
        .tokens_of(ALICE)
        .iter()
        .filter(|t| t.page_id.is_some())
        .map(|t| t.kind)
        .collect();
    assert_eq!(page_tokens, [TokenKind::PageNonExpiring]);
}

#[tokio::test]
async fn a_page_without_instagram_connects_one_account() {
    let setup = Setup::start().await;
    setup
        .meta
        .add_page(ALICE, FacebookPage::new(PAGE, "Alice's Bakery"))
        .expect("replaced");
    assert_eq!(setup.connect_alice().await, success());
    let accounts = setup.accounts().await;
    assert_eq!(
        Setup::statuses(&accounts),
        [("facebook".into(), "active".into())]
    );
}

#[tokio::test]
async fn a_reconnect_without_instagram_removes_the_stale_instagram_account() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_alice().await, success());
    assert_eq!(setup.accounts().await.len(), 2);

    // Alice unlinks Instagram from her Page and connects again.
    setup
        .meta
        .add_page(ALICE, FacebookPage::new(PAGE, "Alice's Bakery"))
        .expect("replaced");
    assert_eq!(setup.connect_alice().await, success());
    let accounts = setup.accounts().await;
    assert_eq!(
        Setup::statuses(&accounts),
        [("facebook".into(), "active".into())]
    );
}

#[tokio::test]
async fn a_person_without_pages_connects_nothing() {
    let setup = Setup::start().await;
    let redirect = setup.decide(&setup.auth_url().await, Decision::Approve(BOB.into()));
    assert_eq!(setup.follow(&redirect).await, failure("no_pages"));
    assert_eq!(setup.accounts().await, Vec::<Value>::new());
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, body["data"]["code"].clone()),
        (404, json!("not_connected"))
    );
}

#[tokio::test]
async fn refusing_in_the_dialog_or_coming_back_without_a_code() {
    let setup = Setup::start().await;
    let auth_url = setup.auth_url().await;
    let denied = setup.decide(&auth_url, Decision::Deny);
    assert!(denied.contains("error=access_denied") && denied.contains("error_reason=user_denied"));
    assert_eq!(setup.follow(&denied).await, failure("auth_denied"));

    let without_code = setup.host.url(&format!(
        "{CALLBACK_PATH}?state={}",
        param(&setup.auth_url().await, "state")
    ));
    assert_eq!(setup.follow(&without_code).await, failure("auth_failed"));
    assert_eq!(
        setup.follow(&setup.host.url(CALLBACK_PATH)).await,
        failure("auth_failed")
    );

    assert!(setup.code_exchanges().is_empty());
    assert_eq!(setup.accounts().await, Vec::<Value>::new());
}

/// A client that sends the URL exactly as Facebook wrote it, `#_=_` included (browsers
/// drop fragments; a pasted URL or a naive client may not).
#[tokio::test]
async fn a_callback_that_arrives_with_the_fragment_still_connects() {
    let setup = Setup::start().await;
    let redirect = setup.decide(&setup.auth_url().await, Decision::Approve(ALICE.into()));
    let target = redirect
        .strip_prefix(&setup.host.base_url())
        .expect("to the host");
    assert!(target.ends_with("#_=_"));

    let answer = raw_request(&setup.host, target).await;
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("location: {}\r\n", success())),
        "{answer}"
    );
    assert_eq!(setup.accounts().await.len(), 2);
    let code = setup.code_exchanges();
    assert_eq!(code.len(), 1);
}

#[tokio::test]
async fn a_replayed_callback_connects_and_overwrites_nothing() {
    let setup = Setup::start().await;
    let redirect = setup.decide(&setup.auth_url().await, Decision::Approve(ALICE.into()));
    assert_eq!(setup.follow(&redirect).await, success());
    let before = setup.accounts().await;

    assert_eq!(setup.follow(&redirect).await, failure("state_invalid"));
    assert_eq!(
        setup.code_exchanges().len(),
        1,
        "the code was exchanged once"
    );
    assert_eq!(setup.accounts().await, before, "nothing was overwritten");
}

#[tokio::test]
async fn unknown_and_tampered_states_are_refused_before_any_exchange() {
    let setup = Setup::start().await;
    let redirect = setup.decide(&setup.auth_url().await, Decision::Approve(ALICE.into()));
    let state = param(&redirect, "state");
    let code = param(&redirect, "code");

    let mut tampered = state.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let unknown = "A".repeat(state.len());
    for bad in [tampered.as_str(), unknown.as_str(), USER, ""] {
        let url = setup
            .host
            .url(&format!("{CALLBACK_PATH}?code={code}&state={bad}"));
        assert_eq!(
            setup.follow(&url).await,
            failure("state_invalid"),
            "state {bad:?}"
        );
    }
    assert!(setup.code_exchanges().is_empty(), "no code was exchanged");
    assert_eq!(setup.accounts().await, Vec::<Value>::new());

    // The real state was not spent by the forgeries.
    assert_eq!(setup.follow(&redirect).await, success());
}

#[tokio::test]
async fn codes_the_platform_refuses_and_upstream_trouble_while_connecting() {
    let setup = Setup::start().await;
    let cases = [
        (
            "/oauth/access_token",
            Fault::Graph(
                GraphError::new(100, "This authorization code has been used.").subcode(36009),
            ),
            "connect_failed",
        ),
        (
            "/oauth/access_token",
            Fault::Graph(
                GraphError::new(100, "This authorization code has expired.").subcode(36007),
            ),
            "connect_failed",
        ),
        (
            "/oauth/access_token",
            Fault::html(502),
            "upstream_unavailable",
        ),
        ("/me/accounts", Fault::app_rate_limit(), "rate_limited"),
        (
            "/me/accounts",
            Fault::truncated_json(200),
            "upstream_unavailable",
        ),
    ];
    for (route, fault, reason) in cases {
        setup.meta.fail_next(route, fault);
        assert_eq!(
            setup.connect_alice().await,
            failure(reason),
            "{route} → {reason}"
        );
        assert_eq!(
            setup.accounts().await,
            Vec::<Value>::new(),
            "{reason}: nothing stored"
        );
    }
}

#[tokio::test]
async fn a_long_lived_token_without_expires_in_has_no_expiry() {
    let setup = Setup::start().await;
    setup.meta.set_long_lived_expires_in(None);
    assert_eq!(setup.connect_alice().await, success());
    let accounts = setup.accounts().await;
    assert_eq!(accounts[1]["platform"], "instagram");
    assert_eq!(accounts[1]["expiresAt"], Value::Null);
}

#[tokio::test]
async fn refresh_rereads_both_profiles_and_re_extends_the_user_token() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_alice().await, success());
    let connected = setup.accounts().await;
    setup
        .meta
        .add_page(
            ALICE,
            FacebookPage::new(PAGE, "Alice's Bakery & Café")
                .instagram(InstagramAccount::new(IG, "alicebakes_cafe")),
        )
        .expect("renamed");
    setup.meta.clear_requests();

    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(status, 200, "{body}");
    let accounts = body["data"]["accounts"].as_array().expect("accounts");
    assert_eq!(accounts[0]["handle"], "Alice's Bakery & Café");
    assert_eq!(accounts[0]["connectedAt"], connected[0]["connectedAt"]);
    assert_eq!(accounts[1]["handle"], "alicebakes_cafe");
    assert_eq!(
        accounts[1]["avatar"],
        format!("https://pictures.example/ig/{IG}.jpg")
    );
    assert!(unix_of(&accounts[1]["expiresAt"]) >= unix_of(&connected[1]["expiresAt"]));
    assert_eq!(setup.accounts().await, *accounts, "stored as answered");

    let page = setup.meta.requests_to("GET", &format!("/{PAGE}"));
    assert_eq!(
        page[0].token_kind(),
        Some(TokenKind::PageNonExpiring),
        "the Page with its token"
    );
    let ig = setup.meta.requests_to("GET", &format!("/{IG}"));
    assert_eq!(
        ig[0].token_kind(),
        Some(TokenKind::UserLongLived),
        "Instagram with the user token"
    );
    let extended = setup.meta.requests_to("GET", "/oauth/access_token");
    assert_eq!(extended.len(), 1);
    assert_eq!(extended[0].param("grant_type"), Some("fb_exchange_token"));
    assert_eq!(extended[0].token_kind(), Some(TokenKind::UserLongLived));
    assert_eq!(page[0].version.as_deref(), Some("v26.0"));
}

#[tokio::test]
async fn refresh_with_dead_tokens_requires_reconnecting_both_accounts() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_alice().await, success());
    setup.meta.revoke_user(ALICE, 460);

    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, body["data"]["code"].clone()),
        (409, json!("reconnect_required")),
        "{body}"
    );
    let accounts = setup.accounts().await;
    assert_eq!(
        Setup::statuses(&accounts),
        [
            ("facebook".into(), "reconnect_required".into()),
            ("instagram".into(), "reconnect_required".into())
        ]
    );
}

#[tokio::test]
async fn throttling_and_outages_on_refresh_leave_the_accounts_active() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_alice().await, success());
    let before = setup.accounts().await;

    setup
        .meta
        .fail_next(&format!("/{PAGE}"), Fault::app_rate_limit());
    let (status, headers, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, body["data"]["code"].clone()),
        (429, json!("rate_limited")),
        "{body}"
    );
    let wait = headers["retry-after"]
        .to_str()
        .expect("Retry-After")
        .parse::<u32>()
        .expect("seconds");
    assert!(wait > 0);
    assert_eq!(setup.accounts().await, before);

    setup.meta.fail_next(
        &format!("/{IG}"),
        Fault::business_use_case_limit(80002, IG, 7),
    );
    let (status, headers, _) = setup.api("GET", "refresh").await;
    assert_eq!(status, 429);
    assert_eq!(
        headers["retry-after"], "420",
        "estimated_time_to_regain_access in minutes"
    );
    assert_eq!(setup.accounts().await, before);

    setup.meta.fail_next(&format!("/{PAGE}"), Fault::html(500));
    let (status, _, body) = setup.api("GET", "refresh").await;
    assert_eq!(
        (status, body["data"]["code"].clone()),
        (502, json!("upstream_unavailable")),
        "{body}"
    );
    assert_eq!(setup.accounts().await, before);

    setup
        .meta
        .fail_next("/oauth/access_token", Fault::temporarily_unavailable());
    let (status, _, _) = setup.api("GET", "refresh").await;
    assert_eq!(status, 502);
    assert_eq!(setup.accounts().await, before);
}

#[tokio::test]
async fn disconnect_revokes_the_app_and_deletes_both_accounts() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_alice().await, success());
    assert!(setup.meta.granted_scopes(APP_ID, ALICE).is_some());

    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"removed": 2, "revoked": true, "revocationProblem": null})
    );
    let revocations = setup.meta.requests_to("DELETE", "/me/permissions");
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].token_kind(), Some(TokenKind::UserLongLived));
    assert_eq!(
        setup.meta.granted_scopes(APP_ID, ALICE),
        None,
        "the app is removed"
    );
    assert!(
        setup.meta.tokens_of(ALICE).iter().all(|t| !t.valid),
        "every token ended"
    );
    assert_eq!(setup.accounts().await, Vec::<Value>::new());

    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["removed"], 0);
}

#[tokio::test]
async fn a_failed_revocation_is_reported_and_the_accounts_are_deleted_anyway() {
    let setup = Setup::start().await;
    assert_eq!(setup.connect_alice().await, success());
    setup
        .meta
        .fail_next("DELETE /me/permissions", Fault::html(500));

    let (status, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["removed"], 2);
    assert_eq!(body["data"]["revoked"], false);
    let problem = body["data"]["revocationProblem"]
        .as_str()
        .expect("a problem");
    assert!(problem.contains("Facebook"), "{problem}");
    assert!(
        setup.meta.granted_scopes(APP_ID, ALICE).is_some(),
        "still installed upstream"
    );
    assert_eq!(setup.accounts().await, Vec::<Value>::new());

    // Revoking with a token that already died is reported the same way.
    assert_eq!(setup.connect_alice().await, success());
    setup.meta.revoke_user(ALICE, 467);
    let (_, _, body) = setup.api("DELETE", "disconnect").await;
    assert_eq!(
        (
            body["data"]["removed"].clone(),
            body["data"]["revoked"].clone()
        ),
        (json!(2), json!(false))
    );
    assert_eq!(setup.accounts().await, Vec::<Value>::new());
}

#[tokio::test]
async fn without_app_credentials_the_connector_is_not_configured() {
    let host = TestHost::start(&[]).await;
    let token = host.mint_token(USER);
    let (status, _, body) = host
        .get("/api/platform/facebook/connect", Some(&token))
        .await;
    assert_eq!(
        (status, body["data"]["code"].clone()),
        (503, json!("not_configured")),
        "{body}"
    );
    let message = body["message"].as_str().expect("message");
    // People get a plain sentence; the variable to set is only in the operator's log.
    assert!(
        message.starts_with("Connecting Facebook is not available on this server yet."),
        "{message}"
    );
    assert!(!message.contains("META_APP_ID"), "{message}");
    let (status, _, body) = host
        .get("/api/platform/facebook/status", Some(&token))
        .await;
    assert_eq!((status, body["data"]["accounts"].clone()), (200, json!([])));
}
