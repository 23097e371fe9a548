//! Evaluation of a lead under a model: which activities count, what they are worth at an
//! instant after decay, the fit score, and the total.
//!
//! Evaluation is a pure function of the model, the lead's activities and profile, and the
//! instant. Activities are taken in `occurred_at` order (then id), so limits give the same
//! result whatever order the activities arrived in.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{DecayPolicy, Filter, FitRule, Limit, Model, Rule};

/// Facts of one activity that the engine evaluates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityFact {
    /// Activity id.
    pub activity_id: Uuid,
    /// Activity type name, for example `PAGE_VIEW`.
    pub activity_type: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Its properties.
    pub properties: BTreeMap<String, String>,
    /// Recorded while the lead was an anonymous visitor.
    pub anonymous: bool,
}

/// Reason an activity counts or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A rule matched and counted the activity.
    Counted,
    /// No rule scores this activity type.
    NoRule,
    /// Rules score this type, but none of their filters matched.
    FilterNotMatched,
    /// A rule matched, but its limit was already used. The detail names the activity that used it.
    LimitReached(String),
    /// The activity was recorded while the lead was anonymous, and the model scores no such activity.
    AnonymousNotScored,
}

impl Verdict {
    /// Returns the machine-readable reason written to the ledger.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Counted => "counted",
            Verdict::NoRule => "no_rule",
            Verdict::FilterNotMatched => "filter_not_matched",
            Verdict::LimitReached(_) => "limit_reached",
            Verdict::AnonymousNotScored => "anonymous_not_scored",
        }
    }

    /// Returns a readable detail.
    pub fn detail(&self) -> String {
        match self {
            Verdict::Counted => String::new(),
            Verdict::NoRule => "no rule scores this activity type".to_owned(),
            Verdict::FilterNotMatched => "no rule filter matched the activity's properties".to_owned(),
            Verdict::LimitReached(detail) => detail.clone(),
            Verdict::AnonymousNotScored => "recorded while the lead was an anonymous visitor; the model scores no such activity".to_owned(),
        }
    }
}

/// The verdict on one activity under a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Award {
    /// The activity.
    pub activity_id: Uuid,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Its type name.
    pub activity_type: String,
    /// Index of the matching rule in the model.
    pub rule_index: Option<usize>,
    /// Points before decay; 0 unless counted.
    pub base_points: i64,
    /// Why.
    pub verdict: Verdict,
}

/// A lead evaluated at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// Awards of activities up to the instant, oldest first.
    pub awards: Vec<Award>,
    /// Points of each award at the instant, in the same order.
    pub points: Vec<i64>,
    /// Sum of `points`.
    pub engagement: i64,
    /// Fit points with the rules that matched.
    pub fit: i64,
    /// Fit rules that matched, with their points.
    pub fit_matches: Vec<(String, String, i64)>,
    /// Raise applied by the floor.
    pub floor_adjustment: i64,
    /// Engagement plus fit plus the floor raise.
    pub total: i64,
    /// Next instant at which decay changes a point value; `None` when nothing decays.
    pub next_decay: Option<DateTime<Utc>>,
}

/// Returns the path of a URL property: `https://x.ro/pricing?a=1` and `/pricing` both give
/// `/pricing?a=1` and `/pricing`.
fn url_path(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|slash| &rest[slash..]).unwrap_or("/"),
        None => url,
    }
}

/// Returns true when `path` is `prefix` or lies below it: the prefix ends at a path segment,
/// so `/pricing` matches `/pricing`, `/pricing/team` and `/pricing?plan=a` but not
/// `/pricing-old`. Paths compare case-sensitively, as URL paths do.
pub fn path_has_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with(['/', '?', '#']),
        None => false,
    }
}

fn property<'a>(activity: &'a ActivityFact, key: &str) -> Option<&'a str> {
    activity.properties.get(key).map(String::as_str)
}

