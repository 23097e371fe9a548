//! `leadflow report` prints how well model versions rank the leads whose outcome is known,
//! as text, JSON or an SVG chart. `leadflow model fit` fits a points model to those outcomes
//! and stores it as a draft.

use std::fmt::Write as _;
use std::path::Path;

use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::scoring::{
    FitScoringModelRequest, FitScoringModelResponse, GetModelQualityRequest, LeadSplit, ModelQuality,
};
use serde_json::json;

use super::print_json;
use crate::Context;
use crate::args::{ModelFitArgs, ReportArgs, SplitArg};
use crate::errors::{CliError, Service, request};
use crate::format::{count, percent, print_table};
use crate::i18n::{Lang, Text};

/// Features listed by `leadflow model fit` in text output.
const FEATURES_SHOWN: usize = 15;

/// Writes `value` with `digits` decimals and the decimal mark of `lang`.
pub fn decimal(value: f64, digits: usize, lang: Lang) -> String {
    let text = format!("{value:.digits$}");
    match lang {
        Lang::En => text,
        Lang::Ro => text.replace('.', ","),
    }
}

fn split_of(arg: SplitArg) -> LeadSplit {
    match arg {
        SplitArg::All => LeadSplit::All,
        SplitArg::Training => LeadSplit::Training,
        SplitArg::Holdout => LeadSplit::Holdout,
    }
}

fn split_name(split: i32, lang: Lang) -> &'static str {
    match LeadSplit::try_from(split) {
        Ok(LeadSplit::Training) => Text::SplitTraining.get(lang),
        Ok(LeadSplit::Holdout) => Text::SplitHoldout.get(lang),
        _ => Text::SplitAll.get(lang),
    }
}

/// Runs `leadflow report`.
pub async fn report(context: &Context, args: ReportArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let versions = if args.versions.is_empty() { vec![0] } else { args.versions.clone() };
    let mut client = ScoringServiceClient::new(context.channel(Service::Scoring).await?);

    let mut reports = Vec::with_capacity(versions.len());
    for version in versions {
        let message = GetModelQualityRequest {
            model_id: args.model_id.clone(),
            version,
            model: None,
            split: split_of(args.split) as i32,
            seed: args.seed,
            holdout_fraction: args.holdout,
        };
        let quality = client
            .get_model_quality(request(message, lang))
            .await
            .map_err(|status| CliError::from_status("GetModelQuality", &status))?
            .into_inner()
            .quality
            .unwrap_or_default();
        reports.push(quality);
    }

    if let Some(path) = &args.svg {
        write_svg(path, &reports, lang)?;
    }
    if context.json {
        print_json(&json!({ "reports": reports.iter().map(quality_json).collect::<Vec<_>>() }));
        return Ok(());
    }

    if reports.len() > 1 {
        print_comparison(&reports, lang);
        println!();
    }
    for (index, quality) in reports.iter().enumerate() {
        if index > 0 {
            println!();
        }
        print_quality(quality, lang);
    }
    if let Some(path) = &args.svg {
        println!();
        println!("{}", Text::QualitySvgWritten.fill(lang, &[("path", &path.display())]));
    }
    Ok(())
}

fn write_svg(path: &Path, reports: &[ModelQuality], lang: Lang) -> Result<(), CliError> {
    std::fs::write(path, render_svg(reports, lang))
        .map_err(|error| CliError::new(Text::WriteFileFailed).arg("path", path.display()).arg("error", error))
}

fn version_label(quality: &ModelQuality, lang: Lang) -> String {
    Text::QualityVersionLabel.fill(lang, &[("version", &quality.version)])
}

fn print_comparison(reports: &[ModelQuality], lang: Lang) {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|quality| {
            let metrics = quality.threshold_metrics.unwrap_or_default();
            vec![
                version_label(quality, lang),
                count(quality.lead_count, lang),
                decimal(quality.roc_auc, 3, lang),
                quality.mql_threshold.to_string(),
                percent(metrics.precision, lang),
                percent(metrics.recall, lang),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderModel.get(lang),
            Text::HeaderLeads.get(lang),
            "ROC AUC",
            Text::HeaderThreshold.get(lang),
            Text::HeaderPrecision.get(lang),
            Text::HeaderRecall.get(lang),
        ],
        &rows,
    );
}

