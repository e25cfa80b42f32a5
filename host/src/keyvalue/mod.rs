//! Key-value storage for components: `wasi:keyvalue@0.2.0-draft2` over a durable backend.
//!
//! - [`KvBackend`] is the storage a host process uses: the operations the WASI interfaces
//!   need, each atomic on its own. [`redb_store::RedbStore`] keeps everything in one
//!   embedded database file; [`redis_store::RedisStore`] keeps it in Redis, shared by
//!   several host processes.
//! - [`config`] says which backend holds each store label and opens them at start-up.
//! - [`wasi`] links the Spin-compatible `wasi:keyvalue/{store,atomics,batch}` draft2
//!   interfaces into a component linker and enforces which stores (labels) each component
//!   may open.
//!
//! A store label (`key_value_stores = ["default"]`) names a separate key space.

pub mod config;
pub mod redb_store;
pub mod redis_store;
pub mod router;
#[cfg(any(test, feature = "test-support"))]
pub mod test_redis;
pub mod wasi;

use thiserror::Error;

/// A failure of the storage backend. The message is logged by the host; the component is
/// told only that storage failed.
#[derive(Debug, Error)]
#[error("key-value storage failed: {0}")]
pub struct StorageError(pub String);

impl StorageError {
    /// Wraps any displayable backend error.
    pub fn new(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

/// The result of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    /// The value was still the expected one and is now the new one.
    Swapped,
    /// The value had changed; this is what it is now.
    Conflict(Option<Vec<u8>>),
}

/// A durable key-value backend. Every method is atomic; a write is durable when it
/// returns `Ok`.
pub trait KvBackend: Send + Sync + 'static {
    /// Whether a read may wait on the network. Such reads run on the blocking pool; reads
    /// of a local database are served on the calling task, without a thread hop on the
    /// request path. Writes always run on the blocking pool (they wait for durability).
    fn reads_wait_on_network(&self) -> bool {
        true
    }

    /// The value of `key` in `store`.
    fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Sets `key` to `value`.
    fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), StorageError>;

    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, store: &str, key: &str) -> Result<(), StorageError>;

    /// Whether `key` exists.
    fn exists(&self, store: &str, key: &str) -> Result<bool, StorageError> {
        Ok(self.get(store, key)?.is_some())
    }

    /// Up to `limit` keys in ascending order, starting after `after` when given.
    fn list_keys(
        &self,
        store: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// Sets `key` to `new` only if its value is still `expected` (`None`: absent).
    fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, StorageError>;

    /// Adds `delta` to the integer stored at `key` (absent counts as 0) and returns the
    /// new value. Integers are stored as decimal text, as Redis does.
    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, StorageError>;

    /// The values of several keys, in order.
    fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        keys.iter().map(|key| self.get(store, key)).collect()
    }

    /// Sets several keys.
    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        entries
            .iter()
            .try_for_each(|(key, value)| self.set(store, key, value))
    }

    /// Removes several keys.
    fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), StorageError> {
        keys.iter().try_for_each(|key| self.delete(store, key))
    }
}

/// Parses the decimal integer stored by [`KvBackend::increment`].
pub(crate) fn parse_counter(value: Option<&[u8]>) -> Result<i64, StorageError> {
    let Some(bytes) = value else {
        return Ok(0);
    };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| StorageError("the stored value is not an integer".to_owned()))
}
