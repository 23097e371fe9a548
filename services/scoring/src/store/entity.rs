//! SeaORM entities of the scoring database.

/// Versions of scoring models.
pub mod scoring_model {
    use sea_orm::entity::prelude::*;

    /// One published version of a model.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scoring_model")]
    pub struct Model {
        /// Model id, for example `default`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: String,
        /// Version number, from 1.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// Points per activity type name, as a JSON object of integers.
        pub activity_points: Json,
        /// MQL threshold in whole points.
        pub mql_threshold: i64,
        /// What the version changes.
        pub description: String,
        /// True for the one active version of the model.
        pub active: bool,
        /// Time of publication.
        pub publish_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Current scores.
pub mod lead_score {
    use sea_orm::entity::prelude::*;

    /// A lead's current score; always the sum of its ledger entries.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_score")]
    pub struct Model {
        /// Lead id from the activity service.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: Uuid,
        /// Score in whole points.
        pub score: i64,
        /// True while the lead is an MQL that sales has not recycled; a lead with `mql`
        /// false is armed and becomes an MQL when it reaches the threshold.
        pub mql: bool,
        /// Times the lead became an MQL.
        pub mql_count: i32,
        /// Time of the last crossing.
        pub last_mql_time: Option<DateTimeUtc>,
        /// Channel that brought the lead.
        pub source: String,
        /// Campaign that brought the lead.
        pub campaign: String,
        /// Known outcome, `WON` or `LOST`.
        pub outcome: Option<String>,
        /// Number of ledger entries.
        pub ledger_entries: i64,
        /// Time the activity service created the lead.
        pub lead_create_time: DateTimeUtc,
        /// Time of the last change.
        pub update_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The score ledger.
pub mod ledger_entry {
    use sea_orm::entity::prelude::*;

    /// One change of a lead's score, including changes of zero points.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ledger_entry")]
    pub struct Model {
        /// UUIDv7 of the entry; sorts by insertion time.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead whose score changed.
        pub lead_id: Uuid,
        /// Activity that caused the change; each activity is scored at most once.
        #[sea_orm(unique)]
        pub activity_id: Option<Uuid>,
        /// Activity type name, for example `PAGE_VIEW`.
        pub activity_type: String,
        /// The rule applied, or why none gave points.
        pub rule: String,
        /// Model that scored it.
        pub model_id: String,
        /// Version of that model.
        pub model_version: i32,
        /// Points awarded; may be zero or negative.
        pub points: i64,
        /// Score before the entry.
        pub score_before: i64,
        /// Score after the entry.
        pub score_after: i64,
        /// When the activity happened.
        pub occurred_at: DateTimeUtc,
        /// When the entry was written.
        pub entry_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
