//! SeaORM entities of the qualification database.

/// Every lead the funnel report counts, with the time it reached each stage.
pub mod funnel_lead {
    use sea_orm::entity::prelude::*;

    /// One lead of the funnel. A stage time is set when the lead first reaches the stage.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "funnel_lead")]
    pub struct Model {
        /// Lead id assigned by the activity service.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: Uuid,
        /// Channel that brought the lead.
        pub source: String,
        /// Campaign that brought the lead.
        pub campaign: String,
        /// Time the lead was first stored, which places it in a funnel cohort.
        pub lead_create_time: DateTimeUtc,
        /// Time the lead first became an MQL.
        pub first_mql_time: Option<DateTimeUtc>,
        /// Time sales first accepted the lead.
        pub first_sql_time: Option<DateTimeUtc>,
        /// Time sales closed the lead as won.
        pub won_time: Option<DateTimeUtc>,
        /// Time sales closed the lead as lost.
        pub lost_time: Option<DateTimeUtc>,
        /// Outcome recorded outside the suite: `WON`, `LOST` or none.
        pub imported_outcome: Option<String>,
        /// Number of times the lead entered the queue.
        pub mql_count: i32,
        /// Number of times sales accepted the lead.
        pub sql_count: i32,
        /// Number of acceptances made with an override reason despite missing fields.
        pub override_count: i32,
    }

    /// A funnel lead has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The current qualification of each lead that became an MQL.
pub mod qualification {
    use sea_orm::entity::prelude::*;

    /// One lead's passage through sales qualification.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "qualification")]
    pub struct Model {
        /// Lead id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: Uuid,
        /// State name without the enum prefix, for example `NEW` or `SQL`.
        pub state: String,
        /// Score when the lead last became an MQL, in whole points.
        pub mql_score: i64,
        /// Version of the scoring model that made the lead an MQL.
        pub model_version: i32,
        /// Largest score contributions at the crossing: a JSON array of objects with
        /// `activity_type` (name without prefix), `activity_count` and `points`.
        pub top_reasons: Json,
        /// Channel that brought the lead.
        pub source: String,
        /// Campaign that brought the lead.
        pub campaign: String,
        /// Time the lead last became an MQL.
        pub mql_time: DateTimeUtc,
        /// Time of the last state change.
        pub update_time: DateTimeUtc,
        /// BANT recorded at acceptance, as a JSON object; none before.
        pub bant: Option<Json>,
        /// Reason code of the last rejection or close.
        pub reason: String,
        /// Free text of the last rejection.
        pub note: String,
        /// Deal value of a closed lead in minor currency units.
        pub value_minor: i64,
        /// ISO 4217 currency of `value_minor`.
        pub currency: String,
        /// Rep the lead is assigned to, empty when none.
        pub assigned_rep_id: String,
        /// First-touch deadline of the current queue entry; none for entries made before
        /// SLAs were kept.
        pub first_touch_due_time: Option<DateTimeUtc>,
        /// Override reason of the last acceptance, empty when it passed the framework check.
        pub override_reason: String,
        /// Field values of a non-BANT framework as a JSON object of strings; none before acceptance.
        pub answers: Option<Json>,
        /// Lead attributes of the last MQL event as a JSON object of strings.
        pub attributes: Option<Json>,
        /// Do-not-contact consent flag of the lead.
        pub do_not_contact: bool,
    }

    /// Relations of a qualification.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The qualification's state changes.
        #[sea_orm(has_many = "super::transition::Entity")]
        Transition,
    }

    impl Related<super::transition::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Transition.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// State changes of qualifications.
pub mod transition {
    use sea_orm::entity::prelude::*;

