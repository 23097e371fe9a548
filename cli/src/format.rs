//! Numbers, shares and times written the way each language writes them.

use crate::i18n::Lang;

/// Writes `value` with thousands separators: 9,240 in English, 9.240 in Romanian.
pub fn count(value: i64, lang: Lang) -> String {
    let separator = match lang {
        Lang::En => ',',
        Lang::Ro => '.',
    };
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(separator);
        }
        grouped.push(digit);
    }
    if value < 0 { format!("-{grouped}") } else { grouped }
}

/// Writes a share from 0 to 1 as a percentage with one decimal: 38.5% in English, 38,5% in
/// Romanian.
pub fn percent(share: f64, lang: Lang) -> String {
    let text = format!("{:.1}%", share * 100.0);
    match lang {
        Lang::En => text,
        Lang::Ro => text.replace('.', ","),
    }
}

/// Returns `part / whole`, or 0 when `whole` is 0.
pub fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Writes a protobuf timestamp as `YYYY-MM-DD HH:MM:SS UTC`, or an empty string when unset.
pub fn timestamp(value: Option<&prost_types::Timestamp>) -> String {
    value
        .and_then(|value| chrono::DateTime::from_timestamp(value.seconds, value.nanos.max(0) as u32))
        .map(|time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// Writes a protobuf timestamp in RFC 3339 for JSON output, or null when unset.
pub fn timestamp_json(value: Option<&prost_types::Timestamp>) -> serde_json::Value {
    value
        .and_then(|value| chrono::DateTime::from_timestamp(value.seconds, value.nanos.max(0) as u32))
        .map(|time| serde_json::Value::String(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(serde_json::Value::Null)
}

/// Prints rows as left-aligned columns separated by two spaces, under a header row.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            if index < widths.len() {
                widths[index] = widths[index].max(cell.chars().count());
            }
        }
    }

    let render = |cells: Vec<&str>| {
        let mut line = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if index + 1 < cells.len() {
                let padding = widths[index].saturating_sub(cell.chars().count());
                line.push_str(&" ".repeat(padding));
            }
        }
        line
    };

    println!("{}", render(headers.to_vec()));
    for row in rows {
        println!("{}", render(row.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_groups_thousands() {
        assert_eq!(count(9240, Lang::En), "9,240");
        assert_eq!(count(9240, Lang::Ro), "9.240");
        assert_eq!(count(1_234_567, Lang::En), "1,234,567");
        assert_eq!(count(999, Lang::En), "999");
        assert_eq!(count(0, Lang::Ro), "0");
        assert_eq!(count(-1200, Lang::En), "-1,200");
    }

    #[test]
    fn percent_uses_decimal_mark() {
        assert_eq!(percent(0.385, Lang::En), "38.5%");
        assert_eq!(percent(0.385, Lang::Ro), "38,5%");
        assert_eq!(percent(1.0, Lang::En), "100.0%");
    }

    #[test]
    fn ratio_of_empty_whole_is_zero() {
        assert_eq!(ratio(3, 0), 0.0);
        assert_eq!(ratio(1, 4), 0.25);
    }
}
