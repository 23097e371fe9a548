//! Migrations of the qualification database, applied at start-up and by
//! `leadflow-qualification migrate`.

use sea_orm_migration::prelude::*;

mod m20261201_000002_create_qualification_tables;
mod m20261204_000003_add_reps_sla_settings;
mod m20261205_000001_identity;
mod m20261205_000002_erasure;

/// Applies the qualification service's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(leadflow_kit::outbox::migration::Migration),
            Box::new(m20261201_000002_create_qualification_tables::Migration),
            Box::new(m20261204_000003_add_reps_sla_settings::Migration),
            Box::new(m20261205_000001_identity::Migration),
            Box::new(m20261205_000002_erasure::Migration),
            Box::new(leadflow_kit::outbox::migration::KeepOutboxPages),
        ]
    }
}
