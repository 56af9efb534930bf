//! Settings from the environment, with defaults that run on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::chaos::ChaosSettings;

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `LISTEN_ADDR`, default `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// `DATABASE_URL`; default: a SQLite file under `DATA_DIR`.
    pub database_url: String,
    /// `REDIS_URL`; without it sessions, rate limits and events stay in-process / in SQL.
    pub redis_url: Option<String>,
    /// `INSTANCE_ID`: the instance name in metrics, logs and traces.
    pub instance_id: Option<String>,
    /// `SESSION_TTL_SECONDS`, default 7 days.
    pub session_ttl: Duration,
    /// `BUSINESS_METRICS_INTERVAL` in seconds, default 30.
    pub business_metrics_interval: Duration,
    /// `CHAOS_ADMIN_TOKEN`: enables `/admin/chaos` when set.
    pub chaos_token: Option<String>,
    /// Faults active from the start: `CHAOS_ERROR_RATE`, `CHAOS_LATENCY_MS`,
    /// `CHAOS_SLOW_QUERY_MS`.
    pub chaos: ChaosSettings,
    /// `DB_MAX_CONNECTIONS`, default 10.
    pub db_max_connections: u32,
    /// `OBS_DISABLE`: `true` serves without the HTTP layer, to measure what it costs.
    pub instrumentation_off: bool,
}

/// A setting that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}={value:?}: {reason}")]
pub struct ConfigError {
    name: &'static str,
    value: String,
    reason: &'static str,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(
    name: &'static str,
    default: T,
    reason: &'static str,
) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| ConfigError {
            name,
            value,
            reason,
        }),
    }
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    /// A variable holds a value that does not parse; the error names it.
    pub fn from_env() -> Result<Self, ConfigError> {
        let data_dir = var("DATA_DIR").map_or_else(|| PathBuf::from("data"), PathBuf::from);
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("todo.db").display()));
        let error_rate: f64 = parse("CHAOS_ERROR_RATE", 0.0, "expected a number from 0 to 1")?;
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(ConfigError {
                name: "CHAOS_ERROR_RATE",
                value: error_rate.to_string(),
                reason: "expected a number from 0 to 1",
            });
        }
        Ok(Config {
            listen: parse(
                "LISTEN_ADDR",
                SocketAddr::from(([0, 0, 0, 0], 8080)),
                "expected host:port",
            )?,
            database_url,
            redis_url: var("REDIS_URL"),
            instance_id: var("INSTANCE_ID"),
            session_ttl: Duration::from_secs(parse(
                "SESSION_TTL_SECONDS",
                7 * 24 * 3600,
                "expected seconds",
            )?),
            business_metrics_interval: Duration::from_secs(
                parse("BUSINESS_METRICS_INTERVAL", 30u64, "expected seconds")?.max(1),
            ),
            chaos_token: var("CHAOS_ADMIN_TOKEN"),
            chaos: ChaosSettings {
                error_rate,
                latency_ms: parse("CHAOS_LATENCY_MS", 0, "expected milliseconds")?,
                slow_query_ms: parse("CHAOS_SLOW_QUERY_MS", 0, "expected milliseconds")?,
            },
            db_max_connections: parse("DB_MAX_CONNECTIONS", 10, "expected a count")?,
            instrumentation_off: parse("OBS_DISABLE", false, "expected true or false")?,
        })
    }

    /// Whether the database is SQLite (else PostgreSQL).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}
