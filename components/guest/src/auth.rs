//! Bearer-token checking: who is calling.
//!
//! Every route but `callback` carries `Authorization: Bearer <JWT>`, signed HS256 with the
//! operator's `access_token_secret`. The user id is the `sub` claim and becomes part of
//! storage keys, so it must be a [`UserId`]. Any failure — no header, another scheme, a
//! malformed token, another algorithm (including `none` and RS256), a bad signature, a
//! missing or past `exp`, a bad `sub` — is the same `unauthorized`.
//!
//! The JWT parsing, algorithm pinning and claim checks are `jsonwebtoken`'s. Its signature
//! code is pluggable; we install a provider that knows HS256 only ([`Hs256Provider`]), built
//! on `hmac` + `sha2`, so the RSA, ECDSA and EdDSA code of its `rust_crypto` provider never
//! reaches the component (that provider costs hundreds of KB of WebAssembly and verifies
//! algorithms we refuse anyway).

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::secret::Secret;

/// Allowed clock skew when checking `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// A validated user id: 1–128 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Validates a user id.
    pub fn parse(value: &str) -> Result<Self, InvalidUserId> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if value.is_empty() || value.len() > 128 || !value.chars().all(valid_char) {
            return Err(InvalidUserId);
        }
        Ok(Self(value.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for UserId {
    type Error = InvalidUserId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0
    }
}

/// A user id that is not 1–128 characters of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a user id is 1 to 128 characters of A-Z, a-z, 0-9, _ and -")]
pub struct InvalidUserId;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(deserialize_with = "whole_seconds")]
    exp: u64,
}

/// A NumericDate (RFC 7519 §2) as whole seconds: an integer, or a JSON number with a
/// fraction, floored. Negative, non-finite and non-numeric values are refused.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(seconds) = number.as_u64() {
        return Ok(seconds);
    }
    match number.as_f64() {
        // `as` saturates: a date past u64's range is "never", as a huge integer would be.
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds.floor() as u64),
        _ => Err(serde::de::Error::custom("exp is not a NumericDate")),
    }
}

/// Checks an `Authorization` header value and returns the user it names.
///
/// `now` is the current Unix time in seconds.
pub fn authenticate(
    authorization: Option<&str>,
    secret: &Secret,
    now: u64,
) -> Result<UserId, ApiError> {
    let token = authorization
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    verify_token(token, secret, now).ok_or(ApiError::Unauthorized)
}

fn verify_token(token: &str, secret: &Secret, now: u64) -> Option<UserId> {
    install_provider();
    let key = DecodingKey::from_secret(secret.expose_secret().as_bytes()).ok()?;
    let mut validation = Validation::new(Algorithm::HS256);
    // The contract asks for HS256, `exp` and `sub` only: an `aud` claim (which
    // jsonwebtoken would refuse, having no audience to compare it with) is not our
    // concern. `exp` is required by `Claims`, which also reads a fractional one;
    // jsonwebtoken's own check would take only an integer.
    validation.set_required_spec_claims(&["sub"]);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).ok()?;
    // `exp` is checked here against the caller's clock rather than by jsonwebtoken (which
    // reads the system clock), so tests can choose the time.
    if data.claims.exp.saturating_add(LEEWAY_SECONDS) <= now {
        return None;
    }
    UserId::parse(&data.claims.sub).ok()
}

/// Signs a bearer token for `sub` expiring at `exp` (tests, local tooling).
pub fn issue_token(sub: &str, exp: u64, secret: &Secret) -> Result<String, ApiError> {
    install_provider();
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes())
        .map_err(|error| ApiError::internal(format!("jwt key: {error}")))?;
    let claims = Claims {
        sub: sub.to_owned(),
        exp,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|error| ApiError::internal(format!("jwt encode: {error}")))
}

fn install_provider() {
    // Fails only when a provider is already installed (ours, on a second call), which is
    // what we want either way.
    let _ = HS256_PROVIDER.install_default();
}

/// jsonwebtoken's crypto hooks, knowing HS256 only; every other algorithm is refused.
static HS256_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: Hs256Provider::signer,
    verifier_factory: Hs256Provider::verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// HMAC-SHA256 signing and verification for jsonwebtoken.
pub struct Hs256Provider(Hmac<Sha256>);

impl Hs256Provider {
    fn new(algorithm: &Algorithm, secret: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        if *algorithm != Algorithm::HS256 {
            return Err(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm.into());
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
        Ok(Self(mac))
    }

    fn signer(
        algorithm: &Algorithm,
        key: &EncodingKey,
    ) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
        Ok(Box::new(Self::new(algorithm, key.as_bytes())?))
    }

    fn verifier(
        algorithm: &Algorithm,
        key: &DecodingKey,
    ) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
        Ok(Box::new(Self::new(algorithm, key.try_get_as_bytes()?)?))
    }
}

