//! Connecting, refreshing and disconnecting a Bluesky account: the stored session.
//!
//! The account record keeps the session's two tokens sealed (`access_token`,
//! `refresh_token`), the PDS the DID document names (`pds`), and the profile fields people
//! see. It is keyed by DID, never by handle (handles change).
//!
//! Rotation is the delicate part. `refreshSession` rotates both tokens, and the old refresh
//! token dies after a grace period. Two refreshes can run at once (two tabs, a scheduler
//! and a person), so the new pair is written with compare-and-swap against the record that
//! was read, before anything uses it. The loser never overwrites the winner: if the stored
//! refresh token is no longer the one it used, it adopts the stored (newer) session; if the
//! record changed in other ways it retries the write. A refusal of the old token when a
//! newer one is stored is not a dead account either. Only when the token we hold is still
//! the stored one and Bluesky refuses it for good is the account marked
//! `reconnect_required`.

use hayon_guest::account::{AccountSnapshot, AccountStatus};
use hayon_guest::secret::{AccessToken, RefreshToken};
use hayon_guest::{
    Account, AccountRecord, AccountStore, ApiError, Credentials, DisconnectOutcome, Env,
    UpstreamFailure, UserId,
};
use serde_json::Value;

use crate::identifier::{Identifier, clean_app_password, parse_did};
use crate::identity::{Directory, claims_handle};
use crate::xrpc::{self, Profile, Session};
use crate::{PLATFORM_ID, PLATFORM_NAME};

/// Sealed field of the access token.
const ACCESS_TOKEN: &str = "access_token";
/// Sealed field of the refresh token.
const REFRESH_TOKEN: &str = "refresh_token";
/// Extra holding the PDS base URL.
const PDS: &str = "pds";
/// How often a rotation retries its write when the record changed but not its tokens.
const WRITE_ATTEMPTS: usize = 8;

/// Logs in with typed credentials, stores the session, and returns the account.
pub fn connect(
    env: &Env,
    user: &UserId,
    credentials: &Credentials,
) -> Result<Vec<Account>, ApiError> {
    let identifier = Identifier::parse(&credentials.identifier)?;
    let password = clean_app_password(&credentials.password)?;
    let directory = Directory::load(env)?;
    // Without a sealing key the session could not be stored: refuse before the password
    // goes anywhere.
    env.config.sealing_key()?;
    // A handle or DID is resolved to its published DID document before the password goes
    // anywhere; the login goes to the PDS that document names.
    let resolved = match &identifier {
        Identifier::Handle(handle) => {
            let did = directory.resolve_handle(env, handle)?;
            Some(Resolved::fetch(env, &directory, did)?)
        }
        Identifier::Did(did) => Some(Resolved::fetch(env, &directory, did.clone())?),
        // An e-mail address cannot be resolved: the default service is the only option.
        Identifier::Email(_) => None,
    };
    let login_pds = resolved
        .as_ref()
        .map_or_else(|| directory.service.clone(), |r| r.pds.clone());

    let session = xrpc::create_session(env, &login_pds, identifier.as_str(), &password)
        .map_err(xrpc::login_error)?;
    let Ok(did) = parse_did(&session.did.to_lowercase()) else {
        end_session_quietly(env, &login_pds, &session.refresh_jwt);
        return Err(ApiError::internal("createSession answered a malformed DID"));
    };
    // The session must be the identity that was resolved: a server answering for another
    // account is refused (and that session ended), never stored under this person.
    if resolved.as_ref().is_some_and(|r| r.did != did) {
        end_session_quietly(env, &login_pds, &session.refresh_jwt);
        return Err(identity_mismatch());
    }
    if session.active == Some(false) {
        end_session_quietly(env, &login_pds, &session.refresh_jwt);
        return Err(xrpc::inactive_error(session.status.as_deref()));
    }
    // The PDS and the handle come from the DID document published for the DID — for an
    // e-mail login, fetched now for the DID the session named — never from the session's
    // own `didDoc`, which the answering server writes.
    let resolved = match resolved {
        Some(resolved) => resolved,
        None => match Resolved::fetch(env, &directory, did.clone()) {
            Ok(resolved) => resolved,
            Err(error) => {
                end_session_quietly(env, &login_pds, &session.refresh_jwt);
                return Err(error);
            }
        },
    };
    let pds = resolved.pds.clone();

    let profile = match xrpc::get_profile(env, &pds, &session.access_jwt, &did) {
        Ok(profile) => Some(profile),
        // The session is good; the profile is cosmetic. Connect now, show the handle, and
        // let the next refresh fill in the name and avatar.
        Err(failure) if !xrpc::is_dead(&failure) => {
            let status = failure.status;
            tracing::warn!(
                platform = PLATFORM_ID,
                ?status,
                "profile unavailable at connect"
            );
            None
        }
        Err(failure) => {
            end_session_quietly(env, &pds, &session.refresh_jwt);
            return Err(xrpc::login_error(failure));
        }
    };

    let store = AccountStore::new(env, PLATFORM_ID, user);
    let now = env.now();
    let previous = store
        .load()?
        .and_then(|snapshot| bluesky_record(&snapshot.accounts).cloned());
    let mut record = AccountRecord::new(Account {
        platform: PLATFORM_ID.to_owned(),
        account_id: did.clone(),
        handle: resolved.verified_handle(&session.handle),
        display_name: None,
        avatar: None,
        profile_url: None,
        connected_at: now,
        refreshed_at: now,
        expires_at: None,
        status: AccountStatus::Active,
    });
    apply_profile(&mut record, profile.as_ref(), Some(&resolved.doc));
    record.set_extra(PDS, pds);
    store.seal(
        &mut record,
        ACCESS_TOKEN,
        session.access_jwt.expose_secret(),
    )?;
    store.seal(
        &mut record,
        REFRESH_TOKEN,
        session.refresh_jwt.expose_secret(),
    )?;
    // A (re)connect replaces whatever was stored: one Bluesky account per user.
    let accounts = store.save_connection(vec![record])?;
    tracing::info!(platform = PLATFORM_ID, user = %user, account = %did, "connected");
    // The replaced session would otherwise stay valid upstream until it expires.
    if let Some(previous) = previous {
        let _ = end_session(env, &store, &previous);
    }
    Ok(accounts)
}

