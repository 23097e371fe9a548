//! The CSV-to-record conversion on the fixture in `tests/fixtures`: placeholders, trailing
//! commas, empty and fractional counts, case-folded values and rows that must be skipped.

use std::collections::BTreeMap;
use std::path::Path;

use leadflow::Mapping;
use leadflow::import::rows::{Conversion, SkipReason, UnmappedValue, convert_all};
use leadflow_proto::activity::ImportRecord;
use leadflow_proto::types::{ActivityType, Outcome};

const OCCURRED_AT: prost_types::Timestamp = prost_types::Timestamp { seconds: 1_790_000_000, nanos: 0 };

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn mapping() -> Mapping {
    Mapping::from_toml(&std::fs::read_to_string(fixture("mapping.toml")).unwrap()).unwrap()
}

fn convert() -> Conversion {
    let input = std::fs::File::open(fixture("leads.csv")).unwrap();
    convert_all(input, &mapping(), OCCURRED_AT).unwrap()
}

fn record<'a>(conversion: &'a Conversion, key: &str) -> &'a ImportRecord {
    conversion
        .records
        .iter()
        .find(|record| record.lead.as_ref().unwrap().external_id == key)
        .unwrap_or_else(|| panic!("no record for {key}"))
}

fn activity_counts(record: &ImportRecord) -> BTreeMap<i32, usize> {
    let mut counts = BTreeMap::new();
    for activity in &record.activities {
        *counts.entry(activity.r#type).or_insert(0) += 1;
    }
    counts
}

#[test]
fn rows_around_bad_rows_are_imported() {
    let conversion = convert();
    let keys: Vec<&str> =
        conversion.records.iter().map(|record| record.lead.as_ref().unwrap().external_id.as_str()).collect();
    assert_eq!(keys, ["L1", "L2", "L3", "L6", "L8"]);
    assert_eq!(conversion.rows_read, 8);
}

#[test]
fn records_carry_their_line_numbers() {
    let conversion = convert();
    let lines: Vec<i64> = conversion.records.iter().map(|record| record.line).collect();
    assert_eq!(lines, [2, 3, 4, 7, 9]);
}

#[test]
fn wrong_field_count_skipped_with_line() {
    let conversion = convert();
    let skipped = conversion.skipped.iter().find(|row| row.line == 5).expect("line 5 skipped");
    assert_eq!(skipped.reason, SkipReason::FieldCount { expected: 10, found: 8, last_line: None });
}

#[test]
fn empty_key_skipped_with_line() {
    let conversion = convert();
    let skipped = conversion.skipped.iter().find(|row| row.line == 6).expect("line 6 skipped");
    assert_eq!(skipped.reason, SkipReason::EmptyKey { column: "Id".to_owned() });
}

#[test]
fn negative_count_skipped_with_line() {
    let conversion = convert();
    let skipped = conversion.skipped.iter().find(|row| row.line == 8).expect("line 8 skipped");
    assert_eq!(skipped.reason, SkipReason::InvalidCount { column: "Visits".to_owned(), value: "-1".to_owned() });
    assert_eq!(conversion.skipped.len(), 3);
}

#[test]
fn sources_fold_case() {
    let conversion = convert();
    assert_eq!(record(&conversion, "L1").lead.as_ref().unwrap().source, "google");
    assert_eq!(record(&conversion, "L2").lead.as_ref().unwrap().source, "google");
    assert_eq!(record(&conversion, "L3").lead.as_ref().unwrap().source, "direct traffic");
}

#[test]
fn select_placeholder_sets_no_attribute() {
    let conversion = convert();
    let first = record(&conversion, "L1").lead.as_ref().unwrap();
    assert_eq!(first.attributes.get("country").map(String::as_str), Some("India"));
    assert_eq!(first.attributes.get("city"), None);

    let second = record(&conversion, "L2").lead.as_ref().unwrap();
    assert!(second.attributes.is_empty(), "attributes of L2: {:?}", second.attributes);
}

#[test]
fn blank_cells_set_nothing() {
    let conversion = convert();
    let third = record(&conversion, "L3");
    let lead = third.lead.as_ref().unwrap();
    assert_eq!(lead.email, "");
    assert_eq!(lead.attributes.get("country"), None);
    assert_eq!(lead.attributes.get("city").map(String::as_str), Some("Mumbai, West"));
    assert_eq!(third.outcome, Outcome::Unspecified as i32);
}

#[test]
fn count_column_gives_that_many_activities() {
    let conversion = convert();
    let counts = activity_counts(record(&conversion, "L1"));
    assert_eq!(counts.get(&(ActivityType::PageView as i32)), Some(&3));
    assert_eq!(counts.get(&(ActivityType::EmailOpen as i32)), Some(&1));
    assert_eq!(counts.get(&(ActivityType::ContentDownload as i32)), Some(&1));
    assert_eq!(record(&conversion, "L1").activities.len(), 5);
}

#[test]
fn empty_count_cell_gives_none() {
    let conversion = convert();
    let counts = activity_counts(record(&conversion, "L2"));
    assert_eq!(counts.get(&(ActivityType::PageView as i32)), None);
    assert_eq!(counts.get(&(ActivityType::EmailOpen as i32)), Some(&1), "category value matched ignoring case");
}

#[test]
fn fractional_count_rounds_down() {
    let conversion = convert();
    let counts = activity_counts(record(&conversion, "L6"));
    assert_eq!(counts.get(&(ActivityType::PageView as i32)), Some(&2));
    assert_eq!(counts.get(&(ActivityType::SmsSent as i32)), Some(&1));
}

#[test]
fn flag_matches_ignoring_case_only_its_value() {
    let conversion = convert();
    assert_eq!(activity_counts(record(&conversion, "L8")).get(&(ActivityType::ContentDownload as i32)), None);
    assert!(record(&conversion, "L8").activities.is_empty());
}

#[test]
fn email_and_outcomes_are_mapped() {
    let conversion = convert();
    assert_eq!(record(&conversion, "L8").lead.as_ref().unwrap().email, "lead8@example.com");
    assert_eq!(record(&conversion, "L8").outcome, Outcome::Won as i32);
    assert_eq!(record(&conversion, "L1").outcome, Outcome::Won as i32);
    assert_eq!(record(&conversion, "L2").outcome, Outcome::Lost as i32);
}

#[test]
fn unmapped_category_values_are_counted() {
    let conversion = convert();
    let unknown = UnmappedValue { column: "Last Activity".to_owned(), value: "unknown thing".to_owned() };
    assert_eq!(conversion.unmapped.get(&unknown), Some(&1));
    assert_eq!(conversion.unmapped.len(), 1, "the Select placeholder is not an unmapped value");
}

#[test]
fn idempotency_keys_are_deterministic() {
    let first = convert();
    let second = convert();
    assert_eq!(first.records, second.records);

    let keys: Vec<&str> =
        record(&first, "L1").activities.iter().map(|activity| activity.idempotency_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "import:L1:Visits:1",
            "import:L1:Visits:2",
            "import:L1:Visits:3",
            "import:L1:Last Activity:email opened:1",
            "import:L1:Free Copy:1",
        ]
    );
    assert!(record(&first, "L1").activities.iter().all(|activity| activity.occurred_at == Some(OCCURRED_AT)));
}

