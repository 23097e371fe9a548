//! Scoring engine cases with known results, run against real SQLite files and, when
//! configured, real PostgreSQL databases. Events are applied directly to the engine with
//! chosen `occurred_at` and processing instants, so decay can be checked over days.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use leadflow_kit::testing::{TestDatabase, databases};
use leadflow_proto::events::{ActivityEvent, ActivityRecorded, LeadProfileChanged, QualificationEvent, ScoringEvent, StateChanged};
use leadflow_proto::events::{activity_event, qualification_event, scoring_event};
use leadflow_proto::scoring::{self as api, BehaviorRule, Decay, FitRule, FrequencyLimit, LimitKind, decay};
use leadflow_proto::types::{ActivityType, QualificationState};
use leadflow_scoring::domain::{self, Model};
use leadflow_scoring::engine::{self, jobs};
use leadflow_scoring::migration::Migrator;
use leadflow_scoring::store::{self, ledger_entry};
use prost::Message;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

fn day(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap() + Duration::days(days)
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, 0).unwrap()
}

fn rule(id: &str, kind: ActivityType, points: i64) -> BehaviorRule {
    BehaviorRule { rule_id: id.to_owned(), activity_type: kind as i32, points, ..BehaviorRule::default() }
}

fn limited(rule: BehaviorRule, kind: LimitKind) -> BehaviorRule {
    BehaviorRule { limit: Some(FrequencyLimit { kind: kind as i32, ..FrequencyLimit::default() }), ..rule }
}

/// Limits `rule` to `max_count` counted activities per hour.
fn per_hour(rule: BehaviorRule, max_count: i32) -> BehaviorRule {
    let window = Some(prost_types::Duration { seconds: 3600, nanos: 0 });
    BehaviorRule { limit: Some(FrequencyLimit { kind: LimitKind::PerWindow as i32, max_count, window }), ..rule }
}

fn no_decay(rule: BehaviorRule) -> BehaviorRule {
    BehaviorRule { decay: Some(Decay { policy: Some(decay::Policy::None(true)) }), ..rule }
}

fn half_life(days: i64) -> Option<Decay> {
    Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: days * 86_400, nanos: 0 })) })
}

/// A migrated database with a published model.
struct Engine {
    db: DatabaseConnection,
    model: Model,
    database: TestDatabase,
}

