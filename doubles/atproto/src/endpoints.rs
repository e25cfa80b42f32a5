//! What each endpoint does, independent of HTTP plumbing: input validation, credential
//! checks, token verification and the answers and errors of platforms.md §1.1–§1.5.

use serde_json::{Value, json};

use crate::accounts::{AccountStatus, Home};
use crate::faults::Endpoint;
use crate::state::State;
use crate::token::{
    ACCESS_TYP, Claims, REFRESH_TYP, SCOPE_ACCESS, SCOPE_APP_PASS, SCOPE_REFRESH, SCOPE_TAKENDOWN,
    TokenError,
};
use crate::xrpc::{Reply, XrpcError};
use crate::{Authority, Service};

/// Longest password the reference PDS accepts at login.
const MAX_PASSWORD_LEN: usize = 256;

/// A request as the endpoint logic sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Incoming {
    fn param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// Answers one request received by `service`.
pub(crate) fn handle(state: &mut State, service: Service, request: &Incoming) -> Reply {
    match route(state, service, request) {
        Ok(reply) => reply,
        Err(error) => error.into(),
    }
}

fn route(state: &mut State, service: Service, request: &Incoming) -> Result<Reply, XrpcError> {
    let Some(endpoint) = Endpoint::from_path(service, &request.path) else {
        return Ok(not_found(service, &request.path));
    };
    if endpoint == Endpoint::WellKnownDid {
        return Ok(well_known_did(state, request));
    }
    if endpoint == Endpoint::DidDocument {
        return Ok(did_document(state, request));
    }
    let Some(authority) = service.authority() else {
        return Ok(not_found(service, &request.path));
    };
    let expected = match endpoint {
        Endpoint::CreateSession | Endpoint::RefreshSession | Endpoint::DeleteSession => "POST",
        _ => "GET",
    };
    if request.method != expected {
        return Err(XrpcError::invalid_request(format!(
            "Incorrect HTTP method ({}) expected {expected}",
            request.method
        )));
    }
    match endpoint {
        Endpoint::CreateSession => create_session(state, authority, request),
        Endpoint::RefreshSession => refresh_session(state, authority, request),
        Endpoint::GetSession => get_session(state, authority, request),
        Endpoint::DeleteSession => delete_session(state, authority, request),
        Endpoint::GetProfile => get_profile(state, authority, request),
        Endpoint::ResolveHandle => resolve_handle(state, request),
        Endpoint::WellKnownDid | Endpoint::DidDocument => Ok(not_found(service, &request.path)),
    }
}

fn not_found(service: Service, path: &str) -> Reply {
    if service != Service::Plc && path.starts_with("/xrpc/") {
        return XrpcError::new(501, "MethodNotImplemented", "Method Not Implemented").into();
    }
    Reply::raw(404, Some("text/plain; charset=utf-8"), "Not Found")
}

/// The createSession input after lexicon validation.
struct LoginInput {
    identifier: String,
    password: String,
    auth_factor_token: Option<String>,
    allow_takendown: bool,
}

