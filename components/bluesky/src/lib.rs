//! The Bluesky connector component.
//!
//! Bluesky (the AT Protocol) connects with what a person types: a handle, e-mail address
//! or DID, and an App Password. The connector normalizes the identifier
//! ([`identifier`]), finds the account's own PDS ([`identity`]), logs in with
//! `createSession`, keeps the session sealed in the key-value store, rotates it with
//! `refreshSession`, and ends it with `deleteSession` ([`session`], over [`xrpc`]).
//! Everything else — routes, bearer tokens, the envelope, storage, sealing — comes from
//! `hayon-guest`.
//!
//! Configuration: `bluesky_service_url` (the default service: entryway, e-mail logins and
//! handle resolution; `https://bsky.social`) and `bluesky_plc_url` (the PLC directory;
//! `https://plc.directory`), plus the shared keys every connector reads.

pub mod identifier;
pub mod identity;
pub mod session;
pub mod xrpc;

use hayon_guest::{
    Account, ApiError, AuthKind, BeginOutcome, Connector, Credentials, DisconnectOutcome, Env,
    Platform, UserId,
};

/// Platform id in routes and storage keys.
pub const PLATFORM_ID: &str = "bluesky";
/// Platform name for people.
pub const PLATFORM_NAME: &str = "Bluesky";
/// Config key of the default service URL.
pub const SERVICE_URL: &str = "bluesky_service_url";
/// Config key of the PLC directory URL.
pub const PLC_URL: &str = "bluesky_plc_url";
/// The default service used when none is configured.
pub const DEFAULT_SERVICE_URL: &str = "https://bsky.social";
/// The PLC directory used when none is configured.
pub const DEFAULT_PLC_URL: &str = "https://plc.directory";

/// The Bluesky connector.
pub struct Bluesky;

impl Connector for Bluesky {
    const PLATFORM: Platform = Platform {
        id: PLATFORM_ID,
        name: PLATFORM_NAME,
        auth: AuthKind::Credentials,
        account_platforms: &[PLATFORM_ID],
        redirect_field: "",
    };

    fn begin(
        env: &Env,
        user: &UserId,
        credentials: Option<Credentials>,
    ) -> Result<BeginOutcome, ApiError> {
        let credentials = credentials.ok_or_else(|| {
            ApiError::invalid_field(
                identifier::FIELD,
                "Bluesky connects with your handle and an App Password.",
            )
        })?;
        session::connect(env, user, &credentials).map(BeginOutcome::Connected)
    }

    fn refresh(env: &Env, user: &UserId) -> Result<Vec<Account>, ApiError> {
        session::refresh(env, user)
    }

    fn disconnect(env: &Env, user: &UserId) -> Result<DisconnectOutcome, ApiError> {
        session::disconnect(env, user)
    }
}

hayon_guest::export_connector!(Bluesky);
