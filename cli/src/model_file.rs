//! Scoring model files: a whole `ScoringModel` written as TOML, or as JSON when the file name
//! ends in `.json`.
//!
//! ```toml
//! model_id = "default"        # optional; missing or empty means "default"
//! description = "Why this version exists"
//! mql_threshold = 60          # total score at which a lead becomes an MQL, at least 1
//! min_fit_score = 10          # optional; least fit score an MQL needs, default 0
//! score_floor = 0             # optional; lowest total, unset lets scores go negative
//! exclude_anonymous_activity = false  # optional; true scores 0 for activity recorded while anonymous
//!
//! [decay]                     # optional; decay of rules that set none, default none
//! half_life = "30d"           # or expire_after = "90d", or none = true
//!
//! [points]                    # optional shorthand: activity type = points, no filter or limit
//! email_click = 3
//!
//! [[rules]]
//! rule_id = "pricing-page"    # 1 to 64 characters of a-z, 0-9, '-' or '_'
//! type = "page_view"          # page_view, page-view and PAGE_VIEW are the same type
//! points = 10                 # -1000 to 1000
//! url_prefix = "/pricing"     # optional filters: url_prefix, asset_id, campaign, channel
//! limit = { max = 1, per = "1d" }  # or "every" (default), "once_per_lead", "once_per_asset"
//! decay = { half_life = "90d" }    # optional; overrides [decay], "none" opts out
//!
//! [[fit]]
//! rule_id = "senior-title"
//! attribute = "job_title"
//! equals_any = ["cto", "vp engineering"]   # and/or min = 50, max = 1000 for numbers
//! points = 15
//! ```
//!
//! Durations are whole numbers with a unit, `d`, `h`, `m` or `s`, and the parts may be
//! combined: `30d`, `12h`, `90m`, `3600s`, `1h30m`. A key the format does not define is an
//! error that names the key, and so is an unknown activity type, limit or decay keyword.
//! Ranges and the consistency of the rules are left to the scoring service, which reports
//! every problem at once (`leadflow model validate`).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use leadflow_proto::scoring::{
    ActivityPoints, BehaviorRule, Decay, FitRule, FrequencyLimit, LimitKind, RuleFilter, ScoringModel, decay,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::activity_type;
use crate::errors::CliError;
use crate::i18n::Text;

/// A model file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Id of the model; empty means "default".
    #[serde(default)]
    pub model_id: String,
    /// Description of the version: what it changes and why.
    #[serde(default)]
    pub description: String,
    /// Total score at which a lead becomes an MQL.
    pub mql_threshold: i64,
    /// Minimum fit score an MQL needs; 0 means none.
    #[serde(default)]
    pub min_fit_score: i64,
    /// Lowest total score; `None` lets scores go negative.
    #[serde(default)]
    pub score_floor: Option<i64>,
    /// True gives 0 points to activity recorded while the lead was an anonymous visitor.
    #[serde(default)]
    pub exclude_anonymous_activity: bool,
    /// Decay of the rules that set none.
    #[serde(default)]
    pub decay: Option<KeywordOrTable<DecayTable>>,
    /// Shorthand: activity type name → points per activity.
    #[serde(default)]
    pub points: BTreeMap<String, i64>,
    /// Behavioural rules, in the order the service reports them (`model.rules[N]`).
    #[serde(default)]
    pub rules: Vec<RuleEntry>,
    /// Fit rules, in the order the service reports them (`model.fit_rules[N]`).
    #[serde(default)]
    pub fit: Vec<FitEntry>,
}

