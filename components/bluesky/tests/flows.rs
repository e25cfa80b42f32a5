//! The Bluesky connector's flows, natively: the real connector code and the real router,
//! with in-memory storage and an in-process stand-in for the AT Protocol services.

mod support;

use hayon_bluesky::Bluesky;
use hayon_guest::http::{HttpRequest, HttpResponse};
use hayon_guest::router::serve;
use hayon_guest::store::KeyValue;
use hayon_guest::testing::{InterleavedStore, TestEnv};
use hayon_guest::{Connector, OutboundResponse, UserId, typed};
use serde_json::{Value, json};
use support::{ALICE_DID, BSKY_PDS, CAROL_DID, ENTRYWAY, Fake, OTHER_PDS, PLC, error};

const ACCOUNTS_KEY: &str = "accounts/bluesky/u1";

struct Setup {
    test: TestEnv,
    fake: Fake,
}

impl Setup {
    fn new() -> Self {
        let test = TestEnv::new();
        test.config_set("bluesky_service_url", ENTRYWAY);
        test.config_set("bluesky_plc_url", PLC);
        Self {
            test,
            fake: Fake::new(),
        }
    }

    fn env(&self) -> hayon_guest::Env {
        self.test.env_with(self.fake.outbound())
    }

    fn request(&self, method: &str, action: &str, body: Option<Value>) -> HttpResponse {
        let mut request = HttpRequest::new(method, &format!("/api/platform/bluesky/{action}"))
            .with_header("authorization", &self.test.bearer("u1"));
        if let Some(body) = body {
            request = request.with_body(body.to_string());
        }
        serve::<Bluesky>(&self.env(), &request)
    }

    fn connect(&self, identifier: &str, password: &str) -> (u16, Value) {
        let body = json!({ "identifier": identifier, "appPassword": password });
        let response = self.request("POST", "connect", Some(body));
        (
            response.status,
            serde_json::from_slice(&response.body).unwrap(),
        )
    }

    fn get(&self, action: &str) -> (u16, Value) {
        let response = self.request("GET", action, None);
        (
            response.status,
            serde_json::from_slice(&response.body).unwrap(),
        )
    }

    fn stored(&self) -> Option<Value> {
        let raw = self.test.store.get(ACCOUNTS_KEY).unwrap()?;
        Some(serde_json::from_slice(&raw).unwrap())
    }

    fn stored_raw(&self) -> Option<Vec<u8>> {
        self.test.store.get(ACCOUNTS_KEY).unwrap()
    }

    /// The clear refresh token currently stored (through the connector's own storage).
    fn stored_refresh_token(&self) -> String {
        let env = self.env();
        let user = UserId::parse("u1").unwrap();
        let store = hayon_guest::AccountStore::new(&env, "bluesky", &user);
        let snapshot = store.load().unwrap().unwrap();
        store
            .open(&snapshot.accounts[0], "refresh_token")
            .unwrap()
            .unwrap()
            .expose_secret()
            .to_owned()
    }
}

fn assert_no_tokens(value: &Value) {
    let text = value.to_string();
    assert!(
        !text.contains("access-") && !text.contains("refresh-"),
        "{text}"
    );
    assert!(!text.contains("aaaa-bbbb"), "{text}");
}

#[test]
fn connect_with_a_handle_finds_the_pds_and_stores_the_session() {
    let s = Setup::new();
    let (status, body) = s.connect("\u{202A}@Alice.Bsky.Social\u{202C} ", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["platform"], "bluesky");
    assert_eq!(account["accountId"], ALICE_DID);
    assert_eq!(account["handle"], "alice.bsky.social");
    assert_eq!(account["displayName"], "Alice");
    assert_eq!(account["avatar"], "https://cdn.test/alice.jpg");
    assert_eq!(
        account["profileUrl"],
        "https://bsky.app/profile/alice.bsky.social"
    );
    assert_eq!(account["status"], "active");
    assert_eq!(account["connectedAt"], "2026-08-20T12:00:00Z");
    assert_no_tokens(&body);

    let calls = s.fake.calls();
    assert_eq!(
        calls[0],
        format!("GET {ENTRYWAY}/xrpc/com.atproto.identity.resolveHandle")
    );
    assert_eq!(calls[1], format!("GET {PLC}/{ALICE_DID}"));
    assert_eq!(
        calls[2],
        format!("POST {BSKY_PDS}/xrpc/com.atproto.server.createSession")
    );
    assert_eq!(
        calls[3],
        format!("GET {BSKY_PDS}/xrpc/app.bsky.actor.getProfile")
    );

    let stored = s.stored().unwrap();
    assert_eq!(stored["v"], 1);
    assert_eq!(stored["accounts"][0]["extras"]["pds"], BSKY_PDS);
    let raw = String::from_utf8(s.stored_raw().unwrap()).unwrap();
    assert!(
        !raw.contains("access-") && !raw.contains("refresh-"),
        "tokens sealed: {raw}"
    );
}

