//! Running components: the wasmtime engine, the linker, and one request's instance.
//!
//! At start-up every component is compiled once and pre-instantiated (`ProxyPre`): all
//! imports are resolved and type-checked then, so a missing host interface is a start-up
//! error. Each request then gets a fresh instance in its own `Store`, which carries
//! - a memory limit ([`StoreLimits`]): growing past it traps;
//! - a deadline: an epoch ticker thread advances the engine's epoch every
//!   [`EPOCH_TICK`]; at each tick a running guest yields to other tasks, and once the
//!   deadline has passed it traps. The whole request (including time spent waiting on
//!   outbound calls) is also bounded by the same deadline;
//! - the component's WASI context, its outbound hooks, key-value access and config.
//!
//! The pooling allocator keeps instance memory reserved and reuses it, which makes
//! instantiation take microseconds; when the address space cannot be reserved (a small
//! `ulimit -v`, some containers) the engine falls back to on-demand allocation.
//!
//! Hot swap: the host's watcher calls [`ComponentRuntime::reload_if_changed`] every
//! [`WATCH_INTERVAL`]. A component file is told apart from its previous version by its
//! inode, size and modification time ([`FileStamp`]):
//! - a new inode at the path means another file was renamed onto it (`mv new.wasm
//!   hayon_x.wasm`). A rename is atomic, so the file is complete: it is loaded at once;
//! - a file changed in place (same inode: `cp` over it, a build writing it directly) may
//!   still be being written, so it is loaded only once its size and time have stayed the
//!   same for [`STABLE_FOR`].
//!
//! Loading reads the bytes (and checks the file did not change meanwhile), compiles them
//! on the blocking pool, pre-instantiates them (`ProxyPre`: every import resolved and
//! type-checked) and instantiates them once in a throwaway store. Only a version that
//! passed all of that is swapped in, atomically; requests that already took the old
//! version finish on it. A file that fails a step is refused: an error is logged with the
//! component id and the reason ([`LoadError::reason`]), `hayon_reload_failures_total`
//! counts it, and the old version keeps serving until the file changes again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config_store::{self, ConfigView};
use crate::keyvalue::wasi::{self as kv_wasi, KvAccess, KvView};
use crate::metrics::ComponentMetrics;
use crate::outbound::OutboundHooks;
use crate::outbound::allow_list::AllowList;
use crate::outbound::client::OutboundClient;

/// How often the epoch advances; the granularity of deadlines and of yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How often the watcher looks at the component files: the longest a renamed-in file
/// waits before it starts loading.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// How long a file changed in place must keep its size and time before it is loaded.
pub const STABLE_FOR: Duration = Duration::from_secs(1);

/// Largest component file the host reads; the connectors are well under 1 MiB.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

/// How long the trial instantiation of a new version may take.
const TRIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// The first bytes of every binary component: the wasm magic, then the component layer.
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Converts a wasmtime error (its own type, without `anyhow` interop) into `anyhow`.
pub(crate) fn wasm_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

/// Engine-wide limits.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Memory one instance may use, in bytes.
    pub memory_limit: usize,
    /// Instances that may exist at once (pooling allocator slots).
    pub max_instances: u32,
    /// Where compiled components are cached between runs, if anywhere.
    pub compile_cache: Option<PathBuf>,
}

