//! Command-line arguments, parsed with clap. Every global flag also reads an environment
//! variable, so scripts can point the client at another suite once.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// Command-line client of the Leadflow lead-management suite.
#[derive(Debug, Parser)]
#[command(name = "leadflow", version, about)]
pub struct Cli {
    /// URL of the activity service.
    #[arg(long, global = true, env = "LEADFLOW_ACTIVITY_ADDR", default_value = "http://127.0.0.1:50051")]
    pub activity_addr: String,

    /// URL of the scoring service.
    #[arg(long, global = true, env = "LEADFLOW_SCORING_ADDR", default_value = "http://127.0.0.1:50052")]
    pub scoring_addr: String,

    /// URL of the qualification service.
    #[arg(long, global = true, env = "LEADFLOW_QUALIFICATION_ADDR", default_value = "http://127.0.0.1:50053")]
    pub qualification_addr: String,

    /// Bearer token sent on every call, for a suite with authentication on.
    #[arg(long, global = true, env = "LEADFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// PEM file with the CA certificate that signs the services' certificates; the service
    /// addresses must then start with https://.
    #[arg(long, global = true, env = "LEADFLOW_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// PEM client certificate, for services that require mutual TLS; needs --tls-key.
    #[arg(long, global = true, env = "LEADFLOW_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, global = true, env = "LEADFLOW_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Print results as JSON for scripts instead of text for people.
    #[arg(long, global = true, env = "LEADFLOW_JSON")]
    pub json: bool,

    /// Language of messages and tables; defaults to the locale in LC_ALL, LC_MESSAGES or LANG
    /// (Romanian for ro_*, English otherwise).
    #[arg(long, global = true, env = "LEADFLOW_LANG", value_enum)]
    pub lang: Option<LangArg>,

    #[command(subcommand)]
    pub command: Command,
}

/// Language chosen with `--lang`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    /// English.
    En,
    /// Romanian.
    Ro,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the activity, scoring and qualification services in this process until Ctrl+C.
    Up(UpArgs),
    /// Record one activity of a lead.
    Track(TrackArgs),
    /// Show or change leads.
    #[command(subcommand)]
    Lead(LeadCommand),
    /// List the MQL queue, oldest MQL first.
    Queue(QueueArgs),
    /// Record the first touch of an MQL: NEW becomes WORKING.
    Work(LeadIdArgs),
    /// Accept an MQL after checking BANT: it becomes an SQL.
    Accept(AcceptArgs),
    /// Reject an MQL with a reason: it goes back to nurturing.
    Reject(RejectArgs),
    /// Close an SQL as won or lost.
    Close(CloseArgs),
    /// Report the funnel lead → MQL → SQL → won in unique leads and in events.
    Funnel(FunnelArgs),
    /// Assign an open MQL to a sales rep, or move it to another rep.
    Assign(AssignArgs),
    /// List, add or change the sales reps who work MQLs.
    #[command(subcommand)]
    Reps(RepsCommand),
    /// Recycle a lead explicitly, also an SQL: it goes back to nurturing with a reason.
    Recycle(RejectArgs),
    /// Show or change the qualification settings: SLA, assignment mode, rejection reasons.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Show, validate, preview and publish scoring models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Import leads, activities and outcomes from a CSV file described by a TOML mapping.
    Import(ImportArgs),
    /// Print the SHA-256 hash of a token read from standard input, for auth.static_tokens.
    TokenHash,
    /// Report how well model versions rank the leads whose outcome is known: ROC AUC,
    /// precision and recall of the MQL threshold, conversion by score decile and by source.
    Report(ReportArgs),
    /// Measure the suite's throughput, latency, memory and start-up beside baselines taken in
    /// the same run; starts its own services.
    Bench(BenchArgs),
    /// Show erasures of leads' personal data.
    #[command(subcommand)]
    Erasure(ErasureCommand),
}

