#![allow(clippy::unwrap_used, missing_docs)]
//! The bundled Grafana dashboards are well-formed: they parse, have unique uids, the shared
//! variables (`datasource`, `job`, `instance`), a title, description and unit on every panel,
//! `$__rate_interval` in every `rate()`, `irate()` and `increase()`, and only the two data
//! sources provisioning defines. Whether each query returns data is proven against a live
//! Prometheus in `live_prometheus.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use obs_e2e::repo_root;
use serde_json::Value;

/// The dashboards the monitoring guide promises, by file name.
const EXPECTED: &[&str] = &[
    "overview.json",
    "infrastructure.json",
    "application.json",
    "business.json",
    "logs.json",
    "database.json",
    "redis.json",
    "slo.json",
    "web-vitals.json",
    "frontend-errors.json",
    "user-journey.json",
    "end-to-end.json",
    "load-test.json",
    "frontend-performance.json",
];

/// Every `*.json` under `monitoring/grafana/dashboards`, with its parsed content.
fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![repo_root().join("monitoring/grafana/dashboards")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let json: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                out.push((name, json));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every panel, including the panels nested in (collapsed) rows.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(children) = panel.get("panels") {
                walk(children, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn is_loki(datasource: &Value) -> bool {
    datasource["type"] == "loki"
}

/// The `[...]` range of every `rate(`, `irate(` and `increase(` call in `expr`, with the name of
/// the function. A name inside a recording rule (`job:http_server_requests:rate5m`) is not a
/// call and is skipped.
fn range_functions(expr: &str) -> Vec<(&'static str, String)> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    for name in ["rate", "irate", "increase"] {
        let needle = format!("{name}(");
        let mut from = 0;
        while let Some(pos) = expr[from..].find(&needle) {
            let start = from + pos;
            from = start + needle.len();
            let prev = start.checked_sub(1).map(|i| bytes[i]);
            if prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
                continue;
            }
            // The call's argument: up to the matching closing parenthesis.
            let mut depth = 1;
            let mut end = from;
            while end < bytes.len() && depth > 0 {
                match bytes[end] {
                    b'(' => depth += 1,
                    b')' => depth -= 1,
                    _ => {}
                }
                end += 1;
            }
            let argument = &expr[from..end.saturating_sub(1)];
            let range = argument
                .rfind('[')
                .and_then(|open| {
                    argument[open + 1..]
                        .find(']')
                        .map(|close| argument[open + 1..open + 1 + close].trim().to_owned())
                })
                .unwrap_or_default();
            out.push((name, range));
        }
    }
    out
}

#[test]
fn range_functions_are_found_and_recording_rule_names_skipped() {
    let found = range_functions(
        "sum(rate(a[$__rate_interval])) / job:x:rate5m + irate(b{c=\"d\"}[1m]) \
         + sum(increase(e[$__range]))",
    );
    assert_eq!(
        found,
        vec![
            ("rate", "$__rate_interval".to_owned()),
            ("irate", "1m".to_owned()),
            ("increase", "$__range".to_owned()),
        ]
    );
}

#[test]
fn every_dashboard_is_complete() {
    let all = dashboards();
    let names: BTreeSet<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for expected in EXPECTED {
        assert!(names.contains(expected), "missing dashboard {expected}");
    }

    let mut uids = BTreeMap::new();
    for (name, d) in &all {
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no uid"));
        assert!(!uid.is_empty() && uid.len() <= 40, "{name}: bad uid {uid}");
        if let Some(other) = uids.insert(uid.to_owned(), name.clone()) {
            panic!("{name} and {other} share the uid {uid}");
        }
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: no title"
        );
        assert!(
            d["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "obs")),
            "{name}: not tagged obs"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 39),
            "{name}: schemaVersion below 39"
        );
        assert_eq!(d["refresh"], "30s", "{name}: refresh");
        assert!(
            d["links"].as_array().is_some_and(|l| l
                .iter()
                .any(|l| l["type"] == "dashboards" && l["tags"][0] == "obs")),
            "{name}: no dashboard links to the obs tag"
        );

        let vars: BTreeMap<&str, &Value> = d["templating"]["list"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no templating"))
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        let ds = vars
            .get("datasource")
            .unwrap_or_else(|| panic!("{name}: no datasource variable"));
        assert_eq!(ds["type"], "datasource", "{name}: datasource variable type");
        assert_eq!(
            ds["query"], "prometheus",
            "{name}: datasource variable query"
        );
        // Only jobs every panel has data for: services instrumented with obs, never Caddy or
        // an exporter (whose series have no http_server_* or obs metrics).
        let job = vars
            .get("job")
            .unwrap_or_else(|| panic!("{name}: no job variable"));
        assert_eq!(
            job["query"]["query"], "label_values(obs_build_info, job)",
            "{name}: job variable query"
        );
        assert_eq!(job["definition"], "label_values(obs_build_info, job)");
        assert_eq!(
            job["current"]["value"], "todo-backend",
            "{name}: job default"
        );
        let instance = vars
            .get("instance")
            .unwrap_or_else(|| panic!("{name}: no instance variable"));
        assert!(
            instance
                .to_string()
                .contains("label_values(up{job=\\\"$job\\\"}, instance)"),
            "{name}: instance variable query"
        );
        assert_eq!(instance["multi"], true, "{name}: instance multi");
        assert_eq!(instance["includeAll"], true, "{name}: instance includeAll");
        assert_eq!(instance["allValue"], ".*", "{name}: instance allValue");
        for var in vars.values().filter(|v| v["type"] == "query") {
            assert_eq!(
                var["datasource"]["uid"], "${datasource}",
                "{name}: variable {} must query ${{datasource}}",
                var["name"]
            );
        }
    }
    assert!(
        all.iter()
            .any(|(n, d)| n == "application.json" && d.to_string().contains("\"name\":\"route\"")),
        "application.json has no route variable"
    );

    // Deploys (a new service_version in obs_build_info) and alerts (ALERTS) are annotated on
    // every dashboard, for the selected job and instances.
    for (name, d) in &all {
        let list = d["annotations"]["list"].as_array().unwrap();
        let find = |n: &str| {
            list.iter()
                .find(|a| a["name"] == n)
                .unwrap_or_else(|| panic!("{name}: no {n} annotation"))
        };
        let deploys = find("Deploys");
        assert_eq!(deploys["datasource"]["uid"], "${datasource}", "{name}");
        assert_eq!(
            deploys["expr"],
            "count by (instance, service_version) (obs_build_info{job=\"$job\", instance=~\"$instance\"}) \
             unless count by (instance, service_version) (obs_build_info{job=\"$job\", instance=~\"$instance\"} offset 2m)",
            "{name}"
        );
        let alerts = find("Alerts");
        assert_eq!(
            alerts["expr"], "ALERTS{alertstate=\"firing\", severity=~\"critical|warning\"}",
            "{name}"
        );
        assert_eq!(alerts["enable"], true);
        assert_eq!(deploys["enable"], true);
    }

    // The monitoring guide lists every dashboard, by title and file.
    let readme = std::fs::read_to_string(repo_root().join("monitoring/README.md")).unwrap();
    for (name, d) in &all {
        let title = d["title"].as_str().unwrap();
        assert!(
            readme.contains(title) && readme.contains(name.as_str()),
            "monitoring/README.md does not list {title} ({name})"
        );
    }

    // Links between dashboards lead somewhere.
    for (name, d) in &all {
        let text = d.to_string();
        for part in text.split("/d/").skip(1) {
            let uid: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert!(
                uids.contains_key(&uid),
                "{name}: link to unknown dashboard {uid}"
            );
        }
    }
}

#[test]
fn every_panel_is_described_and_queries_are_sound() {
    for (name, d) in dashboards() {
        let mut ids = BTreeSet::new();
        let all = panels(&d);
        assert!(all.len() > 3, "{name}: hardly any panels");
        for panel in all {
            let title = panel["title"].as_str().unwrap_or("");
            let at = format!("{name} / {title}");
            assert!(!title.is_empty(), "{name}: a panel without title");
            assert!(
                panel["id"].as_u64().is_some_and(|id| ids.insert(id)),
                "{at}: missing or duplicate id"
            );
            assert!(panel["gridPos"]["w"].is_u64(), "{at}: no gridPos");
            if panel["type"] == "row" {
                continue;
            }
            assert!(
                panel["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{at}: no description"
            );
            assert!(
                panel["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{at}: no unit"
            );

            let panel_ds = &panel["datasource"];
            assert!(
                panel_ds["uid"] == "${datasource}" && panel_ds["type"] == "prometheus"
                    || panel_ds["uid"] == "loki" && is_loki(panel_ds),
                "{at}: data source must be ${{datasource}} or loki, is {panel_ds}"
            );
            let targets = panel["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            assert!(!targets.is_empty(), "{at}: no queries");
            for target in targets {
                let ds = &target["datasource"];
                assert_eq!(ds, panel_ds, "{at}: query and panel data sources differ");
                let expr = target["expr"].as_str().unwrap_or("");
                assert!(!expr.trim().is_empty(), "{at}: empty expr");
                // Every query honours the instance selection, or the panel says why not.
                let per_instance = expr.contains("$instance") || expr.contains("${instance");
                assert!(
                    per_instance
                        || panel["description"]
                            .as_str()
                            .is_some_and(|d| d.contains("Not per instance")),
                    "{at}: ignores $instance without saying why: {expr}"
                );
                if is_loki(ds) {
                    // Only the stream labels our lines carry (service, instance, level).
                    assert!(
                        expr.contains("{service=\"$job\", instance=~\"$instance\""),
                        "{at}: Loki query outside the selected streams: {expr}"
                    );
                    continue;
                }
                // Stat panels show one number: an instant query, not the last point of a range.
                if panel["type"] == "stat" {
                    assert_eq!(target["instant"], true, "{at}: stat panel not instant");
                }
                assert!(
                    !expr.contains("$__interval"),
                    "{at}: use $__rate_interval, not $__interval: {expr}"
                );
                for (function, range) in range_functions(expr) {
                    // Totals over the picked time range (stat panels) use $__range in increase().
                    let ok = matches!(range.as_str(), "$__rate_interval" | "${__rate_interval}")
                        || function == "increase" && range == "$__range";
                    assert!(
                        ok,
                        "{at}: {function}() over [{range}], not $__rate_interval: {expr}"
                    );
                }
            }
        }
    }
}

/// The latency panels over the histograms that carry exemplars show them (range queries on
/// time series and heatmaps; instant queries and stat panels have nowhere to draw them), and
/// the Prometheus data source links an exemplar's `trace_id` to Jaeger.
#[test]
fn latency_panels_show_exemplars_linked_to_jaeger() {
    const WITH_EXEMPLARS: [&str; 2] = [
        "http_server_request_duration_seconds_bucket",
        "db_client_operation_duration_seconds_bucket",
    ];
    let mut shown = 0;
    for (name, d) in dashboards() {
        for panel in panels(&d) {
            let drawable = panel["type"] == "timeseries" || panel["type"] == "heatmap";
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or("");
                let range = target["instant"] != true;
                let at = format!("{name} / {} / {}", panel["title"], target["refId"]);
                if drawable && range && WITH_EXEMPLARS.iter().any(|m| expr.contains(m)) {
                    assert_eq!(target["exemplar"], true, "{at}: exemplars not shown");
                    shown += 1;
                } else {
                    assert_ne!(target["exemplar"], true, "{at}: no exemplars to show");
                }
            }
        }
    }
    assert!(shown >= 20, "{shown} targets show exemplars");

    let datasources: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            repo_root().join("monitoring/grafana/provisioning/datasources/datasources.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let list = datasources["datasources"].as_sequence().unwrap();
    let prometheus = list.iter().find(|d| d["type"] == "prometheus").unwrap();
    let jaeger = list.iter().find(|d| d["type"] == "jaeger").unwrap();
    let destinations = prometheus["jsonData"]["exemplarTraceIdDestinations"]
        .as_sequence()
        .unwrap();
    assert!(
        destinations
            .iter()
            .any(|d| d["name"] == "trace_id" && d["datasourceUid"] == jaeger["uid"]),
        "{destinations:?}"
    );
}
