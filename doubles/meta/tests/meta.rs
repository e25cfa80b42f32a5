//! The Meta double over HTTP: dialog, code exchange, long-lived tokens, Pages, Instagram,
//! revocation, debug_token, faults and the request log.

mod common;

use std::time::Duration;

use common::{Answer, delete, get, get_with, query, query_param};
use hayon_double_meta::{
    Approval, Decision, DialogError, FacebookPage, FacebookUser, Fault, InstagramAccount, Listener,
    MetaDouble, REDACTED, RegisteredApp, TokenKind, appsecret_proof,
};

const APP_ID: &str = "1234567890";
const SECRET: &str = "meta-app-secret";
const REDIRECT: &str = "https://hayon.test/api/platform/facebook/callback";
const SCOPES: &str = "pages_show_list,pages_read_engagement,pages_manage_posts,\
                      business_management,instagram_basic,instagram_content_publish";
const ALICE: &str = "10001";
const BOB: &str = "10002";

async fn double() -> MetaDouble {
    let meta = MetaDouble::start().await.expect("the double starts");
    meta.register_app(RegisteredApp::new(APP_ID, SECRET, [REDIRECT]));
    meta.add_user(FacebookUser::new(ALICE, "Alice"));
    meta.add_user(FacebookUser::new(BOB, "Bob").picture(None));
    let pages = [
        FacebookPage::new("20001", "Bakery")
            .instagram(InstagramAccount::new("17841400000000001", "alicebakes")),
        FacebookPage::new("20002", "Moderated").tasks(["ANALYZE", "MODERATE"]),
        FacebookPage::new("20003", "Studio")
            .instagram(InstagramAccount::new("17841400000000003", "alicestudio").without_picture()),
    ];
    for page in pages {
        meta.add_page(ALICE, page).expect("Alice exists");
    }
    meta
}

fn auth_url(meta: &MetaDouble, redirect: &str) -> String {
    format!(
        "{}/v26.0/dialog/oauth?{}",
        meta.dialog_url(),
        query(&[
            ("client_id", APP_ID),
            ("redirect_uri", redirect),
            ("state", "st/ate+1"),
            ("response_type", "code"),
            ("scope", SCOPES),
        ])
    )
}

fn code_for(meta: &MetaDouble, decision: Decision) -> String {
    let callback = meta
        .authorize(&auth_url(meta, REDIRECT), decision)
        .expect("the dialog redirects");
    query_param(&callback, "code").expect("a code")
}

async fn exchange(meta: &MetaDouble, code: &str, redirect: &str, secret: &str) -> Answer {
    get(&format!(
        "{}/v26.0/oauth/access_token?{}",
        meta.graph_url(),
        query(&[
            ("client_id", APP_ID),
            ("redirect_uri", redirect),
            ("client_secret", secret),
            ("code", code),
        ])
    ))
    .await
}

async fn short_lived(meta: &MetaDouble, user: &str) -> String {
    let code = code_for(meta, Decision::Approve(user.to_owned()));
    let answer = exchange(meta, &code, REDIRECT, SECRET).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn long_lived_answer(meta: &MetaDouble, token: &str) -> Answer {
    get(&format!(
        "{}/v26.0/oauth/access_token?{}",
        meta.graph_url(),
        query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", APP_ID),
            ("client_secret", SECRET),
            ("fb_exchange_token", token),
        ])
    ))
    .await
}

