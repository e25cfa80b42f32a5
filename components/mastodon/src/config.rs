//! The Mastodon connector's settings.
//!
//! | key | meaning |
//! |---|---|
//! | `mastodon_instance_url` | the instance, however written (default `https://mastodon.social`) |
//! | `mastodon_client_key` | the pre-registered app's `client_id` (required) |
//! | `mastodon_client_secret` | its `client_secret` (required, secret) |
//! | `mastodon_scopes` | scopes to ask for (default `read write push`) |
//!
//! plus the shared `public_base_url` for the callback URL. A missing app credential is
//! `not_configured` (503): people get a plain sentence, the log names the variable to set.

use hayon_guest::oauth2::{ClientCredentials, RedirectUri};
use hayon_guest::{ApiError, Env};

use crate::instance::InstanceUrl;
use crate::scopes::Scopes;

/// Config key of the instance URL.
pub const INSTANCE_URL: &str = "mastodon_instance_url";
/// Config key of the app's client id.
pub const CLIENT_KEY: &str = "mastodon_client_key";
/// Config key of the app's client secret.
pub const CLIENT_SECRET: &str = "mastodon_client_secret";
/// Config key of the scopes.
pub const SCOPES: &str = "mastodon_scopes";
/// The instance used when none is configured.
pub const DEFAULT_INSTANCE: &str = "https://mastodon.social";

/// The configured instance (default when unset); an unusable value is `not_configured`.
pub fn instance(env: &Env) -> Result<InstanceUrl, ApiError> {
    let written = env.config.optional(INSTANCE_URL)?;
    InstanceUrl::parse(written.as_deref().unwrap_or(DEFAULT_INSTANCE)).map_err(|error| {
        ApiError::not_configured("MASTODON_INSTANCE_URL", &format!("is not usable ({error})"))
    })
}

/// The pre-registered app's credentials; either missing is `not_configured`.
pub fn client(env: &Env) -> Result<ClientCredentials, ApiError> {
    let read = || {
        Ok(ClientCredentials {
            client_id: env.config.require(CLIENT_KEY)?,
            client_secret: env.config.require_secret(CLIENT_SECRET)?,
        })
    };
    read().map_err(|error: ApiError| error.unavailable_for("Mastodon"))
}

/// Everything connecting needs.
pub struct ConnectSettings {
    /// The instance.
    pub instance: InstanceUrl,
    /// The app's credentials.
    pub client: ClientCredentials,
    /// The scopes to ask for.
    pub scopes: Scopes,
    /// Our callback URL.
    pub redirect_uri: RedirectUri,
}

impl ConnectSettings {
    /// Reads the settings, failing with `not_configured` for the first one missing.
    /// The message for people names no setting; the logged detail does.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Self::read(env).map_err(|error| error.unavailable_for("Mastodon"))
    }

    fn read(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            client: client(env)?,
            instance: instance(env)?,
            scopes: Scopes::from_config(env.config.optional(SCOPES)?.as_deref()),
            redirect_uri: RedirectUri::from_config(&env.config, "mastodon")?,
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
        assert_unavailable_for(&error, "Mastodon", "MASTODON_CLIENT_KEY");

        test.config_set(CLIENT_KEY, "key");
        test.config_set(CLIENT_SECRET, "   ");
        let error = ConnectSettings::load(&test.env())
            .err()
            .expect("not configured");
        assert!(
            error.to_string().contains("MASTODON_CLIENT_SECRET"),
            "{error}"
        );
        assert!(!error.public_message().contains("MASTODON_CLIENT_SECRET"));
        assert!(
            error
                .public_message()
                .starts_with("Connecting Mastodon is not available on this server yet.")
        );
    }

    #[test]
    fn defaults_and_normalization() {
        let test = TestEnv::new();
        test.config_set(CLIENT_KEY, "key");
        test.config_set(CLIENT_SECRET, "secret");
        let settings = ConnectSettings::load(&test.env()).expect("configured");
        assert_eq!(settings.instance.base(), "https://mastodon.social");
        assert_eq!(settings.scopes.as_param(), "read write push");

        test.config_set(INSTANCE_URL, "HTTPS://Social.Example/");
        test.config_set(SCOPES, "write:statuses profile");
        let settings = ConnectSettings::load(&test.env()).expect("configured");
        assert_eq!(settings.instance.base(), "https://social.example");
        assert_eq!(settings.scopes.as_param(), "write:statuses profile");

        test.config_set(INSTANCE_URL, "gopher://social.example");
        let error = ConnectSettings::load(&test.env()).err().expect("unusable");
        assert_eq!(error.code(), "not_configured");
    }
}
