//! The request log: every request any listener of the double received, so tests can
//! assert where the client sent what (e.g. "refresh went to the PDS with the refresh token
//! in the header, and no createSession happened").

use crate::token::{ACCESS_TYP, REFRESH_TYP, peek_typ};
use crate::{Endpoint, Service};

/// What the request's `Authorization` header carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// No `Authorization` header.
    None,
    /// `Bearer` with a token whose header says `at+jwt`.
    AccessToken,
    /// `Bearer` with a token whose header says `refresh+jwt`.
    RefreshToken,
    /// `Bearer` with something that is not one of the double's JWT shapes.
    OtherBearer,
    /// Another scheme (`Basic`, `DPoP`, …).
    OtherScheme,
}

impl AuthKind {
    /// Classifies an `Authorization` header value (without verifying anything).
    pub(crate) fn of(header: Option<&str>) -> (Self, Option<String>) {
        let Some(value) = header else {
            return (AuthKind::None, None);
        };
        let Some(token) = value.strip_prefix("Bearer ") else {
            return (AuthKind::OtherScheme, None);
        };
        let kind = match peek_typ(token).as_deref() {
            Some(ACCESS_TYP) => AuthKind::AccessToken,
            Some(REFRESH_TYP) => AuthKind::RefreshToken,
            _ => AuthKind::OtherBearer,
        };
        (kind, Some(token.to_owned()))
    }
}

/// One request received by the double, with the status it was answered with.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Arrival order, counted from 0 across all listeners.
    pub seq: u64,
    /// Which listener received it.
    pub service: Service,
    /// The endpoint, when the path names one.
    pub endpoint: Option<Endpoint>,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// The `Host` header as sent.
    pub host: String,
    /// What the `Authorization` header carried.
    pub auth: AuthKind,
    /// The bearer token, when there was one.
    pub bearer: Option<String>,
    /// The request body as (lossy) UTF-8.
    pub body: String,
    /// The status the double answered with (0 when the client went away first).
    pub status: u16,
}
