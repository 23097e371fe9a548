//! Fresh databases for storage tests: a SQLite file in a temporary folder always, and a new
//! PostgreSQL database when `LEADFLOW_TEST_DATABASE_URL` names a server.

use sqlx::Connection;

/// Environment variable with the PostgreSQL server URL for storage tests.
pub const DATABASE_URL_VAR: &str = "LEADFLOW_TEST_DATABASE_URL";

/// A database created for one test; [`TestDatabase::drop_database`] removes it.
pub struct TestDatabase {
    /// Connection URL of the database.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    server: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates a SQLite database file named `name` in a new temporary folder.
    pub fn sqlite(name: &str) -> TestDatabase {
        let dir = tempfile::tempdir().expect("temporary folder");
        let url = format!("sqlite://{}", dir.path().join(format!("{name}.db")).display());
        TestDatabase { url, backend: "sqlite", server: None, _dir: Some(dir) }
    }

    /// Creates a PostgreSQL database named after `name` on `server`.
    pub async fn postgres(server: &str, name: &str) -> TestDatabase {
        let database = format!("lf_{name}_{}", uuid::Uuid::now_v7().simple());
        let mut connection = sqlx::PgConnection::connect(server).await.expect("connect to the PostgreSQL test server");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut connection)
            .await
            .expect("create test database");
        TestDatabase {
            url: database_url(server, &database),
            backend: "postgres",
            server: Some((server.to_owned(), database)),
            _dir: None,
        }
    }

    /// Drops a PostgreSQL database; a SQLite folder goes with the value.
    pub async fn drop_database(self) {
        if let Some((server, database)) = &self.server {
            if let Ok(mut connection) = sqlx::PgConnection::connect(server).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")).execute(&mut connection).await;
            }
        }
    }
}

/// Returns one fresh database per configured backend: SQLite always, PostgreSQL when
/// `LEADFLOW_TEST_DATABASE_URL` is set.
pub async fn databases(name: &str) -> Vec<TestDatabase> {
    let mut databases = vec![TestDatabase::sqlite(name)];
    match std::env::var(DATABASE_URL_VAR) {
        Ok(server) if !server.is_empty() => databases.push(TestDatabase::postgres(&server, name).await),
        _ => eprintln!("{DATABASE_URL_VAR} is not set; storage tests run on SQLite only"),
    }
    databases
}

/// Returns the PostgreSQL server URL of a test that only PostgreSQL can run, or prints why
/// the test is skipped and returns `None` when `LEADFLOW_TEST_DATABASE_URL` is not set.
pub fn postgres_server(reason: &str) -> Option<String> {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(server) if !server.is_empty() => Some(server),
        _ => {
            eprintln!("{DATABASE_URL_VAR} is not set; skipping, because {reason}");
            None
        }
    }
}

/// Replaces the database name of a PostgreSQL URL, keeping its query string.
pub fn database_url(server: &str, database: &str) -> String {
    let (without_query, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let scheme_end = without_query.find("://").map(|index| index + 3).unwrap_or(0);
    let base = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_path() {
        assert_eq!(database_url("postgres://postgres@127.0.0.1:5432/postgres", "x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(database_url("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(database_url("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
