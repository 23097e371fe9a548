//! Adds sales reps, the assignment history, SLA entries, stored settings, and the columns
//! that record actors, assignments, overrides and framework answers.

use sea_orm_migration::prelude::*;

/// Creates `rep`, `assignment`, `sla_entry` and `setting`, and adds columns to
/// `qualification`, `transition` and `funnel_lead`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000003_add_reps_sla_settings"
    }
}

#[derive(DeriveIden)]
enum Rep {
    Table,
    RepId,
    DisplayName,
    Active,
    Capacity,
    Countries,
    Segments,
    TimeZone,
    AssignSeq,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Assignment {
    Table,
    Id,
    LeadId,
    RepId,
    PreviousRepId,
    Method,
    Actor,
    AssignTime,
}

#[derive(DeriveIden)]
enum SlaEntry {
    Table,
    Id,
    LeadId,
    EntryTime,
    DueTime,
    TouchTime,
    EscalateTime,
}

#[derive(DeriveIden)]
enum Setting {
    Table,
    Key,
    Value,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Qualification {
    Table,
    AssignedRepId,
    FirstTouchDueTime,
    OverrideReason,
    Answers,
    Attributes,
}

#[derive(DeriveIden)]
enum Transition {
    Table,
    Actor,
}

#[derive(DeriveIden)]
enum FunnelLead {
    Table,
    OverrideCount,
}

/// Adds one column per statement, because SQLite's ALTER TABLE takes one change at a time.
async fn add_column(manager: &SchemaManager<'_>, table: impl IntoIden + 'static, column: ColumnDef) -> Result<(), DbErr> {
    let mut column = column;
    manager.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await
}

async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Rep::Table)
                    .col(ColumnDef::new(Rep::RepId).string().not_null().primary_key())
                    .col(ColumnDef::new(Rep::DisplayName).string().not_null().default(""))
                    .col(ColumnDef::new(Rep::Active).boolean().not_null())
                    .col(ColumnDef::new(Rep::Capacity).integer().not_null())
                    .col(ColumnDef::new(Rep::Countries).json().not_null())
                    .col(ColumnDef::new(Rep::Segments).json().not_null())
                    .col(ColumnDef::new(Rep::TimeZone).string().not_null().default(""))
                    .col(ColumnDef::new(Rep::AssignSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Rep::CreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Rep::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Assignment::Table)
                    .col(ColumnDef::new(Assignment::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Assignment::LeadId).uuid().not_null())
                    .col(ColumnDef::new(Assignment::RepId).string().not_null())
                    .col(ColumnDef::new(Assignment::PreviousRepId).string().not_null().default(""))
                    .col(ColumnDef::new(Assignment::Method).string().not_null())
                    .col(ColumnDef::new(Assignment::Actor).string().not_null())
                    .col(ColumnDef::new(Assignment::AssignTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("assignment_lead_id")
                    .table(Assignment::Table)
                    .col(Assignment::LeadId)
                    .col(Assignment::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SlaEntry::Table)
                    .col(ColumnDef::new(SlaEntry::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SlaEntry::LeadId).uuid().not_null())
                    .col(ColumnDef::new(SlaEntry::EntryTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SlaEntry::DueTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SlaEntry::TouchTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(SlaEntry::EscalateTime).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("sla_entry_lead_id").table(SlaEntry::Table).col(SlaEntry::LeadId).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("sla_entry_due_time").table(SlaEntry::Table).col(SlaEntry::DueTime).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Setting::Table)
                    .col(ColumnDef::new(Setting::Key).string().not_null().primary_key())
                    .col(ColumnDef::new(Setting::Value).json().not_null())
                    .col(ColumnDef::new(Setting::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        add_column(
            manager,
            Qualification::Table,
            ColumnDef::new(Qualification::AssignedRepId).string().not_null().default("").to_owned(),
        )
        .await?;
        add_column(
            manager,
            Qualification::Table,
            ColumnDef::new(Qualification::FirstTouchDueTime).timestamp_with_time_zone().to_owned(),
        )
        .await?;
        add_column(
            manager,
            Qualification::Table,
            ColumnDef::new(Qualification::OverrideReason).text().not_null().default("").to_owned(),
        )
        .await?;
        add_column(manager, Qualification::Table, ColumnDef::new(Qualification::Answers).json().to_owned()).await?;
        add_column(manager, Qualification::Table, ColumnDef::new(Qualification::Attributes).json().to_owned()).await?;
        add_column(
            manager,
            Transition::Table,
            ColumnDef::new(Transition::Actor).string().not_null().default("").to_owned(),
        )
        .await?;
        add_column(
            manager,
            FunnelLead::Table,
            ColumnDef::new(FunnelLead::OverrideCount).integer().not_null().default(0).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, FunnelLead::Table, FunnelLead::OverrideCount).await?;
        drop_column(manager, Transition::Table, Transition::Actor).await?;
        drop_column(manager, Qualification::Table, Qualification::Attributes).await?;
        drop_column(manager, Qualification::Table, Qualification::Answers).await?;
        drop_column(manager, Qualification::Table, Qualification::OverrideReason).await?;
        drop_column(manager, Qualification::Table, Qualification::FirstTouchDueTime).await?;
        drop_column(manager, Qualification::Table, Qualification::AssignedRepId).await?;
        manager.drop_table(Table::drop().table(Setting::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(SlaEntry::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Assignment::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Rep::Table).to_owned()).await
    }
}
