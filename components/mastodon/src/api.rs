//! Mastodon's answers, as we read them: the token, the account, the instance.
//!
//! Only the fields the connector uses are read; everything else a server sends (and forks
//! send a lot) is ignored. Missing optional fields never fail a connection.

use hayon_guest::secret::AccessToken;
use serde::Deserialize;

/// The token endpoint's answer. Mastodon tokens carry no `expires_in` and no
/// `refresh_token`: they live until the user revokes the app.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// The bearer token for the API.
    pub access_token: AccessToken,
    /// The scopes actually granted, space separated.
    #[serde(default)]
    pub scope: Option<String>,
}

/// The account `verify_credentials` describes (a subset of Mastodon's CredentialAccount).
#[derive(Debug, Deserialize)]
pub struct CredentialAccount {
    /// The account id, local to the instance.
    pub id: String,
    /// The user name without any domain.
    pub username: String,
    /// The display name; may be empty.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The profile page (its host is the instance's *web* domain).
    #[serde(default)]
    pub url: Option<String>,
    /// The avatar image.
    #[serde(default)]
    pub avatar: Option<String>,
}

impl CredentialAccount {
    /// The display name when it says something.
    pub fn display_name(&self) -> Option<String> {
        self.display_name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    }

    /// The full handle, `@username@domain`.
    pub fn handle(&self, domain: &str) -> String {
        format!("@{}@{}", self.username, domain)
    }
}

/// `GET /api/v2/instance` (Mastodon 4.0+): `domain` is the account domain.
#[derive(Debug, Deserialize)]
struct InstanceV2 {
    domain: Option<String>,
}

/// `GET /api/v1/instance`: `uri` is the account domain (some forks put a URL there).
#[derive(Debug, Deserialize)]
struct InstanceV1 {
    uri: Option<String>,
}

/// The account domain from a `/api/v2/instance` body, when it names one.
pub fn domain_from_v2(body: &[u8]) -> Option<String> {
    let instance: InstanceV2 = serde_json::from_slice(body).ok()?;
    instance.domain.as_deref().and_then(clean_domain)
}

/// The account domain from a `/api/v1/instance` body, when it names one.
pub fn domain_from_v1(body: &[u8]) -> Option<String> {
    let instance: InstanceV1 = serde_json::from_slice(body).ok()?;
    instance.uri.as_deref().and_then(clean_domain)
}

/// Reduces `Example.org`, `https://example.org/` to `example.org`; refuses anything that
/// is not a plain host name, so a strange answer cannot put text into a handle.
fn clean_domain(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let without_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let domain = without_scheme.trim_end_matches('/').to_ascii_lowercase();
    let plausible = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b));
    plausible.then_some(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_without_expiry_or_refresh_token_parses() {
        let body = br#"{"access_token":"tok-1","token_type":"Bearer","scope":"read write push",
            "created_at":1573979017}"#;
        let token: TokenResponse = serde_json::from_slice(body).expect("parses");
        assert_eq!(token.access_token.expose_secret(), "tok-1");
        assert_eq!(token.scope.as_deref(), Some("read write push"));
        assert!(!format!("{token:?}").contains("tok-1"));
    }

    #[test]
    fn credential_account_with_empty_display_name() {
        let body = br#"{"id":"109","username":"alice","acct":"alice","display_name":"",
            "url":"https://social.example/@alice","avatar":"https://files.example/a.png",
            "locked":false,"bot":false,"note":"<p>hi</p>","fields":[],"emojis":[]}"#;
        let account: CredentialAccount = serde_json::from_slice(body).expect("parses");
        assert_eq!(account.id, "109");
        assert_eq!(account.display_name(), None);
        assert_eq!(account.handle("example.org"), "@alice@example.org");
        assert_eq!(
            account.avatar.as_deref(),
            Some("https://files.example/a.png")
        );
    }

    #[test]
    fn credential_account_with_a_display_name_and_few_fields() {
        let body = br#"{"id":"1","username":"bob","display_name":"  Bob B.  "}"#;
        let account: CredentialAccount = serde_json::from_slice(body).expect("parses");
        assert_eq!(account.display_name().as_deref(), Some("Bob B."));
        assert_eq!(account.url, None);
    }

    #[test]
    fn instance_domain_prefers_what_the_server_names() {
        assert_eq!(
            domain_from_v2(br#"{"domain":"Vivaldi.net","title":"x"}"#).as_deref(),
            Some("vivaldi.net")
        );
        assert_eq!(
            domain_from_v1(br#"{"uri":"mastodon.social"}"#).as_deref(),
            Some("mastodon.social")
        );
        assert_eq!(
            domain_from_v1(br#"{"uri":"https://pleroma.example/"}"#).as_deref(),
            Some("pleroma.example")
        );
    }

    #[test]
    fn instance_domain_ignores_garbage() {
        assert_eq!(domain_from_v2(b"<html>502</html>"), None);
        assert_eq!(domain_from_v2(br#"{"title":"no domain"}"#), None);
        assert_eq!(domain_from_v2(br#"{"domain":""}"#), None);
        assert_eq!(domain_from_v1(br#"{"uri":"evil.example/<script>"}"#), None);
    }
}
