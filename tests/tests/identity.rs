//! Lead identity through the real services: anonymous visitors joined to known leads,
//! e-mail normalisation, merges with their error cases, and consent flags.

use chrono::{DateTime, Duration, Utc};
use leadflow_kit::time::{from_timestamp, to_timestamp};
use leadflow_proto::activity::{
    GetLeadRequest, IdentifyVisitorRequest, Lead, LeadKey, ListActivitiesRequest, ListLeadsRequest, MergeLeadsRequest,
    MergeLeadsResponse, SetLeadConsentRequest, TrackActivityRequest, TrackActivityResponse, UpsertLeadRequest, lead_key,
};
use leadflow_proto::qualification::{GetQualificationRequest, ListQueueRequest, Qualification};
use leadflow_proto::scoring::{
    ActivityPoints, GetLeadScoreRequest, LeadScore, ListScoreChangesRequest, PublishScoringModelRequest, ScoringModel,
};
use leadflow_proto::types::ActivityType;
use leadflow_tests::{Suite, eventually, on_every_backend, query_count};
use tonic::Code;
use tonic_types::StatusExt;

fn by_id(lead_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.to_owned())) })
}

fn by_email(email: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::Email(email.to_owned())) })
}

fn by_visitor(visitor_id: &str) -> Option<LeadKey> {
    Some(LeadKey { key: Some(lead_key::Key::VisitorId(visitor_id.to_owned())) })
}

/// Publishes a model with the given points per activity type and threshold.
async fn publish(suite: &mut Suite, points: &[(ActivityType, i64)], threshold: i64, exclude_anonymous: bool) {
    let model = ScoringModel {
        activity_points: points
            .iter()
            .map(|(kind, points)| ActivityPoints { activity_type: *kind as i32, points: *points })
            .collect(),
        mql_threshold: threshold,
        exclude_anonymous_activity: exclude_anonymous,
        description: "identity test model".to_owned(),
        ..ScoringModel::default()
    };
    suite
        .scoring
        .publish_scoring_model(PublishScoringModelRequest { model: Some(model), ..PublishScoringModelRequest::default() })
        .await
        .expect("model published");
}

async fn upsert(suite: &mut Suite, request: UpsertLeadRequest) -> Lead {
    suite.activity.upsert_lead(request).await.expect("lead stored").into_inner().lead.expect("lead")
}

async fn create_lead(suite: &mut Suite, email: &str) -> String {
    upsert(suite, UpsertLeadRequest { email: email.to_owned(), ..UpsertLeadRequest::default() }).await.lead_id
}

async fn track(
    suite: &mut Suite,
    lead: Option<LeadKey>,
    kind: ActivityType,
    occurred_at: DateTime<Utc>,
) -> TrackActivityResponse {
    let request = TrackActivityRequest {
        lead,
        r#type: kind as i32,
        occurred_at: Some(to_timestamp(occurred_at)),
        ..TrackActivityRequest::default()
    };
    suite.activity.track_activity(request).await.expect("activity accepted").into_inner()
}

async fn get_lead(suite: &mut Suite, key: Option<LeadKey>) -> Lead {
    suite.activity.get_lead(GetLeadRequest { lead: key }).await.expect("lead found").into_inner().lead.expect("lead")
}

async fn score_when(suite: &Suite, lead_id: &str, what: &str, check: impl Fn(&LeadScore) -> bool) -> LeadScore {
    let mut client = suite.scoring.clone();
    eventually(what, || {
        let request = GetLeadScoreRequest { lead_id: lead_id.to_owned(), as_of: None };
        let mut client = client.clone();
        let check = &check;
        async move {
            let score = client.get_lead_score(request).await.ok()?.into_inner().score?;
            check(&score).then_some(score)
        }
    })
    .await;
    client
        .get_lead_score(GetLeadScoreRequest { lead_id: lead_id.to_owned(), as_of: None })
        .await
        .expect("score")
        .into_inner()
        .score
        .expect("score")
}

