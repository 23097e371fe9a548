//! The declarative mapping of a CSV file onto leads, activities and outcomes, read from TOML.
//!
//! ```toml
//! # Column whose value identifies the lead; stored as its external id. Required.
//! key_column = "Prospect ID"
//! # Optional columns of the lead.
//! email_column = "Email"
//! source_column = "Lead Source"      # trimmed and lower-cased: "Google" and "google" are one source
//! campaign_column = "Campaign"
//! # Cell values that mean "no answer", compared after trimming and ignoring case.
//! # Default: ["", "Select"].
//! placeholders = ["", "Select"]
//!
//! # Profile attributes: attribute name = column. A placeholder cell sets nothing.
//! [attributes]
//! country = "Country"
//!
//! # A cell containing a count gives that many activities of the type. An empty or
//! # placeholder cell gives none, and a fraction such as "2.5" is rounded down. A negative or
//! # non-numeric cell, or one above 10000, skips the whole row with its reason.
//! [[counts]]
//! column = "TotalVisits"
//! type = "page_view"
//!
//! # A cell value gives one activity of the type listed for it. Values are trimmed and compared
//! # ignoring case; values not listed are counted in the report and otherwise ignored.
//! [[categories]]
//! column = "Last Activity"
//! [categories.values]
//! "Email Opened" = "email_open"
//!
//! # A cell equal to `value` (trimmed, ignoring case; default "yes") gives one activity.
//! [[flags]]
//! column = "A free copy of Mastering The Interview"
//! value = "Yes"
//! type = "content_download"
//!
//! # Outcome of the lead; values are trimmed and compared ignoring case. Any other value
//! # leaves the outcome unknown.
//! [outcome]
//! column = "Converted"
//! won = ["1"]
//! lost = ["0"]
//! ```
//!
//! Activity types accept `page_view`, `page-view`, `PAGE_VIEW` and `ACTIVITY_TYPE_PAGE_VIEW`.

use std::collections::{BTreeMap, HashMap};

use leadflow_proto::types::ActivityType;
use serde::Deserialize;

use crate::activity_type;

/// The mapping as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// Column whose value is the lead's external id.
    pub key_column: String,
    /// Column of the lead's e-mail address.
    #[serde(default)]
    pub email_column: Option<String>,
    /// Column of the channel that brought the lead.
    #[serde(default)]
    pub source_column: Option<String>,
    /// Column of the campaign that brought the lead.
    #[serde(default)]
    pub campaign_column: Option<String>,
    /// Cell values that mean "no answer".
    #[serde(default = "default_placeholders")]
    pub placeholders: Vec<String>,
    /// Attribute name → column.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Count columns.
    #[serde(default)]
    pub counts: Vec<CountColumnFile>,
    /// Categorical columns.
    #[serde(default)]
    pub categories: Vec<CategoryColumnFile>,
    /// Flag columns.
    #[serde(default)]
    pub flags: Vec<FlagColumnFile>,
    /// The outcome column.
    #[serde(default)]
    pub outcome: Option<OutcomeColumnFile>,
}

fn default_placeholders() -> Vec<String> {
    vec![String::new(), "Select".to_owned()]
}

/// A count column as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountColumnFile {
    /// The column.
    pub column: String,
    /// Activity type name.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A categorical column as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryColumnFile {
    /// The column.
    pub column: String,
    /// Cell value → activity type name.
    pub values: BTreeMap<String, String>,
}

/// A flag column as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagColumnFile {
    /// The column.
    pub column: String,
    /// Cell value that sets the flag.
    #[serde(default = "default_flag_value")]
    pub value: String,
    /// Activity type name.
    #[serde(rename = "type")]
    pub kind: String,
}

fn default_flag_value() -> String {
    "yes".to_owned()
}

/// The outcome column as written in TOML.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeColumnFile {
    /// The column.
    pub column: String,
    /// Values meaning the lead became a customer.
    #[serde(default)]
    pub won: Vec<String>,
    /// Values meaning the opportunity was lost.
    #[serde(default)]
    pub lost: Vec<String>,
}