/// Why a component file cannot serve. [`LoadError::reason`] names the kind for logs.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_COMPONENT_BYTES`].
    #[error(
        "{} has {size} bytes, more than the {MAX_COMPONENT_BYTES} a component may have",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// The file does not start like a binary WebAssembly component (empty, garbage, a
    /// core module, the text format).
    #[error("{} is not a WebAssembly component (no component header)", path.display())]
    NotAComponent {
        /// The file.
        path: PathBuf,
    },
    /// The component does not validate or compile (truncated, corrupt).
    #[error("{} is not a valid component (truncated or corrupt?): {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// wasmtime's message.
        detail: String,
    },
    /// The component imports something the host does not provide, or with another type.
    #[error(
        "cannot link {}: it imports something this host does not provide: {detail}",
        path.display()
    )]
    Unlinkable {
        /// The file.
        path: PathBuf,
        /// wasmtime's message, naming the import.
        detail: String,
    },
    /// The component does not export `wasi:http/incoming-handler@0.2`.
    #[error("{} does not export wasi:http/incoming-handler@0.2: {detail}", path.display())]
    NotHttp {
        /// The file.
        path: PathBuf,
        /// wasmtime's message.
        detail: String,
    },
    /// The component links but its instantiation fails (a start function traps, its
    /// memory is larger than the host's limit).
    #[error("{} cannot be instantiated: {detail}", path.display())]
    Uninstantiable {
        /// The file.
        path: PathBuf,
        /// wasmtime's message.
        detail: String,
    },
}

impl LoadError {
    /// A short, stable name of the kind of failure, for the `reason` log field.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "unreadable",
            Self::TooLarge { .. } => "too_large",
            Self::NotAComponent { .. } => "not_a_component",
            Self::Invalid { .. } => "invalid",
            Self::Unlinkable { .. } => "unlinkable",
            Self::NotHttp { .. } => "no_http_handler",
            Self::Uninstantiable { .. } => "uninstantiable",
        }
    }
}

/// Reads a component file, refusing one that is too large or is no component at all.
pub fn read_component(path: &Path) -> Result<Vec<u8>, LoadError> {
    let unreadable = |source| LoadError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_COMPONENT_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    if !bytes.starts_with(&COMPONENT_HEADER) {
        return Err(LoadError::NotAComponent {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// The engine, the linker with every host interface, and the epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RequestState>,
    pooling: bool,
    memory_limit: usize,
    ticker_stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Builds the engine (pooling if possible) and the linker.
    pub fn new(options: &EngineOptions) -> anyhow::Result<Self> {
        let (engine, pooling) = build_engine(options)?;
        let mut linker = Linker::<RequestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(wasm_error)?;
        kv_wasi::add_to_linker(&mut linker).map_err(wasm_error)?;
        config_store::add_to_linker(&mut linker).map_err(wasm_error)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        start_epoch_ticker(&engine, Arc::clone(&ticker_stop))?;
        Ok(Self {
            engine,
            linker,
            pooling,
            memory_limit: options.memory_limit,
            ticker_stop,
        })
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Reads, compiles and pre-instantiates the component at `path`.
    pub fn prepare(&self, path: &Path) -> Result<ProxyPre<RequestState>, LoadError> {
        let bytes = read_component(path)?;
        self.prepare_bytes(path, &bytes)
    }

    /// Compiles (or takes from the compile cache) and pre-instantiates the component
    /// `bytes` read from `path`: every import is resolved and type-checked here.
    pub fn prepare_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
    ) -> Result<ProxyPre<RequestState>, LoadError> {
        let detail = |e: wasmtime::Error| format!("{e:#}");
        let component =
            Component::from_binary(&self.engine, bytes).map_err(|e| LoadError::Invalid {
                path: path.to_owned(),
                detail: detail(e),
            })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Unlinkable {
                path: path.to_owned(),
                detail: detail(e),
            })?;
        ProxyPre::new(pre).map_err(|e| LoadError::NotHttp {
            path: path.to_owned(),
            detail: detail(e),
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

fn build_engine(options: &EngineOptions) -> anyhow::Result<(Engine, bool)> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if let Some(dir) = &options.compile_cache {
        let mut cache = wasmtime::CacheConfig::new();
        cache.with_directory(dir);
        match wasmtime::Cache::new(cache) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "compile cache disabled"),
        }
    }

    let instances = options.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(8))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(8))
        .total_stacks(instances)
        .max_memory_size(options.memory_limit)
        // Reset reused memory with memset (only the pages actually touched, where the
        // kernel can say which) instead of returning it to the kernel: fewer page faults
        // when the next request reuses the slot.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(engine) => Ok((engine, true)),
        Err(e) => {
            tracing::warn!(
                error = %format!("{e:#}"),
                "the pooling allocator cannot reserve its memory; allocating on demand"
            );
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            let engine = Engine::new(&config).map_err(wasm_error)?;
            Ok((engine, false))
        }
    }
}

