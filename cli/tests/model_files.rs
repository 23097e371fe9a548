//! Scoring model files: the examples parse, and mistakes are errors that name the value.

use std::path::{Path, PathBuf};

use leadflow::i18n::{Lang, Text};
use leadflow::model_file::{Syntax, load, parse, parse_duration};
use leadflow_proto::scoring::{LimitKind, decay};
use leadflow_proto::types::ActivityType;

fn examples_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Collects every `.toml` under `folder` except import mappings, which have another format.
fn model_files(folder: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            model_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "toml")
            && path.file_name().is_some_and(|name| name != "mapping.toml")
        {
            found.push(path);
        }
    }
}

fn parse_toml(text: &str) -> Result<leadflow_proto::scoring::ScoringModel, leadflow::errors::CliError> {
    parse(text, Path::new("model.toml"), Syntax::Toml)
}

const MINIMAL: &str = "mql_threshold = 10\n";

#[test]
fn every_example_model_parses() {
    let mut files = Vec::new();
    model_files(&examples_folder(), &mut files);
    assert!(files.len() >= 3, "{files:?}");
    for path in files {
        let model = load(&path).unwrap_or_else(|error| panic!("{}: {}", path.display(), error.render(Lang::En)));
        assert!(model.mql_threshold >= 1, "{}", path.display());
        assert!(!model.activity_points.is_empty() || !model.rules.is_empty(), "{}", path.display());
    }
}

#[test]
fn full_example_converts() {
    let model = load(&examples_folder().join("scoring-model.toml")).unwrap();
    assert_eq!(model.mql_threshold, 60);
    assert_eq!(model.min_fit_score, 10);
    assert_eq!(model.score_floor, Some(0));
    assert_eq!(model.decay.unwrap().policy, Some(decay::Policy::None(true)));
    assert_eq!(model.rules.len(), 6);
    assert_eq!(model.fit_rules.len(), 3);

    let pricing = &model.rules[0];
    assert_eq!(pricing.rule_id, "pricing-page");
    assert_eq!(pricing.activity_type, ActivityType::PageView as i32);
    assert_eq!(pricing.filter.as_ref().unwrap().url_prefix, "/pricing");
    let limit = pricing.limit.unwrap();
    assert_eq!(limit.kind, LimitKind::PerWindow as i32);
    assert_eq!(limit.max_count, 1);
    assert_eq!(limit.window.unwrap().seconds, 86_400);

    let email_open = &model.rules[2];
    assert_eq!(email_open.limit.unwrap().kind, LimitKind::OncePerAsset as i32);

    let webinar = &model.rules[5];
    assert_eq!(webinar.activity_type, ActivityType::WebinarRegistration as i32);
    let half_life = match webinar.decay.unwrap().policy.unwrap() {
        decay::Policy::HalfLife(duration) => duration.seconds,
        other => panic!("{other:?}"),
    };
    assert_eq!(half_life, 90 * 86_400);

    let size = &model.fit_rules[1];
    assert_eq!(size.attribute, "company_size");
    assert_eq!((size.min_value, size.max_value), (Some(50), Some(1000)));
    assert_eq!(model.fit_rules[0].equals_any, ["cto", "vp engineering", "head of marketing"]);
}

#[test]
fn points_shorthand_still_works() {
    let model = parse_toml("mql_threshold = 50\n[points]\npage_view = 2\ndemo-request = 40\nUNSUBSCRIBE = -20\n").unwrap();
    assert_eq!(model.activity_points.len(), 3);
    assert!(model.rules.is_empty());
    assert_eq!(model.decay, None);
    assert_eq!(model.score_floor, None);
}

#[test]
fn type_spellings_are_equal() {
    for spelling in ["page_view", "page-view", "PAGE_VIEW"] {
        let text = format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"{spelling}\"\npoints = 1\n");
        let model = parse_toml(&text).unwrap();
        assert_eq!(model.rules[0].activity_type, ActivityType::PageView as i32, "{spelling}");
    }
}

#[test]
fn limit_keywords() {
    for (keyword, kind) in [
        ("every", LimitKind::Every),
        ("once_per_lead", LimitKind::OncePerLead),
        ("once-per-asset", LimitKind::OncePerAsset),
    ] {
        let text = format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"email_open\"\npoints = 1\nlimit = \"{keyword}\"\n");
        assert_eq!(parse_toml(&text).unwrap().rules[0].limit.unwrap().kind, kind as i32, "{keyword}");
    }
}

#[test]
fn decay_forms() {
    let model = parse_toml("mql_threshold = 10\n[decay]\nexpire_after = \"90d\"\n").unwrap();
    assert_eq!(model.decay.unwrap().policy, Some(decay::Policy::ExpireAfter(prost_types::Duration { seconds: 90 * 86_400, nanos: 0 })));

    let text = format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"email_open\"\npoints = 1\ndecay = \"none\"\n");
    assert_eq!(parse_toml(&text).unwrap().rules[0].decay.unwrap().policy, Some(decay::Policy::None(true)));
}

