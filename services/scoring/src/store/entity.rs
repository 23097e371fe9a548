//! SeaORM entities of the scoring database.

/// Versions of scoring models.
pub mod scoring_model {
    use sea_orm::entity::prelude::*;

    /// One version of a model.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scoring_model")]
    pub struct Model {
        /// Model id, for example `default`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: String,
        /// Version number, from 1.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// `DRAFT`, `ACTIVE` or `RETIRED`.
        pub state: String,
        /// The whole model as JSON (`domain::Model`).
        pub definition: Json,
        /// MQL threshold in whole points, kept beside the JSON for queries.
        pub mql_threshold: i64,
        /// What the version changes.
        pub description: String,
        /// Time the version was stored.
        pub create_time: DateTimeUtc,
        /// Time of publication; none for drafts.
        pub publish_time: Option<DateTimeUtc>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Progress of rescoring all leads under a published version.
pub mod rescore_job {
    use sea_orm::entity::prelude::*;

    /// One rescoring job.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rescore_job")]
    pub struct Model {
        /// Model id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub model_id: String,
        /// Version being applied.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// Last lead rescored; the job resumes after it.
        pub cursor_lead_id: Option<Uuid>,
        /// Leads rescored so far.
        pub leads_done: i64,
        /// Leads counted when the job started.
        pub leads_total: i64,
        /// True once every lead is rescored.
        pub finished: bool,
        /// Time of the last progress.
        pub update_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Current scores.
pub mod lead_score {
    use sea_orm::entity::prelude::*;

    /// A lead's current score: `score = engagement + fit + floor_adjustment`, always the sum
    /// of its ledger entries.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_score")]
    pub struct Model {
        /// Lead id from the activity service.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: Uuid,
        /// Total in whole points.
        pub score: i64,
        /// Engagement points credited.
        pub engagement: i64,
        /// Fit points credited.
        pub fit: i64,
        /// Raise credited by the score floor.
        pub floor_adjustment: i64,
        /// True while the lead is an MQL that sales has not recycled; a lead with `mql`
        /// false is armed.
        pub mql: bool,
        /// Times the lead became an MQL.
        pub mql_count: i32,
        /// Time of the last crossing.
        pub last_mql_time: Option<DateTimeUtc>,
        /// Channel that brought the lead.
        pub source: String,
        /// Campaign that brought the lead.
        pub campaign: String,
        /// Profile attributes as a JSON object of strings.
        pub attributes: Json,
        /// Known outcome, `WON` or `LOST`.
        pub outcome: Option<String>,
        /// Number of ledger entries.
        pub ledger_entries: i64,
        /// Model version of the last evaluation.
        pub model_version: i32,
        /// Next instant the score needs another evaluation: a decay step or a future-dated
        /// activity coming due.
        pub next_check_at: Option<DateTimeUtc>,
        /// Time the activity service created the lead.
        pub lead_create_time: DateTimeUtc,
        /// Instant of the last evaluation; the stored score describes this instant.
        pub update_time: DateTimeUtc,
        /// Survivor the lead was merged into; a merged lead keeps a score of 0.
        pub merged_into: Option<Uuid>,
        /// Do-not-contact consent flag, carried to the sales queue.
        pub do_not_contact: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Activities the scoring service has received.
pub mod scored_activity {
    use sea_orm::entity::prelude::*;

    /// One activity with its current verdict.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "scored_activity")]
    pub struct Model {
        /// Activity id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub activity_id: Uuid,
        /// Lead that performed it.
        pub lead_id: Uuid,
        /// Activity type name.
        pub activity_type: String,
        /// When it happened.
        pub occurred_at: DateTimeUtc,
        /// Properties as a JSON object of strings.
        pub properties: Json,
        /// Rule that matched.
        pub rule_id: Option<String>,
        /// Points before decay.
        pub base_points: i64,
        /// Points currently credited to the score (after decay).
        pub credited_points: i64,
        /// `pending` until first evaluated, then the verdict code.
        pub verdict: String,
        /// Detail of the verdict.
        pub detail: String,
        /// Recorded while the lead was an anonymous visitor.
        pub anonymous: bool,
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
        /// UUIDv7 of the entry; sorts by writing order.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Lead whose score changed.
        pub lead_id: Uuid,
        /// Entry kind name, for example `ACTIVITY` or `DECAY`.
        pub kind: String,
        /// Activity concerned.
        pub activity_id: Option<Uuid>,
        /// Rule applied; empty when none.
        pub rule_id: String,
        /// Model that computed it.
        pub model_id: String,
        /// Version of that model.
        pub model_version: i32,
        /// Points added; may be zero or negative.
        pub points: i64,
        /// Score before the entry.
        pub score_before: i64,
        /// Score after the entry.
        pub score_after: i64,
        /// Machine-readable reason.
        pub reason: String,
        /// Readable detail.
        pub detail: String,
        /// Instant the change refers to.
        pub effective_time: DateTimeUtc,
        /// Time the entry was written.
        pub entry_time: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