async fn long_lived(meta: &MetaDouble, user: &str) -> String {
    let short = short_lived(meta, user).await;
    let answer = long_lived_answer(meta, &short).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn graph(meta: &MetaDouble, path: &str, token: &str, params: &[(&str, &str)]) -> Answer {
    let mut pairs = vec![("access_token", token)];
    pairs.extend_from_slice(params);
    get(&format!(
        "{}/v26.0{path}?{}",
        meta.graph_url(),
        query(&pairs)
    ))
    .await
}

fn assert_graph_error(answer: &Answer, status: u16, code: i64, subcode: Option<i64>) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let error = &answer.json()["error"];
    assert_eq!(
        error["type"].as_str().map(|t| t.ends_with("Exception")),
        Some(true)
    );
    assert_eq!(error["code"], code, "{}", answer.body);
    assert_eq!(
        error.get("error_subcode").and_then(|s| s.as_i64()),
        subcode,
        "{}",
        answer.body
    );
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["fbtrace_id"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn dialog_over_http_redirects_with_code_state_and_fragment() {
    let meta = double().await;
    let answer = get_with(&auth_url(&meta, REDIRECT), &[("x-double-user", ALICE)]).await;
    assert_eq!(answer.status, 302);
    let location = answer.location();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    assert!(location.ends_with("&state=st%2Fate%2B1#_=_"), "{location}");
    assert_eq!(query_param(location, "state").as_deref(), Some("st/ate+1"));

    let nobody = get(&auth_url(&meta, REDIRECT)).await;
    assert_eq!(nobody.status, 200, "no decision shows the login page");
    assert!(nobody.body.contains("Log in to Facebook"));

    meta.log_in(BOB);
    let remembered = get(&auth_url(&meta, REDIRECT)).await;
    assert_eq!(remembered.status, 302);
}

#[tokio::test]
async fn denial_redirects_with_metas_error_parameters() {
    let meta = double().await;
    let answer = get_with(&auth_url(&meta, REDIRECT), &[("x-double-decision", "deny")]).await;
    assert_eq!(answer.status, 302);
    assert_eq!(
        answer.location(),
        format!(
            "{REDIRECT}?error=access_denied&error_code=200&error_description=Permissions+error\
             &error_reason=user_denied&state=st%2Fate%2B1#_=_"
        )
    );
    meta.queue_decision(Decision::Deny);
    let queued = get(&auth_url(&meta, REDIRECT)).await;
    assert!(queued.location().contains("error=access_denied"));
}

#[tokio::test]
async fn dialog_checks_app_redirect_scopes_and_endpoint() {
    let meta = double().await;
    let alice = || Decision::Approve(ALICE.to_owned());
    let with_slash = auth_url(&meta, &format!("{REDIRECT}/"));
    assert!(matches!(
        meta.authorize(&with_slash, alice()),
        Err(DialogError::RedirectUriNotRegistered(_))
    ));
    let http = auth_url(&meta, &REDIRECT.replace("https", "http"));
    assert!(matches!(
        meta.authorize(&http, alice()),
        Err(DialogError::RedirectUriNotRegistered(_))
    ));
    let other_app = auth_url(&meta, REDIRECT).replace(APP_ID, "999");
    assert_eq!(
        meta.authorize(&other_app, alice()),
        Err(DialogError::UnknownApp("999".to_owned()))
    );
    let bad_scope = auth_url(&meta, REDIRECT).replace("business_management", "publish_actions");
    assert_eq!(
        meta.authorize(&bad_scope, alice()),
        Err(DialogError::InvalidScopes(vec![
            "publish_actions".to_owned()
        ]))
    );
    let on_graph_host = auth_url(&meta, REDIRECT).replace(&meta.dialog_url(), &meta.graph_url());
    assert!(matches!(
        meta.authorize(&on_graph_host, alice()),
        Err(DialogError::WrongEndpoint(_))
    ));
    let http_error = get_with(&with_slash, &[("x-double-user", ALICE)]).await;
    assert_eq!(http_error.status, 400);
    assert!(http_error.body.contains("not a valid OAuth redirect URI"));

    let graph_on_dialog_host = get(&format!("{}/v26.0/me", meta.dialog_url())).await;
    assert_eq!(graph_on_dialog_host.status, 404);
    let dialog_on_graph_host =
        get(&auth_url(&meta, REDIRECT).replace(&meta.dialog_url(), &meta.graph_url())).await;
    assert_graph_error(&dialog_on_graph_host, 400, 100, Some(33));
}

#[tokio::test]
async fn codes_are_single_use_redirect_bound_and_expire() {
    let meta = double().await;
    let code = code_for(&meta, Decision::Approve(ALICE.to_owned()));

    let slash = exchange(&meta, &code, &format!("{REDIRECT}/"), SECRET).await;
    assert_graph_error(&slash, 400, 100, Some(36008));
    assert!(
        slash
            .header("www-authenticate")
            .is_some_and(|h| h.contains("invalid_code"))
    );
    let wrong_secret = exchange(&meta, &code, REDIRECT, "nope").await;
    assert_graph_error(&wrong_secret, 400, 1, None);
    assert_eq!(
        wrong_secret.json()["error"]["message"],
        "Error validating client secret."
    );

    let first = common::post_form(
        &format!("{}/v26.0/oauth/access_token", meta.graph_url()),
        &[
            ("client_id", APP_ID),
            ("redirect_uri", REDIRECT),
            ("client_secret", SECRET),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(
        first.status, 200,
        "a POSTed exchange works too: {}",
        first.body
    );
    let body = first.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 5_400);
    let second = exchange(&meta, &code, REDIRECT, SECRET).await;
    assert_graph_error(&second, 400, 100, Some(36009));
    assert_eq!(
        second.json()["error"]["message"],
        "This authorization code has been used."
    );

    let late = code_for(&meta, Decision::Approve(ALICE.to_owned()));
    meta.advance(Duration::from_secs(600));
    let expired = exchange(&meta, &late, REDIRECT, SECRET).await;
    assert_graph_error(&expired, 400, 100, Some(36007));
}

#[tokio::test]
async fn long_lived_exchange_with_and_without_expires_in() {
    let meta = double().await;
    let short = short_lived(&meta, ALICE).await;
    let answer = long_lived_answer(&meta, &short).await;
    assert_eq!(answer.json()["expires_in"], 5_183_944);

    meta.set_long_lived_expires_in(None);
    let again = long_lived_answer(&meta, &short).await;
    assert_eq!(again.status, 200);
    assert!(again.json().get("expires_in").is_none(), "{}", again.body);
    let never = meta.tokens().into_iter().last().expect("a token");
    assert_eq!(
        (never.kind, never.expires_at),
        (TokenKind::UserLongLived, None)
    );

    meta.advance(Duration::from_secs(5_400));
    let too_late = long_lived_answer(&meta, &short).await;
    assert_graph_error(&too_late, 400, 190, Some(463));
    assert!(
        too_late.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired"))
    );
}

#[tokio::test]
async fn accounts_paginate_and_page_tokens_follow_the_user_token() {
    let meta = double().await;
    meta.set_accounts_page_size(Some(2));
    let token = long_lived(&meta, ALICE).await;
    let fields = "id,name,access_token,tasks,category,picture{url},\
                  instagram_business_account{id,username,profile_picture_url}";
    let first = graph(
        &meta,
        "/me/accounts",
        &token,
        &[("fields", fields), ("limit", "100")],
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first = first.json();
    let data = first["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], "20001");
    assert_eq!(
        data[0]["instagram_business_account"]["username"],
        "alicebakes"
    );
    assert!(data[0]["picture"]["data"]["url"].is_string());
    assert!(
        data[1].get("instagram_business_account").is_none(),
        "absent, not null"
    );
    let tasks = data[1]["tasks"].as_array().expect("tasks");
    assert!(!tasks.iter().any(|t| t == "CREATE_CONTENT"));

    let next = first["paging"]["next"].as_str().expect("a next page");
    assert!(next.starts_with(&format!("{}/v26.0/{ALICE}/accounts?", meta.graph_url())));
    let second = get(next).await.json();
    let data2 = second["data"].as_array().expect("data");
    assert_eq!(data2.len(), 1);
    assert_eq!(data2[0]["id"], "20003");
    let ig = &data2[0]["instagram_business_account"];
    assert_eq!(ig["id"], "17841400000000003");
    assert!(ig.get("profile_picture_url").is_none());
    assert!(second["paging"].get("next").is_none());
    assert!(second["paging"]["previous"].is_string());

    let page_tokens: Vec<_> = meta
        .tokens()
        .into_iter()
        .filter(|t| t.kind.is_page())
        .collect();
    assert_eq!(page_tokens.len(), 3);
    assert!(
        page_tokens
            .iter()
            .all(|t| t.kind == TokenKind::PageNonExpiring)
    );

    let short = short_lived(&meta, ALICE).await;
    let listing = graph(
        &meta,
        "/me/accounts",
        &short,
        &[("fields", "id,access_token")],
    )
    .await;
    let page_token = listing.json()["data"][0]["access_token"]
        .as_str()
        .expect("a page token")
        .to_owned();
    let issued = meta
        .tokens()
        .into_iter()
        .find(|t| t.token == page_token)
        .expect("issued");
    assert_eq!(issued.kind, TokenKind::PageExpiring);
    meta.advance(Duration::from_secs(5_400));
    let dead = graph(&meta, "/20001", &page_token, &[("fields", "id,name")]).await;
    assert_graph_error(&dead, 400, 190, Some(463));
    let alive = graph(&meta, "/20001", &token, &[("fields", "id,name")]).await;
    assert_eq!(
        alive.status, 200,
        "long-lived tokens outlive the short-lived ones"
    );
}

#[tokio::test]
async fn users_without_pages_and_partial_page_selection() {
    let meta = double().await;
    let bob = long_lived(&meta, BOB).await;
    let empty = graph(&meta, "/me/accounts", &bob, &[]).await;
    assert_eq!(empty.json(), serde_json::json!({ "data": [] }));

    let code = code_for(
        &meta,
        Decision::ApproveWith(Approval::new(ALICE).pages(["20003"])),
    );
    let short = exchange(&meta, &code, REDIRECT, SECRET).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let listing = graph(&meta, "/me/accounts", &short, &[("fields", "id")])
        .await
        .json();
    assert_eq!(listing["data"], serde_json::json!([{ "id": "20003" }]));
    let hidden = graph(&meta, "/20001", &short, &[]).await;
    assert_graph_error(&hidden, 400, 100, Some(33));
}

#[tokio::test]
async fn profiles_of_users_pages_and_instagram_accounts() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;
    let me = graph(&meta, "/me", &token, &[("fields", "id,name,picture")])
        .await
        .json();
    assert_eq!(me["id"], ALICE);
    assert_eq!(me["picture"]["data"]["is_silhouette"], false);
    let bob = long_lived(&meta, BOB).await;
    let bob_me = graph(&meta, "/me", &bob, &[("fields", "id,name,picture")])
        .await
        .json();
    assert_eq!(bob_me["picture"]["data"]["is_silhouette"], true);

    let page = graph(
        &meta,
        "/20001",
        &token,
        &[("fields", "id,name,link,picture")],
    )
    .await
    .json();
    assert_eq!(page["link"], "https://www.facebook.com/20001");
    let linked = graph(
        &meta,
        "/20001",
        &token,
        &[("fields", "instagram_business_account")],
    )
    .await;
    assert_eq!(
        linked.json(),
        serde_json::json!({ "instagram_business_account": { "id": "17841400000000001" } })
    );
    let unlinked = graph(
        &meta,
        "/20002",
        &token,
        &[("fields", "instagram_business_account")],
    )
    .await;
    assert_eq!(unlinked.json(), serde_json::json!({}), "absent, not null");

    let fields = [("fields", "id,username,name,profile_picture_url")];
    let ig = graph(&meta, "/17841400000000001", &token, &fields)
        .await
        .json();
    assert_eq!(ig["username"], "alicebakes");
    assert!(ig["profile_picture_url"].is_string());
    let bare = graph(&meta, "/17841400000000003", &token, &fields)
        .await
        .json();
    assert!(bare.get("profile_picture_url").is_none());

    let typo = graph(&meta, "/me", &token, &[("fields", "id,nmae")]).await;
    assert_graph_error(&typo, 400, 100, None);
    let missing = get(&format!("{}/v26.0/me", meta.graph_url())).await;
    assert_graph_error(&missing, 400, 104, None);
    let unknown = graph(&meta, "/me", "EAAnot-a-token", &[]).await;
    assert_graph_error(&unknown, 400, 190, None);
}

#[tokio::test]
async fn removing_the_app_kills_user_and_page_tokens() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;
    let listing = graph(
        &meta,
        "/me/accounts",
        &token,
        &[("fields", "id,access_token")],
    )
    .await;
    let page_token = listing.json()["data"][0]["access_token"]
        .as_str()
        .expect("a page token")
        .to_owned();

    let url = format!(
        "{}/v26.0/me/permissions?access_token={token}",
        meta.graph_url()
    );
    let revoked = delete(&url).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.json(), serde_json::json!({ "success": true }));

    for dead in [&token, &page_token] {
        let answer = graph(&meta, "/me", dead, &[]).await;
        assert_graph_error(&answer, 400, 190, Some(458));
    }
    assert!(meta.tokens_of(ALICE).iter().all(|t| !t.valid));
    assert_eq!(meta.granted_scopes(APP_ID, ALICE), None);

    let app_token = format!("{APP_ID}|{SECRET}");
    let debug = graph(
        &meta,
        "/debug_token",
        &app_token,
        &[("input_token", &page_token)],
    )
    .await;
    assert_eq!(debug.status, 200);
    let data = &debug.json()["data"];
    assert_eq!(data["is_valid"], false);
    assert_eq!(data["error"]["subcode"], 458);
    assert_eq!(data["type"], "PAGE");
}

#[tokio::test]
async fn debug_token_describes_valid_tokens() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;
    let app_token = format!("{APP_ID}|{SECRET}");
    let debug = graph(
        &meta,
        "/debug_token",
        &app_token,
        &[("input_token", &token)],
    )
    .await;
    let data = &debug.json()["data"];
    assert_eq!(data["is_valid"], true);
    assert_eq!(data["app_id"], APP_ID);
    assert_eq!(data["type"], "USER");
    assert_eq!(data["user_id"], ALICE);
    assert!(
        data["scopes"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s == "pages_show_list"))
    );
    let granular = data["granular_scopes"].as_array().expect("granular scopes");
    let pages = granular
        .iter()
        .find(|g| g["scope"] == "pages_show_list")
        .expect("pages scope");
    assert_eq!(
        pages["target_ids"],
        serde_json::json!(["20001", "20002", "20003"])
    );

    let garbage = graph(
        &meta,
        "/debug_token",
        &app_token,
        &[("input_token", "EAAxyz")],
    )
    .await;
    assert_eq!(garbage.status, 200);
    assert_eq!(garbage.json()["data"]["is_valid"], false);
    let bad_app = graph(
        &meta,
        "/debug_token",
        &format!("{APP_ID}|wrong"),
        &[("input_token", &token)],
    )
    .await;
    assert_graph_error(&bad_app, 400, 190, None);
}

