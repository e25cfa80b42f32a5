//! Start-up and restart of the host on the real `spin.toml`.

use hayon_e2e::TestHost;
use hayon_host::keyvalue::KvBackend;
use hayon_host::keyvalue::redb_store::RedbStore;

#[tokio::test]
async fn a_missing_required_variable_stops_start_up_and_is_named() {
    let result = TestHost::builder()
        .skip_build()
        .without("access_token_secret")
        .try_start()
        .await;
    let Err(error) = result else {
        panic!("the host started without access_token_secret");
    };
    let message = format!("{error:#}");
    assert!(message.contains("access_token_secret"), "{message}");
    assert!(message.contains("ACCESS_TOKEN_SECRET"), "{message}");
    assert!(
        message.contains("SPIN_VARIABLE_ACCESS_TOKEN_SECRET"),
        "{message}"
    );
}

#[tokio::test]
async fn an_empty_secret_or_a_malformed_encryption_key_stops_start_up_and_is_named() {
    for (name, value) in [
        ("access_token_secret", ""),
        ("token_encryption_key", "not-a-key-but-a-secret"),
        (
            "token_encryption_key",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
        ),
    ] {
        let result = TestHost::builder()
            .skip_build()
            .var(name, value)
            .try_start()
            .await;
        let Err(error) = result else {
            panic!("the host started with {name} = {value:?}");
        };
        let message = format!("{error:#}");
        assert!(message.contains(name), "{message}");
        assert!(!message.contains("not-a-key-but-a-secret"), "{message}");
    }
}

#[tokio::test]
async fn base_urls_that_are_not_absolute_http_stop_start_up_and_are_named() {
    for (name, value) in [
        ("frontend_url", "app.example.com"),
        ("frontend_url", "https://app.example.com/?x=1"),
        ("public_base_url", "https://api.example.com/#top"),
        ("public_base_url", "ftp://api.example.com"),
    ] {
        let result = TestHost::builder()
            .skip_build()
            .var(name, value)
            .try_start()
            .await;
        let Err(error) = result else {
            panic!("the host started with {name} = {value:?}");
        };
        let message = format!("{error:#}");
        assert!(message.contains(name), "{message}");
    }
}

#[tokio::test]
async fn a_bad_outbound_host_variable_stops_start_up() {
    let result = TestHost::builder()
        .skip_build()
        .var("bluesky_service_url", "bsky.social")
        .try_start()
        .await;
    let Err(error) = result else {
        panic!("the host started with an allowed host that has no scheme");
    };
    let message = format!("{error:#}");
    assert!(message.contains("bluesky_service_url"), "{message}");
}

#[tokio::test]
async fn restart_reuses_the_data_directory_and_shutdown_closes_the_database() {
    let mut host = TestHost::start(&[]).await;
    let token = host.mint_token("user-1");
    let (status, _, body) = host.get("/api/platform/bluesky/status", Some(&token)).await;
    assert_eq!(status, 200, "{body}");

    // While the host is down its database is closed, so it can be opened here (redb
    // refuses a second open of a file that is in use).
    host.shutdown().await;
    let path = host.data_dir().join(hayon_host::KV_FILE);
    {
        let store = RedbStore::open(&path).expect("the database is closed after shutdown");
        store
            .set("default", "e2e/marker", b"kept")
            .expect("writable");
    }

    host.restart().await;
    let (status, _, body) = host.get("/api/platform/bluesky/status", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    host.shutdown().await;
    let store = RedbStore::open(&path).expect("closed again");
    assert_eq!(
        store
            .get("default", "e2e/marker")
            .expect("readable")
            .as_deref(),
        Some(&b"kept"[..])
    );
}