/// One `[[rules]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// Id of the rule, named in ledger entries.
    pub rule_id: String,
    /// Activity type name.
    #[serde(rename = "type", alias = "activity_type")]
    pub activity_type: String,
    /// Points per counted activity.
    pub points: i64,
    /// Path prefix of the property `url`.
    #[serde(default)]
    pub url_prefix: Option<String>,
    /// Exact property `asset_id`.
    #[serde(default)]
    pub asset_id: Option<String>,
    /// Property `campaign`, compared ignoring case.
    #[serde(default)]
    pub campaign: Option<String>,
    /// Property `channel`, compared ignoring case.
    #[serde(default)]
    pub channel: Option<String>,
    /// How often the rule counts; `None` counts every activity.
    #[serde(default)]
    pub limit: Option<KeywordOrTable<WindowTable>>,
    /// Decay of this rule's points; `None` uses the model's.
    #[serde(default)]
    pub decay: Option<KeywordOrTable<DecayTable>>,
}

/// A per-window limit: at most `max` counted activities within any `per`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowTable {
    /// Maximum number of counted activities per window.
    pub max: i32,
    /// Window length as a duration, for example `1d`.
    pub per: String,
}

/// A decay table; exactly one of its keys must be set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecayTable {
    /// Points halve after each whole period.
    #[serde(default)]
    pub half_life: Option<String>,
    /// Points drop to zero at this age.
    #[serde(default)]
    pub expire_after: Option<String>,
    /// `true` turns decay off.
    #[serde(default)]
    pub none: Option<bool>,
}

/// One `[[fit]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitEntry {
    /// Id of the fit rule.
    pub rule_id: String,
    /// Profile attribute, for example `job_title`, or `source`.
    pub attribute: String,
    /// Accepted values, compared ignoring case and surrounding spaces.
    #[serde(default)]
    pub equals_any: Vec<String>,
    /// Minimum value when the attribute is read as an integer.
    #[serde(default, alias = "min_value")]
    pub min: Option<i64>,
    /// Maximum value when the attribute is read as an integer.
    #[serde(default, alias = "max_value")]
    pub max: Option<i64>,
    /// Points when the rule matches.
    pub points: i64,
}

/// A value written either as a keyword string (`"once_per_lead"`, `"none"`) or as a table.
/// Unknown keys inside the table stay errors that name the key, which an untagged enum would
/// lose.
#[derive(Debug)]
pub enum KeywordOrTable<T> {
    /// A string value.
    Keyword(String),
    /// A table value.
    Table(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for KeywordOrTable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeywordOrTableVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for KeywordOrTableVisitor<T> {
            type Value = KeywordOrTable<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a keyword string or a table")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(KeywordOrTable::Keyword(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(KeywordOrTable::Table)
            }
        }

        deserializer.deserialize_any(KeywordOrTableVisitor(PhantomData))
    }
}

/// Syntax of a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// TOML, the default.
    Toml,
    /// JSON, for files whose name ends in `.json`.
    Json,
}

impl Syntax {
    /// Picks JSON for a `.json` extension in any case, TOML otherwise.
    pub fn of(path: &Path) -> Syntax {
        match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("json") => Syntax::Json,
            _ => Syntax::Toml,
        }
    }
}

/// Reads and converts the model file at `path`.
pub fn load(path: &Path) -> Result<ScoringModel, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CliError::new(Text::ReadFileFailed).arg("path", path.display()).arg("error", error))?;
    parse(&text, path, Syntax::of(path))
}

/// Parses a model file and converts it to the API form. `path` only names the file in
/// errors.
pub fn parse(text: &str, path: &Path, syntax: Syntax) -> Result<ScoringModel, CliError> {
    let file: ModelFile = match syntax {
        Syntax::Toml => toml::from_str(text).map_err(|error| {
            CliError::new(Text::InvalidToml).arg("path", path.display()).arg("error", toml_error(text, &error))
        })?,
        Syntax::Json => serde_json::from_str(text)
            .map_err(|error| CliError::new(Text::InvalidJson).arg("path", path.display()).arg("error", error))?,
    };
    file.to_proto(path)
}

/// Writes a TOML error as `line N: message`, without the source excerpt that the error's
/// `Display` adds over several lines.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", error.message())
        }
        None => error.message().to_owned(),
    }
}

