//! Disconnecting: revoking the token at the instance, then deleting our record.
//!
//! `POST /oauth/revoke` with `client_id`, `client_secret` and `token` ends Hayon's access.
//! Whatever the instance answers — or if it cannot be asked — our record is deleted; a
//! failed revocation is reported in the answer (`revoked: false` and the problem) so the
//! person can remove the app on the instance themselves.

use hayon_guest::oauth2::{self, TokenTransport};
use hayon_guest::secret::AccessToken;
use hayon_guest::{
    AccountRecord, AccountStore, ApiError, Connector, DisconnectOutcome, Env, UserId,
};

use crate::Mastodon;
use crate::config;
use crate::instance::InstanceUrl;
use crate::refresh::{stored_instance, stored_token};

/// What to do when a revocation failed: remove the app by hand.
const REVOKE_BY_HAND: &str = "You can remove Hayon under Preferences → Account → \
                              Authorized apps on your Mastodon instance.";

/// `disconnect`: revokes and deletes.
pub fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
    let store = AccountStore::new(env, Mastodon::PLATFORM.id, user);
    let Some(snapshot) = store.load()? else {
        return Ok(DisconnectOutcome::without_revocation(0));
    };

    let mut problems = Vec::new();
    for record in &snapshot.accounts {
        if let Err(problem) = revoke(env, &store, record) {
            tracing::warn!(platform = "mastodon", %user, %problem, "revocation failed");
            problems.push(problem);
        }
    }
    store.delete()?;

    let removed = snapshot.accounts.len();
    tracing::info!(platform = "mastodon", %user, removed, "disconnected");
    let revocation = if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} {REVOKE_BY_HAND}", problems.join(" ")))
    };
    Ok(DisconnectOutcome::after_revocation(removed, revocation))
}

/// Revokes `record`'s token; the error is a sentence for people.
fn revoke(env: &Env, store: &AccountStore<'_>, record: &AccountRecord) -> Result<(), String> {
    let client = config::client(env).map_err(|error| error.public_message())?;
    let token: AccessToken = stored_token(store, record).map_err(|error| error.public_message())?;
    let instance: InstanceUrl =
        stored_instance(env, record).map_err(|error| error.public_message())?;

    let request = oauth2::token_request(
        &instance.endpoint("/oauth/revoke"),
        TokenTransport::PostForm,
        &[
            ("client_id", &client.client_id),
            ("client_secret", client.client_secret.expose_secret()),
            ("token", token.expose_secret()),
        ],
    );
    let response = env.send(&request).map_err(|_| {
        "The Mastodon instance could not be reached to end Hayon's access.".to_owned()
    })?;
    if response.is_success() {
        return Ok(());
    }
    Err(match response.status {
        500..=599 => "The Mastodon instance did not answer properly when asked to end \
                      Hayon's access."
            .to_owned(),
        429 => {
            "The Mastodon instance is limiting requests and did not end Hayon's access.".to_owned()
        }
        status => format!("The Mastodon instance refused to end Hayon's access (status {status})."),
    })
}
