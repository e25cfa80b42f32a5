//! Types for secrets, so that a stray `{:?}` or `{}` can never print one.
//!
//! Every token, password, code and verifier the connectors handle lives in one of these
//! newtypes. Their `Debug` and `Display` print `[redacted]`; the value is reached only
//! through [`expose_secret`](Secret::expose_secret), which makes each use visible in review.
//! Distinct types keep an access token from being passed where a refresh token is meant.

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Default)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Call it only where the value must leave the program
            /// (an `Authorization` header, a form field, the sealing cipher).
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Whether the value is empty.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}([redacted])", stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("[redacted]")
            }
        }

        /// Read from JSON (platform answers); there is deliberately no `Serialize`, so a
        /// secret cannot end up in an answer or a record except through sealing.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(deserializer).map(Self)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

secret_type!(
    /// A secret of no more specific kind (an operator secret, a sealed field's clear text).
    Secret
);
secret_type!(
    /// A platform access token (bearer credential for API calls).
    AccessToken
);
secret_type!(
    /// A platform refresh token (rotates on Bluesky).
    RefreshToken
);
secret_type!(
    /// A password typed by a person (a Bluesky app password).
    Password
);
secret_type!(
    /// An OAuth authorization code from a callback.
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier.
    PkceVerifier
);
secret_type!(
    /// An OAuth 1.0a token secret or an app's client secret.
    TokenSecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let token = AccessToken::new("eyJhbGciOiJIUzI1NiJ9.secret");
        assert_eq!(format!("{token}"), "[redacted]");
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        let wrapped = Some(Password::new("hunter2"));
        assert!(!format!("{wrapped:?}").contains("hunter2"));
        assert_eq!(token.expose_secret(), "eyJhbGciOiJIUzI1NiJ9.secret");
    }
}