/// Arguments of `leadflow bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds each load phase runs; the whole run takes about nine times as long.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub duration: f64,

    /// Concurrent callers of the unary phases, and clients of pgbench.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// PostgreSQL server to run on, for example postgres://postgres@127.0.0.1:5432/postgres;
    /// the benchmark creates its own databases there and drops them at the end. Without it
    /// the services run on SQLite files in a temporary folder.
    #[arg(long)]
    pub database_url: Option<String>,

    /// TrackActivity calls per second offered while propagation is measured; defaults to
    /// half the unary rate measured before.
    #[arg(long, value_name = "CALLS_PER_SECOND")]
    pub propagation_rate: Option<f64>,

    /// Folder of the leadflow-activity, leadflow-scoring and leadflow-qualification
    /// binaries; defaults to the folder of this executable.
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// Arguments of `leadflow up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Folder of the three SQLite databases; created when missing.
    #[arg(long, env = "LEADFLOW_DATA_DIR", default_value = "./leadflow-data")]
    pub data_dir: PathBuf,

    /// Port of the activity service; 0 picks a free port.
    #[arg(long, env = "LEADFLOW_ACTIVITY_PORT", default_value_t = 50051)]
    pub activity_port: u16,

    /// Port of the scoring service; 0 picks a free port.
    #[arg(long, env = "LEADFLOW_SCORING_PORT", default_value_t = 50052)]
    pub scoring_port: u16,

    /// Port of the qualification service; 0 picks a free port.
    #[arg(long, env = "LEADFLOW_QUALIFICATION_PORT", default_value_t = 50053)]
    pub qualification_port: u16,

    /// Address the three services listen on.
    #[arg(long, env = "LEADFLOW_HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
}

/// Exactly one key of a lead.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("lead_key").required(true).args(["email", "lead_id", "external_id"])))]
pub struct LeadKeyArgs {
    /// E-mail address of the lead.
    #[arg(long)]
    pub email: Option<String>,

    /// Server-assigned id of the lead.
    #[arg(long)]
    pub lead_id: Option<String>,

    /// Id of the lead in the system it came from.
    #[arg(long)]
    pub external_id: Option<String>,
}

/// Arguments of `leadflow track`.
#[derive(Debug, Args)]
pub struct TrackArgs {
    #[command(flatten)]
    pub key: crate::commands::identity::TrackKeyArgs,

    /// Activity type, for example page-view or demo-request.
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: ActivityTypeArg,

    /// URL of the page, stored as property "url".
    #[arg(long)]
    pub url: Option<String>,

    /// Id of the downloaded asset, stored as property "asset_id".
    #[arg(long)]
    pub asset_id: Option<String>,

    /// Further property as KEY=VALUE; repeat for more.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,

    /// Time of the activity in RFC 3339, for example 2026-12-01T09:30:00Z; default now.
    #[arg(long)]
    pub occurred_at: Option<String>,

    /// Key that makes a retry store nothing new.
    #[arg(long)]
    pub idempotency_key: Option<String>,

    /// Create the lead first when it is given by e-mail address and does not exist.
    #[arg(long)]
    pub create_lead: bool,
}

/// Activity types as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum ActivityTypeArg {
    PageView,
    ContentDownload,
    WebinarRegistration,
    SocialInteraction,
    CaseStudyDownload,
    DemoRequest,
    FormSubmission,
    EmailOpen,
    EmailClick,
    EmailBounce,
    Unsubscribe,
    ChatConversation,
    PhoneConversation,
    SmsSent,
    EventAttendance,
}

