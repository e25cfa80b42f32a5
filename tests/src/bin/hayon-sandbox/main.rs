//! `hayon-sandbox`: the whole product offline, for clicking through every flow.
//!
//! ```text
//! cargo run -p hayon-e2e --bin hayon-sandbox -- [--listen 127.0.0.1:3000] [--base-port 4100]
//!                                               [--data-dir ./data/sandbox] [--ephemeral]
//!                                               [--no-build]
//! ```
//!
//! It builds the connector components if they are stale, starts every platform double on
//! fixed loopback ports with demo accounts ([`demo`]) and app registrations
//! ([`doubles`]), starts a small page standing in for the front end ([`frontend`]), and
//! starts the real host in-process, configured to use all of them. Then it prints a
//! bearer token and `curl` commands for every flow ([`walkthrough`]) and runs until
//! Ctrl-C (or SIGTERM), when it stops everything.
//!
//! Limitation: the doubles keep their state in memory and start empty. With the default,
//! persistent data directory, accounts connected in an earlier run are still listed by
//! `status`, but the doubles no longer know their tokens: `refresh` answers 409
//! `reconnect_required` (and marks the account so) until the account is connected again.

mod demo;
mod doubles;
mod frontend;
mod ports;
mod walkthrough;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use hayon_host::{HostOptions, RunningHost, build_components, dev, token};

use doubles::SandboxDoubles;
use frontend::FrontendPage;
use ports::SandboxPorts;
use walkthrough::Walkthrough;

/// Runs the Hayon host against local doubles of every platform, with demo accounts.
#[derive(Parser, Debug)]
#[command(name = "hayon-sandbox", version)]
struct Cli {
    /// Where the host listens (its callbacks are registered with the doubles at this
    /// address).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// First of the 12 consecutive loopback ports for the front-end page and the doubles.
    #[arg(long, default_value_t = 4100)]
    base_port: u16,
    /// Directory for the host's key-value database and its generated secrets.
    #[arg(long, default_value = "./data/sandbox", conflicts_with = "ephemeral")]
    data_dir: PathBuf,
    /// Use a temporary data directory, removed at exit.
    #[arg(long)]
    ephemeral: bool,
    /// Do not build stale components first.
    #[arg(long)]
    no_build: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hayon-sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,hayon_host=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ports = SandboxPorts::new(cli.listen, cli.base_port)?;
    ports.check_free()?;

    let manifest = hayon_e2e::manifest_path();
    if !cli.no_build {
        eprintln!("hayon-sandbox: building stale components (the first build takes minutes)");
        build_components(&manifest)?;
    }

    // Held until the end: dropping it removes the temporary directory.
    let temporary = if cli.ephemeral {
        Some(
            tempfile::Builder::new()
                .prefix("hayon-sandbox-")
                .tempdir()?,
        )
    } else {
        None
    };
    let data_dir = match &temporary {
        Some(dir) => dir.path().to_owned(),
        None => cli.data_dir.clone(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(&ports, &manifest, &data_dir, cli.ephemeral))
}

/// Everything that listens, in the order it is stopped.
struct Sandbox {
    host: RunningHost,
    doubles: SandboxDoubles,
    frontend: FrontendPage,
}

async fn serve(
    ports: &SandboxPorts,
    manifest: &Path,
    data_dir: &Path,
    ephemeral: bool,
) -> anyhow::Result<()> {
    let secrets = dev::load_or_create(data_dir)?;
    let listener = std::net::TcpListener::bind(ports.host.addr)
        .with_context(|| format!("cannot listen on {} for the host", ports.host.addr))?;
    let host_url = public_base_url(listener.local_addr()?);

    let frontend = FrontendPage::start(ports.frontend().addr).await?;
    let doubles = SandboxDoubles::start(ports, &host_url).await?;

    let mut options = HostOptions::new(manifest.to_owned(), data_dir.to_owned());
    options.listener = Some(listener);
    options.use_process_env = false;
    options.variables = doubles.variables().clone();
    let mut set = |name: &str, value: &str| {
        options.variables.insert(name.to_owned(), value.to_owned());
    };
    set("access_token_secret", secrets.access_token_secret.expose());
    set(
        "token_encryption_key",
        secrets.token_encryption_key.expose(),
    );
    set("frontend_url", &ports.frontend().url());
    set("public_base_url", &host_url);
    options.compile_cache = Some(compile_cache());
    options.watch_components = true;
    options.drain_timeout = Duration::from_secs(5);
    let host = hayon_host::start(options).await?;

    let token = token::mint_access_token(
        demo::HAYON_USER,
        demo::TOKEN_TTL_SECONDS,
        secrets.access_token_secret.expose().as_bytes(),
    )?;
    let walkthrough = Walkthrough {
        ports,
        host_url: &host_url,
        token: &token,
        data_dir,
        ephemeral,
        mastodon_domain: &doubles.mastodon_domain(),
    };
    println!("{}", walkthrough.render());

    wait_for_signal().await;
    eprintln!("hayon-sandbox: stopping");
    Sandbox {
        host,
        doubles,
        frontend,
    }
    .shutdown()
    .await
}

impl Sandbox {
    /// Stops the host first (so no request reaches a stopped double), then the rest.
    async fn shutdown(self) -> anyhow::Result<()> {
        let stopped = self.host.shutdown().await;
        self.doubles.shutdown().await;
        self.frontend.shutdown().await;
        stopped?;
        eprintln!("hayon-sandbox: stopped");
        Ok(())
    }
}

/// `http://<addr>`, with a loopback address in place of an unspecified one.
fn public_base_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        return format!(
            "http://{}",
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        );
    }
    format!("http://{addr}")
}

/// Compiled components are cached under the target directory, beside the tests' cache.
fn compile_cache() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("hayon-sandbox-compile-cache")
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
