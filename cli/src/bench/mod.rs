//! `leadflow bench`: throughput, latency, memory and start-up of the suite, beside baselines
//! measured in the same run on the same machine.
//!
//! Order of the run: the database baseline first (pgbench needs connections that the
//! services' pools would otherwise hold), then the gRPC baselines, then the suite as three
//! processes: unary `TrackActivity`, bulk `ImportRecords`, and propagation from a tracked
//! activity to the score and the MQL queue at an offered rate. The report gives each figure,
//! the ratios of ours to the baselines, and which targets were met.

mod baseline;
mod load;
mod machine;
mod propagation;
mod report;
mod suite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::lead_key::Key;
use leadflow_proto::activity::{ImportRecord, ImportRecordsRequest, ImportedActivity, LeadKey, TrackActivityRequest, UpsertLeadRequest};
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::scoring::{ActivityPoints, PublishScoringModelRequest, ScoringModel};
use leadflow_proto::types::ActivityType;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::Context;
use crate::args::BenchArgs;
use crate::errors::CliError;
use crate::i18n::{Lang, Text};
use load::{Call, closed_loop};
use machine::Machine;
use report::{Report, ServiceFigures};
use suite::{Storage, Suite};

/// Leads that the unary load spreads its activities over.
const LEAD_POOL: u64 = 2000;
/// Records per `ImportRecords` call and activities per record of the bulk load.
const IMPORT_RECORDS: usize = 100;
const IMPORT_ACTIVITIES: usize = 10;
/// Concurrent `ImportRecords` callers at most; each call already carries 1000 activities.
const MAX_IMPORT_CALLERS: usize = 8;
/// HTTP/2 connections that a load spreads its callers over at most.
const MAX_CONNECTIONS: usize = 4;

/// Runs `leadflow bench`.
pub async fn run(context: &Context, args: BenchArgs) -> anyhow::Result<()> {
    let lang = context.lang;
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        return Err(CliError::new(Text::BenchInvalidDuration).arg("value", args.duration).into());
    }
    if args.concurrency == 0 || args.concurrency > 10_000 {
        return Err(CliError::new(Text::BenchInvalidConcurrency).arg("value", args.concurrency).into());
    }
    let duration = Duration::from_secs_f64(args.duration);
    let concurrency = args.concurrency;
    let bin_dir = match &args.bin_dir {
        Some(folder) => folder.clone(),
        None => std::env::current_exe()?.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let folder = tempfile::tempdir()?;
    let mut machine = Machine::describe();

    progress(lang, Text::BenchPhaseDatabase);
    let database = match &args.database_url {
        Some(server) => {
            let name = format!("leadflow_bench_{}_baseline", std::process::id());
            suite::create_database(server, &name).await?;
            let measured = baseline::pgbench_inserts(&suite::with_database(server, &name), folder.path(), concurrency, duration).await;
            suite::drop_databases(server, &[name]).await?;
            measured?
        }
        None => baseline::sqlite_inserts(folder.path(), duration).await?,
    };

    progress(lang, Text::BenchPhaseGrpc);
    let noop = baseline::start_noop_track().await?;
    let noop_channels = suite::channels(&noop.url(), concurrency.min(MAX_CONNECTIONS)).await?;
    let noop_track = closed_loop(concurrency, duration, track_call(noop_channels)).await;
    drop(noop);

    let bare = baseline::start_bare_health().await?;
    let health_bare = closed_loop(concurrency, duration, health_call(suite::channels(&bare.url(), concurrency.min(MAX_CONNECTIONS)).await?)).await;
    drop(bare);
    let layered = baseline::start_layered_health().await?;
    let health_layered =
        closed_loop(concurrency, duration, health_call(suite::channels(&layered.url(), concurrency.min(MAX_CONNECTIONS)).await?)).await;
    drop(layered);

    progress(lang, Text::BenchPhaseStart);
    let storage = match &args.database_url {
        Some(server) => Storage::Postgres(server.clone()),
        None => Storage::Sqlite(folder.path().to_path_buf()),
    };
    let suite = Suite::start(&bin_dir, storage, folder.path()).await?;
    let measured = measure_suite(lang, &suite, concurrency, duration, args.propagation_rate).await;
    suite.stop().await?;
    let figures = measured?;

    machine.load_after = machine::load_average();
    let report = Report::build(
        machine,
        if args.database_url.is_some() { "postgresql" } else { "sqlite" },
        concurrency,
        duration,
        figures,
        report::Baselines {
            noop_track: noop_track.throughput(),
            health_bare: health_bare.throughput(),
            health_layered: health_layered.throughput(),
            database,
        },
    );
    if context.json {
        crate::commands::print_json(&serde_json::to_value(&report)?);
    } else {
        report.print(lang);
    }
    Ok(())
}

