//! The request log tests assert on: which step was called, with which token, and whether the
//! signature verified.

use crate::control::{Endpoint, Failure, Site};

/// One request the double answered (or one call of
/// [`TumblrDouble::authorize`](crate::TumblrDouble::authorize)).
///
/// Tokens are recorded in clear: they are the double's own fake credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Position in the log, from 0.
    pub seq: u64,
    /// The host that received it.
    pub site: Site,
    /// The endpoint, or `None` for an unknown route.
    pub endpoint: Option<Endpoint>,
    /// Whether it came over HTTP or from
    /// [`TumblrDouble::authorize`](crate::TumblrDouble::authorize).
    pub via: Via,
    /// HTTP method.
    pub method: String,
    /// Path as received.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// `oauth_consumer_key` from the `Authorization` header.
    pub consumer_key: Option<String>,
    /// `oauth_token` from the `Authorization` header (or the authorize URL's query).
    pub token: Option<String>,
    /// The outcome of the signature check.
    pub signature: SignatureCheck,
    /// HTTP status of the answer.
    pub status: u16,
    /// Why the answer is what it is.
    pub outcome: Outcome,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// The double's clock (Unix seconds) when it answered.
    pub at: i64,
}

/// How a request reached the double.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An HTTP request on one of the listeners.
    Http,
    /// A call of [`TumblrDouble::authorize`](crate::TumblrDouble::authorize).
    Method,
}

/// The result of verifying `oauth_signature`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SignatureCheck {
    /// Not checked: unsigned endpoint, injected failure, or rejected before the check (bad
    /// header, unknown consumer or token, timestamp out of window).
    #[default]
    NotChecked,
    /// The signature matched.
    Valid,
    /// The signature did not match.
    Invalid {
        /// The signature the client sent (percent-decoded).
        received: String,
        /// The signature the double computed.
        expected: String,
        /// The base string the double signed, to compare with the client's.
        base_string: String,
    },
}

impl SignatureCheck {
    /// Whether the signature was checked and matched.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid)
    }
}

/// Why the double answered as it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The request was served normally (including a 302 of the authorize step and the
    /// authorize page shown when no decision was given).
    Served,
    /// The request was refused; the text is the reason (also the plain-text body on the www
    /// host).
    Rejected(String),
    /// An injected failure answered.
    Injected(Failure),
}