impl ModelFile {
    /// Converts the file to the API form, rejecting names and durations that cannot be sent.
    pub fn to_proto(&self, path: &Path) -> Result<ScoringModel, CliError> {
        let place = |field: String| format!("{} {field}", path.display());

        let mut activity_points = Vec::with_capacity(self.points.len());
        for (name, points) in &self.points {
            let kind = parse_activity_type(name, place("[points]".to_owned()))?;
            activity_points.push(ActivityPoints { activity_type: kind, points: *points });
        }

        let mut rules = Vec::with_capacity(self.rules.len());
        for (index, rule) in self.rules.iter().enumerate() {
            let field = |key: &str| place(format!("rules[{index}].{key}"));
            rules.push(BehaviorRule {
                rule_id: rule.rule_id.clone(),
                activity_type: parse_activity_type(&rule.activity_type, field("type"))?,
                filter: Some(RuleFilter {
                    url_prefix: rule.url_prefix.clone().unwrap_or_default(),
                    asset_id: rule.asset_id.clone().unwrap_or_default(),
                    campaign: rule.campaign.clone().unwrap_or_default(),
                    channel: rule.channel.clone().unwrap_or_default(),
                }),
                points: rule.points,
                limit: rule.limit.as_ref().map(|limit| convert_limit(limit, &field("limit"))).transpose()?,
                decay: rule.decay.as_ref().map(|decay| convert_decay(decay, &field("decay"))).transpose()?,
            });
        }

        let fit_rules = self
            .fit
            .iter()
            .map(|fit| FitRule {
                rule_id: fit.rule_id.clone(),
                attribute: fit.attribute.clone(),
                equals_any: fit.equals_any.clone(),
                min_value: fit.min,
                max_value: fit.max,
                points: fit.points,
            })
            .collect();

        let decay = self.decay.as_ref().map(|decay| convert_decay(decay, &place("[decay]".to_owned()))).transpose()?;

        Ok(ScoringModel {
            model_id: self.model_id.clone(),
            activity_points,
            mql_threshold: self.mql_threshold,
            description: self.description.clone(),
            rules,
            fit_rules,
            decay,
            min_fit_score: self.min_fit_score,
            score_floor: self.score_floor,
            exclude_anonymous_activity: self.exclude_anonymous_activity,
            ..ScoringModel::default()
        })
    }
}

fn parse_activity_type(name: &str, field: String) -> Result<i32, CliError> {
    activity_type::parse(name).map(|kind| kind as i32).ok_or_else(|| {
        CliError::new(Text::UnknownActivityType)
            .arg("value", format!("{name:?}"))
            .arg("field", field)
            .arg("accepted", activity_type::accepted_names())
    })
}

/// Lower-cases a keyword and reads `-` as `_`, so `once-per-lead` and `ONCE_PER_LEAD` match.
fn normalize_keyword(keyword: &str) -> String {
    keyword.trim().replace('-', "_").to_ascii_lowercase()
}

fn convert_limit(limit: &KeywordOrTable<WindowTable>, field: &str) -> Result<FrequencyLimit, CliError> {
    let kind = match limit {
        KeywordOrTable::Table(window) => {
            let seconds = parse_duration(&window.per).ok_or_else(|| invalid_duration(&window.per, &format!("{field}.per")))?;
            return Ok(FrequencyLimit {
                kind: LimitKind::PerWindow as i32,
                max_count: window.max,
                window: Some(prost_types::Duration { seconds, nanos: 0 }),
            });
        }
        KeywordOrTable::Keyword(keyword) => match normalize_keyword(keyword).as_str() {
            "every" => LimitKind::Every,
            "once_per_lead" => LimitKind::OncePerLead,
            "once_per_asset" => LimitKind::OncePerAsset,
            _ => {
                return Err(CliError::new(Text::InvalidLimit).arg("value", format!("{keyword:?}")).arg("field", field));
            }
        },
    };
    Ok(FrequencyLimit { kind: kind as i32, ..FrequencyLimit::default() })
}

