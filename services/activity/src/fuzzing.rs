//! Entry points for the fuzz targets in `fuzz/`: the request validators of the handlers,
//! callable without a database. They run the same code as the handlers and change nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use leadflow_kit::errors::FieldViolation;
use leadflow_proto::activity::{LeadKey, UpsertLeadRequest};

use crate::api::{validate_activity, validate_lead};
use crate::domain::{self, LeadRef};

/// Validates an `UpsertLead` request as the handler does; returns the normalized e-mail
/// address, when there is one, and the field violations.
pub fn validate_upsert(request: &UpsertLeadRequest) -> (Option<String>, Vec<FieldViolation>) {
    let mut violations = Vec::new();
    let input = validate_lead(request, "", &mut violations);
    (input.email, violations)
}

/// Validates the activity part of a `TrackActivity` request as the handler does at `now`;
/// returns the activity type name when the input is usable, and the field violations.
pub fn validate_track(
    type_value: i32,
    occurred_at: Option<&prost_types::Timestamp>,
    properties: &BTreeMap<String, String>,
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> (Option<&'static str>, Vec<FieldViolation>) {
    let mut violations = Vec::new();
    let input = validate_activity(type_value, occurred_at, properties, idempotency_key, "", now, &mut violations);
    (input.map(|input| input.type_name), violations)
}

/// Parses a lead key as the handlers do.
pub fn parse_lead_key(key: Option<&LeadKey>) -> (Option<LeadRef>, Vec<FieldViolation>) {
    let mut violations = Vec::new();
    let parsed = domain::parse_lead_key(key, "lead", &mut violations);
    (parsed, violations)
}
