//! What people type as a Bluesky identifier, normalized (`platforms.md` §1.4).
//!
//! People paste handles from the app (wrapped in invisible bidirectional-text marks), type
//! them with a leading `@`, in any case, with spaces around, or type an e-mail address or
//! a DID. The reference PDS treats anything containing `@` as an e-mail, so
//! `@alice.bsky.social` sent as is fails as a wrong password. We clean the input, classify
//! it, and refuse what cannot be an identifier with a message that says what to type.

use hayon_guest::ApiError;
use hayon_guest::secret::Password;

/// The body field the identifier comes from.
pub const FIELD: &str = "identifier";
/// The body field the app password comes from.
pub const PASSWORD_FIELD: &str = "appPassword";
/// Longest handle (the DNS limit).
const MAX_HANDLE_LEN: usize = 253;
/// Longest DID accepted (the atproto limit).
const MAX_DID_LEN: usize = 2048;
/// Longest e-mail address (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// A normalized identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identifier {
    /// A handle such as `alice.bsky.social` (lower case).
    Handle(String),
    /// A DID (`did:plc:…` or `did:web:…`).
    Did(String),
    /// An account e-mail address (lower case).
    Email(String),
}

impl Identifier {
    /// The identifier as sent to `createSession`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Handle(value) | Self::Did(value) | Self::Email(value) => value,
        }
    }

    /// Normalizes and classifies what a person typed.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let cleaned: String = input.chars().filter(|c| !is_invisible(*c)).collect();
        let trimmed = cleaned.trim();
        let unprefixed = trimmed.strip_prefix('@').unwrap_or(trimmed).trim();
        let value = unprefixed.to_lowercase();

        if value.is_empty() {
            return Err(invalid(
                "Enter your Bluesky handle (like alice.bsky.social), e-mail address or DID.",
            ));
        }
        if value.starts_with("did:") {
            return parse_did(&value).map(Self::Did);
        }
        if value.contains('@') {
            return parse_email(&value).map(Self::Email);
        }
        parse_handle(&value).map(Self::Handle)
    }
}

/// The app password as typed, without the surrounding whitespace and the invisible
/// characters a paste carries along (app passwords never contain either). Nothing left is
/// `validation_failed` on `appPassword`.
pub fn clean_app_password(typed: &Password) -> Result<Password, ApiError> {
    let cleaned: String = typed
        .expose_secret()
        .chars()
        .filter(|c| !is_invisible(*c))
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        return Err(ApiError::invalid_field(
            PASSWORD_FIELD,
            "Enter an App Password (create one in Bluesky under Settings \u{2192} Privacy and \
             security \u{2192} App passwords).",
        ));
    }
    Ok(Password::new(trimmed))
}

/// Invisible formatting characters that copy/paste carries along: bidi embeddings and
/// overrides (U+202A–U+202E), zero-width space/joiners (U+200B–U+200D), bidi isolates
/// (U+2066–U+2069) and the byte-order mark (U+FEFF).
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{200B}'..='\u{200D}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid_field(FIELD, message)
}

/// A handle: dot-separated labels of `a-z 0-9 -` (not starting or ending with `-`), at
/// least two labels, the last not starting with a digit, at most 253 characters.
fn parse_handle(value: &str) -> Result<String, ApiError> {
    if value.chars().any(char::is_whitespace) {
        return Err(invalid(
            "A handle has no spaces. Enter it like alice.bsky.social.",
        ));
    }
    if value.contains("://") || value.contains('/') {
        return Err(invalid(
            "Enter just the handle (like alice.bsky.social), not a web address.",
        ));
    }
    if !value.is_ascii() {
        return Err(invalid(
            "This handle has characters a handle cannot have. For an international domain, \
             enter its xn-- (punycode) form.",
        ));
    }
    if value.len() > MAX_HANDLE_LEN {
        return Err(invalid(format!(
            "A handle has at most {MAX_HANDLE_LEN} characters."
        )));
    }
    if !value.contains('.') {
        return Err(invalid(format!(
            "\u{201c}{value}\u{201d} is not a full handle. Did you mean {value}.bsky.social?"
        )));
    }
    let labels: Vec<&str> = value.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let last_ok = labels
        .last()
        .is_some_and(|last| !last.starts_with(|c: char| c.is_ascii_digit()));
    if !labels.iter().all(label_ok) || !last_ok {
        return Err(invalid(
            "This is not a valid handle. A handle looks like alice.bsky.social or a domain \
             name such as alice.com.",
        ));
    }
    Ok(value.to_owned())
}

