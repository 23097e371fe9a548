//! Reads of the leads whose outcome is known, for quality reports and model fitting.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{fact_from_row, json_to_map, lead_score, scored_activity};
use crate::domain::ActivityFact;

/// Leads read per query; their activities are read with one `IN` list of this many ids.
const PAGE: u64 = 500;

/// A lead with a known outcome and everything the evaluation of a model needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeLead {
    /// Lead id.
    pub lead_id: Uuid,
    /// True when the lead was won, false when it was lost.
    pub won: bool,
    /// Channel that brought the lead.
    pub source: String,
    /// Profile attributes.
    pub attributes: BTreeMap<String, String>,
    /// Every activity the scoring service received for the lead.
    pub activities: Vec<ActivityFact>,
}

/// Returns every lead whose outcome is `WON` or `LOST`, in lead id order, with its activities.
pub async fn outcome_leads<C: ConnectionTrait>(db: &C) -> Result<Vec<OutcomeLead>, DbErr> {
    let mut leads = Vec::new();
    let mut after: Option<Uuid> = None;

    loop {
        let mut query = lead_score::Entity::find()
            .filter(lead_score::Column::Outcome.is_in(["WON", "LOST"]))
            .order_by_asc(lead_score::Column::LeadId)
            .limit(PAGE);
        if let Some(after) = after {
            query = query.filter(lead_score::Column::LeadId.gt(after));
        }
        let rows = query.all(db).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = Some(last.lead_id);

        let ids: Vec<Uuid> = rows.iter().map(|row| row.lead_id).collect();
        let mut activities: BTreeMap<Uuid, Vec<ActivityFact>> = BTreeMap::new();
        for row in scored_activity::Entity::find().filter(scored_activity::Column::LeadId.is_in(ids)).all(db).await? {
            activities.entry(row.lead_id).or_default().push(fact_from_row(&row));
        }

        let full_page = rows.len() as u64 == PAGE;
        for row in rows {
            leads.push(OutcomeLead {
                lead_id: row.lead_id,
                won: row.outcome.as_deref() == Some("WON"),
                source: row.source.clone(),
                attributes: json_to_map(&row.attributes),
                activities: activities.remove(&row.lead_id).unwrap_or_default(),
            });
        }
        if !full_page {
            break;
        }
    }
    Ok(leads)
}
