//! The double's state and the behaviour of each endpoint, independent of HTTP plumbing.
//!
//! Every handler takes the request as received ([`ReceivedRequest`]), updates the state under
//! the caller's lock and returns a [`Reply`]; each call appends one [`LoggedRequest`]. Nothing
//! here awaits, so the lock is never held across an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha1::Digest as _;

use crate::control::{CallbackConfirmed, Decision, Endpoint, Failure, Site};
use crate::log::{LoggedRequest, Outcome, SignatureCheck, Via};
use crate::model::{TumblrUser, user_info_response};
use crate::oauth1;
use crate::reply::{Envelope, Rejection, Reply, escape_html, page};

/// How long an unused temporary token stays valid unless a test changes it.
// Limitation: Tumblr does not document this lifetime; ten minutes is a common choice and
// shorter than the 15 minutes the connector keeps its pending record.
pub(crate) const DEFAULT_REQUEST_TOKEN_TTL: Duration = Duration::from_secs(10 * 60);
/// Accepted distance between `oauth_timestamp` and the double's clock unless changed.
pub(crate) const DEFAULT_TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);
/// Length of the tokens, secrets and verifiers the double issues (Tumblr's are 50 characters).
const TOKEN_LEN: usize = 50;

/// A request as the listener received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReceivedRequest {
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub body: Vec<u8>,
}

/// Where a temporary (request) token is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestTokenStatus {
    /// Issued by `request_token`; the user has not decided yet.
    Issued,
    /// The user approved; `verifier` was sent to the callback.
    Authorized {
        /// The approving user's name.
        user: String,
        /// The `oauth_verifier` sent to the callback.
        verifier: String,
    },
    /// The user refused; the token cannot be exchanged.
    Denied,
    /// Exchanged at `access_token` (temporary tokens are single use).
    Exchanged {
        /// The approving user's name.
        user: String,
        /// The access token issued for it.
        access_token: String,
    },
}

/// A temporary token the double issued, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTokenInfo {
    /// The temporary `oauth_token`.
    pub token: String,
    /// The consumer it was issued to.
    pub consumer_key: String,
    /// The `oauth_callback` the client sent, exactly.
    pub callback: String,
    /// The double's clock (Unix seconds) at issue.
    pub issued_at: i64,
    /// Where it is in its life.
    pub status: RequestTokenStatus,
}

/// An access token and its secret, as `access_token` hands them out.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessCredentials {
    /// `oauth_token`.
    pub token: String,
    /// `oauth_token_secret` (redacted from `Debug`).
    pub secret: String,
    /// The user the token acts for.
    pub user: String,
}

impl std::fmt::Debug for AccessCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCredentials")
            .field("token", &self.token)
            .field("secret", &"[redacted]")
            .field("user", &self.user)
            .finish()
    }
}

/// An access token the double issued, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenInfo {
    /// `oauth_token`.
    pub token: String,
    /// The user it acts for.
    pub user: String,
    /// The consumer it was issued to.
    pub consumer_key: String,
    /// Whether a test revoked it.
    pub revoked: bool,
    /// The double's clock (Unix seconds) at issue.
    pub issued_at: i64,
}

#[derive(Debug, Clone)]
struct RequestTokenRecord {
    consumer_key: String,
    secret: String,
    callback: String,
    issued_at: i64,
    status: RequestTokenStatus,
}

#[derive(Debug, Clone)]
struct AccessTokenRecord {
    consumer_key: String,
    secret: String,
    user: String,
    revoked: bool,
    issued_at: i64,
}

/// Which token secret keys the signature of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// request_token: empty token secret.
    None,
    /// access_token: the temporary token's secret.
    Temporary,
    /// API calls: the access token's secret.
    Access,
}

/// What a verified request carried.
struct Authenticated {
    consumer_key: String,
    token: Option<String>,
    protocol: BTreeMap<String, String>,
}

