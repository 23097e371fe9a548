//! The sales side of the qualification service against the real services: stages that never
//! move backwards, a lead's passage over 72 days, BANT violations, round-robin and territory
//! assignment, the first-touch SLA and its escalation, overrides, and rejected input.
//!
//! Every scenario acts at chosen instants. The test process calls
//! `leadflow_qualification::clock::allow_time_override`, and each request carries its instant
//! in the `leadflow-test-time` metadata header. The instants lie five years after the real
//! time, so the SLA job that the service runs on the real clock never escalates these leads.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use leadflow_proto::events::{LeadAttributed, LeadBecameMql, ScoringEvent, scoring_event};
use leadflow_proto::qualification::qualification_events_service_client::QualificationEventsServiceClient;
use leadflow_proto::qualification::{
    AcceptLeadRequest, AssignLeadRequest, Bant, Budget, CloseLeadRequest, CreateRepRequest, DeliverScoringEventsRequest,
    FieldType, Framework, FrameworkField, GetFunnelRequest, GetQualificationRequest, ListOverdueRequest,
    ListQueueRequest, ListRepsRequest, Qualification, QualificationSettings, RecycleLeadRequest, RejectLeadRequest, Rep,
    StartWorkRequest, UpdateSettingsRequest,
};
use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::AssignmentMode;
use leadflow_proto::types::{ActivityType, Outcome, QualificationState};
use leadflow_qualification::clock::{TIME_HEADER, allow_time_override};
use leadflow_tests::{Suite, eventually, on_every_backend, query_count};
use tonic::{Code, Request};
use tonic_types::StatusExt;
use uuid::Uuid;

/// Day `number` of every scenario, where day 0 is 1 January five years from now, 09:00 UTC.
fn day(number: i64) -> DateTime<Utc> {
    let year = Utc::now().year() + 5;
    Utc.with_ymd_and_hms(year, 1, 1, 9, 0, 0).unwrap() + Duration::days(number)
}

/// Returns the calendar date of day `number` as "YYYY-MM-DD".
fn date(number: i64) -> String {
    day(number).format("%Y-%m-%d").to_string()
}

fn timestamp(instant: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds: instant.timestamp(), nanos: 0 })
}

/// Wraps `message` in a request that acts at `instant`.
fn at<T>(instant: DateTime<Utc>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(TIME_HEADER, instant.to_rfc3339().parse().unwrap());
    request
}

fn scoring_event(lead_id: &str, kind: scoring_event::Kind) -> ScoringEvent {
    ScoringEvent {
        event_id: Uuid::now_v7().to_string(),
        lead_id: lead_id.to_owned(),
        create_time: None,
        traceparent: String::new(),
        kind: Some(kind),
    }
}

/// Delivers the attribution of a new lead created at `created` and returns its id.
async fn new_lead(suite: &Suite, created: DateTime<Utc>, source: &str, campaign: &str) -> String {
    let lead_id = Uuid::now_v7().to_string();
    let event = scoring_event(
        &lead_id,
        scoring_event::Kind::LeadAttributed(LeadAttributed {
            source: source.to_owned(),
            campaign: campaign.to_owned(),
            lead_create_time: timestamp(created),
            do_not_contact: false,
        }),
    );
    deliver(suite, created, event).await;
    lead_id
}

/// Delivers a `LeadBecameMql` event that crossed at `crossed`, applied at the same instant.
async fn became_mql(suite: &Suite, lead_id: &str, crossed: DateTime<Utc>) {
    let event = scoring_event(
        lead_id,
        scoring_event::Kind::LeadBecameMql(LeadBecameMql {
            score: 64,
            threshold: 50,
            model_id: "default".to_owned(),
            model_version: 1,
            source: "google".to_owned(),
            campaign: "spring".to_owned(),
            crossed_at: timestamp(crossed),
            top_reasons: Vec::new(),
            attributes: [("country".to_owned(), "RO".to_owned())].into(),
            do_not_contact: false,
        }),
    );
    deliver(suite, crossed, event).await;
}

