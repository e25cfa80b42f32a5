//! The double's clock: real time plus an offset that tests move forward, and the
//! timestamp formats Mastodon writes.
//!
//! Code expiry (10 minutes) and the rate-limit window are measured on this clock, so a test
//! can let a code expire with [`crate::MastodonDouble::advance_clock`] instead of sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Real time shifted by however far the tests have moved it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    offset: Duration,
}

impl Clock {
    /// The double's "now".
    pub(crate) fn now(&self) -> SystemTime {
        SystemTime::now() + self.offset
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.offset += by;
    }
}

/// Whole seconds since the Unix epoch (0 for times before it, which the double never makes).
pub(crate) fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `2026-08-20T12:35:00.000000Z`: the `X-RateLimit-Reset` format (Ruby `iso8601(6)`).
pub(crate) fn iso8601_micros(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}.{:06}Z",
        date_time(since.as_secs()),
        since.subsec_micros()
    )
}

/// `2026-08-20T12:35:00.123Z`: the format of `created_at` in Mastodon entities.
pub(crate) fn iso8601_millis(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}.{:03}Z",
        date_time(since.as_secs()),
        since.subsec_millis()
    )
}

/// Rounds down to midnight UTC, as Mastodon does for an account's `created_at`.
pub(crate) fn start_of_day(at: SystemTime) -> SystemTime {
    let days = unix_seconds(at) / 86_400;
    UNIX_EPOCH + Duration::from_secs(days * 86_400)
}

fn date_time(secs: u64) -> String {
    let (year, month, day) = civil_date(secs / 86_400);
    let rest = secs % 86_400;
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (days-to-civil, computed
/// through 400-year eras that start on 0000-03-01).
fn civil_date(days_since_epoch: u64) -> (u64, u64, u64) {
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
    }

    // Expected strings from `date -u -d @<secs> +%Y-%m-%dT%H:%M:%S`.
    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601_micros(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            iso8601_micros(at(1_787_229_300, 0)),
            "2026-08-20T12:35:00.000000Z"
        );
        assert_eq!(
            iso8601_micros(at(951_782_400, 42)),
            "2000-02-29T00:00:00.000042Z"
        );
        assert_eq!(
            iso8601_millis(at(1_709_251_199, 999_999)),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            iso8601_millis(at(4_107_542_400, 0)),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(
            iso8601_millis(at(1_735_689_599, 0)),
            "2024-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn start_of_day_truncates_to_midnight() {
        assert_eq!(
            iso8601_millis(start_of_day(at(1_787_229_300, 5))),
            "2026-08-20T00:00:00.000Z"
        );
    }

    #[test]
    fn advancing_moves_now_forward() {
        let mut clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(601));
        let moved = clock.now().duration_since(before).unwrap_or_default();
        assert!(moved >= Duration::from_secs(601));
    }
}
