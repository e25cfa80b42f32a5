//! Pins the signer to every vector of platforms.md §2.3 and to the rules the vectors leave
//! out (ports, empty values, duplicates, non-ASCII, unsigned bodies, the header's form).

use super::base_string::{base_string_uri, normalize_parameters};
use super::encode::{form_decode_bytes, percent_encode_bytes};
use super::*;

const PHOTOS_KEY: &str = "dpf43f3p2l4k3l03";
const PHOTOS_SECRET: &str = "kd94hf93k423kf44";

fn token(token: &str, secret: &str) -> TokenCredentials {
    TokenCredentials {
        token: OAuthToken::new(token),
        secret: TokenSecret::new(secret),
    }
}

/// The header's fields, in order, with their raw (still percent-encoded) values.
fn header_fields(header: &AuthorizationHeader) -> Vec<(String, String)> {
    let fields = header
        .expose()
        .strip_prefix("OAuth ")
        .expect("header starts with OAuth");
    fields
        .split(", ")
        .map(|field| {
            let (name, quoted) = field.split_once('=').expect("name=value");
            let value = quoted.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
            (name.to_owned(), value.expect("a quoted value").to_owned())
        })
        .collect()
}

#[test]
fn vector_a_rfc5849_base_string() {
    let secret = ConsumerSecret::new("unpublished");
    let credentials = token("kkk9d7dh3k39sjv7", "unpublished");
    let request = Request::new(
        "POST",
        "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
    )
    .with_body("application/x-www-form-urlencoded", b"c2&a3=2+q");
    let signed = Signer::new("9djdj82h48djs9d2", &secret, "7d8f3e4a", 137131201)
        .token(&credentials)
        .realm("Example")
        .sign(&request)
        .expect("signs");
    assert_eq!(
        signed.base_string(),
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%\
         253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%\
         3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_\
         token%3Dkkk9d7dh3k39sjv7"
    );
}

#[test]
fn vector_b_photos_request_token() {
    let secret = ConsumerSecret::new(PHOTOS_SECRET);
    let signed = Signer::new(PHOTOS_KEY, &secret, "wIjqoS", 137131200)
        .callback("http://printer.example.com/ready")
        .realm("Photos")
        .sign(&Request::new("POST", "https://photos.example.net/initiate"))
        .expect("signs");
    assert_eq!(
        signed.base_string(),
        "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252F\
         printer.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3D\
         wIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200"
    );
    assert_eq!(signed.signature(), "74KNZJeDHnMBp0EMJ9ZHt/XKycU=");
}

#[test]
fn vector_c_photos_access_token() {
    let secret = ConsumerSecret::new(PHOTOS_SECRET);
    let temporary = token("hh5s93j4hdidpola", "hdhd0244k9j7ao03");
    let verifier = Verifier::new("hfdp7dh39dks9884");
    let signed = Signer::new(PHOTOS_KEY, &secret, "walatlh", 137131201)
        .token(&temporary)
        .verifier(&verifier)
        .realm("Photos")
        .sign(&Request::new("POST", "https://photos.example.net/token"))
        .expect("signs");
    assert_eq!(signed.signature(), "gKgrFCywp7rO0OXSjdot/IHF7IU=");
    assert!(
        signed
            .base_string()
            .ends_with("oauth_verifier%3Dhfdp7dh39dks9884")
    );
}

