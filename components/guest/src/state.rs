//! OAuth `state` and other pending authorizations: unforgeable, bound, expiring, single-use.
//!
//! `connect` on a redirect platform calls [`issue`]: it draws a random 128-bit id, stores a
//! [`PendingAuthorization`] at `pending/<platform>/<id>` (the user, the expiry, and sealed
//! extras such as the PKCE verifier), and returns `state` = base64url(id ‖ tag), where the
//! tag is HMAC-SHA256 over platform and id under a key derived from the operator's
//! `token_encryption_key`. `callback` calls [`consume`]: it checks the tag (a forged or
//! other-platform state fails without touching storage), loads the record, checks platform
//! and expiry, and then consumes it with a compare-and-swap to a "consumed" marker before
//! deleting it — so of two concurrent callbacks with the same state exactly one wins, and a
//! replayed callback URL finds nothing.
//!
//! Tumblr's callback carries its request token instead of a state: [`issue_keyed`] and
//! [`consume_keyed`] do the same keyed by an HMAC of that token (the token itself never
//! becomes a storage key).
//!
//! Limitation: a pending record whose callback never comes stays in the store (a few
//! hundred bytes); it is refused once expired but not swept.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::UserId;
use crate::env::Env;
use crate::error::ApiError;
use crate::seal::SealingKey;
use crate::secret::{PkceVerifier, Secret};
use crate::time::Timestamp;

/// How long a state stays valid: 10 minutes (the contract allows up to 15; authorization
/// codes live about 10).
pub const STATE_TTL_SECONDS: i64 = 600;
const ID_LEN: usize = 16;
const TAG_LEN: usize = 16;
const RECORD_VERSION: u32 = 1;

/// A pending authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PendingRecord {
    v: u32,
    platform: String,
    user: UserId,
    created_at: Timestamp,
    expires_at: Timestamp,
    /// Sealed JSON object of the extras (`None` when there are none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extras: Option<String>,
    #[serde(default)]
    consumed: bool,
}

/// A pending authorization recovered by a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// The user who began the connection.
    pub user: UserId,
    /// When the connection was begun.
    pub created_at: Timestamp,
    /// The extras stored at `issue` (PKCE verifier, request-token secret…).
    pub extras: BTreeMap<String, Secret>,
}

/// Why a state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// Unknown, forged, for another platform, expired, or already used.
    #[error("state is unknown, forged, expired or already used")]
    Invalid,
    /// Storage or configuration failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Creates a pending authorization for `user` on `platform` and returns its `state`.
pub fn issue(
    env: &Env,
    platform: &str,
    user: &UserId,
    extras: &BTreeMap<String, Secret>,
) -> Result<String, ApiError> {
    let key = env.config.sealing_key()?;
    let id: [u8; ID_LEN] = random_bytes()?;
    let tag = state_tag(&key, platform, &id);
    store_pending(
        env,
        &key,
        &pending_key(platform, &id),
        platform,
        user,
        extras,
    )?;
    let mut token = Vec::with_capacity(ID_LEN + TAG_LEN);
    token.extend_from_slice(&id);
    token.extend_from_slice(&tag);
    Ok(URL_SAFE_NO_PAD.encode(token))
}

/// Checks and consumes `state` for `platform`, returning whom it belongs to.
pub fn consume(env: &Env, platform: &str, state: &str) -> Result<PendingAuthorization, StateError> {
    let key = env.config.sealing_key()?;
    let bytes = URL_SAFE_NO_PAD
        .decode(state.trim())
        .map_err(|_| StateError::Invalid)?;
    if bytes.len() != ID_LEN + TAG_LEN {
        return Err(StateError::Invalid);
    }
    let (id, tag) = bytes.split_at(ID_LEN);
    // Constant-time check of the truncated tag (its length was checked above).
    state_mac(&key, platform, id)
        .verify_truncated_left(tag)
        .map_err(|_| StateError::Invalid)?;
    take_pending(env, &key, &pending_key(platform, id), platform)
}

/// Creates a pending authorization found later by `lookup` (Tumblr's request token).
pub fn issue_keyed(
    env: &Env,
    platform: &str,
    lookup: &str,
    user: &UserId,
    extras: &BTreeMap<String, Secret>,
) -> Result<(), ApiError> {
    let key = env.config.sealing_key()?;
    let id = keyed_id(&key, platform, lookup);
    store_pending(
        env,
        &key,
        &pending_key(platform, &id),
        platform,
        user,
        extras,
    )
}

