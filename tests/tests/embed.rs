//! End-to-end tests of embedding: each connector component, loaded with
//! [`hayon_host::embed`] exactly as `spin.toml` declares it (same config keys, same
//! `allowed_outbound_hosts`), driven through its typed `hayon:connector/connector` calls
//! against the platform's test double, without HTTP.
//!
//! Every platform gets one whole connection (begin, and for redirect platforms the
//! double's authorization step and `complete`; then status, refresh, disconnect) and its
//! typical failures. A platform whose component `spin.toml` does not list yet is skipped
//! with a message. Two more tests check what the embedding layer itself adds: the
//! outbound allow-list, and the per-call deadline after which the next call still works.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hayon_double_atproto::{
    Account as BlueskyAccount, AtprotoDouble, Endpoint as AtEndpoint, Fault, FaultRule,
};
use hayon_double_mastodon::{
    AppSpec, Decision as MastodonDecision, MastodonDouble, NewUser, PkceCheck,
};
use hayon_double_meta::{
    Decision as MetaDecision, FacebookPage, FacebookUser, InstagramAccount, MetaDouble,
    RegisteredApp, ThreadsDouble, ThreadsUser,
};
use hayon_double_tumblr::{Decision as TumblrDecision, TumblrDouble, fixtures};
use hayon_host::embed::{
    Account, AccountStatus, AuthKind, BeginOutcome, CallResult, CallbackReason, ComponentSettings,
    Credentials, EmbedError, Embedder, EmbedderOptions, ErrorKind, LoadedConnector,
};
use hayon_host::keyvalue::redb_store::RedbStore;
use hayon_host::manifest::Manifest;
use hayon_host::outbound::allow_list::AllowList;
use hayon_host::variables::{ResolvedVariables, VariableSources};

/// The user every connection is made for.
const USER: &str = "embed-user-1";
/// Never contacted: only the base of the callback URLs registered with the doubles.
const PUBLIC_BASE_URL: &str = "http://127.0.0.1:8080";

const ALICE_MAIN: &str = "alice-main-password-7Qx2";
const ALICE_APP: &str = "alic-eapp-pw7x-q2zz";

fn callback_url(platform: &str) -> String {
    format!("{PUBLIC_BASE_URL}/api/platform/{platform}/callback")
}

fn compile_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("hayon-e2e-compile-cache")
}

/// A connector loaded for one test, with its own key-value database.
struct Embedded {
    // Dropped before the directory that holds its database.
    connector: LoadedConnector,
    _data: tempfile::TempDir,
}

/// Loads `platform`'s component as `spin.toml` declares it, with the shared variables
/// and `vars`; `None` (after saying so) when `spin.toml` does not list it.
fn load(platform: &str, vars: &[(&str, &str)]) -> Option<Embedded> {
    load_with(platform, vars, Duration::from_secs(30), |_| {})
}

/// [`load`] with a call timeout and a last change to the settings.
fn load_with(
    platform: &str,
    vars: &[(&str, &str)],
    call_timeout: Duration,
    customize: impl FnOnce(&mut ComponentSettings),
) -> Option<Embedded> {
    let manifest = Manifest::load(&hayon_e2e::manifest_path()).expect("the manifest is valid");
    let Some(decl) = manifest.components.get(platform) else {
        eprintln!("skipped: {platform}: spin.toml has no `{platform}` component yet");
        return None;
    };
    hayon_e2e::ensure_components_built();

    let shared = [
        ("access_token_secret", hayon_e2e::TEST_ACCESS_TOKEN_SECRET),
        ("token_encryption_key", hayon_e2e::TEST_TOKEN_ENCRYPTION_KEY),
        ("frontend_url", hayon_e2e::TEST_FRONTEND_URL),
        ("public_base_url", PUBLIC_BASE_URL),
    ];
    let mut overrides: BTreeMap<String, String> = shared
        .iter()
        .chain(vars)
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    overrides.retain(|name, _| manifest.variables.contains_key(name));
    let sources = VariableSources {
        overrides,
        ..VariableSources::default()
    };
    let variables = ResolvedVariables::resolve(&manifest, &sources).expect("variables resolve");

    let data = tempfile::tempdir().expect("a temporary directory");
    let kv = Arc::new(RedbStore::open(&data.path().join("kv.redb")).expect("the database opens"));
    let mut settings =
        ComponentSettings::from_manifest(decl, &variables, kv).expect("the settings render");
    customize(&mut settings);
    let embedder = Embedder::new(EmbedderOptions {
        call_timeout,
        compile_cache: Some(compile_cache()),
        ..EmbedderOptions::default()
    })
    .expect("the engine starts");
    let connector = embedder
        .load(&decl.source, settings)
        .unwrap_or_else(|e| panic!("{platform} loads: {e}"));
    Some(Embedded {
        connector,
        _data: data,
    })
}