#[test]
fn json_by_extension() {
    let text = r#"{"mql_threshold": 20, "rules": [{"rule_id": "demo", "type": "demo-request", "points": 40, "limit": {"max": 2, "per": "12h"}}]}"#;
    let model = parse(text, Path::new("m.json"), Syntax::Json).unwrap();
    assert_eq!(model.rules[0].limit.unwrap().window.unwrap().seconds, 12 * 3_600);
    assert_eq!(Syntax::of(Path::new("model.JSON")), Syntax::Json);
    assert_eq!(Syntax::of(Path::new("model.toml")), Syntax::Toml);
    assert_eq!(Syntax::of(Path::new("model")), Syntax::Toml);
}

#[test]
fn unknown_key_is_named() {
    let error = parse_toml("mql_threshold = 10\nthreshold = 5\n").unwrap_err();
    assert_eq!(error.text(), Text::InvalidToml);
    let message = error.render(Lang::En);
    assert!(message.contains("`threshold`"), "{message}");
    assert!(message.contains("line 2"), "{message}");

    let error = parse_toml(&format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"email_open\"\npoints = 1\nurl = \"/x\"\n")).unwrap_err();
    assert!(error.render(Lang::En).contains("`url`"), "{}", error.render(Lang::En));

    let error = parse_toml(&format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"email_open\"\npoints = 1\nlimit = {{ max = 1, every = \"1d\" }}\n")).unwrap_err();
    assert!(error.render(Lang::En).contains("`every`"), "{}", error.render(Lang::En));

    let error = parse("{\"mql_threshold\": 1, \"bonus\": 2}", Path::new("m.json"), Syntax::Json).unwrap_err();
    assert_eq!(error.text(), Text::InvalidJson);
    assert!(error.render(Lang::En).contains("`bonus`"), "{}", error.render(Lang::En));
}

#[test]
fn unknown_type_is_named() {
    let error = parse_toml(&format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"page_visit\"\npoints = 1\n")).unwrap_err();
    assert_eq!(error.text(), Text::UnknownActivityType);
    let message = error.render(Lang::En);
    assert!(message.contains("\"page_visit\""), "{message}");
    assert!(message.contains("rules[0].type"), "{message}");

    let error = parse_toml("mql_threshold = 10\n[points]\nwebinar = 5\n").unwrap_err();
    assert!(error.render(Lang::En).contains("\"webinar\""), "{}", error.render(Lang::En));
}

#[test]
fn unknown_limit_is_named() {
    let error = parse_toml(&format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"email_open\"\npoints = 1\nlimit = \"once_per_day\"\n")).unwrap_err();
    assert_eq!(error.text(), Text::InvalidLimit);
    let message = error.render(Lang::En);
    assert!(message.contains("\"once_per_day\""), "{message}");
    assert!(message.contains("rules[0].limit"), "{message}");
}

#[test]
fn bad_durations_are_named() {
    let error = parse_toml("mql_threshold = 10\n[decay]\nhalf_life = \"30 days\"\n").unwrap_err();
    assert_eq!(error.text(), Text::InvalidDuration);
    let message = error.render(Lang::Ro);
    assert!(message.contains("\"30 days\""), "{message}");
    assert!(message.contains("[decay].half_life"), "{message}");

    let text = format!("{MINIMAL}[[rules]]\nrule_id = \"r\"\ntype = \"email_open\"\npoints = 1\nlimit = {{ max = 1, per = \"1w\" }}\n");
    let error = parse_toml(&text).unwrap_err();
    assert!(error.render(Lang::En).contains("\"1w\""), "{}", error.render(Lang::En));
}

#[test]
fn ambiguous_decay_is_rejected() {
    let error = parse_toml("mql_threshold = 10\n[decay]\nhalf_life = \"30d\"\nexpire_after = \"90d\"\n").unwrap_err();
    assert_eq!(error.text(), Text::InvalidDecay);
    let message = error.render(Lang::En);
    assert!(message.contains("half_life = \"30d\""), "{message}");
    assert!(message.contains("expire_after = \"90d\""), "{message}");

    let error = parse_toml("mql_threshold = 10\ndecay = \"forever\"\n").unwrap_err();
    assert!(error.render(Lang::En).contains("\"forever\""), "{}", error.render(Lang::En));
}

#[test]
fn durations_in_every_unit() {
    assert_eq!(parse_duration("30d"), Some(2_592_000));
    assert_eq!(parse_duration("12h"), Some(43_200));
    assert_eq!(parse_duration("90m"), Some(5_400));
    assert_eq!(parse_duration("3600s"), Some(3_600));
    assert_eq!(parse_duration("2d12h"), Some(216_000));
    assert_eq!(parse_duration("12"), None);
    assert_eq!(parse_duration("12y"), None);
}
