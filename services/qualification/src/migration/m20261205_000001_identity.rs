//! Adds identity to qualifications: the do-not-contact flag of a queue entry and the
//! `lead_merge` record of merged leads, which reads of a merged lead follow to the survivor.

use sea_orm_migration::prelude::*;

/// Adds `qualification.do_not_contact` and the `lead_merge` table.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_identity"
    }
}

#[derive(DeriveIden)]
enum Qualification {
    Table,
    DoNotContact,
}

#[derive(DeriveIden)]
enum LeadMerge {
    Table,
    MergedLeadId,
    SurvivorLeadId,
    MergeTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Qualification::Table)
                    .add_column(ColumnDef::new(Qualification::DoNotContact).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeadMerge::Table)
                    .col(ColumnDef::new(LeadMerge::MergedLeadId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LeadMerge::SurvivorLeadId).uuid().not_null())
                    .col(ColumnDef::new(LeadMerge::MergeTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LeadMerge::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Qualification::Table).drop_column(Qualification::DoNotContact).to_owned()).await
    }
}
