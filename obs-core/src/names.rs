//! Every metric name, label name, label value and bucket set obs emits, and the limits on what
//! one request can make it write.
//!
//! The names follow the OpenTelemetry semantic conventions in their Prometheus form
//! (`http.server.request.duration` in seconds becomes `http_server_request_duration_seconds`).
//! Dashboards, alert rules and the other obs crates refer to these constants, so a name is
//! spelled in exactly one place. Label values from a closed set are enums with an `as_str`
//! ([`RumItemKind`], [`RumDropReason`], [`RumRejectReason`], [`WebVital`], [`NavigationPhase`],
//! [`InitiatorType`]); the typed recording
//! methods of the metric families take them.
//!
//! # The "other" values
//!
//! A bounded label folds input outside its known set into one value. Each constant is named
//! after its label; the values differ because each follows the convention of the values it
//! stands among, and dashboards match them exactly:
//!
//! | constant | value | label |
//! |---|---|---|
//! | [`METHOD_OTHER`] | `_OTHER` | `http_request_method` (server and client) |
//! | [`SERVER_ADDRESS_OTHER`] | `_OTHER` | `server_address` |
//! | [`ERROR_TYPE_OTHER`] | `_OTHER` | `error_type` of `db_client_operation_duration_seconds` |
//! | [`OPERATION_OTHER`] | `OTHER` | `db_operation_name` |
//! | [`DB_SYSTEM_OTHER_SQL`] | `other_sql` | `db_system_name` (OpenTelemetry's value) |
//! | [`RUM_OTHER`] | `other` | `app_name`, `page_route`, `rating`, `event_name`, browser `error_type`, `initiator_type` |
//! | [`CUSTOM_LABEL_OTHER`] | `other` | an application's custom HTTP labels |

// ---------------------------------------------------------------------------------------------
// HTTP server
// ---------------------------------------------------------------------------------------------

/// Histogram: duration of HTTP server requests, from the first byte received until the response
/// body has been sent or dropped.
pub const HTTP_SERVER_REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Gauge: HTTP server requests currently in flight.
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http_server_active_requests";
/// Histogram: size of HTTP request bodies, counted as they stream.
pub const HTTP_SERVER_REQUEST_BODY_SIZE: &str = "http_server_request_body_size_bytes";
/// Histogram: size of HTTP response bodies, counted as they stream.
pub const HTTP_SERVER_RESPONSE_BODY_SIZE: &str = "http_server_response_body_size_bytes";

/// Label: the normalised HTTP method (`GET`, … or [`METHOD_OTHER`]).
pub const HTTP_REQUEST_METHOD: &str = "http_request_method";
/// Label: the route template (`/todos/{id}`) or [`ROUTE_UNMATCHED`].
pub const HTTP_ROUTE: &str = "http_route";
/// Label: the numeric response status code.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http_response_status_code";
/// Label: a bounded error name, empty (absent) when the operation succeeded.
pub const ERROR_TYPE: &str = "error_type";

/// `http_route` value for requests that matched no route.
pub const ROUTE_UNMATCHED: &str = "unmatched";
/// `http_request_method` value for methods outside the known set: `_OTHER`, as the
/// OpenTelemetry HTTP conventions spell it. See [the "other" values](self#the-other-values).
pub const METHOD_OTHER: &str = "_OTHER";

/// `error_type` of an HTTP server request whose handler panicked.
pub const ERROR_TYPE_PANIC: &str = "panic";
/// `error_type` of an HTTP server request whose response body failed while streaming.
pub const ERROR_TYPE_BODY_ERROR: &str = "body_error";

/// The HTTP methods kept as label values by default: RFC 9110, PATCH (RFC 5789) and QUERY.
pub const KNOWN_HTTP_METHODS: &[&str] = &[
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE",
];

/// Label names of [`HTTP_SERVER_REQUEST_DURATION`], in order.
pub const HTTP_DURATION_LABELS: [&str; 4] = [
    HTTP_REQUEST_METHOD,
    HTTP_ROUTE,
    HTTP_RESPONSE_STATUS_CODE,
    ERROR_TYPE,
];
/// Label names of the body size histograms, in order.
pub const HTTP_BODY_SIZE_LABELS: [&str; 3] =
    [HTTP_REQUEST_METHOD, HTTP_ROUTE, HTTP_RESPONSE_STATUS_CODE];
/// Label names of [`HTTP_SERVER_ACTIVE_REQUESTS`].
pub const HTTP_ACTIVE_LABELS: [&str; 1] = [HTTP_REQUEST_METHOD];

// ---------------------------------------------------------------------------------------------
// Custom HTTP labels
// ---------------------------------------------------------------------------------------------