async fn ledger_sum(suite: &mut Suite, lead_id: &str) -> i64 {
    let request = ListScoreChangesRequest { lead_id: lead_id.to_owned(), page_size: 1000, ..ListScoreChangesRequest::default() };
    let changes = suite.scoring.list_score_changes(request).await.expect("ledger").into_inner();
    changes.entries.iter().map(|entry| entry.points).sum()
}

async fn timeline(suite: &mut Suite, lead_id: &str) -> Vec<leadflow_proto::activity::Activity> {
    let request = ListActivitiesRequest { lead: by_id(lead_id), page_size: 1000, page_token: String::new() };
    suite.activity.list_activities(request).await.expect("timeline").into_inner().activities
}

async fn queue_entry(suite: &Suite, lead_id: &str) -> Qualification {
    let client = suite.qualification.clone();
    eventually("the queue entry", || {
        let mut client = client.clone();
        let lead_id = lead_id.to_owned();
        async move {
            let queue = client.list_queue(ListQueueRequest::default()).await.ok()?.into_inner();
            queue.qualifications.into_iter().find(|entry| entry.lead_id == lead_id)
        }
    })
    .await
}

async fn count(url: &str, sql: &str) -> i64 {
    query_count(url, sql).await
}

fn hours_ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - Duration::hours(hours)
}

async fn anonymous_history_joins_known_lead(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::ContentDownload, 10), (ActivityType::PageView, 1)], 100, false).await;
    let known_id = create_lead(&mut suite, "ioana@example.ro").await;
    track(&mut suite, by_id(&known_id), ActivityType::ContentDownload, hours_ago(30)).await;
    score_when(&suite, &known_id, "the known lead's 10 points", |score| score.score == 10).await;

    let view_times = [hours_ago(5), hours_ago(4), hours_ago(3)];
    let mut anonymous_ids = Vec::new();
    for at in view_times {
        anonymous_ids.push(track(&mut suite, by_visitor("cookie-V1"), ActivityType::PageView, at).await.lead_id);
    }
    assert!(anonymous_ids.iter().all(|id| *id == anonymous_ids[0]), "one anonymous lead per visitor");
    let anonymous_id = anonymous_ids[0].clone();
    assert_ne!(anonymous_id, known_id);
    assert!(get_lead(&mut suite, by_visitor("cookie-V1")).await.anonymous);
    score_when(&suite, &anonymous_id, "the anonymous lead's views", |score| score.score == 3).await;

    let form = TrackActivityRequest {
        lead: by_email("Ioana@Example.ro"),
        r#type: ActivityType::FormSubmission as i32,
        visitor_id: "cookie-V1".to_owned(),
        ..TrackActivityRequest::default()
    };
    let form = suite.activity.track_activity(form).await.expect("form submission").into_inner();
    assert_eq!(form.lead_id, known_id, "the known lead survives");

    let survivor = score_when(&suite, &known_id, "the joined history", |score| score.score == 13).await;
    assert_eq!(survivor.score, 13);
    assert_eq!(ledger_sum(&mut suite, &known_id).await, 13);
    assert_eq!(ledger_sum(&mut suite, &anonymous_id).await, 0, "the merged anonymous lead's ledger ends at 0");

    let activities = timeline(&mut suite, &known_id).await;
    let views: Vec<DateTime<Utc>> = activities
        .iter()
        .filter(|activity| activity.r#type == ActivityType::PageView as i32)
        .map(|activity| from_timestamp(activity.occurred_at.as_ref().expect("occurred_at")).expect("valid time"))
        .collect();
    let expected: Vec<DateTime<Utc>> = view_times.iter().map(|at| leadflow_kit::time::truncate_to_micros(*at)).collect();
    assert_eq!(views, expected, "the views keep their original times");
    assert_eq!(activities.len(), 5);

    let leads_before = count(&suite.database_urls[0], "SELECT COUNT(*) FROM lead").await;
    let fourth = track(&mut suite, by_visitor("cookie-V1"), ActivityType::PageView, hours_ago(1)).await;
    assert_eq!(fourth.lead_id, known_id, "the visitor id is an alias of the known lead");
    assert_eq!(count(&suite.database_urls[0], "SELECT COUNT(*) FROM lead").await, leads_before, "no new lead");
    score_when(&suite, &known_id, "the fourth view", |score| score.score == 14).await;

    let known = get_lead(&mut suite, by_visitor("cookie-V1")).await;
    assert_eq!(known.lead_id, known_id);
    assert_eq!(known.visitor_ids, ["cookie-V1"]);
    assert!(!known.anonymous);
    assert_eq!(get_lead(&mut suite, by_id(&anonymous_id)).await.lead_id, known_id, "the merged id looks up the survivor");
    let listed = suite.activity.list_leads(ListLeadsRequest::default()).await.expect("leads").into_inner().leads;
    assert_eq!(listed.len(), 1, "merged leads are not listed");
    suite
}

