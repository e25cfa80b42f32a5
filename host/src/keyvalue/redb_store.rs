//! The default key-value backend: one embedded [redb](https://docs.rs/redb) database file.
//!
//! Each store label is a table named `kv/<label>`. Every write is its own transaction,
//! committed with immediate durability, so a value is on disk when `set` returns.
//! Compare-and-swap and increment read and write inside one write transaction; redb
//! runs one write transaction at a time, which makes them atomic. Reads use snapshot
//! transactions and never wait for writers.

use std::ops::Bound;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::{CasOutcome, KvBackend, StorageError, parse_counter};

/// A key-value backend stored in one redb file.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

fn table_name(store: &str) -> String {
    format!("kv/{store}")
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`. Only one process may have it open.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(|e| {
            StorageError(format!("cannot open the database {}: {e}", path.display()))
        })?;
        Ok(Self { db })
    }

    /// Runs `f` on the store's table inside one write transaction and commits.
    fn write<R>(
        &self,
        store: &str,
        f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let name = table_name(store);
        let definition = TableDefinition::<&str, &[u8]>::new(&name);
        let txn = self.db.begin_write().map_err(StorageError::new)?;
        let result = {
            let mut table = txn.open_table(definition).map_err(StorageError::new)?;
            f(&mut table)?
        };
        txn.commit().map_err(StorageError::new)?;
        Ok(result)
    }

    /// Runs `f` on the store's table in a read snapshot; `None` when the table was never
    /// written.
    fn read<R>(
        &self,
        store: &str,
        f: impl FnOnce(&redb::ReadOnlyTable<&str, &[u8]>) -> Result<R, StorageError>,
    ) -> Result<Option<R>, StorageError> {
        let name = table_name(store);
        let definition = TableDefinition::<&str, &[u8]>::new(&name);
        let txn = self.db.begin_read().map_err(StorageError::new)?;
        match txn.open_table(definition) {
            Ok(table) => f(&table).map(Some),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(StorageError::new(e)),
        }
    }
}

fn current_value(
    table: &redb::Table<&str, &[u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(table
        .get(key)
        .map_err(StorageError::new)?
        .map(|guard| guard.value().to_vec()))
}

impl KvBackend for RedbStore {
    fn reads_wait_on_network(&self) -> bool {
        false
    }

    fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let found = self.read(store, |table| {
            Ok(table
                .get(key)
                .map_err(StorageError::new)?
                .map(|guard| guard.value().to_vec()))
        })?;
        Ok(found.flatten())
    }

    fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write(store, |table| {
            table.insert(key, value).map_err(StorageError::new)?;
            Ok(())
        })
    }

    fn delete(&self, store: &str, key: &str) -> Result<(), StorageError> {
        self.write(store, |table| {
            table.remove(key).map_err(StorageError::new)?;
            Ok(())
        })
    }

    fn list_keys(
        &self,
        store: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let keys = self.read(store, |table| {
            let lower = match after {
                Some(after) => Bound::Excluded(after),
                None => Bound::Unbounded,
            };
            let range = table
                .range::<&str>((lower, Bound::Unbounded))
                .map_err(StorageError::new)?;
            let mut keys = Vec::new();
            for entry in range.take(limit) {
                let (key, _) = entry.map_err(StorageError::new)?;
                keys.push(key.value().to_owned());
            }
            Ok(keys)
        })?;
        Ok(keys.unwrap_or_default())
    }

    fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<CasOutcome, StorageError> {
        self.write(store, |table| {
            let current = current_value(table, key)?;
            if current.as_deref() != expected {
                return Ok(CasOutcome::Conflict(current));
            }
            table.insert(key, new).map_err(StorageError::new)?;
            Ok(CasOutcome::Swapped)
        })
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, StorageError> {
        self.write(store, |table| {
            let current = parse_counter(current_value(table, key)?.as_deref())?;
            let next = current
                .checked_add(delta)
                .ok_or_else(|| StorageError("the counter would overflow".to_owned()))?;
            table
                .insert(key, next.to_string().as_bytes())
                .map_err(StorageError::new)?;
            Ok(next)
        })
    }

    fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let found = self.read(store, |table| {
            keys.iter()
                .map(|key| {
                    Ok(table
                        .get(key.as_str())
                        .map_err(StorageError::new)?
                        .map(|guard| guard.value().to_vec()))
                })
                .collect::<Result<Vec<_>, StorageError>>()
        })?;
        Ok(found.unwrap_or_else(|| vec![None; keys.len()]))
    }

    fn set_many(&self, store: &str, entries: &[(String, Vec<u8>)]) -> Result<(), StorageError> {
        self.write(store, |table| {
            for (key, value) in entries {
                table
                    .insert(key.as_str(), value.as_slice())
                    .map_err(StorageError::new)?;
            }
            Ok(())
        })
    }

    fn delete_many(&self, store: &str, keys: &[String]) -> Result<(), StorageError> {
        self.write(store, |table| {
            for key in keys {
                table.remove(key.as_str()).map_err(StorageError::new)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn open(dir: &tempfile::TempDir) -> RedbStore {
        RedbStore::open(&dir.path().join("kv.redb")).unwrap()
    }

    #[test]
    fn values_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(&dir);
            store.set("default", "accounts/bluesky/u1", b"v1").unwrap();
            store.set("default", "gone", b"x").unwrap();
            store.delete("default", "gone").unwrap();
        }
        let store = open(&dir);
        assert_eq!(
            store
                .get("default", "accounts/bluesky/u1")
                .unwrap()
                .as_deref(),
            Some(&b"v1"[..])
        );
        assert_eq!(store.get("default", "gone").unwrap(), None);
        assert!(!store.exists("default", "gone").unwrap());
    }

    #[test]
    fn a_second_open_of_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = open(&dir);
        assert!(RedbStore::open(&dir.path().join("kv.redb")).is_err());
    }

    #[test]
    fn stores_are_separate_key_spaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.set("a", "k", b"1").unwrap();
        assert_eq!(store.get("b", "k").unwrap(), None);
        assert_eq!(store.get("never-written", "k").unwrap(), None);
    }

    #[test]
    fn list_keys_pages_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        for key in ["c", "a", "b", "d"] {
            store.set("s", key, b"").unwrap();
        }
        assert_eq!(store.list_keys("s", None, 3).unwrap(), ["a", "b", "c"]);
        assert_eq!(store.list_keys("s", Some("c"), 3).unwrap(), ["d"]);
        assert!(store.list_keys("empty", None, 3).unwrap().is_empty());
    }

    #[test]
    fn compare_and_swap_refuses_a_stale_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        assert_eq!(
            store.compare_and_swap("s", "k", None, b"one").unwrap(),
            CasOutcome::Swapped
        );
        // A second writer that also saw "absent" loses, and learns the current value.
        assert_eq!(
            store.compare_and_swap("s", "k", None, b"two").unwrap(),
            CasOutcome::Conflict(Some(b"one".to_vec()))
        );
        assert_eq!(
            store
                .compare_and_swap("s", "k", Some(b"one"), b"three")
                .unwrap(),
            CasOutcome::Swapped
        );
        assert_eq!(store.get("s", "k").unwrap().as_deref(), Some(&b"three"[..]));
    }

    #[test]
    fn exactly_one_concurrent_swap_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir));
        store.set("s", "pending/state", b"unused").unwrap();
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let snapshot = store.get("s", "pending/state").unwrap();
                    barrier.wait();
                    let new = format!("used-by-{i}");
                    store
                        .compare_and_swap("s", "pending/state", snapshot.as_deref(), new.as_bytes())
                        .unwrap()
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners = outcomes
            .iter()
            .filter(|o| **o == CasOutcome::Swapped)
            .count();
        assert_eq!(winners, 1, "{outcomes:?}");
    }

    #[test]
    fn increment_counts_from_zero_and_refuses_non_integers() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        assert_eq!(store.increment("s", "n", 5).unwrap(), 5);
        assert_eq!(store.increment("s", "n", -2).unwrap(), 3);
        assert_eq!(store.get("s", "n").unwrap().as_deref(), Some(&b"3"[..]));
        store.set("s", "text", b"abc").unwrap();
        assert!(store.increment("s", "text", 1).is_err());
    }

    #[test]
    fn batch_operations() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
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
    }
}
