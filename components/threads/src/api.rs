//! Threads' answers, as we read them: tokens, the profile, and the ids in them.
//!
//! Threads user ids exceed 2^53 and the code exchange has returned `user_id` as a JSON
//! number. An id is therefore read as the exact text the platform sent ([`GraphId`], shared
//! with the other Meta APIs), never through a floating-point number; the account id we
//! store comes from `/me`.

use hayon_guest::oauth2::meta::GraphId;
use hayon_guest::secret::AccessToken;
use hayon_guest::time::Timestamp;
use serde::Deserialize;

/// The scopes we ask for, comma separated as Threads wants them.
pub const SCOPES: &str = "threads_basic,threads_content_publish,threads_manage_insights";

/// The profile fields read from `/v1.0/me`.
pub const PROFILE_FIELDS: &str =
    "id,username,name,threads_profile_picture_url,threads_biography,is_verified";

/// Token age from which Threads accepts `th_refresh_token` (24 hours).
pub const REFRESH_MIN_AGE_SECONDS: i64 = 24 * 60 * 60;

/// The code exchange's answer: a short-lived (one hour) token.
#[derive(Debug, Deserialize)]
pub struct ShortLivedToken {
    /// The short-lived token; only ever exchanged for a long-lived one.
    pub access_token: AccessToken,
    /// The user id, exact; may be absent.
    #[serde(default)]
    pub user_id: Option<GraphId>,
}

/// The answer of `th_exchange_token` and `th_refresh_token`: a long-lived (~60 days) token.
#[derive(Debug, Deserialize)]
pub struct LongLivedToken {
    /// The long-lived token, which is also its own refresh credential.
    pub access_token: AccessToken,
    /// Seconds until it expires, counted from our receipt of the answer.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl LongLivedToken {
    /// The absolute expiry (seconds since the epoch): receipt time plus `expires_in`, which
    /// is taken as at most [`Timestamp::MAX_LIFETIME_SECONDS`].
    pub fn expires_at(&self, received_at_unix: i64) -> Option<i64> {
        let lifetime = i64::try_from(self.expires_in?).unwrap_or(i64::MAX);
        Some(
            Timestamp::from_unix(received_at_unix)
                .plus_lifetime(lifetime)
                .unix(),
        )
    }
}

/// The profile `/v1.0/me` describes.
#[derive(Debug, Deserialize)]
pub struct Profile {
    /// The app-scoped user id.
    pub id: GraphId,
    /// The user name (the same as on Instagram).
    pub username: String,
    /// The display name, when set.
    #[serde(default)]
    pub name: Option<String>,
    /// The profile picture, when set.
    #[serde(default)]
    pub threads_profile_picture_url: Option<String>,
}

impl Profile {
    /// The display name when it says something.
    pub fn display_name(&self) -> Option<String> {
        non_empty(self.name.as_deref())
    }

    /// The avatar URL when there is one.
    pub fn avatar(&self) -> Option<String> {
        non_empty(self.threads_profile_picture_url.as_deref())
    }

    /// The public profile page.
    pub fn profile_url(&self) -> String {
        format!("https://www.threads.com/@{}", self.username)
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// Whether a token obtained at `token_issued_at` may be refreshed at `now` (both seconds
/// since the epoch): Threads refuses `th_refresh_token` for tokens younger than 24 hours.
pub fn refresh_due(token_issued_at: i64, now: i64) -> bool {
    now.saturating_sub(token_issued_at) >= REFRESH_MIN_AGE_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_above_2_pow_53_is_kept_exactly() {
        let body = br#"{"access_token":"short","user_id":17841405822304914123}"#;
        let token: ShortLivedToken = serde_json::from_slice(body).expect("parses");
        assert_eq!(
            token.user_id.as_ref().map(GraphId::as_str),
            Some("17841405822304914123")
        );
        let near_limit = br#"{"access_token":"short","user_id":9007199254740993}"#;
        let token: ShortLivedToken = serde_json::from_slice(near_limit).expect("parses");
        assert_eq!(
            token.user_id.as_ref().map(GraphId::as_str),
            Some("9007199254740993")
        );
        assert!(!format!("{token:?}").contains("short"));
    }

    #[test]
    fn user_id_as_a_string_or_absent() {
        let token: ShortLivedToken =
            serde_json::from_slice(br#"{"access_token":"t","user_id":"9007199254740993"}"#)
                .expect("parses");
        assert_eq!(
            token.user_id.as_ref().map(GraphId::as_str),
            Some("9007199254740993")
        );
        let token: ShortLivedToken =
            serde_json::from_slice(br#"{"access_token":"t"}"#).expect("parses");
        assert_eq!(token.user_id, None);
    }

    #[test]
    fn ids_that_are_not_digits_are_refused() {
        for body in [
            r#"{"id":1.5e20,"username":"a"}"#,
            r#"{"id":"12a","username":"a"}"#,
            r#"{"id":-3,"username":"a"}"#,
            r#"{"id":null,"username":"a"}"#,
        ] {
            assert!(serde_json::from_str::<Profile>(body).is_err(), "{body}");
        }
    }

    #[test]
    fn profile_with_and_without_optional_fields() {
        let full: Profile = serde_json::from_slice(
            br#"{"id":"25025320285412345","username":"alice","name":"Alice",
                "threads_profile_picture_url":"https://cdn.example/a.jpg",
                "threads_biography":"hi","is_verified":false}"#,
        )
        .expect("parses");
        assert_eq!(full.id.as_str(), "25025320285412345");
        assert_eq!(full.display_name().as_deref(), Some("Alice"));
        assert_eq!(full.avatar().as_deref(), Some("https://cdn.example/a.jpg"));
        assert_eq!(full.profile_url(), "https://www.threads.com/@alice");

        let bare: Profile =
            serde_json::from_slice(br#"{"id":25025320285412345678,"username":"bob","name":""}"#)
                .expect("parses");
        assert_eq!(bare.id.as_str(), "25025320285412345678");
        assert_eq!(bare.display_name(), None);
        assert_eq!(bare.avatar(), None);
    }

    #[test]
    fn expiry_is_receipt_time_plus_lifetime() {
        let token: LongLivedToken = serde_json::from_slice(
            br#"{"access_token":"long","token_type":"bearer","expires_in":5183944}"#,
        )
        .expect("parses");
        assert_eq!(token.expires_at(1_000), Some(5_184_944));
        let forever: LongLivedToken =
            serde_json::from_slice(br#"{"access_token":"long"}"#).expect("parses");
        assert_eq!(forever.expires_at(1_000), None);
        let wild: LongLivedToken =
            serde_json::from_slice(br#"{"access_token":"long","expires_in":18446744073709551615}"#)
                .expect("parses");
        assert_eq!(
            wild.expires_at(1_000),
            Some(1_000 + Timestamp::MAX_LIFETIME_SECONDS)
        );
        assert!(!format!("{token:?}").contains("long\""));
    }

    #[test]
    fn refresh_is_due_from_24_hours_on() {
        assert!(!refresh_due(1_000, 1_000));
        assert!(!refresh_due(1_000, 1_000 + REFRESH_MIN_AGE_SECONDS - 1));
        assert!(refresh_due(1_000, 1_000 + REFRESH_MIN_AGE_SECONDS));
        assert!(
            !refresh_due(1_000, 0),
            "a clock going back is not a reason to refresh"
        );
    }
}
