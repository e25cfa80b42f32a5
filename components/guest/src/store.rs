//! Key-value storage: the trait the records are written through, and an in-memory store.
//!
//! In the component the store is `wasi:keyvalue/store` bucket `default`, with
//! `wasi:keyvalue/atomics` for compare-and-swap (see `wasi.rs`). Keys are namespaced
//! `<purpose>/<platform>/<id>`: `accounts/<connector>/<user>` for [`crate::account`] and
//! `pending/<connector>/<id>` for [`crate::state`]. Anything that must happen once (consuming a
//! state, rotating a refresh token) goes through [`KeyValue::compare_and_swap`]; a plain
//! get-then-set loses updates when requests run concurrently.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::error::ApiError;

/// A failure of the store itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store: {0}")]
pub struct StoreError(pub String);

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error.to_string())
    }
}

/// Durable key-value storage with compare-and-swap.
pub trait KeyValue {
    /// The value at `key`, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes `value` at `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key` (absent is fine).
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Writes `new` at `key` only if the current value is still `expected` (`None`: the key
    /// is absent). `Ok(true)` when written, `Ok(false)` when someone else changed it first.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError>;
}

/// An in-memory store for tests and embedders; clones share the same data, so two
/// "instances" in a test can race on it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// All keys currently stored (for assertions).
    pub fn keys(&self) -> Vec<String> {
        self.lock()
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>>, StoreError> {
        self.0
            .lock()
            .map_err(|_| StoreError("memory store poisoned".into()))
    }
}

impl KeyValue for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.lock()?.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock()?.remove(key);
        Ok(())
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut map = self.lock()?;
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_swap_only_wins_on_the_expected_value() {
        let store = MemoryStore::new();
        assert!(store.compare_and_swap("k", None, b"a").unwrap());
        assert!(!store.compare_and_swap("k", None, b"b").unwrap());
        assert!(!store.compare_and_swap("k", Some(b"x"), b"b").unwrap());
        assert!(store.compare_and_swap("k", Some(b"a"), b"b").unwrap());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"b"[..]));
        store.delete("k").unwrap();
        assert_eq!(store.get("k").unwrap(), None);
    }
}
