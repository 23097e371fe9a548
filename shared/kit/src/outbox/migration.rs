//! The migration that creates the outbox, inbox and idempotency tables. Every service lists
//! it first in its migrator.

use sea_orm_migration::prelude::*;

/// Creates `outbox`, `inbox` and `idempotency_key`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_create_outbox_inbox_idempotency"
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    EventId,
    Destination,
    LeadId,
    Payload,
    CreateTime,
    Attempts,
    LastError,
    FailedAt,
}

#[derive(DeriveIden)]
enum Inbox {
    Table,
    EventId,
    Source,
    ProcessTime,
}

#[derive(DeriveIden)]
enum IdempotencyKey {
    Table,
    RequestId,
    Method,
    RequestHash,
    Response,
    CreateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(ColumnDef::new(Outbox::Seq).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Outbox::EventId).uuid().not_null().unique_key())
                    .col(ColumnDef::new(Outbox::Destination).string().not_null())
                    .col(ColumnDef::new(Outbox::LeadId).string().not_null())
                    .col(ColumnDef::new(Outbox::Payload).binary().not_null())
                    .col(ColumnDef::new(Outbox::CreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Outbox::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(Outbox::LastError).text())
                    .col(ColumnDef::new(Outbox::FailedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("outbox_destination_seq")
                    .table(Outbox::Table)
                    .col(Outbox::Destination)
                    .col(Outbox::Seq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Inbox::Table)
                    .col(ColumnDef::new(Inbox::EventId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Inbox::Source).string().not_null())
                    .col(ColumnDef::new(Inbox::ProcessTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKey::Table)
                    .col(ColumnDef::new(IdempotencyKey::RequestId).string().not_null().primary_key())
                    .col(ColumnDef::new(IdempotencyKey::Method).string().not_null())
                    .col(ColumnDef::new(IdempotencyKey::RequestHash).string().not_null())
                    .col(ColumnDef::new(IdempotencyKey::Response).binary().not_null())
                    .col(ColumnDef::new(IdempotencyKey::CreateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("idempotency_key_create_time")
                    .table(IdempotencyKey::Table)
                    .col(IdempotencyKey::CreateTime)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKey::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Inbox::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
    }
}

/// Keeps the outbox's empty pages through a vacuum on PostgreSQL.
///
/// Every delivered row is deleted, so the outbox often ends in empty pages. A vacuum that
/// truncates them waits for a moment between transactions and then holds an exclusive lock
/// on the table while it checks the pages, which stalls every insert into the outbox, and
/// so every write of the service, for that time. The pages fill again with the next events,
/// so `vacuum_truncate` is turned off for the table; the space is reused, not given back.
pub struct KeepOutboxPages;

impl MigrationName for KeepOutboxPages {
    fn name(&self) -> &str {
        "m20261205_000100_keep_outbox_pages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for KeepOutboxPages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared("ALTER TABLE outbox SET (vacuum_truncate = false)").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager.get_connection().execute_unprepared("ALTER TABLE outbox RESET (vacuum_truncate)").await?;
        }
        Ok(())
    }
}
