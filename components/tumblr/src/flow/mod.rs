//! The connection lifecycle: connect, callback, refresh, disconnect.
//!
//! * **connect** obtains a temporary token signed with our callback URL, refuses to go on
//!   unless Tumblr confirms the callback (OAuth 1.0a), and keeps the temporary secret
//!   sealed with the user id in a pending record keyed by the temporary token
//!   (`hayon_guest::state::issue_keyed`), so the callback may land on another instance or
//!   after a restart; it answers the authorization URL.
//! * **callback** finds that record by `oauth_token` and consumes it atomically (the user
//!   comes from the record, never from the query; a replayed or concurrent callback finds
//!   nothing), exchanges the token and verifier, reads `user/info`, stores the chosen blog
//!   with its sealed token credentials and answers the completion.
//! * **refresh** re-reads `user/info` (Tumblr's OAuth 1.0a tokens do not expire); a refusal
//!   marks the account `reconnect_required`.
//! * **disconnect** deletes our record: OAuth 1.0a on Tumblr has no revocation call.

use std::collections::BTreeMap;

use hayon_guest::secret::Secret;
use hayon_guest::state::{StateError, check_keyed, consume_keyed, issue_keyed};
use hayon_guest::upstream::{FailureClass, Phase};
use hayon_guest::{
    Account, AccountRecord, AccountStore, ApiError, CallbackError, CallbackQuery, CallbackReason,
    Completion, DisconnectOutcome, Env, UserId,
};

use crate::blogs::{account_view, choose_blog, find_blog, hostname};
use crate::client::{BlogInfo, CallError, Client, PLATFORM_NAME, UserInfo, request_token_error};
use crate::oauth1::{OAuthToken, TokenCredentials, TokenSecret, Verifier};
use crate::settings::Settings;

/// The connector's id in routes and storage keys.
pub const PLATFORM_ID: &str = "tumblr";

/// Name of the pending record's sealed extra holding the temporary token secret.
const REQUEST_TOKEN_SECRET: &str = "request_token_secret";
/// Credential field of the access token in an account record.
const ACCESS_TOKEN: &str = "oauth_token";
/// Credential field of the access token secret in an account record.
const ACCESS_TOKEN_SECRET: &str = "oauth_token_secret";

/// Starts a connection for `user`: the authorization URL to send the browser to.
pub fn connect(env: &Env, user: &UserId) -> Result<String, ApiError> {
    let settings = Settings::load(env)?;
    let callback = env.config.callback_url(PLATFORM_ID)?;
    // Fail before calling Tumblr if the pending record could not be sealed.
    env.config.sealing_key()?;

    let temporary = Client::new(env, &settings)
        .request_token(&callback)
        .map_err(request_token_error)?;
    if !temporary.callback_confirmed {
        tracing::warn!(
            platform = PLATFORM_ID,
            user = %user,
            "request_token answered without oauth_callback_confirmed=true"
        );
        return Err(ApiError::UpstreamUnavailable {
            message: "Tumblr did not confirm the address to come back to, so the connection \
                      cannot go on safely. Try again in a few minutes."
                .to_owned(),
        });
    }

    let token = temporary.credentials.token.expose();
    let extras = BTreeMap::from([(
        REQUEST_TOKEN_SECRET.to_owned(),
        Secret::new(temporary.credentials.secret.expose()),
    )]);
    issue_keyed(env, PLATFORM_ID, token, user, &extras)?;
    tracing::info!(platform = PLATFORM_ID, user = %user, "authorization started");
    Ok(settings.authorize_url(token))
}

/// What a callback's query says.
enum Answer<'q> {
    /// Approved: the temporary token and the verifier.
    Approved { token: &'q str, verifier: Verifier },
    /// Refused on Tumblr: the temporary token came back without a verifier.
    Refused { token: &'q str },
}

/// Reads a callback's query. Twitter-style servers send `denied=<token>`; Tumblr sends
/// the token without a verifier.
fn read_callback(query: &CallbackQuery) -> Result<Answer<'_>, CallbackError> {
    let denied = query.get("denied");
    let token = denied.or_else(|| query.get("oauth_token"));
    let verifier = query.get("oauth_verifier").filter(|_| denied.is_none());
    match (token, verifier) {
        (Some(token), Some(verifier)) => Ok(Answer::Approved {
            token,
            verifier: Verifier::new(verifier),
        }),
        (Some(token), None) => Ok(Answer::Refused { token }),
        (None, Some(_)) => Err(CallbackError::new(
            CallbackReason::StateInvalid,
            "The callback carried a verifier but no oauth_token.",
        )),
        (None, None) => Err(CallbackError::new(
            CallbackReason::AuthFailed,
            "The callback carried neither oauth_token nor oauth_verifier.",
        )),
    }
}

/// Completes a connection from the callback's query.
pub fn callback(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
    let (token, verifier) = match read_callback(query)? {
        Answer::Approved { token, verifier } => (token, verifier),
        Answer::Refused { token } => return refused(env, token),
    };

    // An unknown token is refused as such whatever the configuration; then configuration,
    // before consuming: a misconfigured server must not burn the person's token.
    check_keyed(env, PLATFORM_ID, token).map_err(state_error)?;
    let settings = Settings::load(env)?;
    let pending = consume(env, token)?;
    let secret = pending
        .extras
        .get(REQUEST_TOKEN_SECRET)
        .ok_or_else(|| ApiError::internal("pending Tumblr record without its token secret"))?;
    let temporary = TokenCredentials {
        token: OAuthToken::new(token),
        secret: TokenSecret::new(secret.expose_secret()),
    };

    let client = Client::new(env, &settings);
    let access = client
        .access_token(&temporary, &verifier)
        .map_err(connect_error)?;
    let info = client.user_info(&access).map_err(connect_error)?;
    let Some(blog) = choose_blog(&info) else {
        tracing::warn!(
            platform = PLATFORM_ID,
            user = %pending.user,
            reason = "no_blog",
            "the Tumblr account has no blog to connect"
        );
        return Err(CallbackError::new(
            CallbackReason::ConnectFailed,
            "This Tumblr account has no blog. Create a blog on Tumblr, then connect again.",
        ));
    };

    let accounts = save_connection(env, &settings, &pending.user, &info, blog, &access)?;
    Ok(Completion {
        user: pending.user,
        accounts,
    })
}

