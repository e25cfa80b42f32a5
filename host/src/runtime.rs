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
//! When a component's file changes, [`ComponentRuntime::reload_if_changed`] compiles the
//! new file off the request path and swaps it in; requests in flight finish on the old
//! one, and a file that does not compile or link leaves the old one serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use hyper::body::Incoming;
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

/// The engine, the linker with every host interface, and the epoch ticker.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RequestState>,
    pooling: bool,
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
            ticker_stop,
        })
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Compiles and pre-instantiates the component at `path`.
    pub fn prepare(&self, path: &Path) -> anyhow::Result<ProxyPre<RequestState>> {
        let component = Component::from_file(&self.engine, path)
            .map_err(wasm_error)
            .with_context(|| format!("cannot compile {}", path.display()))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(wasm_error)
            .with_context(|| {
                format!(
                    "cannot link {}: it imports something this host does not provide",
                    path.display()
                )
            })?;
        ProxyPre::new(pre).map_err(wasm_error).with_context(|| {
            format!(
                "{} does not export wasi:http/incoming-handler@0.2",
                path.display()
            )
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

/// The data of one request's `Store`.
pub struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    limits: StoreLimits,
    kv: KvAccess,
    config: Arc<BTreeMap<String, String>>,
    deadline: Instant,
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
    file_times: Mutex<FileTimes>,
    environment: Vec<(String, String)>,
    config: Arc<BTreeMap<String, String>>,
    allow: Arc<AllowList>,
    kv: KvAccess,
    client: OutboundClient,
    metrics: Arc<ComponentMetrics>,
}

/// Modification times of a component's file.
struct FileTimes {
    /// The time of the file that is serving.
    loaded: Option<SystemTime>,
    /// A newer time seen once; the file is reloaded when it is seen again unchanged.
    pending: Option<SystemTime>,
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

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ComponentRuntime {
    /// Compiles and pre-instantiates the component.
    pub fn new(runtime: &Runtime, setup: ComponentSetup) -> anyhow::Result<Self> {
        let loaded_modified = modified(&setup.source);
        let pre = runtime
            .prepare(&setup.source)
            .with_context(|| format!("component {:?}", setup.id))?;
        Ok(Self {
            id: Arc::from(setup.id),
            source: setup.source,
            pre: RwLock::new(Arc::new(pre)),
            file_times: Mutex::new(FileTimes {
                loaded: loaded_modified,
                pending: None,
            }),
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

    /// Recompiles the component if its file changed since it was loaded and has not
    /// changed since the previous call (so a file still being written is not read);
    /// returns whether a new version was swapped in. Compiles on the blocking pool.
    pub async fn reload_if_changed(self: &Arc<Self>, runtime: &Arc<Runtime>) -> bool {
        let now = modified(&self.source);
        {
            let mut times = match self.file_times.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if now.is_none() || now == times.loaded {
                times.pending = None;
                return false;
            }
            if times.pending != now {
                times.pending = now;
                return false;
            }
            times.loaded = now;
            times.pending = None;
        }

        let (runtime, path) = (Arc::clone(runtime), self.source.clone());
        let prepared = tokio::task::spawn_blocking(move || runtime.prepare(&path)).await;
        match prepared {
            Ok(Ok(pre)) => {
                if let Ok(mut guard) = self.pre.write() {
                    *guard = Arc::new(pre);
                }
                self.metrics.record_reload();
                tracing::info!(component = %self.id, "component file changed; new version serving");
                true
            }
            Ok(Err(e)) => {
                self.metrics.record_reload_failure();
                tracing::error!(
                    component = %self.id,
                    error = %format!("{e:#}"),
                    "component file changed but cannot be loaded; the previous version serves"
                );
                false
            }
            Err(e) => {
                self.metrics.record_reload_failure();
                tracing::error!(component = %self.id, error = %e, "component reload failed");
                false
            }
        }
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

    /// Serves one request on a fresh instance. The instance runs in its own task, which
    /// ends at the deadline at the latest; failures are logged there with the component
    /// id and returned here without details.
    pub async fn handle(
        self: &Arc<Self>,
        runtime: &Runtime,
        request: hyper::Request<Incoming>,
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
    request: hyper::Request<Incoming>,
    sender: ResponseSender,
) -> wasmtime::Result<(
    wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>,
    wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostResponseOutparam>,
)> {
    let mut http = store.data_mut().http();
    let request = http.new_incoming_request(Scheme::Http, request)?;
    let outparam = http.new_response_outparam(sender)?;
    Ok((request, outparam))
}
