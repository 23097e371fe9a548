//! A consumer that stops for a while: the activity outbox keeps what is tracked meanwhile,
//! and when scoring returns every activity is scored once and every MQL happens once.

use std::time::Duration;

use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::ListQueueRequest;
use leadflow_proto::scoring::GetLeadScoreRequest;
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, eventually, on_every_backend, query_count};

/// Activities per lead: under the default model they are worth 57 points, above the MQL
/// threshold of 50, so each lead crosses it exactly once.
const ACTIVITIES: [ActivityType; 3] = [ActivityType::DemoRequest, ActivityType::ContentDownload, ActivityType::PageView];
const LEADS: usize = 6;

async fn scoring_restart(mut suite: Suite) -> Suite {
    let mut leads = Vec::new();
    for index in 0..LEADS {
        let request = UpsertLeadRequest { email: format!("restart{index}@example.ro"), ..UpsertLeadRequest::default() };
        let lead = suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead");
        leads.push(lead.lead_id);
    }

    suite.stop_service(1).await;

    for (index, lead_id) in leads.iter().enumerate() {
        for (position, kind) in ACTIVITIES.iter().enumerate() {
            let request = TrackActivityRequest {
                lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.clone())) }),
                r#type: *kind as i32,
                idempotency_key: format!("restart-{index}-{position}"),
                ..TrackActivityRequest::default()
            };
            suite.activity.track_activity(request).await.expect("tracking works while scoring is down");
        }
    }
    // Let the activity relay fail and back off a few times.
    tokio::time::sleep(Duration::from_millis(800)).await;

    suite.start_service(1).await;

    for lead_id in &leads {
        let scoring = suite.scoring.clone();
        let score = eventually("the backlog to be scored", || {
            let mut client = scoring.clone();
            let lead_id = lead_id.clone();
            async move {
                let score = client.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?.into_inner().score?;
                (score.score >= 57).then_some(score)
            }
        })
        .await;
        assert_eq!(score.score, 57, "every activity counted once");
        assert_eq!(score.mql_count, 1, "one MQL per lead");
    }

    let scoring_db = &suite.database_urls[1];
    let expected = (LEADS * ACTIVITIES.len()) as i64;
    assert_eq!(query_count(scoring_db, "SELECT COUNT(*) FROM scored_activity").await, expected, "every activity scored");
    let ledger = "SELECT COUNT(*) FROM ledger_entry WHERE kind = 'ACTIVITY'";
    assert_eq!(query_count(scoring_db, ledger).await, expected, "one ACTIVITY ledger entry per activity");
    let distinct = "SELECT COUNT(DISTINCT activity_id) FROM ledger_entry WHERE kind = 'ACTIVITY'";
    assert_eq!(query_count(scoring_db, distinct).await, expected, "no activity in the ledger twice");
    let mqls = "SELECT CAST(COALESCE(SUM(mql_count), 0) AS BIGINT) FROM lead_score";
    assert_eq!(query_count(scoring_db, mqls).await, LEADS as i64, "one MQL per lead");

    eventually("every lead in the sales queue", || {
        let mut client = suite.qualification.clone();
        async move {
            let request = ListQueueRequest { page_size: 100, ..ListQueueRequest::default() };
            let queue = client.list_queue(request).await.ok()?.into_inner().qualifications;
            (queue.len() >= LEADS).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let request = ListQueueRequest { page_size: 100, ..ListQueueRequest::default() };
    let queue = suite.qualification.list_queue(request).await.expect("queue").into_inner().qualifications;
    let mut queued: Vec<String> = queue.into_iter().map(|entry| entry.lead_id).collect();
    queued.sort();
    let mut expected = leads.clone();
    expected.sort();
    assert_eq!(queued, expected, "each lead queued once");
    let qualifications = query_count(&suite.database_urls[2], "SELECT COUNT(*) FROM qualification").await;
    assert_eq!(qualifications, LEADS as i64, "one qualification per MQL");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scoring_restart_scores_backlog_once() {
    on_every_backend(scoring_restart).await;
}
