//! Connecting: the authorization URL (`connect`) and the callback (`complete`).
//!
//! `connect` issues a state bound to the user, keeping a PKCE verifier and the instance in
//! its sealed pending record, and answers the instance's `/oauth/authorize` URL with
//! `response_type=code`, our `client_id`, the exact callback URL, the configured scopes
//! (space separated, sent as `%20`), the state and the S256 `code_challenge`.
//!
//! The callback consumes the state (see `hayon_guest::oauth2::accept`), exchanges the code
//! at `/oauth/token` with the same callback URL and the verifier, reads the account with
//! `verify_credentials` and the handle's domain, and stores the account — replacing a
//! previous connection of this user, and keeping its `connectedAt` when it is the same
//! account.

use std::collections::BTreeMap;

use hayon_guest::callback::CallbackError;
use hayon_guest::oauth2::{
    self, AuthorizeUrl, PkceMode, Received, TokenTransport, generic_classifier,
};
use hayon_guest::secret::Secret;
use hayon_guest::{
    AccountStore, ApiError, BeginOutcome, CallbackQuery, CallbackReason, Completion, Connector,
    Env, Phase, UserId,
};

use crate::Mastodon;
use crate::api::TokenResponse;
use crate::config::ConnectSettings;
use crate::profile::{self, ACCESS_TOKEN, EXTRA_INSTANCE};

/// `connect`: the authorization URL for `user`.
pub fn begin(env: &Env, user: &UserId) -> Result<BeginOutcome, ApiError> {
    let settings = ConnectSettings::load(env)?;
    let extras = BTreeMap::from([(
        EXTRA_INSTANCE.to_owned(),
        Secret::new(settings.instance.base()),
    )]);
    let authorization = oauth2::start(env, Mastodon::PLATFORM.id, user, PkceMode::S256, extras)?;
    let url = AuthorizeUrl::new(settings.instance.endpoint("/oauth/authorize"))
        .param("response_type", "code")
        .param("client_id", &settings.client.client_id)
        .redirect_uri(&settings.redirect_uri)
        .param("scope", &settings.scopes.as_param())
        .authorization(&authorization)
        .build();
    let instance = settings.instance.base();
    tracing::info!(platform = "mastodon", %user, instance, "authorization begun");
    Ok(BeginOutcome::Redirect(url))
}

/// `callback`: completes the connection the state names.
pub fn complete(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
    let platform = Mastodon::PLATFORM;
    let authorized = oauth2::accept(env, &platform, query)?;
    let settings = ConnectSettings::load(env)?;

    let begun_at = authorized
        .extras
        .get(EXTRA_INSTANCE)
        .map(Secret::expose_secret);
    if begun_at != Some(settings.instance.base()) {
        return Err(CallbackError::new(
            CallbackReason::ConnectFailed,
            "The Mastodon instance was changed while connecting. Start again.",
        ));
    }

    let request = oauth2::code_exchange(
        &settings.instance.endpoint("/oauth/token"),
        TokenTransport::PostForm,
        &settings.client,
        &authorized,
        &settings.redirect_uri,
        true,
    );
    let token: Received<TokenResponse> =
        oauth2::exchange(env, &request, Phase::Connect, generic_classifier)
            .map_err(|failure| oauth2::connect_failure(&platform, failure))?;
    let access_token = token.value.access_token;

    let account = profile::verify_credentials(env, &settings.instance, &access_token)
        .map_err(|failure| CallbackError::from(failure.into_api(Phase::Connect)))?;
    let domain = profile::account_domain(env, &settings.instance);

    let store = AccountStore::new(env, platform.id, &authorized.user);
    let now = env.now();
    let mut record = profile::new_record(&account, &settings.instance, &domain, now, now);
    store.seal(&mut record, ACCESS_TOKEN, access_token.expose_secret())?;
    let accounts = store.save_connection(vec![record])?;

    tracing::info!(
        platform = "mastodon",
        user = %authorized.user,
        account = %account.id,
        "connected"
    );
    Ok(Completion {
        user: authorized.user,
        accounts,
    })
}