#[test]
fn an_account_on_another_pds_is_found_by_its_handle() {
    let s = Setup::new();
    let (status, body) = s.connect("carol.example.org", "carol-app-pass");
    assert_eq!(status, 200, "{body}");
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["accountId"], CAROL_DID);
    // Carol's display name is blank: none, so the UI shows the handle. No avatar.
    assert_eq!(account["displayName"], Value::Null);
    assert_eq!(account["avatar"], Value::Null);
    assert!(
        s.fake
            .calls()
            .iter()
            .any(|c| c.starts_with(&format!("POST {OTHER_PDS}")))
    );
    assert_eq!(
        s.stored().unwrap()["accounts"][0]["extras"]["pds"],
        OTHER_PDS
    );
}

#[test]
fn e_mail_logs_in_at_the_default_service_and_moves_to_the_pds() {
    let s = Setup::new();
    let (status, body) = s.connect(" Alice@Example.com ", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200, "{body}");
    let calls = s.fake.calls();
    assert_eq!(
        calls[0],
        format!("POST {ENTRYWAY}/xrpc/com.atproto.server.createSession")
    );
    // The PDS comes from the DID's published document, not the session's `didDoc`.
    assert_eq!(calls[1], format!("GET {PLC}/{ALICE_DID}"));
    assert_eq!(
        calls[2],
        format!("GET {BSKY_PDS}/xrpc/app.bsky.actor.getProfile")
    );
    assert_eq!(
        s.stored().unwrap()["accounts"][0]["extras"]["pds"],
        BSKY_PDS
    );
}

/// A createSession answer for `did` whose own `didDoc` points at `pds` and claims `handle`.
fn forged_session(did: &str, handle: &str, pds: &str) -> OutboundResponse {
    OutboundResponse::json(
        200,
        &json!({
            "accessJwt": "access-forged", "refreshJwt": "refresh-forged",
            "handle": handle, "did": did,
            "didDoc": {"id": did, "alsoKnownAs": [format!("at://{handle}")],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                             "serviceEndpoint": pds}]}
        }),
    )
}

#[test]
fn a_session_for_another_did_than_the_resolved_one_is_refused() {
    for identifier in ["alice.bsky.social", ALICE_DID] {
        let s = Setup::new();
        s.fake.inject(
            "createSession",
            forged_session(CAROL_DID, "carol.example.org", OTHER_PDS),
        );
        let (status, body) = s.connect(identifier, "aaaa-bbbb-cccc-dddd");
        assert_eq!(
            (status, body["data"]["code"].as_str()),
            (502, Some("upstream_unavailable")),
            "{identifier}: {body}"
        );
        assert!(s.stored().is_none(), "{identifier}: nothing stored");
        assert!(
            s.fake
                .calls()
                .iter()
                .any(|c| c.ends_with("com.atproto.server.deleteSession")),
            "the unwanted session is ended"
        );
    }
}

#[test]
fn the_pds_and_handle_come_from_the_published_document_not_the_session() {
    let s = Setup::new();
    s.fake.inject(
        "createSession",
        forged_session(ALICE_DID, "mallory.test", "https://evil.example"),
    );
    s.fake.inject(
        "getProfile",
        OutboundResponse::json(200, &json!({"did": ALICE_DID, "handle": "mallory.test"})),
    );
    let (status, body) = s.connect("alice@example.com", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200, "{body}");
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["accountId"], ALICE_DID);
    assert_eq!(account["handle"], "handle.invalid");
    assert_eq!(
        account["profileUrl"],
        format!("https://bsky.app/profile/{ALICE_DID}")
    );
    assert_eq!(
        s.stored().unwrap()["accounts"][0]["extras"]["pds"],
        BSKY_PDS
    );
    assert!(!s.fake.calls().iter().any(|c| c.contains("evil")));
}