#[tokio::test]
async fn appsecret_proof_is_checked_when_sent() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;
    let proof = appsecret_proof(SECRET, &token);
    let good = graph(&meta, "/me", &token, &[("appsecret_proof", &proof)]).await;
    assert_eq!(good.status, 200);
    let bad = graph(&meta, "/me", &token, &[("appsecret_proof", "00ff")]).await;
    assert_graph_error(&bad, 400, 100, None);
}

#[tokio::test]
async fn injected_faults_have_metas_shapes() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;

    meta.fail_next("/me", Fault::app_rate_limit());
    let throttled = graph(&meta, "/me", &token, &[]).await;
    assert_graph_error(&throttled, 403, 4, None);
    assert_eq!(throttled.json()["error"]["is_transient"], true);
    assert_eq!(
        graph(&meta, "/me", &token, &[]).await.status,
        200,
        "armed once"
    );

    meta.fail_next(
        "/me/accounts",
        Fault::business_use_case_limit(80002, "20001", 5),
    );
    let buc = graph(&meta, "/me/accounts", &token, &[]).await;
    assert_graph_error(&buc, 400, 80002, None);
    let usage: serde_json::Value = serde_json::from_str(
        buc.header("x-business-use-case-usage")
            .expect("usage header"),
    )
    .expect("usage JSON");
    assert_eq!(usage["20001"][0]["estimated_time_to_regain_access"], 5);

    for (fault, code) in [
        (Fault::user_rate_limit(), 17),
        (Fault::page_rate_limit(), 32),
        (Fault::custom_rate_limit(), 613),
    ] {
        meta.fail_next("*", fault);
        assert_graph_error(&graph(&meta, "/me", &token, &[]).await, 400, code, None);
    }
    for subcode in [458, 459, 460, 463, 464, 467, 492, 0] {
        meta.fail_next("/me", Fault::token_dead(subcode));
        assert_graph_error(
            &graph(&meta, "/me", &token, &[]).await,
            400,
            190,
            Some(subcode),
        );
    }

    meta.fail_times("GET /me", Fault::html(500), 2);
    for _ in 0..2 {
        let html = graph(&meta, "/me", &token, &[]).await;
        assert_eq!(html.status, 500);
        assert!(
            html.header("content-type")
                .is_some_and(|c| c.starts_with("text/html"))
        );
    }
    meta.fail_next("/me", Fault::slow(Duration::from_millis(20)));
    assert_eq!(
        graph(&meta, "/me", &token, &[]).await.status,
        200,
        "slow, then normal"
    );
}