/// Rotates the session, re-reads the profile, and returns the account.
pub fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
    let store = AccountStore::new(env, PLATFORM_ID, user);
    let snapshot = store.load()?.ok_or_else(not_connected)?;
    let record = bluesky_record(&snapshot.accounts).ok_or_else(not_connected)?;
    if record.account.status == AccountStatus::ReconnectRequired {
        return Err(ApiError::ReconnectRequired {
            message: "Bluesky no longer accepts Hayon's session for this account. Connect the \
                      account again."
                .into(),
        });
    }

    let directory = Directory::load(env)?;
    let mut current = rotate(env, &store, snapshot)?;
    let did = current.record.account.account_id.clone();
    let mut result = xrpc::get_profile(
        env,
        &stored_pds(&current.record, &directory),
        &current.access,
        &did,
    );
    if result.as_ref().is_err_and(xrpc::is_expired_access) {
        // The access token we hold expired already (clock skew, or an adopted session
        // that was older than it looked): rotate once more and retry once.
        let snapshot = store.load()?.ok_or_else(not_connected)?;
        current = rotate(env, &store, snapshot)?;
        result = xrpc::get_profile(
            env,
            &stored_pds(&current.record, &directory),
            &current.access,
            &did,
        );
    }
    let profile = match result {
        Ok(profile) => profile,
        Err(failure) => return Err(stored_failure(&store, &current.record, failure)),
    };

    // A new handle is shown only once the DID's published document claims it.
    let doc = if profile.handle.to_lowercase() == current.record.account.handle {
        None
    } else {
        directory.fetch_document(env, &did).ok()
    };
    let now = env.now();
    store
        .refresh_account(&did, |record| {
            apply_profile(record, Some(&profile), doc.as_ref());
            record.account.refreshed_at = now;
            Ok(())
        })?
        .ok_or_else(not_connected)
}

/// Ends the session upstream (best effort) and deletes the stored account.
pub fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
    let store = AccountStore::new(env, PLATFORM_ID, user);
    let Some(snapshot) = store.load()? else {
        return Ok(DisconnectOutcome::without_revocation(0));
    };
    let removed = snapshot.accounts.len();
    let revocation = match bluesky_record(&snapshot.accounts) {
        Some(record) => end_session(env, &store, record),
        None => Ok(()),
    };
    // Ours goes whatever Bluesky said.
    store.delete()?;
    let revoked = revocation.is_ok();
    tracing::info!(platform = PLATFORM_ID, user = %user, removed, revoked, "disconnected");
    Ok(DisconnectOutcome::after_revocation(removed, revocation))
}

/// `Ok` when the session is over upstream (ended now, or already dead); otherwise what to
/// tell the person.
fn end_session(env: &Env, store: &AccountStore<'_>, record: &AccountRecord) -> Result<(), String> {
    let unconfirmed = "Bluesky did not confirm ending the session. You can revoke the App \
                       Password in Bluesky (Settings → Privacy and security → App passwords)."
        .to_owned();
    let pds = match Directory::load(env) {
        Ok(directory) => stored_pds(record, &directory),
        Err(_) => return Err(unconfirmed),
    };
    let refresh = match store.open(record, REFRESH_TOKEN) {
        Ok(Some(secret)) => RefreshToken::new(secret.expose_secret()),
        _ => return Err(unconfirmed),
    };
    match xrpc::delete_session(env, &pds, &refresh) {
        Ok(()) => Ok(()),
        // Expired or revoked already: the session is over either way.
        Err(failure)
            if matches!(
                failure.error.as_deref(),
                Some("ExpiredToken" | "InvalidToken")
            ) =>
        {
            Ok(())
        }
        Err(failure) => {
            let (status, error) = (failure.status, failure.error);
            tracing::warn!(
                platform = PLATFORM_ID,
                ?status,
                ?error,
                "deleteSession failed"
            );
            Err(unconfirmed)
        }
    }
}

