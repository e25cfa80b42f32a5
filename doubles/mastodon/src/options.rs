//! How a double instance is set up: which Mastodon version it imitates, its account
//! domain, and the few places where real servers differ in behaviour.

use std::time::Duration;

/// Which Mastodon release the double imitates. The differences that matter to a client:
///
/// | | `V4_4` (default) | `V4_2` | `V3_5` |
/// |---|---|---|---|
/// | PKCE (`S256`) checked | yes | ignored | ignored |
/// | `/.well-known/oauth-authorization-server` | yes | 404 | 404 |
/// | `profile` scope | yes | unknown (422 at `/api/v1/apps`) | unknown |
/// | `/oauth/userinfo` | yes | 404 | 404 |
/// | `redirect_uris` as an array, `redirect_uris` in the app answer | yes | no | no |
/// | `/api/v2/instance` | yes | yes | 404 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MastodonVersion {
    /// Mastodon 4.4: PKCE S256, `profile`, OAuth server metadata, `/oauth/userinfo`.
    #[default]
    V4_4,
    /// Mastodon 4.2, a "legacy" server: PKCE parameters are ignored (no verifier is
    /// checked), no metadata document, no `profile` scope.
    V4_2,
    /// Mastodon 3.5: like 4.2, and without `/api/v2/instance` (only `/api/v1/instance`).
    V3_5,
}

impl MastodonVersion {
    /// The version string the instance reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V4_4 => "4.4.3",
            Self::V4_2 => "4.2.10",
            Self::V3_5 => "3.5.19",
        }
    }

    /// Whether this release checks PKCE (4.3 and later).
    pub fn supports_pkce(self) -> bool {
        self == Self::V4_4
    }

    /// Whether this release serves `/api/v2/instance` (4.0 and later).
    pub fn has_instance_v2(self) -> bool {
        self != Self::V3_5
    }
}

/// What `/oauth/authorize` does with an error that happens after the client and its
/// redirect URI were recognised (`invalid_scope`, `unsupported_response_type`, a missing
/// `response_type`, a bad `code_challenge_method`).
///
/// An unknown client or redirect URI always renders an HTML page, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthorizeErrors {
    /// Redirect to the client: `redirect_uri?error=invalid_scope&error_description=…&state=…`.
    #[default]
    Redirect,
    /// Render an HTML error page with status 400 and no redirect. This is Doorkeeper's
    /// default (`handle_auth_errors :render`), so stock Mastodon servers do this.
    Render,
}

/// How a requested `redirect_uri` is compared with the registered ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedirectMatching {
    /// Byte-for-byte, except that when both URIs point at a loopback IP
    /// (`127.0.0.0/8`, `[::1]`) the port may differ (RFC 8252 §7.3), as current Doorkeeper
    /// does. `localhost` gets no such exception.
    #[default]
    Rfc8252,
    /// Byte-for-byte, ports included.
    Exact,
}

/// Set-up of one double instance. `Default` gives a Mastodon 4.4 instance whose accounts
/// live on `example.social` while its API is on `127.0.0.1:<port>`.
#[derive(Debug, Clone)]
pub struct MastodonOptions {
    /// The release to imitate.
    pub version: MastodonVersion,
    /// `LOCAL_DOMAIN`: the domain in handles (`@alice@example.social`), reported as
    /// `domain` by `/api/v2/instance` and `uri` by `/api/v1/instance`. The API host (the
    /// `WEB_DOMAIN`) is always the double's own `127.0.0.1:<port>`.
    pub local_domain: String,
    /// The instance's title.
    pub title: String,
    /// Rendering of post-client `/oauth/authorize` errors.
    pub authorize_errors: AuthorizeErrors,
    /// Redirect URI comparison.
    pub redirect_matching: RedirectMatching,
    /// How long an authorization code stays usable (Doorkeeper's default: 10 minutes).
    pub code_lifetime: Duration,
    /// API requests allowed per access token and window (Mastodon: 300).
    pub rate_limit: u32,
    /// The rate-limit window (Mastodon: 5 minutes), aligned to the epoch like Rack::Attack.
    pub rate_limit_period: Duration,
}

impl Default for MastodonOptions {
    fn default() -> Self {
        Self {
            version: MastodonVersion::default(),
            local_domain: "example.social".to_owned(),
            title: "Example Social".to_owned(),
            authorize_errors: AuthorizeErrors::default(),
            redirect_matching: RedirectMatching::default(),
            code_lifetime: Duration::from_secs(600),
            rate_limit: 300,
            rate_limit_period: Duration::from_secs(300),
        }
    }
}
