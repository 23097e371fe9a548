//! The model and lead commands against a real suite: `leadflow up` runs in a child process on
//! free loopback ports and is killed when the test ends.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running `leadflow up` and the URLs of its services.
struct Suite {
    child: Child,
    activity: String,
    scoring: String,
    qualification: String,
    _data_dir: tempfile::TempDir,
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Suite {
    /// Starts the suite with every port 0 and reads the chosen addresses from its output.
    fn start() -> Suite {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadflow"))
            .args(["--lang", "en", "up", "--activity-port", "0", "--scoring-port", "0", "--qualification-port", "0"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start leadflow up");

        let stdout = child.stdout.take().unwrap();
        let mut addresses = std::collections::BTreeMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some((service, address)) = line.split_once(" service listening on ") {
                addresses.insert(service.to_owned(), address.trim().to_owned());
            }
            if line.starts_with("Press Ctrl+C") {
                break;
            }
        }
        let address = |name: &str| addresses.get(name).cloned().unwrap_or_else(|| panic!("no {name} address in {addresses:?}"));
        let suite = Suite {
            activity: address("activity"),
            scoring: address("scoring"),
            qualification: address("qualification"),
            child,
            _data_dir: data_dir,
        };

        // The services return UNAVAILABLE until their databases are migrated.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !suite.run(&["model", "show"]).status.success() {
            assert!(Instant::now() < deadline, "the scoring service did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        suite
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_in("en", args)
    }

    fn run_in(&self, lang: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_leadflow"))
            .args(["--lang", lang, "--activity-addr", &self.activity, "--scoring-addr", &self.scoring])
            .args(["--qualification-addr", &self.qualification])
            .args(args)
            .env_remove("LEADFLOW_JSON")
            .output()
            .expect("run leadflow")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{args:?}: {error}"))
    }
}

fn example_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scoring-model.toml")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn model_lifecycle_and_explained_score() {
    let suite = Suite::start();
    let model = example_model();
    let model = model.to_str().unwrap();

    let output = suite.run(&["model", "validate", model]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("is a valid scoring model"), "{}", text(&output.stdout));

    let folder = tempfile::tempdir().unwrap();
    let invalid = folder.path().join("invalid.toml");
    std::fs::write(&invalid, "mql_threshold = 0\n[[rules]]\nrule_id = \"pricing\"\ntype = \"page_view\"\nurl_prefix = \"pricing\"\npoints = 5\n")
        .unwrap();
    let output = suite.run(&["model", "validate", invalid.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("model.rules[0].filter.url_prefix (pricing)"), "{stdout}");
    assert!(stdout.contains("model.mql_threshold"), "{stdout}");
    assert!(text(&output.stderr).contains("problems found: 2"), "{}", text(&output.stderr));

    let draft = suite.json(&["model", "draft", model]);
    assert_eq!(draft["version"], 2);
    assert_eq!(draft["valid"], true);

    let preview = suite.json(&["model", "preview", "--draft", "2"]);
    assert_eq!(preview["leads_evaluated"], 0);

    let published = suite.json(&["model", "publish", "--draft", "2"]);
    assert_eq!(published["version"], 2);
    assert_eq!(published["state"], "active");
    assert_eq!(published["rules"].as_array().unwrap().len(), 6);

    let versions = suite.json(&["model", "show", "--versions"]);
    let states: Vec<&str> = versions["versions"].as_array().unwrap().iter().map(|v| v["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["active", "retired"]);

    let email = "ana@example.com";
    let upsert = suite.run(&["lead", "upsert", "--email", email, "--attribute", "job_title=CTO"]);
    assert!(upsert.status.success(), "{}", text(&upsert.stderr));
    for (kind, url, time) in [
        ("page-view", "/pricing", "2026-11-02T09:00:00Z"),
        ("page-view", "/pricing/teams", "2026-11-02T10:00:00Z"),
        ("demo-request", "", "2026-11-03T09:00:00Z"),
    ] {
        let mut args = vec!["track", "--email", email, "--type", kind, "--occurred-at", time];
        if !url.is_empty() {
            args.extend(["--url", url]);
        }
        let output = suite.run(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    // Scoring consumes the activity events in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    let score = loop {
        let lead = suite.json(&["lead", "show", "--email", email]);
        let score = lead["score"].clone();
        if score["contributions"].as_array().is_some_and(|list| list.len() == 3) {
            break score;
        }
        assert!(Instant::now() < deadline, "no score with 3 contributions: {lead}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(score["engagement"], 50);
    assert_eq!(score["fit"], 15);
    assert_eq!(score["score"], 65);
    let reasons: Vec<&str> = score["contributions"].as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["counted", "limit_reached", "counted"]);

    let earlier = suite.json(&["lead", "show", "--email", email, "--as-of", "2026-11-02T12:00:00Z"]);
    assert_eq!(earlier["score"]["score"], 25);
    assert_eq!(earlier["score"]["contributions"].as_array().unwrap().len(), 2);

    let output = suite.run(&["lead", "show", "--email", email]);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("65 = engagement 50 + fit 15"), "{stdout}");
    assert!(stdout.contains("limit reached"), "{stdout}");

    let changes = suite.json(&["lead", "changes", "--email", email, "--limit", "2"]);
    assert_eq!(changes["entries"].as_array().unwrap().len(), 2);
    assert!(changes["total"].as_u64().unwrap() >= 3, "{changes}");
    let output = suite.run_in("ro", &["lead", "changes", "--email", email]);
    assert!(text(&output.stdout).contains("Înainte → după"), "{}", text(&output.stdout));
}
