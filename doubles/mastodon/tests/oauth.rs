//! The double's OAuth rules, exercised over HTTP as a connector would meet them.

mod common;

use std::time::Duration;

use common::*;
use hayon_double_mastodon::{
    AuthorizeErrors, Decision, DoubleError, MastodonOptions, MastodonVersion, PkceCheck, REDACTED,
};

const INVALID_GRANT: &str = concat!(
    "The provided authorization grant is invalid, expired, revoked, does not match the ",
    "redirection URI used in the authorization request, or was issued to another client."
);

#[tokio::test]
async fn approve_exchange_read_and_revoke() {
    let fx = Fixture::start().await;

    let callback = fx
        .double
        .authorize(
            &fx.auth_url("read write push", "state-1", true),
            Decision::approve("alice"),
        )
        .unwrap();
    assert!(
        callback.starts_with(&format!("{CALLBACK}?code=")),
        "{callback}"
    );
    assert_eq!(query_value(&callback, "state").as_deref(), Some("state-1"));
    let code = query_value(&callback, "code").unwrap();

    let answer = fx.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "created_at", "scope", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read write push");
    assert!(body["created_at"].is_u64());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let token = body["access_token"].as_str().unwrap().to_owned();

    let exchange = &fx.double.requests_to("POST", "/oauth/token")[0];
    assert_eq!(exchange.pkce, Some(PkceCheck::Verified));
    assert_eq!(exchange.param("code_verifier"), Some(REDACTED));
    assert_eq!(exchange.param("client_secret"), Some(REDACTED));

    let bearer = format!("Bearer {token}");
    let me = get(
        fx.addr(),
        "/api/v1/accounts/verify_credentials",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "alice");

    let revoke_form = [
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", fx.app.client_secret.expose()),
        ("token", token.as_str()),
    ];
    for _ in 0..2 {
        let revoked = post_form(fx.addr(), "/oauth/revoke", &[], &revoke_form).await;
        assert_eq!(
            (revoked.status, revoked.json()),
            (200, serde_json::json!({}))
        );
    }
    assert_eq!(fx.double.requests_to("POST", "/oauth/revoke").len(), 2);

    let after = get(
        fx.addr(),
        "/api/v1/accounts/verify_credentials",
        &[("Authorization", &bearer)],
    )
    .await;
    assert_eq!(after.status, 401);
    assert_eq!(after.json()["error"], "The access token was revoked");
}

#[tokio::test]
async fn a_code_works_once() {
    let fx = Fixture::start().await;
    let code = fx.code(true);
    assert_eq!(fx.exchange(&code, Some(VERIFIER)).await.status, 200);

    let again = fx.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.json(),
        serde_json::json!({"error": "invalid_grant", "error_description": INVALID_GRANT})
    );
}

