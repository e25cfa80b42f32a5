//! Finding an account's PDS: handle → DID → DID document → `#atproto_pds`
//! (`platforms.md` §1.5).
//!
//! An account hosted anywhere but Bluesky's own servers cannot log in at the default
//! service; it gets the same "Invalid identifier or password" as a typo. So a handle is
//! resolved first (`com.atproto.identity.resolveHandle` on the configured service), its DID
//! document fetched (`did:plc` from the PLC directory, `did:web` from the host's
//! `/.well-known/did.json`), and the login goes to the PDS the document names.
//!
//! PDS addresses and `did:web` hosts come from what anyone can publish or type, so before
//! we call them [`Directory::allows`] refuses, by the URL's text, loopback, private and
//! link-local address literals, the other numeric forms a resolver reads as IPv4
//! (`2130706433`, `0x7f.1`, `127.1`, `0177.0.0.1`), and internal-only names (unless the host
//! is the configured service's or directory's own, as in tests and local sandboxes).
//!
//! Limitation: this is a check of names, not of addresses. Components do not resolve
//! names, so a public DNS name that resolves to a private address passes it. Outbound
//! calls are further limited by the host to the operator's allow-list
//! (`bluesky_pds_hosts`); whether a name allowed by a wildcard entry resolves to an
//! internal address is for the host to check, not this module.

use std::net::IpAddr;

use hayon_guest::config::normalize_base_url;
use hayon_guest::outbound::OutboundRequest;
use hayon_guest::{ApiError, Env, FailureClass, Phase, UpstreamFailure};
use serde::Deserialize;
use serde_json::Value;

use crate::{DEFAULT_PLC_URL, DEFAULT_SERVICE_URL, PLATFORM_NAME, PLC_URL, SERVICE_URL};

/// The service type of an atproto PDS entry.
const PDS_TYPE: &str = "AtprotoPersonalDataServer";
/// The fragment of the PDS service id.
const PDS_FRAGMENT: &str = "#atproto_pds";

/// The PDS base URL named in `doc` for `did`: the first `service` entry whose id is
/// `#atproto_pds` or `<did>#atproto_pds` and whose type is `AtprotoPersonalDataServer`.
pub fn pds_endpoint(doc: &Value, did: &str) -> Option<String> {
    let doc_id = doc.get("id").and_then(Value::as_str).unwrap_or(did);
    let absolute = format!("{doc_id}{PDS_FRAGMENT}");
    doc.get("service")?.as_array()?.iter().find_map(|service| {
        let id = service.get("id")?.as_str()?;
        let kind = service.get("type")?.as_str()?;
        let endpoint = service.get("serviceEndpoint")?.as_str()?;
        let id_ok = id == PDS_FRAGMENT || id == absolute;
        if id_ok && kind == PDS_TYPE {
            normalize_base_url(endpoint)
        } else {
            None
        }
    })
}

/// Where the DID document of `did` is published.
pub fn did_document_url(did: &str, plc_url: &str) -> Option<String> {
    if did.starts_with("did:plc:") {
        return Some(format!("{plc_url}/{did}"));
    }
    let host = did.strip_prefix("did:web:")?;
    // Hostname-level did:web only; a port is percent-encoded (`%3a`).
    if host.is_empty() || host.contains(['/', ':']) {
        return None;
    }
    let host = host.replace("%3a", ":").replace("%3A", ":");
    Some(format!("https://{host}/.well-known/did.json"))
}

/// The configured identity services: the default service (entryway, e-mail logins,
/// `resolveHandle`) and the PLC directory.
#[derive(Debug, Clone)]
pub struct Directory {
    /// The default service's base URL.
    pub service: String,
    /// The PLC directory's base URL.
    pub plc: String,
}

impl Directory {
    /// The directory from configuration (`bluesky_service_url`, `bluesky_plc_url`; the
    /// real services when unset).
    pub fn load(env: &Env) -> Result<Self, ApiError> {
        Ok(Self {
            service: env.config.base_url_or(SERVICE_URL, DEFAULT_SERVICE_URL)?,
            plc: env.config.base_url_or(PLC_URL, DEFAULT_PLC_URL)?,
        })
    }

    /// Whether we may call `url`: any public host, and internal ones (loopback, private,
    /// link-local, `localhost`) only when they are the service's or directory's own host.
    pub fn allows(&self, url: &str) -> bool {
        let Some(host) = host_of(url) else {
            return false;
        };
        !is_internal(&host)
            || [&self.service, &self.plc]
                .iter()
                .any(|trusted| host_of(trusted).as_deref() == Some(&host))
    }

    /// The PDS named in `doc`, if there is one we may call.
    pub fn pds_in(&self, doc: &Value, did: &str) -> Option<String> {
        pds_endpoint(doc, did).filter(|url| self.allows(url))
    }