#[test]
fn a_record_without_a_pds_uses_the_default_service_for_every_call() {
    let s = Setup::new();
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200, "{body}");
    let mut stored = s.stored().unwrap();
    stored["accounts"][0]["extras"]
        .as_object_mut()
        .unwrap()
        .remove("pds");
    s.test
        .store
        .set(ACCOUNTS_KEY, stored.to_string().as_bytes())
        .unwrap();
    s.fake.account_mut(ALICE_DID, |a| a.home = ENTRYWAY.into());
    let (status, body) = s.get("refresh");
    assert_eq!(status, 200, "{body}");
    let calls = s.fake.calls();
    assert!(
        calls.contains(&format!("GET {ENTRYWAY}/xrpc/app.bsky.actor.getProfile")),
        "{calls:?}"
    );
}

#[test]
fn a_did_is_resolved_to_its_pds() {
    let s = Setup::new();
    let (status, body) = s.connect(&CAROL_DID.to_uppercase(), "carol-app-pass");
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.fake.calls()[0], format!("GET {PLC}/{CAROL_DID}"));
}

#[test]
fn login_refusals_map_to_the_contract() {
    let s = Setup::new();
    let (status, body) = s.connect("alice.bsky.social", "wrong-password");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (422, Some("invalid_credentials"))
    );
    assert!(body["message"].as_str().unwrap().contains("App Password"));

    s.fake.account_mut(ALICE_DID, |a| a.auth_factor = true);
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (422, Some("auth_factor_required"))
    );

    s.fake.account_mut(ALICE_DID, |a| {
        a.auth_factor = false;
        a.takedown = true;
    });
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (422, Some("account_unavailable"))
    );

    s.fake.account_mut(ALICE_DID, |a| {
        a.takedown = false;
        a.inactive_status = Some("deactivated".into());
    });
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (422, Some("account_unavailable"))
    );
    assert!(body["message"].as_str().unwrap().contains("deactivated"));
    assert!(
        s.stored().is_none(),
        "nothing stored for an inactive account"
    );
}

#[test]
fn a_pasted_app_password_with_spaces_around_still_logs_in() {
    for pasted in [
        " aaaa-bbbb-cccc-dddd",
        "aaaa-bbbb-cccc-dddd\n ",
        "\u{200B}aaaa-bbbb-cccc-dddd",
    ] {
        let s = Setup::new();
        let (status, body) = s.connect("alice.bsky.social", pasted);
        assert_eq!(status, 200, "{pasted:?}: {body}");
        assert_eq!(body["data"]["accounts"][0]["accountId"], ALICE_DID);
    }
    // Nothing but invisible characters is no password: refused before anything is called.
    let s = Setup::new();
    let (status, body) = s.connect("alice.bsky.social", "\u{FEFF}\u{200B}");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["data"]["code"], "validation_failed");
    assert!(body["data"]["errors"]["appPassword"].is_array(), "{body}");
    assert!(s.fake.calls().is_empty(), "the password went nowhere");
}

#[test]
fn a_malformed_plc_did_is_called_malformed() {
    let s = Setup::new();
    let (status, body) = s.connect("did:plc:abc", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("malformed"), "{message}");
    assert!(!message.contains("not a Bluesky DID"), "{message}");
    assert!(s.fake.calls().is_empty());
}

#[test]
fn unknown_handle_and_bare_username() {
    let s = Setup::new();
    let (status, body) = s.connect("nobody.bsky.social", "x");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (422, Some("invalid_credentials"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("nobody.bsky.social")
    );

    let (status, body) = s.connect("alice", "x");
    assert_eq!(status, 400);
    assert_eq!(body["data"]["code"], "validation_failed");
    let message = body["data"]["errors"]["identifier"][0].as_str().unwrap();
    assert!(message.contains("alice.bsky.social"), "{message}");
    assert!(
        s.fake.calls().len() == 1,
        "the bare name never reached Bluesky"
    );
}

#[test]
fn rate_limits_and_outages_during_login() {
    let s = Setup::new();
    let reset = (hayon_guest::testing::TEST_START.unix() + 90).to_string();
    let limited = error(429, "RateLimitExceeded", "Rate Limit Exceeded")
        .with_header("RateLimit-Limit", "30")
        .with_header("RateLimit-Remaining", "0")
        .with_header("RateLimit-Reset", &reset)
        .with_header("RateLimit-Policy", "30;w=300");
    s.fake.inject("createSession", limited);
    let body = json!({ "identifier": "alice.bsky.social", "appPassword": "aaaa-bbbb-cccc-dddd" });
    let response = s.request("POST", "connect", Some(body.clone()));
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("90"));

    s.fake.inject(
        "createSession",
        OutboundResponse::with_body(502, "text/html", "<html>Bad Gateway</html>"),
    );
    let response = s.request("POST", "connect", Some(body.clone()));
    assert_eq!(response.status, 502);

    s.fake
        .inject("resolveHandle", error(503, "NotEnoughResources", "busy"));
    let response = s.request("POST", "connect", Some(body.clone()));
    assert_eq!(response.status, 502);

    s.fake.inject(
        "createSession",
        OutboundResponse::with_body(200, "application/json", "{\"accessJwt\":"),
    );
    let response = s.request("POST", "connect", Some(body));
    assert_eq!(response.status, 502);
    assert!(s.stored().is_none());
}