/// Most custom labels an application may add to the HTTP duration and body-size histograms.
pub const MAX_CUSTOM_LABELS: usize = 4;
/// Most values a custom label may declare (at least one is required).
pub const MAX_CUSTOM_LABEL_VALUES: usize = 64;
/// Longest declared value of a custom label, in bytes.
pub const MAX_CUSTOM_LABEL_VALUE_LEN: usize = 64;
/// Most combinations of custom label values: the product, over the custom labels, of their
/// declared values plus two (a custom label is also [`CUSTOM_LABEL_OTHER`] or empty). Each
/// (route, method, status) series is multiplied by at most this many.
pub const MAX_CUSTOM_LABEL_COMBINATIONS: usize = 256;
/// The value a custom label takes when the request or response carries a value outside the
/// declared set: `other`. An absent value is the empty string. See
/// [the "other" values](self#the-other-values).
pub const CUSTOM_LABEL_OTHER: &str = "other";
/// Label names a custom label may not take: the labels of the HTTP histograms themselves and
/// the histogram bucket label `le`. Names starting with `__` are reserved by Prometheus too.
pub const RESERVED_LABEL_NAMES: &[&str] = &[
    HTTP_REQUEST_METHOD,
    HTTP_ROUTE,
    HTTP_RESPONSE_STATUS_CODE,
    ERROR_TYPE,
    "le",
];

/// Whether `name` is a valid Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `name` is one of [`RESERVED_LABEL_NAMES`] or starts with `__`.
pub fn is_reserved_label_name(name: &str) -> bool {
    name.starts_with("__") || RESERVED_LABEL_NAMES.contains(&name)
}

