//! `leadflow lead show`, `leadflow lead changes` and `leadflow lead upsert`.

use std::collections::{BTreeMap, VecDeque};

use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{Activity, GetLeadRequest, Lead, ListActivitiesRequest, UpsertLeadRequest};
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::qualification::{GetQualificationRequest, Qualification};
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::scoring::{
    ActivityContribution, GetLeadScoreRequest, LeadScore, LedgerEntry, LedgerEntryKind, ListScoreChangesRequest,
};
use serde_json::json;

use super::model::print_fields;
use super::{lead_key, lifecycle_name, parse_key_values, parse_time, print_json, state_code, state_name, to_timestamp};
use crate::Context;
use crate::activity_type::short_name_of;
use crate::args::{LeadChangesArgs, LeadKeyArgs, LeadShowArgs, UpsertArgs};
use crate::errors::{CliError, Service, request};
use crate::format::{print_table, timestamp, timestamp_json};
use crate::i18n::{Lang, Text};

/// Activities listed by `lead show` for a lead without a score.
const ACTIVITIES_SHOWN: i32 = 50;
/// Ledger entries read per ListScoreChanges call, the service's maximum page size.
const CHANGES_PAGE_SIZE: i32 = 1000;

async fn get_lead(activity: &mut ActivityServiceClient<crate::errors::ClientChannel>, key: &LeadKeyArgs, lang: Lang) -> Result<Lead, CliError> {
    Ok(activity
        .get_lead(request(GetLeadRequest { lead: Some(lead_key(key)) }, lang))
        .await
        .map_err(|status| CliError::from_status("GetLead", &status))?
        .into_inner()
        .lead
        .unwrap_or_default())
}

/// Runs `leadflow lead show`.
pub async fn show(context: &Context, args: LeadShowArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let as_of = args.as_of.as_deref().map(parse_time).transpose()?;
    let mut activity = ActivityServiceClient::new(context.channel(Service::Activity).await?);
    let lead = get_lead(&mut activity, &args.key, lang).await?;

    let mut scoring = ScoringServiceClient::new(context.channel(Service::Scoring).await?);
    let score_request = GetLeadScoreRequest { lead_id: lead.lead_id.clone(), as_of: as_of.map(to_timestamp) };
    let score = match scoring.get_lead_score(request(score_request, lang)).await {
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
    match &score {
        Some(score) => print_explanation(score, lang),
        None => print_activities(&activities.activities, more_activities, lang),
    }
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
        (Text::LabelConsent, super::identity::consent_line(lead, lang)),
    ];
    let mut fields = fields.to_vec();
    if !lead.visitor_ids.is_empty() {
        fields.push((Text::LabelVisitorIds, lead.visitor_ids.join(", ")));
    }
    if lead.anonymous {
        fields.push((Text::LabelAnonymous, Text::Yes.get(lang).to_owned()));
    }
    print_fields(&fields, lang);
}

fn print_score(score: Option<&LeadScore>, qualification: Option<&Qualification>, lang: Lang) {
    let yes_no = |flag: bool| if flag { Text::Yes } else { Text::No }.get(lang).to_owned();
    let mut fields = vec![
        (Text::LabelScore, score.map(|score| score_breakdown(score, lang)).unwrap_or_else(|| Text::NoScoreYet.get(lang).to_owned())),
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
        if qualification.do_not_contact {
            fields.push((Text::LabelDoNotContact, Text::DoNotContactMark.get(lang).to_owned()));
        }
    }
    if let Some(score) = score {
        fields.push((Text::LabelAsOf, timestamp(score.as_of.as_ref())));
        fields.push((Text::LabelModelVersion, score.model_version.to_string()));
        let next_decay = match &score.next_decay_time {
            Some(time) => timestamp(Some(time)),
            None => Text::NoDecay.get(lang).to_owned(),
        };
        fields.push((Text::LabelNextDecay, next_decay));
    }
    print_fields(&fields, lang);
}

/// Writes `total = engagement + fit`, adding the floor only when it applied.
fn score_breakdown(score: &LeadScore, lang: Lang) -> String {
    let text = if score.floor_adjustment == 0 { Text::ScoreBreakdown } else { Text::ScoreBreakdownFloor };
    text.fill(
        lang,
        &[
            ("total", &score.score),
            ("engagement", &score.engagement),
            ("fit", &score.fit),
            ("floor", &score.floor_adjustment),
        ],
    )
}

