//! The OAuth scopes we ask a Mastodon instance for.
//!
//! `MASTODON_SCOPES` is space separated like Mastodon's own `scope` parameter; commas and
//! `+` are accepted too, since operators copy scopes from many places. They must be a
//! subset of the scopes the app was registered with, or the instance refuses the
//! authorization.

/// The scopes asked for when none are configured.
pub const DEFAULT_SCOPES: &str = "read write push";

/// A normalized, non-empty list of scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Reads the configured scopes; empty or absent configuration gives
    /// [`DEFAULT_SCOPES`]. Duplicates are dropped, order is kept.
    pub fn from_config(configured: Option<&str>) -> Self {
        let mut scopes: Vec<String> = Vec::new();
        for scope in configured
            .unwrap_or_default()
            .split([' ', ',', '+', '\t', '\n'])
        {
            if !scope.is_empty() && !scopes.iter().any(|known| known == scope) {
                scopes.push(scope.to_owned());
            }
        }
        if scopes.is_empty() {
            return Self::from_config(Some(DEFAULT_SCOPES));
        }
        Self(scopes)
    }

    /// The value of the `scope` parameter: scopes joined by single spaces (the URL
    /// encoding turns each space into `%20`).
    pub fn as_param(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scopes_when_unset_or_blank() {
        assert_eq!(Scopes::from_config(None).as_param(), "read write push");
        assert_eq!(
            Scopes::from_config(Some("   ")).as_param(),
            "read write push"
        );
    }

    #[test]
    fn configured_scopes_are_normalized() {
        assert_eq!(
            Scopes::from_config(Some("  write:statuses  write:media,profile+profile ")).as_param(),
            "write:statuses write:media profile"
        );
    }
}