/// The outcome of the authorization step, before it becomes HTTP or a method result.
pub(crate) enum Authorization {
    /// 302 to this URL.
    Redirect(String),
    /// No decision was given: the page a user would see.
    Page(String),
    /// Approved with an `oob` callback: the page that shows the verifier.
    OutOfBand(String),
}

#[derive(Debug, Default)]
struct PlannedFailures {
    next: VecDeque<Failure>,
    always: Option<Failure>,
}

/// Test-controlled behaviour.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub callback_confirmed: CallbackConfirmed,
    pub request_token_ttl: Duration,
    pub timestamp_window: Duration,
    pub authorize_decision: Option<Decision>,
}

/// Everything the double remembers.
pub(crate) struct State {
    consumers: HashMap<String, String>,
    users: BTreeMap<String, TumblrUser>,
    request_tokens: HashMap<String, RequestTokenRecord>,
    request_token_order: Vec<String>,
    access_tokens: HashMap<String, AccessTokenRecord>,
    access_token_order: Vec<String>,
    nonces: HashSet<(String, String, i64, String)>,
    clock_offset: i64,
    pub settings: Settings,
    failures: HashMap<Endpoint, PlannedFailures>,
    log: Vec<LoggedRequest>,
    mint: TokenMint,
}

impl State {
    pub fn new(consumer_key: String, consumer_secret: String) -> Self {
        Self {
            consumers: HashMap::from([(consumer_key, consumer_secret)]),
            users: BTreeMap::new(),
            request_tokens: HashMap::new(),
            request_token_order: Vec::new(),
            access_tokens: HashMap::new(),
            access_token_order: Vec::new(),
            nonces: HashSet::new(),
            clock_offset: 0,
            settings: Settings {
                callback_confirmed: CallbackConfirmed::True,
                request_token_ttl: DEFAULT_REQUEST_TOKEN_TTL,
                timestamp_window: DEFAULT_TIMESTAMP_WINDOW,
                authorize_decision: None,
            },
            failures: HashMap::new(),
            log: Vec::new(),
            mint: TokenMint::new(),
        }
    }

    // ---- control ------------------------------------------------------------------------

    pub fn add_consumer(&mut self, key: String, secret: String) {
        self.consumers.insert(key, secret);
    }

    pub fn add_user(&mut self, user: TumblrUser) {
        self.users.insert(user.name.clone(), user);
    }

    pub fn remove_user(&mut self, name: &str) -> Option<TumblrUser> {
        self.users.remove(name)
    }

    pub fn user(&self, name: &str) -> Option<TumblrUser> {
        self.users.get(name).cloned()
    }

