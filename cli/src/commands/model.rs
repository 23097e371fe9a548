//! `leadflow model show | validate | draft | preview | publish`. Model files are read by
//! [`crate::model_file`]; every check of ranges and rule consistency is the scoring service's.

use std::path::Path;

use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::scoring::{
    CreateScoringModelDraftRequest, Decay, FrequencyLimit, GetScoringModelRequest, LimitKind,
    ListScoringModelVersionsRequest, ModelProblem, ModelState, PreviewScoringModelRequest, PreviewScoringModelResponse,
    PublishScoringModelRequest, RuleFilter, ScoringModel, ValidateScoringModelRequest, decay,
};
use serde_json::json;
use tonic_types::StatusExt;

use super::print_json;
use crate::Context;
use crate::activity_type::short_name_of;
use crate::args::{ModelCommand, ModelPreviewArgs, ModelShowArgs, ModelSourceArgs};
use crate::errors::{CliError, ClientChannel, Service, request};
use crate::format::{count, print_table, timestamp, timestamp_json};
use crate::i18n::{Lang, Text};
use crate::model_file::{self, format_duration};

/// Versions read per ListScoringModelVersions call, the service's maximum page size.
const VERSIONS_PAGE_SIZE: i32 = 1000;
/// Versions listed by `model show --versions`.
const VERSIONS_SHOWN: usize = 50;

/// Runs one `leadflow model` subcommand.
pub async fn run(context: &Context, command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Show(args) => show(context, args).await,
        ModelCommand::Validate(args) => validate(context, &args.file).await,
        ModelCommand::Draft(args) => draft(context, &args.file).await,
        ModelCommand::Preview(args) => preview(context, args).await,
        ModelCommand::Publish(args) => publish(context, args).await,
        ModelCommand::Fit(args) => super::report::fit(context, args).await,
    }
}

async fn client(context: &Context) -> Result<ScoringServiceClient<ClientChannel>, CliError> {
    Ok(ScoringServiceClient::new(context.channel(Service::Scoring).await?))
}

/// Runs `leadflow model show`.
async fn show(context: &Context, args: ModelShowArgs) -> anyhow::Result<()> {
    let mut client = client(context).await?;
    if args.versions {
        let response = client
            .list_scoring_model_versions(request(
                ListScoringModelVersionsRequest {
                    model_id: args.model_id.clone(),
                    page_size: VERSIONS_SHOWN as i32,
                    page_token: String::new(),
                },
                context.lang,
            ))
            .await
            .map_err(|status| CliError::from_status("ListScoringModelVersions", &status))?
            .into_inner();
        let more = !response.next_page_token.is_empty();
        if context.json {
            print_json(&json!({
                "versions": response.models.iter().map(model_json).collect::<Vec<_>>(),
                "more": more,
            }));
        } else {
            print_versions(&response.models, more, context.lang);
        }
        return Ok(());
    }

    let model = match args.version {
        Some(version) => find_version(&mut client, &args.model_id, version, context.lang).await?,
        None => client
            .get_scoring_model(request(GetScoringModelRequest { model_id: args.model_id.clone() }, context.lang))
            .await
            .map_err(|status| CliError::from_status("GetScoringModel", &status))?
            .into_inner()
            .model
            .unwrap_or_default(),
    };
    if context.json {
        print_json(&model_json(&model));
    } else {
        print_model(&model, context.lang);
    }
    Ok(())
}

/// Pages through the versions, newest first, until `version` turns up.
async fn find_version(
    client: &mut ScoringServiceClient<ClientChannel>,
    model_id: &str,
    version: i32,
    lang: Lang,
) -> Result<ScoringModel, CliError> {
    let mut page_token = String::new();
    loop {
        let message =
            ListScoringModelVersionsRequest { model_id: model_id.to_owned(), page_size: VERSIONS_PAGE_SIZE, page_token };
        let response = client
            .list_scoring_model_versions(request(message, lang))
            .await
            .map_err(|status| CliError::from_status("ListScoringModelVersions", &status))?
            .into_inner();
        if let Some(model) = response.models.into_iter().find(|model| model.version == version) {
            return Ok(model);
        }
        if response.next_page_token.is_empty() {
            return Err(CliError::new(Text::VersionNotFound).arg("version", version).arg("id", model_id));
        }
        page_token = response.next_page_token;
    }
}

