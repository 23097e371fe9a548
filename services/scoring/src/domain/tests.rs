//! Evaluation and validation cases with known results.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use leadflow_proto::scoring::{
    self as api, ActivityPoints, BehaviorRule, Decay, FitRule, FrequencyLimit, LimitKind, RuleFilter, decay,
};
use leadflow_proto::types::ActivityType;
use uuid::Uuid;

use super::evaluate::{ActivityFact, Verdict, evaluate};
use super::model::{Model, read_model};

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, 0).unwrap()
}

fn day(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(days)
}

fn fact(kind: &str, occurred_at: DateTime<Utc>, properties: &[(&str, &str)]) -> ActivityFact {
    ActivityFact {
        activity_id: Uuid::now_v7(),
        activity_type: kind.to_owned(),
        occurred_at,
        properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        anonymous: false,
    }
}

fn rule(id: &str, kind: ActivityType, points: i64, limit: Option<FrequencyLimit>) -> BehaviorRule {
    BehaviorRule { rule_id: id.to_owned(), activity_type: kind as i32, points, limit, ..BehaviorRule::default() }
}

fn limit(kind: LimitKind) -> Option<FrequencyLimit> {
    Some(FrequencyLimit { kind: kind as i32, ..FrequencyLimit::default() })
}

fn valid(model: api::ScoringModel) -> Model {
    let (model, violations) = read_model(Some(&model));
    assert!(violations.is_empty(), "unexpected violations: {violations:?}");
    model
}

fn no_profile() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[test]
fn once_per_email_counts_distinct_assets() {
    let per_asset = valid(api::ScoringModel {
        rules: vec![rule("open", ActivityType::EmailOpen, 2, limit(LimitKind::OncePerAsset))],
        mql_threshold: 100,
        ..api::ScoringModel::default()
    });
    let every = valid(api::ScoringModel {
        rules: vec![rule("open", ActivityType::EmailOpen, 2, None)],
        mql_threshold: 100,
        ..api::ScoringModel::default()
    });
    let opens: Vec<ActivityFact> = ["E1", "E1", "E2", "E1"]
        .iter()
        .enumerate()
        .map(|(minute, asset)| fact("EMAIL_OPEN", at(9, minute as u32), &[("asset_id", asset)]))
        .collect();

    assert_eq!(evaluate(&per_asset, &opens, &no_profile(), "", at(12, 0)).total, 4);
    assert_eq!(evaluate(&every, &opens, &no_profile(), "", at(12, 0)).total, 8);
}

#[test]
fn hourly_limit_ignores_arrival_order() {
    let model = valid(api::ScoringModel {
        rules: vec![rule(
            "view",
            ActivityType::PageView,
            1,
            Some(FrequencyLimit {
                kind: LimitKind::PerWindow as i32,
                max_count: 1,
                window: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
            }),
        )],
        mql_threshold: 10,
        ..api::ScoringModel::default()
    });
    let late = fact("PAGE_VIEW", at(11, 1), &[]);
    let first = fact("PAGE_VIEW", at(10, 0), &[]);
    let second = fact("PAGE_VIEW", at(10, 10), &[]);

    let evaluation = evaluate(&model, &[late, first, second.clone()], &no_profile(), "", at(12, 0));
    assert_eq!(evaluation.total, 2);
    let blocked = evaluation.awards.iter().find(|award| award.activity_id == second.activity_id).unwrap();
    assert!(matches!(&blocked.verdict, Verdict::LimitReached(detail) if detail.contains("at most 1 per 3600s")));
}

