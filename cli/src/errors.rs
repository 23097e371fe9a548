//! Errors that the client prints for people: a catalogue text with its values, plus
//! indented detail lines such as the field violations of a gRPC `BadRequest`.

use std::fmt;
use std::time::Duration;

use leadflow_kit::auth::BearerToken;
use leadflow_kit::auth::tls::ClientTlsFiles;
use tonic::service::interceptor::InterceptedService;
use tonic_types::StatusExt;

use crate::i18n::{Lang, Text};

/// A failure with a text from the catalogue, rendered in the language chosen at print time.
#[derive(Debug)]
pub struct CliError {
    text: Text,
    args: Vec<(&'static str, String)>,
    details: Vec<String>,
}

impl CliError {
    /// Creates an error from a catalogue text without values.
    pub fn new(text: Text) -> Self {
        Self { text, args: Vec::new(), details: Vec::new() }
    }

    /// Adds the value of the placeholder `{name}`.
    pub fn arg(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    /// Returns the catalogue text of the error.
    pub fn text(&self) -> Text {
        self.text
    }

    /// Returns the detail lines, for example one per field violation.
    pub fn details(&self) -> &[String] {
        &self.details
    }

    /// Renders the main line in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let args: Vec<(&str, &dyn fmt::Display)> =
            self.args.iter().map(|(name, value)| (*name, value as &dyn fmt::Display)).collect();
        self.text.fill(lang, &args)
    }

    /// Builds the error of a failed call from its status: the `LocalizedMessage` when the
    /// server sent one (it follows the request's `accept-language`), otherwise the status
    /// message, and one detail line per `BadRequest` field violation.
    pub fn from_status(method: &str, status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        let message = details
            .localized_message()
            .map(|localized| localized.message.clone())
            .filter(|message| !message.is_empty())
            .unwrap_or_else(|| status.message().to_owned());

        let violations = details
            .bad_request()
            .map(|bad_request| {
                bad_request
                    .field_violations
                    .iter()
                    .map(|violation| format!("{}: {}", violation.field, violation.description))
                    .collect()
            })
            .unwrap_or_default();

        let mut error = CliError::new(Text::RpcFailed).arg("method", method).arg("message", message);
        error.details = violations;
        error
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.render(Lang::En))?;
        for detail in &self.details {
            write!(formatter, "\n  {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// Prints `error` to standard error in `lang`: one line, then its indented details.
pub fn print_error(error: &anyhow::Error, lang: Lang) {
    let prefix = Text::ErrorPrefix.get(lang);
    match error.downcast_ref::<CliError>() {
        Some(cli_error) => {
            eprintln!("{prefix}: {}", cli_error.render(lang));
            for detail in cli_error.details() {
                eprintln!("  {detail}");
            }
        }
        None => eprintln!("{prefix}: {error:#}"),
    }
}

/// One of the three services, for messages and connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// The activity service.
    Activity,
    /// The scoring service.
    Scoring,
    /// The qualification service.
    Qualification,
}

impl Service {
    /// Returns the name used in messages; the same in every language because it names a
    /// program.
    pub fn name(self) -> &'static str {
        match self {
            Service::Activity => "activity",
            Service::Scoring => "scoring",
            Service::Qualification => "qualification",
        }
    }
}

/// Time allowed for opening a connection to a local service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A channel whose calls carry the `--token` bearer token, when one is given.
pub type ClientChannel = leadflow_kit::auth::TokenChannel;

/// The bearer token and TLS files that every connection of the client uses.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Bearer token sent on every call.
    pub token: Option<String>,
    /// CA and optional client certificate; plain HTTP/2 without a CA.
    pub tls: ClientTlsFiles,
}

/// Wraps a channel so that its calls carry no token, for callers that built the channel
/// themselves.
pub fn without_token(channel: tonic::transport::Channel) -> ClientChannel {
    InterceptedService::new(channel, BearerToken::default())
}

/// Opens a channel to `service` at `address` with the token and TLS of `options`. A refused
/// connection becomes the [`Text::Unreachable`] error, whose message names `leadflow up`.
pub async fn connect(service: Service, address: &str, options: &ConnectOptions) -> Result<ClientChannel, CliError> {
    let setup_error = |error: anyhow::Error| {
        CliError::new(Text::ConnectFailed)
            .arg("service", service.name())
            .arg("address", address)
            .arg("error", format!("{error:#}"))
    };
    let tls = options.tls.load().map_err(setup_error)?;
    let token = match &options.token {
        Some(token) => BearerToken::new(token).map_err(setup_error)?,
        None => BearerToken::default(),
    };
    let endpoint = leadflow_kit::auth::client::endpoint(address, "address", tls.as_ref()).map_err(|error| {
        CliError::new(Text::InvalidAddress)
            .arg("address", address)
            .arg("service", service.name())
            .arg("error", format!("{error:#}"))
    })?;

    let channel = endpoint.connect_timeout(CONNECT_TIMEOUT).connect().await.map_err(|error| {
        if is_connection_refused(&error) {
            CliError::new(Text::Unreachable).arg("service", service.name()).arg("address", address)
        } else {
            CliError::new(Text::ConnectFailed)
                .arg("service", service.name())
                .arg("address", address)
                .arg("error", error_chain(&error))
        }
    })?;
    Ok(InterceptedService::new(channel, token))
}

/// Returns true when any cause of `error` is an I/O error of kind `ConnectionRefused`.
fn is_connection_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        if let Some(io_error) = cause.downcast_ref::<std::io::Error>()
            && io_error.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        current = cause.source();
    }
    false
}

/// Joins the messages of `error` and its causes with ": ".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut current = error.source();
    while let Some(cause) = current {
        parts.push(cause.to_string());
        current = cause.source();
    }
    parts.join(": ")
}

/// Wraps `message` in a request with `accept-language` set to `lang`.
pub fn request<T>(message: T, lang: Lang) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = lang.tag().parse() {
        request.metadata_mut().insert("accept-language", value);
    }
    request
}
