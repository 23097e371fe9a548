//! A client in another language decodes the rich error model. python3 with grpcio and
//! grpcio-status reads the `google.rpc.Status` of a validation error with two field
//! violations and non-ASCII text. It must get the same message, byte for byte, and the same
//! violations as a Rust client.
//!
//! The Python packages come from `clients/python/requirements.txt`, installed into the venv
//! that `.ci/clients.sh` uses (`$TMPDIR/leadflow-clients-venv`, or `LEADFLOW_PYTHON_VENV`).
//! The test creates the venv when it is missing and skips only when python3 is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use leadflow_proto::activity::UpsertLeadRequest;
use leadflow_tests::{Backend, Suite};
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

const SCRIPT: &str = r#"
import json, sys
import grpc
from grpc_status import rpc_status
from google.rpc import error_details_pb2

address, request_hex = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(address)
upsert = channel.unary_unary("/leadflow.activity.v1.ActivityService/UpsertLead")
try:
    upsert(bytes.fromhex(request_hex), timeout=10)
    print(json.dumps({"error": "the call succeeded"}))
    sys.exit(1)
except grpc.RpcError as error:
    # from_call raises ValueError when grpc-message and Status.message differ.
    status = rpc_status.from_call(error)
    result = {"code": error.code().name, "message": status.message, "violations": [], "details": []}
    for detail in status.details:
        result["details"].append(detail.type_url)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                result["violations"].append([violation.field, violation.description])
    print(json.dumps(result, ensure_ascii=False))
"#;

fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LEADFLOW_PYTHON_VENV") {
        return PathBuf::from(dir);
    }
    std::env::temp_dir().join("leadflow-clients-venv")
}

/// Returns the venv's python with the pinned packages, creating the venv when needed, or
/// `None` when python3 is not installed.
fn python_with_grpc() -> Option<PathBuf> {
    if Command::new("python3").arg("--version").output().is_err() {
        return None;
    }
    let venv = venv_dir();
    let python = venv.join("bin/python");
    let has_packages = |python: &Path| {
        Command::new(python)
            .args(["-c", "import grpc, grpc_status, google.rpc.error_details_pb2"])
            .status()
            .is_ok_and(|status| status.success())
    };
    if python.exists() && has_packages(&python) {
        return Some(python);
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root");
    let created = Command::new("timeout").args(["120", "python3", "-m", "venv"]).arg(&venv).status().expect("run python3 -m venv");
    assert!(created.success(), "python3 -m venv {} failed", venv.display());
    let installed = Command::new("timeout")
        .arg("600")
        .arg(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("clients/python/requirements.txt"))
        .status()
        .expect("run pip");
    assert!(installed.success(), "pip install -r clients/python/requirements.txt failed");
    assert!(has_packages(&python), "the venv lacks grpcio or grpcio-status after pip install");
    Some(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_client_reads_bad_request() {
    let Some(python) = python_with_grpc() else {
        eprintln!("python3 is not installed; skipping the Python client check");
        return;
    };
    let mut suite = Suite::start(Backend::Sqlite).await;

    // An e-mail address with a newline and non-ASCII letters, and an attribute key of 65
    // non-ASCII characters: two violations, both echoing the text.
    let long_key: String = "ț".repeat(65);
    let request = UpsertLeadRequest {
        email: "Ștefan\nPopescu".to_owned(),
        attributes: BTreeMap::from([(long_key.clone(), "oraș nou\nBrașov".to_owned())]).into_iter().collect(),
        ..UpsertLeadRequest::default()
    };

    let rust_status = suite.activity.upsert_lead(request.clone()).await.expect_err("invalid request");
    assert_eq!(rust_status.code(), Code::InvalidArgument);
    let rust_violations: Vec<(String, String)> = rust_status
        .get_error_details()
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .iter()
        .map(|violation| (violation.field.clone(), violation.description.clone()))
        .collect();
    assert_eq!(rust_violations.len(), 2, "{rust_violations:?}");
    assert!(rust_status.message().contains("Ștefan"), "{}", rust_status.message());

    let script = tempfile::NamedTempFile::new().expect("script file");
    std::fs::write(script.path(), SCRIPT).expect("write script");
    let encoded: String = request.encode_to_vec().iter().map(|byte| format!("{byte:02x}")).collect();
    let output = Command::new("timeout")
        .arg("60")
        .arg(&python)
        .arg(script.path())
        .arg(suite.addresses[0].to_string())
        .arg(encoded)
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "Python client failed\nstdout: {stdout}\nstderr: {stderr}");

    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON from the Python client");
    assert_eq!(result["code"], "INVALID_ARGUMENT");
    assert_eq!(result["message"].as_str().expect("message"), rust_status.message(), "the message survives byte for byte");
    let python_violations: Vec<(String, String)> = result["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(python_violations, rust_violations, "Python reads the same BadRequest");
    let details = result["details"].as_array().expect("details");
    assert!(details.iter().any(|url| url.as_str().unwrap().ends_with("google.rpc.ErrorInfo")), "{details:?}");
    assert!(details.iter().any(|url| url.as_str().unwrap().ends_with("google.rpc.LocalizedMessage")), "{details:?}");

    let health = tonic_health::pb::health_client::HealthClient::new(suite.channel(0))
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await;
    assert!(health.is_ok(), "the service keeps serving");
    suite.stop().await;
}
