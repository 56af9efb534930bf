//! A harness that runs the real stack on free loopback ports: the example service (several
//! instances), Caddy in front of them with the Caddyfile from `monitoring/`, and the exporters,
//! over PostgreSQL and Redis databases of the test's own ([`obs_testkit::PgDatabase`],
//! [`obs_testkit::fresh_redis_db`]). Every process is killed when the harness is
//! dropped.
//!
//! Missing binaries or services skip the test on a laptop and fail it under
//! `OBS_TEST_REQUIRE=1` (see [`obs_testkit::require`]).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use obs_testkit::unique;
use tokio::process::{Child, Command};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// The example service binary, built by `cargo test --workspace` (or `cargo build -p
/// todo-backend`) next to the test executables.
pub fn todo_backend_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> -> target/<profile>/todo-backend
    let profile_dir = exe.parent()?.parent()?;
    let candidate = profile_dir.join("todo-backend");
    candidate.is_file().then_some(candidate)
}

/// A running child process, killed on drop, with its output kept in a log file.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program` with `args` and `env`, logging to a temporary file.
    ///
    /// # Errors
    /// When the program cannot be started.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &BTreeMap<String, String>,
    ) -> std::io::Result<Self> {
        let log = std::env::temp_dir().join(format!("{}.log", unique(name)));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(program)
            .args(args)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process now (SIGKILL), as a crash or `docker kill` would.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Node.js, npm and Chromium (`CHROMIUM` overrides where it is), for the tests that drive the
/// example page in a browser.
#[derive(Debug)]
pub struct BrowserTools {
    /// `node`.
    pub node: PathBuf,
    /// `npm`.
    pub npm: PathBuf,
    /// The Chromium binary.
    pub chromium: PathBuf,
}

impl BrowserTools {
    /// Finds all three and runs `npm ci` where `node_modules` is missing (`tests/browser`, the
    /// drivers; `examples/todo-backend/frontend`, the Faro SDK the page loads); `None`
    /// (reported through [`obs_testkit::require`]) when something is missing or fails.
    pub async fn ready() -> Option<Self> {
        let Some(node) = obs_testkit::binary("node") else {
            obs_testkit::require("node is not installed (Debian package `nodejs`)");
            return None;
        };
        let Some(npm) = obs_testkit::binary("npm") else {
            obs_testkit::require("npm is not installed (Debian package `npm`)");
            return None;
        };
        let chromium = std::env::var_os("CHROMIUM")
            .map(PathBuf::from)
            .or_else(|| obs_testkit::binary("chromium"));
        let Some(chromium) = chromium.filter(|p| p.is_file()) else {
            obs_testkit::require("chromium is not installed (Debian package `chromium`)");
            return None;
        };
        for dir in ["tests/browser", "examples/todo-backend/frontend"] {
            if !npm_ci(&npm, &repo_root().join(dir)).await {
                return None;
            }
        }
        Some(BrowserTools {
            node,
            npm,
            chromium,
        })
    }
}

/// `npm ci` in `dir` when its `node_modules` is missing; false (reported) when that fails.
async fn npm_ci(npm: &Path, dir: &Path) -> bool {
    if dir.join("node_modules").is_dir() {
        return true;
    }
    let output = tokio::process::Command::new(npm)
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .await;
    match output {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            obs_testkit::require(format!(
                "`npm ci` failed in {}: {}",
                dir.display(),
                String::from_utf8_lossy(&o.stderr)
            ));
            false
        }
        Err(error) => {
            obs_testkit::require(format!("cannot run npm: {error}"));
            false
        }
    }
}

/// Polls `url` until it answers 2xx or `timeout` passes.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(res) = client.get(url).send().await
            && res.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// What the example instances are configured with.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `REDIS_URL`.
    pub redis_url: Option<String>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: Option<String>,
    /// `CHAOS_ADMIN_TOKEN`.
    pub chaos_token: Option<String>,
    /// More variables.
    pub extra_env: BTreeMap<String, String>,
}