/// Runs `leadflow model validate`: prints every problem and fails when there is one.
async fn validate(context: &Context, path: &Path) -> anyhow::Result<()> {
    let model = model_file::load(path)?;
    let mut client = client(context).await?;
    let result = client.validate_scoring_model(request(ValidateScoringModelRequest { model: Some(model.clone()) }, context.lang)).await;

    let status = match result {
        Ok(_) => {
            if context.json {
                print_json(&json!({ "valid": true, "problems": [] }));
            } else {
                println!("{}", Text::ModelValid.fill(context.lang, &[("path", &path.display())]));
            }
            return Ok(());
        }
        Err(status) => status,
    };

    let problems = violations(&status);
    if status.code() != tonic::Code::InvalidArgument || problems.is_empty() {
        return Err(CliError::from_status("ValidateScoringModel", &status).into());
    }
    if context.json {
        print_json(&json!({ "valid": false, "problems": problems_json(&problems, &model) }));
    } else {
        println!("{}", Text::ModelProblems.get(context.lang));
        print_problems(&problems, &model);
    }
    Err(CliError::new(Text::ModelInvalid).arg("path", path.display()).arg("count", problems.len()).into())
}

/// Returns the field violations of a `BadRequest` detail as model problems.
fn violations(status: &tonic::Status) -> Vec<ModelProblem> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .iter()
                .map(|violation| ModelProblem { field: violation.field.clone(), description: violation.description.clone() })
                .collect()
        })
        .unwrap_or_default()
}

/// Adds the rule id to a field path such as `model.rules[2].points`, because the file names
/// rules by id while the service counts them from 0.
fn field_with_rule_id(field: &str, model: &ScoringModel) -> String {
    let lookup = |prefix: &str, ids: &[&str]| -> Option<String> {
        let rest = field.strip_prefix(prefix)?;
        let (index, _) = rest.split_once(']')?;
        let id = ids.get(index.parse::<usize>().ok()?)?;
        Some(format!("{field} ({id})"))
    };
    let rule_ids: Vec<&str> = model.rules.iter().map(|rule| rule.rule_id.as_str()).collect();
    let fit_ids: Vec<&str> = model.fit_rules.iter().map(|rule| rule.rule_id.as_str()).collect();
    lookup("model.rules[", &rule_ids).or_else(|| lookup("model.fit_rules[", &fit_ids)).unwrap_or_else(|| field.to_owned())
}

fn print_problems(problems: &[ModelProblem], model: &ScoringModel) {
    for problem in problems {
        println!("  {}: {}", field_with_rule_id(&problem.field, model), problem.description);
    }
}

fn problems_json(problems: &[ModelProblem], model: &ScoringModel) -> serde_json::Value {
    problems
        .iter()
        .map(|problem| {
            let rule = field_with_rule_id(&problem.field, model);
            json!({ "field": problem.field, "description": problem.description, "field_with_rule": rule })
        })
        .collect()
}

/// Runs `leadflow model draft`.
async fn draft(context: &Context, path: &Path) -> anyhow::Result<()> {
    let model = model_file::load(path)?;
    let mut client = client(context).await?;
    let message = CreateScoringModelDraftRequest { model: Some(model.clone()), request_id: String::new() };
    let response = client
        .create_scoring_model_draft(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("CreateScoringModelDraft", &status))?
        .into_inner();
    let stored = response.model.unwrap_or_default();

    if context.json {
        print_json(&json!({
            "model_id": stored.model_id,
            "version": stored.version,
            "valid": response.problems.is_empty(),
            "problems": problems_json(&response.problems, &model),
        }));
        return Ok(());
    }

    let lang = context.lang;
    println!("{}", Text::DraftStored.fill(lang, &[("version", &stored.version), ("id", &stored.model_id)]));
    if response.problems.is_empty() {
        println!("{}", Text::DraftValid.fill(lang, &[("version", &stored.version)]));
    } else {
        println!("{}", Text::DraftProblems.get(lang));
        print_problems(&response.problems, &model);
    }
    Ok(())
}

