//! The lifecycle against a scripted Tumblr: what is stored, what is sent, what is answered.
//!
//! Signatures are not re-verified here (that would check the signer against itself); the
//! end-to-end tests run every flow against the Tumblr double, whose verifier is independent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hayon_guest::AccountStatus;
use hayon_guest::outbound::{OutboundRequest, OutboundResponse, TransportError};
use hayon_guest::store::KeyValue;
use hayon_guest::testing::{InterleavedStore, TestEnv};
use serde_json::json;

use super::*;
use crate::oauth1::encode::form_decode_bytes;

const CALLBACK: &str = "https://api.example/api/platform/tumblr/callback";

/// A scripted Tumblr: fixed tokens, a configurable `user/info`, and a log of requests.
#[derive(Clone)]
struct FakeTumblr(Arc<Mutex<Script>>);

struct Script {
    callback_confirmed: Option<&'static str>,
    access_token: OutboundResponse,
    user_info: OutboundResponse,
    requests: Vec<OutboundRequest>,
}

fn user_info(blogs: serde_json::Value) -> OutboundResponse {
    OutboundResponse::json(
        200,
        &json!({"meta": {"status": 200, "msg": "OK"},
                "response": {"user": {"name": "david", "likes": 1, "blogs": blogs}}}),
    )
}

fn david_blogs() -> serde_json::Value {
    json!([
        {"name": "staff-group", "url": "https://staff-group.tumblr.com/", "primary": false,
         "uuid": "t:group", "title": "Staff", "admin": false},
        {"name": "davidslog", "url": "https://www.davidslog.com/", "primary": true,
         "uuid": "t:0aY0xL2Fi1OFJg4YxpmegQ", "title": "David's Log",
         "followers": 9_007_199_254_740_993_u64},
    ])
}

impl FakeTumblr {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Script {
            callback_confirmed: Some("true"),
            access_token: OutboundResponse::with_body(
                200,
                "application/x-www-form-urlencoded",
                "oauth_token=access-1&oauth_token_secret=access-secret-1",
            ),
            user_info: user_info(david_blogs()),
            requests: Vec::new(),
        })))
    }

    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap()
    }

    fn answer(&self, request: &OutboundRequest) -> Result<OutboundResponse, TransportError> {
        let mut script = self.script();
        script.requests.push(request.clone());
        let path = request
            .url
            .split_once("://")
            .unwrap()
            .1
            .split_once('/')
            .unwrap()
            .1;
        Ok(match path {
            "oauth/request_token" => {
                let mut body =
                    "oauth_token=request-1&oauth_token_secret=request-secret-1".to_owned();
                if let Some(confirmed) = script.callback_confirmed {
                    body.push_str(&format!("&oauth_callback_confirmed={confirmed}"));
                }
                OutboundResponse::with_body(200, "application/x-www-form-urlencoded", &body)
            }
            "oauth/access_token" => script.access_token.clone(),
            "v2/user/info" => script.user_info.clone(),
            other => panic!("unexpected call to {other}"),
        })
    }

    fn requests(&self) -> Vec<OutboundRequest> {
        self.script().requests.clone()
    }
}

/// A test environment configured for Tumblr, and the scripted Tumblr behind it.
fn setup() -> (TestEnv, FakeTumblr) {
    let test = TestEnv::new();
    test.config_set("tumblr_consumer_key", "ck");
    test.config_set("tumblr_consumer_secret", "cs");
    test.config_set("tumblr_www_url", "https://www.tumblr.test");
    test.config_set("tumblr_api_url", "https://api.tumblr.test");
    (test, FakeTumblr::new())
}

