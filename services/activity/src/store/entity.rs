//! SeaORM entities of the activity database.

/// Leads.
pub mod lead {
    use sea_orm::entity::prelude::*;

    /// One lead. E-mail addresses are stored normalised (trimmed, lower-cased).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead")]
    pub struct Model {
        /// UUIDv7 of the lead.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Normalised e-mail address.
        #[sea_orm(unique)]
        pub email: Option<String>,
        /// Id in the system the lead came from.
        #[sea_orm(unique)]
        pub external_id: Option<String>,
        /// Channel that brought the lead, lower-cased.
        pub source: String,
        /// Campaign that brought the lead.
        pub campaign: String,
        /// Profile attributes as a JSON object of strings.
        pub attributes: Json,
        /// Lifecycle stage name, for example `LEAD` or `MQL`.
        pub lifecycle_stage: String,
        /// Outcome recorded from outside the suite: `WON`, `LOST` or none.
        pub outcome: Option<String>,
        /// Time the lead was first stored.
        pub create_time: DateTimeUtc,
        /// Time of the last change.
        pub update_time: DateTimeUtc,
        /// Do-not-track consent flag: the lead's activities are not stored.
        pub do_not_track: bool,
        /// Do-not-contact consent flag: sales must not contact the lead.
        pub do_not_contact: bool,
        /// The lead is known only by an anonymous visitor id.
        pub anonymous: bool,
        /// Survivor this lead was merged into; look-ups of this lead return the survivor.
        pub merged_into: Option<Uuid>,
        /// Time the lead's personal data was erased.
        pub erase_time: Option<DateTimeUtc>,
    }

    /// Relations of a lead.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The lead's activities.
        #[sea_orm(has_many = "super::activity::Entity")]
        Activity,
    }

    impl Related<super::activity::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Activity.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Activities.
pub mod activity {
    use sea_orm::entity::prelude::*;

    /// One activity of a lead.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "activity")]
    pub struct Model {
        /// UUIDv7 of the activity.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead that performed it.
        pub lead_id: Uuid,
        /// Activity type name without the enum prefix, for example `PAGE_VIEW`.
        pub activity_type: String,
        /// When the lead did it, in UTC.
        pub occurred_at: DateTimeUtc,
        /// Free properties as a JSON object of strings.
        pub properties: Json,
        /// Key that makes retries safe.
        #[sea_orm(unique)]
        pub idempotency_key: Option<String>,
        /// Time the activity was stored.
        pub record_time: DateTimeUtc,
    }

    /// Relations of an activity.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        /// The lead that performed it.
        #[sea_orm(
            belongs_to = "super::lead::Entity",
            from = "Column::LeadId",
            to = "super::lead::Column::Id"
        )]
        Lead,
    }

    impl Related<super::lead::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Lead.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// Anonymous visitor ids and the leads they look up.
pub mod visitor_alias {
    use sea_orm::entity::prelude::*;

    /// One visitor id (a cookie or device id) of a lead.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "visitor_alias")]
    pub struct Model {
        /// The visitor id as the client sent it, trimmed.
        #[sea_orm(primary_key, auto_increment = false)]
        pub visitor_id: String,
        /// Lead the visitor id looks up.
        pub lead_id: Uuid,
        /// Time the visitor id was first seen.
        pub create_time: DateTimeUtc,
        /// Time the visitor id last moved to another lead.
        pub update_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Merges of one lead into another.
pub mod lead_merge {
    use sea_orm::entity::prelude::*;

    /// One merge; a lead is merged at most once.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_merge")]
    pub struct Model {
        /// UUIDv7 of the merge.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead that survived.
        pub survivor_lead_id: Uuid,
        /// Lead merged into the survivor.
        #[sea_orm(unique)]
        pub merged_lead_id: Uuid,
        /// Caller that requested the merge.
        pub actor: String,
        /// Time of the merge.
        pub merge_time: DateTimeUtc,
        /// Activities that moved to the survivor.
        pub activities_moved: i32,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
