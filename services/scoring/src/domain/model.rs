//! Scoring models as data: their types, conversion from and to the API, and validation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use leadflow_kit::errors::FieldViolation;
use leadflow_proto::scoring::{self as api, decay, FrequencyLimit, LimitKind, RuleFilter};
use leadflow_proto::types::ActivityType;
use serde::{Deserialize, Serialize};

/// Id of the suite's model.
pub const DEFAULT_MODEL_ID: &str = "default";
/// Largest absolute number of points one rule may award.
pub const MAX_RULE_POINTS: i64 = 1000;
/// Most behavioural or fit rules in one model.
pub const MAX_RULES: usize = 200;

/// A scoring model version as the engine uses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// Model id.
    pub model_id: String,
    /// Version number; 0 before the model is stored.
    pub version: i32,
    /// Behavioural rules; no two can match the same activity.
    pub rules: Vec<Rule>,
    /// Fit rules on profile attributes.
    pub fit_rules: Vec<FitRule>,
    /// Decay for rules that set none.
    pub decay: DecayPolicy,
    /// MQL threshold on the total, in whole points.
    pub threshold: i64,
    /// Minimum fit an MQL needs; 0 means none.
    pub min_fit: i64,
    /// Lowest total, when set.
    pub floor: Option<i64>,
    /// What the version changes.
    pub description: String,
    /// Activities recorded while the lead was anonymous score 0 points when true. Versions
    /// stored before the setting existed read as false.
    #[serde(default)]
    pub exclude_anonymous: bool,
}

/// A behavioural rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Id named in ledger entries.
    pub rule_id: String,
    /// Activity type name, for example `PAGE_VIEW`.
    pub activity_type: String,
    /// Property conditions.
    pub filter: Filter,
    /// Points per counted activity.
    pub points: i64,
    /// How often the rule counts.
    pub limit: Limit,
    /// Decay of this rule's points; `None` uses the model's.
    pub decay: Option<DecayPolicy>,
}

/// Property conditions of a rule; `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Path prefix of the property `url`.
    pub url_prefix: Option<String>,
    /// Exact property `asset_id`.
    pub asset_id: Option<String>,
    /// Property `campaign`, compared lower-cased.
    pub campaign: Option<String>,
    /// Property `channel`, compared lower-cased.
    pub channel: Option<String>,
}

/// How often a rule counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// Every activity.
    Every,
    /// The earliest activity of the lead.
    OncePerLead,
    /// The earliest activity per asset.
    OncePerAsset,
    /// At most `max_count` within any window of `window_secs` seconds.
    PerWindow {
        /// Most counted activities per window.
        max_count: u32,
        /// Window length in seconds.
        window_secs: i64,
    },
}

/// Decay of engagement points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecayPolicy {
    /// Points never decay.
    None,
    /// Points halve, rounded toward zero, after each whole period of this many seconds.
    HalfLife {
        /// Half-life in seconds.
        secs: i64,
    },
    /// Points drop to zero once the activity is this many seconds old.
    Expire {
        /// Age in seconds.
        secs: i64,
    },
}

/// A fit rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitRule {
    /// Id of the rule.
    pub rule_id: String,
    /// Attribute name; `source` reads the lead's source.
    pub attribute: String,
    /// Accepted values, trimmed and lower-cased; empty accepts any value the range accepts.
    pub equals_any: Vec<String>,
    /// Minimum integer value.
    pub min_value: Option<i64>,
    /// Largest integer value.
    pub max_value: Option<i64>,
    /// Points when the rule matches.
    pub points: i64,
}

impl Model {
    /// Returns the model a new installation starts with.
    pub fn builtin() -> Model {
        let points = [
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
            ("EVENT_ATTENDANCE", 15),
        ];
        Model {
            model_id: DEFAULT_MODEL_ID.to_owned(),
            version: 1,
            rules: points
                .into_iter()
                .map(|(name, points)| Rule {
                    rule_id: name.to_lowercase(),
                    activity_type: name.to_owned(),
                    filter: Filter::default(),
                    points,
                    limit: Limit::Every,
                    decay: None,
                })
                .collect(),
            fit_rules: Vec::new(),
            decay: DecayPolicy::None,
            threshold: 50,
            min_fit: 0,
            floor: None,
            description: "Built-in starting model: points per activity type, MQL at 50.".to_owned(),
            exclude_anonymous: false,
        }
    }