fn env(test: &TestEnv, tumblr: &FakeTumblr) -> Env {
    let tumblr = tumblr.clone();
    test.env_with(move |request: &OutboundRequest| tumblr.answer(request))
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

/// The `oauth_*` parameters of a request's `Authorization` header, decoded.
fn oauth_params(request: &OutboundRequest) -> BTreeMap<String, String> {
    let header = request
        .header_value("authorization")
        .unwrap()
        .strip_prefix("OAuth ")
        .unwrap();
    header
        .split(", ")
        .map(|field| {
            let (name, value) = field.split_once('=').unwrap();
            let value = value.trim_matches('"');
            (
                name.to_owned(),
                String::from_utf8(form_decode_bytes(value.as_bytes())).unwrap(),
            )
        })
        .collect()
}

/// Connects `user` and answers the callback query Tumblr would send on approval.
fn approve(test: &TestEnv, tumblr: &FakeTumblr, who: &str) -> Result<Completion, CallbackError> {
    let url = connect(&env(test, tumblr), &user(who)).unwrap();
    assert_eq!(
        url,
        "https://www.tumblr.test/oauth/authorize?oauth_token=request-1"
    );
    let query = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=verifier-1#_=_");
    callback(&env(test, tumblr), &query)
}

fn stored_text(test: &TestEnv) -> String {
    test.store
        .keys()
        .iter()
        .map(|key| String::from_utf8(test.store.get(key).unwrap().unwrap()).unwrap())
        .collect()
}

#[test]
fn connect_signs_our_callback_and_keeps_the_temporary_secret_sealed() {
    let (test, tumblr) = setup();
    let url = connect(&env(&test, &tumblr), &user("u1")).unwrap();
    assert_eq!(
        url,
        "https://www.tumblr.test/oauth/authorize?oauth_token=request-1"
    );

    let requests = tumblr.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "POST");
    assert_eq!(
        requests[0].url,
        "https://www.tumblr.test/oauth/request_token"
    );
    assert_eq!(
        requests[0].header_value("user-agent"),
        Some(crate::client::USER_AGENT)
    );
    let params = oauth_params(&requests[0]);
    assert_eq!(params["oauth_callback"], CALLBACK);
    assert_eq!(params["oauth_consumer_key"], "ck");
    assert_eq!(params["oauth_signature_method"], "HMAC-SHA1");
    assert!(!params.contains_key("oauth_token"));
    assert_eq!(params["oauth_nonce"].len(), 32);

    let keys = test.store.keys();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("pending/tumblr/"), "{keys:?}");
    assert!(
        !keys[0].contains("request-1"),
        "the token is not the storage key"
    );
    let stored = stored_text(&test);
    assert!(
        !stored.contains("request-secret-1"),
        "the secret is sealed: {stored}"
    );
    assert!(stored.contains("\"user\":\"u1\""));
}

#[test]
fn connect_refuses_an_unconfirmed_callback() {
    for confirmed in [None, Some("false"), Some("TRUE")] {
        let (test, tumblr) = setup();
        tumblr.script().callback_confirmed = confirmed;
        let error = connect(&env(&test, &tumblr), &user("u1")).unwrap_err();
        assert_eq!(error.code(), "upstream_unavailable", "{confirmed:?}");
        assert!(error.public_message().contains("did not confirm"));
        assert!(
            test.store.keys().is_empty(),
            "nothing pending for {confirmed:?}"
        );
    }
}

#[test]
fn connect_without_app_credentials_is_not_configured_and_calls_nobody() {
    let (test, tumblr) = setup();
    test.config_set("tumblr_consumer_secret", "");
    let error = connect(&env(&test, &tumblr), &user("u1")).unwrap_err();
    assert_eq!((error.code(), error.status()), ("not_configured", 503));
    assert!(tumblr.requests().is_empty());
}

#[test]
fn callback_exchanges_reads_and_stores_the_primary_blog_for_the_right_user() {
    let (test, tumblr) = setup();
    let completion = approve(&test, &tumblr, "u1").unwrap();
    assert_eq!(completion.user, user("u1"));
    assert_eq!(completion.accounts.len(), 1);
    let account = &completion.accounts[0];
    assert_eq!(account.account_id, "t:0aY0xL2Fi1OFJg4YxpmegQ");
    assert_eq!(account.handle, "www.davidslog.com");
    assert_eq!(account.display_name.as_deref(), Some("David's Log"));
    assert_eq!(
        account.profile_url.as_deref(),
        Some("https://www.davidslog.com/")
    );
    assert_eq!(
        account.avatar.as_deref(),
        Some("https://api.tumblr.test/v2/blog/www.davidslog.com/avatar/128")
    );

    let requests = tumblr.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].method.as_str(), "GET");
    assert_eq!(
        requests[1].url,
        "https://www.tumblr.test/oauth/access_token"
    );
    let exchange = oauth_params(&requests[1]);
    assert_eq!(exchange["oauth_token"], "request-1");
    assert_eq!(exchange["oauth_verifier"], "verifier-1");
    assert!(!exchange.contains_key("oauth_callback"));
    assert_eq!(requests[2].url, "https://api.tumblr.test/v2/user/info");
    let api = oauth_params(&requests[2]);
    assert_eq!(api["oauth_token"], "access-1");
    assert!(!api.contains_key("oauth_verifier"));

    assert_eq!(
        test.store.keys(),
        ["accounts/tumblr/u1"],
        "the pending record is gone"
    );
    let stored = stored_text(&test);
    assert!(
        !stored.contains("access-secret-1") && !stored.contains("access-1\""),
        "{stored}"
    );
    assert!(stored.contains("\"blog_hostname\":\"www.davidslog.com\""));

    let env = env(&test, &tumblr);
    assert_eq!(
        hayon_guest::AccountStore::new(&env, "tumblr", &user("u1"))
            .views()
            .unwrap(),
        completion.accounts
    );
}

