//! Guards that every connector component stays runnable on Spin 4 and on any WASI host.
//!
//! Spin 4.0 links WASI 0.2 (`http`, `io`, `clocks`, `random`, `cli`), `wasi:keyvalue`
//! draft2 and `wasi:config` draft-2024-09-27 natively. A component importing anything else
//! (a `fermyon:spin/*` interface, `wasi:filesystem`, sockets, another draft of key-value)
//! would fail to instantiate there, so this test reads each built component listed in
//! `spin.toml` and checks its imports against that set, and its exports against what the
//! HTTP trigger and embedders need.

use hayon_e2e::{ensure_components_built, manifest_path};
use hayon_host::manifest::Manifest;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The interfaces Spin 4.0 links that a connector may import, as `(package, interface,
/// version prefix)`.
const ALLOWED_IMPORTS: &[(&str, &[&str], &str)] = &[
    ("wasi:http", &["types", "outgoing-handler"], "0.2."),
    ("wasi:io", &["error", "poll", "streams"], "0.2."),
    ("wasi:clocks", &["monotonic-clock", "wall-clock"], "0.2."),
    (
        "wasi:random",
        &["random", "insecure", "insecure-seed"],
        "0.2.",
    ),
    (
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
        "0.2.",
    ),
    (
        "wasi:keyvalue",
        &["store", "atomics", "batch"],
        "0.2.0-draft2",
    ),
    ("wasi:config", &["store"], "0.2.0-draft-2024-09-27"),
];

/// Splits `wasi:http/types@0.2.6` into `("wasi:http", "types", "0.2.6")`.
fn split_name(name: &str) -> Option<(&str, &str, &str)> {
    let (path, version) = name.split_once('@')?;
    let (package, interface) = path.split_once('/')?;
    Some((package, interface, version))
}

fn import_allowed(name: &str) -> bool {
    let Some((package, interface, version)) = split_name(name) else {
        return false;
    };
    ALLOWED_IMPORTS
        .iter()
        .any(|(allowed_package, interfaces, version_prefix)| {
            *allowed_package == package
                && interfaces.contains(&interface)
                && version.starts_with(version_prefix)
        })
}

#[test]
fn the_import_rule_itself_rejects_what_spin_cannot_link() {
    assert!(import_allowed("wasi:keyvalue/store@0.2.0-draft2"));
    assert!(import_allowed("wasi:http/outgoing-handler@0.2.6"));
    assert!(!import_allowed("wasi:keyvalue/store@0.2.0-draft"));
    assert!(!import_allowed("wasi:config/store@0.2.0-rc.1"));
    assert!(!import_allowed("fermyon:spin/key-value@2.0.0"));
    assert!(!import_allowed("wasi:filesystem/types@0.2.6"));
    assert!(!import_allowed("wasi:sockets/tcp@0.2.6"));
    assert!(!import_allowed("wasi:http/handler@0.3.0-rc-2026-01-06"));
    assert!(!import_allowed("hayon:connector/connector@0.1.0"));
}

#[test]
fn every_component_imports_only_what_spin_links_and_exports_both_interfaces() {
    ensure_components_built();
    let manifest = Manifest::load(&manifest_path()).expect("spin.toml parses");
    assert!(
        !manifest.components.is_empty(),
        "spin.toml lists no component"
    );

    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).expect("engine");

    for (id, component) in &manifest.components {
        let bytes = std::fs::read(&component.source)
            .unwrap_or_else(|e| panic!("{id}: reading {}: {e}", component.source.display()));
        let size_kib = bytes.len() / 1024;
        let loaded = Component::new(&engine, &bytes)
            .unwrap_or_else(|e| panic!("{id}: not a valid component: {e:#}"));
        let ty = loaded.component_type();

        let imports: Vec<String> = ty
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let refused: Vec<&String> = imports.iter().filter(|n| !import_allowed(n)).collect();
        assert!(
            refused.is_empty(),
            "{id}: imports that Spin 4 does not link: {refused:?} (all imports: {imports:?})"
        );
        assert!(
            imports
                .iter()
                .any(|n| n.starts_with("wasi:keyvalue/store@0.2.0-draft2")),
            "{id}: does not import wasi:keyvalue/store draft2; imports: {imports:?}"
        );

        let exports: Vec<String> = ty
            .exports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        assert!(
            exports
                .iter()
                .any(|n| n.starts_with("wasi:http/incoming-handler@0.2.")),
            "{id}: does not export wasi:http/incoming-handler@0.2.x; exports: {exports:?}"
        );
        assert!(
            exports
                .iter()
                .any(|n| n == "hayon:connector/connector@0.1.0"),
            "{id}: does not export hayon:connector/connector@0.1.0; exports: {exports:?}"
        );
        eprintln!(
            "{id}: {size_kib} KiB, {} imports, exports {exports:?}",
            imports.len()
        );
    }
}
