//! The double's REST endpoints, faults and rate limits, over HTTP.

mod common;

use std::time::Duration;

use common::*;
use hayon_double_mastodon::{
    AccountState, Endpoint, Fault, MastodonDouble, MastodonOptions, MastodonVersion,
};

async fn verify(fx: &Fixture, token: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    get(
        fx.addr(),
        "/api/v1/accounts/verify_credentials",
        &[("Authorization", &bearer)],
    )
    .await
}

#[tokio::test]
async fn verify_credentials_describes_the_account_on_the_web_domain() {
    let fx = Fixture::start().await;
    let me = verify(&fx, &fx.token().await).await;
    assert_eq!(me.status, 200);
    let account = me.json();
    let id = account["id"].as_str().expect("the id is a string");
    assert!(id.parse::<u64>().unwrap() > 1 << 53);
    assert_eq!(account["username"], "alice");
    assert_eq!(account["acct"], "alice");
    assert_eq!(account["display_name"], "Alice");
    assert_eq!(account["url"], format!("{}/@alice", fx.double.base_url()));
    assert!(
        account["avatar"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(account["source"].is_object());
    assert_eq!(me.header("x-ratelimit-limit"), Some("300"));
    assert_eq!(me.header("x-ratelimit-remaining"), Some("299"));
}

#[tokio::test]
async fn verify_credentials_refusals() {
    let fx = Fixture::start().await;

    let missing = get(fx.addr(), "/api/v1/accounts/verify_credentials", &[]).await;
    assert_eq!(
        (missing.status, missing.json()),
        (
            401,
            serde_json::json!({"error": "The access token is invalid"})
        )
    );
    assert_eq!(verify(&fx, "made-up").await.status, 401);

    let token = fx.token().await;
    for (state, message) in [
        (AccountState::Disabled, "Your login is currently disabled"),
        (
            AccountState::Unconfirmed,
            "Your login is missing a confirmed e-mail address",
        ),
        (
            AccountState::PendingApproval,
            "Your login is currently pending approval",
        ),
    ] {
        fx.double.set_account_state("alice", state).unwrap();
        let answer = verify(&fx, &token).await;
        assert_eq!(
            (answer.status, answer.json()["error"].as_str()),
            (403, Some(message))
        );
    }
    fx.double
        .set_account_state("alice", AccountState::Active)
        .unwrap();

    let write_only = fx
        .double
        .issue_token(&fx.app.client_id, Some("alice"), "write")
        .unwrap();
    let answer = verify(&fx, write_only.expose()).await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.json()["error"],
        "This action is outside the authorized scopes"
    );

    fx.double.revoke_authorization("alice").unwrap();
    assert_eq!(verify(&fx, &token).await.status, 401);
}

#[tokio::test]
async fn app_only_tokens_get_422() {
    let fx = Fixture::start().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", fx.app.client_id.as_str()),
        ("client_secret", fx.app.client_secret.expose()),
    ];
    let answer = post_form(fx.addr(), "/oauth/token", &[], &form).await;
    assert_eq!(answer.status, 200);
    let app_token = answer.json()["access_token"].as_str().unwrap().to_owned();
    let me = verify(&fx, &app_token).await;
    assert_eq!(me.status, 422);
    assert_eq!(
        me.json()["error"],
        "This method requires an authenticated user"
    );
}

