//! Calls under stress: deadlines, retries after a timeout, graceful shutdown with calls in
//! flight, an import of duplicates, a peer that sends garbage, and corrupted error details.

use std::time::{Duration, Instant};

use leadflow_kit::faults::DelayPoint;
use leadflow_kit::outbox::entity::outbox;
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{
    ImportRecord, ImportRecordsRequest, ImportedActivity, LeadKey, ListActivitiesRequest, TrackActivityRequest,
    TrackActivityResponse, UpsertLeadRequest, lead_key,
};
use leadflow_proto::scoring::{GetLeadScoreRequest, LeadScore};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, eventually, on_every_backend};
use sea_orm::{EntityTrait, QueryOrder};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

async fn create_lead(suite: &mut Suite, email: &str) -> String {
    let request = UpsertLeadRequest { email: email.to_owned(), ..UpsertLeadRequest::default() };
    suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id
}

fn page_view(lead_id: &str, key: &str) -> TrackActivityRequest {
    TrackActivityRequest {
        lead: by_id(lead_id),
        r#type: ActivityType::PageView as i32,
        idempotency_key: key.to_owned(),
        ..TrackActivityRequest::default()
    }
}

async fn track_with_deadline(
    client: &mut ActivityServiceClient<tonic::transport::Channel>,
    request: TrackActivityRequest,
    deadline: Duration,
) -> Result<TrackActivityResponse, tonic::Status> {
    let mut request = tonic::Request::new(request);
    request.set_timeout(deadline);
    client.track_activity(request).await.map(tonic::Response::into_inner)
}

/// Returns true for DEADLINE_EXCEEDED from the server, and for the CANCELLED "Timeout
/// expired" that a tonic 0.14 client returns when its own copy of the deadline fires first.
/// Which of the two a caller sees depends on which timer wins the race.
fn is_deadline_exceeded(status: &tonic::Status) -> bool {
    if status.code() == Code::DeadlineExceeded {
        return true;
    }
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return status.code() == Code::Cancelled;
        }
        source = error.source();
    }
    false
}

async fn score_when(suite: &Suite, lead_id: &str, what: &str, ready: impl Fn(&LeadScore) -> bool) -> LeadScore {
    let scoring = suite.scoring.clone();
    eventually(what, || {
        let mut client = scoring.clone();
        let lead_id = lead_id.to_owned();
        let ready = &ready;
        async move {
            let score = client.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?.into_inner().score?;
            ready(&score).then_some(score)
        }
    })
    .await
}

async fn stored_activities(suite: &mut Suite, lead_id: &str) -> Vec<leadflow_proto::activity::Activity> {
    let request = ListActivitiesRequest { lead: by_id(lead_id), page_size: 1000, page_token: String::new() };
    suite.activity.list_activities(request).await.expect("list").into_inner().activities
}

