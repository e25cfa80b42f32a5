//! Disconnecting: removing the app upstream, then deleting both records.
//!
//! `DELETE /me/permissions` with the user token removes Hayon's app for the person, which
//! ends every user and Page token issued to it (they answer 190/458 afterwards). Whatever
//! Meta answers — or if it cannot be asked — both records are deleted; a failed
//! revocation is reported (`revoked: false` and the problem) so the person can remove the
//! app in their Facebook settings themselves.

use hayon_guest::{
    AccountRecord, AccountStore, ApiError, Connector, DisconnectOutcome, Env, FailureClass,
    UpstreamFailure, UserId,
};

use crate::Facebook;
use crate::config::{self, GraphApi};
use crate::connection::Stored;
use crate::graph::Graph;

/// What to do when a revocation failed.
const REMOVE_BY_HAND: &str = "You can remove Hayon yourself in Facebook under Settings & \
                              privacy → Settings → Business integrations (or Apps and \
                              websites).";

/// `disconnect`: revokes and deletes.
pub fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
    let store = AccountStore::new(env, Facebook::PLATFORM.id, user);
    let Some(snapshot) = store.load()? else {
        return Ok(DisconnectOutcome::without_revocation(0));
    };

    let revocation = revoke(env, &store, &snapshot.accounts);
    if let Err(problem) = &revocation {
        tracing::warn!(platform = "facebook", %user, %problem, "revocation failed");
    }
    store.delete()?;

    let removed = snapshot.accounts.len();
    tracing::info!(platform = "facebook", %user, removed, "disconnected");
    let revocation = revocation.map_err(|problem| format!("{problem} {REMOVE_BY_HAND}"));
    Ok(DisconnectOutcome::after_revocation(removed, revocation))
}

/// Removes the app with the stored user token; the error is a sentence for people.
fn revoke(env: &Env, store: &AccountStore<'_>, records: &[AccountRecord]) -> Result<(), String> {
    let unusable = |error: ApiError| {
        tracing::error!(platform = "facebook", %error, "cannot revoke");
        "Hayon could not use its stored Facebook access to end it.".to_owned()
    };
    let stored =
        Stored::find(records).ok_or_else(|| "No Facebook access was stored to end.".to_owned())?;
    let user_token = stored.user_token(store).map_err(unusable)?;
    let api = GraphApi::load(env).map_err(unusable)?;
    let app_secret = config::optional_app_secret(env).map_err(unusable)?;

    match Graph::new(env, &api, app_secret.as_ref()).revoke(&user_token) {
        Ok(true) => Ok(()),
        Ok(false) => Err("Facebook did not confirm ending Hayon's access.".to_owned()),
        Err(failure) => Err(describe(&failure)),
    }
}

fn describe(failure: &UpstreamFailure) -> String {
    match failure.class {
        FailureClass::CredentialsDead => "Facebook no longer accepts Hayon's access token, so \
                                          its access may already have ended."
            .to_owned(),
        FailureClass::Transient if failure.rate_limited => {
            "Facebook is limiting requests and did not end Hayon's access.".to_owned()
        }
        FailureClass::Transient => {
            "Facebook could not be reached or did not answer properly when asked to end \
             Hayon's access."
                .to_owned()
        }
        FailureClass::RequestError => "Facebook refused to end Hayon's access.".to_owned(),
    }
}