/// Buckets of [`HTTP_SERVER_REQUEST_DURATION`], as the OpenTelemetry conventions advise.
pub const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Buckets of the body size histograms: 64 B to 64 MiB in powers of four.
pub const BODY_SIZE_BUCKETS: &[f64] = &[
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

// ---------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------

/// Histogram: duration of outgoing HTTP requests, from the call until the response head
/// arrived or the request failed.
pub const HTTP_CLIENT_REQUEST_DURATION: &str = "http_client_request_duration_seconds";
/// Label: the host a client request went to, from the configured allow-list, else
/// [`SERVER_ADDRESS_OTHER`].
pub const SERVER_ADDRESS: &str = "server_address";
/// Label: the port a client request went to; absent when the address is
/// [`SERVER_ADDRESS_OTHER`], so unlisted hosts cannot add series by port.
pub const SERVER_PORT: &str = "server_port";
/// `server_address` value for hosts outside the allow-list: `_OTHER`, as the OpenTelemetry
/// conventions spell it. See [the "other" values](self#the-other-values).
pub const SERVER_ADDRESS_OTHER: &str = "_OTHER";
/// Label names of [`HTTP_CLIENT_REQUEST_DURATION`], in order.
pub const HTTP_CLIENT_DURATION_LABELS: [&str; 5] = [
    HTTP_REQUEST_METHOD,
    SERVER_ADDRESS,
    SERVER_PORT,
    HTTP_RESPONSE_STATUS_CODE,
    ERROR_TYPE,
];
/// Longest `url.full` attribute of a client span, in bytes; longer values are cut on a
/// character boundary and end with [`CUT_MARKER`].
pub const MAX_URL_FULL_LEN: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Database clients (SQL and Redis)
// ---------------------------------------------------------------------------------------------

/// Histogram: duration of database client operations (a statement, a command, a pipeline).
pub const DB_CLIENT_OPERATION_DURATION: &str = "db_client_operation_duration_seconds";
/// Gauge: connections in a pool, by state. OpenTelemetry's `db.client.connection.count`,
/// named without the `_count` suffix, which Prometheus reserves for histograms and summaries
/// (`promtool check metrics` rejects it on a gauge).
pub const DB_CLIENT_CONNECTIONS: &str = "db_client_connections";
/// Gauge: the maximum number of connections a pool allows.
pub const DB_CLIENT_CONNECTION_MAX: &str = "db_client_connection_max";
/// Gauge: callers waiting for a pooled connection.
pub const DB_CLIENT_CONNECTION_PENDING_REQUESTS: &str = "db_client_connection_pending_requests";
/// Histogram: time spent waiting for a pooled connection.
pub const DB_CLIENT_CONNECTION_WAIT_TIME: &str = "db_client_connection_wait_time_seconds";
/// Counter: acquisitions that gave up because the pool timed out.
pub const DB_CLIENT_CONNECTION_TIMEOUTS: &str = "db_client_connection_timeouts_total";

/// Label: the database system (`postgresql`, `sqlite`, `mysql`, `redis`).
pub const DB_SYSTEM_NAME: &str = "db_system_name";
/// Label: the operation (`SELECT`, `GET`, `PIPELINE`, …).
pub const DB_OPERATION_NAME: &str = "db_operation_name";
/// Label: the table or collection, SQL only.
pub const DB_COLLECTION_NAME: &str = "db_collection_name";
/// Label: the pool name.
pub const DB_CLIENT_CONNECTION_POOL_NAME: &str = "db_client_connection_pool_name";
/// Label: the connection state, [`CONNECTION_STATE_IDLE`] or [`CONNECTION_STATE_USED`].
pub const DB_CLIENT_CONNECTION_STATE: &str = "db_client_connection_state";

/// `db_client_connection_state` of connections sitting in the pool.
pub const CONNECTION_STATE_IDLE: &str = "idle";
/// `db_client_connection_state` of connections handed out.
pub const CONNECTION_STATE_USED: &str = "used";

/// `db_system_name` of PostgreSQL.
pub const DB_SYSTEM_POSTGRESQL: &str = "postgresql";
/// `db_system_name` of SQLite.
pub const DB_SYSTEM_SQLITE: &str = "sqlite";
/// `db_system_name` of MySQL and MariaDB.
pub const DB_SYSTEM_MYSQL: &str = "mysql";
/// `db_system_name` of Redis.
pub const DB_SYSTEM_REDIS: &str = "redis";
/// `db_system_name` of an SQL driver obs does not know: `other_sql`, the OpenTelemetry value.
/// See [the "other" values](self#the-other-values).
pub const DB_SYSTEM_OTHER_SQL: &str = "other_sql";

/// `error_type` of an operation (an HTTP request, a client request, a database operation)
/// whose future was dropped before it finished.
pub const ERROR_TYPE_CANCELLED: &str = "cancelled";
/// `error_type` of a database failure that has no more specific bounded name: `_OTHER`, as
/// the OpenTelemetry conventions spell it. See [the "other" values](self#the-other-values).
pub const ERROR_TYPE_OTHER: &str = "_OTHER";

/// `db_operation_name` of a statement or command outside the known set: `OTHER`, uppercase
/// like the verbs and commands it stands among. See [the "other" values](self#the-other-values).
pub const OPERATION_OTHER: &str = "OTHER";
/// Most distinct caller-chosen (operation, table) pairs one SQL pool records under; further
/// pairs are recorded as [`OPERATION_OTHER`] with no table.
pub const MAX_NAMED_OPERATIONS: usize = 64;
/// Longest caller-chosen operation or table name, in bytes; a longer one makes its pair
/// [`OPERATION_OTHER`] with no table.
pub const MAX_OPERATION_NAME_LEN: usize = 64;
/// `db_operation_name` of an SQL transaction's start.
pub const OPERATION_BEGIN: &str = "BEGIN";
/// `db_operation_name` of an SQL transaction's commit.
pub const OPERATION_COMMIT: &str = "COMMIT";
/// `db_operation_name` of an SQL transaction's rollback.
pub const OPERATION_ROLLBACK: &str = "ROLLBACK";
/// `db_operation_name` of an SQL savepoint.
pub const OPERATION_SAVEPOINT: &str = "SAVEPOINT";
/// `db_operation_name` of a Redis transaction (`MULTI … EXEC` sent as an atomic pipeline).
pub const OPERATION_MULTI: &str = "MULTI";
/// `db_operation_name` of a Redis pipeline of mixed commands; a pipeline of one command is
/// `PIPELINE GET` (this, a space, the command).
pub const OPERATION_PIPELINE: &str = "PIPELINE";

/// Label names of [`DB_CLIENT_OPERATION_DURATION`], in order.
pub const DB_OPERATION_LABELS: [&str; 4] = [
    DB_SYSTEM_NAME,
    DB_OPERATION_NAME,
    DB_COLLECTION_NAME,
    ERROR_TYPE,
];
/// Label names of the per-pool metrics, in order.
pub const DB_POOL_LABELS: [&str; 1] = [DB_CLIENT_CONNECTION_POOL_NAME];
/// Label names of [`DB_CLIENT_CONNECTIONS`], in order.
pub const DB_CONNECTION_COUNT_LABELS: [&str; 2] =
    [DB_CLIENT_CONNECTION_POOL_NAME, DB_CLIENT_CONNECTION_STATE];

/// Buckets of [`DB_CLIENT_OPERATION_DURATION`], as the OpenTelemetry conventions advise.
pub const DB_DURATION_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
/// Buckets of [`DB_CLIENT_CONNECTION_WAIT_TIME`].
pub const DB_WAIT_TIME_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

// ---------------------------------------------------------------------------------------------
// Tokio runtime
// ---------------------------------------------------------------------------------------------

/// Gauge: worker threads of the runtime (1 for a current-thread runtime).
pub const TOKIO_RUNTIME_WORKERS: &str = "tokio_runtime_workers";
/// Gauge: tasks spawned on the runtime that have not finished yet.
pub const TOKIO_RUNTIME_ALIVE_TASKS: &str = "tokio_runtime_alive_tasks";
/// Gauge: tasks waiting in the runtime's global (injection) queue for a worker.
pub const TOKIO_RUNTIME_GLOBAL_QUEUE_DEPTH: &str = "tokio_runtime_global_queue_depth";
/// Counter: time the workers spent busy, summed over workers. Its rate divided by
/// [`TOKIO_RUNTIME_WORKERS`] is the busy ratio (0 … 1). On targets with 64-bit atomics.
pub const TOKIO_RUNTIME_BUSY_DURATION: &str = "tokio_runtime_busy_seconds_total";
/// Histogram: how late a probe task runs after its timer fired — the time a ready task
/// waits for a worker, the runtime's event-loop lag.
pub const TOKIO_RUNTIME_SCHEDULING_DELAY: &str = "tokio_runtime_scheduling_delay_seconds";
/// Gauge, `--cfg tokio_unstable` only: tasks in one worker's local queue.
pub const TOKIO_RUNTIME_WORKER_LOCAL_QUEUE_DEPTH: &str = "tokio_runtime_worker_local_queue_depth";
/// Gauge, `--cfg tokio_unstable` only: threads of the blocking pool.
pub const TOKIO_RUNTIME_BLOCKING_THREADS: &str = "tokio_runtime_blocking_threads";
/// Gauge, `--cfg tokio_unstable` only: tasks waiting for a blocking-pool thread.
pub const TOKIO_RUNTIME_BLOCKING_QUEUE_DEPTH: &str = "tokio_runtime_blocking_queue_depth";
/// Counter, `--cfg tokio_unstable` only: tasks spawned on the runtime.
pub const TOKIO_RUNTIME_SPAWNED_TASKS: &str = "tokio_runtime_spawned_tasks_total";
/// Counter, `--cfg tokio_unstable` only: times a task was forced to yield after using up its
/// cooperative budget.
pub const TOKIO_RUNTIME_BUDGET_FORCED_YIELDS: &str = "tokio_runtime_budget_forced_yield_total";
/// Label of [`TOKIO_RUNTIME_WORKER_LOCAL_QUEUE_DEPTH`]: the worker's index, `0` to workers − 1.
pub const TOKIO_WORKER: &str = "worker";
/// Buckets of [`TOKIO_RUNTIME_SCHEDULING_DELAY`]: 1 ms (the timer's resolution) to 10 s.
pub const SCHEDULING_DELAY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

// ---------------------------------------------------------------------------------------------
// Process
// ---------------------------------------------------------------------------------------------

/// Gauge: the memory limit of the process's cgroup in bytes, absent when there is none (Linux).
/// Beside the `process_*` families of the process collector, so
/// `process_resident_memory_bytes / process_memory_limit_bytes` is how full the container is.
pub const PROCESS_MEMORY_LIMIT: &str = "process_memory_limit_bytes";

// ---------------------------------------------------------------------------------------------
// Service identity
// ---------------------------------------------------------------------------------------------

/// Gauge, always 1: which service, version and instance this process is.
pub const OBS_BUILD_INFO: &str = "obs_build_info";
/// Label: the service name.
pub const SERVICE_NAME: &str = "service_name";
/// Label: the service version.
pub const SERVICE_VERSION: &str = "service_version";
/// Label: the service instance id.
pub const SERVICE_INSTANCE_ID: &str = "service_instance_id";
/// Label names of [`OBS_BUILD_INFO`], in order.
pub const BUILD_INFO_LABELS: [&str; 3] = [SERVICE_NAME, SERVICE_VERSION, SERVICE_INSTANCE_ID];

// ---------------------------------------------------------------------------------------------
// Telemetry pipeline health
// ---------------------------------------------------------------------------------------------

/// Counter: log lines the Loki exporter dropped (queue full or Loki unreachable).
pub const OBS_LOKI_DROPPED_LINES: &str = "obs_loki_dropped_lines_total";
/// Counter: log lines the Loki exporter delivered.
pub const OBS_LOKI_SENT_LINES: &str = "obs_loki_sent_lines_total";

// ---------------------------------------------------------------------------------------------
// Bounds on what one request can write
// ---------------------------------------------------------------------------------------------

/// Largest request body length taken as declared (`Content-Length`, or a body's exact size
/// hint) for `http_server_request_body_size_bytes`, in bytes. A body declaring more is counted
/// as the handler reads it, so a client that claims a huge body and sends none moves the
/// histogram's sum by at most this much.
pub const MAX_DECLARED_REQUEST_BODY_LEN: u64 = 64 * 1024;
/// Appended to a client-sent value that was cut to its limit. The limits below count it.
pub const CUT_MARKER: &str = "…";
/// Longest `user_agent.original` span attribute, in bytes; longer values are cut on a
/// character boundary and end with [`CUT_MARKER`].
pub const MAX_USER_AGENT_LEN: usize = 256;
/// Longest `url.path` span attribute, in bytes; longer paths are cut on a character boundary
/// and end with [`CUT_MARKER`].
pub const MAX_URL_PATH_LEN: usize = 1024;
/// Longest client-sent `x-request-id` kept, in bytes. A longer one, or one with a character
/// outside ASCII letters, digits and `-_.:;=+/@`, is replaced by a generated id, never echoed.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Longest log line pushed to Loki, in bytes: Loki's default `max_line_size` (256 KiB).
/// A longer line is cut on a character boundary and ends with [`LOKI_CUT_MARKER`]; it is sent,
/// not dropped (the cut line is no longer valid JSON, so LogQL's `| json` flags it).
pub const LOKI_MAX_LINE_BYTES: usize = 256 * 1024;
/// Appended to a log line cut to [`LOKI_MAX_LINE_BYTES`], which counts it.
pub const LOKI_CUT_MARKER: &str = "…[cut]";
/// Log lines waiting for Loki at most; more are dropped and counted in
/// [`OBS_LOKI_DROPPED_LINES`].
pub const LOKI_QUEUE_LINES: usize = 8192;
/// Bytes of log lines waiting for Loki, or in a push not yet acknowledged, at most; a line
/// that would pass it is dropped and counted in [`OBS_LOKI_DROPPED_LINES`]. 8 MiB.
pub const LOKI_QUEUE_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of log lines sent in one push at most (before compression). 1 MiB.
pub const LOKI_MAX_BATCH_BYTES: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Browser real-user monitoring (the Faro receiver in obs-axum)
// ---------------------------------------------------------------------------------------------

/// Histogram: Largest Contentful Paint reported by browsers.
pub const BROWSER_WEB_VITAL_LCP: &str = "browser_web_vital_lcp_seconds";
/// Histogram: First Contentful Paint reported by browsers.
pub const BROWSER_WEB_VITAL_FCP: &str = "browser_web_vital_fcp_seconds";
/// Histogram: Interaction to Next Paint reported by browsers.
pub const BROWSER_WEB_VITAL_INP: &str = "browser_web_vital_inp_seconds";
/// Histogram: Time To First Byte reported by browsers.
pub const BROWSER_WEB_VITAL_TTFB: &str = "browser_web_vital_ttfb_seconds";
/// Histogram: Cumulative Layout Shift reported by browsers (unitless).
pub const BROWSER_WEB_VITAL_CLS: &str = "browser_web_vital_cls";
/// Counter: exceptions reported by browsers.
pub const BROWSER_EXCEPTIONS: &str = "browser_exceptions_total";
/// Counter: custom events reported by browsers.
pub const BROWSER_EVENTS: &str = "browser_events_total";
/// Histogram: the phases of a page load (DNS, connect, TLS, TTFB, DOM processing, page load),
/// from Faro's `faro.performance.navigation` events.
pub const BROWSER_NAVIGATION_PHASE_DURATION: &str = "browser_navigation_phase_duration_seconds";
/// Histogram: how long browsers took to fetch a resource, from Faro's
/// `faro.performance.resource` events.
pub const BROWSER_RESOURCE_DURATION: &str = "browser_resource_duration_seconds";
/// Histogram: the bytes a resource took over the network (headers included, 0 when served from
/// the browser's cache), from Faro's `faro.performance.resource` events.
pub const BROWSER_RESOURCE_TRANSFER_SIZE: &str = "browser_resource_transfer_size_bytes";
/// Counter: items (logs, exceptions, measurements, events, spans) the RUM receiver accepted.
pub const OBS_RUM_ITEMS_RECEIVED: &str = "obs_rum_items_received_total";
/// Counter: requests the RUM receiver rejected, by reason.
pub const OBS_RUM_REQUESTS_REJECTED: &str = "obs_rum_requests_rejected_total";
/// Counter: items the RUM receiver accepted but did not record, by reason.
pub const OBS_RUM_ITEMS_DROPPED: &str = "obs_rum_items_dropped_total";

/// Label: the browser application's name, from a configured allow-list, else [`RUM_OTHER`].
pub const APP_NAME: &str = "app_name";
/// Label: the page's route pattern (`/todos/{id}`), from configured patterns, else
/// [`RUM_OTHER`].
pub const PAGE_ROUTE: &str = "page_route";
/// Label: the web-vitals rating (`good`, `needs-improvement`, `poor`), else [`RUM_OTHER`].
pub const RATING: &str = "rating";
/// Label: a custom event's name, from a configured allow-list, else [`RUM_OTHER`].
pub const EVENT_NAME: &str = "event_name";
/// Label: a phase of a page load, one of [`NavigationPhase`].
pub const PHASE: &str = "phase";
/// Label: what made the browser fetch a resource, one of [`InitiatorType`].
pub const INITIATOR_TYPE: &str = "initiator_type";
/// Label: the kind of a RUM item (`log`, `exception`, `measurement`, `event`, `span`).
pub const RUM_KIND: &str = "kind";
/// Label: why a RUM request or item was rejected or dropped.
pub const RUM_REASON: &str = "reason";

/// The value every bounded RUM label (`app_name`, `page_route`, `rating`, `event_name`, and
/// `error_type` of [`BROWSER_EXCEPTIONS`]) takes for input outside its allow-list: `other`,
/// lowercase like the browser-side values it stands among. See
/// [the "other" values](self#the-other-values).
pub const RUM_OTHER: &str = "other";

/// The web-vitals ratings kept as `rating` values.
pub const WEB_VITAL_RATINGS: &[&str] = &["good", "needs-improvement", "poor"];

/// The JavaScript error names kept as `error_type` values of [`BROWSER_EXCEPTIONS`].
pub const BROWSER_ERROR_TYPES: &[&str] = &[
    "Error",
    "TypeError",
    "ReferenceError",
    "RangeError",
    "SyntaxError",
    "URIError",
    "EvalError",
    "AggregateError",
    "SecurityError",
    "NetworkError",
    "AbortError",
];

/// Declares a closed set of label values: the enum, `ALL` in declaration order and `as_str`.
macro_rules! label_values {
    (
        $(#[$meta:meta])*
        $label:literal,
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $value:literal, )+ }
    ) => {
        $(#[$meta])*
        #[doc = concat!("\n\nThe values of the `", $label, "` label.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("\n\n`", $value, "`.")] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

label_values! {
    /// The kind of an item the RUM receiver accepted, counted in [`OBS_RUM_ITEMS_RECEIVED`].
    "kind",
    pub enum RumItemKind {
        /// A console log.
        Log => "log",
        /// A JavaScript exception.
        Exception => "exception",
        /// A measurement (web vitals and custom ones).
        Measurement => "measurement",
        /// A custom event.
        Event => "event",
        /// A browser span.
        Span => "span",
    }
}

label_values! {
    /// Why the RUM receiver accepted an item but did not record it, counted in
    /// [`OBS_RUM_ITEMS_DROPPED`].
    "reason",
    pub enum RumDropReason {
        /// Over the per-batch item limit.
        ItemLimit => "item_limit",
        /// A web vital already reported under the same id.
        Duplicate => "duplicate",
        /// A batch already processed under the same `Idempotency-Key`.
        DuplicateBatch => "duplicate_batch",
        /// A web-vitals measurement without a known vital.
        UnknownWebVital => "unknown_web_vital",
        /// A web vital, navigation phase or resource timing that is not a finite, non-negative
        /// number, or one beyond [`MAX_BROWSER_TIMING_SECONDS`] or [`MAX_BROWSER_TRANSFER_BYTES`].
        InvalidValue => "invalid_value",
        /// Browser spans while span forwarding is off.
        TracesNotForwarded => "traces_not_forwarded",
        /// Browser spans while the forwarding queue was full.
        QueueFull => "queue_full",
        /// Browser spans the collector did not accept.
        ExportFailed => "export_failed",
    }
}

label_values! {
    /// Why the RUM receiver turned a request away, counted in [`OBS_RUM_REQUESTS_REJECTED`].
    "reason",
    pub enum RumRejectReason {
        /// A preflight from an origin that is not on the allow-list.
        Origin => "origin",
        /// The API key is missing or wrong.
        Unauthorized => "unauthorized",
        /// The rate limit's bucket is empty.
        RateLimited => "rate_limited",
        /// Every processing permit stayed taken.
        Overloaded => "overloaded",
        /// The body did not arrive in time.
        Timeout => "timeout",
        /// The body is larger than allowed.
        TooLarge => "too_large",
        /// The body is not valid gzip.
        BadGzip => "bad_gzip",
        /// A content encoding other than gzip or identity.
        BadEncoding => "bad_encoding",
        /// The body stream failed.
        BadBody => "bad_body",
        /// The body is not a Faro payload.
        BadJson => "bad_json",
        /// Processing failed unexpectedly.
        Internal => "internal",
    }
}

label_values! {
    /// A phase of a page load, recorded in [`BROWSER_NAVIGATION_PHASE_DURATION`].
    "phase",
    pub enum NavigationPhase {
        /// The DNS lookup of the page's host.
        Dns => "dns",
        /// The TCP handshake.
        Connect => "connect",
        /// The TLS negotiation.
        Tls => "tls",
        /// From the request until the first byte of the response.
        Ttfb => "ttfb",
        /// From the document becoming interactive until the DOM is complete.
        DomProcessing => "dom_processing",
        /// From the start of the fetch until the DOM is complete.
        PageLoad => "page_load",
    }
}

label_values! {
    /// What made the browser fetch a resource (the Resource Timing `initiatorType`), recorded
    /// in [`BROWSER_RESOURCE_DURATION`] and [`BROWSER_RESOURCE_TRANSFER_SIZE`].
    "initiator_type",
    pub enum InitiatorType {
        /// A `<script>` element: the page's JavaScript.
        Script => "script",
        /// A `<link>` element (stylesheets, preloads, icons).
        Link => "link",
        /// A resource a stylesheet loaded (fonts, background images).
        Css => "css",
        /// An `<img>` element.
        Img => "img",
        /// A `fetch()` call.
        Fetch => "fetch",
        /// An `XMLHttpRequest`.
        Xmlhttprequest => "xmlhttprequest",
        /// Any other initiator, [`RUM_OTHER`].
        Other => "other",
    }
}

impl NavigationPhase {
    /// The attribute of a Faro `faro.performance.navigation` event that holds the phase, in
    /// milliseconds as a decimal string (`dnsLookupTime`, …).
    pub const fn faro_attribute(self) -> &'static str {
        match self {
            NavigationPhase::Dns => "dnsLookupTime",
            NavigationPhase::Connect => "tcpHandshakeTime",
            NavigationPhase::Tls => "tlsNegotiationTime",
            NavigationPhase::Ttfb => "ttfb",
            NavigationPhase::DomProcessing => "domProcessingTime",
            NavigationPhase::PageLoad => "pageLoadTime",
        }
    }
}

impl InitiatorType {
    /// The value for a browser's `initiatorType`: the one it names, else [`InitiatorType::Other`].
    #[must_use]
    pub fn from_browser(initiator_type: &str) -> Self {
        InitiatorType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == initiator_type)
            .unwrap_or(InitiatorType::Other)
    }
}

/// A Core Web Vital, as Faro names it in a `web-vitals` measurement; each has its own
/// histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebVital {
    /// Largest Contentful Paint, [`BROWSER_WEB_VITAL_LCP`].
    Lcp,
    /// First Contentful Paint, [`BROWSER_WEB_VITAL_FCP`].
    Fcp,
    /// Interaction to Next Paint, [`BROWSER_WEB_VITAL_INP`].
    Inp,
    /// Time To First Byte, [`BROWSER_WEB_VITAL_TTFB`].
    Ttfb,
    /// Cumulative Layout Shift, [`BROWSER_WEB_VITAL_CLS`] (unitless).
    Cls,
}

