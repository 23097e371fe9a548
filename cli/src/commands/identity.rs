//! `leadflow lead merge`, `leadflow lead consent` and `leadflow lead identify`, and the lead
//! key of `leadflow track`, which also accepts an anonymous visitor id.

use clap::{ArgGroup, Args};
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::lead_key::Key;
use leadflow_proto::activity::{IdentifyVisitorRequest, Lead, LeadKey, MergeLeadsRequest, SetLeadConsentRequest};
use serde_json::json;

use super::{lead_key, print_json};
use crate::Context;
use crate::args::LeadKeyArgs;
use crate::errors::{CliError, ClientChannel, Service, request};
use crate::format::timestamp_json;
use crate::i18n::{Lang, Text};

/// The lead of `leadflow track`: one key, or an e-mail address with the visitor id of the
/// browser that sent it, as a form submission has.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("track_key").required(true).multiple(true).args(["email", "lead_id", "external_id", "visitor"])))]
pub struct TrackKeyArgs {
    /// E-mail address of the lead.
    #[arg(long)]
    pub email: Option<String>,

    /// Server-assigned id of the lead.
    #[arg(long, conflicts_with_all = ["email", "external_id", "visitor"])]
    pub lead_id: Option<String>,

    /// Id of the lead in the system it came from.
    #[arg(long, conflicts_with_all = ["email", "visitor"])]
    pub external_id: Option<String>,

    /// Anonymous visitor id (cookie or device id). Alone, it tracks the visitor's anonymous
    /// lead; with --email, it joins the visitor's history to that lead first.
    #[arg(long, value_name = "VISITOR_ID")]
    pub visitor: Option<String>,
}

impl TrackKeyArgs {
    /// Returns the lead key and the visitor id sent beside an e-mail address.
    pub fn to_key(&self) -> (LeadKey, String) {
        let key = match (&self.lead_id, &self.email, &self.external_id, &self.visitor) {
            (Some(lead_id), ..) => Key::LeadId(lead_id.clone()),
            (None, Some(email), ..) => Key::Email(email.clone()),
            (None, None, Some(external_id), _) => Key::ExternalId(external_id.clone()),
            (None, None, None, visitor) => Key::VisitorId(visitor.clone().unwrap_or_default()),
        };
        let visitor_beside_email = if self.email.is_some() { self.visitor.clone().unwrap_or_default() } else { String::new() };
        (LeadKey { key: Some(key) }, visitor_beside_email)
    }
}

/// Arguments of `leadflow lead merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Id of the lead that survives and keeps its id.
    #[arg(long, value_name = "LEAD_ID")]
    pub survivor: String,

    /// Id of the duplicate lead merged into the survivor.
    #[arg(long, value_name = "LEAD_ID")]
    pub merged: String,

    /// Person or system that requests the merge, kept in the merge record.
    #[arg(long)]
    pub actor: Option<String>,

    /// Idempotency key of the request (a UUID), so a retry merges once.
    #[arg(long)]
    pub request_id: Option<String>,
}

/// Arguments of `leadflow lead consent`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("consent_flag").required(true).multiple(true).args(["do_not_track", "do_not_contact"])))]
pub struct ConsentArgs {
    #[command(flatten)]
    pub key: LeadKeyArgs,

    /// Whether the lead's activities may be stored: true stops tracking, false resumes it.
    #[arg(long, value_name = "BOOL")]
    pub do_not_track: Option<bool>,

    /// Whether sales may contact the lead: true forbids contact, false allows it.
    #[arg(long, value_name = "BOOL")]
    pub do_not_contact: Option<bool>,
}

/// Arguments of `leadflow lead identify`.
#[derive(Debug, Args)]
pub struct IdentifyArgs {
    /// Anonymous visitor id (cookie or device id).
    #[arg(long, value_name = "VISITOR_ID")]
    pub visitor: String,

    /// E-mail address the visitor gave.
    #[arg(long)]
    pub email: String,
}

fn yes_no(flag: bool, lang: Lang) -> &'static str {
    if flag { Text::Yes } else { Text::No }.get(lang)
}

/// Returns the consent line of a lead, for the lead view and the commands here.
pub fn consent_line(lead: &Lead, lang: Lang) -> String {
    Text::ConsentLine.fill(
        lang,
        &[("track", &yes_no(lead.do_not_track, lang)), ("contact", &yes_no(lead.do_not_contact, lang))],
    )
}

