//! Scoring rules without I/O: the model, its validation, points per activity and the MQL
//! crossing decision.

use std::collections::BTreeMap;

use leadflow_kit::errors::FieldViolation;
use leadflow_proto::scoring::{ActivityPoints, ScoringModel};
use leadflow_proto::types::{ActivityType, ScoreReason};

/// Id of the suite's model.
pub const DEFAULT_MODEL_ID: &str = "default";
/// Threshold of the built-in model.
pub const DEFAULT_THRESHOLD: i64 = 50;
/// Largest absolute number of points one rule may award.
pub const MAX_RULE_POINTS: i64 = 1000;
/// Most reasons carried in an MQL hand-off.
pub const TOP_REASONS: usize = 5;

/// Points of the built-in model, by activity type name. A demo request alone nearly
/// qualifies; a pricing-page visit plus a guide download and a demo request do.
pub fn default_model_points() -> BTreeMap<String, i64> {
    [
        ("PAGE_VIEW", 2),
        ("CONTENT_DOWNLOAD", 15),
        ("WEBINAR_REGISTRATION", 20),
        ("SOCIAL_INTERACTION", 3),
        ("CASE_STUDY_DOWNLOAD", 15),
        ("DEMO_REQUEST", 40),
        ("FORM_SUBMISSION", 10),
        ("EMAIL_OPEN", 1),
        ("EMAIL_CLICK", 3),
        ("EMAIL_BOUNCE", -5),
        ("UNSUBSCRIBE", -20),
        ("CHAT_CONVERSATION", 10),
        ("PHONE_CONVERSATION", 20),
        ("SMS_SENT", 0),
        ("EVENT_ATTENDANCE", 15),
    ]
    .into_iter()
    .map(|(name, points)| (name.to_owned(), points))
    .collect()
}

/// A scoring model version as the engine uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// Model id.
    pub model_id: String,
    /// Version number.
    pub version: i32,
    /// Points per activity type name.
    pub points: BTreeMap<String, i64>,
    /// MQL threshold in whole points.
    pub threshold: i64,
}

/// Points one activity earns under a model, with the rule that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Award {
    /// Points awarded; zero when no rule matched.
    pub points: i64,
    /// The rule, or why no rule gave points.
    pub rule: String,
}

impl Model {
    /// Returns the award for an activity of type `type_name`.
    pub fn award(&self, type_name: &str) -> Award {
        match self.points.get(type_name) {
            Some(points) => Award { points: *points, rule: format!("activity_type = {type_name}") },
            None => Award { points: 0, rule: format!("no rule for activity_type {type_name}") },
        }
    }
}

/// Returns true when a score change makes an armed lead an MQL: the new score reaches the
/// threshold and the change added points. A lead that sales recycled while its score stayed
/// above the threshold therefore qualifies again on its next positive activity, not at once.
pub fn crosses_threshold(armed: bool, points: i64, score_after: i64, threshold: i64) -> bool {
    armed && points > 0 && score_after >= threshold
}

/// Returns the stored name of an activity type (`PAGE_VIEW`), or `None` when unspecified or
/// unknown.
pub fn activity_type_name(value: i32) -> Option<&'static str> {
    match ActivityType::try_from(value) {
        Ok(ActivityType::Unspecified) | Err(_) => None,
        Ok(kind) => kind.as_str_name().strip_prefix("ACTIVITY_TYPE_"),
    }
}

/// Parses a stored activity type name.
pub fn activity_type_from_name(name: &str) -> ActivityType {
    ActivityType::from_str_name(&format!("ACTIVITY_TYPE_{name}")).unwrap_or(ActivityType::Unspecified)
}

/// Validates a model submitted for publication and converts it; returns one field violation
/// per problem.
pub fn validate_model(model: Option<&ScoringModel>) -> Result<(String, BTreeMap<String, i64>, i64, String), Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let Some(model) = model else {
        return Err(vec![FieldViolation::new("model", "missing")]);
    };

    let model_id = if model.model_id.is_empty() { DEFAULT_MODEL_ID.to_owned() } else { model.model_id.clone() };
    let id_ok = model_id.len() <= 64
        && model_id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !id_ok {
        violations.push(FieldViolation::new(
            "model.model_id",
            format!("{model_id:?} must be 1 to 64 characters of a-z, 0-9, '-' or '_'"),
        ));
    }

    let mut points = BTreeMap::new();
    for (index, rule) in model.activity_points.iter().enumerate() {
        let field = format!("model.activity_points[{index}]");
        match activity_type_name(rule.activity_type) {
            None => violations.push(FieldViolation::new(
                format!("{field}.activity_type"),
                format!("{} is not a known activity type", rule.activity_type),
            )),
            Some(name) => {
                if points.insert(name.to_owned(), rule.points).is_some() {
                    violations.push(FieldViolation::new(
                        format!("{field}.activity_type"),
                        format!("{name} is listed twice; its activities would be counted twice"),
                    ));
                }
            }
        }
        if rule.points.abs() > MAX_RULE_POINTS {
            violations.push(FieldViolation::new(
                format!("{field}.points"),
                format!("{} is outside -{MAX_RULE_POINTS}..{MAX_RULE_POINTS}", rule.points),
            ));
        }
    }

    if model.mql_threshold < 1 {
        violations.push(FieldViolation::new(
            "model.mql_threshold",
            format!("{} must be at least 1", model.mql_threshold),
        ));
    } else if !points.values().any(|points| *points > 0) {
        violations.push(FieldViolation::new(
            "model.mql_threshold",
            format!("no rule awards positive points, so no lead can reach {}", model.mql_threshold),
        ));
    }

    if model.description.chars().count() > 2000 {
        violations.push(FieldViolation::new("model.description", "must be at most 2000 characters"));
    }

    if violations.is_empty() {
        Ok((model_id, points, model.mql_threshold, model.description.clone()))
    } else {
        Err(violations)
    }
}

