//! Ready-made users for the cases a Tumblr connector must handle (`platforms.md` §2.4, §2.7).
//!
//! Each function returns a fresh [`TumblrUser`]; add it with
//! [`TumblrDouble::add_user`](crate::TumblrDouble::add_user). The constants name what a test
//! will want to assert on (user names, the primary blog, its host name).

use crate::model::{Blog, TumblrUser};

/// Name of the user returned by [`no_blogs`].
pub const BLOGLESS: &str = "blogless";
/// Name of the user returned by [`one_blog`].
pub const SOLO: &str = "solo";
/// The only (and primary) blog of [`one_blog`].
pub const SOLO_BLOG: &str = "solo";
/// Host name of [`SOLO_BLOG`]'s URL.
pub const SOLO_BLOG_HOSTNAME: &str = "solo.tumblr.com";
/// uuid of [`SOLO_BLOG`].
pub const SOLO_BLOG_UUID: &str = "t:S0l0S0l0S0l0S0l0S0l0Sg";
/// Name of the user returned by [`several_blogs`].
pub const DAVID: &str = "david";
/// The primary blog of [`several_blogs`] (listed second, on a custom domain).
pub const DAVID_PRIMARY_BLOG: &str = "davidslog";
/// Host name of [`DAVID_PRIMARY_BLOG`]'s URL (`https://www.davidslog.com/`).
pub const DAVID_PRIMARY_HOSTNAME: &str = "www.davidslog.com";
/// uuid of [`DAVID_PRIMARY_BLOG`].
pub const DAVID_PRIMARY_UUID: &str = "t:0aY0xL2Fi1OFJg4YxpmegQ";
/// Follower count of [`DAVID_PRIMARY_BLOG`]: above 2^53, so an `f64` round trip changes it.
pub const DAVID_PRIMARY_FOLLOWERS: u64 = 9_007_199_254_740_993;

/// A user with no blog at all (`blogs: []`).
pub fn no_blogs() -> TumblrUser {
    TumblrUser::new(BLOGLESS, Vec::new())
}

/// A user with exactly one blog, which is primary, on `*.tumblr.com`.
pub fn one_blog() -> TumblrUser {
    TumblrUser::new(
        SOLO,
        vec![Blog {
            primary: true,
            followers: 42,
            posts: 7,
            uuid: SOLO_BLOG_UUID.to_owned(),
            title: Some("Solo's corner".to_owned()),
            ..Blog::new(SOLO_BLOG)
        }],
    )
}

/// A user with several blogs, in this order:
///
/// 1. `staff-group` — a group blog: not primary, `admin: false`;
/// 2. [`DAVID_PRIMARY_BLOG`] — primary (not first), custom domain
///    `https://www.davidslog.com/`, [`DAVID_PRIMARY_FOLLOWERS`] followers,
///    uuid [`DAVID_PRIMARY_UUID`];
/// 3. `david-side` — not primary, administered by the user, with no `title` key.
pub fn several_blogs() -> TumblrUser {
    TumblrUser::new(
        DAVID,
        vec![
            Blog {
                admin: false,
                followers: 1_204,
                posts: 3_310,
                title: Some("Staff Group".to_owned()),
                ..Blog::new("staff-group")
            },
            Blog {
                primary: true,
                url: format!("https://{DAVID_PRIMARY_HOSTNAME}/"),
                uuid: DAVID_PRIMARY_UUID.to_owned(),
                followers: DAVID_PRIMARY_FOLLOWERS,
                posts: 1_024,
                title: Some("David's Log".to_owned()),
                description: "Notes &amp; <b>things</b>".to_owned(),
                ..Blog::new(DAVID_PRIMARY_BLOG)
            },
            Blog {
                title: None,
                posts: 3,
                ..Blog::new("david-side")
            },
        ],
    )
}
