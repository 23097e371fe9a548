//! Retries, redeliveries and concurrent writes count once.

use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::qualification::{GetQualificationRequest, ListQueueRequest, RejectLeadRequest};
use leadflow_proto::scoring::{ActivityPoints, GetLeadScoreRequest, LeadScore, PublishScoringModelRequest, ScoringModel};
use leadflow_proto::types::{ActivityType, QualificationState};
use leadflow_tests::{Suite, eventually, on_every_backend};
use tonic::Code;
use tonic_types::StatusExt;

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

async fn create_lead(suite: &mut Suite, email: &str) -> String {
    let request = UpsertLeadRequest { email: email.to_owned(), ..UpsertLeadRequest::default() };
    suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id
}

async fn score_when(suite: &Suite, lead_id: &str, what: &str, ready: impl Fn(&LeadScore) -> bool) -> LeadScore {
    let scoring = suite.scoring.clone();
    eventually(what, || {
        let mut client = scoring.clone();
        let lead_id = lead_id.to_owned();
        let ready = &ready;
        async move {
            let score = client.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?.into_inner().score?;
            ready(&score).then_some(score)
        }
    })
    .await
}

fn activity(lead_id: &str, kind: ActivityType, key: &str) -> TrackActivityRequest {
    TrackActivityRequest {
        lead: by_id(lead_id),
        r#type: kind as i32,
        idempotency_key: key.to_owned(),
        ..TrackActivityRequest::default()
    }
}

async fn repeated_idempotency_key(mut suite: Suite) -> Suite {
    let lead_id = create_lead(&mut suite, "ion@example.ro").await;
    let request = activity(&lead_id, ActivityType::PageView, "web-event-1");

    let first = suite.activity.track_activity(request.clone()).await.expect("first").into_inner();
    let second = suite.activity.track_activity(request.clone()).await.expect("retry").into_inner();
    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.activity.unwrap().activity_id, second.activity.unwrap().activity_id);

    let other = activity(&lead_id, ActivityType::EmailOpen, "web-event-2");
    suite.activity.track_activity(other).await.expect("second activity");

    let score = score_when(&suite, &lead_id, "both activities scored", |score| score.ledger_entries == 2).await;
    assert_eq!(score.score, 3, "page view 2 + e-mail open 1, the retry counted once");

    let reused = TrackActivityRequest { r#type: ActivityType::DemoRequest as i32, ..request };
    let status = suite.activity.track_activity(reused).await.expect_err("key reused for another activity");
    assert_eq!(status.code(), Code::InvalidArgument);
    suite
}

async fn repeated_request_id(mut suite: Suite) -> Suite {
    let request = UpsertLeadRequest {
        email: "elena@example.ro".to_owned(),
        source: "linkedin".to_owned(),
        request_id: "5d8f6f2e-0c1b-4a57-9c39-7b1f0b8c2a11".to_owned(),
        ..UpsertLeadRequest::default()
    };
    let first = suite.activity.upsert_lead(request.clone()).await.expect("first").into_inner();
    let retry = suite.activity.upsert_lead(request.clone()).await.expect("retry").into_inner();
    assert_eq!(first, retry, "the retry returns the first result");
    assert!(retry.created);

    let lead_id = first.lead.as_ref().expect("lead").lead_id.clone();
    let track = TrackActivityRequest {
        request_id: "0b9e4c0e-6a43-4f0c-8d0e-2f7a7c3b9a51".to_owned(),
        ..activity(&lead_id, ActivityType::PageView, "")
    };
    let tracked = suite.activity.track_activity(track.clone()).await.expect("tracked").into_inner();
    let replayed = suite.activity.track_activity(track.clone()).await.expect("retry").into_inner();
    assert_eq!(tracked, replayed, "a TrackActivity retry returns the first result");
    let other_type = TrackActivityRequest { r#type: ActivityType::DemoRequest as i32, ..track };
    let status = suite.activity.track_activity(other_type).await.expect_err("same id, different activity");
    assert_eq!(status.get_error_details().error_info().expect("ErrorInfo").reason, "REQUEST_ID_REUSED");

    let changed = UpsertLeadRequest { source: "facebook".to_owned(), ..request };
    let status = suite.activity.upsert_lead(changed).await.expect_err("same id, different request");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.get_error_details().error_info().expect("ErrorInfo").reason, "REQUEST_ID_REUSED");
    suite
}

