//! Everything a server needs to protect its port, built once from the settings.

use std::sync::Arc;

use tonic::transport::ServerTlsConfig;

use super::{AccessTable, Authenticator};
use crate::config::ServiceConfig;
use crate::limits::LimitSettings;

/// The authenticator, access table, limits and TLS configuration of one server.
#[derive(Clone)]
pub struct ServerSecurity {
    /// Token verification; `None` when authentication is off.
    pub authenticator: Option<Arc<Authenticator>>,
    /// Roles allowed per method.
    pub access: AccessTable,
    /// Per-caller limits and the request timeout.
    pub limits: LimitSettings,
    /// TLS of the port; `None` for plain HTTP/2.
    pub tls: Option<ServerTlsConfig>,
    /// Whether the TLS configuration requires client certificates.
    pub mutual_tls: bool,
}

impl ServerSecurity {
    /// Loads keys, tokens and certificates named by `config`. `access` is the service's
    /// access table.
    pub fn from_config(config: &ServiceConfig, access: AccessTable) -> anyhow::Result<Self> {
        let authenticator = Authenticator::from_settings(&config.auth)?.map(Arc::new);
        let tls = config.tls.server_config()?;
        let mutual_tls = tls.is_some() && config.tls.client_ca_file.is_some();
        Ok(Self { authenticator, access, limits: config.limits.clone(), tls, mutual_tls })
    }

    /// Security for tests and tools: authentication off, default limits, no TLS.
    pub fn open(access: AccessTable) -> Self {
        Self { authenticator: None, access, limits: LimitSettings::default(), tls: None, mutual_tls: false }
    }

    /// Logs once at start-up whether calls are authenticated and encrypted.
    pub fn log_summary(&self, service: &str) {
        match &self.authenticator {
            Some(_) => tracing::info!(service, methods = self.access.len(), "authentication is on: calls need a bearer token"),
            None => tracing::warn!(
                service,
                "authentication is off: every caller may call every method; set auth.enabled to require tokens"
            ),
        }
        match (&self.tls, self.mutual_tls) {
            (None, _) => tracing::info!(service, "TLS is off: the port serves plain-text HTTP/2"),
            (Some(_), false) => tracing::info!(service, "TLS is on"),
            (Some(_), true) => tracing::info!(service, "TLS is on and clients must present a certificate (mutual TLS)"),
        }
    }
}
