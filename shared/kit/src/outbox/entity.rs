//! SeaORM entities of the outbox, inbox and idempotency tables that every service has.

/// Events waiting for delivery to another service.
pub mod outbox {
    use sea_orm::entity::prelude::*;

    /// One pending event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        /// Insertion order; events of a destination are delivered in this order.
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// Id of the event, also inside the payload.
        #[sea_orm(unique)]
        pub event_id: Uuid,
        /// Service that receives the event, for example `scoring`.
        pub destination: String,
        /// Lead the event is about, for logs.
        pub lead_id: String,
        /// The protobuf-encoded event.
        pub payload: Vec<u8>,
        /// Time the event was written.
        pub create_time: DateTimeUtc,
        /// Failed delivery attempts so far.
        pub attempts: i32,
        /// Error of the last failed attempt.
        pub last_error: Option<String>,
        /// Set when the consumer rejected the event as invalid; such rows are kept for an
        /// operator and no longer relayed.
        pub failed_at: Option<DateTimeUtc>,
    }

    /// The outbox has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Ids of events a consumer has applied.
pub mod inbox {
    use sea_orm::entity::prelude::*;

    /// One applied event.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "inbox")]
    pub struct Model {
        /// Id of the applied event.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        /// Service that sent it.
        pub source: String,
        /// Time it was applied.
        pub process_time: DateTimeUtc,
    }

    /// The inbox has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Results of mutating calls, kept for replay when a `request_id` repeats.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    /// One stored result.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_key")]
    pub struct Model {
        /// The caller's request id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: String,
        /// Full gRPC method name of the call.
        pub method: String,
        /// SHA-256 of the encoded request without its request id, in hex.
        pub request_hash: String,
        /// The protobuf-encoded response returned the first time.
        pub response: Vec<u8>,
        /// Time of the first call.
        pub create_time: DateTimeUtc,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
