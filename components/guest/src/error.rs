//! The contract's errors, and the one place they become HTTP answers.
//!
//! Every failure a connector can report is an [`ApiError`]. Its variants are exactly the
//! error codes of the HTTP contract; [`ApiError::status`], [`ApiError::code`] and
//! [`ApiError::public_message`] are the only mapping from a failure to what a caller sees,
//! used both by the HTTP envelope (`envelope.rs`) and by the typed `connector` export
//! (`typed.rs`, through [`ApiError::kind`]).
//!
//! Every `rate_limited` answer names a wait (`Retry-After`, as the contract asks): the
//! platform's hint when it gave one, else [`DEFAULT_RETRY_AFTER_SECONDS`], applied here in
//! [`ApiError::retry_after`] and nowhere else.

use std::collections::BTreeMap;

/// The wait, in seconds, a `rate_limited` answer asks for when the platform gave no hint.
/// Platforms that throttle without a hint mostly count in windows of a minute to an hour;
/// a minute lets a short burst drain without making people wait long for nothing.
pub const DEFAULT_RETRY_AFTER_SECONDS: u32 = 60;

/// Problems with input fields: field name (as in the request body) → messages.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// A failed operation, as the contract names it.
///
/// `Display` is for logs; what callers see comes from [`ApiError::public_message`], which
/// never carries internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The bearer token is missing, malformed, badly signed or expired.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The body or query is invalid.
    #[error("validation failed: {message}")]
    ValidationFailed {
        /// A sentence for people.
        message: String,
        /// The fields at fault.
        fields: FieldErrors,
    },
    /// No route matches the path.
    #[error("no such route")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method not allowed (allowed: {allow})")]
    MethodNotAllowed {
        /// The value of the `Allow` header.
        allow: String,
    },
    /// The request body is larger than the limit.
    #[error("request body over {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The user has not connected this platform.
    #[error("{platform} is not connected")]
    NotConnected {
        /// The platform's name for people, e.g. `Bluesky`.
        platform: String,
    },
    /// The platform refused the credentials the user typed.
    #[error("invalid credentials: {message}")]
    InvalidCredentials {
        /// What happened and what to do.
        message: String,
    },
    /// Bluesky asked for an e-mail sign-in code: the main password was typed.
    #[error("auth factor required: {message}")]
    AuthFactorRequired {
        /// What happened and what to do.
        message: String,
    },
    /// The platform says the account is taken down, suspended or deactivated.
    #[error("account unavailable: {message}")]
    AccountUnavailable {
        /// What happened and what to do.
        message: String,
    },
    /// The stored credentials are dead; the account has been marked so.
    #[error("reconnect required: {message}")]
    ReconnectRequired {
        /// What happened and what to do.
        message: String,
    },
    /// The platform throttled us.
    #[error("rate limited (retry after {retry_after:?} s): {message}")]
    RateLimited {
        /// Seconds to wait before trying again, when the platform said; callers see
        /// [`ApiError::retry_after`], which fills in the default.
        retry_after: Option<u32>,
        /// What happened and what to do.
        message: String,
    },
    /// The platform answered 5xx, HTML, garbage, or not in time.
    #[error("upstream unavailable: {message}")]
    UpstreamUnavailable {
        /// What happened and what to do.
        message: String,
    },
    /// A setting this operation needs is missing or invalid. The message for people is
    /// generic; which setting and why is in `detail`, for the logs only.
    #[error("not configured: {detail}")]
    NotConfigured {
        /// What people are told (names no setting).
        message: String,
        /// Which setting the operator must fix and why, for the logs only.
        detail: String,
    },
    /// A defect on our side. `detail` is logged, never shown.
    #[error("internal error: {detail}")]
    Internal {
        /// What went wrong, for the logs only (never a secret).
        detail: String,
    },
}

/// The machine-readable kind of an [`ApiError`]; one per contract code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `unauthorized`
    Unauthorized,
    /// `validation_failed`
    ValidationFailed,
    /// `not_found`
    NotFound,
    /// `method_not_allowed`
    MethodNotAllowed,
    /// `payload_too_large`
    PayloadTooLarge,
    /// `not_connected`
    NotConnected,
    /// `invalid_credentials`
    InvalidCredentials,
    /// `auth_factor_required`
    AuthFactorRequired,
    /// `account_unavailable`
    AccountUnavailable,
    /// `reconnect_required`
    ReconnectRequired,
    /// `rate_limited`
    RateLimited,
    /// `upstream_unavailable`
    UpstreamUnavailable,
    /// `not_configured`
    NotConfigured,
    /// `internal`
    Internal,
}

