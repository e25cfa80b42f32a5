//! The host's own behaviour around the components: routing, the 404 envelope, and the
//! health and metrics endpoints, on the real `spin.toml`.

use hayon_e2e::TestHost;
use serde_json::json;

#[tokio::test]
async fn unknown_paths_get_the_not_found_envelope() {
    let host = TestHost::start(&[]).await;
    for path in [
        "/",
        "/api",
        "/api/platform/nowhere/status",
        "/api/platform/blueskyx",
    ] {
        let (status, headers, body) = host.get(path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(headers["content-type"], "application/json", "{path}");
        assert_eq!(body["success"], false, "{path}");
        assert_eq!(body["data"], json!({ "code": "not_found" }), "{path}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_component_route_reaches_the_component() {
    let host = TestHost::start(&[]).await;
    // No bearer token: the connector (not the host) answers with its 401 envelope.
    let (status, _, body) = host.get("/api/platform/bluesky/status", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["data"]["code"], "unauthorized");

    let token = host.mint_token("user-1");
    let (status, _, body) = host.get("/api/platform/bluesky/status", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["accounts"], json!([]));
}

#[tokio::test]
async fn healthz_lists_the_components() {
    let host = TestHost::start(&[]).await;
    let (status, _, body) = host.get("/healthz", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let components = body["data"]["components"].as_array().expect("a list");
    assert!(components.contains(&json!("bluesky")), "{body}");

    let (status, headers, body) = host.post("/healthz", None, json!({})).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn metrics_count_requests_by_component_and_status_class() {
    let host = TestHost::start(&[]).await;
    let token = host.mint_token("user-1");
    host.get("/api/platform/bluesky/status", Some(&token)).await;
    host.get("/api/platform/bluesky/status", None).await;
    host.get("/nowhere", None).await;

    let (status, text) = host.get_text("/metrics").await;
    assert_eq!(status, 200);
    let value = |line_start: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line_start:?} in\n{text}"))
    };
    assert_eq!(
        value("hayon_requests_total{component=\"bluesky\",status_class=\"2xx\"}"),
        1
    );
    assert_eq!(
        value("hayon_requests_total{component=\"bluesky\",status_class=\"4xx\"}"),
        1
    );
    assert_eq!(
        value("hayon_request_duration_seconds_count{component=\"bluesky\"}"),
        2
    );
    assert_eq!(
        value("hayon_instantiations_total{component=\"bluesky\"}"),
        2
    );
    assert_eq!(value("hayon_traps_total{component=\"bluesky\"}"), 0);
    assert_eq!(value("hayon_unrouted_requests_total"), 1);
}
