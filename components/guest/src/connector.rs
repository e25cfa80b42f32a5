//! What a platform crate implements: the [`Connector`] trait.
//!
//! A connector is a type with a [`Platform`] description and the five operations of the
//! `hayon:connector/connector` interface. `hayon_guest::export_connector!` turns one such
//! type into a component that serves them both over HTTP (`router.rs`) and as typed calls
//! (`typed.rs`); both paths call the same methods with the same [`Env`].

use crate::account::{Account, AccountStore};
use crate::auth::UserId;
use crate::callback::{CallbackError, CallbackQuery};
use crate::env::Env;
use crate::error::ApiError;
use crate::secret::Password;

/// How a person proves they own the platform account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// An identifier and an app password (Bluesky); `connect` is `POST` with a JSON body.
    Credentials,
    /// OAuth 1.0a (Tumblr); `connect` is `GET` and answers a URL.
    OAuth1,
    /// OAuth 2.0 (Facebook, Threads, Mastodon); `connect` is `GET` and answers a URL.
    OAuth2,
}

impl AuthKind {
    /// Whether `connect` sends the browser to the platform (and `callback` exists).
    pub fn is_redirect(self) -> bool {
        !matches!(self, Self::Credentials)
    }
}

/// A connector's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// The id used in routes and storage keys, e.g. `bluesky`.
    pub id: &'static str,
    /// The name for people, e.g. `Bluesky`.
    pub name: &'static str,
    /// How a connection is made.
    pub auth: AuthKind,
    /// Platform ids of the accounts a connection may produce.
    pub account_platforms: &'static [&'static str],
    /// For redirect platforms, the `data` key of `connect`'s answer (`authUrl` or `url`).
    pub redirect_field: &'static str,
}

/// Credentials typed by a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Handle, e-mail address or DID, as typed.
    pub identifier: String,
    /// An app password.
    pub password: Password,
}

/// The result of beginning a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginOutcome {
    /// Send the browser here (carries a fresh `state`).
    Redirect(String),
    /// Connected already (credential platforms).
    Connected(Vec<Account>),
}

/// A connection completed from a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The user who began it.
    pub user: UserId,
    /// The accounts now stored.
    pub accounts: Vec<Account>,
}

/// What `disconnect` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisconnectOutcome {
    /// Accounts whose records were deleted.
    pub removed: u32,
    /// Whether the platform confirmed revoking our access.
    pub revoked: bool,
    /// When revoking failed, what happened, for people.
    pub revocation_problem: Option<String>,
}

impl DisconnectOutcome {
    /// `removed` accounts deleted after asking the platform to end our access;
    /// `revocation` is `Ok` when it confirmed, else what to tell people.
    pub fn after_revocation(removed: usize, revocation: Result<(), String>) -> Self {
        Self {
            removed: count(removed),
            revoked: revocation.is_ok(),
            revocation_problem: revocation.err(),
        }
    }

    /// `removed` accounts deleted with nothing revoked upstream: the platform has no
    /// revocation call, or nothing was stored.
    pub fn without_revocation(removed: usize) -> Self {
        Self {
            removed: count(removed),
            revoked: false,
            revocation_problem: None,
        }
    }
}

fn count(removed: usize) -> u32 {
    u32::try_from(removed).unwrap_or(u32::MAX)
}

/// A platform connector.
pub trait Connector {
    /// The platform this connector connects.
    const PLATFORM: Platform;

    /// Begins connecting `user`'s account (credential platforms get `credentials`).
    fn begin(
        env: &Env,
        user: &UserId,
        credentials: Option<Credentials>,
    ) -> Result<BeginOutcome, ApiError>;

    /// Completes a redirect flow from the callback's query. The default refuses: a
    /// credential platform has no callback.
    fn complete(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
        let _ = (env, query);
        Err(CallbackError::new(
            crate::callback::CallbackReason::ConnectFailed,
            format!(
                "{} connects without a browser redirect; it has no callback.",
                Self::PLATFORM.name
            ),
        ))
    }

    /// Re-reads the profile and rotates or extends credentials where the platform allows.
    fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError>;

    /// Revokes upstream where possible and always deletes the stored accounts.
    fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError>;

    /// The stored accounts (empty when none). The default reads them from storage.
    fn status(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
        AccountStore::new(env, Self::PLATFORM.id, user).views()
    }
}
