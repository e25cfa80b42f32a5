//! The services a connector operation runs with: configuration, storage, outbound HTTP
//! and a clock.
//!
//! In the component, [`Env::wasi`] builds them over `wasi:config`, `wasi:keyvalue`,
//! `wasi:http/outgoing-handler` and the wall clock, fresh for every request (a component
//! keeps nothing in memory between requests). Tests build an `Env` from in-memory parts
//! (`testing.rs`), so every connector flow runs natively in `cargo test`.

use std::time::Instant;

use serde::de::DeserializeOwned;

use crate::config::{Config, ConfigSource};
use crate::outbound::{Outbound, OutboundRequest, OutboundResponse, Timeouts};
use crate::store::KeyValue;
use crate::time::{Clock, Timestamp};
use crate::upstream::UpstreamFailure;

/// Everything a connector operation may use.
pub struct Env {
    /// Configuration values.
    pub config: Config,
    /// Durable key-value storage.
    pub store: Box<dyn KeyValue>,
    /// Outbound HTTP.
    pub outbound: Box<dyn Outbound>,
    /// The wall clock.
    pub clock: Box<dyn Clock>,
    /// Limits applied to every outbound call.
    pub timeouts: Timeouts,
}

impl Env {
    /// An environment from its parts, with default timeouts.
    pub fn new(
        config: Box<dyn ConfigSource>,
        store: Box<dyn KeyValue>,
        outbound: Box<dyn Outbound>,
        clock: Box<dyn Clock>,
    ) -> Self {
        Self {
            config: Config::new(config),
            store,
            outbound,
            clock,
            timeouts: Timeouts::default(),
        }
    }

    /// The environment of a component instance: WASI config, key-value bucket `default`,
    /// outgoing HTTP, system clock.
    pub fn wasi() -> Self {
        Self::new(
            Box::new(crate::wasi::WasiConfig),
            Box::new(crate::wasi::WasiStore::default()),
            Box::new(crate::wasi::WasiOutbound),
            Box::new(crate::time::SystemClock),
        )
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Sends `request`, logging host, path, status and latency (never the query, headers
    /// or body). A transport failure (timeout, refused, body too large) is a transient
    /// [`UpstreamFailure`]; any HTTP status is returned as a response.
    pub fn send(&self, request: &OutboundRequest) -> Result<OutboundResponse, UpstreamFailure> {
        let (host, path) = request.log_target();
        let started = Instant::now();
        let result = self.outbound.send(request, &self.timeouts);
        let latency_ms = crate::logging::Millis(started.elapsed());
        let method = request.method.as_str();
        match &result {
            Ok(response) => {
                let status = response.status;
                tracing::info!(method, %host, %path, status, %latency_ms, "upstream call");
            }
            Err(error) => {
                tracing::warn!(method, %host, %path, %error, %latency_ms, "upstream call failed");
            }
        }
        result.map_err(|error| UpstreamFailure::transport(&error))
    }

    /// Sends `request` and reads a 2xx JSON answer as `T`. A non-2xx answer is classified
    /// ([`UpstreamFailure::classify`]); a 2xx answer that is not the expected JSON is
    /// transient ([`UpstreamFailure::unreadable`]).
    pub fn fetch_json<T: DeserializeOwned>(
        &self,
        request: &OutboundRequest,
    ) -> Result<T, UpstreamFailure> {
        let response = self.send(request)?;
        if !response.is_success() {
            return Err(UpstreamFailure::classify(&response, self.now()));
        }
        serde_json::from_slice(&response.body).map_err(|_| UpstreamFailure::unreadable(&response))
    }
}
