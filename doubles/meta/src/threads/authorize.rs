//! The Threads authorization window: `GET /oauth/authorize` on the `threads.net` host.
//!
//! It wants the *Threads* app id (a Facebook app id of the same Meta app is unknown here
//! and gets the flat `{"error_message":…,"error_code":1349026}` answer), a redirect URI
//! registered byte for byte, `response_type=code` and known `threads_*` scopes; then it
//! applies the test's [`Decision`] and redirects to `redirect_uri?code=…&state=…#_`.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use crate::consent::{
    Approval, Decision, DialogError, check_scopes, choose_decision, decision_from_request,
    split_scopes,
};
use crate::graph_error::{flat_token_error, flat_window_error};
use crate::threads::state::{CodeEntry, ThreadsState};
use crate::wire::{Incoming, Reply, append_query, encode, escape_html};

/// Scope names the window accepts.
pub(crate) const KNOWN_SCOPES: &[&str] = &[
    "threads_basic",
    "threads_content_publish",
    "threads_manage_replies",
    "threads_read_replies",
    "threads_manage_insights",
    "threads_delete",
    "threads_keyword_search",
    "threads_manage_mentions",
    "threads_location_tagging",
    "threads_profile_discovery",
];

/// A window request that passed validation.
#[derive(Clone, Debug)]
pub(crate) struct WindowRequest {
    pub(crate) app_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) state: Option<String>,
}

impl ThreadsState {
    /// Checks the request as the Threads window does.
    pub(crate) fn validate_window(
        &self,
        incoming: &Incoming,
    ) -> Result<WindowRequest, DialogError> {
        let app_id = incoming
            .non_empty("client_id")
            .ok_or(DialogError::MissingClientId)?;
        let app = self
            .apps
            .get(app_id)
            .ok_or_else(|| DialogError::UnknownApp(app_id.to_owned()))?;
        let redirect_uri = incoming
            .non_empty("redirect_uri")
            .ok_or(DialogError::MissingRedirectUri)?;
        if !app.allows_redirect(redirect_uri) {
            return Err(DialogError::RedirectUriNotRegistered(
                redirect_uri.to_owned(),
            ));
        }
        match incoming.param("response_type") {
            Some("code") => {}
            other => {
                return Err(DialogError::UnsupportedResponseType(
                    other.unwrap_or_default().to_owned(),
                ));
            }
        }
        let scopes = split_scopes(
            incoming
                .non_empty("scope")
                .ok_or(DialogError::MissingScope)?,
        );
        check_scopes(&scopes, KNOWN_SCOPES)?;
        Ok(WindowRequest {
            app_id: app_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: incoming.param("state").map(str::to_owned),
        })
    }

    /// The decision to apply: explicit, else queued, else the logged-in user's approval.
    pub(crate) fn decide(&mut self, explicit: Option<Decision>) -> Result<Decision, DialogError> {
        choose_decision(explicit, &mut self.decisions, self.logged_in.as_ref())
    }

    /// Applies `decision`; answers the callback URL.
    pub(crate) fn complete_window(
        &mut self,
        request: &WindowRequest,
        decision: Decision,
    ) -> Result<String, DialogError> {
        let state = request
            .state
            .as_deref()
            .map(|s| format!("&state={}", encode(s)))
            .unwrap_or_default();
        let approval = match decision {
            Decision::Deny => {
                let query = format!(
                    "error=access_denied&error_reason=user_denied\
                     &error_description=The+user+denied+your+request.{state}"
                );
                return Ok(format!("{}#_", append_query(&request.redirect_uri, &query)));
            }
            Decision::Approve(user) => Approval::new(user),
            Decision::ApproveWith(approval) => approval,
        };
        if approval.pages.is_some() {
            return Err(DialogError::PagesNotApplicable);
        }
        if !self.users.contains_key(&approval.user) {
            return Err(DialogError::UnknownUser(approval.user));
        }
        let granted: BTreeSet<String> = request
            .scopes
            .iter()
            .filter(|s| !approval.declined_scopes.contains(s))
            .cloned()
            .collect();
        let grant = self
            .grants
            .entry((request.app_id.clone(), approval.user.clone()))
            .or_default();
        grant.extend(granted);
        for declined in &approval.declined_scopes {
            grant.remove(declined);
        }
        let scopes = grant.iter().cloned().collect();

        let code = self.minter.url_safe("AQ", 200);
        let issued_at = self.now();
        self.codes.insert(
            code.clone(),
            CodeEntry {
                app_id: request.app_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                user_id: approval.user,
                scopes,
                issued_at,
                used: false,
            },
        );
        let query = format!("code={code}{state}");
        Ok(format!("{}#_", append_query(&request.redirect_uri, &query)))
    }

    /// The window host's HTTP answer.
    pub(crate) fn window_http(&mut self, incoming: &Incoming) -> Reply {
        if incoming.path != "/oauth/authorize" {
            return Reply::html(
                StatusCode::NOT_FOUND,
                "<!DOCTYPE html><html><body><h1>Sorry, this page isn't available</h1>\
                 </body></html>"
                    .to_owned(),
            );
        }
        let outcome = self.validate_window(incoming).and_then(|request| {
            let decision = self.decide(decision_from_request(incoming))?;
            self.complete_window(&request, decision)
        });
        match outcome {
            Ok(callback) => Reply::redirect(&callback),
            Err(DialogError::NoDecision) => self.login_page(incoming),
            Err(error) => window_error(&error),
        }
    }

    fn login_page(&self, incoming: &Incoming) -> Reply {
        let query: String = incoming
            .params
            .iter()
            .filter(|(k, _)| !k.starts_with("_double_"))
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let here = format!("{}?{query}", incoming.path);
        let mut links = String::new();
        for user in self.users.values() {
            let link = append_query(&here, &format!("_double_user={}", encode(&user.id)));
            links.push_str(&format!(
                "<li><a href=\"{}\">Continue as {}</a></li>",
                escape_html(&link),
                escape_html(&user.username)
            ));
        }
        Reply::html(
            StatusCode::OK,
            format!(
                "<!DOCTYPE html><html><head><title>Threads</title></head><body>\
                 <h1>Log in to Threads (test double)</h1><ul>{links}</ul>\
                 <p><a href=\"{}\">Cancel</a></p></body></html>",
                escape_html(&append_query(&here, "_double_decision=deny"))
            ),
        )
    }
}

/// The window's error answers: flat JSON, in the two shapes Meta uses there.
fn window_error(error: &DialogError) -> Reply {
    match error {
        DialogError::MissingClientId => {
            flat_window_error("No app ID was provided in the request.", 4_476_002)
        }
        DialogError::UnknownApp(_) => flat_window_error(
            "No application data was given: Invalid application ID",
            1_349_026,
        ),
        DialogError::MissingRedirectUri | DialogError::RedirectUriNotRegistered(_) => {
            flat_token_error("Invalid redirect_uri")
        }
        DialogError::UnsupportedResponseType(_) => flat_token_error("Invalid response_type"),
        DialogError::MissingScope => flat_token_error("Invalid scope field(s): (empty)"),
        DialogError::InvalidScopes(scopes) => {
            flat_token_error(&format!("Invalid scope field(s): {}", scopes.join(",")))
        }
        other => Reply::html(
            StatusCode::BAD_REQUEST,
            format!(
                "<!DOCTYPE html><html><body><p id=\"error\">{}</p></body></html>",
                escape_html(&other.to_string())
            ),
        ),
    }
}
