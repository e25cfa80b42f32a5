//! The Threads double over HTTP: authorization window, code exchange with a big `user_id`,
//! long-lived exchange, refresh rules, profile, dead tokens and faults.

mod common;

use std::time::Duration;

use common::{Answer, get, get_with, post_form, query, query_param};
use hayon_double_meta::{
    Approval, Clock, Decision, DialogError, Fault, MetaDouble, RegisteredApp, ThreadsDouble,
    ThreadsUser, TokenKind,
};

const APP_ID: &str = "9876543210";
const FACEBOOK_APP_ID: &str = "1234567890";
const SECRET: &str = "threads-app-secret";
const REDIRECT: &str = "https://hayon.test/api/platform/threads/callback";
const SCOPES: &str = "threads_basic,threads_content_publish,threads_manage_insights";
const BIG_ID: &str = "17841400000000000123";
const PLAIN_ID: &str = "17841400000000000999";

async fn double() -> ThreadsDouble {
    let threads = ThreadsDouble::start().await.expect("the double starts");
    threads.register_app(RegisteredApp::new(APP_ID, SECRET, [REDIRECT]));
    threads
        .add_user(ThreadsUser::new(BIG_ID, "alice"))
        .expect("valid user");
    let plain = ThreadsUser::new(PLAIN_ID, "bob")
        .without_name()
        .without_picture();
    threads.add_user(plain).expect("valid user");
    threads
}

fn auth_url(threads: &ThreadsDouble, client_id: &str, redirect: &str) -> String {
    format!(
        "{}/oauth/authorize?{}",
        threads.authorize_url(),
        query(&[
            ("client_id", client_id),
            ("redirect_uri", redirect),
            ("scope", SCOPES),
            ("response_type", "code"),
            ("state", "s1"),
        ])
    )
}

fn code_for(threads: &ThreadsDouble, user: &str) -> String {
    let callback = threads
        .authorize(
            &auth_url(threads, APP_ID, REDIRECT),
            Decision::Approve(user.to_owned()),
        )
        .expect("the window redirects");
    assert!(callback.ends_with("#_"), "{callback}");
    query_param(&callback, "code").expect("a code")
}

async fn exchange(threads: &ThreadsDouble, code: &str, redirect: &str) -> Answer {
    post_form(
        &format!("{}/oauth/access_token", threads.graph_url()),
        &[
            ("client_id", APP_ID),
            ("client_secret", SECRET),
            ("code", code),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect),
        ],
    )
    .await
}

async fn long_lived_answer(threads: &ThreadsDouble, short: &str) -> Answer {
    get(&format!(
        "{}/access_token?{}",
        threads.graph_url(),
        query(&[
            ("grant_type", "th_exchange_token"),
            ("client_secret", SECRET),
            ("access_token", short),
        ])
    ))
    .await
}

async fn long_lived(threads: &ThreadsDouble, user: &str) -> String {
    let code = code_for(threads, user);
    let short = exchange(threads, &code, REDIRECT).await.json()["access_token"]
        .as_str()
        .expect("a short-lived token")
        .to_owned();
    let answer = long_lived_answer(threads, &short).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn refresh(threads: &ThreadsDouble, token: &str) -> Answer {
    get(&format!(
        "{}/refresh_access_token?{}",
        threads.graph_url(),
        query(&[("grant_type", "th_refresh_token"), ("access_token", token)])
    ))
    .await
}

async fn me(threads: &ThreadsDouble, token: &str) -> Answer {
    let fields = "id,username,name,threads_profile_picture_url,threads_biography";
    get(&format!(
        "{}/v1.0/me?{}",
        threads.graph_url(),
        query(&[("fields", fields), ("access_token", token)])
    ))
    .await
}

fn assert_graph_error(answer: &Answer, status: u16, code: i64, subcode: Option<i64>) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = &answer.json()["error"];
    let kind = error["type"].as_str().unwrap_or_default();
    assert!(
        kind == "OAuthException" || kind == "GraphMethodException",
        "{}",
        answer.body
    );
    assert_eq!(error["code"], code, "{}", answer.body);
    assert_eq!(
        error.get("error_subcode").and_then(|s| s.as_i64()),
        subcode,
        "{}",
        answer.body
    );
    assert!(error["fbtrace_id"].is_string());
}