/// Stores `blog` with its token credentials as `user`'s Tumblr account, replacing any
/// earlier one; reconnecting the same blog keeps its first connection time.
fn save_connection(
    env: &Env,
    settings: &Settings,
    user: &UserId,
    info: &UserInfo,
    blog: &BlogInfo,
    access: &TokenCredentials,
) -> Result<Vec<Account>, ApiError> {
    let now = env.now();
    let store = AccountStore::new(env, PLATFORM_ID, user);
    let mut record = AccountRecord::new(account_view(settings, blog, now, now));
    store.seal(&mut record, ACCESS_TOKEN, access.token.expose())?;
    store.seal(&mut record, ACCESS_TOKEN_SECRET, access.secret.expose())?;
    set_blog_extras(&mut record, info, blog);
    store.save_connection(vec![record])
}

/// The non-secret facts kept beside the account (for posting and for people debugging).
fn set_blog_extras(record: &mut AccountRecord, info: &UserInfo, blog: &BlogInfo) {
    record.set_extra("blog_name", blog.name.clone());
    record.set_extra("blog_hostname", hostname(blog));
    record.set_extra("tumblr_user", info.name.clone());
}

/// A callback with a token and no verifier: the person refused on Tumblr.
fn refused(env: &Env, token: &str) -> Result<Completion, CallbackError> {
    consume(env, token)?;
    Err(CallbackError::new(
        CallbackReason::AuthDenied,
        "The Tumblr connection was not approved.",
    ))
}

/// Consumes the pending record of temporary token `token`, once.
fn consume(
    env: &Env,
    token: &str,
) -> Result<hayon_guest::state::PendingAuthorization, CallbackError> {
    consume_keyed(env, PLATFORM_ID, token).map_err(state_error)
}

/// An unknown, expired or used request token is `state_invalid`.
fn state_error(error: StateError) -> CallbackError {
    match error {
        StateError::Invalid => CallbackError::new(
            CallbackReason::StateInvalid,
            "The Tumblr request token is unknown, expired or already used.",
        ),
        StateError::Api(error) => error.into(),
    }
}

/// A failed call during the callback: Tumblr refusing the exchange is `connect_failed`,
/// throttling and outages keep their reasons.
fn connect_error(error: CallError) -> CallbackError {
    if error.class() == Some(FailureClass::CredentialsDead) {
        return CallbackError::new(
            CallbackReason::ConnectFailed,
            "Tumblr refused to exchange the request token. Connect again.",
        );
    }
    error.into_api(Phase::Connect).into()
}

/// Re-reads the connected blog from Tumblr and stores what changed.
pub fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
    let store = AccountStore::new(env, PLATFORM_ID, user);
    let not_connected = || ApiError::NotConnected {
        platform: PLATFORM_NAME.to_owned(),
    };
    let snapshot = store.load()?.ok_or_else(not_connected)?;
    let record = snapshot.accounts.first().ok_or_else(not_connected)?;
    let settings = Settings::load(env)?;

    let access = stored_credentials(&store, record)?;
    let account_id = record.account.account_id.clone();

    let info = match Client::new(env, &settings).user_info(&access) {
        Ok(info) => info,
        Err(error) if error.class() == Some(FailureClass::CredentialsDead) => {
            tracing::warn!(platform = PLATFORM_ID, user = %user, "Tumblr refused the stored token");
            store.mark_reconnect_required(&[record])?;
            return Err(error.into_api(Phase::Stored));
        }
        Err(error) => return Err(error.into_api(Phase::Stored)),
    };
    let Some(blog) = find_blog(&info, &account_id) else {
        tracing::warn!(platform = PLATFORM_ID, user = %user, "the connected blog is gone");
        store.mark_reconnect_required(&[record])?;
        return Err(ApiError::ReconnectRequired {
            message: "The connected Tumblr blog is no longer on this Tumblr account. \
                      Connect Tumblr again to pick a blog."
                .to_owned(),
        });
    };

    let now = env.now();
    store
        .refresh_account(&account_id, |stored| {
            let connected_at = stored.account.connected_at;
            stored.account = account_view(&settings, blog, connected_at, now);
            set_blog_extras(stored, &info, blog);
            Ok(())
        })?
        .ok_or_else(not_connected)
}

/// The token credentials sealed in `record`.
fn stored_credentials(
    store: &AccountStore<'_>,
    record: &AccountRecord,
) -> Result<TokenCredentials, ApiError> {
    let secret: Secret = store.open_required(record, ACCESS_TOKEN_SECRET)?;
    Ok(TokenCredentials {
        token: store.open_required(record, ACCESS_TOKEN)?,
        secret: TokenSecret::new(secret.expose_secret()),
    })
}

/// Deletes the stored Tumblr account; there is nothing to revoke upstream.
pub fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
    let removed = AccountStore::new(env, PLATFORM_ID, user).delete_all()?;
    tracing::info!(platform = PLATFORM_ID, %user, removed, "disconnected");
    Ok(DisconnectOutcome::without_revocation(removed))
}

#[cfg(test)]
mod tests;
