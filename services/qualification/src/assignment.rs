//! Sales reps and the choice of a rep for a new MQL: round robin over the active reps with
//! free capacity, optionally narrowed by territory and segment rules.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use leadflow_kit::errors::FieldViolation;
use leadflow_proto::qualification::{AssignmentMode, Rep};

use crate::store::rep;

/// Most countries or segments of one rep.
pub const MAX_TERRITORY_LEN: usize = 250;
/// Largest capacity accepted.
pub const MAX_CAPACITY: i32 = 10_000;
/// Assignment method of the round-robin mode.
pub const METHOD_ROUND_ROBIN: &str = "round_robin";
/// Assignment method of the rules mode.
pub const METHOD_RULES: &str = "rules";
/// Assignment method of AssignLead.
pub const METHOD_MANUAL: &str = "manual";
/// Paths that UpdateRep accepts in its mask.
pub const MASK_PATHS: [&str; 6] = ["display_name", "active", "capacity", "countries", "segments", "time_zone"];

/// Returns true for a rep id: 1 to 64 ASCII letters, digits, `.`, `_`, `-` or `@`.
pub fn is_rep_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b'@'))
}

/// Records a violation under `field` unless `value` is a rep id.
pub fn check_rep_id(value: &str, field: &str, violations: &mut Vec<FieldViolation>) {
    if !is_rep_id(value) {
        violations.push(FieldViolation::new(
            field,
            format!("{value:?} is not a rep id; expected 1 to 64 letters, digits, \".\", \"_\", \"-\" or \"@\""),
        ));
    }
}

/// Validates the writable fields of a rep and normalises them: countries upper-case,
/// segments lower-case, everything trimmed and deduplicated.
pub fn validate_rep(rep: &mut Rep, violations: &mut Vec<FieldViolation>) {
    rep.display_name = rep.display_name.trim().to_owned();
    if rep.display_name.chars().count() > 200 {
        violations.push(FieldViolation::new(
            "rep.display_name",
            format!("has {} characters; expected at most 200", rep.display_name.chars().count()),
        ));
    }

    if !(1..=MAX_CAPACITY).contains(&rep.capacity) {
        violations.push(FieldViolation::new(
            "rep.capacity",
            format!("{} is out of range; expected 1 to {MAX_CAPACITY} open leads", rep.capacity),
        ));
    }

    let mut countries: Vec<String> = rep.countries.iter().map(|country| country.trim().to_ascii_uppercase()).collect();
    countries.dedup();
    for (index, country) in countries.iter().enumerate() {
        if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
            violations.push(FieldViolation::new(
                format!("rep.countries[{index}]"),
                format!("{:?} is not an ISO 3166-1 alpha-2 country code; expected two letters, for example \"RO\"", rep.countries[index]),
            ));
        }
    }
    rep.countries = countries;

    let mut segments: Vec<String> = rep.segments.iter().map(|segment| segment.trim().to_lowercase()).collect();
    segments.dedup();
    for (index, segment) in segments.iter().enumerate() {
        if segment.is_empty() || segment.chars().count() > 64 {
            violations.push(FieldViolation::new(
                format!("rep.segments[{index}]"),
                format!("{:?} is not a segment; expected 1 to 64 characters, for example \"51-200\" or \"software\"", rep.segments[index]),
            ));
        }
    }
    rep.segments = segments;

    for (field, list) in [("rep.countries", rep.countries.len()), ("rep.segments", rep.segments.len())] {
        if list > MAX_TERRITORY_LEN {
            violations.push(FieldViolation::new(field, format!("has {list} entries; expected at most {MAX_TERRITORY_LEN}")));
        }
    }

    rep.time_zone = rep.time_zone.trim().to_owned();
    if !rep.time_zone.is_empty() && rep.time_zone.parse::<Tz>().is_err() {
        violations.push(FieldViolation::new(
            "rep.time_zone",
            format!("{:?} is not a known IANA time zone; expected a name such as \"Europe/Bucharest\"", rep.time_zone),
        ));
    }
}

/// Returns true when a rep's territory and segments cover a lead with `attributes`. An empty
/// list covers everything; a lead without the attribute is covered only by an empty list.
pub fn covers(countries: &[String], segments: &[String], attributes: &BTreeMap<String, String>) -> bool {
    let country = attributes.get("country").map(|value| value.trim().to_ascii_uppercase());
    let country_ok = countries.is_empty() || country.is_some_and(|country| countries.contains(&country));

    let lead_segments: Vec<String> = ["company_size", "industry"]
        .iter()
        .filter_map(|key| attributes.get(*key))
        .map(|value| value.trim().to_lowercase())
        .collect();
    let segment_ok = segments.is_empty() || lead_segments.iter().any(|segment| segments.contains(segment));

    country_ok && segment_ok
}