async fn unknown_email_makes_visitor_known(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::PageView, 1)], 100, false).await;
    let anonymous_id = track(&mut suite, by_visitor("device-7"), ActivityType::PageView, hours_ago(2)).await.lead_id;

    let request = IdentifyVisitorRequest { visitor_id: "device-7".to_owned(), email: " Radu@Example.ro ".to_owned(), request_id: String::new() };
    let identified = suite.activity.identify_visitor(request).await.expect("identified").into_inner();
    let lead = identified.lead.expect("lead");
    assert_eq!(lead.lead_id, anonymous_id, "the anonymous lead keeps its id");
    assert_eq!(lead.email, "radu@example.ro");
    assert!(!lead.anonymous);
    assert_eq!(identified.merged_lead_id, "");
    assert_eq!(count(&suite.database_urls[0], "SELECT COUNT(*) FROM lead").await, 1);
    suite
}

async fn emails_normalise_to_one_lead(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::PageView, 1)], 100, false).await;
    let first = TrackActivityRequest {
        lead: by_email(" Lead.One@Example.RO "),
        r#type: ActivityType::PageView as i32,
        create_lead: true,
        ..TrackActivityRequest::default()
    };
    let first = suite.activity.track_activity(first).await.expect("first").into_inner();
    let second = TrackActivityRequest { lead: by_email("lead.one@example.ro"), ..TrackActivityRequest::default() };
    let second = TrackActivityRequest { r#type: ActivityType::PageView as i32, create_lead: true, ..second };
    let second = suite.activity.track_activity(second).await.expect("second").into_inner();
    assert_eq!(first.lead_id, second.lead_id);
    assert_eq!(count(&suite.database_urls[0], "SELECT COUNT(*) FROM lead").await, 1);
    assert_eq!(get_lead(&mut suite, by_email("LEAD.ONE@EXAMPLE.RO")).await.email, "lead.one@example.ro");

    // Dots and +tags are kept: at most providers they are different mailboxes.
    let plain = create_lead(&mut suite, "ana.pop@gmail.com").await;
    let without_dot = create_lead(&mut suite, "anapop@gmail.com").await;
    let tagged = create_lead(&mut suite, "Ana.Pop+News@gmail.com").await;
    assert_ne!(plain, without_dot);
    assert_ne!(plain, tagged);
    assert_eq!(get_lead(&mut suite, by_id(&tagged)).await.email, "ana.pop+news@gmail.com");
    assert_eq!(count(&suite.database_urls[0], "SELECT COUNT(*) FROM lead").await, 4);
    suite
}

async fn merge(suite: &mut Suite, survivor: &str, merged: &str, request_id: &str) -> Result<MergeLeadsResponse, tonic::Status> {
    let request = MergeLeadsRequest {
        survivor: by_id(survivor),
        merged: by_id(merged),
        actor: "ops@example.ro".to_owned(),
        request_id: request_id.to_owned(),
    };
    suite.activity.merge_leads(request).await.map(tonic::Response::into_inner)
}

