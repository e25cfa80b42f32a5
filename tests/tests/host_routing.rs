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

/// Sends the head of a POST that announces `length` body bytes and only the first one,
/// then keeps the connection open: a slow upload.
async fn start_slow_upload(host: &TestHost, path: &str, length: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(host.addr()).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n{{",
        host.addr()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn slow_uploads_hold_no_instance() {
    // One instance slot: before the fix the upload took it while the guest waited for
    // the body, and every other request was refused as "busy".
    let host = TestHost::builder().max_instances(1).start().await;
    let _slow = start_slow_upload(&host, "/api/platform/bluesky/connect", 100).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let token = host.mint_token("user-1");
    let (status, _, body) = host.get("/api/platform/bluesky/status", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused() {
    use tokio::io::AsyncReadExt as _;
    let host = TestHost::builder()
        .body_read_timeout(std::time::Duration::from_millis(300))
        .start()
        .await;
    let mut slow = start_slow_upload(&host, "/api/platform/bluesky/connect", 100).await;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("}}") {
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), slow.read(&mut chunk))
            .await
            .expect("the host answers once the body read timeout passed")
            .unwrap();
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"validation_failed\""), "{answer}");
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_by_the_host() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = TestHost::start(&[]).await;
    let token = host.mint_token("user-1");
    let big = format!("{{\"handle\":\"{}\"}}", "a".repeat(70 * 1024));
    let response = host
        .client()
        .post(host.url("/api/platform/bluesky/connect"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["data"]["code"], "payload_too_large");

    // Without a Content-Length: the limit holds while reading.
    let mut stream = tokio::net::TcpStream::connect(host.addr()).await.unwrap();
    let head = format!(
        "POST /api/platform/bluesky/connect HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        host.addr(),
        big.len()
    );
    // The host may answer before reading everything; a write error is fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
}
