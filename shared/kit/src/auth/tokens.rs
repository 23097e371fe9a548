//! Verification of bearer tokens: static tokens by their SHA-256 hash, everything else as a
//! JWT.

use std::collections::HashMap;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::jwt::JwtVerifier;
use super::{AuthSettings, Caller, Role};

/// Returns the lower-case hex SHA-256 of `token`, the form in which static tokens are
/// configured.
pub fn token_sha256(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reason a token was rejected, as an English developer message that never contains the
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure(pub String);

/// Verifies bearer tokens against the configured static tokens and JWT keys.
pub struct Authenticator {
    static_tokens: HashMap<String, Caller>,
    jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// Loads the keys and static tokens named by `settings`. Returns `None` when
    /// authentication is off. A setting that names an unreadable file, an invalid key, an
    /// unknown role, or no way at all to verify a token is an error.
    pub fn from_settings(settings: &AuthSettings) -> anyhow::Result<Option<Self>> {
        if !settings.enabled {
            return Ok(None);
        }

        let mut static_tokens = HashMap::new();
        for (index, token) in settings.static_tokens.iter().enumerate() {
            let hash = token.sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                anyhow::bail!("auth.static_tokens[{index}].sha256 is not 64 hex digits; print a token's hash with `leadflow token-hash`");
            }
            if token.subject.trim().is_empty() {
                anyhow::bail!("auth.static_tokens[{index}].subject is empty");
            }
            let mut roles = Vec::new();
            for name in &token.roles {
                let role = Role::parse(name).with_context(|| {
                    format!("auth.static_tokens[{index}].roles has unknown role {name:?}; known roles: marketing, sales, admin, service")
                })?;
                roles.push(role);
            }
            static_tokens.insert(hash, Caller { subject: token.subject.clone(), roles });
        }

        let jwt = JwtVerifier::from_settings(settings)?;
        if jwt.is_none() && static_tokens.is_empty() {
            anyhow::bail!(
                "auth.enabled is true but no token can be verified; set auth.hs256_secret_file, auth.rs256_public_key_file, auth.jwks_file or auth.static_tokens"
            );
        }
        Ok(Some(Self { static_tokens, jwt }))
    }

    /// Returns the caller that `token` authenticates.
    pub fn authenticate(&self, token: &str) -> Result<Caller, AuthFailure> {
        if let Some(caller) = self.static_tokens.get(&token_sha256(token)) {
            return Ok(caller.clone());
        }
        match &self.jwt {
            Some(jwt) if token.split('.').count() == 3 => jwt.verify(token),
            _ => Err(AuthFailure("the bearer token is neither a known static token nor a JWT".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::StaticTokenSettings;

    fn settings_with_token(token: &str, roles: &[&str]) -> AuthSettings {
        AuthSettings {
            enabled: true,
            static_tokens: vec![StaticTokenSettings {
                sha256: token_sha256(token),
                subject: "ci-bot".to_owned(),
                roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            }],
            ..AuthSettings::default()
        }
    }

    #[test]
    fn sha256_of_known_value() {
        assert_eq!(token_sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn static_token_authenticates() {
        let authenticator = Authenticator::from_settings(&settings_with_token("s3cret", &["sales", "Admin"])).unwrap().unwrap();
        let caller = authenticator.authenticate("s3cret").unwrap();
        assert_eq!(caller.subject, "ci-bot");
        assert_eq!(caller.roles, vec![Role::Sales, Role::Admin]);
        assert!(authenticator.authenticate("s3cret2").is_err());
    }

    #[test]
    fn unknown_static_role_is_rejected() {
        let error = Authenticator::from_settings(&settings_with_token("s3cret", &["owner"])).err().unwrap();
        assert!(format!("{error:#}").contains("\"owner\""), "{error:#}");
    }

    #[test]
    fn enabled_without_verifier_is_rejected() {
        let settings = AuthSettings { enabled: true, ..AuthSettings::default() };
        assert!(Authenticator::from_settings(&settings).is_err());
    }

    #[test]
    fn disabled_needs_nothing() {
        assert!(Authenticator::from_settings(&AuthSettings::default()).unwrap().is_none());
    }
}