/// The example service behind Caddy.
#[derive(Debug)]
pub struct Stack {
    /// The instances, with their ports.
    pub backends: Vec<(Process, u16)>,
    /// Caddy.
    pub caddy: Process,
    /// Caddy's public URL.
    pub url: String,
    /// Caddy's admin URL (metrics on `/metrics`).
    pub caddy_admin: String,
    backend_bin: PathBuf,
    backend_envs: Vec<BTreeMap<String, String>>,
    /// Each backend's memory cgroup, as compose gives each container its limit; `None` where
    /// this machine cannot create one. Dropped after the processes.
    memory_limits: Vec<Option<obs_testkit::MemoryCgroup>>,
}

impl Stack {
    /// Starts `instances` backends and Caddy in front, waiting until all answer. `None` when a
    /// binary is missing (and not required).
    ///
    /// # Panics
    /// When a process starts but does not become healthy: its output is in the message.
    pub async fn start(instances: usize, options: &BackendOptions) -> Option<Stack> {
        let Some(backend_bin) = todo_backend_binary() else {
            obs_testkit::require(
                "the todo-backend binary is not built (run `cargo build -p todo-backend`)",
            );
            return None;
        };
        let Some(caddy_bin) = obs_testkit::binary("caddy") else {
            obs_testkit::require("caddy is not installed (Debian package `caddy`)");
            return None;
        };
        let mut backends = Vec::new();
        let mut backend_envs = Vec::new();
        let mut memory_limits = Vec::new();
        for i in 1..=instances {
            let port = free_port();
            let mut env = BTreeMap::from([
                ("LISTEN_ADDR".to_owned(), format!("127.0.0.1:{port}")),
                ("DATABASE_URL".to_owned(), options.database_url.clone()),
                ("INSTANCE_ID".to_owned(), format!("backend-{i}")),
                ("OBS_LOG_FORMAT".to_owned(), "json".to_owned()),
                ("RUST_LOG".to_owned(), "info".to_owned()),
                ("BUSINESS_METRICS_INTERVAL".to_owned(), "2".to_owned()),
            ]);
            if let Some(url) = &options.redis_url {
                env.insert("REDIS_URL".into(), url.clone());
            }
            if let Some(endpoint) = &options.otlp_endpoint {
                env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.clone());
            }
            if let Some(token) = &options.chaos_token {
                env.insert("CHAOS_ADMIN_TOKEN".into(), token.clone());
            }
            env.extend(options.extra_env.clone());
            let name = format!("backend-{i}");
            let cgroup = obs_testkit::MemoryCgroup::create(&unique(&name), BACKEND_MEMORY_LIMIT);
            let process = spawn_backend(&name, &backend_bin, &env, cgroup.as_ref())
                .expect("start todo-backend");
            memory_limits.push(cgroup);
            backends.push((process, port));
            backend_envs.push(env);
        }
        for (process, port) in &backends {
            let ok = wait_http_ok(
                &format!("http://127.0.0.1:{port}/health"),
                Duration::from_secs(30),
            )
            .await;
            assert!(
                ok,
                "{} did not start:\n{}",
                process.name(),
                process.output()
            );
        }

