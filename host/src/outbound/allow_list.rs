//! `allowed_outbound_hosts`: which destinations a component may call.
//!
//! Entries follow Spin's syntax, `scheme://host[:port]`:
//! - `scheme` is `http`, `https`, another scheme name, or `*`;
//! - `host` is a name or IP address, `*` for any host, or `*.example.com` for any
//!   subdomain (not `example.com` itself);
//! - `port` is a number, a range `8000..8010`, or `*`; when omitted it is the scheme's
//!   default (443 for `https`, 80 for `http`), and it is required with scheme `*`.
//!
//! A path is not allowed (a trailing `/` is). An empty list allows nothing.

use thiserror::Error;

/// Why an `allowed_outbound_hosts` entry was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AllowListError {
    /// No `scheme://`.
    #[error("{0:?} has no scheme: write it as `https://host` or `*://host:port`")]
    NoScheme(String),
    /// The host part is empty or malformed.
    #[error("{0:?} has no valid host")]
    BadHost(String),
    /// The port is not a number, a range or `*`.
    #[error("{0:?} has an invalid port")]
    BadPort(String),
    /// The scheme has no default port and none was given.
    #[error("{0:?} needs a port: its scheme has no default one")]
    PortRequired(String),
    /// The entry carries a path, a query or a fragment.
    #[error("{0:?} may not contain a path; write only `scheme://host[:port]`")]
    HasPath(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Subdomains(String),
    Exact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

/// One parsed entry of `allowed_outbound_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

impl AllowedHost {
    /// Parses one entry (after its `{{ variable }}` templates were rendered).
    pub fn parse(entry: &str) -> Result<Self, AllowListError> {
        let bad = || entry.to_owned();
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| AllowListError::NoScheme(bad()))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => SchemePattern::Any,
            "" => return Err(AllowListError::NoScheme(bad())),
            name if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                SchemePattern::Exact(name.to_owned())
            }
            _ => return Err(AllowListError::NoScheme(bad())),
        };

        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(AllowListError::HasPath(bad()));
        }
        if authority.contains('@') {
            return Err(AllowListError::BadHost(bad()));
        }

        let (host, port) =
            split_host_port(authority).ok_or_else(|| AllowListError::BadHost(bad()))?;
        let bracketed = authority.starts_with('[');
        let host = parse_host(host, bracketed).ok_or_else(|| AllowListError::BadHost(bad()))?;
        let port = match port {
            Some(port) => parse_port(port).ok_or_else(|| AllowListError::BadPort(bad()))?,
            None => match &scheme {
                SchemePattern::Exact(name) => match default_port(name) {
                    Some(p) => PortPattern::Range(p, p),
                    None => return Err(AllowListError::PortRequired(bad())),
                },
                SchemePattern::Any => return Err(AllowListError::PortRequired(bad())),
            },
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` is allowed by this entry.
    /// `host` must be lower case, without brackets for IPv6.
    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exact(name) => name == scheme,
        };
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(name) => name == host,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.ends_with('.') && head.len() > 1),
        };
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::Range(low, high) => (low..=high).contains(&port),
        };
        scheme_ok && host_ok && port_ok
    }
}

/// Splits `host[:port]`, handling bracketed IPv6 addresses.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

fn parse_host(host: &str, bracketed: bool) -> Option<HostPattern> {
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return Some(HostPattern::Any);
    }
    let valid = |name: &str| {
        !name.is_empty()
            && name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') || (bracketed && c == ':')
            })
    };
    if let Some(suffix) = host.strip_prefix("*.") {
        return (valid(suffix) && !suffix.contains('*'))
            .then(|| HostPattern::Subdomains(suffix.to_owned()));
    }
    valid(&host).then_some(HostPattern::Exact(host))
}

fn parse_port(port: &str) -> Option<PortPattern> {
    if port == "*" {
        return Some(PortPattern::Any);
    }
    if let Some((low, high)) = port.split_once("..") {
        let (low, high) = (low.parse().ok()?, high.parse().ok()?);
        return (low <= high).then_some(PortPattern::Range(low, high));
    }
    let port = port.parse().ok()?;
    Some(PortPattern::Range(port, port))
}

/// The default port of a scheme, if it has one.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "https" | "wss" => Some(443),
        "http" | "ws" => Some(80),
        _ => None,
    }
}

/// What the allow list says about one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// No entry allows it.
    Denied,
    /// An entry names its host (or address) literally: any address it resolves to.
    Literal,
    /// Only entries whose host is a wildcard (`*`, `*.example.com`) allow it: public
    /// addresses only.
    PublicOnly,
}

/// A component's whole `allowed_outbound_hosts` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowedHost>,
}

impl AllowList {
    /// A list of already parsed entries.
    pub fn new(entries: Vec<AllowedHost>) -> Self {
        Self { entries }
    }

    /// Parses every entry; the first bad one is the error.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, AllowListError> {
        let entries = entries
            .into_iter()
            .map(AllowedHost::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// Whether a request to `uri` may be sent.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        self.permission(uri) != Permission::Denied
    }

    /// Whether a request to `uri` may be sent, and how far: an entry naming the host
    /// literally trusts it as written; an entry whose host is a wildcard lets it reach
    /// public addresses only (see [`super::address`]).
    pub fn permission(&self, uri: &http::Uri) -> Permission {
        let Some(scheme) = uri.scheme_str() else {
            return Permission::Denied;
        };
        let Some(host) = uri.host() else {
            return Permission::Denied;
        };
        let scheme = scheme.to_ascii_lowercase();
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return Permission::Denied;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let mut permission = Permission::Denied;
        for entry in self
            .entries
            .iter()
            .filter(|e| e.allows(&scheme, &host, port))
        {
            if matches!(entry.host, HostPattern::Exact(_)) {
                return Permission::Literal;
            }
            permission = Permission::PublicOnly;
        }
        permission
    }

    /// Whether the list allows nothing at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &[&str], uri: &str) -> bool {
        AllowList::parse(list.iter().copied())
            .unwrap()
            .allows_uri(&uri.parse().unwrap())
    }

    #[test]
    fn exact_host_uses_the_scheme_default_port() {
        let list = ["https://bsky.social"];
        assert!(allows(&list, "https://bsky.social/xrpc/x?y=1"));
        assert!(allows(&list, "https://BSKY.social:443/"));
        assert!(!allows(&list, "https://bsky.social:8443/"));
        assert!(!allows(&list, "http://bsky.social/"));
        assert!(!allows(&list, "https://evil.bsky.social/"));
        assert!(!allows(&list, "https://bsky.social.evil.com/"));
    }

    #[test]
    fn explicit_loopback_port_for_tests() {
        let list = ["http://127.0.0.1:41234"];
        assert!(allows(&list, "http://127.0.0.1:41234/xrpc"));
        assert!(!allows(&list, "http://127.0.0.1:41235/xrpc"));
        assert!(!allows(&list, "http://localhost:41234/xrpc"));
    }

    #[test]
    fn wildcard_host_and_port() {
        assert!(allows(&["https://*:443"], "https://pds.example.net/"));
        assert!(!allows(&["https://*:443"], "http://pds.example.net/"));
        assert!(!allows(&["https://*:443"], "https://pds.example.net:444/"));
        assert!(allows(&["*://*:*"], "http://anything:1/"));
        assert!(allows(&["http://localhost:*"], "http://localhost:9/"));
    }

    #[test]
    fn only_literal_hosts_are_trusted_with_any_address() {
        let permission = |list: &[&str], uri: &str| {
            AllowList::parse(list.iter().copied())
                .unwrap()
                .permission(&uri.parse().unwrap())
        };
        let wild = ["https://*:443", "https://*.example.com"];
        assert_eq!(
            permission(&wild, "https://localhost/"),
            Permission::PublicOnly
        );
        assert_eq!(
            permission(&wild, "https://a.example.com/"),
            Permission::PublicOnly
        );
        assert_eq!(permission(&wild, "http://localhost/"), Permission::Denied);
        let both = ["https://*:443", "https://bsky.social", "http://127.0.0.1:*"];
        assert_eq!(
            permission(&both, "https://bsky.social/"),
            Permission::Literal
        );
        assert_eq!(
            permission(&both, "http://127.0.0.1:9/"),
            Permission::Literal
        );
        assert_eq!(
            permission(&both, "https://pds.example/"),
            Permission::PublicOnly
        );
    }

    #[test]
    fn subdomain_wildcard_excludes_the_apex() {
        let list = ["https://*.example.com"];
        assert!(allows(&list, "https://a.example.com/"));
        assert!(allows(&list, "https://a.b.example.com/"));
        assert!(!allows(&list, "https://example.com/"));
        assert!(!allows(&list, "https://badexample.com/"));
    }

    #[test]
    fn port_ranges() {
        let list = ["http://localhost:3000..3002"];
        assert!(allows(&list, "http://localhost:3001/"));
        assert!(!allows(&list, "http://localhost:3003/"));
    }

    #[test]
    fn ipv6_literals() {
        assert!(allows(&["http://[::1]:8080"], "http://[::1]:8080/"));
        assert!(!allows(&["http://[::1]:8080"], "http://[::2]:8080/"));
    }

    #[test]
    fn empty_list_allows_nothing() {
        assert!(!allows(&[], "https://bsky.social/"));
    }

    #[test]
    fn refuses_entries_spin_refuses() {
        let err = |entry| AllowedHost::parse(entry).unwrap_err();
        assert!(matches!(err("bsky.social"), AllowListError::NoScheme(_)));
        assert!(matches!(err("https://"), AllowListError::BadHost(_)));
        assert!(matches!(
            err("https://a.com/path"),
            AllowListError::HasPath(_)
        ));
        assert!(matches!(err("https://a.com:x"), AllowListError::BadPort(_)));
        assert!(matches!(
            err("https://a.com:70000"),
            AllowListError::BadPort(_)
        ));
        assert!(matches!(err("*://a.com"), AllowListError::PortRequired(_)));
        assert!(matches!(
            err("redis://a.com"),
            AllowListError::PortRequired(_)
        ));
        assert!(matches!(
            err("https://user@a.com"),
            AllowListError::BadHost(_)
        ));
        assert!(AllowedHost::parse("https://a.com/").is_ok());
    }
}
