//! Signed calls to Tumblr, and what their answers mean.
//!
//! Three endpoints, each signed by [`crate::oauth1`] with a fresh nonce and the current
//! time:
//!
//! | call | endpoint | extra parameter | key: consumer secret & … |
//! |---|---|---|---|
//! | [`Client::request_token`] | `POST {www}/oauth/request_token` | `oauth_callback` | nothing |
//! | [`Client::access_token`] | `GET {www}/oauth/access_token` | `oauth_verifier` | temporary |
//! | [`Client::user_info`] | `GET {api}/v2/user/info` | — | access token's |
//!
//! The OAuth endpoints answer form-encoded bodies (never JSON) and plain-text errors; the
//! API answers the `{"meta": …, "response": …}` envelope. [`classify`] sorts failures into
//! the buckets of `platforms.md` §0 with Tumblr's twist: a 401 in plain text is Tumblr
//! refusing credentials, whereas a 401 HTML page comes from something in between.

use hayon_guest::outbound::{Method, OutboundRequest, OutboundResponse};
use hayon_guest::state::random_bytes;
use hayon_guest::upstream::{FailureClass, Phase, UpstreamFailure};
use hayon_guest::{ApiError, Env, Timestamp};
use serde::Deserialize;

use crate::oauth1::{OAuthToken, Request, Signer, TokenCredentials, TokenSecret, Verifier};
use crate::settings::Settings;

/// The name Tumblr is shown by in messages.
pub const PLATFORM_NAME: &str = "Tumblr";

/// Sent on every call: Tumblr requires a `User-Agent` and asks that it stay the same.
pub const USER_AGENT: &str = concat!("hayon-tumblr/", env!("CARGO_PKG_VERSION"));

/// What `accept` says for the OAuth endpoints, whose answers are form-encoded.
const ACCEPT_FORM: &str = "application/x-www-form-urlencoded, text/plain;q=0.9, */*;q=0.1";

/// A failed call: either something on our side, or Tumblr's answer, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Signing, randomness or configuration failed on our side.
    #[error(transparent)]
    Local(#[from] ApiError),
    /// Tumblr (or the way to it) failed.
    #[error("Tumblr call failed: {0:?}")]
    Upstream(UpstreamFailure),
}

impl CallError {
    /// The contract's error for this failure, given whose credentials the call used.
    pub fn into_api(self, phase: Phase) -> ApiError {
        match self {
            Self::Local(error) => error,
            Self::Upstream(failure) => failure.into_api(PLATFORM_NAME, phase),
        }
    }

    /// The bucket of an upstream failure; `None` for a local one.
    pub fn class(&self) -> Option<FailureClass> {
        match self {
            Self::Local(_) => None,
            Self::Upstream(failure) => Some(failure.class),
        }
    }
}

/// Temporary credentials from `request_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    /// The temporary token and its secret.
    pub credentials: TokenCredentials,
    /// Whether Tumblr answered `oauth_callback_confirmed=true` (OAuth 1.0a).
    pub callback_confirmed: bool,
}

/// `response.user` of `GET /v2/user/info`: only what the connector reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    /// The user's short name.
    pub name: String,
    /// The user's blogs, in Tumblr's order.
    #[serde(default)]
    pub blogs: Vec<BlogInfo>,
}

/// One blog of `user/info`. Every field but `name` may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlogInfo {
    /// The blog's short name (the user can change it).
    pub name: String,
    /// Its address: `https://<name>.tumblr.com/` or a custom domain.
    #[serde(default)]
    pub url: Option<String>,
    /// Its title, when it has one.
    #[serde(default)]
    pub title: Option<String>,
    /// The stable blog id (`t:…`).
    #[serde(default)]
    pub uuid: Option<String>,
    /// Whether this is the user's primary blog.
    #[serde(default)]
    pub primary: bool,
}

#[derive(Deserialize)]
struct UserInfoEnvelope {
    response: UserInfoResponse,
}

#[derive(Deserialize)]
struct UserInfoResponse {
    user: UserInfo,
}

/// The OAuth step a request belongs to, and what it is signed with besides the app's
/// credentials.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// `oauth_callback`, no token.
    RequestToken { callback: &'a str },
    /// The temporary token and `oauth_verifier`.
    AccessToken {
        temporary: &'a TokenCredentials,
        verifier: &'a Verifier,
    },
    /// The access token.
    Api { access: &'a TokenCredentials },
}

/// Calls Tumblr for one operation.
pub struct Client<'a> {
    env: &'a Env,
    settings: &'a Settings,
}

impl<'a> Client<'a> {
    /// A client over `env`'s outbound HTTP with the app credentials in `settings`.
    pub fn new(env: &'a Env, settings: &'a Settings) -> Self {
        Self { env, settings }
    }

