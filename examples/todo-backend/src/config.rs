//! Settings from the environment, with defaults that run on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use obs_axum::TrustedProxies;

use crate::chaos::ChaosSettings;
use crate::hashing;

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
    /// What protects the service from hostile clients.
    pub limits: Limits,
}

/// Trust, rate limits, the password hashing budget and shutdown timing.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `TRUSTED_PROXIES`: addresses and CIDR networks whose `X-Forwarded-For` is believed;
    /// default none (the client is the TCP peer).
    pub trusted_proxies: TrustedProxies,
    /// `PASSWORD_HASH_MEMORY_MIB`: memory for concurrent argon2id hashes, default 128
    /// (6 at once; 19 MiB each).
    pub password_hash_memory_mib: u64,
    /// `PASSWORD_HASH_WAIT_MS`: how long a request waits for a hashing slot before 503,
    /// default 2000.
    pub password_hash_wait: Duration,
    /// `LOGIN_LIMIT_PER_CLIENT`: login attempts per client address per minute, default 600.
    pub logins_per_client: u64,
    /// `SIGNUP_LIMIT_PER_CLIENT`: signups per client address per hour, default 100.
    pub signups_per_client: u64,
    /// `SHUTDOWN_TIMEOUT_SECONDS`: after SIGTERM, how long open requests may finish before
    /// their connections are dropped and telemetry is flushed, default 8.
    pub shutdown_timeout: Duration,
    /// `HEADER_READ_TIMEOUT_SECONDS`: how long a client may take to send a request's
    /// headers, default 10.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            trusted_proxies: TrustedProxies::none(),
            password_hash_memory_mib: hashing::DEFAULT_MEMORY_BUDGET_MIB,
            password_hash_wait: hashing::DEFAULT_WAIT,
            logins_per_client: 600,
            signups_per_client: 100,
            shutdown_timeout: Duration::from_secs(8),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    fn from_env() -> Result<Self, ConfigError> {
        let d = Limits::default();
        let trusted_proxies = match var("TRUSTED_PROXIES") {
            None => d.trusted_proxies,
            Some(value) => value.parse().map_err(|_| ConfigError {
                name: "TRUSTED_PROXIES",
                value,
                reason: "expected IP addresses and CIDR networks, e.g. 10.0.0.0/8, 127.0.0.1",
            })?,
        };
        let positive = |name: &'static str, default: u64, reason: &'static str| {
            let value: u64 = parse(name, default, reason)?;
            if value == 0 {
                return Err(ConfigError {
                    name,
                    value: value.to_string(),
                    reason,
                });
            }
            Ok(value)
        };
        Ok(Limits {
            trusted_proxies,
            password_hash_memory_mib: positive(
                "PASSWORD_HASH_MEMORY_MIB",
                d.password_hash_memory_mib,
                "expected MiB, at least 1",
            )?,
            password_hash_wait: Duration::from_millis(parse(
                "PASSWORD_HASH_WAIT_MS",
                2000,
                "expected milliseconds",
            )?),
            logins_per_client: positive(
                "LOGIN_LIMIT_PER_CLIENT",
                d.logins_per_client,
                "expected attempts per minute, at least 1",
            )?,
            signups_per_client: positive(
                "SIGNUP_LIMIT_PER_CLIENT",
                d.signups_per_client,
                "expected signups per hour, at least 1",
            )?,
            shutdown_timeout: Duration::from_secs(parse(
                "SHUTDOWN_TIMEOUT_SECONDS",
                8,
                "expected seconds",
            )?),
            header_read_timeout: Duration::from_secs(positive(
                "HEADER_READ_TIMEOUT_SECONDS",
                10,
                "expected seconds, at least 1",
            )?),
        })
    }
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
            limits: Limits::from_env()?,
        })
    }

    /// Whether the database is SQLite (else PostgreSQL).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}