#[tokio::test]
async fn the_log_masks_secrets_and_tells_token_kinds() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;
    graph(&meta, "/me/accounts", &token, &[("fields", "id")]).await;

    let dialog = meta.requests_to("GET", "/dialog/oauth");
    assert_eq!(dialog.len(), 1);
    assert_eq!(dialog[0].listener, Listener::Dialog);
    assert_eq!(dialog[0].version.as_deref(), Some("v26.0"));
    assert_eq!(dialog[0].param("scope"), Some(SCOPES));

    let exchanges = meta.requests_to("GET", "/oauth/access_token");
    assert_eq!(exchanges[0].param("client_secret"), Some(REDACTED));
    assert_eq!(exchanges[0].param("code"), Some(REDACTED));
    assert_eq!(exchanges[1].token_kind(), Some(TokenKind::UserShortLived));

    let accounts = meta.requests_to("GET", "/me/accounts");
    assert_eq!(accounts[0].token_kind(), Some(TokenKind::UserLongLived));
    assert_eq!(accounts[0].param("access_token"), Some(REDACTED));
    let logged = format!("{:?}", meta.requests());
    assert!(!logged.contains(&token) && !logged.contains(SECRET));
}

#[tokio::test]
async fn revoking_a_user_token_takes_its_page_tokens_along() {
    let meta = double().await;
    let token = long_lived(&meta, ALICE).await;
    let listing = graph(
        &meta,
        "/me/accounts",
        &token,
        &[("fields", "id,access_token")],
    )
    .await;
    let page_token = listing.json()["data"][2]["access_token"]
        .as_str()
        .expect("a page token")
        .to_owned();
    let other = meta
        .issue_user_token(APP_ID, ALICE, true, &["pages_show_list"])
        .expect("issued");

    assert!(meta.revoke_token(&token, 460));
    assert_graph_error(
        &graph(&meta, "/me", &page_token, &[]).await,
        400,
        190,
        Some(460),
    );
    assert_eq!(
        graph(&meta, "/me", &other, &[]).await.status,
        200,
        "other tokens live"
    );

    meta.revoke_user(ALICE, 467);
    assert_graph_error(&graph(&meta, "/me", &other, &[]).await, 400, 190, Some(467));
    assert!(!meta.revoke_token("EAAnever-issued", 460));
}

