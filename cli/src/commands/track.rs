//! `leadflow track`: records one activity.

use leadflow_proto::activity::TrackActivityRequest;
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::types::ActivityType;
use serde_json::json;

use super::{parse_key_values, parse_time, print_json, to_timestamp};
use crate::Context;
use crate::args::{ActivityTypeArg, TrackArgs};
use crate::errors::{CliError, Service, request};
use crate::i18n::Text;

/// Runs `leadflow track`.
pub async fn run(context: &Context, args: TrackArgs) -> anyhow::Result<()> {
    let mut properties = parse_key_values("--property", &args.properties)?;
    if let Some(url) = args.url {
        properties.insert("url".to_owned(), url);
    }
    if let Some(asset_id) = args.asset_id {
        properties.insert("asset_id".to_owned(), asset_id);
    }
    let occurred_at = args.occurred_at.as_deref().map(parse_time).transpose()?.map(to_timestamp);

    let (lead, visitor_id) = args.key.to_key();
    let message = TrackActivityRequest {
        lead: Some(lead),
        r#type: activity_type(args.kind) as i32,
        occurred_at,
        properties,
        idempotency_key: args.idempotency_key.unwrap_or_default(),
        create_lead: args.create_lead,
        request_id: String::new(),
        visitor_id,
    };

    let mut client = ActivityServiceClient::new(context.channel(Service::Activity).await?);
    let response = client
        .track_activity(request(message, context.lang))
        .await
        .map_err(|status| CliError::from_status("TrackActivity", &status))?
        .into_inner();
    let activity = response.activity.unwrap_or_default();

    if context.json {
        print_json(&json!({
            "activity_id": activity.activity_id,
            "lead_id": response.lead_id,
            "created": response.created,
            "do_not_track": response.do_not_track,
        }));
    } else if response.do_not_track {
        println!("{}", Text::TrackNotTracked.fill(context.lang, &[("lead", &response.lead_id)]));
    } else {
        let text = if response.created { Text::TrackStored } else { Text::TrackDuplicate };
        println!("{}", text.fill(context.lang, &[("id", &activity.activity_id), ("lead", &activity.lead_id)]));
    }
    Ok(())
}

/// Converts the command-line value to the protobuf enum.
pub fn activity_type(kind: ActivityTypeArg) -> ActivityType {
    match kind {
        ActivityTypeArg::PageView => ActivityType::PageView,
        ActivityTypeArg::ContentDownload => ActivityType::ContentDownload,
        ActivityTypeArg::WebinarRegistration => ActivityType::WebinarRegistration,
        ActivityTypeArg::SocialInteraction => ActivityType::SocialInteraction,
        ActivityTypeArg::CaseStudyDownload => ActivityType::CaseStudyDownload,
        ActivityTypeArg::DemoRequest => ActivityType::DemoRequest,
        ActivityTypeArg::FormSubmission => ActivityType::FormSubmission,
        ActivityTypeArg::EmailOpen => ActivityType::EmailOpen,
        ActivityTypeArg::EmailClick => ActivityType::EmailClick,
        ActivityTypeArg::EmailBounce => ActivityType::EmailBounce,
        ActivityTypeArg::Unsubscribe => ActivityType::Unsubscribe,
        ActivityTypeArg::ChatConversation => ActivityType::ChatConversation,
        ActivityTypeArg::PhoneConversation => ActivityType::PhoneConversation,
        ActivityTypeArg::SmsSent => ActivityType::SmsSent,
        ActivityTypeArg::EventAttendance => ActivityType::EventAttendance,
    }
}
