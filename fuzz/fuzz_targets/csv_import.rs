//! The CSV importer's row conversion on any input, with the X Education mapping. Every data
//! row read is either converted or skipped with a reason.

#![no_main]

use leadflow::import::Mapping;
use leadflow::import::rows::convert_all;
use libfuzzer_sys::fuzz_target;

const MAPPING: &str = include_str!("../../examples/x-education/mapping.toml");

fuzz_target!(|data: &[u8]| {
    let mapping = Mapping::from_toml(MAPPING).expect("the example mapping is valid");
    let occurred_at = prost_types::Timestamp { seconds: 1_790_000_000, nanos: 0 };
    let Ok(conversion) = convert_all(data, &mapping, occurred_at) else {
        return;
    };
    let accounted = conversion.records.len() as u64 + conversion.skipped.len() as u64;
    assert_eq!(accounted, conversion.rows_read, "rows neither converted nor skipped");
});
