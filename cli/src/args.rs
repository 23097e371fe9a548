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
    /// Report the funnel lead → MQL → SQL → won in unique leads.
    Funnel(FunnelArgs),
    /// Show or publish the scoring model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Import leads, activities and outcomes from a CSV file described by a TOML mapping.
    Import(ImportArgs),
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
    pub key: LeadKeyArgs,

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
    /// Show a lead's profile, score, qualification and first activities.
    Show(LeadKeyArgs),
    /// Create a lead or update the lead with the same e-mail address or external id.
    Upsert(UpsertArgs),
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

/// Arguments of `leadflow queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// States to list; repeat for more. Default: new and working.
    #[arg(long = "state", value_enum)]
    pub states: Vec<StateArg>,

    /// Maximum number of entries to list.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
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
}

/// Arguments of `leadflow reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Server-assigned id of the lead.
    pub lead_id: String,

    /// Reason code: no_budget, no_authority, no_need, bad_timing, unreachable, duplicate,
    /// competitor or not_a_fit.
    #[arg(long)]
    pub reason: String,

    /// Free text for the history.
    #[arg(long)]
    pub note: Option<String>,
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

    /// IANA time zone of the dates, for example Europe/Bucharest; default UTC.
    #[arg(long)]
    pub time_zone: Option<String>,
}

/// Subcommands of `leadflow model`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Show the active version of a scoring model.
    Show {
        /// Id of the model.
        #[arg(long, default_value = "default")]
        model_id: String,
    },
    /// Publish a scoring model from a TOML file.
    Publish {
        /// The model file: model_id, description, mql_threshold and a [points] table.
        file: PathBuf,
    },
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
