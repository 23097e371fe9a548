//! Logging set-up and the log line of a failed call. Logs go to standard error as text or,
//! with `log_format = "json"`, as one JSON object per line, filtered by `RUST_LOG` (default
//! `info`).

use std::time::Duration;

use tonic::Code;
use tracing::Level;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing, so tests that start several
/// services in one process can call it freely.
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,h2=warn,tower=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);

    let result = if format.eq_ignore_ascii_case("json") {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // An error only means a subscriber is already installed.
    drop(result);
}

/// Log level of a failed call by its status class: caller mistakes at info, server faults
/// at error, and the codes in between (a passed deadline, a cancelled call) at warn.
pub fn error_level(code: Code) -> Level {
    match code {
        Code::Internal | Code::Unavailable | Code::DataLoss | Code::Unknown => Level::ERROR,
        Code::DeadlineExceeded => Level::WARN,
        _ => Level::INFO,
    }
}

/// Emits one event at a level chosen at run time; `tracing` macros need a constant level.
macro_rules! event_at {
    ($level:expr, $($rest:tt)+) => {
        match $level {
            Level::ERROR => tracing::error!($($rest)+),
            Level::WARN => tracing::warn!($($rest)+),
            _ => tracing::info!($($rest)+),
        }
    };
}

/// Logs the error that a handler returns, once, with the ids of the call. `rpc` is the
/// method name the handler knows; the full method of the call is logged when the layer set
/// it. `lead_id` is present when the error is about one lead.
pub(crate) fn log_call_error(rpc: &str, code: Code, reason: &str, lead_id: Option<&str>) {
    let ids = super::layer::current_request();
    super::layer::mark_error_logged();

    let method = ids.as_ref().map(|ids| &*ids.method).unwrap_or(rpc);
    let request_id = ids.as_ref().map(|ids| &*ids.request_id).unwrap_or_default();
    let trace_id = ids.as_ref().and_then(|ids| ids.trace_id.as_deref()).unwrap_or_default();
    let code_name = format!("{code:?}");
    let level = error_level(code);
    match lead_id {
        Some(lead_id) => event_at!(level, rpc = method, code = code_name, reason, request_id, trace_id, lead_id, "request failed"),
        None => event_at!(level, rpc = method, code = code_name, reason, request_id, trace_id, "request failed"),
    }
}

/// Logs a fault inside the service with the id that the caller receives. Inside a call it is
/// the call's one error line.
pub(crate) fn log_internal_error(error_id: &str, cause: &dyn std::fmt::Display) {
    let ids = super::layer::current_request();
    super::layer::mark_error_logged();

    match ids {
        Some(ids) => tracing::error!(
            rpc = &*ids.method,
            code = "Internal",
            reason = "INTERNAL",
            request_id = &*ids.request_id,
            trace_id = ids.trace_id.as_deref().unwrap_or_default(),
            error_id,
            error = %cause,
            "internal error"
        ),
        None => tracing::error!(error_id, error = %cause, "internal error"),
    }
}

/// Logs a failed call whose status no handler logged, such as a request that did not decode.
pub(crate) fn log_unhandled_status(ids: &super::layer::RequestIds, code: Code, message: &str, elapsed: Duration) {
    let code_name = format!("{code:?}");
    let elapsed_ms = elapsed.as_millis() as u64;
    let trace_id = ids.trace_id.as_deref().unwrap_or_default();
    let message = percent_decode(message);
    event_at!(
        error_level(code),
        rpc = &*ids.method,
        code = code_name,
        request_id = &*ids.request_id,
        trace_id,
        elapsed_ms,
        message = %message,
        "request failed"
    );
}

/// Decodes the percent-encoding of a `grpc-message` header; invalid sequences stay as sent.
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (bytes[index], hex.and_then(|pair| u8::from_str_radix(pair, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