    /// Resolves `handle` to a DID with `resolveHandle` on the default service.
    pub fn resolve_handle(&self, env: &Env, handle: &str) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Resolved {
            did: String,
        }
        let url = format!("{}/xrpc/com.atproto.identity.resolveHandle", self.service);
        let request = OutboundRequest::get(url).query([("handle", handle)]);
        match env.fetch_json::<Resolved>(&request) {
            Ok(resolved) => {
                crate::identifier::parse_did(&resolved.did.to_lowercase()).map_err(|_| {
                    ApiError::internal(format!("resolveHandle gave a bad DID for {handle}"))
                })
            }
            Err(failure) if is_unknown_handle(&failure) => Err(ApiError::InvalidCredentials {
                message: format!(
                    "Bluesky does not know the handle {handle}. Check the handle and try again."
                ),
            }),
            Err(failure) => Err(resolution_error(failure)),
        }
    }

    /// Fetches the DID document of `did` and returns the PDS it names.
    pub fn resolve_pds(&self, env: &Env, did: &str) -> Result<String, ApiError> {
        let doc = self.fetch_document(env, did)?;
        self.pds_from(&doc, did)
    }

    /// Fetches the DID document of `did` from where it is published (the PLC directory, or
    /// the `did:web` host) — never from a login answer, which the PDS writes. A document
    /// whose `id` is another DID is refused.
    pub fn fetch_document(&self, env: &Env, did: &str) -> Result<Value, ApiError> {
        let unusable = || {
            ApiError::invalid_field(
                crate::identifier::FIELD,
                "Hayon cannot look up this DID. Enter the account's handle instead.",
            )
        };
        let url = did_document_url(did, &self.plc).ok_or_else(unusable)?;
        if !self.allows(&url) {
            return Err(unusable());
        }
        let doc = match env.fetch_json::<Value>(&OutboundRequest::get(url)) {
            Ok(doc) => doc,
            Err(failure) if matches!(failure.status, Some(404 | 410)) => {
                return Err(ApiError::AccountUnavailable {
                    message: format!(
                        "The identity {did} has no published DID document: the account may \
                         have been deleted. Check the identifier."
                    ),
                });
            }
            Err(failure) => return Err(resolution_error(failure)),
        };
        match doc.get("id").and_then(Value::as_str) {
            Some(id) if id.eq_ignore_ascii_case(did) => Ok(doc),
            _ => Err(ApiError::UpstreamUnavailable {
                message: "Bluesky's identity directory answered with another identity's \
                          document. Try again in a few minutes."
                    .into(),
            }),
        }
    }

    /// The PDS that `doc`, the document of `did`, names, if it is one we may call.
    pub fn pds_from(&self, doc: &Value, did: &str) -> Result<String, ApiError> {
        self.pds_in(doc, did)
            .ok_or_else(|| ApiError::AccountUnavailable {
                message: format!(
                    "The identity {did} names no Bluesky hosting server (PDS) Hayon can use; the \
                 account may have been deleted or be moving. Try again later."
                ),
            })
    }
}

/// Whether the DID document `doc` claims `handle`: its `alsoKnownAs` lists
/// `at://<handle>` (compared without regard to case, as handles are).
pub fn claims_handle(doc: &Value, handle: &str) -> bool {
    let Some(names) = doc.get("alsoKnownAs").and_then(Value::as_array) else {
        return false;
    };
    names.iter().filter_map(Value::as_str).any(|name| {
        name.strip_prefix("at://")
            .is_some_and(|name| !handle.is_empty() && name.eq_ignore_ascii_case(handle))
    })
}

/// The host of an `http(s)` URL, lower case, without port or IPv6 brackets.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next()?
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Loopback, private, link-local, shared and unspecified addresses, names that only mean
/// something inside a network, and numeric hosts that are not a canonical address (which
/// resolvers read in `inet_aton`'s forms: one to four parts, decimal, octal or hex).
fn is_internal(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.parse::<IpAddr>().is_err() && looks_numeric(host) {
        return true;
    }
    if host == "localhost"
        || [".localhost", ".local", ".internal"]
            .iter()
            .any(|s| host.ends_with(s))
    {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        Ok(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(&v4.to_string()))
        }
        Err(_) => false,
    }
}

/// Whether `host` could be read as an IPv4 address by a permissive resolver: its last
/// label (and so also an all-numeric host) is decimal digits or `0x` followed by hex digits.
fn looks_numeric(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    let numeric = |label: &str| {
        let lower = label.to_ascii_lowercase();
        match lower.strip_prefix("0x") {
            Some(hex) => hex.chars().all(|c| c.is_ascii_hexdigit()),
            None => !label.is_empty() && label.chars().all(|c| c.is_ascii_digit()),
        }
    };
    numeric(last)
}

/// `HandleNotFound` (the lexicon's name), or the reference server's 400 "Unable to resolve
/// handle".
fn is_unknown_handle(failure: &UpstreamFailure) -> bool {
    failure.class == FailureClass::RequestError
        && failure.status == Some(400)
        && matches!(
            failure.error.as_deref(),
            Some("HandleNotFound" | "InvalidRequest")
        )
}