fn start_epoch_ticker(engine: &Engine, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("hayon-epoch".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(())
}

/// The data of one instance's `Store`: a request's here, a typed call's in [`crate::embed`].
pub struct RequestState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    pub(crate) limits: StoreLimits,
    pub(crate) kv: KvAccess,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) deadline: Instant,
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl KvView for RequestState {
    fn kv(&mut self) -> (&mut ResourceTable, &KvAccess) {
        (&mut self.table, &self.kv)
    }
}

impl ConfigView for RequestState {
    fn config(&self) -> &Arc<BTreeMap<String, String>> {
        &self.config
    }
}

/// Why a request produced no response from the component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The guest trapped (a panic, running out of memory, a bug).
    Trap,
    /// The request reached its deadline.
    Timeout,
    /// No instance slot was free.
    Overloaded,
    /// The guest returned without answering, or answered with an error code.
    NoResponse,
}

/// Everything a component needs per request, shared by all its requests.
pub struct ComponentRuntime {
    id: Arc<str>,
    source: PathBuf,
    pre: RwLock<Arc<ProxyPre<RequestState>>>,
    watch: Mutex<FileWatch>,
    environment: Vec<(String, String)>,
    config: Arc<BTreeMap<String, String>>,
    allow: Arc<AllowList>,
    kv: KvAccess,
    client: OutboundClient,
    metrics: Arc<ComponentMetrics>,
}

/// What tells one version of a component file from another.
// Limitation: an in-place overwrite with the same size inside one timestamp tick of a
// coarse-grained file system looks unchanged; a rename never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Device and inode (Unix only): a rename onto the path brings another inode.
    identity: Option<(u64, u64)>,
    /// Size in bytes.
    len: u64,
    /// Modification time, where the file system keeps one.
    modified: Option<SystemTime>,
}

impl FileStamp {
    /// The stamp of the file at `path`, if there is one.
    pub fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            identity: identity(&metadata),
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    Some((metadata.dev(), metadata.ino()))
}

// Limitation: without inodes every change waits for `STABLE_FOR`.
#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// What the watcher should do about a component file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// The file is the version already acted on (or is missing): nothing to do.
    Unchanged,
    /// The file changed in place and may still be being written.
    Wait,
    /// The file looks complete: load it.
    Load(FileStamp),
}

/// The watcher's memory of one component file.
#[derive(Debug, Default)]
struct FileWatch {
    /// The version last loaded or refused; it is not looked at again.
    settled: Option<FileStamp>,
    /// The inode last read: another one at the path was renamed onto it.
    read_identity: Option<(u64, u64)>,
    /// A version changed in place, and when it was first seen.
    pending: Option<(FileStamp, Instant)>,
}

impl FileWatch {
    fn new(settled: Option<FileStamp>) -> Self {
        Self {
            settled,
            read_identity: settled.and_then(|stamp| stamp.identity),
            pending: None,
        }
    }

    /// Decides what to do about the file as it is `now`.
    fn observe(&mut self, current: Option<FileStamp>, now: Instant) -> Decision {
        // A missing file (`rm` then `cp`) changes nothing: the loaded version serves.
        let Some(current) = current else {
            self.pending = None;
            return Decision::Unchanged;
        };
        if Some(current) == self.settled {
            self.pending = None;
            return Decision::Unchanged;
        }
        if current.identity.is_some() && current.identity != self.read_identity {
            self.pending = None;
            self.read_identity = current.identity;
            return Decision::Load(current);
        }
        match self.pending {
            Some((seen, since)) if seen == current => {
                if now.saturating_duration_since(since) >= STABLE_FOR {
                    self.pending = None;
                    Decision::Load(current)
                } else {
                    Decision::Wait
                }
            }
            _ => {
                self.pending = Some((current, now));
                Decision::Wait
            }
        }
    }

