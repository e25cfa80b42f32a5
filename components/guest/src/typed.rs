//! The typed face of a connector: the `hayon:connector/connector` export.
//!
//! Each function here converts the WIT arguments, runs the same [`Connector`] method the
//! HTTP routes run, and converts the result back. The `*_in` variants take the [`Env`] so
//! tests can drive them natively; the plain ones (called by `export_connector!`) build the
//! WASI environment.

use crate::account::{Account, AccountStatus};
use crate::auth::UserId;
use crate::bindings::exports::hayon::connector::connector as wit;
use crate::callback::{CallbackError, CallbackQuery, CallbackReason};
use crate::connector::{AuthKind, BeginOutcome, Connector, Credentials};
use crate::env::Env;
use crate::error::{ApiError, ErrorKind, FieldErrors};
use crate::secret::Password;

/// `describe`.
pub fn describe<C: Connector>() -> wit::PlatformInfo {
    let platform = C::PLATFORM;
    wit::PlatformInfo {
        id: platform.id.to_owned(),
        name: platform.name.to_owned(),
        auth: match platform.auth {
            AuthKind::Credentials => wit::AuthKind::Credentials,
            AuthKind::OAuth1 => wit::AuthKind::Oauth1,
            AuthKind::OAuth2 => wit::AuthKind::Oauth2,
        },
        account_platforms: platform
            .account_platforms
            .iter()
            .map(|p| (*p).to_owned())
            .collect(),
    }
}

/// `begin` in the WASI environment.
pub fn begin<C: Connector>(
    user: String,
    credentials: Option<wit::Credentials>,
) -> Result<wit::BeginOutcome, wit::ConnectorError> {
    crate::logging::init();
    begin_in::<C>(&Env::wasi(), user, credentials)
}

/// `begin` in `env`.
pub fn begin_in<C: Connector>(
    env: &Env,
    user: String,
    credentials: Option<wit::Credentials>,
) -> Result<wit::BeginOutcome, wit::ConnectorError> {
    let user = parse_user(&user)?;
    let credentials = credentials.map(|c| Credentials {
        identifier: c.identifier,
        password: Password::new(c.password),
    });
    match C::begin(env, &user, credentials).map_err(|e| log_and_convert::<C>(&e))? {
        BeginOutcome::Redirect(url) => Ok(wit::BeginOutcome::Redirect(url)),
        BeginOutcome::Connected(accounts) => Ok(wit::BeginOutcome::Connected(
            accounts.into_iter().map(to_wit_account).collect(),
        )),
    }
}

/// `complete` in the WASI environment.
pub fn complete<C: Connector>(query: String) -> Result<wit::Completion, wit::CallbackError> {
    crate::logging::init();
    complete_in::<C>(&Env::wasi(), query)
}

/// `complete` in `env`.
pub fn complete_in<C: Connector>(
    env: &Env,
    query: String,
) -> Result<wit::Completion, wit::CallbackError> {
    match C::complete(env, &CallbackQuery::parse(&query)) {
        Ok(completion) => Ok(wit::Completion {
            user: completion.user.to_string(),
            accounts: completion
                .accounts
                .into_iter()
                .map(to_wit_account)
                .collect(),
        }),
        Err(error) => {
            tracing::warn!(platform = C::PLATFORM.id, %error, "callback failed");
            Err(to_wit_callback_error(error))
        }
    }
}

/// `refresh` in the WASI environment.
pub fn refresh<C: Connector>(user: String) -> Result<Vec<wit::Account>, wit::ConnectorError> {
    crate::logging::init();
    refresh_in::<C>(&Env::wasi(), user)
}

/// `refresh` in `env`.
pub fn refresh_in<C: Connector>(
    env: &Env,
    user: String,
) -> Result<Vec<wit::Account>, wit::ConnectorError> {
    let user = parse_user(&user)?;
    let accounts = C::refresh(env, &user).map_err(|e| log_and_convert::<C>(&e))?;
    Ok(accounts.into_iter().map(to_wit_account).collect())
}

/// `disconnect` in the WASI environment.
pub fn disconnect<C: Connector>(
    user: String,
) -> Result<wit::DisconnectOutcome, wit::ConnectorError> {
    crate::logging::init();
    disconnect_in::<C>(&Env::wasi(), user)
}

/// `disconnect` in `env`.
pub fn disconnect_in<C: Connector>(
    env: &Env,
    user: String,
) -> Result<wit::DisconnectOutcome, wit::ConnectorError> {
    let user = parse_user(&user)?;
    let outcome = C::disconnect(env, &user).map_err(|e| log_and_convert::<C>(&e))?;
    Ok(wit::DisconnectOutcome {
        removed: outcome.removed,
        revoked: outcome.revoked,
        revocation_problem: outcome.revocation_problem,
    })
}

/// `status` in the WASI environment.
pub fn status<C: Connector>(user: String) -> Result<Vec<wit::Account>, wit::ConnectorError> {
    crate::logging::init();
    status_in::<C>(&Env::wasi(), user)
}

/// `status` in `env`.
pub fn status_in<C: Connector>(
    env: &Env,
    user: String,
) -> Result<Vec<wit::Account>, wit::ConnectorError> {
    let user = parse_user(&user)?;
    let accounts = C::status(env, &user).map_err(|e| log_and_convert::<C>(&e))?;
    Ok(accounts.into_iter().map(to_wit_account).collect())
}

fn parse_user(user: &str) -> Result<UserId, wit::ConnectorError> {
    UserId::parse(user)
        .map_err(|error| to_wit_error(&ApiError::invalid_field("user", error.to_string())))
}

fn log_and_convert<C: Connector>(error: &ApiError) -> wit::ConnectorError {
    if matches!(error, ApiError::Internal { .. }) {
        tracing::error!(platform = C::PLATFORM.id, %error, "failed");
    }
    to_wit_error(error)
}

