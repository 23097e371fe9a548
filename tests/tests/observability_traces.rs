//! One trace follows a tracked activity from the client through activity, scoring and
//! qualification, exported over OTLP/gRPC to a collector that the test runs on port 0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::ListQueueRequest;
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Backend, Suite, SuiteOptions, backends, eventually, query_count};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::metadata::MetadataValue;

/// The client's own trace: its trace id and the span id of its call.
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const CLIENT_SPAN_ID: &str = "eee19b7ec3c1b174";
const EMAIL: &str = "traced.lead@example.ro";

/// One received span with the `service.name` of its resource.
#[derive(Clone, Debug)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

/// A minimal OTLP trace collector that keeps every span it receives.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut received = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans.resource.map(|resource| attributes(&resource.attributes)).unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    received.push(ReceivedSpan {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: attributes(&span.attributes),
                    });
                }
            }
        }
        self.spans.lock().expect("collector lock").extend(received);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Serves the collector on 127.0.0.1 port 0 and returns its URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind collector");
        let address = listener.local_addr().expect("collector address");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder().add_service(service).serve_with_incoming(TcpListenerStream::new(listener)),
        );
        format!("http://{address}")
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("collector lock").clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attributes(values: &[KeyValue]) -> HashMap<String, String> {
    values
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|value: &AnyValue| value.value.as_ref()) {
                Some(Value::StringValue(text)) => text.clone(),
                Some(Value::IntValue(number)) => number.to_string(),
                Some(Value::BoolValue(flag)) => flag.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

fn track(lead_id: &str, kind: ActivityType, property: (&str, &str)) -> TrackActivityRequest {
    TrackActivityRequest {
        lead: by_id(lead_id),
        r#type: kind as i32,
        properties: [(property.0.to_owned(), property.1.to_owned())].into(),
        ..TrackActivityRequest::default()
    }
}

async fn start_traced_suite(backend: Backend, endpoint: String) -> Suite {
    let options = SuiteOptions {
        configure: Some(Box::new(move |_, config| {
            config.telemetry.otlp_endpoint = endpoint.clone();
            config.telemetry.otlp_export_interval_ms = 100;
        })),
        ..SuiteOptions::default()
    };
    Suite::start_with(backend, options).await
}

/// Returns the one span of `service` named `name` in the client's trace.
fn find_span<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|span| span.trace_id == TRACE_ID && span.service == service && span.name == name)
}

async fn activity_to_sales_queue(backend: Backend) {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let mut suite = start_traced_suite(backend, endpoint).await;

    let lead = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: EMAIL.to_owned(), source: "google".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect("lead created")
        .into_inner()
        .lead
        .expect("lead in response");
    let lead_id = lead.lead_id;

    // The first two activities stay below the threshold. They are scored before the third is
    // tracked, so the MQL crossing happens in the batch of the traced activity alone.
    for request in [
        track(&lead_id, ActivityType::PageView, ("url", "/pricing")),
        track(&lead_id, ActivityType::ContentDownload, ("asset_id", "guide-lead-scoring")),
    ] {
        suite.activity.track_activity(request).await.expect("activity tracked");
    }
    let activity_db = suite.database_urls[0].clone();
    eventually("the first activities delivered to scoring", || {
        let activity_db = activity_db.clone();
        async move { (query_count(&activity_db, "SELECT COUNT(*) FROM outbox").await == 0).then_some(()) }
    })
    .await;

    let mut traced = tonic::Request::new(track(&lead_id, ActivityType::DemoRequest, ("url", "/demo")));
    let traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN_ID}-01");
    traced.metadata_mut().insert("traceparent", MetadataValue::try_from(traceparent.as_str()).expect("metadata"));
    suite.activity.track_activity(traced).await.expect("traced activity tracked");

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

    let spans = eventually("spans of all three services in the client's trace", || {
        let spans = collector.spans();
        async move {
            let complete = find_span(&spans, "leadflow-activity", "leadflow.activity.v1.ActivityService/TrackActivity").is_some()
                && find_span(&spans, "leadflow-scoring", "process scoring").is_some()
                && find_span(&spans, "leadflow-qualification", "process qualification").is_some();
            complete.then_some(spans)
        }
    })
    .await;

    let server = find_span(&spans, "leadflow-activity", "leadflow.activity.v1.ActivityService/TrackActivity").expect("server span");
    assert_eq!(server.parent_span_id, CLIENT_SPAN_ID, "the server span is a child of the client's span");
    assert_eq!(server.attributes.get("rpc.system").map(String::as_str), Some("grpc"));
    assert_eq!(server.attributes.get("rpc.service").map(String::as_str), Some("leadflow.activity.v1.ActivityService"));
    assert_eq!(server.attributes.get("rpc.method").map(String::as_str), Some("TrackActivity"));
    assert_eq!(server.attributes.get("rpc.grpc.status_code").map(String::as_str), Some("0"));

    let scoring = find_span(&spans, "leadflow-scoring", "process scoring").expect("scoring consumer span");
    assert_eq!(scoring.parent_span_id, server.span_id, "scoring processes the event that the server span wrote");
    assert_eq!(scoring.attributes.get("leadflow.lead_id"), Some(&lead_id));

    let qualification = spans
        .iter()
        .find(|span| {
            span.trace_id == TRACE_ID
                && span.service == "leadflow-qualification"
                && span.name == "process qualification"
                && span.parent_span_id == scoring.span_id
        })
        .expect("qualification processes the MQL event that the scoring span wrote");
    assert_eq!(qualification.attributes.get("leadflow.lead_id"), Some(&lead_id));

    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(!value.contains(EMAIL), "attribute {key} of span {} carries the e-mail address", span.name);
        }
    }

    suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trace_follows_activity_to_sales_queue() {
    for backend in backends() {
        eprintln!("running on {backend}");
        activity_to_sales_queue(backend).await;
    }
}
