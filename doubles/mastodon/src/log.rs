//! The request log: every request the double served, with secrets masked, and what it
//! answered. Tests assert on it ("revoke was called once", "the verifier matched", "the
//! client secret never travelled in a query string").

use crate::request::Incoming;

/// What replaces a secret parameter's value in the log.
pub const REDACTED: &str = "[redacted]";

/// Parameters whose values are masked in the log.
const SECRET_PARAMS: &[&str] = &[
    "client_secret",
    "code",
    "code_verifier",
    "token",
    "access_token",
    "refresh_token",
    "password",
];

/// How the code verifier of an `authorization_code` exchange was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceCheck {
    /// A challenge was stored and the verifier's S256 hash matched it.
    Verified,
    /// A challenge was stored and the verifier did not match (400 `invalid_grant`).
    Mismatch,
    /// A challenge was stored and no verifier came (400 `invalid_request`).
    MissingVerifier,
    /// A verifier came for a code issued without a challenge (400 `invalid_grant`).
    UnexpectedVerifier,
    /// Neither a challenge nor a verifier.
    NotUsed,
    /// A legacy server (before 4.3): PKCE parameters are not looked at.
    Ignored,
}

/// One request as the double saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path as sent (before Rails-style normalisation, so `//oauth/token` shows).
    pub path: String,
    /// Query-string parameters, secrets masked.
    pub query: Vec<(String, String)>,
    /// Form or JSON body parameters, secrets masked (JSON arrays appear as `name[]`).
    pub body: Vec<(String, String)>,
    /// The `Authorization` scheme used, without its credentials: `"Bearer"`, `"Basic"`.
    pub auth_scheme: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The error code (`invalid_grant`, …) or API error message answered, if any.
    pub error: Option<String>,
    /// For a code exchange: how PKCE was judged.
    pub pkce: Option<PkceCheck>,
}

impl LoggedRequest {
    /// A parameter's (masked) value: the body's if present, else the query's.
    pub fn param(&self, name: &str) -> Option<&str> {
        fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        }
        find(&self.body, name).or_else(|| find(&self.query, name))
    }

    /// Whether the parameter was sent at all, in the query or the body.
    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    pub(crate) fn record(req: &Incoming, status: u16) -> Self {
        let auth_scheme = req
            .header("authorization")
            .and_then(|value| value.split_whitespace().next())
            .map(str::to_owned);
        Self {
            method: req.method.to_string(),
            path: req.raw_path.clone(),
            query: mask(&req.query),
            body: mask(&req.body),
            auth_scheme,
            status,
            error: None,
            pkce: None,
        }
    }
}

fn mask(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| {
            let bare = name.strip_suffix("[]").unwrap_or(name);
            if SECRET_PARAMS.contains(&bare) {
                (name.clone(), REDACTED.to_owned())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method, header};

    #[test]
    fn secrets_are_masked_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        headers.insert(header::AUTHORIZATION, "Basic dXNlcjpwYXNz".parse().unwrap());
        let body = b"grant_type=authorization_code&code=abc&code_verifier=v&client_secret=s";
        let req = Incoming::parse(
            Method::POST,
            "/oauth/token",
            Some("token=t&x=1"),
            headers,
            body,
        );
        let logged = LoggedRequest::record(&req, 200);

        assert_eq!(logged.param("grant_type"), Some("authorization_code"));
        assert_eq!(logged.param("code"), Some(REDACTED));
        assert_eq!(logged.param("code_verifier"), Some(REDACTED));
        assert_eq!(logged.param("client_secret"), Some(REDACTED));
        assert_eq!(logged.param("token"), Some(REDACTED));
        assert_eq!(logged.param("x"), Some("1"));
        assert_eq!(logged.auth_scheme.as_deref(), Some("Basic"));
        let text = format!("{logged:?}");
        assert!(!text.contains("dXNlcjpwYXNz") && !text.contains("abc"));
    }
}