/// A DID of a method atproto supports: `did:plc:<24 base32 chars>` or `did:web:<host>`.
pub fn parse_did(value: &str) -> Result<String, ApiError> {
    let unsupported =
        || invalid("This is not a Bluesky DID. Bluesky DIDs start with did:plc: or did:web:.");
    let bad_plc = || {
        invalid(
            "This did:plc: DID is malformed. After did:plc: come exactly 24 characters, \
             letters a\u{2013}z and digits 2\u{2013}7.",
        )
    };
    let bad_web = || {
        invalid(
            "This did:web: DID is malformed. After did:web: comes a host name, such as \
             did:web:alice.example.com.",
        )
    };
    if value.len() > MAX_DID_LEN {
        return Err(if value.starts_with("did:plc:") {
            bad_plc()
        } else if value.starts_with("did:web:") {
            bad_web()
        } else {
            unsupported()
        });
    }
    if let Some(id) = value.strip_prefix("did:plc:") {
        let ok = id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        return if ok {
            Ok(value.to_owned())
        } else {
            Err(bad_plc())
        };
    }
    if let Some(host) = value.strip_prefix("did:web:") {
        // atproto allows hostname-level did:web only (no path); a port is written %3a.
        let host = host.replace("%3a", ":");
        let (name, port) = host.split_once(':').unwrap_or((&host, ""));
        let name_ok = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        let port_ok = port.is_empty() || port.parse::<u16>().is_ok();
        return if name_ok && port_ok {
            Ok(value.to_owned())
        } else {
            Err(bad_web())
        };
    }
    Err(unsupported())
}