#[tokio::test]
async fn one_permission_can_be_revoked_and_declined_ones_show() {
    let meta = double().await;
    let approval = Approval::new(ALICE).decline(["instagram_content_publish"]);
    let code = code_for(&meta, Decision::ApproveWith(approval));
    let token = exchange(&meta, &code, REDIRECT, SECRET).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let url = format!(
        "{}/v26.0/me/permissions/pages_manage_posts?access_token={token}",
        meta.graph_url()
    );
    assert_eq!(
        delete(&url).await.json(),
        serde_json::json!({ "success": true })
    );
    let listed = graph(&meta, "/me/permissions", &token, &[]).await.json();
    let status_of = |name: &str| {
        listed["data"]
            .as_array()
            .and_then(|d| d.iter().find(|p| p["permission"] == name))
            .map(|p| p["status"].clone())
    };
    assert_eq!(status_of("pages_show_list"), Some("granted".into()));
    assert_eq!(status_of("pages_manage_posts"), Some("declined".into()));
    assert_eq!(
        status_of("instagram_content_publish"),
        Some("declined".into())
    );
    assert_eq!(
        graph(&meta, "/me", &token, &[]).await.status,
        200,
        "the token survives"
    );
}

#[tokio::test]
async fn dialog_control_parameters_pick_user_and_pages() {
    let meta = double().await;
    let url = format!(
        "{}&_double_user={ALICE}&_double_pages=20002",
        auth_url(&meta, REDIRECT)
    );
    let answer = get(&url).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    let code = query_param(answer.location(), "code").expect("a code");
    let token = exchange(&meta, &code, REDIRECT, SECRET).await.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let listing = graph(&meta, "/me/accounts", &token, &[("fields", "id")])
        .await
        .json();
    assert_eq!(listing["data"], serde_json::json!([{ "id": "20002" }]));
    let logged = meta.requests_to("GET", "/dialog/oauth");
    assert!(
        logged[0]
            .params
            .iter()
            .all(|(k, _)| !k.starts_with("_double"))
    );

    let strangers_page = Decision::ApproveWith(Approval::new(BOB).pages(["20001"]));
    assert_eq!(
        meta.authorize(&auth_url(&meta, REDIRECT), strangers_page),
        Err(DialogError::UnknownPage("20001".to_owned()))
    );
}

#[tokio::test]
async fn signed_requests_verify_with_the_app_secret() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};

    let meta = double().await;
    let signed = meta.signed_request(APP_ID, ALICE).expect("a known app");
    let (signature, payload) = signed.split_once('.').expect("two parts");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(payload.as_bytes());
    let expected = mac.finalize().into_bytes();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(signature).expect("base64url"),
        expected.to_vec()
    );
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON");
    assert_eq!(payload["algorithm"], "HMAC-SHA256");
    assert_eq!(payload["user_id"], ALICE);
    assert!(meta.signed_request("nope", ALICE).is_err());
}
