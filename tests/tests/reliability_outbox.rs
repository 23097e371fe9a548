//! The outbox relay and the consumer inbox: nothing is lost and nothing is applied twice.
//!
//! The relay tests run the kit's `Relay` against a database that holds only the outbox tables
//! and a counting sink in place of a consumer, so each failure mode can be switched on and
//! off. The inbox tests redeliver a batch to the real scoring and activity services.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leadflow_kit::outbox::entity::{inbox as inbox_entity, outbox};
use leadflow_kit::outbox::inbox;
use leadflow_kit::outbox::{EventSink, OutboxWaker, Relay, RelayConfig, enqueue};
use leadflow_kit::testing::{self, TestDatabase};
use leadflow_proto::activity::activity_events_service_client::ActivityEventsServiceClient;
use leadflow_proto::activity::{DeliverQualificationEventsRequest, GetLeadRequest, LeadKey, UpsertLeadRequest, lead_key};
use leadflow_proto::events::{
    ActivityEvent, ActivityRecorded, LeadProfileChanged, QualificationEvent, StateChanged, activity_event,
    qualification_event,
};
use leadflow_proto::scoring::scoring_events_service_client::ScoringEventsServiceClient;
use leadflow_proto::scoring::{DeliverActivityEventsRequest, GetLeadScoreRequest};
use leadflow_proto::types::{ActivityType, QualificationState};
use leadflow_tests::{Suite, eventually, on_every_backend};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio::sync::watch;
use tonic::Status;
use uuid::Uuid;

/// A migrator with only the outbox, inbox and idempotency tables.
struct OutboxTables;

impl MigratorTrait for OutboxTables {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(leadflow_kit::outbox::migration::Migration)]
    }
}

/// Behaviour of a [`CountingSink`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum SinkMode {
    /// Stores every batch.
    Accept,
    /// Returns UNAVAILABLE, as a stopped consumer does.
    Unavailable,
}

/// A consumer stand-in that records the event ids it received, rejects chosen ids with
/// INVALID_ARGUMENT, and flags an id that arrives while another call is still delivering it.
struct CountingSink {
    mode: Mutex<SinkMode>,
    rejected: HashSet<String>,
    delay: Duration,
    delivered: Mutex<Vec<String>>,
    in_flight: Mutex<HashSet<String>>,
    overlaps: Mutex<Vec<String>>,
    calls: Mutex<u32>,
}

impl CountingSink {
    fn new(mode: SinkMode, rejected: HashSet<String>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            rejected,
            delay,
            delivered: Mutex::new(Vec::new()),
            in_flight: Mutex::new(HashSet::new()),
            overlaps: Mutex::new(Vec::new()),
            calls: Mutex::new(0),
        })
    }

    fn set_mode(&self, mode: SinkMode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl EventSink for CountingSink {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, _timeout: Duration) -> Result<(), Status> {
        *self.calls.lock().unwrap() += 1;
        let ids: Vec<String> = payloads.iter().map(|payload| String::from_utf8(payload.clone()).unwrap()).collect();
        if *self.mode.lock().unwrap() == SinkMode::Unavailable {
            return Err(Status::unavailable("consumer stopped"));
        }
        if let Some(bad) = ids.iter().find(|id| self.rejected.contains(*id)) {
            return Err(Status::invalid_argument(format!("event {bad} is malformed")));
        }

        {
            let mut in_flight = self.in_flight.lock().unwrap();
            for id in &ids {
                if !in_flight.insert(id.clone()) {
                    self.overlaps.lock().unwrap().push(id.clone());
                }
            }
        }
        tokio::time::sleep(self.delay).await;
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            for id in &ids {
                in_flight.remove(id);
            }
        }
        self.delivered.lock().unwrap().extend(ids);
        Ok(())
    }
}

/// A sink in front of a shared [`CountingSink`] that counts the batches one relay sent.
struct RelayTally {
    shared: Arc<CountingSink>,
    batches: AtomicUsize,
}

#[async_trait::async_trait]
impl EventSink for RelayTally {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.shared.deliver(payloads, timeout).await
    }
}

