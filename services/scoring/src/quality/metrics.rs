//! Ranking and classification statistics over scored leads with a known outcome. Pure
//! functions: no I/O, no model.

use std::collections::BTreeMap;

use leadflow_proto::scoring::{DecileRow, RocPoint, SourceRow, ThresholdMetrics};

/// One lead as the statistics see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoredOutcome {
    /// Total score in whole points.
    pub total: i64,
    /// True when the MQL rule marks the lead.
    pub predicted: bool,
    /// True when the lead was won.
    pub won: bool,
    /// Source of the lead.
    pub source: String,
}

/// Returns the area under the ROC curve of `scores` against `labels` (true = positive), by
/// the rank-sum (Mann-Whitney U) formula with average ranks for ties, so a tie between a
/// positive and a negative counts one half. Returns 0.5 when either class is empty.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let positives = labels.iter().filter(|label| **label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return 0.5;
    }

    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));

    // Ranks start at 1; a run of equal scores shares the mean of its ranks.
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|index| labels[**index]).count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }

    let positives = positives as f64;
    (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives as f64)
}

/// Returns the ROC curve of integer scores: (0, 0), then one point per distinct score from the
/// highest down, ending at (1, 1) once the lowest score is counted as positive.
pub fn roc_curve(leads: &[ScoredOutcome]) -> Vec<RocPoint> {
    let positives = leads.iter().filter(|lead| lead.won).count() as f64;
    let negatives = leads.len() as f64 - positives;
    let share = |part: usize, whole: f64| if whole == 0.0 { 0.0 } else { part as f64 / whole };

    let mut by_score: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for lead in leads {
        let counts = by_score.entry(lead.total).or_default();
        if lead.won {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }

    let first_threshold = by_score.keys().next_back().map_or(0, |max| max + 1);
    let mut curve = vec![RocPoint { threshold: first_threshold, false_positive_rate: 0.0, true_positive_rate: 0.0 }];
    let (mut true_positives, mut false_positives) = (0, 0);
    for (score, (won, lost)) in by_score.iter().rev() {
        true_positives += won;
        false_positives += lost;
        curve.push(RocPoint {
            threshold: *score,
            false_positive_rate: share(false_positives, negatives),
            true_positive_rate: share(true_positives, positives),
        });
    }
    curve
}

/// Returns precision, recall, F1 and the false positive rate of the `predicted` marks.
pub fn threshold_metrics(leads: &[ScoredOutcome]) -> ThresholdMetrics {
    let predicted = leads.iter().filter(|lead| lead.predicted).count() as i64;
    let true_positives = leads.iter().filter(|lead| lead.predicted && lead.won).count() as i64;
    let won = leads.iter().filter(|lead| lead.won).count() as i64;
    let lost = leads.len() as i64 - won;
    let precision = ratio(true_positives, predicted);
    let recall = ratio(true_positives, won);
    let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
    ThresholdMetrics {
        predicted_positive_count: predicted,
        true_positive_count: true_positives,
        precision,
        recall,
        f1,
        false_positive_rate: ratio(predicted - true_positives, lost),
    }
}

/// Returns conversion by score decile, highest scores first. Leads are sorted by total,
/// highest first, and a run of equal totals goes to the decile of its first lead, so equal
/// scores never straddle two deciles.
pub fn deciles(leads: &[ScoredOutcome]) -> Vec<DecileRow> {
    let count = leads.len();
    let base_rate = ratio(leads.iter().filter(|lead| lead.won).count() as i64, count as i64);
    let mut sorted: Vec<&ScoredOutcome> = leads.iter().collect();
    sorted.sort_by_key(|lead| std::cmp::Reverse(lead.total));

    let mut rows: Vec<DecileRow> = Vec::new();
    let mut start = 0;
    while start < count {
        let mut end = start + 1;
        while end < count && sorted[end].total == sorted[start].total {
            end += 1;
        }
        let decile = (start * 10 / count) as i32 + 1;
        if rows.last().is_none_or(|row| row.decile != decile) {
            rows.push(DecileRow { decile, max_score: sorted[start].total, ..DecileRow::default() });
        }
        let row = rows.last_mut().expect("a row was pushed above");
        row.min_score = sorted[end - 1].total;
        row.lead_count += (end - start) as i64;
        row.converted_count += sorted[start..end].iter().filter(|lead| lead.won).count() as i64;
        start = end;
    }

    for row in &mut rows {
        row.conversion_rate = ratio(row.converted_count, row.lead_count);
        row.lift = if base_rate == 0.0 { 0.0 } else { row.conversion_rate / base_rate };
    }
    rows
}

/// Returns conversion by source, most leads first, then by source name.
pub fn by_source(leads: &[ScoredOutcome]) -> Vec<SourceRow> {
    let mut rows: BTreeMap<String, SourceRow> = BTreeMap::new();
    for lead in leads {
        let source = lead.source.trim().to_lowercase();
        let row = rows.entry(source.clone()).or_insert_with(|| SourceRow { source, ..SourceRow::default() });
        row.lead_count += 1;
        row.converted_count += i64::from(lead.won);
        row.mql_count += i64::from(lead.predicted);
    }

    let mut rows: Vec<SourceRow> = rows.into_values().collect();
    for row in &mut rows {
        row.conversion_rate = ratio(row.converted_count, row.lead_count);
    }
    rows.sort_by(|a, b| b.lead_count.cmp(&a.lead_count).then_with(|| a.source.cmp(&b.source)));
    rows
}

/// Returns `part / whole`, or 0 when `whole` is 0.
pub fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(total: i64, won: bool) -> ScoredOutcome {
        ScoredOutcome { total, predicted: total >= 10, won, source: String::new() }
    }

    #[test]
    fn auc_of_perfect_ranking_is_one() {
        assert_eq!(roc_auc(&[4.0, 3.0, 2.0, 1.0], &[true, true, false, false]), 1.0);
    }

    #[test]
    fn auc_of_reversed_ranking_is_zero() {
        assert_eq!(roc_auc(&[1.0, 2.0, 3.0, 4.0], &[true, true, false, false]), 0.0);
    }

    #[test]
    fn auc_counts_ties_as_half() {
        assert_eq!(roc_auc(&[5.0, 5.0], &[true, false]), 0.5);
        // Pairs: (3 vs 1) wins, (3 vs 3) half, (1 vs 1) half, (1 vs 3) loses: 2 of 4.
        assert_eq!(roc_auc(&[3.0, 1.0, 3.0, 1.0], &[true, true, false, false]), 0.5);
        // Pairs: (3 vs 2) wins, (3 vs 3) half: 1.5 of 2.
        assert_eq!(roc_auc(&[3.0, 3.0, 2.0], &[true, false, false]), 0.75);
    }

    #[test]
    fn auc_of_one_class_is_half() {
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), 0.5);
        assert_eq!(roc_auc(&[], &[]), 0.5);
    }

    #[test]
    fn roc_curve_runs_from_origin_to_one() {
        let leads = [lead(30, true), lead(20, false), lead(20, true), lead(5, false)];
        let curve = roc_curve(&leads);
        let points: Vec<(i64, f64, f64)> =
            curve.iter().map(|point| (point.threshold, point.false_positive_rate, point.true_positive_rate)).collect();
        assert_eq!(points, vec![(31, 0.0, 0.0), (30, 0.0, 0.5), (20, 0.5, 1.0), (5, 1.0, 1.0)]);
    }

    #[test]
    fn threshold_metrics_count_marks() {
        let leads = [lead(30, true), lead(20, false), lead(5, true), lead(1, false)];
        let metrics = threshold_metrics(&leads);
        assert_eq!(metrics.predicted_positive_count, 2);
        assert_eq!(metrics.true_positive_count, 1);
        assert_eq!(metrics.precision, 0.5);
        assert_eq!(metrics.recall, 0.5);
        assert_eq!(metrics.f1, 0.5);
        assert_eq!(metrics.false_positive_rate, 0.5);
    }

    #[test]
    fn deciles_keep_ties_together() {
        let mut leads: Vec<ScoredOutcome> = (0..20).map(|index| lead(100 - index, index < 4)).collect();
        leads[2].total = 99;
        leads[3].total = 99;
        let rows = deciles(&leads);
        assert_eq!(rows.len(), 9, "decile 2 is empty because the tie at 99 filled decile 1");
        assert_eq!(rows[0].decile, 1);
        assert_eq!(rows[0].lead_count, 4);
        assert_eq!((rows[0].max_score, rows[0].min_score), (100, 99));
        assert_eq!(rows[0].converted_count, 4);
        assert_eq!(rows[0].conversion_rate, 1.0);
        assert_eq!(rows[0].lift, 5.0);
        assert_eq!(rows[1].decile, 3);
        assert_eq!(rows.iter().map(|row| row.lead_count).sum::<i64>(), 20);
    }

    #[test]
    fn sources_sort_by_size() {
        let mut leads = vec![lead(30, true), lead(20, false), lead(5, true)];
        leads[0].source = "Google".to_owned();
        leads[1].source = "google".to_owned();
        leads[2].source = "olark".to_owned();
        let rows = by_source(&leads);
        assert_eq!(rows[0].source, "google");
        assert_eq!(rows[0].lead_count, 2);
        assert_eq!(rows[0].conversion_rate, 0.5);
        assert_eq!(rows[0].mql_count, 2);
        assert_eq!(rows[1].source, "olark");
    }
}
