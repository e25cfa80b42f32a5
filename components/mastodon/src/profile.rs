//! Reading who a token belongs to, and the account record we keep for it.
//!
//! `verify_credentials` gives the account; its full handle is `@username@<domain>`, where
//! the domain is the instance's account domain (`LOCAL_DOMAIN`), which may differ from the
//! API host (API at `social.vivaldi.net`, handles `@user@vivaldi.net`). The domain comes
//! from `/api/v2/instance` → `domain`, else `/api/v1/instance` → `uri`, else the
//! instance's host name: a failure there never fails the connection.

use hayon_guest::secret::AccessToken;
use hayon_guest::{
    Account, AccountRecord, AccountStatus, Env, OutboundRequest, Timestamp, UpstreamFailure,
};

use crate::api::{self, CredentialAccount};
use crate::failure::{self, MastodonFailure};
use crate::instance::InstanceUrl;

/// The record's extra naming the instance's base URL (where the token works).
pub const EXTRA_INSTANCE: &str = "instance";
/// The record's extra naming the account domain used in the handle.
pub const EXTRA_DOMAIN: &str = "domain";
/// The record's sealed credential holding the access token.
pub const ACCESS_TOKEN: &str = "access_token";

/// `GET /api/v1/accounts/verify_credentials` with `token`.
pub fn verify_credentials(
    env: &Env,
    instance: &InstanceUrl,
    token: &AccessToken,
) -> Result<CredentialAccount, MastodonFailure> {
    let request = OutboundRequest::get(instance.endpoint("/api/v1/accounts/verify_credentials"))
        .bearer(token.expose_secret());
    let response = env.send(&request)?;
    if !response.is_success() {
        return Err(failure::classify(&response, env.now()));
    }
    serde_json::from_slice(&response.body)
        .map_err(|_| MastodonFailure::Upstream(UpstreamFailure::unreadable(&response)))
}

/// The instance's account domain: `/api/v2/instance`, then `/api/v1/instance`, then the
/// host name of `instance`.
pub fn account_domain(env: &Env, instance: &InstanceUrl) -> String {
    let read = |path: &str, pick: fn(&[u8]) -> Option<String>| {
        let response = env
            .send(&OutboundRequest::get(instance.endpoint(path)))
            .ok()?;
        if response.is_success() {
            pick(&response.body)
        } else {
            None
        }
    };
    read("/api/v2/instance", api::domain_from_v2)
        .or_else(|| read("/api/v1/instance", api::domain_from_v1))
        .unwrap_or_else(|| instance.host().to_owned())
}

/// The public view of `account` on `domain`.
pub fn account_view(
    account: &CredentialAccount,
    domain: &str,
    connected_at: Timestamp,
    refreshed_at: Timestamp,
) -> Account {
    Account {
        platform: "mastodon".to_owned(),
        account_id: account.id.clone(),
        handle: account.handle(domain),
        display_name: account.display_name(),
        avatar: account.avatar.clone().filter(|url| !url.is_empty()),
        profile_url: account.url.clone().filter(|url| !url.is_empty()),
        connected_at,
        refreshed_at,
        // Mastodon tokens do not expire; they end when the person revokes the app.
        expires_at: None,
        status: AccountStatus::Active,
    }
}

/// A record for `account` without credentials (the caller seals the token into it).
pub fn new_record(
    account: &CredentialAccount,
    instance: &InstanceUrl,
    domain: &str,
    connected_at: Timestamp,
    now: Timestamp,
) -> AccountRecord {
    let mut record = AccountRecord::new(account_view(account, domain, connected_at, now));
    record.set_extra(EXTRA_INSTANCE, instance.base());
    record.set_extra(EXTRA_DOMAIN, domain);
    record
}

#[cfg(test)]
mod tests {
    use hayon_guest::OutboundResponse;
    use hayon_guest::testing::{TEST_START, TestEnv};
    use serde_json::json;

    use super::*;

    fn instance() -> InstanceUrl {
        InstanceUrl::parse("https://social.example").expect("valid")
    }

    #[test]
    fn the_domain_comes_from_v2_then_v1_then_the_host() {
        let test = TestEnv::new();
        let env = test.env_with(|request: &OutboundRequest| {
            Ok(match request.url.as_str() {
                "https://social.example/api/v2/instance" => {
                    OutboundResponse::json(200, &json!({"domain": "example.org"}))
                }
                _ => OutboundResponse::json(404, &json!({"error": "Not found"})),
            })
        });
        assert_eq!(account_domain(&env, &instance()), "example.org");

        let env = test.env_with(|request: &OutboundRequest| {
            Ok(match request.url.as_str() {
                "https://social.example/api/v1/instance" => {
                    OutboundResponse::json(200, &json!({"uri": "legacy.example"}))
                }
                _ => OutboundResponse::with_body(404, "text/html", "<html>404</html>"),
            })
        });
        assert_eq!(account_domain(&env, &instance()), "legacy.example");

        let env = test.env();
        assert_eq!(account_domain(&env, &instance()), "social.example");
    }

    #[test]
    fn verify_credentials_sends_the_bearer_token() {
        let test = TestEnv::new();
        let env = test.env_with(|request: &OutboundRequest| {
            assert_eq!(request.header_value("authorization"), Some("Bearer tok"));
            Ok(OutboundResponse::json(
                200,
                &json!({"id": "7", "username": "alice", "display_name": "",
                        "url": "https://social.example/@alice"}),
            ))
        });
        let account =
            verify_credentials(&env, &instance(), &AccessToken::new("tok")).expect("account");
        let view = account_view(&account, "example.org", TEST_START, TEST_START);
        assert_eq!(view.handle, "@alice@example.org");
        assert_eq!(view.display_name, None);
        assert_eq!(view.expires_at, None);
    }

    #[test]
    fn verify_credentials_failures_are_classified() {
        let test = TestEnv::new();
        let env = test.env_with(|_: &OutboundRequest| {
            Ok(OutboundResponse::json(
                403,
                &json!({"error": "Your login is currently disabled"}),
            ))
        });
        let failure =
            verify_credentials(&env, &instance(), &AccessToken::new("tok")).expect_err("disabled");
        assert!(matches!(failure, MastodonFailure::AccountUnavailable(_)));

        let env = test.env_with(|_: &OutboundRequest| {
            Ok(OutboundResponse::with_body(
                200,
                "text/html",
                "<html>maintenance</html>",
            ))
        });
        let failure =
            verify_credentials(&env, &instance(), &AccessToken::new("tok")).expect_err("garbage");
        assert!(matches!(failure, MastodonFailure::Upstream(_)));
    }
}
