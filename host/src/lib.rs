//! The Hayon host: serves the connector components listed in `spin.toml`.
//!
//! It reads the same manifest Spin does and gives each component what Spin would:
//! HTTP on its routes (`wasi:http`), key-value storage (`wasi:keyvalue` draft2) in an
//! embedded database under the data directory, configuration (`wasi:config`) from the
//! manifest's variables, and outbound HTTP limited to the component's
//! `allowed_outbound_hosts`.
//!
//! How the pieces fit:
//! - [`manifest`] parses and checks `spin.toml` ([`template`], [`routes`] help it);
//! - [`variables`] resolves `[variables]` from options, environment and defaults;
//! - [`runtime`] compiles components and runs one instance per request, within time and
//!   memory limits;
//! - [`keyvalue`], [`config_store`] and [`outbound`] are the host capabilities;
//!   [`runtime_config`] reads Spin's runtime-config file (key-value stores in Redis or a
//!   file);
//! - `server` accepts HTTP, routes, and answers `/healthz` and `/metrics` ([`metrics`]);
//! - [`component_build`] builds stale components before serving them;
//! - [`embed`] lets other programs call a connector's typed `connector` export directly;
//! - [`token`] and [`dev`] help people try the API locally.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use hayon_host::{HostOptions, start};
//! let mut options = HostOptions::new("spin.toml".into(), "./data".into());
//! options.use_process_env = true;
//! let host = start(options).await?;
//! println!("listening on {}", host.local_addr());
//! host.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod component_build;
pub mod config_store;
pub mod dev;
pub mod embed;
pub mod keyvalue;
pub mod manifest;
pub mod metrics;
pub mod outbound;
pub mod routes;
pub mod runtime;
pub mod runtime_config;
mod server;
pub mod template;
pub mod token;
pub mod variables;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

pub use component_build::build_components;
use keyvalue::KvBackend;
use keyvalue::config::KeyValueConfig;
use keyvalue::wasi::KvAccess;
use manifest::Manifest;
use metrics::Metrics;
use outbound::client::{OutboundClient, OutboundOptions};
use runtime::{ComponentRuntime, ComponentSetup, EngineOptions, Runtime};
use variables::{ResolvedVariables, VariableSources};

/// The key-value database file under the data directory.
pub const KV_FILE: &str = "kv.redb";

/// The default deadline of one request: 60 s.
///
/// It must exceed the longest flow a guest runs: the connectors make up to five
/// sequential outbound calls per request (a Bluesky refresh resolves the PDS, refreshes,
/// rotates the token and saves it), each with its own budget of up to 15 s. A deadline
/// shorter than that sum (the former 30 s) can stop a guest between rotating a
/// single-use refresh token and storing the new one, which disconnects the account.
/// The guests' per-call budgets keep a slow platform from using the whole minute.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The default time a client has to send its request body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest `access_token_secret` that does not draw a start-up warning, in bytes.
pub const MIN_ACCESS_TOKEN_SECRET_BYTES: usize = 32;

/// How to run a host. [`HostOptions::new`] gives the defaults.
pub struct HostOptions {
    /// The `spin.toml` to serve.
    pub manifest_path: PathBuf,
    /// Where to listen; port 0 picks a free port (see [`RunningHost::local_addr`]).
    pub listen: SocketAddr,
    /// An already bound listener to use instead of binding `listen`.
    pub listener: Option<std::net::TcpListener>,
    /// Directory for the key-value database (created if missing).
    pub data_dir: PathBuf,
    /// Variable values that win over everything else, by lower-case name.
    pub variables: BTreeMap<String, String>,
    /// Variable values used when neither `variables` nor the environment has one
    /// (`--dev` puts its generated secrets here).
    pub fallback_variables: BTreeMap<String, String>,
    /// Whether to read `SPIN_VARIABLE_<NAME>` / `<NAME>` from the environment.
    /// Off by default, so that tests are not affected by the machine they run on.
    pub use_process_env: bool,
    /// Longest time one request may take, guest and outbound calls included. See
    /// [`DEFAULT_REQUEST_TIMEOUT`] for why the default is what it is.
    pub request_timeout: Duration,
    /// Longest time a client may take to send a request body; a later body is a 400.
    pub body_read_timeout: Duration,
    /// Memory one component instance may use, in bytes.
    pub memory_limit: usize,
    /// Component instances that may run at once; more concurrent requests get a 500
    /// `internal` with `Retry-After: 1`.
    pub max_instances: u32,
    /// Limits for outbound requests.
    pub outbound: OutboundOptions,
    /// Directory for caching compiled components across runs, if any.
    pub compile_cache: Option<PathBuf>,
    /// Whether to reload a component when its `.wasm` file changes.
    pub watch_components: bool,
    /// How long shutdown waits for open requests to finish.
    pub drain_timeout: Duration,
    /// Where the key-value stores live: by default every label in [`KV_FILE`] in the data
    /// directory; Redis for several host processes sharing state.
    pub key_value: KeyValueConfig,
}