impl ErrorKind {
    /// The contract's code and HTTP status for this kind: the single mapping table.
    pub fn code_and_status(self) -> (&'static str, u16) {
        match self {
            Self::Unauthorized => ("unauthorized", 401),
            Self::ValidationFailed => ("validation_failed", 400),
            Self::NotFound => ("not_found", 404),
            Self::MethodNotAllowed => ("method_not_allowed", 405),
            Self::PayloadTooLarge => ("payload_too_large", 413),
            Self::NotConnected => ("not_connected", 404),
            Self::InvalidCredentials => ("invalid_credentials", 422),
            Self::AuthFactorRequired => ("auth_factor_required", 422),
            Self::AccountUnavailable => ("account_unavailable", 422),
            Self::ReconnectRequired => ("reconnect_required", 409),
            Self::RateLimited => ("rate_limited", 429),
            Self::UpstreamUnavailable => ("upstream_unavailable", 502),
            Self::NotConfigured => ("not_configured", 503),
            Self::Internal => ("internal", 500),
        }
    }
}

/// The message shown for `not_configured` failures of shared settings: names no setting.
const NOT_CONFIGURED_MESSAGE: &str = "This service is not configured correctly yet. \
     Please try again later or contact support.";

/// The message shown for `internal` failures: no internals, a next step.
const INTERNAL_MESSAGE: &str = "Something went wrong on our side. Please try again later; \
     if it keeps happening, contact support.";

