//! Replay of mutating calls that repeat a `request_id`.
//!
//! A handler that receives a request id calls [`replay`] inside its transaction before doing
//! anything: a stored result for the same request is returned as it was the first time, and
//! the same id with a different request is INVALID_ARGUMENT. After the effect, [`store`]
//! saves the response in the same transaction, so the result is kept exactly when the effect
//! is. Results are kept for at least [`RETENTION`].

use std::collections::HashMap;
use std::time::Duration;

use prost::Message;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::errors::{ApiError, ApiResult};
use crate::outbox::entity::idempotency_key;

/// How long a result stays available for replay; older ones are purged by [`purge`].
pub const RETENTION: Duration = Duration::from_secs(48 * 3600);

/// Longest accepted request id.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id with the hash of the request it came with.
#[derive(Clone, Debug)]
pub struct RequestKey {
    request_id: String,
    method: &'static str,
    request_hash: String,
}

impl RequestKey {
    /// Builds the key of a request, or `None` when `request_id` is empty. `request` must be
    /// the request message with its `request_id` field cleared, so only its content is hashed.
    pub fn new<M: Message>(method: &'static str, request_id: &str, request: &M) -> ApiResult<Option<Self>> {
        if request_id.is_empty() {
            return Ok(None);
        }
        if request_id.len() > MAX_REQUEST_ID_LEN || request_id.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "request_id",
                format!("request_id must be at most {MAX_REQUEST_ID_LEN} printable characters; a UUID is recommended"),
            ));
        }

        let hash = Sha256::digest(request.encode_to_vec());
        let request_hash = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(Some(Self { request_id: request_id.to_owned(), method, request_hash }))
    }
}

/// Returns the stored response of an earlier call with the same key, if any.
pub async fn replay<C: ConnectionTrait, R: Message + Default>(
    db: &C,
    key: Option<&RequestKey>,
) -> ApiResult<Option<R>> {
    let Some(key) = key else {
        return Ok(None);
    };

    let stored = idempotency_key::Entity::find_by_id(key.request_id.clone()).one(db).await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    decode_stored(key, &stored).map(Some)
}

/// Finds the stored results of several keys with one query, by request id.
pub async fn find_stored<C: ConnectionTrait>(
    db: &C,
    keys: &[&RequestKey],
) -> Result<HashMap<String, idempotency_key::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = keys.iter().map(|key| key.request_id.clone());
    let rows = idempotency_key::Entity::find().filter(idempotency_key::Column::RequestId.is_in(ids)).all(db).await?;
    Ok(rows.into_iter().map(|row| (row.request_id.clone(), row)).collect())
}

/// Returns the response stored for `key`, or INVALID_ARGUMENT when the stored result belongs
/// to another method or to a request with other content.
pub fn decode_stored<R: Message + Default>(key: &RequestKey, stored: &idempotency_key::Model) -> ApiResult<R> {
    if stored.method != key.method || stored.request_hash != key.request_hash {
        return Err(ApiError::request_id_reused(&key.request_id));
    }

    let response = R::decode(stored.response.as_slice())
        .map_err(|error| ApiError::internal(format!("stored response does not decode: {error}")))?;
    tracing::debug!(request_id = %key.request_id, method = key.method, "replayed stored response");
    Ok(response)
}

/// Stores the response of a call in the current transaction.
pub async fn store<C: ConnectionTrait, R: Message>(db: &C, key: Option<&RequestKey>, response: &R) -> ApiResult<()> {
    let Some(key) = key else {
        return Ok(());
    };
    idempotency_key::Entity::insert(row(key, response)).exec_without_returning(db).await?;
    Ok(())
}

/// Builds the stored result of a call, for [`store_rows`].
pub fn row<R: Message>(key: &RequestKey, response: &R) -> idempotency_key::ActiveModel {
    idempotency_key::ActiveModel {
        request_id: Set(key.request_id.clone()),
        method: Set(key.method.to_owned()),
        request_hash: Set(key.request_hash.clone()),
        response: Set(response.encode_to_vec()),
        create_time: Set(crate::time::now()),
    }
}

/// Stores the results of several calls with multi-row inserts (see `crate::db::insert_rows`).
pub async fn store_rows<C: ConnectionTrait>(db: &C, rows: Vec<idempotency_key::ActiveModel>) -> Result<(), DbErr> {
    crate::db::insert_rows(db, rows).await
}

impl RequestKey {
    /// Returns the request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }
}

/// Deletes results older than [`RETENTION`]; returns how many were deleted.
pub async fn purge<C: ConnectionTrait>(db: &C) -> ApiResult<u64> {
    let cutoff = crate::time::now() - chrono::Duration::from_std(RETENTION).unwrap_or_default();
    let result = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::CreateTime.lt(cutoff))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
