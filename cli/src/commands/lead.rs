//! `leadflow lead show` and `leadflow lead upsert`.

use std::collections::BTreeMap;

use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{Activity, GetLeadRequest, Lead, ListActivitiesRequest, UpsertLeadRequest};
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::qualification::{GetQualificationRequest, Qualification};
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::scoring::{GetLeadScoreRequest, LeadScore};
use serde_json::json;

use super::{lead_key, lifecycle_name, parse_key_values, print_json, state_code, state_name};
use crate::Context;
use crate::activity_type::short_name_of;
use crate::args::{LeadKeyArgs, UpsertArgs};
use crate::errors::{CliError, Service, request};
use crate::format::{print_table, timestamp, timestamp_json};
use crate::i18n::{Lang, Text};

/// Activities listed by `lead show`.
const ACTIVITIES_SHOWN: i32 = 50;

/// Runs `leadflow lead show`.
pub async fn show(context: &Context, key: LeadKeyArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let mut activity = ActivityServiceClient::new(context.channel(Service::Activity).await?);
    let lead = activity
        .get_lead(request(GetLeadRequest { lead: Some(lead_key(&key)) }, lang))
        .await
        .map_err(|status| CliError::from_status("GetLead", &status))?
        .into_inner()
        .lead
        .unwrap_or_default();

    let mut scoring = ScoringServiceClient::new(context.channel(Service::Scoring).await?);
    let score = match scoring.get_lead_score(request(GetLeadScoreRequest { lead_id: lead.lead_id.clone(), ..GetLeadScoreRequest::default() }, lang)).await {
        Ok(response) => response.into_inner().score,
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => return Err(CliError::from_status("GetLeadScore", &status).into()),
    };

    let mut qualification_client = QualificationServiceClient::new(context.channel(Service::Qualification).await?);
    let qualification = match qualification_client
        .get_qualification(request(GetQualificationRequest { lead_id: lead.lead_id.clone() }, lang))
        .await
    {
        Ok(response) => response.into_inner().qualification,
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => return Err(CliError::from_status("GetQualification", &status).into()),
    };

    let activities_request = ListActivitiesRequest {
        lead: Some(leadflow_proto::activity::LeadKey {
            key: Some(leadflow_proto::activity::lead_key::Key::LeadId(lead.lead_id.clone())),
        }),
        page_size: ACTIVITIES_SHOWN,
        page_token: String::new(),
    };
    let activities = activity
        .list_activities(request(activities_request, lang))
        .await
        .map_err(|status| CliError::from_status("ListActivities", &status))?
        .into_inner();
    let more_activities = !activities.next_page_token.is_empty();

    if context.json {
        print_json(&lead_json(&lead, score.as_ref(), qualification.as_ref(), &activities.activities, more_activities));
        return Ok(());
    }

    print_profile(&lead, lang);
    println!();
    print_score(score.as_ref(), qualification.as_ref(), lang);
    println!();
    print_activities(&activities.activities, more_activities, lang);
    Ok(())
}

fn print_profile(lead: &Lead, lang: Lang) {
    let attributes = &lead.attributes;
    let attributes = if attributes.is_empty() {
        Text::NoneValue.get(lang).to_owned()
    } else {
        attributes.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(", ")
    };

    let fields = [
        (Text::LabelLeadId, lead.lead_id.clone()),
        (Text::LabelEmail, lead.email.clone()),
        (Text::LabelExternalId, lead.external_id.clone()),
        (Text::LabelSource, lead.source.clone()),
        (Text::LabelCampaign, lead.campaign.clone()),
        (Text::LabelLifecycleStage, lifecycle_name(lead.lifecycle_stage, lang)),
        (Text::LabelCreated, timestamp(lead.create_time.as_ref())),
        (Text::LabelAttributes, attributes),
    ];
    print_fields(&fields, lang);
}

fn print_fields(fields: &[(Text, String)], lang: Lang) {
    let width = fields.iter().map(|(label, _)| label.get(lang).chars().count()).max().unwrap_or(0);
    for (label, value) in fields {
        let label = label.get(lang);
        let padding = " ".repeat(width - label.chars().count());
        println!("{label}:{padding} {value}");
    }
}

