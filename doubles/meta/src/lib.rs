//! Test doubles of Meta's APIs for Hayon's end-to-end tests: the Graph API with the
//! Facebook Login dialog (Facebook Pages + Instagram) and the Threads API with its
//! authorization window.
//!
//! Each double is an in-process server (axum on `127.0.0.1:0`, one listener per emulated
//! host so that host confusion fails) that behaves like the real API as described in
//! `shared/docs/platforms.md` §3 and §4: exact statuses, error bodies and content types,
//! single-use and expiring codes, redirect URIs compared byte for byte, token lifetimes,
//! revocation. Tests drive it through control methods: register apps and users, decide
//! what the user does in a dialog, move the [`Clock`], revoke tokens, inject [`Fault`]s,
//! and read the [`LoggedRequest`] log (secrets masked).
//!
//! - [`MetaDouble::graph_url`] stands for `https://graph.facebook.com` (`meta_graph_url`);
//! - [`MetaDouble::dialog_url`] for `https://www.facebook.com` (`meta_dialog_url`);
//! - [`ThreadsDouble::graph_url`] for `https://graph.threads.net` (`threads_graph_url`);
//! - [`ThreadsDouble::authorize_url`] for `https://threads.net` (`threads_authorize_url`).
//!
//! `MetaDouble::variables` and `ThreadsDouble::variables` give these as host variables.
//!
//! # A typical test
//!
//! ```no_run
//! use std::time::Duration;
//! use hayon_double_meta::{
//!     Decision, FacebookPage, FacebookUser, Fault, InstagramAccount, MetaDouble,
//!     RegisteredApp, TokenKind,
//! };
//!
//! # async fn connect_through_the_host(_url: &str) -> String { String::new() }
//! # async fn follow(_callback: &str) {}
//! # async fn example() -> anyhow::Result<()> {
//! let meta = MetaDouble::start().await?;
//! // The host is configured with meta.variables() plus meta_app_id / meta_app_secret.
//! let callback_uri = "http://127.0.0.1:8080/api/platform/facebook/callback";
//! meta.register_app(RegisteredApp::new("1234", "app-secret", [callback_uri]));
//! meta.add_user(FacebookUser::new("10001", "Alice"));
//! meta.add_page(
//!     "10001",
//!     FacebookPage::new("20001", "Alice's Bakery")
//!         .instagram(InstagramAccount::new("17841400000000001", "alicebakes")),
//! )?;
//!
//! // GET /api/platform/facebook/connect on the host answers data.url: the dialog URL.
//! let auth_url = connect_through_the_host("/api/platform/facebook/connect").await;
//! // Alice approves; the double checks client_id, redirect_uri and scopes as Facebook
//! // does and answers the URL the browser is sent to: callback?code=…&state=…#_=_
//! let callback = meta.authorize(&auth_url, Decision::Approve("10001".into()))?;
//! follow(&callback).await; // GET it on the host, which exchanges the code
//!
//! // What the connector did, as the double saw it:
//! let listing = meta.requests_to("GET", "/me/accounts");
//! assert_eq!(listing[0].token_kind(), Some(TokenKind::UserLongLived));
//! assert_eq!(listing[0].version.as_deref(), Some("v26.0"));
//! let dialog = meta.requests_to("GET", "/dialog/oauth");
//! assert!(dialog[0].param("scope").is_some_and(|s| s.contains("pages_show_list")));
//!
//! // Next: throttling must not disconnect, a dead token must.
//! meta.fail_next("/me", Fault::app_rate_limit()); // code 4, HTTP 403, is_transient
//! meta.revoke_user("10001", 460); // every token of Alice: 190/460
//! meta.advance(Duration::from_secs(3_600));
//! # Ok(()) }
//! ```
//!
//! A browser-like test can instead `GET` the dialog URL itself with the header
//! `x-double-user: 10001` (or `x-double-decision: deny`) and read the `Location` of the
//! `302`; see [`Decision`] for every way to choose what the user does. The
//! [`ThreadsDouble`] works the same way (`ThreadsDouble::authorize`, `add_user`, …) and
//! can share the clock ([`ThreadsDouble::start_with_clock`] with [`MetaDouble::clock`]).
//!
//! # Faults
//!
//! [`MetaDouble::fail_next`] and friends arm a [`Fault`] for a route pattern: the
//! version-less path (`/me/accounts`, `/oauth/access_token`, `/dialog/oauth`, `/20001`),
//! optionally after a method (`DELETE /me/permissions`), or `*` for every request to
//! the double (both of its listeners). Every request is logged before a fault is applied.
//!
//! # Limitations
//!
//! - The doubles cover account connection, token lifetimes, profiles and revocation, not
//!   publishing. Facebook Login for Business `config_id`, `auth_type=rerequest`, Business
//!   Manager edges (`/me/businesses`), the Threads `debug_token` and the Instagram Login
//!   API are not emulated.
//! - Permission checks are partial: the Graph double does not refuse `/me/accounts`
//!   without `pages_show_list`; Threads calls do require `threads_basic` (code 10).
//! - Where Meta's exact wording or code is not documented (marked "(verify)" in
//!   platforms.md), the double picks one and says so in the item's doc: the Threads
//!   refresh of a token younger than 24 h answers Graph code 100 (not 190), the Facebook
//!   dialog's own error pages answer 400 HTML, an expired Facebook code is 100/36007.

#![warn(missing_docs)]

mod app;
mod clock;
mod consent;
pub mod fault;
mod fields;
mod graph_error;
mod issued;
mod log;
mod meta;
mod minter;
mod server;
mod threads;
mod wire;

pub use app::RegisteredApp;
pub use clock::Clock;
pub use consent::{Approval, Decision, DialogError};
pub use fault::Fault;
pub use graph_error::GraphError;
pub use issued::IssuedToken;
pub use log::{Listener, LoggedRequest, REDACTED, TokenKind, TokenSummary};
pub use meta::model::{ALL_PAGE_TASKS, FacebookPage, FacebookUser, InstagramAccount};
pub use meta::{MetaDouble, appsecret_proof, sign_request};
pub use threads::ThreadsDouble;
pub use threads::model::ThreadsUser;

/// Locks a mutex, carrying on with the data if a panicking test poisoned it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
