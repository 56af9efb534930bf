//! One incident, one page (DESIGN §4), counted. `monitoring/prometheus/tests/incidents.test.yml`
//! describes four incidents on the compose stack and, at its last evaluation, lists every alert
//! of every rule file with exactly the alerts Prometheus fires. promtool checks that; this test
//! then posts those alerts to a real Alertmanager running `monitoring/alertmanager/alertmanager.yml`
//! and counts what is left after inhibition: one page per incident (none for one of three
//! instances down, which is a ticket), the expected tickets, and Watchdog on its own receiver.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use obs_e2e::{monitoring, repo_root};
use serde_json::{Value, json};

const INCIDENTS: &str = "monitoring/prometheus/tests/incidents.test.yml";

/// What still notifies after inhibition: (alertname, severity, receivers).
type Notified = (&'static str, &'static str, &'static str);

/// Per incident, in the file's order: what still notifies after inhibition, Watchdog aside.
fn expected() -> Vec<(&'static str, Vec<Notified>)> {
    vec![
        (
            "10% errors",
            vec![("AvailabilitySLOBudgetBurn", "critical", "pages,dev-webhook")],
        ),
        (
            "p95 above 1 s",
            vec![("LatencySLOBudgetBurn", "critical", "pages,dev-webhook")],
        ),
        (
            "one of three instances down",
            vec![
                ("CaddyUpstreamUnhealthy", "warning", "tickets,dev-webhook"),
                ("TargetDown", "warning", "tickets,dev-webhook"),
            ],
        ),
        (
            "all instances down",
            vec![("ServiceDown", "critical", "pages,dev-webhook")],
        ),
    ]
}

/// Every alert name in `monitoring/prometheus/rules`.
fn alert_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repo_root().join("monitoring/prometheus/rules")).unwrap() {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                if let Some(name) = rule["alert"].as_str() {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// A promtool duration (`72m`, `1h30m`, `45s`) in seconds.
fn seconds(duration: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in duration.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let n: u64 = number.parse().unwrap();
            number.clear();
            total += n * match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => panic!("unit {c} in {duration}"),
            };
        }
    }
    assert!(number.is_empty(), "{duration} has no unit");
    total
}

/// Per incident: the alerts firing at its last evaluation, as Alertmanager API alerts.
fn firing_at_end(all: &BTreeSet<String>) -> Vec<Vec<Value>> {
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join(INCIDENTS)).unwrap())
            .unwrap();
    let mut out = Vec::new();
    for (i, test) in doc["tests"].as_sequence().unwrap().iter().enumerate() {
        let cases = test["alert_rule_test"].as_sequence().unwrap();
        let end = cases
            .iter()
            .map(|c| seconds(c["eval_time"].as_str().unwrap()))
            .max()
            .unwrap();
        let last: Vec<&serde_yaml::Value> = cases
            .iter()
            .filter(|c| seconds(c["eval_time"].as_str().unwrap()) == end)
            .collect();
        let listed: BTreeSet<String> = last
            .iter()
            .map(|c| c["alertname"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            &listed, all,
            "incident {i}: the last evaluation must list every alert, so its alerts are all that fire"
        );
        let mut alerts = Vec::new();
        for case in last {
            let name = case["alertname"].as_str().unwrap();
            for alert in case["exp_alerts"].as_sequence().unwrap() {
                let mut labels: serde_json::Map<String, Value> =
                    serde_yaml::from_value(alert["exp_labels"].clone()).unwrap();
                labels.insert("alertname".into(), json!(name));
                let annotations: Value =
                    serde_yaml::from_value(alert["exp_annotations"].clone()).unwrap();
                alerts.push(json!({"labels": labels, "annotations": annotations}));
            }
        }
        out.push(alerts);
    }
    out
}

/// Alertmanager's alerts matching the API filters in `query`.
async fn alerts(alertmanager: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let response = reqwest::Client::new()
        .get(format!("{alertmanager}/api/v2/alerts"))
        .query(query)
        .send()
        .await
        .unwrap();
    response.json::<Vec<Value>>().await.unwrap()
}

/// What Alertmanager still notifies: active, not inhibited or silenced alerts, as
/// (alertname, severity, receivers).
async fn notifying(alertmanager: &str) -> Vec<(String, String, String)> {
    let filters = [
        ("active", "true"),
        ("inhibited", "false"),
        ("silenced", "false"),
    ];
    let mut out: Vec<(String, String, String)> = alerts(alertmanager, &filters)
        .await
        .iter()
        .map(|a| {
            let receivers: Vec<&str> = a["receivers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap())
                .collect();
            (
                a["labels"]["alertname"].as_str().unwrap().to_owned(),
                a["labels"]["severity"].as_str().unwrap_or("").to_owned(),
                receivers.join(","),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn seconds_parse_promtool_durations() {
    assert_eq!(seconds("72m"), 4320);
    assert_eq!(seconds("1h30m"), 5400);
    assert_eq!(seconds("2d23h"), 255_600);
    assert_eq!(seconds("45s"), 45);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_incident_pages_once() {
    // The alert sets are what Prometheus really fires for these inputs.
    let Some(promtool) = obs_testkit::binary("promtool") else {
        obs_testkit::require("promtool is not installed (Debian package `prometheus`)");
        return;
    };
    let out = Command::new(promtool)
        .args(["test", "rules", INCIDENTS])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules {INCIDENTS}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let incidents = firing_at_end(&alert_names());
    let expected = expected();
    assert_eq!(incidents.len(), expected.len(), "one test per incident");
    let mut report = Vec::new();
    for (firing, (incident, want)) in incidents.iter().zip(&expected) {
        // A fresh Alertmanager per incident; its webhook goes nowhere, routing is what counts.
        let Some(am) = monitoring::alertmanager("http://127.0.0.1:9/alerts").await else {
            return;
        };
        let url = am.url();
        let response = reqwest::Client::new()
            .post(format!("{url}/api/v2/alerts"))
            .json(firing)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{incident}: post alerts");

        let mut want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, s, r)| ((*a).to_owned(), (*s).to_owned(), (*r).to_owned()))
            .collect();
        want.push(("Watchdog".into(), "none".into(), "watchdog".into()));
        want.sort();
        // Alertmanager takes in the alerts and its inhibitor learns the sources asynchronously:
        // wait until all are in and the notifying set is the expected one, then make sure it
        // stays so (a set that only looked right before inhibition caught up does not pass).
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            if alerts(&url, &[]).await.len() == firing.len() {
                got = notifying(&url).await;
                if got == want {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        got = if got == want {
            notifying(&url).await
        } else {
            got
        };
        assert_eq!(
            got,
            want,
            "{incident}: what notifies after inhibition (of {} firing alerts)",
            firing.len()
        );
        let pages = got.iter().filter(|(_, s, _)| s == "critical").count();
        let tickets = got.iter().filter(|(_, s, _)| s == "warning").count();
        report.push(format!(
            "{incident}: {} firing, {pages} page(s), {tickets} ticket(s)",
            firing.len()
        ));
    }
    println!("{}", report.join("\n"));
}
