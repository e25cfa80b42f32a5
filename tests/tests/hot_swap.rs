//! Hot swap under load: one platform's `.wasm` is replaced several times while two
//! platforms serve a steady stream of requests.
//!
//! The host serves a copy of the application in a temporary directory, so the test never
//! touches `target/`. Two versions of the Bluesky component are told apart by their
//! answers: version A is the built component; version B is the same file with every
//! `Bluesky` in it spelled `BLUESKY` (same length, so the binary stays valid), which shows
//! in the `message` of each answer. The broken files are A cut in half, bytes that are no
//! component at all, and A with its `wasi:keyvalue/store` import renamed to an interface
//! the host does not provide (a valid component that cannot be linked).
//!
//! What must hold: no request fails (every answer is a 200 with the expected envelope);
//! Mastodon is never touched; a renamed-in version serves within seconds (the measured
//! times are printed: run with `--nocapture`); a refused file leaves the version before it
//! serving, with an error logged for the component and its reason; a request in flight
//! during a swap finishes on the version it started on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hayon_double_atproto::{Account, AtprotoDouble, Endpoint, Fault, FaultRule};
use hayon_e2e::{TestHost, ensure_components_built, manifest_path};
use hayon_host::manifest::Manifest;
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Concurrent request loops per platform.
const LOOPS_PER_PLATFORM: usize = 4;
/// Longest a swap or a refusal may take before the test gives up waiting.
const GIVE_UP: Duration = Duration::from_secs(60);
/// What "within a second" is allowed to be on a busy 2-core machine, for a version whose
/// compiled code is already in the compile cache.
const SWAP_BOUND: Duration = Duration::from_secs(3);
/// What a version compiled from scratch is allowed (Cranelift on a busy machine).
const COLD_SWAP_BOUND: Duration = Duration::from_secs(30);
/// How long the in-flight request's upstream call takes.
const IN_FLIGHT_DELAY: Duration = Duration::from_secs(4);

const BLUESKY_STATUS: &str = "/api/platform/bluesky/status";
const MASTODON_STATUS: &str = "/api/platform/mastodon/status";
const ALICE_APP: &str = "alic-eapp-pw7x-q2zz";

// ---------------------------------------------------------------------------------------
// The versions.

/// Which component answered a status request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    /// The built Bluesky component.
    BlueskyA,
    /// The Bluesky component with `BLUESKY` in its messages.
    BlueskyB,
    /// The Mastodon component.
    Mastodon,
}

impl Version {
    /// Which version wrote this status answer, if the answer is a correct one.
    fn of_status(code: u16, body: &Value) -> Option<Self> {
        if code != 200 || body["success"] != true || body["data"] != json!({ "accounts": [] }) {
            return None;
        }
        match body["message"].as_str()? {
            "No Bluesky account is connected." => Some(Self::BlueskyA),
            "No BLUESKY account is connected." => Some(Self::BlueskyB),
            "No Mastodon account is connected." => Some(Self::Mastodon),
            _ => None,
        }
    }
}

/// Replaces every `from` in `bytes` with `to` (same length), returning how many there were.
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len(), "a patch must keep every length");
    let mut count = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        bytes[start..start + to.len()].copy_from_slice(to);
        at = start + to.len();
        count += 1;
    }
    count
}

/// The files swapped into Bluesky's place.
struct Files {
    a: Vec<u8>,
    b: Vec<u8>,
    truncated: Vec<u8>,
    garbage: Vec<u8>,
    unlinkable: Vec<u8>,
}

impl Files {
    fn from_built(a: Vec<u8>) -> Self {
        let mut b = a.clone();
        assert!(
            replace_all(&mut b, b"Bluesky", b"BLUESKY") > 0,
            "no `Bluesky` in A"
        );

        let truncated = a[..a.len() / 2].to_vec();
        let garbage = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();

        let mut unlinkable = a.clone();
        let renamed = replace_all(
            &mut unlinkable,
            b"wasi:keyvalue/store@0.2.0-draft2",
            b"wasi:nolinked/store@0.2.0-draft2",
        );
        assert!(renamed > 0, "A imports no wasi:keyvalue/store");
        Self {
            a,
            b,
            truncated,
            garbage,
            unlinkable,
        }
    }
}

/// Puts `bytes` at `path` the way operators should: a temporary file renamed onto it.
fn install_by_rename(path: &Path, bytes: &[u8]) -> Instant {
    let temporary = path.with_extension("wasm.tmp");
    std::fs::write(&temporary, bytes).expect("write the new version");
    std::fs::rename(&temporary, path).expect("rename it into place");
    Instant::now()
}