impl signature::Signer<Vec<u8>> for Hs256Provider {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256Provider {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(message);
        // Constant-time comparison.
        mac.verify_slice(tag).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256Provider {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256Provider {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn secret() -> Secret {
        Secret::new("test-access-token-secret")
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn check(header: &str) -> Result<UserId, ApiError> {
        authenticate(Some(header), &secret(), NOW)
    }

    fn forge(header_json: &str, claims_json: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(claims_json),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    fn hs256(message: &str, key: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn valid_token_names_the_user() {
        let token = issue_token("64b7f0c2e1a4c3d2b1a09f8e", NOW + 600, &secret()).unwrap();
        assert_eq!(
            check(&bearer(&token)).unwrap().as_str(),
            "64b7f0c2e1a4c3d2b1a09f8e"
        );
        assert!(check(&format!("bearer   {token} ")).is_ok());
    }

    #[test]
    fn missing_or_other_scheme_is_unauthorized() {
        assert_eq!(
            authenticate(None, &secret(), NOW),
            Err(ApiError::Unauthorized)
        );
        let token = issue_token("u1", NOW + 600, &secret()).unwrap();
        assert_eq!(
            check(&format!("Basic {token}")),
            Err(ApiError::Unauthorized)
        );
        assert_eq!(check("Bearer "), Err(ApiError::Unauthorized));
        assert_eq!(check("Bearer not.a.jwt"), Err(ApiError::Unauthorized));
        assert_eq!(check(&token), Err(ApiError::Unauthorized));
    }

    #[test]
    fn expired_token_is_unauthorized() {
        let token = issue_token("u1", NOW - 3600, &secret()).unwrap();
        assert_eq!(check(&bearer(&token)), Err(ApiError::Unauthorized));
        let just_expired = issue_token("u1", NOW - LEEWAY_SECONDS, &secret()).unwrap();
        assert_eq!(check(&bearer(&just_expired)), Err(ApiError::Unauthorized));
    }

    fn signed(claims: &str) -> String {
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = hs256(&message, b"test-access-token-secret");
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn an_audience_claim_is_ignored() {
        for aud in [r#""hayon""#, r#"["a","b"]"#] {
            let token = signed(&format!(
                r#"{{"sub":"u1","exp":{},"aud":{aud}}}"#,
                NOW + 600
            ));
            assert_eq!(check(&bearer(&token)).map(String::from), Ok("u1".into()));
        }
    }

    #[test]
    fn a_fractional_exp_is_floored() {
        let live = signed(&format!(r#"{{"sub":"u1","exp":{}.75}}"#, NOW + 600));
        assert_eq!(check(&bearer(&live)).map(String::from), Ok("u1".into()));
        let floored_away = format!(r#"{{"sub":"u1","exp":{}.9}}"#, NOW - LEEWAY_SECONDS);
        assert_eq!(
            check(&bearer(&signed(&floored_away))),
            Err(ApiError::Unauthorized)
        );
        for exp in ["-1.5", r#""1900000000""#, "null", "1e400"] {
            let token = signed(&format!(r#"{{"sub":"u1","exp":{exp}}}"#));
            assert_eq!(check(&bearer(&token)), Err(ApiError::Unauthorized), "{exp}");
        }
    }

    #[test]
    fn missing_exp_is_unauthorized() {
        let header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let claims = r#"{"sub":"u1"}"#;
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let token = format!(
            "{message}.{}",
            URL_SAFE_NO_PAD.encode(hs256(&message, b"test-access-token-secret"))
        );
        assert_eq!(check(&bearer(&token)), Err(ApiError::Unauthorized));
    }

    #[test]
    fn bad_signature_is_unauthorized() {
        let other = issue_token("u1", NOW + 600, &Secret::new("another secret")).unwrap();
        assert_eq!(check(&bearer(&other)), Err(ApiError::Unauthorized));
        let good = issue_token("u1", NOW + 600, &secret()).unwrap();
        let (head, _) = good.rsplit_once('.').unwrap();
        let swapped_claims = forge(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &format!(r#"{{"sub":"admin","exp":{}}}"#, NOW + 600),
            &URL_SAFE_NO_PAD
                .decode(good.rsplit_once('.').unwrap().1)
                .unwrap(),
        );
        assert_eq!(check(&bearer(&swapped_claims)), Err(ApiError::Unauthorized));
        assert_eq!(
            check(&bearer(&format!("{head}."))),
            Err(ApiError::Unauthorized)
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        let claims = format!(r#"{{"sub":"u1","exp":{}}}"#, NOW + 600);
        let none = forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, b"");
        assert_eq!(check(&bearer(&none)), Err(ApiError::Unauthorized));
        let none_dot = format!("{}.", none.trim_end_matches('.'));
        assert_eq!(check(&bearer(&none_dot)), Err(ApiError::Unauthorized));
        // RS256 "signed" with the HMAC secret (the classic key-confusion attack).
        for alg in ["RS256", "HS384", "HS512", "ES256", "EdDSA"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(&header),
                URL_SAFE_NO_PAD.encode(&claims)
            );
            let token = format!(
                "{message}.{}",
                URL_SAFE_NO_PAD.encode(hs256(&message, b"test-access-token-secret"))
            );
            assert_eq!(check(&bearer(&token)), Err(ApiError::Unauthorized), "{alg}");
        }
    }

    #[test]
    fn bad_sub_is_unauthorized() {
        for sub in ["", "../other", "a b", "ü", &"x".repeat(129), "u1/../../x"] {
            let token = issue_token(sub, NOW + 600, &secret()).unwrap();
            assert_eq!(
                check(&bearer(&token)),
                Err(ApiError::Unauthorized),
                "{sub:?}"
            );
        }
        let max = "A-_z9".repeat(25) + "abc";
        let token = issue_token(&max, NOW + 600, &secret()).unwrap();
        assert!(check(&bearer(&token)).is_ok());
    }

    #[test]
    fn user_id_syntax() {
        assert!(UserId::parse("550e8400-e29b-41d4-a716-446655440000").is_ok());
        assert!(UserId::parse("64b7f0c2e1a4c3d2b1a09f8e").is_ok());
        assert!(UserId::parse("a/b").is_err());
        assert!(UserId::parse("a.b").is_err());
    }
}
