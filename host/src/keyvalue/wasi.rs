//! The `wasi:keyvalue@0.2.0-draft2` interfaces (`store`, `atomics`, `batch`) as Spin links
//! them, implemented over a [`KvBackend`].
//!
//! These exact versions are what Spin provides and what `spin-sdk` 5 components import;
//! `wasmtime-wasi-keyvalue` implements another draft, so the few functions are linked here
//! directly with derived component types instead of generated bindings.
//!
//! Access rules: a component may open the labels listed in its `key_value_stores`; a label
//! another component declares is `access-denied`, any other is `no-such-store`. Backend
//! calls run on tokio's blocking pool: a durable commit waits for the disk, and a shared
//! backend (Redis) waits for the network.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::StoreContextMut;
use wasmtime::component::{
    ComponentType, Lift, Linker, Lower, Resource, ResourceTable, ResourceType,
};

use super::{CasOutcome, KvBackend, StorageError};

const STORE: &str = "wasi:keyvalue/store@0.2.0-draft2";
const ATOMICS: &str = "wasi:keyvalue/atomics@0.2.0-draft2";
const BATCH: &str = "wasi:keyvalue/batch@0.2.0-draft2";

/// Most keys returned by one `list-keys` call.
const LIST_PAGE: usize = 1000;

/// `wasi:keyvalue/store.error`.
#[derive(ComponentType, Lift, Lower, Debug, Clone, PartialEq, Eq)]
#[component(variant)]
pub enum WasiKvError {
    /// The label is not a store this host has.
    #[component(name = "no-such-store")]
    NoSuchStore,
    /// The component may not open this store.
    #[component(name = "access-denied")]
    AccessDenied,
    /// Anything else.
    #[component(name = "other")]
    Other(String),
}

/// `wasi:keyvalue/store.key-response`.
#[derive(ComponentType, Lift, Lower, Debug, Clone)]
#[component(record)]
struct KeyResponse {
    keys: Vec<String>,
    cursor: Option<String>,
}

/// `wasi:keyvalue/atomics.cas-error`.
#[derive(ComponentType, Lift, Lower, Debug)]
#[component(variant)]
enum CasError {
    #[component(name = "store-error")]
    StoreError(WasiKvError),
    #[component(name = "cas-failed")]
    CasFailed(Resource<Cas>),
}

/// The host side of a `bucket` resource: an opened store label.
#[derive(Debug)]
pub struct Bucket {
    label: String,
}

/// The host side of a `cas` resource: a key and the value it had when the handle was made.
#[derive(Debug)]
pub struct Cas {
    label: String,
    key: String,
    snapshot: Option<Vec<u8>>,
}

/// What a component may do with key-value storage, and the backend behind it.
#[derive(Clone)]
pub struct KvAccess {
    /// The component id, for logs.
    pub component: Arc<str>,
    /// The storage backend shared by all components.
    pub backend: Arc<dyn KvBackend>,
    /// Labels this component may open.
    pub allowed: Arc<BTreeSet<String>>,
    /// Labels any component of the application declares.
    pub known: Arc<BTreeSet<String>>,
}

impl KvAccess {
    fn open(&self, label: &str) -> Result<Bucket, WasiKvError> {
        if self.allowed.contains(label) {
            Ok(Bucket {
                label: label.to_owned(),
            })
        } else if self.known.contains(label) {
            Err(WasiKvError::AccessDenied)
        } else {
            Err(WasiKvError::NoSuchStore)
        }
    }

    /// Logs a backend failure and gives the component a message without internals.
    fn report(&self, error: &StorageError) -> WasiKvError {
        tracing::error!(component = %self.component, error = %error, "key-value storage failed");
        WasiKvError::Other("the key-value store failed; see the host log".to_owned())
    }

    fn finish<R>(&self, result: Result<R, StorageError>) -> Result<R, WasiKvError> {
        result.map_err(|e| self.report(&e))
    }

