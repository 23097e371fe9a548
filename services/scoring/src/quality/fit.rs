//! Fitting a points model to leads with a known outcome.
//!
//! Every feature is one the model's rules can express, so the fitted coefficients turn into
//! rules without approximation other than rounding:
//!
//! - activity counts per type, capped at the 95th percentile of the leads that have any and
//!   scaled to 0..1; a behavioural rule gives points per activity up to the cap (once per
//!   lead when the cap is 1);
//! - one feature per common value of a categorical attribute or of the lead source, plus one
//!   for the rare values together. Each becomes a fit rule with `equals_any`;
//! - ranges of a numeric attribute, cut at quantiles; a fit rule with `min_value` and
//!   `max_value`.
//!
//! A logistic regression with an L2 penalty (linfa-logistic) gives one coefficient per
//! feature. Points are the coefficients scaled so that the feature with the largest effect
//! gets about 100 points, rounded to whole points.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};

use super::metrics::roc_auc;
use crate::domain::evaluate;
use crate::domain::model::{DecayPolicy, Filter, FitRule, Limit, MAX_RULE_POINTS, Model, Rule};
use crate::store::outcomes::OutcomeLead;

/// Minimum number of won leads, and of lost leads, on the training side.
pub const MIN_PER_CLASS: usize = 50;
/// Points of the feature with the largest coefficient.
const POINTS_SCALE: f64 = 100.0;
/// Number of ranges a numeric attribute is cut into, before small ranges are merged.
const NUMERIC_BINS: usize = 8;
/// Distinct integer values above which an attribute is read as numeric.
const NUMERIC_MIN_DISTINCT: usize = 12;
/// Highest cap of an activity count.
const MAX_ACTIVITY_CAP: u32 = 50;
/// Window of a capped count: 100 years, so the cap applies to the lead's whole history.
const CAP_WINDOW_SECS: i64 = 100 * 365 * 86_400;
/// Attributes with more distinct values than this are identifiers, not categories.
const MAX_CATEGORIES: usize = 1000;
/// Most rare values listed in one "other values" rule.
const MAX_RARE_VALUES: usize = 200;

/// Settings of a fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// Weight of the L2 penalty on the coefficients.
    pub l2_penalty: f64,
}

/// Reason a fit failed.
#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    /// The training side has fewer than [`MIN_PER_CLASS`] won or lost leads.
    TooFewOutcomes {
        /// Won leads on the training side.
        won: usize,
        /// Lost leads on the training side.
        lost: usize,
    },
    /// No candidate feature varies across the training leads, or the penalty shrank every
    /// coefficient to zero.
    NoVariance {
        /// Training leads.
        leads: usize,
    },
    /// The solver failed.
    Solver(String),
}

/// One feature of a fitted model with its coefficient and points.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedFeature {
    /// Id of the rule that expresses it.
    pub rule_id: String,
    /// Readable description.
    pub description: String,
    /// Coefficient per unit: per activity for activity counts, per match otherwise.
    pub coefficient: f64,
    /// Whole points per unit.
    pub points: i64,
    /// Training leads where the feature is not zero.
    pub support: usize,
}

/// A fitted model before it is stored.
#[derive(Clone, Debug)]
pub struct FitResult {
    /// The model with version 0; the caller sets the id and description.
    pub model: Model,
    /// Every feature, largest absolute points first.
    pub features: Vec<FittedFeature>,
    /// ROC AUC of the unrounded regression on the held-out leads.
    pub holdout_auc_unrounded: f64,
}

/// Kind of a candidate feature, with the lead data it reads.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// Activities of one type, at most `cap`.
    Activity { activity_type: String, cap: u32 },
    /// The attribute equals one of the values.
    Values { attribute: String, values: Vec<String> },
    /// The attribute, read as an integer, lies in the range.
    Range { attribute: String, min: Option<i64>, max: Option<i64> },
}

impl Kind {
    /// Returns the attribute of a fit-rule feature.
    fn attribute(&self) -> Option<&str> {
        match self {
            Kind::Activity { .. } => None,
            Kind::Values { attribute, .. } | Kind::Range { attribute, .. } => Some(attribute),
        }
    }
}

#[derive(Clone, Debug)]
struct Feature {
    kind: Kind,
    rule_id: String,
    description: String,
}

/// A lead reduced to what features read: activity counts per type and normalised attribute
/// values, with the lead source under `source` as fit rules read it.
struct LeadView {
    counts: BTreeMap<String, u32>,
    values: BTreeMap<String, String>,
    won: bool,
}

