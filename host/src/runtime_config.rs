//! Spin's runtime-configuration file (`spin up --runtime-config-file <file>`), read the
//! way Spin reads it, so that one file configures a Spin deployment and `hayon-host`
//! alike (`hayon-host --runtime-config-file <file>`).
//!
//! What the host takes from it is where each key-value store lives:
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"                  # shared by every host process
//! url = "redis://:password@redis.internal:6379/0"
//! # prefix = "hayon"              # hayon-host only: keys are <prefix>:<label>:<key>
//!
//! [key_value_store.cache]
//! type = "spin"                   # an embedded file; Spin uses SQLite, this host redb
//! path = ".spin/cache.db"         # relative to this file's directory, as in Spin
//! ```
//!
//! A `type` other than `spin` or `redis` stops start-up with a message naming it. Sections
//! this host does not use (`[[config_provider]]`, `[sqlite_database.*]`, `state_dir`, ...)
//! are listed in [`RuntimeConfig::ignored`] and logged when loaded; variables come from
//! the environment instead (see `crate::variables`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::keyvalue::config::{KeyValueConfig, StoreConfig};
use crate::keyvalue::redis_store::{RedisOptions, RedisUrl};

/// The table that configures key-value stores.
const KEY_VALUE_STORE: &str = "key_value_store";

/// What the host uses of a runtime-configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Where each key-value store label lives.
    pub key_value: KeyValueConfig,
    /// Top-level sections present in the file that this host does not use.
    pub ignored: Vec<String>,
}

/// Why a runtime-configuration file was refused.
#[derive(Debug, Error)]
pub enum RuntimeConfigError {
    /// The file cannot be read.
    #[error("cannot read the runtime config file {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file is not TOML, or a table has the wrong shape.
    #[error("the runtime config file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A key-value store has a `type` this host cannot provide.
    #[error(
        "[key_value_store.{label}] in {path}: type \"{store_type}\" is not supported; \
         hayon-host provides \"redis\" and \"spin\" (an embedded database file)"
    )]
    UnknownStoreType {
        /// The file.
        path: PathBuf,
        /// The store label.
        label: String,
        /// The type found.
        store_type: String,
    },
}

/// `type = "spin"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinStore {
    path: Option<PathBuf>,
}

/// `type = "redis"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisStore {
    url: String,
    prefix: Option<String>,
}

impl RuntimeConfig {
    /// Reads and checks `path`, logging the sections it ignores.
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| RuntimeConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        let config = Self::parse(&text, path)?;
        for section in &config.ignored {
            tracing::warn!(
                file = %path.display(),
                section = %section,
                "runtime config: hayon-host does not use this section; ignored"
            );
        }
        Ok(config)
    }

    /// Parses the text of the file at `path` (relative store paths are resolved against
    /// its directory).
    pub fn parse(text: &str, path: &Path) -> Result<Self, RuntimeConfigError> {
        let invalid = |message: String| RuntimeConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let base_dir = path.parent().unwrap_or(Path::new("."));

        let mut config = RuntimeConfig::default();
        for (name, value) in table {
            if name != KEY_VALUE_STORE {
                config.ignored.push(name);
                continue;
            }
            let toml::Value::Table(stores) = value else {
                return Err(invalid(format!(
                    "`{KEY_VALUE_STORE}` must be a table of stores"
                )));
            };
            for (label, store) in stores {
                let store = parse_store(&label, store, base_dir, path)?;
                config.key_value.stores.insert(label, store);
            }
        }
        config.ignored.sort();
        Ok(config)
    }
}

fn parse_store(
    label: &str,
    value: toml::Value,
    base_dir: &Path,
    path: &Path,
) -> Result<StoreConfig, RuntimeConfigError> {
    let invalid = |message: String| RuntimeConfigError::Invalid {
        path: path.to_owned(),
        message: format!("[{KEY_VALUE_STORE}.{label}]: {message}"),
    };
    let toml::Value::Table(mut table) = value else {
        return Err(invalid("must be a table".to_owned()));
    };
    let store_type = match table.remove("type") {
        Some(toml::Value::String(store_type)) => store_type,
        Some(_) => return Err(invalid("`type` must be a string".to_owned())),
        None => {
            return Err(invalid(
                "`type` is missing (\"redis\" or \"spin\")".to_owned(),
            ));
        }
    };
    let fields = toml::Value::Table(table);
    match store_type.as_str() {
        "spin" => {
            let spin: SpinStore = fields.try_into().map_err(|e| invalid(message_of(&e)))?;
            Ok(match spin.path {
                // Spin keeps such a store in memory; this host always keeps data durable.
                None => StoreConfig::DataDir,
                Some(file) => StoreConfig::Redb {
                    path: base_dir.join(file),
                },
            })
        }
        "redis" => {
            let redis: RedisStore = fields.try_into().map_err(|e| invalid(message_of(&e)))?;
            let mut options = RedisOptions::new(RedisUrl::new(redis.url));
            if let Some(prefix) = redis.prefix {
                if prefix.is_empty() {
                    return Err(invalid("`prefix` must not be empty".to_owned()));
                }
                options.prefix = prefix;
            }
            Ok(StoreConfig::Redis(options))
        }
        _ => Err(RuntimeConfigError::UnknownStoreType {
            path: path.to_owned(),
            label: label.to_owned(),
            store_type,
        }),
    }
}

