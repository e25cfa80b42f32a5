//! Which backend holds each key-value store label, and opening them at start-up.
//!
//! By default every label lives in `kv.redb` in the host's data directory. A
//! [`KeyValueConfig`] moves labels elsewhere: another redb file, or Redis so that several
//! host processes share them. It is what [`crate::HostOptions::key_value`] holds and what
//! a Spin runtime-config file ([`crate::runtime_config`]) turns into.
//!
//! [`open`] opens each backend once (two labels configured with the same file or server
//! share it, each in its own key space) and, when labels live in different backends, puts
//! a [`LabelRouter`] in front of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use super::KvBackend;
use super::StorageError;
use super::redb_store::RedbStore;
use super::redis_store::{RedisOptions, RedisStore, RedisStoreError, RedisUrl};
use super::router::LabelRouter;

/// Where one store label lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `kv.redb` in the host's data directory (the default).
    DataDir,
    /// An embedded redb file at this path (Spin's `type = "spin"`). Only one process may
    /// open it.
    Redb {
        /// The database file; created if missing.
        path: PathBuf,
    },
    /// A Redis server (Spin's `type = "redis"`), shareable by several host processes.
    Redis(RedisOptions),
}

/// Where each key-value store label lives; labels not listed use [`StoreConfig::DataDir`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValueConfig {
    /// Backends by store label (`key_value_stores = ["default"]` in `spin.toml`).
    pub stores: BTreeMap<String, StoreConfig>,
}

impl KeyValueConfig {
    /// The `default` store in Redis at `url`, with the default prefix and timeouts.
    pub fn redis(url: RedisUrl) -> Self {
        Self::default().with_store("default", StoreConfig::Redis(RedisOptions::new(url)))
    }

    /// Puts store `label` in `store`.
    pub fn with_store(mut self, label: impl Into<String>, store: StoreConfig) -> Self {
        self.stores.insert(label.into(), store);
        self
    }

    /// Where `label` lives.
    pub fn store(&self, label: &str) -> &StoreConfig {
        self.stores.get(label).unwrap_or(&StoreConfig::DataDir)
    }
}

/// Why the key-value storage could not be opened.
#[derive(Debug, Error)]
pub enum KeyValueOpenError {
    /// A redb file could not be opened (another process has it, or the disk refused).
    #[error("key-value store `{label}`: {error}")]
    Redb {
        /// The first label that uses the file.
        label: String,
        /// What went wrong.
        error: StorageError,
    },
    /// Redis could not be reached or the URL is wrong.
    #[error("key-value store `{label}`: {error}")]
    Redis {
        /// The first label that uses the server.
        label: String,
        /// What went wrong.
        error: RedisStoreError,
    },
}

/// A backend's identity, so that labels configured alike share one backend.
#[derive(PartialEq)]
enum Location {
    File(PathBuf),
    Redis(RedisOptions),
}

/// Opens the backends of the store `labels` the application declares. Blocks (files,
/// network): call it from a blocking context.
pub fn open(
    config: &KeyValueConfig,
    data_dir: &Path,
    labels: &BTreeSet<String>,
) -> Result<Arc<dyn KvBackend>, KeyValueOpenError> {
    for label in config.stores.keys().filter(|l| !labels.contains(*l)) {
        tracing::info!(store = %label, "key-value store configured but used by no component");
    }
    // With no label declared, keep the data directory's file so that the storage exists.
    let default_label = BTreeSet::from(["default".to_owned()]);
    let labels = if labels.is_empty() {
        &default_label
    } else {
        labels
    };

    let mut opened: Vec<(Location, Arc<dyn KvBackend>)> = Vec::new();
    let mut routes = BTreeMap::new();
    for label in labels {
        let location = match config.store(label) {
            StoreConfig::DataDir => file_location(label, &data_dir.join(crate::KV_FILE))?,
            StoreConfig::Redb { path } => file_location(label, path)?,
            StoreConfig::Redis(options) => Location::Redis(options.clone()),
        };
        let existing = opened.iter().find(|(l, _)| *l == location);
        let backend = match existing {
            Some((_, backend)) => Arc::clone(backend),
            None => {
                let backend = open_location(label, &location)?;
                opened.push((location, Arc::clone(&backend)));
                backend
            }
        };
        routes.insert(label.clone(), backend);
    }

    match opened.as_slice() {
        [(_, only)] => Ok(Arc::clone(only)),
        _ => Ok(Arc::new(LabelRouter::new(routes))),
    }
}

