//! Authentication and authorization of gRPC calls, and the credentials that services and the
//! CLI send.
//!
//! A caller sends `authorization: Bearer TOKEN` metadata. The token is either a JWT (HS256
//! with a shared secret, RS256 with a PEM public key or a JWKS file) or a static token whose
//! SHA-256 hash is listed in the settings. Either way it yields a [`Caller`]: a subject and
//! its [`Role`]s. Each service declares one [`AccessTable`] that maps every full method path
//! to the roles allowed to call it; [`AuthLayer`] rejects a missing or invalid token with
//! UNAUTHENTICATED and a caller without an allowed role with PERMISSION_DENIED. Methods that
//! are not in the table are denied. Health and reflection stay open.
//!
//! Authentication is off by default, so a local suite needs no tokens; the server then logs
//! that every caller may call every method.
//!
//! - [`tokens`]: verification of static tokens and JWTs.
//! - [`layer`]: the tower layer.
//! - [`client`]: the bearer token that outgoing calls carry, and client channels with TLS.
//! - [`tls`]: server and client TLS settings, loaded from PEM files.

mod jwt;
pub mod client;
pub mod layer;
mod security;
pub mod tls;
pub mod tokens;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use client::{BearerToken, TokenChannel};
pub use layer::AuthLayer;
pub use security::ServerSecurity;
pub use tokens::{Authenticator, token_sha256};

/// A role that the access tables grant methods to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Tracks activities, manages leads and scoring models.
    Marketing,
    /// Works the MQL queue: start work, accept, reject, recycle, close.
    Sales,
    /// Changes configuration (sales reps, settings), erases leads, and may call every method
    /// that people call.
    Admin,
    /// Another Leadflow service delivering outbox events. The internal `*EventsService`
    /// methods accept this role only.
    Service,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Marketing, Role::Sales, Role::Admin, Role::Service];

    /// Returns the lower-case name used in tokens and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Marketing => "marketing",
            Role::Sales => "sales",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    /// Parses a role name; names are compared case-insensitively.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller of a request, stored in the request's extensions by
/// [`AuthLayer`] for the layers and handlers inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Subject of the token: the JWT `sub` claim or the subject configured for a static token.
    pub subject: String,
    /// Roles of the caller. Role names that Leadflow does not know are dropped.
    pub roles: Vec<Role>,
}

/// Roles allowed to call each method, keyed by the full method path, for example
/// `/leadflow.activity.v1.ActivityService/TrackActivity`.
pub type AccessTable = &'static [(&'static str, &'static [Role])];

/// Authentication settings (`[auth]` in TOML, `LEADFLOW_AUTH__*` variables).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Requires a bearer token on every call except health and reflection.
    pub enabled: bool,
    /// File with the shared secret of HS256 JWTs. The whole file is the secret, without a
    /// trailing newline.
    pub hs256_secret_file: Option<PathBuf>,
    /// PEM file with the RSA public key of RS256 JWTs.
    pub rs256_public_key_file: Option<PathBuf>,
    /// JWKS file (`{"keys": [...]}`) with the RSA public keys of RS256 JWTs, chosen by `kid`.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss` claim of JWTs, when set.
    pub issuer: Option<String>,
    /// Required `aud` claim of JWTs, when set.
    pub audience: Option<String>,
    /// JWT claim with the caller's roles: an array of names or one space-separated string.
    /// A dotted path such as `realm_access.roles` reads a nested claim.
    pub roles_claim: String,
    /// Seconds of clock skew allowed when checking `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Static tokens, each stored only as the hex SHA-256 hash of the token.
    pub static_tokens: Vec<StaticTokenSettings>,
    /// File with the token that this service sends on its outbox deliveries to the other
    /// services. No token is sent when unset.
    pub service_token_file: Option<PathBuf>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            hs256_secret_file: None,
            rs256_public_key_file: None,
            jwks_file: None,
            issuer: None,
            audience: None,
            roles_claim: "roles".to_owned(),
            leeway_secs: 30,
            static_tokens: Vec::new(),
            service_token_file: None,
        }
    }
}

/// One static token: the hash of the token and who it stands for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StaticTokenSettings {
    /// Lower-case hex SHA-256 of the token, as `leadflow token-hash` prints it.
    pub sha256: String,
    /// Subject the token authenticates, used in logs and for rate limits.
    pub subject: String,
    /// Role names of the token.
    pub roles: Vec<String>,
}

#[cfg(test)]
mod tests {
    use crate::config::ServiceConfig;

    use super::*;

    #[test]
    fn role_names_parse() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse(" Sales "), Some(Role::Sales));
        assert_eq!(Role::parse("owner"), None);
    }

    #[test]
    fn security_sections_load_from_toml() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("leadflow.toml");
        let toml = r#"
            database_url = "sqlite://leadflow.db"

            [auth]
            enabled = true
            hs256_secret_file = "/etc/leadflow/hs256.secret"
            audience = "leadflow"

            [[auth.static_tokens]]
            sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            subject = "crm-sync"
            roles = ["marketing"]

            [tls]
            cert_file = "/etc/leadflow/server.pem"
            key_file = "/etc/leadflow/server.key"
            client_ca_file = "/etc/leadflow/ca.pem"

            [limits]
            rate_per_second = 50
        "#;
        std::fs::write(&file, toml).unwrap();

        let config = ServiceConfig::load(ServiceConfig::default(), Some(&file)).unwrap();
        assert!(config.auth.enabled);
        assert_eq!(config.auth.hs256_secret_file, Some(PathBuf::from("/etc/leadflow/hs256.secret")));
        assert_eq!(config.auth.audience.as_deref(), Some("leadflow"));
        assert_eq!(config.auth.issuer, None);
        assert_eq!(config.auth.roles_claim, "roles", "unset keys keep their defaults");
        assert_eq!(config.auth.static_tokens.len(), 1);
        assert_eq!(config.auth.static_tokens[0].roles, vec!["marketing".to_owned()]);
        assert_eq!(config.tls.client_ca_file, Some(PathBuf::from("/etc/leadflow/ca.pem")));
        assert_eq!(config.limits.rate_per_second, 50);
        assert_eq!(config.limits.rate_burst, crate::limits::LimitSettings::default().rate_burst);
    }

    #[test]
    fn security_is_off_by_default() {
        let config = ServiceConfig::default();
        assert!(!config.auth.enabled);
        assert!(config.tls.server_config().unwrap().is_none());
        assert!(config.tls.client_files().load().unwrap().is_none());
    }
}