#[tokio::test]
async fn instance_documents_name_the_local_domain() {
    let fx = Fixture::start().await;
    let v2 = get(fx.addr(), "/api/v2/instance", &[]).await;
    assert_eq!(v2.json()["domain"], "example.social");
    let v1 = get(fx.addr(), "/api/v1/instance", &[]).await;
    assert_eq!(v1.json()["uri"], "example.social");
    let metadata = get(fx.addr(), "/.well-known/oauth-authorization-server", &[]).await;
    assert_eq!(metadata.status, 200);
    assert_eq!(
        metadata.json()["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        metadata.json()["token_endpoint"],
        format!("{}/oauth/token", fx.double.base_url())
    );

    let options = MastodonOptions {
        version: MastodonVersion::V3_5,
        local_domain: "vivaldi.example".to_owned(),
        ..MastodonOptions::default()
    };
    let old = Fixture::start_with(options).await;
    assert_eq!(get(old.addr(), "/api/v2/instance", &[]).await.status, 404);
    assert_eq!(
        get(old.addr(), "/api/v1/instance", &[]).await.json()["uri"],
        "vivaldi.example"
    );
    assert_eq!(
        get(old.addr(), "/.well-known/oauth-authorization-server", &[])
            .await
            .status,
        404
    );
    assert_eq!(
        old.double.account("alice").unwrap().handle,
        "@alice@vivaldi.example"
    );
}

#[tokio::test]
async fn app_registration_over_http() {
    let double = MastodonDouble::start().await.unwrap();
    let addr = double.local_addr();
    let json = serde_json::json!({
        "client_name": "Hayon",
        "redirect_uris": [CALLBACK, "urn:ietf:wg:oauth:2.0:oob"],
        "scopes": "read write push profile",
    });
    let created = post_json(addr, "/api/v1/apps", &[], &json).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let body = created.json();
    assert_eq!(
        body["scopes"],
        serde_json::json!(["read", "write", "push", "profile"])
    );
    assert_eq!(body["redirect_uris"][0], CALLBACK);
    assert_eq!(body["client_secret_expires_at"], 0);
    let client_id = body["client_id"].as_str().unwrap();
    assert!(double.app(client_id).is_some());

    let unknown = post_form(
        addr,
        "/api/v1/apps",
        &[],
        &[
            ("client_name", "x"),
            ("redirect_uris", CALLBACK),
            ("scopes", "read everything"),
        ],
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(
        unknown.json()["error"],
        "Validation failed: Scopes doesn't match configured on the server."
    );

    let legacy = MastodonDouble::start_with(MastodonOptions {
        version: MastodonVersion::V4_2,
        ..MastodonOptions::default()
    })
    .await
    .unwrap();
    let profile = post_form(
        legacy.local_addr(),
        "/api/v1/apps",
        &[],
        &[
            ("client_name", "x"),
            ("redirect_uris", CALLBACK),
            ("scopes", "read profile"),
        ],
    )
    .await;
    assert_eq!(profile.status, 422);
}

#[tokio::test]
async fn injected_faults_have_the_real_shapes() {
    let fx = Fixture::start().await;
    let token = fx.token().await;

    fx.double
        .fail_next(Endpoint::VerifyCredentials, Fault::RateLimited);
    let limited = verify(&fx, &token).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"], "Too many requests");
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let reset = limited.header("x-ratelimit-reset").unwrap();
    assert!(is_iso8601_micros(reset), "{reset}");

    fx.double
        .fail_next(Endpoint::VerifyCredentials, Fault::HtmlError(503));
    let unavailable = verify(&fx, &token).await;
    assert_eq!(unavailable.status, 503);
    assert!(
        unavailable
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        unavailable
            .body
            .contains("503 Service Temporarily Unavailable")
    );

    fx.double
        .fail_next(Endpoint::VerifyCredentials, Fault::TruncatedJson);
    let truncated = verify(&fx, &token).await;
    assert!(serde_json::from_str::<serde_json::Value>(&truncated.body).is_err());

    fx.double.fail_next(
        Endpoint::VerifyCredentials,
        Fault::Delay(Duration::from_millis(20)),
    );
    assert_eq!(verify(&fx, &token).await.status, 200);

    fx.double
        .fail_always(Endpoint::Token, Fault::EmptyBody(502));
    let empty = fx.exchange("whatever", Some(VERIFIER)).await;
    assert_eq!((empty.status, empty.body.as_str()), (502, ""));
    fx.double.stop_failing(Endpoint::Token);
    let normal = fx.exchange("whatever", Some(VERIFIER)).await;
    assert_eq!(
        (normal.status, normal.json()["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_per_token_limit_answers_429_until_the_window_ends() {
    let options = MastodonOptions {
        rate_limit: 2,
        ..MastodonOptions::default()
    };
    let fx = Fixture::start_with(options).await;
    let token = fx.token().await;
    assert_eq!(
        verify(&fx, &token).await.header("x-ratelimit-remaining"),
        Some("1")
    );
    assert_eq!(verify(&fx, &token).await.status, 200);
    let third = verify(&fx, &token).await;
    assert_eq!(third.status, 429);
    assert_eq!(third.header("x-ratelimit-limit"), Some("2"));
    fx.double.advance_clock(Duration::from_secs(300));
    assert_eq!(verify(&fx, &token).await.status, 200);
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let double = MastodonDouble::start().await.unwrap();
    let addr = double.local_addr();
    double.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn is_iso8601_micros(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits =
        |range: std::ops::Range<usize>| range.into_iter().all(|i| bytes[i].is_ascii_digit());
    bytes.len() == 27
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && bytes[19] == b'.'
        && digits(20..26)
        && bytes[26] == b'Z'
}