async fn deliver(suite: &Suite, instant: DateTime<Utc>, event: ScoringEvent) {
    let mut client = QualificationEventsServiceClient::new(suite.channel(2));
    let response = client
        .deliver_scoring_events(at(instant, DeliverScoringEventsRequest { events: vec![event] }))
        .await
        .expect("event delivered")
        .into_inner();
    assert_eq!(response.applied, 1);
}

fn full_bant() -> Bant {
    Bant {
        budget: Some(Budget { amount_minor: 2_000_000, currency: "EUR".to_owned(), confirmed: false }),
        authority_role: "CTO".to_owned(),
        need: "Route inbound leads".to_owned(),
        timeframe: format!("{}-Q2", day(0).year()),
    }
}

async fn accept(suite: &mut Suite, instant: DateTime<Utc>, lead_id: &str) -> Result<QualificationState, tonic::Status> {
    let request = AcceptLeadRequest {
        lead_id: lead_id.to_owned(),
        bant: Some(full_bant()),
        actor: "rep-ana".to_owned(),
        ..AcceptLeadRequest::default()
    };
    let qualification = suite.qualification.accept_lead(at(instant, request)).await?.into_inner().qualification.unwrap();
    Ok(QualificationState::try_from(qualification.state).unwrap())
}

async fn state_of(suite: &mut Suite, lead_id: &str) -> QualificationState {
    let request = GetQualificationRequest { lead_id: lead_id.to_owned() };
    let qualification = suite.qualification.get_qualification(request).await.unwrap().into_inner().qualification.unwrap();
    QualificationState::try_from(qualification.state).unwrap()
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("BadRequest detail");
    bad_request.field_violations.iter().map(|violation| violation.field.clone()).collect()
}

async fn qualification(suite: &mut Suite, lead_id: &str) -> Qualification {
    let request = GetQualificationRequest { lead_id: lead_id.to_owned() };
    suite.qualification.get_qualification(request).await.expect("qualification").into_inner().qualification.unwrap()
}

async fn sql_never_moves_back(mut suite: Suite) -> Suite {
    allow_time_override();
    let lead_id = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &lead_id, day(1)).await;
    assert_eq!(accept(&mut suite, day(3), &lead_id).await.unwrap(), QualificationState::Sql);

    let start = StartWorkRequest { lead_id: lead_id.clone(), ..StartWorkRequest::default() };
    let status = suite.qualification.start_work(at(day(4), start)).await.expect_err("StartWork on an SQL");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("SQL"), "{}", status.message());

    let status = accept(&mut suite, day(4), &lead_id).await.expect_err("second AcceptLead");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let reject = RejectLeadRequest { lead_id: lead_id.clone(), reason: "no_budget".to_owned(), ..RejectLeadRequest::default() };
    let status = suite.qualification.reject_lead(at(day(4), reject)).await.expect_err("RejectLead on an SQL");
    assert_eq!(status.code(), Code::FailedPrecondition);

    became_mql(&suite, &lead_id, day(5)).await;
    let after = qualification(&mut suite, &lead_id).await;
    assert_eq!(after.state, QualificationState::Sql as i32, "a later MQL event leaves the SQL where it is");
    assert_eq!(after.history.len(), 2, "no refused request added a transition");
    suite
}

