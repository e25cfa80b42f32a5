//! Refreshing: re-reading both profiles and re-extending the user token.
//!
//! 1. The Page is read with its Page token (`GET /{page-id}`), the Instagram account, when
//!    one is linked, with the user token (`GET /{ig-user-id}`).
//! 2. The user token is sent through `fb_exchange_token` again. Meta has no refresh grant
//!    for user tokens; what this call does with an already long-lived token is Meta's
//!    choice (it may answer a fresh ~60-day token, or the same one). Whatever it answers is
//!    stored, with the expiry it states; if Meta refuses the exchange as a request error,
//!    the stored token is kept as it is — only a dead token, throttling or an outage fails
//!    the refresh. When the token finally expires, the person must connect again (Meta
//!    also ends data access after 90 days without a login).
//! 3. The records are updated with compare-and-swap, and only if they are still the ones
//!    that were read, so a refresh racing a reconnect or a disconnect changes nothing.
//!
//! Failures: a dead token (190 with any subcode, 102) marks both accounts
//! `reconnect_required` and answers 409 — except "does not exist" (code 100) for the
//! Instagram account alone, which means it was unlinked from the Page or is out of the
//! token's reach, and marks only the Instagram account. Throttling answers 429 with
//! `Retry-After`; 5xx, HTML and garbage answer 502; neither changes the accounts.

use hayon_guest::oauth2::{self, ClientCredentials, Received};
use hayon_guest::secret::AccessToken;
use hayon_guest::{
    Account, AccountRecord, AccountStatus, AccountStore, ApiError, Connector, Env, FailureClass,
    Phase, Timestamp, UpstreamFailure, UserId,
};

use crate::Facebook;
use crate::api::{InstagramAccount, Page, UserToken};
use crate::config::AppSettings;
use crate::connection::{self, ACCESS_TOKEN, Stored, USER_TOKEN};
use crate::graph::Graph;

/// `refresh`: the re-read accounts.
pub fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
    let platform = Facebook::PLATFORM;
    let store = AccountStore::new(env, platform.id, user);
    let not_connected = || ApiError::NotConnected {
        platform: platform.name.to_owned(),
    };
    let snapshot = store.load()?.ok_or_else(not_connected)?;
    let stored = Stored::find(&snapshot.accounts).ok_or_else(not_connected)?;
    let settings = AppSettings::load(env)?;
    let graph = Graph::new(env, &settings.graph, Some(&settings.client.client_secret));
    let page_token = stored.page_token(&store)?;
    let user_token = stored.user_token(&store)?;

    // Both tokens come from the one Facebook login: when one is dead, both are.
    let both: Vec<&AccountRecord> = std::iter::once(stored.facebook)
        .chain(stored.instagram)
        .collect();
    let page = graph
        .page(&stored.page_id()?, &page_token)
        .map_err(|failure| oauth2::stored_failure(&store, &platform, &both, failure))?;
    let instagram = match (stored.instagram, stored.instagram_id()?) {
        (Some(record), Some(id)) => match graph.instagram(&id, &user_token) {
            Ok(account) => Some(account),
            Err(failure) => {
                let used = if is_out_of_reach(&failure) {
                    &[record][..]
                } else {
                    &both
                };
                return Err(oauth2::stored_failure(&store, &platform, used, failure));
            }
        },
        _ => None,
    };
    let extended = extend(&graph, &settings.client, &user_token)
        .map_err(|failure| oauth2::stored_failure(&store, &platform, &both, failure))?;

    let update = Update {
        page,
        instagram,
        extended,
        now: env.now(),
    };
    let read = (stored.facebook.clone(), stored.instagram.cloned());
    let current = store.update(|current| {
        let Some(current) = current else {
            // Disconnected meanwhile: do not bring the accounts back.
            return Ok(None);
        };
        let mut next = current.to_vec();
        let mut changed = false;
        for record in &mut next {
            if *record == read.0 {
                update.apply_facebook(&store, record)?;
                changed = true;
            } else if Some(&*record) == read.1.as_ref() {
                update.apply_instagram(&store, record)?;
                changed = true;
            }
        }
        Ok(changed.then_some(next))
    })?;

    let accounts: Vec<Account> = current
        .unwrap_or_default()
        .into_iter()
        .map(|record| record.account)
        .collect();
    if accounts.is_empty() {
        return Err(not_connected());
    }
    tracing::info!(platform = "facebook", %user, extended = update.extended.is_some(), "refreshed");
    Ok(accounts)
}

/// A "does not exist" answer (code 100) for a stored token: the object is gone from the
/// token's reach, the token itself may be fine.
fn is_out_of_reach(failure: &UpstreamFailure) -> bool {
    failure.class == FailureClass::CredentialsDead
        && failure
            .error
            .as_deref()
            .is_some_and(|code| code == "100" || code.starts_with("100/"))
}

/// `fb_exchange_token` with the stored user token; `None` when Meta refuses the exchange
/// as a request error (the stored token is then kept).
fn extend(
    graph: &Graph<'_>,
    client: &ClientCredentials,
    user_token: &AccessToken,
) -> Result<Option<Received<UserToken>>, UpstreamFailure> {
    match graph.extend(client, user_token, Phase::Stored) {
        Ok(answer) => Ok(Some(answer)),
        Err(failure) if failure.class == FailureClass::RequestError => {
            tracing::info!(
                platform = "facebook",
                error = failure.error.as_deref(),
                message = failure.message.as_deref(),
                "meta did not extend the user token; keeping it"
            );
            Ok(None)
        }
        Err(failure) => Err(failure),
    }
}

/// What a refresh read, to be written into the records it read.
struct Update {
    page: Page,
    instagram: Option<InstagramAccount>,
    extended: Option<Received<UserToken>>,
    now: Timestamp,
}

impl Update {
    fn expires_at(&self) -> Option<Option<Timestamp>> {
        self.extended.as_ref().map(|answer| {
            answer
                .value
                .expires_in
                .map(|seconds| answer.received_at.plus_lifetime(seconds))
        })
    }

    fn apply_facebook(
        &self,
        store: &AccountStore<'_>,
        record: &mut AccountRecord,
    ) -> Result<(), ApiError> {
        let view = connection::facebook_view(&self.page, record.account.connected_at, self.now);
        // The id the credentials were sealed under stays, whatever Meta echoes.
        record.account = Account {
            account_id: record.account.account_id.clone(),
            ..view
        };
        if let Some(answer) = &self.extended {
            store.seal(
                record,
                USER_TOKEN,
                answer.value.access_token.expose_secret(),
            )?;
        }
        Ok(())
    }

    fn apply_instagram(
        &self,
        store: &AccountStore<'_>,
        record: &mut AccountRecord,
    ) -> Result<(), ApiError> {
        let Some(instagram) = &self.instagram else {
            return Ok(());
        };
        let expires_at = self.expires_at().unwrap_or(record.account.expires_at);
        let view = connection::instagram_view(
            instagram,
            record.account.connected_at,
            self.now,
            expires_at,
        );
        record.account = Account {
            account_id: record.account.account_id.clone(),
            status: AccountStatus::Active,
            ..view
        };
        if let Some(answer) = &self.extended {
            store.seal(
                record,
                ACCESS_TOKEN,
                answer.value.access_token.expose_secret(),
            )?;
        }
        Ok(())
    }
}