/// Consumes the pending authorization created for `lookup`.
pub fn consume_keyed(
    env: &Env,
    platform: &str,
    lookup: &str,
) -> Result<PendingAuthorization, StateError> {
    let key = env.config.sealing_key()?;
    let id = keyed_id(&key, platform, lookup);
    take_pending(env, &key, &pending_key(platform, &id), platform)
}

/// Checks, without consuming it, that a live pending authorization exists for `lookup`, so
/// that a callback can tell an unknown token from a server problem before it needs
/// anything else; [`consume_keyed`] still decides who wins.
pub fn check_keyed(env: &Env, platform: &str, lookup: &str) -> Result<(), StateError> {
    let key = env.config.sealing_key()?;
    let id = keyed_id(&key, platform, lookup);
    read_live(env, &pending_key(platform, &id), platform).map(|_| ())
}

fn store_pending(
    env: &Env,
    key: &SealingKey,
    storage_key: &str,
    platform: &str,
    user: &UserId,
    extras: &BTreeMap<String, Secret>,
) -> Result<(), ApiError> {
    let now = env.now();
    let extras = if extras.is_empty() {
        None
    } else {
        let clear: BTreeMap<&str, &str> = extras
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose_secret()))
            .collect();
        let json = serde_json::to_vec(&clear)
            .map_err(|error| ApiError::internal(format!("encoding extras: {error}")))?;
        Some(key.seal(storage_key, &json)?)
    };
    let record = PendingRecord {
        v: RECORD_VERSION,
        platform: platform.to_owned(),
        user: user.clone(),
        created_at: now,
        expires_at: now.plus_seconds(STATE_TTL_SECONDS),
        extras,
        consumed: false,
    };
    let bytes = serde_json::to_vec(&record)
        .map_err(|error| ApiError::internal(format!("encoding pending record: {error}")))?;
    // The id is fresh randomness (or an HMAC of a fresh token), so the key is new; a CAS
    // against "absent" makes sure nothing is overwritten even so.
    if !env.store.compare_and_swap(storage_key, None, &bytes)? {
        return Err(ApiError::internal(format!("{storage_key}: already exists")));
    }
    Ok(())
}

fn take_pending(
    env: &Env,
    key: &SealingKey,
    storage_key: &str,
    platform: &str,
) -> Result<PendingAuthorization, StateError> {
    let (raw, record) = read_live(env, storage_key, platform)?;

    let consumed = PendingRecord {
        consumed: true,
        extras: None,
        ..record.clone()
    };
    let consumed = serde_json::to_vec(&consumed)
        .map_err(|error| ApiError::internal(format!("encoding pending record: {error}")))?;
    if !env
        .store
        .compare_and_swap(storage_key, Some(&raw), &consumed)
        .map_err(ApiError::from)?
    {
        return Err(StateError::Invalid);
    }
    // The marker already makes the state unusable; deleting it is tidiness.
    if let Err(error) = env.store.delete(storage_key) {
        tracing::warn!(key = storage_key, %error, "could not delete a consumed state");
    }

    let extras = match &record.extras {
        None => BTreeMap::new(),
        Some(sealed) => {
            let json = key.open(storage_key, sealed).map_err(ApiError::from)?;
            let clear: BTreeMap<String, String> = serde_json::from_slice(&json)
                .map_err(|error| ApiError::internal(format!("pending extras: {error}")))?;
            clear
                .into_iter()
                .map(|(name, value)| (name, Secret::new(value)))
                .collect()
        }
    };
    Ok(PendingAuthorization {
        user: record.user,
        created_at: record.created_at,
        extras,
    })
}

/// The stored bytes and record at `storage_key` when it is a live (unconsumed, unexpired)
/// pending authorization of `platform`; an expired one is deleted.
fn read_live(
    env: &Env,
    storage_key: &str,
    platform: &str,
) -> Result<(Vec<u8>, PendingRecord), StateError> {
    let raw = env
        .store
        .get(storage_key)
        .map_err(ApiError::from)?
        .ok_or(StateError::Invalid)?;
    let record: PendingRecord = serde_json::from_slice(&raw).map_err(|_| StateError::Invalid)?;
    if record.v != RECORD_VERSION || record.platform != platform || record.consumed {
        return Err(StateError::Invalid);
    }
    if env.now() >= record.expires_at {
        env.store.delete(storage_key).map_err(ApiError::from)?;
        return Err(StateError::Invalid);
    }
    Ok((raw, record))
}

