//! Creates `erasure`, one row per lead whose personal data was erased, with the
//! confirmation of each service.

use sea_orm_migration::prelude::*;

/// Creates `erasure`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000002_erasure"
    }
}

#[derive(DeriveIden)]
enum Erasure {
    Table,
    Id,
    LeadId,
    ActivityEraseTime,
    ScoringEraseTime,
    QualificationEraseTime,
    CompleteTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Erasure::Table)
                    .col(ColumnDef::new(Erasure::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Erasure::LeadId).uuid().not_null().unique_key())
                    .col(ColumnDef::new(Erasure::ActivityEraseTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Erasure::ScoringEraseTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(Erasure::QualificationEraseTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(Erasure::CompleteTime).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Erasure::Table).to_owned()).await
    }
}
