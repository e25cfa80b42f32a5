//! Tokens as the doubles issued them, for tests that inspect or compare them.

/// A token the double issued, as tests may inspect it.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token itself.
    pub token: String,
    /// Its kind.
    pub kind: crate::TokenKind,
    /// The app it was issued to.
    pub app_id: String,
    /// The user it was issued to.
    pub user_id: String,
    /// The Page, for Page tokens.
    pub page_id: Option<String>,
    /// Granted permissions.
    pub scopes: Vec<String>,
    /// Issue time (double clock, Unix seconds).
    pub issued_at: i64,
    /// Expiry (Unix seconds); `None` never expires.
    pub expires_at: Option<i64>,
    /// False once expired, revoked or killed.
    pub valid: bool,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("kind", &self.kind)
            .field("app_id", &self.app_id)
            .field("user_id", &self.user_id)
            .field("page_id", &self.page_id)
            .field("scopes", &self.scopes)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("valid", &self.valid)
            .finish()
    }
}
