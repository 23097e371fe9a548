//! The activity service binary: `leadflow-activity [serve|migrate] [--config FILE]`.

use leadflow_kit::config::ServiceConfig;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let defaults = ServiceConfig {
        listen: ([0, 0, 0, 0], 50051).into(),
        database_url: "sqlite://leadflow-data/activity.db".to_owned(),
        ..ServiceConfig::default()
    };

    leadflow_kit::bootstrap::main(
        "leadflow-activity",
        defaults,
        |config| Box::pin(leadflow_activity::serve(config)),
        |config| Box::pin(leadflow_activity::migrate(config)),
    )
    .await
}