fn reason_text(reason: &str, lang: Lang) -> String {
    let text = match reason {
        "counted" => Text::ReasonCounted,
        "no_rule" => Text::ReasonNoRule,
        "filter_not_matched" => Text::ReasonFilterNotMatched,
        "limit_reached" => Text::ReasonLimitReached,
        "anonymous_not_scored" => Text::ReasonAnonymousNotScored,
        other => return other.to_owned(),
    };
    text.get(lang).to_owned()
}

/// Joins a localized reason with the service's detail, which is in English.
fn reason_with_detail(reason: &str, detail: &str, lang: Lang) -> String {
    let reason = reason_text(reason, lang);
    if detail.is_empty() { reason } else { format!("{reason}: {detail}") }
}

fn contribution_row(contribution: &ActivityContribution, lang: Lang) -> Vec<String> {
    vec![
        timestamp(contribution.occurred_at.as_ref()),
        short_name_of(contribution.activity_type),
        contribution.rule_id.clone(),
        contribution.base_points.to_string(),
        contribution.points.to_string(),
        reason_with_detail(&contribution.reason, &contribution.detail, lang),
    ]
}

/// Prints the points of every activity and the fit rules that matched.
fn print_explanation(score: &LeadScore, lang: Lang) {
    println!("{}", Text::SectionContributions.get(lang));
    if score.contributions.is_empty() {
        println!("{}", Text::NoActivities.get(lang));
    } else {
        let rows: Vec<Vec<String>> = score.contributions.iter().map(|contribution| contribution_row(contribution, lang)).collect();
        print_table(
            &[
                Text::HeaderOccurredAt.get(lang),
                Text::HeaderActivityType.get(lang),
                Text::HeaderRule.get(lang),
                Text::HeaderBasePoints.get(lang),
                Text::HeaderPointsAfterDecay.get(lang),
                Text::HeaderReason.get(lang),
            ],
            &rows,
        );
    }

    println!();
    println!("{}", Text::SectionFitContributions.get(lang));
    if score.fit_contributions.is_empty() {
        println!("{}", Text::NoFitMatched.get(lang));
    } else {
        let rows: Vec<Vec<String>> = score
            .fit_contributions
            .iter()
            .map(|fit| vec![fit.rule_id.clone(), fit.attribute.clone(), fit.points.to_string()])
            .collect();
        print_table(&[Text::HeaderRule.get(lang), Text::HeaderAttribute.get(lang), Text::HeaderPoints.get(lang)], &rows);
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
            "anonymous": lead.anonymous,
            "visitor_ids": lead.visitor_ids,
            "do_not_track": lead.do_not_track,
            "do_not_contact": lead.do_not_contact,
        },
        "score": score.map(score_json),
        "qualification": qualification.map(|qualification| json!({
            "state": state_code(qualification.state),
            "mql_score": qualification.mql_score,
            "mql_time": timestamp_json(qualification.mql_time.as_ref()),
            "do_not_contact": qualification.do_not_contact,
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

fn score_json(score: &LeadScore) -> serde_json::Value {
    json!({
        "score": score.score,
        "engagement": score.engagement,
        "fit": score.fit,
        "floor_adjustment": score.floor_adjustment,
        "mql": score.mql,
        "mql_count": score.mql_count,
        "as_of": timestamp_json(score.as_of.as_ref()),
        "model_version": score.model_version,
        "next_decay_time": timestamp_json(score.next_decay_time.as_ref()),
        "reasons": score.reasons.iter().map(|reason| json!({
            "activity_type": short_name_of(reason.activity_type),
            "count": reason.activity_count,
            "points": reason.points,
        })).collect::<Vec<_>>(),
        "contributions": score.contributions.iter().map(|contribution| json!({
            "activity_id": contribution.activity_id,
            "type": short_name_of(contribution.activity_type),
            "occurred_at": timestamp_json(contribution.occurred_at.as_ref()),
            "rule_id": contribution.rule_id,
            "base_points": contribution.base_points,
            "points": contribution.points,
            "reason": contribution.reason,
            "detail": contribution.detail,
        })).collect::<Vec<_>>(),
        "fit_contributions": score.fit_contributions.iter().map(|fit| json!({
            "rule_id": fit.rule_id,
            "attribute": fit.attribute,
            "points": fit.points,
        })).collect::<Vec<_>>(),
    })
}

/// Runs `leadflow lead changes`: reads the whole ledger of the lead, because the service
/// lists it oldest first, and prints the newest `limit` entries.
pub async fn changes(context: &Context, args: LeadChangesArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let lead_id = match &args.key.lead_id {
        Some(lead_id) => lead_id.clone(),
        None => {
            let mut activity = ActivityServiceClient::new(context.channel(Service::Activity).await?);
            get_lead(&mut activity, &args.key, lang).await?.lead_id
        }
    };

    let mut scoring = ScoringServiceClient::new(context.channel(Service::Scoring).await?);
    let mut newest: VecDeque<LedgerEntry> = VecDeque::with_capacity(args.limit);
    let mut total = 0usize;
    let mut page_token = String::new();
    loop {
        let message = ListScoreChangesRequest { lead_id: lead_id.clone(), page_size: CHANGES_PAGE_SIZE, page_token };
        let response = scoring
            .list_score_changes(request(message, lang))
            .await
            .map_err(|status| CliError::from_status("ListScoreChanges", &status))?
            .into_inner();
        let page_len = response.entries.len();
        total += page_len;
        for entry in response.entries {
            if newest.len() == args.limit {
                newest.pop_front();
            }
            if args.limit > 0 {
                newest.push_back(entry);
            }
        }
        // The token is set even on the last page, so a short page marks the end.
        if page_len < CHANGES_PAGE_SIZE as usize {
            break;
        }
        page_token = response.next_page_token;
    }

    if context.json {
        print_json(&json!({
            "lead_id": lead_id,
            "total": total,
            "entries": newest.iter().map(entry_json).collect::<Vec<_>>(),
        }));
        return Ok(());
    }

    if newest.is_empty() {
        println!("{}", Text::NoChanges.get(lang));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = newest
        .iter()
        .map(|entry| {
            vec![
                timestamp(entry.effective_time.as_ref()),
                kind_text(entry.kind, lang),
                format!("{:+}", entry.points),
                format!("{} → {}", entry.score_before, entry.score_after),
                entry.rule_id.clone(),
                reason_with_detail(&entry.reason, &entry.detail, lang),
            ]
        })
        .collect();
    print_table(
        &[
            Text::HeaderEffectiveTime.get(lang),
            Text::HeaderKind.get(lang),
            Text::HeaderPoints.get(lang),
            Text::HeaderBeforeAfter.get(lang),
            Text::HeaderRule.get(lang),
            Text::HeaderReason.get(lang),
        ],
        &rows,
    );
    println!("{}", Text::ChangesShown.fill(lang, &[("count", &newest.len()), ("total", &total)]));
    Ok(())
}

fn kind_text(kind: i32, lang: Lang) -> String {
    let text = match LedgerEntryKind::try_from(kind) {
        Ok(LedgerEntryKind::Activity) => Text::KindActivity,
        Ok(LedgerEntryKind::Correction) => Text::KindCorrection,
        Ok(LedgerEntryKind::Decay) => Text::KindDecay,
        Ok(LedgerEntryKind::Fit) => Text::KindFit,
        Ok(LedgerEntryKind::Floor) => Text::KindFloor,
        Ok(LedgerEntryKind::Rescore) => Text::KindRescore,
        Ok(LedgerEntryKind::Mql) => Text::KindMql,
        Ok(LedgerEntryKind::FellBelow) => Text::KindFellBelow,
        Ok(LedgerEntryKind::Merged) => Text::KindMerged,
        Ok(LedgerEntryKind::Unspecified) | Err(_) => Text::Unknown,
    };
    text.get(lang).to_owned()
}

fn kind_code(kind: i32) -> String {
    LedgerEntryKind::try_from(kind)
        .map(|kind| kind.as_str_name().trim_start_matches("LEDGER_ENTRY_KIND_").to_ascii_lowercase())
        .unwrap_or_else(|_| kind.to_string())
}

fn entry_json(entry: &LedgerEntry) -> serde_json::Value {
    json!({
        "entry_id": entry.entry_id,
        "kind": kind_code(entry.kind),
        "activity_id": entry.activity_id,
        "rule_id": entry.rule_id,
        "model_version": entry.model_version,
        "points": entry.points,
        "score_before": entry.score_before,
        "score_after": entry.score_after,
        "reason": entry.reason,
        "detail": entry.detail,
        "effective_time": timestamp_json(entry.effective_time.as_ref()),
        "create_time": timestamp_json(entry.create_time.as_ref()),
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
        do_not_track: None,
        do_not_contact: None,
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