/// Converts a model to its API form.
pub fn model_to_proto(model: &Model, description: &str, publish_time: Option<prost_types::Timestamp>) -> ScoringModel {
    ScoringModel {
        model_id: model.model_id.clone(),
        version: model.version,
        activity_points: model
            .points
            .iter()
            .map(|(name, points)| ActivityPoints { activity_type: activity_type_from_name(name) as i32, points: *points })
            .collect(),
        mql_threshold: model.threshold,
        description: description.to_owned(),
        publish_time,
    }
}

/// Sums ledger entries per activity type and orders them by absolute points, largest first,
/// then by type name.
pub fn reasons<'a>(entries: impl IntoIterator<Item = (&'a str, i64)>) -> Vec<ScoreReason> {
    let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (type_name, points) in entries {
        let sum = sums.entry(type_name).or_default();
        sum.0 += 1;
        sum.1 += points;
    }

    let mut reasons: Vec<ScoreReason> = sums
        .into_iter()
        .map(|(name, (count, points))| ScoreReason {
            activity_type: activity_type_from_name(name) as i32,
            activity_count: count,
            points,
        })
        .collect();
    reasons.sort_by_key(|reason| std::cmp::Reverse(reason.points.abs()));
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(rules: &[(ActivityType, i64)], threshold: i64) -> ScoringModel {
        ScoringModel {
            activity_points: rules
                .iter()
                .map(|(kind, points)| ActivityPoints { activity_type: *kind as i32, points: *points })
                .collect(),
            mql_threshold: threshold,
            ..ScoringModel::default()
        }
    }

    #[test]
    fn crossing_needs_armed_positive_change() {
        assert!(crosses_threshold(true, 30, 60, 50));
        assert!(!crosses_threshold(false, 30, 60, 50));
        assert!(!crosses_threshold(true, -5, 55, 50));
        assert!(!crosses_threshold(true, 5, 45, 50));
    }

    #[test]
    fn valid_model_is_accepted() {
        let result = validate_model(Some(&model(&[(ActivityType::DemoRequest, 40)], 30)));
        let (model_id, points, threshold, _) = result.unwrap();
        assert_eq!(model_id, DEFAULT_MODEL_ID);
        assert_eq!(points.get("DEMO_REQUEST"), Some(&40));
        assert_eq!(threshold, 30);
    }

    #[test]
    fn model_problems_give_one_violation_each() {
        let submitted = model(
            &[(ActivityType::Unspecified, 5), (ActivityType::PageView, 1), (ActivityType::PageView, 2)],
            0,
        );
        let violations = validate_model(Some(&submitted)).unwrap_err();
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["model.activity_points[0].activity_type", "model.activity_points[2].activity_type", "model.mql_threshold"]
        );
    }

    #[test]
    fn unreachable_threshold_is_rejected() {
        let violations = validate_model(Some(&model(&[(ActivityType::Unsubscribe, -20)], 10))).unwrap_err();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "model.mql_threshold");
    }

    #[test]
    fn reasons_sum_per_type() {
        let reasons = reasons([("PAGE_VIEW", 2), ("DEMO_REQUEST", 40), ("PAGE_VIEW", 2)]);
        assert_eq!(reasons[0].activity_type, ActivityType::DemoRequest as i32);
        assert_eq!(reasons[1].activity_count, 2);
        assert_eq!(reasons[1].points, 4);
    }

    #[test]
    fn unlisted_type_scores_zero_with_reason() {
        let model = Model { model_id: "m".into(), version: 1, points: BTreeMap::new(), threshold: 10 };
        let award = model.award("SMS_SENT");
        assert_eq!(award.points, 0);
        assert!(award.rule.contains("no rule"));
    }
}