/// Returns true when the activity's properties satisfy the filter.
pub fn filter_matches(filter: &Filter, activity: &ActivityFact) -> bool {
    if let Some(prefix) = &filter.url_prefix {
        match property(activity, "url") {
            Some(url) if path_has_prefix(url_path(url), prefix) => {}
            _ => return false,
        }
    }
    if let Some(asset) = &filter.asset_id {
        if property(activity, "asset_id") != Some(asset.as_str()) {
            return false;
        }
    }
    let lower_equals = |key: &str, expected: &Option<String>| match expected {
        Some(expected) => property(activity, key).map(|value| value.trim().to_lowercase()) == Some(expected.clone()),
        None => true,
    };
    lower_equals("campaign", &filter.campaign) && lower_equals("channel", &filter.channel)
}

/// Returns the asset key of an activity for once-per-asset limits: `asset_id`, else `url`.
fn asset_key(activity: &ActivityFact) -> Option<&str> {
    property(activity, "asset_id").or_else(|| property(activity, "url"))
}

/// Decides which activities count. `activities` must be sorted by (`occurred_at`, id).
pub fn award_all(model: &Model, activities: &[ActivityFact]) -> Vec<Award> {
    let mut counted_per_rule: Vec<Vec<(DateTime<Utc>, Uuid)>> = vec![Vec::new(); model.rules.len()];
    let mut assets_per_rule: Vec<BTreeMap<String, Uuid>> = vec![BTreeMap::new(); model.rules.len()];

    activities
        .iter()
        .map(|activity| {
            let typed: Vec<(usize, &Rule)> =
                model.rules.iter().enumerate().filter(|(_, rule)| rule.activity_type == activity.activity_type).collect();
            let mut award = Award {
                activity_id: activity.activity_id,
                occurred_at: activity.occurred_at,
                activity_type: activity.activity_type.clone(),
                rule_index: None,
                base_points: 0,
                verdict: if typed.is_empty() { Verdict::NoRule } else { Verdict::FilterNotMatched },
            };
            // Excluded anonymous activities use up no limit, so the first known activity of
            // a once-per-lead rule still counts.
            if activity.anonymous && model.exclude_anonymous {
                award.verdict = Verdict::AnonymousNotScored;
                return award;
            }

            let Some((index, rule)) = typed.into_iter().find(|(_, rule)| filter_matches(&rule.filter, activity)) else {
                return award;
            };
            award.rule_index = Some(index);

            let counted = &mut counted_per_rule[index];
            let blocked_by = match &rule.limit {
                Limit::Every => None,
                Limit::OncePerLead => counted.first().map(|(_, id)| format!("once per lead: activity {id} already counted")),
                Limit::OncePerAsset => match asset_key(activity) {
                    Some(asset) => assets_per_rule[index]
                        .get(asset)
                        .map(|id| format!("once per asset: {asset:?} already counted with activity {id}")),
                    None => None,
                },
                Limit::PerWindow { max_count, window_secs } => {
                    let window_start = activity.occurred_at - chrono::Duration::seconds(*window_secs);
                    let in_window: Vec<&(DateTime<Utc>, Uuid)> =
                        counted.iter().filter(|(time, _)| *time > window_start).collect();
                    (in_window.len() >= *max_count as usize).then(|| {
                        format!(
                            "at most {max_count} per {window_secs}s: activity {} at {} already counted",
                            in_window[0].1,
                            in_window[0].0.to_rfc3339()
                        )
                    })
                }
            };

            match blocked_by {
                Some(detail) => award.verdict = Verdict::LimitReached(detail),
                None => {
                    award.verdict = Verdict::Counted;
                    award.base_points = rule.points;
                    counted.push((activity.occurred_at, activity.activity_id));
                    if let (Limit::OncePerAsset, Some(asset)) = (&rule.limit, asset_key(activity)) {
                        assets_per_rule[index].insert(asset.to_owned(), activity.activity_id);
                    }
                }
            }
            award
        })
        .collect()
}

