//! Roles allowed to call each method of the activity service. When authentication is on,
//! a method that is missing here is denied to everyone.

use leadflow_kit::auth::{AccessTable, Role};

const PEOPLE_READ: &[Role] = &[Role::Marketing, Role::Sales, Role::Admin];
const MARKETING: &[Role] = &[Role::Marketing, Role::Admin];
const SALES: &[Role] = &[Role::Sales, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const SERVICE: &[Role] = &[Role::Service];

/// Full method path → roles allowed to call it.
pub const METHOD_ROLES: AccessTable = &[
    ("/leadflow.activity.v1.ActivityService/UpsertLead", MARKETING),
    ("/leadflow.activity.v1.ActivityService/GetLead", PEOPLE_READ),
    ("/leadflow.activity.v1.ActivityService/ListLeads", PEOPLE_READ),
    ("/leadflow.activity.v1.ActivityService/TrackActivity", MARKETING),
    ("/leadflow.activity.v1.ActivityService/ListActivities", PEOPLE_READ),
    ("/leadflow.activity.v1.ActivityService/RecordOutcome", SALES),
    ("/leadflow.activity.v1.ActivityService/ImportRecords", MARKETING),
    ("/leadflow.activity.v1.ActivityService/IdentifyVisitor", MARKETING),
    ("/leadflow.activity.v1.ActivityService/MergeLeads", MARKETING),
    ("/leadflow.activity.v1.ActivityService/SetLeadConsent", MARKETING),
    ("/leadflow.activity.v1.ActivityService/EraseLead", ADMIN),
    ("/leadflow.activity.v1.ActivityService/GetErasure", ADMIN),
    ("/leadflow.activity.v1.ActivityEventsService/DeliverQualificationEvents", SERVICE),
];
