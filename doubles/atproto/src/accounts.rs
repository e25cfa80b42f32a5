//! Accounts the double knows: credentials, hosting, status, DID document and profile.
//!
//! An account lives either in the entryway's PDS fleet (it logs in at the entryway or at
//! its fleet PDS, and its DID document names the fleet PDS) or on the independent PDS
//! (only that PDS knows its password; the entryway answers 401 for it, as bsky.social does
//! for self-hosted accounts).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Where an account is hosted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Home {
    /// On the entryway's fleet: logs in at the entryway or the fleet PDS.
    #[default]
    Fleet,
    /// On the independent PDS: logs in there only.
    ThirdParty,
}

/// The account's standing, as the PDS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountStatus {
    /// Usable.
    #[default]
    Active,
    /// Deactivated by its owner: login succeeds with `active:false`.
    Deactivated,
    /// Taken down by the operator: login and refresh answer 401 `AccountTakedown`.
    Takendown,
    /// Temporarily suspended: treated like a takedown at login.
    Suspended,
}

impl AccountStatus {
    /// The `status` value of session outputs, or `None` when active.
    pub fn as_status(self) -> Option<&'static str> {
        match self {
            AccountStatus::Active => None,
            AccountStatus::Deactivated => Some("deactivated"),
            AccountStatus::Takendown => Some("takendown"),
            AccountStatus::Suspended => Some("suspended"),
        }
    }
}

/// How the `#atproto_pds` service entry of the DID document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PdsIdStyle {
    /// `"id": "#atproto_pds"` (what plc.directory serves).
    #[default]
    Relative,
    /// `"id": "did:plc:…#atproto_pds"`.
    Absolute,
}

/// An account to add to the double; build it with the chained setters.
///
/// ```
/// use hayon_double_atproto::Account;
/// let alice = Account::new("alice.test", "main-password")
///     .app_password("abcd-efgh-ijkl-mnop")
///     .display_name("Alice");
/// ```
#[derive(Debug, Clone)]
pub struct Account {
    pub(crate) handle: String,
    pub(crate) did: String,
    pub(crate) password: String,
    pub(crate) app_passwords: Vec<String>,
    pub(crate) email: Option<String>,
    pub(crate) auth_factor_code: Option<String>,
    pub(crate) status: AccountStatus,
    pub(crate) home: Home,
    pub(crate) display_name: Option<String>,
    pub(crate) avatar: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) handle_invalid: bool,
    pub(crate) pds_id_style: PdsIdStyle,
    pub(crate) extra_services_first: bool,
}

impl Account {
    /// An active fleet account with this handle (stored lower-case) and main password.
    /// Its DID is derived from the handle (`did:plc:` and 24 base32 characters).
    pub fn new(handle: &str, password: &str) -> Self {
        let handle = handle.to_ascii_lowercase();
        Self {
            did: plc_did_for(&handle),
            handle,
            password: password.to_owned(),
            app_passwords: Vec::new(),
            email: None,
            auth_factor_code: None,
            status: AccountStatus::Active,
            home: Home::Fleet,
            display_name: None,
            avatar: None,
            description: None,
            handle_invalid: false,
            pds_id_style: PdsIdStyle::Relative,
            extra_services_first: false,
        }
    }

    /// Uses this DID instead of the derived one.
    pub fn did(mut self, did: &str) -> Self {
        self.did = did.to_owned();
        self
    }

    /// Adds an app password (it bypasses e-mail 2FA).
    pub fn app_password(mut self, password: &str) -> Self {
        self.app_passwords.push(password.to_owned());
        self
    }