    /// Obtains temporary credentials for a connection that comes back to `callback`.
    pub fn request_token(&self, callback: &str) -> Result<TemporaryCredentials, CallError> {
        let url = format!("{}/oauth/request_token", self.settings.www_url);
        let step = Step::RequestToken { callback };
        let response = self.send(Method::Post, &url, ACCEPT_FORM, step)?;
        let form = self.form_answer(&response)?;
        let credentials = token_credentials(&form).ok_or_else(|| unreadable(&response))?;
        let callback_confirmed = field(&form, "oauth_callback_confirmed") == Some("true");
        Ok(TemporaryCredentials {
            credentials,
            callback_confirmed,
        })
    }

    /// Exchanges the temporary credentials and the person's verifier for token credentials.
    pub fn access_token(
        &self,
        temporary: &TokenCredentials,
        verifier: &Verifier,
    ) -> Result<TokenCredentials, CallError> {
        let url = format!("{}/oauth/access_token", self.settings.www_url);
        let step = Step::AccessToken {
            temporary,
            verifier,
        };
        let response = self.send(Method::Get, &url, ACCEPT_FORM, step)?;
        let form = self.form_answer(&response)?;
        token_credentials(&form).ok_or_else(|| unreadable(&response))
    }

    /// Reads `GET /v2/user/info` with the account's token credentials.
    pub fn user_info(&self, access: &TokenCredentials) -> Result<UserInfo, CallError> {
        let url = format!("{}/v2/user/info", self.settings.api_url);
        let response = self.send(Method::Get, &url, "application/json", Step::Api { access })?;
        if !response.is_success() {
            return Err(CallError::Upstream(classify(&response, self.env.now())));
        }
        let envelope: UserInfoEnvelope =
            serde_json::from_slice(&response.body).map_err(|_| unreadable(&response))?;
        Ok(envelope.response.user)
    }

    /// Signs and sends one body-less request for `step`.
    fn send(
        &self,
        method: Method,
        url: &str,
        accept: &str,
        step: Step<'_>,
    ) -> Result<OutboundResponse, CallError> {
        let nonce: String = random_bytes::<16>()?
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let timestamp = u64::try_from(self.env.now().unix()).unwrap_or(0);
        let mut signer = Signer::new(
            &self.settings.consumer_key,
            &self.settings.consumer_secret,
            &nonce,
            timestamp,
        )
        .version(true);
        signer = match step {
            Step::RequestToken { callback } => signer.callback(callback),
            Step::AccessToken {
                temporary,
                verifier,
            } => signer.token(temporary).verifier(verifier),
            Step::Api { access } => signer.token(access),
        };
        let signed = signer
            .sign(&Request::new(method.as_str(), url))
            .map_err(|error| ApiError::internal(error.to_string()))?;

        let request = OutboundRequest::new(method, url)
            .header("accept", accept)
            .header("user-agent", USER_AGENT)
            .header("authorization", signed.authorization().expose());
        self.env.send(&request).map_err(CallError::Upstream)
    }

    /// The form-encoded pairs of a 2xx answer from an OAuth endpoint; other answers
    /// classified.
    fn form_answer(&self, response: &OutboundResponse) -> Result<Vec<(String, String)>, CallError> {
        if !response.is_success() {
            return Err(CallError::Upstream(classify(response, self.env.now())));
        }
        if response.looks_like_html() {
            return Err(unreadable(response));
        }
        Ok(form_urlencoded::parse(&response.body)
            .into_owned()
            .collect())
    }
}

/// The first non-empty value of `name` in a parsed form.
fn field<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.as_str())
}

/// `oauth_token` and `oauth_token_secret` of a form answer, both required.
fn token_credentials(form: &[(String, String)]) -> Option<TokenCredentials> {
    Some(TokenCredentials {
        token: OAuthToken::new(field(form, "oauth_token")?),
        secret: TokenSecret::new(field(form, "oauth_token_secret")?),
    })
}

fn unreadable(response: &OutboundResponse) -> CallError {
    CallError::Upstream(UpstreamFailure::unreadable(response))
}

/// Classifies a non-2xx answer from Tumblr (`now` dates a `Retry-After`).
pub fn classify(response: &OutboundResponse, now: Timestamp) -> UpstreamFailure {
    let mut failure = UpstreamFailure::classify(response, now);
    if let Some(body) = response.json_body() {
        // Tumblr's envelope: {"meta": {"status": 401, "msg": "Unauthorized"}, …}.
        let meta_msg = body.pointer("/meta/msg").and_then(|value| value.as_str());
        failure.message = meta_msg.map(str::to_owned).or(failure.message);
    }
    // The OAuth endpoints refuse credentials with a 401 in plain text (the signature does
    // not match, the token is unknown or used, the verifier is wrong): those are
    // credentials, not an outage. Only an HTML 401 stays transient.
    if response.status == 401 && !response.looks_like_html() {
        failure.class = FailureClass::CredentialsDead;
    }
    // Plain-text 400s name a malformed request: our defect, not a Tumblr outage.
    if response.status == 400 && !response.looks_like_html() && !response.body.is_empty() {
        failure.class = FailureClass::RequestError;
    }
    failure
}

