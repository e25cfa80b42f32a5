//! The request log tests assert on: who called what, with which parameters and which kind
//! of token, secrets masked.
//!
//! Parameters that carry secrets (`access_token`, `client_secret`, `code`,
//! `fb_exchange_token`, `input_token`, `appsecret_proof`, `signed_request`) are logged as
//! `[redacted]`; what a test usually wants to know about a token — its kind and owner — is
//! in [`LoggedRequest::token`].

/// The value logged in place of a secret parameter.
pub const REDACTED: &str = "[redacted]";

const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "client_secret",
    "code",
    "fb_exchange_token",
    "input_token",
    "appsecret_proof",
    "signed_request",
    "refresh_token",
];

/// Which of the doubles' listeners (hosts) received a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Listener {
    /// The Graph API host (`graph.facebook.com`).
    Graph,
    /// The Facebook Login dialog host (`www.facebook.com`).
    Dialog,
    /// The Threads API host (`graph.threads.net`).
    ThreadsGraph,
    /// The Threads authorization window host (`threads.net`).
    ThreadsAuthorize,
}

/// The kind of token a request was authenticated with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A short-lived user token (from the code exchange).
    UserShortLived,
    /// A long-lived user token (from `fb_exchange_token` / `th_exchange_token` / refresh).
    UserLongLived,
    /// A Page token that expires (derived from a short-lived user token).
    PageExpiring,
    /// A Page token without expiry (derived from a long-lived user token).
    PageNonExpiring,
    /// An app token (`<app-id>|<app-secret>` or a Threads `TH|…` app token).
    App,
    /// A token this double never issued.
    Unknown,
}

impl TokenKind {
    /// True for both kinds of user token.
    pub fn is_user(self) -> bool {
        matches!(self, Self::UserShortLived | Self::UserLongLived)
    }

    /// True for both kinds of Page token.
    pub fn is_page(self) -> bool {
        matches!(self, Self::PageExpiring | Self::PageNonExpiring)
    }
}

/// What the log tells about the token of a request (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSummary {
    /// Its kind.
    pub kind: TokenKind,
    /// The user it was issued to, if any.
    pub user_id: Option<String>,
    /// The Page it belongs to, for Page tokens.
    pub page_id: Option<String>,
}

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The listener (host) that received it.
    pub listener: Listener,
    /// HTTP method, upper case.
    pub method: String,
    /// The API version from the path (`v26.0`, `v1.0`), if the path had one.
    pub version: Option<String>,
    /// The path without the version, e.g. `/me/accounts`, `/oauth/access_token`.
    pub path: String,
    /// Query and form parameters in order, decoded, secrets replaced by [`REDACTED`];
    /// the doubles' own control parameters (`_double_*`) are left out.
    pub params: Vec<(String, String)>,
    /// The token the request was authenticated with (`access_token` parameter or
    /// `Authorization` header; for a `fb_exchange_token` exchange, the token being
    /// exchanged), if any.
    pub token: Option<TokenSummary>,
}

impl LoggedRequest {
    /// The first value of parameter `name` (secrets read as [`REDACTED`]).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The kind of token used, if any.
    pub fn token_kind(&self) -> Option<TokenKind> {
        self.token.as_ref().map(|t| t.kind)
    }

    /// True when the request was `method` on `path` (version-less), e.g. `("GET", "/me")`.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path == path
    }
}

/// Parameters as logged: secrets masked, control parameters dropped.
pub(crate) fn masked(params: &[(String, String)]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(k, _)| !k.starts_with("_double_"))
        .map(|(k, v)| {
            if SECRET_PARAMS.contains(&k.as_str()) {
                (k.clone(), REDACTED.to_owned())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect()
}

/// Splits a leading API version (`v26.0`, `v1.0`) off `path`.
pub(crate) fn split_version(path: &str) -> (Option<String>, String) {
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let is_version = first.len() > 1
        && first.starts_with('v')
        && first[1..].split('.').count() == 2
        && first[1..]
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if is_version {
        (Some(first.to_owned()), format!("/{rest}"))
    } else {
        (None, format!("/{trimmed}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_control_params_dropped() {
        let params = vec![
            ("client_id".to_owned(), "42".to_owned()),
            ("client_secret".to_owned(), "s3cret".to_owned()),
            ("code".to_owned(), "AQ-code".to_owned()),
            ("_double_user".to_owned(), "u1".to_owned()),
        ];
        let logged = masked(&params);
        assert_eq!(
            logged,
            vec![
                ("client_id".to_owned(), "42".to_owned()),
                ("client_secret".to_owned(), REDACTED.to_owned()),
                ("code".to_owned(), REDACTED.to_owned()),
            ]
        );
    }

    #[test]
    fn versions_are_split_off() {
        assert_eq!(
            split_version("/v26.0/me/accounts"),
            (Some("v26.0".to_owned()), "/me/accounts".to_owned())
        );
        assert_eq!(split_version("/me"), (None, "/me".to_owned()));
        assert_eq!(
            split_version("/v1.0/me"),
            (Some("v1.0".to_owned()), "/me".to_owned())
        );
        assert_eq!(split_version("/vx.0/me"), (None, "/vx.0/me".to_owned()));
        assert_eq!(
            split_version("/v26.0/"),
            (Some("v26.0".to_owned()), "/".to_owned())
        );
    }
}