/// The connector's answer of a call that must succeed.
fn answer<T, E: Debug>(result: CallResult<T, E>) -> T {
    match result {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => panic!("the connector refused: {error:?}"),
        Err(error) => panic!("the call did not run: {error}"),
    }
}

/// The connector's error of a call that must fail.
fn refusal<T: Debug, E>(result: CallResult<T, E>) -> E {
    match result {
        Ok(Err(error)) => error,
        Ok(Ok(value)) => panic!("the call succeeded but should not have: {value:?}"),
        Err(error) => panic!("the call did not run: {error}"),
    }
}

/// `(platform, account id)` of each account, sorted.
fn ids(accounts: &[Account]) -> Vec<(String, String)> {
    let mut ids: Vec<_> = accounts
        .iter()
        .map(|a| (a.platform.clone(), a.account_id.clone()))
        .collect();
    ids.sort();
    ids
}

fn sorted(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut ids: Vec<_> = expected
        .iter()
        .map(|(p, id)| ((*p).to_owned(), (*id).to_owned()))
        .collect();
    ids.sort();
    ids
}

/// Checks what `describe` says.
async fn check_describe(connector: &LoadedConnector, id: &str, auth: AuthKind, platforms: &[&str]) {
    let info = connector.describe().await.expect("describe runs");
    assert_eq!(info.id, id);
    assert_eq!(info.auth, auth);
    assert_eq!(info.account_platforms, platforms);
}

/// The redirect URL `begin` answers for a redirect platform.
async fn begin_redirect(connector: &LoadedConnector, authorize_base: &str) -> String {
    match answer(connector.begin(USER, None).await) {
        BeginOutcome::Redirect(url) => {
            assert!(
                url.starts_with(authorize_base),
                "{url} is not on {authorize_base}"
            );
            url
        }
        BeginOutcome::Connected(accounts) => panic!("a redirect platform connected: {accounts:?}"),
    }
}

/// The query string the connector's callback route would receive for `callback`, the URL
/// the double sent the browser to (a browser sends no fragment).
fn callback_query(platform: &str, callback: &str) -> String {
    let prefix = format!("{}?", callback_url(platform));
    let query = callback
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{callback} is not the {platform} callback"));
    query.split('#').next().unwrap_or_default().to_owned()
}

/// Completes a redirect flow and checks whom it connected; returns the query for replays.
async fn complete_as_user(
    connector: &LoadedConnector,
    platform: &str,
    callback: &str,
    expected: &[(&str, &str)],
) -> (String, Vec<Account>) {
    let query = callback_query(platform, callback);
    let completion = answer(connector.complete(&query).await);
    assert_eq!(completion.user, USER);
    assert_eq!(ids(&completion.accounts), sorted(expected));
    (query, completion.accounts)
}

/// A callback used a second time is refused as `state-invalid` and changes nothing.
async fn check_replay_refused(connector: &LoadedConnector, query: &str, accounts: usize) {
    let error = refusal(connector.complete(query).await);
    assert_eq!(error.reason, CallbackReason::StateInvalid, "{error:?}");
    assert_eq!(answer(connector.status(USER).await).len(), accounts);
}

/// status, refresh, disconnect, then status and refresh of the disconnected user.
async fn status_refresh_disconnect(
    connector: &LoadedConnector,
    expected: &[(&str, &str)],
    revoked: Option<bool>,
) {
    let expected = sorted(expected);
    let accounts = answer(connector.status(USER).await);
    assert_eq!(ids(&accounts), expected);
    assert!(
        accounts.iter().all(|a| a.status == AccountStatus::Active),
        "{accounts:?}"
    );
    assert!(answer(connector.status("someone-else").await).is_empty());

    let refreshed = answer(connector.refresh(USER).await);
    assert_eq!(ids(&refreshed), expected);
    assert!(
        refreshed.iter().all(|a| a.status == AccountStatus::Active),
        "{refreshed:?}"
    );

    let outcome = answer(connector.disconnect(USER).await);
    assert_eq!(outcome.removed as usize, expected.len(), "{outcome:?}");
    if let Some(revoked) = revoked {
        assert_eq!(outcome.revoked, revoked, "{outcome:?}");
    }
    assert!(answer(connector.status(USER).await).is_empty());
    let error = refusal(connector.refresh(USER).await);
    assert_eq!(error.kind, ErrorKind::NotConnected, "{error:?}");
}

