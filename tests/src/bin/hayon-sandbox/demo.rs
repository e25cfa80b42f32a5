//! The demo accounts and app registrations the sandbox seeds its doubles with.
//!
//! They are constants so that the walkthrough, the README and the seeding agree. None of
//! them is a real credential: they exist only inside the doubles of this process.

/// The Hayon user the printed bearer token is for.
pub const HAYON_USER: &str = "sandbox-user";
/// How long the printed bearer token stays valid: a week.
pub const TOKEN_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// A Bluesky account of the demo.
#[derive(Debug, Clone, Copy)]
pub struct BlueskyDemo {
    /// What the account is for, in the walkthrough.
    pub about: &'static str,
    /// Its handle.
    pub handle: &'static str,
    /// Its main password (what a person types into bsky.app).
    pub password: &'static str,
    /// An app password (what Hayon asks for).
    pub app_password: &'static str,
    /// Its display name.
    pub display_name: &'static str,
}

/// Logs in at the default service (the entryway); also logs in with its e-mail address.
pub const ALICE: BlueskyDemo = BlueskyDemo {
    about: "hosted on the default service",
    handle: "alice.sandbox.test",
    password: "alice-main-password",
    app_password: "aaaa-bbbb-cccc-dddd",
    display_name: "Alice (sandbox)",
};
/// Alice's e-mail address, which works as an identifier too.
pub const ALICE_EMAIL: &str = "alice@sandbox.test";

/// Hosted on the independent PDS: found by resolving the handle.
pub const BOB: BlueskyDemo = BlueskyDemo {
    about: "on a second, independent PDS",
    handle: "bob.independent.test",
    password: "bob-main-password",
    app_password: "bbbb-cccc-dddd-eeee",
    display_name: "Bob (own PDS)",
};

/// Has e-mail two-factor sign-in: its main password gets `auth_factor_required`.
pub const CAROL: BlueskyDemo = BlueskyDemo {
    about: "with e-mail 2FA: the main password is refused, the app password works",
    handle: "carol.sandbox.test",
    password: "carol-main-password",
    app_password: "cccc-dddd-eeee-ffff",
    display_name: "Carol (2FA)",
};
/// The e-mail code Carol would receive (the connector never asks for it).
pub const CAROL_EMAIL_CODE: &str = "SNDBX-2FA42";

/// The Tumblr user who approves, with two blogs.
pub const TUMBLR_USER: &str = "sam";
/// Sam's primary blog.
pub const TUMBLR_PRIMARY_BLOG: &str = "sams-sketchbook";
/// Sam's other blog.
pub const TUMBLR_SIDE_BLOG: &str = "sam-side-projects";

/// The Facebook app the host is configured with.
pub const META_APP_ID: &str = "100000000000001";
/// Its secret.
pub const META_APP_SECRET: &str = "sandbox-meta-app-secret";
/// The Facebook user with a Page and a linked Instagram account.
pub const FACEBOOK_USER_ID: &str = "10001";
/// Her name, as the dialog's "Continue as …" link shows it.
pub const FACEBOOK_USER_NAME: &str = "Mia Sandbox";
/// Her Page.
pub const FACEBOOK_PAGE_ID: &str = "20001";
/// The Page's name.
pub const FACEBOOK_PAGE_NAME: &str = "Mia's Bakery";
/// The Instagram account linked to the Page.
pub const INSTAGRAM_ID: &str = "17841400000000001";
/// Its username.
pub const INSTAGRAM_USERNAME: &str = "miabakes";
/// A Facebook user without Pages: connecting as him ends in `error=facebook_no_pages`.
pub const FACEBOOK_PAGELESS_ID: &str = "10002";
/// His name.
pub const FACEBOOK_PAGELESS_NAME: &str = "Noah (no Pages)";

/// The Threads app the host is configured with (Threads apps are separate on Meta).
pub const THREADS_APP_ID: &str = "200000000000002";
/// Its secret.
pub const THREADS_APP_SECRET: &str = "sandbox-threads-app-secret";
/// The Threads user; the id is above 2^53, as real ones are.
pub const THREADS_USER_ID: &str = "27182818284590452";
/// Its username.
pub const THREADS_USERNAME: &str = "tess.sandbox";

/// The Mastodon user who approves.
pub const MASTODON_USER: &str = "mara";
/// Her display name.
pub const MASTODON_DISPLAY_NAME: &str = "Mara Sandbox";
/// The scopes the Mastodon app is registered with (the host's default `mastodon_scopes`).
pub const MASTODON_SCOPES: &str = "read write push";
