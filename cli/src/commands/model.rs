//! `leadflow model show` and `leadflow model publish FILE.toml`.
//!
//! The model file:
//!
//! ```toml
//! model_id = "default"          # optional; empty or missing means "default"
//! description = "Why this version"
//! mql_threshold = 50            # whole points
//!
//! [points]                      # activity type = whole points per activity
//! page_view = 2
//! demo-request = 40             # kebab case and PAGE_VIEW style work too
//! unsubscribe = -20
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::scoring::{
    ActivityPoints, GetScoringModelRequest, PublishScoringModelRequest, ScoringModel,
};
use serde::Deserialize;
use serde_json::json;

use super::print_json;
use crate::Context;
use crate::activity_type;
use crate::errors::{CliError, Service, request};
use crate::format::{print_table, timestamp, timestamp_json};
use crate::i18n::{Lang, Text};

/// A scoring model file as written in TOML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Id of the model; empty means "default".
    #[serde(default)]
    pub model_id: String,
    /// Description of the version for people reading the history.
    #[serde(default)]
    pub description: String,
    /// Score at or above which a lead becomes an MQL.
    pub mql_threshold: i64,
    /// Activity type name → points per activity.
    #[serde(default)]
    pub points: BTreeMap<String, i64>,
}

/// Parses a model file. Range checks stay with the service, which reports every problem at
/// once. This function rejects only what cannot be sent, such as an unknown activity type.
pub fn parse_model(text: &str, path: &Path) -> Result<ScoringModel, CliError> {
    let file: ModelFile = toml::from_str(text)
        .map_err(|error| CliError::new(Text::InvalidToml).arg("path", path.display()).arg("error", error.message()))?;

    let mut activity_points = Vec::with_capacity(file.points.len());
    for (name, points) in &file.points {
        let Some(kind) = activity_type::parse(name) else {
            return Err(CliError::new(Text::UnknownActivityType)
                .arg("value", format!("{name:?}"))
                .arg("field", format!("{} [points]", path.display()))
                .arg("accepted", activity_type::accepted_names()));
        };
        activity_points.push(ActivityPoints { activity_type: kind as i32, points: *points });
    }

    Ok(ScoringModel {
        model_id: file.model_id,
        version: 0,
        activity_points,
        mql_threshold: file.mql_threshold,
        description: file.description,
        publish_time: None,
        ..ScoringModel::default()
    })
}

/// Runs `leadflow model show`.
pub async fn show(context: &Context, model_id: &str) -> anyhow::Result<()> {
    let mut client = ScoringServiceClient::new(context.channel(Service::Scoring).await?);
    let model = client
        .get_scoring_model(request(GetScoringModelRequest { model_id: model_id.to_owned() }, context.lang))
        .await
        .map_err(|status| CliError::from_status("GetScoringModel", &status))?
        .into_inner()
        .model
        .unwrap_or_default();

    if context.json {
        print_json(&model_json(&model));
    } else {
        print_model(&model, context.lang);
    }
    Ok(())
}

/// Runs `leadflow model publish`.
pub async fn publish(context: &Context, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CliError::new(Text::ReadFileFailed).arg("path", path.display()).arg("error", error))?;
    let model = parse_model(&text, path)?;

    let mut client = ScoringServiceClient::new(context.channel(Service::Scoring).await?);
    let message = PublishScoringModelRequest { model: Some(model), ..PublishScoringModelRequest::default() };
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

fn print_model(model: &ScoringModel, lang: Lang) {
    println!(
        "{}",
        Text::ModelHeader.fill(
            lang,
            &[("id", &model.model_id), ("version", &model.version), ("threshold", &model.mql_threshold)],
        )
    );
    if !model.description.is_empty() {
        println!("{}", Text::ModelDescription.fill(lang, &[("text", &model.description)]));
    }
    if model.publish_time.is_some() {
        println!("{}", Text::ModelPublishTime.fill(lang, &[("time", &timestamp(model.publish_time.as_ref()))]));
    }
    println!();

    let rows: Vec<Vec<String>> = model
        .activity_points
        .iter()
        .map(|rule| vec![activity_type::short_name_of(rule.activity_type), rule.points.to_string()])
        .collect();
    print_table(&[Text::HeaderActivityType.get(lang), Text::HeaderPoints.get(lang)], &rows);
    println!("{}", Text::ModelUnlisted.get(lang));
}

fn model_json(model: &ScoringModel) -> serde_json::Value {
    let points: BTreeMap<String, i64> = model
        .activity_points
        .iter()
        .map(|rule| (activity_type::short_name_of(rule.activity_type), rule.points))
        .collect();
    json!({
        "model_id": model.model_id,
        "version": model.version,
        "description": model.description,
        "mql_threshold": model.mql_threshold,
        "publish_time": timestamp_json(model.publish_time.as_ref()),
        "points": points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_file_accepts_every_spelling() {
        let text = "description = \"d\"\nmql_threshold = 50\n[points]\npage_view = 2\ndemo-request = 40\nUNSUBSCRIBE = -20\n";
        let model = parse_model(text, Path::new("m.toml")).unwrap();
        assert_eq!(model.model_id, "");
        assert_eq!(model.mql_threshold, 50);
        assert_eq!(model.activity_points.len(), 3);
    }

    #[test]
    fn unknown_type_names_the_value() {
        let text = "mql_threshold = 50\n[points]\npage_visit = 2\n";
        let error = parse_model(text, Path::new("m.toml")).unwrap_err();
        assert_eq!(error.text(), Text::UnknownActivityType);
        assert!(error.render(Lang::En).contains("\"page_visit\""));
    }

    #[test]
    fn example_default_model_parses() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/default-model.toml"));
        let text = std::fs::read_to_string(path).unwrap();
        let model = parse_model(&text, path).unwrap();
        assert_eq!(model.activity_points.len(), 15);
        assert_eq!(model.mql_threshold, 50);
    }
}