/// Returns the inline model, or `None` with the draft reference left to the caller.
fn source_model(source: &ModelSourceArgs) -> Result<Option<ScoringModel>, CliError> {
    source.file.as_deref().map(model_file::load).transpose()
}

/// Runs `leadflow model preview`.
async fn preview(context: &Context, args: ModelPreviewArgs) -> anyhow::Result<()> {
    let model = source_model(&args.source)?;
    let mut client = client(context).await?;
    let message = PreviewScoringModelRequest {
        model,
        draft_model_id: args.source.model_id.clone().unwrap_or_default(),
        draft_version: args.source.draft.unwrap_or_default(),
        sample_size: args.samples,
    };
    let response = client
        .preview_scoring_model(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("PreviewScoringModel", &status))?
        .into_inner();

    if context.json {
        print_json(&json!({
            "leads_evaluated": response.leads_evaluated,
            "current_mql_count": response.current_mql_count,
            "preview_qualified_count": response.preview_qualified_count,
            "would_become_mql_count": response.would_become_mql_count,
            "would_no_longer_qualify_count": response.would_no_longer_qualify_count,
            "would_become_mql": response.would_become_mql,
            "would_no_longer_qualify": response.would_no_longer_qualify,
        }));
    } else {
        print_preview(&response, context.lang);
    }
    Ok(())
}

fn print_preview(response: &PreviewScoringModelResponse, lang: Lang) {
    println!("{}", Text::PreviewTitle.get(lang));
    let rows = [
        (Text::PreviewEvaluated, response.leads_evaluated),
        (Text::PreviewCurrentMql, response.current_mql_count),
        (Text::PreviewQualified, response.preview_qualified_count),
        (Text::PreviewBecome, response.would_become_mql_count),
        (Text::PreviewNoLonger, response.would_no_longer_qualify_count),
    ];
    let fields: Vec<(Text, String)> = rows.iter().map(|(label, value)| (*label, count(*value, lang))).collect();
    print_fields(&fields, lang);

    for (title, ids) in [
        (Text::PreviewSampleBecome, &response.would_become_mql),
        (Text::PreviewSampleNoLonger, &response.would_no_longer_qualify),
    ] {
        if !ids.is_empty() {
            println!();
            println!("{}", title.get(lang));
            for id in ids {
                println!("  {id}");
            }
        }
    }
}

/// Runs `leadflow model publish`.
async fn publish(context: &Context, source: ModelSourceArgs) -> anyhow::Result<()> {
    let model = source_model(&source)?;
    let mut client = client(context).await?;
    let message = PublishScoringModelRequest {
        model,
        request_id: String::new(),
        draft_model_id: source.model_id.clone().unwrap_or_default(),
        draft_version: source.draft.unwrap_or_default(),
    };
    let model = client
        .publish_scoring_model(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("PublishScoringModel", &status))?
        .into_inner()
        .model
        .unwrap_or_default();

    if context.json {
        print_json(&model_json(&model));
    } else {
        println!("{}", Text::ModelPublished.fill(context.lang, &[("version", &model.version), ("id", &model.model_id)]));
        println!();
        print_model(&model, context.lang);
    }
    Ok(())
}

/// Prints `label: value` lines with the values aligned.
pub(crate) fn print_fields(fields: &[(Text, String)], lang: Lang) {
    let width = fields.iter().map(|(label, _)| label.get(lang).chars().count()).max().unwrap_or(0);
    for (label, value) in fields {
        let label = label.get(lang);
        let padding = " ".repeat(width - label.chars().count());
        println!("{label}:{padding} {value}");
    }
}

fn state_text(state: i32) -> Text {
    match ModelState::try_from(state) {
        Ok(ModelState::Draft) => Text::ModelStateDraft,
        Ok(ModelState::Active) => Text::ModelStateActive,
        Ok(ModelState::Retired) => Text::ModelStateRetired,
        Ok(ModelState::Unspecified) | Err(_) => Text::Unknown,
    }
}