/// A validated mapping: activity types parsed and every cell value to compare folded to
/// lower case.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// Column of the external id.
    pub key_column: String,
    /// Column of the e-mail address.
    pub email_column: Option<String>,
    /// Column of the source.
    pub source_column: Option<String>,
    /// Column of the campaign.
    pub campaign_column: Option<String>,
    /// Placeholder values, folded.
    pub placeholders: Vec<String>,
    /// Attribute name → column.
    pub attributes: BTreeMap<String, String>,
    /// Count columns.
    pub counts: Vec<CountColumn>,
    /// Categorical columns.
    pub categories: Vec<CategoryColumn>,
    /// Flag columns.
    pub flags: Vec<FlagColumn>,
    /// The outcome column.
    pub outcome: Option<OutcomeColumn>,
}

/// A validated count column.
#[derive(Clone, Debug)]
pub struct CountColumn {
    /// The column.
    pub column: String,
    /// Type of the activities.
    pub kind: ActivityType,
}

/// A validated categorical column.
#[derive(Clone, Debug)]
pub struct CategoryColumn {
    /// The column.
    pub column: String,
    /// Folded cell value → activity type.
    pub values: HashMap<String, ActivityType>,
}

/// A validated flag column.
#[derive(Clone, Debug)]
pub struct FlagColumn {
    /// The column.
    pub column: String,
    /// Folded cell value that sets the flag.
    pub value: String,
    /// Type of the activity.
    pub kind: ActivityType,
}

/// A validated outcome column.
#[derive(Clone, Debug)]
pub struct OutcomeColumn {
    /// The column.
    pub column: String,
    /// Folded values meaning won.
    pub won: Vec<String>,
    /// Folded values meaning lost.
    pub lost: Vec<String>,
}

/// Error of an invalid mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingError {
    /// An activity type name is unknown. `field` is the place where it was written.
    UnknownActivityType {
        /// Mapping field of the name, for example `counts[0].type`.
        field: String,
        /// The name as written.
        value: String,
    },
    /// Another rule is broken. The text, in English, names the rule.
    Invalid(String),
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MappingError::UnknownActivityType { field, value } => write!(
                formatter,
                "unknown activity type {value:?} in {field}; accepted names: {}",
                activity_type::accepted_names()
            ),
            MappingError::Invalid(problem) => formatter.write_str(problem),
        }
    }
}

impl std::error::Error for MappingError {}

/// Trims `value` and folds it to lower case, the form in which cells are compared.
pub fn fold(value: &str) -> String {
    value.trim().to_lowercase()
}

fn parse_type(field: String, value: &str) -> Result<ActivityType, MappingError> {
    activity_type::parse(value).ok_or_else(|| MappingError::UnknownActivityType { field, value: value.to_owned() })
}