#[tokio::test]
async fn bluesky_connects_with_credentials_through_typed_calls() {
    let double = AtprotoDouble::start().await.expect("the double starts");
    let alice = double.add_account(
        BlueskyAccount::new("alice.test", ALICE_MAIN)
            .app_password(ALICE_APP)
            .display_name("Alice"),
    );
    let vars = [
        ("bluesky_service_url", double.entryway_url()),
        ("bluesky_plc_url", double.plc_url()),
        ("bluesky_pds_hosts", "http://127.0.0.1:*"),
    ];
    let Some(embedded) = load("bluesky", &vars) else {
        return;
    };
    let bluesky = &embedded.connector;
    check_describe(bluesky, "bluesky", AuthKind::Credentials, &["bluesky"]).await;

    let wrong = Credentials::new("alice.test", "wron-gpas-swor-dxxx");
    let error = refusal(bluesky.begin(USER, Some(&wrong)).await);
    assert_eq!(error.kind, ErrorKind::InvalidCredentials, "{error:?}");
    let error = refusal(bluesky.begin(USER, None).await);
    assert_eq!(error.kind, ErrorKind::ValidationFailed, "{error:?}");
    let error = refusal(bluesky.begin("not a user id", Some(&wrong)).await);
    assert_eq!(error.kind, ErrorKind::ValidationFailed, "{error:?}");
    assert!(answer(bluesky.status(USER).await).is_empty());

    let credentials = Credentials::new(" @Alice.test ", ALICE_APP);
    let accounts = match answer(bluesky.begin(USER, Some(&credentials)).await) {
        BeginOutcome::Connected(accounts) => accounts,
        BeginOutcome::Redirect(url) => panic!("Bluesky answered a redirect: {url}"),
    };
    let expected = [("bluesky", alice.did_str())];
    assert_eq!(ids(&accounts), sorted(&expected));
    assert_eq!(accounts[0].handle, "alice.test");
    assert_eq!(accounts[0].display_name.as_deref(), Some("Alice"));
    let shown = format!("{accounts:?}");
    for secret in double
        .issued_tokens()
        .iter()
        .map(String::as_str)
        .chain([ALICE_APP])
    {
        assert!(
            !shown.contains(secret),
            "an account shows a secret: {shown}"
        );
    }

    status_refresh_disconnect(bluesky, &expected, Some(true)).await;
    assert_eq!(double.requests_to(AtEndpoint::RefreshSession).len(), 1);
    assert_eq!(double.requests_to(AtEndpoint::DeleteSession).len(), 1);
}

#[tokio::test]
async fn tumblr_connects_through_oauth1_with_typed_calls() {
    let tumblr = TumblrDouble::start().await.expect("the double starts");
    tumblr.add_user(fixtures::several_blogs());
    let (www, api) = (tumblr.www_url(), tumblr.api_url());
    let vars = [
        ("tumblr_www_url", www.as_str()),
        ("tumblr_api_url", api.as_str()),
        ("tumblr_consumer_key", tumblr.consumer_key()),
        ("tumblr_consumer_secret", tumblr.consumer_secret()),
    ];
    let Some(embedded) = load("tumblr", &vars) else {
        return;
    };
    let connector = &embedded.connector;
    check_describe(connector, "tumblr", AuthKind::Oauth1, &["tumblr"]).await;

    // The person refuses: nothing is stored.
    let url = begin_redirect(connector, &format!("{www}/oauth/authorize?")).await;
    let callback = tumblr
        .authorize(&url, TumblrDecision::Deny)
        .expect("the page redirects");
    let error = refusal(
        connector
            .complete(&callback_query("tumblr", &callback))
            .await,
    );
    assert_eq!(error.reason, CallbackReason::AuthDenied, "{error:?}");
    assert!(answer(connector.status(USER).await).is_empty());

    let url = begin_redirect(connector, &format!("{www}/oauth/authorize?")).await;
    let callback = tumblr
        .authorize(&url, TumblrDecision::approve(fixtures::DAVID))
        .expect("the page redirects");
    let expected = [("tumblr", fixtures::DAVID_PRIMARY_UUID)];
    let (query, accounts) = complete_as_user(connector, "tumblr", &callback, &expected).await;
    assert_eq!(accounts[0].handle, fixtures::DAVID_PRIMARY_HOSTNAME);
    check_replay_refused(connector, &query, 1).await;

    // Tumblr has no revocation for OAuth 1.0a tokens.
    status_refresh_disconnect(connector, &expected, Some(false)).await;
}

