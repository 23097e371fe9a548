//! JWT verification with `jsonwebtoken`: HS256 with a shared secret, RS256 with a PEM public
//! key or the RSA keys of a JWKS file.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::tokens::AuthFailure;
use super::{AuthSettings, Caller, Role};

/// One key that may have signed a token.
struct Key {
    /// `kid` of a JWKS key; `None` for the secret and the PEM key, which match any `kid`.
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies JWTs against the configured keys and claims.
pub(super) struct JwtVerifier {
    keys: Vec<Key>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
    roles_claim: String,
}

fn read_file(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("failed to read {setting} {}", path.display()))
}

impl JwtVerifier {
    /// Loads the keys that `settings` names; returns `None` when it names none.
    pub(super) fn from_settings(settings: &AuthSettings) -> anyhow::Result<Option<Self>> {
        let mut keys = Vec::new();

        if let Some(path) = &settings.hs256_secret_file {
            let mut secret = read_file(path, "auth.hs256_secret_file")?;
            while secret.last().is_some_and(|byte| *byte == b'\n' || *byte == b'\r') {
                secret.pop();
            }
            if secret.len() < 32 {
                anyhow::bail!("auth.hs256_secret_file {} is shorter than 32 bytes; use a longer random secret", path.display());
            }
            let key = DecodingKey::from_secret(&secret).context("invalid HS256 secret")?;
            keys.push(Key { kid: None, algorithm: Algorithm::HS256, key });
        }

        if let Some(path) = &settings.rs256_public_key_file {
            let pem = read_file(path, "auth.rs256_public_key_file")?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .with_context(|| format!("auth.rs256_public_key_file {} is not an RSA public key in PEM", path.display()))?;
            keys.push(Key { kid: None, algorithm: Algorithm::RS256, key });
        }

        if let Some(path) = &settings.jwks_file {
            let json = read_file(path, "auth.jwks_file")?;
            let set: JwkSet = serde_json::from_slice(&json)
                .with_context(|| format!("auth.jwks_file {} is not a JWKS document", path.display()))?;
            let before = keys.len();
            for jwk in &set.keys {
                if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) {
                    tracing::warn!(kid = ?jwk.common.key_id, "skipping a JWKS key that is not an RSA key");
                    continue;
                }
                if jwk.common.key_algorithm.is_some_and(|algorithm| Algorithm::try_from(algorithm).ok() != Some(Algorithm::RS256)) {
                    tracing::warn!(kid = ?jwk.common.key_id, "skipping a JWKS key whose alg is not RS256");
                    continue;
                }
                let key = DecodingKey::from_jwk(jwk)
                    .with_context(|| format!("invalid key {:?} in auth.jwks_file", jwk.common.key_id))?;
                keys.push(Key { kid: jwk.common.key_id.clone(), algorithm: Algorithm::RS256, key });
            }
            if keys.len() == before {
                anyhow::bail!("auth.jwks_file {} contains no RS256 key", path.display());
            }
        }

        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            keys,
            issuer: settings.issuer.clone().filter(|issuer| !issuer.is_empty()),
            audience: settings.audience.clone().filter(|audience| !audience.is_empty()),
            leeway_secs: settings.leeway_secs,
            roles_claim: settings.roles_claim.clone(),
        }))
    }

    /// Checks the signature, `exp`, `nbf`, and `iss` and `aud` when configured, and returns
    /// the caller named by `sub` and the roles claim.
    pub(super) fn verify(&self, token: &str) -> Result<Caller, AuthFailure> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthFailure("the bearer token is not a well-formed JWT".to_owned()))?;

        let candidates: Vec<&Key> = self
            .keys
            .iter()
            .filter(|key| key.algorithm == header.alg)
            .filter(|key| match (&key.kid, &header.kid) {
                (Some(key_kid), Some(token_kid)) => key_kid == token_kid,
                _ => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(AuthFailure(format!(
                "no configured key verifies JWTs with alg {:?} and kid {:?}",
                header.alg, header.kid
            )));
        }

        let validation = self.validation(header.alg);
        let mut failure = AuthFailure("the JWT signature is invalid".to_owned());
        for key in candidates {
            match jsonwebtoken::decode::<Value>(token, &key.key, &validation) {
                Ok(data) => return self.caller(&data.claims),
                Err(error) if matches!(error.kind(), ErrorKind::InvalidSignature) => continue,
                Err(error) => {
                    failure = AuthFailure(describe(error.kind()));
                    break;
                }
            }
        }
        Err(failure)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;

        let mut required: HashSet<String> = ["exp", "sub"].map(str::to_owned).into();
        match &self.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.insert("iss".to_owned());
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        validation.required_spec_claims = required;
        validation
    }

    fn caller(&self, claims: &Value) -> Result<Caller, AuthFailure> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| AuthFailure("the JWT sub claim is missing or not a string".to_owned()))?;

        let mut value = Some(claims);
        for segment in self.roles_claim.split('.') {
            value = value.and_then(|value| value.get(segment));
        }
        let names: Vec<&str> = match value {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(text)) => text.split_whitespace().collect(),
            _ => Vec::new(),
        };
        let mut roles: Vec<Role> = names.into_iter().filter_map(Role::parse).collect();
        roles.sort();
        roles.dedup();

        Ok(Caller { subject: subject.to_owned(), roles })
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the JWT has expired (exp)".to_owned(),
        ErrorKind::ImmatureSignature => "the JWT is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "the JWT iss claim is not the configured issuer".to_owned(),
        ErrorKind::InvalidAudience => "the JWT aud claim does not contain the configured audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the JWT has no {claim} claim"),
        ErrorKind::InvalidAlgorithm => "the JWT alg does not match the key".to_owned(),
        other => format!("the JWT is invalid: {other:?}"),
    }
}
