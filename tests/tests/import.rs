//! The CSV importer against the real services: a file imported twice stores everything once.

use std::path::PathBuf;

use leadflow::{ImportOptions, load_mapping, run_import};
use leadflow_proto::activity::ListLeadsRequest;
use leadflow_proto::qualification::GetFunnelRequest;
use leadflow_tests::{Suite, eventually, on_every_backend};

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
