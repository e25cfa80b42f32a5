//! Tests of the double itself: the behaviours the end-to-end tests rely on.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::endpoints::{Incoming, handle};
use crate::state::State;
use crate::xrpc::Reply;
use crate::{Account, AccountStatus, AtprotoDouble, Endpoint, Fault, FaultRule, Service};

const APP: &str = "abcd-efgh-ijkl-mnop";

fn state() -> State {
    let urls = [
        (Service::Entryway, "http://entryway"),
        (Service::BlueskyPds, "http://pds"),
        (Service::ThirdPartyPds, "http://other-pds"),
        (Service::Plc, "http://plc"),
    ];
    let mut state = State::new(urls.iter().map(|(s, u)| (*s, (*u).to_owned())).collect());
    state.accounts.push(
        Account::new("alice.test", "main-pw")
            .app_password(APP)
            .email("Alice@Example.COM"),
    );
    state
        .accounts
        .push(Account::new("carol.example", "carol-pw").on_third_party_pds());
    state.accounts.push(
        Account::new("twofa.test", "main-pw")
            .app_password(APP)
            .two_factor("C0DE"),
    );
    state
        .accounts
        .push(Account::new("gone.test", "pw").status(AccountStatus::Takendown));
    state
        .accounts
        .push(Account::new("asleep.test", "pw").status(AccountStatus::Deactivated));
    state
}

fn login(state: &mut State, service: Service, body: Value) -> Reply {
    let request = Incoming {
        method: "POST".into(),
        path: "/xrpc/com.atproto.server.createSession".into(),
        content_type: Some("application/json".into()),
        body: body.to_string().into_bytes(),
        ..Incoming::default()
    };
    handle(state, service, &request)
}

fn call(state: &mut State, service: Service, method: &str, path: &str, bearer: &str) -> Reply {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let request = Incoming {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        authorization: Some(format!("Bearer {bearer}")),
        ..Incoming::default()
    };
    handle(state, service, &request)
}

fn refresh(state: &mut State, service: Service, token: &str) -> Reply {
    call(
        state,
        service,
        "POST",
        "/xrpc/com.atproto.server.refreshSession",
        token,
    )
}

fn error_of(reply: &Reply) -> (u16, String, String) {
    let body = reply.body_json();
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    (reply.status, text("error"), text("message"))
}

fn tokens(reply: &Reply) -> (String, String) {
    let body = reply.body_json();
    assert_eq!(reply.status, 200, "{body}");
    let text = |key: &str| body[key].as_str().unwrap().to_owned();
    (text("accessJwt"), text("refreshJwt"))
}

fn alice_session(state: &mut State) -> (String, String) {
    tokens(&login(
        state,
        Service::Entryway,
        json!({"identifier": "alice.test", "password": APP}),
    ))
}

#[test]
fn login_accepts_handle_did_and_email_in_any_case_and_names_the_fleet_pds() {
    let mut state = state();
    let did = state.accounts[0].did.clone();
    for identifier in [
        "alice.test",
        "ALICE.Test",
        did.as_str(),
        "alice@example.com",
    ] {
        let reply = login(
            &mut state,
            Service::Entryway,
            json!({"identifier": identifier, "password": APP}),
        );
        let body = reply.body_json();
        assert_eq!(reply.status, 200, "{identifier}: {body}");
        assert_eq!(body["did"], did);
        assert_eq!(body["handle"], "alice.test");
        assert_eq!(body["email"], "alice@example.com");
        assert_eq!(body["active"], true);
        assert_eq!(
            body["didDoc"]["service"][0]["serviceEndpoint"],
            "http://pds"
        );
        assert!(
            reply
                .headers
                .iter()
                .any(|(name, _)| *name == "ratelimit-remaining")
        );
    }
}