fn parse_email(value: &str) -> Result<String, ApiError> {
    let bad = || {
        invalid(
            "This does not look like an e-mail address or a handle. Enter your handle (like \
             alice.bsky.social) or the e-mail address of your Bluesky account.",
        )
    };
    let (local, domain) = value.split_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !value.chars().any(char::is_whitespace)
        && value.len() <= MAX_EMAIL_LEN;
    if ok { Ok(value.to_owned()) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(value: &str) -> Identifier {
        Identifier::Handle(value.into())
    }

    #[test]
    fn normalization_table() {
        let table: &[(&str, Identifier)] = &[
            ("alice.bsky.social", handle("alice.bsky.social")),
            ("@alice.bsky.social", handle("alice.bsky.social")),
            ("  @alice.bsky.social \n", handle("alice.bsky.social")),
            ("Alice.BSKY.Social", handle("alice.bsky.social")),
            ("@Alice.Bsky.Social", handle("alice.bsky.social")),
            // bsky.app copies handles wrapped in LRE … PDF.
            (
                "\u{202A}@alice.bsky.social\u{202C}",
                handle("alice.bsky.social"),
            ),
            (
                "\u{2066}alice.bsky.social\u{2069}",
                handle("alice.bsky.social"),
            ),
            ("\u{FEFF}alice.bsky.social", handle("alice.bsky.social")),
            (
                "ali\u{200B}ce.bsky.social\u{200D}",
                handle("alice.bsky.social"),
            ),
            ("\u{202E} @bob.example.com ", handle("bob.example.com")),
            ("alice.com", handle("alice.com")),
            ("xn--ls8h.test", handle("xn--ls8h.test")),
            ("a-b.c-d.example", handle("a-b.c-d.example")),
            (
                "Alice@Example.COM",
                Identifier::Email("alice@example.com".into()),
            ),
            (
                " alice@example.com ",
                Identifier::Email("alice@example.com".into()),
            ),
            (
                "did:plc:z72i7hdynmk6r22z27h6tvur",
                Identifier::Did("did:plc:z72i7hdynmk6r22z27h6tvur".into()),
            ),
            (
                " DID:PLC:Z72I7HDYNMK6R22Z27H6TVUR ",
                Identifier::Did("did:plc:z72i7hdynmk6r22z27h6tvur".into()),
            ),
            (
                "did:web:alice.example.com",
                Identifier::Did("did:web:alice.example.com".into()),
            ),
            (
                "did:web:localhost%3A8080",
                Identifier::Did("did:web:localhost%3a8080".into()),
            ),
        ];
        for (input, expected) in table {
            assert_eq!(Identifier::parse(input).as_ref(), Ok(expected), "{input:?}");
        }
    }

    fn refusal(input: &str) -> String {
        let error = Identifier::parse(input).unwrap_err();
        assert_eq!(error.code(), "validation_failed", "{input:?}");
        let fields = error.fields().unwrap();
        assert!(fields.contains_key("identifier"), "{input:?}");
        error.public_message()
    }

    #[test]
    fn bare_username_suggests_bsky_social() {
        assert!(refusal("alice").contains("alice.bsky.social"));
        assert!(refusal("@Alice").contains("alice.bsky.social"));
        assert!(refusal("\u{202A}@alice\u{202C}").contains("Did you mean alice.bsky.social?"));
    }

    #[test]
    fn refused_identifiers() {
        let refused = [
            "",
            "   ",
            "@",
            "\u{202A}\u{202C}",
            "alice .bsky.social",
            "alice..bsky.social",
            ".alice.bsky.social",
            "alice.bsky.social.",
            "-alice.bsky.social",
            "alice-.bsky.social",
            "al_ice.bsky.social",
            "alice.123",
            "127.0.0.1",
            "älice.bsky.social",
            "https://bsky.app/profile/alice.bsky.social",
            "did:key:z6Mkabc",
            "did:plc:tooshort",
            "did:plc:z72i7hdynmk6r22z27h6tvu1",
            "did:web:",
            "did:web:exa mple.com",
            "alice@",
            "@@alice.bsky.social",
            "alice@localhost",
            "a@b@c.com",
        ];
        for input in refused {
            refusal(input);
        }
        let long = format!("{}.com", "a.".repeat(130));
        refusal(&long);
        let label = format!("{}.com", "a".repeat(64));
        refusal(&label);
    }

    #[test]
    fn malformed_dids_are_called_malformed_not_foreign() {
        for input in [
            "did:plc:abc",
            "did:plc:z72i7hdynmk6r22z27h6tvu1",
            "did:plc:",
        ] {
            let message = refusal(input);
            assert!(
                message.contains("did:plc: DID is malformed"),
                "{input}: {message}"
            );
            assert!(message.contains("24 characters"), "{input}: {message}");
            assert!(!message.contains("not a Bluesky DID"), "{input}: {message}");
        }
        for input in ["did:web:", "did:web:exa mple.com", "did:web:a..b"] {
            let message = refusal(input);
            assert!(
                message.contains("did:web: DID is malformed"),
                "{input}: {message}"
            );
            assert!(message.contains("host name"), "{input}: {message}");
        }
        let message = refusal("did:key:z6Mkabc");
        assert!(message.contains("not a Bluesky DID"), "{message}");
    }

    #[test]
    fn app_passwords_lose_surrounding_whitespace_and_invisible_characters() {
        let cleaned = |typed: &str| {
            clean_app_password(&Password::new(typed)).map(|p| p.expose_secret().to_owned())
        };
        for typed in [
            "aaaa-bbbb-cccc-dddd",
            " aaaa-bbbb-cccc-dddd",
            "aaaa-bbbb-cccc-dddd \n",
            "\t aaaa-bbbb-cccc-dddd\u{00A0}",
            "\u{202A}aaaa-bbbb-cccc-dddd\u{202C}",
            "\u{FEFF}aaaa-bbbb-\u{200B}cccc-dddd",
        ] {
            assert_eq!(
                cleaned(typed).as_deref(),
                Ok("aaaa-bbbb-cccc-dddd"),
                "{typed:?}"
            );
        }
        for typed in ["\u{200B}", " \u{FEFF} "] {
            let error = cleaned(typed).unwrap_err();
            assert_eq!(error.code(), "validation_failed");
            assert!(error.fields().unwrap().contains_key(PASSWORD_FIELD));
        }
    }

    #[test]
    fn double_at_is_not_an_email() {
        // "@@alice.bsky.social" loses one @ and is then an e-mail without a local part.
        assert!(refusal("@@alice.bsky.social").contains("e-mail"));
    }
}
