//! The signature base string of RFC 5849 §3.4.1: what HMAC-SHA1 actually signs.
//!
//! Three parts joined by `&`: the upper-case method, the encoded base-string URI
//! (§3.4.1.2) and the encoded, normalized request parameters (§3.4.1.3). Parameters come
//! from the query string, the `oauth_*` protocol parameters (never `realm` or
//! `oauth_signature`) and a form body only when the body is
//! `application/x-www-form-urlencoded`; JSON and multipart bodies are not signed.

use super::SignError;
use super::encode::{form_pairs, percent_encode, percent_encode_bytes};

/// An absolute URL split into the pieces signing needs.
struct UrlParts<'a> {
    scheme: String,
    host: String,
    port: Option<&'a str>,
    path: &'a str,
    query: &'a str,
}

/// Splits `url` (scheme, authority, path, query; the fragment is dropped).
fn split_url(url: &str) -> Result<UrlParts<'_>, SignError> {
    let (scheme, rest) = url.split_once("://").ok_or(SignError::InvalidUrl {
        reason: "the URL has no scheme",
    })?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return Err(SignError::InvalidUrl {
            reason: "the URL's scheme is not valid",
        });
    }

    let without_fragment = rest.split_once('#').map_or(rest, |(before, _)| before);
    let authority_end = without_fragment
        .find(['/', '?'])
        .unwrap_or(without_fragment.len());
    let (authority, path_and_query) = without_fragment.split_at(authority_end);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));

    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    let (host, port) = split_host_port(host_and_port)?;
    if host.is_empty() {
        return Err(SignError::InvalidUrl {
            reason: "the URL has no host",
        });
    }

    Ok(UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
        path,
        query,
    })
}

/// Splits `host[:port]`, where the host may be a bracketed IPv6 literal.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), SignError> {
    let port_start = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(SignError::InvalidUrl {
            reason: "the URL's IPv6 host is not closed",
        })?;
        match &authority[close + 1..] {
            "" => return Ok((authority, None)),
            rest if rest.starts_with(':') => close + 1,
            _ => {
                return Err(SignError::InvalidUrl {
                    reason: "the URL's authority is not valid",
                });
            }
        }
    } else {
        match authority.rfind(':') {
            Some(colon) => colon,
            None => return Ok((authority, None)),
        }
    };

    let (host, port) = (&authority[..port_start], &authority[port_start + 1..]);
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignError::InvalidUrl {
            reason: "the URL's port is not a number",
        });
    }
    Ok((host, (!port.is_empty()).then_some(port)))
}

/// The base-string URI of RFC 5849 §3.4.1.2: lower-case scheme and host, the port only when
/// it is not the scheme's default, the path (`/` when empty), no query and no fragment.
pub fn base_string_uri(url: &str) -> Result<String, SignError> {
    let parts = split_url(url)?;

    let port = match parts.port {
        Some(port) => Some(port.parse::<u16>().map_err(|_| SignError::InvalidUrl {
            reason: "the URL's port is out of range",
        })?),
        None => None,
    };
    let default_port = match parts.scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };

    let mut uri = format!("{}://{}", parts.scheme, parts.host);
    if let Some(port) = port.filter(|&port| Some(port) != default_port) {
        uri.push_str(&format!(":{port}"));
    }
    uri.push_str(if parts.path.is_empty() {
        "/"
    } else {
        parts.path
    });
    Ok(uri)
}

/// Whether a `Content-Type` value names a form body, the only kind of body that is signed.
pub fn is_form_content_type(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// The request parameters of RFC 5849 §3.4.1.3.1, each already percent-encoded, in the
/// order found: the query's, then `protocol` (the `oauth_*` parameters, without `realm` and
/// `oauth_signature`), then the body's when it is a form.
pub fn collect_parameters(
    url: &str,
    protocol: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<(String, String)>, SignError> {
    let parts = split_url(url)?;
    let encode_pair = |(name, value): (Vec<u8>, Vec<u8>)| {
        (percent_encode_bytes(&name), percent_encode_bytes(&value))
    };

    let mut parameters: Vec<(String, String)> = form_pairs(parts.query.as_bytes())
        .into_iter()
        .map(encode_pair)
        .collect();
    parameters.extend(
        protocol
            .iter()
            .filter(|(name, _)| *name != "realm" && *name != "oauth_signature")
            .map(|(name, value)| (percent_encode(name), percent_encode(value))),
    );
    if content_type.is_some_and(is_form_content_type) {
        parameters.extend(form_pairs(body).into_iter().map(encode_pair));
    }
    Ok(parameters)
}

/// The normalized parameter string of RFC 5849 §3.4.1.3.2: encoded pairs sorted by name,
/// then by value (byte order), joined as `name=value` with `&`.
pub fn normalize_parameters(mut parameters: Vec<(String, String)>) -> String {
    parameters.sort();
    let joined: Vec<String> = parameters
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    joined.join("&")
}

/// The signature base string of RFC 5849 §3.4.1.1 for a request whose parameters were
/// collected with [`collect_parameters`].
pub fn signature_base_string(
    method: &str,
    url: &str,
    parameters: Vec<(String, String)>,
) -> Result<String, SignError> {
    let uri = base_string_uri(url)?;
    let normalized = normalize_parameters(parameters);
    Ok(format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(&uri),
        percent_encode(&normalized)
    ))
}