    pub fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        i64::try_from(real)
            .unwrap_or(i64::MAX)
            .saturating_add(self.clock_offset)
    }

    pub fn advance_clock(&mut self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.clock_offset = self.clock_offset.saturating_add(secs);
    }

    pub fn set_clock(&mut self, unix_seconds: i64) {
        let current = self.now() - self.clock_offset;
        self.clock_offset = unix_seconds.saturating_sub(current);
    }

    pub fn fail_next(&mut self, endpoint: Endpoint, failure: Failure) {
        self.failures
            .entry(endpoint)
            .or_default()
            .next
            .push_back(failure);
    }

    pub fn fail_always(&mut self, endpoint: Endpoint, failure: Failure) {
        self.failures.entry(endpoint).or_default().always = Some(failure);
    }

    pub fn clear_failures(&mut self) {
        self.failures.clear();
    }

    /// The failure planned for the next request to `endpoint`, if any (one-shot ones first).
    pub fn take_failure(&mut self, endpoint: Endpoint) -> Option<Failure> {
        let planned = self.failures.get_mut(&endpoint)?;
        planned.next.pop_front().or_else(|| planned.always.clone())
    }

    pub fn request_tokens(&self) -> Vec<RequestTokenInfo> {
        self.request_token_order
            .iter()
            .filter_map(|t| self.request_token(t))
            .collect()
    }

    pub fn request_token(&self, token: &str) -> Option<RequestTokenInfo> {
        self.request_tokens.get(token).map(|r| RequestTokenInfo {
            token: token.to_owned(),
            consumer_key: r.consumer_key.clone(),
            callback: r.callback.clone(),
            issued_at: r.issued_at,
            status: r.status.clone(),
        })
    }

    pub fn access_tokens(&self) -> Vec<AccessTokenInfo> {
        self.access_token_order
            .iter()
            .filter_map(|token| {
                self.access_tokens.get(token).map(|r| AccessTokenInfo {
                    token: token.clone(),
                    user: r.user.clone(),
                    consumer_key: r.consumer_key.clone(),
                    revoked: r.revoked,
                    issued_at: r.issued_at,
                })
            })
            .collect()
    }

    /// Issues an access token for `user` directly, without the OAuth dance.
    pub fn issue_access_token(&mut self, consumer_key: &str, user: &str) -> AccessCredentials {
        let token = self.mint.token(TOKEN_LEN);
        let secret = self.mint.token(TOKEN_LEN);
        let record = AccessTokenRecord {
            consumer_key: consumer_key.to_owned(),
            secret: secret.clone(),
            user: user.to_owned(),
            revoked: false,
            issued_at: self.now(),
        };
        self.access_tokens.insert(token.clone(), record);
        self.access_token_order.push(token.clone());
        AccessCredentials {
            token,
            secret,
            user: user.to_owned(),
        }
    }

    pub fn revoke_access_token(&mut self, token: &str) -> bool {
        match self.access_tokens.get_mut(token) {
            Some(record) if !record.revoked => {
                record.revoked = true;
                true
            }
            _ => false,
        }
    }

    pub fn revoke_user_tokens(&mut self, user: &str) -> usize {
        let mut count = 0;
        for record in self
            .access_tokens
            .values_mut()
            .filter(|r| r.user == user && !r.revoked)
        {
            record.revoked = true;
            count += 1;
        }
        count
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.clone()
    }

    pub fn clear_requests(&mut self) {
        self.log.clear();
    }

    // ---- HTTP entry points --------------------------------------------------------------

    /// Serves a request routed to `endpoint` on `site`.
    pub fn serve(&mut self, site: Site, endpoint: Endpoint, req: &ReceivedRequest) -> Reply {
        let mut entry = self.entry(site, Some(endpoint), Via::Http, req);
        let result = match endpoint {
            Endpoint::RequestToken => self.request_token_step(req, &mut entry),
            Endpoint::AccessToken => self.access_token_step(req, &mut entry),
            Endpoint::UserInfo => self.user_info(req, &mut entry),
            Endpoint::Authorize => Ok(self.authorize_over_http(req, &mut entry)),
        };
        let reply = result.unwrap_or_else(|rejection| {
            entry.outcome = Outcome::Rejected(rejection.to_string());
            Reply::rejection(site, &rejection)
        });
        self.finish(entry, reply)
    }

    /// Answers a request that matched no endpoint (`reply` is the 404 or 405).
    pub fn serve_unrouted(&mut self, site: Site, req: &ReceivedRequest, reply: Reply) -> Reply {
        let mut entry = self.entry(site, None, Via::Http, req);
        entry.outcome = Outcome::Rejected(format!("no route for {} {}", req.method, req.path));
        self.finish(entry, reply)
    }

    /// Records an injected failure answering a request to `endpoint`.
    pub fn serve_failure(
        &mut self,
        site: Site,
        endpoint: Endpoint,
        req: &ReceivedRequest,
        failure: Failure,
    ) -> Reply {
        let mut entry = self.entry(site, Some(endpoint), Via::Http, req);
        let reply = Reply::failure(site, &failure);
        entry.outcome = Outcome::Injected(failure);
        self.finish(entry, reply)
    }

    /// The authorization step called as a method: `query` is the authorize URL's query.
    pub fn authorize_by_method(
        &mut self,
        path: &str,
        query: Option<&str>,
        decision: Decision,
    ) -> Result<Authorization, String> {
        let req = ReceivedRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            ..ReceivedRequest::default()
        };
        let mut entry = self.entry(Site::Www, Some(Endpoint::Authorize), Via::Method, &req);
        let result = self.authorize(&req, Some(decision), &mut entry);
        let status = match &result {
            Ok(Authorization::Redirect(_)) => 302,
            Ok(_) => 200,
            Err(reason) => {
                entry.outcome = Outcome::Rejected(reason.clone());
                400
            }
        };
        entry.status = status;
        entry.at = self.now();
        self.push(entry);
        result
    }

    fn entry(
        &self,
        site: Site,
        endpoint: Option<Endpoint>,
        via: Via,
        req: &ReceivedRequest,
    ) -> LoggedRequest {
        LoggedRequest {
            seq: 0,
            site,
            endpoint,
            via,
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            consumer_key: None,
            token: None,
            signature: SignatureCheck::NotChecked,
            status: 0,
            outcome: Outcome::Served,
            user_agent: req.user_agent.clone(),
            at: self.now(),
        }
    }

    fn finish(&mut self, mut entry: LoggedRequest, reply: Reply) -> Reply {
        entry.status = reply.status;
        tracing::debug!(
            site = ?entry.site,
            endpoint = ?entry.endpoint,
            status = entry.status,
            signature_valid = entry.signature.is_valid(),
            "tumblr double answered"
        );
        self.push(entry);
        reply
    }

    fn push(&mut self, mut entry: LoggedRequest) {
        entry.seq = u64::try_from(self.log.len()).unwrap_or(u64::MAX);
        self.log.push(entry);
    }

    // ---- the steps ----------------------------------------------------------------------

    fn request_token_step(
        &mut self,
        req: &ReceivedRequest,
        entry: &mut LoggedRequest,
    ) -> Result<Reply, Rejection> {
        let auth = self.authenticate(req, TokenKind::None, entry)?;
        let callback = auth
            .protocol
            .get("oauth_callback")
            .ok_or(Rejection::MissingParameter("oauth_callback"))?;
        if !is_acceptable_callback(callback) {
            return Err(Rejection::Callback(callback.clone()));
        }

        let token = self.mint.token(TOKEN_LEN);
        let secret = self.mint.token(TOKEN_LEN);
        let record = RequestTokenRecord {
            consumer_key: auth.consumer_key,
            secret: secret.clone(),
            callback: callback.clone(),
            issued_at: self.now(),
            status: RequestTokenStatus::Issued,
        };
        self.request_tokens.insert(token.clone(), record);
        self.request_token_order.push(token.clone());
        entry.token = Some(token.clone());

        let mut body = format!("oauth_token={token}&oauth_token_secret={secret}");
        match self.settings.callback_confirmed {
            CallbackConfirmed::True => body.push_str("&oauth_callback_confirmed=true"),
            CallbackConfirmed::False => body.push_str("&oauth_callback_confirmed=false"),
            CallbackConfirmed::Missing => {}
        }
        Ok(Reply::form(body))
    }

    fn access_token_step(
        &mut self,
        req: &ReceivedRequest,
        entry: &mut LoggedRequest,
    ) -> Result<Reply, Rejection> {
        let auth = self.authenticate(req, TokenKind::Temporary, entry)?;
        let token = auth
            .token
            .ok_or(Rejection::MissingParameter("oauth_token"))?;
        let now = self.now();
        let ttl = ttl_secs(self.settings.request_token_ttl);
        let record = self
            .request_tokens
            .get(&token)
            .ok_or_else(|| Rejection::UnknownToken(token.clone()))?;

        let user = match &record.status {
            RequestTokenStatus::Exchanged { .. } => return Err(Rejection::TokenUsed(token)),
            _ if now >= record.issued_at.saturating_add(ttl) => {
                return Err(Rejection::TokenExpired(token));
            }
            RequestTokenStatus::Issued | RequestTokenStatus::Denied => {
                return Err(Rejection::NotAuthorized(token));
            }
            RequestTokenStatus::Authorized { user, verifier } => {
                let sent = auth
                    .protocol
                    .get("oauth_verifier")
                    .ok_or(Rejection::MissingParameter("oauth_verifier"))?;
                if sent != verifier {
                    return Err(Rejection::Verifier(sent.clone()));
                }
                user.clone()
            }
        };

        let credentials = self.issue_access_token(&auth.consumer_key, &user);
        if let Some(record) = self.request_tokens.get_mut(&token) {
            record.status = RequestTokenStatus::Exchanged {
                user,
                access_token: credentials.token.clone(),
            };
        }
        Ok(Reply::form(format!(
            "oauth_token={}&oauth_token_secret={}",
            credentials.token, credentials.secret
        )))
    }

    fn user_info(
        &mut self,
        req: &ReceivedRequest,
        entry: &mut LoggedRequest,
    ) -> Result<Reply, Rejection> {
        let auth = self.authenticate(req, TokenKind::Access, entry)?;
        let token = auth
            .token
            .ok_or(Rejection::MissingParameter("oauth_token"))?;
        let record = self
            .access_tokens
            .get(&token)
            .ok_or(Rejection::UnknownToken(token))?;
        if record.revoked {
            return Err(Rejection::Revoked);
        }
        // A user removed by the test is treated like a revoked authorization.
        let user = self.users.get(&record.user).ok_or(Rejection::Revoked)?;
        Ok(Reply::json(
            200,
            &Envelope::new(200, "OK", user_info_response(user)),
        ))
    }

    fn authorize_over_http(&mut self, req: &ReceivedRequest, entry: &mut LoggedRequest) -> Reply {
        let query = query_pairs(req.query.as_deref());
        let decision = match query.get("double_decision").map(String::as_str) {
            None => None,
            Some(choice) => match parse_decision(choice) {
                Some(decision) => Some(decision),
                None => {
                    let reason = format!("unknown double_decision [{choice}]");
                    entry.outcome = Outcome::Rejected(reason.clone());
                    return Reply::html(400, page("Bad request", &escape_html(&reason)));
                }
            },
        };
        match self.authorize(req, decision, entry) {
            Ok(Authorization::Redirect(location)) => Reply::redirect(location),
            Ok(Authorization::Page(html) | Authorization::OutOfBand(html)) => {
                Reply::html(200, html)
            }
            Err(reason) => {
                entry.outcome = Outcome::Rejected(reason.clone());
                Reply::html(
                    400,
                    page("This link is no longer valid", &escape_html(&reason)),
                )
            }
        }
    }

    /// The authorization step: `decision` overrides the default set by the test.
    fn authorize(
        &mut self,
        req: &ReceivedRequest,
        decision: Option<Decision>,
        entry: &mut LoggedRequest,
    ) -> Result<Authorization, String> {
        let query = query_pairs(req.query.as_deref());
        let token = query
            .get("oauth_token")
            .cloned()
            .ok_or("Missing oauth_token")?;
        entry.token = Some(token.clone());
        let now = self.now();
        let ttl = ttl_secs(self.settings.request_token_ttl);
        let record = self
            .request_tokens
            .get(&token)
            .ok_or_else(|| format!("The request token [{token}] is invalid"))?;
        entry.consumer_key = Some(record.consumer_key.clone());
        match record.status {
            RequestTokenStatus::Exchanged { .. } => {
                return Err(format!("The request token [{token}] has already been used"));
            }
            RequestTokenStatus::Denied => {
                return Err(format!(
                    "The request token [{token}] was refused by the user"
                ));
            }
            _ if now >= record.issued_at.saturating_add(ttl) => {
                return Err(format!("The request token [{token}] has expired"));
            }
            _ => {}
        }
        let callback = record.callback.clone();

        let Some(decision) = decision.or_else(|| self.settings.authorize_decision.clone()) else {
            let text = format!(
                "An application would like to access your account (request token {}). \
                 Test-only: add double_decision=approve:&lt;user&gt;, deny or deny-bare.",
                escape_html(&token)
            );
            return Ok(Authorization::Page(page("Log in to Tumblr", &text)));
        };

        let (status, params) = match &decision {
            Decision::Approve(user) => {
                if !self.users.contains_key(user) {
                    return Err(format!("There is no Tumblr user [{user}] in the double"));
                }
                let verifier = self.mint.token(TOKEN_LEN);
                let status = RequestTokenStatus::Authorized {
                    user: user.clone(),
                    verifier: verifier.clone(),
                };
                (
                    status,
                    vec![("oauth_token", token.clone()), ("oauth_verifier", verifier)],
                )
            }
            Decision::Deny => (
                RequestTokenStatus::Denied,
                vec![("oauth_token", token.clone())],
            ),
            Decision::DenyWithoutParameters => (RequestTokenStatus::Denied, Vec::new()),
        };
        let verifier = match &status {
            RequestTokenStatus::Authorized { verifier, .. } => Some(verifier.clone()),
            _ => None,
        };
        if let Some(record) = self.request_tokens.get_mut(&token) {
            record.status = status;
        }

        if callback == "oob" {
            let text = match verifier {
                Some(verifier) => format!("Your verifier is {}", escape_html(&verifier)),
                None => "You refused access.".to_owned(),
            };
            return Ok(Authorization::OutOfBand(page("Tumblr", &text)));
        }
        Ok(Authorization::Redirect(callback_location(
            &callback, &params,
        )?))
    }

    // ---- signature verification ---------------------------------------------------------

    /// Checks the `Authorization` header, the consumer, the timestamp window, the token, the
    /// signature and the nonce, in that order; records what it learned in `entry`.
    fn authenticate(
        &mut self,
        req: &ReceivedRequest,
        kind: TokenKind,
        entry: &mut LoggedRequest,
    ) -> Result<Authenticated, Rejection> {
        let header = req
            .authorization
            .as_deref()
            .ok_or_else(|| Rejection::BadHeader("no Authorization header".to_owned()))?;
        let header = oauth1::parse_authorization(header)
            .map_err(|error| Rejection::BadHeader(error.to_string()))?;
        let protocol = protocol_parameters(&header)?;
        entry.consumer_key = protocol.get("oauth_consumer_key").cloned();
        let token = protocol
            .get("oauth_token")
            .filter(|t| !t.is_empty())
            .cloned();
        entry.token = token.clone();

        let required = |name: &'static str| {
            protocol
                .get(name)
                .cloned()
                .ok_or(Rejection::MissingParameter(name))
        };
        let consumer_key = required("oauth_consumer_key")?;
        let method = required("oauth_signature_method")?;
        let timestamp = required("oauth_timestamp")?;
        let nonce = required("oauth_nonce")?;
        let received = required("oauth_signature")?;
        if method != "HMAC-SHA1" {
            return Err(Rejection::SignatureMethod(method));
        }
        if let Some(version) = protocol.get("oauth_version").filter(|v| *v != "1.0") {
            return Err(Rejection::Version(version.clone()));
        }
        let consumer_secret = self
            .consumers
            .get(&consumer_key)
            .cloned()
            .ok_or_else(|| Rejection::UnknownConsumer(consumer_key.clone()))?;
        let timestamp = self.check_timestamp(&timestamp)?;
        let token_secret = self.token_secret(kind, &consumer_key, token.as_deref())?;

        let host = req.host.as_deref().ok_or(Rejection::MissingHost)?;
        let base_uri = oauth1::base_string_uri("http", host, &req.path)
            .map_err(|error| Rejection::BadHeader(error.to_string()))?;
        let form_body = is_form(req.content_type.as_deref()).then_some(req.body.as_slice());
        let params = oauth1::collect_parameters(req.query.as_deref(), &header, form_body);
        let base_string = oauth1::signature_base_string(&req.method, &base_uri, &params);
        let expected = oauth1::hmac_sha1_signature(&consumer_secret, &token_secret, &base_string);
        if expected != received {
            entry.signature = SignatureCheck::Invalid {
                received: received.clone(),
                expected: expected.clone(),
                base_string,
            };
            return Err(Rejection::SignatureMismatch { received, expected });
        }
        entry.signature = SignatureCheck::Valid;

        self.check_nonce(&consumer_key, token.as_deref(), timestamp, nonce)?;
        Ok(Authenticated {
            consumer_key,
            token,
            protocol,
        })
    }

    fn check_timestamp(&self, timestamp: &str) -> Result<i64, Rejection> {
        let parsed = (!timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit()))
            .then(|| timestamp.parse::<i64>().ok())
            .flatten()
            .ok_or_else(|| Rejection::TimestampFormat(timestamp.to_owned()))?;
        let now = self.now();
        let window = self.settings.timestamp_window.as_secs();
        if parsed.abs_diff(now) > window {
            return Err(Rejection::Timestamp {
                got: parsed,
                now,
                window,
            });
        }
        Ok(parsed)
    }

    fn token_secret(
        &self,
        kind: TokenKind,
        consumer_key: &str,
        token: Option<&str>,
    ) -> Result<String, Rejection> {
        let unknown = || Rejection::UnknownToken(token.unwrap_or_default().to_owned());
        match kind {
            TokenKind::None => Ok(String::new()),
            TokenKind::Temporary => {
                let token = token.ok_or(Rejection::MissingParameter("oauth_token"))?;
                let record = self.request_tokens.get(token).ok_or_else(unknown)?;
                if record.consumer_key != consumer_key {
                    return Err(unknown());
                }
                Ok(record.secret.clone())
            }
            TokenKind::Access => {
                let token = token.ok_or(Rejection::MissingParameter("oauth_token"))?;
                let record = self.access_tokens.get(token).ok_or_else(unknown)?;
                if record.consumer_key != consumer_key {
                    return Err(unknown());
                }
                Ok(record.secret.clone())
            }
        }
    }

    /// Refuses a nonce already seen with the same consumer, token and timestamp, and forgets
    /// nonces whose timestamps the window would refuse anyway.
    fn check_nonce(
        &mut self,
        consumer_key: &str,
        token: Option<&str>,
        timestamp: i64,
        nonce: String,
    ) -> Result<(), Rejection> {
        let oldest = self
            .now()
            .saturating_sub(ttl_secs(self.settings.timestamp_window));
        self.nonces.retain(|(_, _, ts, _)| *ts >= oldest);
        let key = (
            consumer_key.to_owned(),
            token.unwrap_or_default().to_owned(),
            timestamp,
            nonce,
        );
        if self.nonces.contains(&key) {
            return Err(Rejection::NonceReplay(key.3));
        }
        self.nonces.insert(key);
        Ok(())
    }
}

