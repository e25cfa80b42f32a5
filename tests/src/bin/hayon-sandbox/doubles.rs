//! Starts every platform double on its fixed port and seeds it with the demo accounts and
//! the app registrations whose redirect URIs are the host's callbacks.
//!
//! The OAuth dialogs must work in a browser with no test headers:
//! - the Facebook and Threads doubles show a login page with one "Continue as …" link per
//!   user (nobody is logged in), so a person clicks through them;
//! - the Tumblr and Mastodon doubles have no page that can approve by itself (their pages
//!   only explain the test controls, or post back without saying who approves), so the
//!   sandbox sets their default decision to "approve as the demo user": opening the
//!   authorization URL approves at once. Adding `double_decision=deny` to the URL denies.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use hayon_double_atproto::{Account, AtprotoDouble, Service};
use hayon_double_mastodon::{AppSpec, MastodonDouble, MastodonOptions, NewUser};
use hayon_double_meta::{
    Clock, FacebookPage, FacebookUser, InstagramAccount, MetaDouble, RegisteredApp, ThreadsDouble,
    ThreadsUser,
};
use hayon_double_tumblr::{Blog, TumblrDouble, TumblrDoubleConfig, TumblrUser};

use crate::demo;
use crate::ports::SandboxPorts;

/// Every double, running.
pub struct SandboxDoubles {
    atproto: AtprotoDouble,
    tumblr: TumblrDouble,
    meta: MetaDouble,
    threads: ThreadsDouble,
    mastodon: MastodonDouble,
    /// The host variables that point the connectors at the doubles, with app credentials.
    variables: BTreeMap<String, String>,
}

impl SandboxDoubles {
    /// Starts the doubles on `ports` and seeds them; `public_base_url` is the host's, from
    /// which the registered callback URLs are built.
    pub async fn start(ports: &SandboxPorts, public_base_url: &str) -> anyhow::Result<Self> {
        let callback =
            |platform: &str| format!("{public_base_url}/api/platform/{platform}/callback");

        let atproto = start_atproto(ports).await?;
        let tumblr = start_tumblr(ports).await?;
        let meta = start_meta(ports, &callback("facebook")).await?;
        let threads = start_threads(ports, &callback("threads")).await?;
        let (mastodon, client_key, client_secret) =
            start_mastodon(ports, &callback("mastodon")).await?;

        let mut variables = BTreeMap::new();
        let mut set = |name: &str, value: String| {
            variables.insert(name.to_owned(), value);
        };
        set("bluesky_service_url", atproto.entryway_url().to_owned());
        set("bluesky_plc_url", atproto.plc_url().to_owned());
        // Both PDSes are on loopback; the manifest takes one pattern for them.
        set("bluesky_pds_hosts", "http://127.0.0.1:*".to_owned());
        set("tumblr_www_url", tumblr.www_url());
        set("tumblr_api_url", tumblr.api_url());
        set("tumblr_consumer_key", tumblr.consumer_key().to_owned());
        set(
            "tumblr_consumer_secret",
            tumblr.consumer_secret().to_owned(),
        );
        for (name, value) in meta.variables().into_iter().chain(threads.variables()) {
            set(&name, value);
        }
        set("meta_app_id", demo::META_APP_ID.to_owned());
        set("meta_app_secret", demo::META_APP_SECRET.to_owned());
        set("threads_app_id", demo::THREADS_APP_ID.to_owned());
        set("threads_app_secret", demo::THREADS_APP_SECRET.to_owned());
        set("mastodon_instance_url", mastodon.base_url().to_owned());
        set("mastodon_client_key", client_key);
        set("mastodon_client_secret", client_secret);
        set("mastodon_scopes", demo::MASTODON_SCOPES.to_owned());

        Ok(Self {
            atproto,
            tumblr,
            meta,
            threads,
            mastodon,
            variables,
        })
    }

    /// The host variables for the doubles (URLs and app credentials).
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.variables
    }

    /// The Mastodon accounts' domain (`@mara@<domain>`).
    pub fn mastodon_domain(&self) -> String {
        self.mastodon.local_domain()
    }

    /// Stops every listener, waiting for those that can be waited for.
    pub async fn shutdown(self) {
        let Self {
            atproto,
            tumblr,
            meta,
            threads,
            mastodon,
            variables: _,
        } = self;
        tumblr.shutdown().await;
        if let Err(error) = mastodon.shutdown().await {
            tracing::warn!(%error, "the Mastodon double did not stop cleanly");
        }
        // These stop their listener tasks when dropped.
        drop((atproto, meta, threads));
    }
}

