//! A minimal HTTP client for the doubles' own tests (no redirects followed).

#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// An answer: status, headers and body text.
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header of a redirect.
    pub fn location(&self) -> &str {
        self.header("location").expect("a Location header")
    }
}

/// Sends a request and reads the whole answer.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/x-www-form-urlencoded");
    }
    let request = builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("a valid request");
    let response = client.request(request).await.expect("the double answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a readable body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// `GET url`.
pub async fn get(url: &str) -> Answer {
    send(Method::GET, url, &[], None).await
}

/// `GET url` with headers.
pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Answer {
    send(Method::GET, url, headers, None).await
}

/// `DELETE url`.
pub async fn delete(url: &str) -> Answer {
    send(Method::DELETE, url, &[], None).await
}

/// `POST url` with a form body.
pub async fn post_form(url: &str, form: &[(&str, &str)]) -> Answer {
    send(Method::POST, url, &[], Some(query(form))).await
}

/// Encodes pairs as `application/x-www-form-urlencoded`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    serializer.finish()
}

/// The value of query parameter `name` in `url` (the fragment ignored).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).expect("a valid URL");
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
