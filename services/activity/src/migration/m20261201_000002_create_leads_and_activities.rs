//! Creates the `lead` and `activity` tables.

use sea_orm_migration::prelude::*;

/// Creates `lead` and `activity` with their indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_create_leads_and_activities"
    }
}

#[derive(DeriveIden)]
enum Lead {
    Table,
    Id,
    Email,
    ExternalId,
    Source,
    Campaign,
    Attributes,
    LifecycleStage,
    Outcome,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum Activity {
    Table,
    Id,
    LeadId,
    ActivityType,
    OccurredAt,
    Properties,
    IdempotencyKey,
    RecordTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Lead::Table)
                    .col(ColumnDef::new(Lead::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Lead::Email).string().unique_key())
                    .col(ColumnDef::new(Lead::ExternalId).string().unique_key())
                    .col(ColumnDef::new(Lead::Source).string().not_null().default(""))
                    .col(ColumnDef::new(Lead::Campaign).string().not_null().default(""))
                    .col(ColumnDef::new(Lead::Attributes).json().not_null())
                    .col(ColumnDef::new(Lead::LifecycleStage).string().not_null())
                    .col(ColumnDef::new(Lead::Outcome).string())
                    .col(ColumnDef::new(Lead::CreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Lead::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Activity::Table)
                    .col(ColumnDef::new(Activity::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Activity::LeadId).uuid().not_null())
                    .col(ColumnDef::new(Activity::ActivityType).string().not_null())
                    .col(ColumnDef::new(Activity::OccurredAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Activity::Properties).json().not_null())
                    .col(ColumnDef::new(Activity::IdempotencyKey).string().unique_key())
                    .col(ColumnDef::new(Activity::RecordTime).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("activity_lead_id_fkey")
                            .from(Activity::Table, Activity::LeadId)
                            .to(Lead::Table, Lead::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("activity_lead_occurred_at")
                    .table(Activity::Table)
                    .col(Activity::LeadId)
                    .col(Activity::OccurredAt)
                    .col(Activity::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Activity::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Lead::Table).to_owned()).await
    }
}