/// Copies the project's manifest and the component files it names into `dir`.
fn copy_application(dir: &Path) {
    let manifest = Manifest::load(&manifest_path()).expect("the project manifest");
    std::fs::copy(manifest_path(), dir.join("spin.toml")).expect("copy the manifest");
    for component in manifest.components.values() {
        let relative = component
            .source
            .strip_prefix(&manifest.dir)
            .expect("sources are inside the project");
        let target = dir.join(relative);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(&component.source, &target).expect("copy a component");
    }
}

// ---------------------------------------------------------------------------------------
// The host's error log.

/// The fields of every error event, in order.
#[derive(Clone, Default)]
struct ErrorLog(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl ErrorLog {
    /// Sends the host's log to the test output (as the harness does) and keeps errors.
    fn install() -> Self {
        let log = Self::default();
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(filter),
            )
            .with(
                log.clone()
                    .with_filter(tracing::level_filters::LevelFilter::ERROR),
            )
            .try_init()
            .expect("this test installs the only subscriber of its process");
        log
    }

    fn events(&self) -> Vec<BTreeMap<String, String>> {
        self.0.lock().expect("error log").clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for ErrorLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().expect("error log").push(fields);
    }
}

// ---------------------------------------------------------------------------------------
// The load.

/// One answer seen by a load loop.
struct Seen {
    /// When the request was sent.
    sent: Instant,
    /// When its answer had been read.
    received: Instant,
    /// Who answered, or what was wrong.
    answer: Result<Version, String>,
}

/// A stretch of time in which one Bluesky version alone may answer: from when the test
/// had an answer from it (any request sent later reaches it or a newer one) until the
/// next swap's file was put in place (refused files do not end a phase).
struct Phase {
    from: Instant,
    until: Option<Instant>,
    version: Version,
}

/// Starts `LOOPS_PER_PLATFORM` loops per path, each sending status requests one after
/// another until `stop` is set.
fn start_load(
    host: &TestHost,
    token: &str,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    let mut loops = Vec::new();
    for path in [BLUESKY_STATUS, MASTODON_STATUS] {
        for _ in 0..LOOPS_PER_PLATFORM {
            let (client, url) = (host.client().clone(), host.url(path));
            let (token, stop) = (token.to_owned(), Arc::clone(stop));
            loops.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let answer = status_of(&client, &url, &token).await;
                    let received = Instant::now();
                    seen.push(Seen {
                        sent,
                        received,
                        answer,
                    });
                }
                seen
            }));
        }
    }
    loops
}

/// One status request; `Err` describes anything but a correct answer.
async fn status_of(client: &reqwest::Client, url: &str, token: &str) -> Result<Version, String> {
    let response = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let code = response.status().as_u16();
    let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Version::of_status(code, &body).ok_or_else(|| format!("{url}: {code} {body}"))
}

// ---------------------------------------------------------------------------------------
// The scenario.

/// The host, its Bluesky file and the watching helpers.
struct Scenario {
    host: TestHost,
    double: AtprotoDouble,
    wasm: PathBuf,
    token: String,
    log: ErrorLog,
    /// When each Bluesky version alone may answer.
    phases: Vec<Phase>,
}

