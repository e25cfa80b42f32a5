//! Steps of an OAuth connection as the browser and the front end play them, shared by the
//! platform tests: calling a connector route, following the upstream's redirect to the
//! callback, reading where the callback sends the browser, sending a request line exactly
//! as written, checking that no secret reached a caller, and editing what the host stored.

use std::time::Duration;

use hayon_host::keyvalue::KvBackend;
use hayon_host::keyvalue::redb_store::RedbStore;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{TEST_FRONTEND_URL, TestHost};

/// `method /api/platform/<platform>/<route>` with `token` as the bearer.
pub async fn call_route(
    host: &TestHost,
    platform: &str,
    method: &str,
    route: &str,
    token: &str,
) -> (u16, HeaderMap, Value) {
    let path = format!("/api/platform/{platform}/{route}");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    host.request(method, &path, Some(token), None).await
}

/// Where a callback sends the browser after connecting `platform`.
pub fn settings_success(platform: &str) -> String {
    format!("{TEST_FRONTEND_URL}/settings?success={platform}_connected")
}

/// Where a callback sends the browser after failing to connect `platform` for `reason`.
pub fn settings_error(platform: &str, reason: &str) -> String {
    format!("{TEST_FRONTEND_URL}/settings?error={platform}_{reason}")
}

/// The browser following an upstream's redirect to the host's callback (no bearer; a
/// browser does not send the fragment): asserts the callback answers a `302` and returns
/// its `Location` and its body.
pub async fn follow_callback(host: &TestHost, redirect: &str) -> (String, Value) {
    let path = redirect
        .strip_prefix(&host.base_url())
        .unwrap_or_else(|| panic!("redirect to elsewhere: {redirect}"));
    let (status, headers, body) = host.get(path, None).await;
    assert_eq!(status, 302, "a callback only redirects: {body}");
    let location = headers
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ascii location")
        .to_owned();
    (location, body)
}

/// Panics if `text` contains one of `tokens` or `secret`.
pub fn assert_no_secret_in<T: AsRef<str>>(
    text: &str,
    tokens: impl IntoIterator<Item = T>,
    secret: &str,
) {
    for token in tokens {
        assert!(!text.contains(token.as_ref()), "a token leaked: {text}");
    }
    assert!(!text.contains(secret), "the app secret leaked: {text}");
}

/// Sends `GET <target>` as raw HTTP/1.1 (so a fragment reaches the host as written) and
/// answers the whole response as text.
pub async fn raw_request(host: &TestHost, target: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(host.addr())
        .await
        .expect("connect to the host");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host.addr()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("in time")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// [`raw_request`], answering the status and the `Location`.
pub async fn raw_get(host: &TestHost, target: &str) -> (u16, Option<String>) {
    let text = raw_request(host, target).await;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let location = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_owned())
    });
    (status, location)
}

/// Stops the host, lets `edit` change the stored value of the first key starting with
/// `key_prefix`, and starts the host again on the same data. Answers every key with that
/// prefix.
pub async fn edit_stored(
    host: &mut TestHost,
    key_prefix: &str,
    edit: impl FnOnce(&mut Value),
) -> Vec<String> {
    host.shutdown().await;
    let matching = {
        let store = RedbStore::open(&host.data_dir().join(hayon_host::KV_FILE))
            .expect("the database opens");
        let keys = store.list_keys("default", None, 1000).expect("keys");
        let matching: Vec<String> = keys
            .iter()
            .filter(|key| key.starts_with(key_prefix))
            .cloned()
            .collect();
        let key = matching
            .first()
            .unwrap_or_else(|| panic!("no key {key_prefix}… in {keys:?}"));
        let raw = store.get("default", key).expect("read").expect("present");
        let mut value: Value = serde_json::from_slice(&raw).expect("JSON record");
        edit(&mut value);
        let bytes = serde_json::to_vec(&value).expect("encode");
        store.set("default", key, &bytes).expect("write");
        matching
    };
    host.restart().await;
    matching
}

/// The query parameters of `url` (up to any fragment), decoded.
pub fn query_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or_default();
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .expect("a query")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The decoded value of query parameter `name` of `url`, if it has one.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    query_params(url)
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// Seconds since the Unix epoch now.
pub fn now_unix() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit")
}

/// Seconds since the Unix epoch of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SSZ`.
pub fn unix_seconds(timestamp: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| -> i64 {
        timestamp
            .get(range)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad time {timestamp}"))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    // Days from the civil date.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86_400 + hour * 3_600 + minute * 60 + second
}
