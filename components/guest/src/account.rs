//! Connected accounts: what people see ([`Account`]), what we store ([`AccountRecord`]),
//! and where ([`AccountStore`]).
//!
//! All accounts a user connected on one connector live in one value,
//! `accounts/<connector>/<user>` → `{"v":1,"accounts":[…]}`, so a reconnect replaces them
//! at once (Facebook keeps the Page and the Instagram account together). Token fields are
//! sealed (`seal.rs`) with the location `<storage key>#<platform>:<account id>:<field>`, so a
//! sealed token copied to another user, account or field does not open.
//!
//! Writes that race — a refresh rotating a token while another refresh or a disconnect
//! runs — go through [`AccountStore::replace_if_unchanged`] (compare-and-swap on the bytes
//! that were read) or [`AccountStore::update`] (a retrying read-modify-CAS loop).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::UserId;
use crate::env::Env;
use crate::error::ApiError;
use crate::seal::SealError;
use crate::secret::Secret;
use crate::time::Timestamp;

/// The record format version written today.
const RECORD_VERSION: u32 = 1;
/// How often [`AccountStore::update`] retries a lost compare-and-swap.
const UPDATE_ATTEMPTS: usize = 8;

/// Whether a stored account can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// The stored credentials work, as far as we last saw.
    Active,
    /// The platform refused the stored credentials for good.
    ReconnectRequired,
}

/// A connected account as shown to people (the contract's shape). Never a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Platform id (`bluesky`, `instagram`, …).
    pub platform: String,
    /// The platform's stable id for the account (always a string).
    pub account_id: String,
    /// The handle people know the account by.
    pub handle: String,
    /// Display name, when the platform has a non-empty one.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub avatar: Option<String>,
    /// Public profile page URL.
    pub profile_url: Option<String>,
    /// When first connected.
    pub connected_at: Timestamp,
    /// When last read from the platform.
    pub refreshed_at: Timestamp,
    /// When the stored credentials expire; none when they do not.
    pub expires_at: Option<Timestamp>,
    /// Whether it can be used.
    pub status: AccountStatus,
}

/// A stored account: the public view, sealed credentials, and platform extras, stored
/// flat (the view's fields beside `credentials` and `extras`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The public view.
    #[serde(flatten)]
    pub account: Account,
    /// Sealed credential fields by name (`access_token`, `refresh_token`, …).
    #[serde(default)]
    pub credentials: BTreeMap<String, String>,
    /// Platform data that is not secret (Bluesky's PDS URL, Tumblr's blog host name…).
    #[serde(default)]
    pub extras: BTreeMap<String, serde_json::Value>,
}

impl AccountRecord {
    /// A record with no credentials or extras.
    pub fn new(account: Account) -> Self {
        Self {
            account,
            credentials: BTreeMap::new(),
            extras: BTreeMap::new(),
        }
    }

    /// A string extra.
    pub fn extra_str(&self, name: &str) -> Option<&str> {
        self.extras.get(name).and_then(serde_json::Value::as_str)
    }

    /// Sets a string extra.
    pub fn set_extra(&mut self, name: &str, value: impl Into<String>) {
        self.extras
            .insert(name.to_owned(), serde_json::Value::String(value.into()));
    }
}

#[derive(Serialize, Deserialize)]
struct StoredValue {
    v: u32,
    accounts: Vec<AccountRecord>,
}

/// What [`AccountStore::load`] read: the records and the exact bytes, for a later
/// compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    /// The stored records.
    pub accounts: Vec<AccountRecord>,
    raw: Vec<u8>,
}

/// The accounts of one user on one connector.
pub struct AccountStore<'e> {
    env: &'e Env,
    key: String,
}

impl<'e> AccountStore<'e> {
    /// The store for `connector` (its id, e.g. `facebook`) and `user`.
    pub fn new(env: &'e Env, connector: &str, user: &UserId) -> Self {
        Self {
            env,
            key: storage_key(connector, user),
        }
    }

    /// The storage key, `accounts/<connector>/<user>`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The stored accounts, `None` when none are.
    pub fn load(&self) -> Result<Option<AccountSnapshot>, ApiError> {
        let Some(raw) = self.env.store.get(&self.key)? else {
            return Ok(None);
        };
        let value: StoredValue = serde_json::from_slice(&raw)
            .map_err(|error| ApiError::internal(format!("{}: unreadable: {error}", self.key)))?;
        if value.v != RECORD_VERSION {
            return Err(ApiError::internal(format!(
                "{}: unknown version {}",
                self.key, value.v
            )));
        }
        Ok(Some(AccountSnapshot {
            accounts: value.accounts,
            raw,
        }))
    }