    /// Returns the decay that applies to `rule`.
    pub fn decay_of(&self, rule: &Rule) -> DecayPolicy {
        rule.decay.unwrap_or(self.decay)
    }
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

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn seconds(duration: &prost_types::Duration) -> Option<i64> {
    if duration.nanos != 0 && duration.seconds.signum() * i64::from(duration.nanos.signum()) < 0 {
        return None;
    }
    Some(duration.seconds)
}

fn read_decay(decay: Option<&api::Decay>, field: &str, violations: &mut Vec<FieldViolation>) -> Option<DecayPolicy> {
    let policy = decay?.policy.as_ref()?;
    let (secs, field_name) = match policy {
        decay::Policy::None(_) => return Some(DecayPolicy::None),
        decay::Policy::HalfLife(duration) => (seconds(duration), "half_life"),
        decay::Policy::ExpireAfter(duration) => (seconds(duration), "expire_after"),
    };
    match secs {
        Some(secs) if secs > 0 => Some(match policy {
            decay::Policy::HalfLife(_) => DecayPolicy::HalfLife { secs },
            _ => DecayPolicy::Expire { secs },
        }),
        _ => {
            violations.push(FieldViolation::new(
                format!("{field}.{field_name}"),
                format!("{:?} must be a positive duration of at least one second", secs.unwrap_or_default()),
            ));
            None
        }
    }
}

fn non_empty(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn read_filter(filter: Option<&RuleFilter>, field: &str, violations: &mut Vec<FieldViolation>) -> Filter {
    let Some(filter) = filter else {
        return Filter::default();
    };
    let url_prefix = non_empty(&filter.url_prefix);
    if let Some(prefix) = &url_prefix {
        if !prefix.starts_with('/') || prefix.chars().any(char::is_whitespace) {
            violations.push(FieldViolation::new(
                format!("{field}.url_prefix"),
                format!("{prefix:?} must be a URL path starting with '/' and without spaces, for example \"/pricing\""),
            ));
        }
    }
    Filter {
        url_prefix,
        asset_id: non_empty(&filter.asset_id),
        campaign: non_empty(&filter.campaign).map(|value| value.to_lowercase()),
        channel: non_empty(&filter.channel).map(|value| value.to_lowercase()),
    }
}

fn read_limit(limit: Option<&FrequencyLimit>, field: &str, violations: &mut Vec<FieldViolation>) -> Limit {
    let Some(limit) = limit else {
        return Limit::Every;
    };
    match LimitKind::try_from(limit.kind) {
        Ok(LimitKind::Unspecified) | Ok(LimitKind::Every) => Limit::Every,
        Ok(LimitKind::OncePerLead) => Limit::OncePerLead,
        Ok(LimitKind::OncePerAsset) => Limit::OncePerAsset,
        Ok(LimitKind::PerWindow) => {
            let window_secs = limit.window.as_ref().and_then(seconds).unwrap_or(0);
            if limit.max_count < 1 {
                violations.push(FieldViolation::new(
                    format!("{field}.max_count"),
                    format!("{} must be at least 1 for LIMIT_KIND_PER_WINDOW", limit.max_count),
                ));
            }
            if window_secs < 1 {
                violations.push(FieldViolation::new(
                    format!("{field}.window"),
                    format!("{window_secs}s must be at least one second for LIMIT_KIND_PER_WINDOW"),
                ));
            }
            Limit::PerWindow { max_count: limit.max_count.max(1) as u32, window_secs: window_secs.max(1) }
        }
        Err(_) => {
            violations.push(FieldViolation::new(format!("{field}.kind"), format!("{} is not a known limit kind", limit.kind)));
            Limit::Every
        }
    }
}

/// Returns true when two filters could both match one activity.
fn filters_overlap(a: &Filter, b: &Filter) -> bool {
    let prefixes_disjoint = match (&a.url_prefix, &b.url_prefix) {
        (Some(x), Some(y)) => !super::evaluate::path_has_prefix(x, y) && !super::evaluate::path_has_prefix(y, x),
        _ => false,
    };
    let differ = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if x != y);
    !(prefixes_disjoint || differ(&a.asset_id, &b.asset_id) || differ(&a.campaign, &b.campaign) || differ(&a.channel, &b.channel))
}

/// Converts and validates a model from the API. Returns the model and one field violation per
/// problem; the model is only usable when the list is empty.
pub fn read_model(model: Option<&api::ScoringModel>) -> (Model, Vec<FieldViolation>) {
    let mut violations = Vec::new();
    let Some(model) = model else {
        return (Model::builtin(), vec![FieldViolation::new("model", "missing")]);
    };

    let model_id = if model.model_id.is_empty() { DEFAULT_MODEL_ID.to_owned() } else { model.model_id.clone() };
    if !valid_id(&model_id) {
        violations.push(FieldViolation::new(
            "model.model_id",
            format!("{model_id:?} must be 1 to 64 characters of a-z, 0-9, '-' or '_'"),
        ));
    }

    let mut rules = Vec::new();
    for (index, shorthand) in model.activity_points.iter().enumerate() {
        let field = format!("model.activity_points[{index}]");
        match activity_type_name(shorthand.activity_type) {
            None => violations.push(FieldViolation::new(
                format!("{field}.activity_type"),
                format!("{} is not a known activity type", shorthand.activity_type),
            )),
            Some(name) => rules.push((field, Rule {
                rule_id: name.to_lowercase(),
                activity_type: name.to_owned(),
                filter: Filter::default(),
                points: shorthand.points,
                limit: Limit::Every,
                decay: None,
            })),
        }
    }
    for (index, rule) in model.rules.iter().enumerate() {
        let field = format!("model.rules[{index}]");
        let filter = read_filter(rule.filter.as_ref(), &format!("{field}.filter"), &mut violations);
        let limit = read_limit(rule.limit.as_ref(), &format!("{field}.limit"), &mut violations);
        let decay = read_decay(rule.decay.as_ref(), &format!("{field}.decay"), &mut violations);
        if !valid_id(&rule.rule_id) {
            violations.push(FieldViolation::new(
                format!("{field}.rule_id"),
                format!("{:?} must be 1 to 64 characters of a-z, 0-9, '-' or '_'", rule.rule_id),
            ));
        }
        match activity_type_name(rule.activity_type) {
            None => violations.push(FieldViolation::new(
                format!("{field}.activity_type"),
                format!("{} is not a known activity type", rule.activity_type),
            )),
            Some(name) => rules.push((field, Rule {
                rule_id: rule.rule_id.clone(),
                activity_type: name.to_owned(),
                filter,
                points: rule.points,
                limit,
                decay,
            })),
        }
    }

    let mut rule_ids = BTreeSet::new();
    for (index, (field, rule)) in rules.iter().enumerate() {
        if rule.points.abs() > MAX_RULE_POINTS {
            violations.push(FieldViolation::new(
                format!("{field}.points"),
                format!("{} is outside -{MAX_RULE_POINTS}..{MAX_RULE_POINTS}", rule.points),
            ));
        }
        if !rule_ids.insert(rule.rule_id.clone()) {
            violations.push(FieldViolation::new(
                format!("{field}.rule_id"),
                format!("{:?} is used by another rule; rule ids must be unique", rule.rule_id),
            ));
        }
        for (other_field, other) in &rules[..index] {
            if other.activity_type == rule.activity_type && filters_overlap(&other.filter, &rule.filter) {
                violations.push(FieldViolation::new(
                    field.clone(),
                    format!(
                        "overlaps {other_field}: both can match the same {} activity, which would count it twice; make the filters disjoint",
                        rule.activity_type
                    ),
                ));
            }
        }
    }
    if rules.len() > MAX_RULES {
        violations.push(FieldViolation::new("model.rules", format!("has {} rules; at most {MAX_RULES} are allowed", rules.len())));
    }

    let mut fit_rules = Vec::new();
    let mut fit_ids = BTreeSet::new();
    for (index, fit) in model.fit_rules.iter().enumerate() {
        let field = format!("model.fit_rules[{index}]");
        if !valid_id(&fit.rule_id) || !fit_ids.insert(fit.rule_id.clone()) {
            violations.push(FieldViolation::new(
                format!("{field}.rule_id"),
                format!("{:?} must be a unique id of 1 to 64 characters of a-z, 0-9, '-' or '_'", fit.rule_id),
            ));
        }
        let attribute = fit.attribute.trim().to_lowercase();
        if attribute.is_empty() {
            violations.push(FieldViolation::new(format!("{field}.attribute"), "missing; name a profile attribute such as job_title"));
        }
        if fit.equals_any.is_empty() && fit.min_value.is_none() && fit.max_value.is_none() {
            violations.push(FieldViolation::new(field.clone(), "needs equals_any, min_value or max_value"));
        }
        if let (Some(min), Some(max)) = (fit.min_value, fit.max_value) {
            if min > max {
                violations.push(FieldViolation::new(format!("{field}.min_value"), format!("{min} is above max_value {max}")));
            }
        }
        if fit.points.abs() > MAX_RULE_POINTS {
            violations.push(FieldViolation::new(
                format!("{field}.points"),
                format!("{} is outside -{MAX_RULE_POINTS}..{MAX_RULE_POINTS}", fit.points),
            ));
        }
        fit_rules.push(FitRule {
            rule_id: fit.rule_id.clone(),
            attribute,
            equals_any: fit.equals_any.iter().map(|value| value.trim().to_lowercase()).collect(),
            min_value: fit.min_value,
            max_value: fit.max_value,
            points: fit.points,
        });
    }

    let decay = read_decay(model.decay.as_ref(), "model.decay", &mut violations).unwrap_or(DecayPolicy::None);

    let max_engagement: i64 = rules.iter().map(|(_, rule)| rule.points.max(0)).sum();
    let max_fit: i64 = max_fit_points(&fit_rules);
    if model.mql_threshold < 1 {
        violations.push(FieldViolation::new("model.mql_threshold", format!("{} must be at least 1", model.mql_threshold)));
    } else if max_engagement == 0 && max_fit < model.mql_threshold {
        violations.push(FieldViolation::new(
            "model.mql_threshold",
            format!("no rule awards positive points, so no lead can reach {}", model.mql_threshold),
        ));
    } else if rules.iter().all(|(_, rule)| rule.points <= 0 || rule.limit != Limit::Every) {
        let reachable = max_engagement_bounded(&rules.iter().map(|(_, rule)| rule.clone()).collect::<Vec<_>>());
        if let Some(reachable) = reachable {
            if reachable + max_fit < model.mql_threshold {
                violations.push(FieldViolation::new(
                    "model.mql_threshold",
                    format!(
                        "{} cannot be reached: the rules give at most {} engagement and {max_fit} fit points",
                        model.mql_threshold, reachable
                    ),
                ));
            }
        }
    }
    if let Some(floor) = model.score_floor {
        if floor >= model.mql_threshold {
            violations.push(FieldViolation::new(
                "model.score_floor",
                format!(
                    "{floor} is not below the threshold {}; every lead would be raised to an MQL without any activity",
                    model.mql_threshold
                ),
            ));
        }
    }
    if model.min_fit_score < 0 {
        violations.push(FieldViolation::new("model.min_fit_score", format!("{} must not be negative", model.min_fit_score)));
    } else if model.min_fit_score > max_fit {
        violations.push(FieldViolation::new(
            "model.min_fit_score",
            format!("{} cannot be reached: the fit rules give at most {max_fit} points", model.min_fit_score),
        ));
    }
    if model.description.chars().count() > 2000 {
        violations.push(FieldViolation::new("model.description", "must be at most 2000 characters"));
    }

    let model = Model {
        model_id,
        version: 0,
        rules: rules.into_iter().map(|(_, rule)| rule).collect(),
        fit_rules,
        decay,
        threshold: model.mql_threshold,
        min_fit: model.min_fit_score,
        floor: model.score_floor,
        description: model.description.clone(),
        exclude_anonymous: model.exclude_anonymous_activity,
    };
    (model, violations)
}

/// Returns the most fit points a profile can collect: the best positive rule per attribute.
fn max_fit_points(fit_rules: &[FitRule]) -> i64 {
    let mut best: BTreeMap<&str, i64> = BTreeMap::new();
    for rule in fit_rules {
        let entry = best.entry(rule.attribute.as_str()).or_insert(0);
        *entry += rule.points.max(0);
    }
    best.values().sum()
}

/// Returns the most engagement points when every positive rule is limited, or `None` when a
/// limit allows unbounded points (per asset, per window).
fn max_engagement_bounded(rules: &[Rule]) -> Option<i64> {
    let mut total = 0;
    for rule in rules.iter().filter(|rule| rule.points > 0) {
        match rule.limit {
            Limit::OncePerLead => total += rule.points,
            _ => return None,
        }
    }
    Some(total)
}

fn duration(secs: i64) -> prost_types::Duration {
    prost_types::Duration { seconds: secs, nanos: 0 }
}

fn decay_to_proto(policy: DecayPolicy) -> api::Decay {
    let policy = match policy {
        DecayPolicy::None => decay::Policy::None(true),
        DecayPolicy::HalfLife { secs } => decay::Policy::HalfLife(duration(secs)),
        DecayPolicy::Expire { secs } => decay::Policy::ExpireAfter(duration(secs)),
    };
    api::Decay { policy: Some(policy) }
}

/// Converts a model to its API form; stored state and progress are filled by the caller.
pub fn model_to_proto(model: &Model) -> api::ScoringModel {
    api::ScoringModel {
        model_id: model.model_id.clone(),
        version: model.version,
        activity_points: Vec::new(),
        mql_threshold: model.threshold,
        description: model.description.clone(),
        publish_time: None,
        rules: model
            .rules
            .iter()
            .map(|rule| api::BehaviorRule {
                rule_id: rule.rule_id.clone(),
                activity_type: activity_type_from_name(&rule.activity_type) as i32,
                filter: Some(RuleFilter {
                    url_prefix: rule.filter.url_prefix.clone().unwrap_or_default(),
                    asset_id: rule.filter.asset_id.clone().unwrap_or_default(),
                    campaign: rule.filter.campaign.clone().unwrap_or_default(),
                    channel: rule.filter.channel.clone().unwrap_or_default(),
                }),
                points: rule.points,
                limit: Some(match rule.limit {
                    Limit::Every => FrequencyLimit { kind: LimitKind::Every as i32, ..FrequencyLimit::default() },
                    Limit::OncePerLead => FrequencyLimit { kind: LimitKind::OncePerLead as i32, ..FrequencyLimit::default() },
                    Limit::OncePerAsset => FrequencyLimit { kind: LimitKind::OncePerAsset as i32, ..FrequencyLimit::default() },
                    Limit::PerWindow { max_count, window_secs } => FrequencyLimit {
                        kind: LimitKind::PerWindow as i32,
                        max_count: max_count as i32,
                        window: Some(duration(window_secs)),
                    },
                }),
                decay: rule.decay.map(decay_to_proto),
            })
            .collect(),
        fit_rules: model
            .fit_rules
            .iter()
            .map(|fit| api::FitRule {
                rule_id: fit.rule_id.clone(),
                attribute: fit.attribute.clone(),
                equals_any: fit.equals_any.clone(),
                min_value: fit.min_value,
                max_value: fit.max_value,
                points: fit.points,
            })
            .collect(),
        decay: Some(decay_to_proto(model.decay)),
        min_fit_score: model.min_fit,
        score_floor: model.floor,
        state: 0,
        rescore: None,
        exclude_anonymous_activity: model.exclude_anonymous,
    }
}

/// Returns a duration in seconds as chrono's type.
pub fn secs(secs: i64) -> Duration {
    Duration::seconds(secs)
}
