//! RFC 5849 (OAuth 1.0) signatures, written for the double from the RFC text.
//!
//! This is the double's own verifier. It deliberately shares no code with the product's signer
//! (which lives in `components/`): the point of the double is to catch signing bugs, and a
//! verifier that reused the signer would agree with it whatever it did. The published vectors
//! of `platforms.md` §2.3 pin it down in the tests at the bottom of this file.
//!
//! The pieces follow the RFC's sections:
//!
//! * [`percent_encode`] — §3.6 (only `A-Z a-z 0-9 - . _ ~` stay literal; upper-case hex).
//! * [`parse_authorization`] — §3.5.1, the `Authorization: OAuth k="v", …` header.
//! * [`collect_parameters`] — §3.4.1.3.1: query, header (without `realm` and
//!   `oauth_signature`) and a form-encoded body.
//! * [`base_string_uri`], [`normalize_parameters`], [`signature_base_string`] — §3.4.1.
//! * [`hmac_sha1_signature`] — §3.4.2.
//!
//! Parameters are kept as raw bytes after decoding, so a value that is not UTF-8 is still
//! encoded exactly as the RFC says instead of being mangled by a lossy conversion.
//!
//! The module is public so that the double's own tests can sign requests; the product must
//! not use it (it would make the double's verification circular).

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha1::Sha1;

/// One request parameter, decoded: `(name, value)` as raw bytes.
pub type Param = (Vec<u8>, Vec<u8>);

/// Why an `Authorization` header or a request URI could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The header does not use the `OAuth` scheme.
    #[error("the Authorization header does not use the OAuth scheme")]
    NotOAuth,
    /// The header's parameter list does not follow `name="value", …`.
    #[error("the Authorization header is malformed near byte {0}")]
    Syntax(usize),
    /// A parameter name is not valid UTF-8 after percent-decoding.
    #[error("a parameter name in the Authorization header is not UTF-8")]
    NameEncoding,
    /// The `Host` (authority) has an unreadable port.
    #[error("the request authority [{0}] is not host[:port]")]
    Authority(String),
}

/// Percent-encodes bytes per RFC 5849 §3.6.
///
/// Unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay as they are; every other byte becomes
/// `%XX` with upper-case hex digits. A space is `%20`, never `+`.
pub fn percent_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Decodes `%XX` escapes; `+` stays a plus sign (header values, RFC 5849 §3.5.1).
///
/// A `%` that is not followed by two hex digits is kept literally, as most servers do.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    decode(input, false)
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, then `%XX` escapes.
pub fn form_decode(input: &[u8]) -> Vec<u8> {
    decode(input, true)
}

