//! The Threads connector component.
//!
//! Connects one Threads account per user through the OAuth 2.0 authorization-code flow
//! with the Threads app's own id and secret (`THREADS_APP_ID`, `THREADS_APP_SECRET`, which
//! differ from the Facebook app's). The shared flow and Meta's error codes live in
//! `hayon_guest::oauth2`; this crate holds what is Threads' own:
//!
//! | module | job |
//! |---|---|
//! | [`config`] | settings |
//! | [`connect`] | the authorization URL; code → short-lived → long-lived token → profile |
//! | [`refresh`] | `th_refresh_token` once the token is 24 hours old; the profile |
//! | [`profile`] | `/v1.0/me` and the stored record |
//! | [`api`] | Threads' answers, ids kept exact |
//!
//! Threads has no revocation call for a user token: disconnect deletes our record.

pub mod api;
pub mod config;
pub mod connect;
pub mod profile;
pub mod refresh;

use hayon_guest::callback::CallbackError;
use hayon_guest::{
    Account, AccountStore, ApiError, AuthKind, BeginOutcome, CallbackQuery, Completion, Connector,
    Credentials, DisconnectOutcome, Env, Platform, UserId,
};

/// The Threads connector.
pub struct Threads;

impl Connector for Threads {
    const PLATFORM: Platform = Platform {
        id: "threads",
        name: "Threads",
        auth: AuthKind::OAuth2,
        account_platforms: &["threads"],
        redirect_field: "url",
    };

    fn begin(
        env: &Env,
        user: &UserId,
        _credentials: Option<Credentials>,
    ) -> Result<BeginOutcome, ApiError> {
        connect::begin(env, user)
    }

    fn complete(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
        connect::complete(env, query)
    }

    fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
        refresh::refresh(env, user)
    }

    /// Deletes our record; Threads offers no call to revoke a user's token.
    fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
        let removed = AccountStore::new(env, Self::PLATFORM.id, user).delete_all()?;
        tracing::info!(platform = "threads", %user, removed, "disconnected");
        Ok(DisconnectOutcome::without_revocation(removed))
    }
}

hayon_guest::export_connector!(Threads);

#[cfg(test)]
mod flow_tests;