        let port = free_port();
        let admin_port = free_port();
        let upstreams: Vec<String> = backends
            .iter()
            .map(|(_, p)| format!("127.0.0.1:{p}"))
            .collect();
        let caddyfile = repo_root().join("monitoring/caddy/Caddyfile");
        let env = BTreeMap::from([
            ("LISTEN".to_owned(), format!(":{port}")),
            ("CADDY_ADMIN".to_owned(), format!("127.0.0.1:{admin_port}")),
            ("BACKENDS".to_owned(), upstreams.join(" ")),
            (
                "XDG_DATA_HOME".to_owned(),
                std::env::temp_dir()
                    .join(unique("caddy-data"))
                    .display()
                    .to_string(),
            ),
            (
                "XDG_CONFIG_HOME".to_owned(),
                std::env::temp_dir()
                    .join(unique("caddy-config"))
                    .display()
                    .to_string(),
            ),
        ]);
        let caddyfile = caddyfile.display().to_string();
        let caddy = Process::spawn(
            "caddy",
            &caddy_bin,
            &["run", "--config", &caddyfile, "--adapter", "caddyfile"],
            &env,
        )
        .expect("start caddy");
        let url = format!("http://127.0.0.1:{port}");
        let ok = wait_http_ok(&format!("{url}/health"), Duration::from_secs(30)).await;
        assert!(ok, "caddy did not start:\n{}", caddy.output());
        Some(Stack {
            backends,
            caddy,
            url,
            caddy_admin: format!("http://127.0.0.1:{admin_port}"),
            backend_bin,
            backend_envs,
            memory_limits,
        })
    }

    /// Whether the backends run under [`BACKEND_MEMORY_LIMIT`] (and so export
    /// `process_memory_limit_bytes`).
    pub fn memory_limited(&self) -> bool {
        self.memory_limits.iter().all(Option::is_some)
    }

    /// Starts backend `index` (0-based) again on its port, after [`Process::kill`].
    ///
    /// # Panics
    /// When it does not become healthy.
    pub async fn restart_backend(&mut self, index: usize) {
        let env = &self.backend_envs[index];
        let name = format!("backend-{}", index + 1);
        let cgroup = self.memory_limits[index].as_ref();
        let process =
            spawn_backend(&name, &self.backend_bin, env, cgroup).expect("restart todo-backend");
        let port = self.backends[index].1;
        let ok = wait_http_ok(
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30),
        )
        .await;
        assert!(ok, "{name} did not restart:\n{}", process.output());
        self.backends[index].0 = process;
    }
}

/// The memory limit of each backend, as in compose (`deploy.resources.limits.memory: 512M`).
pub const BACKEND_MEMORY_LIMIT: u64 = 512 * 1024 * 1024;

/// Starts the backend binary, inside `cgroup` when there is one.
fn spawn_backend(
    name: &str,
    binary: &Path,
    env: &BTreeMap<String, String>,
    cgroup: Option<&obs_testkit::MemoryCgroup>,
) -> std::io::Result<Process> {
    let Some(cgroup) = cgroup else {
        return Process::spawn(name, binary, &[], env);
    };
    let procs = cgroup.procs_file();
    let (Some(procs), Some(binary)) = (procs.to_str(), binary.to_str()) else {
        return Process::spawn(name, binary, &[], env);
    };
    let args = ["-c", obs_testkit::MOVE_AND_EXEC, procs, binary];
    Process::spawn(name, Path::new("sh"), &args, env)
}

/// Exporters, Prometheus and Alertmanager on free ports, configured from `monitoring/`.
pub mod monitoring {
    use super::*;

    /// A started monitoring process and the port it serves on.
    #[derive(Debug)]
    pub struct Served {
        /// The process.
        pub process: Process,
        /// Its HTTP port on 127.0.0.1.
        pub port: u16,
    }

    impl Served {
        /// `http://127.0.0.1:{port}`.
        pub fn url(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }
    }

    fn need(binary: &str, package: &str) -> Option<PathBuf> {
        let found = obs_testkit::binary(binary);
        if found.is_none() {
            obs_testkit::require(format!(
                "{binary} is not installed (Debian package `{package}`)"
            ));
        }
        found
    }

    async fn start(
        name: &str,
        binary: &Path,
        args: &[&str],
        env: &BTreeMap<String, String>,
        port: u16,
        ready_path: &str,
    ) -> Served {
        let process = Process::spawn(name, binary, args, env).expect("start monitoring process");
        let ok = wait_http_ok(
            &format!("http://127.0.0.1:{port}{ready_path}"),
            Duration::from_secs(30),
        )
        .await;
        assert!(ok, "{name} did not start:\n{}", process.output());
        Served { process, port }
    }

    /// postgres_exporter against the local PostgreSQL database `database`.
    pub async fn postgres_exporter(database: &str) -> Option<Served> {
        let bin = need(
            "prometheus-postgres-exporter",
            "prometheus-postgres-exporter",
        )?;
        let port = free_port();
        let listen = format!("--web.listen-address=127.0.0.1:{port}");
        let env = BTreeMap::from([(
            "DATA_SOURCE_NAME".to_owned(),
            format!("postgresql://postgres@127.0.0.1:5432/{database}?sslmode=disable"),
        )]);
        Some(
            start(
                "postgres-exporter",
                &bin,
                &[&listen],
                &env,
                port,
                "/metrics",
            )
            .await,
        )
    }

