//! Percent-encoding and form decoding exactly as RFC 5849 §3.6 and §3.4.1.3.1 want them.
//!
//! OAuth 1.0a signs a string built from percent-encoded names and values, so the encoder
//! must match the server's byte for byte: only the unreserved characters
//! `A-Z a-z 0-9 - . _ ~` stay literal, every other byte of the UTF-8 form becomes `%XX` with
//! upper-case hex, a space is `%20` (never `+`). That is the guest library's RFC 3986
//! encoder, re-exported here as [`percent_encode`] (the RFC's vectors in this crate's tests
//! hold it to that). Decoding is the signer's own: the parameters are re-encoded from the
//! decoded *bytes*, which a general form parser would turn into text (and so lose bytes
//! that are not UTF-8).

pub use hayon_guest::outbound::{percent_encode, percent_encode_bytes};

/// The value of one ASCII hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Decodes one name or value of an `application/x-www-form-urlencoded` string (a query
/// string or a form body): `+` is a space and `%XX` a byte. A `%` not followed by two hex
/// digits is kept literally, as browsers and servers do.
pub fn form_decode_bytes(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while index < encoded.len() {
        let byte = encoded[index];
        let escaped = match (byte, encoded.get(index + 1), encoded.get(index + 2)) {
            (b'%', Some(&high), Some(&low)) => hex_value(high).zip(hex_value(low)),
            _ => None,
        };
        if let Some((high, low)) = escaped {
            out.push(high << 4 | low);
            index += 3;
            continue;
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    out
}

/// Splits an `application/x-www-form-urlencoded` string into decoded `(name, value)` byte
/// pairs. A segment without `=` is a name with an empty value (RFC 5849's `c2` example);
/// empty segments (`a=1&&b=2`) carry nothing and are skipped.
pub fn form_pairs(encoded: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    encoded
        .split(|&byte| byte == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|&byte| byte == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &[][..]),
            };
            (form_decode_bytes(name), form_decode_bytes(value))
        })
        .collect()
}
