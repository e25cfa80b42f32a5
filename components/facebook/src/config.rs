//! The Facebook connector's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `meta_app_id` | the Meta app's id (required) |
//! | `meta_app_secret` | the Meta app's secret (required, secret) |
//! | `meta_graph_version` | the Graph API version for the dialog and every call (default `v26.0`) |
//! | `meta_graph_url` | the Graph API host (default `https://graph.facebook.com`) |
//! | `meta_dialog_url` | the Login dialog's host (default `https://www.facebook.com`) |
//!
//! plus the shared `public_base_url` for the callback URL. A missing app credential is
//! `not_configured` (503); only the log names the environment variable. The version is pinned in
//! one place, [`GraphApi`], so the dialog and the Graph calls cannot drift apart (Meta
//! serves calls to an expired version with the oldest live one, so drift shows up only as
//! changed behaviour).

use hayon_guest::oauth2::{self, ClientCredentials, RedirectUri};
use hayon_guest::secret::Secret;
use hayon_guest::{ApiError, Env};

/// Config key of the Meta app id.
pub const APP_ID: &str = "meta_app_id";
/// Config key of the Meta app secret.
pub const APP_SECRET: &str = "meta_app_secret";
/// Config key of the Graph API version.
pub const GRAPH_VERSION: &str = "meta_graph_version";
/// Config key of the Graph API base URL.
pub const GRAPH_URL: &str = "meta_graph_url";
/// Config key of the Login dialog's base URL.
pub const DIALOG_URL: &str = "meta_dialog_url";
/// The Graph API version used when none is configured.
pub const DEFAULT_GRAPH_VERSION: &str = "v26.0";
/// The Graph API used when none is configured.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
/// The Login dialog used when none is configured.
pub const DEFAULT_DIALOG_URL: &str = "https://www.facebook.com";

/// The Graph API host and the pinned version: every Graph URL is built here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphApi {
    base: String,
    version: String,
}

impl GraphApi {
    /// A Graph API at `base` (no trailing slash) with `version` (e.g. `v26.0`).
    pub fn new(base: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            version: version.into(),
        }
    }

    /// The configured host and version (defaults when unset).
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Ok(Self::new(
            env.config.base_url_or(GRAPH_URL, DEFAULT_GRAPH_URL)?,
            graph_version(env)?,
        ))
    }

    /// The version, e.g. `v26.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `${base}/${version}/${path}`, e.g. `url("me/accounts")`.
    pub fn url(&self, path: &str) -> String {
        oauth2::endpoint(
            &self.base,
            &format!("{}/{}", self.version, path.trim_start_matches('/')),
        )
    }
}

/// What every operation with the app's credentials needs: the app and the Graph API.
pub struct AppSettings {
    /// The Meta app's id and secret.
    pub client: ClientCredentials,
    /// The Graph API.
    pub graph: GraphApi,
}

impl AppSettings {
    /// Reads the settings; a missing app id or secret is `not_configured`.
    /// The message for people names no setting; the logged detail does.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Self::read(env).map_err(|error| error.unavailable_for("Facebook"))
    }

    fn read(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            client: ClientCredentials {
                client_id: env.config.require(APP_ID)?,
                client_secret: env.config.require_secret(APP_SECRET)?,
            },
            graph: GraphApi::load(env)?,
        })
    }
}

/// Everything connecting needs.
pub struct ConnectSettings {
    /// The app and the Graph API.
    pub app: AppSettings,
    /// The Login dialog's base URL.
    pub dialog_url: String,
    /// Our callback URL.
    pub redirect_uri: RedirectUri,
}

impl ConnectSettings {
    /// Reads the settings, failing with `not_configured` for the first one missing.
    /// The message for people names no setting; the logged detail does.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Self::read(env).map_err(|error| error.unavailable_for("Facebook"))
    }

    fn read(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            app: AppSettings::load(env)?,
            dialog_url: env.config.base_url_or(DIALOG_URL, DEFAULT_DIALOG_URL)?,
            redirect_uri: RedirectUri::from_config(&env.config, "facebook")?,
        })
    }

    /// `${meta_dialog_url}/${version}/dialog/oauth`.
    pub fn dialog_endpoint(&self) -> String {
        oauth2::endpoint(
            &self.dialog_url,
            &format!("{}/dialog/oauth", self.app.graph.version()),
        )
    }
}

