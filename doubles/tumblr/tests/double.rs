//! The double's behaviour over HTTP: the OAuth 1.0a dance, its refusals, `user/info`, and the
//! test controls (failures, clock, log).
//!
//! Requests are signed here with the double's own `oauth1` module, whose correctness the
//! RFC vectors in `src/oauth1.rs` establish; these tests are about the protocol around it.

use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use hayon_double_tumblr::oauth1;
use hayon_double_tumblr::{
    CallbackConfirmed, Decision, Endpoint, Failure, Outcome, RequestTokenStatus, SignatureCheck,
    TumblrDouble, Via, fixtures,
};

const CALLBACK: &str = "http://127.0.0.1:9/api/platform/tumblr/callback?state=65f0c0ffee";

struct Answer {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Answer {
    fn form(&self, name: &str) -> Option<String> {
        oauth1::parse_form(self.body.as_bytes())
            .into_iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A minimal OAuth 1.0a client for the double.
struct Client1 {
    http: Client<HttpConnector, Full<Bytes>>,
    consumer_key: String,
    consumer_secret: String,
    nonce: u64,
}

/// One signed request.
#[derive(Default)]
struct Signed<'a> {
    method: &'a str,
    url: String,
    oauth: Vec<(&'a str, String)>,
    token: Option<(&'a str, &'a str)>,
    form_body: Option<&'a str>,
    json_body: Option<&'a str>,
    host: Option<String>,
    /// Sign as if the request went to this URL instead (to simulate client bugs).
    sign_url: Option<String>,
    timestamp: Option<i64>,
    nonce: Option<String>,
    /// Sign with this token secret instead of the token's (to simulate client bugs).
    sign_token_secret: Option<&'a str>,
}

impl Client1 {
    fn new(tumblr: &TumblrDouble) -> Self {
        Self {
            http: Client::builder(TokioExecutor::new()).build_http(),
            consumer_key: tumblr.consumer_key().to_owned(),
            consumer_secret: tumblr.consumer_secret().to_owned(),
            nonce: 0,
        }
    }

    fn authorization(&mut self, now: i64, req: &Signed<'_>) -> String {
        self.nonce += 1;
        let mut oauth = vec![
            ("oauth_consumer_key", self.consumer_key.clone()),
            (
                "oauth_nonce",
                req.nonce
                    .clone()
                    .unwrap_or_else(|| format!("nonce{}", self.nonce)),
            ),
            ("oauth_signature_method", "HMAC-SHA1".to_owned()),
            ("oauth_timestamp", req.timestamp.unwrap_or(now).to_string()),
            ("oauth_version", "1.0".to_owned()),
        ];
        if let Some((token, _)) = req.token {
            oauth.push(("oauth_token", token.to_owned()));
        }
        oauth.extend(req.oauth.iter().cloned());

        let sign_url = url::Url::parse(req.sign_url.as_deref().unwrap_or(&req.url)).expect("url");
        let authority = match sign_url.port() {
            Some(port) => format!("{}:{port}", sign_url.host_str().expect("host")),
            None => sign_url.host_str().expect("host").to_owned(),
        };
        let uri = oauth1::base_string_uri(sign_url.scheme(), &authority, sign_url.path())
            .expect("authority");
        let header: Vec<(String, Vec<u8>)> = oauth
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
            .collect();
        let params =
            oauth1::collect_parameters(sign_url.query(), &header, req.form_body.map(str::as_bytes));
        let base = oauth1::signature_base_string(req.method, &uri, &params);
        let token_secret = req
            .sign_token_secret
            .or(req.token.map(|(_, s)| s))
            .unwrap_or("");
        let signature = oauth1::hmac_sha1_signature(&self.consumer_secret, token_secret, &base);

        let mut parts = vec!["realm=\"\"".to_owned()];
        for (name, value) in oauth.iter().chain([&("oauth_signature", signature)]) {
            parts.push(format!(
                "{name}=\"{}\"",
                oauth1::percent_encode(value.as_bytes())
            ));
        }
        format!("OAuth {}", parts.join(", "))
    }

    async fn send(&mut self, tumblr: &TumblrDouble, req: Signed<'_>) -> Answer {
        let authorization = self.authorization(tumblr.now(), &req);
        self.raw(&req, Some(authorization)).await
    }

    async fn raw(&self, req: &Signed<'_>, authorization: Option<String>) -> Answer {
        let mut builder = hyper::Request::builder()
            .method(req.method)
            .uri(&req.url)
            .header("User-Agent", "hayon-double-tests/1");
        if let Some(authorization) = authorization {
            builder = builder.header("Authorization", authorization);
        }
        if let Some(host) = &req.host {
            builder = builder.header("Host", host);
        }
        let body = match (req.form_body, req.json_body) {
            (Some(form), _) => {
                builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
                form.to_owned()
            }
            (None, Some(json)) => {
                builder = builder.header("Content-Type", "application/json");
                json.to_owned()
            }
            (None, None) => String::new(),
        };
        let request = builder.body(Full::new(Bytes::from(body))).expect("request");
        let response = self
            .http
            .request(request)
            .await
            .expect("the double answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn request_token(&mut self, tumblr: &TumblrDouble) -> (String, String) {
        let answer = self
            .send(
                tumblr,
                Signed {
                    method: "POST",
                    url: format!("{}/oauth/request_token", tumblr.www_url()),
                    oauth: vec![("oauth_callback", CALLBACK.to_owned())],
                    ..Signed::default()
                },
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        (
            answer.form("oauth_token").expect("token"),
            answer.form("oauth_token_secret").expect("s"),
        )
    }

    async fn access_token(
        &mut self,
        tumblr: &TumblrDouble,
        method: &'static str,
        token: (&str, &str),
        verifier: &str,
    ) -> Answer {
        self.send(
            tumblr,
            Signed {
                method,
                url: format!("{}/oauth/access_token", tumblr.www_url()),
                oauth: vec![("oauth_verifier", verifier.to_owned())],
                token: Some(token),
                ..Signed::default()
            },
        )
        .await
    }

    async fn user_info(&mut self, tumblr: &TumblrDouble, token: (&str, &str)) -> Answer {
        self.send(
            tumblr,
            Signed {
                method: "GET",
                url: format!("{}/v2/user/info", tumblr.api_url()),
                token: Some(token),
                ..Signed::default()
            },
        )
        .await
    }
}

fn auth_url(tumblr: &TumblrDouble, token: &str) -> String {
    format!("{}/oauth/authorize?oauth_token={token}", tumblr.www_url())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

async fn started() -> (TumblrDouble, Client1) {
    let tumblr = TumblrDouble::start().await.expect("the double starts");
    tumblr.add_user(fixtures::no_blogs());
    tumblr.add_user(fixtures::one_blog());
    tumblr.add_user(fixtures::several_blogs());
    let client = Client1::new(&tumblr);
    (tumblr, client)
}

/// request_token → authorize → access_token; returns the access token and secret.
async fn connect(tumblr: &TumblrDouble, client: &mut Client1, user: &str) -> (String, String) {
    let (token, secret) = client.request_token(tumblr).await;
    let callback = tumblr
        .authorize(&auth_url(tumblr, &token), Decision::approve(user))
        .expect("ok");
    let verifier = query_param(&callback, "oauth_verifier").expect("verifier");
    let answer = client
        .access_token(tumblr, "POST", (&token, &secret), &verifier)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    (
        answer.form("oauth_token").expect("token"),
        answer.form("oauth_token_secret").expect("s"),
    )
}

#[tokio::test]
async fn the_whole_dance_ends_in_user_info_with_several_blogs() {
    let (tumblr, mut client) = started().await;

    let answer = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url: format!("{}/oauth/request_token", tumblr.www_url()),
                oauth: vec![("oauth_callback", CALLBACK.to_owned())],
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.form("oauth_callback_confirmed").as_deref(),
        Some("true")
    );
    let token = answer.form("oauth_token").expect("token");
    let secret = answer.form("oauth_token_secret").expect("secret");
    assert_eq!(token.len(), 50);
    assert_eq!(
        tumblr.request_token(&token).map(|t| t.callback),
        Some(CALLBACK.to_owned())
    );

    let callback = tumblr
        .authorize(
            &auth_url(&tumblr, &token),
            Decision::approve(fixtures::DAVID),
        )
        .expect("approved");
    let prefix = format!("{CALLBACK}&oauth_token={token}&oauth_verifier=");
    assert!(callback.starts_with(&prefix), "{callback}");
    assert!(callback.ends_with("#_=_"), "{callback}");
    let verifier = query_param(&callback, "oauth_verifier").expect("verifier");

    let answer = client
        .access_token(&tumblr, "POST", (&token, &secret), &verifier)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let access = answer.form("oauth_token").expect("access token");
    let access_secret = answer.form("oauth_token_secret").expect("access secret");
    assert_ne!(access, token);
    assert!(matches!(
        tumblr.request_token(&token).map(|t| t.status),
        Some(RequestTokenStatus::Exchanged { user, access_token })
            if user == fixtures::DAVID && access_token == access
    ));

    let answer = client.user_info(&tumblr, (&access, &access_secret)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(answer.body.contains(&format!(
        "\"followers\":{}",
        fixtures::DAVID_PRIMARY_FOLLOWERS
    )));
    let json = answer.json();
    assert_eq!(
        json["meta"],
        serde_json::json!({"status": 200, "msg": "OK"})
    );
    let user = &json["response"]["user"];
    assert_eq!(user["name"], fixtures::DAVID);
    let blogs = user["blogs"].as_array().expect("blogs");
    assert_eq!(blogs.len(), 3);
    assert_eq!(blogs[0]["primary"], false);
    assert_eq!(blogs[0]["admin"], false);
    assert_eq!(blogs[1]["primary"], true);
    assert_eq!(blogs[1]["url"], "https://www.davidslog.com/");
    assert_eq!(blogs[1]["uuid"], fixtures::DAVID_PRIMARY_UUID);
    assert!(blogs[2].get("title").is_none());
    assert_eq!(blogs[2]["admin"], true);

    let log = tumblr.requests();
    let steps: Vec<_> = log.iter().map(|r| (r.endpoint, r.via, r.status)).collect();
    assert_eq!(
        steps,
        [
            (Some(Endpoint::RequestToken), Via::Http, 200),
            (Some(Endpoint::Authorize), Via::Method, 302),
            (Some(Endpoint::AccessToken), Via::Http, 200),
            (Some(Endpoint::UserInfo), Via::Http, 200),
        ]
    );
    assert_eq!(log[0].token.as_deref(), Some(token.as_str()));
    assert_eq!(log[2].token.as_deref(), Some(token.as_str()));
    assert_eq!(log[3].token.as_deref(), Some(access.as_str()));
    assert!([0, 2, 3].iter().all(|&i| log[i].signature.is_valid()));
    assert_eq!(log[1].signature, SignatureCheck::NotChecked);
    assert_eq!(log[0].user_agent.as_deref(), Some("hayon-double-tests/1"));
    tumblr.shutdown().await;
}

#[tokio::test]
async fn access_token_accepts_get_and_temporary_tokens_are_single_use() {
    let (tumblr, mut client) = started().await;
    let (token, secret) = client.request_token(&tumblr).await;
    let callback = tumblr
        .authorize(
            &auth_url(&tumblr, &token),
            Decision::approve(fixtures::SOLO),
        )
        .expect("ok");
    let verifier = query_param(&callback, "oauth_verifier").expect("verifier");

    let first = client
        .access_token(&tumblr, "GET", (&token, &secret), &verifier)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = client
        .access_token(&tumblr, "POST", (&token, &secret), &verifier)
        .await;
    assert_eq!(second.status, 401);
    assert_eq!(
        second.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        second.body,
        format!("oauth_token [{token}] has already been used")
    );

    // The used token cannot go through the browser step again either.
    let again = tumblr.authorize(
        &auth_url(&tumblr, &token),
        Decision::approve(fixtures::SOLO),
    );
    assert!(again.is_err());
    assert_eq!(tumblr.access_tokens().len(), 1);
}

#[tokio::test]
async fn access_token_signed_without_the_temporary_secret_is_refused_and_not_consumed() {
    let (tumblr, mut client) = started().await;
    let (token, secret) = client.request_token(&tumblr).await;
    let callback = tumblr
        .authorize(
            &auth_url(&tumblr, &token),
            Decision::approve(fixtures::SOLO),
        )
        .expect("ok");
    let verifier = query_param(&callback, "oauth_verifier").expect("verifier");

    let wrong = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url: format!("{}/oauth/access_token", tumblr.www_url()),
                oauth: vec![("oauth_verifier", verifier.clone())],
                token: Some((&token, &secret)),
                sign_token_secret: Some(""),
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(wrong.status, 401);
    let entry = tumblr
        .requests_to(Endpoint::AccessToken)
        .pop()
        .expect("logged");
    let SignatureCheck::Invalid {
        received,
        expected,
        base_string,
    } = &entry.signature
    else {
        panic!("expected an invalid signature, got {:?}", entry.signature);
    };
    assert_eq!(
        wrong.body,
        format!("oauth_signature [{received}] does not match expected value [{expected}]")
    );
    assert!(
        base_string.starts_with("POST&http%3A%2F%2F127.0.0.1%3A"),
        "{base_string}"
    );

    let right = client
        .access_token(&tumblr, "POST", (&token, &secret), &verifier)
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
}

#[tokio::test]
async fn access_token_requires_the_matching_verifier() {
    let (tumblr, mut client) = started().await;
    let (token, secret) = client.request_token(&tumblr).await;

    let early = client
        .access_token(&tumblr, "POST", (&token, &secret), "guess")
        .await;
    assert_eq!(
        (early.status, early.body.contains("not been authorized")),
        (401, true)
    );

    tumblr
        .authorize(
            &auth_url(&tumblr, &token),
            Decision::approve(fixtures::SOLO),
        )
        .expect("ok");
    let wrong = client
        .access_token(&tumblr, "POST", (&token, &secret), "guess")
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body, "oauth_verifier [guess] is invalid");

    let missing = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url: format!("{}/oauth/access_token", tumblr.www_url()),
                token: Some((&token, &secret)),
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body, "Missing required parameter [oauth_verifier]");
}

#[tokio::test]
async fn request_token_requires_a_callback_and_can_withhold_confirmation() {
    let (tumblr, mut client) = started().await;
    let url = format!("{}/oauth/request_token", tumblr.www_url());

    let without = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url: url.clone(),
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(without.status, 400);
    assert_eq!(without.body, "Missing required parameter [oauth_callback]");

    let relative = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url: url.clone(),
                oauth: vec![("oauth_callback", "/callback".to_owned())],
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(relative.status, 400);

    tumblr.set_callback_confirmed(CallbackConfirmed::False);
    let answer = client.request_token(&tumblr).await;
    assert!(!answer.0.is_empty());
    let last = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url: url.clone(),
                oauth: vec![("oauth_callback", CALLBACK.to_owned())],
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(
        last.form("oauth_callback_confirmed").as_deref(),
        Some("false")
    );

    tumblr.set_callback_confirmed(CallbackConfirmed::Missing);
    let last = client
        .send(
            &tumblr,
            Signed {
                method: "POST",
                url,
                oauth: vec![("oauth_callback", CALLBACK.to_owned())],
                ..Signed::default()
            },
        )
        .await;
    assert_eq!(last.status, 200);
    assert_eq!(last.form("oauth_callback_confirmed"), None);
    assert!(last.form("oauth_token").is_some());
}

#[tokio::test]
async fn request_token_only_accepts_post() {
    let (tumblr, client) = started().await;
    let answer = client
        .raw(
            &Signed {
                method: "GET",
                url: format!("{}/oauth/request_token", tumblr.www_url()),
                ..Signed::default()
            },
            None,
        )
        .await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[tokio::test]
async fn replayed_nonces_and_stale_timestamps_are_refused() {
    let (tumblr, mut client) = started().await;
    let url = format!("{}/oauth/request_token", tumblr.www_url());
    let signed = |nonce: &str, timestamp: i64| Signed {
        method: "POST",
        url: url.clone(),
        oauth: vec![("oauth_callback", CALLBACK.to_owned())],
        nonce: Some(nonce.to_owned()),
        timestamp: Some(timestamp),
        ..Signed::default()
    };
    let now = tumblr.now();

    assert_eq!(client.send(&tumblr, signed("n-1", now)).await.status, 200);
    let replay = client.send(&tumblr, signed("n-1", now)).await;
    assert_eq!(
        (replay.status, replay.body.as_str()),
        (401, "oauth_nonce [n-1] has already been used")
    );
    // The same nonce with another timestamp is a different request.
    assert_eq!(
        client.send(&tumblr, signed("n-1", now - 1)).await.status,
        200
    );

    let stale = client.send(&tumblr, signed("n-2", now - 400)).await;
    assert_eq!(stale.status, 401);
    assert!(stale.body.starts_with("oauth_timestamp [") && stale.body.contains("out of range"));
    let future = client.send(&tumblr, signed("n-3", now + 400)).await;
    assert_eq!(future.status, 401);

    // The client's clock is fine but the double's moved on.
    tumblr.advance_clock(Duration::from_secs(600));
    assert_eq!(client.send(&tumblr, signed("n-4", now)).await.status, 401);
    tumblr.set_timestamp_window(Duration::from_secs(3600));
    assert_eq!(client.send(&tumblr, signed("n-5", now)).await.status, 200);
}

#[tokio::test]
async fn unused_temporary_tokens_expire_on_the_doubles_clock() {
    let (tumblr, mut client) = started().await;
    let (token, secret) = client.request_token(&tumblr).await;
    let callback = tumblr
        .authorize(
            &auth_url(&tumblr, &token),
            Decision::approve(fixtures::SOLO),
        )
        .expect("ok");
    let verifier = query_param(&callback, "oauth_verifier").expect("verifier");
    let (unauthorized, _) = client.request_token(&tumblr).await;

    tumblr.advance_clock(Duration::from_secs(11 * 60));
    let late = client
        .access_token(&tumblr, "POST", (&token, &secret), &verifier)
        .await;
    assert_eq!(
        (late.status, late.body),
        (401, format!("oauth_token [{token}] has expired"))
    );
    let err = tumblr
        .authorize(
            &auth_url(&tumblr, &unauthorized),
            Decision::approve(fixtures::SOLO),
        )
        .expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test]
async fn refusals_redirect_without_a_verifier_and_kill_the_token() {
    let (tumblr, mut client) = started().await;
    let (token, secret) = client.request_token(&tumblr).await;
    let callback = tumblr
        .authorize(&auth_url(&tumblr, &token), Decision::Deny)
        .expect("redirect");
    assert_eq!(callback, format!("{CALLBACK}&oauth_token={token}#_=_"));
    assert_eq!(
        tumblr.request_token(&token).map(|t| t.status),
        Some(RequestTokenStatus::Denied)
    );
    let exchange = client
        .access_token(&tumblr, "POST", (&token, &secret), "none")
        .await;
    assert_eq!(exchange.status, 401);

    let (bare_token, _) = client.request_token(&tumblr).await;
    let bare = tumblr
        .authorize(
            &auth_url(&tumblr, &bare_token),
            Decision::DenyWithoutParameters,
        )
        .expect("redirect");
    assert_eq!(bare, format!("{CALLBACK}#_=_"));
    assert!(
        tumblr
            .authorize(&auth_url(&tumblr, &bare_token), Decision::approve("solo"))
            .is_err()
    );
}

#[tokio::test]
async fn the_authorize_page_over_http_follows_the_test_decision() {
    let (tumblr, mut client) = started().await;
    let (token, _) = client.request_token(&tumblr).await;
    let get = |url: String| Signed {
        method: "GET",
        url,
        ..Signed::default()
    };

    let page = client.raw(&get(auth_url(&tumblr, &token)), None).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );

    let approved = client
        .raw(
            &get(format!(
                "{}&double_decision=approve%3Asolo",
                auth_url(&tumblr, &token)
            )),
            None,
        )
        .await;
    assert_eq!(approved.status, 302);
    let location = approved.header("location").expect("location").to_owned();
    assert!(location.starts_with(&format!("{CALLBACK}&oauth_token={token}&oauth_verifier=")));

    tumblr.set_authorize_decision(Some(Decision::Deny));
    let (token, _) = client.request_token(&tumblr).await;
    let denied = client.raw(&get(auth_url(&tumblr, &token)), None).await;
    assert_eq!(
        denied.header("location"),
        Some(format!("{CALLBACK}&oauth_token={token}#_=_").as_str())
    );

    let unknown = client.raw(&get(auth_url(&tumblr, "nope")), None).await;
    assert_eq!(unknown.status, 400);
    let (token, _) = client.request_token(&tumblr).await;
    let nobody = client
        .raw(
            &get(format!(
                "{}&double_decision=approve%3Aghost",
                auth_url(&tumblr, &token)
            )),
            None,
        )
        .await;
    assert_eq!(nobody.status, 400);
}

#[tokio::test]
async fn the_authorize_method_refuses_urls_of_other_hosts() {
    let (tumblr, mut client) = started().await;
    let (token, _) = client.request_token(&tumblr).await;
    let on_api = format!("{}/oauth/authorize?oauth_token={token}", tumblr.api_url());
    assert!(
        tumblr
            .authorize(&on_api, Decision::approve(fixtures::SOLO))
            .is_err()
    );
    let wrong_path = format!("{}/oauth/authorise?oauth_token={token}", tumblr.www_url());
    assert!(
        tumblr
            .authorize(&wrong_path, Decision::approve(fixtures::SOLO))
            .is_err()
    );
    let ghost = tumblr.authorize(&auth_url(&tumblr, &token), Decision::approve("ghost"));
    assert!(ghost.is_err());
    assert!(
        tumblr
            .authorize(&auth_url(&tumblr, &token), Decision::approve("solo"))
            .is_ok()
    );
}

#[tokio::test]
async fn signatures_cover_host_path_query_and_form_bodies_only() {
    let (tumblr, mut client) = started().await;
    let base = format!("{}/oauth/request_token", tumblr.www_url());
    let port = tumblr.www_addr().port();
    let with = |url: String| Signed {
        method: "POST",
        url,
        oauth: vec![("oauth_callback", CALLBACK.to_owned())],
        ..Signed::default()
    };

    // Host is taken from the Host header, lower-cased.
    let mut upper = with(base.clone());
    upper.host = Some(format!("LocalHost:{port}"));
    upper.sign_url = Some(format!("http://localhost:{port}/oauth/request_token"));
    assert_eq!(client.send(&tumblr, upper).await.status, 200);

    // Signing the https URL (or another port) when the request went over http fails.
    let mut https = with(base.clone());
    https.sign_url = Some(format!("https://127.0.0.1:{port}/oauth/request_token"));
    assert_eq!(client.send(&tumblr, https).await.status, 401);

    // Query parameters are signed; leaving them out of the signature fails.
    assert_eq!(
        client
            .send(&tumblr, with(format!("{base}?source=hayon+app")))
            .await
            .status,
        200
    );
    let mut unsigned_query = with(format!("{base}?source=x"));
    unsigned_query.sign_url = Some(base.clone());
    assert_eq!(client.send(&tumblr, unsigned_query).await.status, 401);

    // A form body is signed; a JSON body is not.
    let mut form = with(base.clone());
    form.form_body = Some("a=1+2&b=%2A");
    assert_eq!(client.send(&tumblr, form).await.status, 200);
    let mut json = with(base.clone());
    json.json_body = Some("{\"a\":1}");
    assert_eq!(client.send(&tumblr, json).await.status, 200);

    let statuses: Vec<bool> = tumblr
        .requests()
        .iter()
        .map(|r| r.signature.is_valid())
        .collect();
    assert_eq!(statuses, [true, false, true, false, true, true]);
}

#[tokio::test]
async fn malformed_or_foreign_requests_are_refused_before_the_signature() {
    let (tumblr, mut client) = started().await;
    let url = format!("{}/oauth/request_token", tumblr.www_url());
    let post = || Signed {
        method: "POST",
        url: url.clone(),
        oauth: vec![("oauth_callback", CALLBACK.to_owned())],
        ..Signed::default()
    };

    let unsigned = client.raw(&post(), None).await;
    assert_eq!(unsigned.status, 400);
    let bearer = client.raw(&post(), Some("Bearer abc".to_owned())).await;
    assert_eq!(bearer.status, 400);

    let mut header = client.authorization(tumblr.now(), &post());
    header = header.replace("HMAC-SHA1", "PLAINTEXT");
    let plaintext = client.raw(&post(), Some(header)).await;
    assert_eq!(
        (plaintext.status, plaintext.body.as_str()),
        (400, "Unsupported signature method [PLAINTEXT]")
    );

    let header = client.authorization(tumblr.now(), &post()) + ", oauth_nonce=\"again\"";
    let duplicated = client.raw(&post(), Some(header)).await;
    assert_eq!(duplicated.status, 400);

    client.consumer_key = "someone-else".to_owned();
    let foreign = client.send(&tumblr, post()).await;
    assert_eq!(
        (foreign.status, foreign.body.as_str()),
        (401, "Consumer key [someone-else] is invalid")
    );
    assert!(
        tumblr
            .requests()
            .iter()
            .all(|r| r.signature == SignatureCheck::NotChecked)
    );

    tumblr.add_consumer("someone-else", client.consumer_secret.clone());
    assert_eq!(client.send(&tumblr, post()).await.status, 200);
}

#[tokio::test]
async fn user_info_for_zero_and_one_blog_and_for_revoked_tokens() {
    let (tumblr, mut client) = started().await;
    let (access, secret) = connect(&tumblr, &mut client, fixtures::BLOGLESS).await;
    let none = client.user_info(&tumblr, (&access, &secret)).await;
    assert_eq!(
        none.json()["response"]["user"]["blogs"],
        serde_json::json!([])
    );

    let solo = tumblr
        .issue_access_token(fixtures::SOLO)
        .expect("user exists");
    let one = client.user_info(&tumblr, (&solo.token, &solo.secret)).await;
    let blogs = one.json()["response"]["user"]["blogs"].clone();
    assert_eq!(blogs.as_array().map(Vec::len), Some(1));
    assert_eq!(
        blogs[0]["url"],
        format!("https://{}/", fixtures::SOLO_BLOG_HOSTNAME)
    );

    assert_eq!(tumblr.revoke_user_tokens(fixtures::BLOGLESS), 1);
    let revoked = client.user_info(&tumblr, (&access, &secret)).await;
    assert_eq!(revoked.status, 401);
    assert_eq!(
        revoked.body,
        r#"{"meta":{"status":401,"msg":"Unauthorized"},"response":[]}"#
    );
    assert!(tumblr.revoke_access_token(&solo.token));
    assert!(!tumblr.revoke_access_token(&solo.token));

    let unknown = client.user_info(&tumblr, ("not-a-token", "x")).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json()["meta"]["msg"], "Unauthorized");

    let fresh = tumblr
        .issue_access_token(fixtures::SOLO)
        .expect("user exists");
    let wrong_secret = client.user_info(&tumblr, (&fresh.token, "wrong")).await;
    assert_eq!(wrong_secret.status, 401);
    let detail = wrong_secret.json()["errors"][0]["detail"]
        .as_str()
        .map(str::to_owned);
    assert!(detail.is_some_and(|d| d.starts_with("oauth_signature [")));
}

#[tokio::test]
async fn injected_failures_answer_before_verification_and_in_order() {
    let (tumblr, mut client) = started().await;
    let creds = tumblr
        .issue_access_token(fixtures::SOLO)
        .expect("user exists");
    let pair = (creds.token.as_str(), creds.secret.as_str());

    tumblr.fail_next(
        Endpoint::UserInfo,
        Failure::RateLimited { retry_after: None },
    );
    tumblr.fail_next(Endpoint::UserInfo, Failure::Html(502));
    tumblr.fail_next(Endpoint::UserInfo, Failure::Empty(503));

    let limited = client.user_info(&tumblr, pair).await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        limited.body,
        r#"{"meta":{"status":429,"msg":"Limit Exceeded"},"response":[]}"#
    );
    assert_eq!(limited.header("retry-after"), None);
    let html = client.user_info(&tumblr, pair).await;
    assert_eq!(html.status, 502);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(html.body.contains("502 Bad Gateway"));
    let empty = client.user_info(&tumblr, pair).await;
    assert_eq!((empty.status, empty.body.as_str()), (503, ""));
    assert_eq!(client.user_info(&tumblr, pair).await.status, 200);

    tumblr.fail_always(
        Endpoint::RequestToken,
        Failure::Envelope {
            status: 503,
            msg: "Service Unavailable".to_owned(),
        },
    );
    let url = format!("{}/oauth/request_token", tumblr.www_url());
    for _ in 0..2 {
        let answer = client
            .send(
                &tumblr,
                Signed {
                    method: "POST",
                    url: url.clone(),
                    ..Signed::default()
                },
            )
            .await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (503, "Service Unavailable")
        );
    }
    tumblr.clear_failures();
    assert_eq!(client.request_token(&tumblr).await.0.len(), 50);

