//! A shared key-value backend in [Redis](https://redis.io), so that several host processes
//! behind a load balancer see the same accounts and pending authorizations.
//!
//! Layout: the value of `key` in store `label` is the Redis string
//! `<prefix>:<label>:<key>` (prefix `hayon` unless configured; a `:` or `%` in the label is
//! percent-encoded so that two labels can never share keys). Counters written by
//! `increment` are decimal text, which is what `INCRBY` reads and writes.
//!
//! Atomicity comes from Redis itself: every operation is one command, compare-and-swap is
//! one Lua script (`EVALSHA`, falling back to `EVAL`) that reads and writes the key without
//! any other command running in between, and the batch writes are `MSET` / `DEL`.
//!
//! Connections: the [`KvBackend`] trait is synchronous (the WASI glue calls it on tokio's
//! blocking pool), so this uses the `redis` crate's blocking client with a small pool of
//! idle connections. Connecting is bounded by a timeout, and so is every command. A
//! connection that failed is dropped together with the idle ones (after a Redis restart
//! they are all dead); idempotent reads and writes are retried once on a fresh connection,
//! compare-and-swap and increment are not, because their first attempt may have been
//! applied. A storage failure reaches the component as `other(..)`, which the connectors
//! answer with a 5xx; it never panics the host.
//!
//! Limitation: `list_keys` scans the whole store label (`SCAN`, 1000 keys per round trip)
//! and sorts in the host, because Redis keeps no order; fine for the connectors, which do
//! not list keys, and for stores of up to some hundred thousand keys.
//! Limitation: plain TCP or Unix sockets only (`redis://`, `redis+unix://`); for TLS to a
//! managed Redis, run a TLS tunnel beside the host.
//! Limitation: durability is Redis's: a value survives a Redis crash only with append-only
//! persistence (`appendonly yes`; `appendfsync always` to lose nothing).

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::{Connection, RedisError, Value};
use thiserror::Error;

use super::{CasOutcome, KvBackend, StorageError};

/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "hayon";

/// Idle connections kept for reuse; more may be open while many requests run at once.
const MAX_IDLE: usize = 16;

/// Keys asked for per `SCAN` round trip.
const SCAN_COUNT: usize = 1000;

/// Compare-and-swap. KEYS[1]: the key. ARGV[1]: `1` if a value is expected, `0` if absence
/// is. ARGV[2]: the expected value. ARGV[3]: the new value. Answers `{1}` when it swapped,
/// `{0, current}` or `{0}` (absent) when the value was not the expected one.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
local expects_value = ARGV[1] == '1'
if (expects_value and current == ARGV[2]) or (not expects_value and not current) then
  redis.call('SET', KEYS[1], ARGV[3])
  return {1}
end
if current then
  return {0, current}
end
return {0}
";

/// A Redis URL (`redis://[user:password@]host[:port][/db]` or `redis+unix:///path`). It
/// may hold a password, so `Debug` and `Display` show it without the credentials and the
/// query string.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Wraps a URL; it is checked when the backend opens.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its credentials, to connect with. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without user, password and query: safe to log.
    ///
    /// Everything between `://` and the last `@` of the whole string is credentials (a
    /// password may hold an unencoded `/`, `?`, `#` or `@`), and everything from the first
    /// `?` or `#` after that is redacted too. A string without a plain `scheme://` is
    /// shown as `[unparseable URL]`.
    pub fn redacted(&self) -> String {
        const UNPARSEABLE: &str = "[unparseable URL]";
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return UNPARSEABLE.to_owned();
        };
        let scheme_ok = !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return UNPARSEABLE.to_owned();
        }
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((_, after)) => ("[redacted]@", after),
            None => ("", rest),
        };
        let (location, query) = match rest.find(['?', '#']) {
            Some(at) => (&rest[..at], "?[redacted]"),
            None => (rest, ""),
        };
        format!("{scheme}://{credentials}{location}{query}")
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// How to reach Redis and where in it the stores live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The server.
    pub url: RedisUrl,
    /// First part of every key (`<prefix>:<label>:<key>`), so that one Redis can hold
    /// several applications or environments.
    pub prefix: String,
    /// Longest wait for a new connection (TCP connect, `AUTH`, `SELECT`).
    pub connect_timeout: Duration,
    /// Longest wait for the answer to one command.
    pub command_timeout: Duration,
}