/// Figures measured against the running suite.
pub struct SuiteFigures {
    unary: load::LoadResult,
    import: load::LoadResult,
    propagation: propagation::Propagation,
    services: Vec<ServiceFigures>,
}

async fn measure_suite(
    lang: Lang,
    suite: &Suite,
    concurrency: usize,
    duration: Duration,
    propagation_rate: Option<f64>,
) -> anyhow::Result<SuiteFigures> {
    let scoring = suite.channels("scoring", 1).await?;
    publish_model(scoring[0].clone()).await?;

    // The services are idle between start and load, so this is their idle memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut services: Vec<ServiceFigures> = suite
        .processes
        .iter()
        .map(|process| ServiceFigures {
            name: process.name.to_owned(),
            startup_ms: process.startup.as_secs_f64() * 1000.0,
            idle_rss_mib: machine::rss_kib(process.pid).map(mib).unwrap_or(0.0),
            load_rss_mib: 0.0,
        })
        .collect();

    let pids: Vec<u32> = suite.processes.iter().map(|process| process.pid).collect();
    let (stop_sampling, sampler) = sample_rss(pids);

    progress(lang, Text::BenchPhaseUnary);
    let activity = suite.channels("activity", concurrency.min(MAX_CONNECTIONS)).await?;
    let unary = closed_loop(concurrency, duration, track_call(activity.clone())).await;

    progress(lang, Text::BenchPhaseImport);
    let import = closed_loop(concurrency.min(MAX_IMPORT_CALLERS), duration, import_call(activity.clone())).await;

    let _ = stop_sampling.send(true);
    let peaks = sampler.await.unwrap_or_default();
    for (figures, peak) in services.iter_mut().zip(peaks) {
        figures.load_rss_mib = mib(peak);
    }

    progress(lang, Text::BenchPhasePropagation);
    let rate = propagation_rate.unwrap_or(unary.per_second() / 2.0).max(1.0);
    let qualification = suite.channels("qualification", 1).await?;
    let propagation =
        propagation::measure(activity, scoring[0].clone(), qualification[0].clone(), rate, duration, concurrency).await?;

    Ok(SuiteFigures { unary, import, propagation, services })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples the resident memory of `pids` every 100 ms until stopped; returns the peak
/// of each in KiB.
fn sample_rss(pids: Vec<u32>) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<Vec<u64>>) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(async move {
        let mut peaks = vec![0; pids.len()];
        loop {
            for (peak, pid) in peaks.iter_mut().zip(&pids) {
                *peak = (*peak).max(machine::rss_kib(*pid).unwrap_or(0));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stopped.changed() => break,
            }
        }
        peaks
    });
    (stop, sampler)
}

fn progress(lang: Lang, text: Text) {
    eprintln!("{}", text.get(lang));
}