#[test]
fn a_replayed_callback_is_state_invalid_and_calls_nobody() {
    let (test, tumblr) = setup();
    approve(&test, &tumblr, "u1").unwrap();
    let calls = tumblr.requests().len();
    let query = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=verifier-1");
    let error = callback(&env(&test, &tumblr), &query).unwrap_err();
    assert_eq!(error.reason, CallbackReason::StateInvalid);
    assert_eq!(tumblr.requests().len(), calls);
}

#[test]
fn unknown_and_expired_tokens_are_state_invalid() {
    let (test, tumblr) = setup();
    connect(&env(&test, &tumblr), &user("u1")).unwrap();
    let forged = CallbackQuery::parse("oauth_token=request-2&oauth_verifier=v");
    assert_eq!(
        callback(&env(&test, &tumblr), &forged).unwrap_err().reason,
        CallbackReason::StateInvalid
    );

    test.clock.advance(hayon_guest::state::STATE_TTL_SECONDS);
    let late = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=v");
    assert_eq!(
        callback(&env(&test, &tumblr), &late).unwrap_err().reason,
        CallbackReason::StateInvalid
    );
    assert_eq!(tumblr.requests().len(), 1, "no exchange was attempted");
}

#[test]
fn an_unknown_token_is_state_invalid_even_without_app_credentials() {
    let (test, tumblr) = setup();
    connect(&env(&test, &tumblr), &user("u1")).unwrap();
    test.config_set("tumblr_consumer_key", "");
    test.config_set("tumblr_consumer_secret", "");
    let unknown = CallbackQuery::parse("oauth_token=abc&oauth_verifier=def");
    assert_eq!(
        callback(&env(&test, &tumblr), &unknown).unwrap_err().reason,
        CallbackReason::StateInvalid
    );

    // A known token with the app unconfigured is a server problem, and is not burnt: once
    // the operator sets the credentials, the same callback connects.
    let known = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=verifier-1");
    let error = callback(&env(&test, &tumblr), &known).unwrap_err();
    assert_ne!(error.reason, CallbackReason::StateInvalid);
    assert_eq!(tumblr.requests().len(), 1, "no exchange was attempted");
    test.config_set("tumblr_consumer_key", "ck");
    test.config_set("tumblr_consumer_secret", "cs");
    assert!(callback(&env(&test, &tumblr), &known).is_ok());
}

#[test]
fn a_refusal_burns_the_token_and_a_bare_callback_is_auth_failed() {
    let (test, tumblr) = setup();
    connect(&env(&test, &tumblr), &user("u1")).unwrap();
    let denied = CallbackQuery::parse("oauth_token=request-1#_=_");
    assert_eq!(
        callback(&env(&test, &tumblr), &denied).unwrap_err().reason,
        CallbackReason::AuthDenied
    );
    assert!(test.store.keys().is_empty());
    let approved_later = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=v");
    assert_eq!(
        callback(&env(&test, &tumblr), &approved_later)
            .unwrap_err()
            .reason,
        CallbackReason::StateInvalid
    );

    for bare in ["", "#_=_", "source=blog"] {
        let error = callback(&env(&test, &tumblr), &CallbackQuery::parse(bare)).unwrap_err();
        assert_eq!(error.reason, CallbackReason::AuthFailed, "{bare}");
    }
    let verifier_only = CallbackQuery::parse("oauth_verifier=v");
    assert_eq!(
        callback(&env(&test, &tumblr), &verifier_only)
            .unwrap_err()
            .reason,
        CallbackReason::StateInvalid
    );
}