#[tokio::test]
async fn window_wants_the_threads_app_id_and_exact_redirect() {
    let threads = double().await;
    let alice = [("x-double-user", BIG_ID)];
    let facebook_id = get_with(&auth_url(&threads, FACEBOOK_APP_ID, REDIRECT), &alice).await;
    assert_eq!(facebook_id.status, 400);
    let body = facebook_id.json();
    assert_eq!(body["error_code"], 1_349_026);
    assert!(body["error_message"].is_string());
    assert!(body.get("error").is_none(), "flat shape");

    let slash = get_with(&auth_url(&threads, APP_ID, &format!("{REDIRECT}/")), &alice).await;
    assert_eq!(slash.status, 400);
    assert_eq!(slash.json()["error_type"], "OAuthException");

    let ok = get_with(&auth_url(&threads, APP_ID, REDIRECT), &alice).await;
    assert_eq!(ok.status, 302);
    assert!(ok.location().starts_with(&format!("{REDIRECT}?code=")));
    assert!(ok.location().ends_with("&state=s1#_"), "{}", ok.location());

    let denied = get_with(
        &auth_url(&threads, APP_ID, REDIRECT),
        &[("x-double-decision", "deny")],
    )
    .await;
    assert!(
        denied.location().contains("error=access_denied"),
        "{}",
        denied.location()
    );
    assert!(denied.location().ends_with("#_"));

    let no_scope = auth_url(&threads, APP_ID, REDIRECT).replace("scope=", "nothing=");
    assert_eq!(
        threads.authorize(&no_scope, Decision::Approve(BIG_ID.to_owned())),
        Err(DialogError::MissingScope)
    );
    let pages = Decision::ApproveWith(Approval::new(BIG_ID).pages(["1"]));
    assert_eq!(
        threads.authorize(&auth_url(&threads, APP_ID, REDIRECT), pages),
        Err(DialogError::PagesNotApplicable)
    );
}

#[tokio::test]
async fn code_exchange_is_single_use_and_sends_the_big_user_id_as_a_number() {
    let threads = double().await;
    let code = code_for(&threads, BIG_ID);

    let mismatch = exchange(&threads, &code, &format!("{REDIRECT}/")).await;
    assert_eq!(mismatch.status, 400);
    assert_eq!(mismatch.json()["error_type"], "OAuthException");

    let first = exchange(&threads, &code, REDIRECT).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body.contains(&format!("\"user_id\":{BIG_ID}}}")),
        "{}",
        first.body
    );
    let second = exchange(&threads, &code, REDIRECT).await;
    assert_eq!(second.status, 400);
    assert_eq!(
        second.json(),
        serde_json::json!({
            "error_type": "OAuthException",
            "code": 400,
            "error_message": "Matching code was not found or was already used"
        })
    );

    let late = code_for(&threads, BIG_ID);
    threads.advance(Duration::from_secs(3_600));
    assert_eq!(
        exchange(&threads, &late, REDIRECT).await.status,
        400,
        "codes last an hour"
    );

    let get_instead = get(&format!(
        "{}/oauth/access_token?{}",
        threads.graph_url(),
        query(&[("client_id", APP_ID), ("grant_type", "authorization_code")])
    ))
    .await;
    assert_eq!(get_instead.status, 400, "the code exchange is a POST");
}

#[tokio::test]
async fn long_lived_exchange_and_profile() {
    let threads = double().await;
    let code = code_for(&threads, BIG_ID);
    let short = exchange(&threads, &code, REDIRECT).await.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let answer = long_lived_answer(&threads, &short).await.json();
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["expires_in"], 5_183_944);
    let token = answer["access_token"].as_str().expect("a token");

    let profile = me(&threads, token).await.json();
    assert_eq!(profile["id"], BIG_ID, "the id is a string");
    assert_eq!(profile["username"], "alice");
    assert!(profile["threads_profile_picture_url"].is_string());
    assert!(profile.get("threads_biography").is_none());

    let bob = long_lived(&threads, PLAIN_ID).await;
    let bare = me(&threads, &bob).await.json();
    assert!(bare.get("name").is_none() && bare.get("threads_profile_picture_url").is_none());

    threads.fail_next("/access_token", Fault::temporarily_unavailable());
    let failed = long_lived_answer(&threads, &short).await;
    assert_graph_error(&failed, 500, 2, None);

    let wrong_secret = get(&format!(
        "{}/access_token?{}",
        threads.graph_url(),
        query(&[
            ("grant_type", "th_exchange_token"),
            ("client_secret", "not-the-secret"),
            ("access_token", &short),
        ])
    ))
    .await;
    assert_graph_error(&wrong_secret, 400, 1, None);
    let logged = threads.requests_to("GET", "/access_token");
    assert_eq!(logged[0].token_kind(), Some(TokenKind::UserShortLived));
}

