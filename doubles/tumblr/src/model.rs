//! The Tumblr users and blogs the double knows, and how `GET /v2/user/info` shows them.
//!
//! Field names and shapes follow `platforms.md` §2.4: the documented blog fields (`name`,
//! `url`, `title`, `primary`, `followers`, `tweet`, `type`) plus the ones observed in practice
//! (`uuid`, `admin`, `avatar`, `description`, `posts`, `is_nsfw`). A blog without a title
//! has no `title` key at all.

use serde::Serialize;

/// A Tumblr user as `user/info` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TumblrUser {
    /// The user's short name (`response.user.name`): the account id the connector shows.
    pub name: String,
    /// Number of liked posts.
    pub likes: u64,
    /// Number of blogs followed.
    pub following: u64,
    /// `html`, `markdown` or `raw`.
    pub default_post_format: String,
    /// The user's blogs, in the order Tumblr lists them (the primary one need not be first).
    pub blogs: Vec<Blog>,
}

impl TumblrUser {
    /// A user with the given short name and blogs, and plausible counters.
    pub fn new(name: impl Into<String>, blogs: Vec<Blog>) -> Self {
        Self {
            name: name.into(),
            likes: 12,
            following: 34,
            default_post_format: "html".to_owned(),
            blogs,
        }
    }
}

/// One blog of a user.
///
/// Start from [`Blog::new`] and change fields with struct update syntax:
///
/// ```
/// use hayon_double_tumblr::Blog;
/// let blog = Blog { primary: true, title: None, ..Blog::new("davidslog") };
/// assert_eq!(blog.url, "https://davidslog.tumblr.com/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blog {
    /// The blog's short name (changeable by the user).
    pub name: String,
    /// The blog title; `None` leaves the key out of the JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description (HTML).
    pub description: String,
    /// `https://<name>.tumblr.com/` or a custom domain such as `https://www.davidslog.com/`.
    pub url: String,
    /// The stable blog id, e.g. `t:0aY0xL2Fi1OFJg4YxpmegQ`.
    pub uuid: String,
    /// Whether this is the user's primary blog (exactly one per user that has blogs).
    pub primary: bool,
    /// Whether the user administers the blog (`false` for a group blog they only post to).
    pub admin: bool,
    /// Follower count; can be large.
    pub followers: u64,
    /// Post count.
    pub posts: u64,
    /// `public` or `private`.
    #[serde(rename = "type")]
    pub blog_type: String,
    /// Twitter cross-posting: `N`, `Y` or `auto`.
    pub tweet: String,
    /// Whether the blog is marked NSFW.
    pub is_nsfw: bool,
    /// Avatar images, largest first.
    pub avatar: Vec<Avatar>,
}

impl Blog {
    /// A public, non-primary blog the user administers, at `https://<name>.tumblr.com/`,
    /// titled after its name, with a uuid derived from the name.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let avatar = [512u32, 128, 64]
            .into_iter()
            .map(|size| Avatar {
                width: size,
                height: size,
                url: format!("https://64.media.tumblr.com/avatar_{name}_{size}.png"),
            })
            .collect();
        Self {
            title: Some(format!("{name}'s blog")),
            description: String::new(),
            url: format!("https://{name}.tumblr.com/"),
            uuid: uuid_for(&name),
            primary: false,
            admin: true,
            followers: 0,
            posts: 0,
            blog_type: "public".to_owned(),
            tweet: "N".to_owned(),
            is_nsfw: false,
            avatar,
            name,
        }
    }
}

/// One avatar size of a blog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Avatar {
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
    /// Image URL.
    pub url: String,
}

/// A `t:` + 22 base64url-ish characters id, stable for a given name.
fn uuid_for(name: &str) -> String {
    use sha1::Digest as _;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let digest = sha1::Sha1::digest(name.as_bytes());
    let id: String = digest
        .iter()
        .take(22)
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect();
    // SHA-1 has 20 bytes; pad to the 22 characters Tumblr uses.
    format!("t:{id:A<22}")
}

/// The `response` object of a successful `user/info`.
pub(crate) fn user_info_response(user: &TumblrUser) -> serde_json::Value {
    serde_json::json!({ "user": user })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blog_without_title_has_no_title_key() {
        let blog = Blog {
            title: None,
            ..Blog::new("untitled")
        };
        let json = serde_json::to_value(&blog).expect("serializable");
        assert!(json.get("title").is_none());
        assert_eq!(json["type"], "public");
        assert_eq!(json["uuid"].as_str().map(str::len), Some(24));
    }

    #[test]
    fn big_follower_counts_survive_as_integers() {
        let blog = Blog {
            followers: 9_007_199_254_740_993,
            ..Blog::new("big")
        };
        let text = serde_json::to_string(&blog).expect("serializable");
        assert!(text.contains("\"followers\":9007199254740993"), "{text}");
    }
}