#[tokio::test]
async fn a_code_expires_after_ten_minutes() {
    let fx = Fixture::start().await;
    let code = fx.code(true);
    fx.double.advance_clock(Duration::from_secs(601));
    let late = fx.exchange(&code, Some(VERIFIER)).await;
    assert_eq!(
        (late.status, late.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_token_request_must_repeat_the_redirect_uri() {
    let fx = Fixture::start().await;
    let code = fx.code(false);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", fx.app.client_secret.expose()),
        (
            "redirect_uri",
            "https://hayon.example/api/platform/mastodon/callback/",
        ),
    ];
    let answer = post_form(fx.addr(), "/oauth/token", &[], &form).await;
    assert_eq!(
        (answer.status, answer.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let missing = post_form(fx.addr(), "/oauth/token", &[], &form[..4]).await;
    assert_eq!(missing.status, 400);
    assert_eq!(
        missing.json()["error_description"],
        "Missing required parameter: redirect_uri."
    );
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_a_page_and_no_redirect() {
    let fx = Fixture::start().await;
    let target = authorize_target(
        &fx.app.client_id,
        &format!("{CALLBACK}/"),
        "read",
        "s",
        true,
    );
    let page = get(fx.addr(), &target, &[("x-double-user", "alice")]).await;
    assert_eq!(page.status, 400);
    assert!(page.header("location").is_none());
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.body
            .contains("The redirect uri included is not valid.")
    );

    let url = format!("{}{target}", fx.double.base_url());
    let err = fx
        .double
        .authorize(&url, Decision::approve("alice"))
        .unwrap_err();
    let DoubleError::NotRedirected { status, error } = err else {
        panic!("expected NotRedirected, got {err:?}");
    };
    assert_eq!((status, error.as_str()), (400, "invalid_redirect_uri"));
}

#[tokio::test]
async fn unknown_clients_get_a_401_page() {
    let fx = Fixture::start().await;
    let target = authorize_target("nope", CALLBACK, "read", "s", false);
    let page = get(fx.addr(), &target, &[("x-double-user", "alice")]).await;
    assert_eq!(page.status, 401);
    assert!(page.header("location").is_none());
}

#[tokio::test]
async fn pkce_verifier_must_match_and_must_be_sent() {
    let fx = Fixture::start().await;

    let wrong = fx
        .exchange(
            &fx.code(true),
            Some("not-the-verifier-not-the-verifier-not-the-v"),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let absent = fx.exchange(&fx.code(true), None).await;
    assert_eq!(absent.status, 400);
    assert_eq!(
        absent.json(),
        serde_json::json!({"error": "invalid_request",
                           "error_description": "Missing required parameter: code_verifier."})
    );

    let unexpected = fx.exchange(&fx.code(false), Some(VERIFIER)).await;
    assert_eq!(unexpected.status, 400);

    let checks: Vec<_> = fx
        .double
        .requests_to("POST", "/oauth/token")
        .iter()
        .map(|r| r.pkce)
        .collect();
    assert_eq!(
        checks,
        [
            Some(PkceCheck::Mismatch),
            Some(PkceCheck::MissingVerifier),
            Some(PkceCheck::UnexpectedVerifier)
        ]
    );
}

#[tokio::test]
async fn legacy_servers_ignore_pkce() {
    let options = MastodonOptions {
        version: MastodonVersion::V4_2,
        ..MastodonOptions::default()
    };
    let fx = Fixture::start_with(options).await;
    let answer = fx.exchange(&fx.code(true), Some("anything")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        fx.double.requests_to("POST", "/oauth/token")[0].pkce,
        Some(PkceCheck::Ignored)
    );
}

#[tokio::test]
async fn only_s256_challenges_are_accepted() {
    let fx = Fixture::start().await;
    let url = fx.auth_url("read", "s", false) + "&code_challenge=abc&code_challenge_method=plain";
    let callback = fx
        .double
        .authorize(&url, Decision::approve("alice"))
        .unwrap();
    assert_eq!(
        query_value(&callback, "error").as_deref(),
        Some("invalid_code_challenge_method")
    );
}

#[tokio::test]
async fn client_authentication_by_basic_or_post_json() {
    let fx = Fixture::start().await;
    let basic = base64_encode(&format!(
        "{}:{}",
        fx.app.client_id,
        fx.app.client_secret.expose()
    ));
    let code = fx.code(true);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let auth = format!("Basic {basic}");
    let answer = post_form(
        fx.addr(),
        "/oauth/token",
        &[("Authorization", &auth)],
        &form,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        fx.double.requests()[1].auth_scheme.as_deref(),
        Some("Basic")
    );

    let code = fx.code(true);
    let json = serde_json::json!({
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER, "client_id": fx.app.client_id,
        "client_secret": fx.app.client_secret.expose(),
    });
    assert_eq!(
        post_json(fx.addr(), "/oauth/token", &[], &json)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let fx = Fixture::start().await;
    let code = fx.code(true);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", "wrong"),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    let answer = post_form(fx.addr(), "/oauth/token", &[], &form).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json()["error"], "invalid_client");
    assert!(
        answer
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_client")
    );
    // The code was not spent by the failed attempt.
    assert_eq!(fx.exchange(&code, Some(VERIFIER)).await.status, 200);
}

#[tokio::test]
async fn refresh_tokens_are_not_a_grant_mastodon_knows() {
    let fx = Fixture::start().await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let answer = post_form(fx.addr(), "/oauth/token", &[], &form).await;
    assert_eq!(
        (answer.status, answer.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn scopes_beyond_the_app_are_refused_with_a_redirect_or_a_page() {
    let fx = Fixture::start().await;
    let url = fx.auth_url("read write follow", "s-9", true);
    let callback = fx
        .double
        .authorize(&url, Decision::approve("alice"))
        .unwrap();
    assert!(callback.starts_with(CALLBACK));
    assert_eq!(
        query_value(&callback, "error").as_deref(),
        Some("invalid_scope")
    );
    assert_eq!(query_value(&callback, "state").as_deref(), Some("s-9"));
    assert!(query_value(&callback, "code").is_none());

    let options = MastodonOptions {
        authorize_errors: AuthorizeErrors::Render,
        ..MastodonOptions::default()
    };
    let fx = Fixture::start_with(options).await;
    let err = fx.double.authorize(
        &fx.auth_url("read write follow", "s", true),
        Decision::approve("alice"),
    );
    let Err(DoubleError::NotRedirected { status, error }) = err else {
        panic!("expected NotRedirected, got {err:?}");
    };
    assert_eq!((status, error.as_str()), (400, "invalid_scope"));
}

#[tokio::test]
async fn denial_redirects_with_access_denied_and_the_state() {
    let fx = Fixture::start().await;
    let callback = fx
        .double
        .authorize(&fx.auth_url("read", "keep me", true), Decision::Deny)
        .unwrap();
    assert_eq!(
        query_value(&callback, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_value(&callback, "error_description").as_deref(),
        Some("The resource owner or authorization server denied the request.")
    );
    assert_eq!(query_value(&callback, "state").as_deref(), Some("keep me"));
}

#[tokio::test]
async fn http_test_control_chooses_the_user_or_shows_the_page() {
    let fx = Fixture::start().await;
    let target = authorize_target(&fx.app.client_id, CALLBACK, "read", "s", true);

    let page = get(fx.addr(), &target, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Authorization required"));

    let approved = get(fx.addr(), &target, &[("X-Double-User", "alice")]).await;
    assert_eq!(approved.status, 302);
    assert!(approved.header("location").unwrap().contains("code="));

    let denied = get(fx.addr(), &format!("{target}&double_decision=deny"), &[]).await;
    assert_eq!(
        query_value(denied.header("location").unwrap(), "error").as_deref(),
        Some("access_denied")
    );

    fx.double
        .set_default_decision(Some(Decision::approve("alice")));
    assert_eq!(get(fx.addr(), &target, &[]).await.status, 302);
}

#[tokio::test]
async fn authorize_refuses_foreign_urls_and_unknown_users() {
    let fx = Fixture::start().await;
    let other = fx
        .auth_url("read", "s", true)
        .replace("127.0.0.1:", "127.0.0.2:");
    assert!(matches!(
        fx.double.authorize(&other, Decision::Deny),
        Err(DoubleError::ForeignUrl { .. })
    ));
    let err = fx
        .double
        .authorize(&fx.auth_url("read", "s", true), Decision::approve("bob"));
    assert!(matches!(err, Err(DoubleError::UnknownUser(_))));
}

#[tokio::test]
async fn reauthorizing_returns_the_same_token_until_it_is_revoked() {
    let fx = Fixture::start().await;
    let first = fx.token().await;
    assert_eq!(fx.token().await, first);
    assert!(fx.double.revoke_token(&first));
    assert_ne!(fx.token().await, first);
}

#[tokio::test]
async fn revoke_refuses_other_apps_and_bad_credentials() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let other = fx
        .double
        .register_app(hayon_double_mastodon::AppSpec::new([CALLBACK], "read"))
        .unwrap();

    let foreign = [
        ("client_id", other.client_id.as_str()),
        ("client_secret", other.client_secret.expose()),
        ("token", token.as_str()),
    ];
    let answer = post_form(fx.addr(), "/oauth/revoke", &[], &foreign).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.json(),
        serde_json::json!({"error": "unauthorized_client",
                           "error_description": "You are not authorized to revoke this token"})
    );

    let bad_secret = [
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", "x"),
        ("token", token.as_str()),
    ];
    assert_eq!(
        post_form(fx.addr(), "/oauth/revoke", &[], &bad_secret)
            .await
            .status,
        403
    );

    let unknown = [
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", fx.app.client_secret.expose()),
        ("token", "never-issued"),
    ];
    assert_eq!(
        post_form(fx.addr(), "/oauth/revoke", &[], &unknown)
            .await
            .status,
        200
    );
    assert!(fx.double.tokens().iter().all(|t| !t.revoked));
}

#[tokio::test]
async fn loopback_redirects_may_change_port_unless_exact() {
    let double = hayon_double_mastodon::MastodonDouble::start()
        .await
        .unwrap();
    double.add_user("alice").unwrap();
    let app = double
        .register_app(hayon_double_mastodon::AppSpec::new(
            ["http://127.0.0.1:8080/cb"],
            "read",
        ))
        .unwrap();
    let target = authorize_target(
        &app.client_id,
        "http://127.0.0.1:9999/cb",
        "read",
        "s",
        false,
    );
    let url = format!("{}{target}", double.base_url());
    assert!(double.authorize(&url, Decision::approve("alice")).is_ok());

    let strict = hayon_double_mastodon::MastodonOptions {
        redirect_matching: hayon_double_mastodon::RedirectMatching::Exact,
        ..Default::default()
    };
    let double = hayon_double_mastodon::MastodonDouble::start_with(strict)
        .await
        .unwrap();
    double.add_user("alice").unwrap();
    let app = double
        .register_app(hayon_double_mastodon::AppSpec::new(
            ["http://127.0.0.1:8080/cb"],
            "read",
        ))
        .unwrap();
    let target = authorize_target(
        &app.client_id,
        "http://127.0.0.1:9999/cb",
        "read",
        "s",
        false,
    );
    let url = format!("{}{target}", double.base_url());
    assert!(double.authorize(&url, Decision::approve("alice")).is_err());
}

#[tokio::test]
async fn doubled_slashes_route_like_rails_and_show_in_the_log() {
    let fx = Fixture::start().await;
    let code = fx.code(true);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", fx.app.client_secret.expose()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(
        post_form(fx.addr(), "//oauth/token", &[], &form)
            .await
            .status,
        200
    );
    assert_eq!(fx.double.requests_to("POST", "//oauth/token").len(), 1);
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