fn state_code(state: i32) -> String {
    ModelState::try_from(state)
        .map(|state| state.as_str_name().trim_start_matches("MODEL_STATE_").to_ascii_lowercase())
        .unwrap_or_else(|_| state.to_string())
}

fn rescore_text(model: &ScoringModel, lang: Lang) -> String {
    match &model.rescore {
        None => Text::RescoreNone.get(lang).to_owned(),
        Some(progress) => {
            let text = if progress.finished { Text::RescoreFinished } else { Text::RescoreRunning };
            text.fill(lang, &[("done", &count(progress.leads_done, lang)), ("total", &count(progress.leads_total, lang))])
        }
    }
}

fn decay_text(decay: Option<&Decay>, lang: Lang) -> String {
    match decay.and_then(|decay| decay.policy.as_ref()) {
        None | Some(decay::Policy::None(_)) => Text::DecayNone.get(lang).to_owned(),
        Some(decay::Policy::HalfLife(duration)) => {
            Text::DecayHalfLife.fill(lang, &[("duration", &format_duration(duration.seconds))])
        }
        Some(decay::Policy::ExpireAfter(duration)) => {
            Text::DecayExpire.fill(lang, &[("duration", &format_duration(duration.seconds))])
        }
    }
}

fn limit_text(limit: Option<&FrequencyLimit>, lang: Lang) -> String {
    let Some(limit) = limit else {
        return Text::LimitEvery.get(lang).to_owned();
    };
    match LimitKind::try_from(limit.kind) {
        Ok(LimitKind::OncePerLead) => Text::LimitOncePerLead.get(lang).to_owned(),
        Ok(LimitKind::OncePerAsset) => Text::LimitOncePerAsset.get(lang).to_owned(),
        Ok(LimitKind::PerWindow) => {
            let window = format_duration(limit.window.as_ref().map(|window| window.seconds).unwrap_or_default());
            Text::LimitPerWindow.fill(lang, &[("max", &limit.max_count), ("window", &window)])
        }
        Ok(LimitKind::Every) | Ok(LimitKind::Unspecified) | Err(_) => Text::LimitEvery.get(lang).to_owned(),
    }
}

fn filter_text(filter: Option<&RuleFilter>) -> String {
    let Some(filter) = filter else {
        return String::new();
    };
    [
        ("url_prefix", &filter.url_prefix),
        ("asset_id", &filter.asset_id),
        ("campaign", &filter.campaign),
        ("channel", &filter.channel),
    ]
    .iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(key, value)| format!("{key}={value}"))
    .collect::<Vec<_>>()
    .join(", ")
}

fn fit_condition(rule: &leadflow_proto::scoring::FitRule, lang: Lang) -> String {
    let mut parts = Vec::new();
    if !rule.equals_any.is_empty() {
        parts.push(Text::ConditionOneOf.fill(lang, &[("values", &rule.equals_any.join(", "))]));
    }
    match (rule.min_value, rule.max_value) {
        (Some(min), Some(max)) => parts.push(format!("{min}..{max}")),
        (Some(min), None) => parts.push(format!("≥ {min}")),
        (None, Some(max)) => parts.push(format!("≤ {max}")),
        (None, None) => {}
    }
    parts.join("; ")
}

