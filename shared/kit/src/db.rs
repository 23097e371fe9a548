//! Database connections chosen by URL: `sqlite://PATH` (the embedded default) or
//! `postgres://…` (production).
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so a committed transaction survives a
//! crash. The pool has one connection, which serialises every statement of the process;
//! concurrent requests queue for it instead of failing with "database is locked".

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, SqlxPostgresConnector, SqlxSqliteConnector};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Time a request waits for a pooled PostgreSQL connection before it fails with UNAVAILABLE.
/// It is short so that callers fail fast while the database is unreachable and retry with
/// backoff.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a request waits for the one SQLite connection. Waiting there only means that other
/// requests hold it, for example a large import, so the wait is longer than on PostgreSQL.
pub const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per service on PostgreSQL.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// Opens a connection pool for `url`, creating the SQLite file and its folder when missing.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    if url.starts_with("sqlite:") {
        connect_sqlite(url).await
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        connect_postgres(url).await
    } else {
        anyhow::bail!(
            "unsupported database URL scheme in {:?}; use sqlite://PATH or postgres://USER@HOST/DB",
            redact(url)
        )
    }
}

async fn connect_sqlite(url: &str) -> anyhow::Result<DatabaseConnection> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("failed to parse SQLite URL {url}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);

    if let Some(parent) = options.get_filename().parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create database folder {}", parent.display()))?;
        }
    }

    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .with_context(|| format!("failed to open SQLite database {url}"))?;

    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

async fn connect_postgres(url: &str) -> anyhow::Result<DatabaseConnection> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("failed to parse PostgreSQL URL {}", redact(url)))?;

    let pool = PgPoolOptions::new()
        .max_connections(POSTGRES_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .with_context(|| format!("failed to connect to PostgreSQL at {}", redact(url)))?;

    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}

/// Replaces the password of a database URL with `***` for logs and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Returns true when an error means the database could not be reached, as opposed to a
/// query that failed; such errors become UNAVAILABLE with a retry delay.
pub fn is_connection_error(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(sqlx_error))
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx_error)) => is_sqlx_connection_error(sqlx_error),
        _ => false,
    }
}

/// Returns true for sqlx errors of a lost or refused connection, including the PostgreSQL
/// errors a server sends when it ends or refuses a session.
fn is_sqlx_connection_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database_error) => {
            if let Some(sqlite) = database_error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                let code = sqlx::error::DatabaseError::code(sqlite);
                return code.and_then(|code| code.parse::<i32>().ok()).is_some_and(is_sqlite_busy);
            }
            database_error.code().is_some_and(|code| is_postgres_connection_state(&code))
        }
        _ => false,
    }
}

/// Returns true for PostgreSQL SQLSTATE codes that mean the session is gone or cannot start:
/// class 08 (connection exception), 57P01 `admin_shutdown` ("terminating connection due to
/// administrator command", sent by `pg_terminate_backend` and a fast shutdown), 57P02
/// `crash_shutdown`, 57P03 `cannot_connect_now` and 53300 `too_many_connections`.
pub fn is_postgres_connection_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// Returns true for SQLite result codes that mean another connection has locked the database:
/// SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended codes. Within one process the
/// pool serialises all statements, so these come from another process on the same file, and
/// a retry can succeed once it lets go.
pub fn is_sqlite_busy(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6)
}

/// Returns true when the connection is PostgreSQL.
pub fn is_postgres(db: &impl sea_orm::ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_codes_are_retryable() {
        for code in [5, 6, 261, 262, 517] {
            assert!(is_sqlite_busy(code), "{code} is a busy or locked code");
        }
        assert!(!is_sqlite_busy(19), "a constraint violation is not");
    }

    #[test]
    fn redact_hides_password() {
        assert_eq!(redact("postgres://app:secret@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(redact("sqlite://data/a.db"), "sqlite://data/a.db");
    }

    #[test]
    fn postgres_session_errors_are_connection_errors() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_postgres_connection_state(code), "{code} is a connection state");
        }
        for code in ["23505", "40001", "42P01", "55000"] {
            assert!(!is_postgres_connection_state(code), "{code} is not a connection state");
        }
    }

    #[test]
    fn lost_connection_maps_to_connection_error() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let error = DbErr::Query(sea_orm::RuntimeErr::SqlxError(sqlx::Error::Io(io)));
        assert!(is_connection_error(&error));
        let error = DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx::Error::PoolTimedOut));
        assert!(is_connection_error(&error));
        let error = DbErr::Custom("bad query".to_owned());
        assert!(!is_connection_error(&error));
    }

    #[tokio::test]
    async fn sqlite_file_and_folder_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/service.db");
        let url = format!("sqlite://{}", path.display());
        let db = connect(&url).await.unwrap();
        db.ping().await.unwrap();
        assert!(path.exists());
    }
}

/// Maximum number of rows in one multi-row INSERT. With at most 32 columns a statement then binds fewer
/// than 32 766 values, SQLite's limit since 3.32 (PostgreSQL allows 65 535).
pub const MAX_ROWS_PER_INSERT: usize = 1000;

/// Inserts `rows` with as few multi-row INSERT statements as [`MAX_ROWS_PER_INSERT`] allows,
/// in the order given.
pub async fn insert_rows<A, C>(db: &C, rows: impl IntoIterator<Item = A>) -> Result<(), sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait,
    <A::Entity as sea_orm::EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    C: sea_orm::ConnectionTrait,
{
    insert_in_chunks(db, rows, None).await
}

/// Inserts `rows` as [`insert_rows`] does, and where a row's key is taken, updates the columns
/// that `on_conflict` names instead. No two rows may share a key, because PostgreSQL rejects a
/// statement that updates one row twice.
pub async fn upsert_rows<A, C>(
    db: &C,
    rows: impl IntoIterator<Item = A>,
    on_conflict: sea_orm::sea_query::OnConflict,
) -> Result<(), sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait,
    <A::Entity as sea_orm::EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    C: sea_orm::ConnectionTrait,
{
    insert_in_chunks(db, rows, Some(on_conflict)).await
}

async fn insert_in_chunks<A, C>(
    db: &C,
    rows: impl IntoIterator<Item = A>,
    on_conflict: Option<sea_orm::sea_query::OnConflict>,
) -> Result<(), sea_orm::DbErr>
where
    A: sea_orm::ActiveModelTrait,
    <A::Entity as sea_orm::EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    C: sea_orm::ConnectionTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(MAX_ROWS_PER_INSERT).collect();
        let mut insert = <A::Entity as sea_orm::EntityTrait>::insert_many(chunk);
        if let Some(on_conflict) = &on_conflict {
            insert = insert.on_conflict(on_conflict.clone());
        }
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}
