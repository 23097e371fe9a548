//! The acceptance check of the configured qualification framework: BANT through the typed
//! `Bant` message, any other framework through `answers`. A field without a value is missing.
//! Missing fields fail the check unless the acceptance rule is met or the request has an
//! override reason. Invalid values always fail.

use std::collections::BTreeMap;

use leadflow_kit::errors::FieldViolation;
use leadflow_proto::qualification::{Bant, FieldType, Framework};

use crate::domain::{self, MAX_NOTE_LEN, ValidBant};
use crate::settings::BANT;

/// An acceptance that passed the framework check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The BANT check, set when the framework is BANT; parts that were missing are empty.
    pub bant: Option<ValidBant>,
    /// Field values of another framework, trimmed, without empty ones.
    pub answers: BTreeMap<String, String>,
    /// The override reason when missing fields were accepted because of it; empty otherwise.
    pub override_reason: String,
}

/// Returns the BANT field paths whose value is missing, in BANT order.
fn missing_bant_fields(bant: &Bant) -> Vec<&'static str> {
    let mut missing = Vec::new();
    match &bant.budget {
        None => missing.push("bant.budget"),
        Some(budget) if budget.amount_minor == 0 && !budget.confirmed => missing.push("bant.budget"),
        Some(_) => {}
    }
    if bant.authority_role.trim().is_empty() {
        missing.push("bant.authority_role");
    }
    if bant.need.trim().is_empty() {
        missing.push("bant.need");
    }
    if bant.timeframe.trim().is_empty() {
        missing.push("bant.timeframe");
    }
    missing
}

/// Returns true when the acceptance rule is met: no required field is missing
/// (`min_answered` 0), or at least `min_answered` fields have a value.
fn rule_holds(min_answered: i32, missing_required: usize, answered: usize) -> bool {
    if min_answered <= 0 { missing_required == 0 } else { answered >= min_answered as usize }
}