fn convert_decay(value: &KeywordOrTable<DecayTable>, field: &str) -> Result<Decay, CliError> {
    let invalid = |shown: String| CliError::new(Text::InvalidDecay).arg("value", shown).arg("field", field);
    let policy = match value {
        KeywordOrTable::Keyword(keyword) if normalize_keyword(keyword) == "none" => decay::Policy::None(true),
        KeywordOrTable::Keyword(keyword) => return Err(invalid(format!("{keyword:?}"))),
        KeywordOrTable::Table(table) => match (&table.half_life, &table.expire_after, table.none) {
            (Some(half_life), None, None) => {
                let seconds = parse_duration(half_life).ok_or_else(|| invalid_duration(half_life, &format!("{field}.half_life")))?;
                decay::Policy::HalfLife(prost_types::Duration { seconds, nanos: 0 })
            }
            (None, Some(expire_after), None) => {
                let seconds =
                    parse_duration(expire_after).ok_or_else(|| invalid_duration(expire_after, &format!("{field}.expire_after")))?;
                decay::Policy::ExpireAfter(prost_types::Duration { seconds, nanos: 0 })
            }
            (None, None, Some(true)) => decay::Policy::None(true),
            _ => return Err(invalid(describe_decay_table(table))),
        },
    };
    Ok(Decay { policy: Some(policy) })
}

/// Lists the keys set in a decay table, for the error of a table with none or several.
fn describe_decay_table(table: &DecayTable) -> String {
    let mut keys = Vec::new();
    if let Some(value) = &table.half_life {
        keys.push(format!("half_life = {value:?}"));
    }
    if let Some(value) = &table.expire_after {
        keys.push(format!("expire_after = {value:?}"));
    }
    if let Some(value) = table.none {
        keys.push(format!("none = {value}"));
    }
    format!("{{ {} }}", keys.join(", "))
}

fn invalid_duration(value: &str, field: &str) -> CliError {
    CliError::new(Text::InvalidDuration).arg("value", format!("{value:?}")).arg("field", field)
}

/// Parses a duration such as `30d`, `12h`, `90m`, `3600s` or `1h30m` into seconds. Returns
/// `None` for an empty text, a number without a unit, an unknown unit or an overflow. Zero is
/// accepted here; the service rejects a zero half-life, expiry or window with the field name.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }

    let mut total: i64 = 0;
    let mut digits = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit_seconds = match character {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let amount: i64 = digits.parse().ok()?;
        total = total.checked_add(amount.checked_mul(unit_seconds)?)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return None;
    }
    Some(total)
}

/// Writes seconds in the largest units that divide them exactly: 86400 → `1d`, 5400 →
/// `1h30m`, 0 → `0s`.
pub fn format_duration(seconds: i64) -> String {
    if seconds <= 0 {
        return format!("{seconds}s");
    }
    let mut rest = seconds;
    let mut output = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            output.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_units() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("12h"), Some(12 * 3_600));
        assert_eq!(parse_duration("90m"), Some(90 * 60));
        assert_eq!(parse_duration("3600s"), Some(3_600));
        assert_eq!(parse_duration(" 1h30m "), Some(5_400));
        assert_eq!(parse_duration("0s"), Some(0));
    }

    #[test]
    fn duration_rejects_malformed() {
        for text in ["", "30", "d", "30x", "1.5h", "-1d", "30 d", "99999999999999999999d"] {
            assert_eq!(parse_duration(text), None, "{text:?}");
        }
    }

    #[test]
    fn duration_round_trips() {
        for seconds in [1, 59, 60, 3_600, 5_400, 86_400, 90 * 86_400, 93_784] {
            assert_eq!(parse_duration(&format_duration(seconds)), Some(seconds), "{seconds}");
        }
        assert_eq!(format_duration(5_400), "1h30m");
        assert_eq!(format_duration(86_400), "1d");
    }
}
