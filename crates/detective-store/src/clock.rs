//! Time as the database keeps it: milliseconds since the Unix epoch, UTC.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

use crate::StoreError;

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// An RFC 3339 time (any offset) as milliseconds since the epoch.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| StoreError::Invalid(format!("{s:?} is not an RFC 3339 time (e.g. 2026-11-24T08:00:00Z)")))
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds.
pub fn to_rfc3339(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => String::from("invalid-time"),
    }
}

/// `yyyy-mm-dd` (UTC) of a time, for object keys.
pub fn day_of(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => String::from("0000-00-00"),
    }
}

/// Start of the UTC day that contains `ms`.
pub fn start_of_day(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_milliseconds() {
        let ms = parse_rfc3339_ms("2026-11-24T08:00:00.250+01:00").unwrap();
        assert_eq!(to_rfc3339(ms), "2026-11-24T07:00:00.250Z");
        assert_eq!(day_of(ms), "2026-11-24");
        assert_eq!(to_rfc3339(start_of_day(ms)), "2026-11-24T00:00:00.000Z");
        assert!(parse_rfc3339_ms("24/11/2026").is_err());
    }
}