/// Resolution failures that are not "no such handle": outages and throttling keep their
/// codes; anything else means the directory answered nonsense.
fn resolution_error(failure: UpstreamFailure) -> ApiError {
    match failure.class {
        FailureClass::Transient => failure.into_api(PLATFORM_NAME, Phase::Connect),
        _ => ApiError::UpstreamUnavailable {
            message: "Bluesky's identity directory gave an answer we could not use. Try again \
                      in a few minutes."
                .into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DID: &str = "did:plc:z72i7hdynmk6r22z27h6tvur";

    #[test]
    fn relative_and_absolute_service_ids() {
        let relative = json!({
            "id": DID,
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": "https://pds.example.com/"}]
        });
        assert_eq!(
            pds_endpoint(&relative, DID).as_deref(),
            Some("https://pds.example.com")
        );
        let absolute = json!({
            "id": DID,
            "service": [{"id": format!("{DID}#atproto_pds"), "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": "http://127.0.0.1:4000"}]
        });
        assert_eq!(
            pds_endpoint(&absolute, DID).as_deref(),
            Some("http://127.0.0.1:4000")
        );
    }

    #[test]
    fn extra_services_are_skipped() {
        let doc = json!({
            "id": DID,
            "service": [
                {"id": "#atproto_labeler", "type": "AtprotoLabeler",
                 "serviceEndpoint": "https://labeler.example"},
                {"id": "#atproto_pds", "type": "SomethingElse",
                 "serviceEndpoint": "https://wrong-type.example"},
                {"id": "did:plc:someoneelse#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "https://other-did.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "https://right.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "https://second.example"}
            ]
        });
        assert_eq!(
            pds_endpoint(&doc, DID).as_deref(),
            Some("https://right.example")
        );
    }

    #[test]
    fn missing_or_malformed_pds() {
        assert_eq!(pds_endpoint(&json!({"id": DID}), DID), None);
        assert_eq!(pds_endpoint(&json!({"id": DID, "service": []}), DID), None);
        assert_eq!(
            pds_endpoint(&json!({"id": DID, "service": {"id": "#atproto_pds"}}), DID),
            None
        );
        let bad_url = json!({"id": DID, "service": [{"id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer", "serviceEndpoint": "javascript:alert(1)"}]});
        assert_eq!(pds_endpoint(&bad_url, DID), None);
        let not_string = json!({"id": DID, "service": [{"id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer", "serviceEndpoint": {"uri": "https://x"}}]});
        assert_eq!(pds_endpoint(&not_string, DID), None);
    }

    #[test]
    fn internal_addresses_only_for_the_configured_hosts() {
        let public = Directory {
            service: "https://bsky.social".into(),
            plc: "https://plc.directory".into(),
        };
        assert!(public.allows("https://morel.us-east.host.bsky.network"));
        assert!(public.allows("https://pds.example.com:8443"));
        assert!(public.allows("https://8.8.8.8"));
        assert!(public.allows("https://pds0x1.example.com"));
        for internal in [
            "https://169.254.169.254",
            "https://127.0.0.1:443",
            "http://10.0.0.5",
            "https://192.168.1.1",
            "https://[::1]:443",
            "https://[fd00::1]",
            "https://[::ffff:10.1.2.3]",
            "https://localhost",
            "https://db.internal",
            "https://100.64.0.1",
            "https://2130706433",
            "https://0x7f.1",
            "https://0x7F000001",
            "https://127.1",
            "https://0177.0.0.1",
            "https://127.0.0.01",
            "https://10.1",
            "https://0xa9fea9fe",
            "https://169.254.169.254.",
            "https://localhost.",
            "https://8.8.8.08",
            "https://pds.example.123",
            "not a url",
        ] {
            assert!(!public.allows(internal), "{internal}");
        }
        let local = Directory {
            service: "http://127.0.0.1:4000".into(),
            plc: "http://127.0.0.1:4001".into(),
        };
        assert!(local.allows("http://127.0.0.1:4002"));
        assert!(!local.allows("http://10.0.0.5"));
        let doc = json!({"id": DID, "service": [{"id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://169.254.169.254"}]});
        assert_eq!(public.pds_in(&doc, DID), None);
    }

    #[test]
    fn a_handle_is_claimed_only_through_also_known_as() {
        let doc = json!({"id": DID, "alsoKnownAs": ["at://Alice.Test", "https://x"]});
        assert!(claims_handle(&doc, "alice.test"));
        assert!(!claims_handle(&doc, "bob.test"));
        assert!(!claims_handle(&doc, "x"));
        assert!(!claims_handle(&doc, ""));
        assert!(!claims_handle(&json!({"id": DID}), "alice.test"));
    }

    #[test]
    fn document_locations() {
        assert_eq!(
            did_document_url(DID, "https://plc.directory").as_deref(),
            Some("https://plc.directory/did:plc:z72i7hdynmk6r22z27h6tvur")
        );
        assert_eq!(
            did_document_url("did:web:alice.example.com", "x").as_deref(),
            Some("https://alice.example.com/.well-known/did.json")
        );
        assert_eq!(
            did_document_url("did:web:localhost%3a8080", "x").as_deref(),
            Some("https://localhost:8080/.well-known/did.json")
        );
        assert_eq!(did_document_url("did:web:", "x"), None);
        assert_eq!(did_document_url("did:key:abc", "x"), None);
    }
}