#[tokio::test]
async fn facebook_connects_a_page_and_its_instagram_account_with_typed_calls() {
    let meta = MetaDouble::start().await.expect("the double starts");
    meta.register_app(RegisteredApp::new(
        "1234",
        "meta-app-secret",
        [callback_url("facebook")],
    ));
    meta.add_user(FacebookUser::new("10001", "Alice"));
    meta.add_page(
        "10001",
        FacebookPage::new("20001", "Alice's Bakery")
            .instagram(InstagramAccount::new("17841400000000001", "alicebakes")),
    )
    .expect("the page is added");
    let (graph, dialog) = (meta.graph_url(), meta.dialog_url());
    let vars = [
        ("meta_graph_url", graph.as_str()),
        ("meta_dialog_url", dialog.as_str()),
        ("meta_app_id", "1234"),
        ("meta_app_secret", "meta-app-secret"),
    ];
    let Some(embedded) = load("facebook", &vars) else {
        return;
    };
    let connector = &embedded.connector;
    check_describe(
        connector,
        "facebook",
        AuthKind::Oauth2,
        &["facebook", "instagram"],
    )
    .await;

    let url = begin_redirect(connector, &dialog).await;
    let callback = meta
        .authorize(&url, MetaDecision::Deny)
        .expect("the dialog redirects");
    let error = refusal(
        connector
            .complete(&callback_query("facebook", &callback))
            .await,
    );
    assert_eq!(error.reason, CallbackReason::AuthDenied, "{error:?}");

    let url = begin_redirect(connector, &dialog).await;
    let callback = meta
        .authorize(&url, MetaDecision::Approve("10001".to_owned()))
        .expect("the dialog redirects");
    let expected = [("facebook", "20001"), ("instagram", "17841400000000001")];
    let (query, accounts) = complete_as_user(connector, "facebook", &callback, &expected).await;
    let handle = |platform: &str| {
        accounts
            .iter()
            .find(|a| a.platform == platform)
            .map(|a| a.handle.clone())
    };
    assert_eq!(handle("facebook").as_deref(), Some("Alice's Bakery"));
    assert_eq!(handle("instagram").as_deref(), Some("alicebakes"));
    check_replay_refused(connector, &query, 2).await;

    status_refresh_disconnect(connector, &expected, Some(true)).await;
    assert_eq!(meta.requests_to("DELETE", "/me/permissions").len(), 1);
}

#[tokio::test]
async fn threads_connects_through_oauth2_with_typed_calls() {
    let threads = ThreadsDouble::start().await.expect("the double starts");
    threads.register_app(RegisteredApp::new(
        "5678",
        "threads-app-secret",
        [callback_url("threads")],
    ));
    let id = "17841400000000000123";
    threads
        .add_user(ThreadsUser::new(id, "alice"))
        .expect("the user is added");
    let (graph, authorize) = (threads.graph_url(), threads.authorize_url());
    let vars = [
        ("threads_graph_url", graph.as_str()),
        ("threads_authorize_url", authorize.as_str()),
        ("threads_app_id", "5678"),
        ("threads_app_secret", "threads-app-secret"),
    ];
    let Some(embedded) = load("threads", &vars) else {
        return;
    };
    let connector = &embedded.connector;
    check_describe(connector, "threads", AuthKind::Oauth2, &["threads"]).await;

    let url = begin_redirect(connector, &authorize).await;
    let callback = threads
        .authorize(&url, MetaDecision::Deny)
        .expect("the window redirects");
    let error = refusal(
        connector
            .complete(&callback_query("threads", &callback))
            .await,
    );
    assert_eq!(error.reason, CallbackReason::AuthDenied, "{error:?}");

    let url = begin_redirect(connector, &authorize).await;
    let callback = threads
        .authorize(&url, MetaDecision::Approve(id.to_owned()))
        .expect("the window redirects");
    let expected = [("threads", id)];
    let (query, accounts) = complete_as_user(connector, "threads", &callback, &expected).await;
    assert_eq!(accounts[0].handle, "alice");
    assert!(
        accounts[0].expires_at.is_some(),
        "long-lived tokens expire: {accounts:?}"
    );
    check_replay_refused(connector, &query, 1).await;

    status_refresh_disconnect(connector, &expected, None).await;
}