async fn recycle_and_requalify(mut suite: Suite) -> Suite {
    allow_time_override();
    let lead_id = new_lead(&suite, day(0), "linkedin", "webinar-7").await;

    became_mql(&suite, &lead_id, day(1)).await;
    assert_eq!(accept(&mut suite, day(3), &lead_id).await.unwrap(), QualificationState::Sql);
    let recycle = RecycleLeadRequest {
        lead_id: lead_id.clone(),
        reason: "no_budget".to_owned(),
        note: "budget frozen until the next fiscal year".to_owned(),
        actor: "rep-ana".to_owned(),
        ..RecycleLeadRequest::default()
    };
    suite.qualification.recycle_lead(at(day(40), recycle)).await.expect("explicit recycle");
    became_mql(&suite, &lead_id, day(70)).await;
    assert_eq!(accept(&mut suite, day(72), &lead_id).await.unwrap(), QualificationState::Sql);

    let history = qualification(&mut suite, &lead_id).await.history;
    let states: Vec<i32> = history.iter().map(|change| change.to_state).collect();
    let expected = [
        QualificationState::New,
        QualificationState::Sql,
        QualificationState::Recycled,
        QualificationState::New,
        QualificationState::Sql,
    ];
    assert_eq!(states, expected.map(|state| state as i32));
    let times: Vec<i64> = history.iter().map(|change| change.change_time.unwrap().seconds).collect();
    assert_eq!(times, [1, 3, 40, 70, 72].map(|number| day(number).timestamp()));
    assert_eq!(history[2].reason, "no_budget");
    assert_eq!(history[2].actor, "rep-ana");
    assert_eq!(history[0].actor, "system");

    let request = GetFunnelRequest { start_date: date(0), end_date: date(30), time_zone: "Europe/Bucharest".to_owned() };
    let funnel = suite.qualification.get_funnel(at(day(80), request)).await.expect("funnel").into_inner();
    let unique: Vec<(&str, i64)> = funnel.stages.iter().map(|stage| (stage.stage.as_str(), stage.lead_count)).collect();
    assert_eq!(unique, [("lead", 1), ("mql", 1), ("sql", 1), ("won", 0)]);
    let events: Vec<(&str, i64)> = funnel.event_stages.iter().map(|stage| (stage.stage.as_str(), stage.lead_count)).collect();
    assert_eq!(events, [("lead", 1), ("mql", 2), ("sql", 2), ("won", 0)]);

    let mql_to_sql = funnel.mql_to_sql.expect("MQL to SQL durations");
    assert_eq!(mql_to_sql.sample_count, 2);
    assert_eq!(mql_to_sql.median.unwrap().seconds, 2 * 86_400);
    assert_eq!(mql_to_sql.p90.unwrap().seconds, 2 * 86_400);
    assert_eq!(funnel.sources.len(), 1);
    assert_eq!(funnel.sources[0].key, "linkedin");
    assert_eq!(funnel.sources[0].sql_count, 1);
    assert_eq!(funnel.campaigns[0].key, "webinar-7");
    assert_eq!(funnel.campaigns[0].mql_rate, 1.0);
    suite
}

async fn incomplete_bant_violations(mut suite: Suite) -> Suite {
    allow_time_override();
    let lead_id = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &lead_id, day(1)).await;

    let request = AcceptLeadRequest {
        lead_id: lead_id.clone(),
        bant: Some(Bant { budget: None, timeframe: String::new(), ..full_bant() }),
        ..AcceptLeadRequest::default()
    };
    let status = suite.qualification.accept_lead(at(day(2), request)).await.expect_err("incomplete BANT");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["bant.budget", "bant.timeframe"]);
    assert_eq!(state_of(&mut suite, &lead_id).await, QualificationState::New);
    suite
}

async fn create_rep(suite: &mut Suite, rep_id: &str, capacity: i32) {
    let rep = Rep { rep_id: rep_id.to_owned(), active: true, capacity, ..Rep::default() };
    suite.qualification.create_rep(CreateRepRequest { rep: Some(rep), ..CreateRepRequest::default() }).await.expect("rep created");
}

