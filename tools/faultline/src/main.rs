//! `leadflow-faultline`: a fault test of the whole suite.
//!
//! It starts the `leadflow-activity`, `leadflow-scoring` and `leadflow-qualification`
//! binaries as separate processes on loopback ports with SQLite files in a temporary folder.
//! While a steady, bounded TrackActivity load runs, it kills each process with SIGKILL and
//! restarts it, in turn, for several rounds. Clients retry every call with the same
//! idempotency key until it is acknowledged. Then it reconciles the three databases:
//!
//! - activities acknowledged to clients = activities stored, with the same keys;
//! - activities stored = activities scored (`scored_activity` rows and `ACTIVITY` ledger
//!   entries, none twice);
//! - MQL events (`lead_score.mql_count`) = leads that are MQLs = leads in the sales queue;
//! - every outbox is empty and no event is parked.
//!
//! It prints the counts and exits with status 1 on any difference, 2 on a setup failure.

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::{LeadKey, TrackActivityRequest, UpsertLeadRequest, lead_key};
use leadflow_proto::types::ActivityType;
use rand::Rng;
use sqlx::{Connection, Row, SqliteConnection};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

/// Command line of the fault test.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// CI mode: two kill rounds, three clients, 80 activities per second and at most 4,000
    /// activities. With debug binaries on a 2-core machine a run took 22 s.
    #[arg(long)]
    short: bool,

    /// Folder with the three service binaries; defaults to the folder of this binary.
    #[arg(long)]
    bin_dir: Option<PathBuf>,

    /// Kill rounds; each round kills and restarts every service once. Default 5, or 2 with
    /// --short.
    #[arg(long)]
    rounds: Option<u32>,

    /// Concurrent TrackActivity clients. Default 4, or 3 with --short.
    #[arg(long)]
    clients: Option<usize>,

    /// Leads the activities are spread over.
    #[arg(long, default_value_t = 40)]
    leads: usize,

    /// Most activities tracked. Default 20,000, or 4,000 with --short.
    #[arg(long)]
    max_activities: Option<usize>,

    /// Activities started per second by all clients together. Default 150, or 80 with
    /// --short.
    #[arg(long)]
    rate: Option<u32>,

    /// Milliseconds a service runs between its restart and the next kill.
    #[arg(long, default_value_t = 2500)]
    kill_interval_ms: u64,

    /// Seconds after which the run fails, whatever its state. Default 600, or 110 with
    /// --short.
    #[arg(long)]
    max_seconds: Option<u64>,

    /// Keep the data folder with the databases and service logs, and print its path.
    #[arg(long)]
    keep: bool,
}

/// Settings after defaults are applied.
struct Plan {
    rounds: u32,
    clients: usize,
    leads: usize,
    max_activities: usize,
    pause: Duration,
    kill_interval: Duration,
    deadline: Instant,
}

const SERVICES: [&str; 3] = ["activity", "scoring", "qualification"];
/// Deadline of every client call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a restarted service gets to report SERVING.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Time the outboxes get to drain after the load stops.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Activity types tracked in turn for each lead. A demo request and a content download
/// together exceed the default MQL threshold, so every lead becomes an MQL within eight
/// activities. Each lead starts at another position, so the crossings spread over the run.
const ACTIVITY_MIX: [ActivityType; 8] = [
    ActivityType::PageView,
    ActivityType::EmailOpen,
    ActivityType::PageView,
    ActivityType::DemoRequest,
    ActivityType::PageView,
    ActivityType::EmailOpen,
    ActivityType::PageView,
    ActivityType::ContentDownload,
];

/// One service process and how to start it again.
struct ServiceProcess {
    name: &'static str,
    binary: PathBuf,
    address: SocketAddr,
    database: PathBuf,
    log: PathBuf,
    peers: [SocketAddr; 3],
    child: Option<Child>,
    kills: u32,
}