/// Subcommands of `leadflow lead`.
#[derive(Debug, Subcommand)]
pub enum LeadCommand {
    /// Show a lead's profile, qualification and score with the points of every activity.
    Show(LeadShowArgs),
    /// List the changes of a lead's score (ledger entries), newest last.
    Changes(LeadChangesArgs),
    /// Create a lead or update the lead with the same e-mail address or external id.
    Upsert(UpsertArgs),
    /// Erase a lead's personal data in all three services (GDPR right to erasure) and wait
    /// for the confirmations of scoring and qualification.
    Erase(EraseArgs),
    /// Merge a duplicate lead into the lead that survives; repeating it changes nothing.
    Merge(crate::commands::identity::MergeArgs),
    /// Set a lead's do-not-track and do-not-contact flags.
    Consent(crate::commands::identity::ConsentArgs),
    /// Join an anonymous visitor id to the lead with an e-mail address, as a form does.
    Identify(crate::commands::identity::IdentifyArgs),
}

/// Arguments of `leadflow lead show`.
#[derive(Debug, Args)]
pub struct LeadShowArgs {
    #[command(flatten)]
    pub key: LeadKeyArgs,

    /// Explain the score at this instant instead of now, in RFC 3339, for example
    /// 2027-01-01T00:00:00Z; activities after it are left out and decay is applied as of it.
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Arguments of `leadflow lead changes`.
#[derive(Debug, Args)]
pub struct LeadChangesArgs {
    #[command(flatten)]
    pub key: LeadKeyArgs,

    /// Number of most recent changes to list.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Arguments of `leadflow lead upsert`.
#[derive(Debug, Args)]
pub struct UpsertArgs {
    /// E-mail address of the lead.
    #[arg(long)]
    pub email: String,

    /// Id of the lead in the system it came from.
    #[arg(long)]
    pub external_id: Option<String>,

    /// Channel that brought the lead, for example google.
    #[arg(long)]
    pub source: Option<String>,

    /// Campaign that brought the lead.
    #[arg(long)]
    pub campaign: Option<String>,

    /// Profile attribute as KEY=VALUE; repeat for more. An empty value removes the attribute.
    #[arg(long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
}

/// Arguments of `leadflow lead erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    #[command(flatten)]
    pub key: LeadKeyArgs,

    /// Idempotency key of the call (a UUID), so a retried command erases only once.
    #[arg(long)]
    pub request_id: Option<String>,

    /// Seconds to wait for the confirmations of scoring and qualification; 0 returns at once.
    #[arg(long, default_value_t = 60)]
    pub wait: u64,
}

/// Subcommands of `leadflow erasure`.
#[derive(Debug, Subcommand)]
pub enum ErasureCommand {
    /// Show an erasure with the time each service erased the lead's data.
    Show(ErasureShowArgs),
}

/// Arguments of `leadflow erasure show`.
#[derive(Debug, Args)]
pub struct ErasureShowArgs {
    /// Id of the erasure, as printed by `leadflow lead erase`; with --lead, the lead id.
    pub id: String,

    /// Read ID as the id of the erased lead.
    #[arg(long)]
    pub lead: bool,
}

/// Arguments of `leadflow queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// States to list; repeat for more. Default: new and working.
    #[arg(long = "state", value_enum)]
    pub states: Vec<StateArg>,

    /// Maximum number of entries to list.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,

    /// List only the leads assigned to this rep id.
    #[arg(long, value_name = "REP_ID", conflicts_with = "unassigned")]
    pub mine: Option<String>,

    /// List only new MQLs past their first-touch deadline, earliest deadline first.
    #[arg(long, conflicts_with_all = ["states", "unassigned"])]
    pub overdue: bool,

    /// List only the leads that no rep could take.
    #[arg(long)]
    pub unassigned: bool,
}

/// Qualification states as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum StateArg {
    New,
    Working,
    Sql,
    Recycled,
    Won,
    Lost,
}

/// A lead id as the only argument.
#[derive(Debug, Args)]
pub struct LeadIdArgs {
    /// Server-assigned id of the lead.
    pub lead_id: String,

    /// Author of the change, for example your rep id, recorded in the history.
    #[arg(long, env = "LEADFLOW_ACTOR")]
    pub actor: Option<String>,
}