impl HostOptions {
    /// Defaults: listen on 127.0.0.1:3000, [`DEFAULT_REQUEST_TIMEOUT`] per request, 10 s
    /// for a request body, 64 MiB per instance, 256 instances at once, no environment, no
    /// compile cache, no file watching.
    pub fn new(manifest_path: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            manifest_path,
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            listener: None,
            data_dir,
            variables: BTreeMap::new(),
            fallback_variables: BTreeMap::new(),
            use_process_env: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            memory_limit: 64 << 20,
            max_instances: 256,
            outbound: OutboundOptions::default(),
            compile_cache: None,
            watch_components: false,
            drain_timeout: Duration::from_secs(10),
            key_value: KeyValueConfig::default(),
        }
    }
}

impl fmt::Debug for HostOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variable values may be secrets: show the names only.
        f.debug_struct("HostOptions")
            .field("manifest_path", &self.manifest_path)
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field(
                "fallback_variables",
                &self.fallback_variables.keys().collect::<Vec<_>>(),
            )
            .field("use_process_env", &self.use_process_env)
            .field("request_timeout", &self.request_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("memory_limit", &self.memory_limit)
            .field("max_instances", &self.max_instances)
            .field("key_value", &self.key_value)
            .finish_non_exhaustive()
    }
}

/// A host that is serving. Dropping it stops accepting connections; [`Self::shutdown`]
/// also waits for open requests and for the database to be closed.
pub struct RunningHost {
    local_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    backend: Option<Arc<dyn KvBackend>>,
    close_timeout: Duration,
}

