//! Model versions through the real services: drafts, validation, preview, publication with
//! rescoring, explanations at an instant, and the score-change feed.

use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::scoring::{
    ActivityPoints, BehaviorRule, CreateScoringModelDraftRequest, Decay, GetLeadScoreRequest, GetScoringModelRequest,
    ListScoreChangesRequest, ListScoringModelVersionsRequest, ModelState, PreviewScoringModelRequest,
    PublishScoringModelRequest, RuleFilter, ScoringModel, ValidateScoringModelRequest, WatchScoreChangesRequest, decay,
};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, eventually, on_every_backend};
use tonic::Code;
use tonic_types::StatusExt;

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("BadRequest detail");
    bad_request.field_violations.iter().map(|violation| violation.field.clone()).collect()
}

fn rule(id: &str, kind: ActivityType, points: i64) -> BehaviorRule {
    BehaviorRule { rule_id: id.to_owned(), activity_type: kind as i32, points, ..BehaviorRule::default() }
}

fn invalid_model() -> ScoringModel {
    ScoringModel {
        rules: vec![
            rule("unknown", ActivityType::Unspecified, 5),
            BehaviorRule {
                decay: Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: -60, nanos: 0 })) }),
                ..rule("negative", ActivityType::DemoRequest, 10)
            },
            rule("views", ActivityType::PageView, 1),
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "/pricing".to_owned(), ..RuleFilter::default() }),
                ..rule("pricing", ActivityType::PageView, 5)
            },
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "no slash".to_owned(), ..RuleFilter::default() }),
                ..rule("filter", ActivityType::ContentDownload, 5)
            },
        ],
        mql_threshold: 0,
        ..ScoringModel::default()
    }
}

async fn create_lead(suite: &mut Suite, email: &str) -> String {
    let request = UpsertLeadRequest { email: email.to_owned(), ..UpsertLeadRequest::default() };
    suite.activity.upsert_lead(request).await.expect("lead").into_inner().lead.expect("lead").lead_id
}

async fn track(suite: &mut Suite, lead_id: &str, kind: ActivityType, url: &str) {
    let request = TrackActivityRequest {
        lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) }),
        r#type: kind as i32,
        properties: [("url".to_owned(), url.to_owned())].into(),
        ..TrackActivityRequest::default()
    };
    suite.activity.track_activity(request).await.expect("tracked");
}

async fn versions_and_validation(mut suite: Suite) -> Suite {
    let status = suite
        .scoring
        .validate_scoring_model(ValidateScoringModelRequest { model: Some(invalid_model()) })
        .await
        .expect_err("invalid model");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "model.rules[0].activity_type",
            "model.rules[1].decay.half_life",
            "model.rules[4].filter.url_prefix",
            "model.rules[3]",
            "model.mql_threshold",
        ]
    );

    let draft = suite
        .scoring
        .create_scoring_model_draft(CreateScoringModelDraftRequest { model: Some(invalid_model()), request_id: String::new() })
        .await
        .expect("an invalid draft is stored")
        .into_inner();
    let draft_version = draft.model.expect("draft").version;
    assert_eq!(draft.problems.len(), 5);

    let status = suite
        .scoring
        .publish_scoring_model(PublishScoringModelRequest { draft_version, ..PublishScoringModelRequest::default() })
        .await
        .expect_err("an invalid draft is not published");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.get_error_details().error_info().expect("ErrorInfo").reason, "MODEL_INVALID");

    let active = suite.scoring.get_scoring_model(GetScoringModelRequest::default()).await.expect("model").into_inner().model.unwrap();
    assert_eq!(active.version, 1, "the built-in version stays active");
    assert_eq!(active.state, ModelState::Active as i32);

    let versions = suite
        .scoring
        .list_scoring_model_versions(ListScoringModelVersionsRequest::default())
        .await
        .expect("versions")
        .into_inner()
        .models;
    let states: Vec<(i32, i32)> = versions.iter().map(|model| (model.version, model.state)).collect();
    assert_eq!(states, [(draft_version, ModelState::Draft as i32), (1, ModelState::Active as i32)]);
    suite
}

