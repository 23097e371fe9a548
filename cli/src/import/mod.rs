//! The CSV importer: reads rows with [`rows::RowReader`], sends them in batches to
//! `ActivityService.ImportRecords` and adds up the results into an [`ImportReport`].

pub mod mapping;
pub mod rows;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{ImportRecord, ImportRecordsRequest};
use serde::Serialize;

use crate::errors::{CliError, ClientChannel, request};
use crate::i18n::{Lang, Text};
pub use mapping::Mapping;
use rows::{HeaderError, RowReader, RowResult, SkippedRow, UnmappedValue};

/// Most records the server accepts in one ImportRecords call.
pub const MAX_BATCH_SIZE: usize = 1000;

/// Attempts of one batch while the service returns UNAVAILABLE (starting or busy).
const UNAVAILABLE_ATTEMPTS: u32 = 5;

/// Settings of one import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Records per ImportRecords call, from 1 to [`MAX_BATCH_SIZE`].
    pub batch_size: usize,
    /// Time of every imported activity; `None` means the start of the import.
    pub occurred_at: Option<DateTime<Utc>>,
    /// Hide the progress bar. It is also hidden when standard error is not a terminal.
    pub hide_progress: bool,
    /// Language of the progress text and of server messages.
    pub lang: Lang,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { batch_size: 500, occurred_at: None, hide_progress: true, lang: Lang::En }
    }
}

/// A record that the server did not store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedRow {
    /// Line of the row in the file.
    pub line: u64,
    /// The server's error message.
    pub error: String,
}

/// Count of one unmapped category value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmappedCount {
    /// The column.
    pub column: String,
    /// The value, trimmed and lower-cased.
    pub value: String,
    /// Rows with the value.
    pub rows: u64,
}

/// Outcome of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Data rows read, skipped ones included.
    pub rows_read: u64,
    /// Rows the server stored.
    pub rows_imported: u64,
    /// Rows skipped before sending.
    pub rows_skipped: u64,
    /// Rows the server rejected.
    pub rows_failed: u64,
    /// Leads the import created.
    pub leads_created: u64,
    /// Activities the import stored.
    pub activities_created: u64,
    /// Activities whose idempotency key was already stored.
    pub activities_present: u64,
    /// Every skipped row, in file order.
    pub skipped: Vec<SkippedRow>,
    /// Every failed row, in file order.
    pub failed: Vec<FailedRow>,
    /// Category values that the mapping does not list.
    pub unmapped: Vec<UnmappedCount>,
}

/// Reads and validates a mapping file.
pub fn load_mapping(path: &Path) -> anyhow::Result<Mapping> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        CliError::new(Text::ReadFileFailed).arg("path", path.display()).arg("error", error)
    })?;
    let mapping = Mapping::from_toml(&text).map_err(|error| match error {
        mapping::MappingError::UnknownActivityType { field, value } => CliError::new(Text::UnknownActivityType)
            .arg("value", format!("{value:?}"))
            .arg("field", format!("{} ({field})", path.display()))
            .arg("accepted", crate::activity_type::accepted_names()),
        mapping::MappingError::Invalid(problem) => {
            CliError::new(Text::InvalidMapping).arg("path", path.display()).arg("problem", problem)
        }
    })?;
    Ok(mapping)
}

/// Checks that `batch_size` is from 1 to [`MAX_BATCH_SIZE`].
pub fn check_batch_size(batch_size: usize) -> Result<(), CliError> {
    if batch_size == 0 || batch_size > MAX_BATCH_SIZE {
        return Err(CliError::new(Text::InvalidBatchSize).arg("value", batch_size));
    }
    Ok(())
}

/// Imports `file` as `mapping` describes through the activity service on `channel`.
///
/// Skipped and failed rows are listed in the report and never stop the import. Errors are
/// returned only when the file or its header cannot be read, when the batch size is out of
/// range, or when the service stays unreachable.
pub async fn run_import(
    channel: ClientChannel,
    file: &Path,
    mapping: &Mapping,
    options: &ImportOptions,
) -> anyhow::Result<ImportReport> {
    check_batch_size(options.batch_size)?;

    let input = std::fs::File::open(file)
        .map_err(|error| CliError::new(Text::ReadFileFailed).arg("path", file.display()).arg("error", error))?;
    let file_size = input.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let occurred_at = options.occurred_at.unwrap_or_else(Utc::now);
    let occurred_at = prost_types::Timestamp {
        seconds: occurred_at.timestamp(),
        nanos: occurred_at.timestamp_subsec_nanos() as i32,
    };

    let mut rows = RowReader::new(std::io::BufReader::new(input), mapping, occurred_at).map_err(|error| match error {
        HeaderError::MissingColumn { field, column } => CliError::new(Text::MissingColumn)
            .arg("column", format!("{column:?}"))
            .arg("field", field)
            .arg("path", file.display()),
        HeaderError::Unreadable(error) => {
            CliError::new(Text::HeaderFailed).arg("path", file.display()).arg("error", error)
        }
    })?;

    let progress = progress_bar(file, file_size, options);
    let mut client = ActivityServiceClient::new(channel);
    let mut report = ImportReport::default();
    let mut batch = Vec::with_capacity(options.batch_size);

    while let Some(row) = rows.next_row() {
        match row {
            RowResult::Record(record) => batch.push(record),
            RowResult::Skipped(skipped) => report.skipped.push(skipped),
        }
        if batch.len() == options.batch_size {
            send_batch(&mut client, std::mem::take(&mut batch), options.lang, &mut report).await?;
        }
        progress.set_position(rows.byte_position());
    }
    if !batch.is_empty() {
        send_batch(&mut client, batch, options.lang, &mut report).await?;
    }
    progress.finish_and_clear();

    report.rows_read = rows.rows_read();
    report.rows_skipped = report.skipped.len() as u64;
    report.rows_failed = report.failed.len() as u64;
    report.unmapped = rows
        .unmapped()
        .iter()
        .map(|(UnmappedValue { column, value }, count)| UnmappedCount {
            column: column.clone(),
            value: value.clone(),
            rows: *count,
        })
        .collect();
    Ok(report)
}

