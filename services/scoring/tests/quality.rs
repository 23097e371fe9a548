//! Quality reports and fitted models on a synthetic lead set with a known result, through
//! the gRPC handlers, on real SQLite files and, when configured, real PostgreSQL databases.
//!
//! The fixture has 1,000 leads per plan for the fit and 300 or 30 elsewhere. The attribute
//! `plan` drives the outcome: 80% of "enterprise" leads are won and 20% of "starter" leads.
//! The attribute `colour` and the number of page views are spread evenly over every (plan,
//! outcome) cell, so they carry no information.

use chrono::{DateTime, TimeZone, Utc};
use leadflow_kit::testing::{TestDatabase, databases};
use leadflow_proto::events::{ActivityEvent, ActivityRecorded, LeadProfileChanged, OutcomeImported, activity_event};
use leadflow_proto::scoring::scoring_service_server::ScoringService;
use leadflow_proto::scoring::{
    ActivityPoints, FitRule, FitScoringModelRequest, GetModelQualityRequest, LeadSplit, ListScoringModelVersionsRequest,
    ModelState, PreviewScoringModelRequest, ScoringModel,
};
use leadflow_proto::types::{ActivityType, Outcome};
use leadflow_scoring::api::ScoringApi;
use leadflow_scoring::domain::Model;
use leadflow_scoring::engine;
use leadflow_scoring::migration::Migrator;
use leadflow_scoring::quality::split::is_holdout;
use leadflow_scoring::store;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sea_orm_migration::MigratorTrait;
use tokio::sync::watch;
use tonic::{Code, Request};
use uuid::Uuid;

fn time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
}

/// One lead of the fixture.
struct FixtureLead {
    lead_id: Uuid,
    plan: &'static str,
    colour: &'static str,
    page_views: usize,
    won: bool,
}

/// Builds `per_plan` leads per plan with the given share of won leads, spreading colour and
/// page views evenly inside every (plan, outcome) cell. Lead ids are fixed numbers, so the
/// seeded split, and with it every fitted figure, is the same on every run.
fn fixture(per_plan: usize, won_share: [(&'static str, f64); 2]) -> Vec<FixtureLead> {
    let mut leads = Vec::new();
    let mut next_id = 0x0190_0000_0000_7000_8000_0000_0000_0000_u128;
    for (plan, share) in won_share {
        let won_count = (per_plan as f64 * share).round() as usize;
        for index in 0..per_plan {
            let won = index < won_count;
            let position_in_cell = if won { index } else { index - won_count };
            next_id += 1;
            leads.push(FixtureLead {
                lead_id: Uuid::from_u128(next_id),
                plan,
                colour: if position_in_cell % 2 == 0 { "red" } else { "blue" },
                page_views: 1 + (position_in_cell / 2) % 3,
                won,
            });
        }
    }
    leads
}

fn profile(lead: &FixtureLead) -> ActivityEvent {
    ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead.lead_id.to_string(),
        create_time: Some(leadflow_kit::time::to_timestamp(time())),
        traceparent: String::new(),
        kind: Some(activity_event::Kind::LeadProfileChanged(LeadProfileChanged {
            created: true,
            source: "web".to_owned(),
            campaign: String::new(),
            attributes: [("plan".to_owned(), lead.plan.to_owned()), ("colour".to_owned(), lead.colour.to_owned())]
                .into_iter()
                .collect(),
            lead_create_time: Some(leadflow_kit::time::to_timestamp(time())),
            ..LeadProfileChanged::default()
        })),
    }
}

fn page_view(lead: &FixtureLead) -> ActivityEvent {
    ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead.lead_id.to_string(),
        create_time: Some(leadflow_kit::time::to_timestamp(time())),
        traceparent: String::new(),
        kind: Some(activity_event::Kind::ActivityRecorded(ActivityRecorded {
            activity_id: Uuid::now_v7().to_string(),
            r#type: ActivityType::PageView as i32,
            occurred_at: Some(leadflow_kit::time::to_timestamp(time())),
            properties: Default::default(),
            anonymous: false,
        })),
    }
}

fn outcome(lead: &FixtureLead) -> ActivityEvent {
    ActivityEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead.lead_id.to_string(),
        create_time: Some(leadflow_kit::time::to_timestamp(time())),
        traceparent: String::new(),
        kind: Some(activity_event::Kind::OutcomeImported(OutcomeImported {
            outcome: if lead.won { Outcome::Won } else { Outcome::Lost } as i32,
            occurred_at: Some(leadflow_kit::time::to_timestamp(time())),
        })),
    }
}

/// A migrated database with the built-in model active, the fixture applied, and the handlers.
struct Service {
    db: DatabaseConnection,
    api: ScoringApi,
    database: TestDatabase,
    _shutdown: watch::Sender<bool>,
}