impl Mapping {
    /// Parses and validates a mapping from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let file: MappingFile = toml::from_str(text).map_err(|error| MappingError::Invalid(error.to_string()))?;
        Self::from_file(file)
    }

    /// Validates a parsed mapping: a non-empty key column, known activity types, no value
    /// listed as both won and lost.
    pub fn from_file(file: MappingFile) -> Result<Self, MappingError> {
        if file.key_column.trim().is_empty() {
            return Err(MappingError::Invalid("key_column must name a column".to_owned()));
        }

        let mut counts = Vec::with_capacity(file.counts.len());
        for (index, count) in file.counts.into_iter().enumerate() {
            let kind = parse_type(format!("counts[{index}].type"), &count.kind)?;
            counts.push(CountColumn { column: count.column, kind });
        }

        let mut categories = Vec::with_capacity(file.categories.len());
        for (index, category) in file.categories.into_iter().enumerate() {
            let mut values = HashMap::with_capacity(category.values.len());
            for (value, kind) in &category.values {
                let kind = parse_type(format!("categories[{index}].values.{value:?}"), kind)?;
                if values.insert(fold(value), kind).is_some() {
                    return Err(MappingError::Invalid(format!(
                        "categories[{index}].values lists {value:?} twice when case is ignored"
                    )));
                }
            }
            categories.push(CategoryColumn { column: category.column, values });
        }

        let mut flags = Vec::with_capacity(file.flags.len());
        for (index, flag) in file.flags.into_iter().enumerate() {
            let kind = parse_type(format!("flags[{index}].type"), &flag.kind)?;
            if fold(&flag.value).is_empty() {
                return Err(MappingError::Invalid(format!("flags[{index}].value must not be empty")));
            }
            flags.push(FlagColumn { column: flag.column, value: fold(&flag.value), kind });
        }

        let outcome = match file.outcome {
            Some(outcome) => {
                let won: Vec<String> = outcome.won.iter().map(|value| fold(value)).collect();
                let lost: Vec<String> = outcome.lost.iter().map(|value| fold(value)).collect();
                if let Some(both) = won.iter().find(|value| lost.contains(value)) {
                    return Err(MappingError::Invalid(format!("outcome lists {both:?} as both won and lost")));
                }
                if won.is_empty() && lost.is_empty() {
                    return Err(MappingError::Invalid("outcome needs at least one won or lost value".to_owned()));
                }
                Some(OutcomeColumn { column: outcome.column, won, lost })
            }
            None => None,
        };

        Ok(Self {
            key_column: file.key_column,
            email_column: file.email_column,
            source_column: file.source_column,
            campaign_column: file.campaign_column,
            placeholders: file.placeholders.iter().map(|value| fold(value)).collect(),
            attributes: file.attributes,
            counts,
            categories,
            flags,
            outcome,
        })
    }

    /// Returns every column the mapping names, with the mapping field that names it.
    pub fn columns(&self) -> Vec<(String, &str)> {
        let mut columns = vec![("key_column".to_owned(), self.key_column.as_str())];
        let optional = [
            ("email_column", &self.email_column),
            ("source_column", &self.source_column),
            ("campaign_column", &self.campaign_column),
        ];
        for (field, column) in optional {
            if let Some(column) = column {
                columns.push((field.to_owned(), column.as_str()));
            }
        }
        for (name, column) in &self.attributes {
            columns.push((format!("attributes.{name}"), column.as_str()));
        }
        for (index, count) in self.counts.iter().enumerate() {
            columns.push((format!("counts[{index}].column"), count.column.as_str()));
        }
        for (index, category) in self.categories.iter().enumerate() {
            columns.push((format!("categories[{index}].column"), category.column.as_str()));
        }
        for (index, flag) in self.flags.iter().enumerate() {
            columns.push((format!("flags[{index}].column"), flag.column.as_str()));
        }
        if let Some(outcome) = &self.outcome {
            columns.push(("outcome.column".to_owned(), outcome.column.as_str()));
        }
        columns
    }

    /// Returns true when `cell` means "no answer".
    pub fn is_placeholder(&self, cell: &str) -> bool {
        let folded = fold(cell);
        folded.is_empty() || self.placeholders.contains(&folded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_mapping_uses_default_placeholders() {
        let mapping = Mapping::from_toml("key_column = \"id\"").unwrap();
        assert_eq!(mapping.placeholders, vec!["".to_owned(), "select".to_owned()]);
        assert!(mapping.is_placeholder(" SELECT "));
        assert!(mapping.is_placeholder(""));
        assert!(!mapping.is_placeholder("India"));
    }

    #[test]
    fn unknown_type_names_value_and_field() {
        let text = "key_column = \"id\"\n[[counts]]\ncolumn = \"Visits\"\ntype = \"page_visit\"\n";
        let error = Mapping::from_toml(text).unwrap_err();
        assert_eq!(
            error,
            MappingError::UnknownActivityType { field: "counts[0].type".to_owned(), value: "page_visit".to_owned() }
        );
        assert!(error.to_string().contains("page_visit"));
    }

    #[test]
    fn category_values_fold_case() {
        let text = "key_column = \"id\"\n[[categories]]\ncolumn = \"Last\"\n[categories.values]\n\" Email Opened \" = \"EMAIL_OPEN\"\n";
        let mapping = Mapping::from_toml(text).unwrap();
        assert_eq!(mapping.categories[0].values.get("email opened"), Some(&ActivityType::EmailOpen));
    }

    #[test]
    fn category_value_listed_twice_is_invalid() {
        let text = "key_column = \"id\"\n[[categories]]\ncolumn = \"Last\"\n[categories.values]\n\"Opened\" = \"email_open\"\n\"opened\" = \"email_click\"\n";
        assert!(matches!(Mapping::from_toml(text), Err(MappingError::Invalid(_))));
    }

    #[test]
    fn outcome_value_both_won_and_lost_is_invalid() {
        let text = "key_column = \"id\"\n[outcome]\ncolumn = \"c\"\nwon = [\"1\"]\nlost = [\" 1\"]\n";
        assert!(matches!(Mapping::from_toml(text), Err(MappingError::Invalid(_))));
    }

    #[test]
    fn unknown_field_is_invalid() {
        assert!(matches!(Mapping::from_toml("key_column = \"id\"\nkey_colum = \"x\""), Err(MappingError::Invalid(_))));
    }
}
