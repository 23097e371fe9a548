//! Conversion of CSV rows into `ImportRecord`s, without any I/O besides reading the given
//! reader.
//!
//! Every data row becomes either a record or a skipped row with its line number and reason.
//! A bad row never stops the rows before or after it. The first line must be the header. A
//! trailing comma on every line adds an empty last column, which no mapping can name.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use leadflow_proto::activity::{ImportRecord, ImportedActivity, UpsertLeadRequest};
use leadflow_proto::types::{ActivityType, Outcome};
use serde::Serialize;

use super::mapping::{Mapping, fold};
use crate::i18n::{Lang, Text};

/// Largest count accepted in one cell. A bigger number is almost surely not a count of
/// activities, and storing it would make one record heavier than a whole batch.
pub const MAX_COUNT_PER_CELL: u64 = 10_000;

/// A data row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// Line of the file where the row starts, 1 being the header.
    pub line: u64,
    /// Reason of the skip.
    pub reason: SkipReason,
}

/// Reason for skipping a row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The row has another number of fields than the header.
    FieldCount {
        /// Fields of the header.
        expected: usize,
        /// Fields of the row.
        found: usize,
        /// Last line of the row when an unclosed quote made it run over several lines;
        /// those lines are part of this skipped row.
        last_line: Option<u64>,
    },
    /// The key column is empty or a placeholder.
    EmptyKey {
        /// The key column.
        column: String,
    },
    /// A count column contains a negative number or text that is not a number.
    InvalidCount {
        /// The column.
        column: String,
        /// The cell as written.
        value: String,
    },
    /// A count column contains more than [`MAX_COUNT_PER_CELL`].
    CountTooLarge {
        /// The column.
        column: String,
        /// The cell as written.
        value: String,
    },
    /// The row is not valid UTF-8.
    InvalidUtf8,
    /// The CSV parser reported an error.
    Csv {
        /// The parser's message.
        error: String,
    },
}

impl SkipReason {
    /// Renders the reason in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        match self {
            SkipReason::FieldCount { expected, found, last_line: None } => {
                Text::SkipFieldCount.fill(lang, &[("expected", expected), ("found", found)])
            }
            SkipReason::FieldCount { expected, found, last_line: Some(last_line) } => {
                Text::SkipFieldCountSpanning.fill(lang, &[("expected", expected), ("found", found), ("last_line", last_line)])
            }
            SkipReason::EmptyKey { column } => Text::SkipEmptyKey.fill(lang, &[("column", column)]),
            SkipReason::InvalidCount { column, value } => {
                Text::SkipInvalidCount.fill(lang, &[("column", column), ("value", &format!("{value:?}"))])
            }
            SkipReason::CountTooLarge { column, value } => Text::SkipCountTooLarge.fill(
                lang,
                &[("column", column), ("value", &format!("{value:?}")), ("max", &MAX_COUNT_PER_CELL)],
            ),
            SkipReason::InvalidUtf8 => Text::SkipInvalidUtf8.get(lang).to_owned(),
            SkipReason::Csv { error } => Text::SkipCsv.fill(lang, &[("error", error)]),
        }
    }
}

/// Result of one data row.
#[derive(Clone, Debug, PartialEq)]
pub enum RowResult {
    /// The row converted into a record.
    Record(ImportRecord),
    /// The row was skipped.
    Skipped(SkippedRow),
}

/// Error that stops the conversion of a whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// A column named by the mapping is not in the header.
    MissingColumn {
        /// Mapping field that names the column, for example `attributes.country`.
        field: String,
        /// The column as named.
        column: String,
    },
    /// The header row cannot be read.
    Unreadable(String),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::MissingColumn { field, column } => {
                write!(formatter, "column {column:?} named by {field} is not in the header")
            }
            HeaderError::Unreadable(error) => write!(formatter, "cannot read the header row: {error}"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// A category cell value that the mapping does not list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct UnmappedValue {
    /// The column.
    pub column: String,
    /// The value, trimmed and lower-cased.
    pub value: String,
}

/// Reads rows from a CSV reader and converts them one at a time.
pub struct RowReader<R: Read> {
    reader: csv::Reader<R>,
    mapping: Mapping,
    columns: HashMap<String, usize>,
    header_len: usize,
    occurred_at: prost_types::Timestamp,
    record: csv::ByteRecord,
    rows_read: u64,
    unmapped: BTreeMap<UnmappedValue, u64>,
    finished: bool,
}

