//! The WASI implementations of the library's traits, and the HTTP adapter.
//!
//! Only this module (and `logging.rs`) calls WASI. It uses the Preview 2 bindings that
//! `spin-sdk` 5.2 generates — `wasi:config/store@0.2.0-draft-2024-09-27`,
//! `wasi:keyvalue/{store,atomics}@0.2.0-draft2`, `wasi:http@0.2.0` and
//! `wasi:clocks@0.2.0` — and never the `fermyon:spin/*` interfaces, so the component
//! imports WASI alone. Compiled natively the bindings are stubs that panic when called,
//! which is why every test uses the in-memory parts of `testing.rs` instead.

use std::cell::OnceCell;
use std::time::Duration;

use spin_sdk::wit::wasi::clocks0_2_0::monotonic_clock;
use spin_sdk::wit::wasi::config::store as config;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, IncomingBody, IncomingRequest, IncomingResponse, Method as WasiMethod,
    OutgoingBody, OutgoingRequest, OutgoingResponse, RequestOptions, ResponseOutparam, Scheme,
};
use spin_sdk::wit::wasi::keyvalue::{atomics, store as keyvalue};
use wasi::io::poll::{Pollable, poll};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::config::ConfigSource;
use crate::connector::Connector;
use crate::env::Env;
use crate::http::{BODY_LIMIT, HttpRequest, HttpResponse, RequestBody};
use crate::outbound::{
    Method, Outbound, OutboundRequest, OutboundResponse, Timeouts, TransportError,
};
use crate::store::{KeyValue, StoreError};

/// The key-value store label every connector uses.
pub const STORE_LABEL: &str = "default";
/// Largest chunk `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;
/// Read size for body streams.
const READ_CHUNK: u64 = 16 * 1024;

/// Configuration from `wasi:config/store`.
pub struct WasiConfig;

impl ConfigSource for WasiConfig {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        config::get(key).map_err(|error| format!("{error:?}"))
    }
}

/// The `default` bucket of `wasi:keyvalue`, opened on first use.
#[derive(Default)]
pub struct WasiStore {
    bucket: OnceCell<Result<keyvalue::Bucket, StoreError>>,
}

impl WasiStore {
    fn bucket(&self) -> Result<&keyvalue::Bucket, StoreError> {
        self.bucket
            .get_or_init(|| keyvalue::open(STORE_LABEL).map_err(store_error))
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn store_error(error: keyvalue::Error) -> StoreError {
    StoreError(match error {
        keyvalue::Error::NoSuchStore => "no such store".to_owned(),
        keyvalue::Error::AccessDenied => "access denied".to_owned(),
        keyvalue::Error::Other(message) => message,
    })
}

impl KeyValue for WasiStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket()?.get(key).map_err(store_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket()?.set(key, value).map_err(store_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket()?.delete(key).map_err(store_error)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        // The CAS handle remembers the value it saw; `swap` writes only if that is still
        // the stored value. Checking it against `expected` first makes this a
        // compare-and-swap on the caller's snapshot.
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(store_error)?;
        if cas.current().map_err(store_error)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(error)) => Err(store_error(error)),
        }
    }
}

/// Outbound HTTP over `wasi:http/outgoing-handler`.
pub struct WasiOutbound;

impl Outbound for WasiOutbound {
    fn send(
        &self,
        request: &OutboundRequest,
        timeouts: &Timeouts,
    ) -> Result<OutboundResponse, TransportError> {
        let deadline = monotonic_clock::now().saturating_add(nanos(timeouts.total));
        let outgoing = build_request(request)?;
        let options = RequestOptions::new();
        // A host may not support some options; the total budget below still applies.
        let _ = options.set_connect_timeout(Some(nanos(timeouts.connect)));
        let _ = options.set_first_byte_timeout(Some(nanos(timeouts.first_byte)));
        let _ = options.set_between_bytes_timeout(Some(nanos(timeouts.between_bytes)));
        let body = outgoing
            .body()
            .map_err(|()| TransportError::Protocol("request body".into()))?;

        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(transport_error)?;
        write_body(body, &request.body)?;

        let pollable = future.subscribe();
        if !wait(&pollable, deadline) {
            return Err(TransportError::Timeout);
        }
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(transport_error(code)),
            Some(Err(())) | None => return Err(TransportError::Protocol("no response".into())),
        };
        read_response(&response, deadline, timeouts.max_body)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Blocks until `pollable` is ready or `deadline` (monotonic nanoseconds) passes.
fn wait(pollable: &Pollable, deadline: u64) -> bool {
    if pollable.ready() {
        return true;
    }
    let timer = monotonic_clock::subscribe_instant(deadline);
    let ready = poll(&[pollable, &timer]);
    ready.contains(&0)
}

fn build_request(request: &OutboundRequest) -> Result<OutgoingRequest, TransportError> {
    let (scheme, authority, path) = split_url(&request.url).ok_or(TransportError::InvalidUrl)?;
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&entries)
        .map_err(|error| TransportError::Protocol(format!("headers: {error:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Delete => WasiMethod::Delete,
    };
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let invalid = |()| TransportError::InvalidUrl;
    outgoing.set_method(&method).map_err(invalid)?;
    outgoing.set_scheme(Some(&scheme)).map_err(invalid)?;
    outgoing.set_authority(Some(authority)).map_err(invalid)?;
    outgoing.set_path_with_query(Some(&path)).map_err(invalid)?;
    Ok(outgoing)
}

/// `(scheme, authority, path-with-query)` of an absolute `http(s)` URL without userinfo;
/// a fragment is dropped.
pub(crate) fn split_url(url: &str) -> Option<(&str, &str, String)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Some((scheme, authority, path))
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), TransportError> {
    {
        let stream = body
            .write()
            .map_err(|()| TransportError::Protocol("body stream".into()))?;
        write_all(&stream, bytes)
            .map_err(|error| TransportError::Protocol(format!("writing body: {error:?}")))?;
    }
    OutgoingBody::finish(body, None).map_err(transport_error)
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

fn read_response(
    response: &IncomingResponse,
    deadline: u64,
    max_body: usize,
) -> Result<OutboundResponse, TransportError> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    let body = response
        .consume()
        .map_err(|()| TransportError::Protocol("body".into()))?;
    let bytes = read_body(&body, Some(deadline), max_body)?;
    drop(IncomingBody::finish(body));
    Ok(OutboundResponse {
        status,
        headers,
        body: bytes.ok_or(TransportError::BodyTooLarge)?,
    })
}

/// Reads a body stream to its end; `Ok(None)` when it is longer than `max` (reading stops
/// there). With a deadline, waits no longer than it.
fn read_body(
    body: &IncomingBody,
    deadline: Option<u64>,
    max: usize,
) -> Result<Option<Vec<u8>>, TransportError> {
    let stream: InputStream = body
        .stream()
        .map_err(|()| TransportError::Protocol("body stream".into()))?;
    let mut bytes = Vec::new();
    loop {
        let chunk = match deadline {
            Some(deadline) => {
                if !wait(&stream.subscribe(), deadline) {
                    return Err(TransportError::Timeout);
                }
                stream.read(READ_CHUNK)
            }
            None => stream.blocking_read(READ_CHUNK),
        };
        match chunk {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > max {
                    return Ok(None);
                }
            }
            Err(StreamError::Closed) => return Ok(Some(bytes)),
            Err(StreamError::LastOperationFailed(error)) => {
                return Err(TransportError::Protocol(error.to_debug_string()));
            }
        }
    }
}

