//! `leadflow settings show|set`: the qualification settings.

use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::qualification::{
    AssignmentMode, FieldType, GetSettingsRequest, QualificationSettings, UpdateSettingsRequest,
};
use serde_json::json;

use super::print_json;
use crate::Context;
use crate::args::{AssignmentArg, SettingsCommand, SettingsSetArgs};
use crate::errors::{CliError, Service, request};
use crate::i18n::Text;

/// Runs a `leadflow settings` subcommand.
pub async fn run(context: &Context, command: SettingsCommand) -> anyhow::Result<()> {
    let mut client = QualificationServiceClient::new(context.channel(Service::Qualification).await?);
    let settings = match command {
        SettingsCommand::Show => client
            .get_settings(request(GetSettingsRequest {}, context.lang))
            .await
            .map_err(|status| CliError::from_status("GetSettings", &status))?
            .into_inner()
            .settings,
        SettingsCommand::Set(args) => {
            let message = update_request(args)?;
            client
                .update_settings(request(message, context.lang))
                .await
                .map_err(|status| CliError::from_status("UpdateSettings", &status))?
                .into_inner()
                .settings
        }
    };
    print_settings(context, &settings.unwrap_or_default());
    Ok(())
}

/// Builds the update from the options given; each one names its setting in the mask.
fn update_request(args: SettingsSetArgs) -> Result<UpdateSettingsRequest, CliError> {
    let mut settings = QualificationSettings::default();
    let mut paths = Vec::new();
    if let Some(hours) = args.sla_hours {
        settings.first_touch_sla_hours = hours;
        paths.push("first_touch_sla_hours");
    }
    if let Some(zone) = args.time_zone {
        settings.time_zone = zone;
        paths.push("time_zone");
    }
    if let Some(mode) = args.assignment {
        settings.assignment_mode = match mode {
            AssignmentArg::RoundRobin => AssignmentMode::RoundRobin,
            AssignmentArg::Rules => AssignmentMode::Rules,
        } as i32;
        paths.push("assignment_mode");
    }
    if !args.rejection_reasons.is_empty() {
        settings.rejection_reasons = args.rejection_reasons;
        paths.push("rejection_reasons");
    }
    if paths.is_empty() {
        return Err(CliError::new(Text::SettingsNothingToUpdate));
    }
    let mask = prost_types::FieldMask { paths: paths.into_iter().map(str::to_owned).collect() };
    Ok(UpdateSettingsRequest { settings: Some(settings), update_mask: Some(mask), request_id: String::new() })
}

/// Returns the short lower-case name of an enum value, such as `round_robin`.
fn short_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_ascii_lowercase()
}

fn print_settings(context: &Context, settings: &QualificationSettings) {
    let lang = context.lang;
    let mode = AssignmentMode::try_from(settings.assignment_mode).unwrap_or(AssignmentMode::RoundRobin);
    let mode = short_name(mode.as_str_name(), "ASSIGNMENT_MODE_");
    let framework = settings.framework.clone().unwrap_or_default();
    let fields: Vec<serde_json::Value> = framework
        .fields
        .iter()
        .map(|field| {
            let field_type = FieldType::try_from(field.r#type).unwrap_or(FieldType::Text);
            json!({ "name": field.name, "type": short_name(field_type.as_str_name(), "FIELD_TYPE_"), "required": field.required })
        })
        .collect();

    if context.json {
        print_json(&json!({
            "first_touch_sla_hours": settings.first_touch_sla_hours,
            "time_zone": settings.time_zone,
            "assignment_mode": mode,
            "rejection_reasons": settings.rejection_reasons,
            "framework": { "name": framework.name, "fields": fields, "min_answered": framework.min_answered },
        }));
        return;
    }

    println!("{}", Text::SettingsSla.fill(lang, &[("hours", &settings.first_touch_sla_hours)]));
    println!("{}", Text::SettingsTimeZone.fill(lang, &[("zone", &settings.time_zone)]));
    println!("{}", Text::SettingsAssignment.fill(lang, &[("mode", &mode)]));
    println!("{}", Text::SettingsReasons.fill(lang, &[("reasons", &settings.rejection_reasons.join(", "))]));
    let names: Vec<String> = framework
        .fields
        .iter()
        .map(|field| if field.required { format!("{}*", field.name) } else { field.name.clone() })
        .collect();
    let rule = if framework.min_answered == 0 {
        Text::SettingsRuleAllRequired.get(lang).to_owned()
    } else {
        Text::SettingsRuleAtLeast.fill(lang, &[("count", &framework.min_answered)])
    };
    println!(
        "{}",
        Text::SettingsFramework.fill(lang, &[("name", &framework.name), ("fields", &names.join(", ")), ("rule", &rule)])
    );
}
