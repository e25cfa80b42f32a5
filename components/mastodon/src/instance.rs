//! The Mastodon instance we talk to, normalized from however an operator wrote it.
//!
//! `MASTODON_INSTANCE_URL` may be written `https://Mastodon.Social/`, `mastodon.social`,
//! `HTTPS://mastodon.social/@alice` or even `@alice@mastodon.social`; all of these mean the
//! same instance. [`InstanceUrl::parse`] reduces every form to `scheme://host[:port]`
//! (lower case, no path, no user part, no trailing slash), so every endpoint built from it is
//! the same string whatever the operator typed. A plain host gets `https://`; `http://` is
//! kept when written, for test doubles and local instances on loopback.

use thiserror::Error;

/// A normalized instance base URL: `scheme://host[:port]`, lower case, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUrl {
    base: String,
    host: String,
}

/// Why an instance URL could not be understood.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum InstanceUrlError {
    /// Nothing was configured.
    #[error("the Mastodon instance URL is empty")]
    Empty,
    /// A scheme other than `http` or `https`.
    #[error("the Mastodon instance URL must use https (or http for a local instance)")]
    UnsupportedScheme,
    /// The host part is missing or has characters a host name cannot have.
    #[error("the Mastodon instance URL has no valid host name")]
    InvalidHost,
}

impl InstanceUrl {
    /// Normalizes an instance URL as an operator or a person may write it.
    ///
    /// Limitation: internationalized domain names must be written in their ASCII
    /// (punycode, `xn--…`) form; non-ASCII host names are refused rather than encoded.
    pub fn parse(input: &str) -> Result<Self, InstanceUrlError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InstanceUrlError::Empty);
        }

        let (scheme, rest) = split_scheme(trimmed)?;

        // Only the authority matters: cut any path, query or fragment.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // `alice@mastodon.social` or `@alice@mastodon.social`: the instance is after the
        // last `@`. Kept, the `@` would turn into URL userinfo.
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host_port = host_port.to_ascii_lowercase();
        let (host, port) = split_port(&host_port)?;
        if !is_host_name(host) {
            return Err(InstanceUrlError::InvalidHost);
        }

        let host = host.trim_end_matches('.').to_owned();
        let base = match port {
            Some(port) if !is_default_port(scheme, port) => format!("{scheme}://{host}:{port}"),
            _ => format!("{scheme}://{host}"),
        };
        Ok(Self { base, host })
    }

    /// The base URL, `scheme://host[:port]`, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The host name alone (no port), the fallback for the handle's domain.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The absolute URL of `path` (which starts with `/`) on this instance.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Splits `scheme://rest`; a string without `://` is a bare host and gets `https`.
fn split_scheme(input: &str) -> Result<(&'static str, &str), InstanceUrlError> {
    let Some((scheme, rest)) = input.split_once("://") else {
        return Ok(("https", input));
    };
    if scheme.eq_ignore_ascii_case("https") {
        Ok(("https", rest))
    } else if scheme.eq_ignore_ascii_case("http") {
        Ok(("http", rest))
    } else {
        Err(InstanceUrlError::UnsupportedScheme)
    }
}

/// Splits `host[:port]`, checking the port is a number.
fn split_port(host_port: &str) -> Result<(&str, Option<u16>), InstanceUrlError> {
    match host_port.rsplit_once(':') {
        None => Ok((host_port, None)),
        Some((host, port)) => {
            let port = port.parse().map_err(|_| InstanceUrlError::InvalidHost)?;
            Ok((host, Some(port)))
        }
    }
}

fn is_default_port(scheme: &str, port: u16) -> bool {
    (scheme == "https" && port == 443) || (scheme == "http" && port == 80)
}

/// A DNS name or IPv4 address in ASCII: labels of letters, digits and hyphens.
fn is_host_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(input: &str) -> String {
        InstanceUrl::parse(input)
            .map(|url| url.base().to_owned())
            .unwrap_or_else(|e| {
                panic!("{input:?} should parse, got {e}");
            })
    }

    #[test]
    fn every_way_of_writing_an_instance_gives_one_base() {
        for input in [
            "https://mastodon.social",
            "https://mastodon.social/",
            "HTTPS://Mastodon.Social/",
            "mastodon.social",
            "Mastodon.Social",
            "  mastodon.social/  ",
            "@alice@mastodon.social",
            "alice@mastodon.social",
            "https://mastodon.social/@alice",
            "https://mastodon.social:443/",
            "https://mastodon.social/?x=1#top",
        ] {
            assert_eq!(base(input), "https://mastodon.social", "input {input:?}");
        }
    }

    #[test]
    fn http_and_explicit_ports_are_kept_for_local_instances() {
        assert_eq!(base("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(base("HTTP://LocalHost:3000"), "http://localhost:3000");
        assert_eq!(base("http://example.test:80"), "http://example.test");
    }

    #[test]
    fn host_excludes_the_port() {
        let url = InstanceUrl::parse("http://127.0.0.1:8080/").expect("valid");
        assert_eq!(url.host(), "127.0.0.1");
        assert_eq!(
            url.endpoint("/oauth/token"),
            "http://127.0.0.1:8080/oauth/token"
        );
    }

    #[test]
    fn nonsense_is_refused() {
        assert_eq!(InstanceUrl::parse("  "), Err(InstanceUrlError::Empty));
        assert_eq!(
            InstanceUrl::parse("ftp://mastodon.social"),
            Err(InstanceUrlError::UnsupportedScheme)
        );
        for input in [
            "https://",
            "https://exa mple.org",
            "https://host:port",
            "mästodon.de",
        ] {
            assert_eq!(
                InstanceUrl::parse(input),
                Err(InstanceUrlError::InvalidHost),
                "input {input:?}"
            );
        }
    }
}