async fn round_robin_fills_capacity(mut suite: Suite) -> Suite {
    allow_time_override();
    for rep_id in ["rep-a", "rep-b", "rep-c"] {
        create_rep(&mut suite, rep_id, 2).await;
    }
    let mut leads = Vec::new();
    for index in 0..7 {
        let lead_id = new_lead(&suite, day(0), "google", "spring").await;
        became_mql(&suite, &lead_id, day(1) + Duration::minutes(index)).await;
        leads.push(lead_id);
    }

    let reps = suite.qualification.list_reps(ListRepsRequest::default()).await.expect("reps").into_inner().reps;
    let open: Vec<(&str, i32)> = reps.iter().map(|rep| (rep.rep_id.as_str(), rep.open_lead_count)).collect();
    assert_eq!(open, [("rep-a", 2), ("rep-b", 2), ("rep-c", 2)]);

    let request = ListQueueRequest { unassigned_only: true, ..ListQueueRequest::default() };
    let unassigned = suite.qualification.list_queue(request).await.expect("queue").into_inner().qualifications;
    let unassigned_ids: Vec<&str> = unassigned.iter().map(|entry| entry.lead_id.as_str()).collect();
    assert_eq!(unassigned_ids, [leads[6].as_str()], "the seventh MQL finds no free rep");
    assert_eq!(unassigned[0].assigned_rep_id, "");

    let first = qualification(&mut suite, &leads[0]).await;
    assert_eq!(first.assigned_rep_id, "rep-a");
    assert_eq!(first.assignments.len(), 1);
    assert_eq!(first.assignments[0].method, "round_robin");

    let mine = ListQueueRequest { rep_id: "rep-b".to_owned(), ..ListQueueRequest::default() };
    let queue = suite.qualification.list_queue(mine).await.expect("queue of rep-b").into_inner().qualifications;
    let ids: Vec<&str> = queue.iter().map(|entry| entry.lead_id.as_str()).collect();
    assert_eq!(ids, [leads[1].as_str(), leads[4].as_str()]);

    // Rejecting one of rep-a's leads frees a slot, so the waiting lead can be moved there.
    let reject = RejectLeadRequest { lead_id: leads[0].clone(), reason: "duplicate".to_owned(), ..RejectLeadRequest::default() };
    suite.qualification.reject_lead(at(day(2), reject)).await.expect("rejected");
    let assign = AssignLeadRequest { lead_id: leads[6].clone(), rep_id: "rep-a".to_owned(), actor: "manager-ion".to_owned(), ..AssignLeadRequest::default() };
    let assigned = suite.qualification.assign_lead(at(day(2), assign)).await.expect("manual assignment").into_inner().qualification.unwrap();
    assert_eq!(assigned.assigned_rep_id, "rep-a");
    assert_eq!(assigned.assignments.len(), 1);
    assert_eq!(assigned.assignments[0].actor, "manager-ion");
    assert_eq!(assigned.assignments[0].method, "manual");

    let assign = AssignLeadRequest { lead_id: leads[6].clone(), rep_id: "rep-c".to_owned(), ..AssignLeadRequest::default() };
    let status = suite.qualification.assign_lead(at(day(2), assign)).await.expect_err("rep-c is full");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("rep-c"), "{}", status.message());
    assert!(status.message().contains("capacity 2"), "{}", status.message());
    assert_eq!(status.get_error_details().error_info().unwrap().reason, "REP_AT_CAPACITY");
    suite
}

