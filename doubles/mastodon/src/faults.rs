//! Failure injection and rate limiting: the endpoints a test can aim a fault at, the
//! faults themselves, and Mastodon's per-token request limit with its headers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderName, Method, StatusCode, header};
use serde_json::json;

use crate::clock::{iso8601_micros, unix_seconds};
use crate::pages;
use crate::reply::Reply;

/// An endpoint of the double, as a target for faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/v1/apps`.
    RegisterApp,
    /// `GET /api/v1/apps/verify_credentials`.
    VerifyApp,
    /// `GET|POST|DELETE /oauth/authorize` (over HTTP only; see
    /// [`crate::MastodonDouble::authorize`]).
    Authorize,
    /// `POST /oauth/token`.
    Token,
    /// `POST /oauth/revoke`.
    Revoke,
    /// `GET /.well-known/oauth-authorization-server`.
    AuthServerMetadata,
    /// `GET /oauth/userinfo`.
    UserInfo,
    /// `GET /api/v1/accounts/verify_credentials`.
    VerifyCredentials,
    /// `GET /api/v1/instance`.
    InstanceV1,
    /// `GET /api/v2/instance`.
    InstanceV2,
}

impl Endpoint {
    /// Every endpoint, e.g. to take the whole instance down.
    pub const ALL: [Endpoint; 10] = [
        Self::RegisterApp,
        Self::VerifyApp,
        Self::Authorize,
        Self::Token,
        Self::Revoke,
        Self::AuthServerMetadata,
        Self::UserInfo,
        Self::VerifyCredentials,
        Self::InstanceV1,
        Self::InstanceV2,
    ];

    /// The endpoint a (normalised) method and path reach, if any.
    pub(crate) fn route(method: &Method, path: &str) -> Option<Self> {
        let get = *method == Method::GET || *method == Method::HEAD;
        let post = *method == Method::POST;
        match path {
            "/api/v1/apps" if post => Some(Self::RegisterApp),
            "/api/v1/apps/verify_credentials" if get => Some(Self::VerifyApp),
            "/oauth/authorize" if get || post || *method == Method::DELETE => Some(Self::Authorize),
            "/oauth/token" if post => Some(Self::Token),
            "/oauth/revoke" if post => Some(Self::Revoke),
            "/.well-known/oauth-authorization-server" if get => Some(Self::AuthServerMetadata),
            "/oauth/userinfo" if get || post => Some(Self::UserInfo),
            "/api/v1/accounts/verify_credentials" if get => Some(Self::VerifyCredentials),
            "/api/v1/instance" if get => Some(Self::InstanceV1),
            "/api/v2/instance" if get => Some(Self::InstanceV2),
            _ => None,
        }
    }
}

/// A failure the double can answer with instead of its normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 `{"error":"Too many requests"}` with `X-RateLimit-Limit`,
    /// `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (end of the current window, ISO 8601
    /// with microseconds), as Rack::Attack answers.
    RateLimited,
    /// An nginx HTML error page with this status (502, 503, 504, …).
    HtmlError(u16),
    /// A JSON error `{"error": message}` with this status, e.g. 503
    /// "There was a temporary problem serving your request, please try again".
    JsonError {
        /// The HTTP status.
        status: u16,
        /// The `error` message.
        message: String,
    },
    /// This status with an empty body and no content type.
    EmptyBody(u16),
    /// 200 with a JSON body cut off in the middle.
    TruncatedJson,
    /// Wait this long (real time), then answer normally.
    Delay(Duration),
}

impl Fault {
    /// The answer for this fault; `None` for [`Fault::Delay`], which answers normally.
    pub(crate) fn reply(&self, limits: &RateWindow) -> Option<Reply> {
        let status = |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        match self {
            Self::RateLimited => Some(limits.too_many_requests()),
            Self::HtmlError(code) => Some(
                Reply::html(status(*code), pages::proxy_error(*code)).with_error("html error page"),
            ),
            Self::JsonError {
                status: code,
                message,
            } => Some(Reply::api_error(status(*code), message)),
            Self::EmptyBody(code) => Some(Reply::empty(status(*code)).with_error("empty body")),
            Self::TruncatedJson => Some(
                Reply::raw(
                    StatusCode::OK,
                    "application/json; charset=utf-8",
                    br#"{"id":"1100000000000000","username":"al"#.to_vec(),
                )
                .with_error("truncated json"),
            ),
            Self::Delay(_) => None,
        }
    }
}

/// Faults waiting for their endpoint.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    once: HashMap<Endpoint, VecDeque<Fault>>,
    always: HashMap<Endpoint, Fault>,
}

impl Faults {
    pub(crate) fn push_once(&mut self, endpoint: Endpoint, fault: Fault) {
        self.once.entry(endpoint).or_default().push_back(fault);
    }