    /// Runs a backend read: on the calling task for a local backend, else like
    /// [`blocking`](Self::blocking).
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KvBackend) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, WasiKvError> {
        if self.backend.reads_wait_on_network() {
            self.blocking(f).await
        } else {
            self.finish(f(self.backend.as_ref()))
        }
    }

    /// Runs a backend call on the blocking pool.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KvBackend) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, WasiKvError> {
        let backend = Arc::clone(&self.backend);
        let joined = tokio::task::spawn_blocking(move || f(backend.as_ref())).await;
        let result = joined.unwrap_or_else(|e| Err(StorageError::new(e)));
        self.finish(result)
    }
}

/// Gives the key-value host functions access to a store's data.
pub trait KvView: Send + 'static {
    /// The store's resource table and the component's key-value access.
    fn kv(&mut self) -> (&mut ResourceTable, &KvAccess);
}

type Store<'a, T> = StoreContextMut<'a, T>;

fn bucket_label<T: KvView>(
    store: &mut Store<'_, T>,
    bucket: &Resource<Bucket>,
) -> wasmtime::Result<(String, KvAccess)> {
    let (table, access) = store.data_mut().kv();
    Ok((table.get(bucket)?.label.clone(), access.clone()))
}

/// Adds the key-value interfaces to `linker`.
pub fn add_to_linker<T: KvView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    add_store(linker)?;
    add_atomics(linker)?;
    add_batch(linker)
}

fn add_store<T: KvView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut inst = linker.instance(STORE)?;
    inst.resource(
        "bucket",
        ResourceType::host::<Bucket>(),
        |mut store, rep| {
            let (table, _) = store.data_mut().kv();
            table.delete(Resource::<Bucket>::new_own(rep))?;
            Ok(())
        },
    )?;

    inst.func_wrap("open", |mut store: Store<'_, T>, (label,): (String,)| {
        let (table, access) = store.data_mut().kv();
        let result = match access.open(&label) {
            Ok(bucket) => Ok(table.push(bucket)?),
            Err(e) => Err(e),
        };
        Ok((result,))
    })?;

    inst.func_wrap_async(
        "[method]bucket.get",
        |mut store: Store<'_, T>, (bucket, key): (Resource<Bucket>, String)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access.read(move |backend| backend.get(&label, &key)).await;
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]bucket.exists",
        |mut store: Store<'_, T>, (bucket, key): (Resource<Bucket>, String)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .read(move |backend| backend.exists(&label, &key))
                    .await;
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]bucket.list-keys",
        |mut store: Store<'_, T>, (bucket, cursor): (Resource<Bucket>, Option<String>)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let listed = access
                    .read(move |backend| backend.list_keys(&label, cursor.as_deref(), LIST_PAGE))
                    .await;
                let result = listed.map(|keys| {
                    let cursor = (keys.len() == LIST_PAGE)
                        .then(|| keys.last().cloned())
                        .flatten();
                    KeyResponse { keys, cursor }
                });
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]bucket.set",
        |mut store: Store<'_, T>, (bucket, key, value): (Resource<Bucket>, String, Vec<u8>)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .blocking(move |backend| backend.set(&label, &key, &value))
                    .await;
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "[method]bucket.delete",
        |mut store: Store<'_, T>, (bucket, key): (Resource<Bucket>, String)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .blocking(move |backend| backend.delete(&label, &key))
                    .await;
                Ok((result,))
            })
        },
    )?;
    Ok(())
}

