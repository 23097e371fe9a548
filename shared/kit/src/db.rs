//! Database connections chosen by URL: `sqlite://PATH` (the embedded default) or
//! `postgres://…` (production).
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so a committed transaction survives a
//! crash. The pool holds one connection, which serialises every statement of the process;
//! concurrent requests queue for it instead of failing with "database is locked".

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, SqlxPostgresConnector, SqlxSqliteConnector};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Time a request waits for a pooled connection before it fails with UNAVAILABLE.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
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
        .acquire_timeout(ACQUIRE_TIMEOUT)
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
        | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(sqlx_error)) => matches!(
            sqlx_error,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        ),
        _ => false,
    }
}

/// Returns true when the connection is PostgreSQL.
pub fn is_postgres(db: &impl sea_orm::ConnectionTrait) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_password() {
        assert_eq!(redact("postgres://app:secret@db:5432/x"), "postgres://app:***@db:5432/x");
        assert_eq!(redact("sqlite://data/a.db"), "sqlite://data/a.db");
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
