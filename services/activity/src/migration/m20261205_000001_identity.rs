//! Adds identity and consent: consent flags, the anonymous and merged markers and the erase
//! time on `lead`, the `visitor_alias` table of anonymous visitor ids and the `lead_merge`
//! record of merges.

use sea_orm_migration::prelude::*;

/// Adds the identity columns and tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_identity"
    }
}

#[derive(DeriveIden)]
enum Lead {
    Table,
    DoNotTrack,
    DoNotContact,
    Anonymous,
    MergedInto,
    EraseTime,
}

#[derive(DeriveIden)]
enum VisitorAlias {
    Table,
    VisitorId,
    LeadId,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden)]
enum LeadMerge {
    Table,
    Id,
    SurvivorLeadId,
    MergedLeadId,
    Actor,
    MergeTime,
    ActivitiesMoved,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE statement.
        let columns = [
            ColumnDef::new(Lead::DoNotTrack).boolean().not_null().default(false).to_owned(),
            ColumnDef::new(Lead::DoNotContact).boolean().not_null().default(false).to_owned(),
            ColumnDef::new(Lead::Anonymous).boolean().not_null().default(false).to_owned(),
            ColumnDef::new(Lead::MergedInto).uuid().null().to_owned(),
            ColumnDef::new(Lead::EraseTime).timestamp_with_time_zone().null().to_owned(),
        ];
        for mut column in columns {
            manager.alter_table(Table::alter().table(Lead::Table).add_column(&mut column).to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(VisitorAlias::Table)
                    .col(ColumnDef::new(VisitorAlias::VisitorId).string().not_null().primary_key())
                    .col(ColumnDef::new(VisitorAlias::LeadId).uuid().not_null())
                    .col(ColumnDef::new(VisitorAlias::CreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(VisitorAlias::UpdateTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("visitor_alias_lead_id").table(VisitorAlias::Table).col(VisitorAlias::LeadId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LeadMerge::Table)
                    .col(ColumnDef::new(LeadMerge::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LeadMerge::SurvivorLeadId).uuid().not_null())
                    .col(ColumnDef::new(LeadMerge::MergedLeadId).uuid().not_null().unique_key())
                    .col(ColumnDef::new(LeadMerge::Actor).string().not_null())
                    .col(ColumnDef::new(LeadMerge::MergeTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LeadMerge::ActivitiesMoved).integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LeadMerge::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(VisitorAlias::Table).to_owned()).await?;
        for column in [Lead::EraseTime, Lead::MergedInto, Lead::Anonymous, Lead::DoNotContact, Lead::DoNotTrack] {
            manager.alter_table(Table::alter().table(Lead::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