    let injected = tumblr
        .requests()
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Injected(_)))
        .inspect(|r| assert_eq!(r.signature, SignatureCheck::NotChecked))
        .count();
    assert_eq!(injected, 5);
}

#[tokio::test]
async fn slow_answers_outlast_a_client_timeout_then_answer_normally() {
    let (tumblr, mut client) = started().await;
    let creds = tumblr
        .issue_access_token(fixtures::SOLO)
        .expect("user exists");
    tumblr.fail_next(Endpoint::UserInfo, Failure::Slow(Duration::from_secs(30)));

    let pending = client.user_info(&tumblr, (&creds.token, &creds.secret));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), pending)
            .await
            .is_err()
    );
    assert_eq!(
        client
            .user_info(&tumblr, (&creds.token, &creds.secret))
            .await
            .status,
        200
    );
    tumblr.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_answer_in_each_hosts_format() {
    let (tumblr, client) = started().await;
    let get = |url: String| Signed {
        method: "GET",
        url,
        ..Signed::default()
    };
    let api = client
        .raw(
            &get(format!("{}/v2/user/dashboard", tumblr.api_url())),
            None,
        )
        .await;
    assert_eq!(api.status, 404);
    assert_eq!(api.json()["meta"]["status"], 404);
    let www = client
        .raw(&get(format!("{}/oauth/other", tumblr.www_url())), None)
        .await;
    assert_eq!(www.status, 404);
    let entry = tumblr.requests().pop().expect("logged");
    assert_eq!(
        (entry.endpoint, entry.path.as_str()),
        (None, "/oauth/other")
    );
}