/// The WIT view of an account.
pub fn to_wit_account(account: Account) -> wit::Account {
    wit::Account {
        platform: account.platform,
        account_id: account.account_id,
        handle: account.handle,
        display_name: account.display_name,
        avatar: account.avatar,
        profile_url: account.profile_url,
        connected_at: account.connected_at.to_rfc3339(),
        refreshed_at: account.refreshed_at.to_rfc3339(),
        expires_at: account.expires_at.map(|at| at.to_rfc3339()),
        status: match account.status {
            AccountStatus::Active => wit::AccountStatus::Active,
            AccountStatus::ReconnectRequired => wit::AccountStatus::ReconnectRequired,
        },
    }
}

/// The WIT form of an error. HTTP-only kinds (`not_found`, `method_not_allowed`,
/// `payload_too_large`) cannot arise from typed calls and become `validation-failed`.
pub fn to_wit_error(error: &ApiError) -> wit::ConnectorError {
    let kind = match error.kind() {
        ErrorKind::Unauthorized => wit::ErrorKind::Unauthorized,
        ErrorKind::ValidationFailed
        | ErrorKind::NotFound
        | ErrorKind::MethodNotAllowed
        | ErrorKind::PayloadTooLarge => wit::ErrorKind::ValidationFailed,
        ErrorKind::NotConnected => wit::ErrorKind::NotConnected,
        ErrorKind::InvalidCredentials => wit::ErrorKind::InvalidCredentials,
        ErrorKind::AuthFactorRequired => wit::ErrorKind::AuthFactorRequired,
        ErrorKind::AccountUnavailable => wit::ErrorKind::AccountUnavailable,
        ErrorKind::ReconnectRequired => wit::ErrorKind::ReconnectRequired,
        ErrorKind::RateLimited => wit::ErrorKind::RateLimited,
        ErrorKind::UpstreamUnavailable => wit::ErrorKind::UpstreamUnavailable,
        ErrorKind::NotConfigured => wit::ErrorKind::NotConfigured,
        ErrorKind::Internal => wit::ErrorKind::Internal,
    };
    let fields = error
        .fields()
        .map(|fields| {
            fields
                .iter()
                .map(|(field, messages)| wit::FieldError {
                    field: field.clone(),
                    messages: messages.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    wit::ConnectorError {
        kind,
        message: error.public_message(),
        retry_after_seconds: error.retry_after(),
        fields,
    }
}

/// The error a WIT `connector-error` describes (for hosts written in Rust that embed
/// connectors and want the contract's mapping).
pub fn from_wit_error(error: wit::ConnectorError) -> ApiError {
    let kind = match error.kind {
        wit::ErrorKind::Unauthorized => ErrorKind::Unauthorized,
        wit::ErrorKind::ValidationFailed => ErrorKind::ValidationFailed,
        wit::ErrorKind::NotConnected => ErrorKind::NotConnected,
        wit::ErrorKind::InvalidCredentials => ErrorKind::InvalidCredentials,
        wit::ErrorKind::AuthFactorRequired => ErrorKind::AuthFactorRequired,
        wit::ErrorKind::AccountUnavailable => ErrorKind::AccountUnavailable,
        wit::ErrorKind::ReconnectRequired => ErrorKind::ReconnectRequired,
        wit::ErrorKind::RateLimited => ErrorKind::RateLimited,
        wit::ErrorKind::UpstreamUnavailable => ErrorKind::UpstreamUnavailable,
        wit::ErrorKind::NotConfigured => ErrorKind::NotConfigured,
        wit::ErrorKind::Internal => ErrorKind::Internal,
    };
    let fields: FieldErrors = error
        .fields
        .into_iter()
        .map(|field| (field.field, field.messages))
        .collect();
    ApiError::from_parts(kind, error.message, error.retry_after_seconds, fields)
}

fn to_wit_callback_error(error: CallbackError) -> wit::CallbackError {
    wit::CallbackError {
        reason: match error.reason {
            CallbackReason::AuthDenied => wit::CallbackReason::AuthDenied,
            CallbackReason::AuthFailed => wit::CallbackReason::AuthFailed,
            CallbackReason::StateInvalid => wit::CallbackReason::StateInvalid,
            CallbackReason::ConnectFailed => wit::CallbackReason::ConnectFailed,
            CallbackReason::UpstreamUnavailable => wit::CallbackReason::UpstreamUnavailable,
            CallbackReason::RateLimited => wit::CallbackReason::RateLimited,
            CallbackReason::NoPages => wit::CallbackReason::NoPages,
        },
        message: error.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_wit() {
        let errors = [
            ApiError::invalid_field("identifier", "Enter a handle."),
            ApiError::RateLimited {
                retry_after: Some(12),
                message: "Wait.".into(),
            },
            ApiError::ReconnectRequired {
                message: "Reconnect.".into(),
            },
            ApiError::AuthFactorRequired {
                message: "App password.".into(),
            },
            ApiError::NotConfigured {
                message: "Try later.".into(),
                detail: String::new(),
            },
        ];
        for error in errors {
            let wit = to_wit_error(&error);
            assert_eq!(from_wit_error(wit), error);
        }
    }

    #[test]
    fn wit_errors_carry_fields_and_retry_after() {
        let wit = to_wit_error(&ApiError::invalid_field("identifier", "Enter a handle."));
        assert_eq!(wit.fields.len(), 1);
        assert_eq!(wit.fields[0].field, "identifier");
        let wit = to_wit_error(&ApiError::internal("kv exploded"));
        assert!(!wit.message.contains("kv"));
        assert!(matches!(wit.kind, wit::ErrorKind::Internal));
    }
}