async fn overdue_escalates_once(mut suite: Suite) -> Suite {
    allow_time_override();
    let settings = QualificationSettings { first_touch_sla_hours: 24, ..QualificationSettings::default() };
    let update = UpdateSettingsRequest {
        settings: Some(settings),
        update_mask: Some(prost_types::FieldMask { paths: vec!["first_touch_sla_hours".to_owned()] }),
        request_id: String::new(),
    };
    suite.qualification.update_settings(at(day(0), update)).await.expect("SLA set");

    let entered = day(1);
    let lead_id = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &lead_id, entered).await;
    let touched = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &touched, entered).await;
    let start = StartWorkRequest { lead_id: touched.clone(), ..StartWorkRequest::default() };
    suite.qualification.start_work(at(entered + Duration::hours(3), start)).await.expect("touched in time");

    let overdue_at = |suite: &Suite, instant: DateTime<Utc>| {
        let mut client = suite.qualification.clone();
        async move { client.list_overdue(at(instant, ListOverdueRequest::default())).await.expect("overdue").into_inner().leads }
    };
    assert!(overdue_at(&suite, entered + Duration::hours(23)).await.is_empty(), "not overdue before 24 hours");

    let late = entered + Duration::hours(25);
    let overdue = overdue_at(&suite, late).await;
    let ids: Vec<&str> = overdue.iter().map(|entry| entry.qualification.as_ref().unwrap().lead_id.as_str()).collect();
    assert_eq!(ids, [lead_id.as_str()]);
    assert_eq!(overdue[0].escalate_time, None, "the SLA job has not run at that time yet");

    // Events of the activity service's inbox from qualification, once the outbox is empty.
    let delivered = |suite: &Suite| {
        let (activity, qualification) = (suite.database_urls[0].clone(), suite.database_urls[2].clone());
        async move {
            eventually("the qualification outbox to drain", || {
                let qualification = qualification.clone();
                async move { (query_count(&qualification, "SELECT COUNT(*) FROM outbox").await == 0).then_some(()) }
            })
            .await;
            query_count(&activity, "SELECT COUNT(*) FROM inbox WHERE source = 'qualification'").await
        }
    };
    let before = delivered(&suite).await;

    let db = leadflow_kit::db::connect(&suite.database_urls[2]).await.expect("qualification database");
    let first = leadflow_qualification::sla::escalate_missed(&db, late).await.expect("first SLA pass");
    let second = leadflow_qualification::sla::escalate_missed(&db, late + Duration::minutes(5)).await.expect("second SLA pass");
    assert_eq!(first, 1);
    assert_eq!(second, 0, "a missed deadline is escalated once");
    db.close().await.expect("close");

    assert_eq!(delivered(&suite).await, before + 1, "one escalation event reached the activity service");

    let overdue = overdue_at(&suite, late + Duration::hours(1)).await;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].escalate_time.unwrap().seconds, late.timestamp());

    let request = GetFunnelRequest { start_date: date(0), ..GetFunnelRequest::default() };
    let funnel = suite.qualification.get_funnel(at(late, request)).await.expect("funnel").into_inner();
    assert_eq!(funnel.sla_met_count, 1);
    assert_eq!(funnel.sla_missed_count, 1);
    assert_eq!(funnel.sla_hit_rate, 0.5);
    suite
}

async fn override_and_other_framework(mut suite: Suite) -> Suite {
    allow_time_override();
    let field = |name: &str, field_type: FieldType| FrameworkField { name: name.to_owned(), r#type: field_type as i32, required: true };
    let meddic = Framework {
        name: "MEDDIC".to_owned(),
        fields: vec![field("metrics", FieldType::Number), field("economic_buyer", FieldType::Text)],
        min_answered: 0,
    };
    let update = UpdateSettingsRequest {
        settings: Some(QualificationSettings { framework: Some(meddic), ..QualificationSettings::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["framework".to_owned()] }),
        request_id: String::new(),
    };
    suite.qualification.update_settings(at(day(0), update)).await.expect("MEDDIC configured");

    let lead_id = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &lead_id, day(1)).await;
    let answers = [("metrics".to_owned(), "120000".to_owned())].into();
    let request = AcceptLeadRequest { lead_id: lead_id.clone(), answers, ..AcceptLeadRequest::default() };
    let status = suite.qualification.accept_lead(at(day(2), request.clone())).await.expect_err("economic buyer missing");
    assert_eq!(violated_fields(&status), ["answers.economic_buyer"]);

    let overridden = AcceptLeadRequest { override_reason: "CEO sponsors the deal".to_owned(), ..request };
    let accepted = suite.qualification.accept_lead(at(day(2), overridden)).await.expect("accepted by override").into_inner();
    let accepted = accepted.qualification.unwrap();
    assert_eq!(accepted.state, QualificationState::Sql as i32);
    assert_eq!(accepted.override_reason, "CEO sponsors the deal");
    assert_eq!(accepted.answers.get("metrics").map(String::as_str), Some("120000"));

    let funnel = suite.qualification.get_funnel(at(day(3), GetFunnelRequest::default())).await.expect("funnel").into_inner();
    assert_eq!(funnel.override_count, 1);
    suite
}

