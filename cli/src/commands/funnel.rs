//! `leadflow funnel`: the funnel report in the unique-lead view and the event view. It adds
//! breakdowns by source and campaign, the time between stages, the first-touch SLA and the
//! override count, and can write an SVG chart.

use leadflow_proto::qualification::{FunnelBreakdown, FunnelStage, GetFunnelRequest, StageDuration};
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use serde_json::json;

use super::print_json;
use crate::Context;
use crate::args::FunnelArgs;
use crate::errors::{CliError, Service, request};
use crate::format::{count, percent, print_table, ratio};
use crate::i18n::{Lang, Text};

/// Returns the people-facing name of a funnel stage as the service names it.
pub fn stage_name(stage: &str, lang: Lang) -> String {
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

    if let Some(path) = &args.svg {
        let svg = super::funnel_svg::render(&funnel, lang);
        std::fs::write(path, svg)
            .map_err(|error| CliError::new(Text::WriteFileFailed).arg("path", path.display()).arg("error", error))?;
        if !context.json {
            println!("{}", Text::SvgWritten.fill(lang, &[("path", &path.display())]));
        }
    }

    if context.json {
        let stages = |stages: &[FunnelStage]| -> Vec<serde_json::Value> {
            stages
                .iter()
                .map(|stage| {
                    json!({
                        "stage": stage.stage,
                        "lead_count": stage.lead_count,
                        "conversion_from_previous": stage.conversion_from_previous,
                        "conversion_from_lead": stage.conversion_from_lead,
                    })
                })
                .collect()
        };
        print_json(&json!({
            "time_zone": funnel.time_zone,
            "unique_lead_view": stages(&funnel.stages),
            "event_view": stages(&funnel.event_stages),
            "stages": stages(&funnel.stages),
            "sources": breakdown_json(&funnel.sources),
            "campaigns": breakdown_json(&funnel.campaigns),
            "mql_to_sql": duration_json(funnel.mql_to_sql.as_ref()),
            "sql_to_won": duration_json(funnel.sql_to_won.as_ref()),
            "sla_met_count": funnel.sla_met_count,
            "sla_missed_count": funnel.sla_missed_count,
            "sla_hit_rate": funnel.sla_hit_rate,
            "override_count": funnel.override_count,
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

    println!("{}", Text::FunnelUniqueView.get(lang));
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

    println!();
    println!("{}", Text::FunnelEventView.get(lang));
    let rows: Vec<Vec<String>> = funnel
        .event_stages
        .iter()
        .enumerate()
        .map(|(index, stage)| {
            let from_previous = if index == 0 { String::new() } else { percent(stage.conversion_from_previous, lang) };
            vec![stage_name(&stage.stage, lang), count(stage.lead_count, lang), from_previous]
        })
        .collect();
    print_table(
        &[Text::HeaderStage.get(lang), Text::HeaderEntries.get(lang), Text::HeaderFromPrevious.get(lang)],
        &rows,
    );

    println!();
    println!("{}", Text::FunnelStageTimes.get(lang));
    let rows = vec![
        duration_row("MQL → SQL".to_owned(), funnel.mql_to_sql.as_ref(), lang),
        duration_row(format!("SQL → {}", stage_name("won", lang)), funnel.sql_to_won.as_ref(), lang),
    ];
    print_table(
        &[Text::HeaderPassage.get(lang), Text::HeaderCount.get(lang), Text::HeaderMedian.get(lang), Text::HeaderP90.get(lang)],
        &rows,
    );

    println!();
    println!(
        "{}",
        Text::FunnelSla.fill(
            lang,
            &[
                ("met", &count(funnel.sla_met_count, lang)),
                ("missed", &count(funnel.sla_missed_count, lang)),
                ("rate", &percent(funnel.sla_hit_rate, lang)),
            ],
        )
    );
    println!("{}", Text::FunnelOverrides.fill(lang, &[("count", &count(funnel.override_count, lang))]));

    for (title, rows) in [(Text::FunnelBySource, &funnel.sources), (Text::FunnelByCampaign, &funnel.campaigns)] {
        println!();
        println!("{}", title.get(lang));
        print_breakdown(rows, lang);
    }

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

fn breakdown_json(rows: &[FunnelBreakdown]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|row| {
            json!({
                "key": row.key,
                "lead_count": row.lead_count,
                "mql_count": row.mql_count,
                "sql_count": row.sql_count,
                "won_count": row.won_count,
                "mql_rate": row.mql_rate,
                "sql_rate": row.sql_rate,
                "won_rate": row.won_rate,
            })
        })
        .collect()
}

fn duration_json(duration: Option<&StageDuration>) -> serde_json::Value {
    let duration = duration.cloned().unwrap_or_default();
    json!({
        "sample_count": duration.sample_count,
        "median_seconds": duration.median.map(|value| value.seconds),
        "p90_seconds": duration.p90.map(|value| value.seconds),
    })
}

fn print_breakdown(rows: &[FunnelBreakdown], lang: Lang) {
    let none = Text::NoneValue.get(lang);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                if row.key.is_empty() { none.to_owned() } else { row.key.clone() },
                count(row.lead_count, lang),
                count(row.mql_count, lang),
                count(row.sql_count, lang),
                count(row.won_count, lang),
                percent(row.mql_rate, lang),
                percent(row.sql_rate, lang),
                percent(row.won_rate, lang),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderKey.get(lang),
            "Lead",
            "MQL",
            "SQL",
            Text::StateWon.get(lang),
            Text::HeaderMqlRate.get(lang),
            Text::HeaderSqlRate.get(lang),
            Text::HeaderWonRate.get(lang),
        ],
        &table,
    );
}

fn duration_row(label: String, duration: Option<&StageDuration>, lang: Lang) -> Vec<String> {
    let duration = duration.cloned().unwrap_or_default();
    let text = |value: Option<prost_types::Duration>| value.map(|value| format_duration(value.seconds, lang)).unwrap_or_default();
    vec![label, count(duration.sample_count, lang), text(duration.median), text(duration.p90)]
}

/// Writes a number of seconds as days and hours, hours and minutes, or seconds: "2 d 4 h" in
/// English, "2 z 4 h" in Romanian.
pub fn format_duration(seconds: i64, lang: Lang) -> String {
    let day_unit = match lang {
        Lang::En => "d",
        Lang::Ro => "z",
    };
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let minutes = rest / 60;
    if days > 0 {
        format!("{days} {day_unit} {hours} h")
    } else if hours > 0 {
        format!("{hours} h {minutes} min")
    } else if minutes > 0 {
        format!("{minutes} min")
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_two_units() {
        assert_eq!(format_duration(2 * 86_400 + 4 * 3600 + 59, Lang::En), "2 d 4 h");
        assert_eq!(format_duration(2 * 86_400, Lang::Ro), "2 z 0 h");
        assert_eq!(format_duration(3 * 3600 + 120, Lang::En), "3 h 2 min");
        assert_eq!(format_duration(42, Lang::En), "42 s");
    }
}