impl WebVital {
    /// Every vital, in the order a measurement is searched for one.
    pub const ALL: &[WebVital] = &[
        WebVital::Lcp,
        WebVital::Fcp,
        WebVital::Inp,
        WebVital::Ttfb,
        WebVital::Cls,
    ];

    /// The key of the vital in a Faro measurement's `values` (`lcp`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            WebVital::Lcp => "lcp",
            WebVital::Fcp => "fcp",
            WebVital::Inp => "inp",
            WebVital::Ttfb => "ttfb",
            WebVital::Cls => "cls",
        }
    }

    /// The metric name of the vital's histogram.
    pub const fn metric_name(self) -> &'static str {
        match self {
            WebVital::Lcp => BROWSER_WEB_VITAL_LCP,
            WebVital::Fcp => BROWSER_WEB_VITAL_FCP,
            WebVital::Inp => BROWSER_WEB_VITAL_INP,
            WebVital::Ttfb => BROWSER_WEB_VITAL_TTFB,
            WebVital::Cls => BROWSER_WEB_VITAL_CLS,
        }
    }
}

/// Label names of the web-vital histograms, in order.
pub const WEB_VITAL_LABELS: [&str; 3] = [APP_NAME, PAGE_ROUTE, RATING];
/// Label names of [`BROWSER_EXCEPTIONS`], in order.
pub const BROWSER_EXCEPTION_LABELS: [&str; 2] = [APP_NAME, ERROR_TYPE];
/// Label names of [`BROWSER_EVENTS`], in order.
pub const BROWSER_EVENT_LABELS: [&str; 2] = [APP_NAME, EVENT_NAME];
/// Label names of [`BROWSER_NAVIGATION_PHASE_DURATION`], in order.
pub const NAVIGATION_PHASE_LABELS: [&str; 3] = [APP_NAME, PAGE_ROUTE, PHASE];
/// Label names of [`BROWSER_RESOURCE_DURATION`] and [`BROWSER_RESOURCE_TRANSFER_SIZE`], in
/// order.
pub const BROWSER_RESOURCE_LABELS: [&str; 2] = [APP_NAME, INITIATOR_TYPE];
/// Label names of [`OBS_RUM_ITEMS_RECEIVED`].
pub const RUM_ITEMS_RECEIVED_LABELS: [&str; 1] = [RUM_KIND];
/// Label names of [`OBS_RUM_REQUESTS_REJECTED`] and [`OBS_RUM_ITEMS_DROPPED`].
pub const RUM_REASON_LABELS: [&str; 1] = [RUM_REASON];

