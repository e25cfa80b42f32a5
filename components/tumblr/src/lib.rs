//! The Tumblr connector component.
//!
//! Tumblr connects with three-legged OAuth 1.0a (`platforms.md` §2): the person approves
//! Hayon on Tumblr's page, Tumblr sends the browser back to our callback, and we exchange
//! the temporary token for token credentials that never expire. The crate is laid out by
//! job:
//!
//! | module | job |
//! |---|---|
//! | [`oauth1`] | RFC 5849 signing with HMAC-SHA1 (pure, pinned to the published vectors) |
//! | [`settings`] | app credentials and Tumblr's base URLs from configuration |
//! | [`client`] | the three signed calls to Tumblr and what their answers mean |
//! | [`blogs`] | which blog a connection stands for and how it is shown |
//! | [`flow`] | connect, callback, refresh, disconnect |
//!
//! Everything the connectors share (routes, bearer tokens, sealing, storage, pending
//! authorizations, the outbound client) comes from `hayon-guest`.

pub mod blogs;
pub mod client;
pub mod flow;
pub mod oauth1;
pub mod settings;

use hayon_guest::{
    Account, ApiError, AuthKind, BeginOutcome, CallbackError, CallbackQuery, Completion, Connector,
    Credentials, DisconnectOutcome, Env, Platform, UserId,
};

/// The Tumblr connector.
pub struct Tumblr;

impl Connector for Tumblr {
    const PLATFORM: Platform = Platform {
        id: flow::PLATFORM_ID,
        name: client::PLATFORM_NAME,
        auth: AuthKind::OAuth1,
        account_platforms: &[flow::PLATFORM_ID],
        redirect_field: "authUrl",
    };

    fn begin(
        env: &Env,
        user: &UserId,
        _credentials: Option<Credentials>,
    ) -> Result<BeginOutcome, ApiError> {
        flow::connect(env, user).map(BeginOutcome::Redirect)
    }

    fn complete(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
        flow::callback(env, query)
    }

    fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
        flow::refresh(env, user)
    }

    fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
        flow::disconnect(env, user)
    }
}

hayon_guest::export_connector!(Tumblr);
