//! Scoring rules without I/O: the model as data ([`model`]) and the evaluation of a lead
//! under it ([`evaluate`]).

pub mod evaluate;
pub mod model;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use leadflow_proto::types::ScoreReason;

pub use evaluate::{ActivityFact, Award, Evaluation, Verdict, crosses_threshold, evaluate};
pub use model::{DEFAULT_MODEL_ID, Model, activity_type_from_name, activity_type_name, model_to_proto, read_model};

/// Most reasons carried in an MQL hand-off.
pub const TOP_REASONS: usize = 5;

/// Sums points per activity type and orders them by absolute points, largest first, then by
/// type name. Activities worth zero are left out.
pub fn reasons<'a>(entries: impl IntoIterator<Item = (&'a str, i64)>) -> Vec<ScoreReason> {
    let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (type_name, points) in entries {
        if points == 0 {
            continue;
        }
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