fn print_score(score: Option<&LeadScore>, qualification: Option<&Qualification>, lang: Lang) {
    let yes_no = |flag: bool| if flag { Text::Yes } else { Text::No }.get(lang).to_owned();
    let mut fields = vec![
        (Text::LabelScore, score.map(|score| score.score.to_string()).unwrap_or_else(|| Text::NoScoreYet.get(lang).to_owned())),
        (Text::LabelMql, yes_no(score.is_some_and(|score| score.mql))),
        (
            Text::LabelQualification,
            qualification
                .map(|qualification| state_name(qualification.state, lang))
                .unwrap_or_else(|| Text::NotMql.get(lang).to_owned()),
        ),
    ];
    if let Some(qualification) = qualification {
        fields.push((Text::LabelMqlSince, timestamp(qualification.mql_time.as_ref())));
    }
    print_fields(&fields, lang);

    if let Some(score) = score.filter(|score| !score.reasons.is_empty()) {
        println!();
        println!("{}", Text::SectionScoreReasons.get(lang));
        let rows: Vec<Vec<String>> = score
            .reasons
            .iter()
            .map(|reason| {
                vec![short_name_of(reason.activity_type), reason.activity_count.to_string(), reason.points.to_string()]
            })
            .collect();
        print_table(
            &[Text::HeaderActivityType.get(lang), Text::HeaderCount.get(lang), Text::HeaderPoints.get(lang)],
            &rows,
        );
    }
}

fn print_activities(activities: &[Activity], more: bool, lang: Lang) {
    println!("{}", Text::SectionActivities.get(lang));
    if activities.is_empty() {
        println!("{}", Text::NoActivities.get(lang));
        return;
    }

    let rows: Vec<Vec<String>> = activities
        .iter()
        .map(|activity| {
            let properties: BTreeMap<_, _> = activity.properties.iter().collect();
            let properties = properties.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(", ");
            vec![timestamp(activity.occurred_at.as_ref()), short_name_of(activity.r#type), properties]
        })
        .collect();
    print_table(
        &[Text::HeaderOccurredAt.get(lang), Text::HeaderActivityType.get(lang), Text::HeaderProperties.get(lang)],
        &rows,
    );
    if more {
        println!("{}", Text::MoreActivities.fill(lang, &[("count", &activities.len())]));
    }
}

fn lead_json(
    lead: &Lead,
    score: Option<&LeadScore>,
    qualification: Option<&Qualification>,
    activities: &[Activity],
    more_activities: bool,
) -> serde_json::Value {
    json!({
        "lead": {
            "lead_id": lead.lead_id,
            "email": lead.email,
            "external_id": lead.external_id,
            "source": lead.source,
            "campaign": lead.campaign,
            "attributes": lead.attributes,
            "lifecycle_stage": leadflow_proto::activity::LifecycleStage::try_from(lead.lifecycle_stage)
                .map(|stage| stage.as_str_name().trim_start_matches("LIFECYCLE_STAGE_").to_ascii_lowercase())
                .unwrap_or_default(),
            "create_time": timestamp_json(lead.create_time.as_ref()),
        },
        "score": score.map(|score| json!({
            "score": score.score,
            "mql": score.mql,
            "mql_count": score.mql_count,
            "reasons": score.reasons.iter().map(|reason| json!({
                "activity_type": short_name_of(reason.activity_type),
                "count": reason.activity_count,
                "points": reason.points,
            })).collect::<Vec<_>>(),
        })),
        "qualification": qualification.map(|qualification| json!({
            "state": state_code(qualification.state),
            "mql_score": qualification.mql_score,
            "mql_time": timestamp_json(qualification.mql_time.as_ref()),
        })),
        "activities": activities.iter().map(|activity| json!({
            "activity_id": activity.activity_id,
            "type": short_name_of(activity.r#type),
            "occurred_at": timestamp_json(activity.occurred_at.as_ref()),
            "properties": activity.properties,
        })).collect::<Vec<_>>(),
        "more_activities": more_activities,
    })
}

/// Runs `leadflow lead upsert`.
pub async fn upsert(context: &Context, args: UpsertArgs) -> anyhow::Result<()> {
    let attributes = parse_key_values("--attribute", &args.attributes)?;
    let message = UpsertLeadRequest {
        email: args.email,
        external_id: args.external_id.unwrap_or_default(),
        source: args.source.unwrap_or_default(),
        campaign: args.campaign.unwrap_or_default(),
        attributes,
        request_id: String::new(),
    };

    let mut client = ActivityServiceClient::new(context.channel(Service::Activity).await?);
    let response = client
        .upsert_lead(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("UpsertLead", &status))?
        .into_inner();
    let lead = response.lead.unwrap_or_default();

    if context.json {
        print_json(&json!({ "lead_id": lead.lead_id, "created": response.created }));
    } else {
        let text = if response.created { Text::LeadCreated } else { Text::LeadUpdated };
        println!("{}", text.fill(context.lang, &[("id", &lead.lead_id)]));
    }
    Ok(())
}
