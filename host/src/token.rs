//! Minting bearer tokens (HS256 JWTs) for trying the API locally and for tests.
//!
//! The connectors accept `Authorization: Bearer <jwt>` signed with HS256 under
//! `access_token_secret` (its UTF-8 bytes), with the user id in `sub` and an `exp`.
//! [`mint_access_token`] makes such a token; [`sign`] signs any header and claims, which
//! tests use to make tokens the connectors must refuse.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Sha256, Sha384, Sha512};
use thiserror::Error;

/// Why a token could not be made.
#[derive(Debug, Error)]
pub enum TokenError {
    /// The user id is not 1–128 characters of `A–Z a–z 0–9 _ -`.
    #[error("a user id is 1 to 128 characters of A-Z, a-z, 0-9, `_` and `-`")]
    BadUserId,
    /// The system clock is before 1970.
    #[error("the system clock is not set")]
    Clock,
}

/// Whether `user` is a valid user id for the contract.
pub fn is_user_id(user: &str) -> bool {
    (1..=128).contains(&user.len())
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> Result<i64, TokenError> {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| TokenError::Clock)?;
    i64::try_from(elapsed.as_secs()).map_err(|_| TokenError::Clock)
}

/// An HS256 token for `user`, valid for `ttl_seconds` from now.
pub fn mint_access_token(
    user: &str,
    ttl_seconds: i64,
    secret: &[u8],
) -> Result<String, TokenError> {
    if !is_user_id(user) {
        return Err(TokenError::BadUserId);
    }
    let now = now_seconds()?;
    let claims = json!({ "sub": user, "iat": now, "exp": now.saturating_add(ttl_seconds) });
    Ok(sign(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &claims,
        secret,
    ))
}

fn mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Encodes `header.claims` and signs it according to the header's `alg`: `HS256`, `HS384`
/// and `HS512` are signed with `secret`; `none` (or anything else) gets an empty signature.
pub fn sign(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let input = format!("{}.{}", encode(header), encode(claims));
    let signature = match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => mac::<Hmac<Sha256>>(secret, input.as_bytes()),
        Some("HS384") => mac::<Hmac<Sha384>>(secret, input.as_bytes()),
        Some("HS512") => mac::<Hmac<Sha512>>(secret, input.as_bytes()),
        _ => Vec::new(),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hs256_signature_matches_an_independent_computation() {
        // Expected value computed with Python's hmac/hashlib over the same bytes.
        let token = sign(
            &json!({"alg": "HS256", "typ": "JWT"}),
            &json!({"sub": "u"}),
            b"secret",
        );
        assert_eq!(
            token,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1In0.\
             D9OYCASOic8f2se0l70pQbnYe4k4FisxamL3OAU6LCc"
        );
    }

    #[test]
    fn minted_token_carries_sub_iat_exp() {
        let token = mint_access_token("user_1-A", 3600, b"k").unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["sub"], "user_1-A");
        let iat = claims["iat"].as_i64().unwrap();
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);
    }

    #[test]
    fn none_algorithm_has_an_empty_signature() {
        let token = sign(&json!({"alg": "none"}), &json!({"sub": "u"}), b"k");
        assert!(token.ends_with('.'));
    }

    #[test]
    fn refuses_bad_user_ids() {
        assert!(mint_access_token("", 1, b"k").is_err());
        assert!(mint_access_token("a/b", 1, b"k").is_err());
        assert!(mint_access_token(&"a".repeat(129), 1, b"k").is_err());
        assert!(is_user_id(&"a".repeat(128)));
    }
}
