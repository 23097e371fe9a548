//! Learning from outcomes: how well a model ranks the leads whose outcome is known
//! ([`measure`]), and a points model fitted to those outcomes ([`fit`]).
//!
//! Outcomes reach the score rows from imported files (`OutcomeImported` events) and from
//! the qualification service when sales closes a deal as won or lost. Leads are evaluated
//! with [`crate::domain::evaluate`] at one instant, the same way the engine scores them.

pub mod fit;
pub mod metrics;
pub mod split;

use chrono::{DateTime, Utc};
use leadflow_kit::time::to_timestamp;
use leadflow_proto::scoring::{LeadSplit, ModelQuality};

use crate::domain::{Model, evaluate};
use crate::store::outcomes::OutcomeLead;
use metrics::ScoredOutcome;

/// Chooses the leads of one side of the split.
pub fn select(leads: &[OutcomeLead], split: LeadSplit, seed: u64, holdout_fraction: f64) -> Vec<&OutcomeLead> {
    leads
        .iter()
        .filter(|lead| match split {
            LeadSplit::Unspecified | LeadSplit::All => true,
            LeadSplit::Training => !split::is_holdout(lead.lead_id, seed, holdout_fraction),
            LeadSplit::Holdout => split::is_holdout(lead.lead_id, seed, holdout_fraction),
        })
        .collect()
}

/// Evaluates every lead under `model` at `now` and returns the quality figures. The MQL rule
/// marks a lead when its total reaches the threshold and its fit the minimum fit.
pub fn measure(model: &Model, leads: &[&OutcomeLead], split: LeadSplit, now: DateTime<Utc>) -> ModelQuality {
    let scored: Vec<ScoredOutcome> = leads
        .iter()
        .map(|lead| {
            let evaluation = evaluate(model, &lead.activities, &lead.attributes, &lead.source, now);
            ScoredOutcome {
                total: evaluation.total,
                predicted: evaluation.total >= model.threshold && evaluation.fit >= model.min_fit,
                won: lead.won,
                source: lead.source.clone(),
            }
        })
        .collect();

    let totals: Vec<f64> = scored.iter().map(|lead| lead.total as f64).collect();
    let labels: Vec<bool> = scored.iter().map(|lead| lead.won).collect();
    let converted = labels.iter().filter(|won| **won).count() as i64;
    ModelQuality {
        model_id: model.model_id.clone(),
        version: model.version,
        mql_threshold: model.threshold,
        min_fit_score: model.min_fit,
        lead_count: scored.len() as i64,
        converted_count: converted,
        base_rate: metrics::ratio(converted, scored.len() as i64),
        roc_auc: metrics::roc_auc(&totals, &labels),
        threshold_metrics: Some(metrics::threshold_metrics(&scored)),
        deciles: metrics::deciles(&scored),
        sources: metrics::by_source(&scored),
        roc_curve: metrics::roc_curve(&scored),
        evaluate_time: Some(to_timestamp(now)),
        split: split as i32,
    }
}
