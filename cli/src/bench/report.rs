//! The report of `leadflow bench`: the figures, the ratios of ours to each baseline, and the
//! targets with whether each was met. Ratios are the portable result; absolute figures hold
//! only for the machine described beside them.

use std::time::Duration;

use serde::Serialize;

use super::SuiteFigures;
use super::baseline::DatabaseBaseline;
use super::load::{Latency, Throughput};
use super::machine::Machine;
use super::propagation::Propagation;
use crate::i18n::{Lang, Text};

/// The whole report, also its JSON form.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The machine and its load.
    pub machine: Machine,
    /// `sqlite` or `postgresql`.
    pub database: String,
    /// Concurrent callers of the closed-loop phases.
    pub concurrency: usize,
    /// Seconds each phase ran.
    pub duration_seconds: f64,
    /// Unary `TrackActivity`.
    pub unary: Throughput,
    /// `ImportRecords`; `per_second` counts activities.
    pub import: Throughput,
    /// Tracked → scored → queued under an offered load.
    pub propagation: Propagation,
    /// The same-run baselines.
    pub baselines: Baselines,
    /// Ours divided by each baseline.
    pub ratios: Ratios,
    /// Start-up and memory of each service process.
    pub services: Vec<ServiceFigures>,
    /// Targets and whether the run met them.
    pub targets: Vec<Target>,
    /// Failed calls of the suite's phases (unary, import, propagation).
    pub failed_calls: u64,
}

/// The same-run baselines.
#[derive(Debug, Serialize)]
pub struct Baselines {
    /// `TrackActivity` on a no-op tonic server with the same messages.
    pub noop_track: Throughput,
    /// `grpc.health.v1.Health/Check` on a bare tonic server.
    pub health_bare: Throughput,
    /// `grpc.health.v1.Health/Check` behind Leadflow's server layers.
    pub health_layered: Throughput,
    /// The database's own insert rates.
    pub database: DatabaseBaseline,
}

/// Ratios of ours to the baselines.
#[derive(Debug, Default, Serialize)]
pub struct Ratios {
    /// Unary ingest ÷ single-row inserts of the database.
    pub unary_to_database_single_row: f64,
    /// Bulk import activities ÷ rows inserted in 100-row transactions.
    pub import_to_database_batch: f64,
    /// Unary ingest ÷ the database storing the rows of the same calls, without our code.
    pub unary_to_database_write_set: f64,
    /// Unary ingest ÷ the no-op gRPC server.
    pub unary_to_noop_grpc: f64,
    /// Health checks through our layers ÷ on a bare server.
    pub layered_to_bare_health: f64,
}

/// Start-up and memory of one service.
#[derive(Debug, Serialize)]
pub struct ServiceFigures {
    /// Service name.
    pub name: String,
    /// Milliseconds from spawning the process to SERVING, against a migrated database.
    pub startup_ms: f64,
    /// Resident memory when idle after start, in MiB.
    pub idle_rss_mib: f64,
    /// Peak resident memory during the unary and import phases, in MiB.
    pub load_rss_mib: f64,
}

/// One target.
#[derive(Debug, Serialize)]
pub struct Target {
    /// Stable identifier.
    pub id: &'static str,
    /// Measured value.
    pub value: f64,
    /// The bound; `at_least` tells on which side the value must be.
    pub bound: f64,
    /// True when the value must be at least the bound, false when below it.
    pub at_least: bool,
    /// Whether the run met it.
    pub met: bool,
}

impl Target {
    fn at_least(id: &'static str, value: f64, bound: f64) -> Self {
        Self { id, value, bound, at_least: true, met: value >= bound }
    }

    fn below(id: &'static str, value: f64, bound: f64) -> Self {
        Self { id, value, bound, at_least: false, met: value < bound }
    }
}

