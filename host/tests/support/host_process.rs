//! One `hayon-host` process — the binary cargo built for this test — serving the
//! project's `spin.toml` on a free loopback port, killed when dropped.
//!
//! The process gets only the environment the test gives it (nothing is inherited, so that
//! a `HAYON_*` or variable set on the machine cannot change what is tested) and writes its
//! log to a file in its own temporary data directory; the log is printed when a test
//! panics while the process is alive. Its data directory's `compile-cache` is a link to
//! one cache under cargo's target directory, shared by every process and every run, so
//! that only the first start compiles the components.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// How long a process may take to answer `/healthz` (it compiles the components first
/// when the shared cache does not have them yet).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `hayon-host`.
pub struct HostProcess {
    name: String,
    addr: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
    client: reqwest::Client,
    // Last, so that the log is still there when `drop` prints it.
    data_dir: tempfile::TempDir,
}

/// Why a process did not come up.
enum StartFailure {
    /// The port was taken between choosing it and the host binding it.
    PortTaken,
    /// Anything else: the message says what, the log says why.
    Other(String),
}

impl HostProcess {
    /// Starts `hayon-host --runtime-config-file <runtime_config>` with exactly `env` as
    /// its environment and waits until it answers `/healthz`; panics (showing its log)
    /// when it does not within a minute.
    pub async fn start(name: &str, runtime_config: &Path, env: &BTreeMap<String, String>) -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("hayon-host-process-")
            .tempdir()
            .expect("a temporary directory");
        share_compile_cache(data_dir.path());
        // Loopback only: no proxy from the machine's environment.
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        let mut process = Self {
            name: name.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child: None,
            log: data_dir.path().join("host.log"),
            client,
            data_dir,
        };
        for _ in 0..3 {
            process.addr = SocketAddr::from(([127, 0, 0, 1], super::free_port()));
            process.spawn(runtime_config, env);
            match process.wait_until_healthy().await {
                Ok(()) => return process,
                Err(StartFailure::PortTaken) => continue,
                Err(StartFailure::Other(message)) => {
                    panic!("{message}\n{}", process.log_text())
                }
            }
        }
        panic!("process {name}: three free ports were taken before it could bind them");
    }

    fn spawn(&mut self, runtime_config: &Path, env: &BTreeMap<String, String>) {
        let log = std::fs::File::create(&self.log).expect("the log file can be created");
        let child = Command::new(env!("CARGO_BIN_EXE_hayon-host"))
            .arg("--manifest")
            .arg(super::manifest_path())
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("--runtime-config-file")
            .arg(runtime_config)
            .args(["--no-build", "--no-watch"])
            .env_clear()
            .envs(env)
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the hayon-host binary runs");
        self.child = Some(child);
    }

    async fn wait_until_healthy(&mut self) -> Result<(), StartFailure> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.exit_status() {
                self.child = None;
                return Err(if self.log_text().contains("Address already in use") {
                    StartFailure::PortTaken
                } else {
                    StartFailure::Other(format!("process {} exited: {status}", self.name))
                });
            }
            let health = self
                .client
                .get(self.url("/healthz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|response| response.status() == StatusCode::OK) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(StartFailure::Other(format!(
            "process {} did not answer /healthz within {START_TIMEOUT:?}",
            self.name
        )))
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("the process can be waited for")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.exit_status().is_none()
    }

    /// The process's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// What the process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// The absolute URL of `path` (which starts with `/`) on this process.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request and returns the status, the headers, and the body as JSON (a JSON
    /// string holding the text when it is not JSON; `null` when it is empty).
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
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => panic!("process {} does not answer {path}: {e}", self.name),
        };
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

    /// Kills the process and waits for it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let was_running = self.child.is_some();
        self.kill();
        if was_running && std::thread::panicking() {
            eprintln!(
                "---- log of hayon-host process {} ({}) ----\n{}",
                self.name,
                self.addr,
                self.log_text()
            );
        }
    }
}

/// Points `<data_dir>/compile-cache` (where `hayon-host` caches compiled components) at
/// one directory shared by all processes and test runs. Wasmtime writes cache entries
/// atomically, so processes starting at once may share it.
fn share_compile_cache(data_dir: &Path) {
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hayon-host-compile-cache");
    std::fs::create_dir_all(&shared).expect("the shared compile cache can be created");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&shared, data_dir.join("compile-cache"))
        .expect("the compile cache can be linked");
    // Elsewhere every process compiles the components into its own data directory.
    #[cfg(not(unix))]
    let _ = data_dir;
}