fn relay_config(batch_size: u64) -> RelayConfig {
    RelayConfig {
        batch_size,
        call_timeout: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        poll_interval: Duration::from_millis(50),
    }
}

async fn outbox_database(database: &TestDatabase) -> DatabaseConnection {
    let db = leadflow_kit::db::connect(&database.url).await.expect("connect");
    OutboxTables::up(&db, None).await.expect("outbox tables");
    db
}

/// Enqueues `count` events whose payload is their own id; returns the ids in order.
async fn enqueue_events(db: &DatabaseConnection, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let id = Uuid::now_v7();
        enqueue(db, "test", id, "lead", id.to_string().into_bytes()).await.expect("enqueue");
        ids.push(id.to_string());
    }
    ids
}

async fn pending_rows(db: &DatabaseConnection) -> Vec<outbox::Model> {
    outbox::Entity::find().order_by_asc(outbox::Column::Seq).all(db).await.expect("outbox rows")
}

/// Spawns a relay; the returned sender stops it.
fn spawn_relay(
    db: &DatabaseConnection,
    sink: Arc<dyn EventSink>,
    waker: &OutboxWaker,
    batch_size: u64,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let relay = Relay::new(db.clone(), "test", sink, waker.subscribe(), relay_config(batch_size));
    let (stop, stopped) = watch::channel(false);
    (stop, tokio::spawn(relay.run(stopped)))
}

async fn stop_relay(stop: watch::Sender<bool>, task: tokio::task::JoinHandle<()>) {
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("relay stopped").expect("relay task");
}

