//! Log output of a component: `tracing` events as text lines on stderr.
//!
//! The host captures a component's stderr into its own log. Events carry fields
//! (`platform`, `status`, `latency_ms`…), never a secret: secrets are in redacting types
//! (`secret.rs`) and outbound calls log host and path only.

/// Installs the stderr subscriber once per instance (later calls do nothing).
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}
