//! Connecting: the Login dialog URL (`connect`) and the callback (`complete`).
//!
//! `connect` issues a state bound to the user (single use, expiring; see
//! `hayon_guest::state`) and answers
//! `${meta_dialog_url}/${version}/dialog/oauth?client_id=…&redirect_uri=…&state=…`
//! `&response_type=code&scope=…` with the seed page's permissions, comma separated.
//!
//! The callback, after `hayon_guest::oauth2::accept` has answered refusals, missing codes
//! and bad states (consuming a valid state before anything else, so a replayed callback
//! URL exchanges nothing and overwrites nothing):
//!
//! 1. exchanges the code for a short-lived user token, with the same `redirect_uri`;
//! 2. exchanges that for a long-lived user token (`fb_exchange_token`); its `expires_in`
//!    may be missing, which Meta uses for tokens that do not expire, so the Instagram
//!    account's `expiresAt` is then `null`;
//! 3. lists the Pages with the long-lived token — so the Page tokens do not expire — and
//!    takes the first one with its linked Instagram account, if any;
//! 4. stores the Page and the Instagram account in one value, replacing any previous
//!    connection of this user (and so removing an Instagram account the Page no longer
//!    has). No Page: nothing is stored or changed, and the redirect says `no_pages`.

use std::collections::BTreeMap;

use hayon_guest::callback::CallbackError;
use hayon_guest::oauth2::{self, AuthorizeUrl, PkceMode};
use hayon_guest::{
    AccountStore, ApiError, BeginOutcome, CallbackQuery, CallbackReason, Completion, Connector,
    Env, Phase, UserId,
};

use crate::Facebook;
use crate::config::ConnectSettings;
use crate::connection::{self, Grant};
use crate::graph::{self, Graph};

/// `connect`: the Login dialog URL for `user`.
pub fn begin(env: &Env, user: &UserId) -> Result<BeginOutcome, ApiError> {
    let settings = ConnectSettings::load(env)?;
    let authorization = oauth2::start(
        env,
        Facebook::PLATFORM.id,
        user,
        PkceMode::None,
        BTreeMap::new(),
    )?;
    let url = AuthorizeUrl::new(settings.dialog_endpoint())
        .param("client_id", &settings.app.client.client_id)
        .redirect_uri(&settings.redirect_uri)
        .authorization(&authorization)
        .param("response_type", "code")
        .param("scope", &graph::scope_param())
        .build();
    tracing::info!(platform = "facebook", %user, "authorization begun");
    Ok(BeginOutcome::Redirect(url))
}

/// `callback`: completes the connection the state names.
pub fn complete(env: &Env, query: &CallbackQuery) -> Result<Completion, CallbackError> {
    let platform = Facebook::PLATFORM;
    let authorized = oauth2::accept(env, &platform, query)?;
    let settings = ConnectSettings::load(env)?;
    let app = &settings.app;
    let graph = Graph::new(env, &app.graph, Some(&app.client.client_secret));
    let failed = |failure| oauth2::connect_failure(&platform, failure);

    let short_lived = graph
        .exchange_code(&app.client, &authorized, &settings.redirect_uri)
        .map_err(failed)?;
    let long_lived = graph
        .extend(&app.client, &short_lived.value.access_token, Phase::Connect)
        .map_err(failed)?;
    let user_token = long_lived.value.access_token;
    let user_token_expires_at = long_lived
        .value
        .expires_in
        .map(|seconds| long_lived.received_at.plus_lifetime(seconds));

    let Some(mut page) = graph
        .first_page(&user_token, Phase::Connect)
        .map_err(failed)?
    else {
        tracing::info!(platform = "facebook", user = %authorized.user, "no pages; nothing stored");
        return Err(CallbackError::new(
            CallbackReason::NoPages,
            "Hayon posts to Facebook Pages, and this Facebook account manages none (or none \
             was selected). Create a Page, or select one when connecting, and try again.",
        ));
    };
    let Some(page_token) = page.access_token.take() else {
        return Err(CallbackError::new(
            CallbackReason::ConnectFailed,
            "Facebook listed the Page without a Page access token, so Hayon cannot post to \
             it. Check your role on the Page and connect again.",
        ));
    };
    if !page.tasks.iter().any(|task| task == "CREATE_CONTENT") {
        tracing::warn!(platform = "facebook", page = %page.id, "CREATE_CONTENT task missing");
    }

    let grant = Grant {
        page,
        page_token,
        user_token,
        user_token_expires_at,
    };
    let store = AccountStore::new(env, platform.id, &authorized.user);
    let records = connection::new_records(&store, &grant, env.now())?;
    let accounts = store.save_connection(records)?;

    let instagram = grant
        .page
        .instagram_business_account
        .as_ref()
        .map(|account| account.id.as_str());
    tracing::info!(
        platform = "facebook",
        user = %authorized.user,
        page = %grant.page.id,
        instagram,
        "connected"
    );
    Ok(Completion {
        user: authorized.user,
        accounts,
    })
}
