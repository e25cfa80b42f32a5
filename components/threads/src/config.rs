//! The Threads connector's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `threads_app_id` | the Threads app id, not the Meta app's Facebook id (required) |
//! | `threads_app_secret` | the Threads app secret (required, secret) |
//! | `threads_graph_url` | the API host (default `https://graph.threads.net`) |
//! | `threads_authorize_url` | the authorization window's host (default `https://threads.net`) |
//!
//! plus the shared `public_base_url` for the callback URL. A missing app credential is
//! `not_configured` (503): people get a plain sentence, the log names the variable to set.

use hayon_guest::oauth2::{ClientCredentials, RedirectUri};
use hayon_guest::{ApiError, Env};

/// Config key of the Threads app id.
pub const APP_ID: &str = "threads_app_id";
/// Config key of the Threads app secret.
pub const APP_SECRET: &str = "threads_app_secret";
/// Config key of the API base URL.
pub const GRAPH_URL: &str = "threads_graph_url";
/// Config key of the authorization window's base URL.
pub const AUTHORIZE_URL: &str = "threads_authorize_url";
/// The API used when none is configured.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.threads.net";
/// The authorization window used when none is configured.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://threads.net";

/// The API base URL (default when unset), without a trailing slash.
pub fn graph_url(env: &Env) -> Result<String, ApiError> {
    env.config.base_url_or(GRAPH_URL, DEFAULT_GRAPH_URL)
}

/// Everything connecting needs.
pub struct ConnectSettings {
    /// The Threads app's id and secret.
    pub client: ClientCredentials,
    /// The API base URL.
    pub graph_url: String,
    /// The authorization window's base URL.
    pub authorize_url: String,
    /// Our callback URL.
    pub redirect_uri: RedirectUri,
}

impl ConnectSettings {
    /// Reads the settings, failing with `not_configured` for the first one missing.
    /// The message for people names no setting; the logged detail does.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Self::read(env).map_err(|error| error.unavailable_for("Threads"))
    }

    fn read(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            client: ClientCredentials {
                client_id: env.config.require(APP_ID)?,
                client_secret: env.config.require_secret(APP_SECRET)?,
            },
            graph_url: graph_url(env)?,
            authorize_url: env
                .config
                .base_url_or(AUTHORIZE_URL, DEFAULT_AUTHORIZE_URL)?,
            redirect_uri: RedirectUri::from_config(&env.config, "threads")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use hayon_guest::testing::{TestEnv, assert_unavailable_for};

    use super::*;

    #[test]
    fn missing_app_credentials_are_not_configured() {
        let test = TestEnv::new();
        let error = ConnectSettings::load(&test.env())
            .err()
            .expect("not configured");
        assert_eq!((error.code(), error.status()), ("not_configured", 503));
        assert_unavailable_for(&error, "Threads", "THREADS_APP_ID");
        test.config_set(APP_ID, "123");
        let error = ConnectSettings::load(&test.env())
            .err()
            .expect("not configured");
        assert_unavailable_for(&error, "Threads", "THREADS_APP_SECRET");
    }

    #[test]
    fn hosts_default_to_the_real_ones_and_tolerate_trailing_slashes() {
        let test = TestEnv::new();
        test.config_set(APP_ID, "123");
        test.config_set(APP_SECRET, "s");
        let settings = ConnectSettings::load(&test.env()).expect("configured");
        assert_eq!(settings.graph_url, "https://graph.threads.net");
        assert_eq!(settings.authorize_url, "https://threads.net");
        test.config_set(GRAPH_URL, "http://127.0.0.1:9000/");
        test.config_set(AUTHORIZE_URL, "https://www.threads.com//");
        let settings = ConnectSettings::load(&test.env()).expect("configured");
        assert_eq!(settings.graph_url, "http://127.0.0.1:9000");
        assert_eq!(settings.authorize_url, "https://www.threads.com");
    }
}
