//! `leadflow import`: runs the CSV importer and prints its report.

use crate::Context;
use crate::args::ImportArgs;
use crate::errors::{CliError, Service};
use crate::i18n::Text;
use crate::import::{ImportOptions, check_batch_size, load_mapping, print_report, run_import};

/// Runs `leadflow import`.
pub async fn run(context: &Context, args: ImportArgs) -> anyhow::Result<()> {
    check_batch_size(args.batch_size)?;
    let mapping = load_mapping(&args.mapping)?;
    // Reports a missing file before a missing server, the more likely mistake.
    std::fs::metadata(&args.file).map_err(|error| {
        CliError::new(Text::ReadFileFailed).arg("path", args.file.display()).arg("error", error)
    })?;
    let occurred_at = args.occurred_at.as_deref().map(super::parse_time).transpose()?;
    let options = ImportOptions {
        batch_size: args.batch_size,
        occurred_at,
        hide_progress: context.json,
        lang: context.lang,
    };

    let channel = context.channel(Service::Activity).await?;
    let report = run_import(channel, &args.file, &mapping, &options).await?;

    if context.json {
        super::print_json(&serde_json::to_value(&report)?);
    } else {
        print_report(&report, &args.file, context.lang);
    }
    Ok(())
}