/// A rep with the numbers the choice needs.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The stored rep.
    pub rep: rep::Model,
    /// Territory of the rep.
    pub countries: Vec<String>,
    /// Segments of the rep.
    pub segments: Vec<String>,
    /// Open (NEW or WORKING) leads assigned to the rep.
    pub open_leads: i64,
}

/// Chooses the rep for a new MQL: among active reps with free capacity (and, in the rules
/// mode, covering the lead), the one whose last automatic assignment is oldest, ties broken
/// by rep id. Returns the rep's index and the assignment method, or `None` when no rep can
/// take the lead.
pub fn choose(candidates: &[Candidate], mode: AssignmentMode, attributes: &BTreeMap<String, String>) -> Option<(usize, &'static str)> {
    let method = if mode == AssignmentMode::Rules { METHOD_RULES } else { METHOD_ROUND_ROBIN };
    candidates
        .iter()
        .enumerate()
        .filter(|(_, candidate)| candidate.rep.active && candidate.open_leads < i64::from(candidate.rep.capacity))
        .filter(|(_, candidate)| {
            mode != AssignmentMode::Rules || covers(&candidate.countries, &candidate.segments, attributes)
        })
        .min_by(|(_, left), (_, right)| {
            left.rep.assign_seq.cmp(&right.rep.assign_seq).then_with(|| left.rep.rep_id.cmp(&right.rep.rep_id))
        })
        .map(|(index, _)| (index, method))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn candidate(rep_id: &str, capacity: i32, open_leads: i64, assign_seq: i64, countries: &[&str], segments: &[&str]) -> Candidate {
        Candidate {
            rep: rep::Model {
                rep_id: rep_id.to_owned(),
                display_name: String::new(),
                active: true,
                capacity,
                countries: serde_json::json!(countries),
                segments: serde_json::json!(segments),
                time_zone: String::new(),
                assign_seq,
                create_time: Utc::now(),
                update_time: Utc::now(),
            },
            countries: countries.iter().map(|value| (*value).to_owned()).collect(),
            segments: segments.iter().map(|value| (*value).to_owned()).collect(),
            open_leads,
        }
    }

    #[test]
    fn round_robin_picks_least_recent() {
        let candidates = vec![candidate("b", 2, 0, 0, &[], &[]), candidate("a", 2, 0, 3, &[], &[]), candidate("c", 2, 0, 0, &[], &[])];
        assert_eq!(choose(&candidates, AssignmentMode::RoundRobin, &BTreeMap::new()), Some((0, METHOD_ROUND_ROBIN)));
    }

    #[test]
    fn full_and_inactive_reps_are_skipped() {
        let mut inactive = candidate("a", 2, 0, 0, &[], &[]);
        inactive.rep.active = false;
        let candidates = vec![inactive, candidate("b", 2, 2, 0, &[], &[])];
        assert_eq!(choose(&candidates, AssignmentMode::RoundRobin, &BTreeMap::new()), None);
    }

    #[test]
    fn rules_match_country_and_segment() {
        let candidates = vec![candidate("de", 5, 0, 0, &["DE"], &[]), candidate("ro", 5, 0, 9, &["RO"], &["software"])];
        let attributes: BTreeMap<String, String> =
            [("country".to_owned(), "ro".to_owned()), ("industry".to_owned(), "Software".to_owned())].into();
        assert_eq!(choose(&candidates, AssignmentMode::Rules, &attributes), Some((1, METHOD_RULES)));

        let no_country = BTreeMap::new();
        assert_eq!(choose(&candidates, AssignmentMode::Rules, &no_country), None);
        assert_eq!(choose(&candidates, AssignmentMode::RoundRobin, &no_country), Some((0, METHOD_ROUND_ROBIN)));
    }

    #[test]
    fn rep_fields_are_validated() {
        let mut rep = Rep {
            rep_id: "ana".to_owned(),
            capacity: 0,
            countries: vec!["ro".to_owned(), "Romania".to_owned()],
            time_zone: "Nowhere/City".to_owned(),
            ..Rep::default()
        };
        let mut violations = Vec::new();
        validate_rep(&mut rep, &mut violations);
        let fields: Vec<&str> = violations.iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(fields, ["rep.capacity", "rep.countries[1]", "rep.time_zone"]);
        assert_eq!(rep.countries[0], "RO");
        assert!(!is_rep_id("ana pop"));
        assert!(is_rep_id("ana.pop@example"));
    }
}