/// Returns the points of `base` at `as_of` for an activity at `occurred_at`: halved, rounded
/// toward zero, once per whole half-life elapsed, or zero after the expiry.
pub fn decayed(base: i64, policy: DecayPolicy, occurred_at: DateTime<Utc>, as_of: DateTime<Utc>) -> i64 {
    let age = (as_of - occurred_at).num_seconds().max(0);
    match policy {
        DecayPolicy::None => base,
        DecayPolicy::HalfLife { secs } => {
            let halvings = age / secs;
            if halvings >= 63 { 0 } else { base / (1_i64 << halvings) }
        }
        DecayPolicy::Expire { secs } => {
            if age >= secs { 0 } else { base }
        }
    }
}

/// Returns the next instant after `as_of` at which `decayed` changes for this activity.
pub fn next_decay(base: i64, policy: DecayPolicy, occurred_at: DateTime<Utc>, as_of: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if decayed(base, policy, occurred_at, as_of) == 0 {
        return None;
    }
    let age = (as_of - occurred_at).num_seconds().max(0);
    match policy {
        DecayPolicy::None => None,
        DecayPolicy::HalfLife { secs } => Some(occurred_at + chrono::Duration::seconds((age / secs + 1) * secs)),
        DecayPolicy::Expire { secs } => Some(occurred_at + chrono::Duration::seconds(secs)),
    }
}

/// Returns the fit points of a profile and the rules that matched, as (rule id, attribute,
/// points).
pub fn fit_score(rules: &[FitRule], attributes: &BTreeMap<String, String>, source: &str) -> (i64, Vec<(String, String, i64)>) {
    let mut matches = Vec::new();
    for rule in rules {
        let value = if rule.attribute == "source" {
            Some(source.to_owned())
        } else {
            attributes
                .iter()
                .find(|(key, _)| key.trim().eq_ignore_ascii_case(&rule.attribute))
                .map(|(_, value)| value.clone())
        };
        let Some(value) = value.map(|value| value.trim().to_lowercase()).filter(|value| !value.is_empty()) else {
            continue;
        };

        let equals = rule.equals_any.is_empty() || rule.equals_any.contains(&value);
        let in_range = if rule.min_value.is_some() || rule.max_value.is_some() {
            match value.replace([',', '_', ' '], "").parse::<i64>() {
                Ok(number) => rule.min_value.is_none_or(|min| number >= min) && rule.max_value.is_none_or(|max| number <= max),
                Err(_) => false,
            }
        } else {
            true
        };
        if equals && in_range {
            matches.push((rule.rule_id.clone(), rule.attribute.clone(), rule.points));
        }
    }
    let total = matches.iter().map(|(_, _, points)| points).sum();
    (total, matches)
}

/// Evaluates a lead at `as_of`. `activities` may be in any order; those after `as_of` are
/// left out.
pub fn evaluate(
    model: &Model,
    activities: &[ActivityFact],
    attributes: &BTreeMap<String, String>,
    source: &str,
    as_of: DateTime<Utc>,
) -> Evaluation {
    let known = in_order(activities.iter().filter(|activity| activity.occurred_at <= as_of));
    let awards = award_all(model, &known);
    complete(model, awards, 0, attributes, source, as_of)
}

/// How far back a rule's counted activities decide whether a later activity counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitReach {
    /// The rule's id.
    pub rule_id: String,
    /// Seconds before a later activity within which counted activities matter; `None` for
    /// all of them.
    pub window_secs: Option<i64>,
}

/// Returns the rules whose limit depends on earlier counted activities, with how far back.
/// A rule that counts every activity is left out.
pub fn limit_reach(model: &Model) -> Vec<LimitReach> {
    model
        .rules
        .iter()
        .filter_map(|rule| {
            let window_secs = match rule.limit {
                Limit::Every => return None,
                Limit::OncePerLead | Limit::OncePerAsset => None,
                Limit::PerWindow { window_secs, .. } => Some(window_secs),
            };
            Some(LimitReach { rule_id: rule.rule_id.clone(), window_secs })
        })
        .collect()
}