    pub(crate) fn set_always(&mut self, endpoint: Endpoint, fault: Option<Fault>) {
        match fault {
            Some(fault) => self.always.insert(endpoint, fault),
            None => self.always.remove(&endpoint),
        };
    }

    pub(crate) fn clear(&mut self) {
        self.once.clear();
        self.always.clear();
    }

    /// The next fault for `endpoint`: a queued one-shot fault first, else the standing one.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<Fault> {
        self.once
            .get_mut(&endpoint)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.always.get(&endpoint).cloned())
    }
}

/// The state of one rate-limit window, as reported in the headers.
#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    pub limit: u32,
    pub remaining: u32,
    pub reset: SystemTime,
    pub exceeded: bool,
}

impl RateWindow {
    /// The window containing `now`, before any request counted in it (for injected 429s).
    pub(crate) fn current(now: SystemTime, limit: u32, period: Duration) -> Self {
        Self {
            limit,
            remaining: 0,
            reset: window_end(now, period),
            exceeded: true,
        }
    }

    /// The headers Mastodon adds to a rate-limited endpoint's answers.
    pub(crate) fn headers(&self) -> Vec<(HeaderName, String)> {
        vec![
            (
                HeaderName::from_static("x-ratelimit-limit"),
                self.limit.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-remaining"),
                self.remaining.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-reset"),
                iso8601_micros(self.reset),
            ),
        ]
    }

    /// Rack::Attack's 429.
    pub(crate) fn too_many_requests(&self) -> Reply {
        let mut reply = Reply::json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": "Too many requests" }),
        )
        .with_error("Too many requests");
        let exhausted = Self {
            remaining: 0,
            ..self.clone()
        };
        for (name, value) in exhausted.headers() {
            reply = reply.with_header(name, value);
        }
        reply.with_header(header::CACHE_CONTROL, "no-cache".to_owned())
    }
}

/// Per-token request counts in epoch-aligned windows (Rack::Attack's fixed windows).
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<String, (u64, u32)>,
}

impl RateLimiter {
    /// Counts a request for `key` and reports the window.
    pub(crate) fn hit(
        &mut self,
        key: &str,
        now: SystemTime,
        limit: u32,
        period: Duration,
    ) -> RateWindow {
        let period_secs = period.as_secs().max(1);
        let window = unix_seconds(now) / period_secs;
        let entry = self.windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        RateWindow {
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset: window_end(now, period),
            exceeded: entry.1 > limit,
        }
    }
}

fn window_end(now: SystemTime, period: Duration) -> SystemTime {
    let period_secs = period.as_secs().max(1);
    let window = unix_seconds(now) / period_secs;
    UNIX_EPOCH + Duration::from_secs((window + 1) * period_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_limit_is_per_key_and_window() {
        let mut limiter = RateLimiter::default();
        let period = Duration::from_secs(300);
        let now = at(1_787_229_000);
        assert_eq!(limiter.hit("a", now, 2, period).remaining, 1);
        assert!(!limiter.hit("a", now, 2, period).exceeded);
        let third = limiter.hit("a", now, 2, period);
        assert!(third.exceeded);
        assert_eq!(third.remaining, 0);
        assert!(!limiter.hit("b", now, 2, period).exceeded);
        assert!(!limiter.hit("a", at(1_787_229_300), 2, period).exceeded);
    }

    #[test]
    fn a_429_carries_the_iso_reset_of_the_window_end() {
        let window = RateWindow::current(at(1_787_229_123), 300, Duration::from_secs(300));
        let reply = window.too_many_requests();
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        let header = |name: &str| {
            reply
                .headers
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("x-ratelimit-limit").as_deref(), Some("300"));
        assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(
            header("x-ratelimit-reset").as_deref(),
            Some("2026-08-20T12:35:00.000000Z")
        );
    }

    #[test]
    fn one_shot_faults_come_before_the_standing_one() {
        let mut faults = Faults::default();
        faults.set_always(Endpoint::Token, Some(Fault::HtmlError(503)));
        faults.push_once(Endpoint::Token, Fault::RateLimited);
        assert_eq!(faults.take(Endpoint::Token), Some(Fault::RateLimited));
        assert_eq!(faults.take(Endpoint::Token), Some(Fault::HtmlError(503)));
        assert_eq!(faults.take(Endpoint::Token), Some(Fault::HtmlError(503)));
        assert_eq!(faults.take(Endpoint::Revoke), None);
        faults.clear();
        assert_eq!(faults.take(Endpoint::Token), None);
    }

    #[test]
    fn routes_follow_method_and_path() {
        assert_eq!(
            Endpoint::route(&Method::POST, "/oauth/token"),
            Some(Endpoint::Token)
        );
        assert_eq!(Endpoint::route(&Method::GET, "/oauth/token"), None);
        assert_eq!(
            Endpoint::route(&Method::DELETE, "/oauth/authorize"),
            Some(Endpoint::Authorize)
        );
    }
}
