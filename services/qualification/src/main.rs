//! The qualification service binary: `leadflow-qualification [serve|migrate] [--config FILE]`.

use leadflow_kit::config::ServiceConfig;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let defaults = ServiceConfig {
        listen: ([0, 0, 0, 0], 50053).into(),
        database_url: "sqlite://leadflow-data/qualification.db".to_owned(),
        ..ServiceConfig::default()
    };

    leadflow_kit::bootstrap::main(
        "leadflow-qualification",
        defaults,
        |config| Box::pin(leadflow_qualification::serve(config)),
        |config| Box::pin(leadflow_qualification::migrate(config)),
    )
    .await
}
