//! Session tokens as the reference PDS issues them: HS256 JWTs whose header `typ` says
//! what the token is for (`at+jwt` for access, `refresh+jwt` for refresh).
//!
//! Every token authority of the double (the entryway with its PDS fleet, and the
//! independent PDS) has its own random signing key, so a token minted by one is refused
//! by the other, as it would be upstream.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Header `typ` of an access token.
pub(crate) const ACCESS_TYP: &str = "at+jwt";
/// Header `typ` of a refresh token.
pub(crate) const REFRESH_TYP: &str = "refresh+jwt";
/// Scope of an access token obtained with the account's main password.
pub(crate) const SCOPE_ACCESS: &str = "com.atproto.access";
/// Scope of an access token obtained with an app password.
pub(crate) const SCOPE_APP_PASS: &str = "com.atproto.appPass";
/// Scope of the narrow access token a taken-down account gets with `allowTakendown`.
pub(crate) const SCOPE_TAKENDOWN: &str = "com.atproto.takendown";
/// Scope of a refresh token.
pub(crate) const SCOPE_REFRESH: &str = "com.atproto.refresh";

/// The claims the double puts in its tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Claims {
    pub scope: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jti: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    typ: String,
    alg: String,
}

/// Why a presented token was not accepted before its claims were looked at.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not three base64url parts with JSON header and claims.
    #[error("Malformed token")]
    Malformed,
    /// The signature does not match this authority's key, or `alg` is not HS256.
    #[error("Token could not be verified")]
    BadSignature,
}

/// One token authority's HS256 key.
pub(crate) struct SigningKey([u8; 32]);

impl SigningKey {
    /// A fresh random key.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// Mints a token with the given header `typ` and claims.
    pub fn sign(&self, typ: &str, claims: &Claims) -> String {
        let header = Header {
            typ: typ.to_owned(),
            alg: "HS256".to_owned(),
        };
        let header = URL_SAFE_NO_PAD.encode(json_bytes(&header));
        let payload = URL_SAFE_NO_PAD.encode(json_bytes(claims));
        let signing_input = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// Checks the signature and returns the header `typ` and the claims. Expiry and
    /// scope are the caller's business, since their errors differ per route.
    pub fn verify(&self, token: &str) -> Result<(String, Claims), TokenError> {
        let (header, claims, signing_input, signature) = split(token)?;
        if header.alg != "HS256" {
            return Err(TokenError::BadSignature);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.keyed();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        Ok((header.typ, claims))
    }

    fn keyed(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts a key of any length")
    }

    fn mac(&self, input: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    }
}

/// The header `typ` of a token, read without checking anything: for the request log.
pub(crate) fn peek_typ(token: &str) -> Option<String> {
    split(token).ok().map(|(header, ..)| header.typ)
}

/// The claims of a token, read without checking anything: for tests and the log.
pub(crate) fn peek_claims(token: &str) -> Option<Claims> {
    split(token).ok().map(|(_, claims, ..)| claims)
}

fn split(token: &str) -> Result<(Header, Claims, &str, &str), TokenError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    let header: Header = decode_part(header)?;
    let claims: Claims = decode_part(payload)?;
    Ok((header, claims, signing_input, signature))
}

fn decode_part<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain structs of strings and integers always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            scope: SCOPE_ACCESS.into(),
            sub: "did:plc:abc".into(),
            aud: "did:web:entryway.test".into(),
            iat: 1,
            exp: 2,
            jti: None,
        }
    }

    #[test]
    fn signed_token_verifies_with_its_key_only() {
        let key = SigningKey::random();
        let token = key.sign(ACCESS_TYP, &claims());
        assert_eq!(key.verify(&token), Ok((ACCESS_TYP.to_owned(), claims())));
        assert_eq!(
            SigningKey::random().verify(&token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_and_unsigned_tokens_are_refused() {
        let key = SigningKey::random();
        let token = key.sign(ACCESS_TYP, &claims());
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let mut other = claims();
        other.sub = "did:plc:mallory".into();
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(json_bytes(&other))
        );
        assert_eq!(key.verify(&forged), Err(TokenError::BadSignature));

        let none = URL_SAFE_NO_PAD.encode(br#"{"typ":"at+jwt","alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(json_bytes(&claims()));
        assert_eq!(
            key.verify(&format!("{none}.{payload}.")),
            Err(TokenError::BadSignature)
        );
        assert_eq!(key.verify("garbage"), Err(TokenError::Malformed));
    }
}
