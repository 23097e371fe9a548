//! Creates `erased_lead`, the record of leads whose personal data was erased.

use sea_orm_migration::prelude::*;

/// Creates `erased_lead`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000002_erasure"
    }
}

#[derive(DeriveIden)]
enum ErasedLead {
    Table,
    LeadId,
    ErasureId,
    EraseTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ErasedLead::Table)
                    .col(ColumnDef::new(ErasedLead::LeadId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ErasedLead::ErasureId).string().not_null())
                    .col(ColumnDef::new(ErasedLead::EraseTime).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ErasedLead::Table).to_owned()).await
    }
}
