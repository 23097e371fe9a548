//! Roles allowed to call each method of the scoring service. When authentication is on,
//! a method that is missing here is denied to everyone.

use leadflow_kit::auth::{AccessTable, Role};

const PEOPLE_READ: &[Role] = &[Role::Marketing, Role::Sales, Role::Admin];
const MARKETING: &[Role] = &[Role::Marketing, Role::Admin];
const SERVICE: &[Role] = &[Role::Service];

/// Full method path → roles allowed to call it. Validating, previewing and fitting a model
/// change nothing but are model work, so they belong to marketing like publishing does.
pub const METHOD_ROLES: AccessTable = &[
    ("/leadflow.scoring.v1.ScoringService/GetScoringModel", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/PublishScoringModel", MARKETING),
    ("/leadflow.scoring.v1.ScoringService/CreateScoringModelDraft", MARKETING),
    ("/leadflow.scoring.v1.ScoringService/ValidateScoringModel", MARKETING),
    ("/leadflow.scoring.v1.ScoringService/ListScoringModelVersions", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/PreviewScoringModel", MARKETING),
    ("/leadflow.scoring.v1.ScoringService/ListScoreChanges", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/WatchScoreChanges", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/GetLeadScore", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/ListLeadScores", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/GetModelQuality", PEOPLE_READ),
    ("/leadflow.scoring.v1.ScoringService/FitScoringModel", MARKETING),
    ("/leadflow.scoring.v1.ScoringEventsService/DeliverActivityEvents", SERVICE),
    ("/leadflow.scoring.v1.ScoringEventsService/DeliverQualificationEvents", SERVICE),
];