async fn merge_joins_duplicates(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::ContentDownload, 10), (ActivityType::PageView, 5)], 30, false).await;
    let survivor_id = create_lead(&mut suite, "dan@example.ro").await;
    let duplicate_id = upsert(
        &mut suite,
        UpsertLeadRequest { email: "dan.old@example.ro".to_owned(), external_id: "crm-77".to_owned(), ..UpsertLeadRequest::default() },
    )
    .await
    .lead_id;
    track(&mut suite, by_id(&survivor_id), ActivityType::ContentDownload, hours_ago(50)).await;
    track(&mut suite, by_id(&survivor_id), ActivityType::ContentDownload, hours_ago(49)).await;
    track(&mut suite, by_id(&duplicate_id), ActivityType::ContentDownload, hours_ago(48)).await;
    track(&mut suite, by_id(&duplicate_id), ActivityType::PageView, hours_ago(47)).await;
    score_when(&suite, &survivor_id, "20 points", |score| score.score == 20).await;
    score_when(&suite, &duplicate_id, "15 points", |score| score.score == 15).await;

    let merged = merge(&mut suite, &survivor_id, &duplicate_id, "b2d5a0f4-6f3e-4d43-9a36-6d1b3c0b5e01").await.expect("merged");
    assert!(merged.merged);
    let record = merged.merge.expect("merge record");
    assert_eq!(record.actor, "ops@example.ro");
    assert_eq!(record.activities_moved, 2);
    let merge_time = from_timestamp(record.merge_time.as_ref().expect("merge time")).expect("valid time");
    let survivor_view = merged.survivor.expect("survivor");
    assert_eq!(survivor_view.email, "dan@example.ro");
    assert_eq!(survivor_view.external_id, "crm-77", "a key the survivor lacked moves to it");

    let score = score_when(&suite, &survivor_id, "the union of both histories", |score| score.score == 35 && score.mql).await;
    assert_eq!(score.mql_count, 1);
    let mql_time = from_timestamp(score.last_mql_time.as_ref().expect("MQL time")).expect("valid time");
    assert!(mql_time >= merge_time, "the MQL is dated at the merge, not at a historical crossing");
    assert_eq!(ledger_sum(&mut suite, &survivor_id).await, 35);
    assert_eq!(ledger_sum(&mut suite, &duplicate_id).await, 0);

    let entry = queue_entry(&suite, &survivor_id).await;
    assert!(from_timestamp(entry.mql_time.as_ref().expect("mql_time")).expect("valid time") >= merge_time);
    let answered = suite
        .qualification
        .get_qualification(GetQualificationRequest { lead_id: duplicate_id.clone() })
        .await
        .expect("qualification of the merged lead")
        .into_inner()
        .qualification
        .expect("qualification");
    assert_eq!(answered.lead_id, survivor_id, "the merged lead answers with the survivor's entry");
    let merged_score = score_when(&suite, &duplicate_id, "the survivor's score", |score| score.score == 35).await;
    assert_eq!(merged_score.lead_id, survivor_id);
    assert_eq!(get_lead(&mut suite, by_id(&duplicate_id)).await.lead_id, survivor_id);
    assert_eq!(get_lead(&mut suite, by_email("dan.old@example.ro")).await.lead_id, survivor_id, "the old e-mail is an alias");
    let tracked = track(&mut suite, by_id(&duplicate_id), ActivityType::FormSubmission, hours_ago(1)).await;
    assert_eq!(tracked.lead_id, survivor_id, "activity for the merged id goes to the survivor");

    let again = merge(&mut suite, &survivor_id, &duplicate_id, "b2d5a0f4-6f3e-4d43-9a36-6d1b3c0b5e01").await.expect("replayed");
    assert_eq!(again.merge.expect("merge").merge_id, record.merge_id);
    let repeated = merge(&mut suite, &survivor_id, &duplicate_id, "").await.expect("repeated by state");
    assert!(!repeated.merged);
    assert_eq!(repeated.merge.expect("merge").merge_id, record.merge_id);

    let [activity_url, scoring_url, qualification_url] = suite.database_urls.clone();
    assert_eq!(count(&activity_url, "SELECT COUNT(*) FROM lead_merge").await, 1);
    let mql_entries = "SELECT COUNT(*) FROM ledger_entry WHERE kind = 'MQL'";
    assert_eq!(count(&scoring_url, mql_entries).await, 1, "one LeadBecameMql");
    let queue_entries = "SELECT COUNT(*) FROM transition WHERE to_state = 'NEW'";
    eventually("the FORM_SUBMISSION to settle", || {
        let mut client = suite.scoring.clone();
        let survivor_id = survivor_id.clone();
        async move {
            let score = client.get_lead_score(GetLeadScoreRequest { lead_id: survivor_id, as_of: None }).await.ok()?.into_inner();
            (score.score?.contributions.len() == 5).then_some(())
        }
    })
    .await;
    assert_eq!(count(&qualification_url, queue_entries).await, 1, "one queue entry");
    assert_eq!(count(&scoring_url, mql_entries).await, 1, "still one LeadBecameMql");
    suite
}

