//! Page token decoding on any string, and the encode-decode round trip of any sort key.

#![no_main]

use arbitrary::Arbitrary;
use leadflow_kit::paging;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    token: String,
    method: String,
    key: (String, i64),
}

fuzz_target!(|input: Input| {
    let _ = paging::decode::<(String, i64)>("ListActivities", &input.token);
    let _ = paging::decode::<String>("ListQueue", &input.token);
    let _ = paging::page_size(input.key.1 as i32);

    let token = paging::encode(&input.method, &input.key);
    let decoded = paging::decode::<(String, i64)>(&input.method, &token);
    assert!(matches!(&decoded, Ok(Some(key)) if *key == input.key), "round trip failed: {decoded:?}");
});
