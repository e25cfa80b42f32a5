//! Errors of the double's control API (what tests call directly, not the HTTP answers).

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    /// No user with that username exists on the instance.
    #[error("no user named {0:?} on this Mastodon double")]
    UnknownUser(String),
    /// A user with that username already exists (usernames are case-insensitive).
    #[error("a user named {0:?} already exists on this Mastodon double")]
    DuplicateUser(String),
    /// No app with that client id is registered.
    #[error("no app with client id {0:?} is registered on this Mastodon double")]
    UnknownApp(String),
    /// The app was refused by the same validation `POST /api/v1/apps` applies.
    #[error("the app was refused: {0}")]
    AppRejected(String),
    /// The URL given to `authorize` is not this instance's `/oauth/authorize`.
    #[error("not an authorization URL of this Mastodon double ({base_url}): {url}")]
    ForeignUrl {
        /// The URL given.
        url: String,
        /// This double's base URL.
        base_url: String,
    },
    /// The authorization page answered without redirecting to the client (an unknown client
    /// or redirect URI, an out-of-band code page, or a rendered error).
    #[error("the authorization page did not redirect (HTTP {status}): {error}")]
    NotRedirected {
        /// The status of the page.
        status: u16,
        /// The OAuth error code of the page (`invalid_redirect_uri`, `invalid_client`, …), or
        /// `out-of-band code page` for the `urn:ietf:wg:oauth:2.0:oob` redirect URI.
        error: String,
    },
}
