//! The scoring model validator on any protobuf-encoded `ScoringModel`. A model that passes
//! validation converts back to protobuf and passes again with the same rules.

#![no_main]

use leadflow_proto::scoring::ScoringModel;
use leadflow_scoring::domain::{model_to_proto, read_model};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(proto) = ScoringModel::decode(data) else {
        return;
    };
    let (model, violations) = read_model(Some(&proto));
    if !violations.is_empty() {
        return;
    }

    let again = model_to_proto(&model);
    let (reread, violations) = read_model(Some(&again));
    assert!(violations.is_empty(), "a valid model fails validation after a round trip: {violations:?}");
    assert_eq!(reread.rules.len(), model.rules.len());
    assert_eq!(reread.threshold, model.threshold);
});
