//! Batched writes give what each call or record would get alone and in queue order:
//! group-committed `TrackActivity` calls after an identification, and an imported record with
//! more activities than one INSERT statement can bind.

use std::time::Duration;

use leadflow_proto::activity::{ImportRecord, ImportRecordsRequest, ImportedActivity, LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Backend, Suite, SuiteOptions, backends, on_every_backend, query_count};
use sqlx::Connection;

fn email_key(email: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::Email(email.to_owned())) })
}

fn visitor_key(visitor: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::VisitorId(visitor.to_owned())) })
}

/// A transaction of the test, on PostgreSQL, with an uncommitted `idempotency_key` row,
/// so the activity writer waits on a call with the same request id until
/// [`WriterHold::release`].
struct WriterHold(sqlx::PgConnection);

/// Request id that the held transaction takes, so a call with it waits.
const BLOCKER_REQUEST: &str = "blocker-request";

impl WriterHold {
    async fn take(url: &str) -> Self {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect to PostgreSQL");
        sqlx::query("BEGIN").execute(&mut connection).await.expect("begin");
        sqlx::query(
            "INSERT INTO idempotency_key (request_id, method, request_hash, response, create_time) \
             VALUES ($1, 'x', 'x', decode('00', 'hex'), now())",
        )
        .bind(BLOCKER_REQUEST)
        .execute(&mut connection)
        .await
        .expect("insert blocking request id");
        WriterHold(connection)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.expect("roll back blocker");
    }
}

/// Returns the PostgreSQL backend when one is configured. On SQLite a held write lock makes
/// the writer's upgrade from read to write fail at once with SQLITE_BUSY instead of waiting,
/// so `WriterHold` cannot queue calls behind a batch there.
fn postgres_backends() -> Vec<Backend> {
    backends().into_iter().filter(|backend| matches!(backend, Backend::Postgres(_))).collect()
}

/// Starts a suite whose activity service has one writer, so queued calls form one batch.
async fn one_writer_suite(backend: Backend) -> Suite {
    let options = SuiteOptions {
        configure: Some(Box::new(|index, config| {
            if index == 0 {
                config.group_commit.writers = 1;
                config.group_commit.max_batch = 64;
            }
        })),
        ..SuiteOptions::default()
    };
    Suite::start_with(backend, options).await
}

type TrackResult = Result<leadflow_proto::activity::TrackActivityResponse, tonic::Status>;

/// Sends `requests` so that they are queued in order behind a held batch, then releases it.
/// The requests then share one batch. Returns their results in order.
async fn track_in_one_batch(suite: &Suite, requests: Vec<TrackActivityRequest>) -> Vec<TrackResult> {
    let hold = WriterHold::take(&suite.database_urls[0]).await;

    let mut blocker_client = suite.activity.clone();
    let blocker = tokio::spawn(async move {
        let request = TrackActivityRequest {
            lead: email_key("blocker@example.ro"),
            r#type: ActivityType::PageView as i32,
            create_lead: true,
            request_id: BLOCKER_REQUEST.to_owned(),
            ..TrackActivityRequest::default()
        };
        blocker_client.track_activity(request).await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;

    let mut tasks = Vec::new();
    for request in requests {
        let mut client = suite.activity.clone();
        tasks.push(tokio::spawn(async move { client.track_activity(request).await.map(|response| response.into_inner()) }));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    hold.release().await;

    blocker.await.expect("blocker task").expect("blocking call stored");
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("client task"));
    }
    results
}

/// A visitor identified by e-mail address, then a call for that address with
/// `create_lead = false`, in one batch. In order, the second call finds the identified lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identify_then_track_by_email() {
    for backend in postgres_backends() {
        let mut suite = one_writer_suite(backend).await;
        let first = TrackActivityRequest {
            lead: visitor_key("vizitator-1"),
            r#type: ActivityType::PageView as i32,
            ..TrackActivityRequest::default()
        };
        let anonymous_id = suite.activity.track_activity(first).await.expect("visitor tracked").into_inner().lead_id;

        let identify = TrackActivityRequest {
            lead: email_key("ana@example.ro"),
            visitor_id: "vizitator-1".to_owned(),
            r#type: ActivityType::FormSubmission as i32,
            create_lead: true,
            ..TrackActivityRequest::default()
        };
        let by_email = TrackActivityRequest {
            lead: email_key("ana@example.ro"),
            r#type: ActivityType::PageView as i32,
            create_lead: false,
            ..TrackActivityRequest::default()
        };
        let results = track_in_one_batch(&suite, vec![identify, by_email]).await;

        let identified = results[0].as_ref().expect("identifying call stored");
        assert_eq!(identified.lead_id, anonymous_id, "the anonymous lead becomes known under its id");
        let second = results[1].as_ref().unwrap_or_else(|status| {
            panic!("the call after the identification found no lead: {:?} {}", status.code(), status.message())
        });
        assert_eq!(second.lead_id, anonymous_id, "the second call reaches the identified lead");
        suite.stop().await;
    }
}

