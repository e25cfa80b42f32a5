//! The knobs a test turns: who approves, which step fails how, what request_token confirms.

use std::time::Duration;

/// One of the double's endpoints, for failure injection and log filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST {www}/oauth/request_token`.
    RequestToken,
    /// `GET {www}/oauth/authorize` (the browser step), also reached by
    /// [`TumblrDouble::authorize`](crate::TumblrDouble::authorize).
    Authorize,
    /// `GET` or `POST {www}/oauth/access_token`.
    AccessToken,
    /// `GET {api}/v2/user/info`.
    UserInfo,
}

/// Which of the double's two hosts a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    /// The `www.tumblr.com` stand-in (OAuth endpoints).
    Www,
    /// The `api.tumblr.com` stand-in (`/v2/...`).
    Api,
}

/// What the user does on the authorization page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The named user (see [`TumblrDouble::add_user`](crate::TumblrDouble::add_user)) logs in
    /// and allows the app: 302 to the callback with `oauth_token` and `oauth_verifier`
    /// appended to its query, and a `#_=_` fragment.
    Approve(String),
    /// The user refuses: 302 to the callback with `oauth_token` but **no** `oauth_verifier`,
    /// and the `#_=_` fragment. The temporary token can no longer be exchanged.
    ///
    /// Tumblr does not document its refusal redirect (`platforms.md` §2.1 "verify exact
    /// shape"); this is the double's pick. [`Decision::DenyWithoutParameters`] covers the
    /// other plausible shape.
    Deny,
    /// The user refuses and the callback is reached with no OAuth parameter at all (only the
    /// callback's own query, and `#_=_`). The token can no longer be exchanged.
    DenyWithoutParameters,
}

impl Decision {
    /// Shorthand for [`Decision::Approve`].
    pub fn approve(user: impl Into<String>) -> Self {
        Self::Approve(user.into())
    }
}

/// What `request_token` says about the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackConfirmed {
    /// `oauth_callback_confirmed=true` (what Tumblr sends).
    #[default]
    True,
    /// `oauth_callback_confirmed=false`.
    False,
    /// No `oauth_callback_confirmed` parameter (an OAuth 1.0, pre-1.0a server).
    Missing,
}

/// An answer injected in place of the real one (or a delay before the real one).
///
/// Injected failures are answered before any signature check, as a load balancer or an
/// overloaded edge would, and do not consume tokens or nonces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A `text/html` error page with this status (502, 503, 504, …), as a proxy sends.
    Html(u16),
    /// This status with an empty body (no content type).
    Empty(u16),
    /// 429 "Limit Exceeded": on the API host the JSON envelope
    /// `{"meta":{"status":429,"msg":"Limit Exceeded"},"response":[]}`, on the www host the
    /// plain text `Limit Exceeded`. `retry_after` adds a `Retry-After` header in seconds
    /// (Tumblr does not document one, so the faithful default is `None`).
    RateLimited {
        /// Seconds for a `Retry-After` header, if any.
        retry_after: Option<u64>,
    },
    /// A JSON `meta` envelope with this status and message on the API host (for example 503
    /// `Service Unavailable`); the message as plain text on the www host.
    Envelope {
        /// HTTP status and `meta.status`.
        status: u16,
        /// `meta.msg`.
        msg: String,
    },
    /// Wait this long, then answer normally (to exercise the caller's timeout).
    Slow(Duration),
    /// Any status, content type and body (`content_type` empty = no header).
    Raw {
        /// HTTP status.
        status: u16,
        /// `Content-Type` header value.
        content_type: String,
        /// Body text.
        body: String,
    },
}