async fn recycled_lead_qualifies_again(mut suite: Suite) -> Suite {
    let lead_id = create_lead(&mut suite, "radu@example.ro").await;
    for (kind, key) in [(ActivityType::DemoRequest, "r-1"), (ActivityType::ContentDownload, "r-2")] {
        suite.activity.track_activity(activity(&lead_id, kind, key)).await.expect("tracked");
    }

    let qualification = suite.qualification.clone();
    let in_queue = |expected_mql_score: i64| {
        let qualification = qualification.clone();
        let lead_id = lead_id.clone();
        async move {
            eventually("the lead in the queue", || {
                let mut client = qualification.clone();
                let lead_id = lead_id.clone();
                async move {
                    let queue = client.list_queue(ListQueueRequest::default()).await.ok()?.into_inner();
                    queue
                        .qualifications
                        .into_iter()
                        .find(|entry| entry.lead_id == lead_id && entry.mql_score == expected_mql_score)
                }
            })
            .await
        }
    };
    in_queue(55).await;

    let rejected = suite
        .qualification
        .reject_lead(RejectLeadRequest {
            lead_id: lead_id.clone(),
            reason: "no_budget".to_owned(),
            note: "Buget aprobat abia în trimestrul următor".to_owned(),
            ..RejectLeadRequest::default()
        })
        .await
        .expect("rejected")
        .into_inner()
        .qualification
        .expect("qualification");
    assert_eq!(rejected.state, QualificationState::Recycled as i32);

    score_when(&suite, &lead_id, "the recycle to re-arm scoring", |score| !score.mql).await;
    for (kind, key) in [(ActivityType::PageView, "r-3"), (ActivityType::Unsubscribe, "r-4"), (ActivityType::PageView, "r-5")] {
        suite.activity.track_activity(activity(&lead_id, kind, key)).await.expect("tracked after recycle");
    }
    score_when(&suite, &lead_id, "the lead below the threshold", |score| score.score == 39).await;
    let still_recycled = suite
        .qualification
        .get_qualification(GetQualificationRequest { lead_id: lead_id.clone() })
        .await
        .expect("qualification")
        .into_inner()
        .qualification
        .expect("qualification");
    assert_eq!(still_recycled.state, QualificationState::Recycled as i32, "a rise while above the threshold is no crossing");

    suite
        .activity
        .track_activity(activity(&lead_id, ActivityType::WebinarRegistration, "r-6"))
        .await
        .expect("tracked after falling below");
    let again = in_queue(59).await;
    assert_eq!(again.state, QualificationState::New as i32);

    let history = suite
        .qualification
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
        [QualificationState::New as i32, QualificationState::Recycled as i32, QualificationState::New as i32]
    );

    let score = score_when(&suite, &lead_id, "the second crossing", |score| score.mql_count == 2).await;
    assert!(score.mql);
    suite
}

async fn concurrent_activities(mut suite: Suite) -> Suite {
    let model = ScoringModel {
        activity_points: vec![ActivityPoints { activity_type: ActivityType::PageView as i32, points: 1 }],
        mql_threshold: 1000,
        description: "one point per page view".to_owned(),
        ..ScoringModel::default()
    };
    suite
        .scoring
        .publish_scoring_model(PublishScoringModelRequest { model: Some(model), ..PublishScoringModelRequest::default() })
        .await
        .expect("model published");

    let mut leads = Vec::new();
    for index in 0..5 {
        leads.push(create_lead(&mut suite, &format!("visitor{index}@example.ro")).await);
    }

    let mut tasks = Vec::new();
    for task in 0..16 {
        let mut client = suite.activity.clone();
        let leads = leads.clone();
        tasks.push(tokio::spawn(async move {
            let mut index = task;
            while index < 200 {
                let lead_id = &leads[index % leads.len()];
                let request = activity(lead_id, ActivityType::PageView, &format!("concurrent-{index}"));
                client.track_activity(request).await.expect("every concurrent call succeeds");
                index += 16;
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }

    for lead_id in &leads {
        let score = score_when(&suite, lead_id, "40 page views scored", |score| score.ledger_entries == 40).await;
        assert_eq!(score.score, 40);
    }
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_key_counts_once() {
    on_every_backend(repeated_idempotency_key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_id_replays_first_result() {
    on_every_backend(repeated_request_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recycled_lead_becomes_mql_again() {
    on_every_backend(recycled_lead_qualifies_again).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_activities_all_count() {
    on_every_backend(concurrent_activities).await;
}
