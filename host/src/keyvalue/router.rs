//! A [`KvBackend`] that sends each store label to its own backend, for applications whose
//! labels live in different places (say `default` in Redis, `cache` in a local file).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CasOutcome, KvBackend, StorageError};

/// Routes every call to the backend of its store label.
pub struct LabelRouter {
    routes: BTreeMap<String, Arc<dyn KvBackend>>,
}

impl LabelRouter {
    /// A router over `routes` (label → backend).
    pub fn new(routes: BTreeMap<String, Arc<dyn KvBackend>>) -> Self {
        Self { routes }
    }

    fn backend(&self, store: &str) -> Result<&dyn KvBackend, StorageError> {
        // The WASI glue opens only declared labels, and every declared label has a route.
        self.routes
            .get(store)
            .map(AsRef::as_ref)
            .ok_or_else(|| StorageError(format!("no backend is configured for store `{store}`")))
    }
}

impl KvBackend for LabelRouter {
    fn reads_wait_on_network(&self) -> bool {
        self.routes
            .values()
            .any(|backend| backend.reads_wait_on_network())
    }

    fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.backend(store)?.get(store, key)
    }

    fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.backend(store)?.set(store, key, value)
    }

    fn delete(&self, store: &str, key: &str) -> Result<(), StorageError> {
        self.backend(store)?.delete(store, key)
    }

    fn exists(&self, store: &str, key: &str) -> Result<bool, StorageError> {
        self.backend(store)?.exists(store, key)
    }

    fn list_keys(
        &self,
        store: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.backend(store)?.list_keys(store, after, limit)
    }

    fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, StorageError> {
        self.backend(store)?
            .compare_and_swap(store, key, expected, new)
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, StorageError> {
        self.backend(store)?.increment(store, key, delta)
    }

    fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        self.backend(store)?.get_many(store, keys)
    }

    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        self.backend(store)?.set_many(store, entries)
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), StorageError> {
        self.backend(store)?.delete_many(store, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyvalue::redb_store::RedbStore;

    #[test]
    fn each_label_reaches_its_own_backend_and_unknown_ones_fail() {
        let dir = tempfile::tempdir().unwrap();
        let a: Arc<dyn KvBackend> = Arc::new(RedbStore::open(&dir.path().join("a")).unwrap());
        let b: Arc<dyn KvBackend> = Arc::new(RedbStore::open(&dir.path().join("b")).unwrap());
        let router = LabelRouter::new(BTreeMap::from([
            ("one".to_owned(), Arc::clone(&a)),
            ("two".to_owned(), Arc::clone(&b)),
        ]));
        router.set("one", "k", b"1").unwrap();
        router.set("two", "k", b"2").unwrap();
        assert_eq!(a.get("one", "k").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(a.get("two", "k").unwrap(), None);
        assert_eq!(b.get("two", "k").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(router.increment("two", "n", 2).unwrap(), 2);
        assert!(router.get("three", "k").is_err());
    }
}
