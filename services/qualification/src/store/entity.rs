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