#[test]
fn login_refuses_what_the_reference_pds_refuses() {
    let mut state = state();
    let bad = |state: &mut State, service, identifier: &str, password: &str| {
        error_of(&login(
            state,
            service,
            json!({"identifier": identifier, "password": password}),
        ))
    };
    let invalid = (
        401,
        "AuthenticationRequired".into(),
        "Invalid identifier or password".into(),
    );
    assert_eq!(
        bad(&mut state, Service::Entryway, "@alice.test", APP),
        invalid
    );
    assert_eq!(
        bad(&mut state, Service::Entryway, " alice.test", APP),
        invalid
    );
    assert_eq!(
        bad(
            &mut state,
            Service::Entryway,
            "\u{202a}alice.test\u{202c}",
            APP
        ),
        invalid
    );
    assert_eq!(bad(&mut state, Service::Entryway, "alice", APP), invalid);
    assert_eq!(
        bad(&mut state, Service::Entryway, "alice.test", "wrong"),
        invalid
    );
    // The independent PDS's account is unknown to the entryway and the fleet PDS.
    assert_eq!(
        bad(&mut state, Service::Entryway, "carol.example", "carol-pw"),
        invalid
    );
    assert_eq!(
        bad(&mut state, Service::BlueskyPds, "carol.example", "carol-pw"),
        invalid
    );
    assert_eq!(
        bad(&mut state, Service::ThirdPartyPds, "alice.test", APP),
        invalid
    );
    assert_eq!(
        bad(
            &mut state,
            Service::ThirdPartyPds,
            "carol.example",
            "carol-pw"
        )
        .0,
        200
    );

    let takedown = bad(&mut state, Service::Entryway, "gone.test", "pw");
    assert_eq!((takedown.0, takedown.1.as_str()), (401, "AccountTakedown"));
    let long = "x".repeat(300);
    assert!(
        bad(&mut state, Service::Entryway, "alice.test", &long)
            .2
            .contains("too long")
    );

    let missing = login(
        &mut state,
        Service::Entryway,
        json!({"identifier": "alice.test"}),
    );
    assert_eq!(error_of(&missing).1, "InvalidRequest");
}

#[test]
fn two_factor_applies_to_the_main_password_only() {
    let mut state = state();
    let main = json!({"identifier": "twofa.test", "password": "main-pw"});
    let (status, error, _) = error_of(&login(&mut state, Service::Entryway, main));
    assert_eq!((status, error.as_str()), (401, "AuthFactorTokenRequired"));
    let wrong = json!({"identifier": "twofa.test", "password": "main-pw", "authFactorToken": "X"});
    assert_eq!(
        error_of(&login(&mut state, Service::Entryway, wrong)).1,
        "AuthFactorTokenRequired"
    );
    let code =
        json!({"identifier": "twofa.test", "password": "main-pw", "authFactorToken": "C0DE"});
    assert_eq!(login(&mut state, Service::Entryway, code).status, 200);
    let app = json!({"identifier": "twofa.test", "password": APP});
    assert_eq!(login(&mut state, Service::Entryway, app).status, 200);
}

#[test]
fn deactivated_account_logs_in_inactive() {
    let mut state = state();
    let reply = login(
        &mut state,
        Service::Entryway,
        json!({"identifier": "asleep.test", "password": "pw"}),
    );
    let body = reply.body_json();
    assert_eq!(reply.status, 200);
    assert_eq!(
        (&body["active"], &body["status"]),
        (&json!(false), &json!("deactivated"))
    );
}

