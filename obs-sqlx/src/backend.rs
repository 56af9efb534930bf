//! What obs-sqlx knows about each sqlx driver: its `db.system.name`, rows affected, and where
//! it connects to.

use std::any::Any;

use obs_core::names::{
    DB_SYSTEM_MYSQL, DB_SYSTEM_OTHER_SQL, DB_SYSTEM_POSTGRESQL, DB_SYSTEM_SQLITE,
};
use sqlx::{Database, Pool};

/// The `db_system_name` of `DB`, from the driver's own name.
pub(crate) fn system_name<DB: Database>() -> &'static str {
    match DB::NAME {
        "PostgreSQL" => DB_SYSTEM_POSTGRESQL,
        "SQLite" => DB_SYSTEM_SQLITE,
        "MySQL" => DB_SYSTEM_MYSQL,
        _ => DB_SYSTEM_OTHER_SQL,
    }
}

/// Whether `"…"` is a string literal rather than an identifier in this system's SQL.
pub(crate) fn double_quoted_strings(system: &str) -> bool {
    system == DB_SYSTEM_MYSQL
}

/// The rows a statement changed, for the drivers compiled in.
///
/// sqlx has no driver-independent accessor, so this looks at the concrete result types of the
/// enabled features; other drivers report none.
pub(crate) fn rows_affected<DB: Database>(result: &DB::QueryResult) -> Option<u64> {
    let any: &dyn Any = result;
    #[cfg(feature = "postgres")]
    if let Some(r) = any.downcast_ref::<sqlx::postgres::PgQueryResult>() {
        return Some(r.rows_affected());
    }
    #[cfg(feature = "sqlite")]
    if let Some(r) = any.downcast_ref::<sqlx::sqlite::SqliteQueryResult>() {
        return Some(r.rows_affected());
    }
    #[cfg(feature = "mysql")]
    if let Some(r) = any.downcast_ref::<sqlx::mysql::MySqlQueryResult>() {
        return Some(r.rows_affected());
    }
    let _ = any;
    None
}

/// Where a pool connects: `db.namespace`, `server.address`, `server.port`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoint {
    pub(crate) namespace: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) port: Option<u16>,
}

/// The endpoint of `pool`, read from its connect options for the drivers compiled in.
pub(crate) fn endpoint<DB: Database>(pool: &Pool<DB>) -> Endpoint {
    let options = pool.connect_options();
    let any: &dyn Any = &*options;
    #[cfg(feature = "postgres")]
    if let Some(o) = any.downcast_ref::<sqlx::postgres::PgConnectOptions>() {
        return Endpoint {
            namespace: o.get_database().map(str::to_owned),
            address: Some(o.get_host().to_owned()),
            port: Some(o.get_port()),
        };
    }
    #[cfg(feature = "mysql")]
    if let Some(o) = any.downcast_ref::<sqlx::mysql::MySqlConnectOptions>() {
        return Endpoint {
            namespace: o.get_database().map(str::to_owned),
            address: Some(o.get_host().to_owned()),
            port: Some(o.get_port()),
        };
    }
    #[cfg(feature = "sqlite")]
    if let Some(o) = any.downcast_ref::<sqlx::sqlite::SqliteConnectOptions>() {
        return Endpoint {
            namespace: Some(o.get_filename().to_string_lossy().into_owned()),
            address: None,
            port: None,
        };
    }
    let _ = any;
    Endpoint::default()
}