/// Buckets of [`BROWSER_WEB_VITAL_LCP`], around the 2.5 s and 4 s thresholds.
pub const WEB_VITAL_LCP_BUCKETS: &[f64] =
    &[0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0];
/// Buckets of [`BROWSER_WEB_VITAL_FCP`], around the 1.8 s and 3 s thresholds.
pub const WEB_VITAL_FCP_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 0.75, 1.0, 1.4, 1.8, 2.4, 3.0, 4.0, 5.0, 7.5, 10.0,
];
/// Buckets of [`BROWSER_WEB_VITAL_TTFB`], around the 0.8 s and 1.8 s thresholds.
pub const WEB_VITAL_TTFB_BUCKETS: &[f64] =
    &[0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.4, 1.8, 2.5, 4.0, 7.5, 10.0];
/// Buckets of [`BROWSER_WEB_VITAL_INP`], around the 0.2 s and 0.5 s thresholds.
pub const WEB_VITAL_INP_BUCKETS: &[f64] =
    &[0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0];
/// Buckets of [`BROWSER_WEB_VITAL_CLS`], around the 0.1 and 0.25 thresholds.
pub const WEB_VITAL_CLS_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0,
];
/// Buckets of [`BROWSER_NAVIGATION_PHASE_DURATION`] and [`BROWSER_RESOURCE_DURATION`]: 1 ms
/// (a cached DNS lookup, a reused connection) to 30 s (a page load on a bad network).
pub const BROWSER_TIMING_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of [`BROWSER_RESOURCE_TRANSFER_SIZE`]: 64 B to 64 MiB in powers of four, like the
/// HTTP body sizes.
pub const BROWSER_TRANSFER_SIZE_BUCKETS: &[f64] = BODY_SIZE_BUCKETS;
/// The longest navigation phase or resource timing recorded: 10 minutes, in seconds. Longer
/// values are counted as `invalid_value` drops.
pub const MAX_BROWSER_TIMING_SECONDS: f64 = 600.0;
/// The largest resource transfer size recorded: 1 GiB. Larger values are counted as
/// `invalid_value` drops.
pub const MAX_BROWSER_TRANSFER_BYTES: f64 = 1_073_741_824.0;

