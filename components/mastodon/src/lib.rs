//! The Mastodon connector component.
//!
//! Connects one account per user on one Mastodon instance (`MASTODON_INSTANCE_URL`) with
//! a pre-registered app (`MASTODON_CLIENT_KEY`, `MASTODON_CLIENT_SECRET`), through the
//! OAuth 2.0 authorization-code flow with PKCE (S256). The shared flow lives in
//! `hayon_guest::oauth2`; this crate holds what is Mastodon's own:
//!
//! | module | job |
//! |---|---|
//! | [`instance`], [`scopes`], [`config`] | settings, normalized however an operator writes them |
//! | [`connect`] | the authorization URL; the callback's code exchange |
//! | [`profile`] | `verify_credentials`, the handle's domain, the stored record |
//! | [`refresh`], [`disconnect`] | re-reading the profile; revoking and deleting |
//! | [`api`], [`failure`] | Mastodon's answers and what its errors mean |

pub mod api;
pub mod config;
pub mod connect;
pub mod disconnect;
pub mod failure;
pub mod instance;
pub mod profile;
pub mod refresh;
pub mod scopes;

use hayon_guest::callback::CallbackError;
use hayon_guest::{
    Account, ApiError, AuthKind, BeginOutcome, CallbackQuery, Completion, Connector, Credentials,
    DisconnectOutcome, Env, Platform, UserId,
};

/// The Mastodon connector.
pub struct Mastodon;

impl Connector for Mastodon {
    const PLATFORM: Platform = Platform {
        id: "mastodon",
        name: "Mastodon",
        auth: AuthKind::OAuth2,
        account_platforms: &["mastodon"],
        redirect_field: "authUrl",
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

    fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
        disconnect::disconnect(env, user)
    }
}

hayon_guest::export_connector!(Mastodon);

#[cfg(test)]
mod flow_tests;