fn add_atomics<T: KvView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut inst = linker.instance(ATOMICS)?;
    inst.resource("cas", ResourceType::host::<Cas>(), |mut store, rep| {
        let (table, _) = store.data_mut().kv();
        table.delete(Resource::<Cas>::new_own(rep))?;
        Ok(())
    })?;

    inst.func_wrap_async(
        "[static]cas.new",
        |mut store: Store<'_, T>, (bucket, key): (Resource<Bucket>, String)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let (label_read, key_read) = (label.clone(), key.clone());
                let read = access
                    .read(move |backend| backend.get(&label_read, &key_read))
                    .await;
                let result = match read {
                    Ok(snapshot) => {
                        let (table, _) = store.data_mut().kv();
                        Ok(table.push(Cas {
                            label,
                            key,
                            snapshot,
                        })?)
                    }
                    Err(e) => Err(e),
                };
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap(
        "[method]cas.current",
        |mut store: Store<'_, T>, (cas,): (Resource<Cas>,)| {
            let (table, _) = store.data_mut().kv();
            let snapshot = table.get(&cas)?.snapshot.clone();
            Ok((Ok::<_, WasiKvError>(snapshot),))
        },
    )?;

    inst.func_wrap_async(
        "increment",
        |mut store: Store<'_, T>, (bucket, key, delta): (Resource<Bucket>, String, i64)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .blocking(move |backend| backend.increment(&label, &key, delta))
                    .await;
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "swap",
        |mut store: Store<'_, T>, (cas, value): (Resource<Cas>, Vec<u8>)| {
            Box::new(async move {
                let (table, access) = store.data_mut().kv();
                let Cas {
                    label,
                    key,
                    snapshot,
                } = table.delete(cas)?;
                let access = access.clone();
                let (label_again, key_again) = (label.clone(), key.clone());
                let outcome = access
                    .blocking(move |backend| {
                        backend.compare_and_swap(&label, &key, snapshot.as_deref(), &value)
                    })
                    .await;
                let result = match outcome {
                    Ok(CasOutcome::Swapped) => Ok(()),
                    Ok(CasOutcome::Conflict(current)) => {
                        let (table, _) = store.data_mut().kv();
                        let retry = table.push(Cas {
                            label: label_again,
                            key: key_again,
                            snapshot: current,
                        })?;
                        Err(CasError::CasFailed(retry))
                    }
                    Err(e) => Err(CasError::StoreError(e)),
                };
                Ok((result,))
            })
        },
    )?;
    Ok(())
}

fn add_batch<T: KvView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let mut inst = linker.instance(BATCH)?;

    inst.func_wrap_async(
        "get-many",
        |mut store: Store<'_, T>, (bucket, keys): (Resource<Bucket>, Vec<String>)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .read(move |backend| {
                        let values = backend.get_many(&label, &keys)?;
                        Ok(keys.into_iter().zip(values).collect::<Vec<_>>())
                    })
                    .await;
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "set-many",
        |mut store: Store<'_, T>, (bucket, entries): (Resource<Bucket>, Vec<(String, Vec<u8>)>)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .blocking(move |backend| backend.set_many(&label, &entries))
                    .await;
                Ok((result,))
            })
        },
    )?;

    inst.func_wrap_async(
        "delete-many",
        |mut store: Store<'_, T>, (bucket, keys): (Resource<Bucket>, Vec<String>)| {
            Box::new(async move {
                let (label, access) = bucket_label(&mut store, &bucket)?;
                let result = access
                    .blocking(move |backend| backend.delete_many(&label, &keys))
                    .await;
                Ok((result,))
            })
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyvalue::redb_store::RedbStore;

    fn access(dir: &tempfile::TempDir) -> KvAccess {
        let backend = RedbStore::open(&dir.path().join("kv.redb")).unwrap();
        KvAccess {
            component: Arc::from("bluesky"),
            backend: Arc::new(backend),
            allowed: Arc::new(["default".to_owned()].into()),
            known: Arc::new(["default".to_owned(), "other".to_owned()].into()),
        }
    }

    #[test]
    fn only_declared_labels_open() {
        let dir = tempfile::tempdir().unwrap();
        let access = access(&dir);
        assert!(access.open("default").is_ok());
        assert_eq!(access.open("other").unwrap_err(), WasiKvError::AccessDenied);
        assert_eq!(access.open("nope").unwrap_err(), WasiKvError::NoSuchStore);
    }
}