#[test]
fn concurrent_callbacks_connect_once() {
    let (test, tumblr) = setup();
    connect(&env(&test, &tumblr), &user("u1")).unwrap();
    let query = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=verifier-1");

    // The rival callback runs to completion between our read of the record and our swap.
    let rival_env = env(&test, &tumblr);
    let rival_query = query.clone();
    let rival = Arc::new(Mutex::new(None));
    let rival_result = rival.clone();
    let racing = InterleavedStore::new(test.store.clone(), move || {
        *rival_result.lock().unwrap() = Some(callback(&rival_env, &rival_query));
    });
    let mut ours = env(&test, &tumblr);
    ours.store = Box::new(racing);
    let error = callback(&ours, &query).unwrap_err();
    assert_eq!(error.reason, CallbackReason::StateInvalid);
    assert!(rival.lock().unwrap().take().unwrap().is_ok());
    let exchanges = tumblr
        .requests()
        .iter()
        .filter(|r| r.url.ends_with("/access_token"))
        .count();
    assert_eq!(exchanges, 1);
}

#[test]
fn a_user_without_blogs_is_connect_failed_and_nothing_is_stored() {
    let (test, tumblr) = setup();
    tumblr.script().user_info = user_info(json!([]));
    let error = approve(&test, &tumblr, "u1").unwrap_err();
    assert_eq!(error.reason, CallbackReason::ConnectFailed);
    assert!(error.message.contains("no blog"));
    assert!(test.store.keys().is_empty());
}

#[test]
fn exchange_failures_keep_their_reasons() {
    let cases = [
        (
            OutboundResponse::with_body(401, "text/plain", "oauth_verifier [x] is invalid"),
            CallbackReason::ConnectFailed,
        ),
        (
            OutboundResponse::with_body(429, "text/plain", "Limit Exceeded"),
            CallbackReason::RateLimited,
        ),
        (
            OutboundResponse::with_body(502, "text/html", "<html>Bad Gateway</html>"),
            CallbackReason::UpstreamUnavailable,
        ),
        (
            OutboundResponse::with_body(200, "text/plain", "oauth_token=only"),
            CallbackReason::UpstreamUnavailable,
        ),
    ];
    for (answer, reason) in cases {
        let (test, tumblr) = setup();
        tumblr.script().access_token = answer;
        assert_eq!(approve(&test, &tumblr, "u1").unwrap_err().reason, reason);
        assert!(test.store.keys().is_empty());
    }
}

#[test]
fn reconnecting_keeps_the_first_connection_time() {
    let (test, tumblr) = setup();
    let first = approve(&test, &tumblr, "u1").unwrap().accounts[0].clone();
    test.clock.advance(3600);
    let second = approve(&test, &tumblr, "u1").unwrap().accounts[0].clone();
    assert_eq!(second.connected_at, first.connected_at);
    assert_eq!(second.refreshed_at, first.refreshed_at.plus_seconds(3600));
}

#[test]
fn refresh_rereads_the_connected_blog() {
    let (test, tumblr) = setup();
    approve(&test, &tumblr, "u1").unwrap();
    let mut blogs = david_blogs();
    blogs[1]["title"] = json!("David's New Log");
    blogs[1]["url"] = json!("https://davidslog.tumblr.com/");
    blogs[0]["primary"] = json!(true);
    blogs[1]["primary"] = json!(false);
    tumblr.script().user_info = user_info(blogs);
    test.clock.advance(60);

    let accounts = refresh(&env(&test, &tumblr), &user("u1")).unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts[0].account_id, "t:0aY0xL2Fi1OFJg4YxpmegQ",
        "the same blog, not the new primary"
    );
    assert_eq!(accounts[0].handle, "davidslog.tumblr.com");
    assert_eq!(accounts[0].display_name.as_deref(), Some("David's New Log"));
    assert_eq!(
        accounts[0].refreshed_at,
        accounts[0].connected_at.plus_seconds(60)
    );
    let last = tumblr.requests().pop().unwrap();
    assert_eq!(oauth_params(&last)["oauth_token"], "access-1");
}

