//! Which blog a Tumblr connection stands for, and how it is shown.
//!
//! A Tumblr account owns zero, one or many blogs; Hayon connects one. It takes the blog
//! marked `primary`, else the first one listed (`platforms.md` §2.4). The account id is the
//! blog's `uuid` (names and custom domains change; the uuid does not), falling back to its
//! name; the handle is the blog's host name, taken from its URL so that custom domains such
//! as `www.davidslog.com` show as they are.

use hayon_guest::{Account, AccountStatus, Timestamp};

use crate::client::{BlogInfo, UserInfo};
use crate::settings::Settings;

/// The blog a new connection picks: the primary one, else the first.
// Limitation: the person cannot pick another of their blogs; platforms.md §2.4 suggests
// offering the choice, which would need a selection step in the contract.
pub fn choose_blog(user: &UserInfo) -> Option<&BlogInfo> {
    user.blogs
        .iter()
        .find(|blog| blog.primary)
        .or_else(|| user.blogs.first())
}

/// The blog a stored account stands for, found again in a fresh `user/info`: the same
/// uuid, or for accounts stored under the name, the same name.
pub fn find_blog<'u>(user: &'u UserInfo, account_id: &str) -> Option<&'u BlogInfo> {
    user.blogs
        .iter()
        .find(|blog| blog.uuid.as_deref() == Some(account_id))
        .or_else(|| user.blogs.iter().find(|blog| blog.name == account_id))
}

/// The stable id of `blog`: its uuid, else its name.
pub fn account_id(blog: &BlogInfo) -> String {
    blog.uuid
        .clone()
        .filter(|uuid| !uuid.trim().is_empty())
        .unwrap_or_else(|| blog.name.clone())
}

/// The host name of `blog`: the host of its URL (lower case, no port), else
/// `<name>.tumblr.com`.
pub fn hostname(blog: &BlogInfo) -> String {
    blog.url
        .as_deref()
        .and_then(host_of)
        .unwrap_or_else(|| format!("{}.tumblr.com", blog.name.to_ascii_lowercase()))
}

/// The host of an absolute `http(s)` URL, lower-cased, without userinfo or port.
fn host_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = host_port.split(':').next()?;
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.'));
    valid.then(|| host.to_ascii_lowercase())
}

/// The public view of the connection to `blog`, as of `now`.
pub fn account_view(
    settings: &Settings,
    blog: &BlogInfo,
    connected_at: Timestamp,
    now: Timestamp,
) -> Account {
    let hostname = hostname(blog);
    let title = blog
        .title
        .as_deref()
        .map(str::trim)
        .filter(|title| !title.is_empty());
    let profile_url = blog
        .url
        .clone()
        .filter(|url| host_of(url).is_some())
        .unwrap_or_else(|| format!("https://{hostname}/"));
    Account {
        platform: "tumblr".to_owned(),
        account_id: account_id(blog),
        display_name: Some(title.unwrap_or(&blog.name).to_owned()),
        avatar: Some(settings.avatar_url(&hostname)),
        profile_url: Some(profile_url),
        handle: hostname,
        connected_at,
        refreshed_at: now,
        expires_at: None,
        status: AccountStatus::Active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth1::ConsumerSecret;

    fn blog(name: &str, url: Option<&str>, primary: bool) -> BlogInfo {
        BlogInfo {
            name: name.into(),
            url: url.map(str::to_owned),
            title: None,
            uuid: Some(format!("t:{name}")),
            primary,
        }
    }

    fn settings() -> Settings {
        Settings {
            consumer_key: "ck".into(),
            consumer_secret: ConsumerSecret::new("cs"),
            www_url: "https://www.tumblr.com".into(),
            api_url: "https://api.tumblr.com".into(),
        }
    }

    #[test]
    fn primary_blog_wins_wherever_it_is_listed() {
        let user = UserInfo {
            name: "david".into(),
            blogs: vec![
                blog("group", Some("https://group.tumblr.com/"), false),
                blog("davidslog", Some("https://www.davidslog.com/"), true),
                blog("side", None, false),
            ],
        };
        assert_eq!(
            choose_blog(&user).map(|b| b.name.as_str()),
            Some("davidslog")
        );
    }

    #[test]
    fn without_a_primary_the_first_blog_is_taken_and_none_means_none() {
        let mut user = UserInfo {
            name: "u".into(),
            blogs: vec![blog("a", None, false), blog("b", None, false)],
        };
        assert_eq!(choose_blog(&user).map(|b| b.name.as_str()), Some("a"));
        user.blogs.clear();
        assert_eq!(choose_blog(&user), None);
    }

    #[test]
    fn hostnames_come_from_the_url_custom_domains_included() {
        let cases = [
            (Some("https://www.DavidsLog.com/"), "www.davidslog.com"),
            (Some("https://solo.tumblr.com/"), "solo.tumblr.com"),
            (Some("http://blog.example:8080/path?q#f"), "blog.example"),
            (Some("https://user@blog.example"), "blog.example"),
            (Some("not a url"), "fallback.tumblr.com"),
            (Some("javascript://x"), "fallback.tumblr.com"),
            (Some("https://bad host/"), "fallback.tumblr.com"),
            (None, "fallback.tumblr.com"),
        ];
        for (url, expected) in cases {
            assert_eq!(hostname(&blog("Fallback", url, true)), expected, "{url:?}");
        }
    }

    #[test]
    fn accounts_are_keyed_by_uuid_and_found_again_by_uuid_or_name() {
        let mut stored = blog("davidslog", Some("https://www.davidslog.com/"), true);
        assert_eq!(account_id(&stored), "t:davidslog");
        stored.uuid = None;
        assert_eq!(account_id(&stored), "davidslog");

        let user = UserInfo {
            name: "david".into(),
            blogs: vec![
                BlogInfo {
                    name: "renamed".into(),
                    ..blog("x", None, false)
                },
                blog("davidslog", None, true),
            ],
        };
        assert_eq!(
            find_blog(&user, "t:x").map(|b| b.name.as_str()),
            Some("renamed")
        );
        assert_eq!(
            find_blog(&user, "davidslog").map(|b| b.name.as_str()),
            Some("davidslog")
        );
        assert_eq!(find_blog(&user, "t:gone"), None);
    }

    #[test]
    fn the_view_shows_title_or_name_avatar_and_profile() {
        let now = Timestamp::from_unix(1_787_227_200);
        let mut custom = blog("davidslog", Some("https://www.davidslog.com/"), true);
        custom.title = Some("David's Log".into());
        let account = account_view(&settings(), &custom, Timestamp::from_unix(0), now);
        assert_eq!(account.platform, "tumblr");
        assert_eq!(account.account_id, "t:davidslog");
        assert_eq!(account.handle, "www.davidslog.com");
        assert_eq!(account.display_name.as_deref(), Some("David's Log"));
        assert_eq!(
            account.avatar.as_deref(),
            Some("https://api.tumblr.com/v2/blog/www.davidslog.com/avatar/128")
        );
        assert_eq!(
            account.profile_url.as_deref(),
            Some("https://www.davidslog.com/")
        );
        assert_eq!(
            (account.connected_at, account.refreshed_at),
            (Timestamp::from_unix(0), now)
        );
        assert_eq!(account.expires_at, None);

        let mut untitled = blog("side", None, false);
        untitled.title = Some("  ".into());
        let account = account_view(&settings(), &untitled, now, now);
        assert_eq!(account.display_name.as_deref(), Some("side"));
        assert_eq!(
            account.profile_url.as_deref(),
            Some("https://side.tumblr.com/")
        );
    }
}