impl RunningHost {
    /// The address the host listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections, lets open requests finish, and closes the database so
    /// another host can open the same data directory.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        if let Some(server) = self.server.take() {
            server.await.context("the server task failed")?;
        }
        // Instances still streaming a body hold the database; they end at their deadline.
        if let Some(backend) = self.backend.take() {
            let started = std::time::Instant::now();
            while Arc::strong_count(&backend) > 1 {
                if started.elapsed() > self.close_timeout {
                    bail!("requests were still running at shutdown; the database stays open");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tracing::info!("host stopped");
        Ok(())
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        if let Some(signal) = self.shutdown.take() {
            let _ = signal.send(());
        }
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
    }
}

/// Compiles component files into the compile cache the host serving with `options` uses,
/// and checks that the host would accept them (valid component, every import linkable, an
/// HTTP handler exported) — without serving or swapping anything.
///
/// Operators run this (`hayon-host precompile <file>`) before moving a new version into
/// place, so the running host finds it compiled and swaps it in without compiling.
/// Returns the first file the host would refuse, with the reason.
pub fn precompile(options: &HostOptions, files: &[PathBuf]) -> anyhow::Result<()> {
    let cache = options
        .compile_cache
        .clone()
        .context("no compile cache is configured, so precompiling would not help")?;
    let runtime = Runtime::new(&EngineOptions {
        memory_limit: options.memory_limit,
        max_instances: options.max_instances,
        compile_cache: Some(cache),
    })?;
    for file in files {
        runtime.prepare(file).map_err(|e| {
            anyhow::anyhow!("{} would be refused ({}): {e}", file.display(), e.reason())
        })?;
    }
    Ok(())
}

/// Reads the manifest, resolves variables, opens storage, compiles every component and
/// starts serving. Fails, without serving anything, when the manifest is invalid, a
/// required variable is missing, a component file is missing or cannot be linked, or the
/// address cannot be bound.
pub async fn start(mut options: HostOptions) -> anyhow::Result<RunningHost> {
    let manifest = Manifest::load(&options.manifest_path)?;
    let sources = VariableSources {
        overrides: std::mem::take(&mut options.variables),
        use_process_env: options.use_process_env,
        fallbacks: std::mem::take(&mut options.fallback_variables),
    };
    let variables = ResolvedVariables::resolve(&manifest, &sources)?;
    check_variables(&variables)?;

    let missing = component_build::missing_sources(&manifest);
    if let Some((id, path)) = missing.first() {
        bail!(
            "component `{id}`: {} does not exist; build it first (hayon-host builds \
             components at start unless --no-build is given)",
            path.display()
        );
    }

    let listener = match options.listener.take() {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(listener)?
        }
        None => tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?,
    };
    let local_addr = listener.local_addr()?;

    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("cannot create {}", options.data_dir.display()))?;
    let kv_config = std::mem::take(&mut options.key_value);
    let kv_dir = options.data_dir.clone();
    let kv_labels: BTreeSet<String> = manifest
        .components
        .values()
        .flat_map(|c| c.key_value_stores.iter().cloned())
        .collect();
    let backend: Arc<dyn KvBackend> = tokio::task::spawn_blocking(move || {
        keyvalue::config::open(&kv_config, &kv_dir, &kv_labels)
    })
    .await??;

    let engine_options = EngineOptions {
        memory_limit: options.memory_limit,
        max_instances: options.max_instances,
        compile_cache: options.compile_cache.clone(),
    };
    let runtime =
        Arc::new(tokio::task::spawn_blocking(move || Runtime::new(&engine_options)).await??);
    let client = OutboundClient::new(options.outbound)?;
    let metrics = Arc::new(Metrics::new(manifest.components.keys().map(String::as_str)));
    let known_labels: Arc<BTreeSet<String>> = Arc::new(
        manifest
            .components
            .values()
            .flat_map(|c| c.key_value_stores.iter().cloned())
            .collect(),
    );

    let mut components = BTreeMap::new();
    for decl in manifest.components.values() {
        let setup = ComponentSetup {
            id: decl.id.clone(),
            source: decl.source.clone(),
            environment: decl.environment.clone().into_iter().collect(),
            config: variables.component_config(decl),
            allow: variables.allow_list(decl)?,
            kv: KvAccess {
                component: Arc::from(decl.id.as_str()),
                backend: Arc::clone(&backend),
                allowed: Arc::new(decl.key_value_stores.iter().cloned().collect()),
                known: Arc::clone(&known_labels),
            },
            client: client.clone(),
            metrics: metrics
                .component(&decl.id)
                .context("metrics exist for every component")?,
        };
        let runtime_for_compile = Arc::clone(&runtime);
        let component =
            tokio::task::spawn_blocking(move || ComponentRuntime::new(&runtime_for_compile, setup))
                .await??;
        components.insert(decl.id.clone(), Arc::new(component));
    }

    let watcher = options
        .watch_components
        .then(|| spawn_watcher(Arc::clone(&runtime), components.values().cloned().collect()));

    tracing::info!(
        address = %format!("http://{local_addr}"),
        application = %manifest.name,
        components = ?components.keys().collect::<Vec<_>>(),
        pooling = runtime.pooling(),
        data_dir = %options.data_dir.display(),
        "host listening"
    );
    for (route, component) in manifest.routes.iter() {
        tracing::info!(route = %route.source(), component = %component, "route");
    }

    let state = Arc::new(server::HostState {
        runtime,
        routes: manifest.routes.clone(),
        components,
        metrics,
        memory_limit: options.memory_limit,
        request_timeout: options.request_timeout,
        body_read_timeout: options.body_read_timeout,
    });
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
    let drain = options.drain_timeout;
    let server = tokio::spawn(server::serve(listener, state, shutdown_rx, drain));

    Ok(RunningHost {
        local_addr,
        shutdown: Some(shutdown_tx),
        server: Some(server),
        watcher,
        backend: Some(backend),
        close_timeout: options.request_timeout + Duration::from_secs(1),
    })
}

