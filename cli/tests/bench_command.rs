//! `leadflow bench` runs briefly on SQLite against the service binaries of the same build and
//! reports every section with no failed call. No timing is asserted: speed depends on the
//! machine.

use std::path::PathBuf;
use std::process::Command;

/// Returns the folder of the `leadflow` executable, where the bench looks for the three
/// service binaries. `cargo test --workspace` builds them there; a run of this package alone
/// builds them first.
fn build_services() -> PathBuf {
    let leadflow = PathBuf::from(env!("CARGO_BIN_EXE_leadflow"));
    let bin_dir = leadflow.parent().expect("binary folder").to_path_buf();
    let services = ["leadflow-activity", "leadflow-scoring", "leadflow-qualification"];
    if services.iter().all(|name| bin_dir.join(name).exists()) {
        return bin_dir;
    }
    let profile_release = bin_dir.ends_with("release");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--quiet", "-p", "leadflow-activity", "-p", "leadflow-scoring", "-p", "leadflow-qualification"]);
    if profile_release {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo build");
    assert!(status.success(), "building the service binaries failed");
    bin_dir
}

#[test]
fn bench_reports_every_section() {
    let bin_dir = build_services();
    let output = Command::new(env!("CARGO_BIN_EXE_leadflow"))
        .args(["--json", "--lang", "en", "bench", "--duration", "1", "--concurrency", "4"])
        .arg("--bin-dir")
        .arg(&bin_dir)
        .output()
        .expect("run leadflow bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["database"], "sqlite");
    assert_eq!(report["concurrency"], 4);
    assert!(report["machine"]["cores"].as_u64().is_some_and(|cores| cores > 0), "{report}");

    assert!(report["unary"]["calls"].as_u64().is_some_and(|calls| calls > 0), "unary calls: {report}");
    assert!(report["import"]["calls"].as_u64().is_some_and(|calls| calls > 0), "import calls: {report}");
    assert_eq!(report["failed_calls"], 0, "every counted call succeeded: {report}");
    for phase in ["unary", "import"] {
        let failures = report[phase]["failures"].as_object().expect("failures by code");
        assert!(failures.is_empty(), "{phase} failures: {failures:?}");
    }
    assert!(report["baselines"]["noop_track"]["calls"].as_u64().is_some_and(|calls| calls > 0));
    assert!(report["baselines"]["health_bare"]["calls"].as_u64().is_some_and(|calls| calls > 0));
    assert!(report["baselines"]["health_layered"]["calls"].as_u64().is_some_and(|calls| calls > 0));
    let database = &report["baselines"]["database"];
    assert_eq!(database["tool"], "sqlx");
    assert!(database["write_set_calls_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{database}");
    assert!(report["ratios"]["unary_to_database_write_set"].as_f64().is_some_and(|ratio| ratio > 0.0), "{report}");

    let propagation = &report["propagation"];
    assert!(propagation["probes"].as_u64().is_some_and(|probes| probes > 0), "{propagation}");
    assert_eq!(propagation["arrived"], propagation["probes"], "every probe reached the MQL queue");

    let services = report["services"].as_array().expect("services");
    let names: Vec<&str> = services.iter().filter_map(|service| service["name"].as_str()).collect();
    assert_eq!(names, ["qualification", "scoring", "activity"]);
    for service in services {
        assert!(service["idle_rss_mib"].as_f64().is_some_and(|mib| mib > 0.0), "{service}");
        assert!(service["startup_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{service}");
    }

    let targets: Vec<&str> = report["targets"].as_array().expect("targets").iter().filter_map(|target| target["id"].as_str()).collect();
    assert_eq!(targets, [
        "unary_to_database_single_row",
        "import_to_database_batch",
        "propagation_p99_ms",
        "layered_to_bare_health",
        "idle_rss_mib",
        "startup_ms",
    ]);
}

#[test]
fn bench_rejects_zero_duration_in_romanian() {
    let output = Command::new(env!("CARGO_BIN_EXE_leadflow"))
        .args(["--lang", "ro", "bench", "--duration", "0"])
        .output()
        .expect("run leadflow bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--duration 0 este invalid"), "{stderr}");
}