#[test]
fn missing_mapped_column_is_reported() {
    let mapping = Mapping::from_toml("key_column = \"Id\"\n[attributes]\nregion = \"Region\"\n").unwrap();
    let input = std::fs::File::open(fixture("leads.csv")).unwrap();
    let error = convert_all(input, &mapping, OCCURRED_AT).unwrap_err();
    assert!(error.to_string().contains("\"Region\""), "{error}");
    assert!(error.to_string().contains("attributes.region"), "{error}");
}

#[test]
fn invalid_utf8_row_is_skipped() {
    let mut input = b"Id,Visits\nA,1\n".to_vec();
    input.extend_from_slice(b"B\xff,2\nC,3\n");
    let mapping = Mapping::from_toml("key_column = \"Id\"\n[[counts]]\ncolumn = \"Visits\"\ntype = \"page_view\"\n").unwrap();
    let conversion = convert_all(input.as_slice(), &mapping, OCCURRED_AT).unwrap();
    assert_eq!(conversion.records.len(), 2);
    assert_eq!(conversion.skipped.len(), 1);
    assert_eq!(conversion.skipped[0].line, 3);
    assert_eq!(conversion.skipped[0].reason, SkipReason::InvalidUtf8);
}

#[test]
fn header_without_trailing_comma_works() {
    let input = "Id,Visits\nA,4\n";
    let mapping = Mapping::from_toml("key_column = \"Id\"\n[[counts]]\ncolumn = \"Visits\"\ntype = \"page_view\"\n").unwrap();
    let conversion = convert_all(input.as_bytes(), &mapping, OCCURRED_AT).unwrap();
    assert_eq!(conversion.records.len(), 1);
    assert_eq!(conversion.records[0].activities.len(), 4);
}

#[test]
fn x_education_examples_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/x-education");
    let text = std::fs::read_to_string(root.join("mapping.toml")).unwrap();
    let mapping = Mapping::from_toml(&text).unwrap();
    assert_eq!(mapping.key_column, "Prospect ID");
    let columns: Vec<&str> = mapping.columns().iter().map(|(_, column)| *column).collect();
    assert!(!columns.contains(&"Tags"), "{columns:?}");
    assert!(!columns.contains(&"Lead Quality"), "{columns:?}");
}

#[test]
fn unclosed_quote_reports_swallowed_lines() {
    let csv = "Id,Email,Source,Country,City,Visits,Last Activity,Free Copy,Converted,\n\
               Q1,,Google,\"India,Mumbai,1,Email Opened,No,1,\n\
               Q2,,Google,India,Mumbai,1,Email Opened,No,1,\n";
    let conversion = convert_all(csv.as_bytes(), &mapping(), prost_types::Timestamp::default()).expect("header");
    let skipped = conversion.skipped.first().expect("the broken row is reported");
    assert_eq!(skipped.line, 2);
    assert!(
        matches!(skipped.reason, SkipReason::FieldCount { last_line: Some(3), .. }),
        "the report names the swallowed line: {:?}",
        skipped.reason
    );
}

#[test]
fn changed_category_gets_new_key() {
    let before = "Id,Email,Source,Country,City,Visits,Last Activity,Free Copy,Converted,\n\
                  C1,,Google,India,Mumbai,0,Email Opened,No,1,\n";
    let after = before.replace("Email Opened", "SMS Sent");
    let keys = |text: &str| -> Vec<String> {
        let conversion = convert_all(text.as_bytes(), &mapping(), prost_types::Timestamp::default()).expect("header");
        conversion.records[0].activities.iter().map(|activity| activity.idempotency_key.clone()).collect()
    };
    assert_ne!(keys(before), keys(&after), "a changed value is a new activity, not a reused key");
}
