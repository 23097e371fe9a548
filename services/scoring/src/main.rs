//! The scoring service binary: `leadflow-scoring [serve|migrate] [--config FILE]`.

use leadflow_kit::config::ServiceConfig;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let defaults = ServiceConfig {
        listen: ([0, 0, 0, 0], 50052).into(),
        database_url: "sqlite://leadflow-data/scoring.db".to_owned(),
        ..ServiceConfig::default()
    };

    leadflow_kit::bootstrap::main(
        "leadflow-scoring",
        defaults,
        |config| Box::pin(leadflow_scoring::serve(config)),
        |config| Box::pin(leadflow_scoring::migrate(config)),
    )
    .await
}