/// Tracks a page view with a 200 ms deadline while the handler is delayed by 1 s at `point`,
/// then retries with the same idempotency key and checks that the lead was scored once.
async fn retry_after_deadline(suite: &mut Suite, point: DelayPoint, email: &str) {
    let lead_id = create_lead(suite, email).await;
    let request = page_view(&lead_id, &format!("deadline-{email}"));

    suite.activity_faults.set_delay("TrackActivity", Duration::from_secs(1), point);
    let started = Instant::now();
    let status = track_with_deadline(&mut suite.activity, request.clone(), Duration::from_millis(200))
        .await
        .expect_err("the call outlives its deadline");
    let elapsed = started.elapsed();
    suite.activity_faults.clear();

    assert!(is_deadline_exceeded(&status), "expected DEADLINE_EXCEEDED: {status:?}");
    assert!(elapsed < Duration::from_millis(400), "DEADLINE_EXCEEDED after {elapsed:?}, expected about 200 ms");

    // The cut-off call may still be finishing its delay; the retry must not depend on it.
    let retry = track_with_deadline(&mut suite.activity, request.clone(), Duration::from_secs(5))
        .await
        .expect("the retry succeeds");
    let retried_id = retry.activity.expect("activity").activity_id;
    match point {
        DelayPoint::BeforeHandler => assert!(retry.created, "the first attempt never reached the handler"),
        DelayPoint::AfterHandler => assert!(!retry.created, "the first attempt had committed"),
    }

    let again = track_with_deadline(&mut suite.activity, request, Duration::from_secs(5)).await.expect("second retry");
    assert_eq!(again.activity.expect("activity").activity_id, retried_id, "every retry returns the same activity");

    let stored = stored_activities(suite, &lead_id).await;
    assert_eq!(stored.len(), 1, "one activity stored");
    assert_eq!(stored[0].activity_id, retried_id);

    let score = score_when(suite, &lead_id, "the page view scored", |score| score.ledger_entries >= 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = score_when(suite, &lead_id, "the score to settle", |_| true).await;
    assert_eq!(settled.ledger_entries, 1, "scored once");
    assert_eq!(settled.score, score.score, "the score rose once");
}

async fn deadline_then_retry(mut suite: Suite) -> Suite {
    retry_after_deadline(&mut suite, DelayPoint::BeforeHandler, "before@example.ro").await;
    retry_after_deadline(&mut suite, DelayPoint::AfterHandler, "after@example.ro").await;
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deadline_retry_counts_once() {
    on_every_backend(deadline_then_retry).await;
}

async fn shutdown_with_calls_in_flight(mut suite: Suite) -> Suite {
    let lead_id = create_lead(&mut suite, "drain@example.ro").await;
    let grace = suite.config(0).shutdown_timeout();

    // An idle server-streaming call stays open across the shutdown.
    let mut health = HealthClient::new(suite.channel(0));
    let watch_request = tonic_health::pb::HealthCheckRequest { service: String::new() };
    let mut watch = health.watch(watch_request).await.expect("watch").into_inner();
    let first = watch.message().await.expect("watch message").expect("status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    suite.activity_faults.set_delay("TrackActivity", Duration::from_secs(1), DelayPoint::BeforeHandler);
    let mut calls = Vec::new();
    for index in 0..20 {
        let mut client = suite.activity.clone();
        let request = page_view(&lead_id, &format!("drain-{index}"));
        calls.push(tokio::spawn(async move { client.track_activity(request).await }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let shutdown_started = Instant::now();
    let task = suite.begin_shutdown(0);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut late_client = ActivityServiceClient::new(suite.channel(0));
    let late = track_with_deadline(&mut late_client, page_view(&lead_id, "drain-late"), Duration::from_secs(2))
        .await
        .expect_err("new call during drain");
    assert_eq!(late.code(), Code::Unavailable, "{late:?}");

    for call in calls {
        let response = call.await.expect("client task").expect("every in-flight call completes");
        assert!(response.into_inner().created);
    }
    suite.activity_faults.clear();

    let next = tokio::time::timeout(Duration::from_secs(2), watch.message()).await;
    if let Ok(Ok(Some(update))) = next {
        assert_eq!(update.status, ServingStatus::NotServing as i32, "the open watch saw NOT_SERVING");
    }

    let result = tokio::time::timeout(grace + Duration::from_secs(1), task).await;
    let exited_after = shutdown_started.elapsed();
    result.expect("the service exited within grace + 1 s").expect("task joined").expect("clean exit");
    assert!(exited_after <= grace + Duration::from_secs(1), "exited after {exited_after:?}");
    drop(watch);

    suite.start_service(0).await;
    let stored = stored_activities(&mut suite, &lead_id).await;
    assert_eq!(stored.len(), 20, "all twenty in-flight calls are stored, the rejected one is not");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_drains_in_flight_calls() {
    on_every_backend(shutdown_with_calls_in_flight).await;
}

fn imported_page_view(key: String) -> ImportedActivity {
    ImportedActivity {
        r#type: ActivityType::PageView as i32,
        occurred_at: Some(prost_types::Timestamp { seconds: 1_714_546_800, nanos: 0 }),
        properties: Default::default(),
        idempotency_key: key,
    }
}

async fn import_of_duplicates(mut suite: Suite) -> Suite {
    // 100 records of one activity each, then one record of 100 activities.
    let per_record: Vec<ImportRecord> = (0..100)
        .map(|index| ImportRecord {
            line: index + 2,
            lead: Some(UpsertLeadRequest { external_id: format!("crm-{index}"), ..UpsertLeadRequest::default() }),
            activities: vec![imported_page_view(format!("import-{index}"))],
            outcome: 0,
        })
        .collect();
    let one_record = vec![ImportRecord {
        line: 2,
        lead: Some(UpsertLeadRequest { external_id: "crm-bulk".to_owned(), ..UpsertLeadRequest::default() }),
        activities: (0..100).map(|index| imported_page_view(format!("bulk-{index}"))).collect(),
        outcome: 0,
    }];

    for records in [per_record, one_record] {
        let request = ImportRecordsRequest { records, request_id: String::new() };
        let first = suite.activity.import_records(request.clone()).await.expect("first import").into_inner();
        let created: i32 = first.results.iter().map(|result| result.activities_created).sum();
        assert_eq!(created, 100);

        let again = suite.activity.import_records(request).await.expect("duplicates import OK, never INTERNAL").into_inner();
        let created: i32 = again.results.iter().map(|result| result.activities_created).sum();
        let duplicates: i32 = again.results.iter().map(|result| result.activities_duplicate).sum();
        assert_eq!(created, 0, "nothing new inserted");
        assert_eq!(duplicates, 100, "every activity recognised as a duplicate");
        let errors: Vec<&str> = again.results.iter().map(|result| result.error.as_str()).filter(|error| !error.is_empty()).collect();
        assert!(errors.is_empty(), "no record failed: {errors:?}");
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_of_duplicates_inserts_nothing() {
    on_every_backend(import_of_duplicates).await;
}

/// Accepts TCP connections on loopback and writes bytes that are not HTTP/2 to each,
/// then closes it. Returns the address and the number of connections served so far.
async fn garbage_peer() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        // Bounded: the test needs a handful of connections.
        for _ in 0..10_000 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n\xff\xfe\x00garbage").await;
            let _ = socket.shutdown().await;
        }
    });
    (address, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_peer_does_not_stop_service() {
    let (peer, connections) = garbage_peer().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let database_url = format!("sqlite://{}", dir.path().join("activity.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let config = leadflow_kit::config::ServiceConfig {
        listen: address,
        database_url: database_url.clone(),
        scoring_url: format!("http://{peer}"),
        relay: leadflow_kit::config::RelaySettings {
            initial_backoff_ms: 20,
            max_backoff_ms: 200,
            call_timeout_ms: 1000,
            ..Default::default()
        },
        ..leadflow_kit::config::ServiceConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(leadflow_activity::run(config, listener, async {
        let _ = stopped.await;
    }));

    let channel = tonic::transport::Channel::from_shared(format!("http://{address}")).unwrap().connect_lazy();
    let mut client = ActivityServiceClient::new(channel);
    let lead_id = eventually("the activity service to serve", || {
        let mut client = client.clone();
        async move {
            let request = UpsertLeadRequest { email: "garbage@example.ro".to_owned(), ..UpsertLeadRequest::default() };
            Some(client.upsert_lead(request).await.ok()?.into_inner().lead?.lead_id)
        }
    })
    .await;

    for index in 0..20 {
        let response = client.track_activity(page_view(&lead_id, &format!("garbage-{index}"))).await;
        response.expect("the service keeps answering while its peer sends garbage");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    eventually("the relay to retry against the garbage peer", || {
        let connections = connections.clone();
        async move { (connections.load(std::sync::atomic::Ordering::SeqCst) >= 2).then_some(()) }
    })
    .await;

    let db = leadflow_kit::db::connect(&database_url).await.expect("read the outbox");
    let rows = outbox::Entity::find().order_by_asc(outbox::Column::Seq).all(&db).await.expect("rows");
    assert_eq!(rows.len(), 21, "the lead and its 20 activities wait in the outbox");
    let parked: Vec<&str> = rows.iter().filter(|row| row.failed_at.is_some()).filter_map(|row| row.last_error.as_deref()).collect();
    assert!(parked.is_empty(), "a broken peer parks nothing, but these were parked: {parked:?}");
    let first = &rows[0];
    assert!(first.attempts >= 1, "failed attempts are counted");
    assert!(first.last_error.is_some(), "the error of the last attempt is kept");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), service)
        .await
        .expect("service stopped")
        .expect("task joined")
        .expect("clean exit");
}

#[test]
fn corrupted_status_details_are_an_error() {
    let garbage = bytes_of(b"\x0a\xff\xff\xff\xff\x0f\x12\x03abc");
    let status = tonic::Status::with_details(Code::InvalidArgument, "invalid request", garbage);

    let checked = status.check_error_details();
    assert!(checked.is_err(), "corrupted details decode as an error");
    let lenient = status.get_error_details();
    assert!(lenient.bad_request().is_none(), "nothing is read from corrupted details");
    assert_eq!(status.message(), "invalid request");

    let truncated = tonic::Status::with_details(Code::Unavailable, "x", bytes_of(b"\x12"));
    assert!(truncated.check_error_details().is_err(), "truncated details decode as an error");
}

fn bytes_of(raw: &'static [u8]) -> tonic::codegen::Bytes {
    tonic::codegen::Bytes::from_static(raw)
}

async fn mixed_concurrent_writes(mut suite: Suite) -> Suite {
    let lead_id = create_lead(&mut suite, "busy@example.ro").await;
    let mut tasks: Vec<tokio::task::JoinHandle<Result<(), tonic::Status>>> = Vec::new();

    for task in 0..8 {
        let mut client = suite.activity.clone();
        let lead_id = lead_id.clone();
        tasks.push(tokio::spawn(async move {
            for index in 0..25 {
                client.track_activity(page_view(&lead_id, &format!("busy-{task}-{index}"))).await?;
            }
            Ok(())
        }));
    }
    for task in 0..4 {
        let mut client = suite.activity.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..5 {
                let records = (0..20)
                    .map(|index| ImportRecord {
                        line: index + 2,
                        lead: Some(UpsertLeadRequest {
                            external_id: format!("busy-crm-{task}-{batch}-{index}"),
                            ..UpsertLeadRequest::default()
                        }),
                        activities: vec![imported_page_view(format!("busy-import-{task}-{batch}-{index}"))],
                        outcome: 0,
                    })
                    .collect();
                client.import_records(ImportRecordsRequest { records, request_id: String::new() }).await?;
            }
            Ok(())
        }));
    }
    for task in 0..2 {
        let mut client = suite.activity.clone();
        tasks.push(tokio::spawn(async move {
            for index in 0..25 {
                let request = UpsertLeadRequest {
                    email: format!("busy{task}-{index}@example.ro"),
                    source: "linkedin".to_owned(),
                    ..UpsertLeadRequest::default()
                };
                client.upsert_lead(request).await?;
            }
            Ok(())
        }));
    }

    for task in tasks {
        if let Err(status) = task.await.expect("client task") {
            assert!(!status.message().contains("locked"), "a lock error reached the client: {status:?}");
            panic!("a concurrent write failed: {status:?}");
        }
    }
    let stored = leadflow_tests::query_count(&suite.database_urls[0], "SELECT COUNT(*) FROM activity").await;
    assert_eq!(stored, 8 * 25 + 4 * 5 * 20, "every tracked and imported activity is stored");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_never_locked() {
    on_every_backend(mixed_concurrent_writes).await;
}
