//! Runs a double's listeners: one axum server per emulated host on loopback.
//!
//! Each listener sends every request, whatever its path, to one fallback handler that
//! builds an [`Incoming`], lets the double log it and pick an armed [`Fault`], and then
//! asks the double for its answer. Dropping a [`Server`] stops it.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::fault::Fault;
use crate::log::Listener;
use crate::wire::{Incoming, Reply};

/// A double's side of its listeners.
pub(crate) trait Service: Send + Sync + 'static {
    /// Logs the request and takes the fault armed for it, if any.
    fn admit(&self, listener: Listener, incoming: &Incoming) -> Option<Fault>;
    /// The answer of a fault (every fault but a delay has one).
    fn fault_reply(&self, fault: &Fault) -> Option<Reply>;
    /// The normal answer.
    fn answer(&self, listener: Listener, incoming: Incoming) -> Reply;
}

/// A running listener; dropping it stops it.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Context<S> {
    service: Arc<S>,
    listener: Listener,
}

impl<S> Clone for Context<S> {
    fn clone(&self) -> Self {
        Self {
            service: Arc::clone(&self.service),
            listener: self.listener,
        }
    }
}

/// Binds `addr` (port 0: any free port) and serves `listener` of `service` in a tokio
/// task.
pub(crate) async fn spawn<S: Service>(
    service: Arc<S>,
    listener: Listener,
    addr: SocketAddr,
) -> anyhow::Result<Server> {
    let socket = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} for a test double"))?;
    let addr = socket.local_addr().context("reading the double's port")?;
    let router = Router::new()
        .fallback(handle::<S>)
        .with_state(Context { service, listener });
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(socket, router).await {
            tracing::warn!(%error, ?listener, "test double listener stopped");
        }
    });
    Ok(Server { addr, task })
}

async fn handle<S: Service>(
    State(context): State<Context<S>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming::new(method, uri.path(), uri.query(), headers, &body);
    tracing::debug!(listener = ?context.listener, method = %incoming.method,
        path = %incoming.path, "test double request");
    let fault = context.service.admit(context.listener, &incoming);
    match fault {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(fault) => {
            if let Some(reply) = context.service.fault_reply(&fault) {
                return reply.into_response();
            }
        }
        None => {}
    }
    context
        .service
        .answer(context.listener, incoming)
        .into_response()
}
