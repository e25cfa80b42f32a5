//! Drives a whole Bluesky connection through the typed `hayon:connector/connector` calls,
//! without HTTP: describe, begin with credentials, status, refresh, disconnect.
//!
//! ```text
//! cargo build --profile component --target wasm32-wasip2 -p hayon-bluesky
//! cargo run -p hayon-host --example embed            # against a local AT Protocol double
//! cargo run -p hayon-host --example embed -- https://bsky.social <handle> <app password>
//! ```
//!
//! `HAYON_COMPONENT` overrides the component file.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use hayon_double_atproto::{Account, AtprotoDouble};
use hayon_host::embed::{
    BeginOutcome, ComponentSettings, ConnectorError, Credentials, Embedder, EmbedderOptions,
};
use hayon_host::keyvalue::redb_store::RedbStore;
use hayon_host::outbound::allow_list::AllowList;

/// Where to log in, as whom, and where the component may connect to.
struct Target {
    service_url: String,
    plc_url: String,
    allowed_hosts: Vec<String>,
    credentials: Credentials,
    /// Keeps the local double serving while the example runs.
    _double: Option<AtprotoDouble>,
}

async fn target() -> anyhow::Result<Target> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [service, handle, password] => Ok(Target {
            service_url: service.clone(),
            plc_url: "https://plc.directory".to_owned(),
            // The service, the PLC directory, and any PDS a DID document names.
            allowed_hosts: vec![
                service.clone(),
                "https://plc.directory".to_owned(),
                "https://*:443".to_owned(),
            ],
            credentials: Credentials::new(handle, password),
            _double: None,
        }),
        [] => {
            let double = AtprotoDouble::start().await?;
            double.add_account(
                Account::new("alice.test", "main-password")
                    .app_password("abcd-efgh-ijkl-mnop")
                    .display_name("Alice"),
            );
            Ok(Target {
                service_url: double.entryway_url().to_owned(),
                plc_url: double.plc_url().to_owned(),
                allowed_hosts: vec!["http://127.0.0.1:*".to_owned()],
                credentials: Credentials::new("@Alice.test", "abcd-efgh-ijkl-mnop"),
                _double: Some(double),
            })
        }
        _ => bail!("usage: embed [<service url> <handle> <app password>]"),
    }
}

/// The connector's error as a sentence, for `?`.
fn explain(error: ConnectorError) -> anyhow::Error {
    anyhow!("{:?}: {}", error.kind, error.message)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let component = std::env::var_os("HAYON_COMPONENT").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/wasm32-wasip2/component/hayon_bluesky.wasm")
        },
        PathBuf::from,
    );
    let target = target().await?;

    // Storage and the key that seals tokens in it; a real embedder keeps both.
    let data = tempfile::tempdir()?;
    let kv = Arc::new(RedbStore::open(&data.path().join("kv.redb"))?);
    let mut key = [0_u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow!("no randomness: {e}"))?;

    let mut settings = ComponentSettings::new("bluesky", kv);
    settings.config = [
        (
            "token_encryption_key",
            base64::engine::general_purpose::STANDARD.encode(key),
        ),
        ("bluesky_service_url", target.service_url.clone()),
        ("bluesky_plc_url", target.plc_url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    settings.allowed_outbound_hosts =
        AllowList::parse(target.allowed_hosts.iter().map(String::as_str))?;

    let embedder = Embedder::new(EmbedderOptions::default())?;
    let bluesky = embedder.load(&component, settings).context(
        "build the component with: \
         cargo build --profile component --target wasm32-wasip2 -p hayon-bluesky",
    )?;
    let info = bluesky.describe().await?;
    println!("loaded {} (auth: {:?})", info.name, info.auth);

    let user = "user-1";
    match bluesky
        .begin(user, Some(&target.credentials))
        .await?
        .map_err(explain)?
    {
        BeginOutcome::Connected(accounts) => {
            for account in accounts {
                println!("connected {} ({})", account.handle, account.account_id);
            }
        }
        BeginOutcome::Redirect(url) => bail!("a credentials platform answered a redirect: {url}"),
    }

    for account in bluesky.status(user).await?.map_err(explain)? {
        println!("status: {} is {:?}", account.handle, account.status);
    }

    for account in bluesky.refresh(user).await?.map_err(explain)? {
        println!("refreshed {} at {}", account.handle, account.refreshed_at);
    }

    let outcome = bluesky.disconnect(user).await?.map_err(explain)?;
    println!(
        "disconnected: removed {}, session revoked: {}",
        outcome.removed, outcome.revoked
    );

    let accounts = bluesky.status(user).await?.map_err(explain)?;
    println!("status after disconnect: {} account(s)", accounts.len());
    Ok(())
}