impl Service {
    async fn start(database: TestDatabase, leads: &[FixtureLead]) -> Service {
        let db = leadflow_kit::db::connect(&database.url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let model = Model::builtin();
        let row = store::insert_version(&db, &model, store::DRAFT).await.expect("store model");
        store::activate(&db, &model.model_id, row.version).await.expect("activate model");
        let (model, _) = store::active_model(&db, &model.model_id).await.expect("read model").expect("active model");

        for chunk in leads.chunks(100) {
            let mut events = Vec::new();
            for lead in chunk {
                events.push(profile(lead));
                events.extend((0..lead.page_views).map(|_| page_view(lead)));
                events.push(outcome(lead));
            }
            let txn = db.begin().await.expect("begin");
            engine::apply_activity_events(&txn, &model, &events, time()).await.expect("events apply");
            txn.commit().await.expect("commit");
        }

        let (shutdown, receiver) = watch::channel(false);
        Service { api: ScoringApi::new(db.clone(), receiver), db, database, _shutdown: shutdown }
    }

    async fn version_count(&self) -> usize {
        let request = ListScoringModelVersionsRequest { model_id: String::new(), page_size: 1000, page_token: String::new() };
        self.api.list_scoring_model_versions(Request::new(request)).await.expect("list versions").into_inner().models.len()
    }

    async fn stop(self) {
        self.db.close().await.expect("close");
        self.database.drop_database().await;
    }
}

#[tokio::test]
async fn fit_gives_driver_largest_points() {
    let leads = fixture(1000, [("enterprise", 0.8), ("starter", 0.2)]);
    for database in databases("quality_fit").await {
        let backend = database.backend;
        let service = Service::start(database, &leads).await;
        let versions_before = service.version_count().await;

        let request = FitScoringModelRequest { seed: 7, ..FitScoringModelRequest::default() };
        let response = service.api.fit_scoring_model(Request::new(request)).await.expect("fit succeeds").into_inner();

        let points_of = |rule_id: &str| {
            response.features.iter().find(|feature| feature.rule_id == rule_id).map(|feature| feature.points).unwrap_or(0)
        };
        let enterprise = points_of("plan-enterprise");
        let largest_other = response
            .features
            .iter()
            .filter(|feature| feature.rule_id != "plan-enterprise")
            .map(|feature| feature.points.abs())
            .max()
            .unwrap_or(0);
        assert!(enterprise >= 90, "plan = enterprise gets about 100 points or more on {backend}: {:?}", response.features);
        assert!(enterprise > largest_other, "plan = enterprise has the largest points on {backend}: {:?}", response.features);
        for unrelated in ["colour-red", "colour-blue", "page_view"] {
            let points = points_of(unrelated);
            assert!(points.abs() <= 15, "{unrelated} gets points near 0 on {backend}, not {points}");
        }

        let holdout = response.holdout.clone().expect("held-out figures");
        let training = response.training.clone().expect("training figures");
        assert_eq!(holdout.lead_count + training.lead_count, 2000, "the sides cover every lead on {backend}");
        let expected_holdout = leads.iter().filter(|lead| is_holdout(lead.lead_id, 7, 0.3)).count() as i64;
        assert_eq!(holdout.lead_count, expected_holdout, "held-out side follows the seeded hash on {backend}");
        assert!(holdout.roc_auc > 0.75, "held-out AUC {} on {backend}", holdout.roc_auc);
        let metrics = holdout.threshold_metrics.expect("threshold metrics");
        assert!(metrics.precision > 0.7, "held-out precision {} on {backend}", metrics.precision);
        assert!(metrics.recall > 0.7, "held-out recall {} on {backend}", metrics.recall);
        assert!(response.problems.is_empty(), "the draft can be published on {backend}: {:?}", response.problems);

        let draft = response.model.clone().expect("stored draft");
        assert_eq!(draft.state, ModelState::Draft as i32);
        assert_eq!(service.version_count().await, versions_before + 1, "one draft stored on {backend}");

        let preview = PreviewScoringModelRequest { draft_version: draft.version, ..PreviewScoringModelRequest::default() };
        let preview = service.api.preview_scoring_model(Request::new(preview)).await.expect("preview of the draft").into_inner();
        assert_eq!(preview.leads_evaluated, 2000);

        let quality = GetModelQualityRequest {
            version: draft.version,
            split: LeadSplit::Holdout as i32,
            seed: 7,
            ..GetModelQualityRequest::default()
        };
        let quality = service.api.get_model_quality(Request::new(quality)).await.expect("quality of the draft").into_inner();
        assert_eq!(quality.quality.expect("figures").roc_auc, holdout.roc_auc, "GetModelQuality agrees with the fit on {backend}");
        service.stop().await;
    }
}

#[tokio::test]
async fn quality_of_hand_model_counts_mqls() {
    let leads = fixture(300, [("enterprise", 0.8), ("starter", 0.2)]);
    for database in databases("quality_report").await {
        let backend = database.backend;
        let service = Service::start(database, &leads).await;

        let model = ScoringModel {
            activity_points: vec![ActivityPoints { activity_type: ActivityType::PageView as i32, points: 1 }],
            fit_rules: vec![FitRule {
                rule_id: "enterprise".to_owned(),
                attribute: "plan".to_owned(),
                equals_any: vec!["Enterprise".to_owned()],
                points: 10,
                ..FitRule::default()
            }],
            mql_threshold: 10,
            ..ScoringModel::default()
        };
        let request = GetModelQualityRequest { model: Some(model), ..GetModelQualityRequest::default() };
        let quality = service.api.get_model_quality(Request::new(request)).await.expect("quality").into_inner().quality.unwrap();

        assert_eq!(quality.lead_count, 600, "{backend}");
        assert_eq!(quality.converted_count, 300, "{backend}");
        assert_eq!(quality.base_rate, 0.5, "{backend}");
        let metrics = quality.threshold_metrics.unwrap();
        assert_eq!(metrics.predicted_positive_count, 300, "every enterprise lead is an MQL on {backend}");
        assert_eq!(metrics.true_positive_count, 240, "{backend}");
        assert_eq!(metrics.precision, 0.8, "{backend}");
        assert_eq!(metrics.recall, 0.8, "{backend}");
        // Enterprise leads score 11 to 13 and starter leads 1 to 3. A (won, lost) pair on
        // different plans is ordered right when the won lead is on enterprise (0.8 × 0.8 of the
        // pairs). Pairs on one plan (2 × 0.8 × 0.2) have the same page views on both sides, so
        // they count one half: 0.64 + 0.16 = 0.8.
        assert!((quality.roc_auc - 0.8).abs() < 1e-9, "AUC {} on {backend}", quality.roc_auc);
        assert_eq!(quality.sources.len(), 1);
        assert_eq!(quality.sources[0].source, "web");
        assert_eq!(quality.deciles.iter().map(|row| row.lead_count).sum::<i64>(), 600);
        let first = quality.roc_curve.first().unwrap();
        let last = quality.roc_curve.last().unwrap();
        assert_eq!((first.false_positive_rate, first.true_positive_rate), (0.0, 0.0));
        assert_eq!((last.false_positive_rate, last.true_positive_rate), (1.0, 1.0));
        service.stop().await;
    }
}

#[tokio::test]
async fn fit_with_few_outcomes_stores_nothing() {
    let leads = fixture(30, [("enterprise", 0.8), ("starter", 0.2)]);
    for database in databases("quality_few").await {
        let backend = database.backend;
        let service = Service::start(database, &leads).await;
        let versions_before = service.version_count().await;

        let request = FitScoringModelRequest { seed: 3, ..FitScoringModelRequest::default() };
        let status = service.api.fit_scoring_model(Request::new(request)).await.expect_err("too few outcomes");

        let training: Vec<&FixtureLead> = leads.iter().filter(|lead| !is_holdout(lead.lead_id, 3, 0.3)).collect();
        let won = training.iter().filter(|lead| lead.won).count();
        let lost = training.len() - won;
        assert_eq!(status.code(), Code::FailedPrecondition, "{backend}: {status:?}");
        assert!(status.message().contains("at least 50 won and 50 lost"), "{backend}: {}", status.message());
        assert!(status.message().contains(&format!("{won} won and {lost} lost")), "{backend}: {}", status.message());
        let details = tonic_types::StatusExt::get_error_details(&status);
        assert_eq!(details.error_info().map(|info| info.reason.as_str()), Some("NOT_ENOUGH_OUTCOMES"));
        assert_eq!(service.version_count().await, versions_before, "nothing stored on {backend}");
        service.stop().await;
    }
}

#[tokio::test]
async fn fit_rejects_bad_holdout() {
    for database in databases("quality_bad_input").await {
        let service = Service::start(database, &[]).await;
        for fraction in [-0.1, 0.95, 1.0, f64::NAN] {
            let request = FitScoringModelRequest { holdout_fraction: fraction, ..FitScoringModelRequest::default() };
            let status = service.api.fit_scoring_model(Request::new(request)).await.expect_err("invalid fraction");
            assert_eq!(status.code(), Code::InvalidArgument, "holdout {fraction}");
        }
        let request = FitScoringModelRequest { l2_penalty: Some(-1.0), ..FitScoringModelRequest::default() };
        let status = service.api.fit_scoring_model(Request::new(request)).await.expect_err("negative penalty");
        assert_eq!(status.code(), Code::InvalidArgument);
        service.stop().await;
    }
}
