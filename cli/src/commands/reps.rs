//! `leadflow reps list|add|update` and `leadflow assign`: the sales reps and manual
//! assignment.

use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::qualification::{AssignLeadRequest, CreateRepRequest, ListRepsRequest, Rep, UpdateRepRequest};
use serde_json::json;

use super::print_json;
use crate::Context;
use crate::args::{AssignArgs, RepArgs, RepUpdateArgs, RepsCommand};
use crate::errors::{CliError, ClientChannel, Service, request};
use crate::format::{count, print_table};
use crate::i18n::Text;

async fn client(context: &Context) -> Result<QualificationServiceClient<ClientChannel>, CliError> {
    Ok(QualificationServiceClient::new(context.channel(Service::Qualification).await?))
}

fn rep_json(rep: &Rep) -> serde_json::Value {
    json!({
        "rep_id": rep.rep_id,
        "display_name": rep.display_name,
        "active": rep.active,
        "capacity": rep.capacity,
        "open_lead_count": rep.open_lead_count,
        "countries": rep.countries,
        "segments": rep.segments,
        "time_zone": rep.time_zone,
    })
}

/// Runs a `leadflow reps` subcommand.
pub async fn run(context: &Context, command: RepsCommand) -> anyhow::Result<()> {
    match command {
        RepsCommand::List => list(context).await,
        RepsCommand::Add(args) => add(context, args).await,
        RepsCommand::Update(args) => update(context, args).await,
    }
}

async fn list(context: &Context) -> anyhow::Result<()> {
    let lang = context.lang;
    let mut client = client(context).await?;
    let mut reps = Vec::new();
    let mut page_token = String::new();
    loop {
        let message = ListRepsRequest { page_size: 1000, page_token: page_token.clone() };
        let page = client
            .list_reps(request(message, lang))
            .await
            .map_err(|status| CliError::from_status("ListReps", &status))?
            .into_inner();
        reps.extend(page.reps);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }

    if context.json {
        print_json(&json!({ "reps": reps.iter().map(rep_json).collect::<Vec<_>>() }));
        return Ok(());
    }
    if reps.is_empty() {
        println!("{}", Text::RepsEmpty.get(lang));
        return Ok(());
    }
    let everywhere = Text::RepCoversAll.get(lang);
    let list_or_all = |values: &[String]| if values.is_empty() { everywhere.to_owned() } else { values.join(", ") };
    let rows: Vec<Vec<String>> = reps
        .iter()
        .map(|rep| {
            vec![
                rep.rep_id.clone(),
                rep.display_name.clone(),
                if rep.active { Text::Yes.get(lang).to_owned() } else { Text::No.get(lang).to_owned() },
                format!("{}/{}", count(i64::from(rep.open_lead_count), lang), count(i64::from(rep.capacity), lang)),
                list_or_all(&rep.countries),
                list_or_all(&rep.segments),
                rep.time_zone.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderRep.get(lang),
            Text::HeaderName.get(lang),
            Text::HeaderActive.get(lang),
            Text::HeaderOpenOfCapacity.get(lang),
            Text::HeaderCountries.get(lang),
            Text::HeaderSegments.get(lang),
            Text::HeaderTimeZone.get(lang),
        ],
        &rows,
    );
    Ok(())
}

fn print_rep(context: &Context, text: Text, rep: Option<Rep>) {
    let rep = rep.unwrap_or_default();
    if context.json {
        print_json(&rep_json(&rep));
    } else {
        println!("{}", text.fill(context.lang, &[("id", &rep.rep_id), ("capacity", &rep.capacity)]));
    }
}

async fn add(context: &Context, args: RepArgs) -> anyhow::Result<()> {
    let rep = Rep {
        rep_id: args.rep_id,
        display_name: args.name.unwrap_or_default(),
        active: !args.inactive,
        capacity: args.capacity,
        countries: args.countries,
        segments: args.segments,
        time_zone: args.time_zone.unwrap_or_default(),
        ..Rep::default()
    };
    let message = CreateRepRequest { rep: Some(rep), request_id: String::new() };
    let response = client(context)
        .await?
        .create_rep(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("CreateRep", &status))?
        .into_inner();
    print_rep(context, Text::RepAdded, response.rep);
    Ok(())
}

async fn update(context: &Context, args: RepUpdateArgs) -> anyhow::Result<()> {
    let mut paths = Vec::new();
    let mut rep = Rep { rep_id: args.rep_id, ..Rep::default() };
    if let Some(name) = args.name {
        rep.display_name = name;
        paths.push("display_name");
    }
    if let Some(capacity) = args.capacity {
        rep.capacity = capacity;
        paths.push("capacity");
    }
    if let Some(active) = args.active {
        rep.active = active;
        paths.push("active");
    }
    if !args.countries.is_empty() || args.clear_countries {
        rep.countries = args.countries;
        paths.push("countries");
    }
    if !args.segments.is_empty() || args.clear_segments {
        rep.segments = args.segments;
        paths.push("segments");
    }
    if let Some(zone) = args.time_zone {
        rep.time_zone = zone;
        paths.push("time_zone");
    }
    if paths.is_empty() {
        return Err(CliError::new(Text::RepNothingToUpdate).into());
    }

    let mask = prost_types::FieldMask { paths: paths.into_iter().map(str::to_owned).collect() };
    let message = UpdateRepRequest { rep: Some(rep), update_mask: Some(mask), request_id: String::new() };
    let response = client(context)
        .await?
        .update_rep(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("UpdateRep", &status))?
        .into_inner();
    print_rep(context, Text::RepUpdated, response.rep);
    Ok(())
}

/// Runs `leadflow assign`.
pub async fn assign(context: &Context, args: AssignArgs) -> anyhow::Result<()> {
    let message = AssignLeadRequest {
        lead_id: args.lead_id,
        rep_id: args.rep_id,
        actor: args.actor.unwrap_or_default(),
        request_id: String::new(),
    };
    let response = client(context)
        .await?
        .assign_lead(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("AssignLead", &status))?
        .into_inner();
    let qualification = response.qualification.unwrap_or_default();
    if context.json {
        print_json(&json!({ "lead_id": qualification.lead_id, "assigned_rep_id": qualification.assigned_rep_id }));
    } else {
        println!(
            "{}",
            Text::Assigned.fill(context.lang, &[("id", &qualification.lead_id), ("rep", &qualification.assigned_rep_id)])
        );
    }
    Ok(())
}
