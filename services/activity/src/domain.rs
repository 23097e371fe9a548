//! Rules of the activity service that need no I/O: normalising e-mail addresses and sources,
//! checking activities, and mapping qualification states to lifecycle stages.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use unicode_normalization::UnicodeNormalization;
use leadflow_kit::errors::FieldViolation;
use leadflow_proto::activity::{LeadKey, LifecycleStage, lead_key};
use leadflow_proto::types::{ActivityType, QualificationState};
use uuid::Uuid;

/// How far in the future an activity's `occurred_at` may lie, for clocks that run ahead.
pub const MAX_FUTURE_SKEW: Duration = Duration::hours(24);
/// Most properties on one activity.
pub const MAX_PROPERTIES: usize = 32;
/// Maximum length of a property or attribute key, in characters.
pub const MAX_KEY_LEN: usize = 64;
/// Maximum length of a property or attribute value, in characters.
pub const MAX_VALUE_LEN: usize = 2048;
/// Maximum length of an e-mail address (the RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Maximum length of an external id, source, campaign or idempotency key.
pub const MAX_TEXT_LEN: usize = 256;

/// A lead reference after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadRef {
    /// By server-assigned id.
    Id(Uuid),
    /// By normalised e-mail address.
    Email(String),
    /// By external id.
    ExternalId(String),
    /// By anonymous visitor id.
    Visitor(String),
}

impl LeadRef {
    /// Describes the reference for the caller's error message. The e-mail address is the
    /// caller's own input; error logs carry only the code and reason, never this text.
    pub fn describe(&self) -> String {
        match self {
            LeadRef::Id(id) => format!("lead_id {id}"),
            LeadRef::Email(email) => format!("e-mail {email}"),
            LeadRef::ExternalId(id) => format!("external_id {id:?}"),
            LeadRef::Visitor(id) => format!("visitor_id {id:?}"),
        }
    }
}

/// Returns true for characters that print nothing or reorder text: controls, zero-width
/// characters, bidirectional overrides and the byte-order mark. Two keys that differ only by
/// them look identical to a person, so keys must not contain them.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}' | '\u{FEFF}')
        || ('\u{200B}'..='\u{200F}').contains(&c)
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2060}'..='\u{206F}').contains(&c)
}

/// Normalises an e-mail address (trim, lower-case, Unicode NFC) and checks its shape: one
/// `@`, a local part of 1 to 64 characters, a domain with a dot whose labels have 1 to 63
/// characters, no spaces or invisible characters, at most 254 characters. Provider-specific
/// forms (dots or `+tags` in Gmail addresses) are kept as written: they may be different
/// mailboxes at other providers, so merging them is left to an explicit merge.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    // NFC comes last because lower-casing can turn a sequence without a composed form ("T"
    // and a diaeresis) into one with a composed form ("ẗ"). The result then stays the same
    // when it is normalised again.
    let email: String = raw.trim().to_lowercase().nfc().collect();

    let invalid = || format!("{raw:?} is not a valid e-mail address; expected local@domain.tld");
    if email.is_empty() || email.chars().count() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    if email.chars().any(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(format!("{raw:?} contains spaces or invisible characters; send the e-mail address alone"));
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid());
    };
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    let labels_ok = domain.split('.').all(|label| !label.is_empty() && label.chars().count() <= 63);
    if local.is_empty() || local.chars().count() > 64 || !domain_ok || !labels_ok {
        return Err(invalid());
    }

    Ok(email)
}

/// Trims an anonymous visitor id and checks it: 1 to 256 characters without control or
/// invisible characters. Case is kept, because cookie and device ids are case-sensitive.
pub fn normalize_visitor_id(raw: &str) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() || id.chars().count() > MAX_TEXT_LEN || id.chars().any(is_invisible) {
        return Err(format!("{id:?} must be 1 to {MAX_TEXT_LEN} characters without control or invisible characters"));
    }
    Ok(id.to_owned())
}

