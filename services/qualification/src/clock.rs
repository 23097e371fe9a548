//! The time a request acts at.
//!
//! Production requests act at the current time. End-to-end tests need states that change on
//! day 1, day 3 and day 40 of a scenario, so a test process may call
//! [`allow_time_override`] once; from then on a request with the metadata header
//! [`TIME_HEADER`] (an RFC 3339 instant) acts at that instant instead. Without that call the
//! header is ignored, so a client can never move a production service's clock.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use leadflow_kit::ApiError;
use leadflow_kit::time::truncate_to_micros;
use tonic::metadata::MetadataMap;

/// Request metadata header with the instant a request acts at, honoured only after
/// [`allow_time_override`].
pub const TIME_HEADER: &str = "leadflow-test-time";

static TIME_OVERRIDE_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Lets requests of every qualification service in this process choose their time with
/// [`TIME_HEADER`]. Only tests call this.
pub fn allow_time_override() {
    TIME_OVERRIDE_ALLOWED.store(true, Ordering::SeqCst);
}

/// Returns the instant a request acts at: the current time, or the [`TIME_HEADER`] value
/// when overrides are allowed. A malformed header value is INVALID_ARGUMENT.
pub fn request_time(metadata: &MetadataMap) -> Result<DateTime<Utc>, ApiError> {
    let now = leadflow_kit::time::now();
    if !TIME_OVERRIDE_ALLOWED.load(Ordering::SeqCst) {
        return Ok(now);
    }
    let Some(value) = metadata.get(TIME_HEADER) else {
        return Ok(now);
    };
    let text = value.to_str().unwrap_or_default();
    DateTime::parse_from_rfc3339(text).map(|instant| truncate_to_micros(instant.with_timezone(&Utc))).map_err(|_| {
        ApiError::invalid_field(
            TIME_HEADER,
            format!("{text:?} is not an RFC 3339 instant; expected for example \"2026-01-10T09:00:00Z\""),
        )
    })
}
