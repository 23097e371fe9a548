//! The activity service's request validators: `UpsertLead` fields, lead keys and the activity
//! part of `TrackActivity`. Beyond not panicking: a normalized e-mail address normalizes to
//! itself, an accepted e-mail has no violation, and a lead key is either parsed or rejected.

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use chrono::{TimeZone, Utc};
use leadflow_activity::domain::{LeadRef, normalize_email};
use leadflow_activity::fuzzing::{parse_lead_key, validate_track, validate_upsert};
use leadflow_proto::activity::{LeadKey, UpsertLeadRequest, lead_key};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Key {
    None,
    LeadId(String),
    Email(String),
    ExternalId(String),
    VisitorId(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    email: String,
    external_id: String,
    source: String,
    campaign: String,
    attributes: Vec<(String, String)>,
    key: Key,
    activity_type: i32,
    occurred_at: Option<(i64, i32)>,
    properties: Vec<(String, String)>,
    idempotency_key: String,
}

fuzz_target!(|input: Input| {
    let request = UpsertLeadRequest {
        email: input.email.clone(),
        external_id: input.external_id,
        source: input.source,
        campaign: input.campaign,
        attributes: input.attributes.into_iter().collect(),
        ..UpsertLeadRequest::default()
    };
    let (email, violations) = validate_upsert(&request);
    if let Some(email) = email {
        assert_eq!(normalize_email(&email).as_deref(), Ok(email.as_str()), "normalizing twice changes {email:?}");
        assert!(violations.iter().all(|violation| violation.field != "email"), "accepted e-mail with a violation");
    }

    let key = match input.key {
        Key::None => None,
        Key::LeadId(value) => Some(lead_key::Key::LeadId(value)),
        Key::Email(value) => Some(lead_key::Key::Email(value)),
        Key::ExternalId(value) => Some(lead_key::Key::ExternalId(value)),
        Key::VisitorId(value) => Some(lead_key::Key::VisitorId(value)),
    };
    let key = LeadKey { key };
    let (parsed, violations) = parse_lead_key(Some(&key));
    assert_eq!(parsed.is_some(), violations.is_empty(), "a key is either parsed or rejected: {violations:?}");
    if let Some(LeadRef::Email(email)) = parsed {
        assert_eq!(normalize_email(&email).as_deref(), Ok(email.as_str()));
    }

    let occurred_at = input.occurred_at.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos });
    let properties: BTreeMap<String, String> = input.properties.into_iter().collect();
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().expect("valid instant");
    let (type_name, _) = validate_track(input.activity_type, occurred_at.as_ref(), &properties, &input.idempotency_key, now);
    if type_name.is_some() {
        assert!(leadflow_activity::domain::activity_type_name(input.activity_type).is_some());
    }
});