fn print_quality(quality: &ModelQuality, lang: Lang) {
    let metrics = quality.threshold_metrics.unwrap_or_default();
    println!(
        "{}",
        Text::QualityTitle.fill(lang, &[("id", &quality.model_id), ("version", &quality.version), ("split", &split_name(quality.split, lang))])
    );
    if quality.lead_count == 0 {
        println!("{}", Text::QualityNoOutcomes.get(lang));
        return;
    }

    let won = quality.converted_count;
    let rows = vec![
        vec![Text::QualityLeadsWithOutcome.get(lang).to_owned(), count(quality.lead_count, lang)],
        vec![
            Text::QualityBaseRate.get(lang).to_owned(),
            Text::QualityShareOf.fill(
                lang,
                &[("share", &percent(quality.base_rate, lang)), ("part", &count(won, lang)), ("whole", &count(quality.lead_count, lang))],
            ),
        ],
        vec!["ROC AUC".to_owned(), decimal(quality.roc_auc, 3, lang)],
        vec![
            Text::LabelThreshold.get(lang).to_owned(),
            Text::QualityThresholdValue.fill(lang, &[("threshold", &quality.mql_threshold), ("fit", &quality.min_fit_score)]),
        ],
        vec![
            Text::QualityPrecision.get(lang).to_owned(),
            Text::QualityShareOf.fill(
                lang,
                &[
                    ("share", &percent(metrics.precision, lang)),
                    ("part", &count(metrics.true_positive_count, lang)),
                    ("whole", &count(metrics.predicted_positive_count, lang)),
                ],
            ),
        ],
        vec![
            Text::QualityRecall.get(lang).to_owned(),
            Text::QualityShareOf.fill(
                lang,
                &[
                    ("share", &percent(metrics.recall, lang)),
                    ("part", &count(metrics.true_positive_count, lang)),
                    ("whole", &count(won, lang)),
                ],
            ),
        ],
        vec!["F1".to_owned(), decimal(metrics.f1, 3, lang)],
    ];
    let width = rows.iter().map(|row| row[0].chars().count()).max().unwrap_or(0);
    for row in rows {
        let padding = " ".repeat(width - row[0].chars().count());
        println!("  {}{padding}  {}", row[0], row[1]);
    }

    println!();
    println!("{}", Text::QualityDecilesTitle.get(lang));
    let rows: Vec<Vec<String>> = quality
        .deciles
        .iter()
        .map(|row| {
            vec![
                row.decile.to_string(),
                format!("{} – {}", row.min_score, row.max_score),
                count(row.lead_count, lang),
                count(row.converted_count, lang),
                percent(row.conversion_rate, lang),
                decimal(row.lift, 2, lang),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderDecile.get(lang),
            Text::HeaderScores.get(lang),
            Text::HeaderLeads.get(lang),
            Text::HeaderConverted.get(lang),
            Text::HeaderConversion.get(lang),
            Text::HeaderLift.get(lang),
        ],
        &rows,
    );

    println!();
    println!("{}", Text::QualitySourcesTitle.get(lang));
    let rows: Vec<Vec<String>> = quality
        .sources
        .iter()
        .map(|row| {
            let source = if row.source.is_empty() { Text::NoneValue.get(lang).to_owned() } else { row.source.clone() };
            vec![source, count(row.lead_count, lang), count(row.converted_count, lang), percent(row.conversion_rate, lang), count(row.mql_count, lang)]
        })
        .collect();
    print_table(
        &[
            Text::LabelSource.get(lang),
            Text::HeaderLeads.get(lang),
            Text::HeaderConverted.get(lang),
            Text::HeaderConversion.get(lang),
            "MQL",
        ],
        &rows,
    );
}

/// Returns the JSON form of a quality report.
pub fn quality_json(quality: &ModelQuality) -> serde_json::Value {
    let metrics = quality.threshold_metrics.unwrap_or_default();
    let split = LeadSplit::try_from(quality.split).unwrap_or(LeadSplit::Unspecified);
    json!({
        "model_id": quality.model_id,
        "version": quality.version,
        "split": split.as_str_name().strip_prefix("LEAD_SPLIT_").unwrap_or("UNSPECIFIED").to_ascii_lowercase(),
        "mql_threshold": quality.mql_threshold,
        "min_fit_score": quality.min_fit_score,
        "lead_count": quality.lead_count,
        "converted_count": quality.converted_count,
        "base_rate": quality.base_rate,
        "roc_auc": quality.roc_auc,
        "threshold_metrics": {
            "predicted_positive_count": metrics.predicted_positive_count,
            "true_positive_count": metrics.true_positive_count,
            "precision": metrics.precision,
            "recall": metrics.recall,
            "f1": metrics.f1,
            "false_positive_rate": metrics.false_positive_rate,
        },
        "deciles": quality.deciles.iter().map(|row| json!({
            "decile": row.decile,
            "min_score": row.min_score,
            "max_score": row.max_score,
            "lead_count": row.lead_count,
            "converted_count": row.converted_count,
            "conversion_rate": row.conversion_rate,
            "lift": row.lift,
        })).collect::<Vec<_>>(),
        "sources": quality.sources.iter().map(|row| json!({
            "source": row.source,
            "lead_count": row.lead_count,
            "converted_count": row.converted_count,
            "conversion_rate": row.conversion_rate,
            "mql_count": row.mql_count,
        })).collect::<Vec<_>>(),
        "roc_curve": quality.roc_curve.iter().map(|point| json!({
            "threshold": point.threshold,
            "false_positive_rate": point.false_positive_rate,
            "true_positive_rate": point.true_positive_rate,
        })).collect::<Vec<_>>(),
    })
}

/// Escapes text for SVG character data and attribute values.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Colours of the series, one per report in order; repeats after the last.
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Renders the reports as one SVG image: lift per score decile as grouped bars on the left,
/// the ROC curves as polylines on the right, with axis labels in `lang`.
pub fn render_svg(reports: &[ModelQuality], lang: Lang) -> String {
    const WIDTH: f64 = 1000.0;
    const HEIGHT: f64 = 470.0;
    const TOP: f64 = 60.0;
    const PLOT: f64 = 320.0;
    const LIFT_LEFT: f64 = 70.0;
    const LIFT_WIDTH: f64 = 420.0;
    const ROC_LEFT: f64 = 620.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#, WIDTH / 2.0, xml_escape(Text::SvgTitle.get(lang)));

    // Lift bars: one group per decile, one bar per report.
    let max_lift = reports.iter().flat_map(|quality| quality.deciles.iter().map(|row| row.lift)).fold(1.0_f64, f64::max).ceil();
    let bottom = TOP + PLOT;
    let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, LIFT_LEFT + LIFT_WIDTH / 2.0, TOP - 10.0, xml_escape(Text::SvgLiftTitle.get(lang)));
    let _ = writeln!(svg, r##"<line x1="{LIFT_LEFT}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="#333"/>"##, LIFT_LEFT + LIFT_WIDTH);
    let _ = writeln!(svg, r##"<line x1="{LIFT_LEFT}" y1="{TOP}" x2="{LIFT_LEFT}" y2="{bottom}" stroke="#333"/>"##);
    let steps = max_lift as i64;
    for step in 0..=steps {
        let y = bottom - PLOT * step as f64 / max_lift;
        let _ = writeln!(svg, r##"<text x="{}" y="{}" text-anchor="end">{step}</text>"##, LIFT_LEFT - 6.0, y + 4.0);
        let _ = writeln!(svg, r##"<line x1="{LIFT_LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>"##, LIFT_LEFT + LIFT_WIDTH);
    }
    let base_y = bottom - PLOT / max_lift;
    let _ = writeln!(svg, r##"<line x1="{LIFT_LEFT}" y1="{base_y}" x2="{}" y2="{base_y}" stroke="#888" stroke-dasharray="4 3"/>"##, LIFT_LEFT + LIFT_WIDTH);
    let group = LIFT_WIDTH / 10.0;
    let bar = (group - 6.0) / reports.len().max(1) as f64;
    for decile in 1..=10 {
        let x = LIFT_LEFT + group * (decile as f64 - 1.0);
        let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{decile}</text>"#, x + group / 2.0, bottom + 16.0);
        for (index, quality) in reports.iter().enumerate() {
            let Some(row) = quality.deciles.iter().find(|row| row.decile == decile) else {
                continue;
            };
            let height = PLOT * row.lift / max_lift;
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
                x + 3.0 + bar * index as f64,
                bottom - height,
                bar,
                height,
                COLOURS[index % COLOURS.len()],
                xml_escape(&format!("{}: {}", version_label(quality, lang), decimal(row.lift, 2, lang))),
            );
        }
    }
    let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, LIFT_LEFT + LIFT_WIDTH / 2.0, bottom + 36.0, xml_escape(Text::SvgDecileAxis.get(lang)));
    let _ = writeln!(
        svg,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        LIFT_LEFT - 40.0,
        TOP + PLOT / 2.0,
        xml_escape(Text::SvgLiftAxis.get(lang))
    );

    // ROC curves on a square plot with the diagonal of a random ranking.
    let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, ROC_LEFT + PLOT / 2.0, TOP - 10.0, xml_escape(Text::SvgRocTitle.get(lang)));
    let _ = writeln!(svg, r##"<rect x="{ROC_LEFT}" y="{TOP}" width="{PLOT}" height="{PLOT}" fill="none" stroke="#333"/>"##);
    let _ = writeln!(svg, r##"<line x1="{ROC_LEFT}" y1="{bottom}" x2="{}" y2="{TOP}" stroke="#888" stroke-dasharray="4 3"/>"##, ROC_LEFT + PLOT);
    for tick in 0..=5 {
        let share = tick as f64 / 5.0;
        let label = decimal(share, 1, lang);
        let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{label}</text>"#, ROC_LEFT + PLOT * share, bottom + 16.0);
        let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#, ROC_LEFT - 6.0, bottom - PLOT * share + 4.0);
    }
    for (index, quality) in reports.iter().enumerate() {
        let points: Vec<String> = quality
            .roc_curve
            .iter()
            .map(|point| format!("{:.1},{:.1}", ROC_LEFT + PLOT * point.false_positive_rate, bottom - PLOT * point.true_positive_rate))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
            points.join(" "),
            COLOURS[index % COLOURS.len()]
        );
    }
    let _ = writeln!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, ROC_LEFT + PLOT / 2.0, bottom + 36.0, xml_escape(Text::SvgFprAxis.get(lang)));
    let _ = writeln!(
        svg,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        ROC_LEFT - 40.0,
        TOP + PLOT / 2.0,
        xml_escape(Text::SvgTprAxis.get(lang))
    );

    // Legend: one line per report with its AUC.
    for (index, quality) in reports.iter().enumerate() {
        let y = bottom + 60.0 + 16.0 * index as f64;
        let _ = writeln!(svg, r#"<rect x="{LIFT_LEFT}" y="{}" width="12" height="12" fill="{}"/>"#, y - 10.0, COLOURS[index % COLOURS.len()]);
        let label = Text::SvgLegend.fill(
            lang,
            &[
                ("model", &version_label(quality, lang)),
                ("auc", &decimal(quality.roc_auc, 3, lang)),
                ("leads", &count(quality.lead_count, lang)),
                ("split", &split_name(quality.split, lang)),
            ],
        );
        let _ = writeln!(svg, r#"<text x="{}" y="{y}">{}</text>"#, LIFT_LEFT + 18.0, xml_escape(&label));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Runs `leadflow model fit`.
pub async fn fit(context: &Context, args: ModelFitArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let message = FitScoringModelRequest {
        model_id: args.model_id.clone(),
        seed: args.seed,
        holdout_fraction: args.holdout,
        l2_penalty: args.l2,
        request_id: String::new(),
    };
    let mut client = ScoringServiceClient::new(context.channel(Service::Scoring).await?);
    let response = client
        .fit_scoring_model(request(message, lang))
        .await
        .map_err(|status| CliError::from_status("FitScoringModel", &status))?
        .into_inner();

    if context.json {
        print_json(&fit_json(&response));
    } else {
        print_fit(&response, lang);
    }
    Ok(())
}

fn fit_json(response: &FitScoringModelResponse) -> serde_json::Value {
    let model = response.model.clone().unwrap_or_default();
    json!({
        "model_id": model.model_id,
        "version": model.version,
        "description": model.description,
        "mql_threshold": model.mql_threshold,
        "training": response.training.as_ref().map(quality_json),
        "holdout": response.holdout.as_ref().map(quality_json),
        "holdout_auc_unrounded": response.holdout_auc_unrounded,
        "features": response.features.iter().map(|feature| json!({
            "rule_id": feature.rule_id,
            "description": feature.description,
            "coefficient": feature.coefficient,
            "points": feature.points,
            "support": feature.support,
        })).collect::<Vec<_>>(),
        "problems": response.problems.iter().map(|problem| json!({
            "field": problem.field,
            "description": problem.description,
        })).collect::<Vec<_>>(),
    })
}

fn print_fit(response: &FitScoringModelResponse, lang: Lang) {
    let model = response.model.clone().unwrap_or_default();
    let training = response.training.clone().unwrap_or_default();
    let holdout = response.holdout.clone().unwrap_or_default();
    println!("{}", Text::FitStored.fill(lang, &[("version", &model.version), ("id", &model.model_id)]));
    println!();

    let metrics = |quality: &ModelQuality| quality.threshold_metrics.unwrap_or_default();
    let rows = vec![
        vec![Text::HeaderLeads.get(lang).to_owned(), count(training.lead_count, lang), count(holdout.lead_count, lang)],
        vec!["ROC AUC".to_owned(), decimal(training.roc_auc, 3, lang), decimal(holdout.roc_auc, 3, lang)],
        vec![Text::HeaderPrecision.get(lang).to_owned(), percent(metrics(&training).precision, lang), percent(metrics(&holdout).precision, lang)],
        vec![Text::HeaderRecall.get(lang).to_owned(), percent(metrics(&training).recall, lang), percent(metrics(&holdout).recall, lang)],
    ];
    print_table(&["", Text::SplitTraining.get(lang), Text::SplitHoldout.get(lang)], &rows);
    println!();
    println!("{}", Text::FitThreshold.fill(lang, &[("threshold", &model.mql_threshold)]));
    println!("{}", Text::FitUnrounded.fill(lang, &[("auc", &decimal(response.holdout_auc_unrounded, 3, lang))]));

    println!();
    println!("{}", Text::FitFeaturesTitle.fill(lang, &[("count", &FEATURES_SHOWN.min(response.features.len())), ("total", &response.features.len())]));
    let rows: Vec<Vec<String>> = response
        .features
        .iter()
        .take(FEATURES_SHOWN)
        .map(|feature| vec![feature.points.to_string(), feature.description.clone(), count(feature.support, lang)])
        .collect();
    print_table(&[Text::HeaderPoints.get(lang), Text::HeaderFeature.get(lang), Text::HeaderSupport.get(lang)], &rows);

    if !response.problems.is_empty() {
        println!();
        println!("{}", Text::DraftProblems.get(lang));
        for problem in &response.problems {
            println!("  {}: {}", problem.field, problem.description);
        }
    }
    println!();
    println!("{}", Text::FitNext.fill(lang, &[("version", &model.version)]));
}