fn view(lead: &OutcomeLead, now: DateTime<Utc>) -> LeadView {
    let mut counts = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for activity in lead.activities.iter().filter(|activity| activity.occurred_at <= now) {
        if seen.insert(activity.activity_id) {
            *counts.entry(activity.activity_type.clone()).or_insert(0) += 1;
        }
    }

    let mut values = BTreeMap::new();
    for (key, value) in &lead.attributes {
        let value = value.trim().to_lowercase();
        if !value.is_empty() {
            values.entry(key.trim().to_lowercase()).or_insert(value);
        }
    }
    let source = lead.source.trim().to_lowercase();
    if source.is_empty() {
        values.remove("source");
    } else {
        values.insert("source".to_owned(), source);
    }
    LeadView { counts, values, won: lead.won }
}

/// Reads an attribute as an integer the way fit rules do.
fn integer(value: &str) -> Option<i64> {
    value.replace([',', '_', ' '], "").parse::<i64>().ok()
}

fn feature_value(kind: &Kind, lead: &LeadView) -> f64 {
    match kind {
        Kind::Activity { activity_type, cap } => {
            let count = lead.counts.get(activity_type).copied().unwrap_or(0).min(*cap);
            f64::from(count) / f64::from(*cap)
        }
        Kind::Values { attribute, values } => {
            let matched = lead.values.get(attribute).is_some_and(|value| values.contains(value));
            if matched { 1.0 } else { 0.0 }
        }
        Kind::Range { attribute, min, max } => {
            let number = lead.values.get(attribute).and_then(|value| integer(value));
            let inside =
                number.is_some_and(|n| min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max));
            if inside { 1.0 } else { 0.0 }
        }
    }
}

/// Lower-cases and replaces every character other than a-z, 0-9 and '_' with '-'.
fn slug(text: &str) -> String {
    let mut output = String::new();
    for character in text.trim().to_lowercase().chars() {
        if character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_' {
            output.push(character);
        } else if !output.ends_with('-') {
            output.push('-');
        }
    }
    output.trim_matches('-').to_owned()
}

fn number_slug(value: i64) -> String {
    if value < 0 { format!("m{}", value.unsigned_abs()) } else { value.to_string() }
}

/// Returns the least support a feature needs: 0.5% of the training leads, at least 10.
fn min_support(leads: usize) -> usize {
    (leads as f64 * 0.005).ceil().max(10.0) as usize
}

fn activity_features(leads: &[LeadView], min_support: usize) -> Vec<Feature> {
    let mut counts_by_type: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for lead in leads {
        for (activity_type, count) in &lead.counts {
            counts_by_type.entry(activity_type).or_default().push(*count);
        }
    }

    let mut features = Vec::new();
    for (activity_type, mut counts) in counts_by_type {
        if counts.len() < min_support {
            continue;
        }
        counts.sort_unstable();
        let p95 = counts[(counts.len() * 95).div_ceil(100).saturating_sub(1)];
        let cap = p95.clamp(1, MAX_ACTIVITY_CAP);
        let description = if cap == 1 {
            format!("{activity_type}: once per lead")
        } else {
            format!("{activity_type} per activity, at most {cap}")
        };
        features.push(Feature {
            kind: Kind::Activity { activity_type: activity_type.to_owned(), cap },
            rule_id: slug(activity_type),
            description,
        });
    }
    features
}

/// Cuts sorted integers into ranges at quantiles, then merges ranges with fewer than
/// `min_support` values into a neighbour. Returns (min, max) pairs; the first range has no
/// minimum and the last no maximum, so together they cover every integer.
fn numeric_ranges(sorted: &[i64], min_support: usize) -> Vec<(Option<i64>, Option<i64>)> {
    let mut edges: Vec<i64> = (1..NUMERIC_BINS).map(|k| sorted[(k * sorted.len() / NUMERIC_BINS).min(sorted.len() - 1)]).collect();
    edges.dedup();
    if edges.last() == sorted.last() {
        edges.pop();
    }

    let support = |edges: &[i64]| -> Vec<usize> {
        let mut counts = vec![0; edges.len() + 1];
        for value in sorted {
            counts[edges.partition_point(|edge| edge < value)] += 1;
        }
        counts
    };
    loop {
        let counts = support(&edges);
        let Some(small) = counts.iter().position(|count| *count < min_support) else {
            break;
        };
        if edges.is_empty() {
            break;
        }
        edges.remove(small.min(edges.len() - 1));
    }

    let mut ranges = Vec::with_capacity(edges.len() + 1);
    let mut lower: Option<i64> = None;
    for edge in &edges {
        ranges.push((lower, Some(*edge)));
        lower = Some(edge + 1);
    }
    ranges.push((lower, None));
    ranges
}

