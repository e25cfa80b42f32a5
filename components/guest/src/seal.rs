//! Sealing secrets before they reach the key-value store.
//!
//! Tokens and secrets are encrypted with XChaCha20-Poly1305 under the operator's key
//! (`token_encryption_key`), with a fresh random 192-bit nonce per value, and with
//! associated data that names where the value is stored (the storage key plus the field).
//! A sealed value copied to another key or field, a tampered one, or one opened with
//! another key fails to open; it never decrypts to garbage. A missing or malformed key is
//! a `not_configured` error: nothing is ever stored in clear.
//!
//! Sealed text format: `v1.` followed by unpadded URL-safe base64 of nonce ‖ ciphertext.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::ApiError;
use crate::secret::Secret;

/// Prefix of the sealed-text format version 1.
const FORMAT_V1: &str = "v1.";
/// XChaCha20 nonce length in bytes.
const NONCE_LEN: usize = 24;
/// Environment name of the key setting, for messages.
const KEY_SETTING: &str = "TOKEN_ENCRYPTION_KEY";

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The text is not in the sealed format.
    #[error("sealed value is malformed")]
    Malformed,
    /// Authentication failed: wrong key, wrong storage location, or tampering.
    #[error("sealed value does not open with this key at this location")]
    Unauthentic,
    /// The random source failed.
    #[error("no randomness available for a nonce")]
    Random,
}

impl From<SealError> for ApiError {
    fn from(error: SealError) -> Self {
        ApiError::internal(format!("sealing: {error}"))
    }
}

/// The operator's 32-byte sealing key. `Debug` redacts it.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

impl SealingKey {
    /// Parses the operator's key: 32 bytes written as 64 hex digits or as base64 (standard
    /// or URL-safe, with or without padding). Surrounding whitespace is ignored.
    pub fn parse(text: &Secret) -> Result<Self, ApiError> {
        let text = text.expose_secret().trim();
        if text.is_empty() {
            return Err(ApiError::not_configured(KEY_SETTING, "is not set"));
        }
        let bytes = decode_hex(text)
            .or_else(|| {
                [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                    .iter()
                    .find_map(|engine| engine.decode(text).ok())
            })
            .ok_or_else(|| ApiError::not_configured(KEY_SETTING, "is not valid hex or base64"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            ApiError::not_configured(KEY_SETTING, "must decode to exactly 32 bytes")
        })?;
        Ok(Self(key))
    }

    /// Builds a key from raw bytes (tests, derived keys).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes, for deriving other keys (see `state.rs`).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Seals `plaintext` for storage at `location` (storage key and field).
    pub fn seal(&self, location: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Random)?;
        let payload = Payload {
            msg: plaintext,
            aad: location.as_bytes(),
        };
        let ciphertext = self
            .cipher()
            .encrypt(&XNonce::from(nonce), payload)
            .map_err(|_| SealError::Malformed)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(format!("{FORMAT_V1}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Opens a value sealed for `location`.
    pub fn open(&self, location: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let encoded = sealed.strip_prefix(FORMAT_V1).ok_or(SealError::Malformed)?;
        let blob = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| SealError::Malformed)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
        let payload = Payload {
            msg: ciphertext,
            aad: location.as_bytes(),
        };
        self.cipher()
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| SealError::Unauthentic)
    }

    /// Seals a text secret.
    pub fn seal_str(&self, location: &str, secret: &str) -> Result<String, SealError> {
        self.seal(location, secret.as_bytes())
    }

    /// Opens a text secret.
    pub fn open_str(&self, location: &str, sealed: &str) -> Result<Secret, SealError> {
        let bytes = self.open(location, sealed)?;
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| SealError::Malformed)
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealingKey {
        SealingKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip() {
        let sealed = key(1)
            .seal_str("accounts/bluesky/u1#access", "tok")
            .unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("tok"));
        let opened = key(1)
            .open_str("accounts/bluesky/u1#access", &sealed)
            .unwrap();
        assert_eq!(opened.expose_secret(), "tok");
    }

    #[test]
    fn nonces_differ_per_seal() {
        let a = key(1).seal_str("k", "same").unwrap();
        let b = key(1).seal_str("k", "same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = key(1).seal_str("k", "tok").unwrap();
        assert_eq!(
            key(2).open_str("k", &sealed).unwrap_err(),
            SealError::Unauthentic
        );
    }

    #[test]
    fn other_location_fails() {
        let sealed = key(1)
            .seal_str("accounts/bluesky/alice#refresh", "tok")
            .unwrap();
        let moved = key(1).open_str("accounts/bluesky/mallory#refresh", &sealed);
        assert_eq!(moved.unwrap_err(), SealError::Unauthentic);
    }

    #[test]
    fn tampering_fails() {
        let sealed = key(1).seal_str("k", "token value").unwrap();
        let mut blob = URL_SAFE_NO_PAD.decode(&sealed[3..]).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(blob));
        assert_eq!(
            key(1).open_str("k", &tampered).unwrap_err(),
            SealError::Unauthentic
        );
        assert_eq!(
            key(1).open_str("k", "v1.AAAA").unwrap_err(),
            SealError::Malformed
        );
        assert_eq!(
            key(1).open_str("k", "plain token").unwrap_err(),
            SealError::Malformed
        );
    }

    #[test]
    fn key_formats() {
        let raw: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let forms = [
            hex.clone(),
            hex.to_uppercase(),
            STANDARD.encode(raw),
            STANDARD_NO_PAD.encode(raw),
            URL_SAFE.encode(raw),
            format!("  {}\n", URL_SAFE_NO_PAD.encode(raw)),
        ];
        for form in forms {
            let parsed = SealingKey::parse(&Secret::new(form.clone())).unwrap();
            assert_eq!(parsed.bytes(), &raw, "{form}");
        }
    }

    #[test]
    fn bad_keys_are_not_configured() {
        for bad in [
            "",
            "   ",
            "abc",
            &"ab".repeat(31),
            &STANDARD.encode([0u8; 16]),
            "zz!!",
        ] {
            let error = SealingKey::parse(&Secret::new(bad)).unwrap_err();
            assert_eq!(error.code(), "not_configured", "{bad:?}");
        }
    }
}