    /// The public views of the stored accounts (empty when none).
    pub fn views(&self) -> Result<Vec<Account>, ApiError> {
        Ok(self
            .load()?
            .map(|snapshot| {
                snapshot
                    .accounts
                    .into_iter()
                    .map(|record| record.account)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Replaces the stored accounts unconditionally (a new connection).
    pub fn save(&self, accounts: &[AccountRecord]) -> Result<(), ApiError> {
        self.env.store.set(&self.key, &encode(accounts)?)?;
        Ok(())
    }

    /// Replaces the stored accounts only if they are still what `previous` read (`None`:
    /// still absent). `Ok(false)` when another request changed them first.
    pub fn replace_if_unchanged(
        &self,
        previous: Option<&AccountSnapshot>,
        accounts: &[AccountRecord],
    ) -> Result<bool, ApiError> {
        let expected = previous.map(|snapshot| snapshot.raw.as_slice());
        Ok(self
            .env
            .store
            .compare_and_swap(&self.key, expected, &encode(accounts)?)?)
    }

    /// Stores `records` as the user's new connection on this connector, replacing whatever
    /// was stored: a reconnect replaces every account at once, so an account that is no
    /// longer part of the connection goes. An account connected again (same platform and
    /// id) keeps its first `connectedAt`. Answers the public views as stored.
    pub fn save_connection(&self, records: Vec<AccountRecord>) -> Result<Vec<Account>, ApiError> {
        let stored = self.update(|current| {
            let previous = current.unwrap_or_default();
            let mut next = records.clone();
            for record in &mut next {
                let again = previous.iter().find(|stored| {
                    stored.account.platform == record.account.platform
                        && stored.account.account_id == record.account.account_id
                });
                if let Some(stored) = again {
                    record.account.connected_at = stored.account.connected_at;
                }
            }
            Ok(Some(next))
        })?;
        Ok(stored
            .unwrap_or_default()
            .into_iter()
            .map(|record| record.account)
            .collect())
    }

    /// Writes what a refresh read into the stored account `account_id` with `apply`, and
    /// answers the views of the accounts now stored (`None` when there are none). An
    /// account deleted meanwhile — a disconnect won the race — is not brought back.
    pub fn refresh_account<F>(
        &self,
        account_id: &str,
        mut apply: F,
    ) -> Result<Option<Vec<Account>>, ApiError>
    where
        F: FnMut(&mut AccountRecord) -> Result<(), ApiError>,
    {
        let stored = self.update(|current| {
            let Some(current) = current else {
                return Ok(None);
            };
            let mut next = current.to_vec();
            let mut found = false;
            for record in next
                .iter_mut()
                .filter(|record| record.account.account_id == account_id)
            {
                apply(record)?;
                found = true;
            }
            Ok(found.then_some(next))
        })?;
        let views: Vec<Account> = stored
            .unwrap_or_default()
            .into_iter()
            .map(|record| record.account)
            .collect();
        Ok((!views.is_empty()).then_some(views))
    }

    /// Read-modify-write with compare-and-swap, retried when another request wins.
    /// `change` gets the current records (`None` when absent) and returns the new ones, or
    /// `None` to leave the store as it is. Answers the records now stored.
    pub fn update<F>(&self, mut change: F) -> Result<Option<Vec<AccountRecord>>, ApiError>
    where
        F: FnMut(Option<&[AccountRecord]>) -> Result<Option<Vec<AccountRecord>>, ApiError>,
    {
        for _ in 0..UPDATE_ATTEMPTS {
            let snapshot = self.load()?;
            let current = snapshot.as_ref().map(|s| s.accounts.as_slice());
            let Some(next) = change(current)? else {
                return Ok(snapshot.map(|s| s.accounts));
            };
            if self.replace_if_unchanged(snapshot.as_ref(), &next)? {
                return Ok(Some(next));
            }
        }
        Err(ApiError::internal(format!(
            "{}: too much contention",
            self.key
        )))
    }

    /// Marks `reconnect_required` the accounts whose credentials the platform refused.
    ///
    /// `refused` are the records as they were read before the call that was refused. Each
    /// stored account is marked only if it still holds exactly those credentials (sealed
    /// values are compared, and every seal is unique), with compare-and-swap against the
    /// current value: an account that was reconnected, or whose token was rotated by a
    /// concurrent refresh, holds credentials nobody has refused and is left alone — a late
    /// 401 on an old token cannot flag it. Answers whether anything was marked.
    pub fn mark_reconnect_required(&self, refused: &[&AccountRecord]) -> Result<bool, ApiError> {
        let mut marked = false;
        self.update(|current| {
            marked = false;
            let Some(current) = current else {
                return Ok(None);
            };
            let mut next = current.to_vec();
            for record in &mut next {
                let still_refused = refused.iter().any(|used| {
                    used.account.platform == record.account.platform
                        && used.account.account_id == record.account.account_id
                        && used.credentials == record.credentials
                });
                if still_refused && record.account.status != AccountStatus::ReconnectRequired {
                    record.account.status = AccountStatus::ReconnectRequired;
                    marked = true;
                }
            }
            Ok(marked.then_some(next))
        })?;
        Ok(marked)
    }

    /// Deletes the stored accounts.
    pub fn delete(&self) -> Result<(), ApiError> {
        self.env.store.delete(&self.key)?;
        Ok(())
    }

    /// Deletes the stored accounts and answers how many there were.
    pub fn delete_all(&self) -> Result<usize, ApiError> {
        let Some(snapshot) = self.load()? else {
            return Ok(0);
        };
        self.delete()?;
        Ok(snapshot.accounts.len())
    }

    /// Seals `secret` into `record`'s credential field `name`.
    pub fn seal(
        &self,
        record: &mut AccountRecord,
        name: &str,
        secret: &str,
    ) -> Result<(), ApiError> {
        let key = self.env.config.sealing_key()?;
        let sealed = key.seal_str(&self.location(record, name), secret)?;
        record.credentials.insert(name.to_owned(), sealed);
        Ok(())
    }

    /// Opens `record`'s credential field `name` (`None` when it has none).
    pub fn open(&self, record: &AccountRecord, name: &str) -> Result<Option<Secret>, ApiError> {
        let Some(sealed) = record.credentials.get(name) else {
            return Ok(None);
        };
        let key = self.env.config.sealing_key()?;
        match key.open_str(&self.location(record, name), sealed) {
            Ok(secret) => Ok(Some(secret)),
            Err(SealError::Unauthentic) => Err(ApiError::internal(format!(
                "{}: stored credentials do not open with the configured TOKEN_ENCRYPTION_KEY",
                self.key
            ))),
            Err(error) => Err(error.into()),
        }
    }

    /// Opens `record`'s credential field `name` as the secret type `T` (an access token, a
    /// refresh token…); a record without it is an `internal` error, since every record is
    /// stored with the credentials its connector needs.
    pub fn open_required<T: From<String>>(
        &self,
        record: &AccountRecord,
        name: &str,
    ) -> Result<T, ApiError> {
        let secret = self.open(record, name)?.ok_or_else(|| {
            ApiError::internal(format!(
                "{}: the {} record has no {name}",
                self.key, record.account.platform
            ))
        })?;
        Ok(T::from(secret.expose_secret().to_owned()))
    }

    fn location(&self, record: &AccountRecord, name: &str) -> String {
        format!(
            "{}#{}:{}:{name}",
            self.key, record.account.platform, record.account.account_id
        )
    }
}

/// `accounts/<connector>/<user>`.
pub fn storage_key(connector: &str, user: &UserId) -> String {
    format!("accounts/{connector}/{user}")
}

fn encode(accounts: &[AccountRecord]) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        v: u32,
        accounts: &'a [AccountRecord],
    }
    serde_json::to_vec(&Borrowed {
        v: RECORD_VERSION,
        accounts,
    })
    .map_err(|error| ApiError::internal(format!("encoding accounts: {error}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::KeyValue;
    use crate::testing::TestEnv;

    fn account(id: &str) -> Account {
        Account {
            platform: "bluesky".into(),
            account_id: id.into(),
            handle: "alice.bsky.social".into(),
            display_name: None,
            avatar: None,
            profile_url: Some("https://bsky.app/profile/alice.bsky.social".into()),
            connected_at: Timestamp::from_unix(1_787_227_200),
            refreshed_at: Timestamp::from_unix(1_787_227_200),
            expires_at: None,
            status: AccountStatus::Active,
        }
    }

    #[test]
    fn account_view_has_the_contract_shape() {
        let value = serde_json::to_value(account("did:plc:abc")).unwrap();
        assert_eq!(
            value,
            json!({
                "platform": "bluesky", "accountId": "did:plc:abc", "handle": "alice.bsky.social",
                "displayName": null, "avatar": null,
                "profileUrl": "https://bsky.app/profile/alice.bsky.social",
                "connectedAt": "2026-08-20T12:00:00Z", "refreshedAt": "2026-08-20T12:00:00Z",
                "expiresAt": null, "status": "active"
            })
        );
    }

    #[test]
    fn records_are_stored_flat() {
        let mut record = AccountRecord::new(account("did:plc:abc"));
        record
            .credentials
            .insert("access_token".into(), "v1.sealed".into());
        record.set_extra("pds", "https://pds.example");
        let value = serde_json::to_value(&record).unwrap();
        let mut expected = serde_json::to_value(account("did:plc:abc")).unwrap();
        expected["credentials"] = json!({"access_token": "v1.sealed"});
        expected["extras"] = json!({"pds": "https://pds.example"});
        assert_eq!(value, expected);
        assert_eq!(
            serde_json::from_value::<AccountRecord>(value).unwrap(),
            record
        );

        let older = serde_json::to_value(account("did:plc:abc")).unwrap();
        let read: AccountRecord = serde_json::from_value(older).unwrap();
        assert_eq!(read, AccountRecord::new(account("did:plc:abc")));
    }

    #[test]
    fn records_round_trip_with_sealed_credentials() {
        let test = TestEnv::new();
        let env = test.env();
        let user = UserId::parse("u1").unwrap();
        let store = AccountStore::new(&env, "bluesky", &user);
        let mut record = AccountRecord::new(account("did:plc:abc"));
        store
            .seal(&mut record, "refresh_token", "refresh-secret")
            .unwrap();
        record.set_extra("pds", "https://pds.example");
        store.save(std::slice::from_ref(&record)).unwrap();

        let raw = test.store.get("accounts/bluesky/u1").unwrap().unwrap();
        let text = String::from_utf8(raw).unwrap();
        assert!(text.starts_with(r#"{"v":1,"accounts":[{"#), "{text}");
        assert!(!text.contains("refresh-secret"));

        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.accounts, vec![record.clone()]);
        let opened = store
            .open(&loaded.accounts[0], "refresh_token")
            .unwrap()
            .unwrap();
        assert_eq!(opened.expose_secret(), "refresh-secret");
        let typed: crate::secret::RefreshToken = store
            .open_required(&loaded.accounts[0], "refresh_token")
            .unwrap();
        assert_eq!(typed.expose_secret(), "refresh-secret");
        let missing = store.open_required::<Secret>(&loaded.accounts[0], "access_token");
        assert_eq!(missing.unwrap_err().code(), "internal");
        assert_eq!(
            loaded.accounts[0].extra_str("pds"),
            Some("https://pds.example")
        );
        assert_eq!(store.views().unwrap(), vec![record.account]);
    }

    #[test]
    fn sealed_credentials_do_not_open_for_another_user() {
        let test = TestEnv::new();
        let env = test.env();
        let alice = AccountStore::new(&env, "bluesky", &UserId::parse("alice").unwrap());
        let mallory = AccountStore::new(&env, "bluesky", &UserId::parse("mallory").unwrap());
        let mut record = AccountRecord::new(account("did:plc:abc"));
        alice.seal(&mut record, "access_token", "tok").unwrap();
        assert_eq!(
            mallory.open(&record, "access_token").unwrap_err().code(),
            "internal"
        );
    }

    #[test]
    fn replace_if_unchanged_loses_to_a_concurrent_write() {
        let test = TestEnv::new();
        let env = test.env();
        let store = AccountStore::new(&env, "bluesky", &UserId::parse("u1").unwrap());
        store.save(&[AccountRecord::new(account("a"))]).unwrap();
        let first = store.load().unwrap().unwrap();
        let second = store.load().unwrap().unwrap();
        assert!(
            store
                .replace_if_unchanged(Some(&first), &[AccountRecord::new(account("b"))])
                .unwrap()
        );
        assert!(
            !store
                .replace_if_unchanged(Some(&second), &[AccountRecord::new(account("c"))])
                .unwrap()
        );
        assert_eq!(store.views().unwrap()[0].account_id, "b");
        assert!(!store.replace_if_unchanged(None, &[]).unwrap());
    }

    fn sealed(store: &AccountStore<'_>, id: &str, token: &str) -> AccountRecord {
        let mut record = AccountRecord::new(account(id));
        store.seal(&mut record, "access_token", token).unwrap();
        record
    }

    #[test]
    fn mark_reconnect_required_keeps_other_accounts() {
        let test = TestEnv::new();
        let env = test.env();
        let store = AccountStore::new(&env, "facebook", &UserId::parse("u1").unwrap());
        store
            .save(&[sealed(&store, "page", "p"), sealed(&store, "ig", "i")])
            .unwrap();
        let read = store.load().unwrap().unwrap();
        assert!(store.mark_reconnect_required(&[&read.accounts[1]]).unwrap());
        let views = store.views().unwrap();
        assert_eq!(views[0].status, AccountStatus::Active);
        assert_eq!(views[1].status, AccountStatus::ReconnectRequired);
        assert!(
            !store.mark_reconnect_required(&[&read.accounts[1]]).unwrap(),
            "marked once; nothing is written again"
        );
    }

    #[test]
    fn a_refusal_of_replaced_credentials_marks_nothing() {
        let test = TestEnv::new();
        let env = test.env();
        let store = AccountStore::new(&env, "bluesky", &UserId::parse("u1").unwrap());
        store.save(&[sealed(&store, "did:plc:a", "old")]).unwrap();
        let before_call = store.load().unwrap().unwrap();

        // While the call with the old token was under way, the person reconnected the same
        // account (or a concurrent refresh rotated its token).
        store
            .save_connection(vec![sealed(&store, "did:plc:a", "new")])
            .unwrap();
        let after = store.load().unwrap().unwrap();

        assert!(
            !store
                .mark_reconnect_required(&[&before_call.accounts[0]])
                .unwrap()
        );
        assert_eq!(store.load().unwrap().unwrap(), after, "nothing written");
        assert_eq!(store.views().unwrap()[0].status, AccountStatus::Active);

        store.delete().unwrap();
        assert!(
            !store
                .mark_reconnect_required(&[&after.accounts[0]])
                .unwrap()
        );
        assert_eq!(store.load().unwrap(), None, "a disconnect is not undone");
    }

    #[test]
    fn a_reconnect_keeps_connected_at_of_the_same_accounts_only() {
        let test = TestEnv::new();
        let env = test.env();
        let store = AccountStore::new(&env, "facebook", &UserId::parse("u1").unwrap());
        let at = |id: &str, time: i64| {
            let mut record = AccountRecord::new(account(id));
            record.account.connected_at = Timestamp::from_unix(time);
            record
        };
        store
            .save_connection(vec![at("page", 100), at("ig-old", 100)])
            .unwrap();
        let views = store
            .save_connection(vec![at("page", 200), at("ig-new", 200)])
            .unwrap();
        let connected: Vec<(&str, i64)> = views
            .iter()
            .map(|view| (view.account_id.as_str(), view.connected_at.unix()))
            .collect();
        assert_eq!(connected, [("page", 100), ("ig-new", 200)]);
        assert_eq!(store.views().unwrap(), views, "ig-old is gone");
    }

    #[test]
    fn a_refresh_writes_its_account_and_never_brings_one_back() {
        let test = TestEnv::new();
        let env = test.env();
        let store = AccountStore::new(&env, "bluesky", &UserId::parse("u1").unwrap());
        assert_eq!(store.refresh_account("a", |_| Ok(())).unwrap(), None);

        store.save(&[AccountRecord::new(account("a"))]).unwrap();
        let views = store
            .refresh_account("a", |record| {
                record.account.handle = "new.handle".into();
                Ok(())
            })
            .unwrap()
            .expect("stored");
        assert_eq!(views[0].handle, "new.handle");
        assert_eq!(store.views().unwrap(), views);

        store.delete().unwrap();
        assert_eq!(store.refresh_account("a", |_| Ok(())).unwrap(), None);
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn missing_sealing_key_refuses_to_store() {
        let test = TestEnv::new();
        test.config_set("token_encryption_key", "");
        let env = test.env();
        let store = AccountStore::new(&env, "bluesky", &UserId::parse("u1").unwrap());
        let mut record = AccountRecord::new(account("a"));
        let error = store.seal(&mut record, "access_token", "tok").unwrap_err();
        assert_eq!(error.code(), "not_configured");
        assert!(record.credentials.is_empty());
    }
}
