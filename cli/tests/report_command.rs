//! `leadflow report` and `leadflow model fit`: the SVG chart as a pure function, and both
//! commands against a real suite that `leadflow up` runs in a child process on free loopback
//! ports, fed by `leadflow import` of a generated CSV file with an outcome column.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use leadflow::commands::report::{decimal, render_svg};
use leadflow::i18n::Lang;
use leadflow_proto::scoring::{DecileRow, LeadSplit, ModelQuality, RocPoint};

fn quality(version: i32, auc: f64) -> ModelQuality {
    ModelQuality {
        model_id: "default".to_owned(),
        version,
        lead_count: 100,
        converted_count: 40,
        base_rate: 0.4,
        roc_auc: auc,
        deciles: (1..=10)
            .map(|decile| DecileRow { decile, lead_count: 10, lift: 2.5 - 0.2 * f64::from(decile), ..DecileRow::default() })
            .collect(),
        roc_curve: vec![
            RocPoint { threshold: 11, false_positive_rate: 0.0, true_positive_rate: 0.0 },
            RocPoint { threshold: 5, false_positive_rate: 0.2, true_positive_rate: 0.7 },
            RocPoint { threshold: 0, false_positive_rate: 1.0, true_positive_rate: 1.0 },
        ],
        split: LeadSplit::Holdout as i32,
        ..ModelQuality::default()
    }
}

#[test]
fn svg_has_bars_and_curves() {
    let svg = render_svg(&[quality(2, 0.68), quality(3, 0.9)], Lang::En);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 2, "one ROC curve per report");
    assert_eq!(svg.matches("<title>").count(), 20, "one bar per decile and report");
    assert!(svg.contains("False positive rate"));
    assert!(svg.contains("Score decile (1 = highest scores)"));
    assert!(svg.contains("version 3: ROC AUC 0.900, 100 leads (held out)"));
}

#[test]
fn svg_labels_in_romanian() {
    let svg = render_svg(&[quality(3, 0.9)], Lang::Ro);
    assert!(svg.contains("Rata fals pozitivelor"));
    assert!(svg.contains("Decila de scor"));
    assert!(svg.contains("versiunea 3: ROC AUC 0,900"));
    assert!(!svg.contains("False positive rate"));
}

#[test]
fn decimal_uses_decimal_mark() {
    assert_eq!(decimal(0.9004, 3, Lang::En), "0.900");
    assert_eq!(decimal(0.9004, 3, Lang::Ro), "0,900");
}

/// A running `leadflow up` and the URLs of its services.
struct Suite {
    child: Child,
    addresses: Vec<String>,
    data_dir: tempfile::TempDir,
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Suite {
    fn start() -> Suite {
        let data_dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadflow"))
            .args(["--lang", "en", "up", "--activity-port", "0", "--scoring-port", "0", "--qualification-port", "0"])
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start leadflow up");

        let mut addresses = std::collections::BTreeMap::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
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
            addresses: vec![address("activity"), address("scoring"), address("qualification")],
            child,
            data_dir,
        };

        let deadline = Instant::now() + Duration::from_secs(30);
        while !suite.run("en", &["model", "show"]).status.success() {
            assert!(Instant::now() < deadline, "the scoring service did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        suite
    }

    fn run(&self, lang: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_leadflow"))
            .args(["--lang", lang, "--activity-addr", &self.addresses[0], "--scoring-addr", &self.addresses[1]])
            .args(["--qualification-addr", &self.addresses[2]])
            .args(args)
            .env_remove("LEADFLOW_JSON")
            .output()
            .expect("run leadflow")
    }

    /// Imports `rows` generated leads whose keys start with `prefix`: leads on plan "pro"
    /// are won four times in five, leads on plan "basic" one time in five.
    fn import(&self, prefix: &str, rows: usize) {
        let mut csv = String::from("id,source,plan,visits,won\n");
        for index in 0..rows {
            let pro = index % 2 == 0;
            let won = if pro { index % 10 != 0 } else { index % 10 == 1 };
            let plan = if pro { "pro" } else { "basic" };
            csv.push_str(&format!("{prefix}-{index},web,{plan},{},{}\n", index % 3, u8::from(won)));
        }
        let csv_path = self.data_dir.path().join(format!("{prefix}.csv"));
        std::fs::write(&csv_path, csv).unwrap();
        let mapping_path = self.data_dir.path().join("mapping.toml");
        let mapping = "key_column = \"id\"\nsource_column = \"source\"\n[attributes]\nplan = \"plan\"\n\
                       [[counts]]\ncolumn = \"visits\"\ntype = \"page_view\"\n\
                       [outcome]\ncolumn = \"won\"\nwon = [\"1\"]\nlost = [\"0\"]\n";
        std::fs::write(&mapping_path, mapping).unwrap();

        let output = self.run("en", &["import", path(&csv_path), "--mapping", path(&mapping_path)]);
        assert!(output.status.success(), "import failed: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Waits until the quality report covers `leads` leads with an outcome.
    fn wait_for_outcomes(&self, leads: i64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let output = self.run("en", &["--json", "report"]);
            if output.status.success() {
                let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
                if report["reports"][0]["lead_count"] == leads {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "outcomes did not reach scoring: {}", String::from_utf8_lossy(&output.stdout));
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn report_and_fit_against_suite() {
    let suite = Suite::start();

    suite.import("few", 60);
    suite.wait_for_outcomes(60);
    let output = suite.run("en", &["model", "fit", "--seed", "5"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "fit with 60 outcomes fails");
    assert!(stderr.contains("at least 50 won and 50 lost"), "{stderr}");

    suite.import("more", 400);
    suite.wait_for_outcomes(460);
    let output = suite.run("en", &["--json", "model", "fit", "--seed", "5", "--holdout", "0.25"]);
    assert!(output.status.success(), "fit failed: {}", String::from_utf8_lossy(&output.stderr));
    let fitted: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let version = fitted["version"].as_i64().expect("draft version");
    assert_eq!(fitted["features"][0]["rule_id"], "plan-pro", "plan = pro drives the outcome: {fitted}");
    // Ranking by plan alone gives an AUC of 0.8 on this data, and a model that ignores the
    // plan about 0.5. The holdout is about 115 leads picked by hashing random lead ids, so its
    // AUC varies between runs, by an estimated 0.05.
    assert!(fitted["holdout"]["roc_auc"].as_f64().unwrap() > 0.6, "{}", fitted["holdout"]);
    assert_eq!(fitted["training"]["lead_count"].as_i64().unwrap() + fitted["holdout"]["lead_count"].as_i64().unwrap(), 460);

    let svg_path = suite.data_dir.path().join("quality.svg");
    let version_text = version.to_string();
    let output = suite.run("ro", &["report", "--version", "1", "--draft", &version_text, "--split", "holdout", "--seed", "5", "--holdout", "0.25", "--svg", path(&svg_path)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "report failed: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("Conversia pe decile de scor"), "{stdout}");
    assert!(stdout.contains(&format!("versiunea {version}")), "{stdout}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("Rata adevărat pozitivelor"));
}
