//! Creates the `funnel_lead`, `qualification` and `transition` tables.

use sea_orm_migration::prelude::*;

/// Creates `funnel_lead`, `qualification` and `transition` with their indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000002_create_qualification_tables"
    }
}

#[derive(DeriveIden)]
enum FunnelLead {
    Table,
    LeadId,
    Source,
    Campaign,
    LeadCreateTime,
    FirstMqlTime,
    FirstSqlTime,
    WonTime,
    LostTime,
    ImportedOutcome,
    MqlCount,
    SqlCount,
}

#[derive(DeriveIden)]
enum Qualification {
    Table,
    LeadId,
    State,
    MqlScore,
    ModelVersion,
    TopReasons,
    Source,
    Campaign,
    MqlTime,
    UpdateTime,
    Bant,
    Reason,
    Note,
    ValueMinor,
    Currency,
}

#[derive(DeriveIden)]
enum Transition {
    Table,
    Id,
    LeadId,
    FromState,
    ToState,
    Reason,
    ChangeTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FunnelLead::Table)
                    .col(ColumnDef::new(FunnelLead::LeadId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(FunnelLead::Source).string().not_null().default(""))
                    .col(ColumnDef::new(FunnelLead::Campaign).string().not_null().default(""))
                    .col(ColumnDef::new(FunnelLead::LeadCreateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(FunnelLead::FirstMqlTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(FunnelLead::FirstSqlTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(FunnelLead::WonTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(FunnelLead::LostTime).timestamp_with_time_zone())
                    .col(ColumnDef::new(FunnelLead::ImportedOutcome).string())
                    .col(ColumnDef::new(FunnelLead::MqlCount).integer().not_null().default(0))
                    .col(ColumnDef::new(FunnelLead::SqlCount).integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("funnel_lead_create_time")
                    .table(FunnelLead::Table)
                    .col(FunnelLead::LeadCreateTime)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Qualification::Table)
                    .col(ColumnDef::new(Qualification::LeadId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Qualification::State).string().not_null())
                    .col(ColumnDef::new(Qualification::MqlScore).big_integer().not_null())
                    .col(ColumnDef::new(Qualification::ModelVersion).integer().not_null())
                    .col(ColumnDef::new(Qualification::TopReasons).json().not_null())
                    .col(ColumnDef::new(Qualification::Source).string().not_null().default(""))
                    .col(ColumnDef::new(Qualification::Campaign).string().not_null().default(""))
                    .col(ColumnDef::new(Qualification::MqlTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Qualification::UpdateTime).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Qualification::Bant).json())
                    .col(ColumnDef::new(Qualification::Reason).string().not_null().default(""))
                    .col(ColumnDef::new(Qualification::Note).text().not_null().default(""))
                    .col(ColumnDef::new(Qualification::ValueMinor).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Qualification::Currency).string().not_null().default(""))
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("qualification_state_mql_time")
                    .table(Qualification::Table)
                    .col(Qualification::State)
                    .col(Qualification::MqlTime)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Transition::Table)
                    .col(ColumnDef::new(Transition::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Transition::LeadId).uuid().not_null())
                    .col(ColumnDef::new(Transition::FromState).string().not_null())
                    .col(ColumnDef::new(Transition::ToState).string().not_null())
                    .col(ColumnDef::new(Transition::Reason).string().not_null().default(""))
                    .col(ColumnDef::new(Transition::ChangeTime).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("transition_lead_id_fkey")
                            .from(Transition::Table, Transition::LeadId)
                            .to(Qualification::Table, Qualification::LeadId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("transition_lead_id")
                    .table(Transition::Table)
                    .col(Transition::LeadId)
                    .col(Transition::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Transition::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Qualification::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(FunnelLead::Table).to_owned()).await
    }
}
