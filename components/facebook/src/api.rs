//! The Graph API's answers, as the connector reads them.
//!
//! Ids are [`GraphId`]s (`hayon_guest::oauth2::meta`): digits kept as the exact text Meta
//! sent (Page and Instagram ids exceed 2^53), checked because they become URL paths.
//!
//! Everything but an object's id is optional: Meta leaves fields out when they are empty
//! or not permitted (`instagram_business_account` is absent — not null — for a Page
//! without a linked Instagram account; `profile_picture_url` can be absent).

use hayon_guest::oauth2::meta::GraphId;
use hayon_guest::secret::AccessToken;
use hayon_guest::time::Timestamp;
use serde::{Deserialize, Deserializer};

/// A JSON value that is a string or an unsigned integer (serde_json keeps `u64` exact).
#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber {
    Text(String),
    Number(u64),
}

impl TextOrNumber {
    fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Number(number) => number.to_string(),
        }
    }
}

/// `expires_in` as a number of seconds; absent, zero or unreadable is `None`, and more than
/// [`Timestamp::MAX_LIFETIME_SECONDS`] is that.
fn lenient_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<TextOrNumber>::deserialize(deserializer).unwrap_or(None);
    Ok(value
        .and_then(|value| value.into_text().trim().parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .map(|seconds| {
            i64::try_from(seconds)
                .unwrap_or(i64::MAX)
                .min(Timestamp::MAX_LIFETIME_SECONDS)
        }))
}

/// The answer of the code exchange and of `fb_exchange_token`: a user access token.
#[derive(Debug, Deserialize)]
pub struct UserToken {
    /// The token.
    pub access_token: AccessToken,
    /// Seconds until it expires; Meta leaves it out for tokens that do not expire.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<i64>,
}

/// A profile picture: `{"data": {"url", "is_silhouette"}}`.
#[derive(Debug, Default, Deserialize)]
pub struct Picture {
    /// The picture's data.
    #[serde(default)]
    pub data: Option<PictureData>,
}

/// The inside of a [`Picture`].
#[derive(Debug, Default, Deserialize)]
pub struct PictureData {
    /// The image URL.
    #[serde(default)]
    pub url: Option<String>,
    /// True for Facebook's default placeholder image.
    #[serde(default)]
    pub is_silhouette: bool,
}

impl Picture {
    /// The picture's URL, unless it is the default placeholder.
    pub fn url(&self) -> Option<String> {
        let data = self.data.as_ref()?;
        if data.is_silhouette {
            return None;
        }
        data.url.clone().filter(|url| !url.trim().is_empty())
    }
}

/// A Facebook Page: an entry of `/me/accounts`, or `/{page-id}` read with its token.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// The Page id.
    pub id: GraphId,
    /// The Page's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The Page access token (only in `/me/accounts`).
    #[serde(default)]
    pub access_token: Option<AccessToken>,
    /// What the person may do on the Page (`CREATE_CONTENT` is needed to post).
    #[serde(default)]
    pub tasks: Vec<String>,
    /// The Page's picture.
    #[serde(default)]
    pub picture: Option<Picture>,
    /// The linked Instagram professional account; absent when none is linked.
    #[serde(default)]
    pub instagram_business_account: Option<InstagramAccount>,
}

impl Page {
    /// The name, or the id for a Page without one.
    pub fn display_name(&self) -> String {
        self.name
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map_or_else(|| self.id.to_string(), str::to_owned)
    }

    /// The picture URL, unless absent or the placeholder.
    pub fn avatar(&self) -> Option<String> {
        self.picture.as_ref().and_then(Picture::url)
    }
}

/// An Instagram professional account: nested in a Page, or `/{ig-user-id}`.
#[derive(Debug, Deserialize)]
pub struct InstagramAccount {
    /// The Instagram user id.
    pub id: GraphId,
    /// The username (handle without `@`).
    #[serde(default)]
    pub username: Option<String>,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The profile picture; can be absent.
    #[serde(default)]
    pub profile_picture_url: Option<String>,
}

impl InstagramAccount {
    /// The username, when the account has a non-empty one.
    pub fn username(&self) -> Option<&str> {
        self.username
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
    }
}

/// One page of `/me/accounts`.
#[derive(Debug, Deserialize)]
pub struct PageListing {
    /// The Pages on this page of results.
    #[serde(default)]
    pub data: Vec<Page>,
    /// Cursors to the next results.
    #[serde(default)]
    pub paging: Option<Paging>,
}

impl PageListing {
    /// The `after` cursor, when Meta says there are more results.
    pub fn next_cursor(&self) -> Option<&str> {
        let paging = self.paging.as_ref()?;
        paging.next.as_ref()?;
        paging
            .cursors
            .as_ref()?
            .after
            .as_deref()
            .filter(|cursor| !cursor.is_empty())
    }
}

/// `paging` of an edge.
#[derive(Debug, Deserialize)]
pub struct Paging {
    /// The cursors.
    #[serde(default)]
    pub cursors: Option<Cursors>,
    /// The URL of the next results; present only when there are more.
    #[serde(default)]
    pub next: Option<String>,
}

/// `paging.cursors`.
#[derive(Debug, Deserialize)]
pub struct Cursors {
    /// The cursor after the last result of this page.
    #[serde(default)]
    pub after: Option<String>,
}

/// The answer of `DELETE /me/permissions`.
#[derive(Debug, Deserialize)]
pub struct Revocation {
    /// Whether Meta removed the app.
    #[serde(default)]
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn expires_in_may_be_missing_or_odd() {
        let read = |value| {
            serde_json::from_value::<UserToken>(value)
                .expect("token")
                .expires_in
        };
        assert_eq!(
            read(json!({"access_token": "t", "expires_in": 5_183_944})),
            Some(5_183_944)
        );
        assert_eq!(
            read(json!({"access_token": "t", "expires_in": "3600"})),
            Some(3600)
        );
        assert_eq!(read(json!({"access_token": "t"})), None);
        assert_eq!(read(json!({"access_token": "t", "expires_in": 0})), None);
        assert_eq!(read(json!({"access_token": "t", "expires_in": null})), None);
        let year = Some(Timestamp::MAX_LIFETIME_SECONDS);
        assert_eq!(
            read(json!({"access_token": "t", "expires_in": u64::MAX})),
            year
        );
        let huge = json!({"access_token": "t", "expires_in": "18446744073709551615"});
        assert_eq!(read(huge), year);
    }

    #[test]
    fn a_page_without_instagram_or_picture() {
        let page: Page = serde_json::from_value(json!({
            "id": "134895793791914", "name": " ", "access_token": "EAAp",
            "picture": {"data": {"url": "https://x/s.png", "is_silhouette": true}}
        }))
        .expect("page");
        assert!(page.instagram_business_account.is_none());
        assert_eq!(page.avatar(), None, "the placeholder is no avatar");
        assert_eq!(page.display_name(), "134895793791914");
        assert!(
            !format!("{page:?}").contains("EAAp"),
            "Debug must not show the token"
        );
    }

    #[test]
    fn paging_needs_next_and_a_cursor() {
        let listing: PageListing = serde_json::from_value(json!({
            "data": [], "paging": {"cursors": {"before": "b", "after": "a"}, "next": "https://x"}
        }))
        .expect("listing");
        assert_eq!(listing.next_cursor(), Some("a"));
        let last: PageListing = serde_json::from_value(json!({
            "data": [], "paging": {"cursors": {"before": "b", "after": "a"}}
        }))
        .expect("listing");
        assert_eq!(last.next_cursor(), None);
    }
}