async fn sales_errors_name_values(mut suite: Suite) -> Suite {
    allow_time_override();
    create_rep(&mut suite, "rep-full", 1).await;
    let first = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &first, day(1)).await;
    let second = new_lead(&suite, day(0), "google", "spring").await;
    became_mql(&suite, &second, day(1)).await;

    let assign = AssignLeadRequest { lead_id: second.clone(), rep_id: "rep-ghost".to_owned(), ..AssignLeadRequest::default() };
    let status = suite.qualification.assign_lead(assign).await.expect_err("unknown rep");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("rep-ghost"), "{}", status.message());

    let assign = AssignLeadRequest { lead_id: second.clone(), rep_id: "rep-full".to_owned(), ..AssignLeadRequest::default() };
    let status = suite.qualification.assign_lead(assign).await.expect_err("rep at capacity");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("rep-full"), "{}", status.message());
    assert!(status.message().contains("capacity 1"), "{}", status.message());

    let duplicate = Rep { rep_id: "rep-full".to_owned(), active: true, capacity: 3, ..Rep::default() };
    let status = suite.qualification.create_rep(CreateRepRequest { rep: Some(duplicate), ..CreateRepRequest::default() }).await.expect_err("duplicate rep");
    assert_eq!(status.code(), Code::AlreadyExists);

    let reject = RejectLeadRequest { lead_id: second.clone(), reason: "too_expensive".to_owned(), ..RejectLeadRequest::default() };
    let status = suite.qualification.reject_lead(reject).await.expect_err("reason not in the list");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["reason"]);
    assert!(status.message().contains("\"too_expensive\""), "{}", status.message());

    let reasons = QualificationSettings { rejection_reasons: vec!["too_expensive".to_owned(), "no_budget".to_owned()], ..QualificationSettings::default() };
    let update = UpdateSettingsRequest {
        settings: Some(reasons),
        update_mask: Some(prost_types::FieldMask { paths: vec!["rejection_reasons".to_owned()] }),
        request_id: String::new(),
    };
    suite.qualification.update_settings(update).await.expect("reasons updated");
    let reject = RejectLeadRequest { lead_id: second.clone(), reason: "too_expensive".to_owned(), ..RejectLeadRequest::default() };
    suite.qualification.reject_lead(at(day(2), reject)).await.expect("configured reason accepted");
    let reject = RejectLeadRequest { lead_id: first.clone(), reason: "competitor".to_owned(), ..RejectLeadRequest::default() };
    let status = suite.qualification.reject_lead(reject).await.expect_err("reason removed from the list");
    assert!(status.message().contains("\"competitor\""), "{}", status.message());

    let close = CloseLeadRequest { lead_id: first.clone(), outcome: Outcome::Won as i32, ..CloseLeadRequest::default() };
    let status = suite.qualification.close_lead(close).await.expect_err("close of a NEW lead");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("NEW"), "{}", status.message());
    assert!(status.message().contains(&first), "{}", status.message());

    let backwards = GetFunnelRequest { start_date: date(31), end_date: date(30), ..GetFunnelRequest::default() };
    let status = suite.qualification.get_funnel(backwards).await.expect_err("period ends before it starts");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["end_date"]);
    assert!(status.message().contains(&date(30)), "{}", status.message());

    let zone = GetFunnelRequest { time_zone: "Europe/Atlantis".to_owned(), ..GetFunnelRequest::default() };
    let status = suite.qualification.get_funnel(zone).await.expect_err("unknown time zone");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("Europe/Atlantis"), "{}", status.message());
    suite
}

