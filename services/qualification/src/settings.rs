//! Qualification settings: the first-touch SLA, the team's time zone, the assignment mode, the
//! rejection reasons and the qualification framework. They are stored as one JSON value and
//! read on every request that needs them, so a change applies to the next request.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use leadflow_kit::errors::FieldViolation;
use leadflow_kit::time::to_timestamp;
use leadflow_proto::qualification::{AssignmentMode, FieldType, Framework, FrameworkField, QualificationSettings};
use serde_json::{Value, json};

use crate::domain::REJECTION_REASONS;

/// First-touch SLA when none is configured, in hours.
pub const DEFAULT_SLA_HOURS: i32 = 24;
/// Maximum first-touch SLA, in hours (30 days).
pub const MAX_SLA_HOURS: i32 = 720;
/// Most rejection reasons or framework fields accepted.
pub const MAX_LIST_LEN: usize = 50;
/// Name of the framework that AcceptLead checks with the typed `Bant` message.
pub const BANT: &str = "BANT";

/// Returns the BANT framework with all four parts required.
pub fn bant_framework(min_answered: i32) -> Framework {
    let field = |name: &str, field_type: FieldType| FrameworkField {
        name: name.to_owned(),
        r#type: field_type as i32,
        required: true,
    };
    Framework {
        name: BANT.to_owned(),
        fields: vec![
            field("budget", FieldType::Number),
            field("authority_role", FieldType::Text),
            field("need", FieldType::Text),
            field("timeframe", FieldType::Date),
        ],
        min_answered,
    }
}

/// Returns the settings in effect while none are stored.
pub fn defaults() -> QualificationSettings {
    QualificationSettings {
        first_touch_sla_hours: DEFAULT_SLA_HOURS,
        time_zone: "UTC".to_owned(),
        assignment_mode: AssignmentMode::RoundRobin as i32,
        rejection_reasons: REJECTION_REASONS.iter().map(|reason| (*reason).to_owned()).collect(),
        framework: Some(bant_framework(0)),
        update_time: None,
    }
}

