//! Conversions between `google.protobuf.Timestamp` and UTC instants.

use chrono::{DateTime, TimeZone, Utc};
use prost_types::Timestamp;

/// Converts a protobuf timestamp to a UTC instant; `None` when it is out of chrono's range
/// or its nanoseconds are outside 0..1e9.
pub fn from_timestamp(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    // chrono reads nanoseconds from 1e9 up as a leap second, which protobuf does not allow.
    let nanos = u32::try_from(timestamp.nanos).ok().filter(|nanos| *nanos < 1_000_000_000)?;
    Utc.timestamp_opt(timestamp.seconds, nanos).single()
}

/// Converts a UTC instant to a protobuf timestamp.
pub fn to_timestamp(instant: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: instant.timestamp(),
        nanos: instant.timestamp_subsec_nanos() as i32,
    }
}

/// Returns the current instant truncated to microseconds, the precision both databases keep,
/// so a value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

/// Truncates an instant to whole microseconds.
pub fn truncate_to_micros(instant: DateTime<Utc>) -> DateTime<Utc> {
    let micros = instant.timestamp_micros();
    DateTime::from_timestamp_micros(micros).unwrap_or(instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trip_keeps_microseconds() {
        let instant = Utc.with_ymd_and_hms(2024, 5, 1, 7, 0, 0).unwrap()
            + chrono::Duration::microseconds(123_456);
        let back = from_timestamp(&to_timestamp(instant)).unwrap();
        assert_eq!(back, instant);
    }

    #[test]
    fn negative_nanos_are_rejected() {
        let timestamp = Timestamp { seconds: 1, nanos: -1 };
        assert_eq!(from_timestamp(&timestamp), None);
    }

    #[test]
    fn leap_second_nanos_are_rejected() {
        // 2026-12-05T09:59:59Z, where chrono would accept a leap second.
        let timestamp = Timestamp { seconds: 1_796_464_799, nanos: 1_500_000_000 };
        assert_eq!(from_timestamp(&timestamp), None);
        let last = Timestamp { seconds: 1_796_464_799, nanos: 999_999_999 };
        assert!(from_timestamp(&last).is_some());
    }
}
