//! A failed call is logged once, as one JSON line at the level of its status class, with the
//! method, code, reason and request id, and without the e-mail address of the request.
//!
//! This file is its own test binary, so the JSON subscriber installed here captures the log
//! lines of the services that the test starts.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use leadflow_proto::activity::{GetLeadRequest, LeadKey, UpsertLeadRequest, lead_key};
use leadflow_tests::{Suite, backends};
use serde_json::Value;
use tonic::metadata::MetadataValue;
use tracing_subscriber::fmt::MakeWriter;

const EMAIL: &str = "hidden.person@example.ro";

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Write for Captured {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        self.bytes.lock().expect("log buffer").extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.bytes.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("log line is not JSON ({error}): {line}")))
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().expect("log buffer")).into_owned()
    }
}

/// Installs a JSON subscriber at info level that writes into memory, once per process.
fn capture() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_env_filter("info,sqlx=warn,sea_orm=warn,h2=warn,tower=warn")
                .with_writer(captured.clone())
                .init();
            captured
        })
        .clone()
}

fn with_request_id<T>(message: T, request_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("x-request-id", MetadataValue::try_from(request_id).expect("metadata"));
    request
}

/// Returns the log lines whose `request_id` field is `request_id`.
fn lines_of(lines: &[Value], request_id: &str) -> Vec<Value> {
    lines.iter().filter(|line| line["request_id"] == request_id).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_call_logs_one_line() {
    let captured = capture();

    for backend in backends() {
        eprintln!("running on {backend}");
        let backend_name = backend.to_string();
        let mut suite = Suite::start(backend).await;

        let invalid_id = format!("invalid-email-{backend_name}");
        let request = UpsertLeadRequest { email: format!("{EMAIL} is not an address"), ..UpsertLeadRequest::default() };
        let error = suite.activity.upsert_lead(with_request_id(request, &invalid_id)).await.expect_err("invalid e-mail");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);

        let missing_id = format!("missing-lead-{backend_name}");
        let key = LeadKey { key: Some(lead_key::Key::Email(EMAIL.to_owned())) };
        let request = GetLeadRequest { lead: Some(key) };
        let error = suite.activity.get_lead(with_request_id(request, &missing_id)).await.expect_err("unknown lead");
        assert_eq!(error.code(), tonic::Code::NotFound);

        suite.stop().await;

        let lines = captured.lines();
        let invalid = lines_of(&lines, &invalid_id);
        assert_eq!(invalid.len(), 1, "one line for the invalid request: {invalid:?}");
        assert_eq!(invalid[0]["level"], "INFO");
        assert_eq!(invalid[0]["rpc"], "leadflow.activity.v1.ActivityService/UpsertLead");
        assert_eq!(invalid[0]["code"], "InvalidArgument");
        assert_eq!(invalid[0]["reason"], "INVALID_ARGUMENT");

        let missing = lines_of(&lines, &missing_id);
        assert_eq!(missing.len(), 1, "one line for the unknown lead: {missing:?}");
        assert_eq!(missing[0]["level"], "INFO");
        assert_eq!(missing[0]["code"], "NotFound");
        assert_eq!(missing[0]["reason"], "LEAD_NOT_FOUND");
    }

    assert!(!captured.text().contains(EMAIL), "no log line carries the e-mail address");
}

#[test]
fn levels_follow_status_class() {
    use leadflow_kit::telemetry::logs::error_level;
    use tonic::Code;
    use tracing::Level;

    for code in [
        Code::InvalidArgument,
        Code::NotFound,
        Code::FailedPrecondition,
        Code::AlreadyExists,
        Code::Unauthenticated,
        Code::PermissionDenied,
        Code::ResourceExhausted,
    ] {
        assert_eq!(error_level(code), Level::INFO, "{code:?} is a caller mistake");
    }
    for code in [Code::Internal, Code::Unavailable, Code::DataLoss, Code::Unknown] {
        assert_eq!(error_level(code), Level::ERROR, "{code:?} is a server fault");
    }
}
