//! The transactional outbox and the consumer inbox.
//!
//! A producer writes its state change and an [`enqueue`]d event row in one transaction, then
//! calls [`OutboxWaker::wake`]. A [`relay::Relay`] per destination delivers pending rows in
//! `seq` order through an [`relay::EventSink`] and deletes them once the consumer has
//! acknowledged them. Consumers call [`inbox::record`], or [`inbox::record_new`] for a batch,
//! in the transaction of their effect, so a redelivered event changes nothing.

pub mod entity;
pub mod inbox;
pub mod migration;
pub mod relay;

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use tokio::sync::watch;
use uuid::Uuid;

pub use relay::{EventSink, Relay, RelayConfig};

/// Writes one event for `destination` into the outbox of the current transaction.
pub async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    destination: &str,
    event_id: Uuid,
    lead_id: &str,
    payload: Vec<u8>,
) -> Result<(), DbErr> {
    entity::outbox::Entity::insert(row(destination, event_id, lead_id, payload)).exec_without_returning(txn).await?;
    Ok(())
}

/// Builds one pending outbox row, for [`enqueue_rows`].
pub fn row(destination: &str, event_id: Uuid, lead_id: &str, payload: Vec<u8>) -> entity::outbox::ActiveModel {
    entity::outbox::ActiveModel {
        event_id: Set(event_id),
        destination: Set(destination.to_owned()),
        lead_id: Set(lead_id.to_owned()),
        payload: Set(payload),
        create_time: Set(crate::time::now()),
        attempts: Set(0),
        last_error: Set(None),
        failed_at: Set(None),
        ..Default::default()
    }
}

/// Writes several events with multi-row inserts in order (see `crate::db::insert_rows`).
/// PostgreSQL and SQLite insert the rows of a VALUES list in the order given, so `seq`, and
/// with it the order of delivery, follows the order of `rows`.
pub async fn enqueue_rows<C: ConnectionTrait>(txn: &C, rows: Vec<entity::outbox::ActiveModel>) -> Result<(), DbErr> {
    crate::db::insert_rows(txn, rows).await
}

/// Wakes the relays of a service after a commit, so delivery does not wait for a poll.
#[derive(Clone)]
pub struct OutboxWaker {
    sender: watch::Sender<u64>,
}

impl Default for OutboxWaker {
    fn default() -> Self {
        Self::new()
    }
}

impl OutboxWaker {
    /// Creates a waker with no relays subscribed yet.
    pub fn new() -> Self {
        let (sender, _) = watch::channel(0);
        Self { sender }
    }

    /// Tells every subscribed relay that new rows were committed.
    pub fn wake(&self) {
        self.sender.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Returns a receiver that changes on every wake.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}
