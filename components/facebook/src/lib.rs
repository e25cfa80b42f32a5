//! The Facebook + Instagram connector component.
//!
//! One OAuth 2.0 flow through the Facebook Login dialog connects a Facebook Page and, when
//! the Page has one, its linked Instagram professional account: the callback exchanges the
//! code, upgrades to a long-lived user token, lists the Pages with it, takes the first
//! Page and stores two accounts — the Page (posting with its Page token) and the Instagram
//! account (posting with the long-lived user token) — in one value. The shared OAuth 2.0
//! flow (state, authorization URL, token requests, Meta's error vocabulary) lives in
//! `hayon_guest::oauth2`; this crate holds what is Facebook's own:
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the app credentials, hosts and the pinned Graph API version |
//! | [`connect`] | the Login dialog URL; the callback's exchanges and Page listing |
//! | [`connection`] | the two stored accounts, their views and sealed tokens |
//! | [`refresh`], [`disconnect`] | re-reading and re-extending; revoking and deleting |
//! | [`graph`], [`api`] | the Graph API calls, their answers and failure classification |
//!
//! Limitation: Meta's deauthorize and data-deletion callbacks (`signed_request` posts when
//! a person removes the app on Facebook) are not served; such an account shows
//! `reconnect_required` at its next refresh instead.

pub mod api;
pub mod config;
pub mod connect;
pub mod connection;
pub mod disconnect;
pub mod graph;
pub mod refresh;

use hayon_guest::callback::CallbackError;
use hayon_guest::{
    Account, ApiError, AuthKind, BeginOutcome, CallbackQuery, Completion, Connector, Credentials,
    DisconnectOutcome, Env, Platform, UserId,
};

/// The Facebook + Instagram connector.
pub struct Facebook;

impl Connector for Facebook {
    const PLATFORM: Platform = Platform {
        id: "facebook",
        name: "Facebook",
        auth: AuthKind::OAuth2,
        account_platforms: &[connection::FACEBOOK, connection::INSTAGRAM],
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

    fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
        disconnect::disconnect(env, user)
    }
}

hayon_guest::export_connector!(Facebook);

#[cfg(test)]
mod flow_tests;