    /// The file was found to change while it was being read: watch it like an in-place
    /// write.
    fn still_changing(&mut self, current: Option<FileStamp>, now: Instant) {
        self.pending = current.map(|stamp| (stamp, now));
    }

    /// The version `stamp` was loaded or refused.
    fn settle(&mut self, stamp: FileStamp) {
        self.settled = Some(stamp);
        self.read_identity = stamp.identity;
        self.pending = None;
    }
}

/// What [`ComponentRuntime::new`] needs besides the runtime.
pub struct ComponentSetup {
    /// The component id.
    pub id: String,
    /// Its `.wasm` file.
    pub source: PathBuf,
    /// Environment variables for the guest.
    pub environment: Vec<(String, String)>,
    /// Resolved `wasi:config` values.
    pub config: BTreeMap<String, String>,
    /// Where it may send requests.
    pub allow: AllowList,
    /// Its key-value access.
    pub kv: KvAccess,
    /// The shared outbound client.
    pub client: OutboundClient,
    /// Its counters.
    pub metrics: Arc<ComponentMetrics>,
}

impl ComponentRuntime {
    /// Compiles and pre-instantiates the component.
    pub fn new(runtime: &Runtime, setup: ComponentSetup) -> anyhow::Result<Self> {
        let loaded = FileStamp::of(&setup.source);
        let pre = runtime
            .prepare(&setup.source)
            .with_context(|| format!("component {:?}", setup.id))?;
        Ok(Self {
            id: Arc::from(setup.id),
            source: setup.source,
            pre: RwLock::new(Arc::new(pre)),
            watch: Mutex::new(FileWatch::new(loaded)),
            environment: setup.environment,
            config: Arc::new(setup.config),
            allow: Arc::new(setup.allow),
            kv: setup.kv,
            client: setup.client,
            metrics: setup.metrics,
        })
    }

    /// The component id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its counters.
    pub fn metrics(&self) -> &Arc<ComponentMetrics> {
        &self.metrics
    }

    fn current(&self) -> Arc<ProxyPre<RequestState>> {
        match self.pre.read() {
            Ok(guard) => Arc::clone(&guard),
            // A panic while swapping cannot leave a half-written Arc; keep serving.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn lock_watch(&self) -> std::sync::MutexGuard<'_, FileWatch> {
        // The watch state is plain data updated in one step; a panic elsewhere cannot
        // leave it half-written.
        match self.watch.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Loads the component's file again if it changed (see the module documentation for
    /// when a change counts as complete) and swaps the new version in once it compiled,
    /// linked and instantiated; returns whether a new version now serves. Reading and
    /// compiling run on the blocking pool; requests are never held up.
    pub async fn reload_if_changed(self: &Arc<Self>, runtime: &Arc<Runtime>) -> bool {
        let decided = match self
            .lock_watch()
            .observe(FileStamp::of(&self.source), Instant::now())
        {
            Decision::Load(stamp) => stamp,
            Decision::Unchanged | Decision::Wait => return false,
        };

        let started = Instant::now();
        let (runtime_for_compile, path) = (Arc::clone(runtime), self.source.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            let bytes = read_component(&path);
            // A file that changed while it was read is still being written: not an error.
            let after = FileStamp::of(&path);
            if after != Some(decided) {
                return Err(after);
            }
            Ok(bytes.and_then(|bytes| runtime_for_compile.prepare_bytes(&path, &bytes)))
        })
        .await;

        let loaded = match prepared {
            Ok(Ok(Ok(pre))) => self.trial_instantiation(runtime, pre).await,
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(after)) => {
                tracing::debug!(component = %self.id, "component file is still changing");
                self.lock_watch().still_changing(after, Instant::now());
                return false;
            }
            Err(e) => {
                // The compiler panicked; count it as a refusal of this version.
                self.lock_watch().settle(decided);
                tracing::error!(
                    component = %self.id,
                    reason = "panic",
                    error = %e,
                    "loading the changed component file failed; the previous version serves"
                );
                self.metrics.record_reload_failure();
                return false;
            }
        };
        self.lock_watch().settle(decided);

        match loaded {
            Ok(pre) => {
                self.swap(pre);
                tracing::info!(
                    component = %self.id,
                    path = %self.source.display(),
                    load_ms = started.elapsed().as_millis(),
                    "component file changed; the new version serves"
                );
                self.metrics.record_reload();
                true
            }
            Err(e) => {
                // Logged before it is counted: whoever sees the count finds the reason.
                tracing::error!(
                    component = %self.id,
                    reason = e.reason(),
                    error = %e,
                    "changed component file refused; the previous version serves"
                );
                self.metrics.record_reload_failure();
                false
            }
        }
    }