/// The content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The content type of the OpenMetrics 1.0 text format, the one with exemplars.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The media type a scraper lists in `Accept` to be answered in OpenMetrics.
pub const OPENMETRICS_MEDIA_TYPE: &str = "application/openmetrics-text";

/// The label of an exemplar that holds the trace id (32 lowercase hex digits), as Grafana's
/// `exemplarTraceIdDestinations` name it.
pub const EXEMPLAR_TRACE_ID: &str = "trace_id";

/// The label of an exemplar that holds the span id (16 lowercase hex digits).
pub const EXEMPLAR_SPAN_ID: &str = "span_id";

/// The `error_type` of a gRPC response whose `grpc-status` (in the headers of a trailers-only
/// response, or in the trailers) is not `0`: the status code's canonical name, indexed by code.
/// Codes outside the table become `UNKNOWN`.
pub const GRPC_STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn distinct_snake_case(values: impl IntoIterator<Item = &'static str>) {
        let mut seen = HashSet::new();
        for v in values {
            assert!(seen.insert(v), "{v} twice");
            assert!(
                !v.is_empty() && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{v} is not snake_case"
            );
        }
    }

    #[test]
    fn closed_sets_have_distinct_snake_case_values() {
        distinct_snake_case(RumItemKind::ALL.iter().map(|k| k.as_str()));
        distinct_snake_case(RumDropReason::ALL.iter().map(|r| r.as_str()));
        distinct_snake_case(RumRejectReason::ALL.iter().map(|r| r.as_str()));
        distinct_snake_case(WebVital::ALL.iter().map(|v| v.as_str()));
        let metrics: HashSet<_> = WebVital::ALL.iter().map(|v| v.metric_name()).collect();
        assert_eq!(metrics.len(), WebVital::ALL.len());
        distinct_snake_case(NavigationPhase::ALL.iter().map(|p| p.as_str()));
        distinct_snake_case(InitiatorType::ALL.iter().map(|t| t.as_str()));
        let attributes: HashSet<_> = NavigationPhase::ALL
            .iter()
            .map(|p| p.faro_attribute())
            .collect();
        assert_eq!(attributes.len(), NavigationPhase::ALL.len());
    }

    #[test]
    fn unknown_initiators_are_other() {
        assert_eq!(InitiatorType::Other.as_str(), RUM_OTHER);
        assert_eq!(InitiatorType::from_browser("script"), InitiatorType::Script);
        assert_eq!(InitiatorType::from_browser("beacon"), InitiatorType::Other);
        assert_eq!(InitiatorType::from_browser("SCRIPT"), InitiatorType::Other);
    }

    #[test]
    fn label_names_are_checked_as_prometheus_does() {
        for good in ["tenant", "_x", "api_version2", "A"] {
            assert!(is_valid_label_name(good), "{good}");
        }
        for bad in ["", "2x", "api-version", "tenant id", "é", "a.b"] {
            assert!(!is_valid_label_name(bad), "{bad}");
        }
        for reserved in ["http_route", "error_type", "le", "__name__", "__x"] {
            assert!(is_reserved_label_name(reserved), "{reserved}");
        }
        assert!(!is_reserved_label_name("tenant"));
    }
}