impl ServiceProcess {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("failed to open log {}", self.log.display()))?;
        let child = Command::new(&self.binary)
            .arg("serve")
            .env("LEADFLOW_LISTEN", self.address.to_string())
            .env("LEADFLOW_DATABASE_URL", format!("sqlite://{}", self.database.display()))
            .env("LEADFLOW_ACTIVITY_URL", format!("http://{}", self.peers[0]))
            .env("LEADFLOW_SCORING_URL", format!("http://{}", self.peers[1]))
            .env("LEADFLOW_QUALIFICATION_URL", format!("http://{}", self.peers[2]))
            .env("LEADFLOW_SHUTDOWN_TIMEOUT_SECS", "2")
            .env("LEADFLOW_RELAY__INITIAL_BACKOFF_MS", "50")
            .env("LEADFLOW_RELAY__MAX_BACKOFF_MS", "1000")
            .env("LEADFLOW_RELAY__CALL_TIMEOUT_MS", "3000")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("failed to start {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // tokio's start_kill sends SIGKILL on Unix: no shutdown hook runs.
            child.start_kill().with_context(|| format!("failed to kill {}", self.name))?;
            child.wait().await?;
            self.kills += 1;
        }
        Ok(())
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let channel = Endpoint::from_shared(format!("http://{}", self.address))?
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(1))
            .connect_lazy();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        while started.elapsed() < START_TIMEOUT {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("{} exited during start-up with {status}; see {}", self.name, self.log.display());
            }
            let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
            let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
            if let Ok(response) = health.check(request).await
                && response.into_inner().status == serving
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{} did not report SERVING within {START_TIMEOUT:?}; see {}", self.name, self.log.display())
    }
}

