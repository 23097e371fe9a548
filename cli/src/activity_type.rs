//! Activity type names as people write them: `page_view`, `page-view`, `PAGE_VIEW` or the
//! full protobuf name `ACTIVITY_TYPE_PAGE_VIEW`.

use leadflow_proto::types::ActivityType;

/// Every activity type except `ACTIVITY_TYPE_UNSPECIFIED`, in protobuf order.
pub const ALL: [ActivityType; 15] = [
    ActivityType::PageView,
    ActivityType::ContentDownload,
    ActivityType::WebinarRegistration,
    ActivityType::SocialInteraction,
    ActivityType::CaseStudyDownload,
    ActivityType::DemoRequest,
    ActivityType::FormSubmission,
    ActivityType::EmailOpen,
    ActivityType::EmailClick,
    ActivityType::EmailBounce,
    ActivityType::Unsubscribe,
    ActivityType::ChatConversation,
    ActivityType::PhoneConversation,
    ActivityType::SmsSent,
    ActivityType::EventAttendance,
];

/// Parses an activity type name in snake case, kebab case or upper case, with or without
/// the `ACTIVITY_TYPE_` prefix. Returns `None` for an unknown name and for `unspecified`.
pub fn parse(name: &str) -> Option<ActivityType> {
    let normalized = name.trim().replace('-', "_").to_ascii_uppercase();
    let full = if normalized.starts_with("ACTIVITY_TYPE_") {
        normalized
    } else {
        format!("ACTIVITY_TYPE_{normalized}")
    };

    ActivityType::from_str_name(&full).filter(|kind| *kind != ActivityType::Unspecified)
}

/// Returns the short snake-case name, for example `page_view`.
pub fn short_name(kind: ActivityType) -> String {
    let full = kind.as_str_name();
    full.strip_prefix("ACTIVITY_TYPE_").unwrap_or(full).to_ascii_lowercase()
}

/// Returns the short name of a raw enum value, or the number when the value is unknown.
pub fn short_name_of(value: i32) -> String {
    match ActivityType::try_from(value) {
        Ok(kind) => short_name(kind),
        Err(_) => value.to_string(),
    }
}

/// Lists the accepted short names, comma-separated, for error messages.
pub fn accepted_names() -> String {
    ALL.iter().map(|kind| short_name(*kind)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_every_spelling() {
        assert_eq!(parse("page_view"), Some(ActivityType::PageView));
        assert_eq!(parse("page-view"), Some(ActivityType::PageView));
        assert_eq!(parse("PAGE_VIEW"), Some(ActivityType::PageView));
        assert_eq!(parse(" Demo-Request "), Some(ActivityType::DemoRequest));
        assert_eq!(parse("ACTIVITY_TYPE_SMS_SENT"), Some(ActivityType::SmsSent));
    }

    #[test]
    fn parse_rejects_unknown_and_unspecified() {
        assert_eq!(parse("page_views"), None);
        assert_eq!(parse("unspecified"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn short_name_round_trips() {
        for kind in ALL {
            assert_eq!(parse(&short_name(kind)), Some(kind));
        }
    }
}
