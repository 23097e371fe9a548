//! The sales commands of the `leadflow` client against the real services: reps, manual
//! assignment, settings and the funnel chart.

use leadflow::Context;
use leadflow::args::{AssignArgs, AssignmentArg, FunnelArgs, RepArgs, RepsCommand, SettingsCommand, SettingsSetArgs};
use leadflow::commands::{funnel, reps, settings};
use leadflow::i18n::Lang;
use leadflow_proto::qualification::{AssignmentMode, GetSettingsRequest, ListRepsRequest};
use leadflow_tests::{Suite, on_every_backend};

fn context(suite: &Suite, lang: Lang) -> Context {
    Context {
        lang,
        json: false,
        activity_addr: format!("http://{}", suite.addresses[0]),
        scoring_addr: format!("http://{}", suite.addresses[1]),
        qualification_addr: format!("http://{}", suite.addresses[2]),
        connect: Default::default(),
    }
}

async fn reps_and_chart(mut suite: Suite) -> Suite {
    let english = context(&suite, Lang::En);
    let add = RepArgs {
        rep_id: "ana".to_owned(),
        name: Some("Ana Pop".to_owned()),
        capacity: 3,
        countries: vec!["ro".to_owned()],
        segments: Vec::new(),
        time_zone: Some("Europe/Bucharest".to_owned()),
        inactive: false,
    };
    reps::run(&english, RepsCommand::Add(add)).await.expect("reps add");
    reps::run(&english, RepsCommand::List).await.expect("reps list");

    let stored = suite.qualification.list_reps(ListRepsRequest::default()).await.expect("reps").into_inner().reps;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].countries, ["RO"], "countries are stored upper-case");
    assert_eq!(stored[0].capacity, 3);

    let assign = AssignArgs { lead_id: uuid::Uuid::now_v7().to_string(), rep_id: "ana".to_owned(), actor: None };
    let error = reps::assign(&english, assign).await.expect_err("lead never became an MQL");
    assert!(error.to_string().contains("AssignLead failed"), "{error}");

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("funnel.svg");
    let args = FunnelArgs { from: None, to: None, time_zone: None, svg: Some(path.clone()) };
    funnel::run(&context(&suite, Lang::Ro), args).await.expect("funnel with chart");
    let svg = std::fs::read_to_string(&path).expect("chart written");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(r#"height="34""#).count(), 4, "one bar per stage");
    assert!(svg.contains("Câștigat"), "Romanian labels: {svg}");
    suite
}

async fn settings_change(mut suite: Suite) -> Suite {
    let romanian = context(&suite, Lang::Ro);
    let args = SettingsSetArgs {
        sla_hours: Some(8),
        time_zone: None,
        assignment: Some(AssignmentArg::Rules),
        rejection_reasons: vec!["no_budget".to_owned(), "wrong_country".to_owned()],
    };
    settings::run(&romanian, SettingsCommand::Set(args)).await.expect("settings set");
    settings::run(&romanian, SettingsCommand::Show).await.expect("settings show");

    let stored = suite.qualification.get_settings(GetSettingsRequest {}).await.expect("settings").into_inner().settings.unwrap();
    assert_eq!(stored.first_touch_sla_hours, 8);
    assert_eq!(stored.assignment_mode, AssignmentMode::Rules as i32);
    assert_eq!(stored.rejection_reasons, ["no_budget", "wrong_country"]);
    assert_eq!(stored.time_zone, "UTC", "a setting not given keeps its value");

    let empty = SettingsSetArgs { sla_hours: None, time_zone: None, assignment: None, rejection_reasons: Vec::new() };
    let error = settings::run(&romanian, SettingsCommand::Set(empty)).await.expect_err("nothing to change");
    assert!(error.to_string().contains("--sla-hours"), "{error}");

    let invalid = SettingsSetArgs { sla_hours: Some(0), time_zone: None, assignment: None, rejection_reasons: Vec::new() };
    let error = settings::run(&romanian, SettingsCommand::Set(invalid)).await.expect_err("zero hours");
    assert!(error.to_string().contains("first_touch_sla_hours"), "{error}");
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_changes_settings() {
    on_every_backend(settings_change).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_manages_reps_and_chart() {
    on_every_backend(reps_and_chart).await;
}