impl Engine {
    async fn start(database: TestDatabase, model: api::ScoringModel) -> Engine {
        let db = leadflow_kit::db::connect(&database.url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let (model, violations) = domain::read_model(Some(&model));
        assert!(violations.is_empty(), "model is valid: {violations:?}");
        let row = store::insert_version(&db, &model, store::DRAFT).await.expect("store model");
        store::activate(&db, &model.model_id, row.version).await.expect("activate model");
        let (model, _) = store::active_model(&db, &model.model_id).await.expect("read model").expect("active model");
        Engine { db, model, database }
    }

    async fn apply(&self, events: Vec<ActivityEvent>, now: DateTime<Utc>) {
        let txn = self.db.begin().await.expect("begin");
        engine::apply_activity_events(&txn, &self.model, &events, now).await.expect("events apply");
        txn.commit().await.expect("commit");
    }

    async fn score(&self, lead_id: Uuid) -> i64 {
        store::find_score(&self.db, lead_id).await.expect("read").map(|score| score.score).unwrap_or_default()
    }

    async fn ledger(&self, lead_id: Uuid) -> Vec<ledger_entry::Model> {
        ledger_entry::Entity::find()
            .filter(ledger_entry::Column::LeadId.eq(lead_id))
            .order_by_asc(ledger_entry::Column::Id)
            .all(&self.db)
            .await
            .expect("ledger")
    }

    async fn mql_events(&self, lead_id: Uuid) -> usize {
        let rows = leadflow_kit::outbox::entity::outbox::Entity::find()
            .filter(leadflow_kit::outbox::entity::outbox::Column::LeadId.eq(lead_id.to_string()))
            .all(&self.db)
            .await
            .expect("outbox");
        rows.iter()
            .filter_map(|row| ScoringEvent::decode(row.payload.as_slice()).ok())
            .filter(|event| matches!(event.kind, Some(scoring_event::Kind::LeadBecameMql(_))))
            .count()
    }

    async fn assert_score_is_ledger_sum(&self, lead_id: Uuid) {
        let sum = store::ledger_sum(&self.db, lead_id).await.expect("ledger sum");
        assert_eq!(self.score(lead_id).await, sum, "score equals the sum of its ledger on {}", self.database.backend);
    }

    async fn stop(self) {
        self.db.close().await.expect("close");
        self.database.drop_database().await;
    }
}

fn activity(lead_id: Uuid, kind: ActivityType, occurred_at: DateTime<Utc>, properties: &[(&str, &str)]) -> ActivityEvent {
    activity_with_id(lead_id, Uuid::now_v7(), kind, occurred_at, properties)
}

fn activity_with_id(
    lead_id: Uuid,
    activity_id: Uuid,
    kind: ActivityType,
    occurred_at: DateTime<Utc>,
    properties: &[(&str, &str)],
) -> ActivityEvent {
    ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead_id.to_string(),
        create_time: Some(leadflow_kit::time::to_timestamp(occurred_at)),
        traceparent: String::new(),
        kind: Some(activity_event::Kind::ActivityRecorded(ActivityRecorded {
            activity_id: activity_id.to_string(),
            r#type: kind as i32,
            occurred_at: Some(leadflow_kit::time::to_timestamp(occurred_at)),
            properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            anonymous: false,
        })),
    }
}

fn profile(lead_id: Uuid, attributes: &[(&str, &str)], at: DateTime<Utc>) -> ActivityEvent {
    ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead_id.to_string(),
        create_time: Some(leadflow_kit::time::to_timestamp(at)),
        traceparent: String::new(),
        kind: Some(activity_event::Kind::LeadProfileChanged(LeadProfileChanged {
            created: true,
            source: "google".to_owned(),
            campaign: String::new(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            lead_create_time: Some(leadflow_kit::time::to_timestamp(at)),
            ..LeadProfileChanged::default()
        })),
    }
}

