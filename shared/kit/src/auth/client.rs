//! Outgoing calls: the bearer token they carry, and channels with optional TLS. The outbox
//! relays and the CLI build their channels here.

use std::path::Path;

use anyhow::Context as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::ServiceConfig;

/// Interceptor that adds `authorization: Bearer TOKEN` to every call, or nothing when it has
/// no token.
#[derive(Clone, Default)]
pub struct BearerToken {
    value: Option<MetadataValue<Ascii>>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = if self.value.is_some() { "Some(<redacted>)" } else { "None" };
        f.debug_struct("BearerToken").field("value", &format_args!("{redacted}")).finish()
    }
}

impl BearerToken {
    /// Sends `token`; surrounding whitespace is removed.
    pub fn new(token: &str) -> anyhow::Result<Self> {
        let token = token.trim();
        if token.is_empty() {
            anyhow::bail!("the token is empty");
        }
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| anyhow::anyhow!("the token contains characters that gRPC metadata cannot carry"))?;
        value.set_sensitive(true);
        Ok(Self { value: Some(value) })
    }

    /// Sends the token stored in `path`. The file is read once, so a new token takes effect
    /// at the next start.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let token = std::fs::read_to_string(path).with_context(|| format!("failed to read token file {}", path.display()))?;
        Self::new(&token).with_context(|| format!("invalid token in {}", path.display()))
    }

    /// Returns true when a token is sent.
    pub fn is_set(&self) -> bool {
        self.value.is_some()
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.value {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel whose calls carry a [`BearerToken`].
pub type TokenChannel = InterceptedService<Channel, BearerToken>;

/// Builds an endpoint for `url` with `tls` applied. An `https://` URL needs a TLS
/// configuration and an `http://` URL must have none, so a setting never silently falls back
/// to plain text.
pub fn endpoint(url: &str, setting: &str, tls: Option<&ClientTlsConfig>) -> anyhow::Result<Endpoint> {
    let endpoint = Endpoint::from_shared(url.to_owned()).with_context(|| format!("invalid {setting} {url:?}"))?;
    let https = endpoint.uri().scheme_str() == Some("https");
    match tls {
        Some(tls) if https => endpoint
            .tls_config(tls.clone())
            .with_context(|| format!("invalid TLS configuration for {setting} {url:?}")),
        Some(_) => anyhow::bail!("{setting} {url:?} must start with https:// because a TLS CA file is configured"),
        None if https => anyhow::bail!("{setting} {url:?} starts with https:// but no TLS CA file is configured"),
        None => Ok(endpoint),
    }
}

/// The token and TLS settings with which a service calls the other services.
#[derive(Clone, Debug, Default)]
pub struct PeerClients {
    token: BearerToken,
    tls: Option<ClientTlsConfig>,
}

impl PeerClients {
    /// Reads `auth.service_token_file` and the client side of `tls` from `config`.
    pub fn from_config(config: &ServiceConfig) -> anyhow::Result<Self> {
        let token = match &config.auth.service_token_file {
            Some(path) => BearerToken::from_file(path).context("auth.service_token_file")?,
            None => BearerToken::default(),
        };
        let tls = config.tls.client_files().load().context("tls client settings")?;
        Ok(Self { token, tls })
    }

    /// Returns a channel to `url` that connects on first use. `setting` names the URL's
    /// setting in error messages.
    pub fn lazy_channel(&self, url: &str, setting: &str) -> anyhow::Result<TokenChannel> {
        let channel = endpoint(url, setting, self.tls.as_ref())?.connect_lazy();
        Ok(InterceptedService::new(channel, self.token.clone()))
    }
}
