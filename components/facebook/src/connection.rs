//! The stored connection: the Facebook Page account and, when the Page has a linked
//! Instagram professional account, the Instagram account — both in the one value
//! `accounts/facebook/<user>`, so that replacing a connection replaces both at once and a
//! Page that lost its Instagram account leaves no stale Instagram account behind.
//!
//! | record | `accountId` | sealed `access_token` | sealed `user_token` | `expiresAt` |
//! |---|---|---|---|---|
//! | `facebook` | Page id | the Page token | the long-lived user token | `null` |
//! | `instagram` | Instagram user id | the long-lived user token | — | the user token's |
//!
//! A Page token obtained with a long-lived user token has no expiry; it dies only on a
//! password change, a role change or the app's removal. The user token is kept on the
//! Facebook record as well, because revoking the app (`DELETE /me/permissions`) needs it
//! even when no Instagram account is linked.

use hayon_guest::oauth2::meta::GraphId;
use hayon_guest::outbound::percent_encode;
use hayon_guest::secret::AccessToken;
use hayon_guest::{Account, AccountRecord, AccountStatus, AccountStore, ApiError, Timestamp};

use crate::api::{InstagramAccount, Page};

/// Platform id of the Page account.
pub const FACEBOOK: &str = "facebook";
/// Platform id of the Instagram account.
pub const INSTAGRAM: &str = "instagram";
/// Sealed credential: the token posting for the account uses (Page token / user token).
pub const ACCESS_TOKEN: &str = "access_token";
/// Sealed credential on the Facebook record: the long-lived user token.
pub const USER_TOKEN: &str = "user_token";
/// Extra on the Facebook record: the person's tasks on the Page.
pub const EXTRA_TASKS: &str = "tasks";
/// Extra on the Instagram record: the Page it is linked to.
pub const EXTRA_PAGE_ID: &str = "page_id";

/// What a completed authorization gives: the first Page, its token, and the user token.
pub struct Grant {
    /// The first Page of `/me/accounts`.
    pub page: Page,
    /// The Page's token (derived from the long-lived user token, so it does not expire).
    pub page_token: AccessToken,
    /// The long-lived user token.
    pub user_token: AccessToken,
    /// When the user token expires; `None` when Meta gave no `expires_in` (a token that
    /// does not expire, per the token debugger).
    pub user_token_expires_at: Option<Timestamp>,
}

/// The public view of a Page.
pub fn facebook_view(page: &Page, connected_at: Timestamp, now: Timestamp) -> Account {
    let name = page.display_name();
    Account {
        platform: FACEBOOK.to_owned(),
        account_id: page.id.to_string(),
        handle: name.clone(),
        display_name: Some(name),
        avatar: page.avatar(),
        profile_url: Some(format!("https://www.facebook.com/{}", page.id)),
        connected_at,
        refreshed_at: now,
        expires_at: None,
        status: AccountStatus::Active,
    }
}

/// The public view of an Instagram account whose token expires at `expires_at`.
pub fn instagram_view(
    account: &InstagramAccount,
    connected_at: Timestamp,
    now: Timestamp,
    expires_at: Option<Timestamp>,
) -> Account {
    let username = account.username();
    Account {
        platform: INSTAGRAM.to_owned(),
        account_id: account.id.to_string(),
        handle: username.map_or_else(|| account.id.to_string(), str::to_owned),
        display_name: account
            .name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        avatar: account
            .profile_picture_url
            .clone()
            .filter(|url| !url.trim().is_empty()),
        profile_url: username
            .map(|username| format!("https://www.instagram.com/{}", percent_encode(username))),
        connected_at,
        refreshed_at: now,
        expires_at,
        status: AccountStatus::Active,
    }
}

/// The records of a new connection made at `now`, with their tokens sealed (storing them
/// with `AccountStore::save_connection` keeps the `connectedAt` of an account connected
/// again).
pub fn new_records(
    store: &AccountStore<'_>,
    grant: &Grant,
    now: Timestamp,
) -> Result<Vec<AccountRecord>, ApiError> {
    let page = &grant.page;
    let mut facebook = AccountRecord::new(facebook_view(page, now, now));
    facebook
        .extras
        .insert(EXTRA_TASKS.to_owned(), serde_json::json!(page.tasks));
    store.seal(
        &mut facebook,
        ACCESS_TOKEN,
        grant.page_token.expose_secret(),
    )?;
    store.seal(&mut facebook, USER_TOKEN, grant.user_token.expose_secret())?;
    let mut records = vec![facebook];

    if let Some(account) = &page.instagram_business_account {
        let view = instagram_view(account, now, now, grant.user_token_expires_at);
        let mut instagram = AccountRecord::new(view);
        instagram.set_extra(EXTRA_PAGE_ID, page.id.as_str());
        store.seal(
            &mut instagram,
            ACCESS_TOKEN,
            grant.user_token.expose_secret(),
        )?;
        records.push(instagram);
    }
    Ok(records)
}

/// A stored connection, read back.
pub struct Stored<'r> {
    /// The Facebook Page record.
    pub facebook: &'r AccountRecord,
    /// The Instagram record, when one is linked.
    pub instagram: Option<&'r AccountRecord>,
}

impl<'r> Stored<'r> {
    /// Finds the records among `records`; `None` when there is no Facebook record.
    pub fn find(records: &'r [AccountRecord]) -> Option<Self> {
        let of = |platform: &str| records.iter().find(|r| r.account.platform == platform);
        Some(Self {
            facebook: of(FACEBOOK)?,
            instagram: of(INSTAGRAM),
        })
    }

