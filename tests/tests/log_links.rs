//! Links that land: the Grafana links between traces and logs use only what our Loki lines
//! carry. A backend pushes its logs to a Loki receiver (obs-testkit) the way it pushes to Loki;
//! a request with a known trace id leaves a line; then the Jaeger → Loki query
//! (`tracesToLogsV2`) selects that line's stream and finds it, and the Loki → Jaeger derived
//! field extracts the trace id from it. Every Loki query of the dashboards uses only the stream
//! labels the pusher sends.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use obs_e2e::{BackendOptions, Stack, repo_root};
use obs_testkit::PgDatabase;
use serde_json::Value;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The label names of a LogQL stream selector (`{a="x", b=~"y"} |= ...`).
fn selector_labels(query: &str) -> BTreeSet<String> {
    let inner = query
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(inner, _)| inner)
        .unwrap_or_else(|| panic!("no stream selector in {query}"));
    inner
        .split(',')
        .map(|m| m.trim().split(['=', '!']).next().unwrap().trim().to_owned())
        .collect()
}

/// Whether a LogQL matcher list `{k="v", k=~"re"}` with only `=` and `=~` selects `labels`.
fn selects(query: &str, labels: &BTreeMap<String, String>) -> bool {
    let inner = query.split_once('{').unwrap().1.split_once('}').unwrap().0;
    inner.split(',').all(|m| {
        let m = m.trim();
        if let Some((k, v)) = m.split_once("=~") {
            let re = regex_lite(v.trim().trim_matches('"'));
            labels.get(k.trim()).is_some_and(|value| re(value))
        } else {
            let (k, v) = m.split_once('=').unwrap();
            labels.get(k.trim()).map(String::as_str) == Some(v.trim().trim_matches('"'))
        }
    })
}

/// The two regexes the queries use: `.+` and `.*`.
fn regex_lite(re: &str) -> impl Fn(&str) -> bool {
    let re = re.to_owned();
    move |value: &str| match re.as_str() {
        ".+" => !value.is_empty(),
        ".*" => true,
        other => panic!("unexpected regex {other}"),
    }
}

#[test]
fn selectors_are_parsed() {
    assert_eq!(
        selector_labels(r#"{service="$job", instance=~"$instance", level=~"(?i)error"} | json"#),
        ["instance", "level", "service"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
    let labels = BTreeMap::from([("service".to_owned(), "x".to_owned())]);
    assert!(selects(r#"{service=~".+"} |= "a""#, &labels));
    assert!(!selects(r#"{service="y"}"#, &labels));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_and_log_links_land_on_the_lines_we_push() {
    let datasources: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            repo_root().join("monitoring/grafana/provisioning/datasources/datasources.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let find = |uid: &str| {
        datasources["datasources"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|d| d["uid"] == uid)
            .unwrap()
            .clone()
    };
    let to_logs = find("jaeger")["jsonData"]["tracesToLogsV2"]["query"]
        .as_str()
        .unwrap()
        .to_owned();
    let derived = find("loki")["jsonData"]["derivedFields"][0].clone();
    assert_eq!(derived["datasourceUid"], "jaeger");
    let matcher = derived["matcherRegex"].as_str().unwrap().to_owned();
    assert_eq!(matcher, r#""trace_id":"(\w+)""#);

    let Some(db) = PgDatabase::create("obs_e2e").await else {
        return;
    };
    let loki = obs_testkit::LokiReceiver::start().await;
    let options = BackendOptions {
        database_url: db.url().to_owned(),
        chaos_token: Some("links".into()),
        extra_env: BTreeMap::from([("LOKI_URL".to_owned(), loki.url())]),
        ..Default::default()
    };
    let Some(stack) = Stack::start(1, &options).await else {
        return;
    };
    // Every request fails (fault injection): the failure is logged inside the request's span.
    let client = reqwest::Client::new();
    let chaos = client
        .put(format!(
            "http://127.0.0.1:{}/admin/chaos",
            stack.backends[0].1
        ))
        .bearer_auth("links")
        .json(&serde_json::json!({"error_rate": 1.0}))
        .send()
        .await
        .unwrap();
    assert!(chaos.status().is_success(), "chaos: {}", chaos.status());
    let response = client
        .get(format!("{}/api/todos", stack.url))
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let line = loki
        .wait_for(Duration::from_secs(20), |e| e.line.contains(TRACE_ID))
        .await
        .unwrap_or_else(|| panic!("no line with the trace id: {:?}", loki.entries()));

    // The streams carry exactly service, instance and level.
    let mut pushed = BTreeSet::new();
    for entry in loki.entries() {
        let inner = entry
            .labels
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}');
        for pair in inner.split(", ") {
            pushed.insert(pair.split_once('=').unwrap().0.trim().to_owned());
        }
    }
    let expected: BTreeSet<String> = ["instance", "level", "service"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(pushed, expected);
    let labels: BTreeMap<String, String> = expected
        .iter()
        .map(|k| (k.clone(), line.label(k).unwrap()))
        .collect();
    assert_eq!(labels["service"], "todo-backend");
    assert_eq!(labels["instance"], "backend-1");

    // Trace → logs: Grafana fills in the trace id; the selector picks the line's stream and
    // the line filter the line.
    let query = to_logs.replace("$${__trace.traceId}", TRACE_ID);
    assert!(
        selector_labels(&query).is_subset(&expected),
        "trace → logs selects by labels our lines lack: {query}"
    );
    assert!(selects(&query, &labels), "{query} misses {labels:?}");
    let filter = query
        .split("|= \"")
        .nth(1)
        .and_then(|f| f.strip_suffix('"'))
        .unwrap();
    assert_eq!(filter, TRACE_ID);
    assert!(line.line.contains(filter));

    // Log → trace: the derived field's regex takes the trace id out of the JSON line.
    let json: Value = serde_json::from_str(&line.line).unwrap();
    assert_eq!(json["trace_id"], TRACE_ID);
    let needle = "\"trace_id\":\"";
    let at = line.line.find(needle).unwrap() + needle.len();
    let captured: String = line.line[at..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(
        captured, TRACE_ID,
        "the derived field would capture {captured}"
    );

    // Every Loki query of the dashboards selects by these labels only, for the chosen job.
    for entry in std::fs::read_dir(repo_root().join("monitoring/grafana/dashboards/obs")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let dashboard: Value = serde_json::from_str(&text).unwrap();
        let mut stack = vec![&dashboard];
        while let Some(value) = stack.pop() {
            match value {
                Value::Object(map) => {
                    if map.get("datasource").is_some_and(|d| d["type"] == "loki")
                        && let Some(Value::String(expr)) = map.get("expr")
                        && expr.contains("{service=")
                    {
                        assert!(
                            selector_labels(expr).is_subset(&expected),
                            "{}: {expr}",
                            path.display()
                        );
                        let rendered = expr
                            .replace("$job", "todo-backend")
                            .replace("$instance", ".*");
                        let rendered = rendered.split('|').next().unwrap();
                        let rendered = rendered
                            .split(", level")
                            .next()
                            .map(|s| {
                                if s.ends_with('}') {
                                    s.to_owned()
                                } else {
                                    format!("{s}}}")
                                }
                            })
                            .unwrap();
                        assert!(
                            selects(&rendered, &labels),
                            "{}: {expr} misses our stream",
                            path.display()
                        );
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
    }
}
