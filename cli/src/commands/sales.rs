//! The sales commands of the qualification service: `queue`, `work`, `accept`, `reject`,
//! `recycle` and `close`.

use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::qualification::{
    AcceptLeadRequest, Bant, Budget, CloseLeadRequest, ListOverdueRequest, ListQueueRequest, Qualification,
    RecycleLeadRequest, RejectLeadRequest, StartWorkRequest,
};
use leadflow_proto::types::{Outcome, QualificationState};
use serde_json::json;

use super::{parse_key_values, print_json, state_code, state_name};
use crate::Context;
use crate::args::{AcceptArgs, CloseArgs, LeadIdArgs, QueueArgs, RejectArgs, StateArg};
use crate::errors::{CliError, ClientChannel, Service, request};
use crate::format::{print_table, timestamp, timestamp_json};
use crate::i18n::Text;

/// Largest page the service returns.
const MAX_PAGE_SIZE: u32 = 1000;

async fn client(context: &Context) -> Result<QualificationServiceClient<ClientChannel>, CliError> {
    Ok(QualificationServiceClient::new(context.channel(Service::Qualification).await?))
}

fn state(value: StateArg) -> QualificationState {
    match value {
        StateArg::New => QualificationState::New,
        StateArg::Working => QualificationState::Working,
        StateArg::Sql => QualificationState::Sql,
        StateArg::Recycled => QualificationState::Recycled,
        StateArg::Won => QualificationState::Won,
        StateArg::Lost => QualificationState::Lost,
    }
}

/// Reads up to `limit` entries of the queue, or of the overdue list with `--overdue`, page by
/// page. Overdue entries carry their escalation time.
async fn read_queue(
    client: &mut QualificationServiceClient<ClientChannel>,
    args: &QueueArgs,
    lang: crate::i18n::Lang,
) -> Result<(Vec<(Qualification, Option<prost_types::Timestamp>)>, bool), CliError> {
    let states: Vec<i32> = args.states.iter().map(|value| state(*value) as i32).collect();
    let rep_id = args.mine.clone().unwrap_or_default();
    let limit = args.limit as usize;
    let mut entries = Vec::new();
    let mut page_token = String::new();
    let mut more = false;

    while entries.len() < limit {
        let page_size = ((limit - entries.len()) as u32).min(MAX_PAGE_SIZE) as i32;
        let next_page_token = if args.overdue {
            let message = ListOverdueRequest { page_size, page_token: page_token.clone(), rep_id: rep_id.clone() };
            let page = client
                .list_overdue(request(message, lang))
                .await
                .map_err(|status| CliError::from_status("ListOverdue", &status))?
                .into_inner();
            entries.extend(page.leads.into_iter().map(|lead| (lead.qualification.unwrap_or_default(), lead.escalate_time)));
            page.next_page_token
        } else {
            let message = ListQueueRequest {
                states: states.clone(),
                page_size,
                page_token: page_token.clone(),
                rep_id: rep_id.clone(),
                unassigned_only: args.unassigned,
            };
            let page = client
                .list_queue(request(message, lang))
                .await
                .map_err(|status| CliError::from_status("ListQueue", &status))?
                .into_inner();
            entries.extend(page.qualifications.into_iter().map(|entry| (entry, None)));
            page.next_page_token
        };
        more = !next_page_token.is_empty();
        if !more {
            break;
        }
        page_token = next_page_token;
    }
    entries.truncate(limit);
    Ok((entries, more))
}

/// Runs `leadflow queue`: lists entries page by page until `--limit` entries are read.
pub async fn queue(context: &Context, args: QueueArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let mut client = client(context).await?;
    let (entries, more) = read_queue(&mut client, &args, lang).await?;

    if context.json {
        let entries: Vec<_> = entries
            .iter()
            .map(|(entry, escalate_time)| {
                json!({
                    "lead_id": entry.lead_id,
                    "state": state_code(entry.state),
                    "mql_score": entry.mql_score,
                    "source": entry.source,
                    "mql_time": timestamp_json(entry.mql_time.as_ref()),
                    "assigned_rep_id": entry.assigned_rep_id,
                    "first_touch_due_time": timestamp_json(entry.first_touch_due_time.as_ref()),
                    "escalate_time": timestamp_json(escalate_time.as_ref()),
                    "do_not_contact": entry.do_not_contact,
                })
            })
            .collect();
        print_json(&json!({ "entries": entries, "more": more }));
        return Ok(());
    }

    if entries.is_empty() {
        let empty = if args.overdue { Text::OverdueEmpty } else { Text::QueueEmpty };
        println!("{}", empty.get(lang));
        return Ok(());
    }
    let unassigned = Text::Unassigned.get(lang);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(entry, _)| {
            let rep = if entry.assigned_rep_id.is_empty() { unassigned.to_owned() } else { entry.assigned_rep_id.clone() };
            vec![
                entry.lead_id.clone(),
                state_name(entry.state, lang),
                entry.mql_score.to_string(),
                entry.source.clone(),
                timestamp(entry.mql_time.as_ref()),
                rep,
                timestamp(entry.first_touch_due_time.as_ref()),
                if entry.do_not_contact { Text::DoNotContactMark.get(lang).to_owned() } else { String::new() },
            ]
        })
        .collect();
    print_table(
        &[
            Text::LabelLeadId.get(lang),
            Text::HeaderState.get(lang),
            Text::HeaderMqlScore.get(lang),
            Text::LabelSource.get(lang),
            Text::HeaderMqlTime.get(lang),
            Text::HeaderRep.get(lang),
            Text::HeaderFirstTouchDue.get(lang),
            Text::HeaderContact.get(lang),
        ],
        &rows,
    );
    println!("{}", Text::QueueShown.fill(lang, &[("count", &crate::format::count(entries.len() as i64, lang))]));
    if more {
        println!("{}", Text::QueueMore.fill(lang, &[("limit", &args.limit.to_string())]));
    }
    Ok(())
}

