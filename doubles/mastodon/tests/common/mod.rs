//! Helpers for the double's own tests: a minimal HTTP/1.1 client over a loopback socket
//! and a ready-made instance with an app and a user.

#![allow(dead_code)]

use std::net::SocketAddr;

use hayon_double_mastodon::{AppCredentials, AppSpec, MastodonDouble, MastodonOptions, NewUser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CALLBACK: &str = "https://hayon.example/api/platform/mastodon/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// An answer from the double.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> Answer {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("connect to the double");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let (content_type, payload) = body.unwrap_or(("", ""));
    if !content_type.is_empty() {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8(raw).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    assert!(
        !headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked")),
        "the test client does not decode chunked bodies"
    );
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub async fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Answer {
    send(addr, "GET", target, headers, None).await
}

pub async fn post_form(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> Answer {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    send(
        addr,
        "POST",
        target,
        headers,
        Some(("application/x-www-form-urlencoded", &body)),
    )
    .await
}

pub async fn post_json(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    json: &serde_json::Value,
) -> Answer {
    send(
        addr,
        "POST",
        target,
        headers,
        Some(("application/json", &json.to_string())),
    )
    .await
}

/// `/oauth/authorize?…` (a path and query, for `send`) with the usual parameters.
pub fn authorize_target(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &str,
    pkce: bool,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", state);
    if pkce {
        query
            .append_pair(
                "code_challenge",
                &hayon_double_mastodon::s256_challenge(VERIFIER),
            )
            .append_pair("code_challenge_method", "S256");
    }
    format!("/oauth/authorize?{}", query.finish())
}

/// A value from a URL's query string.
pub fn query_value(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).expect("a URL");
    parsed
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// A started double with user `alice` and an app registered for `CALLBACK`.
pub struct Fixture {
    pub double: MastodonDouble,
    pub app: AppCredentials,
}

impl Fixture {
    pub async fn start() -> Self {
        Self::start_with(MastodonOptions::default()).await
    }

    pub async fn start_with(options: MastodonOptions) -> Self {
        let double = MastodonDouble::start_with(options)
            .await
            .expect("start the double");
        double
            .add_user(NewUser::new("alice").display_name("Alice"))
            .expect("add alice");
        let app = double
            .register_app(AppSpec::new([CALLBACK], "read write push"))
            .expect("register");
        Self { double, app }
    }

    pub fn addr(&self) -> SocketAddr {
        self.double.local_addr()
    }

    /// The full authorization URL a connector would build.
    pub fn auth_url(&self, scope: &str, state: &str, pkce: bool) -> String {
        let target = authorize_target(&self.app.client_id, CALLBACK, scope, state, pkce);
        format!("{}{target}", self.double.base_url())
    }

    /// Approves as alice and returns the code.
    pub fn code(&self, pkce: bool) -> String {
        let callback = self
            .double
            .authorize(
                &self.auth_url("read write push", "st", pkce),
                hayon_double_mastodon::Decision::approve("alice"),
            )
            .expect("approve");
        query_value(&callback, "code").expect("a code")
    }

    /// Exchanges a code with client_secret_post and the standard verifier.
    pub async fn exchange(&self, code: &str, verifier: Option<&str>) -> Answer {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", self.app.client_id.as_str()),
            ("client_secret", self.app.client_secret.expose()),
            ("redirect_uri", CALLBACK),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        post_form(self.addr(), "/oauth/token", &[], &form).await
    }

    /// A fresh access token for alice, through the whole flow.
    pub async fn token(&self) -> String {
        let code = self.code(true);
        let answer = self.exchange(&code, Some(VERIFIER)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["access_token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }
}
