//! Running the real `hayon-host` binary in tests: a [`Redis`] server, [`HostProcess`]es,
//! and a [`Deployment`] of two processes behind one public URL sharing that Redis.
//!
//! Everything listens on 127.0.0.1 and is killed when its value is dropped, including
//! when a test panics.

mod host_process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use hayon_host::keyvalue::test_redis::{TestRedis as Redis, free_port};
pub use host_process::HostProcess;

/// The `access_token_secret` both processes get.
pub const ACCESS_TOKEN_SECRET: &str = "two-processes-access-token-secret-0123456789";
/// The `token_encryption_key` both processes get: bytes 0..=31, base64.
pub const TOKEN_ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The `frontend_url` both processes get.
pub const FRONTEND_URL: &str = "http://frontend.test";
/// The `public_base_url` both processes get: the load balancer's address, which platforms
/// redirect browsers to (nothing listens there; the test plays the load balancer).
pub const PUBLIC_URL: &str = "http://lb.hayon.test";

/// A port that was free when asked.
/// The project's `spin.toml`.
pub fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml")
}

/// Builds stale components once per test binary, as `hayon-host` does without
/// `--no-build` (the processes are started with it, so that two of them never build at
/// once).
fn ensure_components_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        hayon_host::build_components(&manifest_path()).map_err(|e| format!("{e:#}"))
    });
    if let Err(message) = built {
        panic!("building the components failed: {message}");
    }
}

/// Two `hayon-host` processes configured alike, with one Redis as their key-value store.
pub struct Deployment {
    /// The first process.
    pub a: HostProcess,
    /// The second process.
    pub b: HostProcess,
    // Dropped after the processes: the runtime-config file and the server they use.
    _config_dir: tempfile::TempDir,
    redis: Redis,
}

impl Deployment {
    /// Starts Redis and two processes whose environment is the four variables every
    /// connector needs plus `env`; `None` (after printing why) when Redis is not installed.
    pub async fn start(env: &[(&str, &str)]) -> Option<Self> {
        ensure_components_built();
        let redis = Redis::start()?;

        let config_dir = tempfile::tempdir().expect("a temporary directory");
        let runtime_config = config_dir.path().join("runtime-config.toml");
        let toml = format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url().expose()
        );
        std::fs::write(&runtime_config, toml).expect("the runtime config can be written");

        let mut variables: BTreeMap<String, String> = [
            ("ACCESS_TOKEN_SECRET", ACCESS_TOKEN_SECRET),
            ("TOKEN_ENCRYPTION_KEY", TOKEN_ENCRYPTION_KEY),
            ("FRONTEND_URL", FRONTEND_URL),
            ("PUBLIC_BASE_URL", PUBLIC_URL),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
        variables.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));

        let a = HostProcess::start("A", &runtime_config, &variables).await;
        let b = HostProcess::start("B", &runtime_config, &variables).await;
        Some(Self {
            a,
            b,
            _config_dir: config_dir,
            redis,
        })
    }

    /// The shared Redis server.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// A bearer token for `user`, valid for an hour.
    pub fn token(&self, user: &str) -> String {
        hayon_host::token::mint_access_token(user, 3600, ACCESS_TOKEN_SECRET.as_bytes())
            .expect("a valid user id")
    }

    /// Neither process crashed, and neither kept anything of its own: everything is in
    /// Redis.
    pub fn assert_processes_healthy_and_stateless(&mut self) {
        for process in [&mut self.a, &mut self.b] {
            assert!(process.is_running(), "{}", process.log_text());
            let file = process.data_dir().join(hayon_host::KV_FILE);
            assert!(!file.exists(), "{} exists", file.display());
        }
    }
}