fn print_result(context: &Context, text: Text, qualification: Option<Qualification>) {
    let qualification = qualification.unwrap_or_default();
    if context.json {
        print_json(&json!({
            "lead_id": qualification.lead_id,
            "state": state_code(qualification.state),
        }));
    } else {
        println!("{}", text.fill(context.lang, &[("id", &qualification.lead_id)]));
    }
}

/// Runs `leadflow work`.
pub async fn work(context: &Context, args: LeadIdArgs) -> anyhow::Result<()> {
    let message = StartWorkRequest { lead_id: args.lead_id, actor: args.actor.unwrap_or_default(), ..StartWorkRequest::default() };
    let response = client(context)
        .await?
        .start_work(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("StartWork", &status))?
        .into_inner();
    print_result(context, Text::Working, response.qualification);
    Ok(())
}

/// Runs `leadflow accept`. Parts of BANT that were not given are sent empty, so the service
/// returns one field violation for each of them in a single response.
pub async fn accept(context: &Context, args: AcceptArgs) -> anyhow::Result<()> {
    let budget = if args.budget.is_some() || args.budget_confirmed || args.currency.is_some() {
        Some(Budget {
            amount_minor: args.budget.unwrap_or(0),
            currency: args.currency.unwrap_or_default(),
            confirmed: args.budget_confirmed,
        })
    } else {
        None
    };
    let bant_given = budget.is_some() || args.authority.is_some() || args.need.is_some() || args.timeframe.is_some();
    let bant = Bant {
        budget,
        authority_role: args.authority.unwrap_or_default(),
        need: args.need.unwrap_or_default(),
        timeframe: args.timeframe.unwrap_or_default(),
    };
    // Answers alone mean a framework other than BANT, which takes no `bant` message. BANT
    // options given with them are sent too, so none is dropped.
    let answers = parse_key_values("--answer", &args.answers)?;
    let bant = if answers.is_empty() || bant_given { Some(bant) } else { None };
    let message = AcceptLeadRequest {
        lead_id: args.lead_id,
        bant,
        answers,
        override_reason: args.override_reason.unwrap_or_default(),
        actor: args.actor.unwrap_or_default(),
        request_id: String::new(),
    };

    let response = client(context)
        .await?
        .accept_lead(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("AcceptLead", &status))?
        .into_inner();
    print_result(context, Text::Accepted, response.qualification);
    Ok(())
}

/// Runs `leadflow reject`.
pub async fn reject(context: &Context, args: RejectArgs) -> anyhow::Result<()> {
    let message = RejectLeadRequest {
        lead_id: args.lead_id,
        reason: args.reason,
        note: args.note.unwrap_or_default(),
        actor: args.actor.unwrap_or_default(),
        request_id: String::new(),
    };
    let response = client(context)
        .await?
        .reject_lead(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("RejectLead", &status))?
        .into_inner();
    print_result(context, Text::Rejected, response.qualification);
    Ok(())
}

/// Runs `leadflow recycle`.
pub async fn recycle(context: &Context, args: RejectArgs) -> anyhow::Result<()> {
    let message = RecycleLeadRequest {
        lead_id: args.lead_id,
        reason: args.reason,
        note: args.note.unwrap_or_default(),
        actor: args.actor.unwrap_or_default(),
        request_id: String::new(),
    };
    let response = client(context)
        .await?
        .recycle_lead(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("RecycleLead", &status))?
        .into_inner();
    print_result(context, Text::Recycled, response.qualification);
    Ok(())
}

/// Runs `leadflow close`.
pub async fn close(context: &Context, args: CloseArgs) -> anyhow::Result<()> {
    let outcome = if args.won { Outcome::Won } else { Outcome::Lost };
    let message = CloseLeadRequest {
        lead_id: args.lead_id,
        outcome: outcome as i32,
        value_minor: args.value.unwrap_or(0),
        currency: args.currency.unwrap_or_default(),
        reason: args.reason.unwrap_or_default(),
        actor: args.actor.unwrap_or_default(),
        request_id: String::new(),
    };
    let response = client(context)
        .await?
        .close_lead(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("CloseLead", &status))?
        .into_inner();
    let text = if args.won { Text::ClosedWon } else { Text::ClosedLost };
    print_result(context, text, response.qualification);
    Ok(())
}
