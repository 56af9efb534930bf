//! Settings from the environment, with defaults that run on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use obs_axum::TrustedProxies;
use obs_core::config::{
    OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
};

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
    /// The page's browser bundles and where its spans go.
    pub frontend: Frontend,
}

/// `FRONTEND_DIR`: see [`Frontend::dir`].
pub const FRONTEND_DIR: &str = "FRONTEND_DIR";

/// `RUM_OTLP_ENDPOINT`: see [`BrowserSpans`].
pub const RUM_OTLP_ENDPOINT: &str = "RUM_OTLP_ENDPOINT";

/// The page at `/` and what its browsers report.
#[derive(Debug, Clone)]
pub struct Frontend {
    /// `FRONTEND_DIR`: the directory whose `node_modules` holds the Faro bundles `/vendor/`
    /// serves; default: the example's `frontend/` in the source tree it was built from.
    pub dir: PathBuf,
    /// Where the RUM receiver sends the browsers' spans.
    pub spans: BrowserSpans,
}

impl Default for Frontend {
    fn default() -> Self {
        Frontend {
            dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/frontend")),
            spans: BrowserSpans::NotForwarded,
        }
    }
}

/// Where browser spans go: `RUM_OTLP_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` when the
/// service's own spans go over HTTP too (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`). The
/// forwarder posts OTLP/JSON to `<endpoint>/v1/traces`, which a gRPC port does not answer, so
/// with a gRPC exporter browser spans are forwarded only to `RUM_OTLP_ENDPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserSpans {
    /// Posted to this OTLP/HTTP base URL.
    ForwardedTo(String),
    /// Counted and dropped by the receiver: no OTLP endpoint is set.
    NotForwarded,
    /// Counted and dropped by the receiver: the service's own spans go to a gRPC endpoint,
    /// which the forwarder cannot post to, and `RUM_OTLP_ENDPOINT` is not set.
    NotForwardedOverGrpc,
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
    fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let d = Limits::default();
        let trusted_proxies = match vars.get("TRUSTED_PROXIES") {
            None => d.trusted_proxies,
            Some(value) => value.parse().map_err(|_| ConfigError {
                name: "TRUSTED_PROXIES",
                value,
                reason: "expected IP addresses and CIDR networks, e.g. 10.0.0.0/8, 127.0.0.1",
            })?,
        };
        let positive = |name: &'static str, default: u64, reason: &'static str| {
            let value: u64 = vars.parse(name, default, reason)?;
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
            password_hash_wait: Duration::from_millis(vars.parse(
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
            shutdown_timeout: Duration::from_secs(vars.parse(
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

/// The variables settings are read from: the process environment, or a table in tests.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// The value of `name`, trimmed; `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    fn parse<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
        reason: &'static str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| ConfigError {
                name,
                value,
                reason,
            }),
        }
    }
}

impl Config {
    /// Reads the environment.
    ///
    /// # Errors
    /// A variable holds a value that does not parse; the error names it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&Vars(&|name| std::env::var(name).ok()))
    }

    fn from_vars(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        let data_dir = vars
            .get("DATA_DIR")
            .map_or_else(|| PathBuf::from("data"), PathBuf::from);
        let database_url = vars
            .get("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("todo.db").display()));
        let error_rate: f64 =
            vars.parse("CHAOS_ERROR_RATE", 0.0, "expected a number from 0 to 1")?;
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(ConfigError {
                name: "CHAOS_ERROR_RATE",
                value: error_rate.to_string(),
                reason: "expected a number from 0 to 1",
            });
        }
        Ok(Config {
            listen: vars.parse(
                "LISTEN_ADDR",
                SocketAddr::from(([0, 0, 0, 0], 8080)),
                "expected host:port",
            )?,
            database_url,
            redis_url: vars.get("REDIS_URL"),
            instance_id: vars.get("INSTANCE_ID"),
            session_ttl: Duration::from_secs(vars.parse(
                "SESSION_TTL_SECONDS",
                7 * 24 * 3600,
                "expected seconds",
            )?),
            business_metrics_interval: Duration::from_secs(
                vars.parse("BUSINESS_METRICS_INTERVAL", 30u64, "expected seconds")?
                    .max(1),
            ),
            chaos_token: vars.get("CHAOS_ADMIN_TOKEN"),
            chaos: ChaosSettings {
                error_rate,
                latency_ms: vars.parse("CHAOS_LATENCY_MS", 0, "expected milliseconds")?,
                slow_query_ms: vars.parse("CHAOS_SLOW_QUERY_MS", 0, "expected milliseconds")?,
            },
            db_max_connections: vars.parse("DB_MAX_CONNECTIONS", 10, "expected a count")?,
            instrumentation_off: vars.parse("OBS_DISABLE", false, "expected true or false")?,
            limits: Limits::from_vars(vars)?,
            frontend: Frontend::from_vars(vars),
        })
    }

    /// Whether the database is SQLite (else PostgreSQL).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

