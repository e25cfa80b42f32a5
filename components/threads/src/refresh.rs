//! Refreshing: extending the long-lived token when Threads allows it, and re-reading the
//! profile.
//!
//! Threads refreshes a long-lived token with `th_refresh_token` only once it is at least
//! 24 hours old (and not expired); the token is its own refresh credential. So a refresh
//! first extends the token when it is old enough — storing the new one at once, before it
//! is used — and then re-reads `/v1.0/me`. A younger token is only used to re-read the
//! profile. A refusal of the extension that is not a dead token (Threads' clock may see a
//! token as younger than ours does) is not fatal: the profile read decides.
//!
//! A dead token (190, or 100 "does not exist") marks the account `reconnect_required` and
//! answers 409; throttling and outages answer 429 / 502 and change nothing.

use hayon_guest::oauth2::{self, Received, TokenTransport, meta};
use hayon_guest::secret::AccessToken;
use hayon_guest::{
    Account, AccountRecord, AccountStore, ApiError, Connector, Env, FailureClass, Phase, UserId,
};

use crate::Threads;
use crate::api::{LongLivedToken, refresh_due};
use crate::config;
use crate::profile::{self, ACCESS_TOKEN};

/// `refresh`: the re-read account.
pub fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
    let platform = Threads::PLATFORM;
    let store = AccountStore::new(env, platform.id, user);
    // The record whose token the next call uses, as stored.
    let mut used = store
        .load()?
        .and_then(|snapshot| snapshot.accounts.into_iter().next())
        .ok_or_else(|| ApiError::NotConnected {
            platform: platform.name.to_owned(),
        })?;
    let account_id = used.account.account_id.clone();
    let graph_url = config::graph_url(env)?;
    let mut token = stored_token(&store, &used)?;

    if refresh_due(profile::token_issued_at(&used).unix(), env.now().unix()) {
        match extend(env, &graph_url, &token) {
            Ok(renewed) => {
                token = renewed.value.access_token.clone();
                if let Some(saved) = save_token(&store, &account_id, &renewed)? {
                    used = saved;
                }
            }
            Err(failure) if failure.class == FailureClass::RequestError => {
                tracing::info!(
                    platform = "threads",
                    %user,
                    error = failure.error.as_deref(),
                    "token not extended; reading the profile with the current one"
                );
            }
            Err(failure) => {
                return Err(oauth2::stored_failure(&store, &platform, &[&used], failure));
            }
        }
    }

    let profile = profile::read_profile(env, &graph_url, &token, Phase::Stored)
        .map_err(|failure| oauth2::stored_failure(&store, &platform, &[&used], failure))?;

    let now = env.now();
    store
        .refresh_account(&account_id, |record| {
            let account = &record.account;
            record.account =
                profile::account_view(&profile, account.connected_at, now, account.expires_at);
            Ok(())
        })?
        .ok_or_else(|| ApiError::NotConnected {
            platform: platform.name.to_owned(),
        })
}

/// `th_refresh_token`: a new long-lived token with a fresh lifetime.
fn extend(
    env: &Env,
    graph_url: &str,
    token: &AccessToken,
) -> Result<Received<LongLivedToken>, hayon_guest::UpstreamFailure> {
    let request = oauth2::token_request(
        &oauth2::endpoint(graph_url, "/refresh_access_token"),
        TokenTransport::GetQuery,
        &[
            ("grant_type", "th_refresh_token"),
            ("access_token", token.expose_secret()),
        ],
    );
    oauth2::exchange(env, &request, Phase::Stored, meta::classify)
}

/// Stores an extended token right away, so it is never lost to a later failure. Answers
/// the record as stored, `None` when the account was disconnected meanwhile.
fn save_token(
    store: &AccountStore<'_>,
    account_id: &str,
    renewed: &Received<LongLivedToken>,
) -> Result<Option<AccountRecord>, ApiError> {
    let expires_at = profile::expiry(renewed);
    let mut sealed: Option<AccountRecord> = None;
    store.update(|current| {
        sealed = None;
        let Some(current) = current else {
            return Ok(None);
        };
        let mut next = current.to_vec();
        for record in next
            .iter_mut()
            .filter(|r| r.account.account_id == account_id)
        {
            store.seal(
                record,
                ACCESS_TOKEN,
                renewed.value.access_token.expose_secret(),
            )?;
            profile::note_token(record, renewed.received_at, expires_at);
            sealed = Some(record.clone());
        }
        Ok(Some(next))
    })?;
    if sealed.is_none() {
        tracing::info!(
            platform = "threads",
            "account disconnected while its token was extended"
        );
    }
    Ok(sealed)
}

/// The stored long-lived token.
fn stored_token(store: &AccountStore<'_>, record: &AccountRecord) -> Result<AccessToken, ApiError> {
    store.open_required(record, ACCESS_TOKEN)
}