/// Checks variables whose shape the host relies on: the base URLs callbacks redirect to
/// and are reached at must be absolute `http(s)` URLs without query or fragment. A short
/// `access_token_secret` only draws a warning.
fn check_variables(variables: &ResolvedVariables) -> anyhow::Result<()> {
    for name in ["frontend_url", "public_base_url"] {
        if let Some(value) = variables.get(name) {
            check_base_url(value.expose())
                .map_err(|why| anyhow::anyhow!("variable `{name}` {why}"))?;
        }
    }
    if let Some(secret) = variables.get("access_token_secret")
        && secret.expose().is_empty()
    {
        anyhow::bail!(
            "variable `access_token_secret` is empty: set ACCESS_TOKEN_SECRET (or \
             SPIN_VARIABLE_ACCESS_TOKEN_SECRET) to at least 32 random bytes"
        );
    }
    if let Some(key) = variables.get("token_encryption_key") {
        check_encryption_key(key.expose())
            .map_err(|why| anyhow::anyhow!("variable `token_encryption_key` {why}"))?;
    }
    if let Some(secret) = variables.get("access_token_secret")
        && secret.expose().len() < MIN_ACCESS_TOKEN_SECRET_BYTES
    {
        tracing::warn!(
            variable = "access_token_secret",
            min_bytes = MIN_ACCESS_TOKEN_SECRET_BYTES,
            "access_token_secret is short: HS256 secrets should be at least 32 random bytes"
        );
    }
    Ok(())
}

/// Why `value` is not a 32-byte key written as base64 (standard or URL-safe, padded or not)
/// or as 64 hex digits — the forms the connectors accept — if it is not. The message never
/// includes the value.
fn check_encryption_key(value: &str) -> Result<(), String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    let value = value.trim();
    let hex_ok = value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit());
    let base64_ok = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .any(|engine| engine.decode(value).is_ok_and(|bytes| bytes.len() == 32));
    if hex_ok || base64_ok {
        Ok(())
    } else {
        Err("must be 32 bytes written as base64 or 64 hex digits \
             (e.g. the output of `openssl rand -base64 32`)"
            .to_owned())
    }
}

/// Why `value` is not an absolute `http(s)` URL without query or fragment, if it is not.
fn check_base_url(value: &str) -> Result<(), String> {
    if value.contains(['?', '#']) {
        return Err("must not contain a query or a fragment".to_owned());
    }
    let uri: http::Uri = value
        .parse()
        .map_err(|_| "is not a valid URL (expected https://host[:port][/path])".to_owned())?;
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    if !scheme_ok {
        return Err("must be an absolute http:// or https:// URL".to_owned());
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host".to_owned());
    }
    Ok(())
}

/// Polls the component files every [`runtime::WATCH_INTERVAL`] and swaps in changed ones
/// (see [`runtime`] for when a changed file is loaded and what is refused).
fn spawn_watcher(
    runtime: Arc<Runtime>,
    components: Vec<Arc<ComponentRuntime>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(runtime::WATCH_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            for component in &components {
                component.reload_if_changed(&runtime).await;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_keys_must_be_32_bytes_in_a_known_encoding() {
        let good = [
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ];
        for key in good {
            assert_eq!(check_encryption_key(key), Ok(()), "{key}");
        }
        let secret_looking = "notakey-but-secret-value";
        for bad in [
            "",
            secret_looking,
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
            "zz",
        ] {
            let why = check_encryption_key(bad).expect_err("accepted a bad key");
            assert!(
                !why.contains(secret_looking),
                "the message repeats the value: {why}"
            );
        }
    }

    #[test]
    fn base_urls_must_be_absolute_http_without_query_or_fragment() {
        for good in [
            "https://app.example.com",
            "http://127.0.0.1:5173",
            "https://example.com/hayon/",
            "HTTPS://Example.com",
        ] {
            assert_eq!(check_base_url(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "app.example.com",
            "/settings",
            "ftp://example.com",
            "javascript:alert(1)",
            "https://example.com/?next=x",
            "https://example.com/#x",
            "https://",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