fn print_model(model: &ScoringModel, lang: Lang) {
    let state = state_text(model.state).get(lang);
    println!("{}", Text::ModelVersionLine.fill(lang, &[("id", &model.model_id), ("version", &model.version), ("state", &state)]));

    let mut fields = Vec::new();
    if !model.description.is_empty() {
        fields.push((Text::LabelDescription, model.description.clone()));
    }
    if model.publish_time.is_some() {
        fields.push((Text::LabelPublished, timestamp(model.publish_time.as_ref())));
    }
    fields.push((Text::LabelThreshold, model.mql_threshold.to_string()));
    fields.push((Text::LabelMinFit, model.min_fit_score.to_string()));
    fields.push((
        Text::LabelFloor,
        model.score_floor.map(|floor| floor.to_string()).unwrap_or_else(|| Text::NoFloor.get(lang).to_owned()),
    ));
    fields.push((Text::LabelDecay, decay_text(model.decay.as_ref(), lang)));
    if model.state != ModelState::Draft as i32 {
        fields.push((Text::LabelRescore, rescore_text(model, lang)));
    }
    print_fields(&fields, lang);

    println!();
    println!("{}", Text::SectionRules.get(lang));
    let mut rows: Vec<Vec<String>> = model
        .activity_points
        .iter()
        .map(|shorthand| {
            let name = short_name_of(shorthand.activity_type);
            vec![
                name.clone(),
                name,
                String::new(),
                shorthand.points.to_string(),
                Text::LimitEvery.get(lang).to_owned(),
                Text::DecayOfModel.get(lang).to_owned(),
            ]
        })
        .collect();
    rows.extend(model.rules.iter().map(|rule| {
        vec![
            rule.rule_id.clone(),
            short_name_of(rule.activity_type),
            filter_text(rule.filter.as_ref()),
            rule.points.to_string(),
            limit_text(rule.limit.as_ref(), lang),
            match &rule.decay {
                Some(decay) => decay_text(Some(decay), lang),
                None => Text::DecayOfModel.get(lang).to_owned(),
            },
        ]
    }));
    if rows.is_empty() {
        println!("{}", Text::NoRules.get(lang));
    } else {
        print_table(
            &[
                Text::HeaderRule.get(lang),
                Text::HeaderActivityType.get(lang),
                Text::HeaderFilter.get(lang),
                Text::HeaderPoints.get(lang),
                Text::HeaderLimit.get(lang),
                Text::HeaderDecay.get(lang),
            ],
            &rows,
        );
        println!("{}", Text::ModelUnlisted.get(lang));
    }

    if !model.fit_rules.is_empty() {
        println!();
        println!("{}", Text::SectionFitRules.get(lang));
        let rows: Vec<Vec<String>> = model
            .fit_rules
            .iter()
            .map(|rule| vec![rule.rule_id.clone(), rule.attribute.clone(), fit_condition(rule, lang), rule.points.to_string()])
            .collect();
        print_table(
            &[
                Text::HeaderRule.get(lang),
                Text::HeaderAttribute.get(lang),
                Text::HeaderCondition.get(lang),
                Text::HeaderPoints.get(lang),
            ],
            &rows,
        );
    }
}

fn print_versions(models: &[ScoringModel], more: bool, lang: Lang) {
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|model| {
            vec![
                model.version.to_string(),
                state_text(model.state).get(lang).to_owned(),
                timestamp(model.publish_time.as_ref()),
                model.mql_threshold.to_string(),
                (model.rules.len() + model.activity_points.len()).to_string(),
                model.description.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderVersion.get(lang),
            Text::HeaderState.get(lang),
            Text::HeaderPublished.get(lang),
            Text::HeaderThreshold.get(lang),
            Text::HeaderRules.get(lang),
            Text::HeaderDescription.get(lang),
        ],
        &rows,
    );
    if more {
        println!("{}", Text::VersionsMore.fill(lang, &[("count", &models.len())]));
    }
}

fn decay_json(decay: Option<&Decay>) -> serde_json::Value {
    match decay.and_then(|decay| decay.policy.as_ref()) {
        None | Some(decay::Policy::None(_)) => json!("none"),
        Some(decay::Policy::HalfLife(duration)) => json!({ "half_life": format_duration(duration.seconds) }),
        Some(decay::Policy::ExpireAfter(duration)) => json!({ "expire_after": format_duration(duration.seconds) }),
    }
}