async fn preview_publish_and_explain(mut suite: Suite) -> Suite {
    let lead_id = create_lead(&mut suite, "dana@example.ro").await;
    track(&mut suite, &lead_id, ActivityType::PageView, "/pricing").await;
    track(&mut suite, &lead_id, ActivityType::PageView, "/blog").await;

    let scoring = suite.scoring.clone();
    let lead = lead_id.clone();
    eventually("both views scored", || {
        let mut client = scoring.clone();
        let lead_id = lead.clone();
        async move {
            let score = client.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?.into_inner().score?;
            (score.score == 4).then_some(())
        }
    })
    .await;

    let pricing_model = ScoringModel {
        rules: vec![
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "/pricing".to_owned(), ..RuleFilter::default() }),
                ..rule("pricing", ActivityType::PageView, 60)
            },
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "/blog".to_owned(), ..RuleFilter::default() }),
                ..rule("blog", ActivityType::PageView, 1)
            },
        ],
        activity_points: vec![ActivityPoints { activity_type: ActivityType::DemoRequest as i32, points: 40 }],
        mql_threshold: 50,
        description: "pricing visits matter".to_owned(),
        ..ScoringModel::default()
    };

    let preview = suite
        .scoring
        .preview_scoring_model(PreviewScoringModelRequest { model: Some(pricing_model.clone()), ..PreviewScoringModelRequest::default() })
        .await
        .expect("preview")
        .into_inner();
    assert_eq!(preview.would_become_mql_count, 1);
    assert_eq!(preview.would_become_mql, [lead_id.clone()]);
    assert_eq!(preview.would_no_longer_qualify_count, 0);

    let unchanged = suite
        .scoring
        .get_lead_score(GetLeadScoreRequest { lead_id: lead_id.clone(), as_of: None })
        .await
        .expect("score")
        .into_inner()
        .score
        .unwrap();
    assert_eq!(unchanged.score, 4, "a preview changes nothing");

    let published = suite
        .scoring
        .publish_scoring_model(PublishScoringModelRequest { model: Some(pricing_model), ..PublishScoringModelRequest::default() })
        .await
        .expect("published")
        .into_inner()
        .model
        .unwrap();
    assert_eq!(published.state, ModelState::Active as i32);

    let rescored = eventually("the lead rescored under the new version", || {
        let mut client = scoring.clone();
        let lead_id = lead_id.clone();
        async move {
            let score = client.get_lead_score(GetLeadScoreRequest { lead_id, as_of: None }).await.ok()?.into_inner().score?;
            (score.score == 61 && score.mql).then_some(score)
        }
    })
    .await;
    let rules: Vec<&str> = rescored.contributions.iter().map(|contribution| contribution.rule_id.as_str()).collect();
    assert_eq!(rules, ["pricing", "blog"]);

    let first_activity = rescored.contributions[0].occurred_at.expect("occurred_at");
    let before_second = prost_types::Timestamp { seconds: first_activity.seconds, nanos: first_activity.nanos };
    let at_first = suite
        .scoring
        .get_lead_score(GetLeadScoreRequest { lead_id: lead_id.clone(), as_of: Some(before_second) })
        .await
        .expect("score at an instant")
        .into_inner()
        .score
        .unwrap();
    assert_eq!(at_first.contributions.len(), 1);
    assert_eq!(at_first.score, 60);

    let changes = suite
        .scoring
        .list_score_changes(ListScoreChangesRequest { lead_id: lead_id.clone(), ..ListScoreChangesRequest::default() })
        .await
        .expect("changes")
        .into_inner();
    let sum: i64 = changes.entries.iter().map(|entry| entry.points).sum();
    assert_eq!(sum, 61, "the ledger adds up to the score");
    assert!(!changes.next_page_token.is_empty());

    let mut stream = suite
        .scoring
        .watch_score_changes(WatchScoreChangesRequest { lead_id: lead_id.clone(), after_page_token: changes.next_page_token })
        .await
        .expect("watch")
        .into_inner();
    track(&mut suite, &lead_id, ActivityType::PageView, "/blog/second").await;
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
        .await
        .expect("a change arrives")
        .expect("stream ok")
        .expect("an entry");
    assert_eq!(next.entry.expect("entry").points, 1);
    drop(stream);
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_draft_is_not_published() {
    on_every_backend(versions_and_validation).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publication_rescores_and_explains() {
    on_every_backend(preview_publish_and_explain).await;
}
