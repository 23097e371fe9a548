//! TLS settings from PEM files, for servers (with optional client certificates: mutual TLS)
//! and for clients. tonic runs TLS with rustls and its ring provider (feature `tls-ring`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// TLS settings (`[tls]` in TOML, `LEADFLOW_TLS__*` variables). The server uses TLS when
/// `cert_file` and `key_file` are set. The outbox relays use TLS when `ca_file` is set, and
/// then the service URLs must start with `https://`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// PEM certificate chain of this server.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of this server.
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates that sign client certificates. When set, the server requires a
    /// client certificate signed by one of them (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// PEM CA certificates that the relays trust when they call the other services.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain that the relays present, for servers that require one.
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: Option<PathBuf>,
    /// Name checked against the servers' certificates in place of the URL's host.
    pub server_name: Option<String>,
}

fn read_pem(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path).with_context(|| format!("failed to read {setting} {}", path.display()))?;
    if !pem.windows(10).any(|window| window == b"-----BEGIN") {
        anyhow::bail!("{setting} {} is not a PEM file", path.display());
    }
    Ok(pem)
}

impl TlsSettings {
    /// Returns the server's TLS configuration, or `None` when the server runs plain HTTP/2.
    pub fn server_config(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let (cert_file, key_file) = match (&self.cert_file, &self.key_file) {
            (None, None) => {
                if self.client_ca_file.is_some() {
                    anyhow::bail!("tls.client_ca_file is set but tls.cert_file and tls.key_file are not");
                }
                return Ok(None);
            }
            (Some(cert), Some(key)) => (cert, key),
            _ => anyhow::bail!("tls.cert_file and tls.key_file must be set together"),
        };

        let identity = Identity::from_pem(read_pem(cert_file, "tls.cert_file")?, read_pem(key_file, "tls.key_file")?);
        let mut config = ServerTlsConfig::new().identity(identity);
        if let Some(client_ca) = &self.client_ca_file {
            config = config.client_ca_root(Certificate::from_pem(read_pem(client_ca, "tls.client_ca_file")?));
        }
        Ok(Some(config))
    }

    /// Returns the client side as [`ClientTlsFiles`].
    pub fn client_files(&self) -> ClientTlsFiles {
        ClientTlsFiles {
            ca_file: self.ca_file.clone(),
            cert_file: self.client_cert_file.clone(),
            key_file: self.client_key_file.clone(),
            server_name: self.server_name.clone(),
        }
    }
}

/// The files of a TLS client: the CA it trusts and an optional client certificate.
#[derive(Clone, Debug, Default)]
pub struct ClientTlsFiles {
    /// PEM CA certificates that sign the servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for servers that require mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Name checked against the server's certificate in place of the URL's host.
    pub server_name: Option<String>,
}

impl ClientTlsFiles {
    /// Loads the files; returns `None` when no CA is set, so the client runs plain HTTP/2.
    pub fn load(&self) -> anyhow::Result<Option<ClientTlsConfig>> {
        let Some(ca_file) = &self.ca_file else {
            if self.cert_file.is_some() || self.key_file.is_some() {
                anyhow::bail!("a client certificate is set without the CA file that verifies the server");
            }
            return Ok(None);
        };

        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(ca_file, "CA file")?));
        match (&self.cert_file, &self.key_file) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                config = config.identity(Identity::from_pem(read_pem(cert, "client certificate")?, read_pem(key, "client key")?));
            }
            _ => anyhow::bail!("the client certificate and the client key must be set together"),
        }
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        Ok(Some(config))
    }
}
