//! `hayon-host`: serve the connectors, or mint a bearer token to try them.
//!
//! ```text
//! hayon-host [serve] [--manifest spin.toml] [--listen 127.0.0.1:3000] [--data-dir ./data]
//!                    [--runtime-config-file rc.toml] [--dev] [--no-build] [--no-watch]
//! hayon-host token <user-id> [--ttl 3600] [--data-dir ./data]
//! ```
//!
//! Variables come from the environment (`ACCESS_TOKEN_SECRET` or
//! `SPIN_VARIABLE_ACCESS_TOKEN_SECRET`, ...). `--dev` fills in what a local trial lacks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use hayon_host::runtime_config::RuntimeConfig;
use hayon_host::{HostOptions, build_components, dev, start, token};

/// Serves the Hayon connector components listed in spin.toml.
#[derive(Parser)]
#[command(name = "hayon-host", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the components (the default).
    Serve(ServeArgs),
    /// Print a bearer token for a user, signed with ACCESS_TOKEN_SECRET or the dev secret.
    Token(TokenArgs),
    /// Compile component files into the compile cache (and check the host would accept
    /// them), so that a hot swap of these files does not wait for compilation.
    Precompile(PrecompileArgs),
}

#[derive(Args)]
struct PrecompileArgs {
    /// The component files (e.g. a new version before it is moved into place).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The data directory of the host that will load them (its compile-cache is used).
    #[arg(long, env = "HAYON_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// The Spin manifest to serve.
    #[arg(long, env = "HAYON_MANIFEST", default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "HAYON_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Directory for the key-value database (and the dev secrets).
    #[arg(long, env = "HAYON_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Spin runtime-config file: where key-value stores live (`[key_value_store.default]`
    /// with `type = "redis"` and `url`, or `type = "spin"` and `path`).
    #[arg(long, env = "HAYON_RUNTIME_CONFIG_FILE")]
    runtime_config_file: Option<PathBuf>,
    /// Local trial: generate missing secrets, default the URLs. Not for production.
    #[arg(long)]
    dev: bool,
    /// Do not build stale components at start-up.
    #[arg(long)]
    no_build: bool,
    /// Do not reload components when their files change.
    #[arg(long)]
    no_watch: bool,
}

#[derive(Args)]
struct TokenArgs {
    /// The user id to put in `sub` (1-128 of A-Z a-z 0-9 _ -).
    user_id: String,
    /// Validity in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: i64,
    /// Where the dev secrets live, when ACCESS_TOKEN_SECRET is not set.
    #[arg(long, env = "HAYON_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Some(Command::Token(args)) => mint(&args),
        Some(Command::Precompile(args)) => precompile_files(&args),
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hayon-host: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn env_var(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    std::env::var(format!("SPIN_VARIABLE_{upper}"))
        .or_else(|_| std::env::var(&upper))
        .ok()
        .filter(|value| !value.is_empty())
}

fn mint(args: &TokenArgs) -> anyhow::Result<()> {
    let secret = match env_var("access_token_secret") {
        Some(secret) => secret,
        None => {
            eprintln!(
                "hayon-host: ACCESS_TOKEN_SECRET is not set; signing with the dev secret in {}",
                dev::dev_secrets_path(&args.data_dir).display()
            );
            dev::load_or_create(&args.data_dir)?
                .access_token_secret
                .expose()
                .to_owned()
        }
    };
    let token = token::mint_access_token(&args.user_id, args.ttl, secret.as_bytes())?;
    println!("{token}");
    Ok(())
}

fn precompile_files(args: &PrecompileArgs) -> anyhow::Result<()> {
    let mut options = HostOptions::new(PathBuf::from("spin.toml"), args.data_dir.clone());
    options.compile_cache = Some(compile_cache_dir(&args.data_dir)?);
    hayon_host::precompile(&options, &args.files)?;
    for file in &args.files {
        println!(
            "compiled {} (the host will load it without compiling)",
            file.display()
        );
    }
    Ok(())
}

/// `<data-dir>/compile-cache` as an absolute path (wasmtime's cache wants one).
fn compile_cache_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let data_dir = std::path::absolute(data_dir)
        .with_context(|| format!("resolving --data-dir {}", data_dir.display()))?;
    Ok(data_dir.join("compile-cache"))
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if !args.no_build {
        build_components(&args.manifest)?;
    }
    let options = serve_options(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let host = start(options).await?;
        wait_for_signal().await;
        tracing::info!("shutting down");
        host.shutdown().await
    })
}

fn serve_options(args: &ServeArgs) -> anyhow::Result<HostOptions> {
    let mut options = HostOptions::new(args.manifest.clone(), args.data_dir.clone());
    options.listen = args.listen;
    options.use_process_env = true;
    options.watch_components = !args.no_watch;
    options.compile_cache = Some(compile_cache_dir(&args.data_dir)?);
    if let Some(path) = &args.runtime_config_file {
        options.key_value = RuntimeConfig::load(path)?.key_value;
    }
    if args.dev {
        dev_fallbacks(&mut options, &args.data_dir, args.listen)?;
    }
    Ok(options)
}

/// Fills the variables a local trial usually lacks, leaving whatever the environment sets.
fn dev_fallbacks(
    options: &mut HostOptions,
    data_dir: &Path,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    eprintln!(
        "hayon-host: --dev: generated secrets and local URLs; dev mode is not for production"
    );
    let needs_secrets =
        env_var("access_token_secret").is_none() || env_var("token_encryption_key").is_none();
    if needs_secrets {
        let secrets = dev::load_or_create(data_dir)?;
        let fallbacks = &mut options.fallback_variables;
        fallbacks.insert(
            "access_token_secret".to_owned(),
            secrets.access_token_secret.expose().to_owned(),
        );
        fallbacks.insert(
            "token_encryption_key".to_owned(),
            secrets.token_encryption_key.expose().to_owned(),
        );
    }
    let fallbacks = &mut options.fallback_variables;
    fallbacks.insert(
        "frontend_url".to_owned(),
        "http://localhost:5173".to_owned(),
    );
    fallbacks.insert("public_base_url".to_owned(), format!("http://{listen}"));
    Ok(())
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