impl ApiError {
    /// A `validation_failed` error for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut fields = FieldErrors::new();
        fields.insert(field.to_owned(), vec![message.clone()]);
        Self::ValidationFailed { message, fields }
    }

    /// A `rate_limited` error for `platform` (its name for people) with the wait the
    /// platform asked for, if any; the message names the wait callers will be told.
    pub fn rate_limited(platform: &str, retry_after: Option<u32>) -> Self {
        let seconds = retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECONDS);
        Self::RateLimited {
            retry_after,
            message: format!(
                "{platform} is limiting requests right now. Try again in {seconds} seconds."
            ),
        }
    }

    /// An `internal` error with a detail for the logs.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal {
            detail: detail.into(),
        }
    }

    /// A `not_configured` error: a generic message for people, and the operator setting
    /// (its environment name) and `problem` in the detail, which only the logs see.
    pub fn not_configured(setting: &str, problem: &str) -> Self {
        Self::NotConfigured {
            message: NOT_CONFIGURED_MESSAGE.to_owned(),
            detail: format!("{setting} {problem}"),
        }
    }

    /// For a `not_configured` error, tells people that connecting `platform` (its name for
    /// people) is not available on this server, keeping the logged detail; any other error
    /// is returned as it is.
    pub fn unavailable_for(self, platform: &str) -> Self {
        match self {
            Self::NotConfigured { detail, .. } => Self::NotConfigured {
                message: format!(
                    "Connecting {platform} is not available on this server yet. \
                     Please try again later or contact support."
                ),
                detail,
            },
            other => other,
        }
    }

    /// This error's kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized => ErrorKind::Unauthorized,
            Self::ValidationFailed { .. } => ErrorKind::ValidationFailed,
            Self::NotFound => ErrorKind::NotFound,
            Self::MethodNotAllowed { .. } => ErrorKind::MethodNotAllowed,
            Self::PayloadTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::NotConnected { .. } => ErrorKind::NotConnected,
            Self::InvalidCredentials { .. } => ErrorKind::InvalidCredentials,
            Self::AuthFactorRequired { .. } => ErrorKind::AuthFactorRequired,
            Self::AccountUnavailable { .. } => ErrorKind::AccountUnavailable,
            Self::ReconnectRequired { .. } => ErrorKind::ReconnectRequired,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::UpstreamUnavailable { .. } => ErrorKind::UpstreamUnavailable,
            Self::NotConfigured { .. } => ErrorKind::NotConfigured,
            Self::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// The contract's machine code, e.g. `invalid_credentials`.
    pub fn code(&self) -> &'static str {
        self.kind().code_and_status().0
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        self.kind().code_and_status().1
    }

    /// The sentence shown to people: what happened and what they can do.
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthorized => {
                "Your sign-in is missing or has expired. Sign in again and retry.".to_owned()
            }
            Self::ValidationFailed { message, .. } => message.clone(),
            Self::NotFound => "There is nothing at this address.".to_owned(),
            Self::MethodNotAllowed { allow } => {
                format!("This address does not accept that method; use {allow}.")
            }
            Self::PayloadTooLarge { limit } => format!(
                "The request body is too large; it must be at most {} KiB.",
                limit / 1024
            ),
            Self::NotConnected { platform } => {
                format!("You have not connected a {platform} account yet. Connect it first.")
            }
            Self::InvalidCredentials { message }
            | Self::AuthFactorRequired { message }
            | Self::AccountUnavailable { message }
            | Self::ReconnectRequired { message }
            | Self::RateLimited { message, .. }
            | Self::UpstreamUnavailable { message }
            | Self::NotConfigured { message, .. } => message.clone(),
            Self::Internal { .. } => INTERNAL_MESSAGE.to_owned(),
        }
    }

    /// Seconds to wait before retrying: always some for `rate_limited` (the platform's
    /// hint, else [`DEFAULT_RETRY_AFTER_SECONDS`]), none for every other error.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::RateLimited { retry_after, .. } => {
                Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECONDS))
            }
            _ => None,
        }
    }

    /// The fields at fault, for `validation_failed`.
    pub fn fields(&self) -> Option<&FieldErrors> {
        match self {
            Self::ValidationFailed { fields, .. } => Some(fields),
            _ => None,
        }
    }

    /// Rebuilds an error from its kind and public parts (the inverse of the typed export's
    /// conversion). Kinds that carry data the parts lack get neutral values.
    pub fn from_parts(
        kind: ErrorKind,
        message: String,
        retry_after: Option<u32>,
        fields: FieldErrors,
    ) -> Self {
        match kind {
            ErrorKind::Unauthorized => Self::Unauthorized,
            ErrorKind::ValidationFailed => Self::ValidationFailed { message, fields },
            ErrorKind::NotFound => Self::NotFound,
            ErrorKind::MethodNotAllowed => Self::MethodNotAllowed {
                allow: String::new(),
            },
            ErrorKind::PayloadTooLarge => Self::PayloadTooLarge { limit: 0 },
            ErrorKind::NotConnected => Self::NotConnected { platform: message },
            ErrorKind::InvalidCredentials => Self::InvalidCredentials { message },
            ErrorKind::AuthFactorRequired => Self::AuthFactorRequired { message },
            ErrorKind::AccountUnavailable => Self::AccountUnavailable { message },
            ErrorKind::ReconnectRequired => Self::ReconnectRequired { message },
            ErrorKind::RateLimited => Self::RateLimited {
                retry_after,
                message,
            },
            ErrorKind::UpstreamUnavailable => Self::UpstreamUnavailable { message },
            ErrorKind::NotConfigured => Self::NotConfigured {
                message,
                detail: String::new(),
            },
            ErrorKind::Internal => Self::Internal { detail: message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_the_contract_table() {
        let table = [
            (ApiError::Unauthorized, "unauthorized", 401),
            (
                ApiError::invalid_field("x", "bad"),
                "validation_failed",
                400,
            ),
            (ApiError::NotFound, "not_found", 404),
            (
                ApiError::MethodNotAllowed {
                    allow: "GET".into(),
                },
                "method_not_allowed",
                405,
            ),
            (
                ApiError::PayloadTooLarge { limit: 65536 },
                "payload_too_large",
                413,
            ),
            (
                ApiError::NotConnected {
                    platform: "Bluesky".into(),
                },
                "not_connected",
                404,
            ),
            (
                ApiError::InvalidCredentials {
                    message: "m".into(),
                },
                "invalid_credentials",
                422,
            ),
            (
                ApiError::AuthFactorRequired {
                    message: "m".into(),
                },
                "auth_factor_required",
                422,
            ),
            (
                ApiError::AccountUnavailable {
                    message: "m".into(),
                },
                "account_unavailable",
                422,
            ),
            (
                ApiError::ReconnectRequired {
                    message: "m".into(),
                },
                "reconnect_required",
                409,
            ),
            (
                ApiError::RateLimited {
                    retry_after: Some(3),
                    message: "m".into(),
                },
                "rate_limited",
                429,
            ),
            (
                ApiError::UpstreamUnavailable {
                    message: "m".into(),
                },
                "upstream_unavailable",
                502,
            ),
            (
                ApiError::NotConfigured {
                    message: "m".into(),
                    detail: "d".into(),
                },
                "not_configured",
                503,
            ),
            (ApiError::internal("boom"), "internal", 500),
        ];
        for (error, code, status) in table {
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.status(), status, "{error:?}");
        }
    }

    #[test]
    fn internal_details_never_reach_the_public_message() {
        let error = ApiError::internal("kv bucket default: access denied");
        assert!(!error.public_message().contains("bucket"));
        assert!(error.to_string().contains("bucket"));
    }

    #[test]
    fn rate_limits_always_name_a_wait() {
        let hinted = ApiError::RateLimited {
            retry_after: Some(7),
            message: "m".into(),
        };
        assert_eq!(hinted.retry_after(), Some(7));
        let silent = ApiError::RateLimited {
            retry_after: None,
            message: "m".into(),
        };
        assert_eq!(silent.retry_after(), Some(DEFAULT_RETRY_AFTER_SECONDS));
        assert_eq!(ApiError::internal("x").retry_after(), None);
    }

    #[test]
    fn from_parts_round_trips_the_public_parts() {
        let original = ApiError::RateLimited {
            retry_after: Some(42),
            message: "slow".into(),
        };
        let rebuilt = ApiError::from_parts(
            original.kind(),
            original.public_message(),
            original.retry_after(),
            FieldErrors::new(),
        );
        assert_eq!(rebuilt, original);
    }
}