    /// The Page id.
    pub fn page_id(&self) -> Result<GraphId, ApiError> {
        stored_id(self.facebook)
    }

    /// The Instagram account id, when one is linked.
    pub fn instagram_id(&self) -> Result<Option<GraphId>, ApiError> {
        self.instagram.map(stored_id).transpose()
    }

    /// The Page token.
    pub fn page_token(&self, store: &AccountStore<'_>) -> Result<AccessToken, ApiError> {
        store.open_required(self.facebook, ACCESS_TOKEN)
    }

    /// The long-lived user token.
    pub fn user_token(&self, store: &AccountStore<'_>) -> Result<AccessToken, ApiError> {
        store.open_required(self.facebook, USER_TOKEN)
    }
}

fn stored_id(record: &AccountRecord) -> Result<GraphId, ApiError> {
    GraphId::parse(&record.account.account_id).ok_or_else(|| {
        ApiError::internal(format!(
            "stored {} account id is not a Graph id",
            record.account.platform
        ))
    })
}

#[cfg(test)]
mod tests {
    use hayon_guest::UserId;
    use hayon_guest::testing::{TEST_START, TestEnv};
    use serde_json::json;

    use super::*;

    fn page(value: serde_json::Value) -> Page {
        serde_json::from_value(value).expect("page")
    }

    fn grant(page: Page) -> Grant {
        Grant {
            page,
            page_token: AccessToken::new("page-token"),
            user_token: AccessToken::new("user-token"),
            user_token_expires_at: Some(TEST_START.plus_seconds(5_183_944)),
        }
    }

    #[test]
    fn a_page_with_instagram_gives_two_sealed_records() {
        let test = TestEnv::new();
        let env = test.env();
        let user = UserId::parse("u1").expect("user");
        let store = AccountStore::new(&env, "facebook", &user);
        let grant = grant(page(json!({
            "id": "20001", "name": "Alice's Bakery", "access_token": "page-token",
            "tasks": ["CREATE_CONTENT"],
            "picture": {"data": {"url": "https://pic/p.jpg", "is_silhouette": false}},
            "instagram_business_account": {"id": "17841400000000001", "username": "alice.bakes",
                                           "name": "Alice Bakes"}
        })));
        let records = new_records(&store, &grant, TEST_START).expect("records");
        assert_eq!(records.len(), 2);

        let facebook = &records[0].account;
        assert_eq!(
            serde_json::to_value(facebook).expect("json"),
            json!({
                "platform": "facebook", "accountId": "20001", "handle": "Alice's Bakery",
                "displayName": "Alice's Bakery", "avatar": "https://pic/p.jpg",
                "profileUrl": "https://www.facebook.com/20001",
                "connectedAt": "2026-08-20T12:00:00Z", "refreshedAt": "2026-08-20T12:00:00Z",
                "expiresAt": null, "status": "active"
            })
        );
        let instagram = &records[1].account;
        assert_eq!(instagram.platform, "instagram");
        assert_eq!(instagram.account_id, "17841400000000001");
        assert_eq!(instagram.handle, "alice.bakes");
        assert_eq!(instagram.display_name.as_deref(), Some("Alice Bakes"));
        assert_eq!(instagram.avatar, None, "no profile_picture_url");
        assert_eq!(
            instagram.profile_url.as_deref(),
            Some("https://www.instagram.com/alice.bakes")
        );
        assert_eq!(
            instagram.expires_at,
            Some(TEST_START.plus_seconds(5_183_944))
        );
        assert_eq!(records[1].extra_str(EXTRA_PAGE_ID), Some("20001"));

        let text = serde_json::to_string(&records).expect("json");
        assert!(
            !text.contains("page-token") && !text.contains("user-token"),
            "sealed: {text}"
        );
        let stored = Stored::find(&records).expect("found");
        assert_eq!(
            stored.page_token(&store).expect("open").expose_secret(),
            "page-token"
        );
        assert_eq!(
            stored.user_token(&store).expect("open").expose_secret(),
            "user-token"
        );
        let ig_token = store
            .open(&records[1], ACCESS_TOKEN)
            .expect("open")
            .expect("sealed");
        assert_eq!(ig_token.expose_secret(), "user-token");
    }

    #[test]
    fn a_reconnect_keeps_connected_at_of_the_same_accounts_only() {
        let test = TestEnv::new();
        let env = test.env();
        let user = UserId::parse("u1").expect("user");
        let store = AccountStore::new(&env, "facebook", &user);
        let first = grant(page(json!({"id": "20001", "name": "Bakery",
            "instagram_business_account": {"id": "1784", "username": "bakes"}})));
        let records = new_records(&store, &first, TEST_START).expect("records");
        store.save_connection(records).expect("saved");

        let later = TEST_START.plus_seconds(3600);
        let second = grant(page(json!({"id": "20001", "name": "Bakery",
            "instagram_business_account": {"id": "1785", "username": "other"}})));
        let records = new_records(&store, &second, later).expect("records");
        let after = store.save_connection(records).expect("saved");
        assert_eq!(after[0].connected_at, TEST_START, "same Page");
        assert_eq!(after[0].refreshed_at, later);
        assert_eq!(after[1].connected_at, later, "another Instagram account");
    }
}
