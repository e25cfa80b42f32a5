//! A throwaway `redis-server` on a free loopback port, killed when dropped.
//!
//! It keeps nothing on disk. Without `redis-server` installed, [`Redis::start`] prints why
//! and answers `None` so that the test can return early; under CI (`CI` set), where
//! `.ci/run` installs Redis, that is a failure instead.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hayon_host::keyvalue::redis_store::{RedisOptions, RedisStore, RedisStoreError, RedisUrl};

/// A running `redis-server` on 127.0.0.1.
pub struct Redis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Redis {
    /// Starts a server, or answers `None` (after printing why) when Redis is not installed.
    pub fn start() -> Option<Self> {
        let mut server = Self {
            port: 0,
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        // Another program may take the free port before Redis binds it: try a few.
        for _ in 0..5 {
            server.port = super::free_port();
            match server.spawn() {
                Ok(true) => return Some(server),
                Ok(false) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "redis-server is not installed; .ci/run installs it"
                    );
                    eprintln!(
                        "skipping: redis-server is not installed \
                         (apt-get install redis-server to run this test)"
                    );
                    return None;
                }
                Err(e) => panic!("cannot run redis-server: {e}"),
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Runs `redis-server` on `self.port`; `Ok(false)` when it exits or does not answer.
    fn spawn(&mut self) -> std::io::Result<bool> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(child) = self.child.as_mut()
                && child.try_wait()?.is_some()
            {
                self.child = None;
                return Ok(false);
            }
            if self.store().is_ok() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Ok(false)
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A backend on this server, to look at what the hosts stored.
    pub fn store(&self) -> Result<RedisStore, RedisStoreError> {
        let mut options = RedisOptions::new(RedisUrl::new(self.url()));
        options.connect_timeout = Duration::from_millis(200);
        RedisStore::open(options)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