fn attribute_features(leads: &[LeadView], min_support: usize) -> Vec<Feature> {
    let mut values_by_attribute: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for lead in leads {
        for (attribute, value) in &lead.values {
            values_by_attribute.entry(attribute).or_default().push(value);
        }
    }

    let mut features = Vec::new();
    for (attribute, values) in values_by_attribute {
        let mut numbers: Vec<i64> = values.iter().filter_map(|value| integer(value)).collect();
        numbers.sort_unstable();
        let distinct_numbers = {
            let mut distinct = numbers.clone();
            distinct.dedup();
            distinct.len()
        };

        if numbers.len() * 100 >= values.len() * 95 && distinct_numbers > NUMERIC_MIN_DISTINCT {
            for (min, max) in numeric_ranges(&numbers, min_support) {
                let (rule_id, description) = match (min, max) {
                    (None, Some(max)) => (format!("{}-to-{}", slug(attribute), number_slug(max)), format!("{attribute} ≤ {max}")),
                    (Some(min), None) => (format!("{}-from-{}", slug(attribute), number_slug(min)), format!("{attribute} ≥ {min}")),
                    (Some(min), Some(max)) => (
                        format!("{}-{}-to-{}", slug(attribute), number_slug(min), number_slug(max)),
                        format!("{min} ≤ {attribute} ≤ {max}"),
                    ),
                    (None, None) => continue,
                };
                features.push(Feature { kind: Kind::Range { attribute: attribute.to_owned(), min, max }, rule_id, description });
            }
            continue;
        }

        let mut support: BTreeMap<&str, usize> = BTreeMap::new();
        for value in &values {
            *support.entry(value).or_insert(0) += 1;
        }
        if support.len() > MAX_CATEGORIES {
            continue;
        }
        let mut rare = Vec::new();
        let mut rare_support = 0;
        for (value, count) in &support {
            if *count >= min_support {
                features.push(Feature {
                    kind: Kind::Values { attribute: attribute.to_owned(), values: vec![(*value).to_owned()] },
                    rule_id: format!("{}-{}", slug(attribute), slug(value)),
                    description: format!("{attribute} = {value}"),
                });
            } else {
                rare.push((*value).to_owned());
                rare_support += count;
            }
        }
        if rare_support >= min_support && rare.len() <= MAX_RARE_VALUES {
            features.push(Feature {
                description: format!("{attribute}: one of {} rare values", rare.len()),
                kind: Kind::Values { attribute: attribute.to_owned(), values: rare },
                rule_id: format!("{}-other", slug(attribute)),
            });
        }
    }
    features
}

/// Makes rule ids valid and unique: at most 64 characters, a numbered suffix on repeats.
fn unique_ids(features: &mut [Feature]) {
    let mut used = BTreeSet::new();
    for feature in features.iter_mut() {
        let mut base: String = feature.rule_id.chars().take(58).collect();
        if base.is_empty() {
            base = "feature".to_owned();
        }
        let mut candidate = base.clone();
        let mut suffix = 2;
        while !used.insert(candidate.clone()) {
            candidate = format!("{base}-{suffix}");
            suffix += 1;
        }
        feature.rule_id = candidate;
    }
}

fn matrix(features: &[Feature], leads: &[LeadView]) -> Array2<f64> {
    Array2::from_shape_fn((leads.len(), features.len()), |(row, column)| feature_value(&features[column].kind, &leads[row]))
}

/// Returns the total that maximises F1 when leads at or above it are predicted won; ties go
/// to the higher threshold. Returns `None` without won leads.
pub fn best_f1_threshold(totals: &[i64], won: &[bool]) -> Option<i64> {
    let positives = won.iter().filter(|won| **won).count();
    if positives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..totals.len()).collect();
    order.sort_by(|a, b| totals[*b].cmp(&totals[*a]));

    let mut best: Option<(f64, i64)> = None;
    let (mut true_positives, mut predicted) = (0_usize, 0_usize);
    let mut index = 0;
    while index < order.len() {
        let threshold = totals[order[index]];
        while index < order.len() && totals[order[index]] == threshold {
            predicted += 1;
            true_positives += usize::from(won[order[index]]);
            index += 1;
        }
        let f1 = 2.0 * true_positives as f64 / (predicted + positives) as f64;
        if best.is_none_or(|(best_f1, _)| f1 > best_f1) {
            best = Some((f1, threshold));
        }
    }
    best.map(|(_, threshold)| threshold)
}