/// Normalises a source or category label: trimmed, inner whitespace collapsed, lower-cased,
/// so `Google` and ` google ` are one source.
pub fn normalize_label(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Validates a lead key; records a violation under `field` and returns `None` when invalid.
pub fn parse_lead_key(key: Option<&LeadKey>, field: &str, violations: &mut Vec<FieldViolation>) -> Option<LeadRef> {
    let Some(key) = key.and_then(|key| key.key.as_ref()) else {
        violations.push(FieldViolation::new(field, "missing; give lead_id, email or external_id"));
        return None;
    };

    match key {
        lead_key::Key::LeadId(id) => match Uuid::parse_str(id) {
            Ok(id) => Some(LeadRef::Id(id)),
            Err(_) => {
                violations.push(FieldViolation::new(format!("{field}.lead_id"), format!("{id:?} is not a UUID")));
                None
            }
        },
        lead_key::Key::Email(email) => match normalize_email(email) {
            Ok(email) => Some(LeadRef::Email(email)),
            Err(description) => {
                violations.push(FieldViolation::new(format!("{field}.email"), description));
                None
            }
        },
        lead_key::Key::VisitorId(id) => match normalize_visitor_id(id) {
            Ok(id) => Some(LeadRef::Visitor(id)),
            Err(description) => {
                violations.push(FieldViolation::new(format!("{field}.visitor_id"), description));
                None
            }
        },
        lead_key::Key::ExternalId(id) => {
            let id = id.trim();
            if id.is_empty() || id.len() > MAX_TEXT_LEN || id.chars().any(is_invisible) {
                violations.push(FieldViolation::new(
                    format!("{field}.external_id"),
                    format!("{id:?} must be 1 to {MAX_TEXT_LEN} characters without control or invisible characters"),
                ));
                None
            } else {
                Some(LeadRef::ExternalId(id.to_owned()))
            }
        }
    }
}

/// Returns the stored name of an activity type (`PAGE_VIEW`), or `None` for an unspecified
/// or unknown value.
pub fn activity_type_name(value: i32) -> Option<&'static str> {
    match ActivityType::try_from(value) {
        Ok(ActivityType::Unspecified) | Err(_) => None,
        Ok(kind) => kind.as_str_name().strip_prefix("ACTIVITY_TYPE_"),
    }
}

/// Parses a stored activity type name back to the enum.
pub fn activity_type_from_name(name: &str) -> ActivityType {
    ActivityType::from_str_name(&format!("ACTIVITY_TYPE_{name}")).unwrap_or(ActivityType::Unspecified)
}

/// Earliest accepted `occurred_at`: 1970-01-01T00:00:00Z. Older instants are typing or clock
/// mistakes, and some clients cannot represent instants before year 1.
pub fn min_occurred_at() -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0).single().unwrap_or_default()
}

/// Checks an activity's `occurred_at`: unset means `now`; more than 24 hours ahead of `now`
/// or before 1970 is invalid.
pub fn check_occurred_at(
    occurred_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> DateTime<Utc> {
    let Some(occurred_at) = occurred_at else {
        return now;
    };
    if occurred_at < min_occurred_at() {
        violations.push(FieldViolation::new(
            field,
            format!("{} is before 1970-01-01T00:00:00Z; send the time the activity happened", occurred_at.to_rfc3339()),
        ));
    }
    if occurred_at > now + MAX_FUTURE_SKEW {
        violations.push(FieldViolation::new(
            field,
            format!(
                "{} is more than 24 hours in the future; send the time the activity happened, in UTC or with its offset",
                occurred_at.to_rfc3339()
            ),
        ));
    }
    leadflow_kit::time::truncate_to_micros(occurred_at)
}

/// Checks a map of properties or attributes: at most 32 entries, keys of 1 to 64 characters,
/// values of at most 2048.
pub fn check_string_map(map: &BTreeMap<String, String>, field: &str, violations: &mut Vec<FieldViolation>) {
    if map.len() > MAX_PROPERTIES {
        violations.push(FieldViolation::new(
            field,
            format!("has {} entries; at most {MAX_PROPERTIES} are allowed", map.len()),
        ));
    }
    for (key, value) in map {
        if key.is_empty() || key.chars().count() > MAX_KEY_LEN || key.chars().any(is_invisible) {
            violations.push(FieldViolation::new(
                format!("{field}[{key:?}]"),
                format!("keys must be 1 to {MAX_KEY_LEN} characters without control or invisible characters"),
            ));
        }
        if value.chars().count() > MAX_VALUE_LEN {
            violations.push(FieldViolation::new(
                format!("{field}[{key:?}]"),
                format!("values must be at most {MAX_VALUE_LEN} characters"),
            ));
        }
    }
}

/// Checks a short text field: at most 256 characters and no control or invisible characters.
pub fn check_text(value: &str, field: &str, violations: &mut Vec<FieldViolation>) {
    if value.chars().count() > MAX_TEXT_LEN {
        violations.push(FieldViolation::new(field, format!("must be at most {MAX_TEXT_LEN} characters")));
    }
    if value.chars().any(is_invisible) {
        violations.push(FieldViolation::new(field, format!("{value:?} contains control or invisible characters")));
    }
}

/// Applies attribute changes: an empty value removes the key, others set it. Returns true
/// when anything changed.
pub fn merge_attributes(stored: &mut BTreeMap<String, String>, changes: &BTreeMap<String, String>) -> bool {
    let mut changed = false;
    for (key, value) in changes {
        if value.is_empty() {
            changed |= stored.remove(key).is_some();
        } else if stored.get(key) != Some(value) {
            stored.insert(key.clone(), value.clone());
            changed = true;
        }
    }
    changed
}

/// Maps a qualification state to the lifecycle stage the activity service keeps.
pub fn lifecycle_for_state(state: QualificationState) -> Option<LifecycleStage> {
    match state {
        QualificationState::New | QualificationState::Working => Some(LifecycleStage::Mql),
        QualificationState::Sql => Some(LifecycleStage::Sql),
        QualificationState::Recycled => Some(LifecycleStage::Recycled),
        QualificationState::Won => Some(LifecycleStage::Customer),
        QualificationState::Lost => Some(LifecycleStage::Lost),
        QualificationState::Unspecified => None,
    }
}

/// Returns the stored name of a lifecycle stage (`MQL`).
pub fn lifecycle_name(stage: LifecycleStage) -> &'static str {
    stage.as_str_name().strip_prefix("LIFECYCLE_STAGE_").unwrap_or("LEAD")
}

