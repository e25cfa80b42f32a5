//! OAuth 1.0a request signing (RFC 5849) with HMAC-SHA1, the only method Tumblr accepts.
//!
//! A [`Signer`] holds the client credentials, the token credentials of the step (none for
//! the request token, the temporary ones for the access token, the access token for API
//! calls), the step's extra parameter (`oauth_callback` or `oauth_verifier`), a nonce and a
//! timestamp. [`Signer::sign`] takes a [`Request`] and answers a [`SignedRequest`]: the
//! `Authorization: OAuth …` header value, plus the base string for tests and diagnostics.
//!
//! The pieces follow the RFC's sections: [`encode`] (§3.6 percent-encoding), [`base_string`]
//! (§3.4.1 base-string URI, parameter collection and normalization), and here the signing
//! key (§3.4.2: `enc(consumer secret) & enc(token secret)`, the `&` always present) and the
//! header (§3.5.1).
//!
//! Nonce and timestamp are inputs, so signing is a pure function the unit tests pin to the
//! published vectors; the connector supplies fresh ones for every request.
//!
//! ```
//! use hayon_tumblr::oauth1::{ConsumerSecret, Request, Signer};
//!
//! let secret = ConsumerSecret::new("kd94hf93k423kf44");
//! let signed = Signer::new("dpf43f3p2l4k3l03", &secret, "wIjqoS", 137131200)
//!     .callback("http://printer.example.com/ready")
//!     .sign(&Request::new("POST", "https://photos.example.net/initiate"))
//!     .expect("a valid URL");
//! assert_eq!(signed.signature(), "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
//! ```

pub mod base_string;
pub mod encode;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub use encode::percent_encode;

/// Why a request could not be signed. Carries no credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The request URL is not an absolute `scheme://host/path` URL.
    #[error("cannot sign a request to this URL: {reason}")]
    InvalidUrl {
        /// What is wrong with the URL.
        reason: &'static str,
    },
}

/// Declares a string newtype for a credential whose `Debug` prints `[redacted]` and which
/// has no `Display`, so a stray log line cannot leak it.
macro_rules! redacted_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps the secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value, for signing or sealing; never log it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

redacted_string!(
    /// The application's consumer secret (`tumblr_consumer_secret`).
    ConsumerSecret
);
redacted_string!(
    /// The secret of a temporary (request) token or of an access token.
    TokenSecret
);
redacted_string!(
    /// The public half of a temporary or access token (`oauth_token`). Not a secret on its
    /// own, but together with a leaked secret it signs requests; kept out of logs too.
    OAuthToken
);

impl From<String> for OAuthToken {
    fn from(value: String) -> Self {
        Self(value)
    }
}

redacted_string!(
    /// The `oauth_verifier` Tumblr hands back through the user's browser.
    Verifier
);

/// A token and its secret: the temporary credentials at the access-token step, the token
/// credentials for API calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCredentials {
    /// The public token (`oauth_token`).
    pub token: OAuthToken,
    /// Its secret, the second half of the signing key.
    pub secret: TokenSecret,
}

/// The HTTP request being signed: only what enters the signature.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    method: &'a str,
    url: &'a str,
    content_type: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request without a body; the URL's query parameters are signed.
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Self {
            method,
            url,
            content_type: None,
            body: &[],
        }
    }

    /// Adds the body and its `Content-Type`; it is signed only when it is
    /// `application/x-www-form-urlencoded`.
    pub fn with_body(mut self, content_type: &'a str, body: &'a [u8]) -> Self {
        self.content_type = Some(content_type);
        self.body = body;
        self
    }
}

/// Signs requests for one OAuth step. Build one per request: the nonce must not repeat.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    consumer_key: &'a str,
    consumer_secret: &'a ConsumerSecret,
    token: Option<&'a TokenCredentials>,
    callback: Option<&'a str>,
    verifier: Option<&'a Verifier>,
    realm: Option<&'a str>,
    nonce: &'a str,
    timestamp: u64,
    version: bool,
}

impl<'a> Signer<'a> {
    /// A signer for the client credentials, with this request's nonce and timestamp
    /// (Unix seconds). `oauth_version` is left out; see [`Signer::version`].
    pub fn new(
        consumer_key: &'a str,
        consumer_secret: &'a ConsumerSecret,
        nonce: &'a str,
        timestamp: u64,
    ) -> Self {
        Self {
            consumer_key,
            consumer_secret,
            token: None,
            callback: None,
            verifier: None,
            realm: None,
            nonce,
            timestamp,
            version: false,
        }
    }

    /// Signs with a token (`oauth_token`) and its secret.
    pub fn token(mut self, token: &'a TokenCredentials) -> Self {
        self.token = Some(token);
        self
    }

