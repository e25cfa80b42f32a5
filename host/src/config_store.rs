//! `wasi:config/store@0.2.0-draft-2024-09-27` over a component's resolved configuration.
//!
//! A component's configuration is its `[component.<id>.variables]` table with the
//! application variables substituted. This is the version Spin links; the
//! `wasmtime-wasi-config` crate implements another draft, so the two functions are linked
//! here directly.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Lift, Linker, Lower};

const STORE: &str = "wasi:config/store@0.2.0-draft-2024-09-27";

/// `wasi:config/store.error`. This host never fails to read its in-memory config, but
/// the type is part of the interface.
#[derive(ComponentType, Lift, Lower, Debug, Clone)]
#[component(variant)]
pub enum ConfigError {
    /// A failure of the configuration provider.
    #[component(name = "upstream")]
    Upstream(String),
    /// An I/O failure.
    #[component(name = "io")]
    Io(String),
}

/// Gives the config host functions access to the component's configuration.
pub trait ConfigView: Send + 'static {
    /// The component's resolved configuration: key → value.
    fn config(&self) -> &Arc<BTreeMap<String, String>>;
}

/// Adds `wasi:config/store` to `linker`.
pub fn add_to_linker<T: ConfigView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut inst = linker.instance(STORE)?;
    inst.func_wrap("get", |store: StoreContextMut<'_, T>, (key,): (String,)| {
        let value = store.data().config().get(&key).cloned();
        Ok((Ok::<_, ConfigError>(value),))
    })?;
    inst.func_wrap("get-all", |store: StoreContextMut<'_, T>, (): ()| {
        let all: Vec<(String, String)> = store
            .data()
            .config()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok((Ok::<_, ConfigError>(all),))
    })?;
    Ok(())
}