impl RedisOptions {
    /// Options for `url` with prefix [`DEFAULT_PREFIX`], a 5 s connect timeout and a 10 s
    /// command timeout.
    pub fn new(url: RedisUrl) -> Self {
        Self {
            url,
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a Redis operation failed. Messages name the server (without credentials) and say
/// what to check.
#[derive(Debug, Error)]
pub enum RedisStoreError {
    /// The URL cannot be used.
    #[error("the Redis URL {url} is not valid: {error}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// What the client said.
        error: RedisError,
    },
    /// No connection could be made.
    #[error(
        "cannot connect to Redis at {url} (timeout {timeout:?}): {error}; check that the \
         server runs and the URL, password and database are right"
    )]
    Connect {
        /// The URL, redacted.
        url: String,
        /// The connect timeout.
        timeout: Duration,
        /// What the client said.
        error: RedisError,
    },
    /// A command failed or timed out.
    #[error("Redis at {url}: {command} failed: {error}")]
    Command {
        /// The URL, redacted.
        url: String,
        /// The command (never its arguments, which hold values).
        command: &'static str,
        /// What the client or the server said.
        error: RedisError,
    },
    /// The server answered something the script cannot have answered.
    #[error("Redis at {url}: {command} gave an unexpected answer")]
    UnexpectedReply {
        /// The URL, redacted.
        url: String,
        /// The command.
        command: &'static str,
    },
}

impl From<RedisStoreError> for StorageError {
    fn from(error: RedisStoreError) -> Self {
        StorageError::new(error)
    }
}

/// Whether the connection is unusable after this error (so it must not be reused).
fn breaks_connection(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
}

/// A key-value backend in one Redis database.
pub struct RedisStore {
    client: redis::Client,
    options: RedisOptions,
    idle: Mutex<Vec<Connection>>,
    cas: redis::Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.options.url)
            .field("prefix", &self.options.prefix)
            .finish_non_exhaustive()
    }
}

/// Whether an operation may be sent again after its connection failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Sending it twice has the effect of sending it once.
    Idempotent,
    /// It may have been applied: report the failure instead.
    Never,
}