/// Fits a points model to `training` and measures the unrounded fit on `holdout`. Both hold
/// leads with a known outcome; `now` is the instant activities are counted and the model is
/// evaluated at.
pub fn fit(training: &[&OutcomeLead], holdout: &[&OutcomeLead], options: FitOptions, now: DateTime<Utc>) -> Result<FitResult, FitError> {
    let won = training.iter().filter(|lead| lead.won).count();
    let lost = training.len() - won;
    if won < MIN_PER_CLASS || lost < MIN_PER_CLASS {
        return Err(FitError::TooFewOutcomes { won, lost });
    }

    let views: Vec<LeadView> = training.iter().map(|lead| view(lead, now)).collect();
    let min_support = min_support(views.len());
    let mut features = activity_features(&views, min_support);
    features.extend(attribute_features(&views, min_support));
    unique_ids(&mut features);

    // A feature that is the same for every training lead carries no information.
    let full = matrix(&features, &views);
    let varying: Vec<usize> = (0..features.len())
        .filter(|column| {
            let values = full.column(*column);
            values.iter().any(|value| *value != values[0])
        })
        .collect();
    if varying.is_empty() {
        return Err(FitError::NoVariance { leads: views.len() });
    }
    let features: Vec<Feature> = varying.iter().map(|column| features[*column].clone()).collect();
    let x = full.select(ndarray::Axis(1), &varying);
    let y: Array1<bool> = views.iter().map(|lead| lead.won).collect();

    let fitted = LogisticRegression::default()
        .alpha(options.l2_penalty)
        .max_iterations(1000)
        .gradient_tolerance(1e-6)
        .fit(&Dataset::new(x.clone(), y))
        .map_err(|error| FitError::Solver(error.to_string()))?;
    // linfa-logistic models the more frequent label as the positive class.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let weights: Vec<f64> = fitted.params().iter().map(|weight| weight * sign).collect();

    let holdout_views: Vec<LeadView> = holdout.iter().map(|lead| view(lead, now)).collect();
    let holdout_x = matrix(&features, &holdout_views);
    let holdout_scores: Vec<f64> = holdout_x.rows().into_iter().map(|row| row.iter().zip(&weights).map(|(x, w)| x * w).sum()).collect();
    let holdout_labels: Vec<bool> = holdout_views.iter().map(|lead| lead.won).collect();
    let holdout_auc_unrounded = roc_auc(&holdout_scores, &holdout_labels);

    let largest = weights.iter().fold(0.0_f64, |largest, weight| largest.max(weight.abs()));
    if largest < 1e-9 {
        return Err(FitError::NoVariance { leads: views.len() });
    }
    let factor = POINTS_SCALE / largest;
    let mut points: Vec<i64> = features
        .iter()
        .zip(&weights)
        .map(|(feature, weight)| {
            let per_unit = match feature.kind {
                Kind::Activity { cap, .. } => weight * factor / f64::from(cap),
                _ => weight * factor,
            };
            (per_unit.round() as i64).clamp(-MAX_RULE_POINTS, MAX_RULE_POINTS)
        })
        .collect();
    shift_complete_groups(&features, &x, &mut points);

    let mut model = to_model(&features, &points);
    let totals: Vec<i64> = training
        .iter()
        .map(|lead| evaluate(&model, &lead.activities, &lead.attributes, &lead.source, now).total)
        .collect();
    let won: Vec<bool> = training.iter().map(|lead| lead.won).collect();
    // The threshold must be at least 1; a best threshold below it means the points put most
    // leads at or above zero, and 1 is then the closest valid value.
    model.threshold = best_f1_threshold(&totals, &won).unwrap_or(1).max(1);

    let mut fitted_features: Vec<FittedFeature> = features
        .iter()
        .zip(&weights)
        .zip(&points)
        .enumerate()
        .map(|(column, ((feature, weight), points))| FittedFeature {
            rule_id: feature.rule_id.clone(),
            description: feature.description.clone(),
            coefficient: match feature.kind {
                Kind::Activity { cap, .. } => weight / f64::from(cap),
                _ => *weight,
            },
            points: *points,
            support: x.column(column).iter().filter(|value| **value != 0.0).count(),
        })
        .collect();
    fitted_features.sort_by(|a, b| b.points.abs().cmp(&a.points.abs()).then_with(|| a.rule_id.cmp(&b.rule_id)));

    Ok(FitResult { model, features: fitted_features, holdout_auc_unrounded })
}

