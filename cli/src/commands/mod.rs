//! One module per group of commands, and the argument helpers they share.

pub mod funnel;
pub mod funnel_svg;
pub mod identity;
pub mod import;
pub mod lead;
pub mod model;
pub mod privacy;
pub mod report;
pub mod reps;
pub mod sales;
pub mod settings;
pub mod track;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leadflow_proto::activity::LeadKey;
use leadflow_proto::activity::lead_key::Key;

use crate::args::LeadKeyArgs;
use crate::errors::CliError;
use crate::i18n::Text;

/// Parses repeated `KEY=VALUE` arguments of `flag`. The value may be empty or contain `=`.
pub fn parse_key_values(flag: &str, pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                map.insert(key.trim().to_owned(), value.to_owned());
            }
            _ => {
                return Err(CliError::new(Text::InvalidKeyValue).arg("flag", flag).arg("value", format!("{pair:?}")));
            }
        }
    }
    Ok(map)
}

/// Parses an RFC 3339 time such as `2026-12-01T09:30:00Z`.
pub fn parse_time(value: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| CliError::new(Text::InvalidTimestamp).arg("value", format!("{value:?}")))
}

/// Converts a UTC time to a protobuf timestamp.
pub fn to_timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

/// Builds the lead key from the one key flag that clap let through.
pub fn lead_key(args: &LeadKeyArgs) -> LeadKey {
    let key = if let Some(lead_id) = &args.lead_id {
        Key::LeadId(lead_id.clone())
    } else if let Some(email) = &args.email {
        Key::Email(email.clone())
    } else {
        Key::ExternalId(args.external_id.clone().unwrap_or_default())
    };
    LeadKey { key: Some(key) }
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &serde_json::Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(error) => eprintln!("{error}"),
    }
}

/// Returns the people-facing name of a lifecycle stage.
pub fn lifecycle_name(value: i32, lang: crate::i18n::Lang) -> String {
    use leadflow_proto::activity::LifecycleStage;

    let text = match LifecycleStage::try_from(value) {
        Ok(LifecycleStage::Lead) => return "Lead".to_owned(),
        Ok(LifecycleStage::Mql) => return "MQL".to_owned(),
        Ok(LifecycleStage::Sql) => return "SQL".to_owned(),
        Ok(LifecycleStage::Customer) => Text::LifecycleCustomer,
        Ok(LifecycleStage::Lost) => Text::LifecycleLost,
        Ok(LifecycleStage::Recycled) => Text::LifecycleRecycled,
        Ok(LifecycleStage::Unspecified) | Err(_) => Text::Unknown,
    };
    text.get(lang).to_owned()
}

/// Returns the people-facing name of a qualification state.
pub fn state_name(value: i32, lang: crate::i18n::Lang) -> String {
    use leadflow_proto::types::QualificationState;

    let text = match QualificationState::try_from(value) {
        Ok(QualificationState::Sql) => return "SQL".to_owned(),
        Ok(QualificationState::New) => Text::StateNew,
        Ok(QualificationState::Working) => Text::StateWorking,
        Ok(QualificationState::Recycled) => Text::StateRecycled,
        Ok(QualificationState::Won) => Text::StateWon,
        Ok(QualificationState::Lost) => Text::StateLost,
        Ok(QualificationState::Unspecified) | Err(_) => Text::Unknown,
    };
    text.get(lang).to_owned()
}

/// Returns the short lower-case name of a qualification state for JSON, such as `working`.
pub fn state_code(value: i32) -> String {
    use leadflow_proto::types::QualificationState;

    QualificationState::try_from(value)
        .map(|state| {
            let full = state.as_str_name();
            full.strip_prefix("QUALIFICATION_STATE_").unwrap_or(full).to_ascii_lowercase()
        })
        .unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_accept_empty_and_equals() {
        let pairs = vec!["a=1".to_owned(), "b=".to_owned(), "c=x=y".to_owned()];
        let map = parse_key_values("--property", &pairs).unwrap();
        assert_eq!(map.get("a").map(String::as_str), Some("1"));
        assert_eq!(map.get("b").map(String::as_str), Some(""));
        assert_eq!(map.get("c").map(String::as_str), Some("x=y"));
    }

    #[test]
    fn key_values_reject_missing_equals() {
        let error = parse_key_values("--property", &["novalue".to_owned()]).unwrap_err();
        assert_eq!(error.text(), Text::InvalidKeyValue);
    }

    #[test]
    fn parse_time_reads_rfc3339() {
        assert_eq!(parse_time("2026-12-01T09:30:00+02:00").unwrap().to_rfc3339(), "2026-12-01T07:30:00+00:00");
        assert!(parse_time("2026-12-01").is_err());
    }
}
