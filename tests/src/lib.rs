//! End-to-end test harness: the real host, serving the real components from `spin.toml`,
//! driven over HTTP on loopback.
//!
//! [`TestHost::start`] builds the components once per test process (as `hayon-host`
//! would, through [`hayon_host::build_components`]), then starts a host in-process on a
//! free `127.0.0.1` port with its own temporary data directory and with variables given
//! by the test, never read from the process environment. The four variables every
//! connector needs get test values unless the test overrides them:
//!
//! | variable | test value |
//! |---|---|
//! | `access_token_secret` | [`TEST_ACCESS_TOKEN_SECRET`] |
//! | `token_encryption_key` | [`TEST_TOKEN_ENCRYPTION_KEY`] |
//! | `frontend_url` | [`TEST_FRONTEND_URL`] |
//! | `public_base_url` | `http://127.0.0.1:<the host's port>` |
//!
//! ```no_run
//! # async fn demo() {
//! use hayon_e2e::TestHost;
//! let host = TestHost::start(&[("bluesky_service_url", "http://127.0.0.1:4000")]).await;
//! let token = host.mint_token("user-1");
//! let (status, _headers, json) = host.get("/api/platform/bluesky/status", Some(&token)).await;
//! assert_eq!(status, 200, "{json}");
//! # }
//! ```
//!
//! Tests that race requests should use `#[tokio::test(flavor = "multi_thread")]`.
//! Set `RUST_LOG=info` (or `hayon_host=debug`) to see the host's log in a failing test.

pub mod oauth_flow;
pub mod redis;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::Duration;

use hayon_host::keyvalue::config::KeyValueConfig;
use hayon_host::{HostOptions, RunningHost};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The `access_token_secret` test hosts get unless overridden.
pub const TEST_ACCESS_TOKEN_SECRET: &str = "e2e-access-token-secret-0123456789abcdef";
/// The `token_encryption_key` test hosts get unless overridden: bytes 0..=31, base64.
pub const TEST_TOKEN_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The `frontend_url` test hosts get unless overridden.
pub const TEST_FRONTEND_URL: &str = "http://frontend.test";

/// The project's `spin.toml`.
pub fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml")
}

/// Where compiled components are cached between test processes.
fn compile_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("hayon-e2e-compile-cache")
}

/// Builds the components once per process; panics with the build error otherwise.
pub fn ensure_components_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILT.get_or_init(|| {
        hayon_host::build_components(&manifest_path()).map_err(|e| format!("{e:#}"))
    });
    if let Err(message) = result {
        panic!("building the components failed: {message}");
    }
}

/// Sends the host's log to the test output, filtered by `RUST_LOG` (default: warnings).
fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Signs a token with any header algorithm, claims and secret, for negative tests:
/// `HS256`/`HS384`/`HS512` are really signed, `none` (or anything else) is not.
pub fn mint_token_with(claims: &Value, alg: &str, secret: &str) -> String {
    let header = json!({ "alg": alg, "typ": "JWT" });
    hayon_host::token::sign(&header, claims, secret.as_bytes())
}

/// How to start a [`TestHost`]; [`TestHost::builder`] makes one.
#[derive(Debug, Clone)]
pub struct TestHostBuilder {
    variables: BTreeMap<String, String>,
    without: BTreeSet<String>,
    request_timeout: Duration,
    body_read_timeout: Duration,
    max_instances: u32,
    build: bool,
    manifest: PathBuf,
    watch_components: bool,
    key_value: KeyValueConfig,
}

impl TestHostBuilder {
    /// Sets a variable (by its lower-case manifest name).
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_owned(), value.to_owned());
        self.without.remove(name);
        self
    }

    /// Sets several variables.
    pub fn vars(self, vars: &[(&str, &str)]) -> Self {
        vars.iter()
            .fold(self, |builder, (name, value)| builder.var(name, value))
    }

    /// Leaves a variable unset, even one the harness sets by default.
    pub fn without(mut self, name: &str) -> Self {
        self.variables.remove(name);
        self.without.insert(name.to_owned());
        self
    }

    /// Sets the host's per-request deadline (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long a client may take to send a request body (default 10 s).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets how many component instances may run at once (default 64).
    pub fn max_instances(mut self, instances: u32) -> Self {
        self.max_instances = instances;
        self
    }

    /// Serves another manifest than the project's (components are still built from the
    /// project's manifest unless [`Self::skip_build`] is used).
    pub fn manifest(mut self, path: &Path) -> Self {
        self.manifest = path.to_owned();
        self
    }

    /// Reloads components whose files change (off by default).
    pub fn watch_components(mut self, watch: bool) -> Self {
        self.watch_components = watch;
        self
    }

    /// Puts the key-value stores elsewhere than the data directory's file (for example
    /// in a [`redis::TestRedis`] shared by several hosts).
    pub fn key_value(mut self, config: KeyValueConfig) -> Self {
        self.key_value = config;
        self
    }

    /// Skips building the components (for tests that fail before loading them).
    pub fn skip_build(mut self) -> Self {
        self.build = false;
        self
    }

    /// Starts the host, or returns why it would not start.
    pub async fn try_start(self) -> anyhow::Result<TestHost> {
        init_logging();
        if self.build {
            ensure_components_built();
        }
        let data_dir = tempfile::Builder::new().prefix("hayon-e2e-").tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()?;
        let mut host = TestHost {
            host: None,
            addr,
            settings: self,
            client,
            data_dir,
        };
        host.launch(listener).await?;
        Ok(host)
    }

    /// Starts the host; panics if it does not start.
    pub async fn start(self) -> TestHost {
        match self.try_start().await {
            Ok(host) => host,
            Err(e) => panic!("the test host did not start: {e:#}"),
        }
    }
}

