//! Propagation latency: from a tracked activity to the lead's score and to the lead's entry
//! in the MQL queue, under an offered `TrackActivity` load.
//!
//! The load is the unary page-view load sent at a fixed rate. About 20 times per second one
//! call is a probe instead: a demo request of a new lead, which the benchmark's model turns
//! into an MQL. Latency runs from the time the probe was due in the open loop, on the client's
//! clock, to the ledger entry's `create_time` (scoring) and to the first state change of the
//! lead's qualification (qualification). A probe that waited for a free call slot because the
//! activity service fell behind counts that wait too. All processes run on this machine, so
//! the clocks are the same.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use leadflow_proto::activity::activity_service_client::ActivityServiceClient;
use leadflow_proto::activity::lead_key::Key;
use leadflow_proto::activity::{LeadKey, TrackActivityRequest};
use leadflow_proto::qualification::GetQualificationRequest;
use leadflow_proto::qualification::qualification_service_client::QualificationServiceClient;
use leadflow_proto::scoring::ListScoreChangesRequest;
use leadflow_proto::scoring::scoring_service_client::ScoringServiceClient;
use leadflow_proto::types::ActivityType;
use serde::Serialize;
use tonic::transport::Channel;

use super::load::{self, Call, Latency, Throughput};

/// Probes sent per second, whatever the offered rate.
const PROBES_PER_SECOND: f64 = 20.0;
/// Maximum wait after the load for the last probe to reach the queue.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Maximum wait for the backlog of the earlier phases to pass before the probes start.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Figures of the propagation phase.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Propagation {
    /// Offered `TrackActivity` calls per second.
    pub offered_per_second: f64,
    /// The calls of the phase, probes included.
    pub calls: Throughput,
    /// Probes acknowledged by the activity service.
    pub probes: u64,
    /// Probes whose lead reached the MQL queue within the wait.
    pub arrived: u64,
    /// Tracked → score updated.
    pub to_score: Latency,
    /// Tracked → MQL in the qualification queue.
    pub to_queue: Latency,
}

/// A probe acknowledged by the activity service.
struct Probe {
    /// The time the probe was due to be sent.
    sent: SystemTime,
    lead_id: String,
}

/// Runs the offered load for `duration` at `rate`, then waits for every probe to reach the
/// queue and reads the times.
pub async fn measure(
    activity: Vec<Channel>,
    scoring: Channel,
    qualification: Channel,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
) -> anyhow::Result<Propagation> {
    let mut qualification = QualificationServiceClient::new(qualification);
    wait_drained(&activity, &mut qualification).await?;

    let probes: Arc<Mutex<Vec<Probe>>> = Arc::default();
    let probe_every = (rate / PROBES_PER_SECOND).round().max(1.0) as u64;
    let (start, started) = (Instant::now(), SystemTime::now());
    let due = move |number| started + load::due_after(rate, number);
    let call = offered_call(Arc::new(activity), probe_every, due, probes.clone());
    let result = load::open_loop(start, rate, duration, max_in_flight, call).await;

    let probes = std::mem::take(&mut *probes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    let mut to_score = load::histogram();
    let mut to_queue = load::histogram();
    let mut arrived = 0;
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    let mut scoring = ScoringServiceClient::new(scoring);

    for probe in &probes {
        let Some(queued) = wait_queued(&mut qualification, &probe.lead_id, deadline).await else {
            continue;
        };
        arrived += 1;
        load::record(&mut to_queue, queued.duration_since(probe.sent).unwrap_or_default());

        let request = ListScoreChangesRequest { lead_id: probe.lead_id.clone(), page_size: 10, ..ListScoreChangesRequest::default() };
        if let Ok(response) = scoring.list_score_changes(request).await {
            let scored = response.into_inner().entries.first().and_then(|entry| entry.create_time).and_then(system_time);
            if let Some(scored) = scored {
                load::record(&mut to_score, scored.duration_since(probe.sent).unwrap_or_default());
            }
        }
    }

    Ok(Propagation {
        offered_per_second: rate,
        calls: result.throughput(),
        probes: probes.len() as u64,
        arrived,
        to_score: Latency::of(&to_score),
        to_queue: Latency::of(&to_queue),
    })
}

/// Waits until the events of earlier phases have reached the queue, so the probes do not
/// queue behind them: the relays deliver in outbox order, so once a demo request tracked now
/// is in the queue, everything tracked before it has passed scoring.
async fn wait_drained(activity: &[Channel], qualification: &mut QualificationServiceClient<Channel>) -> anyhow::Result<()> {
    let marker = format!("drain-{}", uuid::Uuid::now_v7());
    let request = TrackActivityRequest {
        lead: Some(LeadKey { key: Some(Key::Email(format!("{marker}@example.com"))) }),
        r#type: ActivityType::DemoRequest as i32,
        idempotency_key: marker,
        create_lead: true,
        ..TrackActivityRequest::default()
    };
    let response = ActivityServiceClient::new(activity[0].clone()).track_activity(request).await?.into_inner();
    let lead_id = response.activity.map(|activity| activity.lead_id).unwrap_or_default();
    wait_queued(qualification, &lead_id, Instant::now() + DRAIN_TIMEOUT).await;
    Ok(())
}

/// Returns the time the lead entered the queue, polling until `deadline`.
async fn wait_queued(client: &mut QualificationServiceClient<Channel>, lead_id: &str, deadline: Instant) -> Option<SystemTime> {
    loop {
        let request = GetQualificationRequest { lead_id: lead_id.to_owned() };
        if let Ok(response) = client.get_qualification(request).await {
            let qualification = response.into_inner().qualification?;
            let entered = qualification.history.first().and_then(|change| change.change_time).or(qualification.update_time);
            return entered.and_then(system_time);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn system_time(timestamp: prost_types::Timestamp) -> Option<SystemTime> {
    SystemTime::try_from(timestamp).ok()
}

fn offered_call(
    channels: Arc<Vec<Channel>>,
    probe_every: u64,
    due: impl Fn(u64) -> SystemTime + Send + Sync + 'static,
    probes: Arc<Mutex<Vec<Probe>>>,
) -> Call {
    Arc::new(move |_, number| {
        let mut client = ActivityServiceClient::new(channels[number as usize % channels.len()].clone());
        let probe = number % probe_every == 0;
        let request = if probe {
            TrackActivityRequest {
                lead: Some(LeadKey { key: Some(Key::Email(format!("probe-{number}@example.com"))) }),
                r#type: ActivityType::DemoRequest as i32,
                idempotency_key: format!("probe-{number}"),
                create_lead: true,
                request_id: uuid::Uuid::now_v7().to_string(),
                ..TrackActivityRequest::default()
            }
        } else {
            // A caller index above any closed-loop caller keeps the idempotency keys apart.
            super::page_view(1_000_000, number)
        };
        let probes = probes.clone();
        let sent = due(number);
        Box::pin(async move {
            let response = client.track_activity(request).await.map_err(|status| status.code())?.into_inner();
            if probe {
                let lead_id = response.activity.map(|activity| activity.lead_id).unwrap_or_default();
                probes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Probe { sent, lead_id });
            }
            Ok(1)
        })
    })
}
