//! Points in time, as whole seconds since the Unix epoch, shown as RFC 3339.
//!
//! `std::time::SystemTime` works on `wasm32-wasip2` (it reads `wasi:clocks/wall-clock`);
//! the [`Clock`] trait lets tests choose the time instead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time with second precision. Serializes as an RFC 3339 string
/// (`2026-08-20T12:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The timestamp `seconds` after the Unix epoch.
    pub const fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This timestamp plus `seconds` (saturating).
    pub const fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds))
    }

    /// The longest lifetime an upstream may give a credential (one year): a longer
    /// `expires_in` is taken as this, so a wild answer cannot push an expiry out of range.
    pub const MAX_LIFETIME_SECONDS: i64 = 365 * 24 * 60 * 60;

    /// When a credential received at `self` and valid for `seconds` expires: `seconds` is
    /// clamped to `0..=`[`Timestamp::MAX_LIFETIME_SECONDS`].
    pub const fn plus_lifetime(self, seconds: i64) -> Self {
        let seconds = if seconds < 0 {
            0
        } else if seconds > Self::MAX_LIFETIME_SECONDS {
            Self::MAX_LIFETIME_SECONDS
        } else {
            seconds
        };
        self.plus_seconds(seconds)
    }

    /// Seconds from `self` until `later` (negative when `later` is earlier).
    pub const fn seconds_until(self, later: Timestamp) -> i64 {
        later.0.saturating_sub(self.0)
    }

    /// The latest time shown: `9999-12-31T23:59:59Z`, the last second RFC 3339's four-digit
    /// year can write.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799);

    /// The time as RFC 3339 in UTC, e.g. `2026-08-20T12:00:00Z`. Total: a time before the
    /// Unix epoch is shown as the epoch and one after [`Timestamp::LATEST`] as that.
    pub fn to_rfc3339(self) -> String {
        let seconds = self.0.clamp(0, Self::LATEST.0).unsigned_abs();
        let time = UNIX_EPOCH + Duration::from_secs(seconds);
        humantime::format_rfc3339_seconds(time).to_string()
    }

    /// Parses an RFC 3339 / ISO 8601 UTC timestamp (`Z`, optional fraction, which is
    /// dropped), as found in stored records and in Mastodon's `X-RateLimit-Reset`.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let time = humantime::parse_rfc3339_weak(text.trim()).ok()?;
        let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
        i64::try_from(seconds).ok().map(Self)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 timestamp"))
    }
}

/// Where "now" comes from.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
    }
}

/// A clock that shows a time the test sets (shared between clones).
#[derive(Debug, Clone, Default)]
pub struct FixedClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl FixedClock {
    /// A clock showing `now`.
    pub fn at(now: Timestamp) -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(
            now.unix(),
        )))
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_rfc3339() {
        let t = Timestamp::from_unix(1_787_227_200);
        assert_eq!(t.to_rfc3339(), "2026-08-20T12:00:00Z");
        assert_eq!(Timestamp::parse_rfc3339("2026-08-20T12:00:00Z"), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2026-08-20T12:00:00.034133Z"),
            Some(t)
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formatting_is_total() {
        assert_eq!(
            Timestamp::from_unix(i64::MAX).to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(Timestamp::LATEST.to_rfc3339(), "9999-12-31T23:59:59Z");
        assert_eq!(
            Timestamp::from_unix(i64::MIN).to_rfc3339(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            serde_json::to_string(&Timestamp::from_unix(-1)).expect("serializes"),
            "\"1970-01-01T00:00:00Z\""
        );
    }

    #[test]
    fn lifetimes_are_clamped_to_a_year() {
        let t = Timestamp::from_unix(1_000);
        assert_eq!(t.plus_lifetime(3600), Timestamp::from_unix(4_600));
        assert_eq!(
            t.plus_lifetime(i64::MAX),
            Timestamp::from_unix(1_000 + Timestamp::MAX_LIFETIME_SECONDS)
        );
        assert_eq!(t.plus_lifetime(-5), t);
    }

    #[test]
    fn serde_uses_rfc3339() {
        let t = Timestamp::from_unix(0);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"1970-01-01T00:00:00Z\""
        );
        let back: Timestamp = serde_json::from_str("\"1970-01-01T00:00:00Z\"").unwrap();
        assert_eq!(back, t);
    }
}