#[test]
fn refresh_failures_map_to_the_contract() {
    let (test, tumblr) = setup();
    approve(&test, &tumblr, "u1").unwrap();
    let limited = OutboundResponse::json(
        429,
        &json!({"meta": {"status": 429, "msg": "Limit Exceeded"}}),
    )
    .with_header("Retry-After", "120");
    tumblr.script().user_info = limited;
    let error = refresh(&env(&test, &tumblr), &user("u1")).unwrap_err();
    assert_eq!(
        (error.code(), error.retry_after()),
        ("rate_limited", Some(120))
    );

    tumblr.script().user_info = OutboundResponse::with_body(503, "text/html", "<html>down</html>");
    assert_eq!(
        refresh(&env(&test, &tumblr), &user("u1"))
            .unwrap_err()
            .code(),
        "upstream_unavailable"
    );
    tumblr.script().user_info = OutboundResponse::with_body(200, "text/html", "<html>ok?</html>");
    assert_eq!(
        refresh(&env(&test, &tumblr), &user("u1"))
            .unwrap_err()
            .code(),
        "upstream_unavailable"
    );
    let env_now = env(&test, &tumblr);
    let views = hayon_guest::AccountStore::new(&env_now, "tumblr", &user("u1"))
        .views()
        .unwrap();
    assert_eq!(
        views[0].status,
        AccountStatus::Active,
        "outages do not disconnect"
    );

    tumblr.script().user_info = OutboundResponse::json(
        401,
        &json!({"meta": {"status": 401, "msg": "Unauthorized"}, "response": []}),
    );
    let error = refresh(&env(&test, &tumblr), &user("u1")).unwrap_err();
    assert_eq!((error.code(), error.status()), ("reconnect_required", 409));
    let views = hayon_guest::AccountStore::new(&env_now, "tumblr", &user("u1"))
        .views()
        .unwrap();
    assert_eq!(views[0].status, AccountStatus::ReconnectRequired);

    tumblr.script().user_info = user_info(david_blogs());
    let accounts = refresh(&env(&test, &tumblr), &user("u1")).unwrap();
    assert_eq!(accounts[0].status, AccountStatus::Active, "working again");
}

#[test]
fn refresh_of_a_vanished_blog_requires_a_reconnect() {
    let (test, tumblr) = setup();
    approve(&test, &tumblr, "u1").unwrap();
    tumblr.script().user_info =
        user_info(json!([{"name": "other", "uuid": "t:other", "primary": true}]));
    let error = refresh(&env(&test, &tumblr), &user("u1")).unwrap_err();
    assert_eq!(error.code(), "reconnect_required");
}

#[test]
fn refresh_and_disconnect_of_nothing() {
    let (test, tumblr) = setup();
    let error = refresh(&env(&test, &tumblr), &user("u1")).unwrap_err();
    assert_eq!((error.code(), error.status()), ("not_connected", 404));
    let outcome = disconnect(&env(&test, &tumblr), &user("u1")).unwrap();
    assert_eq!((outcome.removed, outcome.revoked), (0, false));
}

#[test]
fn disconnect_deletes_only_our_record() {
    let (test, tumblr) = setup();
    approve(&test, &tumblr, "u1").unwrap();
    let calls = tumblr.requests().len();
    let outcome = disconnect(&env(&test, &tumblr), &user("u1")).unwrap();
    assert_eq!(
        outcome,
        DisconnectOutcome {
            removed: 1,
            revoked: false,
            revocation_problem: None
        }
    );
    assert!(test.store.keys().is_empty());
    assert_eq!(
        tumblr.requests().len(),
        calls,
        "Tumblr has nothing to revoke"
    );
}

#[test]
fn a_refusal_of_old_credentials_does_not_mark_a_fresh_reconnect() {
    let (test, tumblr) = setup();
    approve(&test, &tumblr, "u1").unwrap();
    tumblr.script().user_info = OutboundResponse::json(
        401,
        &json!({"meta": {"status": 401, "msg": "Unauthorized"}, "response": []}),
    );

    // The person reconnects while the refresh with the old token is being refused.
    let reconnect_tumblr = FakeTumblr::new();
    let store = test.store.clone();
    let racing = InterleavedStore::new(test.store.clone(), {
        let reconnect_env = {
            let tumblr = reconnect_tumblr.clone();
            let mut env = env(&test, &tumblr);
            env.store = Box::new(store);
            env
        };
        move || {
            connect(&reconnect_env, &user("u1")).unwrap();
            let query = CallbackQuery::parse("oauth_token=request-1&oauth_verifier=verifier-1");
            callback(&reconnect_env, &query).unwrap();
        }
    });
    let mut refreshing = env(&test, &tumblr);
    refreshing.store = Box::new(racing);
    let error = refresh(&refreshing, &user("u1")).unwrap_err();
    assert_eq!(error.code(), "reconnect_required");

    let env = env(&test, &tumblr);
    let views = hayon_guest::AccountStore::new(&env, "tumblr", &user("u1"))
        .views()
        .unwrap();
    assert_eq!(
        views[0].status,
        AccountStatus::Active,
        "the fresh connection stays usable"
    );
}