/// Raises the points of every fit-rule group (the features of one attribute) whose features
/// cover each training lead exactly once, so that the group's lowest points become 0. Every
/// training lead then gets the same raise from the group, which moves all totals and the
/// best threshold by the same amount and keeps the ranking, while the rules read as
/// "how much better than the worst value". Groups that miss some leads keep their points,
/// because a raise would reach only the leads they cover.
fn shift_complete_groups(features: &[Feature], x: &Array2<f64>, points: &mut [i64]) {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (column, feature) in features.iter().enumerate() {
        if let Some(attribute) = feature.kind.attribute() {
            groups.entry(attribute).or_default().push(column);
        }
    }

    for columns in groups.values() {
        let covers_once = x.rows().into_iter().all(|row| columns.iter().filter(|column| row[**column] != 0.0).count() == 1);
        let lowest = columns.iter().map(|column| points[*column]).min().unwrap_or(0);
        if covers_once && lowest < 0 {
            for column in columns {
                points[*column] = (points[*column] - lowest).min(MAX_RULE_POINTS);
            }
        }
    }
}

/// Builds the model's rules from the features; features worth 0 points get no rule.
fn to_model(features: &[Feature], points: &[i64]) -> Model {
    let mut rules = Vec::new();
    let mut fit_rules = Vec::new();
    for (feature, points) in features.iter().zip(points) {
        if *points == 0 {
            continue;
        }
        match &feature.kind {
            Kind::Activity { activity_type, cap } => rules.push(Rule {
                rule_id: feature.rule_id.clone(),
                activity_type: activity_type.clone(),
                filter: Filter::default(),
                points: *points,
                limit: if *cap == 1 {
                    Limit::OncePerLead
                } else {
                    Limit::PerWindow { max_count: *cap, window_secs: CAP_WINDOW_SECS }
                },
                decay: None,
            }),
            Kind::Values { attribute, values } => fit_rules.push(FitRule {
                rule_id: feature.rule_id.clone(),
                attribute: attribute.clone(),
                equals_any: values.clone(),
                min_value: None,
                max_value: None,
                points: *points,
            }),
            Kind::Range { attribute, min, max } => fit_rules.push(FitRule {
                rule_id: feature.rule_id.clone(),
                attribute: attribute.clone(),
                equals_any: Vec::new(),
                min_value: *min,
                max_value: *max,
                points: *points,
            }),
        }
    }

    Model {
        model_id: String::new(),
        version: 0,
        rules,
        fit_rules,
        decay: DecayPolicy::None,
        threshold: 1,
        min_fit: 0,
        floor: None,
        description: String::new(),
        exclude_anonymous: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_all_integers() {
        let values: Vec<i64> = (0..1000).collect();
        let ranges = numeric_ranges(&values, 10);
        assert_eq!(ranges.len(), NUMERIC_BINS);
        assert_eq!(ranges[0].0, None);
        assert_eq!(ranges.last().unwrap().1, None);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1.map(|max| max + 1), pair[1].0);
        }
    }

    #[test]
    fn ranges_merge_small_bins() {
        let mut values = vec![0; 900];
        values.extend(1..=100);
        let ranges = numeric_ranges(&values, 60);
        assert_eq!(ranges, vec![(None, Some(0)), (Some(1), None)]);
    }

    #[test]
    fn best_threshold_maximises_f1() {
        let totals = [50, 40, 30, 20, 10];
        let won = [true, true, false, true, false];
        // At 20: precision 3/4, recall 1: F1 6/7, better than 40 (F1 0.8).
        assert_eq!(best_f1_threshold(&totals, &won), Some(20));
        assert_eq!(best_f1_threshold(&totals, &[false; 5]), None);
    }

    #[test]
    fn slug_keeps_rule_id_characters() {
        assert_eq!(slug("Lead Add Form"), "lead-add-form");
        assert_eq!(slug("time_on_site"), "time_on_site");
        assert_eq!(slug("  A/B  test "), "a-b-test");
    }
}