fn end_session_quietly(env: &Env, pds: &str, refresh: &RefreshToken) {
    if let Err(failure) = xrpc::delete_session(env, pds, refresh) {
        let status = failure.status;
        tracing::warn!(
            platform = PLATFORM_ID,
            ?status,
            "could not end an unused session"
        );
    }
}

/// The session to use after a rotation: ours if we stored it, or the newer one another
/// request stored first.
struct Current {
    /// The record as stored, with this session sealed in it.
    record: AccountRecord,
    access: AccessToken,
}

impl Current {
    fn from_stored(store: &AccountStore<'_>, record: &AccountRecord) -> Result<Self, ApiError> {
        Ok(Self {
            record: record.clone(),
            access: store.open_required(record, ACCESS_TOKEN)?,
        })
    }
}

/// Rotates the session read in `snapshot` and stores the new pair before returning it.
fn rotate(
    env: &Env,
    store: &AccountStore<'_>,
    snapshot: AccountSnapshot,
) -> Result<Current, ApiError> {
    let record = bluesky_record(&snapshot.accounts)
        .ok_or_else(not_connected)?
        .clone();
    let used = sealed_refresh(&record)?;
    let refresh: RefreshToken = store.open_required(&record, REFRESH_TOKEN)?;
    let directory = Directory::load(env)?;
    let pds = stored_pds(&record, &directory);

    match xrpc::refresh_session(env, &pds, &refresh) {
        Ok(session) => {
            let did = &record.account.account_id;
            if !session.did.eq_ignore_ascii_case(did) {
                return Err(identity_mismatch());
            }
            // A session whose DID document names another PDS suggests the account moved;
            // the move is believed only when the published document says so.
            let hinted = session
                .did_doc
                .as_ref()
                .and_then(|doc| directory.pds_in(doc, did));
            let moved_to = match hinted {
                Some(hint) if hint != pds => directory.resolve_pds(env, did).ok(),
                _ => None,
            };
            store_rotation(store, snapshot, &used, session, moved_to)
        }
        Err(failure) if xrpc::is_dead(&failure) => {
            // Marks the account only if the refused token is still the stored one.
            let error = stored_failure(store, &record, failure);
            adopt_newer(store, &used)?.ok_or(error)
        }
        Err(failure) => Err(xrpc::stored_error(failure)),
    }
}

/// Writes the rotated session unless another request already stored a newer one.
fn store_rotation(
    store: &AccountStore<'_>,
    mut snapshot: AccountSnapshot,
    used: &str,
    session: Session,
    moved_to: Option<String>,
) -> Result<Current, ApiError> {
    for _ in 0..WRITE_ATTEMPTS {
        let record = bluesky_record(&snapshot.accounts).ok_or_else(not_connected)?;
        if sealed_refresh(record)? != used {
            // Someone else rotated first: theirs is the session now; ours is not stored.
            tracing::info!(
                platform = PLATFORM_ID,
                "concurrent refresh won; using its session"
            );
            return Current::from_stored(store, record);
        }
        let mut next_record = record.clone();
        store.seal(
            &mut next_record,
            ACCESS_TOKEN,
            session.access_jwt.expose_secret(),
        )?;
        store.seal(
            &mut next_record,
            REFRESH_TOKEN,
            session.refresh_jwt.expose_secret(),
        )?;
        // Bluesky just accepted the session: it is alive, whatever a concurrent refresh
        // that lost the race to it concluded and wrote in the meantime.
        next_record.account.status = AccountStatus::Active;
        if let Some(pds) = &moved_to {
            next_record.set_extra(PDS, pds.clone());
        }
        let next: Vec<AccountRecord> = snapshot
            .accounts
            .iter()
            .map(|r| {
                if r.account.account_id == record.account.account_id {
                    next_record.clone()
                } else {
                    r.clone()
                }
            })
            .collect();
        if store.replace_if_unchanged(Some(&snapshot), &next)? {
            return Ok(Current {
                record: next_record,
                access: session.access_jwt,
            });
        }
        snapshot = store.load()?.ok_or_else(not_connected)?;
    }
    Err(ApiError::internal(
        "Bluesky session write kept losing to other writes",
    ))
}

