//! Concurrent TrackActivity calls share transactions (group commit): a call that fails is
//! rolled back alone and gets its own error, and the calls beside it are stored.

use leadflow_kit::errors::Reason;
use leadflow_proto::activity::{LeadKey, ListActivitiesRequest, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, SuiteOptions, backends, on_every_backend, query_count};
use tonic::Code;
use tonic_types::StatusExt;

const CALLS: usize = 120;

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

/// What call `index` sends, and the outcome it must get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A new activity of the existing lead: stored.
    Valid,
    /// A lead id that no lead has: NOT_FOUND.
    MissingLead,
    /// An activity type of 0: INVALID_ARGUMENT before any database work.
    InvalidType,
    /// The same idempotency key as every other call of this kind: stored once.
    SharedKey,
}

fn kind(index: usize) -> Kind {
    match index % 4 {
        0 => Kind::Valid,
        1 => Kind::MissingLead,
        2 => Kind::InvalidType,
        _ => Kind::SharedKey,
    }
}

async fn mixed_calls(mut suite: Suite) -> Suite {
    let request = UpsertLeadRequest { email: "grup@example.ro".to_owned(), ..UpsertLeadRequest::default() };
    let lead_id = suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id;
    let missing = uuid::Uuid::now_v7().to_string();

    let mut tasks = Vec::new();
    for index in 0..CALLS {
        let mut client = suite.activity.clone();
        let (lead_id, missing) = (lead_id.clone(), missing.clone());
        tasks.push(tokio::spawn(async move {
            let request = match kind(index) {
                Kind::Valid => TrackActivityRequest {
                    lead: by_id(&lead_id),
                    r#type: ActivityType::PageView as i32,
                    idempotency_key: format!("valid-{index}"),
                    ..TrackActivityRequest::default()
                },
                Kind::MissingLead => TrackActivityRequest {
                    lead: by_id(&missing),
                    r#type: ActivityType::PageView as i32,
                    idempotency_key: format!("missing-{index}"),
                    ..TrackActivityRequest::default()
                },
                Kind::InvalidType => TrackActivityRequest { lead: by_id(&lead_id), ..TrackActivityRequest::default() },
                Kind::SharedKey => TrackActivityRequest {
                    lead: by_id(&lead_id),
                    r#type: ActivityType::DemoRequest as i32,
                    idempotency_key: "shared-key".to_owned(),
                    ..TrackActivityRequest::default()
                },
            };
            (index, client.track_activity(request).await)
        }));
    }

    let mut shared_ids = Vec::new();
    let mut shared_created = 0;
    for task in tasks {
        let (index, result) = task.await.expect("client task");
        match kind(index) {
            Kind::Valid => {
                let response = result.expect("valid call stored").into_inner();
                assert!(response.created, "call {index} created its activity");
            }
            Kind::MissingLead => {
                let status = result.expect_err("missing lead rejected");
                assert_eq!(status.code(), Code::NotFound, "call {index}");
                let reason = status.get_error_details().error_info().map(|info| info.reason.clone());
                assert_eq!(reason.as_deref(), Some(Reason::LeadNotFound.as_str()), "call {index}");
            }
            Kind::InvalidType => {
                let status = result.expect_err("invalid type rejected");
                assert_eq!(status.code(), Code::InvalidArgument, "call {index}");
            }
            Kind::SharedKey => {
                let response = result.expect("shared key answered").into_inner();
                shared_created += usize::from(response.created);
                shared_ids.push(response.activity.expect("activity").activity_id);
            }
        }
    }

    assert_eq!(shared_created, 1, "one call of the shared key created the activity");
    shared_ids.dedup();
    assert_eq!(shared_ids.len(), 1, "every call of the shared key returned the same activity");

    let valid = (0..CALLS).filter(|index| kind(*index) == Kind::Valid).count();
    let listed = ListActivitiesRequest { lead: by_id(&lead_id), page_size: 1000, page_token: String::new() };
    let activities = suite.activity.list_activities(listed).await.expect("list").into_inner().activities;
    assert_eq!(activities.len(), valid + 1, "valid calls and the shared key are stored, nothing else");

    let stored = query_count(&suite.database_urls[0], "SELECT COUNT(*) FROM activity").await;
    assert_eq!(stored, (valid + 1) as i64);
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_calls_roll_back_alone() {
    on_every_backend(mixed_calls).await;
}

/// Concurrent calls that share a new e-mail address, a request id or a visitor: the batches
/// create one lead for the address, store one activity per request id, and reject a request
/// id reused with other content with INVALID_ARGUMENT.
async fn repeats_in_one_batch(mut suite: Suite) -> Suite {
    const SAME_LEAD: usize = 40;
    const SAME_REQUEST: usize = 20;
    const REUSED_ID: usize = 10;
    const VISITOR: usize = 10;
    let by_email = Some(LeadKey { key: Some(lead_key::Key::Email("nou@example.ro".to_owned())) });

    let mut tasks = Vec::new();
    for index in 0..SAME_LEAD + SAME_REQUEST + REUSED_ID + VISITOR {
        let mut client = suite.activity.clone();
        let by_email = by_email.clone();
        tasks.push(tokio::spawn(async move {
            let request = if index < SAME_LEAD {
                TrackActivityRequest {
                    lead: by_email,
                    r#type: ActivityType::PageView as i32,
                    idempotency_key: format!("new-lead-{index}"),
                    create_lead: true,
                    ..TrackActivityRequest::default()
                }
            } else if index < SAME_LEAD + SAME_REQUEST {
                TrackActivityRequest {
                    lead: by_email,
                    r#type: ActivityType::ContentDownload as i32,
                    create_lead: true,
                    request_id: "one-request".to_owned(),
                    ..TrackActivityRequest::default()
                }
            } else if index < SAME_LEAD + SAME_REQUEST + REUSED_ID {
                TrackActivityRequest {
                    lead: by_email,
                    r#type: ActivityType::PageView as i32,
                    idempotency_key: format!("reused-{index}"),
                    create_lead: true,
                    request_id: "reused-request".to_owned(),
                    ..TrackActivityRequest::default()
                }
            } else {
                TrackActivityRequest {
                    lead: Some(LeadKey { key: Some(lead_key::Key::VisitorId(format!("vizitator-{index}"))) }),
                    r#type: ActivityType::PageView as i32,
                    ..TrackActivityRequest::default()
                }
            };
            (index, client.track_activity(request).await)
        }));
    }

    let mut lead_ids = Vec::new();
    let mut same_request_ids = Vec::new();
    let (mut reused_stored, mut reused_rejected) = (0, 0);
    for task in tasks {
        let (index, result) = task.await.expect("client task");
        if index < SAME_LEAD {
            let response = result.expect("call for the new lead stored").into_inner();
            assert!(response.created, "call {index} created its activity");
            lead_ids.push(response.lead_id);
        } else if index < SAME_LEAD + SAME_REQUEST {
            let response = result.expect("repeated request answered").into_inner();
            same_request_ids.push(response.activity.expect("activity").activity_id);
            lead_ids.push(response.lead_id);
        } else if index < SAME_LEAD + SAME_REQUEST + REUSED_ID {
            match result {
                Ok(_) => reused_stored += 1,
                Err(status) => {
                    assert_eq!(status.code(), Code::InvalidArgument, "call {index}");
                    reused_rejected += 1;
                }
            }
        } else {
            let response = result.expect("visitor call stored").into_inner();
            assert!(response.created, "visitor call {index} created its activity");
        }
    }

    lead_ids.sort();
    lead_ids.dedup();
    assert_eq!(lead_ids.len(), 1, "every call for the new address reached one lead");
    same_request_ids.dedup();
    assert_eq!(same_request_ids.len(), 1, "every repeat of the request id returned the same activity");
    assert_eq!(reused_stored, 1, "one call of the reused request id was stored");
    assert_eq!(reused_rejected, REUSED_ID - 1);

    let url = &suite.database_urls[0];
    let leads = query_count(url, "SELECT COUNT(*) FROM lead WHERE email = 'nou@example.ro'").await;
    assert_eq!(leads, 1);
    let listed = ListActivitiesRequest { lead: by_id(&lead_ids[0]), page_size: 1000, page_token: String::new() };
    let activities = suite.activity.list_activities(listed).await.expect("list").into_inner().activities;
    assert_eq!(activities.len(), SAME_LEAD + 1 + 1, "one activity per call, per request id and per reused id");
    let visitors = query_count(url, "SELECT COUNT(*) FROM lead WHERE anonymous").await;
    assert_eq!(visitors, VISITOR as i64, "each visitor has its own anonymous lead");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeats_share_one_batch() {
    on_every_backend(repeats_in_one_batch).await;
}

/// The same calls with three writers of at most four calls each, so batches are small and
/// writers race for the same new lead and request ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_writers_small_batches() {
    for backend in backends() {
        let options = SuiteOptions {
            configure: Some(Box::new(|index, config| {
                if index == 0 {
                    config.group_commit.writers = 3;
                    config.group_commit.max_batch = 4;
                }
            })),
            ..SuiteOptions::default()
        };
        let suite = Suite::start_with(backend, options).await;
        let suite = repeats_in_one_batch(suite).await;
        suite.stop().await;
    }
}
