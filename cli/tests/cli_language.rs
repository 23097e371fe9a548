//! The built binary speaks the language of the locale.

use std::process::Command;

fn run_funnel(locale: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_leadflow"))
        .args(["funnel", "--qualification-addr", "http://127.0.0.1:1"])
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("LEADFLOW_LANG")
        .env("LANG", locale)
        .output()
        .expect("run leadflow")
}

#[test]
fn refused_connection_in_romanian() {
    let output = run_funnel("ro_RO.UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("eroare: nu se poate conecta la serviciul qualification"), "{stderr}");
    assert!(stderr.contains("conexiune refuzată"), "{stderr}");
    assert!(stderr.contains("leadflow up"), "{stderr}");
}

#[test]
fn refused_connection_in_english() {
    let output = run_funnel("en_US.UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("error: cannot connect to the qualification service"), "{stderr}");
    assert!(stderr.contains("Start the suite with `leadflow up`"), "{stderr}");
}

#[test]
fn lang_flag_overrides_locale() {
    let output = Command::new(env!("CARGO_BIN_EXE_leadflow"))
        .args(["--lang", "ro", "funnel", "--qualification-addr", "http://127.0.0.1:1"])
        .env("LANG", "en_US.UTF-8")
        .env_remove("LC_ALL")
        .output()
        .expect("run leadflow");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("conexiune refuzată"), "{stderr}");
}

#[test]
fn unknown_model_type_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("model.toml");
    std::fs::write(&path, "mql_threshold = 10\n[points]\nwebinar = 5\n").unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_leadflow"))
        .args(["--lang", "en", "model", "publish"])
        .arg(&path)
        .output()
        .expect("run leadflow");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("unknown activity type \"webinar\""), "{stderr}");
}