#[tokio::test]
async fn late_open_after_click_scores_once_each() {
    for database in databases("late_open").await {
        let model = api::ScoringModel {
            rules: vec![
                limited(rule("open", ActivityType::EmailOpen, 7), LimitKind::OncePerAsset),
                rule("click", ActivityType::EmailClick, 3),
            ],
            mql_threshold: 100,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();

        engine.apply(vec![activity(lead, ActivityType::EmailClick, at(9, 5), &[("asset_id", "newsletter-12")])], at(9, 6)).await;
        engine.apply(vec![activity(lead, ActivityType::EmailOpen, at(9, 0), &[("asset_id", "newsletter-12")])], at(9, 30)).await;

        assert_eq!(engine.score(lead).await, 10);
        let ledger = engine.ledger(lead).await;
        let rules: Vec<&str> = ledger.iter().map(|entry| entry.rule_id.as_str()).collect();
        assert_eq!(rules, ["click", "open"]);
        engine.assert_score_is_ledger_sum(lead).await;
        engine.stop().await;
    }
}

#[tokio::test]
async fn once_per_email_and_every_event() {
    for database in databases("per_email").await {
        let model = api::ScoringModel {
            rules: vec![limited(rule("open", ActivityType::EmailOpen, 2), LimitKind::OncePerAsset)],
            mql_threshold: 100,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        for (minute, asset) in ["E1", "E1", "E2", "E1"].iter().enumerate() {
            let event = activity(lead, ActivityType::EmailOpen, at(10, minute as u32), &[("asset_id", asset)]);
            engine.apply(vec![event], at(11, 0)).await;
        }

        assert_eq!(engine.score(lead).await, 4);
        let ledger = engine.ledger(lead).await;
        let reasons: Vec<&str> = ledger.iter().map(|entry| entry.reason.as_str()).collect();
        assert_eq!(reasons, ["counted", "limit_reached", "counted", "limit_reached"]);
        engine.stop().await;
    }

    for database in databases("every_email").await {
        let model = api::ScoringModel {
            rules: vec![rule("open", ActivityType::EmailOpen, 2)],
            mql_threshold: 100,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        for (minute, asset) in ["E1", "E1", "E2", "E1"].iter().enumerate() {
            let event = activity(lead, ActivityType::EmailOpen, at(10, minute as u32), &[("asset_id", asset)]);
            engine.apply(vec![event], at(11, 0)).await;
        }
        assert_eq!(engine.score(lead).await, 8);
        engine.stop().await;
    }
}

#[tokio::test]
async fn hourly_limit_out_of_order() {
    for database in databases("hourly").await {
        let model = api::ScoringModel {
            rules: vec![per_hour(rule("view", ActivityType::PageView, 1), 1)],
            mql_threshold: 100,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        let ten_past = Uuid::now_v7();

        engine.apply(vec![activity(lead, ActivityType::PageView, at(11, 1), &[])], at(11, 2)).await;
        engine.apply(vec![activity(lead, ActivityType::PageView, at(10, 0), &[])], at(11, 3)).await;
        engine.apply(vec![activity_with_id(lead, ten_past, ActivityType::PageView, at(10, 10), &[])], at(11, 4)).await;

        assert_eq!(engine.score(lead).await, 2);
        let ledger = engine.ledger(lead).await;
        let entry = ledger.iter().find(|entry| entry.activity_id == Some(ten_past)).expect("entry of the 10:10 view");
        assert_eq!(entry.points, 0);
        assert_eq!(entry.reason, "limit_reached");
        assert!(entry.detail.contains("at most 1 per 3600s"), "detail says why: {}", entry.detail);
        engine.assert_score_is_ledger_sum(lead).await;
        engine.stop().await;
    }
}

/// Activities that arrive in order, one batch each, are settled from the score and the
/// counted activities within each limit's reach. Their verdicts are those of the whole history.
#[tokio::test]
async fn limits_hold_across_batches_in_order() {
    for database in databases("limits_in_order").await {
        let model = api::ScoringModel {
            rules: vec![
                no_decay(rule("view", ActivityType::PageView, 1)),
                no_decay(limited(rule("webinar", ActivityType::WebinarRegistration, 10), LimitKind::OncePerLead)),
                no_decay(limited(rule("guide", ActivityType::ContentDownload, 4), LimitKind::OncePerAsset)),
                no_decay(per_hour(rule("form", ActivityType::FormSubmission, 5), 2)),
            ],
            mql_threshold: 1000,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        let guide = |id: &'static str| [("asset_id", id)];
        let arrivals = [
            (ActivityType::FormSubmission, at(9, 0), guide("-"), "counted"),
            (ActivityType::WebinarRegistration, at(9, 5), guide("-"), "counted"),
            (ActivityType::ContentDownload, at(9, 10), guide("a"), "counted"),
            (ActivityType::PageView, at(9, 15), guide("-"), "counted"),
            (ActivityType::FormSubmission, at(9, 20), guide("-"), "counted"),
            (ActivityType::WebinarRegistration, at(9, 25), guide("-"), "limit_reached"),
            (ActivityType::ContentDownload, at(9, 30), guide("a"), "limit_reached"),
            (ActivityType::ContentDownload, at(9, 35), guide("b"), "counted"),
            (ActivityType::FormSubmission, at(9, 40), guide("-"), "limit_reached"),
            (ActivityType::FormSubmission, at(10, 1), guide("-"), "counted"),
            (ActivityType::FormSubmission, at(10, 2), guide("-"), "limit_reached"),
        ];
        let mut expected_score = 0;
        for (kind, occurred_at, properties, verdict) in arrivals {
            let id = Uuid::now_v7();
            engine.apply(vec![activity_with_id(lead, id, kind, occurred_at, &properties)], occurred_at + Duration::seconds(1)).await;
            let entry = engine.ledger(lead).await.into_iter().find(|entry| entry.activity_id == Some(id)).expect("entry");
            assert_eq!(entry.reason, verdict, "{kind:?} at {occurred_at} on {}", engine.database.backend);
            expected_score += entry.points;
        }
        assert_eq!(engine.score(lead).await, 5 + 10 + 4 + 1 + 5 + 4 + 5);
        assert_eq!(engine.score(lead).await, expected_score);
        engine.assert_score_is_ledger_sum(lead).await;
        engine.stop().await;
    }
}

/// A batch settled at an instant before the lead's last settle, as a replica whose clock is
/// behind would, values every activity at that instant, decayed ones included.
#[tokio::test]
async fn earlier_now_revalues_decayed_points() {
    for database in databases("earlier_now").await {
        let model = api::ScoringModel {
            rules: vec![
                BehaviorRule {
                    decay: Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: 3600, nanos: 0 })) }),
                    ..rule("demo", ActivityType::DemoRequest, 40)
                },
                no_decay(rule("view", ActivityType::PageView, 1)),
            ],
            mql_threshold: 1000,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();

        engine.apply(vec![activity(lead, ActivityType::DemoRequest, at(11, 0), &[])], at(11, 0) + Duration::seconds(3605)).await;
        assert_eq!(engine.score(lead).await, 20, "one half-life has passed");

        let behind = at(11, 59) + Duration::seconds(58);
        engine.apply(vec![activity(lead, ActivityType::PageView, at(11, 59) + Duration::seconds(50), &[])], behind).await;
        assert_eq!(engine.score(lead).await, 41, "at 11:59:58 the demo request has not decayed yet");
        engine.assert_score_is_ledger_sum(lead).await;
        engine.stop().await;
    }
}

/// Instants finer than a microsecond are evaluated as stored, so a later batch that settles
/// the lead from its score agrees with its stored rows.
#[tokio::test]
async fn sub_microsecond_instants_score_as_stored() {
    for database in databases("sub_microsecond").await {
        let model = api::ScoringModel {
            rules: vec![
                no_decay(per_hour(rule("form", ActivityType::FormSubmission, 5), 1)),
                no_decay(rule("view", ActivityType::PageView, 1)),
            ],
            mql_threshold: 1000,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();

        // Stored at microsecond precision, the two forms lie exactly one window apart, so
        // both count. At nanosecond precision the first lies inside the second's window.
        let first = at(9, 0) + Duration::nanoseconds(900);
        let second = at(10, 0) + Duration::nanoseconds(800);
        let events = vec![
            activity(lead, ActivityType::FormSubmission, first, &[]),
            activity(lead, ActivityType::FormSubmission, second, &[]),
        ];
        engine.apply(events, at(10, 1)).await;
        assert_eq!(engine.score(lead).await, 10, "both forms count");

        engine.apply(vec![activity(lead, ActivityType::PageView, at(10, 35), &[])], at(10, 36)).await;
        assert_eq!(engine.score(lead).await, 11);
        let stored = store::lead_activities(&engine.db, lead).await.expect("activities");
        let facts: Vec<_> = stored.iter().map(store::fact_from_row).collect();
        let expected = domain::evaluate(&engine.model, &facts, &BTreeMap::new(), "", at(10, 36));
        assert_eq!(expected.total, 11, "the stored rows evaluate to the score");
        engine.assert_score_is_ledger_sum(lead).await;
        engine.stop().await;
    }
}

#[tokio::test]
async fn negative_points_and_floor() {
    for floor in [None, Some(0)] {
        for database in databases("floor").await {
            let model = api::ScoringModel {
                rules: vec![rule("form", ActivityType::FormSubmission, 9), rule("unsubscribe", ActivityType::Unsubscribe, -12)],
                mql_threshold: 50,
                score_floor: floor,
                ..api::ScoringModel::default()
            };
            let engine = Engine::start(database, model).await;
            let lead = Uuid::now_v7();

            engine.apply(vec![activity(lead, ActivityType::FormSubmission, at(9, 0), &[])], at(9, 1)).await;
            assert_eq!(engine.score(lead).await, 9);
            engine.apply(vec![activity(lead, ActivityType::Unsubscribe, at(9, 5), &[])], at(9, 6)).await;

            let ledger = engine.ledger(lead).await;
            match floor {
                None => assert_eq!(engine.score(lead).await, -3),
                Some(_) => {
                    assert_eq!(engine.score(lead).await, 0);
                    let last = ledger.last().expect("floor entry");
                    assert_eq!(last.kind, "FLOOR");
                    assert_eq!(last.points, 3);
                }
            }
            engine.assert_score_is_ledger_sum(lead).await;
            engine.stop().await;
        }
    }
}

fn merge(survivor: Uuid, merged: Uuid, at: DateTime<Utc>) -> ActivityEvent {
    ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: survivor.to_string(),
        create_time: Some(leadflow_kit::time::to_timestamp(at)),
        traceparent: String::new(),
        kind: Some(activity_event::Kind::LeadsMerged(leadflow_proto::events::LeadsMerged {
            merge_id: Uuid::now_v7().to_string(),
            merged_lead_id: merged.to_string(),
            merge_time: Some(leadflow_kit::time::to_timestamp(at)),
            activity_ids: Vec::new(),
        })),
    }
}

#[tokio::test]
async fn ignored_merge_settles_survivor() {
    for database in databases("ignored_merge").await {
        let model = api::ScoringModel {
            rules: vec![no_decay(rule("demo", ActivityType::DemoRequest, 30))],
            mql_threshold: 50,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let (first, merged, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());

        let events = vec![
            activity(first, ActivityType::DemoRequest, day(0), &[]),
            activity(merged, ActivityType::DemoRequest, day(0), &[]),
            merge(first, merged, day(0)),
        ];
        engine.apply(events, day(0)).await;
        assert_eq!(engine.score(first).await, 60, "the merge moves the merged lead's points");

        // The merged lead is merged already, so this merge changes nothing, but the
        // survivor's activity of the same batch still counts.
        let events = vec![activity(other, ActivityType::DemoRequest, day(1), &[]), merge(other, merged, day(1))];
        engine.apply(events, day(1)).await;
        assert_eq!(engine.score(other).await, 30, "the survivor's activity is scored");
        assert_eq!(engine.score(first).await, 60, "the first survivor keeps its points");
        let pending = store::lead_activities(&engine.db, other).await.expect("activities");
        assert!(pending.iter().all(|row| row.verdict != store::PENDING), "no activity is left pending");

        for lead in [first, merged, other] {
            engine.assert_score_is_ledger_sum(lead).await;
        }
        engine.stop().await;
    }
}

#[tokio::test]
async fn one_mql_per_upward_crossing() {
    for database in databases("crossing").await {
        let model = api::ScoringModel {
            rules: vec![
                rule("demo", ActivityType::DemoRequest, 30),
                no_decay(rule("open", ActivityType::EmailOpen, 5)),
                no_decay(rule("webinar", ActivityType::WebinarRegistration, 20)),
                no_decay(rule("event", ActivityType::EventAttendance, 60)),
            ],
            decay: half_life(30),
            mql_threshold: 50,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();

        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(0), &[])], day(0)).await;
        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(0), &[])], day(0)).await;
        assert_eq!(engine.score(lead).await, 60);
        assert_eq!(engine.mql_events(lead).await, 1);

        engine.apply(vec![activity(lead, ActivityType::EmailOpen, day(0), &[])], day(0)).await;
        engine.apply(vec![activity(lead, ActivityType::EmailOpen, day(0), &[])], day(0)).await;
        assert_eq!(engine.score(lead).await, 70);
        assert_eq!(engine.mql_events(lead).await, 1);

        jobs::settle_due(&engine.db, day(30)).await.expect("decay");
        assert_eq!(engine.score(lead).await, 40);
        let kinds: Vec<String> = engine.ledger(lead).await.iter().map(|entry| entry.kind.clone()).collect();
        assert!(kinds.contains(&"FELL_BELOW".to_owned()), "a fell-below entry is recorded: {kinds:?}");
        let score = store::find_score(&engine.db, lead).await.unwrap().unwrap();
        assert!(score.mql, "decay does not revoke the MQL");

        engine.apply(vec![activity(lead, ActivityType::WebinarRegistration, day(31), &[])], day(31)).await;
        assert_eq!(engine.score(lead).await, 60);
        assert_eq!(engine.mql_events(lead).await, 1, "no new MQL without a recycle");

        let fresh = Uuid::now_v7();
        engine.apply(vec![activity(fresh, ActivityType::EventAttendance, day(31), &[])], day(31)).await;
        assert_eq!(engine.mql_events(fresh).await, 1);

        engine.assert_score_is_ledger_sum(lead).await;
        engine.assert_score_is_ledger_sum(fresh).await;
        engine.stop().await;
    }
}

