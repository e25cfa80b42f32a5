//! Hot swap: a changed component file is compiled off the request path and swapped in;
//! a file that does not load leaves the previous version serving.

use std::path::Path;
use std::time::{Duration, Instant};

use hayon_e2e::{TestHost, ensure_components_built, manifest_path};
use hayon_host::manifest::Manifest;

/// Copies the project's manifest and the component files it names into `dir`.
fn copy_application(dir: &Path) {
    let manifest = Manifest::load(&manifest_path()).expect("the project manifest");
    std::fs::copy(manifest_path(), dir.join("spin.toml")).expect("copy the manifest");
    for component in manifest.components.values() {
        let relative = component
            .source
            .strip_prefix(&manifest.dir)
            .expect("sources are inside the project");
        let target = dir.join(relative);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(&component.source, &target).expect("copy a component");
    }
}

/// Waits (at most 30 s) until the named bluesky counter reaches `at_least`.
async fn wait_for_counter(host: &TestHost, name: &str, at_least: u64) {
    let prefix = format!("{name}{{component=\"bluesky\"}}");
    let started = Instant::now();
    loop {
        let (_, text) = host.get_text("/metrics").await;
        let value: u64 = text
            .lines()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
        if value >= at_least {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name} stayed at {value}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_component_is_swapped_and_a_broken_one_is_not() {
    ensure_components_built();
    let app = tempfile::tempdir().expect("temp dir");
    copy_application(app.path());
    let wasm = app
        .path()
        .join("target/wasm32-wasip2/component/hayon_bluesky.wasm");
    let good = std::fs::read(&wasm).expect("read the component");

    let host = TestHost::builder()
        .skip_build()
        .manifest(&app.path().join("spin.toml"))
        .watch_components(true)
        .start()
        .await;
    let token = host.mint_token("user-1");
    let status = "/api/platform/bluesky/status";
    assert_eq!(host.get(status, Some(&token)).await.0, 200);

    std::fs::write(&wasm, b"this is not a component").expect("break the file");
    wait_for_counter(&host, "hayon_reload_failures_total", 1).await;
    let (code, _, body) = host.get(status, Some(&token)).await;
    assert_eq!(code, 200, "the previous version keeps serving: {body}");

    std::fs::write(&wasm, &good).expect("restore the file");
    wait_for_counter(&host, "hayon_reloads_total", 1).await;
    let (code, _, body) = host.get(status, Some(&token)).await;
    assert_eq!(code, 200, "{body}");
}