#[test]
fn half_life_halves_in_whole_steps() {
    let model = valid(api::ScoringModel {
        rules: vec![rule("demo", ActivityType::DemoRequest, 100, None), rule("webinar", ActivityType::WebinarRegistration, 40, None)],
        fit_rules: vec![FitRule {
            rule_id: "cto".into(),
            attribute: "job_title".into(),
            equals_any: vec!["CTO".into()],
            points: 10,
            ..FitRule::default()
        }],
        decay: Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: 30 * 86_400, nanos: 0 })) }),
        mql_threshold: 60,
        ..api::ScoringModel::default()
    });
    let profile = BTreeMap::from([("job_title".to_owned(), "cto".to_owned())]);
    let demo = fact("DEMO_REQUEST", day(0), &[]);

    let engagement_on = |days: i64, facts: &[ActivityFact]| evaluate(&model, facts, &profile, "", day(days)).engagement;
    assert_eq!(engagement_on(29, &[demo.clone()]), 100);
    assert_eq!(engagement_on(30, &[demo.clone()]), 50);
    assert_eq!(engagement_on(60, &[demo.clone()]), 25);

    let webinar = fact("WEBINAR_REGISTRATION", day(61), &[]);
    let evaluation = evaluate(&model, &[demo, webinar], &profile, "", day(61));
    assert_eq!(evaluation.engagement, 65);
    assert_eq!(evaluation.fit, 10, "fit does not decay");
}

#[test]
fn floor_raises_negative_total() {
    let model = |floor: Option<i64>| {
        valid(api::ScoringModel {
            rules: vec![rule("form", ActivityType::FormSubmission, 9, None), rule("unsub", ActivityType::Unsubscribe, -12, None)],
            mql_threshold: 50,
            score_floor: floor,
            ..api::ScoringModel::default()
        })
    };
    let facts = [fact("FORM_SUBMISSION", at(9, 0), &[]), fact("UNSUBSCRIBE", at(9, 5), &[])];

    assert_eq!(evaluate(&model(None), &facts[..1], &no_profile(), "", at(10, 0)).total, 9);
    assert_eq!(evaluate(&model(None), &facts, &no_profile(), "", at(10, 0)).total, -3);
    let floored = evaluate(&model(Some(0)), &facts, &no_profile(), "", at(10, 0));
    assert_eq!(floored.total, 0);
    assert_eq!(floored.floor_adjustment, 3);
}

#[test]
fn url_prefix_filter_matches_path() {
    let model = valid(api::ScoringModel {
        rules: vec![
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "/pricing".into(), ..RuleFilter::default() }),
                ..rule("pricing", ActivityType::PageView, 5, None)
            },
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "/careers".into(), ..RuleFilter::default() }),
                ..rule("careers", ActivityType::PageView, -10, None)
            },
        ],
        mql_threshold: 10,
        ..api::ScoringModel::default()
    });
    let facts = [
        fact("PAGE_VIEW", at(9, 0), &[("url", "https://leadflow.example/pricing?plan=team")]),
        fact("PAGE_VIEW", at(9, 1), &[("url", "/careers/backend")]),
        fact("PAGE_VIEW", at(9, 2), &[("url", "/blog")]),
    ];
    let evaluation = evaluate(&model, &facts, &no_profile(), "", at(10, 0));
    assert_eq!(evaluation.total, -5);
    assert_eq!(evaluation.awards[2].verdict, Verdict::FilterNotMatched);
}

#[test]
fn model_problems_give_one_violation_each() {
    let submitted = api::ScoringModel {
        rules: vec![
            rule("bad-type", ActivityType::Unspecified, 5, None),
            rule("views", ActivityType::PageView, 1, None),
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "/pricing".into(), ..RuleFilter::default() }),
                ..rule("pricing", ActivityType::PageView, 5, None)
            },
            BehaviorRule {
                filter: Some(RuleFilter { url_prefix: "pricing page".into(), ..RuleFilter::default() }),
                ..rule("broken-filter", ActivityType::ContentDownload, 5, None)
            },
            BehaviorRule {
                decay: Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: -86_400, nanos: 0 })) }),
                ..rule("negative-decay", ActivityType::DemoRequest, 10, None)
            },
        ],
        mql_threshold: 40,
        ..api::ScoringModel::default()
    };
    let (_, violations) = read_model(Some(&submitted));
    let fields: Vec<&str> = violations.iter().map(|violation| violation.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "model.rules[0].activity_type",
            "model.rules[3].filter.url_prefix",
            "model.rules[4].decay.half_life",
            "model.rules[2]",
        ]
    );
}