    /// Instantiates `pre` once in a throwaway store, so that a version whose every
    /// instantiation would fail is refused before it is swapped in. The instance runs no
    /// guest export. A pool with no free slot cannot tell: the version is then accepted.
    async fn trial_instantiation(
        &self,
        runtime: &Runtime,
        pre: ProxyPre<RequestState>,
    ) -> Result<ProxyPre<RequestState>, LoadError> {
        let deadline = Instant::now() + TRIAL_TIMEOUT;
        let mut store = self.new_store(runtime, runtime.memory_limit, deadline);
        let outcome = tokio::time::timeout(TRIAL_TIMEOUT, pre.instantiate_async(&mut store)).await;
        let detail = match outcome {
            Ok(Ok(_)) => return Ok(pre),
            // Limitation: a full pool cannot tell whether the version instantiates.
            Ok(Err(e))
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                tracing::warn!(
                    component = %self.id,
                    "no free instance slot to try the new version; swapping it in untried"
                );
                return Ok(pre);
            }
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => "instantiation did not finish in time".to_owned(),
        };
        Err(LoadError::Uninstantiable {
            path: self.source.clone(),
            detail,
        })
    }

    /// Makes `pre` the version new requests get.
    fn swap(&self, pre: ProxyPre<RequestState>) {
        let mut guard = match self.pre.write() {
            Ok(guard) => guard,
            // Only whole `Arc`s are ever stored: a poisoned lock still holds a valid one.
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(pre);
    }

    fn new_store(
        &self,
        runtime: &Runtime,
        memory_limit: usize,
        deadline: Instant,
    ) -> Store<RequestState> {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&self.environment)
            .inherit_stdout()
            .inherit_stderr();
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
                .memory_size(memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            kv: self.kv.clone(),
            config: Arc::clone(&self.config),
            deadline,
        };
        let mut store = Store::new(&runtime.engine, state);
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

    /// Serves one request on a fresh instance. The request body was already read in full
    /// by the server, so no instance waits on a slow client. The instance runs in its own
    /// task, which ends at the deadline at the latest; failures are logged there with the
    /// component id and returned here without details.
    pub async fn handle(
        self: &Arc<Self>,
        runtime: &Runtime,
        request: hyper::Request<Bytes>,
        memory_limit: usize,
        timeout: Duration,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Failure> {
        let deadline = Instant::now() + timeout;
        let mut store = self.new_store(runtime, memory_limit, deadline);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let (request, outparam) = match request_handles(&mut store, request, sender) {
            Ok(handles) => handles,
            Err(e) => {
                tracing::warn!(component = %self.id, error = %format!("{e:#}"), "bad request");
                return Err(Failure::NoResponse);
            }
        };

        let pre = self.current();
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let run = async {
                let started = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                this.metrics.record_instantiation(started.elapsed());
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, request, outparam)
                    .await
            };
            let outcome = match tokio::time::timeout(timeout, run).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(this.classify(&e)),
                Err(_) => Some(Failure::Timeout),
            };
            if let Some(failure) = outcome {
                this.record_failure(failure);
            }
            outcome
        });

        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => {
                tracing::warn!(
                    component = %self.id,
                    error = ?code,
                    "component answered with an error"
                );
                Err(Failure::NoResponse)
            }
            Err(_) => match task.await {
                Ok(Some(failure)) => Err(failure),
                Ok(None) => {
                    tracing::warn!(component = %self.id, "component returned without a response");
                    Err(Failure::NoResponse)
                }
                Err(e) => {
                    tracing::error!(component = %self.id, error = %e, "request task failed");
                    Err(Failure::Trap)
                }
            },
        }
    }

    /// The value of one of the component's configuration keys.
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }

    fn classify(&self, error: &wasmtime::Error) -> Failure {
        if error
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return Failure::Overloaded;
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return Failure::Timeout;
        }
        tracing::error!(component = %self.id, error = %format!("{error:#}"), "component trapped");
        Failure::Trap
    }

    fn record_failure(&self, failure: Failure) {
        match failure {
            Failure::Trap => self.metrics.record_trap(),
            Failure::Timeout => {
                self.metrics.record_timeout();
                tracing::warn!(component = %self.id, "request stopped at its deadline");
            }
            Failure::Overloaded => {
                tracing::warn!(component = %self.id, "no free instance slot; request refused");
            }
            Failure::NoResponse => {}
        }
    }
}

