//! Instants are stored in UTC whatever the offset of the request and the time zone of the
//! process.

use leadflow_proto::activity::{LeadKey, ListActivitiesRequest, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Backend, Suite, on_every_backend};
use sqlx::{Connection, Row};

/// Variable that marks the copy of this test binary started with another `TZ`.
const CHILD_VAR: &str = "LEADFLOW_TIME_ZONE_CHILD";

fn timestamp(rfc3339: &str) -> prost_types::Timestamp {
    let instant = chrono::DateTime::parse_from_rfc3339(rfc3339).expect("valid RFC 3339");
    prost_types::Timestamp { seconds: instant.timestamp(), nanos: 0 }
}

fn rfc3339(timestamp: &prost_types::Timestamp) -> String {
    let instant = chrono::DateTime::from_timestamp(timestamp.seconds, timestamp.nanos as u32).expect("in range");
    instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Reads the stored `occurred_at` values of the activity table as UTC instants, in the
/// order the table sorts them.
async fn stored_instants(suite: &Suite) -> Vec<String> {
    let url = &suite.database_urls[0];
    let query = "SELECT occurred_at FROM activity ORDER BY occurred_at";
    let instants: Vec<chrono::DateTime<chrono::Utc>> = match suite.backend {
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(url).await.expect("open SQLite");
            let rows = sqlx::query(query).fetch_all(&mut connection).await.expect("rows");
            rows.iter().map(|row| row.get(0)).collect()
        }
        Backend::Postgres(_) => {
            let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
            let rows = sqlx::query(query).fetch_all(&mut connection).await.expect("rows");
            rows.iter().map(|row| row.get(0)).collect()
        }
    };
    instants.iter().map(|instant| instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).collect()
}

async fn offsets_stored_as_utc(mut suite: Suite) -> Suite {
    let lead = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: "ora@example.ro".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect("lead")
        .into_inner()
        .lead
        .expect("lead");
    let key = Some(LeadKey { key: Some(lead_key::Key::LeadId(lead.lead_id.clone())) });

    // Tracked out of order: the +02:00 activity is the earlier one.
    for (occurred_at, kind) in [("2024-05-01T07:30:00Z", ActivityType::EmailOpen), ("2024-05-01T09:00:00+02:00", ActivityType::PageView)] {
        let request = TrackActivityRequest {
            lead: key.clone(),
            r#type: kind as i32,
            occurred_at: Some(timestamp(occurred_at)),
            ..TrackActivityRequest::default()
        };
        suite.activity.track_activity(request).await.expect("tracked");
    }

    let listed = suite
        .activity
        .list_activities(ListActivitiesRequest { lead: key, page_size: 10, page_token: String::new() })
        .await
        .expect("list")
        .into_inner()
        .activities;
    let listed: Vec<(String, i32)> =
        listed.iter().map(|activity| (rfc3339(activity.occurred_at.as_ref().expect("occurred_at")), activity.r#type)).collect();
    assert_eq!(
        listed,
        [
            ("2024-05-01T07:00:00Z".to_owned(), ActivityType::PageView as i32),
            ("2024-05-01T07:30:00Z".to_owned(), ActivityType::EmailOpen as i32),
        ],
        "listed by instant, in UTC"
    );
    assert_eq!(stored_instants(&suite).await, ["2024-05-01T07:00:00Z", "2024-05-01T07:30:00Z"], "stored in UTC");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offsets_stored_in_utc() {
    if std::env::var_os(CHILD_VAR).is_some() {
        let offset = chrono::Local::now().offset().local_minus_utc();
        assert_ne!(offset, 0, "TZ=America/Los_Angeles took effect in the child process");
    }
    on_every_backend(offsets_stored_as_utc).await;
}

/// Runs [`offsets_stored_in_utc`] again in a child process whose `TZ` is
/// America/Los_Angeles, because the time zone of a process is read when it starts.
#[test]
fn offsets_stored_in_utc_under_other_time_zone() {
    if std::env::var_os(CHILD_VAR).is_some() {
        return;
    }
    let binary = std::env::current_exe().expect("path of the test binary");
    let output = std::process::Command::new(binary)
        .args(["--exact", "offsets_stored_in_utc", "--nocapture", "--test-threads", "1"])
        .env("TZ", "America/Los_Angeles")
        .env(CHILD_VAR, "1")
        .output()
        .expect("start the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child run failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child ran the test\n{stdout}");
}