impl RedisStore {
    /// Checks the URL and connects once (`PING`), so that a wrong URL, a wrong password or
    /// an unreachable server stops start-up with a clear message.
    pub fn open(options: RedisOptions) -> Result<Self, RedisStoreError> {
        let client = redis::Client::open(options.url.expose()).map_err(|error| {
            RedisStoreError::InvalidUrl {
                url: options.url.redacted(),
                error,
            }
        })?;
        let store = Self {
            client,
            options,
            idle: Mutex::new(Vec::new()),
            cas: redis::Script::new(CAS_SCRIPT),
        };
        store.run("PING", Retry::Idempotent, |conn| {
            redis::cmd("PING").query::<String>(conn)
        })?;
        Ok(store)
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    /// The Redis key of `key` in store `label`.
    pub fn redis_key(&self, label: &str, key: &str) -> String {
        format!("{}{key}", self.label_prefix(label))
    }

    /// `<prefix>:<label>:`, with `%` and `:` in the label percent-encoded.
    fn label_prefix(&self, label: &str) -> String {
        let label = label.replace('%', "%25").replace(':', "%3A");
        format!("{}:{label}:", self.options.prefix)
    }

    fn connect(&self) -> Result<Connection, RedisStoreError> {
        let connect_error = |error| RedisStoreError::Connect {
            url: self.options.url.redacted(),
            timeout: self.options.connect_timeout,
            error,
        };
        let conn = self
            .client
            .get_connection_with_timeout(self.options.connect_timeout)
            .map_err(connect_error)?;
        let timeout = Some(self.options.command_timeout);
        conn.set_read_timeout(timeout).map_err(connect_error)?;
        conn.set_write_timeout(timeout).map_err(connect_error)?;
        Ok(conn)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The list stays valid whatever a panicking holder did; keep using it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection (`true`) or a new one (`false`).
    fn checkout(&self) -> Result<(Connection, bool), RedisStoreError> {
        if let Some(conn) = self.idle().pop() {
            return Ok((conn, true));
        }
        Ok((self.connect()?, false))
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `op` on a pooled connection; see the module docs for failures and retries.
    fn run<R>(
        &self,
        command: &'static str,
        retry: Retry,
        op: impl Fn(&mut Connection) -> Result<R, RedisError>,
    ) -> Result<R, RedisStoreError> {
        let (mut conn, reused) = self.checkout()?;
        match op(&mut conn) {
            Ok(value) => {
                self.checkin(conn);
                Ok(value)
            }
            Err(error) if breaks_connection(&error) => {
                // The others were opened to the same server: most likely dead too.
                self.idle().clear();
                if !(reused && retry == Retry::Idempotent) {
                    return Err(self.command_error(command, error));
                }
                tracing::debug!(command, error = %error, "Redis connection lost; retrying");
                let mut conn = self.connect()?;
                let value = op(&mut conn).map_err(|e| self.command_error(command, e))?;
                self.checkin(conn);
                Ok(value)
            }
            Err(error) => {
                self.checkin(conn);
                Err(self.command_error(command, error))
            }
        }
    }

    fn command_error(&self, command: &'static str, error: RedisError) -> RedisStoreError {
        RedisStoreError::Command {
            url: self.options.url.redacted(),
            command,
            error,
        }
    }

    fn unexpected(&self, command: &'static str) -> RedisStoreError {
        RedisStoreError::UnexpectedReply {
            url: self.options.url.redacted(),
            command,
        }
    }

    /// Every key of store `label`, unordered, without the prefix.
    fn scan_label(&self, label: &str) -> Result<Vec<String>, RedisStoreError> {
        let prefix = self.label_prefix(label);
        let pattern = format!("{}*", escape_glob(&prefix));
        self.run("SCAN", Retry::Idempotent, |conn| {
            let mut keys = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(conn)?;
                keys.extend(batch.into_iter().filter_map(|raw| {
                    // Keys under our prefix were written by us and are UTF-8.
                    let key = String::from_utf8(raw).ok()?;
                    key.strip_prefix(&prefix).map(str::to_owned)
                }));
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        })
    }

    /// Interprets the answer of [`CAS_SCRIPT`].
    fn cas_outcome(&self, reply: Value) -> Result<CasOutcome, RedisStoreError> {
        let Value::Array(items) = reply else {
            return Err(self.unexpected("EVALSHA"));
        };
        match items.as_slice() {
            [Value::Int(1)] => Ok(CasOutcome::Swapped),
            [Value::Int(0)] => Ok(CasOutcome::Conflict(None)),
            [Value::Int(0), Value::BulkString(current)] => {
                Ok(CasOutcome::Conflict(Some(current.clone())))
            }
            _ => Err(self.unexpected("EVALSHA")),
        }
    }
}

/// Escapes the characters `SCAN MATCH` treats as a pattern.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl KvBackend for RedisStore {
    fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = self.redis_key(store, key);
        Ok(self.run("GET", Retry::Idempotent, |conn| {
            redis::cmd("GET").arg(&key).query(conn)
        })?)
    }

    fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let key = self.redis_key(store, key);
        Ok(self.run("SET", Retry::Idempotent, |conn| {
            redis::cmd("SET").arg(&key).arg(value).query(conn)
        })?)
    }

    fn delete(&self, store: &str, key: &str) -> Result<(), StorageError> {
        let key = self.redis_key(store, key);
        Ok(self.run("DEL", Retry::Idempotent, |conn| {
            redis::cmd("DEL").arg(&key).query(conn)
        })?)
    }

    fn exists(&self, store: &str, key: &str) -> Result<bool, StorageError> {
        let key = self.redis_key(store, key);
        Ok(self.run("EXISTS", Retry::Idempotent, |conn| {
            redis::cmd("EXISTS").arg(&key).query(conn)
        })?)
    }

    fn list_keys(
        &self,
        store: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = self.scan_label(store)?;
        keys.retain(|key| after.is_none_or(|after| key.as_str() > after));
        keys.sort_unstable();
        // SCAN may report a key twice when the keyspace is rehashed during the scan.
        keys.dedup();
        keys.truncate(limit);
        Ok(keys)
    }

    fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, StorageError> {
        let key = self.redis_key(store, key);
        let (expects_value, expected) = match expected {
            Some(value) => ("1", value),
            None => ("0", &[][..]),
        };
        let reply = self.run("EVALSHA", Retry::Never, |conn| {
            self.cas
                .key(&key)
                .arg(expects_value)
                .arg(expected)
                .arg(new)
                .invoke::<Value>(conn)
        })?;
        Ok(self.cas_outcome(reply)?)
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, StorageError> {
        let key = self.redis_key(store, key);
        Ok(self.run("INCRBY", Retry::Never, |conn| {
            redis::cmd("INCRBY").arg(&key).arg(delta).query(conn)
        })?)
    }

    fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|key| self.redis_key(store, key)).collect();
        Ok(self.run("MGET", Retry::Idempotent, |conn| {
            redis::cmd("MGET").arg(&keys).query(conn)
        })?)
    }

    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("MSET");
        for (key, value) in entries {
            command
                .arg(self.redis_key(store, key))
                .arg(value.as_slice());
        }
        Ok(self.run("MSET", Retry::Idempotent, |conn| command.query(conn))?)
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), StorageError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = keys.iter().map(|key| self.redis_key(store, key)).collect();
        Ok(self.run("DEL", Retry::Idempotent, |conn| {
            redis::cmd("DEL").arg(&keys).query(conn)
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyvalue::test_redis::TestRedis;
    use std::sync::{Arc, Barrier};

    /// A store on a fresh server, or `None` (with a printed note) when Redis is missing.
    fn store(server: &TestRedis) -> RedisStore {
        RedisStore::open(RedisOptions::new(server.url())).expect("the store opens")
    }

    macro_rules! redis_or_skip {
        () => {
            match TestRedis::start() {
                Some(server) => server,
                None => return,
            }
        };
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        let url = RedisUrl::new("redis://user:hunter2@redis.internal:6380/2");
        assert_eq!(url.to_string(), "redis://[redacted]@redis.internal:6380/2");
        assert!(!format!("{url:?}").contains("hunter2"));
        let url = RedisUrl::new("redis://:p@ss@host/0?protocol=resp3");
        assert_eq!(url.redacted(), "redis://[redacted]@host/0?[redacted]");
        let url = RedisUrl::new("redis+unix:///run/redis.sock?pass=hunter2");
        assert!(!url.redacted().contains("hunter2"), "{}", url.redacted());
        assert_eq!(
            RedisUrl::new("127.0.0.1:6379").redacted(),
            "[unparseable URL]"
        );
    }

    #[test]
    fn passwords_with_unencoded_delimiters_never_leak() {
        for (url, shown) in [
            (
                "redis://user:pa/ss@host:6379/0",
                "redis://[redacted]@host:6379/0",
            ),
            ("redis://:p?ss@host/1", "redis://[redacted]@host/1"),
            ("redis://:p#ss@host", "redis://[redacted]@host"),
            (
                "rediss://u:a/b?c#d@e@host/2?x=1",
                "rediss://[redacted]@host/2?[redacted]",
            ),
        ] {
            let redacted = RedisUrl::new(url).redacted();
            assert_eq!(redacted, shown, "{url}");
            assert!(
                !format!("{:?}", RedisUrl::new(url)).contains("ss@"),
                "{url}"
            );
        }
        assert_eq!(
            RedisUrl::new("re dis://:secret@host").redacted(),
            "[unparseable URL]"
        );
    }

    #[test]
    fn glob_characters_in_prefixes_are_escaped() {
        assert_eq!(escape_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
    }

    #[test]
    fn an_unreachable_server_is_a_clear_error_within_the_timeout() {
        // A port that was free a moment ago: nothing listens there.
        let port = crate::keyvalue::test_redis::free_port();
        let mut options = RedisOptions::new(RedisUrl::new(format!(
            "redis://:hunter2@127.0.0.1:{port}/0"
        )));
        options.connect_timeout = Duration::from_millis(500);
        let error = RedisStore::open(options).expect_err("nothing listens");
        let message = error.to_string();
        assert!(message.contains("cannot connect to Redis"), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("hunter2"), "{message}");

        let error = RedisStore::open(RedisOptions::new(RedisUrl::new("http://x")))
            .expect_err("not a Redis URL");
        assert!(error.to_string().contains("not valid"), "{error}");
    }

    #[test]
    fn values_round_trip_under_the_namespaced_key() {
        let server = redis_or_skip!();
        let store = store(&server);
        store
            .set("default", "accounts/bluesky/u1", b"\x00v1\xff")
            .unwrap();
        assert_eq!(
            store
                .get("default", "accounts/bluesky/u1")
                .unwrap()
                .as_deref(),
            Some(&b"\x00v1\xff"[..])
        );
        assert!(store.exists("default", "accounts/bluesky/u1").unwrap());
        // Where it lives, for operators reading Redis.
        let raw: Option<Vec<u8>> = server.command(&["GET", "hayon:default:accounts/bluesky/u1"]);
        assert_eq!(raw.as_deref(), Some(&b"\x00v1\xff"[..]));

        store.delete("default", "accounts/bluesky/u1").unwrap();
        store.delete("default", "never-there").unwrap();
        assert_eq!(store.get("default", "accounts/bluesky/u1").unwrap(), None);
        assert!(!store.exists("default", "accounts/bluesky/u1").unwrap());
    }

    #[test]
    fn labels_and_prefixes_are_separate_key_spaces() {
        let server = redis_or_skip!();
        let store = store(&server);
        let mut other = RedisOptions::new(server.url());
        other.prefix = "staging".to_owned();
        let staging = RedisStore::open(other).unwrap();

        store.set("a", "k", b"1").unwrap();
        store.set("a:b", "c", b"2").unwrap();
        assert_eq!(store.get("b", "k").unwrap(), None);
        assert_eq!(staging.get("a", "k").unwrap(), None);
        // A colon in a label cannot reach into another label's keys.
        assert_eq!(store.get("a", "b:c").unwrap(), None);
        assert_eq!(store.list_keys("a", None, 10).unwrap(), ["k"]);
        assert_eq!(store.list_keys("a:b", None, 10).unwrap(), ["c"]);
        assert!(staging.list_keys("a", None, 10).unwrap().is_empty());
    }

    #[test]
    fn list_keys_pages_in_order() {
        let server = redis_or_skip!();
        let store = store(&server);
        for i in (0..2500).rev() {
            store.set("s", &format!("k{i:04}"), b"").unwrap();
        }
        store.set("other", "k0000x", b"").unwrap();
        let first = store.list_keys("s", None, 1000).unwrap();
        assert_eq!(first.len(), 1000);
        assert_eq!(first[0], "k0000");
        assert_eq!(first[999], "k0999");
        let last = store.list_keys("s", Some("k1999"), 1000).unwrap();
        assert_eq!(last.len(), 500);
        assert_eq!(last[0], "k2000");
        assert!(
            store
                .list_keys("s", Some("k2499"), 1000)
                .unwrap()
                .is_empty()
        );
        assert!(store.list_keys("empty", None, 10).unwrap().is_empty());
    }

    #[test]
    fn compare_and_swap_compares_with_the_snapshot_including_absence() {
        let server = redis_or_skip!();
        let store = store(&server);
        assert_eq!(
            store.compare_and_swap("s", "k", None, b"one").unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(
            store.compare_and_swap("s", "k", None, b"two").unwrap(),
            CasOutcome::Conflict(Some(b"one".to_vec()))
        );
        assert_eq!(
            store
                .compare_and_swap("s", "k", Some(b"stale"), b"two")
                .unwrap(),
            CasOutcome::Conflict(Some(b"one".to_vec()))
        );
        assert_eq!(
            store
                .compare_and_swap("s", "k", Some(b"one"), b"three")
                .unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(store.get("s", "k").unwrap().as_deref(), Some(&b"three"[..]));

        // Expecting a value that was deleted meanwhile fails and reports the absence.
        store.delete("s", "k").unwrap();
        assert_eq!(
            store
                .compare_and_swap("s", "k", Some(b"three"), b"four")
                .unwrap(),
            CasOutcome::Conflict(None)
        );
        // An empty value is a value, not an absence.
        store.set("s", "empty", b"").unwrap();
        assert_eq!(
            store.compare_and_swap("s", "empty", None, b"x").unwrap(),
            CasOutcome::Conflict(Some(Vec::new()))
        );
        assert_eq!(
            store
                .compare_and_swap("s", "empty", Some(b""), b"x")
                .unwrap(),
            CasOutcome::Swapped
        );
    }

    #[test]
    fn exactly_one_concurrent_swap_wins_each_round() {
        let server = redis_or_skip!();
        let store = Arc::new(store(&server));
        let threads = 8;
        for round in 0..20 {
            // Odd rounds race on an absent key, even ones on a present value.
            let key = format!("pending/state-{round}");
            if round % 2 == 0 {
                store.set("s", &key, b"unused").unwrap();
            }
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let store = Arc::clone(&store);
                    let barrier = Arc::clone(&barrier);
                    let key = key.clone();
                    std::thread::spawn(move || {
                        let snapshot = store.get("s", &key).unwrap();
                        barrier.wait();
                        let new = format!("used-by-{i}");
                        let outcome = store
                            .compare_and_swap("s", &key, snapshot.as_deref(), new.as_bytes())
                            .unwrap();
                        (i, outcome)
                    })
                })
                .collect();
            let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let winners: Vec<_> = outcomes
                .iter()
                .filter(|(_, o)| *o == CasOutcome::Swapped)
                .map(|(i, _)| *i)
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
            let stored = store.get("s", &key).unwrap();
            assert_eq!(stored, Some(format!("used-by-{}", winners[0]).into_bytes()));
            // Every loser learned the winner's value.
            for (_, outcome) in &outcomes {
                if let CasOutcome::Conflict(current) = outcome {
                    assert_eq!(current, &stored);
                }
            }
        }
    }

    #[test]
    fn increment_counts_from_zero_and_refuses_non_integers() {
        let server = redis_or_skip!();
        let store = store(&server);
        assert_eq!(store.increment("s", "n", 5).unwrap(), 5);
        assert_eq!(store.increment("s", "n", -2).unwrap(), 3);
        assert_eq!(store.get("s", "n").unwrap().as_deref(), Some(&b"3"[..]));
        // The same representation the embedded store uses: decimal text.
        store.set("s", "m", b"41").unwrap();
        assert_eq!(store.increment("s", "m", 1).unwrap(), 42);
        store.set("s", "text", b"abc").unwrap();
        let error = store.increment("s", "text", 1).unwrap_err();
        assert!(error.to_string().contains("INCRBY"), "{error}");
    }

    #[test]
    fn batch_operations() {
        let server = redis_or_skip!();
        let store = store(&server);
        let entries = vec![
            ("a".to_owned(), b"1".to_vec()),
            ("b".to_owned(), b"2".to_vec()),
        ];
        store.set_many("s", &entries).unwrap();
        let keys = ["a".to_owned(), "x".to_owned(), "b".to_owned()];
        assert_eq!(
            store.get_many("s", &keys).unwrap(),
            [Some(b"1".to_vec()), None, Some(b"2".to_vec())]
        );
        store.delete_many("s", &keys).unwrap();
        assert_eq!(store.get_many("s", &keys).unwrap(), [None, None, None]);
        assert!(store.get_many("s", &[]).unwrap().is_empty());
        store.set_many("s", &[]).unwrap();
        store.delete_many("s", &[]).unwrap();
    }

    #[test]
    fn a_stopped_server_is_an_error_and_a_restarted_one_is_used_again() {
        let mut server = redis_or_skip!();
        let mut options = RedisOptions::new(server.url());
        options.connect_timeout = Duration::from_millis(500);
        let store = RedisStore::open(options).unwrap();
        store.set("s", "k", b"v").unwrap();

        server.stop();
        let error = store.get("s", "k").unwrap_err().to_string();
        assert!(error.contains("cannot connect to Redis"), "{error}");
        assert!(
            store.compare_and_swap("s", "k", Some(b"v"), b"w").is_err(),
            "no swap without a server"
        );

        // Same port, empty data (the test server keeps nothing on disk).
        server.restart();
        assert_eq!(store.get("s", "k").unwrap(), None);
        assert_eq!(
            store.compare_and_swap("s", "k", None, b"w").unwrap(),
            CasOutcome::Swapped
        );
    }

    #[test]
    fn pooled_connections_survive_a_server_restart_for_reads() {
        let mut server = redis_or_skip!();
        let store = store(&server);
        store.set("s", "k", b"v").unwrap();
        // The idle connection now points at a server that goes away and comes back.
        server.stop();
        server.restart();
        assert_eq!(
            store.get("s", "k").unwrap(),
            None,
            "retried on a new connection"
        );
    }
}
