//! Embedding connectors: calling a component's `hayon:connector/connector` export directly,
//! without HTTP.
//!
//! Every connector component exports the same operations twice: over HTTP
//! (`wasi:http/incoming-handler`, what [`crate::start`] serves) and as typed calls (the
//! `connector` interface of `wit/connector.wit`). This module is for programs that want
//! the typed calls: a scheduler, a desktop application, a different server. Both paths run
//! the same code inside the component and read the same key-value records, so an account
//! connected over HTTP shows in [`LoadedConnector::status`] when both use one database.
//!
//! # What a connector needs from its host
//!
//! A component imports WASI interfaces only, and an [`Embedder`] links all of them:
//!
//! - WASI 0.2 `io`, `clocks`, `random` and `cli`: `wasmtime-wasi`;
//! - `wasi:http/outgoing-handler` (and `wasi:http/types`): `wasmtime-wasi-http`, with
//!   every request checked against the component's allow-list by the same hook the
//!   server uses ([`crate::outbound`]);
//! - `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`: [`crate::keyvalue`], over any
//!   [`KvBackend`] (the redb file of the server, or your own);
//! - `wasi:config/store@0.2.0-draft-2024-09-27`: [`crate::config_store`], over a map.
//!
//! A component that imports anything else is refused by [`Embedder::load`]. A host
//! written without this crate must link the same interfaces at the same versions: the
//! key-value and config drafts are the ones Spin links, not the ones the
//! `wasmtime-wasi-keyvalue` and `wasmtime-wasi-config` crates implement.
//!
//! # What a connector needs from its configuration
//!
//! [`ComponentSettings`] carries it:
//! - `config`: the values the component reads through `wasi:config`; the keys are those of
//!   the component's `[component.<id>.variables]` table in `spin.toml` (for example
//!   `token_encryption_key`, `public_base_url`, `bluesky_service_url`).
//!   [`ComponentSettings::from_manifest`] fills it from the manifest and resolved variables.
//! - `allowed_outbound_hosts`: where the component may send requests; anything else fails
//!   inside the component as `HTTP-request-denied` and is logged here.
//! - `kv`: the storage. Accounts and pending authorizations live there, sealed with
//!   `token_encryption_key`; a redirect flow begun by one call is completed by another
//!   only if both see the same store.
//!
//! # One fresh instance per call
//!
//! [`Embedder::load`] compiles and links a component once. Each typed call then
//! instantiates it anew in its own `Store` and drops it afterwards, as the HTTP host does
//! per request. Connectors keep nothing in guest memory between calls (everything lasting
//! is in key-value storage), so a fresh instance costs microseconds and buys isolation: a
//! trap, a runaway loop or a leak in one call cannot affect the next, and calls run
//! concurrently on clones of one [`LoadedConnector`]. Each call is bounded by
//! [`EmbedderOptions::call_timeout`] (guest time and outbound waits together) and
//! [`EmbedderOptions::memory_limit`].
//!
//! # How errors map
//!
//! Every call returns `Result<Result<T, E>, EmbedError>`:
//! - the outer [`EmbedError`] means the host could not run the call: the guest trapped
//!   ([`EmbedError::Trap`]) or ran out of time ([`EmbedError::Timeout`]). Retrying may
//!   help for a timeout; a trap is a defect in the component.
//! - the inner error is the connector's own answer. [`ConnectorError::kind`] is the
//!   contract's error code ([`ErrorKind::InvalidCredentials`] is `invalid_credentials`,
//!   [`ErrorKind::RateLimited`] comes with `retry_after_seconds`, and so on) and
//!   `message` is a sentence to show people. [`complete`](LoadedConnector::complete)
//!   fails with a [`CallbackError`] whose [`CallbackReason`] is the `error=` value of the
//!   HTTP callback redirect (`state-invalid` for a replayed or forged callback).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use hayon_host::embed::{BeginOutcome, ComponentSettings, Credentials, Embedder};
//! use hayon_host::keyvalue::redb_store::RedbStore;
//! use hayon_host::outbound::allow_list::AllowList;
//!
//! let embedder = Embedder::new(Default::default())?;
//! let kv = Arc::new(RedbStore::open("kv.redb".as_ref())?);
//! let mut settings = ComponentSettings::new("bluesky", kv);
//! settings.config.insert("token_encryption_key".into(), "<32 bytes, base64>".into());
//! settings.allowed_outbound_hosts =
//!     AllowList::parse(["https://bsky.social", "https://plc.directory", "https://*:443"])?;
//! let bluesky = embedder.load("hayon_bluesky.wasm".as_ref(), settings)?;
//!
//! let credentials = Credentials::new("alice.bsky.social", "abcd-efgh-ijkl-mnop");
//! match bluesky.begin("user-1", Some(&credentials)).await?? {
//!     BeginOutcome::Connected(accounts) => println!("connected {}", accounts[0].handle),
//!     BeginOutcome::Redirect(url) => println!("send the browser to {url}"),
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::config_store;
use crate::keyvalue::KvBackend;
use crate::keyvalue::wasi::{self as kv_wasi, KvAccess};
use crate::manifest::ComponentDecl;
use crate::metrics::ComponentMetrics;
use crate::outbound::OutboundHooks;
use crate::outbound::allow_list::AllowList;
use crate::outbound::client::{ClientSetupError, OutboundClient, OutboundOptions};
use crate::runtime::RequestState;
use crate::variables::{ResolvedVariables, VariableError};