impl<R: Read> RowReader<R> {
    /// Reads the header and checks that every column of `mapping` is in it. Every activity
    /// gets `occurred_at` as its time.
    pub fn new(input: R, mapping: &Mapping, occurred_at: prost_types::Timestamp) -> Result<Self, HeaderError> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(input);
        let header = reader.byte_headers().map_err(|error| HeaderError::Unreadable(error.to_string()))?.clone();

        let mut columns = HashMap::with_capacity(header.len());
        for (index, name) in header.iter().enumerate() {
            let name = String::from_utf8_lossy(name).trim().to_owned();
            columns.entry(name).or_insert(index);
        }

        for (field, column) in mapping.columns() {
            if !columns.contains_key(column.trim()) {
                return Err(HeaderError::MissingColumn { field, column: column.to_owned() });
            }
        }

        Ok(Self {
            reader,
            mapping: mapping.clone(),
            columns,
            header_len: header.len(),
            occurred_at,
            record: csv::ByteRecord::new(),
            rows_read: 0,
            unmapped: BTreeMap::new(),
            finished: false,
        })
    }

    /// Number of data rows read so far, skipped ones included.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Bytes of the input consumed so far, for progress reports.
    pub fn byte_position(&self) -> u64 {
        self.reader.position().byte()
    }

    /// Category values seen that the mapping does not list, with how often each was seen.
    pub fn unmapped(&self) -> &BTreeMap<UnmappedValue, u64> {
        &self.unmapped
    }

    /// Converts the next data row; returns `None` at the end of the input.
    pub fn next_row(&mut self) -> Option<RowResult> {
        if self.finished {
            return None;
        }

        let position_before = self.reader.position().byte();
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => {
                self.finished = true;
                None
            }
            Ok(true) => {
                self.rows_read += 1;
                let line = self.record.position().map(|position| position.line()).unwrap_or(0);
                Some(self.convert_current(line))
            }
            Err(error) => {
                self.rows_read += 1;
                let line = error.position().map(|position| position.line()).unwrap_or(0);
                // An I/O error, or an error that consumed nothing, would repeat forever.
                if error.is_io_error() || self.reader.position().byte() == position_before {
                    self.finished = true;
                }
                Some(RowResult::Skipped(SkippedRow { line, reason: SkipReason::Csv { error: error.to_string() } }))
            }
        }
    }

    fn convert_current(&mut self, line: u64) -> RowResult {
        let skip = |reason| RowResult::Skipped(SkippedRow { line, reason });

        if self.record.len() != self.header_len {
            // The reader is at the start of the next row, so a row that ends more than one
            // line after it began swallowed the following lines inside an unclosed quote.
            let next_line = self.reader.position().line();
            let last_line = (next_line > line + 1).then(|| next_line - 1);
            return skip(SkipReason::FieldCount { expected: self.header_len, found: self.record.len(), last_line });
        }
        let Ok(row) = csv::StringRecord::from_byte_record(self.record.clone()) else {
            return skip(SkipReason::InvalidUtf8);
        };

        match convert_row(&row, line, &self.mapping, &self.columns, &self.occurred_at, &mut self.unmapped) {
            Ok(record) => RowResult::Record(record),
            Err(reason) => skip(reason),
        }
    }
}