fn pending_key(platform: &str, id: &[u8]) -> String {
    let hex: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("pending/{platform}/{hex}")
}

/// The state key: HMAC-SHA256(operator key, purpose), so the sealing key itself is never
/// used for two jobs.
fn state_mac(key: &SealingKey, platform: &str, id: &[u8]) -> Hmac<Sha256> {
    let derived = derive(key, b"hayon/state/v1");
    let mut mac = mac(&derived);
    mac.update(platform.as_bytes());
    mac.update(b"\n");
    mac.update(id);
    mac
}

fn state_tag(key: &SealingKey, platform: &str, id: &[u8]) -> [u8; TAG_LEN] {
    let full = state_mac(key, platform, id).finalize().into_bytes();
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&full[..TAG_LEN]);
    tag
}

fn keyed_id(key: &SealingKey, platform: &str, lookup: &str) -> [u8; ID_LEN] {
    let derived = derive(key, b"hayon/pending-key/v1");
    let mut mac = mac(&derived);
    mac.update(platform.as_bytes());
    mac.update(b"\n");
    mac.update(lookup.as_bytes());
    let full = mac.finalize().into_bytes();
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&full[..ID_LEN]);
    id
}

fn derive(key: &SealingKey, purpose: &[u8]) -> [u8; 32] {
    let mut mac = mac(key.bytes());
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length")
}

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|error| ApiError::internal(format!("random source: {error}")))?;
    Ok(bytes)
}

/// A PKCE (RFC 7636) pair with the S256 method.
#[derive(Debug, Clone)]
pub struct Pkce {
    /// The verifier, kept server-side (sealed in the pending record).
    pub verifier: PkceVerifier,
    /// The challenge sent in the authorization URL (`code_challenge_method=S256`).
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair: 32 random bytes as a 43-character base64url verifier.
    pub fn generate() -> Result<Self, ApiError> {
        let verifier = PkceVerifier::new(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?));
        let challenge = pkce_challenge(&verifier);
        Ok(Self {
            verifier,
            challenge,
        })
    }
}