#[test]
fn a_profile_outage_at_connect_still_connects() {
    let s = Setup::new();
    s.fake
        .inject("getProfile", error(502, "UpstreamFailure", "appview down"));
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["accounts"][0]["handle"], "alice.bsky.social");
    assert_eq!(body["data"]["accounts"][0]["displayName"], Value::Null);
}

#[test]
fn status_lists_stored_accounts_without_tokens() {
    let s = Setup::new();
    let (status, body) = s.get("status");
    assert_eq!((status, &body["data"]), (200, &json!({"accounts": []})));
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    let (status, body) = s.get("status");
    assert_eq!(status, 200);
    assert_eq!(body["data"]["accounts"].as_array().unwrap().len(), 1);
    assert_no_tokens(&body);
}

#[test]
fn refresh_rotates_the_session_and_rereads_the_profile() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    let before = s.stored_refresh_token();
    s.fake.account_mut(ALICE_DID, |a| {
        a.display_name = None;
        a.avatar = None;
        a.handle = "alice.example.com".into();
    });
    s.test.clock.advance(3600);

    let (status, body) = s.get("refresh");
    assert_eq!(status, 200, "{body}");
    let account = &body["data"]["accounts"][0];
    assert_eq!(account["handle"], "alice.example.com");
    assert_eq!(account["displayName"], Value::Null);
    assert_eq!(account["refreshedAt"], "2026-08-20T13:00:00Z");
    assert_eq!(account["connectedAt"], "2026-08-20T12:00:00Z");
    assert_no_tokens(&body);

    let after = s.stored_refresh_token();
    assert_ne!(before, after);
    assert!(s.fake.refresh_token_live(&after));
    s.fake.with(|state| {
        assert_eq!(
            state.refresh_auth.last().unwrap(),
            &format!("Bearer {before}")
        );
        assert!(
            state.refresh_bodies.iter().all(Vec::is_empty),
            "refresh JWT in the header only"
        );
    });
}

#[test]
fn an_expired_access_token_is_refreshed_and_retried_once() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    // The next issued access token is already expired: getProfile answers 400 ExpiredToken.
    s.fake.with(|state| state.expire_next_access = true);
    let (status, body) = s.get("refresh");
    assert_eq!(status, 200, "{body}");
    let refreshes = s
        .fake
        .calls()
        .iter()
        .filter(|c| c.contains("refreshSession"))
        .count();
    assert_eq!(refreshes, 2);
}

#[test]
fn concurrent_refreshes_keep_the_winners_session() {
    // Rotation with no grace window: the loser's old token is refused upstream too.
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    s.fake.with(|state| state.grace = false);

    // The rival refresh runs to completion after we read the record and just before
    // Bluesky sees our refreshSession.
    let rival_env = s.env();
    let rival_result = std::rc::Rc::new(std::cell::RefCell::new(None));
    let slot = rival_result.clone();
    s.fake.before_next_refresh(move || {
        let user = UserId::parse("u1").unwrap();
        *slot.borrow_mut() = Some(Bluesky::refresh(&rival_env, &user).map(|a| a.len()));
    });
    let (status, body) = s.get("refresh");
    assert_eq!(
        status, 200,
        "the loser succeeds with the winner's session: {body}"
    );
    assert_eq!(rival_result.borrow().clone(), Some(Ok(1)));

    let stored = s.stored_refresh_token();
    assert!(
        s.fake.refresh_token_live(&stored),
        "the stored session is the live one"
    );
    assert_eq!(s.stored().unwrap()["accounts"][0]["status"], "active");
}