#[test]
fn login_counter_returns_429_with_rate_limit_headers() {
    let mut state = state();
    state.login_limit.limit = 2;
    let attempt = json!({"identifier": "alice.test", "password": "wrong"});
    assert_eq!(
        login(&mut state, Service::Entryway, attempt.clone()).status,
        401
    );
    assert_eq!(
        login(&mut state, Service::Entryway, attempt.clone()).status,
        401
    );
    let limited = login(&mut state, Service::Entryway, attempt.clone());
    assert_eq!(error_of(&limited).1, "RateLimitExceeded");
    assert_eq!(limited.status, 429);
    let header = |name: &str| {
        limited
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(header("ratelimit-limit"), "2");
    assert_eq!(header("ratelimit-remaining"), "0");
    assert_eq!(header("ratelimit-policy"), "2;w=300");
    assert_eq!(
        header("ratelimit-reset").parse::<i64>().unwrap(),
        state.now_secs() + 300
    );
    // Another identifier has its own counter; the window ends with the double's clock.
    let other = json!({"identifier": "twofa.test", "password": APP});
    assert_eq!(login(&mut state, Service::Entryway, other).status, 200);
    state.clock_offset += Duration::from_secs(301);
    assert_eq!(login(&mut state, Service::Entryway, attempt).status, 401);
}

#[test]
fn refresh_rotates_with_a_grace_window_then_revokes() {
    let mut state = state();
    let (_, first) = alice_session(&mut state);
    let (_, second) = tokens(&refresh(&mut state, Service::BlueskyPds, &first));
    let second_id = AtprotoDouble::refresh_token_id(&second).unwrap();
    assert_ne!(AtprotoDouble::refresh_token_id(&first).unwrap(), second_id);

    // Re-use inside the grace window yields the same next id, at either host.
    let (_, again) = tokens(&refresh(&mut state, Service::Entryway, &first));
    assert_eq!(AtprotoDouble::refresh_token_id(&again).unwrap(), second_id);

    state.clock_offset += Duration::from_secs(2 * 60 * 60 + 1);
    let revoked = error_of(&refresh(&mut state, Service::BlueskyPds, &first));
    assert_eq!(
        revoked,
        (400, "ExpiredToken".into(), "Token has been revoked".into())
    );
    // The rotated-to token lives on and rotates in turn.
    let (_, third) = tokens(&refresh(&mut state, Service::BlueskyPds, &second));
    assert_ne!(AtprotoDouble::refresh_token_id(&third).unwrap(), second_id);
}

#[test]
fn zero_grace_makes_refresh_tokens_single_use() {
    let mut state = state();
    state.refresh_grace = Duration::ZERO;
    let (_, first) = alice_session(&mut state);
    let (_, second) = tokens(&refresh(&mut state, Service::BlueskyPds, &first));
    let reused = error_of(&refresh(&mut state, Service::BlueskyPds, &first));
    assert_eq!(
        reused,
        (400, "ExpiredToken".into(), "Token has been revoked".into())
    );
    assert_eq!(
        refresh(&mut state, Service::BlueskyPds, &second).status,
        200
    );
}

#[test]
fn refresh_refuses_expired_garbage_access_and_missing_tokens() {
    let mut state = state();
    let (access, refresh_token) = alice_session(&mut state);
    let garbage = error_of(&refresh(&mut state, Service::Entryway, "not-a-jwt"));
    assert_eq!((garbage.0, garbage.1.as_str()), (400, "InvalidToken"));
    let wrong_type = error_of(&refresh(&mut state, Service::Entryway, &access));
    assert_eq!((wrong_type.0, wrong_type.1.as_str()), (400, "InvalidToken"));
    // Another authority's key does not verify the fleet's tokens.
    let foreign = error_of(&refresh(&mut state, Service::ThirdPartyPds, &refresh_token));
    assert_eq!((foreign.0, foreign.1.as_str()), (400, "InvalidToken"));

    let in_body = Incoming {
        method: "POST".into(),
        path: "/xrpc/com.atproto.server.refreshSession".into(),
        content_type: Some("application/json".into()),
        body: json!({"refreshJwt": refresh_token})
            .to_string()
            .into_bytes(),
        ..Incoming::default()
    };
    let missing = error_of(&handle(&mut state, Service::Entryway, &in_body));
    assert_eq!((missing.0, missing.1.as_str()), (401, "AuthMissing"));

    state.clock_offset += Duration::from_secs(91 * 24 * 60 * 60);
    let expired = error_of(&refresh(&mut state, Service::Entryway, &refresh_token));
    assert_eq!(
        expired,
        (400, "ExpiredToken".into(), "Token has expired".into())
    );
}

#[test]
fn delete_session_revokes_the_refresh_token() {
    let mut state = state();
    let (_, refresh_token) = alice_session(&mut state);
    let deleted = call(
        &mut state,
        Service::BlueskyPds,
        "POST",
        "/xrpc/com.atproto.server.deleteSession",
        &refresh_token,
    );
    assert_eq!((deleted.status, deleted.body.len()), (200, 0));
    let after = error_of(&refresh(&mut state, Service::BlueskyPds, &refresh_token));
    assert_eq!(
        after,
        (400, "ExpiredToken".into(), "Token has been revoked".into())
    );
}

#[test]
fn profile_needs_a_fresh_access_token_and_handles_absent_fields() {
    let mut state = state();
    let (access, refresh_token) = alice_session(&mut state);
    let path = "/xrpc/app.bsky.actor.getProfile?actor=ALICE.test";
    let profile = call(&mut state, Service::BlueskyPds, "GET", path, &access);
    let body = profile.body_json();
    assert_eq!(
        (profile.status, &body["handle"]),
        (200, &json!("alice.test"))
    );
    assert!(body.get("displayName").is_none() && body.get("avatar").is_none());
    let with_refresh = error_of(&call(
        &mut state,
        Service::BlueskyPds,
        "GET",
        path,
        &refresh_token,
    ));
    assert_eq!(
        (with_refresh.0, with_refresh.1.as_str()),
        (400, "InvalidToken")
    );

    state.clock_offset += Duration::from_secs(2 * 60 * 60 + 1);
    let stale = error_of(&call(&mut state, Service::BlueskyPds, "GET", path, &access));
    assert_eq!(
        stale,
        (400, "ExpiredToken".into(), "Token has expired".into())
    );
    let session = call(
        &mut state,
        Service::BlueskyPds,
        "GET",
        "/xrpc/com.atproto.server.getSession",
        &access,
    );
    assert_eq!(session.status, 400);
}

#[test]
fn handle_resolution_and_did_documents() {
    let mut state = state();
    let carol = state.accounts[1].did.clone();
    let resolve = |state: &mut State, name: &str| {
        let path = format!("/xrpc/com.atproto.identity.resolveHandle?handle={name}");
        let request = Incoming {
            method: "GET".into(),
            path: path.clone(),
            ..Incoming::default()
        };
        let (path, query) = path.split_once('?').unwrap();
        let request = Incoming {
            path: path.into(),
            query: query.into(),
            ..request
        };
        handle(state, Service::Entryway, &request)
    };
    assert_eq!(
        resolve(&mut state, "Carol.Example").body_json()["did"],
        carol
    );
    assert_eq!(
        error_of(&resolve(&mut state, "nobody.test")).1,
        "HandleNotFound"
    );

    let doc = Incoming {
        method: "GET".into(),
        path: format!("/{carol}"),
        ..Incoming::default()
    };
    let doc = handle(&mut state, Service::Plc, &doc);
    assert_eq!(
        doc.content_type,
        Some("application/did+ld+json; charset=utf-8")
    );
    assert_eq!(
        doc.body_json()["service"][0]["serviceEndpoint"],
        "http://other-pds"
    );
    let unknown = Incoming {
        method: "GET".into(),
        path: "/did:plc:zzz".into(),
        ..Incoming::default()
    };
    assert_eq!(handle(&mut state, Service::Plc, &unknown).status, 404);

    let well_known = Incoming {
        method: "GET".into(),
        path: "/.well-known/atproto-did".into(),
        host: "carol.example:443".into(),
        ..Incoming::default()
    };
    let reply = handle(&mut state, Service::ThirdPartyPds, &well_known);
    let text = String::from_utf8(reply.body).unwrap();
    assert_eq!((reply.status, text.trim()), (200, carol.as_str()));
    assert_ne!(text, text.trim());
}

#[test]
fn faults_answer_in_the_upstream_shapes() {
    let html = crate::server::fault_reply(&Fault::Html502, 0).unwrap();
    assert_eq!((html.status, html.content_type), (502, Some("text/html")));
    let json = crate::server::fault_reply(&Fault::UpstreamFailure502, 0).unwrap();
    assert_eq!(json.body_json()["error"], "UpstreamFailure");
    let limited = crate::server::fault_reply(
        &Fault::RateLimited {
            reset_in: Duration::from_secs(60),
        },
        100,
    );
    assert!(
        limited
            .unwrap()
            .headers
            .contains(&("ratelimit-reset", "160".into()))
    );
    assert!(crate::server::fault_reply(&Fault::Delay(Duration::ZERO), 0).is_none());
}

/// A minimal HTTP/1.1 exchange over TCP (the double's own tests need no HTTP client).
async fn raw_request(base: &str, request: &str) -> (u16, HashMap<String, String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

#[tokio::test]
async fn listeners_serve_log_and_inject_faults() {
    let double = AtprotoDouble::start().await.unwrap();
    let alice = double.add_account(Account::new("alice.test", "pw").app_password(APP));
    double.inject(
        FaultRule::new(Endpoint::CreateSession, Fault::Html502)
            .on(Service::Entryway)
            .times(1),
    );
    let body = json!({"identifier": "alice.test", "password": APP}).to_string();
    let request = format!(
        "POST /xrpc/com.atproto.server.createSession HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, headers, _) = raw_request(double.entryway_url(), &request).await;
    assert_eq!(
        (status, headers["content-type"].as_str()),
        (502, "text/html")
    );
    let (status, headers, text) = raw_request(double.entryway_url(), &request).await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("ratelimit-policy"));
    let session: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        session["didDoc"]["service"][0]["serviceEndpoint"],
        double.pds_url()
    );

    let refresh_token = session["refreshJwt"].as_str().unwrap();
    let request = format!(
        "POST /xrpc/com.atproto.server.refreshSession HTTP/1.1\r\nHost: x\r\n\
         Connection: close\r\nAuthorization: Bearer {refresh_token}\r\n\r\n"
    );
    let (status, _, _) = raw_request(double.pds_url(), &request).await;
    assert_eq!(status, 200);

    let log = double.requests();
    let statuses: Vec<_> = log
        .iter()
        .map(|r| (r.service, r.endpoint, r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (Service::Entryway, Some(Endpoint::CreateSession), 502),
            (Service::Entryway, Some(Endpoint::CreateSession), 200),
            (Service::BlueskyPds, Some(Endpoint::RefreshSession), 200),
        ]
    );
    assert_eq!(log[2].auth, crate::AuthKind::RefreshToken);
    assert_eq!(log[2].bearer.as_deref(), Some(refresh_token));
    assert!(double.issued_tokens().iter().any(|t| t == refresh_token));
    assert_eq!(double.live_refresh_tokens(alice.did_str()), 2);
    double.revoke_sessions(alice.did_str());
    assert_eq!(double.live_refresh_tokens(alice.did_str()), 0);
}
