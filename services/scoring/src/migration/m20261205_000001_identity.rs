//! Adds identity to scores: the survivor a merged lead's score now belongs to, the lead's
//! do-not-contact flag, and whether an activity was recorded while its lead was anonymous.

use sea_orm_migration::prelude::*;

/// Adds `lead_score.merged_into`, `lead_score.do_not_contact` and `scored_activity.anonymous`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_identity"
    }
}

#[derive(DeriveIden)]
enum LeadScore {
    Table,
    MergedInto,
    DoNotContact,
}

#[derive(DeriveIden)]
enum ScoredActivity {
    Table,
    Anonymous,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE statement.
        manager
            .alter_table(
                Table::alter().table(LeadScore::Table).add_column(ColumnDef::new(LeadScore::MergedInto).uuid().null()).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LeadScore::Table)
                    .add_column(ColumnDef::new(LeadScore::DoNotContact).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ScoredActivity::Table)
                    .add_column(ColumnDef::new(ScoredActivity::Anonymous).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(ScoredActivity::Table).drop_column(ScoredActivity::Anonymous).to_owned()).await?;
        manager.alter_table(Table::alter().table(LeadScore::Table).drop_column(LeadScore::DoNotContact).to_owned()).await?;
        manager.alter_table(Table::alter().table(LeadScore::Table).drop_column(LeadScore::MergedInto).to_owned()).await
    }
}
