//! What the (simulated) user does in an authorization dialog, and why a dialog can refuse
//! to open.
//!
//! A test decides through [`Decision`]: passed directly to
//! [`crate::MetaDouble::authorize`] / [`crate::ThreadsDouble::authorize`], queued with
//! `queue_decision`, set persistently with `log_in`, or sent with the HTTP request to the
//! dialog URL as headers (`x-double-user: <id>`, `x-double-decision: deny`,
//! `x-double-pages: <page-id>,<page-id>`, `x-double-declined-scopes: <scope>,…`) or as the
//! query parameters `_double_user`, `_double_decision`, `_double_pages`,
//! `_double_declined_scopes` (these are not part of the validated request and not logged).

use std::collections::VecDeque;

use thiserror::Error;

use crate::wire::Incoming;

/// The user's answer in the dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The user `String` (a user id known to the double) approves everything requested,
    /// and (Facebook) all of their Pages.
    Approve(String),
    /// The user approves with choices: only some Pages, some permissions unticked.
    ApproveWith(Approval),
    /// The user refuses ("Cancel" / "Not now").
    Deny,
}

impl Decision {
    /// The user id that approves, if this is an approval.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Approve(user) => Some(user),
            Self::ApproveWith(approval) => Some(&approval.user),
            Self::Deny => None,
        }
    }
}

/// An approval with the choices a real consent screen offers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Approval {
    /// The approving user's id.
    pub user: String,
    /// Facebook: the Pages the user selects (`None`: all of them). Threads: must be `None`.
    pub pages: Option<Vec<String>>,
    /// Requested permissions the user unticks; they show as `declined`.
    pub declined_scopes: Vec<String>,
}

impl Approval {
    /// An approval of everything by `user`.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            ..Self::default()
        }
    }

    /// Only these Pages are selected.
    pub fn pages<I, S>(mut self, pages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pages = Some(pages.into_iter().map(Into::into).collect());
        self
    }

    /// These permissions are declined.
    pub fn decline<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.declined_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// Why a dialog did not redirect back to the app.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DialogError {
    /// The URL does not point at this double's dialog endpoint (wrong host, port or path).
    #[error("{0} is not this double's authorization endpoint")]
    WrongEndpoint(String),
    /// The URL could not be parsed.
    #[error("the authorization URL is not a valid URL: {0}")]
    BadUrl(String),
    /// No `client_id`.
    #[error("the request has no client_id (app id)")]
    MissingClientId,
    /// `client_id` is not a registered app of this double.
    #[error("invalid app id {0}: no app with this id is registered")]
    UnknownApp(String),
    /// No `redirect_uri`.
    #[error("the request has no redirect_uri")]
    MissingRedirectUri,
    /// `redirect_uri` is not one of the app's registered URIs (byte for byte).
    #[error("URL blocked: redirect_uri {0} is not a valid OAuth redirect URI of the app")]
    RedirectUriNotRegistered(String),
    /// `response_type` missing (Threads) or not `code`.
    #[error("unsupported response_type {0:?}; only \"code\" is supported")]
    UnsupportedResponseType(String),
    /// No `scope` where one is required (Threads).
    #[error("the request has no scope")]
    MissingScope,
    /// Unknown permission names.
    #[error("invalid scopes: {}", .0.join(", "))]
    InvalidScopes(Vec<String>),
    /// The approving user is not known to the double.
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// A selected Page does not belong to the approving user.
    #[error("page {0} is not one of the user's Pages")]
    UnknownPage(String),
    /// Page selection on a dialog that has no Pages (Threads).
    #[error("this dialog has no Page selection")]
    PagesNotApplicable,
    /// Nobody told the double what the user does (no header, no queued decision, nobody
    /// logged in): a real browser would now see a login page.
    #[error("no decision: send x-double-user, queue a decision or log a user in")]
    NoDecision,
}

/// Reads a decision from the `x-double-*` headers or `_double_*` parameters, if any.
pub(crate) fn decision_from_request(incoming: &Incoming) -> Option<Decision> {
    let get = |name: &str| {
        incoming
            .header(&format!("x-double-{name}"))
            .map(str::to_owned)
            .or_else(|| {
                incoming
                    .param(&format!("_double_{}", name.replace('-', "_")))
                    .map(str::to_owned)
            })
            .filter(|v| !v.trim().is_empty())
    };
    let list = |value: Option<String>| -> Vec<String> {
        value
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    if get("decision").is_some_and(|d| d.eq_ignore_ascii_case("deny")) {
        return Some(Decision::Deny);
    }
    let user = get("user")?;
    let pages = get("pages");
    let declined = list(get("declined-scopes"));
    if pages.is_none() && declined.is_empty() {
        return Some(Decision::Approve(user));
    }
    Some(Decision::ApproveWith(Approval {
        user,
        pages: pages.map(|p| list(Some(p))),
        declined_scopes: declined,
    }))
}

/// Splits a scope parameter on commas and spaces.
pub(crate) fn split_scopes(scope: &str) -> Vec<String> {
    scope
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Refuses scopes outside `known` with [`DialogError::InvalidScopes`], as a dialog does.
pub(crate) fn check_scopes(scopes: &[String], known: &[&str]) -> Result<(), DialogError> {
    let unknown: Vec<String> = scopes
        .iter()
        .filter(|s| !known.contains(&s.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(DialogError::InvalidScopes(unknown))
    }
}

/// The decision a dialog applies: the explicit one, else the next queued one, else the
/// logged-in user's approval.
pub(crate) fn choose_decision(
    explicit: Option<Decision>,
    queued: &mut VecDeque<Decision>,
    logged_in: Option<&String>,
) -> Result<Decision, DialogError> {
    explicit
        .or_else(|| queued.pop_front())
        .or_else(|| logged_in.cloned().map(Decision::Approve))
        .ok_or(DialogError::NoDecision)
}