#[test]
fn a_refresh_that_loses_the_write_does_not_overwrite_the_winner() {
    // With the grace window both rotations succeed upstream; only one may be stored.
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    let rival_env = s.env();
    let racing = InterleavedStore::new(s.test.store.clone(), move || {
        let user = UserId::parse("u1").unwrap();
        assert!(Bluesky::refresh(&rival_env, &user).is_ok());
    });
    let mut env = s.test.env_with_store(racing);
    env.outbound = Box::new(s.fake.outbound());
    let user = UserId::parse("u1").unwrap();
    let accounts = Bluesky::refresh(&env, &user).unwrap();
    assert_eq!(accounts.len(), 1);

    // Two rotations happened upstream: ours issued token 2, the rival's token 3 and stored
    // it first. Ours must not replace it.
    let rotations = s
        .fake
        .calls()
        .iter()
        .filter(|c| c.contains("refreshSession"))
        .count();
    assert_eq!(rotations, 2);
    let stored = s.stored_refresh_token();
    assert!(
        stored.starts_with("refresh-3-"),
        "the rival's rotation is kept: {stored}"
    );
    assert!(s.fake.refresh_token_live(&stored));
}

#[test]
fn a_losers_reconnect_mark_does_not_survive_the_winners_rotation() {
    // No grace window. We rotate first upstream; before we store the new pair, a rival
    // refresh with the same (now rotated-out) token is refused and marks the account.
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    s.fake.with(|state| state.grace = false);
    let rival_env = s.env();
    let racing = InterleavedStore::new(s.test.store.clone(), move || {
        let user = UserId::parse("u1").unwrap();
        let error = Bluesky::refresh(&rival_env, &user).unwrap_err();
        assert_eq!(error.code(), "reconnect_required");
    });
    let mut env = s.test.env_with_store(racing);
    env.outbound = Box::new(s.fake.outbound());
    let accounts = Bluesky::refresh(&env, &UserId::parse("u1").unwrap()).unwrap();
    assert_eq!(accounts[0].status, hayon_guest::AccountStatus::Active);

    let (_, body) = s.get("status");
    assert_eq!(body["data"]["accounts"][0]["status"], "active");
    assert!(s.fake.refresh_token_live(&s.stored_refresh_token()));
    let (status, _) = s.get("refresh");
    assert_eq!(status, 200, "the stored session keeps working");
}

#[test]
fn dead_refresh_token_marks_the_account() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    s.fake.revoke_all(ALICE_DID);
    let (status, body) = s.get("refresh");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (409, Some("reconnect_required"))
    );
    let (_, body) = s.get("status");
    assert_eq!(body["data"]["accounts"][0]["status"], "reconnect_required");

    let calls = s.fake.calls().len();
    let (status, _) = s.get("refresh");
    assert_eq!(status, 409);
    assert_eq!(
        s.fake.calls().len(),
        calls,
        "no upstream call for a dead account"
    );

    // Connecting again brings it back.
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200);
    assert_eq!(body["data"]["accounts"][0]["status"], "active");
}

#[test]
fn reconnecting_replaces_the_account_and_ends_the_old_session() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    let old = s.stored_refresh_token();
    s.test.clock.advance(60);
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["accounts"][0]["connectedAt"],
        "2026-08-20T12:00:00Z"
    );
    assert!(
        !s.fake.refresh_token_live(&old),
        "the replaced session was ended"
    );
    assert!(s.fake.refresh_token_live(&s.stored_refresh_token()));

    // Another account replaces Alice's for this user.
    let (status, body) = s.connect("carol.example.org", "carol-app-pass");
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["accounts"][0]["connectedAt"],
        "2026-08-20T12:01:00Z"
    );
    let (_, body) = s.get("status");
    let accounts = body["data"]["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["accountId"], CAROL_DID);
}

#[test]
fn takedown_on_refresh_is_reconnect_required() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    s.fake.account_mut(ALICE_DID, |a| a.takedown = true);
    let (status, body) = s.get("refresh");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (409, Some("reconnect_required"))
    );
    assert!(body["message"].as_str().unwrap().contains("taken down"));
}

