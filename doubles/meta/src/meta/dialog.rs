//! The Facebook Login dialog: `GET /{version}/dialog/oauth` on the dialog host.
//!
//! It checks what Facebook checks before showing the consent screen — a registered app
//! id, a redirect URI registered byte for byte, `response_type=code` (or none), known
//! permission names — then applies the test's [`Decision`] and redirects to
//! `redirect_uri?code=…&state=…#_=_`, or to the denial `redirect_uri?error=access_denied`
//! `&error_code=200&error_description=Permissions+error&error_reason=user_denied&state=…#_=_`
//! (Facebook documents the fragment on success; the double appends it to both).
//! Facebook shows its own error page instead of redirecting when the request itself is
//! bad; the double answers those with an HTML page and status 400 (Limitation: Facebook's
//! status there is 200, the page text differs).

use axum::http::StatusCode;

use crate::consent::{
    Decision, DialogError, check_scopes, choose_decision, decision_from_request, split_scopes,
};
use crate::log::split_version;
use crate::meta::state::{CodeEntry, MetaState};
use crate::wire::{Incoming, Reply, append_query, encode, escape_html};

/// Permission names the dialog accepts (others give "Invalid Scopes").
pub(crate) const KNOWN_PERMISSIONS: &[&str] = &[
    "public_profile",
    "email",
    "pages_show_list",
    "pages_read_engagement",
    "pages_read_user_content",
    "pages_manage_posts",
    "pages_manage_metadata",
    "pages_manage_engagement",
    "pages_manage_ads",
    "pages_messaging",
    "business_management",
    "read_insights",
    "ads_management",
    "ads_read",
    "publish_video",
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "instagram_manage_insights",
    "instagram_manage_messages",
    "instagram_shopping_tag_products",
];

/// A dialog request that passed validation.
#[derive(Clone, Debug)]
pub(crate) struct DialogRequest {
    pub(crate) app_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) state: Option<String>,
}

impl MetaState {
    /// Checks the request as Facebook does before showing the consent screen.
    pub(crate) fn validate_dialog(
        &self,
        incoming: &Incoming,
    ) -> Result<DialogRequest, DialogError> {
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
        if let Some(response_type) = incoming.param("response_type")
            && response_type != "code"
        {
            return Err(DialogError::UnsupportedResponseType(
                response_type.to_owned(),
            ));
        }
        let scopes = split_scopes(incoming.param("scope").unwrap_or_default());
        check_scopes(&scopes, KNOWN_PERMISSIONS)?;
        Ok(DialogRequest {
            app_id: app_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: incoming.param("state").map(str::to_owned),
        })
    }

    /// The decision to apply: the explicit one, else the next queued one, else the
    /// logged-in user's approval.
    pub(crate) fn decide(&mut self, explicit: Option<Decision>) -> Result<Decision, DialogError> {
        choose_decision(explicit, &mut self.decisions, self.logged_in.as_ref())
    }

    /// Applies `decision` to a validated request; answers the callback URL.
    pub(crate) fn complete_dialog(
        &mut self,
        request: &DialogRequest,
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
                    "error=access_denied&error_code=200&error_description=Permissions+error\
                     &error_reason=user_denied{state}"
                );
                return Ok(format!(
                    "{}#_=_",
                    append_query(&request.redirect_uri, &query)
                ));
            }
            Decision::Approve(user) => crate::consent::Approval::new(user),
            Decision::ApproveWith(approval) => approval,
        };
        let user = self
            .users
            .get(&approval.user)
            .ok_or_else(|| DialogError::UnknownUser(approval.user.clone()))?;
        if let Some(pages) = &approval.pages
            && let Some(stranger) = pages.iter().find(|p| !user.pages.contains(p))
        {
            return Err(DialogError::UnknownPage(stranger.clone()));
        }

        let key = (request.app_id.clone(), approval.user.clone());
        let grant = self.grants.entry(key).or_default();
        grant.scopes.insert("public_profile".to_owned());
        for scope in &request.scopes {
            if approval.declined_scopes.contains(scope) {
                grant.scopes.remove(scope);
                grant.declined.insert(scope.clone());
            } else {
                grant.declined.remove(scope);
                grant.scopes.insert(scope.clone());
            }
        }
        grant.pages = approval.pages.clone();

        let code = self.minter.url_safe("AQ", 330);
        let issued_at = self.now();
        self.codes.insert(
            code.clone(),
            CodeEntry {
                app_id: request.app_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                user_id: approval.user,
                issued_at,
                used: false,
                revoked: false,
            },
        );
        let query = format!("code={code}{state}");
        Ok(format!(
            "{}#_=_",
            append_query(&request.redirect_uri, &query)
        ))
    }

    /// The dialog host's HTTP answer.
    pub(crate) fn dialog_http(&mut self, incoming: &Incoming) -> Reply {
        let (_, path) = split_version(&incoming.path);
        if path != "/dialog/oauth" {
            return Reply::html(
                StatusCode::NOT_FOUND,
                "<!DOCTYPE html><html><body><h1>This content isn't available right now</h1>\
                 </body></html>"
                    .to_owned(),
            );
        }
        let outcome = self.validate_dialog(incoming).and_then(|request| {
            let decision = self.decide(decision_from_request(incoming))?;
            self.complete_dialog(&request, decision)
        });
        match outcome {
            Ok(callback) => Reply::redirect(&callback),
            Err(DialogError::NoDecision) => self.login_page(incoming),
            Err(error) => Reply::html(
                StatusCode::BAD_REQUEST,
                format!(
                    "<!DOCTYPE html><html><head><title>Error</title></head><body>\
                     <h1>Sorry, something went wrong.</h1><p id=\"error\">{}</p></body></html>",
                    escape_html(&error.to_string())
                ),
            ),
        }
    }

    /// What a browser with nobody logged in sees: for the sandbox, one link per known user
    /// (approve) and a deny link.
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
        for entry in self.users.values() {
            links.push_str(&format!(
                "<li><a href=\"{}\">Continue as {}</a></li>",
                escape_html(&append_query(
                    &here,
                    &format!("_double_user={}", encode(&entry.user.id))
                )),
                escape_html(&entry.user.name)
            ));
        }
        Reply::html(
            StatusCode::OK,
            format!(
                "<!DOCTYPE html><html><head><title>Log in to Facebook</title></head><body>\
                 <h1>Log in to Facebook (test double)</h1><ul>{links}</ul>\
                 <p><a href=\"{}\">Not now</a></p></body></html>",
                escape_html(&append_query(&here, "_double_decision=deny"))
            ),
        )
    }
}
