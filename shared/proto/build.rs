//! Compiles the contracts under `proto/` with protox, a protobuf compiler written in Rust,
//! so the build needs no system `protoc`. The encoded descriptor set is kept for the
//! reflection services.

use std::path::PathBuf;

const PROTO_FILES: &[&str] = &[
    "leadflow/type/v1/types.proto",
    "leadflow/events/v1/events.proto",
    "leadflow/activity/v1/activity.proto",
    "leadflow/scoring/v1/scoring.proto",
    "leadflow/qualification/v1/qualification.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let descriptors = protox::compile(PROTO_FILES, [&proto_root])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("leadflow_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&descriptors))?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Ordered maps encode deterministically, so request hashes for idempotency are stable.
        .btree_map(".")
        .compile_fds(descriptors)?;

    Ok(())
}