/// Returns true for a code of lower-case ASCII letters, digits and `_`, 1 to 64 long.
pub fn is_code(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// Paths that UpdateSettings accepts in its mask.
pub const MASK_PATHS: [&str; 5] =
    ["first_touch_sla_hours", "time_zone", "assignment_mode", "rejection_reasons", "framework"];

/// Applies the masked fields of `update` to `current` and validates the result. Records one
/// violation per invalid setting or unknown mask path.
pub fn merge(
    current: &QualificationSettings,
    update: &QualificationSettings,
    mask: &[String],
    violations: &mut Vec<FieldViolation>,
) -> QualificationSettings {
    let mut merged = current.clone();
    let paths: Vec<&str> = if mask.is_empty() { MASK_PATHS.to_vec() } else { mask.iter().map(String::as_str).collect() };
    for (index, path) in paths.iter().enumerate() {
        match *path {
            "first_touch_sla_hours" => merged.first_touch_sla_hours = update.first_touch_sla_hours,
            "time_zone" => merged.time_zone = update.time_zone.trim().to_owned(),
            "assignment_mode" => merged.assignment_mode = update.assignment_mode,
            "rejection_reasons" => merged.rejection_reasons = update.rejection_reasons.clone(),
            "framework" => merged.framework = update.framework.clone(),
            other => violations.push(FieldViolation::new(
                format!("update_mask.paths[{index}]"),
                format!("{other:?} is not a setting; expected one of {}", MASK_PATHS.join(", ")),
            )),
        }
    }
    validate(&mut merged, violations);
    merged
}

/// Checks every setting, normalises names, and records one violation per invalid one.
pub fn validate(settings: &mut QualificationSettings, violations: &mut Vec<FieldViolation>) {
    let hours = settings.first_touch_sla_hours;
    if !(1..=MAX_SLA_HOURS).contains(&hours) {
        violations.push(FieldViolation::new(
            "settings.first_touch_sla_hours",
            format!("{hours} is out of range; expected 1 to {MAX_SLA_HOURS} hours"),
        ));
    }

    if settings.time_zone.is_empty() {
        settings.time_zone = "UTC".to_owned();
    }
    if settings.time_zone.parse::<Tz>().is_err() {
        violations.push(FieldViolation::new(
            "settings.time_zone",
            format!("{:?} is not a known IANA time zone; expected a name such as \"Europe/Bucharest\" or \"UTC\"", settings.time_zone),
        ));
    }

    match AssignmentMode::try_from(settings.assignment_mode) {
        Ok(AssignmentMode::Unspecified) => settings.assignment_mode = AssignmentMode::RoundRobin as i32,
        Ok(_) => {}
        Err(_) => violations.push(FieldViolation::new(
            "settings.assignment_mode",
            format!("{} is not an assignment mode; expected ASSIGNMENT_MODE_ROUND_ROBIN or ASSIGNMENT_MODE_RULES", settings.assignment_mode),
        )),
    }

    validate_reasons(&mut settings.rejection_reasons, violations);

    match settings.framework.as_mut() {
        None => settings.framework = Some(bant_framework(0)),
        Some(framework) => validate_framework(framework, violations),
    }
}

fn validate_reasons(reasons: &mut [String], violations: &mut Vec<FieldViolation>) {
    for reason in reasons.iter_mut() {
        *reason = reason.trim().to_owned();
    }
    if reasons.is_empty() || reasons.len() > MAX_LIST_LEN {
        violations.push(FieldViolation::new(
            "settings.rejection_reasons",
            format!("has {} reasons; expected 1 to {MAX_LIST_LEN}", reasons.len()),
        ));
    }
    for (index, reason) in reasons.iter().enumerate() {
        if !is_code(reason) {
            violations.push(FieldViolation::new(
                format!("settings.rejection_reasons[{index}]"),
                format!("{reason:?} is not a reason code; expected 1 to 64 lower-case letters, digits or \"_\""),
            ));
        } else if reasons[..index].contains(reason) {
            violations.push(FieldViolation::new(
                format!("settings.rejection_reasons[{index}]"),
                format!("{reason:?} appears twice; list each reason once"),
            ));
        }
    }
}

fn validate_framework(framework: &mut Framework, violations: &mut Vec<FieldViolation>) {
    let name = framework.name.trim().to_owned();
    if name.eq_ignore_ascii_case(BANT) {
        // BANT's fields are fixed by the typed Bant message; only the acceptance rule is read.
        let min_answered = framework.min_answered;
        *framework = bant_framework(min_answered);
    } else {
        framework.name = name;
        if framework.name.is_empty() || framework.name.chars().count() > 32 {
            violations.push(FieldViolation::new(
                "settings.framework.name",
                format!("{:?} is not a framework name; expected 1 to 32 characters, for example \"MEDDIC\"", framework.name),
            ));
        }
        if framework.fields.is_empty() || framework.fields.len() > MAX_LIST_LEN {
            violations.push(FieldViolation::new(
                "settings.framework.fields",
                format!("has {} fields; expected 1 to {MAX_LIST_LEN}", framework.fields.len()),
            ));
        }
        for index in 0..framework.fields.len() {
            let field = &framework.fields[index];
            let path = format!("settings.framework.fields[{index}]");
            if !is_code(&field.name) {
                violations.push(FieldViolation::new(
                    format!("{path}.name"),
                    format!("{:?} is not a field name; expected 1 to 64 lower-case letters, digits or \"_\"", field.name),
                ));
            } else if framework.fields[..index].iter().any(|other| other.name == field.name) {
                violations.push(FieldViolation::new(format!("{path}.name"), format!("{:?} appears twice", field.name)));
            }
            match FieldType::try_from(field.r#type) {
                Ok(FieldType::Unspecified) => framework.fields[index].r#type = FieldType::Text as i32,
                Ok(_) => {}
                Err(_) => violations.push(FieldViolation::new(
                    format!("{path}.type"),
                    format!("{} is not a field type; expected FIELD_TYPE_TEXT, NUMBER, DATE or BOOLEAN", field.r#type),
                )),
            }
        }
    }

    let count = framework.fields.len() as i32;
    if framework.min_answered < 0 || framework.min_answered > count {
        violations.push(FieldViolation::new(
            "settings.framework.min_answered",
            format!("{} is out of range; expected 0 (every required field) to {count}", framework.min_answered),
        ));
    }
}

/// Writes settings as a JSON object for storage.
pub fn to_json(settings: &QualificationSettings) -> Value {
    let framework = settings.framework.clone().unwrap_or_else(|| bant_framework(0));
    let fields: Vec<Value> = framework
        .fields
        .iter()
        .map(|field| {
            json!({
                "name": field.name,
                "type": FieldType::try_from(field.r#type).unwrap_or(FieldType::Text).as_str_name(),
                "required": field.required,
            })
        })
        .collect();
    json!({
        "first_touch_sla_hours": settings.first_touch_sla_hours,
        "time_zone": settings.time_zone,
        "assignment_mode": AssignmentMode::try_from(settings.assignment_mode).unwrap_or(AssignmentMode::RoundRobin).as_str_name(),
        "rejection_reasons": settings.rejection_reasons,
        "framework": { "name": framework.name, "fields": fields, "min_answered": framework.min_answered },
    })
}

/// Reads settings written by [`to_json`]; a missing or malformed part reads as its default.
pub fn from_json(value: &Value, update_time: DateTime<Utc>) -> QualificationSettings {
    let defaults = defaults();
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);

    let framework = value.get("framework").map(|framework| Framework {
        name: text(framework.get("name")).unwrap_or_else(|| BANT.to_owned()),
        fields: framework
            .get("fields")
            .and_then(Value::as_array)
            .map(|fields| {
                fields
                    .iter()
                    .map(|field| FrameworkField {
                        name: text(field.get("name")).unwrap_or_default(),
                        r#type: text(field.get("type"))
                            .and_then(|name| FieldType::from_str_name(&name))
                            .unwrap_or(FieldType::Text) as i32,
                        required: field.get("required").and_then(Value::as_bool).unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        min_answered: framework.get("min_answered").and_then(Value::as_i64).unwrap_or(0) as i32,
    });

    QualificationSettings {
        first_touch_sla_hours: value
            .get("first_touch_sla_hours")
            .and_then(Value::as_i64)
            .map(|hours| hours as i32)
            .unwrap_or(defaults.first_touch_sla_hours),
        time_zone: text(value.get("time_zone")).unwrap_or(defaults.time_zone),
        assignment_mode: text(value.get("assignment_mode"))
            .and_then(|name| AssignmentMode::from_str_name(&name))
            .unwrap_or(AssignmentMode::RoundRobin) as i32,
        rejection_reasons: value
            .get("rejection_reasons")
            .and_then(Value::as_array)
            .map(|reasons| reasons.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or(defaults.rejection_reasons),
        framework: framework.or(defaults.framework),
        update_time: Some(to_timestamp(update_time)),
    }
}

/// Reads the stored settings, or the defaults while none are stored.
pub async fn load<C: sea_orm::ConnectionTrait>(db: &C) -> Result<QualificationSettings, sea_orm::DbErr> {
    let stored = crate::store::sales::find_setting(db, crate::store::sales::SETTINGS_KEY).await?;
    Ok(stored.map(|row| from_json(&row.value, row.update_time)).unwrap_or_else(defaults))
}

/// Returns the assignment mode of `settings`, round robin when unset.
pub fn assignment_mode(settings: &QualificationSettings) -> AssignmentMode {
    match AssignmentMode::try_from(settings.assignment_mode) {
        Ok(AssignmentMode::Rules) => AssignmentMode::Rules,
        _ => AssignmentMode::RoundRobin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|violation| violation.field.as_str()).collect()
    }

    #[test]
    fn defaults_are_valid() {
        let mut settings = defaults();
        let mut violations = Vec::new();
        validate(&mut settings, &mut violations);
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(settings.first_touch_sla_hours, 24);
        assert_eq!(settings.rejection_reasons.len(), 8);
    }

    #[test]
    fn json_round_trip() {
        let mut settings = defaults();
        settings.first_touch_sla_hours = 8;
        settings.assignment_mode = AssignmentMode::Rules as i32;
        settings.framework = Some(Framework {
            name: "MEDDIC".to_owned(),
            fields: vec![FrameworkField { name: "metrics".to_owned(), r#type: FieldType::Number as i32, required: true }],
            min_answered: 0,
        });
        let time = Utc::now();
        let mut read = from_json(&to_json(&settings), time);
        read.update_time = None;
        assert_eq!(read, settings);
    }

    #[test]
    fn invalid_settings_name_each_value() {
        let update = QualificationSettings {
            first_touch_sla_hours: 0,
            time_zone: "Mars/Olympus".to_owned(),
            assignment_mode: 9,
            rejection_reasons: vec!["no_budget".to_owned(), "Too Expensive".to_owned(), "no_budget".to_owned()],
            framework: Some(Framework { name: "CHAMP".to_owned(), fields: Vec::new(), min_answered: 2 }),
            update_time: None,
        };
        let mut violations = Vec::new();
        merge(&defaults(), &update, &["bogus".to_owned()], &mut violations);
        assert_eq!(fields(&violations), ["update_mask.paths[0]"]);

        let mut violations = Vec::new();
        merge(&defaults(), &update, &[], &mut violations);
        assert_eq!(
            fields(&violations),
            [
                "settings.first_touch_sla_hours",
                "settings.time_zone",
                "settings.assignment_mode",
                "settings.rejection_reasons[1]",
                "settings.rejection_reasons[2]",
                "settings.framework.fields",
                "settings.framework.min_answered",
            ]
        );
        assert!(violations[1].description.contains("\"Mars/Olympus\""));
    }

    #[test]
    fn bant_fields_are_fixed() {
        let update = QualificationSettings {
            framework: Some(Framework { name: "bant".to_owned(), fields: Vec::new(), min_answered: 3 }),
            ..defaults()
        };
        let mut violations = Vec::new();
        let merged = merge(&defaults(), &update, &["framework".to_owned()], &mut violations);
        assert!(violations.is_empty(), "{violations:?}");
        let framework = merged.framework.unwrap();
        assert_eq!(framework.name, "BANT");
        assert_eq!(framework.fields.len(), 4);
        assert_eq!(framework.min_answered, 3);
    }
}