#[tokio::test]
async fn mastodon_connects_through_oauth2_with_pkce_with_typed_calls() {
    let mastodon = MastodonDouble::start().await.expect("the double starts");
    let alice = mastodon
        .add_user(NewUser::new("alice").display_name("Alice"))
        .expect("the user is added");
    let app = mastodon
        .register_app(AppSpec::new([callback_url("mastodon")], "read write push"))
        .expect("the app is registered");
    let vars = [
        ("mastodon_instance_url", mastodon.base_url()),
        ("mastodon_client_key", app.client_id.as_str()),
        ("mastodon_client_secret", app.client_secret.expose()),
        ("mastodon_scopes", "read write push"),
    ];
    let Some(embedded) = load("mastodon", &vars) else {
        return;
    };
    let connector = &embedded.connector;
    check_describe(connector, "mastodon", AuthKind::Oauth2, &["mastodon"]).await;

    let authorize = format!("{}/oauth/authorize?", mastodon.base_url());
    let url = begin_redirect(connector, &authorize).await;
    let callback = mastodon
        .authorize(&url, MastodonDecision::Deny)
        .expect("the page redirects");
    let error = refusal(
        connector
            .complete(&callback_query("mastodon", &callback))
            .await,
    );
    assert_eq!(error.reason, CallbackReason::AuthDenied, "{error:?}");

    let url = begin_redirect(connector, &authorize).await;
    let callback = mastodon
        .authorize(&url, MastodonDecision::approve("alice"))
        .expect("the page redirects");
    let expected = [("mastodon", alice.id.as_str())];
    let (query, accounts) = complete_as_user(connector, "mastodon", &callback, &expected).await;
    assert_eq!(accounts[0].handle, alice.handle);
    let exchanges = mastodon.requests_to("POST", "/oauth/token");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].pkce, Some(PkceCheck::Verified));
    check_replay_refused(connector, &query, 1).await;

    status_refresh_disconnect(connector, &expected, Some(true)).await;
    assert_eq!(mastodon.requests_to("POST", "/oauth/revoke").len(), 1);
}

/// The AT Protocol double with Alice, and the variables pointing Bluesky at it.
async fn bluesky_double() -> (AtprotoDouble, [(&'static str, String); 3]) {
    let double = AtprotoDouble::start().await.expect("the double starts");
    double.add_account(BlueskyAccount::new("alice.test", ALICE_MAIN).app_password(ALICE_APP));
    let vars = [
        ("bluesky_service_url", double.entryway_url().to_owned()),
        ("bluesky_plc_url", double.plc_url().to_owned()),
        ("bluesky_pds_hosts", "http://127.0.0.1:*".to_owned()),
    ];
    (double, vars)
}

fn borrowed<'a>(vars: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    vars.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

#[tokio::test]
async fn an_embedded_connector_reaches_only_its_allowed_outbound_hosts() {
    let (double, vars) = bluesky_double().await;
    let only_elsewhere = |settings: &mut ComponentSettings| {
        settings.allowed_outbound_hosts =
            AllowList::parse(["https://bsky.social"]).expect("a valid entry");
    };
    let Some(embedded) = load_with(
        "bluesky",
        &borrowed(&vars),
        Duration::from_secs(30),
        only_elsewhere,
    ) else {
        return;
    };

    let credentials = Credentials::new("alice.test", ALICE_APP);
    let error = refusal(embedded.connector.begin(USER, Some(&credentials)).await);
    assert_eq!(error.kind, ErrorKind::UpstreamUnavailable, "{error:?}");
    assert!(
        double.requests().is_empty(),
        "a denied request reached the double"
    );
    assert!(answer(embedded.connector.status(USER).await).is_empty());
}

#[tokio::test]
async fn a_call_past_its_deadline_fails_alone_and_the_next_call_works() {
    let (double, vars) = bluesky_double().await;
    let Some(embedded) = load_with("bluesky", &borrowed(&vars), Duration::from_secs(2), |_| {})
    else {
        return;
    };
    let credentials = Credentials::new("alice.test", ALICE_APP);

    // Far longer than the deadline: the call cannot finish in time however slow the machine.
    let stalled = FaultRule::new(
        AtEndpoint::CreateSession,
        Fault::Delay(Duration::from_secs(60)),
    );
    double.inject(stalled.times(1));
    match embedded.connector.begin(USER, Some(&credentials)).await {
        Err(EmbedError::Timeout { operation, .. }) => assert_eq!(operation, "begin"),
        other => panic!("expected a timeout, got {other:?}"),
    }

    match answer(embedded.connector.begin(USER, Some(&credentials)).await) {
        BeginOutcome::Connected(accounts) => assert_eq!(accounts.len(), 1),
        BeginOutcome::Redirect(url) => panic!("Bluesky answered a redirect: {url}"),
    }
    assert_eq!(answer(embedded.connector.status(USER).await).len(), 1);
}