/// A deserialization error without the offending value (a URL may hold a password).
fn message_of(error: &toml::de::Error) -> String {
    error.message().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/spin")
            .join(name)
    }

    #[test]
    fn the_shipped_redis_file_selects_redis_for_the_default_store() {
        let path = shipped("runtime-config.redis.toml");
        let config = RuntimeConfig::load(&path).unwrap();
        let expected = RedisOptions::new(RedisUrl::new("redis://127.0.0.1:6379"));
        assert_eq!(
            config.key_value.store("default"),
            &StoreConfig::Redis(expected)
        );
        assert!(config.ignored.is_empty(), "{:?}", config.ignored);
    }

    #[test]
    fn the_shipped_sqlite_file_selects_a_file_next_to_it() {
        let path = shipped("runtime-config.sqlite.toml");
        let config = RuntimeConfig::load(&path).unwrap();
        assert_eq!(
            config.key_value.store("default"),
            &StoreConfig::Redb {
                path: shipped(".spin/hayon-connectors.db")
            }
        );
    }

    #[test]
    fn the_shipped_vault_file_is_accepted_and_its_provider_ignored() {
        let config = RuntimeConfig::load(&shipped("runtime-config.vault.toml")).unwrap();
        assert_eq!(config.ignored, ["config_provider"]);
        assert!(matches!(
            config.key_value.store("default"),
            StoreConfig::Redis(_)
        ));
    }

    #[test]
    fn several_stores_a_prefix_and_unused_sections() {
        let text = r#"
            state_dir = ".spin"
            [key_value_store.default]
            type = "redis"
            url = "redis://:pw@localhost:6380/3"
            prefix = "staging"
            [key_value_store.cache]
            type = "spin"
            path = "/var/lib/hayon/cache.db"
            [key_value_store.scratch]
            type = "spin"
            [sqlite_database.default]
            type = "libsql"
        "#;
        let config = RuntimeConfig::parse(text, Path::new("/etc/hayon/rc.toml")).unwrap();
        let StoreConfig::Redis(redis) = config.key_value.store("default") else {
            panic!("{config:?}");
        };
        assert_eq!(redis.url.expose(), "redis://:pw@localhost:6380/3");
        assert_eq!(redis.prefix, "staging");
        assert_eq!(
            config.key_value.store("cache"),
            &StoreConfig::Redb {
                path: "/var/lib/hayon/cache.db".into()
            }
        );
        assert_eq!(config.key_value.store("scratch"), &StoreConfig::DataDir);
        assert_eq!(config.key_value.store("unlisted"), &StoreConfig::DataDir);
        assert_eq!(config.ignored, ["sqlite_database", "state_dir"]);
        assert!(!format!("{config:?}").contains(":pw@"), "{config:?}");
    }

    #[test]
    fn unknown_types_and_malformed_stores_are_refused_by_name() {
        let path = Path::new("rc.toml");
        let error = RuntimeConfig::parse(
            "[key_value_store.default]\ntype = \"azure_cosmos\"\naccount = \"x\"\n",
            path,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("type \"azure_cosmos\" is not supported"),
            "{error}"
        );
        assert!(
            error.to_string().contains("[key_value_store.default]"),
            "{error}"
        );

        let cases = [
            (
                "[key_value_store.default]\nurl = \"redis://h\"\n",
                "`type` is missing",
            ),
            (
                "[key_value_store.default]\ntype = \"redis\"\n",
                "missing field `url`",
            ),
            (
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://h\"\nuser = \"x\"\n",
                "unknown field `user`",
            ),
            (
                "[key_value_store.default]\ntype = \"spin\"\npath = 3\n",
                "[key_value_store.default]",
            ),
            ("key_value_store = 1\n", "must be a table"),
            ("[key_value_store\n", "not valid"),
        ];
        for (text, expected) in cases {
            let error = RuntimeConfig::parse(text, path).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let error = RuntimeConfig::load(Path::new("/nonexistent/rc.toml")).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/rc.toml"),
            "{error}"
        );
    }
}