#[test]
fn unreachable_threshold_is_rejected() {
    let submitted = api::ScoringModel {
        rules: vec![rule("demo", ActivityType::DemoRequest, 30, limit(LimitKind::OncePerLead))],
        mql_threshold: 50,
        ..api::ScoringModel::default()
    };
    let (_, violations) = read_model(Some(&submitted));
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "model.mql_threshold");

    let negative_only = api::ScoringModel {
        activity_points: vec![ActivityPoints { activity_type: ActivityType::Unsubscribe as i32, points: -20 }],
        mql_threshold: 10,
        ..api::ScoringModel::default()
    };
    let (_, violations) = read_model(Some(&negative_only));
    assert_eq!(violations[0].field, "model.mql_threshold");
}

#[test]
fn shorthand_points_become_rules() {
    let model = valid(api::ScoringModel {
        activity_points: vec![ActivityPoints { activity_type: ActivityType::DemoRequest as i32, points: 40 }],
        mql_threshold: 30,
        ..api::ScoringModel::default()
    });
    assert_eq!(model.rules[0].rule_id, "demo_request");
    assert_eq!(model.rules[0].points, 40);
}

#[test]
fn fit_rules_match_values_and_ranges() {
    let model = valid(api::ScoringModel {
        rules: vec![rule("demo", ActivityType::DemoRequest, 40, None)],
        fit_rules: vec![
            FitRule { rule_id: "it".into(), attribute: "industry".into(), equals_any: vec!["Software".into()], points: 10, ..FitRule::default() },
            FitRule { rule_id: "mid".into(), attribute: "company_size".into(), min_value: Some(50), max_value: Some(500), points: 15, ..FitRule::default() },
            FitRule { rule_id: "paid".into(), attribute: "source".into(), equals_any: vec!["google".into()], points: 5, ..FitRule::default() },
        ],
        mql_threshold: 50,
        ..api::ScoringModel::default()
    });
    let profile = BTreeMap::from([
        ("industry".to_owned(), " software ".to_owned()),
        ("company_size".to_owned(), "1,200".to_owned()),
    ]);
    let evaluation = evaluate(&model, &[], &profile, "google", at(9, 0));
    assert_eq!(evaluation.fit, 15);
    let matched: Vec<&str> = evaluation.fit_matches.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(matched, ["it", "paid"]);
}

#[test]
fn url_prefix_ends_at_a_segment() {
    use super::evaluate::path_has_prefix;
    assert!(path_has_prefix("/pricing", "/pricing"));
    assert!(path_has_prefix("/pricing/team", "/pricing"));
    assert!(path_has_prefix("/pricing?plan=a", "/pricing"));
    assert!(!path_has_prefix("/pricing-old", "/pricing"));
    assert!(!path_has_prefix("/Pricing", "/pricing"));
    assert!(path_has_prefix("/docs/api", "/docs/"));
}

#[test]
fn excluded_anonymous_activity_scores_zero_and_spends_no_limit() {
    let mut model = valid(api::ScoringModel {
        rules: vec![rule("demo", ActivityType::DemoRequest, 40, limit(LimitKind::OncePerLead))],
        mql_threshold: 40,
        exclude_anonymous_activity: true,
        ..api::ScoringModel::default()
    });
    let anonymous = ActivityFact { anonymous: true, ..fact("DEMO_REQUEST", at(9, 0), &[]) };
    let known = fact("DEMO_REQUEST", at(9, 5), &[]);

    let evaluation = evaluate(&model, &[anonymous.clone(), known.clone()], &BTreeMap::new(), "", at(10, 0));
    assert_eq!(evaluation.awards[0].verdict, Verdict::AnonymousNotScored);
    assert_eq!(evaluation.points, [0, 40]);

    model.exclude_anonymous = false;
    let evaluation = evaluate(&model, &[anonymous, known], &BTreeMap::new(), "", at(10, 0));
    assert_eq!(evaluation.points, [40, 0]);
}