/// Handles stored credentials Bluesky refused: the account is marked
/// `reconnect_required` only if `used` — the record whose session was refused — is still
/// the stored session (a concurrent refresh may have rotated it, or the person reconnected).
/// Returns the error to answer.
fn stored_failure(
    store: &AccountStore<'_>,
    used: &AccountRecord,
    failure: UpstreamFailure,
) -> ApiError {
    if !xrpc::is_dead(&failure) {
        return xrpc::stored_error(failure);
    }
    if let Err(error) = store.mark_reconnect_required(&[used]) {
        tracing::error!(platform = PLATFORM_ID, %error, "could not mark the account");
    }
    tracing::info!(platform = PLATFORM_ID, error = ?failure.error, "stored session refused");
    xrpc::stored_error(failure)
}

/// The stored session, if it is newer than the one identified by `used`.
fn adopt_newer(store: &AccountStore<'_>, used: &str) -> Result<Option<Current>, ApiError> {
    let Some(snapshot) = store.load()? else {
        return Ok(None);
    };
    match bluesky_record(&snapshot.accounts) {
        Some(record)
            if sealed_refresh(record)? != used
                && record.account.status == AccountStatus::Active =>
        {
            tracing::info!(
                platform = PLATFORM_ID,
                "old token refused but a newer session is stored"
            );
            Current::from_stored(store, record).map(Some)
        }
        _ => Ok(None),
    }
}

/// The PDS stored with the account (the default service for a record without one).
fn stored_pds(record: &AccountRecord, directory: &Directory) -> String {
    record
        .extra_str(PDS)
        .map_or_else(|| directory.service.clone(), str::to_owned)
}

fn sealed_refresh(record: &AccountRecord) -> Result<String, ApiError> {
    record
        .credentials
        .get(REFRESH_TOKEN)
        .cloned()
        .ok_or_else(|| ApiError::internal("stored Bluesky account has no refresh token"))
}

fn bluesky_record(records: &[AccountRecord]) -> Option<&AccountRecord> {
    records
        .iter()
        .find(|record| record.account.platform == PLATFORM_ID)
}

fn not_connected() -> ApiError {
    ApiError::NotConnected {
        platform: PLATFORM_NAME.to_owned(),
    }
}

/// Copies the profile's display fields: empty names and avatars are none; a handle other
/// than the stored one is taken only when `doc` (the DID's published document) claims it,
/// and is `handle.invalid` when `doc` is there and does not; the profile URL uses the
/// handle, or the DID when the handle failed verification.
fn apply_profile(record: &mut AccountRecord, profile: Option<&Profile>, doc: Option<&Value>) {
    if let Some(profile) = profile {
        let handle = profile.handle.to_lowercase();
        if handle != record.account.handle
            && let Some(doc) = doc
        {
            record.account.handle = verified_handle(doc, &handle);
        }
        record.account.display_name = non_empty(profile.display_name.as_deref());
        record.account.avatar = non_empty(profile.avatar.as_deref());
    }
    let account = &mut record.account;
    let path = if account.handle == HANDLE_INVALID || account.handle.is_empty() {
        account.account_id.clone()
    } else {
        account.handle.clone()
    };
    account.profile_url = Some(format!("https://bsky.app/profile/{path}"));
}

/// The handle shown when the DID document does not claim the one a server gave.
const HANDLE_INVALID: &str = "handle.invalid";

/// `handle` in lower case when the DID document `doc` claims it (`alsoKnownAs`), else
/// [`HANDLE_INVALID`] — Bluesky's own marker for a handle that failed verification, so the
/// account is shown by its DID rather than under a name it may not own.
fn verified_handle(doc: &Value, handle: &str) -> String {
    let handle = handle.to_lowercase();
    if claims_handle(doc, &handle) {
        handle
    } else {
        HANDLE_INVALID.to_owned()
    }
}

/// A DID with its published document and the PDS that document names.
struct Resolved {
    did: String,
    doc: Value,
    pds: String,
}

impl Resolved {
    fn fetch(env: &Env, directory: &Directory, did: String) -> Result<Self, ApiError> {
        let doc = directory.fetch_document(env, &did)?;
        let pds = directory.pds_from(&doc, &did)?;
        Ok(Self { did, doc, pds })
    }

    fn verified_handle(&self, handle: &str) -> String {
        verified_handle(&self.doc, handle)
    }
}

/// A server answered for another identity than the one resolved or stored. This is 502
/// `upstream_unavailable`, not 422 `invalid_credentials`: the person's entry was fine and
/// retyping it cannot help; the server (or one impersonating it) misbehaved.
fn identity_mismatch() -> ApiError {
    ApiError::UpstreamUnavailable {
        message: "Bluesky's server answered for a different account than the one entered, so \
                  Hayon did not connect it. Try again later."
            .into(),
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}
