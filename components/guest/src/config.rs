//! Configuration, read through `wasi:config/store`.
//!
//! The component's config keys are the lower-case variable names of `spin.toml`
//! (`access_token_secret`, `token_encryption_key`, `frontend_url`, `public_base_url`, and
//! each platform's keys). [`ConfigSource`] is the raw lookup (WASI in the component, a map
//! in tests); [`Config`] adds the typed accessors and turns a missing or empty value into
//! a `not_configured` error whose logged detail (never its public message) names the
//! environment variable the operator must set.

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::seal::SealingKey;
use crate::secret::Secret;

/// Config key of the HS256 secret for bearer tokens.
pub const ACCESS_TOKEN_SECRET: &str = "access_token_secret";
/// Config key of the 32-byte sealing key.
pub const TOKEN_ENCRYPTION_KEY: &str = "token_encryption_key";
/// Config key of the front end's base URL (callback redirects go to its `/settings`).
pub const FRONTEND_URL: &str = "frontend_url";
/// Config key of the public base URL callbacks are built from.
pub const PUBLIC_BASE_URL: &str = "public_base_url";

/// A raw source of configuration values.
pub trait ConfigSource {
    /// The value of `key`, `None` when unset. `Err` is a failure of the source itself.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
}

/// A fixed map of values, for tests and embedders.
#[derive(Debug, Clone, Default)]
pub struct MapConfig(pub BTreeMap<String, String>);

impl MapConfig {
    /// A map from `(key, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Sets one value.
    pub fn set(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_owned(), value.to_owned());
    }
}

impl ConfigSource for MapConfig {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.0.get(key).cloned())
    }
}

/// Typed access to configuration.
pub struct Config {
    source: Box<dyn ConfigSource>,
}

impl Config {
    /// Wraps a raw source.
    pub fn new(source: Box<dyn ConfigSource>) -> Self {
        Self { source }
    }

    /// The value of `key` trimmed, `None` when unset or blank.
    pub fn optional(&self, key: &str) -> Result<Option<String>, ApiError> {
        let value = self
            .source
            .get(key)
            .map_err(|error| ApiError::internal(format!("config {key}: {error}")))?;
        Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// The value of `key`; unset or blank is `not_configured` naming the variable.
    pub fn require(&self, key: &str) -> Result<String, ApiError> {
        self.optional(key)?
            .ok_or_else(|| ApiError::not_configured(&key.to_ascii_uppercase(), "is not set"))
    }

    /// A secret value of `key` (app secrets); unset or blank is `not_configured`.
    pub fn require_secret(&self, key: &str) -> Result<Secret, ApiError> {
        self.require(key).map(Secret::new)
    }

    /// A base URL (`http` or `https`, no query or fragment) with trailing slashes removed,
    /// e.g. `https://bsky.social`.
    pub fn base_url(&self, key: &str) -> Result<String, ApiError> {
        let value = self.require(key)?;
        normalize_base_url(&value).ok_or_else(|| {
            ApiError::not_configured(&key.to_ascii_uppercase(), "is not an http(s) URL")
        })
    }

    /// [`Config::base_url`] of `key`, or `default` (a platform's real host) when it is unset
    /// or blank, so an operator sets only what differs.
    pub fn base_url_or(&self, key: &str, default: &str) -> Result<String, ApiError> {
        match self.optional(key)? {
            Some(_) => self.base_url(key),
            None => Ok(default.to_owned()),
        }
    }

    /// The HS256 secret for bearer tokens.
    pub fn access_token_secret(&self) -> Result<Secret, ApiError> {
        self.require_secret(ACCESS_TOKEN_SECRET)
    }

    /// The operator's sealing key.
    pub fn sealing_key(&self) -> Result<SealingKey, ApiError> {
        let text = self.optional(TOKEN_ENCRYPTION_KEY)?.unwrap_or_default();
        SealingKey::parse(&Secret::new(text))
    }

    /// The front end's base URL.
    pub fn frontend_url(&self) -> Result<String, ApiError> {
        self.base_url(FRONTEND_URL)
    }

    /// The public base URL of this service.
    pub fn public_base_url(&self) -> Result<String, ApiError> {
        self.base_url(PUBLIC_BASE_URL)
    }

    /// The callback URL for `platform`: `${public_base_url}/api/platform/<platform>/callback`.
    /// Built in one place so the authorize and token requests match byte for byte.
    pub fn callback_url(&self, platform: &str) -> Result<String, ApiError> {
        Ok(format!(
            "{}/api/platform/{platform}/callback",
            self.public_base_url()?
        ))
    }
}

/// Lower-cases scheme and host, removes trailing slashes, and checks the scheme; `None`
/// for anything that is not an absolute `http`/`https` URL without query or fragment.
pub fn normalize_base_url(value: &str) -> Option<String> {
    let value = value.trim();
    let (scheme, rest) = value.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    if rest.contains(['?', '#', ' ', '@']) {
        return None;
    }
    let (host, path) = match rest.find('/') {
        Some(index) => rest.split_at(index),
        None => (rest, ""),
    };
    if host.is_empty() {
        return None;
    }
    let path = path.trim_end_matches('/');
    Some(format!("{scheme}://{}{path}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::new(Box::new(MapConfig::from_pairs(pairs.iter().copied())))
    }

    #[test]
    fn require_rejects_missing_and_blank() {
        let c = config(&[("tumblr_consumer_key", "  ")]);
        let error = c.require("tumblr_consumer_key").unwrap_err();
        assert_eq!(error.code(), "not_configured");
        assert!(error.to_string().contains("TUMBLR_CONSUMER_KEY"), "{error}");
        assert!(!error.public_message().contains("TUMBLR_CONSUMER_KEY"));
        assert_eq!(
            c.require("meta_app_id").unwrap_err().code(),
            "not_configured"
        );
    }

    #[test]
    fn base_urls_are_normalized() {
        let c = config(&[
            ("a", "HTTPS://Mastodon.Social/"),
            ("b", "http://127.0.0.1:8080//"),
        ]);
        assert_eq!(c.base_url("a").unwrap(), "https://mastodon.social");
        assert_eq!(c.base_url("b").unwrap(), "http://127.0.0.1:8080");
        for bad in [
            "ftp://x",
            "mastodon.social",
            "https://",
            "https://x/?q",
            "https://u@x",
        ] {
            assert_eq!(normalize_base_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn base_urls_default_only_when_unset() {
        let c = config(&[
            ("set", "HTTPS://Example.org/"),
            ("blank", " "),
            ("bad", "x"),
        ]);
        assert_eq!(
            c.base_url_or("set", "https://d").unwrap(),
            "https://example.org"
        );
        assert_eq!(c.base_url_or("blank", "https://d").unwrap(), "https://d");
        assert_eq!(c.base_url_or("unset", "https://d").unwrap(), "https://d");
        let error = c.base_url_or("bad", "https://d").unwrap_err();
        assert!(error.to_string().contains("BAD"), "{error}");
        assert!(!error.public_message().contains("BAD"));
    }

    #[test]
    fn callback_url_is_built_from_public_base_url() {
        let c = config(&[("public_base_url", "https://api.example.com/")]);
        assert_eq!(
            c.callback_url("threads").unwrap(),
            "https://api.example.com/api/platform/threads/callback"
        );
    }
}
