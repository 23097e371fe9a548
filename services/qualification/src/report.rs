//! Funnel figures computed from stored rows: time between stages and the SLA hit rate.

use chrono::{DateTime, Utc};
use leadflow_proto::qualification::StageDuration;

use crate::store::{sla_entry, transition};

/// Durations of the passages MQL→SQL and SQL→won, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Passages {
    /// From entering the queue (to NEW) to the next acceptance (to SQL).
    pub mql_to_sql: Vec<i64>,
    /// From acceptance to a won close.
    pub sql_to_won: Vec<i64>,
}

/// Measures passages from transitions ordered by lead and then by time. A lead that
/// re-enters the queue after a recycle contributes one passage per acceptance.
pub fn passages(transitions: &[transition::Model]) -> Passages {
    let mut result = Passages::default();
    let mut current_lead = None;
    let mut entered: Option<DateTime<Utc>> = None;
    let mut accepted: Option<DateTime<Utc>> = None;

    for row in transitions {
        if current_lead != Some(row.lead_id) {
            current_lead = Some(row.lead_id);
            entered = None;
            accepted = None;
        }
        match row.to_state.as_str() {
            "NEW" => entered = Some(row.change_time),
            "SQL" => {
                if let Some(start) = entered.take() {
                    result.mql_to_sql.push((row.change_time - start).num_seconds());
                }
                accepted = Some(row.change_time);
            }
            "WON" => {
                if let Some(start) = accepted.take() {
                    result.sql_to_won.push((row.change_time - start).num_seconds());
                }
            }
            _ => {}
        }
    }
    result
}

/// Returns the value at rank ⌈share × n⌉ of the sorted `values` (the nearest-rank
/// percentile), or `None` for no values.
pub fn nearest_rank(sorted: &[i64], share: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (share * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// Summarises durations in seconds as a sample count, median and 90th percentile.
pub fn stage_duration(mut seconds: Vec<i64>) -> StageDuration {
    seconds.sort_unstable();
    let duration = |value: i64| prost_types::Duration { seconds: value, nanos: 0 };
    StageDuration {
        sample_count: seconds.len() as i64,
        median: nearest_rank(&seconds, 0.5).map(duration),
        p90: nearest_rank(&seconds, 0.9).map(duration),
    }
}

/// Counts queue entries that met and missed their first-touch deadline by `now`. Entries
/// still open before their deadline count in neither.
pub fn sla_outcomes(entries: &[sla_entry::Model], now: DateTime<Utc>) -> (i64, i64) {
    let mut met = 0;
    let mut missed = 0;
    for entry in entries {
        match entry.touch_time {
            Some(touch) if touch <= entry.due_time => met += 1,
            Some(_) => missed += 1,
            None if entry.due_time < now => missed += 1,
            None => {}
        }
    }
    (met, missed)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;

    fn change(lead_id: Uuid, to_state: &str, day: i64) -> transition::Model {
        transition::Model {
            id: Uuid::now_v7(),
            lead_id,
            from_state: String::new(),
            to_state: to_state.to_owned(),
            reason: String::new(),
            change_time: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(day),
            actor: String::new(),
        }
    }

    #[test]
    fn recycled_lead_gives_two_passages() {
        let lead = Uuid::now_v7();
        let rows = vec![
            change(lead, "NEW", 1),
            change(lead, "SQL", 3),
            change(lead, "RECYCLED", 40),
            change(lead, "NEW", 70),
            change(lead, "SQL", 72),
            change(lead, "WON", 80),
        ];
        let measured = passages(&rows);
        assert_eq!(measured.mql_to_sql, [2 * 86_400, 2 * 86_400]);
        assert_eq!(measured.sql_to_won, [8 * 86_400]);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&values, 0.5), Some(5));
        assert_eq!(nearest_rank(&values, 0.9), Some(9));
        assert_eq!(nearest_rank(&[7], 0.9), Some(7));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    #[test]
    fn sla_outcomes_count_late_and_open() {
        let due = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let entry = |touch: Option<i64>| sla_entry::Model {
            id: Uuid::now_v7(),
            lead_id: Uuid::now_v7(),
            entry_time: due - Duration::hours(24),
            due_time: due,
            touch_time: touch.map(|hours| due + Duration::hours(hours)),
            escalate_time: None,
        };
        let entries = vec![entry(Some(-1)), entry(Some(2)), entry(None)];
        assert_eq!(sla_outcomes(&entries, due - Duration::hours(1)), (1, 1));
        assert_eq!(sla_outcomes(&entries, due + Duration::hours(1)), (1, 2));
    }
}