/// The app secret when one is configured (for `appsecret_proof` on calls that do not
/// otherwise need the app, such as revoking while the app is half configured).
pub fn optional_app_secret(env: &Env) -> Result<Option<Secret>, ApiError> {
    Ok(env.config.optional(APP_SECRET)?.map(Secret::new))
}

/// The configured version as `v<major>.<minor>`; `26.0` and `V26.0` are accepted too.
fn graph_version(env: &Env) -> Result<String, ApiError> {
    let Some(written) = env.config.optional(GRAPH_VERSION)? else {
        return Ok(DEFAULT_GRAPH_VERSION.to_owned());
    };
    normalize_version(&written).ok_or_else(|| {
        ApiError::not_configured(
            "META_GRAPH_VERSION",
            "is not a Graph API version like v26.0",
        )
    })
}

fn normalize_version(written: &str) -> Option<String> {
    let digits = written.trim();
    let digits = digits.strip_prefix(['v', 'V']).unwrap_or(digits);
    let (major, minor) = digits.split_once('.')?;
    let numeric = |part: &str| {
        !part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit())
    };
    (numeric(major) && numeric(minor)).then(|| format!("v{major}.{minor}"))
}

#[cfg(test)]
mod tests {
    use hayon_guest::testing::{TestEnv, assert_unavailable_for};

    use super::*;

    fn configured() -> TestEnv {
        let test = TestEnv::new();
        test.config_set(APP_ID, "1234");
        test.config_set(APP_SECRET, "app-secret");
        test
    }

    #[test]
    fn missing_app_credentials_are_not_configured() {
        let test = TestEnv::new();
        let error = ConnectSettings::load(&test.env())
            .err()
            .expect("not configured");
        assert_eq!((error.code(), error.status()), ("not_configured", 503));
        assert_unavailable_for(&error, "Facebook", "META_APP_ID");

        test.config_set(APP_ID, "1234");
        test.config_set(APP_SECRET, " ");
        let error = AppSettings::load(&test.env())
            .err()
            .expect("not configured");
        assert_unavailable_for(&error, "Facebook", "META_APP_SECRET");
    }

    #[test]
    fn defaults_are_the_real_hosts_and_a_current_version() {
        let test = configured();
        let settings = ConnectSettings::load(&test.env()).expect("configured");
        assert_eq!(
            settings.dialog_endpoint(),
            "https://www.facebook.com/v26.0/dialog/oauth"
        );
        assert_eq!(
            settings.app.graph.url("/me/accounts"),
            "https://graph.facebook.com/v26.0/me/accounts"
        );
        assert_eq!(
            settings.redirect_uri.as_str(),
            "https://api.example/api/platform/facebook/callback"
        );
    }

    #[test]
    fn hosts_and_version_are_normalized() {
        let test = configured();
        test.config_set(GRAPH_URL, "http://127.0.0.1:9000/");
        test.config_set(DIALOG_URL, "HTTP://127.0.0.1:9001//");
        test.config_set(GRAPH_VERSION, " 25.0 ");
        let settings = ConnectSettings::load(&test.env()).expect("configured");
        assert_eq!(
            settings.dialog_endpoint(),
            "http://127.0.0.1:9001/v25.0/dialog/oauth"
        );
        assert_eq!(
            settings.app.graph.url("oauth/access_token"),
            "http://127.0.0.1:9000/v25.0/oauth/access_token"
        );

        for bad in ["latest", "v26", "v26.0/../x", "v.1", "v1.2.3"] {
            test.config_set(GRAPH_VERSION, bad);
            let error = GraphApi::load(&test.env()).expect_err(bad);
            assert_eq!(error.code(), "not_configured", "{bad}");
        }
    }
}