type ResponseSender = tokio::sync::oneshot::Sender<
    Result<
        hyper::Response<HyperOutgoingBody>,
        wasmtime_wasi_http::p2::bindings::http::types::ErrorCode,
    >,
>;

/// Puts the incoming request and the response slot into the store's resource table.
fn request_handles(
    store: &mut Store<RequestState>,
    request: hyper::Request<Bytes>,
    sender: ResponseSender,
) -> wasmtime::Result<(
    wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>,
    wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostResponseOutparam>,
)> {
    let request = request.map(|bytes| {
        Full::new(bytes).map_err(
            |never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} },
        )
    });
    let mut http = store.data_mut().http();
    let request = http.new_incoming_request(Scheme::Http, request)?;
    let outparam = http.new_response_outparam(sender)?;
    Ok((request, outparam))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(inode: u64, len: u64, seconds: u64) -> Option<FileStamp> {
        Some(FileStamp {
            identity: Some((1, inode)),
            len,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)),
        })
    }

    #[test]
    fn a_renamed_in_file_loads_at_once_and_only_once() {
        let t0 = Instant::now();
        let mut watch = FileWatch::new(stamp(10, 100, 1));
        assert_eq!(watch.observe(stamp(10, 100, 1), t0), Decision::Unchanged);

        let renamed = stamp(11, 90, 2);
        assert_eq!(watch.observe(renamed, t0), Decision::Load(renamed.unwrap()));
        watch.settle(renamed.unwrap());
        assert_eq!(watch.observe(renamed, t0), Decision::Unchanged);
    }

    #[test]
    fn a_file_changed_in_place_loads_once_it_stayed_the_same() {
        let t0 = Instant::now();
        let mut watch = FileWatch::new(stamp(10, 100, 1));
        let writing = stamp(10, 50, 2);
        assert_eq!(watch.observe(writing, t0), Decision::Wait);
        let written = stamp(10, 120, 3);
        let later = t0 + STABLE_FOR;
        assert_eq!(watch.observe(written, later), Decision::Wait, "it grew");
        assert_eq!(
            watch.observe(written, later + STABLE_FOR / 2),
            Decision::Wait
        );
        assert_eq!(
            watch.observe(written, later + STABLE_FOR),
            Decision::Load(written.unwrap())
        );
    }

    #[test]
    fn a_refused_version_is_not_retried_until_the_file_changes_again() {
        let t0 = Instant::now();
        let mut watch = FileWatch::new(stamp(10, 100, 1));
        let broken = stamp(11, 5, 2);
        assert_eq!(watch.observe(broken, t0), Decision::Load(broken.unwrap()));
        watch.settle(broken.unwrap());
        assert_eq!(
            watch.observe(broken, t0 + STABLE_FOR * 5),
            Decision::Unchanged
        );

        let fixed_in_place = stamp(11, 100, 3);
        assert_eq!(watch.observe(fixed_in_place, t0), Decision::Wait);
        assert_eq!(
            watch.observe(fixed_in_place, t0 + STABLE_FOR),
            Decision::Load(fixed_in_place.unwrap())
        );
    }

    #[test]
    fn a_missing_file_or_one_still_changing_after_the_read_is_waited_for() {
        let t0 = Instant::now();
        let mut watch = FileWatch::new(stamp(10, 100, 1));
        assert_eq!(watch.observe(None, t0), Decision::Unchanged);

        let new_file = stamp(12, 10, 2);
        assert_eq!(
            watch.observe(new_file, t0),
            Decision::Load(new_file.unwrap())
        );
        let grown = stamp(12, 200, 3);
        watch.still_changing(grown, t0);
        assert_eq!(watch.observe(grown, t0), Decision::Wait, "same inode now");
        assert_eq!(
            watch.observe(grown, t0 + STABLE_FOR),
            Decision::Load(grown.unwrap())
        );
    }

    #[test]
    fn files_without_the_component_header_are_refused_before_compiling() {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("empty.wasm", &b""[..]),
            ("text.wasm", b"this is not a component"),
            (
                "core.wasm",
                &[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let error = read_component(&path).unwrap_err();
            assert_eq!(error.reason(), "not_a_component", "{name}: {error}");
        }
        let missing = read_component(&dir.path().join("missing.wasm")).unwrap_err();
        assert_eq!(missing.reason(), "unreadable");
    }

    /// A component binary: the header, then the given sections.
    fn component(sections: &[u8]) -> Vec<u8> {
        let mut bytes = COMPONENT_HEADER.to_vec();
        bytes.extend_from_slice(sections);
        bytes
    }

    #[test]
    fn each_way_a_component_can_fail_to_load_is_told_apart() {
        let runtime = Runtime::new(&EngineOptions {
            memory_limit: 1 << 20,
            max_instances: 2,
            compile_cache: None,
        })
        .unwrap();
        let path = Path::new("test.wasm");
        let reason = |bytes: &[u8]| match runtime.prepare_bytes(path, bytes) {
            Ok(_) => "loaded",
            Err(e) => e.reason(),
        };

        // An empty component links (it imports nothing) but serves no HTTP.
        assert_eq!(reason(&component(&[])), "no_http_handler");
        // A section cut off in the middle.
        assert_eq!(reason(&component(&[0x07, 0x03, 0x01])), "invalid");
        // Imports `a:b/c`, an instance with one function `f: func()`, which this host
        // does not provide.
        let unlinkable = component(&[
            0x07, 0x0e, 0x01, // the type section: one type,
            0x42, 0x02, // an instance type of two declarations:
            0x01, 0x40, 0x00, 0x01, 0x00, // type 0 = func(),
            0x04, 0x00, 0x01, b'f', 0x01, 0x00, // export "f": func type 0
            0x0a, 0x0a, 0x01, // the import section: one import,
            0x00, 0x05, b'a', b':', b'b', b'/', b'c', 0x05, 0x00, // "a:b/c": instance type 0
        ]);
        assert_eq!(reason(&unlinkable), "unlinkable");
    }
}
