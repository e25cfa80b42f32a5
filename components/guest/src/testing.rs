//! In-memory parts for native tests of the library and of every connector.
//!
//! [`TestEnv`] holds a shared [`MemoryStore`], a configuration map and a [`FixedClock`];
//! each call to [`TestEnv::env`] makes a fresh [`Env`] over the same data, the way each
//! request gets a fresh component instance over the same key-value store. Nothing here
//! performs I/O: outbound calls go to a closure the test provides.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::auth::issue_token;
use crate::config::ConfigSource;
use crate::env::Env;
use crate::error::ApiError;
use crate::outbound::{Outbound, OutboundRequest, OutboundResponse, TransportError};
use crate::secret::Secret;
use crate::store::{KeyValue, MemoryStore, StoreError};
use crate::time::{Clock, FixedClock, Timestamp};

/// The bearer secret [`TestEnv`] configures.
pub const TEST_ACCESS_TOKEN_SECRET: &str = "test-access-token-secret";
/// The time a [`TestEnv`] clock starts at: 2026-08-20T12:00:00Z.
pub const TEST_START: Timestamp = Timestamp::from_unix(1_787_227_200);

/// Configuration shared between clones, changeable during a test.
#[derive(Debug, Clone, Default)]
pub struct SharedConfig(Arc<Mutex<BTreeMap<String, String>>>);

impl ConfigSource for SharedConfig {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        let map = self.0.lock().map_err(|_| "config poisoned".to_owned())?;
        Ok(map.get(key).cloned())
    }
}

/// A test's shared storage, configuration and clock. Clones share all three, like two
/// component instances on one host.
#[derive(Clone)]
pub struct TestEnv {
    /// The key-value data every [`Env`] made here shares.
    pub store: MemoryStore,
    /// The configuration every [`Env`] made here reads.
    pub config: SharedConfig,
    /// The clock every [`Env`] made here reads.
    pub clock: FixedClock,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// Storage empty, the clock at [`TEST_START`], and the shared settings configured:
    /// `access_token_secret`, `token_encryption_key`, `frontend_url`
    /// (`https://app.example`) and `public_base_url` (`https://api.example`).
    pub fn new() -> Self {
        let test = Self {
            store: MemoryStore::new(),
            config: SharedConfig::default(),
            clock: FixedClock::at(TEST_START),
        };
        test.config_set("access_token_secret", TEST_ACCESS_TOKEN_SECRET);
        test.config_set("token_encryption_key", &"42".repeat(32));
        test.config_set("frontend_url", "https://app.example");
        test.config_set("public_base_url", "https://api.example");
        test
    }

    /// Sets a configuration value.
    pub fn config_set(&self, key: &str, value: &str) {
        if let Ok(mut map) = self.config.0.lock() {
            map.insert(key.to_owned(), value.to_owned());
        }
    }

    /// A fresh [`Env`] whose outbound calls all fail (no network in unit tests).
    pub fn env(&self) -> Env {
        self.env_with(
            |_: &OutboundRequest| -> Result<OutboundResponse, TransportError> {
                Err(TransportError::Connect(
                    "no outbound calls in this test".into(),
                ))
            },
        )
    }

    /// A fresh [`Env`] whose outbound calls go to `outbound`.
    pub fn env_with(&self, outbound: impl Outbound + 'static) -> Env {
        Env::new(
            Box::new(self.config.clone()),
            Box::new(self.store.clone()),
            Box::new(outbound),
            Box::new(self.clock.clone()),
        )
    }

    /// A fresh [`Env`] over another store (e.g. an [`InterleavedStore`]).
    pub fn env_with_store(&self, store: impl KeyValue + 'static) -> Env {
        let mut env = self.env();
        env.store = Box::new(store);
        env
    }

    /// An `Authorization` header value for `user`, valid for an hour.
    pub fn bearer(&self, user: &str) -> String {
        let exp = u64::try_from(self.clock.now().unix() + 3600).unwrap_or(0);
        let token =
            issue_token(user, exp, &Secret::new(TEST_ACCESS_TOKEN_SECRET)).unwrap_or_default();
        format!("Bearer {token}")
    }
}

type Hook = Box<dyn FnOnce()>;

/// A store that runs a hook just before its first compare-and-swap: the way to make
/// "another request wins between our read and our write" happen deterministically.
pub struct InterleavedStore {
    inner: MemoryStore,
    hook: RefCell<Option<Hook>>,
}

impl InterleavedStore {
    /// Wraps `inner`; `hook` runs once, before the first compare-and-swap.
    pub fn new(inner: MemoryStore, hook: impl FnOnce() + 'static) -> Self {
        Self {
            inner,
            hook: RefCell::new(Some(Box::new(hook))),
        }
    }
}

impl KeyValue for InterleavedStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let hook = self.hook.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.compare_and_swap(key, expected, new)
    }
}

/// Asserts that `error` is a platform's `not_configured` answer: the logged detail names
/// `variable`, the message for people does not and says connecting `platform` is not
/// available.
pub fn assert_unavailable_for(error: &ApiError, platform: &str, variable: &str) {
    assert!(error.to_string().contains(variable), "{error}");
    assert!(!error.public_message().contains(variable));
    let expected = format!("Connecting {platform} is not available on this server yet.");
    assert!(
        error.public_message().starts_with(&expected),
        "{}",
        error.public_message()
    );
}
