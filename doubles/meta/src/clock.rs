//! The doubles' clock: a frozen instant in Unix seconds that moves only when a test says so.
//!
//! Everything that expires in the doubles (authorization codes, short-lived and long-lived
//! tokens, the Threads "at least 24 hours old" refresh rule) reads this clock, so a test can
//! jump over an hour or sixty days without sleeping. One [`Clock`] can be shared by the
//! Meta and the Threads double ([`crate::MetaDouble::start_with_clock`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::lock;

/// A controllable clock shared by the doubles; cloning gives another handle to the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    now: Arc<Mutex<i64>>,
}

impl Clock {
    /// A clock frozen at the current wall-clock second.
    pub fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self::starting_at(i64::try_from(now).unwrap_or(i64::MAX))
    }

    /// A clock frozen at `unix_seconds`.
    pub fn starting_at(unix_seconds: i64) -> Self {
        Self {
            now: Arc::new(Mutex::new(unix_seconds)),
        }
    }

    /// The current time of the doubles, in Unix seconds.
    pub fn now(&self) -> i64 {
        *lock(&self.now)
    }

    /// Moves the clock forward by `by` (whole seconds; sub-second parts are dropped).
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        let mut now = lock(&self.now);
        *now = now.saturating_add(secs);
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Formats Unix seconds the way Meta's expiry messages do, e.g.
/// `Tuesday, 02-Sep-26 10:00:00 UTC` (Meta uses Pacific time; the double says UTC).
pub(crate) fn meta_date(unix: i64) -> String {
    const WEEKDAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02}-{month_name}-{:02} {:02}:{:02}:{:02} UTC",
        year.rem_euclid(100),
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month 1-12, day 1-31) proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_every_handle() {
        let clock = Clock::starting_at(1_000);
        let other = clock.clone();
        clock.advance(Duration::from_secs(3_600));
        assert_eq!(other.now(), 4_600);
    }

    #[test]
    fn dates_are_formatted_like_meta_messages() {
        assert_eq!(meta_date(0), "Thursday, 01-Jan-70 00:00:00 UTC");
        // 2026-09-01 12:34:56 UTC was a Tuesday.
        assert_eq!(meta_date(1_788_266_096), "Tuesday, 01-Sep-26 12:34:56 UTC");
        // 2024-02-29 (a leap day), a Thursday.
        assert_eq!(meta_date(1_709_164_800), "Thursday, 29-Feb-24 00:00:00 UTC");
    }
}