    /// redis_exporter against the local Redis.
    pub async fn redis_exporter() -> Option<Served> {
        let bin = need("prometheus-redis-exporter", "prometheus-redis-exporter")?;
        let port = free_port();
        let listen = format!("--web.listen-address=127.0.0.1:{port}");
        Some(
            start(
                "redis-exporter",
                &bin,
                &["--redis.addr=redis://127.0.0.1:6379", &listen],
                &BTreeMap::new(),
                port,
                "/metrics",
            )
            .await,
        )
    }

    /// Alertmanager with `monitoring/alertmanager/alertmanager.yml`, its development webhook
    /// pointed at `webhook_url` and its grouping waits shortened for tests.
    pub async fn alertmanager(webhook_url: &str) -> Option<Served> {
        let bin = need("prometheus-alertmanager", "prometheus-alertmanager")?;
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("alertmanager"));
        std::fs::create_dir_all(&dir).expect("alertmanager dir");
        let config =
            std::fs::read_to_string(repo_root().join("monitoring/alertmanager/alertmanager.yml"))
                .expect("alertmanager.yml")
                .replace("http://alert-webhook:9095/alerts", webhook_url)
                .replace("group_wait: 10s", "group_wait: 1s")
                .replace("group_interval: 1m", "group_interval: 5s");
        let config_path = dir.join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("write alertmanager.yml");
        let args = [
            format!("--config.file={}", config_path.display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Some(
            start(
                "alertmanager",
                &bin,
                &args,
                &BTreeMap::new(),
                port,
                "/-/ready",
            )
            .await,
        )
    }

    /// Scrape targets per job: (job, [(instance, host:port)]).
    pub type Targets = Vec<(String, Vec<(String, String)>)>;

    /// Prometheus with the rule files of `monitoring/prometheus/rules`, scraping `targets` and
    /// itself (job `prometheus`) and evaluating every `interval`, alerting to
    /// `alertmanager_port`, with exemplar storage on.
    pub async fn prometheus(
        targets: &Targets,
        alertmanager_port: u16,
        interval: &str,
    ) -> Option<Served> {
        let bin = need("prometheus", "prometheus")?;
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("prometheus"));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let mut config = format!(
            "global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n\
             rule_files:\n  - {}/*.yml\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{alertmanager_port}']\n\
             scrape_configs:\n",
            repo_root().join("monitoring/prometheus/rules").display()
        );
        for (job, instances) in targets {
            config.push_str(&format!("  - job_name: {job}\n    static_configs:\n"));
            for (instance, address) in instances {
                config.push_str(&format!(
                    "      - targets: ['{address}']\n        labels:\n          instance: {instance}\n          service: {job}\n"
                ));
            }
        }
        // Prometheus scrapes itself, as in monitoring/prometheus/prometheus.yml: the
        // meta-monitoring rules read its rule-evaluation counters.
        config.push_str(&format!(
            "  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n        labels:\n          instance: prometheus\n          service: prometheus\n"
        ));
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let args = [
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            // As compose runs it: the exemplars of the OpenMetrics scrapes are kept.
            "--enable-feature=exemplar-storage".to_owned(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Some(
            start(
                "prometheus",
                &bin,
                &args,
                &BTreeMap::new(),
                port,
                "/-/ready",
            )
            .await,
        )
    }

    /// Runs an instant query; returns the result vector (empty when there is no data).
    ///
    /// # Panics
    /// When Prometheus rejects the query: the message has its error.
    pub async fn query(prometheus: &str, expr: &str) -> Vec<serde_json::Value> {
        let response: serde_json::Value = reqwest::Client::new()
            .get(format!("{prometheus}/api/v1/query"))
            .query(&[("query", expr)])
            .send()
            .await
            .expect("query Prometheus")
            .json()
            .await
            .expect("Prometheus JSON");
        assert_eq!(response["status"], "success", "{expr}: {response}");
        match &response["data"]["result"] {
            serde_json::Value::Array(items) => items.clone(),
            // Scalars and strings are data too.
            other if !other.is_null() => vec![other.clone()],
            _ => Vec::new(),
        }
    }
}
