//! Registered apps: what the platform knows about a client before any user shows up.

use std::fmt;

/// An app registered with a double: its id, its secret and its valid OAuth redirect URIs.
///
/// Facebook and Threads apps are separate registrations, as on Meta (the Threads app id
/// and secret differ from the Facebook ones of the same Meta app). Redirect URIs are
/// compared byte for byte with the decoded `redirect_uri` parameter ("strict mode").
#[derive(Clone, PartialEq, Eq)]
pub struct RegisteredApp {
    /// The app id (`client_id`).
    pub id: String,
    /// The app secret (`client_secret`); redacted in `Debug`.
    pub secret: String,
    /// The display name (`application` in `debug_token`).
    pub name: String,
    /// Valid OAuth redirect URIs, exact.
    pub redirect_uris: Vec<String>,
}

impl RegisteredApp {
    /// An app named "Hayon Test App" with the given id, secret and redirect URIs.
    pub fn new<I, S>(id: impl Into<String>, secret: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            id: id.into(),
            secret: secret.into(),
            name: "Hayon Test App".to_owned(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
        }
    }

    /// True when `uri` is registered, compared byte for byte.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri)
    }
}

impl fmt::Debug for RegisteredApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredApp")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("name", &self.name)
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret_and_redirects_match_exactly() {
        let app = RegisteredApp::new("42", "s3cret", ["https://x.test/cb"]);
        assert!(!format!("{app:?}").contains("s3cret"));
        assert!(app.allows_redirect("https://x.test/cb"));
        assert!(!app.allows_redirect("https://x.test/cb/"));
        assert!(!app.allows_redirect("http://x.test/cb"));
        assert!(!app.allows_redirect("https://x.test/cb?x=1"));
    }
}
