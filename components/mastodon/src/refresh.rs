//! Refreshing: re-reading the profile with the stored token.
//!
//! Mastodon tokens neither expire nor rotate, so refreshing is only `verify_credentials`.
//! A dead token (401, or 422 for a token without a user) marks the account
//! `reconnect_required` and answers 409; a disabled or unapproved login answers
//! `account_unavailable`; throttling and outages answer 429 / 502; none of these three
//! changes the stored account.

use hayon_guest::oauth2;
use hayon_guest::secret::AccessToken;
use hayon_guest::{
    Account, AccountRecord, AccountStatus, AccountStore, ApiError, Connector, Env, Phase,
    Timestamp, UserId,
};

use crate::Mastodon;
use crate::api::CredentialAccount;
use crate::config;
use crate::failure::MastodonFailure;
use crate::instance::InstanceUrl;
use crate::profile::{self, ACCESS_TOKEN, EXTRA_DOMAIN, EXTRA_INSTANCE};

/// `refresh`: the re-read account.
pub fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
    let platform = Mastodon::PLATFORM;
    let store = AccountStore::new(env, platform.id, user);
    let record = stored_record(&store)?;
    let account_id = record.account.account_id.clone();
    let token = stored_token(&store, &record)?;
    let instance = stored_instance(env, &record)?;

    let account = match profile::verify_credentials(env, &instance, &token) {
        Ok(account) => account,
        Err(MastodonFailure::Upstream(failure)) => {
            return Err(oauth2::stored_failure(
                &store,
                &platform,
                &[&record],
                failure,
            ));
        }
        Err(unavailable) => return Err(unavailable.into_api(Phase::Stored)),
    };
    let domain = match record.extra_str(EXTRA_DOMAIN) {
        Some(domain) => domain.to_owned(),
        None => profile::account_domain(env, &instance),
    };

    let now = env.now();
    store
        .refresh_account(&account_id, |record| {
            apply(record, &account, &domain, now);
            Ok(())
        })?
        .ok_or_else(|| ApiError::NotConnected {
            platform: platform.name.to_owned(),
        })
}

/// Updates `record` with what `verify_credentials` said at `now`.
fn apply(record: &mut AccountRecord, account: &CredentialAccount, domain: &str, now: Timestamp) {
    let view = profile::account_view(account, domain, record.account.connected_at, now);
    record.account = Account {
        status: AccountStatus::Active,
        ..view
    };
    record.set_extra(EXTRA_DOMAIN, domain);
}

/// The stored record, or `not_connected`.
pub fn stored_record(store: &AccountStore<'_>) -> Result<AccountRecord, ApiError> {
    store
        .load()?
        .and_then(|snapshot| snapshot.accounts.into_iter().next())
        .ok_or_else(|| ApiError::NotConnected {
            platform: Mastodon::PLATFORM.name.to_owned(),
        })
}

/// The stored access token.
pub fn stored_token(
    store: &AccountStore<'_>,
    record: &AccountRecord,
) -> Result<AccessToken, ApiError> {
    store.open_required(record, ACCESS_TOKEN)
}

/// The instance the token belongs to: the one stored with it, else the configured one.
pub fn stored_instance(env: &Env, record: &AccountRecord) -> Result<InstanceUrl, ApiError> {
    match record.extra_str(EXTRA_INSTANCE).map(InstanceUrl::parse) {
        Some(Ok(instance)) => Ok(instance),
        _ => config::instance(env),
    }
}
