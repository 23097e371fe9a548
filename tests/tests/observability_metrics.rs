//! The admin port of each service serves Prometheus metrics: per-call counters and duration
//! histograms by method and status code, the outbox backlog, and the MQL and SQL counters.

use std::net::SocketAddr;

use leadflow_proto::activity::{GetLeadRequest, LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::{AcceptLeadRequest, Bant, Budget, ListQueueRequest};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Backend, Suite, SuiteOptions, backends, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACTIVITY: &str = "leadflow.activity.v1.ActivityService";

/// Returns three loopback addresses that were free a moment ago.
async fn free_addresses() -> [SocketAddr; 3] {
    let mut addresses = Vec::new();
    for _ in 0..3 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        addresses.push(listener.local_addr().expect("local address"));
    }
    addresses.try_into().expect("three addresses")
}

/// Fetches `/metrics` from an admin port with a plain HTTP/1.1 request.
async fn scrape(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect to the admin port");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read response");

    assert!(response.starts_with("HTTP/1.1 200"), "scrape failed: {response}");
    assert!(response.to_ascii_lowercase().contains("content-type: application/openmetrics-text"), "{response}");
    response
}

/// Returns the value of the sample written exactly as `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

fn rpc_series(name: &str, service: &str, method: &str, code: u8) -> String {
    format!(r#"{name}{{rpc_system="grpc",rpc_service="{service}",rpc_method="{method}",rpc_grpc_status_code="{code}"}}"#)
}

fn track(lead_id: &str, kind: ActivityType) -> TrackActivityRequest {
    TrackActivityRequest {
        lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) }),
        r#type: kind as i32,
        properties: [("url".to_owned(), "/pricing".to_owned())].into(),
        ..TrackActivityRequest::default()
    }
}

async fn start_observed_suite(backend: Backend, admin: [SocketAddr; 3]) -> Suite {
    let options = SuiteOptions {
        configure: Some(Box::new(move |index, config| config.telemetry.admin_listen = Some(admin[index]))),
        ..SuiteOptions::default()
    };
    Suite::start_with(backend, options).await
}

async fn metrics_after_calls(backend: Backend) {
    let admin = free_addresses().await;
    let mut suite = start_observed_suite(backend, admin).await;

    let lead_id = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: "metrics@example.ro".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect("lead created")
        .into_inner()
        .lead
        .expect("lead in response")
        .lead_id;
    for kind in [ActivityType::PageView, ActivityType::ContentDownload, ActivityType::DemoRequest] {
        suite.activity.track_activity(track(&lead_id, kind)).await.expect("activity tracked");
    }
    let missing = LeadKey { key: Some(lead_key::Key::LeadId(uuid::Uuid::now_v7().to_string())) };
    for _ in 0..2 {
        let error = suite.activity.get_lead(GetLeadRequest { lead: Some(missing.clone()) }).await.expect_err("unknown lead");
        assert_eq!(error.code(), tonic::Code::NotFound);
    }
    let invalid = suite.activity.track_activity(track("not-a-lead-id", ActivityType::PageView)).await.expect_err("invalid");
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);

    let qualification = suite.qualification.clone();
    eventually("the lead in the MQL queue", || {
        let mut client = qualification.clone();
        let lead_id = lead_id.clone();
        async move {
            let queue = client.list_queue(ListQueueRequest::default()).await.ok()?.into_inner();
            queue.qualifications.into_iter().find(|entry| entry.lead_id == lead_id)
        }
    })
    .await;
    let bant = Bant {
        budget: Some(Budget { amount_minor: 1_500_000, currency: "EUR".to_owned(), confirmed: false }),
        authority_role: "CTO".to_owned(),
        need: "Route inbound leads".to_owned(),
        timeframe: "2027-Q1".to_owned(),
    };
    suite
        .qualification
        .accept_lead(AcceptLeadRequest { lead_id: lead_id.clone(), bant: Some(bant), ..AcceptLeadRequest::default() })
        .await
        .expect("accepted");

    let activity = scrape(admin[0]).await;
    let upserts = sample(&activity, &rpc_series("rpc_server_requests_total", ACTIVITY, "UpsertLead", 0));
    assert_eq!(upserts, Some(1.0), "{activity}");
    let tracked = sample(&activity, &rpc_series("rpc_server_requests_total", ACTIVITY, "TrackActivity", 0));
    assert_eq!(tracked, Some(3.0));
    let not_found = sample(&activity, &rpc_series("rpc_server_requests_total", ACTIVITY, "GetLead", 5));
    assert_eq!(not_found, Some(2.0));
    let not_found_errors = sample(&activity, &rpc_series("rpc_server_errors_total", ACTIVITY, "GetLead", 5));
    assert_eq!(not_found_errors, Some(2.0));
    let invalid_errors = sample(&activity, &rpc_series("rpc_server_errors_total", ACTIVITY, "TrackActivity", 3));
    assert_eq!(invalid_errors, Some(1.0));
    assert_eq!(sample(&activity, &rpc_series("rpc_server_errors_total", ACTIVITY, "TrackActivity", 0)), None, "OK is no error");

    let duration_count = sample(&activity, &rpc_series("rpc_server_duration_seconds_count", ACTIVITY, "TrackActivity", 0));
    assert_eq!(duration_count, Some(3.0));
    let infinite_bucket = format!(
        r#"rpc_server_duration_seconds_bucket{{le="+Inf",rpc_system="grpc",rpc_service="{ACTIVITY}",rpc_method="TrackActivity",rpc_grpc_status_code="0"}}"#
    );
    assert_eq!(sample(&activity, &infinite_bucket), Some(3.0), "{activity}");

    let activity_admin = admin[0];
    let backlog = eventually("the activity outbox backlog back at 0", || async move {
        let text = scrape(activity_admin).await;
        let pending = sample(&text, r#"leadflow_outbox_pending_rows{destination="scoring"}"#)?;
        (pending == 0.0).then_some(text)
    })
    .await;
    assert_eq!(sample(&backlog, r#"leadflow_outbox_oldest_pending_age_seconds{destination="scoring"}"#), Some(0.0));
    assert_eq!(sample(&backlog, r#"leadflow_outbox_parked_rows{destination="scoring"}"#), Some(0.0));
    assert_eq!(sample(&backlog, r#"leadflow_relay_retries_total{destination="scoring"}"#), None, "no delivery failed");

    let scoring = scrape(admin[1]).await;
    assert_eq!(sample(&scoring, "leadflow_mqls_created_total"), Some(1.0), "{scoring}");
    let delivered = sample(
        &scoring,
        &rpc_series("rpc_server_requests_total", "leadflow.scoring.v1.ScoringEventsService", "DeliverActivityEvents", 0),
    );
    assert!(delivered.is_some_and(|count| count >= 1.0), "{scoring}");

    let qualification = scrape(admin[2]).await;
    assert_eq!(sample(&qualification, "leadflow_sqls_created_total"), Some(1.0), "{qualification}");
    assert!(!qualification.contains("leadflow_mqls_created_total"), "each service has its own registry");
    let accepted = sample(
        &qualification,
        &rpc_series("rpc_server_requests_total", "leadflow.qualification.v1.QualificationService", "AcceptLead", 0),
    );
    assert_eq!(accepted, Some(1.0));

    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_port_serves_call_and_outbox_metrics() {
    for backend in backends() {
        eprintln!("running on {backend}");
        metrics_after_calls(backend).await;
    }
}