/// Checks an acceptance against `framework`. Records every invalid value, and every missing
/// field when the rule fails without an override reason.
pub fn check(
    framework: &Framework,
    bant: Option<&Bant>,
    answers: &BTreeMap<String, String>,
    override_reason: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<Acceptance> {
    let before = violations.len();
    let override_reason = override_reason.trim();
    if override_reason.chars().count() > MAX_NOTE_LEN {
        violations.push(FieldViolation::new(
            "override_reason",
            format!("has {} characters; expected at most {MAX_NOTE_LEN}", override_reason.chars().count()),
        ));
    }

    let (missing, answered, acceptance_bant, accepted_answers) = if framework.name == BANT {
        if !answers.is_empty() {
            violations.push(FieldViolation::new(
                "answers",
                "must be empty because the configured framework is BANT; send the BANT check in bant",
            ));
        }
        let empty = Bant::default();
        let bant = bant.unwrap_or(&empty);
        let missing = missing_bant_fields(bant);

        // validate_bant reports missing and invalid parts; only the invalid ones always count.
        let mut bant_violations = Vec::new();
        domain::validate_bant(Some(bant), &mut bant_violations);
        let (missing_violations, invalid): (Vec<_>, Vec<_>) =
            bant_violations.into_iter().partition(|violation| missing.contains(&violation.field.as_str()));
        violations.extend(invalid);

        let answered = 4 - missing.len();
        (missing_violations, answered, Some(domain::bant_parts(bant)), BTreeMap::new())
    } else {
        if bant.is_some() {
            violations.push(FieldViolation::new(
                "bant",
                format!("must be empty because the configured framework is {}; send its fields in answers", framework.name),
            ));
        }
        let mut missing = Vec::new();
        let mut accepted = BTreeMap::new();
        for name in answers.keys() {
            if !framework.fields.iter().any(|field| &field.name == name) {
                let names: Vec<&str> = framework.fields.iter().map(|field| field.name.as_str()).collect();
                violations.push(FieldViolation::new(
                    format!("answers.{name}"),
                    format!("{name:?} is not a field of framework {}; expected one of {}", framework.name, names.join(", ")),
                ));
            }
        }
        for field in &framework.fields {
            let path = format!("answers.{}", field.name);
            let value = answers.get(&field.name).map(|value| value.trim()).unwrap_or_default();
            if value.is_empty() {
                if field.required || framework.min_answered > 0 {
                    missing.push(FieldViolation::new(path, format!("missing; framework {} needs {:?}", framework.name, field.name)));
                }
                continue;
            }
            if let Some(problem) = type_problem(value, FieldType::try_from(field.r#type).unwrap_or(FieldType::Text)) {
                violations.push(FieldViolation::new(path, format!("{value:?} {problem}")));
                continue;
            }
            accepted.insert(field.name.clone(), value.to_owned());
        }
        let answered = accepted.len();
        // Under an "at least N" rule every unanswered field is reported, because any of them
        // would count; under the "every required field" rule only required ones are.
        (missing, answered, None, accepted)
    };

    let missing_required = if framework.name == BANT {
        missing.len()
    } else {
        missing
            .iter()
            .filter(|violation| {
                let name = violation.field.trim_start_matches("answers.");
                framework.fields.iter().any(|field| field.name == name && field.required)
            })
            .count()
    };
    let holds = rule_holds(framework.min_answered, missing_required, answered);
    let used_override = !holds && !override_reason.is_empty();
    if !holds && override_reason.is_empty() {
        violations.extend(missing);
    }

    (violations.len() == before).then(|| Acceptance {
        bant: acceptance_bant,
        answers: accepted_answers,
        override_reason: if used_override { override_reason.to_owned() } else { String::new() },
    })
}

/// Describes why `value` is not of `field_type`, or returns `None` when it is.
fn type_problem(value: &str, field_type: FieldType) -> Option<&'static str> {
    match field_type {
        FieldType::Number if value.parse::<i64>().is_err() => Some("is not a whole number"),
        FieldType::Date if domain::parse_timeframe(value).is_none() => {
            Some("is not a date \"YYYY-MM-DD\" or a quarter \"YYYY-Qn\" with n from 1 to 4")
        }
        FieldType::Boolean if value != "true" && value != "false" => Some("is not \"true\" or \"false\""),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use leadflow_proto::qualification::{Budget, FrameworkField};

    use super::*;
    use crate::settings::bant_framework;

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|violation| violation.field.as_str()).collect()
    }

    fn partial_bant() -> Bant {
        Bant {
            budget: None,
            authority_role: "CTO".to_owned(),
            need: "routing".to_owned(),
            timeframe: String::new(),
        }
    }

    #[test]
    fn bant_missing_parts_are_violations() {
        let mut violations = Vec::new();
        let result = check(&bant_framework(0), Some(&partial_bant()), &BTreeMap::new(), "", &mut violations);
        assert!(result.is_none());
        assert_eq!(fields(&violations), ["bant.budget", "bant.timeframe"]);
    }

    #[test]
    fn override_accepts_missing_parts() {
        let mut violations = Vec::new();
        let result = check(&bant_framework(0), Some(&partial_bant()), &BTreeMap::new(), "CEO vouched", &mut violations);
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(result.unwrap().override_reason, "CEO vouched");
    }

    #[test]
    fn override_does_not_excuse_invalid_values() {
        let bant = Bant {
            budget: Some(Budget { amount_minor: 10, currency: "eur".to_owned(), confirmed: false }),
            ..partial_bant()
        };
        let mut violations = Vec::new();
        assert!(check(&bant_framework(0), Some(&bant), &BTreeMap::new(), "urgent", &mut violations).is_none());
        assert_eq!(fields(&violations), ["bant.budget.currency"]);
    }

    #[test]
    fn at_least_two_of_bant() {
        let mut violations = Vec::new();
        let result = check(&bant_framework(2), Some(&partial_bant()), &BTreeMap::new(), "", &mut violations).unwrap();
        assert_eq!(result.override_reason, "");
        assert_eq!(result.bant.unwrap().authority_role, "CTO");

        let mut violations = Vec::new();
        check(&bant_framework(3), Some(&partial_bant()), &BTreeMap::new(), "", &mut violations);
        assert_eq!(fields(&violations), ["bant.budget", "bant.timeframe"]);
    }

    fn meddic() -> Framework {
        let field = |name: &str, field_type: FieldType, required: bool| FrameworkField {
            name: name.to_owned(),
            r#type: field_type as i32,
            required,
        };
        Framework {
            name: "MEDDIC".to_owned(),
            fields: vec![
                field("metrics", FieldType::Number, true),
                field("economic_buyer", FieldType::Text, true),
                field("champion", FieldType::Text, false),
            ],
            min_answered: 0,
        }
    }

    #[test]
    fn generic_framework_checks_types_and_required() {
        let answers: BTreeMap<String, String> =
            [("metrics".to_owned(), "many".to_owned()), ("color".to_owned(), "red".to_owned())].into();
        let mut violations = Vec::new();
        assert!(check(&meddic(), None, &answers, "", &mut violations).is_none());
        assert_eq!(fields(&violations), ["answers.color", "answers.metrics", "answers.economic_buyer"]);
        assert!(violations[1].description.contains("\"many\""));

        let answers: BTreeMap<String, String> =
            [("metrics".to_owned(), "120000".to_owned()), ("economic_buyer".to_owned(), "CFO".to_owned())].into();
        let mut violations = Vec::new();
        let accepted = check(&meddic(), None, &answers, "", &mut violations).unwrap();
        assert_eq!(accepted.answers.len(), 2);
    }
}