/// Converts one row whose field count matches the header.
fn convert_row(
    row: &csv::StringRecord,
    line: u64,
    mapping: &Mapping,
    columns: &HashMap<String, usize>,
    occurred_at: &prost_types::Timestamp,
    unmapped: &mut BTreeMap<UnmappedValue, u64>,
) -> Result<ImportRecord, SkipReason> {
    let cell = |column: &str| -> &str { columns.get(column.trim()).and_then(|index| row.get(*index)).unwrap_or("") };
    let answer = |column: &Option<String>| -> Option<&str> {
        column.as_deref().map(cell).filter(|value| !mapping.is_placeholder(value)).map(str::trim)
    };

    let key = cell(&mapping.key_column).trim();
    if mapping.is_placeholder(key) {
        return Err(SkipReason::EmptyKey { column: mapping.key_column.clone() });
    }

    let mut activities = Vec::new();
    // A category or flag value is part of the key, so a row whose value changed between two
    // exports adds the new activity instead of colliding with the old one.
    let mut add_activities = |column: &str, kind: ActivityType, count: u64, value: Option<&str>| {
        let value_key = value.map(|value| format!("{}:", value.trim().to_lowercase())).unwrap_or_default();
        for n in 1..=count {
            let mut properties = BTreeMap::from([("import_column".to_owned(), column.to_owned())]);
            if let Some(value) = value {
                properties.insert("import_value".to_owned(), value.to_owned());
            }
            activities.push(ImportedActivity {
                r#type: kind as i32,
                occurred_at: Some(*occurred_at),
                properties,
                idempotency_key: format!("import:{key}:{column}:{value_key}{n}"),
            });
        }
    };

    // Counts come first: a bad count skips the row before anything else is built.
    let mut counts = Vec::with_capacity(mapping.counts.len());
    for count in &mapping.counts {
        let value = cell(&count.column);
        counts.push((count, parse_count(&count.column, value, mapping)?));
    }
    for (count, number) in counts {
        add_activities(&count.column, count.kind, number, None);
    }

    for category in &mapping.categories {
        let value = cell(&category.column);
        if mapping.is_placeholder(value) {
            continue;
        }
        match category.values.get(&fold(value)) {
            Some(kind) => add_activities(&category.column, *kind, 1, Some(value.trim())),
            None => {
                let unmapped_value = UnmappedValue { column: category.column.clone(), value: fold(value) };
                *unmapped.entry(unmapped_value).or_insert(0) += 1;
            }
        }
    }

    for flag in &mapping.flags {
        if fold(cell(&flag.column)) == flag.value {
            add_activities(&flag.column, flag.kind, 1, None);
        }
    }

    let outcome = match &mapping.outcome {
        Some(outcome) => {
            let value = fold(cell(&outcome.column));
            if outcome.won.contains(&value) {
                Outcome::Won
            } else if outcome.lost.contains(&value) {
                Outcome::Lost
            } else {
                Outcome::Unspecified
            }
        }
        None => Outcome::Unspecified,
    };

    let attributes = mapping
        .attributes
        .iter()
        .filter_map(|(name, column)| {
            let value = cell(column);
            (!mapping.is_placeholder(value)).then(|| (name.clone(), value.trim().to_owned()))
        })
        .collect();

    let lead = UpsertLeadRequest {
        email: answer(&mapping.email_column).unwrap_or_default().to_owned(),
        external_id: key.to_owned(),
        source: answer(&mapping.source_column).map(fold).unwrap_or_default(),
        campaign: answer(&mapping.campaign_column).unwrap_or_default().to_owned(),
        attributes,
        request_id: String::new(),
        do_not_track: None,
        do_not_contact: None,
    };

    Ok(ImportRecord { line: line as i64, lead: Some(lead), activities, outcome: outcome as i32 })
}

/// Reads a count cell: a placeholder is 0, a whole number is itself, a non-negative fraction
/// is rounded down, and anything else is a reason to skip the row.
fn parse_count(column: &str, value: &str, mapping: &Mapping) -> Result<u64, SkipReason> {
    if mapping.is_placeholder(value) {
        return Ok(0);
    }

    let trimmed = value.trim();
    let number = match trimmed.parse::<u64>() {
        Ok(number) => number,
        Err(_) => match trimmed.parse::<f64>() {
            Ok(fraction) if fraction.is_finite() && fraction >= 0.0 => fraction.floor().min(u64::MAX as f64) as u64,
            _ => return Err(SkipReason::InvalidCount { column: column.to_owned(), value: trimmed.to_owned() }),
        },
    };

    if number > MAX_COUNT_PER_CELL {
        return Err(SkipReason::CountTooLarge { column: column.to_owned(), value: trimmed.to_owned() });
    }
    Ok(number)
}

/// Every row of an input, converted.
#[derive(Clone, Debug, Default)]
pub struct Conversion {
    /// Data rows read, skipped ones included.
    pub rows_read: u64,
    /// Records of the rows that converted, in file order.
    pub records: Vec<ImportRecord>,
    /// Rows that were skipped, in file order.
    pub skipped: Vec<SkippedRow>,
    /// Category values the mapping does not list, with their number of rows.
    pub unmapped: BTreeMap<UnmappedValue, u64>,
}

/// Converts a whole input at once; the importer streams with [`RowReader`] instead.
pub fn convert_all<R: Read>(
    input: R,
    mapping: &Mapping,
    occurred_at: prost_types::Timestamp,
) -> Result<Conversion, HeaderError> {
    let mut rows = RowReader::new(input, mapping, occurred_at)?;
    let mut conversion = Conversion::default();

    while let Some(row) = rows.next_row() {
        match row {
            RowResult::Record(record) => conversion.records.push(record),
            RowResult::Skipped(skipped) => conversion.skipped.push(skipped),
        }
    }

    conversion.rows_read = rows.rows_read();
    conversion.unmapped = rows.unmapped().clone();
    Ok(conversion)
}