    /// Gives the account an e-mail address it can log in with (case-insensitive).
    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_ascii_lowercase());
        self
    }

    /// Turns on e-mail 2FA: the main password then needs `authFactorToken == code`.
    pub fn two_factor(mut self, code: &str) -> Self {
        self.auth_factor_code = Some(code.to_owned());
        self
    }

    /// Sets the account's standing.
    pub fn status(mut self, status: AccountStatus) -> Self {
        self.status = status;
        self
    }

    /// Hosts the account on the independent PDS instead of the fleet.
    pub fn on_third_party_pds(mut self) -> Self {
        self.home = Home::ThirdParty;
        self
    }

    /// Profile display name (`Some("")` gives an empty one).
    pub fn display_name(mut self, name: &str) -> Self {
        self.display_name = Some(name.to_owned());
        self
    }

    /// Profile avatar URL.
    pub fn avatar(mut self, url: &str) -> Self {
        self.avatar = Some(url.to_owned());
        self
    }

    /// Profile description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    /// The AppView reports the handle as `handle.invalid` (bidirectional check failed).
    pub fn handle_invalid(mut self) -> Self {
        self.handle_invalid = true;
        self
    }

    /// Writes the DID document's PDS entry with this id style.
    pub fn pds_id_style(mut self, style: PdsIdStyle) -> Self {
        self.pds_id_style = style;
        self
    }

    /// Puts other services (labeler, notifications, a decoy of the wrong type whose id
    /// also ends in `#atproto_pds`) before the PDS entry in the DID document.
    pub fn extra_services_first(mut self) -> Self {
        self.extra_services_first = true;
        self
    }

    /// The account's handle (lower case).
    pub fn handle_str(&self) -> &str {
        &self.handle
    }

    /// The account's DID.
    pub fn did_str(&self) -> &str {
        &self.did
    }

    /// Where the account is hosted.
    pub fn home(&self) -> Home {
        self.home
    }

    /// The handle as the AppView reports it.
    pub(crate) fn public_handle(&self) -> &str {
        if self.handle_invalid {
            "handle.invalid"
        } else {
            &self.handle
        }
    }

    /// The W3C DID document, naming `pds_url` as the account's PDS.
    pub(crate) fn did_document(&self, pds_url: &str) -> Value {
        let pds_id = match self.pds_id_style {
            PdsIdStyle::Relative => "#atproto_pds".to_owned(),
            PdsIdStyle::Absolute => format!("{}#atproto_pds", self.did),
        };
        let pds = json!({
            "id": pds_id,
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": pds_url,
        });
        let mut services = Vec::new();
        if self.extra_services_first {
            services.push(json!({
                "id": "#atproto_labeler",
                "type": "AtprotoLabeler",
                "serviceEndpoint": "https://labeler.invalid",
            }));
            services.push(json!({
                "id": "#bsky_notif",
                "type": "BskyNotificationService",
                "serviceEndpoint": "https://notif.invalid",
            }));
            services.push(json!({
                "id": format!("{}#atproto_pds", self.did),
                "type": "SomethingElse",
                "serviceEndpoint": "https://decoy.invalid",
            }));
        }
        services.push(pds);
        json!({
            "@context": [
                "https://www.w3.org/ns/did/v1",
                "https://w3id.org/security/multikey/v1",
                "https://w3id.org/security/suites/secp256k1-2019/v1",
            ],
            "id": self.did,
            "alsoKnownAs": [format!("at://{}", self.handle)],
            "verificationMethod": [{
                "id": format!("{}#atproto", self.did),
                "type": "Multikey",
                "controller": self.did,
                "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF",
            }],
            "service": services,
        })
    }

    /// `app.bsky.actor.defs#profileViewDetailed` for this account.
    pub(crate) fn profile(&self, indexed_at: &str) -> Value {
        let mut profile = json!({
            "did": self.did,
            "handle": self.public_handle(),
            "followersCount": 12,
            "followsCount": 34,
            "postsCount": 56,
            "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": false},
            "indexedAt": indexed_at,
            "createdAt": "2024-02-06T12:00:00.000Z",
            "viewer": {"muted": false, "blockedBy": false},
            "labels": [],
        });
        let fields = [
            ("displayName", &self.display_name),
            ("avatar", &self.avatar),
            ("description", &self.description),
        ];
        for (name, value) in fields {
            if let (Some(value), Some(map)) = (value, profile.as_object_mut()) {
                map.insert(name.to_owned(), Value::String(value.clone()));
            }
        }
        profile
    }
}

/// A `did:plc` identifier derived from a handle, so tests get stable DIDs.
fn plc_did_for(handle: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Sha256::digest(handle.as_bytes());
    let mut bits: u64 = 0;
    let mut held = 0;
    let mut out = String::from("did:plc:");
    for byte in digest.iter() {
        bits = (bits << 8) | u64::from(*byte);
        held += 8;
        while held >= 5 && out.len() < "did:plc:".len() + 24 {
            held -= 5;
            out.push(char::from(ALPHABET[((bits >> held) & 31) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_did_is_plc_shaped_and_stable() {
        let did = plc_did_for("alice.test");
        assert_eq!(did.len(), 32);
        assert!(did.starts_with("did:plc:"));
        assert!(
            did[8..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(did, plc_did_for("alice.test"));
        assert_ne!(did, plc_did_for("bob.test"));
    }

    #[test]
    fn profile_leaves_out_absent_display_fields() {
        let bare = Account::new("Bare.Test", "pw").profile("now");
        assert_eq!(bare["handle"], "bare.test");
        assert!(bare.get("displayName").is_none() && bare.get("avatar").is_none());
        let full = Account::new("a.test", "pw")
            .display_name("")
            .avatar("https://x/a.jpg");
        let full = full.profile("now");
        assert_eq!(full["displayName"], "");
        assert_eq!(full["avatar"], "https://x/a.jpg");
    }

    #[test]
    fn did_document_can_put_decoys_before_the_pds() {
        let account = Account::new("a.test", "pw")
            .pds_id_style(PdsIdStyle::Absolute)
            .extra_services_first();
        let doc = account.did_document("http://127.0.0.1:1");
        let services = doc["service"].as_array().unwrap();
        assert_eq!(services.len(), 4);
        let last = &services[3];
        assert_eq!(last["id"], format!("{}#atproto_pds", account.did));
        assert_eq!(last["type"], "AtprotoPersonalDataServer");
        assert_eq!(doc["alsoKnownAs"][0], "at://a.test");
    }
}
