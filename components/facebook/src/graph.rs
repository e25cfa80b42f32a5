//! The Graph API calls the connector makes, and how their failures are classified.
//!
//! | call | token | used by |
//! |---|---|---|
//! | `GET /oauth/access_token?code=…` | — (app id + secret) | callback |
//! | `GET /oauth/access_token?grant_type=fb_exchange_token` | the user token | callback, refresh |
//! | `GET /me/accounts` | long-lived user token | callback |
//! | `GET /{page-id}` | Page token | refresh |
//! | `GET /{ig-user-id}` | long-lived user token | refresh |
//! | `DELETE /me/permissions` | long-lived user token | disconnect |
//!
//! The token endpoint takes its parameters (the app secret among them) in the query, as
//! Meta requires. Every other call sends its token in an `Authorization: Bearer` header —
//! not in the URL, where proxies log it — together with `appsecret_proof`, the hex
//! HMAC-SHA256 of the token under the app secret, which Meta demands from apps that enable
//! "Require App Secret" and accepts from all. `Env::send` logs only host and path.
//!
//! Failures are classified by `hayon_guest::oauth2::meta` (190/102 dead, 4/17/32/613/80001+
//! throttling with Meta's default wait when it names none, 5xx/HTML/1/2 unavailable).

use hayon_guest::oauth2::meta::{GraphId, classify};
use hayon_guest::oauth2::{
    self, Authorized, ClientCredentials, Received, RedirectUri, TokenTransport,
};
use hayon_guest::secret::{AccessToken, Secret};
use hayon_guest::{Env, OutboundRequest, Phase, UpstreamFailure};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::api::{InstagramAccount, Page, PageListing, Revocation, UserToken};
use crate::config::GraphApi;

/// The permissions Hayon asks for: the seed page's list, comma separated in the dialog.
pub const SCOPES: &[&str] = &[
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_insights",
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "pages_manage_metadata",
    "public_profile",
    "business_management",
];

/// The fields read for each Page of `/me/accounts`.
pub const LISTING_FIELDS: &str = "id,name,access_token,tasks,picture{url,is_silhouette},\
                                  instagram_business_account{id,username,name,profile_picture_url}";
/// The fields read when refreshing a Page.
pub const PAGE_FIELDS: &str = "id,name,picture{url,is_silhouette}";
/// The fields read when refreshing an Instagram account.
pub const INSTAGRAM_FIELDS: &str = "id,username,name,profile_picture_url";

/// Pages asked for per request of `/me/accounts`.
const LISTING_LIMIT: &str = "25";
/// How many result pages of `/me/accounts` are read looking for a first Page. Only
/// results that come back empty with a `next` link are followed, which real listings
/// rarely do; the cap keeps a misbehaving upstream from looping us.
const MAX_LISTING_REQUESTS: usize = 5;

/// The scopes as the dialog's `scope` parameter.
pub fn scope_param() -> String {
    SCOPES.join(",")
}

/// `appsecret_proof` for `token`: lower-case hex HMAC-SHA256(app secret, token).
pub fn appsecret_proof(app_secret: &Secret, token: &AccessToken) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.expose_secret().as_bytes()) else {
        return String::new();
    };
    mac.update(token.expose_secret().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The Graph API as one operation uses it.
pub struct Graph<'a> {
    env: &'a Env,
    api: &'a GraphApi,
    app_secret: Option<&'a Secret>,
}

impl<'a> Graph<'a> {
    /// Calls `api` through `env`; with `app_secret`, API calls carry `appsecret_proof`.
    pub fn new(env: &'a Env, api: &'a GraphApi, app_secret: Option<&'a Secret>) -> Self {
        Self {
            env,
            api,
            app_secret,
        }
    }

    /// Exchanges the callback's code for a short-lived user token, with the same
    /// `redirect_uri` as the dialog.
    pub fn exchange_code(
        &self,
        client: &ClientCredentials,
        authorized: &Authorized,
        redirect_uri: &RedirectUri,
    ) -> Result<Received<UserToken>, UpstreamFailure> {
        let request = oauth2::code_exchange(
            &self.api.url("oauth/access_token"),
            TokenTransport::GetQuery,
            client,
            authorized,
            redirect_uri,
            false,
        );
        oauth2::exchange(self.env, &request, Phase::Connect, classify)
    }