fn reason(status: &tonic::Status) -> String {
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

async fn bad_merges_change_nothing(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::PageView, 1)], 100, false).await;
    let a = create_lead(&mut suite, "a@example.ro").await;
    let b = create_lead(&mut suite, "b@example.ro").await;
    let c = create_lead(&mut suite, "c@example.ro").await;
    for lead in [&a, &b, &c] {
        track(&mut suite, by_id(lead), ActivityType::PageView, hours_ago(2)).await;
    }
    let activity_url = suite.database_urls[0].clone();
    let merged_rows = "SELECT COUNT(*) FROM lead WHERE merged_into IS NOT NULL";

    let status = merge(&mut suite, &a, &a, "").await.expect_err("self-merge");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "MERGE_SAME_LEAD");
    assert_eq!(count(&activity_url, merged_rows).await, 0);

    merge(&mut suite, &a, &b, "").await.expect("b into a");
    assert_eq!(count(&activity_url, merged_rows).await, 1);
    let activities_of_a = "SELECT COUNT(*) FROM activity";
    let activities_before = count(&activity_url, activities_of_a).await;

    let mut looping = tonic::Request::new(MergeLeadsRequest { survivor: by_id(&b), merged: by_id(&a), ..MergeLeadsRequest::default() });
    looping.metadata_mut().insert("accept-language", "ro".parse().unwrap());
    let status = suite.activity.merge_leads(looping).await.expect_err("a into b after b into a");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "MERGE_LOOP");
    let localized = status.get_error_details().localized_message().cloned().expect("LocalizedMessage");
    assert_eq!(localized.locale, "ro-RO");
    assert!(localized.message.contains("buclă"), "Romanian text: {}", localized.message);

    let status = merge(&mut suite, &b, &c, "").await.expect_err("into an already merged lead");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "LEAD_ALREADY_MERGED");
    let localized = status.get_error_details().localized_message().cloned().expect("LocalizedMessage");
    assert!(localized.message.contains(&a), "the message names the survivor: {}", localized.message);

    let status = merge(&mut suite, &c, &b, "").await.expect_err("from an already merged lead");
    assert_eq!(reason(&status), "LEAD_ALREADY_MERGED");

    assert_eq!(count(&activity_url, merged_rows).await, 1, "no further merge");
    assert_eq!(count(&activity_url, "SELECT COUNT(*) FROM lead_merge").await, 1);
    assert_eq!(count(&activity_url, activities_of_a).await, activities_before);
    assert_eq!(timeline(&mut suite, &c).await.len(), 1, "c keeps its activity");
    assert_eq!(get_lead(&mut suite, by_id(&c)).await.lead_id, c);
    suite
}

