//! Erasure of one lead's personal data from the tables every service has: the outbox and the
//! stored idempotency responses. The inbox holds only event ids, so it needs nothing.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, Statement,
};

use crate::outbox::entity::outbox;

/// Deletes every stored idempotency response whose encoded bytes contain `lead_id` in its
/// canonical text form; returns how many were deleted.
///
/// Responses are protobuf messages of many types: a `Lead` with its e-mail address, an
/// `Activity` with its properties, a qualification with its notes. Every one of them that
/// describes the lead carries its id as a UTF-8 string, so the search needs no decoding. A
/// retry of such a request after the erasure runs again instead of replaying, and meets the
/// erased lead. A response that lists several leads, such as an import batch, is deleted as a
/// whole.
pub async fn forget_stored_responses<C: ConnectionTrait>(db: &C, lead_id: &str) -> Result<u64, DbErr> {
    let needle = lead_id.as_bytes().to_vec();
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => "DELETE FROM idempotency_key WHERE position($1::bytea in response) > 0",
        DatabaseBackend::Sqlite => "DELETE FROM idempotency_key WHERE instr(response, ?) > 0",
        DatabaseBackend::MySql => "DELETE FROM idempotency_key WHERE instr(response, ?) > 0",
    };
    let result = db.execute(Statement::from_sql_and_values(backend, sql, [needle.into()])).await?;
    Ok(result.rows_affected())
}

/// Rewrites the payload of every outbox row about `lead_id`, pending or parked, with
/// `scrub`, which returns the payload without personal data or `None` when it has none to
/// remove. The rows keep their place in the delivery order, so the consumer still receives
/// every event, only without the erased values. Returns how many rows were rewritten.
pub async fn scrub_outbox<C, F>(db: &C, lead_id: &str, scrub: F) -> Result<u64, DbErr>
where
    C: ConnectionTrait,
    F: Fn(&[u8]) -> Option<Vec<u8>>,
{
    let rows = outbox::Entity::find()
        .filter(outbox::Column::LeadId.eq(lead_id))
        .order_by_asc(outbox::Column::Seq)
        .all(db)
        .await?;

    let mut rewritten = 0;
    for row in rows {
        let Some(payload) = scrub(&row.payload) else {
            continue;
        };
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Payload, Expr::value(payload))
            .filter(outbox::Column::Seq.eq(row.seq))
            .exec(db)
            .await?;
        rewritten += 1;
    }
    Ok(rewritten)
}