impl Scenario {
    /// Polls Bluesky's status until `version` answers; returns the time since `installed`.
    async fn wait_for(&mut self, version: Version, installed: Instant) -> Duration {
        let url = self.host.url(BLUESKY_STATUS);
        loop {
            let answer = status_of(self.host.client(), &url, &self.token).await;
            if answer == Ok(version) {
                let now = Instant::now();
                self.phases.push(Phase {
                    from: now,
                    until: None,
                    version,
                });
                return now.duration_since(installed);
            }
            assert!(answer.is_ok(), "a status request failed: {answer:?}");
            assert!(installed.elapsed() < GIVE_UP, "{version:?} never served");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Ends the current phase: a new version is about to be put in place.
    fn end_phase(&mut self) {
        let now = Instant::now();
        if let Some(phase) = self.phases.last_mut() {
            phase.until.get_or_insert(now);
        }
    }

    /// Renames `bytes` into place and waits until `version` serves; returns the time from
    /// the rename to the first answer from `version`.
    async fn swap_to(&mut self, bytes: &[u8], version: Version) -> Duration {
        self.end_phase();
        let installed = install_by_rename(&self.wasm, bytes);
        self.wait_for(version, installed).await
    }

    /// Renames a broken file into place and waits for its refusal to be counted and
    /// logged with `reason`; returns the logged error message.
    async fn refuse(&mut self, bytes: &[u8], reason: &str) -> String {
        let failures_before = self.counter("hayon_reload_failures_total", "bluesky").await;
        let errors_before = self.log.events().len();
        let installed = install_by_rename(&self.wasm, bytes);
        let refusal = loop {
            let counted = self.counter("hayon_reload_failures_total", "bluesky").await;
            let logged = self
                .log
                .events()
                .split_off(errors_before)
                .into_iter()
                .find(|e| e.get("component").map(String::as_str) == Some("bluesky"));
            if let (true, Some(refusal)) = (counted > failures_before, logged) {
                break refusal;
            }
            assert!(
                installed.elapsed() < GIVE_UP,
                "the {reason} file was not refused, counted and logged: {:?}",
                self.log.events()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            refusal.get("reason").map(String::as_str),
            Some(reason),
            "{refusal:?}"
        );
        refusal.get("error").cloned().unwrap_or_default()
    }

    /// The value of a per-component counter in `/metrics`.
    async fn counter(&self, name: &str, component: &str) -> u64 {
        let prefix = format!("{name}{{component=\"{component}\"}}");
        let (_, text) = self.host.get_text("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    /// Checks every answer the load saw: none failed, Mastodon always answered as
    /// Mastodon, and every Bluesky request that ran inside a phase got that phase's
    /// version (so no refused file ever served and no swap went back).
    fn check_load(&self, seen: &[Seen]) -> BTreeMap<Version, usize> {
        let failed: Vec<&String> = seen
            .iter()
            .filter_map(|s| s.answer.as_ref().err())
            .collect();
        assert!(
            failed.is_empty(),
            "{} of {} requests failed, first: {:?}",
            failed.len(),
            seen.len(),
            failed.first()
        );

        let mut counts = BTreeMap::new();
        for request in seen {
            let Ok(version) = request.answer else {
                continue;
            };
            *counts.entry(version).or_insert(0) += 1;
            if version == Version::Mastodon {
                continue;
            }
            let phase = self.phases.iter().find(|phase| {
                phase.from <= request.sent
                    && phase.until.is_none_or(|until| request.received <= until)
            });
            if let Some(phase) = phase {
                assert_eq!(
                    version, phase.version,
                    "a request that ran while {:?} served was answered by {version:?}",
                    phase.version
                );
            }
        }
        counts
    }
}

impl Scenario {
    /// Starts a Bluesky connect whose session call upstream takes `IN_FLIGHT_DELAY`, and
    /// returns once that call has reached the double (so the request is inside the
    /// component). The task gives the status and body.
    async fn start_slow_connect(&self) -> tokio::task::JoinHandle<(u16, Value)> {
        self.double.clear_requests();
        self.double.inject(
            FaultRule::new(Endpoint::CreateSession, Fault::Delay(IN_FLIGHT_DELAY)).times(1),
        );
        let (client, url) = (
            self.host.client().clone(),
            self.host.url("/api/platform/bluesky/connect"),
        );
        let token = self.host.mint_token("in-flight-user");
        let task = tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "identifier": "alice.test", "appPassword": ALICE_APP }))
                .send()
                .await
                .expect("the host answers");
            let code = response.status().as_u16();
            (code, response.json().await.unwrap_or(Value::Null))
        });
        let started = Instant::now();
        while self.double.requests_to(Endpoint::CreateSession).is_empty() {
            assert!(
                started.elapsed() < GIVE_UP,
                "the connect never reached the double"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_platform_is_swapped_under_load_and_no_request_fails() {
    let log = ErrorLog::install();
    ensure_components_built();
    let app = tempfile::tempdir().expect("temp dir");
    copy_application(app.path());
    let wasm = app
        .path()
        .join("target/wasm32-wasip2/component/hayon_bluesky.wasm");
    let files = Files::from_built(std::fs::read(&wasm).expect("read the component"));

    let double = AtprotoDouble::start()
        .await
        .expect("start the atproto double");
    double.add_account(
        Account::new("alice.test", "alice-main-password-7Qx2").app_password(ALICE_APP),
    );
    let host = TestHost::builder()
        .skip_build()
        .manifest(&app.path().join("spin.toml"))
        .watch_components(true)
        .vars(&[
            ("bluesky_service_url", double.entryway_url()),
            ("bluesky_plc_url", double.plc_url()),
            ("bluesky_pds_hosts", "http://127.0.0.1:*"),
        ])
        .start()
        .await;
    let token = host.mint_token("load-user");
    let mut scenario = Scenario {
        host,
        double,
        wasm,
        token,
        log,
        phases: Vec::new(),
    };
    scenario.wait_for(Version::BlueskyA, Instant::now()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&scenario.host, &scenario.token, &stop);

    // A new version, renamed in. Its first compile may be a cold one.
    let cold = scenario.swap_to(&files.b, Version::BlueskyB).await;
    eprintln!("A -> B by rename (B possibly compiled from scratch): {cold:?}");

    // Three broken files: each refused, B keeps serving.
    let message = scenario.refuse(&files.truncated, "invalid").await;
    eprintln!("truncated file refused: {message}");
    let message = scenario.refuse(&files.garbage, "not_a_component").await;
    eprintln!("garbage refused: {message}");
    let message = scenario.refuse(&files.unlinkable, "unlinkable").await;
    eprintln!("unlinkable component refused: {message}");
    assert!(
        message.contains("wasi:nolinked/store"),
        "the refusal names the import: {message}"
    );
    let answer = status_of(
        scenario.host.client(),
        &scenario.host.url(BLUESKY_STATUS),
        &scenario.token,
    )
    .await;
    assert_eq!(answer, Ok(Version::BlueskyB), "B serves after the refusals");

    // A request in flight on B (its upstream call is slow) while A is renamed in.
    let in_flight = scenario.start_slow_connect().await;
    let back_to_a = scenario.swap_to(&files.a, Version::BlueskyA).await;
    eprintln!("B -> A by rename, with a request in flight: {back_to_a:?}");
    assert!(
        !in_flight.is_finished(),
        "the slow request ended before A served; the swap came too late to test it"
    );
    let (code, body) = in_flight.await.expect("the in-flight request");
    assert_eq!(code, 200, "the in-flight request: {body}");
    assert_eq!(
        body["message"], "BLUESKY account connected.",
        "the in-flight request finished on B, the version it started on"
    );

    // Back to B by rename (cached now), then to A written in place (waits for stability).
    let warm = scenario.swap_to(&files.b, Version::BlueskyB).await;
    eprintln!("A -> B by rename (B cached): {warm:?}");
    scenario.end_phase();
    let written = Instant::now();
    std::fs::write(&scenario.wasm, &files.a).expect("write A in place");
    let in_place = scenario.wait_for(Version::BlueskyA, written).await;
    eprintln!("B -> A written in place: {in_place:?}");

    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for task in load {
        seen.extend(task.await.expect("a load loop"));
    }
    let counts = scenario.check_load(&seen);
    eprintln!("answers during the swaps: {counts:?}");
    for version in [Version::BlueskyA, Version::BlueskyB, Version::Mastodon] {
        assert!(
            counts.get(&version).is_some_and(|n| *n > 0),
            "{version:?}: {counts:?}"
        );
    }

    assert_eq!(scenario.counter("hayon_reloads_total", "bluesky").await, 4);
    assert_eq!(
        scenario
            .counter("hayon_reload_failures_total", "bluesky")
            .await,
        3
    );
    assert_eq!(scenario.counter("hayon_reloads_total", "mastodon").await, 0);
    assert_eq!(
        scenario
            .counter("hayon_reload_failures_total", "mastodon")
            .await,
        0
    );
    assert_eq!(
        scenario.counter("hayon_traps_total", "bluesky").await
            + scenario.counter("hayon_traps_total", "mastodon").await,
        0
    );

    assert!(cold <= COLD_SWAP_BOUND, "A -> B took {cold:?}");
    for (what, took) in [("B -> A", back_to_a), ("A -> B", warm)] {
        assert!(took <= SWAP_BOUND, "{what} by rename took {took:?}");
    }
    scenario.host.stop().await;
}

/// `hayon-host precompile`: a new version compiled ahead lands in the compile cache the
/// host uses, and a file the host would refuse is refused here too, with the reason.
#[test]
fn precompile_fills_the_compile_cache_and_refuses_what_the_host_would_refuse() {
    ensure_components_built();
    let manifest = Manifest::load(&manifest_path()).expect("spin.toml parses");
    let bluesky = manifest.components["bluesky"].source.clone();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cache = dir.path().join("compile-cache");
    let mut options = hayon_host::HostOptions::new(manifest_path(), dir.path().to_path_buf());
    options.compile_cache = Some(cache.clone());

    hayon_host::precompile(&options, std::slice::from_ref(&bluesky)).expect("bluesky compiles");
    let cached = walk_files(&cache);
    assert!(cached > 0, "nothing was written to {}", cache.display());

    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not a component at all").expect("write");
    let error = hayon_host::precompile(&options, &[garbage]).expect_err("garbage accepted");
    assert!(
        format!("{error:#}").contains("not_a_component"),
        "{error:#}"
    );

    options.compile_cache = None;
    assert!(
        hayon_host::precompile(&options, &[bluesky]).is_err(),
        "no cache, no point"
    );
}

fn walk_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { walk_files(&path) } else { 1 }
        })
        .sum()
}