/// The S256 challenge of `verifier`: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::KeyValue;
    use crate::testing::{InterleavedStore, TestEnv};

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn extras() -> BTreeMap<String, Secret> {
        BTreeMap::from([("pkce_verifier".to_owned(), Secret::new("verifier-123"))])
    }

    #[test]
    fn issue_then_consume_returns_user_and_extras() {
        let test = TestEnv::new();
        let env = test.env();
        let state = issue(&env, "mastodon", &user("u1"), &extras()).unwrap();
        assert_eq!(state.len(), 43);
        let stored = test.store.keys();
        assert_eq!(stored.len(), 1);
        let raw = String::from_utf8(test.store.get(&stored[0]).unwrap().unwrap()).unwrap();
        assert!(
            !raw.contains("verifier-123"),
            "extras must be sealed: {raw}"
        );

        let pending = consume(&env, "mastodon", &state).unwrap();
        assert_eq!(pending.user, user("u1"));
        assert_eq!(
            pending.extras["pkce_verifier"].expose_secret(),
            "verifier-123"
        );
        assert!(test.store.keys().is_empty(), "consumed state is deleted");
    }

    #[test]
    fn replay_is_refused() {
        let test = TestEnv::new();
        let env = test.env();
        let state = issue(&env, "threads", &user("u1"), &BTreeMap::new()).unwrap();
        assert!(consume(&env, "threads", &state).is_ok());
        assert_eq!(
            consume(&env, "threads", &state).unwrap_err(),
            StateError::Invalid
        );
    }

    #[test]
    fn concurrent_consumers_cannot_both_win() {
        // Another callback with the same state completes between our read and our swap.
        let test = TestEnv::new();
        let state = issue(&test.env(), "threads", &user("u1"), &BTreeMap::new()).unwrap();
        let rival_env = test.env();
        let rival_state = state.clone();
        let rival_won = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = rival_won.clone();
        let racing = InterleavedStore::new(test.store.clone(), move || {
            let won = consume(&rival_env, "threads", &rival_state).is_ok();
            flag.store(won, std::sync::atomic::Ordering::SeqCst);
        });
        let env = test.env_with_store(racing);
        assert_eq!(
            consume(&env, "threads", &state).unwrap_err(),
            StateError::Invalid
        );
        assert!(rival_won.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn tampered_state_is_refused() {
        let test = TestEnv::new();
        let env = test.env();
        let state = issue(&env, "facebook", &user("u1"), &BTreeMap::new()).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&state).unwrap();
        bytes[0] ^= 0x01;
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            consume(&env, "facebook", &forged).unwrap_err(),
            StateError::Invalid
        );
        for junk in ["", "u1", "not base64 !!", &"A".repeat(43), &state[..42]] {
            assert_eq!(
                consume(&env, "facebook", junk).unwrap_err(),
                StateError::Invalid
            );
        }
        assert!(
            consume(&env, "facebook", &state).is_ok(),
            "the real state still works"
        );
    }

    #[test]
    fn state_for_another_platform_is_refused() {
        let test = TestEnv::new();
        let env = test.env();
        let state = issue(&env, "facebook", &user("u1"), &BTreeMap::new()).unwrap();
        assert_eq!(
            consume(&env, "threads", &state).unwrap_err(),
            StateError::Invalid
        );
        assert!(consume(&env, "facebook", &state).is_ok());
    }

    #[test]
    fn state_from_another_operator_key_is_refused() {
        let test = TestEnv::new();
        let state = issue(&test.env(), "threads", &user("u1"), &BTreeMap::new()).unwrap();
        test.config_set("token_encryption_key", &"11".repeat(32));
        assert_eq!(
            consume(&test.env(), "threads", &state).unwrap_err(),
            StateError::Invalid
        );
    }

    #[test]
    fn expired_state_is_refused() {
        let test = TestEnv::new();
        let env = test.env();
        let state = issue(&env, "mastodon", &user("u1"), &BTreeMap::new()).unwrap();
        test.clock.advance(STATE_TTL_SECONDS);
        assert_eq!(
            consume(&env, "mastodon", &state).unwrap_err(),
            StateError::Invalid
        );
        assert!(test.store.keys().is_empty(), "expired record removed");
    }

    #[test]
    fn state_just_before_expiry_works() {
        let test = TestEnv::new();
        let env = test.env();
        let state = issue(&env, "mastodon", &user("u1"), &BTreeMap::new()).unwrap();
        test.clock.advance(STATE_TTL_SECONDS - 1);
        assert!(consume(&env, "mastodon", &state).is_ok());
    }

    #[test]
    fn keyed_pending_authorizations() {
        let test = TestEnv::new();
        let env = test.env();
        let secret = BTreeMap::from([("token_secret".to_owned(), Secret::new("rts"))]);
        issue_keyed(&env, "tumblr", "request-token-1", &user("u7"), &secret).unwrap();
        assert!(!test.store.keys()[0].contains("request-token-1"));
        assert_eq!(
            consume_keyed(&env, "tumblr", "request-token-2").unwrap_err(),
            StateError::Invalid
        );
        assert_eq!(
            check_keyed(&env, "tumblr", "request-token-2"),
            Err(StateError::Invalid)
        );
        // Checking does not consume.
        assert_eq!(check_keyed(&env, "tumblr", "request-token-1"), Ok(()));
        assert_eq!(check_keyed(&env, "tumblr", "request-token-1"), Ok(()));
        assert_eq!(
            check_keyed(&env, "mastodon", "request-token-1"),
            Err(StateError::Invalid)
        );
        let pending = consume_keyed(&env, "tumblr", "request-token-1").unwrap();
        assert_eq!(pending.user, user("u7"));
        assert_eq!(pending.extras["token_secret"].expose_secret(), "rts");
        assert_eq!(
            consume_keyed(&env, "tumblr", "request-token-1").unwrap_err(),
            StateError::Invalid
        );
        assert_eq!(
            check_keyed(&env, "tumblr", "request-token-1"),
            Err(StateError::Invalid)
        );
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let pkce = Pkce::generate().unwrap();
        assert_eq!(pkce.verifier.expose_secret().len(), 43);
        assert_eq!(pkce.challenge, pkce_challenge(&pkce.verifier));
    }
}