fn lead_json(lead: &Lead) -> serde_json::Value {
    json!({
        "lead_id": lead.lead_id,
        "email": lead.email,
        "external_id": lead.external_id,
        "anonymous": lead.anonymous,
        "visitor_ids": lead.visitor_ids,
        "do_not_track": lead.do_not_track,
        "do_not_contact": lead.do_not_contact,
    })
}

async fn activity_client(context: &Context) -> anyhow::Result<ActivityServiceClient<ClientChannel>> {
    Ok(ActivityServiceClient::new(context.channel(Service::Activity).await?))
}

/// Runs `leadflow lead merge`.
pub async fn merge(context: &Context, args: MergeArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let message = MergeLeadsRequest {
        survivor: Some(LeadKey { key: Some(Key::LeadId(args.survivor)) }),
        merged: Some(LeadKey { key: Some(Key::LeadId(args.merged)) }),
        actor: args.actor.unwrap_or_default(),
        request_id: args.request_id.unwrap_or_default(),
    };
    let response = activity_client(context)
        .await?
        .merge_leads(request(message, lang))
        .await
        .map_err(|status| CliError::from_status("MergeLeads", &status))?
        .into_inner();
    let survivor = response.survivor.unwrap_or_default();
    let merge = response.merge.unwrap_or_default();

    if context.json {
        print_json(&json!({
            "merged": response.merged,
            "merge_id": merge.merge_id,
            "survivor_lead_id": merge.survivor_lead_id,
            "merged_lead_id": merge.merged_lead_id,
            "actor": merge.actor,
            "merge_time": timestamp_json(merge.merge_time.as_ref()),
            "activities_moved": merge.activities_moved,
            "survivor": lead_json(&survivor),
        }));
        return Ok(());
    }
    let text = if response.merged { Text::MergeDone } else { Text::MergeRepeated };
    let moved = merge.activities_moved.to_string();
    println!(
        "{}",
        text.fill(lang, &[("merged", &merge.merged_lead_id), ("survivor", &merge.survivor_lead_id), ("count", &moved)])
    );
    println!("{}", consent_line(&survivor, lang));
    Ok(())
}

/// Runs `leadflow lead consent`.
pub async fn consent(context: &Context, args: ConsentArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let message = SetLeadConsentRequest {
        lead: Some(lead_key(&args.key)),
        do_not_track: args.do_not_track,
        do_not_contact: args.do_not_contact,
        request_id: String::new(),
    };
    let response = activity_client(context)
        .await?
        .set_lead_consent(request(message, lang))
        .await
        .map_err(|status| CliError::from_status("SetLeadConsent", &status))?
        .into_inner();
    let lead = response.lead.unwrap_or_default();

    if context.json {
        print_json(&json!({ "changed": response.changed, "lead": lead_json(&lead) }));
        return Ok(());
    }
    let text = if response.changed { Text::ConsentChanged } else { Text::ConsentUnchanged };
    println!("{}", text.fill(lang, &[("lead", &lead.lead_id)]));
    println!("{}", consent_line(&lead, lang));
    Ok(())
}

/// Runs `leadflow lead identify`.
pub async fn identify(context: &Context, args: IdentifyArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    let message = IdentifyVisitorRequest { visitor_id: args.visitor, email: args.email, request_id: String::new() };
    let response = activity_client(context)
        .await?
        .identify_visitor(request(message, lang))
        .await
        .map_err(|status| CliError::from_status("IdentifyVisitor", &status))?
        .into_inner();
    let lead = response.lead.unwrap_or_default();

    if context.json {
        print_json(&json!({
            "lead": lead_json(&lead),
            "merged_lead_id": response.merged_lead_id,
            "activities_moved": response.activities_moved,
        }));
        return Ok(());
    }
    if response.merged_lead_id.is_empty() {
        println!("{}", Text::IdentifyAttached.fill(lang, &[("lead", &lead.lead_id)]));
    } else {
        let moved = response.activities_moved.to_string();
        println!(
            "{}",
            Text::IdentifyMerged.fill(lang, &[("lead", &lead.lead_id), ("merged", &response.merged_lead_id), ("count", &moved)])
        );
    }
    Ok(())
}