#[test]
fn vector_d_photos_resource() {
    let secret = ConsumerSecret::new(PHOTOS_SECRET);
    let access = token("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00");
    let url = "http://photos.example.net/photos?file=vacation.jpg&size=original";
    let signed = Signer::new(PHOTOS_KEY, &secret, "chapoH", 137131202)
        .token(&access)
        .realm("Photos")
        .sign(&Request::new("GET", url))
        .expect("signs");
    assert_eq!(
        signed.base_string(),
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3D\
         dpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26oauth_\
         timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
    );
    assert_eq!(signed.signature(), "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
}

#[test]
fn vector_e_oauth_core_appendix_a5() {
    let secret = ConsumerSecret::new(PHOTOS_SECRET);
    let access = token("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00");
    let url = "http://photos.example.net/photos?file=vacation.jpg&size=original";
    let signed = Signer::new(PHOTOS_KEY, &secret, "kllo9940pd9333jh", 1191242096)
        .token(&access)
        .version(true)
        .sign(&Request::new("GET", url))
        .expect("signs");
    assert_eq!(signed.signature(), "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
}

/// Vector F with the body in either legal form encoding: `%20` or `+` for spaces.
fn vector_f(body: &[u8]) -> SignedRequest {
    let secret = ConsumerSecret::new("kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw");
    let access = token(
        "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
        "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    );
    let url = "https://api.twitter.com/1.1/statuses/update.json?include_entities=true";
    Signer::new(
        "xvz1evFS4wEEPTGEFPHBog",
        &secret,
        "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
        1318622958,
    )
    .token(&access)
    .version(true)
    .sign(&Request::new("POST", url).with_body("application/x-www-form-urlencoded", body))
    .expect("signs")
}

#[test]
fn vector_f_twitter_creating_a_signature() {
    let signed =
        vector_f(b"status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21");
    assert_eq!(signed.signature(), "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
    assert!(signed.base_string().starts_with(
        "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue"
    ));
    assert!(signed.base_string().ends_with(
        "status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520\
         request%2521"
    ));

    let plus_spaces = vector_f(b"status=Hello+Ladies+%2B+Gentlemen%2C+a+signed+OAuth+request!");
    assert_eq!(plus_spaces.signature(), "hCtSmYh+iHYCEqBWrE7C7hYmtUk=");
}

#[test]
fn vector_g_tumblr_post_with_reserved_secrets() {
    let secret = ConsumerSecret::new("cs secret&/=");
    let access = token("tk-TEST", "ts~secret");
    assert_eq!(
        signing_key("cs secret&/=", "ts~secret"),
        "cs%20secret%26%2F%3D&ts~secret"
    );
    let url = "https://API.Tumblr.com:443/v2/blog/example.tumblr.com/posts?z=1&tag=caf%C3%A9";
    let signed = Signer::new("ck-TEST", &secret, "abc123", 1700000000)
        .token(&access)
        .version(true)
        .sign(&Request::new("POST", url).with_body(
            "application/x-www-form-urlencoded",
            b"body=Hello+world%21+%2B+%E2%9C%93&type=text",
        ))
        .expect("signs");
    assert_eq!(
        signed.base_string(),
        "POST&https%3A%2F%2Fapi.tumblr.com%2Fv2%2Fblog%2Fexample.tumblr.com%2Fposts&body%3DHello\
         %2520world%2521%2520%252B%2520%25E2%259C%2593%26oauth_consumer_key%3Dck-TEST%26oauth_\
         nonce%3Dabc123%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26\
         oauth_token%3Dtk-TEST%26oauth_version%3D1.0%26tag%3Dcaf%25C3%25A9%26type%3Dtext%26z%3D1"
    );
    assert_eq!(signed.signature(), "tNCqJKb68BBIwpofWpaqaEtUOyc=");
}

#[test]
fn vector_h_request_token_with_query_in_callback() {
    let secret = ConsumerSecret::new("cs-TEST");
    let signed = Signer::new("ck-TEST", &secret, "n0nce42", 1700000100)
        .callback("https://app.example.com/api/platform/tumblr/callback?state=65f0c0ffee")
        .version(true)
        .sign(&Request::new(
            "POST",
            "https://www.tumblr.com/oauth/request_token",
        ))
        .expect("signs");
    assert_eq!(
        signed.base_string(),
        "POST&https%3A%2F%2Fwww.tumblr.com%2Foauth%2Frequest_token&oauth_callback%3Dhttps%253A%\
         252F%252Fapp.example.com%252Fapi%252Fplatform%252Ftumblr%252Fcallback%253Fstate%253D65\
         f0c0ffee%26oauth_consumer_key%3Dck-TEST%26oauth_nonce%3Dn0nce42%26oauth_signature_\
         method%3DHMAC-SHA1%26oauth_timestamp%3D1700000100%26oauth_version%3D1.0"
    );
    assert_eq!(signed.signature(), "1VVuOOhEQxWaM4f2WkKnh6GN/Jw=");
}

#[test]
fn encoder_leaves_only_unreserved_bytes_literal() {
    for byte in 0..=u8::MAX {
        let encoded = percent_encode_bytes(&[byte]);
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            assert_eq!(encoded, char::from(byte).to_string());
        } else {
            assert_eq!(encoded, format!("%{byte:02X}"), "byte {byte:#04x}");
        }
    }
    assert_eq!(percent_encode("a b+c*d~e%"), "a%20b%2Bc%2Ad~e%25");
    assert_eq!(percent_encode("é✓🦀"), "%C3%A9%E2%9C%93%F0%9F%A6%80");
}

#[test]
fn form_decoding_reads_plus_as_space_and_keeps_broken_escapes() {
    assert_eq!(form_decode_bytes(b"a+b%2Bc%20d"), b"a b+c d");
    assert_eq!(form_decode_bytes(b"100%zz%4"), b"100%zz%4");
    assert_eq!(form_decode_bytes(b"%c3%A9"), "é".as_bytes());
}

#[test]
fn base_string_uri_normalizes_scheme_host_and_default_ports() {
    let cases = [
        (
            "HTTP://Example.COM:80/r%20v/X?id=123",
            "http://example.com/r%20v/X",
        ),
        (
            "https://www.example.net:8080/?q=1",
            "https://www.example.net:8080/",
        ),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        (
            "http://127.0.0.1:41234/oauth/request_token",
            "http://127.0.0.1:41234/oauth/request_token",
        ),
        (
            "https://user:pw@Example.com/a#frag",
            "https://example.com/a",
        ),
        ("https://example.com?x=1#_=_", "https://example.com/"),
        (
            "http://[::1]:8080/v2/user/info",
            "http://[::1]:8080/v2/user/info",
        ),
        ("https://[::1]:443/", "https://[::1]/"),
        ("https://example.com:/p", "https://example.com/p"),
    ];
    for (url, expected) in cases {
        assert_eq!(base_string_uri(url).as_deref(), Ok(expected), "{url}");
    }
}

#[test]
fn unusable_urls_are_refused() {
    for url in [
        "example.com/a",
        "://example.com",
        "https:///a",
        "https://h:port/",
        "https://h:99999/",
    ] {
        assert!(
            matches!(base_string_uri(url), Err(SignError::InvalidUrl { .. })),
            "{url}"
        );
    }
}

#[test]
fn empty_values_and_valueless_names_sign_as_name_equals() {
    let secret = ConsumerSecret::new("cs");
    let signed = Signer::new("ck", &secret, "n", 1)
        .sign(&Request::new("GET", "https://h.example/p?a=&b&c=1"))
        .expect("signs");
    assert!(
        signed
            .base_string()
            .starts_with("GET&https%3A%2F%2Fh.example%2Fp&a%3D%26b%3D%26c%3D1")
    );
}

#[test]
fn duplicate_names_are_all_kept_and_sorted_by_value() {
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        normalize_parameters(pairs(&[("a", "2"), ("a", "10"), ("a", "1"), ("a", "")])),
        "a=&a=1&a=10&a=2"
    );
    // Sorted by name first, then value: not as whole `name=value` strings.
    assert_eq!(
        normalize_parameters(pairs(&[("ab", "a"), ("a", "z")])),
        "a=z&ab=a"
    );
    assert_eq!(
        normalize_parameters(pairs(&[("a.", "1"), ("a", "2")])),
        "a=2&a.=1"
    );

    let secret = ConsumerSecret::new("cs");
    let signed = Signer::new("ck", &secret, "n", 1)
        .sign(&Request::new(
            "GET",
            "https://h.example/p?tag=b&tag=a&tag=b",
        ))
        .expect("signs");
    assert!(
        signed
            .base_string()
            .ends_with("tag%3Da%26tag%3Db%26tag%3Db")
    );
}

#[test]
fn non_ascii_query_values_are_encoded_from_utf8() {
    let secret = ConsumerSecret::new("cs");
    let encoded = Signer::new("ck", &secret, "n", 1)
        .sign(&Request::new("GET", "https://h.example/p?q=caf%C3%A9"))
        .expect("signs");
    let raw = Signer::new("ck", &secret, "n", 1)
        .sign(&Request::new("GET", "https://h.example/p?q=café"))
        .expect("signs");
    assert!(encoded.base_string().ends_with("q%3Dcaf%25C3%25A9"));
    assert_eq!(encoded.base_string(), raw.base_string());
}

#[test]
fn only_form_bodies_are_signed() {
    let secret = ConsumerSecret::new("cs");
    let access = token("tk", "ts");
    let sign = |request: Request<'_>| {
        Signer::new("ck", &secret, "n", 1)
            .token(&access)
            .sign(&request)
            .expect("signs")
    };
    let url = "https://api.example.com/v2/blog/b/posts";

    let bare = sign(Request::new("POST", url));
    let json = sign(Request::new("POST", url).with_body("application/json", b"{\"a\":\"1\"}"));
    let multipart =
        sign(Request::new("POST", url).with_body("multipart/form-data; boundary=x", b"a=1"));
    assert_eq!(json.signature(), bare.signature());
    assert_eq!(multipart.signature(), bare.signature());

    let form = sign(
        Request::new("POST", url)
            .with_body("Application/X-WWW-Form-Urlencoded; charset=UTF-8", b"a=1"),
    );
    assert_ne!(form.signature(), bare.signature());
    assert!(
        form.base_string()
            .contains("%2Fposts&a%3D1%26oauth_consumer_key")
    );
}

#[test]
fn signing_key_encodes_both_secrets_and_always_has_the_ampersand() {
    assert_eq!(signing_key("kd94hf93k423kf44", ""), "kd94hf93k423kf44&");
    assert_eq!(signing_key("a&b", "c d%"), "a%26b&c%20d%25");
    assert_eq!(signing_key("", ""), "&");

    // The request-token step signs with `cs&`: a signer with an empty token secret agrees.
    let secret = ConsumerSecret::new("cs");
    let empty_secret = token("tk", "");
    let request = Request::new("GET", "https://h.example/");
    let without = Signer::new("ck", &secret, "n", 1)
        .sign(&request)
        .expect("signs");
    let with_empty = Signer::new("ck", &secret, "n", 1)
        .token(&empty_secret)
        .sign(&request)
        .expect("signs");
    let expected_without = hmac_sha1_base64("cs", "", without.base_string());
    assert_eq!(without.signature(), expected_without);
    assert_ne!(
        without.signature(),
        with_empty.signature(),
        "oauth_token is signed"
    );
}

#[test]
fn header_carries_encoded_quoted_protocol_parameters_and_signature() {
    let secret = ConsumerSecret::new(PHOTOS_SECRET);
    let temporary = token("hh5s93j4hdidpola", "hdhd0244k9j7ao03");
    let verifier = Verifier::new("hfdp7dh39dks9884");
    let signed = Signer::new(PHOTOS_KEY, &secret, "walatlh", 137131201)
        .token(&temporary)
        .verifier(&verifier)
        .realm("Photos")
        .sign(&Request::new("POST", "https://photos.example.net/token"))
        .expect("signs");
    assert_eq!(
        header_fields(signed.authorization()),
        [
            ("realm", "Photos"),
            ("oauth_consumer_key", PHOTOS_KEY),
            ("oauth_nonce", "walatlh"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_token", "hh5s93j4hdidpola"),
            ("oauth_verifier", "hfdp7dh39dks9884"),
            ("oauth_signature", "gKgrFCywp7rO0OXSjdot%2FIHF7IU%3D"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );

    let secret = ConsumerSecret::new("cs-TEST");
    let signed = Signer::new("ck-TEST", &secret, "n0nce42", 1700000100)
        .callback("https://app.example.com/cb?state=1")
        .version(true)
        .sign(&Request::new(
            "POST",
            "https://www.tumblr.com/oauth/request_token",
        ))
        .expect("signs");
    let fields = header_fields(signed.authorization());
    assert_eq!(
        fields[0],
        (
            "oauth_callback".into(),
            "https%3A%2F%2Fapp.example.com%2Fcb%3Fstate%3D1".into()
        )
    );
    assert!(fields.contains(&("oauth_version".into(), "1.0".into())));
    assert!(
        !fields
            .iter()
            .any(|(name, _)| name == "oauth_verifier" || name == "realm")
    );
}

#[test]
fn realm_and_oauth_signature_in_the_query_are_not_signed_as_protocol_parameters() {
    let secret = ConsumerSecret::new("cs");
    let plain = Signer::new("ck", &secret, "n", 1)
        .sign(&Request::new("GET", "https://h.example/p"))
        .expect("signs");
    let with_realm = Signer::new("ck", &secret, "n", 1)
        .realm("Somewhere")
        .sign(&Request::new("GET", "https://h.example/p"))
        .expect("signs");
    assert_eq!(plain.base_string(), with_realm.base_string());
    assert!(!plain.base_string().contains("oauth_signature%3D"));
}

#[test]
fn secrets_and_headers_are_redacted_in_debug_output() {
    let secret = ConsumerSecret::new("consumer-very-secret");
    let access = token("token-very-public-half", "token-very-secret");
    let verifier = Verifier::new("verifier-very-secret");
    let signed = Signer::new("ck", &secret, "n", 1)
        .token(&access)
        .verifier(&verifier)
        .sign(&Request::new("GET", "https://h.example/"))
        .expect("signs");
    let printed = format!(
        "{secret:?} {access:?} {verifier:?} {signed:?} {:?}",
        signed.authorization()
    );
    assert!(!printed.contains("very-secret"), "{printed}");
    assert!(!printed.contains("very-public-half"), "{printed}");
    assert!(printed.contains("[redacted]"));
}
