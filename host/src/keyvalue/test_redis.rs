//! A throwaway `redis-server` on a free loopback port, for the Redis backend's tests and
//! the end-to-end suites (feature `test-support`; never part of a production build, which
//! is why it may panic).
//!
//! The server keeps nothing on disk and is killed when the value is dropped. When
//! `redis-server` is not installed the tests that need it print why and pass, except under
//! CI (`CI` set), where `.ci/run` installs it and its absence is a failure.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::config::{KeyValueConfig, StoreConfig};
use super::redis_store::{RedisOptions, RedisStore, RedisStoreError, RedisUrl};

/// A port that was free when asked.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A running `redis-server`.
pub struct TestRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl TestRedis {
    /// Starts a server, or answers `None` (after printing why) when Redis is not installed.
    pub fn start() -> Option<Self> {
        let mut server = Self {
            port: 0,
            dir: tempfile::tempdir().expect("a temporary directory"),
            child: None,
        };
        for _ in 0..5 {
            server.port = free_port();
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

    /// Starts `redis-server` on `self.port`; `Ok(false)` when it exited (port taken).
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
            if self.ping() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Ok(false)
    }

    fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url().expose()) else {
            return false;
        };
        client
            .get_connection_with_timeout(Duration::from_millis(200))
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
            .is_ok()
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> RedisUrl {
        RedisUrl::new(format!("redis://127.0.0.1:{}/0", self.port))
    }

    /// The `default` store in this server, with a short connect timeout so that tests of
    /// an outage stay quick.
    pub fn key_value_config(&self) -> KeyValueConfig {
        let mut options = RedisOptions::new(self.url());
        options.connect_timeout = Duration::from_secs(1);
        KeyValueConfig::default().with_store("default", StoreConfig::Redis(options))
    }

    /// A backend on this server, to look at what the hosts stored.
    pub fn store(&self) -> Result<RedisStore, RedisStoreError> {
        let mut options = RedisOptions::new(self.url());
        options.connect_timeout = Duration::from_millis(200);
        RedisStore::open(options)
    }

    /// Runs one command directly, to look at what the backend wrote.
    pub fn command<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        let client = redis::Client::open(self.url().expose()).expect("the URL is valid");
        let mut conn = client.get_connection().expect("the test server answers");
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command.query(&mut conn).expect("the command succeeds")
    }

    /// Kills the server (its data is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts an empty server on the same port again.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn().expect("redis-server runs"),
            "redis-server did not restart on port {}",
            self.port
        );
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
