//! Invalid requests get the right code and details, and change nothing already stored.

use leadflow_proto::activity::{
    LeadKey, ListActivitiesRequest, TrackActivityRequest, UpsertLeadRequest, lead_key,
};
use leadflow_proto::qualification::{AcceptLeadRequest, Bant, Budget};
use leadflow_proto::scoring::{ActivityPoints, GetScoringModelRequest, PublishScoringModelRequest, ScoringModel};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, on_every_backend};
use tonic::Code;
use tonic_types::StatusExt;

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("BadRequest detail");
    bad_request.field_violations.iter().map(|violation| violation.field.clone()).collect()
}

async fn stored_activity_count(suite: &mut Suite, lead_id: &str) -> usize {
    let request = ListActivitiesRequest { lead: by_id(lead_id), page_size: 1000, page_token: String::new() };
    suite.activity.list_activities(request).await.expect("list").into_inner().activities.len()
}

async fn activity_errors(mut suite: Suite) -> Suite {
    let lead = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: "maria@example.ro".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect("lead")
        .into_inner()
        .lead
        .expect("lead");
    let valid = TrackActivityRequest {
        lead: by_id(&lead.lead_id),
        r#type: ActivityType::PageView as i32,
        ..TrackActivityRequest::default()
    };
    suite.activity.track_activity(valid.clone()).await.expect("valid activity");

    let status = suite
        .activity
        .upsert_lead(UpsertLeadRequest { email: "not-an-address".to_owned(), ..UpsertLeadRequest::default() })
        .await
        .expect_err("invalid e-mail is rejected");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["email"]);
    assert!(status.message().contains("not-an-address"), "message names the value: {}", status.message());

    let unknown_type = TrackActivityRequest { r#type: 999, ..valid.clone() };
    let status = suite.activity.track_activity(unknown_type).await.expect_err("unknown type is rejected");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["type"]);
    assert!(status.message().contains("999"));

    let future = chrono::Utc::now() + chrono::Duration::hours(30);
    let in_future = TrackActivityRequest {
        occurred_at: Some(prost_types::Timestamp { seconds: future.timestamp(), nanos: 0 }),
        ..valid.clone()
    };
    let status = suite.activity.track_activity(in_future).await.expect_err("future activity is rejected");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["occurred_at"]);

    let missing_lead = TrackActivityRequest { lead: by_id(&uuid::Uuid::now_v7().to_string()), ..valid.clone() };
    let status = suite.activity.track_activity(missing_lead).await.expect_err("missing lead");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.get_error_details().error_info().expect("ErrorInfo").reason, "LEAD_NOT_FOUND");

    let bad_email_key = TrackActivityRequest {
        lead: Some(LeadKey { key: Some(lead_key::Key::Email("nobody@@example".to_owned())) }),
        ..valid.clone()
    };
    let status = suite.activity.track_activity(bad_email_key).await.expect_err("invalid e-mail key");
    assert_eq!(violated_fields(&status), ["lead.email"]);

    assert_eq!(stored_activity_count(&mut suite, &lead.lead_id).await, 1, "rejected requests stored nothing");
    suite
}

async fn key_conflicts(mut suite: Suite) -> Suite {
    let original = UpsertLeadRequest {
        email: "d1@example.ro".to_owned(),
        external_id: "crm-d1".to_owned(),
        ..UpsertLeadRequest::default()
    };
    let lead = suite.activity.upsert_lead(original).await.expect("lead").into_inner().lead.expect("lead");

    let other_email = UpsertLeadRequest {
        email: "new-address@example.ro".to_owned(),
        external_id: "crm-d1".to_owned(),
        ..UpsertLeadRequest::default()
    };
    let status = suite.activity.upsert_lead(other_email).await.expect_err("the e-mail on record is kept");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.get_error_details().error_info().expect("ErrorInfo").reason, "LEAD_KEY_CONFLICT");

    let other_id = UpsertLeadRequest {
        email: "d1@example.ro".to_owned(),
        external_id: "crm-d2".to_owned(),
        ..UpsertLeadRequest::default()
    };
    let status = suite.activity.upsert_lead(other_id).await.expect_err("the external id on record is kept");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("crm-d1"), "message names the id on record: {}", status.message());

    let request = leadflow_proto::activity::GetLeadRequest { lead: by_id(&lead.lead_id) };
    let stored = suite.activity.get_lead(request).await.expect("lead").into_inner().lead.expect("lead");
    assert_eq!(stored.email, "d1@example.ro");
    assert_eq!(stored.external_id, "crm-d1");
    suite
}

