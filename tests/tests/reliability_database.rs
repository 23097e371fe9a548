//! A PostgreSQL outage: calls fail fast with UNAVAILABLE and a RetryInfo, health turns
//! NOT_SERVING, and the service recovers without a restart when the database returns.
//!
//! The test blocks and ends the sessions of its own test database only; the PostgreSQL
//! server keeps running for other tests.

use std::time::{Duration, Instant};

use leadflow_kit::testing;
use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Backend, Suite, eventually};
use sqlx::Connection;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

fn database_name(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url);
    without_query.rsplit('/').next().expect("database name").to_owned()
}

async fn admin(server: &str, statement: &str) {
    let mut connection = sqlx::PgConnection::connect(server).await.expect("connect to the PostgreSQL test server");
    sqlx::query(statement).execute(&mut connection).await.unwrap_or_else(|error| panic!("{statement}: {error}"));
}

async fn health_status(suite: &Suite) -> Option<i32> {
    let mut health = HealthClient::new(suite.channel(0));
    let request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    Some(health.check(request).await.ok()?.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_fails_fast_and_recovers() {
    let Some(server) = testing::postgres_server("the outage is made on PostgreSQL") else { return };
    let mut suite = Suite::start(Backend::Postgres(server.clone())).await;
    let database = database_name(&suite.database_urls[0]);

    let lead = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: "outage@example.ro".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect("lead")
        .into_inner()
        .lead
        .expect("lead");
    let track = |key: &str| TrackActivityRequest {
        lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead.lead_id.clone())) }),
        r#type: ActivityType::PageView as i32,
        idempotency_key: key.to_owned(),
        ..TrackActivityRequest::default()
    };
    suite.activity.track_activity(track("before")).await.expect("tracked before the outage");

    admin(&server, &format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false")).await;
    admin(&server, &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")).await;

    let started = Instant::now();
    let status = suite.activity.track_activity(track("during")).await.expect_err("the database is unreachable");
    let elapsed = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let details = status.get_error_details();
    assert!(details.retry_info().is_some(), "UNAVAILABLE carries a RetryInfo: {status:?}");
    assert_eq!(details.error_info().expect("ErrorInfo").reason, "DATABASE_UNAVAILABLE");
    assert!(elapsed < Duration::from_secs(3), "failed after {elapsed:?}; expected at most the 2 s acquire timeout");

    eventually("health to turn NOT_SERVING", || async {
        (health_status(&suite).await? == ServingStatus::NotServing as i32).then_some(())
    })
    .await;

    // With the gate closed, calls fail at once.
    let started = Instant::now();
    let status = suite.activity.track_activity(track("during-gate")).await.expect_err("still unreachable");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.get_error_details().retry_info().is_some(), "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(500), "the closed gate answers at once");

    admin(&server, &format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true")).await;

    eventually("health to turn SERVING again", || async {
        (health_status(&suite).await? == ServingStatus::Serving as i32).then_some(())
    })
    .await;
    let after = suite.activity.track_activity(track("after")).await.expect("tracked after the outage").into_inner();
    assert!(after.created);

    suite.stop().await;
}