fn progress_bar(file: &Path, file_size: u64, options: &ImportOptions) -> ProgressBar {
    if options.hide_progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }

    let bar = ProgressBar::new(file_size);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {percent}% ({binary_bytes}/{binary_total_bytes})")
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(Text::ProgressImporting.fill(options.lang, &[("path", &file.display())]));
    bar
}

/// Sends one batch and adds its results to `report`. A status other than UNAVAILABLE fails
/// every record of the batch; UNAVAILABLE is retried and then returned as an error.
async fn send_batch(
    client: &mut ActivityServiceClient<ClientChannel>,
    records: Vec<ImportRecord>,
    lang: Lang,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    let lines: Vec<u64> = records.iter().map(|record| record.line as u64).collect();
    // One request id for every attempt, so a retry after a lost response returns the first
    // result instead of counting the stored activities as already present.
    let message = ImportRecordsRequest { records, request_id: uuid::Uuid::now_v7().to_string() };
    let mut attempt = 0;

    let response = loop {
        attempt += 1;
        match client.import_records(request(message.clone(), lang)).await {
            Ok(response) => break response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable && attempt < UNAVAILABLE_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            Err(status) if status.code() == tonic::Code::Unavailable => {
                return Err(CliError::from_status("ImportRecords", &status).into());
            }
            Err(status) => {
                let error = CliError::from_status("ImportRecords", &status).render(lang);
                report.failed.extend(lines.iter().map(|line| FailedRow { line: *line, error: error.clone() }));
                return Ok(());
            }
        }
    };

    for result in response.results {
        if result.error.is_empty() {
            report.rows_imported += 1;
            report.leads_created += u64::from(result.lead_created);
            report.activities_created += result.activities_created.max(0) as u64;
            report.activities_present += result.activities_duplicate.max(0) as u64;
        } else {
            report.failed.push(FailedRow { line: result.line as u64, error: result.error });
        }
    }
    Ok(())
}

/// Prints `report` for people: the totals, then the first 20 skipped and failed rows.
pub fn print_report(report: &ImportReport, file: &Path, lang: Lang) {
    const LISTED: usize = 20;
    let count = |value: u64| crate::format::count(value as i64, lang);

    println!("{}", Text::ReportTitle.fill(lang, &[("path", &file.display())]));
    let totals = [
        (Text::ReportRowsRead, report.rows_read),
        (Text::ReportImported, report.rows_imported),
        (Text::ReportSkipped, report.rows_skipped),
        (Text::ReportFailed, report.rows_failed),
        (Text::ReportLeadsCreated, report.leads_created),
        (Text::ReportActivitiesCreated, report.activities_created),
        (Text::ReportActivitiesPresent, report.activities_present),
    ];
    let width = totals.iter().map(|(text, _)| text.get(lang).chars().count()).max().unwrap_or(0);
    for (text, value) in totals {
        let label = text.get(lang);
        let padding = " ".repeat(width - label.chars().count());
        println!("  {label}{padding}  {:>9}", count(value));
    }

    if !report.unmapped.is_empty() {
        println!("{}:", Text::ReportUnmapped.get(lang));
        for unmapped in &report.unmapped {
            println!("  {} = {:?}: {}", unmapped.column, unmapped.value, count(unmapped.rows));
        }
    }

    if !report.skipped.is_empty() {
        let shown = report.skipped.len().min(LISTED);
        println!("{}", Text::ReportSkippedList.fill(lang, &[("count", &shown)]));
        for skipped in report.skipped.iter().take(LISTED) {
            let reason = skipped.reason.render(lang);
            println!("  {}", Text::ReportLine.fill(lang, &[("line", &skipped.line), ("reason", &reason)]));
        }
    }

    if !report.failed.is_empty() {
        let shown = report.failed.len().min(LISTED);
        println!("{}", Text::ReportFailedList.fill(lang, &[("count", &shown)]));
        for failed in report.failed.iter().take(LISTED) {
            println!("  {}", Text::ReportLine.fill(lang, &[("line", &failed.line), ("reason", &failed.error)]));
        }
    }
}