/// Maps a failure at `request_token`, where the only credentials are the app's own.
pub fn request_token_error(error: CallError) -> ApiError {
    if error.class() == Some(FailureClass::CredentialsDead) {
        tracing::error!(
            platform = "tumblr",
            "Tumblr refused the app credentials at request_token; check TUMBLR_CONSUMER_KEY, \
             TUMBLR_CONSUMER_SECRET and the clock"
        );
        return ApiError::UpstreamUnavailable {
            message: "Tumblr refused this server's app credentials, so a connection cannot \
                      start. Try again later; if it keeps happening, tell the operator."
                .to_owned(),
        };
    }
    error.into_api(Phase::Connect)
}

#[cfg(test)]
mod tests {
    use hayon_guest::testing::{TEST_START, TestEnv};
    use serde_json::json;

    use super::*;

    fn test_settings() -> Settings {
        Settings {
            consumer_key: "ck".into(),
            consumer_secret: crate::oauth1::ConsumerSecret::new("cs"),
            www_url: "https://www.example".into(),
            api_url: "https://api.example".into(),
        }
    }

    fn classify_now(response: &OutboundResponse) -> UpstreamFailure {
        classify(response, TEST_START)
    }

    #[test]
    fn plain_text_401_is_refused_credentials_and_html_401_is_transient() {
        let text = OutboundResponse::with_body(
            401,
            "text/plain",
            "oauth_signature [abc] does not match expected value [def]",
        );
        assert_eq!(classify_now(&text).class, FailureClass::CredentialsDead);
        let envelope = OutboundResponse::json(
            401,
            &json!({"meta": {"status": 401, "msg": "Unauthorized"}, "response": []}),
        );
        let failure = classify_now(&envelope);
        assert_eq!(failure.class, FailureClass::CredentialsDead);
        assert_eq!(failure.message.as_deref(), Some("Unauthorized"));
        let html = OutboundResponse::with_body(401, "text/html", "<html>proxy</html>");
        assert_eq!(classify_now(&html).class, FailureClass::Transient);
    }

    #[test]
    fn throttling_and_outages_are_transient() {
        let limited = OutboundResponse::json(
            429,
            &json!({"meta": {"status": 429, "msg": "Limit Exceeded"}, "response": []}),
        )
        .with_header("Retry-After", "30");
        let failure = classify_now(&limited);
        assert!(failure.rate_limited);
        assert_eq!(failure.retry_after, Some(30));
        assert_eq!(
            failure.into_api(PLATFORM_NAME, Phase::Stored).code(),
            "rate_limited"
        );
        for response in [
            OutboundResponse::with_body(502, "text/html", "<html>Bad Gateway</html>"),
            OutboundResponse::with_body(503, "", ""),
            OutboundResponse::json(503, &json!({"meta": {"status": 503, "msg": "Down"}})),
            OutboundResponse::with_body(429, "text/plain", "Limit Exceeded"),
        ] {
            assert_eq!(
                classify_now(&response).class,
                FailureClass::Transient,
                "{response:?}"
            );
        }
    }

    #[test]
    fn plain_text_400_is_a_request_error() {
        let bad = OutboundResponse::with_body(400, "text/plain", "Missing oauth_verifier");
        assert_eq!(classify_now(&bad).class, FailureClass::RequestError);
    }

    #[test]
    fn form_answers_need_token_and_secret() {
        let ok = OutboundResponse::with_body(
            200,
            "application/x-www-form-urlencoded",
            "oauth_token=t%2B1&oauth_token_secret=s&oauth_callback_confirmed=true",
        );
        let test = TestEnv::new();
        let env = test.env();
        let settings = test_settings();
        let client = Client::new(&env, &settings);
        let form = client.form_answer(&ok).unwrap();
        let credentials = token_credentials(&form).unwrap();
        assert_eq!(credentials.token.expose(), "t+1");
        assert_eq!(credentials.secret.expose(), "s");
        assert_eq!(field(&form, "oauth_callback_confirmed"), Some("true"));

        let partial = OutboundResponse::with_body(200, "text/plain", "oauth_token=t");
        assert_eq!(
            token_credentials(&client.form_answer(&partial).unwrap()),
            None
        );
        let html = OutboundResponse::with_body(200, "text/html", "<html>hi</html>");
        let error = client.form_answer(&html).unwrap_err();
        assert_eq!(error.class(), Some(FailureClass::Transient));
        let refused = OutboundResponse::with_body(401, "text/plain", "oauth_token [x] used");
        let error = client.form_answer(&refused).unwrap_err();
        assert_eq!(error.class(), Some(FailureClass::CredentialsDead));
    }

    #[test]
    fn request_token_refusal_is_not_blamed_on_the_person() {
        let refused = CallError::Upstream(UpstreamFailure::new(FailureClass::CredentialsDead));
        let error = request_token_error(refused);
        assert_eq!(error.code(), "upstream_unavailable");
        assert!(error.public_message().contains("operator"));
    }
}