#[tokio::test]
async fn refresh_needs_a_day_old_unexpired_long_lived_token() {
    let clock = Clock::starting_at(1_800_000_000);
    let threads = ThreadsDouble::start_with_clock(clock.clone())
        .await
        .expect("starts");
    threads.register_app(RegisteredApp::new(APP_ID, SECRET, [REDIRECT]));
    threads
        .add_user(ThreadsUser::new(BIG_ID, "alice"))
        .expect("valid user");
    let token = long_lived(&threads, BIG_ID).await;

    let young = refresh(&threads, &token).await;
    assert_graph_error(&young, 400, 100, None);

    clock.advance(Duration::from_secs(86_400));
    let refreshed = refresh(&threads, &token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let body = refreshed.json();
    assert_eq!(body["expires_in"], 5_183_944);
    let new_token = body["access_token"].as_str().expect("a token").to_owned();
    assert_ne!(new_token, token);
    let issued = threads.tokens().into_iter().last().expect("issued");
    assert_eq!(issued.expires_at, Some(1_800_086_400 + 5_183_944));

    let again = refresh(&threads, &new_token).await;
    assert_graph_error(&again, 400, 100, None);

    clock.advance(Duration::from_secs(5_183_944));
    let expired = refresh(&threads, &new_token).await;
    assert_graph_error(&expired, 400, 190, Some(463));
}

#[tokio::test]
async fn dead_tokens_answer_190_or_100() {
    let threads = double().await;
    let token = long_lived(&threads, BIG_ID).await;
    assert!(threads.revoke_token(&token, 460));
    assert_graph_error(&me(&threads, &token).await, 400, 190, Some(460));

    let other = long_lived(&threads, BIG_ID).await;
    assert!(threads.make_token_missing(&other));
    let missing = me(&threads, &other).await;
    assert_graph_error(&missing, 400, 100, None);
    assert_eq!(
        missing.json()["error"]["message"],
        "The requested resource does not exist"
    );

    assert_graph_error(&me(&threads, "THAAnot-issued").await, 400, 190, None);
    let short_only = threads
        .issue_token(APP_ID, BIG_ID, false, &["threads_content_publish"])
        .expect("issued");
    assert_graph_error(&me(&threads, &short_only).await, 400, 10, None);
}

#[tokio::test]
async fn throttling_and_html_failures_are_injectable() {
    let threads = double().await;
    let token = long_lived(&threads, BIG_ID).await;
    threads.fail_next("/me", Fault::too_many_requests());
    assert_graph_error(&me(&threads, &token).await, 429, 4, None);
    threads.fail_next("GET /refresh_access_token", Fault::html(502));
    let html = refresh(&threads, &token).await;
    assert_eq!(html.status, 502);
    assert!(
        html.header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    threads.fail_next(
        "/oauth/access_token",
        Fault::flat_token("Temporarily unavailable"),
    );
    let code = code_for(&threads, BIG_ID);
    assert_eq!(
        exchange(&threads, &code, REDIRECT).await.json()["code"],
        400
    );
    assert_eq!(
        exchange(&threads, &code, REDIRECT).await.status,
        200,
        "the code survived"
    );
}

#[tokio::test]
async fn meta_and_threads_share_a_clock_and_keep_hosts_apart() {
    let meta = MetaDouble::start().await.expect("meta starts");
    let threads = ThreadsDouble::start_with_clock(meta.clock())
        .await
        .expect("threads starts");
    let before = threads.clock().now();
    meta.advance(Duration::from_secs(60));
    assert_eq!(threads.clock().now(), before + 60);
    assert_ne!(threads.graph_url(), threads.authorize_url());
    let window_on_graph = get(&auth_url(&threads, APP_ID, REDIRECT)
        .replace(&threads.authorize_url(), &threads.graph_url()))
    .await;
    assert_graph_error(&window_on_graph, 400, 100, Some(33));
    let variables = threads.variables();
    assert_eq!(
        variables.get("threads_graph_url"),
        Some(&threads.graph_url())
    );
}