#[test]
fn transient_refresh_failures_leave_the_account_untouched() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    let before = s.stored_raw();
    let failures = [
        OutboundResponse::with_body(
            502,
            "text/html",
            "<html><body>502 Bad Gateway</body></html>",
        ),
        error(502, "UpstreamFailure", "upstream failed"),
        error(429, "RateLimitExceeded", "slow down").with_header("Retry-After", "20"),
        OutboundResponse::with_body(500, "text/plain", ""),
    ];
    let expected = [502, 502, 429, 502];
    for (failure, status) in failures.into_iter().zip(expected) {
        s.fake.inject("refreshSession", failure);
        let response = s.request("GET", "refresh", None);
        assert_eq!(response.status, status);
        assert_eq!(s.stored_raw(), before, "account untouched after {status}");
    }
}

#[test]
fn refresh_of_nothing_is_not_connected() {
    let s = Setup::new();
    let (status, body) = s.get("refresh");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (404, Some("not_connected"))
    );
}

#[test]
fn disconnect_ends_the_session_and_deletes_ours() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    let token = s.stored_refresh_token();
    let response = s.request("DELETE", "disconnect", None);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        body["data"],
        json!({"removed": 1, "revoked": true, "revocationProblem": null})
    );
    assert!(!s.fake.refresh_token_live(&token));
    assert!(s.stored().is_none());
    s.fake.with(|state| {
        assert_eq!(
            state.refresh_auth.last().unwrap(),
            &format!("Bearer {token}")
        )
    });

    let response = s.request("DELETE", "disconnect", None);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["data"]["removed"], 0);
}

#[test]
fn disconnect_deletes_ours_even_when_bluesky_fails() {
    let s = Setup::new();
    s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    s.fake.inject(
        "deleteSession",
        OutboundResponse::with_body(503, "text/html", "<html/>"),
    );
    let response = s.request("DELETE", "disconnect", None);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(body["data"]["revoked"], false);
    assert!(
        body["data"]["revocationProblem"]
            .as_str()
            .unwrap()
            .contains("App Password")
    );
    assert!(s.stored().is_none());
}

#[test]
fn no_sealing_key_refuses_before_logging_in() {
    let s = Setup::new();
    s.test.config_set("token_encryption_key", "not a key");
    let (status, body) = s.connect("alice.bsky.social", "aaaa-bbbb-cccc-dddd");
    assert_eq!(
        (status, body["data"]["code"].as_str()),
        (503, Some("not_configured"))
    );
    // People are told plainly; the variable and the reason are for the operator's log.
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("not configured correctly"), "{message}");
    assert!(!message.contains("TOKEN_ENCRYPTION_KEY"), "{message}");
    assert!(s.fake.calls().is_empty(), "the password went nowhere");
    assert!(s.stored().is_none());
}

#[test]
fn callback_is_not_a_bluesky_route() {
    let s = Setup::new();
    let response = s.request("GET", "callback", None);
    assert_eq!(response.status, 404);
}

#[test]
fn the_typed_interface_runs_the_same_code() {
    let s = Setup::new();
    let info = typed::describe::<Bluesky>();
    assert_eq!(
        (info.id.as_str(), info.name.as_str()),
        ("bluesky", "Bluesky")
    );

    let credentials = hayon_guest::bindings::exports::hayon::connector::connector::Credentials {
        identifier: "@alice.bsky.social".into(),
        password: "aaaa-bbbb-cccc-dddd".into(),
    };
    let outcome = typed::begin_in::<Bluesky>(&s.env(), "u1".into(), Some(credentials)).unwrap();
    let hayon_guest::bindings::exports::hayon::connector::connector::BeginOutcome::Connected(
        accounts,
    ) = outcome
    else {
        panic!("expected connected");
    };
    assert_eq!(accounts[0].account_id, ALICE_DID);

    // Visible over HTTP too.
    let (_, body) = s.get("status");
    assert_eq!(body["data"]["accounts"][0]["accountId"], ALICE_DID);

    let status = typed::status_in::<Bluesky>(&s.env(), "u1".into()).unwrap();
    assert_eq!(status.len(), 1);
    let error = typed::begin_in::<Bluesky>(&s.env(), "u1".into(), None).unwrap_err();
    assert_eq!(error.fields[0].field, "identifier");
    let error = typed::status_in::<Bluesky>(&s.env(), "../x".into()).unwrap_err();
    assert_eq!(error.fields[0].field, "user");
    let callback = typed::complete_in::<Bluesky>(&s.env(), "code=x".into()).unwrap_err();
    assert!(
        callback.message.contains("no callback"),
        "{}",
        callback.message
    );

    let outcome = typed::disconnect_in::<Bluesky>(&s.env(), "u1".into()).unwrap();
    assert_eq!((outcome.removed, outcome.revoked), (1, true));
}