    /// `fb_exchange_token`: a long-lived (about 60 days) user token for `token`.
    pub fn extend(
        &self,
        client: &ClientCredentials,
        token: &AccessToken,
        phase: Phase,
    ) -> Result<Received<UserToken>, UpstreamFailure> {
        let request = oauth2::token_request(
            &self.api.url("oauth/access_token"),
            TokenTransport::GetQuery,
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", &client.client_id),
                ("client_secret", client.client_secret.expose_secret()),
                ("fb_exchange_token", token.expose_secret()),
            ],
        );
        oauth2::exchange(self.env, &request, phase, classify)
    }

    /// The first Page `user_token` manages, with its Page token and linked Instagram
    /// account; `None` when it manages none (or the person selected none).
    // Limitation: Pages reachable only through Business Manager (`/me/businesses` →
    // `/{business}/owned_pages`) are not looked up; such a person gets `no_pages`.
    pub fn first_page(
        &self,
        user_token: &AccessToken,
        phase: Phase,
    ) -> Result<Option<Page>, UpstreamFailure> {
        let mut after: Option<String> = None;
        for _ in 0..MAX_LISTING_REQUESTS {
            let mut params = vec![("fields", LISTING_FIELDS), ("limit", LISTING_LIMIT)];
            if let Some(cursor) = &after {
                params.push(("after", cursor));
            }
            let listing: PageListing = self.read("me/accounts", &params, user_token, phase)?;
            let next = listing.next_cursor().map(str::to_owned);
            if let Some(page) = listing.data.into_iter().next() {
                return Ok(Some(page));
            }
            match next {
                Some(cursor) if after.as_deref() != Some(cursor.as_str()) => after = Some(cursor),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The Page `page_id`, read with its Page token.
    pub fn page(
        &self,
        page_id: &GraphId,
        page_token: &AccessToken,
    ) -> Result<Page, UpstreamFailure> {
        self.read(
            page_id.as_str(),
            &[("fields", PAGE_FIELDS)],
            page_token,
            Phase::Stored,
        )
    }

    /// The Instagram account `account_id`, read with the user token.
    pub fn instagram(
        &self,
        account_id: &GraphId,
        user_token: &AccessToken,
    ) -> Result<InstagramAccount, UpstreamFailure> {
        let params = [("fields", INSTAGRAM_FIELDS)];
        self.read(account_id.as_str(), &params, user_token, Phase::Stored)
    }

    /// `DELETE /me/permissions`: removes the app for the person, which ends every user and
    /// Page token issued to it. True when Meta confirmed.
    pub fn revoke(&self, user_token: &AccessToken) -> Result<bool, UpstreamFailure> {
        let request = self.authorized(
            OutboundRequest::delete(self.api.url("me/permissions")),
            user_token,
        );
        let answer: Received<Revocation> =
            oauth2::exchange(self.env, &request, Phase::Stored, classify)?;
        Ok(answer.value.success)
    }

    fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
        token: &AccessToken,
        phase: Phase,
    ) -> Result<T, UpstreamFailure> {
        let request = OutboundRequest::get(self.api.url(path)).query(params.iter().copied());
        let request = self.authorized(request, token);
        oauth2::exchange(self.env, &request, phase, classify).map(|answer| answer.value)
    }

    /// Adds the bearer token and, when the app secret is known, `appsecret_proof`.
    fn authorized(&self, request: OutboundRequest, token: &AccessToken) -> OutboundRequest {
        let request = match self.app_secret {
            Some(secret) => {
                request.query([("appsecret_proof", appsecret_proof(secret, token).as_str())])
            }
            None => request,
        };
        request.bearer(token.expose_secret())
    }
}

#[cfg(test)]
mod tests {
    use hayon_guest::OutboundResponse;
    use hayon_guest::testing::TestEnv;
    use serde_json::json;

    use super::*;

    #[test]
    fn appsecret_proof_is_hex_hmac_sha256() {
        // The widely published HMAC-SHA256 example ("key", "The quick brown fox…").
        let proof = appsecret_proof(
            &Secret::new("key"),
            &AccessToken::new("The quick brown fox jumps over the lazy dog"),
        );
        assert_eq!(
            proof,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn the_scope_parameter_is_the_seed_list() {
        assert_eq!(
            scope_param(),
            "instagram_basic,instagram_content_publish,instagram_manage_insights,\
             pages_show_list,pages_read_engagement,pages_manage_posts,pages_manage_metadata,\
             public_profile,business_management"
        );
    }

    #[test]
    fn api_calls_carry_the_token_in_a_header_and_the_proof_in_the_query() {
        let test = TestEnv::new();
        let env = test.env_with(|request: &OutboundRequest| {
            assert_eq!(
                request.header_value("authorization"),
                Some("Bearer page-token")
            );
            assert!(!request.url.contains("page-token"), "no token in the URL");
            let proof = appsecret_proof(&Secret::new("s3cret"), &AccessToken::new("page-token"));
            assert!(
                request
                    .url
                    .starts_with("https://graph.example/v26.0/20001?fields=id%2Cname")
            );
            assert!(request.url.ends_with(&format!("&appsecret_proof={proof}")));
            Ok(OutboundResponse::json(
                200,
                &json!({"id": "20001", "name": "Bakery"}),
            ))
        });
        let api = GraphApi::new("https://graph.example", "v26.0");
        let secret = Secret::new("s3cret");
        let graph = Graph::new(&env, &api, Some(&secret));
        let page_id = GraphId::parse("20001").expect("id");
        let page = graph
            .page(&page_id, &AccessToken::new("page-token"))
            .expect("page");
        assert_eq!(page.display_name(), "Bakery");
    }
}