#[test]
fn appended_evaluation_matches_whole_history() {
    use super::evaluate::{evaluate_appended, limit_reach};

    let per_hour = |max_count| {
        Some(FrequencyLimit {
            kind: LimitKind::PerWindow as i32,
            max_count,
            window: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
        })
    };
    let model = valid(api::ScoringModel {
        rules: vec![
            rule("view", ActivityType::PageView, 1, None),
            rule("open", ActivityType::EmailOpen, 2, limit(LimitKind::OncePerAsset)),
            rule("webinar", ActivityType::WebinarRegistration, 10, limit(LimitKind::OncePerLead)),
            rule("form", ActivityType::FormSubmission, 5, per_hour(2)),
            BehaviorRule {
                decay: Some(Decay { policy: Some(decay::Policy::HalfLife(prost_types::Duration { seconds: 7200, nanos: 0 })) }),
                ..rule("demo", ActivityType::DemoRequest, 40, None)
            },
        ],
        mql_threshold: 1000,
        ..api::ScoringModel::default()
    });
    let reach = limit_reach(&model);
    assert_eq!(reach.iter().map(|rule| (rule.rule_id.as_str(), rule.window_secs)).collect::<Vec<_>>(), [
        ("open", None),
        ("webinar", None),
        ("form", Some(3600))
    ]);

    // A fixed pseudo-random history: kinds, assets and gaps of 0 to 39 minutes.
    let kinds = ["PAGE_VIEW", "EMAIL_OPEN", "WEBINAR_REGISTRATION", "FORM_SUBMISSION", "DEMO_REQUEST", "EMAIL_CLICK"];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: u64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let mut time = at(8, 0);
    let mut history = Vec::new();
    for _ in 0..60 {
        time += Duration::minutes(next(40) as i64);
        let asset = format!("guide-{}", next(4));
        history.push(fact(kinds[next(kinds.len() as u64) as usize], time, &[("asset_id", asset.as_str())]));
    }
    let as_of = time + Duration::hours(1);
    let whole = evaluate(&model, &history, &no_profile(), "", as_of);

    for split in [0, 1, 7, 20, 33, 59, 60] {
        let (before, appended) = history.split_at(split);
        let earlier = evaluate(&model, before, &no_profile(), "", as_of);
        // Only the activities within each limit's reach of the first appended one.
        let from = appended.first().map(|activity| activity.occurred_at).unwrap_or(as_of);
        let counted_before: Vec<ActivityFact> = before
            .iter()
            .zip(&earlier.awards)
            .filter(|(activity, award)| {
                award.verdict == Verdict::Counted
                    && reach.iter().any(|rule| {
                        Some(&model.rules[award.rule_index.unwrap()].rule_id) == Some(&rule.rule_id)
                            && rule.window_secs.is_none_or(|secs| activity.occurred_at > from - Duration::seconds(secs))
                    })
            })
            .map(|(activity, _)| activity.clone())
            .collect();

        let evaluation = evaluate_appended(&model, &counted_before, appended, earlier.engagement, &no_profile(), "", as_of);
        assert_eq!(evaluation.awards, whole.awards[split..], "awards after {split}");
        assert_eq!(evaluation.points, whole.points[split..], "points after {split}");
        assert_eq!(evaluation.total, whole.total, "total after {split}");
        let next_decay = [earlier.next_decay, evaluation.next_decay].into_iter().flatten().min();
        assert_eq!(next_decay, whole.next_decay, "next decay after {split}");
    }
    assert!(whole.awards.iter().any(|award| matches!(award.verdict, Verdict::LimitReached(_))), "the history reaches limits");
}