/// Publishes the model of the benchmark: a page view scores 1 point, so the unary load never
/// makes an MQL of its 2000 leads, and a demo request scores the whole threshold, so each
/// propagation probe becomes an MQL with its one activity.
async fn publish_model(channel: Channel) -> anyhow::Result<()> {
    let model = ScoringModel {
        activity_points: vec![
            ActivityPoints { activity_type: ActivityType::PageView as i32, points: 1 },
            ActivityPoints { activity_type: ActivityType::DemoRequest as i32, points: 1000 },
        ],
        mql_threshold: 1000,
        description: "leadflow bench: a demo request makes an MQL".to_owned(),
        ..ScoringModel::default()
    };
    let request = PublishScoringModelRequest { model: Some(model), ..PublishScoringModelRequest::default() };
    ScoringServiceClient::new(channel)
        .publish_scoring_model(request)
        .await
        .map_err(|status| CliError::from_status("PublishScoringModel", &status))?;
    Ok(())
}

/// A page view of one of [`LEAD_POOL`] leads, created by its first activity, with a new
/// idempotency key and request id on every call.
pub fn page_view(caller: usize, number: u64) -> TrackActivityRequest {
    let lead = (caller as u64 * 7919 + number) % LEAD_POOL;
    TrackActivityRequest {
        lead: Some(LeadKey { key: Some(Key::Email(format!("bench-{lead}@example.com"))) }),
        r#type: ActivityType::PageView as i32,
        properties: [("url".to_owned(), "/pricing".to_owned())].into(),
        idempotency_key: format!("page-{caller}-{number}"),
        create_lead: true,
        request_id: uuid::Uuid::now_v7().to_string(),
        ..TrackActivityRequest::default()
    }
}

fn track_call(channels: Vec<Channel>) -> Call {
    let channels = Arc::new(channels);
    Arc::new(move |caller, number| {
        let mut client = ActivityServiceClient::new(channels[caller % channels.len()].clone());
        let request = page_view(caller, number);
        Box::pin(async move { client.track_activity(request).await.map(|_| 1).map_err(|status| status.code()) })
    })
}

fn health_call(channels: Vec<Channel>) -> Call {
    let channels = Arc::new(channels);
    Arc::new(move |caller, _| {
        let mut client = HealthClient::new(channels[caller % channels.len()].clone());
        Box::pin(async move {
            client.check(HealthCheckRequest { service: String::new() }).await.map(|_| 1).map_err(|status| status.code())
        })
    })
}

/// One `ImportRecords` call of new leads; its units are the activities the service reports
/// as created, so a record that failed inside a successful call does not count.
fn import_call(channels: Vec<Channel>) -> Call {
    let channels = Arc::new(channels);
    Arc::new(move |caller, number| {
        let mut client = ActivityServiceClient::new(channels[caller % channels.len()].clone());
        let records = (0..IMPORT_RECORDS)
            .map(|index| {
                let lead = format!("import-{caller}-{number}-{index}");
                ImportRecord {
                    line: index as i64 + 1,
                    lead: Some(UpsertLeadRequest {
                        email: format!("{lead}@example.com"),
                        source: "bench".to_owned(),
                        ..UpsertLeadRequest::default()
                    }),
                    activities: (0..IMPORT_ACTIVITIES)
                        .map(|activity| ImportedActivity {
                            r#type: ActivityType::PageView as i32,
                            properties: [("url".to_owned(), format!("/page/{activity}"))].into(),
                            idempotency_key: format!("{lead}-{activity}"),
                            ..ImportedActivity::default()
                        })
                        .collect(),
                    ..ImportRecord::default()
                }
            })
            .collect();
        let request = ImportRecordsRequest { records, request_id: uuid::Uuid::now_v7().to_string() };
        Box::pin(async move {
            let response = client.import_records(request).await.map_err(|status| status.code())?.into_inner();
            if response.results.iter().any(|result| !result.error.is_empty()) {
                return Err(tonic::Code::InvalidArgument);
            }
            Ok(response.results.iter().map(|result| result.activities_created as u64).sum())
        })
    })
}
