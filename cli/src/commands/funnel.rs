//! `leadflow funnel`: the funnel report in unique leads.

use leadflow_proto::qualification::GetFunnelRequest;
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use serde_json::json;

use super::print_json;
use crate::Context;
use crate::args::FunnelArgs;
use crate::errors::{CliError, Service, request};
use crate::format::{count, percent, print_table, ratio};
use crate::i18n::{Lang, Text};

/// Returns the people-facing name of a funnel stage as the service names it.
fn stage_name(stage: &str, lang: Lang) -> String {
    match stage {
        "lead" => "Lead".to_owned(),
        "mql" => "MQL".to_owned(),
        "sql" => "SQL".to_owned(),
        "won" => Text::StateWon.get(lang).to_owned(),
        other => other.to_owned(),
    }
}

/// Runs `leadflow funnel`.
pub async fn run(context: &Context, args: FunnelArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let message = GetFunnelRequest {
        start_date: args.from.clone().unwrap_or_default(),
        end_date: args.to.clone().unwrap_or_default(),
        time_zone: args.time_zone.clone().unwrap_or_default(),
    };

    let mut client = QualificationServiceClient::new(context.channel(Service::Qualification).await?);
    let funnel = client
        .get_funnel(request(message, lang))
        .await
        .map_err(|status| CliError::from_status("GetFunnel", &status))?
        .into_inner();

    if context.json {
        let stages: Vec<_> = funnel
            .stages
            .iter()
            .map(|stage| {
                json!({
                    "stage": stage.stage,
                    "lead_count": stage.lead_count,
                    "conversion_from_previous": stage.conversion_from_previous,
                    "conversion_from_lead": stage.conversion_from_lead,
                })
            })
            .collect();
        print_json(&json!({
            "time_zone": funnel.time_zone,
            "stages": stages,
            "imported_won_count": funnel.imported_won_count,
            "imported_won_mql_count": funnel.imported_won_mql_count,
            "imported_outcome_count": funnel.imported_outcome_count,
            "mql_with_imported_outcome_count": funnel.mql_with_imported_outcome_count,
        }));
        return Ok(());
    }

    let zone = if funnel.time_zone.is_empty() { "UTC".to_owned() } else { funnel.time_zone.clone() };
    println!("{}", Text::FunnelTitle.fill(lang, &[("zone", &zone)]));
    if args.from.is_some() || args.to.is_some() {
        let from = args.from.unwrap_or_else(|| Text::FunnelOpenStart.get(lang).to_owned());
        let to = args.to.unwrap_or_else(|| Text::FunnelOpenEnd.get(lang).to_owned());
        println!("{}", Text::FunnelPeriod.fill(lang, &[("from", &from), ("to", &to)]));
    }
    println!();

    let rows: Vec<Vec<String>> = funnel
        .stages
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            let from_previous = if index == 0 { String::new() } else { percent(stage.conversion_from_previous, lang) };
            vec![
                stage_name(&stage.stage, lang),
                count(stage.lead_count, lang),
                from_previous,
                percent(stage.conversion_from_lead, lang),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderStage.get(lang),
            Text::HeaderUniqueLeads.get(lang),
            Text::HeaderFromPrevious.get(lang),
            Text::HeaderFromLeads.get(lang),
        ],
        &rows,
    );

    if funnel.imported_outcome_count > 0 {
        let leads = funnel.stages.iter().find(|stage| stage.stage == "lead").map(|stage| stage.lead_count).unwrap_or(0);
        println!();
        println!(
            "{}",
            Text::FunnelImported.fill(
                lang,
                &[
                    ("won", &count(funnel.imported_won_count, lang)),
                    ("leads", &count(leads, lang)),
                    ("share", &percent(ratio(funnel.imported_won_count, leads), lang)),
                    ("won_mql", &count(funnel.imported_won_mql_count, lang)),
                ],
            )
        );
        println!(
            "{}",
            Text::FunnelImportedMql.fill(
                lang,
                &[
                    ("mqls", &count(funnel.mql_with_imported_outcome_count, lang)),
                    ("won_mql", &count(funnel.imported_won_mql_count, lang)),
                    ("share", &percent(ratio(funnel.imported_won_mql_count, funnel.mql_with_imported_outcome_count), lang)),
                ],
            )
        );
    }
    Ok(())
}
