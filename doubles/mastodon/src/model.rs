//! The instance's records — registered apps, user accounts, authorization codes, access
//! tokens — and the public types tests use to create and inspect them.

use std::time::SystemTime;

use crate::options::MastodonVersion;
use crate::secret::Secret;

/// The out-of-band redirect URI: the code is shown on a page instead of redirected.
pub const OOB_REDIRECT_URI: &str = "urn:ietf:wg:oauth:2.0:oob";

/// Scopes every supported release knows (Mastodon's `optional_scopes`, admin ones included).
const KNOWN_SCOPES: &[&str] = &[
    "read",
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "write",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
    "follow",
    "push",
    "admin:read",
    "admin:read:accounts",
    "admin:read:reports",
    "admin:read:domain_allows",
    "admin:read:domain_blocks",
    "admin:read:ip_blocks",
    "admin:read:email_domain_blocks",
    "admin:read:canonical_email_blocks",
    "admin:write",
    "admin:write:accounts",
    "admin:write:reports",
    "admin:write:domain_allows",
    "admin:write:domain_blocks",
    "admin:write:ip_blocks",
    "admin:write:email_domain_blocks",
    "admin:write:canonical_email_blocks",
];

/// Whether the server of this version knows `scope` (`profile` arrived in 4.3).
pub(crate) fn is_known_scope(version: MastodonVersion, scope: &str) -> bool {
    KNOWN_SCOPES.contains(&scope) || (scope == "profile" && version.supports_pkce())
}

/// The scopes the server advertises in its metadata document.
pub(crate) fn known_scopes(version: MastodonVersion) -> Vec<&'static str> {
    let mut scopes = KNOWN_SCOPES.to_vec();
    if version.supports_pkce() {
        scopes.push("profile");
    }
    scopes
}

/// Splits a scope string on whitespace and drops repeats, keeping the order (Doorkeeper's
/// `Scopes.from_string`).
pub(crate) fn parse_scopes(value: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in value.split_whitespace() {
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    scopes
}

/// What a test asks for when it registers an app directly (the operator's
/// "Development → New application" page, or `POST /api/v1/apps`).
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// `client_name`.
    pub name: String,
    /// The registered redirect URIs; authorize and token requests must use one of them.
    pub redirect_uris: Vec<String>,
    /// Space-separated scopes the app may ask for.
    pub scopes: String,
    /// The app's website, if any.
    pub website: Option<String>,
}

impl AppSpec {
    /// An app named "Hayon" with these redirect URIs and scopes (e.g. `"read write push"`).
    pub fn new<I, S>(redirect_uris: I, scopes: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: "Hayon".to_owned(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            scopes: scopes.to_owned(),
            website: None,
        }
    }

    /// Sets the app's name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }
}

/// A registered app as a test sees it: what the product is configured with
/// (`mastodon_client_key` = `client_id`, `mastodon_client_secret` = `client_secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredentials {
    /// The app's numeric id, as a string.
    pub id: String,
    /// `client_name`.
    pub name: String,
    /// The client id ("client key" in Mastodon's settings page).
    pub client_id: String,
    /// The client secret.
    pub client_secret: Secret,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered scopes.
    pub scopes: Vec<String>,
}

/// A registered app.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub id: u64,
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub client_secret: Secret,
}