fn login_input(request: &Incoming) -> Result<LoginInput, XrpcError> {
    let Some(content_type) = &request.content_type else {
        return Err(XrpcError::invalid_request(
            "Request encoding (Content-Type) required but not provided",
        ));
    };
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(XrpcError::invalid_request(format!(
            "Wrong request encoding (Content-Type): {content_type}"
        )));
    }
    let body: Value = serde_json::from_slice(&request.body)
        .map_err(|_| XrpcError::invalid_request("Request body is not valid JSON"))?;
    let string = |name: &str, required: bool| -> Result<Option<String>, XrpcError> {
        match body.get(name) {
            None | Some(Value::Null) if required => Err(XrpcError::invalid_request(format!(
                "Input must have the property \"{name}\""
            ))),
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(XrpcError::invalid_request(format!(
                "Input/{name} must be a string"
            ))),
        }
    };
    Ok(LoginInput {
        identifier: string("identifier", true)?.unwrap_or_default(),
        password: string("password", true)?.unwrap_or_default(),
        auth_factor_token: string("authFactorToken", false)?,
        allow_takendown: body
            .get("allowTakendown")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn create_session(
    state: &mut State,
    authority: Authority,
    request: &Incoming,
) -> Result<Reply, XrpcError> {
    let input = login_input(request)?;
    let count = state.count_login(&input.identifier);
    let with_limits = |reply: Reply| {
        count.headers.iter().fold(reply, |reply, (name, value)| {
            reply.with_header(name, value.clone())
        })
    };
    if count.exceeded {
        let error = XrpcError::new(429, "RateLimitExceeded", "Rate Limit Exceeded");
        return Ok(with_limits(error.into()));
    }
    match login(state, authority, &input) {
        Ok(session) => Ok(with_limits(Reply::json(&session))),
        Err(error) => Ok(with_limits(error.into())),
    }
}

fn login(state: &mut State, authority: Authority, input: &LoginInput) -> Result<Value, XrpcError> {
    if input.password.chars().count() > MAX_PASSWORD_LEN {
        return Err(XrpcError::new(
            401,
            "AuthenticationRequired",
            "Password too long. Consider resetting your password.",
        ));
    }
    let identifier = input.identifier.to_ascii_lowercase();
    let index = state
        .accounts
        .iter()
        .position(|account| {
            let known = if identifier.contains('@') {
                account.email.as_deref() == Some(identifier.as_str())
            } else {
                account.handle == identifier || account.did == identifier
            };
            known && Authority::of_home(account.home) == authority
        })
        .ok_or_else(XrpcError::bad_login)?;

    let account = &state.accounts[index];
    let app_password = if account.password == input.password {
        None
    } else if account.app_passwords.contains(&input.password) {
        Some(input.password.clone())
    } else {
        return Err(XrpcError::bad_login());
    };

    let taken_down = matches!(
        account.status,
        AccountStatus::Takendown | AccountStatus::Suspended
    );
    if taken_down && !input.allow_takendown {
        return Err(XrpcError::takedown());
    }
    if let (None, Some(code)) = (&app_password, &account.auth_factor_code) {
        match input.auth_factor_token.as_deref() {
            None | Some("") => {
                return Err(XrpcError::new(
                    401,
                    "AuthFactorTokenRequired",
                    "A sign in code has been sent to your email address",
                ));
            }
            Some(token) if token != code => {
                return Err(XrpcError::new(
                    401,
                    "AuthFactorTokenRequired",
                    "Token is invalid",
                ));
            }
            Some(_) => {}
        }
    }

    let scope = match (&app_password, taken_down) {
        (_, true) => SCOPE_TAKENDOWN,
        (Some(_), false) => SCOPE_APP_PASS,
        (None, false) => SCOPE_ACCESS,
    };
    let tokens = state.issue_session(index, scope, app_password, None);
    Ok(state.session_json(index, Some(tokens)))
}

/// A verified bearer token and the account it belongs to.
struct Bearer {
    claims: Claims,
    account: usize,
}

/// Checks the bearer token like the reference `AuthVerifier`: header present, signature,
/// token type, expiry, scope, known account.
fn authenticate(
    state: &State,
    authority: Authority,
    request: &Incoming,
    typ: &str,
    scopes: &[&str],
) -> Result<Bearer, XrpcError> {
    let token = request
        .authorization
        .as_deref()
        .and_then(|header| header.strip_prefix("Bearer "))
        .ok_or_else(XrpcError::auth_missing)?;
    let (token_typ, claims) = state.key(authority).verify(token.trim()).map_err(|error| {
        XrpcError::invalid_token(match error {
            TokenError::Malformed => "Malformed token",
            TokenError::BadSignature => "Token could not be verified",
        })
    })?;
    if token_typ != typ {
        return Err(XrpcError::invalid_token("Invalid token type"));
    }
    if claims.exp <= state.now_secs() {
        return Err(XrpcError::expired());
    }
    if !scopes.contains(&claims.scope.as_str()) {
        return Err(XrpcError::invalid_token("Bad token scope"));
    }
    let account = state
        .account_by_did(&claims.sub)
        .filter(|&index| Authority::of_home(state.accounts[index].home) == authority)
        .ok_or_else(|| XrpcError::invalid_token("Token could not be verified"))?;
    Ok(Bearer { claims, account })
}

fn refresh_session(
    state: &mut State,
    authority: Authority,
    request: &Incoming,
) -> Result<Reply, XrpcError> {
    let bearer = authenticate(state, authority, request, REFRESH_TYP, &[SCOPE_REFRESH])?;
    let jti = bearer
        .claims
        .jti
        .ok_or_else(|| XrpcError::invalid_token("Malformed token"))?;
    let (next_id, record) = state.rotate(&jti)?;
    let tokens = state.issue_session(
        bearer.account,
        &record.access_scope,
        record.app_password,
        Some(next_id),
    );
    Ok(Reply::json(
        &state.session_json(bearer.account, Some(tokens)),
    ))
}

fn get_session(
    state: &mut State,
    authority: Authority,
    request: &Incoming,
) -> Result<Reply, XrpcError> {
    let scopes = [SCOPE_ACCESS, SCOPE_APP_PASS, SCOPE_TAKENDOWN];
    let bearer = authenticate(state, authority, request, ACCESS_TYP, &scopes)?;
    Ok(Reply::json(&state.session_json(bearer.account, None)))
}

fn delete_session(
    state: &mut State,
    authority: Authority,
    request: &Incoming,
) -> Result<Reply, XrpcError> {
    let bearer = authenticate(state, authority, request, REFRESH_TYP, &[SCOPE_REFRESH])?;
    if let Some(jti) = bearer.claims.jti {
        state.sessions.remove(&jti);
    }
    Ok(Reply::raw(200, None, ""))
}

fn get_profile(
    state: &mut State,
    authority: Authority,
    request: &Incoming,
) -> Result<Reply, XrpcError> {
    let bearer = authenticate(
        state,
        authority,
        request,
        ACCESS_TYP,
        &[SCOPE_ACCESS, SCOPE_APP_PASS],
    )?;
    if state.accounts[bearer.account].status == AccountStatus::Deactivated {
        return Err(XrpcError::new(
            401,
            "AccountDeactivated",
            "Account is deactivated",
        ));
    }
    let actor = request
        .param("actor")
        .ok_or_else(|| XrpcError::invalid_request("Params must have the property \"actor\""))?;
    let index = state
        .account_by_actor(&actor)
        .ok_or_else(|| XrpcError::invalid_request("Profile not found"))?;
    let account = &state.accounts[index];
    match account.status {
        AccountStatus::Active => Ok(Reply::json(&account.profile("2026-08-20T12:00:00.000Z"))),
        AccountStatus::Deactivated => Err(XrpcError::new(
            400,
            "AccountDeactivated",
            "Account is deactivated",
        )),
        AccountStatus::Takendown | AccountStatus::Suspended => Err(XrpcError::new(
            400,
            "AccountTakedown",
            "Account has been suspended",
        )),
    }
}

fn resolve_handle(state: &mut State, request: &Incoming) -> Result<Reply, XrpcError> {
    let handle = request
        .param("handle")
        .ok_or_else(|| XrpcError::invalid_request("Params must have the property \"handle\""))?;
    if !handle.contains('.') || handle.starts_with("did:") || handle.contains('@') {
        return Err(XrpcError::invalid_request(
            "Input/handle must be a valid handle",
        ));
    }
    let handle = handle.to_ascii_lowercase();
    let account = state
        .accounts
        .iter()
        .find(|account| account.handle == handle)
        .ok_or_else(|| XrpcError::new(400, "HandleNotFound", "Unable to resolve handle"))?;
    Ok(Reply::json(&json!({"did": account.did})))
}

/// `GET /.well-known/atproto-did` on a handle's own host: the handle is the `Host`.
fn well_known_did(state: &State, request: &Incoming) -> Reply {
    let host = request
        .host
        .rsplit_once(':')
        .map_or(request.host.as_str(), |(host, _)| host);
    let host = host.to_ascii_lowercase();
    match state.accounts.iter().find(|account| account.handle == host) {
        Some(account) => Reply::raw(
            200,
            Some("text/plain; charset=utf-8"),
            &format!("{}\n  \n", account.did),
        ),
        None => Reply::raw(404, Some("text/plain; charset=utf-8"), "User not found"),
    }
}

/// `GET /<did>` on the PLC directory.
fn did_document(state: &State, request: &Incoming) -> Reply {
    if request.method != "GET" {
        return Reply::raw(405, Some("text/plain; charset=utf-8"), "Method Not Allowed");
    }
    let did = request.path.trim_start_matches('/');
    let account = state.accounts.iter().find(|account| account.did == did);
    match account {
        Some(account) if account.did.starts_with("did:plc:") => {
            let doc = account.did_document(state.pds_url_of(account));
            let mut reply = Reply::json(&doc);
            reply.content_type = Some("application/did+ld+json; charset=utf-8");
            reply
        }
        _ => Reply::json_status(
            404,
            &json!({"message": format!("DID not registered: {did}")}),
        ),
    }
}

impl Authority {
    /// The authority that holds an account's sessions.
    pub(crate) fn of_home(home: Home) -> Self {
        match home {
            Home::Fleet => Authority::Fleet,
            Home::ThirdParty => Authority::ThirdParty,
        }
    }

    /// The service DID put in `aud`.
    pub(crate) fn service_did(self) -> &'static str {
        match self {
            Authority::Fleet => "did:web:entryway.double.invalid",
            Authority::ThirdParty => "did:web:pds.third-party.double.invalid",
        }
    }
}