async fn consent_flags_hold(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::DemoRequest, 40), (ActivityType::PageView, 1)], 30, false).await;

    let tracked_id = create_lead(&mut suite, "nu.urmari@example.ro").await;
    let request = SetLeadConsentRequest { lead: by_id(&tracked_id), do_not_track: Some(true), ..SetLeadConsentRequest::default() };
    let consent = suite.activity.set_lead_consent(request).await.expect("consent").into_inner();
    assert!(consent.changed);
    assert!(consent.lead.expect("lead").do_not_track);

    let response = track(&mut suite, by_id(&tracked_id), ActivityType::DemoRequest, hours_ago(1)).await;
    assert!(response.do_not_track);
    assert!(!response.created);
    assert!(response.activity.is_none());
    assert!(timeline(&mut suite, &tracked_id).await.is_empty(), "the activity is not stored");

    let contact = upsert(
        &mut suite,
        UpsertLeadRequest { email: "nu.suna@example.ro".to_owned(), do_not_contact: Some(true), ..UpsertLeadRequest::default() },
    )
    .await;
    assert!(contact.do_not_contact);
    track(&mut suite, by_id(&contact.lead_id), ActivityType::DemoRequest, hours_ago(1)).await;
    let entry = queue_entry(&suite, &contact.lead_id).await;
    assert!(entry.do_not_contact, "the queue shows the flag");
    let direct = suite
        .qualification
        .get_qualification(GetQualificationRequest { lead_id: contact.lead_id.clone() })
        .await
        .expect("qualification")
        .into_inner()
        .qualification
        .expect("qualification");
    assert!(direct.do_not_contact);

    // Only the other lead's demo request reached scoring; it was tracked after the ignored one
    // and has settled, because its queue entry exists.
    assert_eq!(count(&suite.database_urls[1], "SELECT COUNT(*) FROM scored_activity").await, 1);
    let score = score_when(&suite, &tracked_id, "the do-not-track lead's score row", |_| true).await;
    assert_eq!(score.score, 0);
    assert_eq!(score.ledger_entries, 0);
    suite
}

async fn anonymous_activity_excluded_by_model(mut suite: Suite) -> Suite {
    publish(&mut suite, &[(ActivityType::ContentDownload, 10), (ActivityType::PageView, 1)], 100, true).await;
    let known_id = create_lead(&mut suite, "elena@example.ro").await;
    track(&mut suite, by_id(&known_id), ActivityType::ContentDownload, hours_ago(30)).await;
    for at in [hours_ago(5), hours_ago(4), hours_ago(3)] {
        track(&mut suite, by_visitor("cookie-E"), ActivityType::PageView, at).await;
    }
    let request = IdentifyVisitorRequest { visitor_id: "cookie-E".to_owned(), email: "elena@example.ro".to_owned(), request_id: String::new() };
    let identified = suite.activity.identify_visitor(request).await.expect("identified").into_inner();
    assert_eq!(identified.lead.expect("lead").lead_id, known_id);
    assert_eq!(identified.activities_moved, 3);

    let score = score_when(&suite, &known_id, "the joined history", |score| score.contributions.len() == 4).await;
    assert_eq!(score.score, 10, "anonymous views add no points");
    let excluded = score.contributions.iter().filter(|part| part.reason == "anonymous_not_scored").count();
    assert_eq!(excluded, 3);
    assert_eq!(timeline(&mut suite, &known_id).await.len(), 4, "the views are in the timeline");
    suite
}

#[tokio::test]
async fn anonymous_history_joins_known() {
    on_every_backend(anonymous_history_joins_known_lead).await;
}

#[tokio::test]
async fn identify_makes_visitor_known() {
    on_every_backend(unknown_email_makes_visitor_known).await;
}

#[tokio::test]
async fn emails_normalise() {
    on_every_backend(emails_normalise_to_one_lead).await;
}

#[tokio::test]
async fn merge_of_duplicates() {
    on_every_backend(merge_joins_duplicates).await;
}

#[tokio::test]
async fn bad_merges_rejected() {
    on_every_backend(bad_merges_change_nothing).await;
}

#[tokio::test]
async fn consent_flags() {
    on_every_backend(consent_flags_hold).await;
}

#[tokio::test]
async fn anonymous_scoring_off() {
    on_every_backend(anonymous_activity_excluded_by_model).await;
}