/// Evaluates activities appended to a lead that was evaluated before under the same model.
/// The result equals what [`evaluate`] gives for the whole history at `as_of`, without reading
/// it, when the caller has checked these conditions:
/// - every appended activity is at or before `as_of` and later, in (`occurred_at`, id)
///   order, than every activity evaluated before;
/// - no decay step fell between the earlier evaluation and `as_of`, so the earlier
///   activities are still worth what they were credited, `engagement_before` in all;
/// - `counted_before` holds the earlier activities counted by the rules of [`limit_reach`],
///   at least those within each rule's reach of the first appended activity.
///
/// The earlier activities then keep their verdicts, since a verdict depends only on the
/// activities before it. The returned awards and points are those of the appended activities;
/// `next_decay` is theirs alone.
pub fn evaluate_appended(
    model: &Model,
    counted_before: &[ActivityFact],
    appended: &[ActivityFact],
    engagement_before: i64,
    attributes: &BTreeMap<String, String>,
    source: &str,
    as_of: DateTime<Utc>,
) -> Evaluation {
    let appended_ids: BTreeSet<Uuid> = appended.iter().map(|activity| activity.activity_id).collect();
    let known = in_order(counted_before.iter().chain(appended));
    let awards = award_all(model, &known).into_iter().filter(|award| appended_ids.contains(&award.activity_id)).collect();
    complete(model, awards, engagement_before, attributes, source, as_of)
}

/// Returns the activities sorted by (`occurred_at`, id), each once.
fn in_order<'a>(activities: impl Iterator<Item = &'a ActivityFact>) -> Vec<ActivityFact> {
    let mut known: Vec<ActivityFact> = activities.cloned().collect();
    known.sort_by(|a, b| (a.occurred_at, a.activity_id).cmp(&(b.occurred_at, b.activity_id)));
    let mut seen = BTreeSet::new();
    known.retain(|activity| seen.insert(activity.activity_id));
    known
}

/// Values `awards` at `as_of` and adds `engagement_before`, the fit and the floor.
fn complete(
    model: &Model,
    awards: Vec<Award>,
    engagement_before: i64,
    attributes: &BTreeMap<String, String>,
    source: &str,
    as_of: DateTime<Utc>,
) -> Evaluation {
    let mut points = Vec::with_capacity(awards.len());
    let mut next = None::<DateTime<Utc>>;
    for award in &awards {
        let policy = award.rule_index.map(|index| model.decay_of(&model.rules[index])).unwrap_or(DecayPolicy::None);
        points.push(decayed(award.base_points, policy, award.occurred_at, as_of));
        if let Some(step) = next_decay(award.base_points, policy, award.occurred_at, as_of) {
            next = Some(next.map_or(step, |current| current.min(step)));
        }
    }

    let engagement: i64 = engagement_before + points.iter().sum::<i64>();
    let (fit, fit_matches) = fit_score(&model.fit_rules, attributes, source);
    let raw = engagement + fit;
    let floor_adjustment = model.floor.map(|floor| (floor - raw).max(0)).unwrap_or(0);

    Evaluation { awards, points, engagement, fit, fit_matches, floor_adjustment, total: raw + floor_adjustment, next_decay: next }
}

/// Returns true when a lead qualifies under the model: the total reaches the threshold and
/// the fit reaches the model's minimum.
pub fn qualifies(model: &Model, total: i64, fit: i64) -> bool {
    total >= model.threshold && fit >= model.min_fit
}

/// Returns true when a score change makes an armed lead an MQL: it did not qualify before the
/// change and does after, an upward crossing. A lead that sales recycled while it still
/// qualifies therefore becomes an MQL again only after it falls below and crosses again.
pub fn crosses_threshold(model: &Model, armed: bool, qualified_before: bool, total_after: i64, fit_after: i64) -> bool {
    armed && !qualified_before && qualifies(model, total_after, fit_after)
}