/// Parses a stored lifecycle stage name.
pub fn lifecycle_from_name(name: &str) -> LifecycleStage {
    LifecycleStage::from_str_name(&format!("LIFECYCLE_STAGE_{name}")).unwrap_or(LifecycleStage::Unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(normalize_email(" Lead.One@Example.RO ").unwrap(), "lead.one@example.ro");
    }

    #[test]
    fn email_provider_forms_are_kept() {
        assert_eq!(normalize_email("a.b+news@gmail.com").unwrap(), "a.b+news@gmail.com");
    }

    #[test]
    fn email_plus_tags_and_dots_stay_distinct() {
        let plain = normalize_email("ana.pop@gmail.com").unwrap();
        assert_ne!(normalize_email("anapop@gmail.com").unwrap(), plain);
        assert_ne!(normalize_email("ana.pop+news@gmail.com").unwrap(), plain);
    }

    #[test]
    fn visitor_ids_are_trimmed_and_keep_case() {
        assert_eq!(normalize_visitor_id("  Vx-1 ").unwrap(), "Vx-1");
        assert!(normalize_visitor_id(" ").is_err());
        assert!(normalize_visitor_id("v\u{200B}1").is_err());
    }

    #[test]
    fn email_is_unicode_normalised() {
        let composed = normalize_email("\u{0219}tefan@exemplu.ro").unwrap();
        let decomposed = normalize_email("s\u{0326}tefan@exemplu.ro").unwrap();
        assert_eq!(composed, decomposed);
    }

    #[test]
    fn email_normalisation_is_idempotent() {
        // U+0344 decomposes to a diaeresis and an acute accent. "T" with a diaeresis has no
        // composed form, but "t" with a diaeresis has one (U+1E97).
        let once = normalize_email("w@cT\u{344}t.ro").unwrap();
        assert_eq!(once, "w@c\u{1E97}\u{301}t.ro");
        assert_eq!(normalize_email(&once).unwrap(), once);
    }

    #[test]
    fn invisible_characters_are_rejected() {
        for raw in ["\u{200B}ana@example.ro", "ana@exa\u{202E}mple.ro", "ana\u{0}@example.ro"] {
            assert!(normalize_email(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn long_email_parts_are_rejected() {
        let local = "a".repeat(65);
        let label = "b".repeat(64);
        assert!(normalize_email(&format!("{local}@example.ro")).is_err());
        assert!(normalize_email(&format!("ana@{label}.ro")).is_err());
    }

    #[test]
    fn occurred_at_before_1970_is_rejected() {
        let mut violations = Vec::new();
        let ancient = Utc.timestamp_opt(-62_135_596_801, 0).single().unwrap();
        check_occurred_at(Some(ancient), Utc::now(), "occurred_at", &mut violations);
        assert_eq!(violations.len(), 1);
    }

    #[test]
    fn invalid_emails_are_rejected() {
        for raw in ["", "plain", "a@b", "a@@b.ro", "@b.ro", "a b@c.ro", "a@b..ro", "a@.b.ro"] {
            assert!(normalize_email(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn labels_fold_case_and_space() {
        assert_eq!(normalize_label(" Google "), "google");
        assert_eq!(normalize_label("Organic   Search"), "organic search");
    }

    #[test]
    fn future_occurred_at_is_rejected() {
        let now = Utc::now();
        let mut violations = Vec::new();
        check_occurred_at(Some(now + Duration::hours(25)), now, "occurred_at", &mut violations);
        assert_eq!(violations.len(), 1);
    }

    #[test]
    fn activity_type_names_round_trip() {
        let name = activity_type_name(ActivityType::DemoRequest as i32).unwrap();
        assert_eq!(name, "DEMO_REQUEST");
        assert_eq!(activity_type_from_name(name), ActivityType::DemoRequest);
        assert_eq!(activity_type_name(0), None);
        assert_eq!(activity_type_name(999), None);
    }

    #[test]
    fn empty_attribute_value_removes_key() {
        let mut stored = BTreeMap::from([("country".to_owned(), "RO".to_owned())]);
        let changed = merge_attributes(&mut stored, &BTreeMap::from([("country".to_owned(), String::new())]));
        assert!(changed);
        assert!(stored.is_empty());
    }
}
