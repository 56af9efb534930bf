//! A PostgreSQL database of its own on the local server.

use sqlx::Connection;

use crate::{require, unique};

/// The local PostgreSQL server's maintenance database (trust authentication), from which test
/// databases are created and dropped.
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database of its own on the local PostgreSQL, created by [`PgDatabase::create`] and dropped
/// (with any connections still open to it) when the value is.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    /// Creates an empty database named after `prefix` (see [`unique`]); `None`, reported through
    /// [`require`] (a failure under `OBS_TEST_REQUIRE=1`), when PostgreSQL does not answer at
    /// [`PG_ADMIN_URL`] or refuses to create it.
    pub async fn create(prefix: &str) -> Option<Self> {
        let mut admin = match sqlx::PgConnection::connect(PG_ADMIN_URL).await {
            Ok(admin) => admin,
            Err(e) => {
                require(format!(
                    "PostgreSQL is not answering at {PG_ADMIN_URL}: {e}"
                ));
                return None;
            }
        };
        let name = unique(prefix);
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
        {
            require(format!("cannot create PostgreSQL database {name}: {e}"));
            return None;
        }
        let _ = admin.close().await;
        Some(PgDatabase {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database now, closing the connections still open to it, as an operator (or an
    /// outage) would under a running service.
    ///
    /// # Errors
    /// When PostgreSQL does not answer or refuses.
    pub async fn drop_now(&self) -> Result<(), sqlx::Error> {
        let mut admin = sqlx::PgConnection::connect(PG_ADMIN_URL).await?;
        sqlx::query(sqlx::AssertSqlSafe(self.drop_statement()))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }

    fn drop_statement(&self) -> String {
        format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
    }
}

impl Drop for PgDatabase {
    /// Best effort, through `psql` (a destructor cannot wait on a connection): a database left
    /// behind is harmless, its name is never used again.
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc"])
            .arg(self.drop_statement())
            .output();
    }
}
