//! Load generators: a closed loop of concurrent callers (each sends its next call when the
//! last one returned) and an open loop at an offered rate. Latency goes into an HDR histogram
//! in microseconds; only successful calls count as throughput and latency, and failed calls
//! are counted by status code.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Future of one call: the units of work it completed (1 for a unary call, the activities
/// of an import), or the status code it failed with.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<u64, tonic::Code>> + Send>>;

/// One call of a load: gets the caller's index and the caller's call number.
pub type Call = Arc<dyn Fn(usize, u64) -> CallFuture + Send + Sync>;

/// Highest latency the histograms track: one minute, in microseconds.
const MAX_LATENCY_MICROS: u64 = 60_000_000;

/// Creates an empty latency histogram in microseconds with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3).unwrap_or_else(|_| Histogram::new(3).expect("3 significant digits are valid"))
}

/// Records one latency, clamping it into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = (elapsed.as_micros() as u64).clamp(1, MAX_LATENCY_MICROS);
    histogram.saturating_record(micros);
}

/// Figures of one load phase.
#[derive(Clone, Debug)]
pub struct LoadResult {
    /// Successful calls.
    pub calls: u64,
    /// Units of work of the successful calls.
    pub units: u64,
    /// Failed calls by status code name.
    pub failures: BTreeMap<String, u64>,
    /// Time from the first call to the end of the last one.
    pub elapsed: Duration,
    /// Latency of the successful calls, in microseconds.
    pub latency: Histogram<u64>,
}

/// The report form of a [`LoadResult`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct Throughput {
    /// Successful calls.
    pub calls: u64,
    /// Units of work per second of the successful calls.
    pub per_second: f64,
    /// Failed calls by status code; a failed call never counts as throughput.
    pub failures: BTreeMap<String, u64>,
    /// Seconds the phase ran.
    pub seconds: f64,
    /// Latency of successful calls.
    pub latency: Latency,
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest value.
    pub max_ms: f64,
}

impl Latency {
    /// Reads the percentiles of a histogram in microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

impl LoadResult {
    /// Units per second over the phase.
    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 { self.units as f64 / seconds } else { 0.0 }
    }

    /// Failed calls of every code.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Converts the result to its report form.
    pub fn throughput(&self) -> Throughput {
        Throughput {
            calls: self.calls,
            per_second: self.per_second(),
            failures: self.failures.clone(),
            seconds: self.elapsed.as_secs_f64(),
            latency: Latency::of(&self.latency),
        }
    }

    fn merge(&mut self, other: CallerTally) {
        self.calls += other.calls;
        self.units += other.units;
        for (code, count) in other.failures {
            *self.failures.entry(code).or_default() += count;
        }
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }
}

/// The counts of one caller, merged into the phase's result at the end.
struct CallerTally {
    calls: u64,
    units: u64,
    failures: BTreeMap<String, u64>,
    latency: Histogram<u64>,
}

impl CallerTally {
    fn new() -> Self {
        Self { calls: 0, units: 0, failures: BTreeMap::new(), latency: histogram() }
    }

    fn count(&mut self, outcome: Result<u64, tonic::Code>, elapsed: Duration) {
        match outcome {
            Ok(units) => {
                self.calls += 1;
                self.units += units;
                record(&mut self.latency, elapsed);
            }
            Err(code) => *self.failures.entry(code_name(code)).or_default() += 1,
        }
    }
}

/// Returns the canonical name of a status code, such as `UNAVAILABLE`.
pub fn code_name(code: tonic::Code) -> String {
    let name = format!("{code:?}");
    let mut snake = String::with_capacity(name.len() + 4);
    for (index, letter) in name.chars().enumerate() {
        if letter.is_ascii_uppercase() && index > 0 {
            snake.push('_');
        }
        snake.push(letter.to_ascii_uppercase());
    }
    snake
}

/// Runs `concurrency` callers for `duration`; each sends its next call as soon as the last
/// one returned. Calls in flight at the end are waited for and counted.
pub async fn closed_loop(concurrency: usize, duration: Duration, call: Call) -> LoadResult {
    let start = Instant::now();
    let deadline = start + duration;
    let mut callers = tokio::task::JoinSet::new();

    for caller in 0..concurrency.max(1) {
        let call = call.clone();
        callers.spawn(async move {
            let mut tally = CallerTally::new();
            let mut number = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = call(caller, number).await;
                tally.count(outcome, sent.elapsed());
                number += 1;
            }
            tally
        });
    }

    let mut result = LoadResult { calls: 0, units: 0, failures: BTreeMap::new(), elapsed: Duration::ZERO, latency: histogram() };
    while let Some(joined) = callers.join_next().await {
        if let Ok(tally) = joined {
            result.merge(tally);
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// Time after the start of an open loop at `rate` calls per second when call `number` is due.
pub fn due_after(rate: f64, number: u64) -> Duration {
    Duration::from_secs_f64(1.0 / rate.max(0.1)).mul_f64(number as f64)
}

/// Sends calls at `rate` per second for `duration` from `start`, each on its own task,
/// whether or not the earlier ones returned. Call `number` is due at `start` plus
/// [`due_after`]. At most `max_in_flight` calls run at once. A call that finds them all busy
/// waits, and the wait counts in its latency, so an overloaded server shows as latency instead
/// of a lower offered rate.
pub async fn open_loop(start: Instant, rate: f64, duration: Duration, max_in_flight: usize, call: Call) -> LoadResult {
    let total = (duration.as_secs_f64() * rate.max(0.1)).ceil() as u64;
    let permits = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let mut calls = tokio::task::JoinSet::new();

    for number in 0..total {
        let due = start + due_after(rate, number);
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        let (call, permits) = (call.clone(), permits.clone());
        calls.spawn(async move {
            let mut tally = CallerTally::new();
            let Ok(_permit) = permits.acquire_owned().await else {
                return tally;
            };
            let outcome = call(0, number).await;
            tally.count(outcome, due.elapsed());
            tally
        });
    }

    let mut result = LoadResult { calls: 0, units: 0, failures: BTreeMap::new(), elapsed: Duration::ZERO, latency: histogram() };
    while let Some(joined) = calls.join_next().await {
        if let Ok(tally) = joined {
            result.merge(tally);
        }
    }
    result.elapsed = start.elapsed();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(code_name(tonic::Code::Unavailable), "UNAVAILABLE");
        assert_eq!(code_name(tonic::Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
    }

    #[tokio::test]
    async fn failed_calls_are_not_throughput() {
        let call: Call = Arc::new(|_, number| {
            Box::pin(async move { if number % 2 == 0 { Ok(3) } else { Err(tonic::Code::Aborted) } })
        });
        let result = closed_loop(1, Duration::from_millis(20), call).await;
        let failed = result.failures.get("ABORTED").copied().unwrap_or(0);
        assert!(result.calls > 0);
        assert_eq!(result.units, result.calls * 3);
        assert!(failed + 1 >= result.calls, "every other call fails");
        assert_eq!(result.latency.len(), result.calls);
    }
}