fn propagation_p99(propagation: &Propagation) -> f64 {
    if propagation.probes == 0 || propagation.arrived < propagation.probes { f64::INFINITY } else { propagation.to_queue.p99_ms }
}

fn ratio(ours: f64, baseline: f64) -> f64 {
    if baseline > 0.0 { ours / baseline } else { 0.0 }
}

impl Report {
    /// Computes the ratios and the targets.
    pub fn build(
        machine: Machine,
        database: &str,
        concurrency: usize,
        duration: Duration,
        figures: SuiteFigures,
        baselines: Baselines,
    ) -> Self {
        let unary = figures.unary.throughput();
        let import = figures.import.throughput();
        let ratios = Ratios {
            unary_to_database_single_row: ratio(unary.per_second, baselines.database.single_row_per_second),
            import_to_database_batch: ratio(import.per_second, baselines.database.batch_rows_per_second),
            unary_to_database_write_set: ratio(unary.per_second, baselines.database.write_set_calls_per_second),
            unary_to_noop_grpc: ratio(unary.per_second, baselines.noop_track.per_second),
            layered_to_bare_health: ratio(baselines.health_layered.per_second, baselines.health_bare.per_second),
        };

        let largest = |value: fn(&ServiceFigures) -> f64| figures.services.iter().map(value).fold(0.0, f64::max);
        let targets = vec![
            Target::at_least("unary_to_database_single_row", ratios.unary_to_database_single_row, 2.0),
            Target::at_least("import_to_database_batch", ratios.import_to_database_batch, 0.5),
            // A probe that never reached the queue leaves the target unmet, whatever the others took.
            Target::below("propagation_p99_ms", propagation_p99(&figures.propagation), 100.0),
            Target::at_least("layered_to_bare_health", ratios.layered_to_bare_health, 0.8),
            Target::below("idle_rss_mib", largest(|service| service.idle_rss_mib), 20.0),
            Target::below("startup_ms", largest(|service| service.startup_ms), 200.0),
        ];
        let failed_calls = figures.unary.failed() + figures.import.failed() + figures.propagation.calls.failures.values().sum::<u64>();

        Self {
            machine,
            database: database.to_owned(),
            concurrency,
            duration_seconds: duration.as_secs_f64(),
            unary,
            import,
            propagation: figures.propagation,
            baselines,
            ratios,
            services: figures.services,
            targets,
            failed_calls,
        }
    }

