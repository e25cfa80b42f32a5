//! `allowed_outbound_hosts` enforced on a real component: the Bluesky connector may call
//! its configured service and PLC directory, and the PDS hosts its `bluesky_pds_hosts`
//! variable allows. With the default (`https://*:443`), the test double's PDS, plain
//! HTTP on a loopback port, is not allowed: the host must refuse those calls.

use hayon_double_atproto::{Account, AtprotoDouble};
use hayon_e2e::TestHost;
use serde_json::json;

async fn denied_count(host: &TestHost) -> u64 {
    let (_, text) = host.get_text("/metrics").await;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("hayon_outbound_denied_total{component=\"bluesky\"}")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no outbound counter in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_outside_the_allow_list_are_refused() {
    let double = AtprotoDouble::start().await.expect("start the double");
    double.add_account(Account::new("alice.test", "main-pw").app_password("abcd-efgh-ijkl-mnop"));
    let host = TestHost::start(&[
        ("bluesky_service_url", double.entryway_url()),
        ("bluesky_plc_url", double.plc_url()),
        // `bluesky_pds_hosts` keeps its default, https://*:443.
    ])
    .await;
    let token = host.mint_token("user-1");

    let body = json!({ "identifier": "alice.test", "appPassword": "abcd-efgh-ijkl-mnop" });
    let (status, _, reply) = host
        .post("/api/platform/bluesky/connect", Some(&token), body)
        .await;
    assert!(
        status >= 500,
        "connect must fail when the PDS is unreachable: {status} {reply}"
    );
    assert!(denied_count(&host).await >= 1);

    // The same flow with the double's PDS allowed goes through.
    let host = TestHost::start(&[
        ("bluesky_service_url", double.entryway_url()),
        ("bluesky_plc_url", double.plc_url()),
        ("bluesky_pds_hosts", double.pds_url()),
    ])
    .await;
    let token = host.mint_token("user-1");
    let body = json!({ "identifier": "alice.test", "appPassword": "abcd-efgh-ijkl-mnop" });
    let (status, _, reply) = host
        .post("/api/platform/bluesky/connect", Some(&token), body)
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(denied_count(&host).await, 0);
}
