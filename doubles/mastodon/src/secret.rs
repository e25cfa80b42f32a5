//! A string that must not end up in logs: client secrets, access tokens, codes.
//!
//! The double hands such values to tests (they need them to configure the product or to
//! call the API directly), but a stray `{:?}` in a test's output should not print them.

use std::fmt;

/// A secret value (client secret, access token). `Debug` and `Display` print
/// `[redacted]`; [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for configuring the product or building a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_do_not_show_the_value() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!secret.to_string().contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2");
    }
}