impl Frontend {
    fn from_vars(vars: &Vars<'_>) -> Self {
        let default = Frontend::default();
        Frontend {
            dir: vars.get(FRONTEND_DIR).map_or(default.dir, PathBuf::from),
            spans: BrowserSpans::from_vars(vars),
        }
    }
}

impl BrowserSpans {
    fn from_vars(vars: &Vars<'_>) -> Self {
        if let Some(endpoint) = vars.get(RUM_OTLP_ENDPOINT) {
            return BrowserSpans::ForwardedTo(endpoint);
        }
        let Some(endpoint) = vars.get(OTEL_EXPORTER_OTLP_ENDPOINT) else {
            return BrowserSpans::NotForwarded;
        };
        let protocol = vars
            .get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL)
            .or_else(|| vars.get(OTEL_EXPORTER_OTLP_PROTOCOL));
        if protocol.as_deref() == Some("http/protobuf") {
            BrowserSpans::ForwardedTo(endpoint)
        } else {
            BrowserSpans::NotForwardedOverGrpc
        }
    }

    /// The endpoint spans are forwarded to, if any.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            BrowserSpans::ForwardedTo(endpoint) => Some(endpoint),
            BrowserSpans::NotForwarded | BrowserSpans::NotForwardedOverGrpc => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(&Vars(&|name| vars.get(name).cloned()))
    }

    fn spans(vars: &[(&str, &str)]) -> BrowserSpans {
        config(vars).map(|c| c.frontend.spans).unwrap()
    }

    #[test]
    fn an_empty_environment_runs_on_sqlite_with_the_layer() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen, SocketAddr::from(([0, 0, 0, 0], 8080)));
        assert_eq!(c.database_url, "sqlite://data/todo.db?mode=rwc");
        assert!(c.is_sqlite());
        assert_eq!(c.redis_url, None);
        assert!(!c.instrumentation_off);
        assert_eq!(c.session_ttl, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(c.limits.logins_per_client, 600);
        assert_eq!(c.frontend.dir, Frontend::default().dir);
        assert!(c.frontend.dir.ends_with("todo-backend/frontend"));
        assert_eq!(c.frontend.spans, BrowserSpans::NotForwarded);
    }

    #[test]
    fn values_are_trimmed_and_blank_ones_are_unset() {
        let c = config(&[
            ("DATA_DIR", "/srv/todo"),
            ("REDIS_URL", "  "),
            ("OBS_DISABLE", " true "),
            ("LOGIN_LIMIT_PER_CLIENT", " 5"),
            ("FRONTEND_DIR", "/opt/frontend"),
        ])
        .unwrap();
        assert_eq!(c.database_url, "sqlite:///srv/todo/todo.db?mode=rwc");
        assert_eq!(c.redis_url, None);
        assert!(c.instrumentation_off);
        assert_eq!(c.limits.logins_per_client, 5);
        assert_eq!(c.frontend.dir, PathBuf::from("/opt/frontend"));
    }

    #[test]
    fn a_bad_value_is_refused_with_its_name() {
        for (name, value) in [
            ("LISTEN_ADDR", "localhost"),
            ("CHAOS_ERROR_RATE", "1.5"),
            ("OBS_DISABLE", "yes"),
            ("TRUSTED_PROXIES", "the proxy"),
            ("SIGNUP_LIMIT_PER_CLIENT", "0"),
            ("HEADER_READ_TIMEOUT_SECONDS", "0"),
        ] {
            let error = config(&[(name, value)]).unwrap_err().to_string();
            assert!(error.starts_with(&format!("invalid {name}=")), "{error}");
        }
    }

    #[test]
    fn browser_spans_go_to_rum_otlp_endpoint_first() {
        assert_eq!(
            spans(&[
                (RUM_OTLP_ENDPOINT, "http://jaeger:4318"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317"),
            ]),
            BrowserSpans::ForwardedTo("http://jaeger:4318".into())
        );
    }

    #[test]
    fn browser_spans_follow_an_http_exporter_only() {
        let endpoint = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318");
        assert_eq!(
            spans(&[endpoint, (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf")]),
            BrowserSpans::ForwardedTo("http://collector:4318".into())
        );
        assert_eq!(spans(&[endpoint]), BrowserSpans::NotForwardedOverGrpc);
        assert_eq!(
            spans(&[endpoint, (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")]),
            BrowserSpans::NotForwardedOverGrpc
        );
        // The traces protocol wins over the general one, either way.
        assert_eq!(
            spans(&[
                endpoint,
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, "http/protobuf"),
            ]),
            BrowserSpans::ForwardedTo("http://collector:4318".into())
        );
        assert_eq!(
            spans(&[
                endpoint,
                (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
                (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, "grpc"),
            ]),
            BrowserSpans::NotForwardedOverGrpc
        );
        assert_eq!(spans(&[]).endpoint(), None);
    }
}