async fn start_atproto(ports: &SandboxPorts) -> anyhow::Result<AtprotoDouble> {
    let addr_of = |service: Service| -> SocketAddr {
        match service {
            Service::Entryway => ports.bluesky_entryway().addr,
            Service::BlueskyPds => ports.bluesky_fleet_pds().addr,
            Service::ThirdPartyPds => ports.bluesky_independent_pds().addr,
            Service::Plc => ports.plc().addr,
        }
    };
    let atproto = AtprotoDouble::start_on(addr_of)
        .await
        .context("starting the Bluesky double")?;
    atproto.add_account(
        Account::new(demo::ALICE.handle, demo::ALICE.password)
            .app_password(demo::ALICE.app_password)
            .email(demo::ALICE_EMAIL)
            .display_name(demo::ALICE.display_name),
    );
    atproto.add_account(
        Account::new(demo::BOB.handle, demo::BOB.password)
            .app_password(demo::BOB.app_password)
            .on_third_party_pds()
            .display_name(demo::BOB.display_name),
    );
    atproto.add_account(
        Account::new(demo::CAROL.handle, demo::CAROL.password)
            .app_password(demo::CAROL.app_password)
            .two_factor(demo::CAROL_EMAIL_CODE)
            .display_name(demo::CAROL.display_name),
    );
    Ok(atproto)
}

async fn start_tumblr(ports: &SandboxPorts) -> anyhow::Result<TumblrDouble> {
    let tumblr = TumblrDouble::start_on(
        TumblrDoubleConfig::default(),
        ports.tumblr_www().addr,
        ports.tumblr_api().addr,
    )
    .await
    .context("starting the Tumblr double")?;
    tumblr.add_user(TumblrUser::new(
        demo::TUMBLR_USER,
        vec![
            Blog {
                title: Some("Sam's side projects".to_owned()),
                posts: 12,
                ..Blog::new(demo::TUMBLR_SIDE_BLOG)
            },
            Blog {
                primary: true,
                title: Some("Sam's sketchbook".to_owned()),
                followers: 321,
                posts: 87,
                ..Blog::new(demo::TUMBLR_PRIMARY_BLOG)
            },
        ],
    ));
    // Limitation: the double's authorization page cannot approve by itself; see the
    // module documentation.
    tumblr.set_authorize_decision(Some(hayon_double_tumblr::Decision::approve(
        demo::TUMBLR_USER,
    )));
    Ok(tumblr)
}

async fn start_meta(ports: &SandboxPorts, callback: &str) -> anyhow::Result<MetaDouble> {
    let meta = MetaDouble::start_on(
        Clock::new(),
        ports.meta_graph().addr,
        ports.meta_dialog().addr,
    )
    .await
    .context("starting the Facebook double")?;
    meta.register_app(RegisteredApp::new(
        demo::META_APP_ID,
        demo::META_APP_SECRET,
        [callback],
    ));
    meta.add_user(FacebookUser::new(
        demo::FACEBOOK_USER_ID,
        demo::FACEBOOK_USER_NAME,
    ));
    meta.add_page(
        demo::FACEBOOK_USER_ID,
        FacebookPage::new(demo::FACEBOOK_PAGE_ID, demo::FACEBOOK_PAGE_NAME).instagram(
            InstagramAccount::new(demo::INSTAGRAM_ID, demo::INSTAGRAM_USERNAME),
        ),
    )?;
    meta.add_user(FacebookUser::new(
        demo::FACEBOOK_PAGELESS_ID,
        demo::FACEBOOK_PAGELESS_NAME,
    ));
    Ok(meta)
}

async fn start_threads(ports: &SandboxPorts, callback: &str) -> anyhow::Result<ThreadsDouble> {
    let threads = ThreadsDouble::start_on(
        Clock::new(),
        ports.threads_graph().addr,
        ports.threads_authorize().addr,
    )
    .await
    .context("starting the Threads double")?;
    threads.register_app(RegisteredApp::new(
        demo::THREADS_APP_ID,
        demo::THREADS_APP_SECRET,
        [callback],
    ));
    threads.add_user(ThreadsUser::new(
        demo::THREADS_USER_ID,
        demo::THREADS_USERNAME,
    ))?;
    Ok(threads)
}

/// Starts the Mastodon double and registers the app; answers it with the app's client key
/// and secret.
async fn start_mastodon(
    ports: &SandboxPorts,
    callback: &str,
) -> anyhow::Result<(MastodonDouble, String, String)> {
    let mastodon = MastodonDouble::start_on(MastodonOptions::default(), ports.mastodon().addr)
        .await
        .context("starting the Mastodon double")?;
    mastodon
        .add_user(NewUser::new(demo::MASTODON_USER).display_name(demo::MASTODON_DISPLAY_NAME))?;
    let app = mastodon
        .register_app(AppSpec::new([callback], demo::MASTODON_SCOPES).name("Hayon sandbox"))?;
    // Limitation: the double's "Authorize" button does not say who approves; see the
    // module documentation.
    mastodon.set_default_decision(Some(hayon_double_mastodon::Decision::approve(
        demo::MASTODON_USER,
    )));
    Ok((
        mastodon,
        app.client_id,
        app.client_secret.expose().to_owned(),
    ))
}
