//! The `leadflow` command-line client. The binary only calls [`main`]; the importer is public
//! so end-to-end tests can run it against real services.

#![forbid(unsafe_code)]

pub mod activity_type;
pub mod args;
pub mod bench;
pub mod commands;
pub mod errors;
pub mod format;
pub mod i18n;
pub mod import;
pub mod model_file;
pub mod up;

use std::process::ExitCode;

use clap::Parser;

pub use import::{ImportOptions, ImportReport, Mapping, load_mapping, run_import};

use crate::args::{Cli, Command};
use crate::errors::Service;
use crate::i18n::Lang;

/// Settings of every command: the language, the output format and the service addresses.
#[derive(Clone, Debug)]
pub struct Context {
    /// Language of messages and tables.
    pub lang: Lang,
    /// Print JSON instead of text.
    pub json: bool,
    /// URL of the activity service.
    pub activity_addr: String,
    /// URL of the scoring service.
    pub scoring_addr: String,
    /// URL of the qualification service.
    pub qualification_addr: String,
    /// Bearer token and TLS files of every connection.
    pub connect: errors::ConnectOptions,
}

impl Context {
    /// Opens a channel to `service`.
    pub async fn channel(&self, service: Service) -> Result<errors::ClientChannel, errors::CliError> {
        let address = match service {
            Service::Activity => &self.activity_addr,
            Service::Scoring => &self.scoring_addr,
            Service::Qualification => &self.qualification_addr,
        };
        errors::connect(service, address, &self.connect).await
    }
}

/// Makes a closed standard output (`leadflow queue | head -3`) end the process quietly with
/// status 141, as a SIGPIPE would, instead of printing a panic: `println!` panics when the
/// reader has gone.
fn exit_quietly_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let context = Context {
        lang: i18n::detect_lang(cli.lang),
        json: cli.json,
        activity_addr: cli.activity_addr.clone(),
        scoring_addr: cli.scoring_addr.clone(),
        qualification_addr: cli.qualification_addr.clone(),
        connect: errors::ConnectOptions {
            token: cli.token.clone(),
            tls: leadflow_kit::auth::tls::ClientTlsFiles {
                ca_file: cli.tls_ca.clone(),
                cert_file: cli.tls_cert.clone(),
                key_file: cli.tls_key.clone(),
                server_name: None,
            },
        },
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            errors::print_error(&error.into(), context.lang);
            return ExitCode::FAILURE;
        }
    };

    match runtime.block_on(run(&context, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errors::print_error(&error, context.lang);
            ExitCode::FAILURE
        }
    }
}

/// Reads a token from standard input and prints its SHA-256 hash, the form in which
/// `auth.static_tokens` stores it. Surrounding whitespace, such as the newline of `echo`, is
/// not part of the token.
fn print_token_hash() -> anyhow::Result<()> {
    let mut token = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut token)?;
    let token = token.trim();
    if token.is_empty() {
        anyhow::bail!("no token on standard input; run `printf %s TOKEN | leadflow token-hash`");
    }
    println!("{}", leadflow_kit::auth::token_sha256(token));
    Ok(())
}

async fn run(context: &Context, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up(args) => up::run(context, args).await,
        Command::Track(args) => commands::track::run(context, args).await,
        Command::Lead(args::LeadCommand::Show(args)) => commands::lead::show(context, args).await,
        Command::Lead(args::LeadCommand::Changes(args)) => commands::lead::changes(context, args).await,
        Command::Lead(args::LeadCommand::Upsert(args)) => commands::lead::upsert(context, args).await,
        Command::Lead(args::LeadCommand::Erase(args)) => commands::privacy::erase(context, args).await,
        Command::Lead(args::LeadCommand::Merge(args)) => commands::identity::merge(context, args).await,
        Command::Lead(args::LeadCommand::Consent(args)) => commands::identity::consent(context, args).await,
        Command::Lead(args::LeadCommand::Identify(args)) => commands::identity::identify(context, args).await,
        Command::Erasure(args::ErasureCommand::Show(args)) => commands::privacy::show(context, args).await,
        Command::Queue(args) => commands::sales::queue(context, args).await,
        Command::Work(args) => commands::sales::work(context, args).await,
        Command::Accept(args) => commands::sales::accept(context, args).await,
        Command::Reject(args) => commands::sales::reject(context, args).await,
        Command::Close(args) => commands::sales::close(context, args).await,
        Command::Funnel(args) => commands::funnel::run(context, args).await,
        Command::Assign(args) => commands::reps::assign(context, args).await,
        Command::Reps(command) => commands::reps::run(context, command).await,
        Command::Recycle(args) => commands::sales::recycle(context, args).await,
        Command::Settings(command) => commands::settings::run(context, command).await,
        Command::Model(command) => commands::model::run(context, command).await,
        Command::Import(args) => commands::import::run(context, args).await,
        Command::TokenHash => print_token_hash(),
        Command::Report(args) => commands::report::report(context, args).await,
        Command::Bench(args) => bench::run(context, args).await,
    }
}