/// Arguments of `leadflow accept`. Missing BANT parts are sent empty on purpose, so the
/// server reports every one of them at once.
#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// Server-assigned id of the lead.
    pub lead_id: String,

    /// Budget amount in minor currency units (cents, bani).
    #[arg(long, conflicts_with = "budget_confirmed")]
    pub budget: Option<i64>,

    /// ISO 4217 currency of the budget, for example EUR.
    #[arg(long)]
    pub currency: Option<String>,

    /// The lead confirmed a budget without an amount.
    #[arg(long)]
    pub budget_confirmed: bool,

    /// Role of the person who decides, for example CTO.
    #[arg(long)]
    pub authority: Option<String>,

    /// The problem the lead needs solved.
    #[arg(long)]
    pub need: Option<String>,

    /// When the lead means to buy: a quarter such as 2027-Q1 or a date such as 2027-03-31.
    #[arg(long)]
    pub timeframe: Option<String>,

    /// Field of a framework other than BANT as FIELD=VALUE; repeat for more.
    #[arg(long = "answer", value_name = "FIELD=VALUE")]
    pub answers: Vec<String>,

    /// Accept although required framework fields are missing, for this reason; counted in the
    /// funnel as an override.
    #[arg(long)]
    pub override_reason: Option<String>,

    /// Author of the change, for example your rep id, recorded in the history.
    #[arg(long, env = "LEADFLOW_ACTOR")]
    pub actor: Option<String>,
}

/// Arguments of `leadflow reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Server-assigned id of the lead.
    pub lead_id: String,

    /// Reason code from the configured list; by default no_budget, no_authority, no_need,
    /// bad_timing, unreachable, duplicate, competitor or not_a_fit.
    #[arg(long)]
    pub reason: String,

    /// Free text for the history.
    #[arg(long)]
    pub note: Option<String>,

    /// Author of the change, for example your rep id, recorded in the history.
    #[arg(long, env = "LEADFLOW_ACTOR")]
    pub actor: Option<String>,
}

/// Arguments of `leadflow close`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("outcome").required(true).args(["won", "lost"])))]
pub struct CloseArgs {
    /// Server-assigned id of the lead.
    pub lead_id: String,

    /// The SQL became a customer.
    #[arg(long)]
    pub won: bool,

    /// The SQL was lost.
    #[arg(long)]
    pub lost: bool,

    /// Deal value in minor currency units (cents, bani).
    #[arg(long)]
    pub value: Option<i64>,

    /// ISO 4217 currency of the value, for example EUR.
    #[arg(long)]
    pub currency: Option<String>,

    /// Reason code of a loss, or a short note for a win.
    #[arg(long)]
    pub reason: Option<String>,

    /// Author of the change, for example your rep id, recorded in the history.
    #[arg(long, env = "LEADFLOW_ACTOR")]
    pub actor: Option<String>,
}

/// Arguments of `leadflow funnel`.
#[derive(Debug, Args)]
pub struct FunnelArgs {
    /// First day of the period, YYYY-MM-DD, inclusive.
    #[arg(long)]
    pub from: Option<String>,

    /// Last day of the period, YYYY-MM-DD, inclusive.
    #[arg(long)]
    pub to: Option<String>,

    /// IANA time zone of the dates, for example Europe/Bucharest; default the team's zone
    /// from the qualification settings (UTC unless changed).
    #[arg(long)]
    pub time_zone: Option<String>,

    /// Also write the funnel as an SVG bar chart to this file, labelled in the --lang language.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// Arguments of `leadflow assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Server-assigned id of the lead.
    pub lead_id: String,

    /// Id of the rep who gets the lead.
    pub rep_id: String,

    /// Author of the assignment, for example your own id, recorded in the assignment history.
    #[arg(long, env = "LEADFLOW_ACTOR")]
    pub actor: Option<String>,
}

/// Subcommands of `leadflow settings`.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show the settings in effect, with the qualification framework.
    Show,
    /// Change the given settings; settings not given keep their value.
    Set(SettingsSetArgs),
}