fn transport_error(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => TransportError::Timeout,
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::HttpRequestDenied => TransportError::Connect(format!("{code:?}")),
        ErrorCode::HttpResponseBodySize(_) => TransportError::BodyTooLarge,
        other => TransportError::Protocol(format!("{other:?}")),
    }
}

/// Serves one `wasi:http` request with connector `C` (called by `export_connector!`).
pub fn handle_http<C: Connector>(request: IncomingRequest, response_out: ResponseOutparam) {
    crate::logging::init();
    let request = read_request(&request);
    let response = crate::router::serve::<C>(&Env::wasi(), &request);
    write_response(response_out, &response);
}

fn read_request(request: &IncomingRequest) -> HttpRequest {
    let method = match request.method() {
        WasiMethod::Get => "GET".to_owned(),
        WasiMethod::Head => "HEAD".to_owned(),
        WasiMethod::Post => "POST".to_owned(),
        WasiMethod::Put => "PUT".to_owned(),
        WasiMethod::Delete => "DELETE".to_owned(),
        WasiMethod::Connect => "CONNECT".to_owned(),
        WasiMethod::Options => "OPTIONS".to_owned(),
        WasiMethod::Trace => "TRACE".to_owned(),
        WasiMethod::Patch => "PATCH".to_owned(),
        WasiMethod::Other(other) => other.to_ascii_uppercase(),
    };
    let target = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let mut http = HttpRequest::new(&method, &target);
    http.headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect();
    http.body = match request.consume() {
        Ok(body) => {
            let read = read_body(&body, None, BODY_LIMIT);
            drop(IncomingBody::finish(body));
            match read {
                Ok(Some(bytes)) => RequestBody::Complete(bytes),
                Ok(None) => RequestBody::TooLarge,
                // A broken upload: treat what arrived as nothing; the JSON check refuses it.
                Err(_) => RequestBody::Complete(Vec::new()),
            }
        }
        Err(()) => RequestBody::Complete(Vec::new()),
    };
    http
}

fn write_response(response_out: ResponseOutparam, response: &HttpResponse) {
    let mut entries: Vec<(String, Vec<u8>)> = response
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
        .collect();
    let length = response.body.len().to_string();
    entries.push(("content-length".to_owned(), length.into_bytes()));
    let Ok(headers) = Fields::from_list(&entries) else {
        tracing::error!("response headers refused by the host");
        return;
    };
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(response.status).is_err() {
        tracing::error!(status = response.status, "status refused by the host");
    }
    let Ok(body) = outgoing.body() else {
        tracing::error!("response body unavailable");
        return;
    };
    ResponseOutparam::set(response_out, Ok(outgoing));
    {
        let Ok(stream) = body.write() else {
            tracing::error!("response body stream unavailable");
            return;
        };
        if let Err(error) = write_all(&stream, &response.body) {
            tracing::warn!(?error, "client went away while writing the response");
        }
    }
    if let Err(error) = OutgoingBody::finish(body, None) {
        tracing::warn!(?error, "finishing the response failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_urls() {
        assert_eq!(
            split_url("https://bsky.social/xrpc/x?a=1#f"),
            Some(("https", "bsky.social", "/xrpc/x?a=1".to_owned()))
        );
        assert_eq!(
            split_url("http://127.0.0.1:9"),
            Some(("http", "127.0.0.1:9", "/".to_owned()))
        );
        assert_eq!(
            split_url("http://h?x=1"),
            Some(("http", "h", "/?x=1".to_owned()))
        );
        assert_eq!(split_url("ftp://h/x"), None);
        assert_eq!(split_url("https://user@h/x"), None);
        assert_eq!(split_url("https:///x"), None);
    }
}