fn open_location(
    label: &str,
    location: &Location,
) -> Result<Arc<dyn KvBackend>, KeyValueOpenError> {
    match location {
        Location::File(path) => {
            tracing::info!(
                store = %label,
                backend = "redb",
                path = %path.display(),
                "key-value store"
            );
            let store = RedbStore::open(path).map_err(|error| KeyValueOpenError::Redb {
                label: label.to_owned(),
                error,
            })?;
            Ok(Arc::new(store))
        }
        Location::Redis(options) => {
            tracing::info!(
                store = %label,
                backend = "redis",
                url = %options.url,
                prefix = %options.prefix,
                "key-value store"
            );
            let store =
                RedisStore::open(options.clone()).map_err(|error| KeyValueOpenError::Redis {
                    label: label.to_owned(),
                    error,
                })?;
            Ok(Arc::new(store))
        }
    }
}

/// A database file's location: its directory (created if missing) resolved to its
/// canonical form, so that two spellings of one file are recognised as one.
fn file_location(label: &str, path: &Path) -> Result<Location, KeyValueOpenError> {
    let failed = |what: &str, dir: &Path, e: std::io::Error| KeyValueOpenError::Redb {
        label: label.to_owned(),
        error: StorageError(format!("cannot {what} {}: {e}", dir.display())),
    };
    let name = path.file_name().ok_or_else(|| KeyValueOpenError::Redb {
        label: label.to_owned(),
        error: StorageError(format!("{} does not name a file", path.display())),
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| failed("create", dir, e))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| failed("resolve", dir, e))?;
    Ok(Location::File(dir.join(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyvalue::test_redis::TestRedis;

    fn labels(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn by_default_every_label_is_in_the_data_directory_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = KeyValueConfig::default();
        let backend = open(&config, dir.path(), &labels(&["default", "other"])).unwrap();
        backend.set("default", "k", b"1").unwrap();
        backend.set("other", "k", b"2").unwrap();
        drop(backend);
        let file = RedbStore::open(&dir.path().join(crate::KV_FILE)).unwrap();
        assert_eq!(
            file.get("default", "k").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(file.get("other", "k").unwrap().as_deref(), Some(&b"2"[..]));
    }

    #[test]
    fn labels_configured_with_one_file_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/shared.redb");
        let config = KeyValueConfig::default()
            .with_store("a", StoreConfig::Redb { path: path.clone() })
            .with_store(
                "b",
                StoreConfig::Redb {
                    path: dir.path().join("sub/../sub/shared.redb"),
                },
            );
        // Opening the same file twice in one process would fail: it must be shared.
        let backend = open(&config, dir.path(), &labels(&["a", "b", "c"])).unwrap();
        backend.set("a", "k", b"1").unwrap();
        backend.set("c", "k", b"3").unwrap();
        assert_eq!(backend.get("b", "k").unwrap(), None);
        drop(backend);
        let shared = RedbStore::open(&path).unwrap();
        assert_eq!(shared.get("a", "k").unwrap().as_deref(), Some(&b"1"[..]));
        let data_dir = RedbStore::open(&dir.path().join(crate::KV_FILE)).unwrap();
        assert_eq!(data_dir.get("c", "k").unwrap().as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn an_unreachable_redis_stops_start_up_naming_the_label() {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::keyvalue::test_redis::free_port();
        let mut options = RedisOptions::new(RedisUrl::new(format!("redis://127.0.0.1:{port}")));
        options.connect_timeout = std::time::Duration::from_millis(300);
        let config = KeyValueConfig::default().with_store("default", StoreConfig::Redis(options));
        let Err(error) = open(&config, dir.path(), &labels(&["default"])) else {
            panic!("nothing listens on port {port}");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("key-value store `default`"),
            "{message}"
        );
        assert!(message.contains("cannot connect to Redis"), "{message}");
    }

    #[test]
    fn labels_in_redis_and_in_a_file_are_routed() {
        let Some(server) = TestRedis::start() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = KeyValueConfig::redis(server.url());
        let backend = open(&config, dir.path(), &labels(&["default", "local"])).unwrap();
        backend.set("default", "k", b"shared").unwrap();
        backend.set("local", "k", b"mine").unwrap();
        let in_redis: Option<Vec<u8>> = server.command(&["GET", "hayon:default:k"]);
        assert_eq!(in_redis.as_deref(), Some(&b"shared"[..]));
        let in_redis: Option<Vec<u8>> = server.command(&["GET", "hayon:local:k"]);
        assert_eq!(in_redis, None);
        drop(backend);
        let file = RedbStore::open(&dir.path().join(crate::KV_FILE)).unwrap();
        assert_eq!(
            file.get("local", "k").unwrap().as_deref(),
            Some(&b"mine"[..])
        );
        assert_eq!(file.get("default", "k").unwrap(), None);
    }
}
