//! Opaque page tokens for keyset pagination.
//!
//! A token is the URL-safe base64 of a small JSON object holding the method it belongs to and
//! the sort key of the last row returned. Clients treat it as opaque; a token from another
//! method, or one that does not decode, is INVALID_ARGUMENT.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::errors::ApiError;

/// Page size used when a request leaves `page_size` at 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page size served; larger requests are read as this.
pub const MAX_PAGE_SIZE: u64 = 1000;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    /// Method the token was issued by.
    m: String,
    /// Sort key of the last row of the previous page.
    k: T,
}

/// Returns the effective page size of a request: 0 means the default, larger than the maximum
/// means the maximum, and a negative size is INVALID_ARGUMENT.
pub fn page_size(requested: i32) -> Result<u64, ApiError> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        size if size < 0 => Err(ApiError::invalid_field(
            "page_size",
            format!("page_size must not be negative, got {size}"),
        )),
        size => Ok((size as u64).min(MAX_PAGE_SIZE)),
    }
}

/// Encodes the sort key of the last row of a page as a token for `method`.
pub fn encode<T: Serialize>(method: &str, key: &T) -> String {
    let envelope = Envelope { m: method.to_owned(), k: key };
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a page token issued by `method`; an empty token means the first page.
pub fn decode<T: DeserializeOwned>(method: &str, token: &str) -> Result<Option<T>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }

    let invalid = || {
        ApiError::invalid_field(
            "page_token",
            "page_token was not issued by this method; pass the next_page_token of the previous response or leave it empty".to_owned(),
        )
    };

    let json = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let envelope: Envelope<T> = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if envelope.m != method {
        return Err(invalid());
    }

    Ok(Some(envelope.k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip() {
        let token = encode("ListLeads", &("2024-05-01T07:00:00Z", "abc"));
        let key: Option<(String, String)> = decode("ListLeads", &token).unwrap();
        assert_eq!(key, Some(("2024-05-01T07:00:00Z".into(), "abc".into())));
    }

    #[test]
    fn token_of_other_method_is_rejected() {
        let token = encode("ListLeads", &1);
        let result: Result<Option<i64>, _> = decode("ListActivities", &token);
        assert!(result.is_err());
    }

    #[test]
    fn garbage_token_is_rejected() {
        let result: Result<Option<i64>, _> = decode("ListLeads", "%%%not-base64");
        assert!(result.is_err());
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