    /// One state change.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transition")]
    pub struct Model {
        /// UUIDv7 of the change, so ids sort by time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead whose state changed.
        pub lead_id: Uuid,
        /// State before, `UNSPECIFIED` when the lead entered the queue.
        pub from_state: String,
        /// State after.
        pub to_state: String,
        /// Reason code, empty when none.
        pub reason: String,
        /// Time of the change.
        pub change_time: DateTimeUtc,
        /// Author of the change; empty for changes stored before actors were recorded.
        pub actor: String,
    }

    /// Relations of a transition.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The qualification that changed.
        #[sea_orm(
            belongs_to = "super::qualification::Entity",
            from = "Column::LeadId",
            to = "super::qualification::Column::LeadId"
        )]
        Qualification,
    }

    impl Related<super::qualification::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Qualification.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Sales reps who work MQLs.
pub mod rep {
    use sea_orm::entity::prelude::*;

    /// One sales rep.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rep")]
    pub struct Model {
        /// Id chosen by the caller.
        #[sea_orm(primary_key, auto_increment = false)]
        pub rep_id: String,
        /// Name shown to people.
        pub display_name: String,
        /// True when the rep takes new MQLs.
        pub active: bool,
        /// Maximum number of open (NEW or WORKING) leads.
        pub capacity: i32,
        /// Territory as a JSON array of ISO 3166-1 alpha-2 codes; empty means every country.
        pub countries: Json,
        /// Segments as a JSON array of strings; empty means every segment.
        pub segments: Json,
        /// IANA time zone, empty for the team's zone.
        pub time_zone: String,
        /// Position of the rep's last automatic assignment; round robin picks the lowest.
        pub assign_seq: i64,
        /// Time the rep was created.
        pub create_time: DateTimeUtc,
        /// Time the rep last changed.
        pub update_time: DateTimeUtc,
    }

    /// A rep has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The assignment history of leads.
pub mod assignment {
    use sea_orm::entity::prelude::*;

    /// One assignment of a lead to a rep.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assignment")]
    pub struct Model {
        /// UUIDv7 of the assignment, so ids sort by time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead that was assigned.
        pub lead_id: Uuid,
        /// Rep the lead was assigned to.
        pub rep_id: String,
        /// Rep the lead was assigned to before, empty for the first assignment.
        pub previous_rep_id: String,
        /// `round_robin`, `rules` or `manual`.
        pub method: String,
        /// Who assigned.
        pub actor: String,
        /// Time of the assignment.
        pub assign_time: DateTimeUtc,
    }

    /// An assignment has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// First-touch deadlines, one per queue entry of a lead.
pub mod sla_entry {
    use sea_orm::entity::prelude::*;

    /// One queue entry with its first-touch deadline.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sla_entry")]
    pub struct Model {
        /// UUIDv7 of the entry.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead that entered the queue.
        pub lead_id: Uuid,
        /// Time the lead entered the queue.
        pub entry_time: DateTimeUtc,
        /// First-touch deadline.
        pub due_time: DateTimeUtc,
        /// Time of the first touch, none until then.
        pub touch_time: Option<DateTimeUtc>,
        /// Time the SLA job escalated the missed deadline; set at most once.
        pub escalate_time: Option<DateTimeUtc>,
    }

    /// An SLA entry has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Stored settings, one JSON value per key.
pub mod setting {
    use sea_orm::entity::prelude::*;

    /// One setting.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "setting")]
    pub struct Model {
        /// Name of the setting.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Its value.
        pub value: Json,
        /// Time of the last change.
        pub update_time: DateTimeUtc,
    }

    /// A setting has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Leads merged into another lead; reads of a merged lead return the survivor.
pub mod lead_merge {
    use sea_orm::entity::prelude::*;

    /// One merged lead.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_merge")]
    pub struct Model {
        /// Lead merged into the survivor.
        #[sea_orm(primary_key, auto_increment = false)]
        pub merged_lead_id: Uuid,
        /// Lead that survived.
        pub survivor_lead_id: Uuid,
        /// Time of the merge.
        pub merge_time: DateTimeUtc,
    }

    /// A merge record has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
