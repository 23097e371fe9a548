//! Roles allowed to call each method of the qualification service. When authentication is
//! on, a method that is missing here is denied to everyone.

use leadflow_kit::auth::{AccessTable, Role};

const PEOPLE_READ: &[Role] = &[Role::Marketing, Role::Sales, Role::Admin];
const SALES: &[Role] = &[Role::Sales, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];
const SERVICE: &[Role] = &[Role::Service];

/// Full method path → roles allowed to call it. Marketing reads the queue and the funnel
/// to follow its leads; only sales works them.
pub const METHOD_ROLES: AccessTable = &[
    ("/leadflow.qualification.v1.QualificationService/ListQueue", PEOPLE_READ),
    ("/leadflow.qualification.v1.QualificationService/GetQualification", PEOPLE_READ),
    ("/leadflow.qualification.v1.QualificationService/StartWork", SALES),
    ("/leadflow.qualification.v1.QualificationService/AcceptLead", SALES),
    ("/leadflow.qualification.v1.QualificationService/RejectLead", SALES),
    ("/leadflow.qualification.v1.QualificationService/RecycleLead", SALES),
    ("/leadflow.qualification.v1.QualificationService/CloseLead", SALES),
    ("/leadflow.qualification.v1.QualificationService/GetFunnel", PEOPLE_READ),
    ("/leadflow.qualification.v1.QualificationService/CreateRep", ADMIN),
    ("/leadflow.qualification.v1.QualificationService/UpdateRep", ADMIN),
    ("/leadflow.qualification.v1.QualificationService/ListReps", PEOPLE_READ),
    ("/leadflow.qualification.v1.QualificationService/AssignLead", SALES),
    ("/leadflow.qualification.v1.QualificationService/ListOverdue", PEOPLE_READ),
    ("/leadflow.qualification.v1.QualificationService/GetSettings", PEOPLE_READ),
    ("/leadflow.qualification.v1.QualificationService/UpdateSettings", ADMIN),
    ("/leadflow.qualification.v1.QualificationEventsService/DeliverScoringEvents", SERVICE),
];