/// Progress of the client load: the next activity number and the acknowledged keys.
#[derive(Default)]
struct LoadState {
    next: AtomicUsize,
    stop: AtomicBool,
    acknowledged: Mutex<HashSet<String>>,
    unacknowledged: Mutex<HashSet<String>>,
    failures: Mutex<BTreeMap<String, u64>>,
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

fn activity_client(address: SocketAddr) -> anyhow::Result<ActivityServiceClient<Channel>> {
    let channel = Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(Duration::from_millis(500))
        .timeout(CALL_TIMEOUT + Duration::from_millis(500))
        .connect_lazy();
    Ok(ActivityServiceClient::new(channel))
}

/// Creates the leads with request ids, retrying until each is acknowledged.
async fn create_leads(client: &mut ActivityServiceClient<Channel>, count: usize, deadline: Instant) -> anyhow::Result<Vec<String>> {
    let mut leads = Vec::with_capacity(count);
    for index in 0..count {
        let lead = loop {
            if Instant::now() > deadline {
                bail!("lead {index} was not created before the run deadline");
            }
            let mut request = tonic::Request::new(UpsertLeadRequest {
                email: format!("faultline{index}@example.ro"),
                source: "faultline".to_owned(),
                request_id: format!("faultline-lead-{index}"),
                ..UpsertLeadRequest::default()
            });
            request.set_timeout(CALL_TIMEOUT);
            match client.upsert_lead(request).await {
                Ok(response) => break response.into_inner().lead.context("UpsertLead returned no lead")?.lead_id,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        leads.push(lead);
    }
    Ok(leads)
}

/// Tracks activities until the load stops or the plan's maximum is reached. Every activity
/// is retried with its idempotency key until it is acknowledged or the run deadline passes.
async fn run_client(
    mut client: ActivityServiceClient<Channel>,
    leads: Arc<Vec<String>>,
    state: Arc<LoadState>,
    max_activities: usize,
    pause: Duration,
    deadline: Instant,
) {
    loop {
        tokio::time::sleep(pause).await;
        if state.stop.load(Ordering::SeqCst) {
            return;
        }
        let number = state.next.fetch_add(1, Ordering::SeqCst);
        if number >= max_activities {
            return;
        }
        let lead_index = number % leads.len();
        let lead_id = &leads[lead_index];
        let kind = ACTIVITY_MIX[(number / leads.len() + lead_index) % ACTIVITY_MIX.len()];
        let key = format!("faultline-{number}");

        let mut backoff = Duration::from_millis(50);
        loop {
            if Instant::now() > deadline {
                state.unacknowledged.lock().unwrap().insert(key);
                return;
            }
            let mut request = tonic::Request::new(TrackActivityRequest {
                lead: Some(LeadKey { key: Some(lead_key::Key::LeadId(lead_id.clone())) }),
                r#type: kind as i32,
                idempotency_key: key.clone(),
                ..TrackActivityRequest::default()
            });
            request.set_timeout(CALL_TIMEOUT);
            match client.track_activity(request).await {
                Ok(_) => {
                    state.acknowledged.lock().unwrap().insert(key);
                    break;
                }
                Err(status) => {
                    *state.failures.lock().unwrap().entry(format!("{:?}", status.code())).or_default() += 1;
                    let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
                    tokio::time::sleep(backoff / 2 + Duration::from_millis(jitter)).await;
                    backoff = (backoff * 2).min(Duration::from_millis(800));
                }
            }
        }
    }
}

/// Counts read from the three databases.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
struct Counts {
    stored: i64,
    stored_keys: i64,
    scored: i64,
    ledger_activity_entries: i64,
    ledger_distinct_activities: i64,
    mql_events: i64,
    mql_leads: i64,
    max_mql_per_lead: i64,
    queued: i64,
    queued_distinct: i64,
    outbox_pending: i64,
    outbox_parked: i64,
    stored_not_scored: i64,
}

async fn open_read_only(path: &Path) -> anyhow::Result<SqliteConnection> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    SqliteConnection::connect(&url).await.with_context(|| format!("failed to open {}", path.display()))
}

async fn scalar(connection: &mut SqliteConnection, sql: &str) -> anyhow::Result<i64> {
    let row = sqlx::query(sql).fetch_one(connection).await.with_context(|| format!("query failed: {sql}"))?;
    Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
}

async fn column(connection: &mut SqliteConnection, sql: &str) -> anyhow::Result<HashSet<String>> {
    let rows = sqlx::query(sql).fetch_all(connection).await.with_context(|| format!("query failed: {sql}"))?;
    rows.iter().map(|row| row.try_get::<String, _>(0).map_err(Into::into)).collect()
}

async fn read_counts(databases: &[PathBuf; 3]) -> anyhow::Result<(Counts, HashSet<String>)> {
    let mut activity = open_read_only(&databases[0]).await?;
    let mut scoring = open_read_only(&databases[1]).await?;
    let mut qualification = open_read_only(&databases[2]).await?;
    let mut counts = Counts {
        stored: scalar(&mut activity, "SELECT COUNT(*) FROM activity").await?,
        stored_keys: scalar(&mut activity, "SELECT COUNT(DISTINCT idempotency_key) FROM activity").await?,
        scored: scalar(&mut scoring, "SELECT COUNT(*) FROM scored_activity").await?,
        ledger_activity_entries: scalar(&mut scoring, "SELECT COUNT(*) FROM ledger_entry WHERE kind = 'ACTIVITY'").await?,
        ledger_distinct_activities: scalar(
            &mut scoring,
            "SELECT COUNT(DISTINCT activity_id) FROM ledger_entry WHERE kind = 'ACTIVITY'",
        )
        .await?,
        mql_events: scalar(&mut scoring, "SELECT SUM(mql_count) FROM lead_score").await?,
        mql_leads: scalar(&mut scoring, "SELECT COUNT(*) FROM lead_score WHERE mql_count > 0").await?,
        max_mql_per_lead: scalar(&mut scoring, "SELECT MAX(mql_count) FROM lead_score").await?,
        queued: scalar(&mut qualification, "SELECT COUNT(*) FROM qualification").await?,
        queued_distinct: scalar(&mut qualification, "SELECT COUNT(DISTINCT lead_id) FROM qualification").await?,
        ..Counts::default()
    };
    for connection in [&mut activity, &mut scoring, &mut qualification] {
        counts.outbox_pending += scalar(connection, "SELECT COUNT(*) FROM outbox WHERE failed_at IS NULL").await?;
        counts.outbox_parked += scalar(connection, "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL").await?;
    }

    let stored_ids = column(&mut activity, "SELECT hex(id) FROM activity").await?;
    let scored_ids = column(&mut scoring, "SELECT hex(activity_id) FROM scored_activity").await?;
    counts.stored_not_scored = stored_ids.difference(&scored_ids).count() as i64;
    let keys = column(&mut activity, "SELECT idempotency_key FROM activity WHERE idempotency_key IS NOT NULL").await?;
    Ok((counts, keys))
}

/// Returns one line per broken invariant.
fn differences(counts: &Counts, acknowledged: &HashSet<String>, stored_keys: &HashSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let acked = acknowledged.len() as i64;
    let mut check = |holds: bool, problem: String| {
        if !holds {
            problems.push(problem);
        }
    };

    check(counts.stored == acked, format!("stored {} != acknowledged {acked}", counts.stored));
    check(counts.stored_keys == counts.stored, format!("{} activities share a key", counts.stored - counts.stored_keys));
    let missing = acknowledged.difference(stored_keys).count();
    check(missing == 0, format!("{missing} acknowledged activities are not stored"));
    let extra = stored_keys.difference(acknowledged).count();
    check(extra == 0, format!("{extra} stored activities were never acknowledged"));

    check(counts.scored == counts.stored, format!("scored {} != stored {}", counts.scored, counts.stored));
    check(counts.stored_not_scored == 0, format!("{} stored activities are not scored", counts.stored_not_scored));
    check(
        counts.ledger_activity_entries == counts.scored,
        format!("ACTIVITY ledger entries {} != scored {}", counts.ledger_activity_entries, counts.scored),
    );
    check(
        counts.ledger_distinct_activities == counts.ledger_activity_entries,
        format!("{} activities are in the ledger twice", counts.ledger_activity_entries - counts.ledger_distinct_activities),
    );

    check(counts.mql_events == counts.mql_leads, format!("MQL events {} != MQL leads {}", counts.mql_events, counts.mql_leads));
    check(counts.max_mql_per_lead <= 1, format!("a lead became MQL {} times", counts.max_mql_per_lead));
    check(counts.mql_events == counts.queued, format!("MQL events {} != leads in the queue {}", counts.mql_events, counts.queued));
    check(counts.queued_distinct == counts.queued, format!("{} leads are queued twice", counts.queued - counts.queued_distinct));
    check(counts.mql_events > 0, "no lead became an MQL, so the MQL check proves nothing".to_owned());

    check(counts.outbox_pending == 0, format!("{} events still wait in outboxes", counts.outbox_pending));
    check(counts.outbox_parked == 0, format!("{} events are parked as rejected", counts.outbox_parked));
    problems
}

fn plan(args: &Args) -> Plan {
    let short = args.short;
    let clients = args.clients.unwrap_or(if short { 3 } else { 4 }).max(1);
    let rate = args.rate.unwrap_or(if short { 80 } else { 150 }).max(1);
    Plan {
        rounds: args.rounds.unwrap_or(if short { 2 } else { 5 }),
        clients,
        leads: args.leads.max(1),
        max_activities: args.max_activities.unwrap_or(if short { 4_000 } else { 20_000 }),
        pause: Duration::from_secs_f64(clients as f64 / f64::from(rate)),
        kill_interval: Duration::from_millis(args.kill_interval_ms),
        deadline: Instant::now() + Duration::from_secs(args.max_seconds.unwrap_or(if short { 110 } else { 600 })),
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let plan = plan(&args);
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?.parent().context("binary has no folder")?.to_path_buf(),
    };
    let data = tempfile::Builder::new().prefix("leadflow-faultline-").tempdir()?;
    let peers = [free_port()?, free_port()?, free_port()?];

    let mut services: Vec<ServiceProcess> = Vec::new();
    for (index, name) in SERVICES.into_iter().enumerate() {
        let binary = bin_dir.join(format!("leadflow-{name}"));
        if !binary.exists() {
            bail!(
                "{} is missing; build the services first: cargo build -p leadflow-activity -p leadflow-scoring -p leadflow-qualification",
                binary.display()
            );
        }
        services.push(ServiceProcess {
            name,
            binary,
            address: peers[index],
            database: data.path().join(format!("{name}.db")),
            log: data.path().join(format!("{name}.log")),
            peers,
            child: None,
            kills: 0,
        });
    }
    for service in &mut services {
        service.spawn()?;
    }
    for service in &mut services {
        service.wait_until_serving().await?;
    }
    println!(
        "faultline: services on {}, {}, {}; data in {}",
        peers[0],
        peers[1],
        peers[2],
        data.path().display()
    );

    let mut client = activity_client(peers[0])?;
    let leads = Arc::new(create_leads(&mut client, plan.leads, plan.deadline).await?);
    let state = Arc::new(LoadState::default());
    let started = Instant::now();
    let clients: Vec<_> = (0..plan.clients)
        .map(|_| {
            let client = activity_client(peers[0]).expect("valid endpoint");
            tokio::spawn(run_client(client, leads.clone(), state.clone(), plan.max_activities, plan.pause, plan.deadline))
        })
        .collect();

    for round in 1..=plan.rounds {
        for service in &mut services {
            tokio::time::sleep(plan.kill_interval).await;
            if Instant::now() > plan.deadline {
                bail!("the run passed its time limit during kill round {round}");
            }
            service.kill().await?;
            let down = Duration::from_millis(rand::rng().random_range(200..=800));
            tokio::time::sleep(down).await;
            service.spawn()?;
            service.wait_until_serving().await?;
            let acknowledged = state.acknowledged.lock().unwrap().len();
            println!(
                "faultline: round {round}: killed and restarted {} (down {} ms); {acknowledged} activities acknowledged",
                service.name,
                down.as_millis()
            );
        }
    }
    tokio::time::sleep(plan.kill_interval).await;
    state.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await?;
    }
    let load_time = started.elapsed();

    let acknowledged = state.acknowledged.lock().unwrap().clone();
    let unacknowledged = state.unacknowledged.lock().unwrap().len();
    // Settled means every outbox is empty and two reads 500 ms apart agree.
    let settle_deadline = Instant::now() + SETTLE_TIMEOUT;
    let databases = [services[0].database.clone(), services[1].database.clone(), services[2].database.clone()];
    let mut previous: Option<Counts> = None;
    let (counts, stored_keys) = loop {
        let (counts, keys) = read_counts(&databases).await?;
        let settled = counts.outbox_pending == 0 && previous.as_ref() == Some(&counts);
        if settled || Instant::now() > settle_deadline || Instant::now() > plan.deadline {
            break (counts, keys);
        }
        previous = Some(counts);
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    for service in &mut services {
        service.kill().await?;
    }
    let kills: Vec<String> = services.iter().map(|service| format!("{} {}", service.name, service.kills - 1)).collect();
    let failures = state.failures.lock().unwrap().clone();

    println!("faultline: load ran {:.1} s with {} clients over {} leads", load_time.as_secs_f64(), plan.clients, plan.leads);
    println!("faultline: SIGKILLs: {}", kills.join(", "));
    println!("faultline: failed attempts retried by clients: {failures:?}");
    println!("  acknowledged            {:>7}", acknowledged.len());
    println!("  unacknowledged          {:>7}", unacknowledged);
    println!("  stored                  {:>7}", counts.stored);
    println!("  scored                  {:>7}", counts.scored);
    println!("  ledger ACTIVITY entries {:>7}", counts.ledger_activity_entries);
    println!("  MQL events              {:>7}", counts.mql_events);
    println!("  leads in the queue      {:>7}", counts.queued);
    println!("  outbox pending/parked   {:>7}", format!("{}/{}", counts.outbox_pending, counts.outbox_parked));

    let mut problems = differences(&counts, &acknowledged, &stored_keys);
    if unacknowledged > 0 {
        problems.push(format!("{unacknowledged} activities were never acknowledged before the time limit"));
    }
    if args.keep {
        let kept = data.keep();
        println!("faultline: kept databases and logs in {}", kept.display());
    }
    if problems.is_empty() {
        println!("faultline: OK, nothing lost and nothing counted twice");
        Ok(true)
    } else {
        for problem in &problems {
            println!("faultline: MISMATCH: {problem}");
        }
        Ok(false)
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("faultline: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