impl App {
    pub(crate) fn credentials(&self) -> AppCredentials {
        AppCredentials {
            id: self.id.to_string(),
            name: self.name.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            redirect_uris: self.redirect_uris.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The state of a user's login, which decides what `verify_credentials` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountState {
    /// A working account.
    #[default]
    Active,
    /// Disabled by a moderator: 403 "Your login is currently disabled".
    Disabled,
    /// E-mail not confirmed: 403 "Your login is missing a confirmed e-mail address".
    Unconfirmed,
    /// Sign-up awaiting approval: 403 "Your login is currently pending approval".
    PendingApproval,
}

/// A user to add to the instance. `NewUser::from("alice")` gives an active user with an
/// empty display name (which Mastodon allows) and the default avatar.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The username (the local part of the handle).
    pub username: String,
    /// The display name; may be empty.
    pub display_name: String,
    /// The profile note (HTML).
    pub note: String,
    /// Whether the account approves followers by hand.
    pub locked: bool,
    /// Whether the account is a bot.
    pub bot: bool,
    /// An avatar URL; `None` gives Mastodon's "missing" avatar on the instance.
    pub avatar: Option<String>,
    /// The login state.
    pub state: AccountState,
}

impl NewUser {
    /// An active user with this username.
    pub fn new(username: &str) -> Self {
        Self {
            username: username.to_owned(),
            display_name: String::new(),
            note: String::new(),
            locked: false,
            bot: false,
            avatar: None,
            state: AccountState::Active,
        }
    }

    /// Sets the display name.
    pub fn display_name(mut self, display_name: &str) -> Self {
        self.display_name = display_name.to_owned();
        self
    }

    /// Sets the avatar URL.
    pub fn avatar(mut self, url: &str) -> Self {
        self.avatar = Some(url.to_owned());
        self
    }

    /// Sets the login state.
    pub fn state(mut self, state: AccountState) -> Self {
        self.state = state;
        self
    }
}

impl From<&str> for NewUser {
    fn from(username: &str) -> Self {
        Self::new(username)
    }
}

/// A user's account as the API shows it, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account id: a string of digits above 2^53, as Mastodon's snowflake ids are.
    pub id: String,
    /// The username.
    pub username: String,
    /// `acct`: for a local account, the username.
    pub acct: String,
    /// The display name (may be empty).
    pub display_name: String,
    /// The canonical handle, `@username@<local_domain>`.
    pub handle: String,
    /// The profile URL, on the API host (`http://127.0.0.1:<port>/@username`).
    pub url: String,
    /// The avatar URL.
    pub avatar: String,
    /// The login state.
    pub state: AccountState,
}

/// A user account.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub note: String,
    pub locked: bool,
    pub bot: bool,
    pub avatar: Option<String>,
    pub state: AccountState,
    pub created_at: SystemTime,
}

/// A PKCE challenge stored with an authorization code.
#[derive(Debug, Clone)]
pub(crate) struct Challenge {
    pub value: String,
    pub method: String,
}

/// An authorization code ("access grant").
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub challenge: Option<Challenge>,
    pub created_at: SystemTime,
    pub used: bool,
}

/// An access token. Mastodon's never expire; they die when revoked.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub value: Secret,
    pub client_id: String,
    /// `None` for an app-only (`client_credentials`) token.
    pub user_id: Option<String>,
    pub scopes: Vec<String>,
    pub created_at: SystemTime,
    pub revoked_at: Option<SystemTime>,
}

/// An access token as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token.
    pub token: Secret,
    /// The app it was issued to.
    pub client_id: String,
    /// The user it acts for; `None` for an app-only token.
    pub username: Option<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// What the user does on the authorization page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The named user (signed in) presses "Authorize".
    Approve(String),
    /// The user presses "Deny".
    Deny,
}

impl Decision {
    /// `Decision::Approve(username)`.
    pub fn approve(username: &str) -> Self {
        Self::Approve(username.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_strings_split_on_any_whitespace_and_drop_repeats() {
        assert_eq!(
            parse_scopes(" read  write\tpush read "),
            ["read", "write", "push"]
        );
        assert!(parse_scopes("   ").is_empty());
    }

    #[test]
    fn profile_is_known_only_from_4_3() {
        assert!(is_known_scope(MastodonVersion::V4_4, "profile"));
        assert!(!is_known_scope(MastodonVersion::V4_2, "profile"));
        assert!(is_known_scope(MastodonVersion::V4_2, "write:statuses"));
        assert!(!is_known_scope(MastodonVersion::V4_4, "read:everything"));
    }
}