/// Typed bindings generated from `wit/connector.wit`, world `connector-component`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "connector-component",
        exports: { default: async },
    });
}

use bindings::exports::hayon::connector::connector as wit;
use bindings::{ConnectorComponent, ConnectorComponentPre};

pub use wit::{
    Account, AccountStatus, AuthKind, BeginOutcome, CallbackError, CallbackReason, Completion,
    ConnectorError, DisconnectOutcome, ErrorKind, FieldError, PlatformInfo,
};

/// How often the epoch advances: the granularity of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why the host could not load a component or run a call.
#[derive(Debug, Error)]
pub enum EmbedError {
    /// The wasmtime engine or linker could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The outbound HTTP client could not be set up.
    #[error(transparent)]
    Outbound(#[from] ClientSetupError),
    /// The component's configuration could not be derived from the manifest.
    #[error(transparent)]
    Variables(#[from] VariableError),
    /// The file is not a WebAssembly component this engine can compile.
    #[error("cannot compile {path}: {message}")]
    Compile {
        /// The component file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The component imports something this host does not provide, or does not export
    /// `hayon:connector/connector@0.1.0`.
    #[error("cannot link {path}: {message}")]
    Link {
        /// The component file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The component trapped during a call (a panic, memory beyond
    /// [`EmbedderOptions::memory_limit`], another defect) or could not be instantiated.
    #[error("component {component}: `{operation}` trapped: {message}")]
    Trap {
        /// The component id.
        component: String,
        /// The connector operation.
        operation: &'static str,
        /// Wasmtime's description of the trap.
        message: String,
    },
    /// The call did not finish within [`EmbedderOptions::call_timeout`].
    #[error("component {component}: `{operation}` did not finish within {timeout:?}")]
    Timeout {
        /// The component id.
        component: String,
        /// The connector operation.
        operation: &'static str,
        /// The limit it reached.
        timeout: Duration,
    },
}

/// Credentials a person typed, for connectors whose auth kind is `credentials` (Bluesky).
/// `Debug` shows the identifier only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    identifier: String,
    password: String,
}

impl Credentials {
    /// An identifier (handle, e-mail address or DID, as typed) and an app password.
    pub fn new(identifier: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            password: password.into(),
        }
    }

    /// The identifier.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    fn to_wit(&self) -> wit::Credentials {
        wit::Credentials {
            identifier: self.identifier.clone(),
            password: self.password.clone(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("identifier", &self.identifier)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Engine-wide settings of an [`Embedder`]; `Default` gives the host server's defaults.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Longest time one call may take, instantiation and outbound requests included.
    pub call_timeout: Duration,
    /// Memory one instance may use, in bytes.
    pub memory_limit: usize,
    /// Limits for the components' outbound requests.
    pub outbound: OutboundOptions,
    /// Directory for caching compiled components across runs, if any.
    pub compile_cache: Option<PathBuf>,
}

impl Default for EmbedderOptions {
    /// 30 s per call, 64 MiB per instance, the server's outbound limits, no cache.
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(30),
            memory_limit: 64 << 20,
            outbound: OutboundOptions::default(),
            compile_cache: None,
        }
    }
}

/// What one component is given: storage, configuration and outbound permissions.
pub struct ComponentSettings {
    /// A name for logs and errors, usually the platform id (`bluesky`).
    pub id: String,
    /// The key-value backend; share one between connectors and with a `hayon-host` server
    /// to see the same accounts.
    pub kv: Arc<dyn KvBackend>,
    /// Key-value store labels the component may open (`["default"]` for every connector).
    pub key_value_stores: Vec<String>,
    /// Values the component reads through `wasi:config`, by key.
    pub config: BTreeMap<String, String>,
    /// Where the component may send HTTP requests; empty allows nothing.
    pub allowed_outbound_hosts: AllowList,
}

impl ComponentSettings {
    /// Settings with `kv` for the `default` store, no config and no outbound access.
    pub fn new(id: impl Into<String>, kv: Arc<dyn KvBackend>) -> Self {
        Self {
            id: id.into(),
            kv,
            key_value_stores: vec!["default".to_owned()],
            config: BTreeMap::new(),
            allowed_outbound_hosts: AllowList::default(),
        }
    }

    /// The settings `hayon-host` would give the manifest's component `decl`: its config
    /// table and `allowed_outbound_hosts` rendered with `variables`, and its key-value
    /// store labels. Load it from `decl.source`.
    pub fn from_manifest(
        decl: &ComponentDecl,
        variables: &ResolvedVariables,
        kv: Arc<dyn KvBackend>,
    ) -> Result<Self, EmbedError> {
        Ok(Self {
            id: decl.id.clone(),
            kv,
            key_value_stores: decl.key_value_stores.clone(),
            config: variables.component_config(decl),
            allowed_outbound_hosts: variables.allow_list(decl)?,
        })
    }
}

impl fmt::Debug for ComponentSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Config values include secrets: show the keys only.
        f.debug_struct("ComponentSettings")
            .field("id", &self.id)
            .field("key_value_stores", &self.key_value_stores)
            .field("config", &self.config.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A wasmtime engine and a linker with every interface a connector imports. Create one
/// per process and [`load`](Self::load) each connector component with it.
pub struct Embedder {
    engine: Engine,
    linker: Linker<RequestState>,
    client: OutboundClient,
    options: EmbedderOptions,
}

impl fmt::Debug for Embedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn engine_error(error: wasmtime::Error) -> EmbedError {
    EmbedError::Engine(format!("{error:#}"))
}

impl Embedder {
    /// Builds the engine (with epoch interruption, for call deadlines), the linker and the
    /// outbound client. Starts a thread that advances the epoch until the engine is dropped.
    pub fn new(options: EmbedderOptions) -> Result<Self, EmbedError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if let Some(dir) = &options.compile_cache {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            config.cache(Some(wasmtime::Cache::new(cache).map_err(engine_error)?));
        }
        let engine = Engine::new(&config).map_err(engine_error)?;

        let mut linker = Linker::<RequestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        kv_wasi::add_to_linker(&mut linker).map_err(engine_error)?;
        config_store::add_to_linker(&mut linker).map_err(engine_error)?;

        start_epoch_ticker(&engine)?;
        let client = OutboundClient::new(options.outbound)?;
        Ok(Self {
            engine,
            linker,
            client,
            options,
        })
    }

    /// Compiles the component at `path` and links it with `settings`. Compiling takes
    /// a second or more for a new file (less with [`EmbedderOptions::compile_cache`]);
    /// async callers should run it on a blocking thread.
    pub fn load(
        &self,
        path: &Path,
        settings: ComponentSettings,
    ) -> Result<LoadedConnector, EmbedError> {
        let component =
            Component::from_file(&self.engine, path).map_err(|e| EmbedError::Compile {
                path: path.to_owned(),
                message: format!("{e:#}"),
            })?;
        let link_error = |e: wasmtime::Error| EmbedError::Link {
            path: path.to_owned(),
            message: format!("{e:#}"),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(link_error)?;
        let pre = ConnectorComponentPre::new(pre).map_err(link_error)?;

        let id: Arc<str> = Arc::from(settings.id.as_str());
        let labels: Arc<BTreeSet<String>> =
            Arc::new(settings.key_value_stores.into_iter().collect());
        tracing::info!(component = %id, path = %path.display(), "connector component loaded");
        Ok(LoadedConnector {
            inner: Arc::new(Loaded {
                kv: KvAccess {
                    component: Arc::clone(&id),
                    backend: settings.kv,
                    allowed: Arc::clone(&labels),
                    known: labels,
                },
                id,
                pre,
                engine: self.engine.clone(),
                config: Arc::new(settings.config),
                allow: Arc::new(settings.allowed_outbound_hosts),
                client: self.client.clone(),
                metrics: Arc::new(ComponentMetrics::default()),
                options: self.options.clone(),
            }),
        })
    }
}

fn start_epoch_ticker(engine: &Engine) -> Result<(), EmbedError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("hayon-embed-epoch".to_owned())
        .spawn(move || {
            // Stops once the engine is gone: the embedder and every loaded component.
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| EmbedError::Engine(format!("cannot start the epoch thread: {e}")))?;
    Ok(())
}

/// A compiled and linked connector component. Every call runs on a fresh instance; clones
/// share the compiled code and may be used concurrently.
#[derive(Clone)]
pub struct LoadedConnector {
    inner: Arc<Loaded>,
}

struct Loaded {
    id: Arc<str>,
    pre: ConnectorComponentPre<RequestState>,
    engine: Engine,
    config: Arc<BTreeMap<String, String>>,
    allow: Arc<AllowList>,
    kv: KvAccess,
    client: OutboundClient,
    metrics: Arc<ComponentMetrics>,
    options: EmbedderOptions,
}

impl fmt::Debug for LoadedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedConnector")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

/// The outcome of a typed call: the host's failure outside, the connector's answer inside.
pub type CallResult<T, E = ConnectorError> = Result<Result<T, E>, EmbedError>;

impl LoadedConnector {
    /// The component id given in [`ComponentSettings::id`].
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// `describe`: the platform's id, name, auth kind and account platforms.
    pub async fn describe(&self) -> Result<PlatformInfo, EmbedError> {
        self.call("describe", async |connector, store| {
            connector.call_describe(store).await
        })
        .await
    }

    /// `begin`: starts connecting `user`'s account. Credential platforms need
    /// `credentials` and answer [`BeginOutcome::Connected`]; redirect platforms answer
    /// [`BeginOutcome::Redirect`] with the URL to send the person's browser to.
    pub async fn begin(
        &self,
        user: &str,
        credentials: Option<&Credentials>,
    ) -> CallResult<BeginOutcome> {
        let credentials = credentials.map(Credentials::to_wit);
        self.call("begin", async |connector, store| {
            connector
                .call_begin(store, user, credentials.as_ref())
                .await
        })
        .await
    }

    /// `complete`: finishes a redirect flow from the callback's query string (without the
    /// `?`). The user comes from the state `begin` stored; a state works once.
    pub async fn complete(&self, query: &str) -> CallResult<Completion, CallbackError> {
        self.call("complete", async |connector, store| {
            connector.call_complete(store, query).await
        })
        .await
    }

    /// `refresh`: re-reads the profile and rotates or extends credentials where the
    /// platform allows.
    pub async fn refresh(&self, user: &str) -> CallResult<Vec<Account>> {
        self.call("refresh", async |connector, store| {
            connector.call_refresh(store, user).await
        })
        .await
    }

    /// `disconnect`: revokes upstream where possible and deletes the stored accounts.
    pub async fn disconnect(&self, user: &str) -> CallResult<DisconnectOutcome> {
        self.call("disconnect", async |connector, store| {
            connector.call_disconnect(store, user).await
        })
        .await
    }

    /// `status`: the stored accounts of `user`; empty when none is connected.
    pub async fn status(&self, user: &str) -> CallResult<Vec<Account>> {
        self.call("status", async |connector, store| {
            connector.call_status(store, user).await
        })
        .await
    }

    /// Instantiates the component in a fresh store and runs `body` on its `connector`
    /// export, within the call deadline.
    async fn call<R>(
        &self,
        operation: &'static str,
        body: impl AsyncFnOnce(&wit::Guest, &mut Store<RequestState>) -> wasmtime::Result<R>,
    ) -> Result<R, EmbedError> {
        let loaded = &self.inner;
        let timeout = loaded.options.call_timeout;
        let started = Instant::now();
        let mut store = loaded.new_store(started + timeout);
        let run = async {
            let instance: ConnectorComponent = loaded.pre.instantiate_async(&mut store).await?;
            body(instance.hayon_connector_connector(), &mut store).await
        };
        let outcome = tokio::time::timeout(timeout, run).await.ok();
        let latency_ms = crate::metrics::log_millis(started.elapsed());
        match outcome {
            Some(Ok(value)) => {
                tracing::debug!(component = %loaded.id, operation, latency_ms, "connector call");
                Ok(value)
            }
            Some(Err(error)) if error.downcast_ref::<Trap>() != Some(&Trap::Interrupt) => {
                loaded.metrics.record_trap();
                tracing::error!(
                    component = %loaded.id,
                    operation,
                    error = %format!("{error:#}"),
                    "connector call trapped"
                );
                Err(EmbedError::Trap {
                    component: loaded.id.to_string(),
                    operation,
                    message: format!("{error:#}"),
                })
            }
            Some(Err(_)) | None => {
                loaded.metrics.record_timeout();
                tracing::warn!(
                    component = %loaded.id,
                    operation,
                    latency_ms,
                    "connector call timed out"
                );
                Err(EmbedError::Timeout {
                    component: loaded.id.to_string(),
                    operation,
                    timeout,
                })
            }
        }
    }
}

impl Loaded {
    fn new_store(&self, deadline: Instant) -> Store<RequestState> {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        let state = RequestState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks::new(
                Arc::clone(&self.id),
                Arc::clone(&self.allow),
                self.client.clone(),
                Arc::clone(&self.metrics),
            ),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.options.memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            kv: self.kv.clone(),
            config: Arc::clone(&self.config),
            deadline,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|context| {
            if Instant::now() >= context.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        store
    }
}