fn decode(input: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' if i + 2 < input.len() => {
                match (hex_value(input[i + 1]), hex_value(input[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits form-encoded text (`a=1&b=2&c`) into decoded parameters.
///
/// Per RFC 5849 §3.4.1.3.1 a name without `=` has an empty value; empty segments (`a=1&&b=2`)
/// carry no parameter and are skipped.
pub fn parse_form(input: &[u8]) -> Vec<Param> {
    input
        .split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.iter().position(|&b| b == b'=') {
            Some(eq) => (form_decode(&segment[..eq]), form_decode(&segment[eq + 1..])),
            None => (form_decode(segment), Vec::new()),
        })
        .collect()
}

/// Reads an `Authorization: OAuth …` header value into decoded `(name, value)` pairs.
///
/// The scheme name is matched case-insensitively. Each parameter is `name="value"`, separated
/// by commas with optional whitespace around them; names and values are percent-decoded.
/// `realm` is returned like any other parameter (callers exclude it from the signature).
pub fn parse_authorization(header: &str) -> Result<Vec<(String, Vec<u8>)>, Malformed> {
    let header = header.trim_start();
    let scheme_len = header
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(header.len());
    if !header[..scheme_len].eq_ignore_ascii_case("OAuth") {
        return Err(Malformed::NotOAuth);
    }

    let bytes = header.as_bytes();
    let mut params = Vec::new();
    let mut i = scheme_len;
    loop {
        i = skip(bytes, i, |b| b.is_ascii_whitespace());
        if i == bytes.len() {
            break;
        }
        let name_start = i;
        i = skip(bytes, i, |b| {
            b != b'=' && b != b',' && !b.is_ascii_whitespace()
        });
        let name = &bytes[name_start..i];
        i = skip(bytes, i, |b| b.is_ascii_whitespace());
        if name.is_empty() || bytes.get(i) != Some(&b'=') {
            return Err(Malformed::Syntax(i));
        }
        i = skip(bytes, i + 1, |b| b.is_ascii_whitespace());
        if bytes.get(i) != Some(&b'"') {
            return Err(Malformed::Syntax(i));
        }
        let value_start = i + 1;
        let Some(len) = bytes[value_start..].iter().position(|&b| b == b'"') else {
            return Err(Malformed::Syntax(value_start));
        };
        let value = &bytes[value_start..value_start + len];
        i = skip(bytes, value_start + len + 1, |b| b.is_ascii_whitespace());
        match bytes.get(i) {
            None => {}
            Some(b',') => i += 1,
            Some(_) => return Err(Malformed::Syntax(i)),
        }
        let name = String::from_utf8(percent_decode(name)).map_err(|_| Malformed::NameEncoding)?;
        params.push((name, percent_decode(value)));
    }
    Ok(params)
}

fn skip(bytes: &[u8], mut i: usize, while_: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && while_(bytes[i]) {
        i += 1;
    }
    i
}

/// Builds the base string URI (RFC 5849 §3.4.1.2) from what the request carried.
///
/// `scheme` and the host part of `authority` are lower-cased; the port is dropped when it is
/// the scheme's default (80 for http, 443 for https) and kept otherwise; `path` is used as
/// received (an empty path becomes `/`). There is never a query or fragment.
pub fn base_string_uri(scheme: &str, authority: &str, path: &str) -> Result<String, Malformed> {
    let scheme = scheme.to_ascii_lowercase();
    let (host, port) = split_authority(authority)?;
    let host = host.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok(match port {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}{path}"),
        _ => format!("{scheme}://{host}{path}"),
    })
}

fn split_authority(authority: &str) -> Result<(&str, Option<u16>), Malformed> {
    let bad = || Malformed::Authority(authority.to_owned());
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or_else(bad)?;
        let rest = &authority[end + 1..];
        match rest.strip_prefix(':') {
            Some(port) => (&authority[..=end], Some(port)),
            None if rest.is_empty() => (&authority[..=end], None),
            None => return Err(bad()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        // "host:" (an empty port) means the default port (RFC 3986 §3.2.3).
        Some("") | None => None,
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => {
            Some(port.parse::<u16>().map_err(|_| bad())?)
        }
        Some(_) => return Err(bad()),
    };
    Ok((host, port))
}

/// Collects the parameters that are signed (RFC 5849 §3.4.1.3.1).
///
/// * `raw_query`: the request's query string as received (form-decoded here, `+` = space);
/// * `header`: the parsed `Authorization` parameters, of which `realm` and `oauth_signature`
///   are left out;
/// * `form_body`: the entity body, to be passed only when it is single-part and its
///   `Content-Type` is `application/x-www-form-urlencoded`.
///
/// Duplicate names are all kept.
pub fn collect_parameters(
    raw_query: Option<&str>,
    header: &[(String, Vec<u8>)],
    form_body: Option<&[u8]>,
) -> Vec<Param> {
    let mut params = raw_query
        .map(|q| parse_form(q.as_bytes()))
        .unwrap_or_default();
    params.extend(
        header
            .iter()
            .filter(|(name, _)| name != "realm" && name != "oauth_signature")
            .map(|(name, value)| (name.as_bytes().to_vec(), value.clone())),
    );
    if let Some(body) = form_body {
        params.extend(parse_form(body));
    }
    params
}

/// Normalizes parameters (RFC 5849 §3.4.1.3.2): encode each name and value, sort by encoded
/// name then encoded value (byte order), join as `name=value` with `&`.
pub fn normalize_parameters(params: &[Param]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| (percent_encode(name), percent_encode(value)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature base string (RFC 5849 §3.4.1.1):
/// `METHOD&enc(base string URI)&enc(normalized parameters)`.
pub fn signature_base_string(method: &str, base_uri: &str, params: &[Param]) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(base_uri.as_bytes()),
        percent_encode(normalize_parameters(params).as_bytes())
    )
}

/// `HMAC-SHA1` signature (RFC 5849 §3.4.2), Base64-encoded (not yet percent-encoded).
///
/// The key is `enc(consumer_secret) & enc(token_secret)`; the `&` is there even when the
/// token secret is empty (the request-token step).
pub fn hmac_sha1_signature(consumer_secret: &str, token_secret: &str, base_string: &str) -> String {
    let key = format!(
        "{}&{}",
        percent_encode(consumer_secret.as_bytes()),
        percent_encode(token_secret.as_bytes())
    );
    // HMAC is defined for keys of any length (RFC 2104 §2), so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha1>>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length (RFC 2104)");
    mac.update(base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(params: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    /// Signs a request described by its parts: `target` is (scheme, authority, path).
    fn sign(
        method: &str,
        target: (&str, &str, &str),
        query: Option<&str>,
        oauth: &[(&str, &str)],
        body: Option<&str>,
        secrets: (&str, &str),
    ) -> (String, String) {
        let (scheme, authority, path) = target;
        let uri = base_string_uri(scheme, authority, path).expect("valid authority");
        let params = collect_parameters(query, &text(oauth), body.map(str::as_bytes));
        let base = signature_base_string(method, &uri, &params);
        let signature = hmac_sha1_signature(secrets.0, secrets.1, &base);
        (base, signature)
    }

    #[test]
    fn vector_a_rfc_3_4_1_1_base_string_from_query_header_and_body() {
        let header = "OAuth realm=\"Example\",\
            oauth_consumer_key=\"9djdj82h48djs9d2\",\
            oauth_token=\"kkk9d7dh3k39sjv7\",\
            oauth_signature_method=\"HMAC-SHA1\",\
            oauth_timestamp=\"137131201\",\
            oauth_nonce=\"7d8f3e4a\",\
            oauth_signature=\"djosJKDKJSD8743243%2Fjdk33klY%3D\"";
        let header = parse_authorization(header).expect("RFC example header parses");
        let params = collect_parameters(
            Some("b5=%3D%253D&a3=a&c%40=&a2=r%20b"),
            &header,
            Some(b"c2&a3=2+q"),
        );
        let uri = base_string_uri("http", "example.com", "/request").expect("authority");
        assert_eq!(
            signature_base_string("POST", &uri, &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D\
             %253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26\
             oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D\
             137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    const PHOTOS_KEY: &str = "dpf43f3p2l4k3l03";
    const PHOTOS_SECRET: &str = "kd94hf93k423kf44";

    #[test]
    fn vector_b_request_token_signed_with_empty_token_secret() {
        let (base, signature) = sign(
            "POST",
            ("https", "photos.example.net", "/initiate"),
            None,
            &[
                ("realm", "Photos"),
                ("oauth_consumer_key", PHOTOS_KEY),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131200"),
                ("oauth_nonce", "wIjqoS"),
                ("oauth_callback", "http://printer.example.com/ready"),
            ],
            None,
            (PHOTOS_SECRET, ""),
        );
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252F\
             printer.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce\
             %3DwIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200"
        );
        assert_eq!(signature, "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
    }

    #[test]
    fn vector_c_access_token_signed_with_temporary_secret() {
        let (_, signature) = sign(
            "POST",
            ("https", "photos.example.net", "/token"),
            None,
            &[
                ("realm", "Photos"),
                ("oauth_consumer_key", PHOTOS_KEY),
                ("oauth_token", "hh5s93j4hdidpola"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131201"),
                ("oauth_nonce", "walatlh"),
                ("oauth_verifier", "hfdp7dh39dks9884"),
            ],
            None,
            (PHOTOS_SECRET, "hdhd0244k9j7ao03"),
        );
        assert_eq!(signature, "gKgrFCywp7rO0OXSjdot/IHF7IU=");
    }

    #[test]
    fn vector_d_resource_request_with_query() {
        let (base, signature) = sign(
            "GET",
            ("http", "photos.example.net", "/photos"),
            Some("file=vacation.jpg&size=original"),
            &[
                ("realm", "Photos"),
                ("oauth_consumer_key", PHOTOS_KEY),
                ("oauth_token", "nnch734d00sl2jdk"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131202"),
                ("oauth_nonce", "chapoH"),
            ],
            None,
            (PHOTOS_SECRET, "pfkkdhi9sl3r4s00"),
        );
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26\
             oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26\
             oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131202%26\
             oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
        );
        assert_eq!(signature, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }

    #[test]
    fn vector_e_oauth_core_appendix_a5_with_version() {
        let (_, signature) = sign(
            "GET",
            ("http", "photos.example.net", "/photos"),
            Some("file=vacation.jpg&size=original"),
            &[
                ("oauth_consumer_key", PHOTOS_KEY),
                ("oauth_token", "nnch734d00sl2jdk"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1191242096"),
                ("oauth_nonce", "kllo9940pd9333jh"),
                ("oauth_version", "1.0"),
            ],
            None,
            (PHOTOS_SECRET, "pfkkdhi9sl3r4s00"),
        );
        assert_eq!(signature, "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
    }

    #[test]
    fn vector_f_twitter_form_body_with_reserved_characters() {
        let (base, signature) = sign(
            "POST",
            ("https", "api.twitter.com", "/1.1/statuses/update.json"),
            Some("include_entities=true"),
            &[
                ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
                ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1318622958"),
                (
                    "oauth_token",
                    "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
                ),
                ("oauth_version", "1.0"),
            ],
            Some("status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"),
            (
                "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
            ),
        );
        assert!(
            base.contains("%2520%252B%2520Gentlemen%252C%2520a%2520signed"),
            "{base}"
        );
        assert_eq!(signature, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
    }

    #[test]
    fn vector_g_uppercase_host_default_port_utf8_and_reserved_secrets() {
        let (base, signature) = sign(
            "POST",
            (
                "https",
                "API.Tumblr.com:443",
                "/v2/blog/example.tumblr.com/posts",
            ),
            Some("z=1&tag=caf%C3%A9"),
            &[
                ("oauth_consumer_key", "ck-TEST"),
                ("oauth_token", "tk-TEST"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1700000000"),
                ("oauth_nonce", "abc123"),
                ("oauth_version", "1.0"),
            ],
            Some("body=Hello+world%21+%2B+%E2%9C%93&type=text"),
            ("cs secret&/=", "ts~secret"),
        );
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fapi.tumblr.com%2Fv2%2Fblog%2Fexample.tumblr.com%2Fposts&body%3D\
             Hello%2520world%2521%2520%252B%2520%25E2%259C%2593%26oauth_consumer_key%3Dck-TEST%26\
             oauth_nonce%3Dabc123%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D\
             1700000000%26oauth_token%3Dtk-TEST%26oauth_version%3D1.0%26tag%3Dcaf%25C3%25A9%26\
             type%3Dtext%26z%3D1"
        );
        assert_eq!(signature, "tNCqJKb68BBIwpofWpaqaEtUOyc=");
    }

    #[test]
    fn vector_h_request_token_with_callback_carrying_a_query() {
        let (base, signature) = sign(
            "POST",
            ("https", "www.tumblr.com", "/oauth/request_token"),
            None,
            &[
                ("oauth_consumer_key", "ck-TEST"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "1700000100"),
                ("oauth_nonce", "n0nce42"),
                ("oauth_version", "1.0"),
                (
                    "oauth_callback",
                    "https://app.example.com/api/platform/tumblr/callback?state=65f0c0ffee",
                ),
            ],
            None,
            ("cs-TEST", ""),
        );
        assert_eq!(
            base,
            "POST&https%3A%2F%2Fwww.tumblr.com%2Foauth%2Frequest_token&oauth_callback%3Dhttps\
             %253A%252F%252Fapp.example.com%252Fapi%252Fplatform%252Ftumblr%252Fcallback%253F\
             state%253D65f0c0ffee%26oauth_consumer_key%3Dck-TEST%26oauth_nonce%3Dn0nce42%26\
             oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000100%26\
             oauth_version%3D1.0"
        );
        assert_eq!(signature, "1VVuOOhEQxWaM4f2WkKnh6GN/Jw=");
    }

    #[test]
    fn percent_encoding_follows_section_3_6() {
        assert_eq!(percent_encode(b"AZaz09-._~"), "AZaz09-._~");
        assert_eq!(
            percent_encode(b"a b+c*d/e=f&g"),
            "a%20b%2Bc%2Ad%2Fe%3Df%26g"
        );
        assert_eq!(percent_encode("é✓".as_bytes()), "%C3%A9%E2%9C%93");
        assert_eq!(percent_encode(&[0x00, 0xff]), "%00%FF");
    }

    #[test]
    fn header_values_keep_plus_while_form_values_turn_it_into_space() {
        assert_eq!(percent_decode(b"a+b%2Bc%2"), b"a+b+c%2");
        assert_eq!(form_decode(b"a+b%2Bc%zz"), b"a b+c%zz");
        assert_eq!(percent_decode(b"%e2%9C%93"), "✓".as_bytes());
    }

    #[test]
    fn authorization_header_tolerates_whitespace_and_any_scheme_case() {
        let params = parse_authorization(
            "oauth   realm=\"\" ,oauth_nonce = \"a%20b\",\n oauth_callback=\"http%3A%2F%2Fx%2F\"",
        )
        .expect("valid header");
        assert_eq!(
            params,
            text(&[
                ("realm", ""),
                ("oauth_nonce", "a b"),
                ("oauth_callback", "http://x/")
            ])
        );
    }

    #[test]
    fn authorization_header_rejects_other_schemes_and_bad_syntax() {
        assert_eq!(parse_authorization("Bearer abc"), Err(Malformed::NotOAuth));
        assert_eq!(
            parse_authorization("OAuthx a=\"b\""),
            Err(Malformed::NotOAuth)
        );
        assert!(matches!(
            parse_authorization("OAuth a=b"),
            Err(Malformed::Syntax(_))
        ));
        assert!(matches!(
            parse_authorization("OAuth a=\"b"),
            Err(Malformed::Syntax(_))
        ));
        assert!(matches!(
            parse_authorization("OAuth a=\"b\" c=\"d\""),
            Err(Malformed::Syntax(_))
        ));
        assert!(matches!(
            parse_authorization("OAuth =\"b\""),
            Err(Malformed::Syntax(_))
        ));
    }

    #[test]
    fn base_string_uri_keeps_non_default_ports_and_ipv6_hosts() {
        let uri = |s, a, p| base_string_uri(s, a, p).expect("valid authority");
        assert_eq!(
            uri("HTTP", "127.0.0.1:8080", "/oauth/x"),
            "http://127.0.0.1:8080/oauth/x"
        );
        assert_eq!(uri("http", "Example.COM:80", ""), "http://example.com/");
        assert_eq!(
            uri("https", "example.com:80", "/a"),
            "https://example.com:80/a"
        );
        assert_eq!(
            uri("http", "[::1]:9000", "/a%2Fb"),
            "http://[::1]:9000/a%2Fb"
        );
        assert_eq!(uri("http", "[::1]", "/"), "http://[::1]/");
        assert!(base_string_uri("http", "host:port", "/").is_err());
        assert!(base_string_uri("http", ":80", "/").is_err());
        assert!(base_string_uri("http", "host:99999", "/").is_err());
    }

    #[test]
    fn duplicate_names_are_kept_and_sorted_by_value() {
        let params = parse_form(b"a=2&a=10&b&&a=1");
        assert_eq!(normalize_parameters(&params), "a=1&a=10&a=2&b=");
    }

    #[test]
    fn the_key_keeps_the_ampersand_and_encodes_both_secrets() {
        // Same base string, different keys: the empty token secret must not drop the `&`,
        // and an unencoded secret must not give the same signature as the encoded one.
        let with_amp = hmac_sha1_signature("cs", "", "base");
        let mut mac = <Hmac<Sha1>>::new_from_slice(b"cs").expect("any key length");
        mac.update(b"base");
        let without_amp =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_ne!(with_amp, without_amp);
        assert_ne!(
            hmac_sha1_signature("a b", "", "x"),
            hmac_sha1_signature("a+b", "", "x")
        );
    }
}
