//! The CSV importer against the real services: a file imported twice stores everything once.

use std::path::PathBuf;

use leadflow::{ImportOptions, load_mapping, run_import};
use leadflow_proto::activity::{
    GetLeadRequest, ImportRecord, ImportRecordsRequest, ImportedActivity, LeadKey, ListLeadsRequest, UpsertLeadRequest, lead_key,
};
use leadflow_proto::types::{ActivityType, Outcome};
use leadflow_proto::qualification::GetFunnelRequest;
use leadflow_tests::{Suite, eventually, on_every_backend, query_count};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures").join(name)
}

async fn funnel_counts(suite: &Suite) -> (Vec<i64>, i64) {
    let mut client = suite.qualification.clone();
    let funnel = client.get_funnel(GetFunnelRequest::default()).await.expect("funnel").into_inner();
    (funnel.stages.iter().map(|stage| stage.lead_count).collect(), funnel.imported_won_count)
}

async fn import_twice(mut suite: Suite) -> Suite {
    let mapping = load_mapping(&fixture("mapping.toml")).expect("fixture mapping");
    let options = ImportOptions::default();

    let channel = leadflow::errors::without_token(suite.channel(0));
    let first = run_import(channel, &fixture("leads.csv"), &mapping, &options).await.expect("first import");
    assert!(first.rows_imported > 0, "the fixture imports rows");
    assert!(first.activities_created > 0, "the fixture has activities");
    assert_eq!(first.rows_failed, 0);
    assert_eq!(first.leads_created, first.rows_imported, "one lead per imported row");

    let leads = suite.activity.list_leads(ListLeadsRequest { page_size: 1000, ..ListLeadsRequest::default() }).await;
    let lead_count = leads.expect("leads").into_inner().leads.len() as u64;
    assert_eq!(lead_count, first.leads_created);

    let expected_leads = lead_count as i64;
    let settled = eventually("every imported lead in the funnel", || {
        let suite = &suite;
        async move {
            let counts = funnel_counts(suite).await;
            (counts.0.first() == Some(&expected_leads)).then_some(counts)
        }
    })
    .await;

    let channel = leadflow::errors::without_token(suite.channel(0));
    let second = run_import(channel, &fixture("leads.csv"), &mapping, &options).await.expect("second import");
    assert_eq!(second.leads_created, 0, "no lead is created twice");
    assert_eq!(second.activities_created, 0, "no activity is stored twice");
    assert_eq!(second.activities_present, first.activities_created);
    assert_eq!(second.rows_skipped, first.rows_skipped);

    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(funnel_counts(&suite).await, settled, "the funnel is unchanged by the second import");

    let leads = suite.activity.list_leads(ListLeadsRequest { page_size: 1000, ..ListLeadsRequest::default() }).await;
    assert_eq!(leads.expect("leads").into_inner().leads.len() as u64, lead_count);
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_import_changes_nothing() {
    on_every_backend(import_twice).await;
}

fn import_record(line: i64, email: &str, keys: &[&str], outcome: Outcome) -> ImportRecord {
    ImportRecord {
        line,
        lead: Some(UpsertLeadRequest { email: email.to_owned(), source: "targ".to_owned(), ..UpsertLeadRequest::default() }),
        activities: keys
            .iter()
            .map(|key| ImportedActivity {
                r#type: ActivityType::PageView as i32,
                idempotency_key: (*key).to_owned(),
                ..ImportedActivity::default()
            })
            .collect(),
        outcome: outcome as i32,
    }
}

/// Imports one call with new leads, a lead repeated by a later record, an activity key
/// repeated for another lead, a stored lead and an invalid record, and checks that each
/// record gets the result it would get alone.
async fn mixed_records(mut suite: Suite) -> Suite {
    let stored = UpsertLeadRequest { email: "existent@example.ro".to_owned(), ..UpsertLeadRequest::default() };
    let stored_id = suite.activity.upsert_lead(stored).await.expect("stored lead").into_inner().lead.expect("lead").lead_id;

    let mut invalid = import_record(6, "invalid@example.ro", &["inv-1"], Outcome::Unspecified);
    invalid.activities[0].r#type = 0;
    let records = vec![
        import_record(1, "unu@example.ro", &["unu-1", "unu-2"], Outcome::Unspecified),
        import_record(2, "doi@example.ro", &["doi-1"], Outcome::Won),
        import_record(3, "unu@example.ro", &["unu-3"], Outcome::Unspecified),
        import_record(4, "trei@example.ro", &["doi-1"], Outcome::Unspecified),
        import_record(5, "existent@example.ro", &["existent-1"], Outcome::Lost),
        invalid,
    ];
    let request = ImportRecordsRequest { records, request_id: String::new() };
    let results = suite.activity.import_records(request).await.expect("import").into_inner().results;
    assert_eq!(results.len(), 6);

    let lines: Vec<i64> = results.iter().map(|result| result.line).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 6], "results keep the record order");
    assert!(results[0].lead_created, "{:?}", results[0]);
    assert_eq!(results[0].activities_created, 2);
    assert!(results[1].lead_created, "{:?}", results[1]);
    assert_eq!(results[1].activities_created, 1);
    assert!(!results[2].lead_created, "the repeated lead is the lead of line 1");
    assert_eq!(results[2].lead_id, results[0].lead_id);
    assert_eq!(results[2].activities_created, 1);
    assert!(!results[3].error.is_empty(), "a key of another lead is rejected: {:?}", results[3]);
    assert!(!results[4].lead_created, "the stored lead is updated");
    assert_eq!(results[4].lead_id, stored_id);
    assert_eq!(results[4].activities_created, 1);
    assert!(!results[5].error.is_empty(), "the invalid record is rejected");

    let url = &suite.database_urls[0];
    assert_eq!(query_count(url, "SELECT COUNT(*) FROM lead WHERE email = 'trei@example.ro'").await, 0, "the failed record left no lead");
    assert_eq!(query_count(url, "SELECT COUNT(*) FROM activity").await, 5, "unu-1, unu-2, unu-3, doi-1, existent-1");
    assert_eq!(query_count(url, "SELECT COUNT(*) FROM lead WHERE outcome = 'WON' AND lifecycle_stage = 'CUSTOMER'").await, 1);
    assert_eq!(query_count(url, "SELECT COUNT(*) FROM lead WHERE outcome = 'LOST'").await, 1);

    let lead = suite.activity.get_lead(GetLeadRequest { lead: Some(email_key("doi@example.ro")), ..GetLeadRequest::default() }).await;
    let lead = lead.expect("new lead").into_inner().lead.expect("lead");
    assert_eq!(lead.source, "targ");
    suite
}

fn email_key(email: &str) -> LeadKey {
    LeadKey { key: Some(lead_key::Key::Email(email.to_owned())) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_records_import_alone() {
    on_every_backend(mixed_records).await;
}
