//! PKCE (RFC 7636) as Mastodon 4.3+ checks it: `S256` only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The `S256` challenge of a verifier: `BASE64URL(SHA-256(verifier))` without padding.
///
/// Tests can use it to build authorization URLs by hand.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge` under `method`. Doorkeeper also knows `plain`,
/// but Mastodon only lets `S256` through `/oauth/authorize`, so any other method fails.
pub(crate) fn verifier_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    method == "S256" && s256_challenge(verifier) == challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_7636_example() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(verifier_matches("S256", CHALLENGE, VERIFIER));
    }

    #[test]
    fn a_different_verifier_or_method_fails() {
        assert!(!verifier_matches(
            "S256",
            CHALLENGE,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"
        ));
        assert!(!verifier_matches("plain", VERIFIER, VERIFIER));
        assert!(!verifier_matches("s256", CHALLENGE, VERIFIER));
    }
}