/// A host serving the project's components, for one test.
pub struct TestHost {
    // Field order matters: the host (and its database) goes before the directory.
    host: Option<RunningHost>,
    addr: SocketAddr,
    settings: TestHostBuilder,
    client: reqwest::Client,
    data_dir: tempfile::TempDir,
}

impl TestHost {
    /// A builder with the harness defaults.
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder {
            variables: BTreeMap::new(),
            without: BTreeSet::new(),
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(10),
            max_instances: 64,
            build: true,
            manifest: manifest_path(),
            watch_components: false,
            key_value: KeyValueConfig::default(),
        }
    }

    /// Starts a host with these variables on top of the harness defaults.
    pub async fn start(vars: &[(&str, &str)]) -> TestHost {
        Self::builder().vars(vars).start().await
    }

    /// The variables the host gets: defaults, then the test's, minus the removed ones.
    fn variables(&self) -> BTreeMap<String, String> {
        let defaults = [
            ("access_token_secret", TEST_ACCESS_TOKEN_SECRET.to_owned()),
            ("token_encryption_key", TEST_TOKEN_ENCRYPTION_KEY.to_owned()),
            ("frontend_url", TEST_FRONTEND_URL.to_owned()),
            ("public_base_url", format!("http://{}", self.addr)),
        ];
        let mut variables: BTreeMap<String, String> = defaults
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        variables.extend(self.settings.variables.clone());
        for name in &self.settings.without {
            variables.remove(name);
        }
        variables
    }

    async fn launch(&mut self, listener: TcpListener) -> anyhow::Result<()> {
        let manifest = self.settings.manifest.clone();
        let mut options = HostOptions::new(manifest, self.data_dir.path().to_owned());
        options.watch_components = self.settings.watch_components;
        options.listener = Some(listener);
        options.variables = self.variables();
        options.use_process_env = false;
        options.request_timeout = self.settings.request_timeout;
        options.max_instances = self.settings.max_instances;
        options.body_read_timeout = self.settings.body_read_timeout;
        options.compile_cache = Some(compile_cache());
        options.drain_timeout = Duration::from_secs(5);
        options.key_value = self.settings.key_value.clone();
        self.host = Some(hayon_host::start(options).await?);
        Ok(())
    }

    /// Stops the host and starts a new one on the same data directory, variables and (if
    /// it is still free) port.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let listener = match TcpListener::bind(self.addr) {
            Ok(listener) => listener,
            Err(_) => {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
                self.addr = listener.local_addr().expect("local address");
                listener
            }
        };
        if let Err(e) = self.launch(listener).await {
            panic!("the test host did not restart: {e:#}");
        }
    }

    /// Stops the host but keeps the data directory; [`Self::restart`] starts it again.
    pub async fn shutdown(&mut self) {
        if let Some(host) = self.host.take() {
            host.shutdown().await.expect("the host shuts down");
        }
    }

    /// Stops the host, waiting for open requests and for the database to close, and
    /// removes the data directory.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// The host's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The host's data directory (where `kv.redb` lives).
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The value a variable has in this host, if any.
    pub fn var(&self, name: &str) -> Option<String> {
        self.variables().remove(name)
    }

    /// A valid bearer token for `user`, valid for an hour, signed with this host's secret.
    pub fn mint_token(&self, user: &str) -> String {
        let secret = self
            .var("access_token_secret")
            .unwrap_or_else(|| TEST_ACCESS_TOKEN_SECRET.to_owned());
        let now = hayon_host::token::now_seconds().expect("the clock is set");
        let claims = json!({ "sub": user, "iat": now, "exp": now + 3600 });
        mint_token_with(&claims, "HS256", &secret)
    }

    /// See [`mint_token_with`].
    pub fn mint_token_with(&self, claims: &Value, alg: &str, secret: &str) -> String {
        mint_token_with(claims, alg, secret)
    }

    /// The HTTP client (redirects are not followed).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request and returns the status, the headers, and the body as JSON (a JSON
    /// string holding the text when the body is not JSON; `null` when it is empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, HeaderMap, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the host answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("the body is readable");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, json)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, HeaderMap, Value) {
        self.request(Method::GET, path, token, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, HeaderMap, Value) {
        self.request(Method::POST, path, token, Some(&body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, HeaderMap, Value) {
        self.request(Method::DELETE, path, token, None).await
    }

    /// `GET path`, returning the status and the body as text.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the host answers");
        let status = response.status();
        (status, response.text().await.expect("the body is readable"))
    }
}