#[tokio::test]
async fn late_activity_dates_crossing_correctly() {
    for database in databases("crossing_time").await {
        let model = api::ScoringModel {
            rules: vec![rule("view", ActivityType::PageView, 10)],
            mql_threshold: 25,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        for (offset, processed) in [(2, 10), (1, 11), (0, 12)] {
            let event = activity(lead, ActivityType::PageView, day(offset), &[]);
            engine.apply(vec![event], day(processed)).await;
        }

        let score = store::find_score(&engine.db, lead).await.unwrap().unwrap();
        assert_eq!(score.last_mql_time, Some(day(2)), "the third view in time order crossed the threshold");
        let ledger = engine.ledger(lead).await;
        let crossing = ledger.iter().find(|entry| entry.kind == "MQL").expect("MQL entry");
        assert_eq!(crossing.effective_time, day(2));
        assert!(crossing.detail.contains("total 30"), "{}", crossing.detail);
        engine.stop().await;
    }
}

#[tokio::test]
async fn recycle_rearms_the_lead() {
    for database in databases("recycle").await {
        let model = api::ScoringModel {
            rules: vec![rule("demo", ActivityType::DemoRequest, 30), rule("unsubscribe", ActivityType::Unsubscribe, -40)],
            mql_threshold: 50,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(0), &[])], day(0)).await;
        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(0), &[])], day(0)).await;
        assert_eq!(engine.mql_events(lead).await, 1);

        let recycle = QualificationEvent {
            event_id: Uuid::now_v7().to_string(),
            lead_id: lead.to_string(),
            create_time: None,
            traceparent: String::new(),
            kind: Some(qualification_event::Kind::StateChanged(StateChanged {
                from_state: QualificationState::New as i32,
                to_state: QualificationState::Recycled as i32,
                reason: "no_budget".to_owned(),
                change_time: None,
            })),
        };
        let txn = engine.db.begin().await.unwrap();
        engine::apply_qualification_events(&txn, &[recycle.clone(), recycle]).await.expect("recycle applies");
        txn.commit().await.unwrap();

        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(1), &[])], day(1)).await;
        assert_eq!(engine.score(lead).await, 90);
        assert_eq!(engine.mql_events(lead).await, 1, "still above the threshold: no new crossing");

        engine.apply(vec![activity(lead, ActivityType::Unsubscribe, day(2), &[])], day(2)).await;
        engine.apply(vec![activity(lead, ActivityType::Unsubscribe, day(2), &[])], day(2)).await;
        assert_eq!(engine.score(lead).await, 10);
        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(3), &[])], day(3)).await;
        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(3), &[])], day(3)).await;
        assert_eq!(engine.score(lead).await, 70);
        assert_eq!(engine.mql_events(lead).await, 2, "the re-armed lead crossed again");
        engine.stop().await;
    }
}

