//! Request counters, exposed at `GET /metrics` in the Prometheus text format.
//!
//! Per component: requests by status class, a latency histogram, instantiations (with
//! their total time), traps, timeouts and denied outbound requests. Requests that match
//! no route are counted separately. Plain atomics: no lock on the request path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Picks one counter out of a component's counters.
type CounterField = fn(&ComponentMetrics) -> &AtomicU64;

/// Counters of one component.
#[derive(Debug, Default)]
pub struct ComponentMetrics {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    latency_micros: AtomicU64,
    count: AtomicU64,
    instantiations: AtomicU64,
    instantiation_micros: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    outbound_denied: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl ComponentMetrics {
    /// Counts a finished request.
    pub fn record_request(&self, status: u16, latency: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_micros
            .fetch_add(micros(latency), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an instantiation and the time it took.
    pub fn record_instantiation(&self, took: Duration) {
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        self.instantiation_micros
            .fetch_add(micros(took), Ordering::Relaxed);
    }

    /// Counts a guest trap (including running out of memory).
    pub fn record_trap(&self) {
        self.traps.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request that hit its deadline.
    pub fn record_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an outbound request refused by the allow-list.
    pub fn record_outbound_denied(&self) {
        self.outbound_denied.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a new version of the component swapped in.
    pub fn record_reload(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a changed component file that could not be loaded.
    pub fn record_reload_failure(&self) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Outbound requests refused so far.
    pub fn outbound_denied(&self) -> u64 {
        self.outbound_denied.load(Ordering::Relaxed)
    }
}

/// All counters of a running host.
#[derive(Debug, Default)]
pub struct Metrics {
    components: BTreeMap<String, Arc<ComponentMetrics>>,
    unrouted: AtomicU64,
}

impl Metrics {
    /// Counters for the given component ids.
    pub fn new<'a>(components: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            components: components
                .into_iter()
                .map(|id| (id.to_owned(), Arc::default()))
                .collect(),
            unrouted: AtomicU64::new(0),
        }
    }

    /// The counters of one component, if it exists.
    pub fn component(&self, id: &str) -> Option<Arc<ComponentMetrics>> {
        self.components.get(id).cloned()
    }

    /// Counts a request that matched no route.
    pub fn record_unrouted(&self) {
        self.unrouted.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every counter in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let seconds = |a: &AtomicU64| load(a) as f64 / 1_000_000.0;

        let _ = writeln!(
            out,
            "# HELP hayon_requests_total Requests served by a component, by status class.\n\
             # TYPE hayon_requests_total counter"
        );
        for (id, m) in &self.components {
            for (i, count) in m.by_class.iter().enumerate() {
                let class = i + 1;
                let _ = writeln!(
                    out,
                    "hayon_requests_total{{component=\"{id}\",status_class=\"{class}xx\"}} {}",
                    load(count)
                );
            }
        }

        let _ = writeln!(
            out,
            "# HELP hayon_request_duration_seconds Time to the response head.\n\
             # TYPE hayon_request_duration_seconds histogram"
        );
        for (id, m) in &self.components {
            for (bucket, bound) in m.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "hayon_request_duration_seconds_bucket{{component=\"{id}\",le=\"{bound}\"}} {}",
                    load(bucket)
                );
            }
            let count = load(&m.count);
            let _ = writeln!(
                out,
                "hayon_request_duration_seconds_bucket{{component=\"{id}\",le=\"+Inf\"}} {count}\n\
                 hayon_request_duration_seconds_sum{{component=\"{id}\"}} {}\n\
                 hayon_request_duration_seconds_count{{component=\"{id}\"}} {count}",
                seconds(&m.latency_micros)
            );
        }

        let counters: [(&str, &str, CounterField); 6] = [
            (
                "hayon_instantiations_total",
                "Component instances created.",
                |m| &m.instantiations,
            ),
            (
                "hayon_traps_total",
                "Requests that ended in a guest trap.",
                |m| &m.traps,
            ),
            (
                "hayon_timeouts_total",
                "Requests stopped at their deadline.",
                |m| &m.timeouts,
            ),
            (
                "hayon_outbound_denied_total",
                "Outbound requests refused by allowed_outbound_hosts.",
                |m| &m.outbound_denied,
            ),
            (
                "hayon_reloads_total",
                "New component versions swapped in.",
                |m| &m.reloads,
            ),
            (
                "hayon_reload_failures_total",
                "Changed component files that could not be loaded.",
                |m| &m.reload_failures,
            ),
        ];
        for (name, help, field) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (id, m) in &self.components {
                let _ = writeln!(out, "{name}{{component=\"{id}\"}} {}", load(field(m)));
            }
        }

        let _ = writeln!(
            out,
            "# HELP hayon_instantiation_seconds_total Time spent instantiating components.\n\
             # TYPE hayon_instantiation_seconds_total counter"
        );
        for (id, m) in &self.components {
            let _ = writeln!(
                out,
                "hayon_instantiation_seconds_total{{component=\"{id}\"}} {}",
                seconds(&m.instantiation_micros)
            );
        }

        let _ = writeln!(
            out,
            "# HELP hayon_unrouted_requests_total Requests that matched no route.\n\
             # TYPE hayon_unrouted_requests_total counter\n\
             hayon_unrouted_requests_total {}",
            load(&self.unrouted)
        );
        out
    }
}

/// A duration in milliseconds rounded to 0.1 ms, for log fields (`latency_ms=0.8`, not
/// `0.8247950000000001`).
pub fn log_millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 10_000.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_millis_rounds_to_a_tenth() {
        assert_eq!(log_millis(std::time::Duration::from_nanos(824_795)), 0.8);
        assert_eq!(log_millis(std::time::Duration::from_micros(12_049)), 12.0);
        assert_eq!(log_millis(std::time::Duration::ZERO), 0.0);
    }

    #[test]
    fn renders_counts_by_status_class_and_latency() {
        let metrics = Metrics::new(["bluesky"]);
        let m = metrics.component("bluesky").unwrap();
        m.record_request(200, Duration::from_millis(2));
        m.record_request(404, Duration::from_millis(20));
        m.record_request(503, Duration::from_secs(2));
        m.record_instantiation(Duration::from_micros(30));
        m.record_trap();
        metrics.record_unrouted();

        let text = metrics.render();
        for line in [
            "hayon_requests_total{component=\"bluesky\",status_class=\"2xx\"} 1",
            "hayon_requests_total{component=\"bluesky\",status_class=\"4xx\"} 1",
            "hayon_requests_total{component=\"bluesky\",status_class=\"5xx\"} 1",
            "hayon_request_duration_seconds_bucket{component=\"bluesky\",le=\"0.0025\"} 1",
            "hayon_request_duration_seconds_bucket{component=\"bluesky\",le=\"0.025\"} 2",
            "hayon_request_duration_seconds_bucket{component=\"bluesky\",le=\"+Inf\"} 3",
            "hayon_request_duration_seconds_count{component=\"bluesky\"} 3",
            "hayon_instantiations_total{component=\"bluesky\"} 1",
            "hayon_traps_total{component=\"bluesky\"} 1",
            "hayon_unrouted_requests_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