fn limit_json(limit: Option<&FrequencyLimit>) -> serde_json::Value {
    let Some(limit) = limit else {
        return json!("every");
    };
    match LimitKind::try_from(limit.kind) {
        Ok(LimitKind::OncePerLead) => json!("once_per_lead"),
        Ok(LimitKind::OncePerAsset) => json!("once_per_asset"),
        Ok(LimitKind::PerWindow) => json!({
            "max": limit.max_count,
            "per": format_duration(limit.window.as_ref().map(|window| window.seconds).unwrap_or_default()),
        }),
        Ok(LimitKind::Every) | Ok(LimitKind::Unspecified) | Err(_) => json!("every"),
    }
}

/// Writes a model as JSON with the model file's key names and the output-only fields. Without
/// `version`, `state`, `publish_time` and `rescore` the output is a valid `.json` model file.
fn model_json(model: &ScoringModel) -> serde_json::Value {
    let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
    let points: serde_json::Map<String, serde_json::Value> = model
        .activity_points
        .iter()
        .map(|shorthand| (short_name_of(shorthand.activity_type), json!(shorthand.points)))
        .collect();
    let rules: Vec<serde_json::Value> = model
        .rules
        .iter()
        .map(|rule| {
            let filter = rule.filter.clone().unwrap_or_default();
            let mut entry = json!({
                "rule_id": rule.rule_id,
                "type": short_name_of(rule.activity_type),
                "points": rule.points,
            });
            if let Some(limit) = &rule.limit {
                entry["limit"] = limit_json(Some(limit));
            }
            for (key, value) in [
                ("url_prefix", non_empty(&filter.url_prefix)),
                ("asset_id", non_empty(&filter.asset_id)),
                ("campaign", non_empty(&filter.campaign)),
                ("channel", non_empty(&filter.channel)),
            ] {
                if let Some(value) = value {
                    entry[key] = json!(value);
                }
            }
            if let Some(decay) = &rule.decay {
                entry["decay"] = decay_json(Some(decay));
            }
            entry
        })
        .collect();
    let fit: Vec<serde_json::Value> = model
        .fit_rules
        .iter()
        .map(|rule| {
            json!({
                "rule_id": rule.rule_id,
                "attribute": rule.attribute,
                "equals_any": rule.equals_any,
                "min": rule.min_value,
                "max": rule.max_value,
                "points": rule.points,
            })
        })
        .collect();

    json!({
        "model_id": model.model_id,
        "version": model.version,
        "state": state_code(model.state),
        "description": model.description,
        "publish_time": timestamp_json(model.publish_time.as_ref()),
        "mql_threshold": model.mql_threshold,
        "min_fit_score": model.min_fit_score,
        "score_floor": model.score_floor,
        "decay": model.decay.as_ref().map(|decay| decay_json(Some(decay))),
        "points": points,
        "rules": rules,
        "fit": fit,
        "rescore": model.rescore.as_ref().map(|progress| json!({
            "leads_done": progress.leads_done,
            "leads_total": progress.leads_total,
            "finished": progress.finished,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_file::{Syntax, parse};

    #[test]
    fn rule_id_added_to_field() {
        let text = "mql_threshold = 5\n[[rules]]\nrule_id = \"a\"\ntype = \"page_view\"\npoints = 1\n[[fit]]\nrule_id = \"f\"\nattribute = \"country\"\nequals_any = [\"ro\"]\npoints = 1\n";
        let model = parse(text, Path::new("m.toml"), Syntax::Toml).unwrap();
        assert_eq!(field_with_rule_id("model.rules[0].points", &model), "model.rules[0].points (a)");
        assert_eq!(field_with_rule_id("model.fit_rules[0]", &model), "model.fit_rules[0] (f)");
        assert_eq!(field_with_rule_id("model.rules[7]", &model), "model.rules[7]");
        assert_eq!(field_with_rule_id("model.mql_threshold", &model), "model.mql_threshold");
    }

    #[test]
    fn model_json_reads_back() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scoring-model.toml"));
        let model = model_file::load(path).unwrap();
        let mut value = model_json(&model);
        let object = value.as_object_mut().unwrap();
        for key in ["version", "state", "publish_time", "rescore"] {
            object.remove(key);
        }
        let again = parse(&value.to_string(), Path::new("m.json"), Syntax::Json).unwrap();
        assert_eq!(again, model);
    }
}