    /// Prints the report as text for people.
    pub fn print(&self, lang: Lang) {
        let text = |text: Text| text.get(lang);
        let machine = &self.machine;
        println!(
            "{}",
            Text::BenchMachine.fill(lang, &[
                ("cores", &machine.cores),
                ("cpu", &machine.cpu_model),
                ("memory", &machine.memory_mib),
                ("kernel", &machine.kernel),
                ("before", &format!("{:.2}", machine.load_before)),
                ("after", &format!("{:.2}", machine.load_after)),
            ])
        );
        println!(
            "{}",
            Text::BenchSetup.fill(lang, &[
                ("database", &self.database),
                ("concurrency", &self.concurrency),
                ("seconds", &self.duration_seconds),
            ])
        );
        println!();

        println!("{}", text(Text::BenchSectionThroughput));
        print_throughput(lang, Text::BenchUnary, &self.unary);
        print_throughput(lang, Text::BenchImport, &self.import);
        print_throughput(lang, Text::BenchNoopTrack, &self.baselines.noop_track);
        print_throughput(lang, Text::BenchHealthBare, &self.baselines.health_bare);
        print_throughput(lang, Text::BenchHealthLayered, &self.baselines.health_layered);
        let database = &self.baselines.database;
        println!(
            "  {}",
            Text::BenchDatabaseRates.fill(lang, &[
                ("tool", &database.tool),
                ("clients", &database.clients),
                ("single", &format!("{:.0}", database.single_row_per_second)),
                ("batch", &format!("{:.0}", database.batch_rows_per_second)),
            ])
        );
        println!(
            "  {}",
            Text::BenchDatabaseWriteSet.fill(lang, &[
                ("calls", &format!("{:.0}", database.write_set_calls_per_second)),
                ("per_transaction", &super::baseline::WRITE_SET_CALLS),
                ("clients", &database.write_set_clients),
            ])
        );
        println!();

        println!("{}", text(Text::BenchSectionPropagation));
        let propagation = &self.propagation;
        println!(
            "  {}",
            Text::BenchPropagationLoad.fill(lang, &[
                ("rate", &format!("{:.0}", propagation.offered_per_second)),
                ("done", &format!("{:.0}", propagation.calls.per_second)),
                ("probes", &propagation.probes),
                ("arrived", &propagation.arrived),
            ])
        );
        print_latency(lang, Text::BenchPropagationCalls, &propagation.calls.latency);
        print_latency(lang, Text::BenchToScore, &propagation.to_score);
        print_latency(lang, Text::BenchToQueue, &propagation.to_queue);
        println!();

        println!("{}", text(Text::BenchSectionServices));
        for service in &self.services {
            println!(
                "  {}",
                Text::BenchServiceLine.fill(lang, &[
                    ("service", &service.name),
                    ("startup", &format!("{:.0}", service.startup_ms)),
                    ("idle", &format!("{:.1}", service.idle_rss_mib)),
                    ("load", &format!("{:.1}", service.load_rss_mib)),
                ])
            );
        }
        println!();

        println!("{}", text(Text::BenchSectionRatios));
        let ratios = &self.ratios;
        for (label, value) in [
            (Text::BenchRatioUnaryDatabase, ratios.unary_to_database_single_row),
            (Text::BenchRatioImportDatabase, ratios.import_to_database_batch),
            (Text::BenchRatioUnaryWriteSet, ratios.unary_to_database_write_set),
            (Text::BenchRatioUnaryNoop, ratios.unary_to_noop_grpc),
            (Text::BenchRatioLayeredBare, ratios.layered_to_bare_health),
        ] {
            println!("  {}: {value:.2}", text(label));
        }
        println!();

        println!("{}", text(Text::BenchSectionTargets));
        for target in &self.targets {
            let verdict = if target.met { text(Text::BenchMet) } else { text(Text::BenchNotMet) };
            let side = if target.at_least { "≥" } else { "<" };
            println!("  {verdict:<10} {} = {:.2} ({side} {})", target.id, target.value, target.bound);
        }
        println!();
        println!("{}", Text::BenchFailedCalls.fill(lang, &[("count", &self.failed_calls)]));
    }
}

fn print_throughput(lang: Lang, label: Text, throughput: &Throughput) {
    let failed: u64 = throughput.failures.values().sum();
    let failures = if failed == 0 {
        String::new()
    } else {
        let by_code: Vec<String> = throughput.failures.iter().map(|(code, count)| format!("{code} {count}")).collect();
        format!("; {}", Text::BenchFailures.fill(lang, &[("failures", &by_code.join(", "))]))
    };
    println!(
        "  {}: {}{failures}",
        label.get(lang),
        Text::BenchRate.fill(lang, &[
            ("rate", &format!("{:.0}", throughput.per_second)),
            ("p50", &format!("{:.2}", throughput.latency.p50_ms)),
            ("p99", &format!("{:.2}", throughput.latency.p99_ms)),
            ("p999", &format!("{:.2}", throughput.latency.p999_ms)),
        ])
    );
}

fn print_latency(lang: Lang, label: Text, latency: &Latency) {
    println!(
        "  {}: {}",
        label.get(lang),
        Text::BenchLatency.fill(lang, &[
            ("p50", &format!("{:.1}", latency.p50_ms)),
            ("p99", &format!("{:.1}", latency.p99_ms)),
            ("max", &format!("{:.1}", latency.max_ms)),
        ])
    );
}
