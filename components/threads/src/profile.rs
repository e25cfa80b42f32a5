//! Reading the Threads profile, and the account record we keep for it.
//!
//! The record keeps the long-lived token (sealed), its real expiry (our receipt time plus
//! `expires_in`), and when we received it (`token_issued_at`), which decides whether the
//! 24-hour-old rule of `th_refresh_token` is met.

use hayon_guest::oauth2::{self, Received, meta};
use hayon_guest::secret::AccessToken;
use hayon_guest::{
    Account, AccountRecord, AccountStatus, Env, OutboundRequest, Phase, Timestamp, UpstreamFailure,
};

use crate::api::{LongLivedToken, PROFILE_FIELDS, Profile};

/// The record's sealed credential holding the long-lived token.
pub const ACCESS_TOKEN: &str = "access_token";
/// The record's extra: when the stored token was received (RFC 3339).
pub const EXTRA_TOKEN_ISSUED_AT: &str = "token_issued_at";

/// `GET /v1.0/me` with `token`; `phase` tells whether the token is fresh or stored.
pub fn read_profile(
    env: &Env,
    graph_url: &str,
    token: &AccessToken,
    phase: Phase,
) -> Result<Profile, UpstreamFailure> {
    let request = OutboundRequest::get(oauth2::endpoint(graph_url, "/v1.0/me")).query([
        ("fields", PROFILE_FIELDS),
        ("access_token", token.expose_secret()),
    ]);
    oauth2::exchange(env, &request, phase, meta::classify).map(|received| received.value)
}

/// The public view of `profile`.
pub fn account_view(
    profile: &Profile,
    connected_at: Timestamp,
    refreshed_at: Timestamp,
    expires_at: Option<Timestamp>,
) -> Account {
    Account {
        platform: "threads".to_owned(),
        account_id: profile.id.as_str().to_owned(),
        handle: profile.username.clone(),
        display_name: profile.display_name(),
        avatar: profile.avatar(),
        profile_url: Some(profile.profile_url()),
        connected_at,
        refreshed_at,
        expires_at,
        status: AccountStatus::Active,
    }
}

/// The absolute expiry of a received long-lived token.
pub fn expiry(token: &Received<LongLivedToken>) -> Option<Timestamp> {
    token
        .value
        .expires_at(token.received_at.unix())
        .map(Timestamp::from_unix)
}

/// When the stored token was received; older records fall back to their last refresh.
pub fn token_issued_at(record: &AccountRecord) -> Timestamp {
    record
        .extra_str(EXTRA_TOKEN_ISSUED_AT)
        .and_then(Timestamp::parse_rfc3339)
        .unwrap_or(record.account.refreshed_at)
}

/// Notes in `record` a token received at `received_at`, expiring at `expires_at`.
pub fn note_token(
    record: &mut AccountRecord,
    received_at: Timestamp,
    expires_at: Option<Timestamp>,
) {
    record.set_extra(EXTRA_TOKEN_ISSUED_AT, received_at.to_rfc3339());
    record.account.expires_at = expires_at;
}