async fn localized_errors(mut suite: Suite) -> Suite {
    let missing = uuid::Uuid::now_v7().to_string();
    let lookup = || leadflow_proto::activity::GetLeadRequest { lead: by_id(&missing) };

    let mut romanian = tonic::Request::new(lookup());
    romanian.metadata_mut().insert("accept-language", "ro-RO,ro;q=0.9,en;q=0.5".parse().unwrap());
    let status = suite.activity.get_lead(romanian).await.expect_err("missing lead");
    let localized = status.get_error_details().localized_message().cloned().expect("LocalizedMessage");
    assert_eq!(localized.locale, "ro-RO");
    assert!(localized.message.contains("corespunde"), "Romanian text: {}", localized.message);
    assert!(status.message().contains("no lead matches"), "the status message stays English");

    let status = suite.activity.get_lead(lookup()).await.expect_err("missing lead");
    let localized = status.get_error_details().localized_message().cloned().expect("LocalizedMessage");
    assert_eq!(localized.locale, "en-US", "English without accept-language");

    let mut invalid = tonic::Request::new(UpsertLeadRequest { email: "fără-arobas".to_owned(), ..UpsertLeadRequest::default() });
    invalid.metadata_mut().insert("accept-language", "ro".parse().unwrap());
    let status = suite.activity.upsert_lead(invalid).await.expect_err("invalid e-mail");
    let localized = status.get_error_details().localized_message().cloned().expect("LocalizedMessage");
    assert!(localized.message.contains("câmpuri nevalide"), "diacritics kept: {}", localized.message);
    suite
}

async fn qualification_errors(mut suite: Suite) -> Suite {
    let lead_id = uuid::Uuid::now_v7().to_string();
    let empty_bant = AcceptLeadRequest {
        lead_id: lead_id.clone(),
        bant: Some(Bant {
            budget: None,
            authority_role: "Head of Marketing".to_owned(),
            need: "Lead routing".to_owned(),
            timeframe: String::new(),
        }),
        ..AcceptLeadRequest::default()
    };
    let status = suite.qualification.accept_lead(empty_bant).await.expect_err("incomplete BANT");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["bant.budget", "bant.timeframe"]);

    let complete = AcceptLeadRequest {
        lead_id: lead_id.clone(),
        bant: Some(Bant {
            budget: Some(Budget { amount_minor: 0, currency: String::new(), confirmed: true }),
            authority_role: "CFO".to_owned(),
            need: "Forecasting".to_owned(),
            timeframe: "2027-03-31".to_owned(),
        }),
        ..AcceptLeadRequest::default()
    };
    let status = suite.qualification.accept_lead(complete).await.expect_err("lead not in the queue");
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&lead_id));
    suite
}

async fn model_errors(mut suite: Suite) -> Suite {
    let before = suite.scoring.get_scoring_model(GetScoringModelRequest::default()).await.expect("model").into_inner().model.expect("model");

    let invalid = ScoringModel {
        activity_points: vec![
            ActivityPoints { activity_type: ActivityType::Unspecified as i32, points: 5 },
            ActivityPoints { activity_type: ActivityType::Unsubscribe as i32, points: -20 },
        ],
        mql_threshold: 40,
        ..ScoringModel::default()
    };
    let status = suite
        .scoring
        .publish_scoring_model(PublishScoringModelRequest { model: Some(invalid), ..PublishScoringModelRequest::default() })
        .await
        .expect_err("invalid model");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["model.activity_points[0].activity_type", "model.mql_threshold"]);

    let after = suite.scoring.get_scoring_model(GetScoringModelRequest::default()).await.expect("model").into_inner().model.expect("model");
    assert_eq!(after.version, before.version, "the active version stays active");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn activity_rejects_bad_input() {
    on_every_backend(activity_errors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upsert_keeps_keys_on_record() {
    on_every_backend(key_conflicts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn errors_follow_accept_language() {
    on_every_backend(localized_errors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qualification_rejects_bad_input() {
    on_every_backend(qualification_errors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scoring_rejects_invalid_model() {
    on_every_backend(model_errors).await;
}
