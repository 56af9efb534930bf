//! The registry exposes process metrics (feature `process`) and `obs_build_info`, and promtool
//! accepts it.

#![allow(clippy::unwrap_used)]

mod common;

use obs_core::{DbOperationLabels, HttpServerLabels, Metrics, Telemetry, names};

#[tokio::test]
async fn exposition_has_process_and_build_info_and_passes_promtool() {
    let registry = obs_core::prometheus::Registry::new();
    let telemetry = Telemetry::builder("registry-svc")
        .service_version("0.9.1")
        .instance_id("reg-1")
        .registry(registry.clone())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let metrics: &Metrics = telemetry.metrics();

    // Exercise every family so promtool sees each type with samples.
    let http = metrics.http_server().unwrap();
    let labels = |method, route, status, error_type| HttpServerLabels {
        method,
        route,
        status,
        error_type,
    };
    http.request_duration(labels("GET", "/todos/{id}", "200", ""))
        .observe(0.012);
    http.request_duration(labels("POST", "/todos", "500", "500"))
        .observe(0.3);
    http.active_requests("GET").inc();
    http.request_body_size(labels("POST", "/todos", "500", ""))
        .observe(120.0);
    http.response_body_size(labels("GET", "/todos/{id}", "200", ""))
        .observe(4096.0);
    let db = metrics.db_client().unwrap();
    db.operation_duration(DbOperationLabels {
        system: "postgresql",
        operation: "SELECT",
        collection: "todos",
        error_type: "",
    })
    .observe(0.002);
    let pool = db.pool("main");
    pool.connection_wait_time.observe(0.0001);
    pool.connection_timeouts.inc();

    // The user's own registry sees everything too.
    assert!(
        registry
            .gather()
            .iter()
            .any(|f| f.name() == names::OBS_BUILD_INFO)
    );

    let text = metrics.encode().unwrap();
    assert!(
        text.contains(
            r#"obs_build_info{service_instance_id="reg-1",service_name="registry-svc",service_version="0.9.1"} 1"#
        ),
        "{text}"
    );
    #[cfg(all(target_os = "linux", feature = "process"))]
    {
        assert!(text.contains("process_cpu_seconds_total"), "{text}");
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }
    // Without the feature, no process collector: not even the cgroup memory limit.
    #[cfg(not(feature = "process"))]
    assert!(!text.contains("process_"), "{text}");
    assert!(text.contains(
        r#"http_server_request_duration_seconds_bucket{error_type="",http_request_method="GET",http_response_status_code="200",http_route="/todos/{id}",le="0.025"} 1"#
    ));
    assert!(text.contains(
        r#"db_client_operation_duration_seconds_bucket{db_collection_name="todos",db_operation_name="SELECT",db_system_name="postgresql",error_type="",le="0.005"} 1"#
    ));

    match obs_testkit::promtool_check_metrics(&text).await {
        Ok(_) => {}
        Err(complaints) => panic!("promtool check metrics failed:\n{complaints}\n{text}"),
    }
}

#[test]
#[cfg(feature = "loki")]
fn building_twice_on_one_registry_reuses_families() {
    let metrics = Metrics::new();
    let first = metrics.http_server().unwrap();
    first.active_requests("GET").inc();
    for _ in 0..2 {
        let t = Telemetry::builder("twice")
            .instance_id("twice-1")
            .service_version("1.2.3")
            .metrics(metrics.clone())
            .loki_url(format!("http://127.0.0.1:{}", common::closed_port()))
            .log_writer(std::io::sink)
            .build()
            .unwrap();
        drop(t);
    }
    // The handles taken after both builds are the same families as before them.
    let again = metrics.http_server().unwrap();
    again.active_requests("GET").inc();
    assert_eq!(first.active_requests("GET").get(), 2);

    // Each family is registered once, and so is the build-info sample of the two builds.
    let families = metrics.registry().gather();
    let mut names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    let all = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all, "{names:?}");
    let text = metrics.encode().unwrap();
    let build_info: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("obs_build_info{"))
        .collect();
    assert_eq!(
        build_info,
        [
            r#"obs_build_info{service_instance_id="twice-1",service_name="twice",service_version="1.2.3"} 1"#
        ]
    );
    assert!(text.contains("obs_loki_dropped_lines_total 0\n"), "{text}");
}