fn duplicates(ids: &[String]) -> Vec<String> {
    let mut seen = HashMap::new();
    for id in ids {
        *seen.entry(id.clone()).or_insert(0) += 1;
    }
    seen.into_iter().filter(|(_, count)| *count > 1).map(|(id, _)| id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backlog_drains_when_consumer_returns() {
    for database in testing::databases("relay_backlog").await {
        eprintln!("running on {}", database.backend);
        let db = outbox_database(&database).await;
        let waker = OutboxWaker::new();
        let sink = CountingSink::new(SinkMode::Unavailable, HashSet::new(), Duration::ZERO);
        let (stop, task) = spawn_relay(&db, sink.clone(), &waker, 20);

        let ids = enqueue_events(&db, 50).await;
        waker.wake();
        tokio::time::sleep(Duration::from_millis(400)).await;

        assert!(sink.delivered().is_empty(), "nothing is stored while the consumer is down");
        assert!(*sink.calls.lock().unwrap() >= 2, "the relay retried while the consumer was down");
        let rows = pending_rows(&db).await;
        assert_eq!(rows.len(), 50, "every row waits in the outbox");
        assert!(rows[0].attempts >= 1, "failed attempts are counted");
        assert!(rows[0].last_error.as_deref().unwrap_or_default().contains("Unavailable"), "{:?}", rows[0].last_error);

        sink.set_mode(SinkMode::Accept);
        let drained = eventually("the backlog to drain", || {
            let db = db.clone();
            async move { pending_rows(&db).await.is_empty().then_some(()) }
        })
        .await;
        let () = drained;

        assert_eq!(sink.delivered(), ids, "every event delivered once, in outbox order");
        stop_relay(stop, task).await;
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejected_event_parks_only_its_row() {
    for database in testing::databases("relay_park").await {
        eprintln!("running on {}", database.backend);
        let db = outbox_database(&database).await;
        let waker = OutboxWaker::new();
        let ids = enqueue_events(&db, 6).await;
        let bad = ids[2].clone();
        let sink = CountingSink::new(SinkMode::Accept, HashSet::from([bad.clone()]), Duration::ZERO);
        let (stop, task) = spawn_relay(&db, sink.clone(), &waker, 10);

        eventually("the good rows to be delivered", || {
            let sink = sink.clone();
            async move { (sink.delivered().len() == 5).then_some(()) }
        })
        .await;
        // Later events keep flowing after the parked one.
        let later = enqueue_events(&db, 3).await;
        waker.wake();
        eventually("the later rows to be delivered", || {
            let sink = sink.clone();
            async move { (sink.delivered().len() == 8).then_some(()) }
        })
        .await;
        stop_relay(stop, task).await;

        let expected: Vec<String> = ids.iter().chain(&later).filter(|id| **id != bad).cloned().collect();
        assert_eq!(sink.delivered(), expected, "every other event delivered once, in order");

        let rows = pending_rows(&db).await;
        assert_eq!(rows.len(), 1, "only the rejected row stays in the outbox");
        assert_eq!(rows[0].event_id.to_string(), bad);
        assert!(rows[0].failed_at.is_some(), "the rejected row is parked");
        assert!(rows[0].last_error.as_deref().unwrap_or_default().contains("malformed"), "{:?}", rows[0].last_error);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_never_share_a_row() {
    let Some(server) = testing::postgres_server("only PostgreSQL runs several relays on one database") else { return };
    let database = TestDatabase::postgres(&server, "relay_pair").await;
    let db = outbox_database(&database).await;
    let ids = enqueue_events(&db, 600).await;

    // Both relays read the same database through separate pools, as two replicas do.
    let other_db = leadflow_kit::db::connect(&database.url).await.expect("second pool");
    let waker = OutboxWaker::new();
    let sink = CountingSink::new(SinkMode::Accept, HashSet::new(), Duration::from_millis(5));
    let tally_a = Arc::new(RelayTally { shared: sink.clone(), batches: AtomicUsize::new(0) });
    let tally_b = Arc::new(RelayTally { shared: sink.clone(), batches: AtomicUsize::new(0) });
    let (stop_a, task_a) = spawn_relay(&db, tally_a.clone(), &waker, 25);
    let (stop_b, task_b) = spawn_relay(&other_db, tally_b.clone(), &waker, 25);
    waker.wake();

    eventually("both relays to drain the outbox", || {
        let db = db.clone();
        async move { pending_rows(&db).await.is_empty().then_some(()) }
    })
    .await;
    stop_relay(stop_a, task_a).await;
    stop_relay(stop_b, task_b).await;

    let batches = (tally_a.batches.load(Ordering::SeqCst), tally_b.batches.load(Ordering::SeqCst));
    assert!(batches.0 > 0, "the first relay delivered batches: {batches:?}");
    assert!(batches.1 > 0, "the second relay delivered batches: {batches:?}");
    let delivered = sink.delivered();
    let overlaps = sink.overlaps.lock().unwrap().clone();
    assert!(overlaps.is_empty(), "{} rows were sent by both relays at once, first: {:?}", overlaps.len(), overlaps.first());
    assert_eq!(duplicates(&delivered), Vec::<String>::new(), "rows delivered twice");
    assert_eq!(delivered.len(), ids.len(), "every row delivered");
    let delivered: HashSet<String> = delivered.into_iter().collect();
    assert_eq!(delivered, ids.into_iter().collect::<HashSet<_>>());
    let failed = outbox::Entity::find().filter(outbox::Column::FailedAt.is_not_null()).count(&db).await.unwrap();
    assert_eq!(failed, 0);
    database.drop_database().await;
}

/// A sink that, on its first call, takes a SHARE lock on the outbox table in a transaction of
/// its own before it acknowledges. The lock lets the relay lock rows for the next batch but
/// blocks its DELETE of the acknowledged one until the test releases it.
struct DeleteBlockingSink {
    db: DatabaseConnection,
    lock: tokio::sync::Mutex<Option<sea_orm::DatabaseTransaction>>,
    lock_taken: std::sync::atomic::AtomicBool,
    shared: Arc<CountingSink>,
}

#[async_trait::async_trait]
impl EventSink for DeleteBlockingSink {
    async fn deliver(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Result<(), Status> {
        self.shared.deliver(payloads, timeout).await?;
        if !self.lock_taken.swap(true, Ordering::SeqCst) {
            use sea_orm::{ConnectionTrait, TransactionTrait};
            let txn = self.db.begin().await.expect("lock transaction");
            txn.execute_unprepared("LOCK TABLE outbox IN SHARE MODE").await.expect("share lock");
            *self.lock.lock().await = Some(txn);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn next_batch_during_pending_delete() {
    let Some(server) = testing::postgres_server("only PostgreSQL deletes in the background") else { return };
    let database = TestDatabase::postgres(&server, "relay_pipeline").await;
    let db = outbox_database(&database).await;
    let ids = enqueue_events(&db, 30).await;

    let lock_db = leadflow_kit::db::connect(&database.url).await.expect("lock pool");
    let counting = CountingSink::new(SinkMode::Accept, HashSet::new(), Duration::ZERO);
    let sink = Arc::new(DeleteBlockingSink {
        db: lock_db,
        lock: tokio::sync::Mutex::new(None),
        lock_taken: std::sync::atomic::AtomicBool::new(false),
        shared: counting.clone(),
    });
    let waker = OutboxWaker::new();
    let (stop, task) = spawn_relay(&db, sink.clone(), &waker, 10);
    waker.wake();

    // The first delete waits for the lock, yet the second batch goes out meanwhile.
    eventually("the second batch while the first delete waits", || {
        let delivered = counting.delivered().len();
        async move { (delivered >= 20).then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(counting.delivered().len(), 20, "a third batch waits until the first delete commits");
    assert_eq!(pending_rows(&db).await.len(), 30, "no delete has committed under the lock");

    let lock = sink.lock.lock().await.take().expect("the first call took the lock");
    lock.rollback().await.expect("release the lock");
    eventually("the relay to drain the outbox", || {
        let db = db.clone();
        async move { pending_rows(&db).await.is_empty().then_some(()) }
    })
    .await;
    stop_relay(stop, task).await;

    assert_eq!(counting.delivered(), ids, "each row delivered once, in order");
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_inbox_returns_only_new_events() {
    for database in testing::databases("inbox_batch").await {
        eprintln!("running on {}", database.backend);
        let db = outbox_database(&database).await;
        let (first, second, third) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

        let recorded = inbox::record_new(&db, &[first, second, first], "test").await.expect("first batch");
        assert_eq!(recorded, HashSet::from([first, second]), "an id named twice is recorded once");

        let recorded = inbox::record_new(&db, &[second, third], "test").await.expect("second batch");
        assert_eq!(recorded, HashSet::from([third]), "an id recorded before is left out");
        assert!(inbox::record_new(&db, &[], "test").await.expect("empty batch").is_empty());

        // More ids than one statement takes.
        let many: Vec<Uuid> = (0..leadflow_kit::db::MAX_ROWS_PER_INSERT + 5).map(|_| Uuid::now_v7()).collect();
        let recorded = inbox::record_new(&db, &many, "test").await.expect("large batch");
        assert_eq!(recorded.len(), many.len());
        let stored = inbox_entity::Entity::find().count(&db).await.expect("inbox rows");
        assert_eq!(stored, many.len() as u64 + 3);
        database.drop_database().await;
    }
}

/// Two transactions record the same event on PostgreSQL: the second waits for the first, and
/// applies the event only when the first rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inbox_batches_apply_an_event_once() {
    let Some(server) = testing::postgres_server("concurrent inbox transactions") else { return };
    let database = TestDatabase::postgres(&server, "inbox_concurrent").await;
    let db = outbox_database(&database).await;

    for first_commits in [true, false] {
        let event = Uuid::now_v7();
        let first = db.begin().await.expect("first transaction");
        assert_eq!(inbox::record_new(&first, &[event], "test").await.expect("first"), HashSet::from([event]));

        let waiting = tokio::spawn({
            let db = db.clone();
            async move {
                let second = db.begin().await.expect("second transaction");
                let recorded = inbox::record_new(&second, &[event], "test").await.expect("second");
                second.commit().await.expect("second commit");
                recorded
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "the second insert waits for the first transaction");

        if first_commits {
            first.commit().await.expect("first commit");
            assert!(waiting.await.expect("second task").is_empty(), "the event is applied once, by the first");
        } else {
            first.rollback().await.expect("first rollback");
            assert_eq!(waiting.await.expect("second task"), HashSet::from([event]), "the second applies it");
        }
    }
    database.drop_database().await;
}

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

fn activity_batch(lead_id: &str) -> DeliverActivityEventsRequest {
    let now = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - 60, nanos: 0 };
    let event = |kind| ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead_id.to_owned(),
        create_time: Some(now),
        traceparent: String::new(),
        kind: Some(kind),
    };
    let recorded = |activity_type: ActivityType| {
        activity_event::Kind::ActivityRecorded(ActivityRecorded {
            activity_id: Uuid::now_v7().to_string(),
            r#type: activity_type as i32,
            occurred_at: Some(now),
            properties: Default::default(),
            anonymous: false,
        })
    };
    DeliverActivityEventsRequest {
        events: vec![
            event(activity_event::Kind::LeadProfileChanged(LeadProfileChanged {
                created: true,
                source: "google".to_owned(),
                campaign: String::new(),
                attributes: Default::default(),
                lead_create_time: Some(now),
                ..LeadProfileChanged::default()
            })),
            event(recorded(ActivityType::PageView)),
            event(recorded(ActivityType::DemoRequest)),
        ],
    }
}

async fn scoring_redelivery(suite: Suite) -> Suite {
    let mut events = ScoringEventsServiceClient::new(suite.channel(1));
    let lead_id = Uuid::now_v7().to_string();
    let batch = activity_batch(&lead_id);

    let first = events.deliver_activity_events(batch.clone()).await.expect("first delivery").into_inner();
    assert_eq!(first.applied, 3);
    assert_eq!(first.duplicates, 0);
    let mut scoring = suite.scoring.clone();
    let request = GetLeadScoreRequest { lead_id: lead_id.clone(), as_of: None };
    let before = scoring.get_lead_score(request.clone()).await.expect("score").into_inner().score.expect("score");

    let again = events.deliver_activity_events(batch).await.expect("redelivery").into_inner();
    assert_eq!(again.applied, 0, "a redelivered batch applies nothing");
    assert_eq!(again.duplicates, 3);
    let after = scoring.get_lead_score(request).await.expect("score").into_inner().score.expect("score");
    assert_eq!(after.score, before.score, "the score did not change");
    assert_eq!(after.ledger_entries, before.ledger_entries, "no ledger entry was added");
    assert_eq!(after.mql_count, before.mql_count, "no second MQL");
    suite
}

async fn activity_redelivery(mut suite: Suite) -> Suite {
    let lead = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: "redelivery@example.ro".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect("lead")
        .into_inner()
        .lead
        .expect("lead");
    let change = |to_state: QualificationState| QualificationEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead.lead_id.clone(),
        create_time: None,
        traceparent: String::new(),
        kind: Some(qualification_event::Kind::StateChanged(StateChanged {
            from_state: QualificationState::Unspecified as i32,
            to_state: to_state as i32,
            reason: String::new(),
            change_time: None,
        })),
    };
    let batch = DeliverQualificationEventsRequest { events: vec![change(QualificationState::New)] };
    let mut events = ActivityEventsServiceClient::new(suite.channel(0));
    let first = events.deliver_qualification_events(batch.clone()).await.expect("first").into_inner();
    assert_eq!((first.applied, first.duplicates), (1, 0));
    let stage = |lead: leadflow_proto::activity::Lead| lead.lifecycle_stage;
    let get = GetLeadRequest { lead: by_id(&lead.lead_id) };
    let after_first = stage(suite.activity.get_lead(get.clone()).await.unwrap().into_inner().lead.unwrap());
    assert_ne!(after_first, lead.lifecycle_stage, "the first delivery moved the stage");

    // A later event moves the stage on; redelivering the first must not move it back.
    let later = DeliverQualificationEventsRequest { events: vec![change(QualificationState::Sql)] };
    events.deliver_qualification_events(later).await.expect("later event");
    let after_later = stage(suite.activity.get_lead(get.clone()).await.unwrap().into_inner().lead.unwrap());
    let again = events.deliver_qualification_events(batch).await.expect("redelivery").into_inner();
    assert_eq!((again.applied, again.duplicates), (0, 1), "the redelivered event counts as a duplicate");
    let after_redelivery = stage(suite.activity.get_lead(get).await.unwrap().into_inner().lead.unwrap());
    assert_eq!(after_redelivery, after_later, "redelivery changed nothing");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_activity_batch_changes_nothing() {
    on_every_backend(scoring_redelivery).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_qualification_batch_changes_nothing() {
    on_every_backend(activity_redelivery).await;
}