/// The `oauth_*` parameters of the header, refusing duplicates (RFC 5849 §3.1).
fn protocol_parameters(
    header: &[(String, Vec<u8>)],
) -> Result<BTreeMap<String, String>, Rejection> {
    let mut protocol = BTreeMap::new();
    for (name, value) in header.iter().filter(|(name, _)| name.starts_with("oauth_")) {
        let value = String::from_utf8(value.clone())
            .map_err(|_| Rejection::BadHeader(format!("{name} is not UTF-8")))?;
        if protocol.insert(name.clone(), value).is_some() {
            return Err(Rejection::DuplicateParameter(name.clone()));
        }
    }
    Ok(protocol)
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn is_acceptable_callback(callback: &str) -> bool {
    callback == "oob"
        || url::Url::parse(callback)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// The callback URL with `params` appended to its query and Tumblr's `#_=_` fragment.
fn callback_location(callback: &str, params: &[(&str, String)]) -> Result<String, String> {
    let mut url = url::Url::parse(callback)
        .map_err(|error| format!("The callback [{callback}] is not a URL: {error}"))?;
    url.set_fragment(None);
    if !params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    url.set_fragment(Some("_=_"));
    Ok(url.into())
}

/// Decoded query parameters; the first occurrence of a name wins.
fn query_pairs(query: Option<&str>) -> HashMap<String, String> {
    let mut pairs = HashMap::new();
    for (name, value) in oauth1::parse_form(query.unwrap_or_default().as_bytes()) {
        let name = String::from_utf8_lossy(&name).into_owned();
        pairs
            .entry(name)
            .or_insert_with(|| String::from_utf8_lossy(&value).into_owned());
    }
    pairs
}

/// `approve:<user>`, `deny` or `deny-bare` (the test-only `double_decision` parameter).
fn parse_decision(choice: &str) -> Option<Decision> {
    match choice {
        "deny" => Some(Decision::Deny),
        "deny-bare" => Some(Decision::DenyWithoutParameters),
        _ => choice
            .strip_prefix("approve:")
            .filter(|u| !u.is_empty())
            .map(Decision::approve),
    }
}

fn ttl_secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Issues the double's tokens: 50 alphanumeric characters, unpredictable enough for tests.
struct TokenMint {
    seed: u64,
    counter: u64,
}

impl TokenMint {
    fn new() -> Self {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        Self {
            seed: hasher.finish(),
            counter: 0,
        }
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHANUMERIC: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = String::with_capacity(len);
        while out.len() < len {
            self.counter += 1;
            let digest = sha1::Sha1::new()
                .chain_update(self.seed.to_le_bytes())
                .chain_update(self.counter.to_le_bytes())
                .finalize();
            for byte in digest.iter().take(len - out.len()) {
                out.push(char::from(ALPHANUMERIC[usize::from(byte % 62)]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_location_appends_to_the_existing_query_and_adds_the_fragment() {
        let params = [
            ("oauth_token", "T".to_owned()),
            ("oauth_verifier", "V".to_owned()),
        ];
        let location = callback_location("https://app.example/cb?state=abc#old", &params);
        assert_eq!(
            location.as_deref(),
            Ok("https://app.example/cb?state=abc&oauth_token=T&oauth_verifier=V#_=_")
        );
        assert_eq!(
            callback_location("http://127.0.0.1:9/cb", &[]).as_deref(),
            Ok("http://127.0.0.1:9/cb#_=_")
        );
    }

    #[test]
    fn callbacks_must_be_absolute_http_urls_or_oob() {
        assert!(is_acceptable_callback("oob"));
        assert!(is_acceptable_callback(
            "http://127.0.0.1:1234/api/platform/tumblr/callback"
        ));
        assert!(!is_acceptable_callback("/relative/callback"));
        assert!(!is_acceptable_callback("javascript:alert(1)"));
        assert!(!is_acceptable_callback(""));
    }

    #[test]
    fn form_bodies_are_recognised_by_the_media_type_essence() {
        assert!(is_form(Some("application/x-www-form-urlencoded")));
        assert!(is_form(Some(
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
        )));
        assert!(!is_form(Some("application/json")));
        assert!(!is_form(Some("multipart/form-data; boundary=x")));
        assert!(!is_form(None));
    }

    #[test]
    fn duplicated_protocol_parameters_are_refused() {
        let header = vec![
            ("oauth_nonce".to_owned(), b"a".to_vec()),
            ("realm".to_owned(), b"x".to_vec()),
            ("oauth_nonce".to_owned(), b"b".to_vec()),
        ];
        assert_eq!(
            protocol_parameters(&header),
            Err(Rejection::DuplicateParameter("oauth_nonce".to_owned()))
        );
    }

    #[test]
    fn minted_tokens_are_alphanumeric_and_distinct() {
        let mut mint = TokenMint::new();
        let a = mint.token(TOKEN_LEN);
        let b = mint.token(TOKEN_LEN);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn decisions_parse_from_the_test_parameter() {
        assert_eq!(
            parse_decision("approve:david"),
            Some(Decision::approve("david"))
        );
        assert_eq!(parse_decision("deny"), Some(Decision::Deny));
        assert_eq!(
            parse_decision("deny-bare"),
            Some(Decision::DenyWithoutParameters)
        );
        assert_eq!(parse_decision("approve:"), None);
        assert_eq!(parse_decision("yes"), None);
    }
}