async fn create_territory_rep(suite: &mut Suite, rep_id: &str, country: &str, segment: &str) {
    let rep = Rep {
        rep_id: rep_id.to_owned(),
        active: true,
        capacity: 5,
        countries: vec![country.to_owned()],
        segments: vec![segment.to_owned()],
        ..Rep::default()
    };
    suite.qualification.create_rep(CreateRepRequest { rep: Some(rep), ..CreateRepRequest::default() }).await.expect("rep created");
}

/// Creates a lead with profile attributes through the activity service and tracks enough
/// activities for the default model to make it an MQL. Returns its id.
async fn qualify_through_scoring(suite: &mut Suite, email: &str, attributes: &[(&str, &str)]) -> String {
    let request = UpsertLeadRequest {
        email: email.to_owned(),
        source: "google".to_owned(),
        attributes: attributes.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
        ..UpsertLeadRequest::default()
    };
    let lead_id = suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id;
    for kind in [ActivityType::DemoRequest, ActivityType::ContentDownload, ActivityType::PageView] {
        let request = TrackActivityRequest {
            lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.clone())) }),
            r#type: kind as i32,
            ..TrackActivityRequest::default()
        };
        suite.activity.track_activity(request).await.expect("activity tracked");
    }
    lead_id
}

async fn assigned_rep_when_queued(suite: &Suite, lead_id: &str) -> String {
    let qualification = suite.qualification.clone();
    eventually("the MQL in the queue", || {
        let mut client = qualification.clone();
        let request = GetQualificationRequest { lead_id: lead_id.to_owned() };
        async move { Some(client.get_qualification(request).await.ok()?.into_inner().qualification?.assigned_rep_id) }
    })
    .await
}

async fn rules_route_by_attributes(mut suite: Suite) -> Suite {
    let update = UpdateSettingsRequest {
        settings: Some(QualificationSettings { assignment_mode: AssignmentMode::Rules as i32, ..QualificationSettings::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["assignment_mode".to_owned()] }),
        request_id: String::new(),
    };
    suite.qualification.update_settings(update).await.expect("rules mode");
    create_territory_rep(&mut suite, "rep-ro-software", "RO", "software").await;
    create_territory_rep(&mut suite, "rep-de-retail", "DE", "retail").await;

    let romanian = qualify_through_scoring(&mut suite, "ioana@example.ro", &[("country", "ro"), ("industry", "Software")]).await;
    let german = qualify_through_scoring(&mut suite, "jonas@example.de", &[("country", "DE"), ("industry", "retail")]).await;
    let nowhere = qualify_through_scoring(&mut suite, "li@example.cn", &[("country", "CN")]).await;

    assert_eq!(assigned_rep_when_queued(&suite, &romanian).await, "rep-ro-software");
    assert_eq!(assigned_rep_when_queued(&suite, &german).await, "rep-de-retail");
    assert_eq!(assigned_rep_when_queued(&suite, &nowhere).await, "", "no territory covers CN");

    let attributes = qualification(&mut suite, &german).await.attributes;
    assert_eq!(attributes.get("country").map(String::as_str), Some("DE"), "scoring forwards the profile attributes");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_assign_by_territory() {
    on_every_backend(rules_route_by_attributes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sql_refuses_moving_back() {
    on_every_backend(sql_never_moves_back).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recycled_lead_counts_per_view() {
    on_every_backend(recycle_and_requalify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incomplete_bant_names_two_fields() {
    on_every_backend(incomplete_bant_violations).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_robin_leaves_one_unassigned() {
    on_every_backend(round_robin_fills_capacity).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missed_sla_escalates_once() {
    on_every_backend(overdue_escalates_once).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn override_accepts_missing_fields() {
    on_every_backend(override_and_other_framework).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sales_errors_name_the_value() {
    on_every_backend(sales_errors_name_values).await;
}
