//! A lead's whole journey through the three real services.

use leadflow_proto::activity::{LeadKey, LifecycleStage, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::{
    AcceptLeadRequest, Bant, Budget, CloseLeadRequest, GetFunnelRequest, GetQualificationRequest, ListQueueRequest,
};
use leadflow_proto::scoring::{GetLeadScoreRequest, LedgerEntryKind, ListScoreChangesRequest};
use leadflow_proto::types::{ActivityType, Outcome, QualificationState};
use leadflow_tests::{Suite, eventually, on_every_backend};

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

pub fn track(lead_id: &str, kind: ActivityType, property: (&str, &str)) -> TrackActivityRequest {
    TrackActivityRequest {
        lead: by_id(lead_id),
        r#type: kind as i32,
        properties: [(property.0.to_owned(), property.1.to_owned())].into(),
        ..TrackActivityRequest::default()
    }
}

pub fn full_bant() -> Bant {
    Bant {
        budget: Some(Budget { amount_minor: 1_500_000, currency: "EUR".to_owned(), confirmed: false }),
        authority_role: "CTO".to_owned(),
        need: "Route inbound leads to sales within a day".to_owned(),
        timeframe: "2027-Q1".to_owned(),
    }
}

async fn journey(mut suite: Suite) -> Suite {
    let lead = suite
        .activity
        .upsert_lead(UpsertLeadRequest {
            email: " Ana.Pop@Example.RO ".to_owned(),
            source: "Google".to_owned(),
            campaign: "spring-webinar".to_owned(),
            ..UpsertLeadRequest::default()
        })
        .await
        .expect("lead created")
        .into_inner()
        .lead
        .expect("lead in response");
    assert_eq!(lead.email, "ana.pop@example.ro");
    assert_eq!(lead.source, "google");
    let lead_id = lead.lead_id.clone();

    for request in [
        track(&lead_id, ActivityType::PageView, ("url", "/pricing")),
        track(&lead_id, ActivityType::ContentDownload, ("asset_id", "guide-lead-scoring")),
        track(&lead_id, ActivityType::DemoRequest, ("url", "/demo")),
    ] {
        let response = suite.activity.track_activity(request).await.expect("activity tracked").into_inner();
        assert!(response.created);
    }

    let mut qualification = suite.qualification.clone();
    let queued = eventually("the lead in the MQL queue", || {
        let mut client = qualification.clone();
        let lead_id = lead_id.clone();
        async move {
            let queue = client.list_queue(ListQueueRequest::default()).await.ok()?.into_inner();
            queue.qualifications.into_iter().find(|entry| entry.lead_id == lead_id)
        }
    })
    .await;
    assert_eq!(queued.state, QualificationState::New as i32);
    assert_eq!(queued.mql_score, 57);
    assert_eq!(queued.source, "google");
    assert_eq!(queued.campaign, "spring-webinar");
    assert!(!queued.top_reasons.is_empty());

    let score = suite
        .scoring
        .get_lead_score(GetLeadScoreRequest { lead_id: lead_id.clone(), as_of: None })
        .await
        .expect("score")
        .into_inner()
        .score
        .expect("score in response");
    assert_eq!(score.score, 57);
    assert!(score.mql);
    assert_eq!(score.mql_count, 1);
    assert_eq!(score.ledger_entries, 4, "three activities and the crossing");
    let reasons_sum: i64 = score.reasons.iter().map(|reason| reason.points).sum();
    assert_eq!(reasons_sum, score.score);

    let ledger = suite
        .scoring
        .list_score_changes(ListScoreChangesRequest { lead_id: lead_id.clone(), ..ListScoreChangesRequest::default() })
        .await
        .expect("ledger")
        .into_inner()
        .entries;
    let kinds: Vec<i32> = ledger.iter().map(|entry| entry.kind).collect();
    let activity = LedgerEntryKind::Activity as i32;
    assert_eq!(kinds, [activity, activity, activity, LedgerEntryKind::Mql as i32]);
    assert_eq!(ledger.iter().map(|entry| entry.points).sum::<i64>(), 57);

    let accepted = qualification
        .accept_lead(AcceptLeadRequest { lead_id: lead_id.clone(), bant: Some(full_bant()), ..AcceptLeadRequest::default() })
        .await
        .expect("accepted")
        .into_inner()
        .qualification
        .expect("qualification");
    assert_eq!(accepted.state, QualificationState::Sql as i32);

    let closed = qualification
        .close_lead(CloseLeadRequest {
            lead_id: lead_id.clone(),
            outcome: Outcome::Won as i32,
            value_minor: 1_200_000,
            currency: "EUR".to_owned(),
            ..CloseLeadRequest::default()
        })
        .await
        .expect("closed")
        .into_inner()
        .qualification
        .expect("qualification");
    assert_eq!(closed.state, QualificationState::Won as i32);

    let history = qualification
        .get_qualification(GetQualificationRequest { lead_id: lead_id.clone() })
        .await
        .expect("qualification")
        .into_inner()
        .qualification
        .expect("qualification")
        .history;
    let states: Vec<i32> = history.iter().map(|transition| transition.to_state).collect();
    assert_eq!(
        states,
        [QualificationState::New as i32, QualificationState::Sql as i32, QualificationState::Won as i32]
    );

    let funnel = qualification.get_funnel(GetFunnelRequest::default()).await.expect("funnel").into_inner();
    let counts: Vec<(String, i64)> = funnel.stages.iter().map(|stage| (stage.stage.clone(), stage.lead_count)).collect();
    assert_eq!(
        counts,
        [("lead".to_owned(), 1), ("mql".to_owned(), 1), ("sql".to_owned(), 1), ("won".to_owned(), 1)]
    );
    for stage in &funnel.stages {
        assert_eq!(stage.conversion_from_lead, 1.0, "stage {}", stage.stage);
    }

    let activity = suite.activity.clone();
    eventually("the customer stage in the activity service", || {
        let mut client = activity.clone();
        let lead_id = lead_id.clone();
        async move {
            let request = leadflow_proto::activity::GetLeadRequest { lead: by_id(&lead_id) };
            let lead = client.get_lead(request).await.ok()?.into_inner().lead?;
            (lead.lifecycle_stage == LifecycleStage::Customer as i32).then_some(())
        }
    })
    .await;

    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lead_travels_the_whole_funnel() {
    on_every_backend(journey).await;
}
