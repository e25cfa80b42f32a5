//! Log output of a component: `tracing` events as text lines on stderr.
//!
//! The host passes a component's stderr through to its own stderr as it is (it adds no
//! timestamp or prefix), so an event is written as one line, `LEVEL message field=value …`,
//! at level `INFO` and above. Every value is escaped (see [`escape_into`]) so that text
//! from outside — a query parameter, an upstream's error — cannot break a line or forge one.
//! Events carry fields (`platform`, `status`, `latency_ms`…), never a secret: secrets are
//! in redacting types (`secret.rs`) and outbound calls log host and path only.
//!
//! The subscriber is this module's own rather than `tracing-subscriber`'s: connectors open
//! no spans and need no filtering beyond a level, and the general one was about a tenth of
//! every component's code.

use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::{Event, Level, Metadata, Subscriber};

/// The least severe level written.
const MAX_LEVEL: Level = Level::INFO;

/// Installs the stderr subscriber once per instance (later calls do nothing).
pub fn init() {
    let _ = tracing::subscriber::set_global_default(Lines(write_to_stderr));
}

fn write_to_stderr(line: &str) {
    // Nothing useful can be done when stderr is gone; the request goes on.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The lines written by the events `run` emits on this thread (for tests).
#[cfg(test)]
pub(crate) fn capture(run: impl FnOnce()) -> Vec<String> {
    use std::sync::{Arc, Mutex};
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let subscriber = Lines(move |line: &str| {
        if let Ok(mut lines) = sink.lock() {
            lines.push(line.to_owned());
        }
    });
    tracing::subscriber::with_default(subscriber, run);
    lines.lock().map(|lines| lines.clone()).unwrap_or_default()
}

/// A duration in milliseconds with one decimal (`0.8`, `12.0`), for `latency_ms` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub std::time::Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rounded to the nearest tenth of a millisecond (100 µs).
        let tenths = (self.0.as_micros() + 50) / 100;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

/// Hands each event, as one line, to its function; spans are accepted and ignored.
struct Lines<W>(W);

impl<W: Fn(&str) + Send + Sync + 'static> Subscriber for Lines<W> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= MAX_LEVEL
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(MAX_LEVEL))
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(String::with_capacity(160));
        line.0.push_str(event.metadata().level().as_str());
        event.record(&mut line);
        line.0.push('\n');
        (self.0)(&line.0);
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}

/// An event's fields, appended to its line: the message, then the others as
/// `name=value` (text as written, everything else in its `Debug` form), each escaped.
struct Line(String);

impl Line {
    fn push_field(&mut self, field: &Field, value: &str) {
        self.0.push(' ');
        let name = field.name();
        if name != "message" {
            escape_into(&mut self.0, name);
            self.0.push('=');
        }
        escape_into(&mut self.0, value);
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        // Writing into a `String` cannot fail.
        let _ = write!(text, "{value:?}");
        self.push_field(field, &text);
    }
}

/// Appends `text` to `out` with every character that could end, split or forge a line
/// escaped: `\n`, `\r`, `\t`, `\"` and `\\` by name, any other control character (C0,
/// DEL, C1) and the Unicode line and paragraph separators as `\u{…}`.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                // Writing into a `String` cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn one_line_per_event_with_its_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let subscriber = Lines(move |line: &str| {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line.to_owned());
            }
        });
        tracing::subscriber::with_default(subscriber, || {
            let user = "u1";
            let status: Option<u16> = Some(429);
            tracing::warn!(platform = "demo", %user, ?status, latency_ms = 12_u64, "refused");
            tracing::debug!(platform = "demo", "not written");
        });
        let lines = lines.lock().expect("lines").clone();
        assert_eq!(
            lines,
            ["WARN refused platform=demo user=u1 status=Some(429) latency_ms=12\n"]
        );
    }

    #[test]
    fn millis_have_one_decimal() {
        use std::time::Duration;
        let cases = [
            (Duration::from_nanos(824_795), "0.8"),
            (Duration::from_micros(12_000), "12.0"),
            (Duration::from_micros(1_049), "1.0"),
            (Duration::from_micros(1_950), "2.0"),
            (Duration::ZERO, "0.0"),
        ];
        for (duration, text) in cases {
            assert_eq!(Millis(duration).to_string(), text, "{duration:?}");
        }
        let lines = capture(|| {
            let latency_ms = Millis(Duration::from_nanos(824_795));
            tracing::info!(%latency_ms, "upstream call");
        });
        assert_eq!(lines, ["INFO upstream call latency_ms=0.8\n"]);
    }

    #[test]
    fn values_cannot_break_or_forge_a_line() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let subscriber = Lines(move |line: &str| {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line.to_owned());
            }
        });
        tracing::subscriber::with_default(subscriber, || {
            let forged = "x\nERROR forged platform=admin\r\t\"q\" \\ \u{7}\u{85}\u{2028}";
            tracing::warn!(reason = %forged, detail = forged, "callback failed");
            tracing::warn!("{forged}");
        });
        let lines = lines.lock().expect("lines").clone();
        let escaped = r#"x\nERROR forged platform=admin\r\t\"q\" \\ \u{7}\u{85}\u{2028}"#;
        assert_eq!(
            lines,
            [
                format!("WARN callback failed reason={escaped} detail={escaped}\n"),
                format!("WARN {escaped}\n"),
            ]
        );
        for line in &lines {
            assert_eq!(line.matches('\n').count(), 1, "{line}");
        }
    }
}
