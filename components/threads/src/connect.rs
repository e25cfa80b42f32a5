//! Connecting: the authorization URL (`connect`) and the callback (`complete`).
//!
//! `connect` answers `${threads_authorize_url}/oauth/authorize` with the Threads app id,
//! the exact callback URL, the scopes (comma separated, each comma sent as `%2C`),
//! `response_type=code` and a state bound to the user.
//!
//! The callback consumes the state, exchanges the code (form `POST` to
//! `${threads_graph_url}/oauth/access_token` with the same callback URL) for a one-hour
//! token, upgrades it with `th_exchange_token` to a ~60-day token — if that fails the
//! connection fails: a one-hour token stored as if it were long-lived would die unseen —
//! reads `/v1.0/me` (whose `id` is the account id, as a string) and stores the account with
//! the real expiry.

use std::collections::BTreeMap;

use hayon_guest::callback::CallbackError;
use hayon_guest::oauth2::{self, AuthorizeUrl, PkceMode, Received, TokenTransport, meta};
use hayon_guest::{
    AccountRecord, AccountStore, ApiError, BeginOutcome, CallbackQuery, Completion, Connector, Env,
    Phase, UserId,
};

use crate::Threads;
use crate::api::{LongLivedToken, SCOPES, ShortLivedToken};
use crate::config::ConnectSettings;
use crate::profile::{self, ACCESS_TOKEN};

/// `connect`: the authorization URL for `user`.
pub fn begin(env: &Env, user: &UserId) -> Result<BeginOutcome, ApiError> {
    let settings = ConnectSettings::load(env)?;
    let authorization = oauth2::start(
        env,
        Threads::PLATFORM.id,
        user,
        PkceMode::None,
        BTreeMap::new(),
    )?;
    let url = AuthorizeUrl::new(oauth2::endpoint(
        &settings.authorize_url,
        "/oauth/authorize",
    ))
    .param("client_id", &settings.client.client_id)
    .redirect_uri(&settings.redirect_uri)
    .param("scope", SCOPES)
    .param("response_type", "code")
    .authorization(&authorization)
    .build();
    tracing::info!(platform = "threads", %user, "authorization begun");
    Ok(BeginOutcome::Redirect(url))
}

/// `callback`: completes the connection the state names.
pub fn complete(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
    let platform = Threads::PLATFORM;
    let authorized = oauth2::accept(env, &platform, query)?;
    let settings = ConnectSettings::load(env)?;
    let failed = |failure| oauth2::connect_failure(&platform, failure);

    let request = oauth2::code_exchange(
        &oauth2::endpoint(&settings.graph_url, "/oauth/access_token"),
        TokenTransport::PostForm,
        &settings.client,
        &authorized,
        &settings.redirect_uri,
        true,
    );
    let short: Received<ShortLivedToken> =
        oauth2::exchange(env, &request, Phase::Connect, meta::classify).map_err(failed)?;
    let short_token = short.value.access_token;

    let request = oauth2::token_request(
        &oauth2::endpoint(&settings.graph_url, "/access_token"),
        TokenTransport::GetQuery,
        &[
            ("grant_type", "th_exchange_token"),
            (
                "client_secret",
                settings.client.client_secret.expose_secret(),
            ),
            ("access_token", short_token.expose_secret()),
        ],
    );
    let long: Received<LongLivedToken> =
        oauth2::exchange(env, &request, Phase::Connect, meta::classify).map_err(failed)?;
    let token = long.value.access_token.clone();

    let profile =
        profile::read_profile(env, &settings.graph_url, &token, Phase::Connect).map_err(failed)?;

    let store = AccountStore::new(env, platform.id, &authorized.user);
    let now = env.now();
    let expires_at = profile::expiry(&long);
    let mut record = AccountRecord::new(profile::account_view(&profile, now, now, expires_at));
    profile::note_token(&mut record, long.received_at, expires_at);
    store.seal(&mut record, ACCESS_TOKEN, token.expose_secret())?;
    let accounts = store.save_connection(vec![record])?;

    tracing::info!(
        platform = "threads",
        user = %authorized.user,
        account = %profile.id,
        "connected"
    );
    Ok(Completion {
        user: authorized.user,
        accounts,
    })
}
