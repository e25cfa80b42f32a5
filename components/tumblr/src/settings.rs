//! The Tumblr connector's configuration.
//!
//! | key | meaning |
//! |---|---|
//! | `tumblr_consumer_key` | the app's OAuth consumer key; empty means not configured (503) |
//! | `tumblr_consumer_secret` | its consumer secret; empty means not configured (503) |
//! | `tumblr_www_url` | request token, authorize and access token (`https://www.tumblr.com`) |
//! | `tumblr_api_url` | the API, `/v2/user/info` (`https://api.tumblr.com`) |
//!
//! The base URLs default to the real hosts when unset, so an embedder that sets only the
//! app credentials talks to Tumblr; tests point them at the double.

use hayon_guest::{ApiError, Env};

use crate::oauth1::ConsumerSecret;

/// Config key of the consumer key.
pub const CONSUMER_KEY: &str = "tumblr_consumer_key";
/// Config key of the consumer secret.
pub const CONSUMER_SECRET: &str = "tumblr_consumer_secret";
/// Config key of the www base URL.
pub const WWW_URL: &str = "tumblr_www_url";
/// Config key of the API base URL.
pub const API_URL: &str = "tumblr_api_url";
/// The real www host.
pub const DEFAULT_WWW_URL: &str = "https://www.tumblr.com";
/// The real API host.
pub const DEFAULT_API_URL: &str = "https://api.tumblr.com";

/// What every call to Tumblr needs: the app's credentials and where Tumblr is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `oauth_consumer_key`.
    pub consumer_key: String,
    /// The consumer secret, first half of every signing key.
    pub consumer_secret: ConsumerSecret,
    /// Base URL of the OAuth endpoints, without a trailing slash.
    pub www_url: String,
    /// Base URL of the API, without a trailing slash.
    pub api_url: String,
}

impl Settings {
    /// Reads the settings; missing app credentials or an unusable URL are `not_configured`.
    /// The message for people names no setting; the logged detail does.
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Self::read(env).map_err(|error| error.unavailable_for("Tumblr"))
    }

    fn read(env: &Env) -> Result<Self, ApiError> {
        let consumer_key = env.config.require(CONSUMER_KEY)?;
        let consumer_secret =
            ConsumerSecret::new(env.config.require_secret(CONSUMER_SECRET)?.expose_secret());
        Ok(Self {
            consumer_key,
            consumer_secret,
            www_url: env.config.base_url_or(WWW_URL, DEFAULT_WWW_URL)?,
            api_url: env.config.base_url_or(API_URL, DEFAULT_API_URL)?,
        })
    }

    /// The page the person approves the connection on, for temporary token `token`.
    pub fn authorize_url(&self, token: &str) -> String {
        format!(
            "{}/oauth/authorize?oauth_token={}",
            self.www_url,
            crate::oauth1::percent_encode(token)
        )
    }

    /// The avatar address of the blog at `hostname`, 128 pixels.
    pub fn avatar_url(&self, hostname: &str) -> String {
        format!("{}/v2/blog/{hostname}/avatar/128", self.api_url)
    }
}

#[cfg(test)]
mod tests {
    use hayon_guest::testing::TestEnv;

    use super::*;

    #[test]
    fn empty_app_credentials_are_not_configured() {
        let test = TestEnv::new();
        assert_eq!(
            Settings::load(&test.env()).unwrap_err().code(),
            "not_configured"
        );
        test.config_set(CONSUMER_KEY, "ck");
        test.config_set(CONSUMER_SECRET, "  ");
        let error = Settings::load(&test.env()).unwrap_err();
        assert_eq!(error.code(), "not_configured");
        assert!(
            error.to_string().contains("TUMBLR_CONSUMER_SECRET"),
            "{error}"
        );
        assert!(!error.public_message().contains("TUMBLR_CONSUMER_SECRET"));
        assert!(
            error
                .public_message()
                .starts_with("Connecting Tumblr is not available on this server yet.")
        );
    }

    #[test]
    fn urls_default_to_tumblr_and_are_normalized() {
        let test = TestEnv::new();
        test.config_set(CONSUMER_KEY, "ck");
        test.config_set(CONSUMER_SECRET, "cs");
        let settings = Settings::load(&test.env()).unwrap();
        assert_eq!(settings.www_url, DEFAULT_WWW_URL);
        assert_eq!(settings.api_url, DEFAULT_API_URL);

        test.config_set(WWW_URL, "HTTP://127.0.0.1:4000/");
        test.config_set(API_URL, "ftp://nope");
        assert_eq!(
            Settings::load(&test.env()).unwrap_err().code(),
            "not_configured"
        );
        test.config_set(API_URL, "http://127.0.0.1:4001");
        let settings = Settings::load(&test.env()).unwrap();
        assert_eq!(
            settings.authorize_url("a b"),
            "http://127.0.0.1:4000/oauth/authorize?oauth_token=a%20b"
        );
        assert_eq!(
            settings.avatar_url("www.davidslog.com"),
            "http://127.0.0.1:4001/v2/blog/www.davidslog.com/avatar/128"
        );
    }
}