/// Arguments of `leadflow settings set`.
#[derive(Debug, Args)]
pub struct SettingsSetArgs {
    /// Hours from an MQL's arrival to its first-touch deadline, from 1 to 720.
    #[arg(long)]
    pub sla_hours: Option<i32>,

    /// IANA time zone of the sales team, the funnel's default zone.
    #[arg(long)]
    pub time_zone: Option<String>,

    /// Assignment mode of new MQLs.
    #[arg(long, value_enum)]
    pub assignment: Option<AssignmentArg>,

    /// Rejection reason code; repeat for more. Replaces the stored list.
    #[arg(long = "rejection-reason", value_name = "CODE")]
    pub rejection_reasons: Vec<String>,
}

/// Assignment modes as command-line values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AssignmentArg {
    /// The active rep with free capacity who was assigned least recently.
    RoundRobin,
    /// Round robin among the reps whose countries and segments cover the lead.
    Rules,
}

/// Subcommands of `leadflow reps`.
#[derive(Debug, Subcommand)]
pub enum RepsCommand {
    /// List the reps with their capacity and open leads.
    List,
    /// Add a rep.
    Add(RepArgs),
    /// Change the given fields of a rep; fields not given keep their value.
    Update(RepUpdateArgs),
}

/// Arguments of `leadflow reps add`.
#[derive(Debug, Args)]
pub struct RepArgs {
    /// Id of the rep: letters, digits, ".", "_", "-" or "@".
    pub rep_id: String,

    /// Name shown to people.
    #[arg(long)]
    pub name: Option<String>,

    /// Maximum number of open (new or working) leads.
    #[arg(long)]
    pub capacity: i32,

    /// ISO 3166-1 alpha-2 country of the rep's territory, for example RO; repeat for more.
    #[arg(long = "country", value_name = "CODE")]
    pub countries: Vec<String>,

    /// Segment the rep covers, a company size band or an industry; repeat for more.
    #[arg(long = "segment", value_name = "SEGMENT")]
    pub segments: Vec<String>,

    /// IANA time zone of the rep, for example Europe/Bucharest.
    #[arg(long)]
    pub time_zone: Option<String>,

    /// Add the rep as inactive, so they get no leads yet.
    #[arg(long)]
    pub inactive: bool,
}

/// Arguments of `leadflow reps update`.
#[derive(Debug, Args)]
pub struct RepUpdateArgs {
    /// Id of the rep.
    pub rep_id: String,

    /// Name shown to people.
    #[arg(long)]
    pub name: Option<String>,

    /// Maximum number of open (new or working) leads.
    #[arg(long)]
    pub capacity: Option<i32>,

    /// Whether the rep takes new leads: true or false.
    #[arg(long)]
    pub active: Option<bool>,

    /// Country of the territory; repeat for more. Replaces the stored list.
    #[arg(long = "country", value_name = "CODE")]
    pub countries: Vec<String>,

    /// Remove every country, so the rep covers all of them.
    #[arg(long, conflicts_with = "countries")]
    pub clear_countries: bool,

    /// Segment; repeat for more. Replaces the stored list.
    #[arg(long = "segment", value_name = "SEGMENT")]
    pub segments: Vec<String>,

    /// Remove every segment, so the rep covers all of them.
    #[arg(long, conflicts_with = "segments")]
    pub clear_segments: bool,

    /// IANA time zone of the rep.
    #[arg(long)]
    pub time_zone: Option<String>,
}