    /// Adds `oauth_callback`, for the request-token step.
    pub fn callback(mut self, callback: &'a str) -> Self {
        self.callback = Some(callback);
        self
    }

    /// Adds `oauth_verifier`, for the access-token step.
    pub fn verifier(mut self, verifier: &'a Verifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Adds a `realm` to the header; it is never signed.
    pub fn realm(mut self, realm: &'a str) -> Self {
        self.realm = Some(realm);
        self
    }

    /// Whether to send (and sign) the optional `oauth_version="1.0"`.
    pub fn version(mut self, send: bool) -> Self {
        self.version = send;
        self
    }

    /// The `oauth_*` protocol parameters, without the signature, sorted by name.
    fn protocol_parameters(&self) -> Vec<(&'static str, String)> {
        let mut parameters = Vec::with_capacity(8);
        if let Some(callback) = self.callback {
            parameters.push(("oauth_callback", callback.to_owned()));
        }
        parameters.push(("oauth_consumer_key", self.consumer_key.to_owned()));
        parameters.push(("oauth_nonce", self.nonce.to_owned()));
        parameters.push(("oauth_signature_method", "HMAC-SHA1".to_owned()));
        parameters.push(("oauth_timestamp", self.timestamp.to_string()));
        if let Some(token) = self.token {
            parameters.push(("oauth_token", token.token.expose().to_owned()));
        }
        if let Some(verifier) = self.verifier {
            parameters.push(("oauth_verifier", verifier.expose().to_owned()));
        }
        if self.version {
            parameters.push(("oauth_version", "1.0".to_owned()));
        }
        parameters
    }

    /// Signs `request`.
    pub fn sign(&self, request: &Request<'_>) -> Result<SignedRequest, SignError> {
        let protocol = self.protocol_parameters();
        let borrowed: Vec<(&str, &str)> = protocol
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let parameters = base_string::collect_parameters(
            request.url,
            &borrowed,
            request.content_type,
            request.body,
        )?;
        let base_string =
            base_string::signature_base_string(request.method, request.url, parameters)?;

        let token_secret = self.token.map_or("", |token| token.secret.expose());
        let signature = hmac_sha1_base64(self.consumer_secret.expose(), token_secret, &base_string);

        let mut header = String::from("OAuth ");
        let mut fields: Vec<String> = Vec::with_capacity(protocol.len() + 2);
        if let Some(realm) = self.realm {
            fields.push(format!("realm=\"{}\"", percent_encode(realm)));
        }
        fields.extend(
            protocol
                .iter()
                .map(|(name, value)| format!("{name}=\"{}\"", percent_encode(value))),
        );
        fields.push(format!(
            "oauth_signature=\"{}\"",
            percent_encode(&signature)
        ));
        header.push_str(&fields.join(", "));

        Ok(SignedRequest {
            base_string,
            signature,
            authorization: AuthorizationHeader(header),
        })
    }
}

/// The signing key of RFC 5849 §3.4.2: both secrets encoded, joined by `&` even when the
/// token secret is empty.
fn signing_key(consumer_secret: &str, token_secret: &str) -> String {
    format!(
        "{}&{}",
        percent_encode(consumer_secret),
        percent_encode(token_secret)
    )
}

/// Base64 of HMAC-SHA1 over `base_string` with the signing key of the two secrets.
fn hmac_sha1_base64(consumer_secret: &str, token_secret: &str, base_string: &str) -> String {
    let key = signing_key(consumer_secret, token_secret);
    // HMAC accepts keys of any length (long ones are hashed), so this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC-SHA1 accepts keys of every length");
    mac.update(base_string.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// An `Authorization: OAuth …` header value. It carries the verifier at the access-token
/// step, so its `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationHeader(String);

impl AuthorizationHeader {
    /// The header value to send; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationHeader {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("AuthorizationHeader([redacted])")
    }
}

/// The result of signing one request.
#[derive(Clone)]
pub struct SignedRequest {
    base_string: String,
    signature: String,
    authorization: AuthorizationHeader,
}

impl SignedRequest {
    /// The `Authorization` header value: `OAuth oauth_consumer_key="…", …`.
    pub fn authorization(&self) -> &AuthorizationHeader {
        &self.authorization
    }

    /// The signature base string (contains the verifier at the access-token step: do not
    /// log it).
    pub fn base_string(&self) -> &str {
        &self.base_string
    }

    /// The Base64 `oauth_signature`, before header encoding.
    pub fn signature(&self) -> &str {
        &self.signature
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The base string and header may carry the verifier; the signature alone is safe.
        formatter
            .debug_struct("SignedRequest")
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
