//! `leadflow lead erase` and `leadflow erasure show`: the GDPR erasure of a lead's personal
//! data and its confirmations.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{EraseLeadRequest, Erasure, ErasureState, GetErasureRequest};
use serde_json::json;

use super::model::print_fields;
use super::{lead_key, print_json};
use crate::Context;
use crate::args::{EraseArgs, ErasureShowArgs};
use crate::errors::{CliError, ClientChannel, Service, request};
use crate::format::{timestamp, timestamp_json};
use crate::i18n::{Lang, Text};

/// Time between two reads of an erasure while `lead erase` waits for its confirmations.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Runs `leadflow lead erase`: erases the lead, then waits until scoring and qualification
/// have confirmed, at most `--wait` seconds, with a progress line on standard error.
pub async fn erase(context: &Context, args: EraseArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let mut activity = ActivityServiceClient::new(context.channel(Service::Activity).await?);

    let erase_request = EraseLeadRequest { lead: Some(lead_key(&args.key)), request_id: args.request_id.unwrap_or_default() };
    let response = activity
        .erase_lead(request(erase_request, lang))
        .await
        .map_err(|status| CliError::from_status("EraseLead", &status))?
        .into_inner();
    let mut erasure = response.erasure.unwrap_or_default();
    if !context.json {
        let text = if response.created { Text::EraseStarted } else { Text::EraseExisting };
        println!("{}", text.fill(lang, &[("lead", &erasure.lead_id), ("id", &erasure.erasure_id)]));
    }

    if args.wait > 0 && !is_complete(&erasure) {
        erasure = wait_for_confirmations(&mut activity, erasure, Duration::from_secs(args.wait), lang).await?;
    }

    if context.json {
        let mut value = erasure_json(&erasure);
        value["created"] = json!(response.created);
        print_json(&value);
        return Ok(());
    }
    print_erasure(&erasure, lang);
    if !is_complete(&erasure) {
        println!();
        println!("{}", Text::ErasureStillPending.fill(lang, &[("id", &erasure.erasure_id)]));
    }
    Ok(())
}

/// Runs `leadflow erasure show`.
pub async fn show(context: &Context, args: ErasureShowArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let mut activity = ActivityServiceClient::new(context.channel(Service::Activity).await?);
    let get_request = if args.lead {
        GetErasureRequest { lead_id: args.id, ..GetErasureRequest::default() }
    } else {
        GetErasureRequest { erasure_id: args.id, ..GetErasureRequest::default() }
    };
    let erasure = get_erasure(&mut activity, get_request, lang).await?;

    if context.json {
        print_json(&erasure_json(&erasure));
    } else {
        print_erasure(&erasure, lang);
    }
    Ok(())
}

async fn get_erasure(
    activity: &mut ActivityServiceClient<ClientChannel>,
    get_request: GetErasureRequest,
    lang: Lang,
) -> Result<Erasure, CliError> {
    Ok(activity
        .get_erasure(request(get_request, lang))
        .await
        .map_err(|status| CliError::from_status("GetErasure", &status))?
        .into_inner()
        .erasure
        .unwrap_or_default())
}

/// Reads the erasure until both confirmations are in or `limit` has passed, and returns its
/// last state. The progress line is drawn only when standard error is a terminal.
async fn wait_for_confirmations(
    activity: &mut ActivityServiceClient<ClientChannel>,
    mut erasure: Erasure,
    limit: Duration,
    lang: Lang,
) -> Result<Erasure, CliError> {
    let show_progress = std::io::stderr().is_terminal();
    let started = tokio::time::Instant::now();

    loop {
        if show_progress {
            let line = Text::EraseProgress.fill(
                lang,
                &[
                    ("scoring", &confirmation_word(erasure.scoring_erase_time.is_some(), lang)),
                    ("qualification", &confirmation_word(erasure.qualification_erase_time.is_some(), lang)),
                    ("seconds", &started.elapsed().as_secs()),
                ],
            );
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        }
        if is_complete(&erasure) || started.elapsed() >= limit {
            break;
        }

        tokio::time::sleep(POLL_INTERVAL).await;
        let get_request = GetErasureRequest { erasure_id: erasure.erasure_id.clone(), ..GetErasureRequest::default() };
        erasure = get_erasure(activity, get_request, lang).await?;
    }

    if show_progress {
        eprintln!();
    }
    Ok(erasure)
}

fn is_complete(erasure: &Erasure) -> bool {
    erasure.state == ErasureState::Completed as i32
}

fn confirmation_word(confirmed: bool, lang: Lang) -> String {
    if confirmed { Text::ErasureConfirmedWord } else { Text::ErasureWaitingWord }.get(lang).to_owned()
}

fn state_text(erasure: &Erasure) -> Text {
    match ErasureState::try_from(erasure.state) {
        Ok(ErasureState::Completed) => Text::ErasureStateCompleted,
        Ok(ErasureState::Pending) => Text::ErasureStatePending,
        Ok(ErasureState::Unspecified) | Err(_) => Text::Unknown,
    }
}

fn print_erasure(erasure: &Erasure, lang: Lang) {
    let waiting = Text::ErasureWaitingWord.get(lang);
    let time_or_waiting = |value: Option<&prost_types::Timestamp>| match value {
        Some(value) => timestamp(Some(value)),
        None => waiting.to_owned(),
    };
    let fields = [
        (Text::LabelErasureId, erasure.erasure_id.clone()),
        (Text::LabelLeadId, erasure.lead_id.clone()),
        (Text::LabelErasureState, state_text(erasure).get(lang).to_owned()),
        (Text::LabelActivityErased, timestamp(erasure.activity_erase_time.as_ref())),
        (Text::LabelScoringErased, time_or_waiting(erasure.scoring_erase_time.as_ref())),
        (Text::LabelQualificationErased, time_or_waiting(erasure.qualification_erase_time.as_ref())),
        (Text::LabelErasureCompleted, time_or_waiting(erasure.complete_time.as_ref())),
    ];
    print_fields(&fields, lang);
}

fn erasure_json(erasure: &Erasure) -> serde_json::Value {
    let state = match ErasureState::try_from(erasure.state) {
        Ok(ErasureState::Completed) => "completed",
        Ok(ErasureState::Pending) => "pending",
        Ok(ErasureState::Unspecified) | Err(_) => "unspecified",
    };
    json!({
        "erasure_id": erasure.erasure_id,
        "lead_id": erasure.lead_id,
        "state": state,
        "activity_erase_time": timestamp_json(erasure.activity_erase_time.as_ref()),
        "scoring_erase_time": timestamp_json(erasure.scoring_erase_time.as_ref()),
        "qualification_erase_time": timestamp_json(erasure.qualification_erase_time.as_ref()),
        "complete_time": timestamp_json(erasure.complete_time.as_ref()),
    })
}