#[tokio::test]
async fn engagement_decays_fit_does_not() {
    for database in databases("decay").await {
        let model = api::ScoringModel {
            rules: vec![rule("demo", ActivityType::DemoRequest, 100), rule("webinar", ActivityType::WebinarRegistration, 40)],
            fit_rules: vec![FitRule {
                rule_id: "cto".to_owned(),
                attribute: "job_title".to_owned(),
                equals_any: vec!["CTO".to_owned()],
                points: 10,
                ..FitRule::default()
            }],
            decay: half_life(30),
            mql_threshold: 60,
            ..api::ScoringModel::default()
        };
        let engine = Engine::start(database, model).await;
        let lead = Uuid::now_v7();
        engine.apply(vec![profile(lead, &[("job_title", "CTO")], day(0))], day(0)).await;
        engine.apply(vec![activity(lead, ActivityType::DemoRequest, day(0), &[])], day(0)).await;

        let engagement = |engine: &Engine| {
            let db = engine.db.clone();
            async move {
                let score = store::find_score(&db, lead).await.unwrap().unwrap();
                (score.engagement, score.fit)
            }
        };

        for (days, expected) in [(29, 100), (30, 50), (60, 25)] {
            jobs::settle_due(&engine.db, day(days)).await.expect("settle");
            assert_eq!(engagement(&engine).await, (expected, 10), "day {days}");
        }

        engine.apply(vec![activity(lead, ActivityType::WebinarRegistration, day(61), &[])], day(61)).await;
        assert_eq!(engagement(&engine).await, (65, 10));
        assert_eq!(engine.score(lead).await, 75);
        engine.assert_score_is_ledger_sum(lead).await;

        let rows = store::lead_activities(&engine.db, lead).await.unwrap();
        let facts: Vec<_> = rows.iter().map(store::fact_from_row).collect();
        let attributes = BTreeMap::from([("job_title".to_owned(), "CTO".to_owned())]);
        let at_day_29 = domain::evaluate(&engine.model, &facts, &attributes, "google", day(29));
        assert_eq!(at_day_29.engagement, 100, "explanation at an earlier instant");
        engine.stop().await;
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct Step {
        lead: usize,
        kind: usize,
        minute: i64,
        asset: usize,
        retry: bool,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            (0..4usize, 0..5usize, 0..600i64, 0..3usize, prop::bool::weighted(0.2))
                .prop_map(|(lead, kind, minute, asset, retry)| Step { lead, kind, minute, asset, retry }),
            200,
        )
    }

    const KINDS: [ActivityType; 5] = [
        ActivityType::PageView,
        ActivityType::EmailOpen,
        ActivityType::EmailClick,
        ActivityType::Unsubscribe,
        ActivityType::DemoRequest,
    ];

    /// Builds a model with every limit kind, negative points, a floor and the given decay.
    fn model_with_limits(decay: Option<Decay>) -> api::ScoringModel {
        api::ScoringModel {
            rules: vec![
                per_hour(rule("view", ActivityType::PageView, 1), 2),
                limited(rule("open", ActivityType::EmailOpen, 2), LimitKind::OncePerAsset),
                rule("click", ActivityType::EmailClick, 3),
                rule("unsubscribe", ActivityType::Unsubscribe, -7),
                limited(rule("demo", ActivityType::DemoRequest, 40), LimitKind::OncePerLead),
            ],
            decay,
            mql_threshold: 45,
            score_floor: Some(0),
            ..api::ScoringModel::default()
        }
    }

    async fn run(database: TestDatabase, steps: Vec<Step>) {
        let engine = Engine::start(database, model_with_limits(half_life(1))).await;
        let leads: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();

        let mut sent: Vec<ActivityEvent> = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let event = if step.retry && !sent.is_empty() {
                let mut again = sent[index % sent.len()].clone();
                again.event_id = Uuid::now_v7().to_string();
                again
            } else {
                let asset = format!("asset-{}", step.asset);
                activity(leads[step.lead], KINDS[step.kind], day(0) + Duration::minutes(step.minute), &[("asset_id", &asset)])
            };
            sent.push(event.clone());
            let now = day(0) + Duration::minutes(600 + index as i64 * 7);
            engine.apply(vec![event], now).await;
        }
        jobs::settle_due(&engine.db, day(3)).await.expect("settle decay");

        for lead in &leads {
            engine.assert_score_is_ledger_sum(*lead).await;
        }
        engine.stop().await;
    }

    /// Applies activities that mostly arrive in order, in batches of one to four, with decay
    /// steps falling between batches. After each batch, every lead it touched has the score
    /// and verdicts that evaluating the lead's whole history at that instant gives.
    async fn run_in_order(database: TestDatabase, steps: Vec<Step>) {
        let two_hours = Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: 7200, nanos: 0 })) });
        let engine = Engine::start(database, model_with_limits(two_hours)).await;
        let leads: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let mut history: Vec<Vec<domain::ActivityFact>> = vec![Vec::new(); leads.len()];

        let mut clock = day(0);
        let mut batch: Vec<ActivityEvent> = Vec::new();
        let mut touched = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            // Gaps are 0 to 39 minutes, and a retry step goes 30 minutes back.
            clock += Duration::minutes(step.minute % 40);
            let occurred_at = if step.retry { clock - Duration::minutes(30) } else { clock };
            let asset = format!("asset-{}", step.asset);
            let activity_id = Uuid::now_v7();
            batch.push(activity_with_id(leads[step.lead], activity_id, KINDS[step.kind], occurred_at, &[("asset_id", &asset)]));
            history[step.lead].push(domain::ActivityFact {
                activity_id,
                activity_type: domain::activity_type_name(KINDS[step.kind] as i32).expect("known type").to_owned(),
                occurred_at,
                properties: BTreeMap::from([("asset_id".to_owned(), asset)]),
                anonymous: false,
            });
            touched.push(step.lead);
            if batch.len() < 1 + index % 4 && index + 1 < steps.len() {
                continue;
            }

            let now = clock + Duration::seconds(1);
            engine.apply(std::mem::take(&mut batch), now).await;
            touched.sort();
            touched.dedup();
            for lead in std::mem::take(&mut touched) {
                let expected = domain::evaluate(&engine.model, &history[lead], &BTreeMap::new(), "", now);
                assert_eq!(engine.score(leads[lead]).await, expected.total, "score of lead {lead} after step {index}");
                let rows = store::lead_activities(&engine.db, leads[lead]).await.expect("activities");
                for (award, points) in expected.awards.iter().zip(&expected.points) {
                    let row = rows.iter().find(|row| row.activity_id == award.activity_id).expect("stored activity");
                    assert_eq!(row.verdict, award.verdict.code(), "verdict of {} after step {index}", award.activity_id);
                    assert_eq!(row.credited_points, *points, "points of {} after step {index}", award.activity_id);
                }
                engine.assert_score_is_ledger_sum(leads[lead]).await;
            }
        }
        engine.stop().await;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

        #[test]
        fn in_order_batches_match_whole_evaluation(steps in steps()) {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                for database in databases("property_in_order").await {
                    run_in_order(database, steps.clone()).await;
                }
            });
        }

        #[test]
        fn score_always_equals_ledger_sum(steps in steps()) {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                for database in databases("property").await {
                    run(database, steps.clone()).await;
                }
            });
        }
    }
}