/// A visitor identified by e-mail address, then a call for that address with
/// `create_lead = true`, in one batch. In order, both reach the visitor's lead and no second
/// lead or merge is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identify_then_create_by_email() {
    for backend in postgres_backends() {
        let mut suite = one_writer_suite(backend).await;
        let first = TrackActivityRequest {
            lead: visitor_key("vizitator-2"),
            r#type: ActivityType::PageView as i32,
            ..TrackActivityRequest::default()
        };
        let anonymous_id = suite.activity.track_activity(first).await.expect("visitor tracked").into_inner().lead_id;

        let identify = TrackActivityRequest {
            lead: email_key("bogdan@example.ro"),
            visitor_id: "vizitator-2".to_owned(),
            r#type: ActivityType::FormSubmission as i32,
            ..TrackActivityRequest::default()
        };
        let create = TrackActivityRequest {
            lead: email_key("bogdan@example.ro"),
            r#type: ActivityType::PageView as i32,
            create_lead: true,
            ..TrackActivityRequest::default()
        };
        let results = track_in_one_batch(&suite, vec![identify, create]).await;

        let identified = results[0].as_ref().expect("identifying call stored");
        let created = results[1].as_ref().expect("second call stored");
        assert_eq!(identified.lead_id, anonymous_id, "the anonymous lead becomes known under its id");
        assert_eq!(created.lead_id, anonymous_id, "the second call reaches the identified lead");
        let merges = query_count(&suite.database_urls[0], "SELECT COUNT(*) FROM lead WHERE merged_into IS NOT NULL").await;
        assert_eq!(merges, 0, "no lead was created and merged");
        suite.stop().await;
    }
}

/// Imports one record of a new lead with 9000 activities, more than one INSERT statement can
/// bind, and checks that every activity is stored.
async fn import_many_activities(mut suite: Suite) -> Suite {
    const ACTIVITIES: usize = 9000;
    let record = ImportRecord {
        line: 1,
        lead: Some(UpsertLeadRequest { email: "multe@example.ro".to_owned(), ..UpsertLeadRequest::default() }),
        activities: (0..ACTIVITIES)
            .map(|index| ImportedActivity {
                r#type: ActivityType::PageView as i32,
                idempotency_key: format!("multe-{index}"),
                ..ImportedActivity::default()
            })
            .collect(),
        outcome: 0,
    };
    let request = ImportRecordsRequest { records: vec![record], request_id: String::new() };
    let results = suite.activity.import_records(request).await.expect("import").into_inner().results;

    assert_eq!(results.len(), 1);
    assert_eq!(results[0].error, "", "the record is stored");
    assert_eq!(results[0].activities_created, ACTIVITIES as i32);
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_record_with_many_activities() {
    on_every_backend(import_many_activities).await;
}