/// Subcommands of `leadflow model`. Model files are TOML, or JSON when the name ends in
/// `.json`; `examples/README.md` describes the format.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Show the active version of a scoring model, another version, or the list of versions.
    Show(ModelShowArgs),
    /// Check a model file with the scoring service without storing it; exits with 1 when the
    /// model is invalid.
    Validate(ModelFileArgs),
    /// Store a model file as a draft version without activating it, and list its problems.
    Draft(ModelFileArgs),
    /// Report how the MQLs would change if a model file or draft were published.
    Preview(ModelPreviewArgs),
    /// Publish a model file or a stored draft as the active version and rescore every lead.
    Publish(ModelSourceArgs),
    /// Fit a points model to the leads whose outcome is known and store it as a draft.
    Fit(ModelFitArgs),
}

/// Arguments of `leadflow model show`.
#[derive(Debug, Args)]
pub struct ModelShowArgs {
    /// Id of the model.
    #[arg(long, default_value = "default")]
    pub model_id: String,

    /// Version to show instead of the active one.
    #[arg(long, conflicts_with = "versions")]
    pub version: Option<i32>,

    /// List the versions, newest first, instead of showing one.
    #[arg(long)]
    pub versions: bool,
}

/// A model file as the only argument.
#[derive(Debug, Args)]
pub struct ModelFileArgs {
    /// The model file, TOML or JSON.
    pub file: PathBuf,
}

/// A model given either as a file or as a stored draft.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("model_source").required(true).args(["file", "draft"])))]
pub struct ModelSourceArgs {
    /// The model file, TOML or JSON.
    pub file: Option<PathBuf>,

    /// Version number of a stored draft, from `leadflow model draft`.
    #[arg(long)]
    pub draft: Option<i32>,

    /// Id of the draft's model; default "default". A model file names its own id.
    #[arg(long, requires = "draft", conflicts_with = "file")]
    pub model_id: Option<String>,
}

/// Arguments of `leadflow model preview`.
#[derive(Debug, Args)]
pub struct ModelPreviewArgs {
    #[command(flatten)]
    pub source: ModelSourceArgs,

    /// Most lead ids listed per sample, from 0 to 1000.
    #[arg(long, default_value_t = 5)]
    pub samples: i32,
}

/// Arguments of `leadflow import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file with a header row.
    pub file: PathBuf,

    /// TOML mapping of the CSV columns to lead fields, activities and outcomes.
    #[arg(long)]
    pub mapping: PathBuf,

    /// Records per ImportRecords call, from 1 to 1000.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,

    /// Time given to every imported activity, in RFC 3339; default the start of the import.
    #[arg(long)]
    pub occurred_at: Option<String>,
}

/// Arguments of `leadflow model fit`.
#[derive(Debug, Args)]
pub struct ModelFitArgs {
    /// Id of the model the draft is stored under.
    #[arg(long, default_value = "default")]
    pub model_id: String,

    /// Seed of the hash that splits leads into a training and a held-out side.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Share of leads held out to measure the fitted model, above 0 and at most 0.9.
    #[arg(long, default_value_t = 0.3)]
    pub holdout: f64,

    /// L2 penalty of the logistic regression, 0 or more; larger values shrink the points.
    #[arg(long)]
    pub l2: Option<f64>,
}

/// Leads a quality report covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// Every lead with a known outcome.
    All,
    /// The training side of the split.
    Training,
    /// The held-out side of the split.
    Holdout,
}

/// Arguments of `leadflow report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Id of the model.
    #[arg(long, default_value = "default")]
    pub model_id: String,

    /// Version to report, active, retired or draft; repeat to compare versions side by side.
    /// Default: the active version.
    #[arg(long = "version", visible_alias = "draft", value_name = "N")]
    pub versions: Vec<i32>,

    /// Leads to cover: all leads with an outcome, or one side of the split that `model fit`
    /// uses with the same --seed and --holdout.
    #[arg(long, value_enum, default_value_t = SplitArg::All)]
    pub split: SplitArg,

    /// Seed of the split; read with --split training or holdout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Share of leads held out; read with --split training or holdout.
    #[arg(long, default_value_t = 0.3)]
    pub holdout: f64,

    /// Also write the lift table and the ROC curve as an SVG chart to this file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}
