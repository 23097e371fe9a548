//! A backlog of activity events reaches scoring in large deliveries. Every lead of a delivery
//! gets the score its activities give, and its ledger adds up to that score. Every activity
//! gets a verdict, and a merge inside the backlog moves the merged lead's points to the
//! survivor.

use leadflow_proto::activity::{LeadKey, MergeLeadsRequest, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::ListQueueRequest;
use leadflow_proto::scoring::GetLeadScoreRequest;
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, eventually, on_every_backend, query_count};

const LEADS: usize = 40;
const SCORING: usize = 1;

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

/// Demo requests of lead `index`: 0 to 3, so every second pair of leads passes the threshold
/// of 50 (40 points per demo request, 2 per page view).
fn demos(index: usize) -> usize {
    index % 4
}

async fn backlog_is_scored(mut suite: Suite) -> Suite {
    suite.stop_service(SCORING).await;

    let mut lead_ids = Vec::with_capacity(LEADS);
    let mut tracked = 0;
    for index in 0..LEADS {
        let request = UpsertLeadRequest {
            email: format!("lot-{index}@example.ro"),
            source: if index % 2 == 0 { "web".to_owned() } else { String::new() },
            ..UpsertLeadRequest::default()
        };
        let lead_id = suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id;
        let kinds = std::iter::once(ActivityType::PageView).chain(std::iter::repeat_n(ActivityType::DemoRequest, demos(index)));
        for (number, kind) in kinds.enumerate() {
            let request = TrackActivityRequest {
                lead: by_id(&lead_id),
                r#type: kind as i32,
                idempotency_key: format!("lot-{index}-{number}"),
                ..TrackActivityRequest::default()
            };
            suite.activity.track_activity(request).await.expect("activity stored");
            tracked += 1;
        }
        lead_ids.push(lead_id);
    }
    // Leads 1 and 5 have 42 points each, so together they pass the threshold.
    let request = MergeLeadsRequest { survivor: by_id(&lead_ids[5]), merged: by_id(&lead_ids[1]), ..MergeLeadsRequest::default() };
    suite.activity.merge_leads(request).await.expect("merged");

    suite.start_service(SCORING).await;
    let scoring_url = suite.database_urls[SCORING].clone();
    let expected_mqls = (0..LEADS).filter(|index| demos(*index) >= 2).count() as i64 + 1;
    eventually("every MQL of the backlog", || {
        let url = scoring_url.clone();
        async move { (query_count(&url, "SELECT COUNT(*) FROM lead_score WHERE mql").await == expected_mqls).then_some(()) }
    })
    .await;

    let activities = query_count(&scoring_url, "SELECT COUNT(*) FROM scored_activity").await;
    assert_eq!(activities, tracked, "every tracked activity is received once");
    let pending = query_count(&scoring_url, "SELECT COUNT(*) FROM scored_activity WHERE verdict = 'pending'").await;
    assert_eq!(pending, 0, "every activity has a verdict");
    let unbalanced = query_count(
        &scoring_url,
        "SELECT COUNT(*) FROM lead_score s \
         WHERE s.score <> (SELECT COALESCE(SUM(l.points), 0) FROM ledger_entry l WHERE l.lead_id = s.lead_id)",
    )
    .await;
    assert_eq!(unbalanced, 0, "every score equals the sum of its ledger");

    let merged = query_count(&scoring_url, "SELECT COUNT(*) FROM lead_score WHERE merged_into IS NOT NULL AND score = 0").await;
    assert_eq!(merged, 1, "the merged lead keeps a score of 0");

    for (index, lead_id) in lead_ids.iter().enumerate().filter(|(index, _)| *index != 1) {
        let request = GetLeadScoreRequest { lead_id: lead_id.clone(), as_of: None };
        let score = suite.scoring.get_lead_score(request).await.expect("score").into_inner().score.expect("score");
        let expected = if index == 5 { 84 } else { 2 + 40 * demos(index) as i64 };
        assert_eq!(score.score, expected, "score of lead {index}");
        assert_eq!(score.mql, expected >= 50, "MQL flag of lead {index}");
    }

    let queue_count = eventually("the MQL queue", || {
        let mut client = suite.qualification.clone();
        async move {
            let request = ListQueueRequest { page_size: 100, ..ListQueueRequest::default() };
            let listed = client.list_queue(request).await.ok()?.into_inner().qualifications.len() as i64;
            (listed == expected_mqls).then_some(listed)
        }
    })
    .await;
    assert_eq!(queue_count, expected_mqls);
    suite
}

#[tokio::test]
async fn large_backlog_is_scored() {
    on_every_backend(backlog_is_scored).await;
}
