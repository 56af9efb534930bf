//! The bundled configs pass their own tools: compose validates and mounts only files that
//! exist with pinned images, promtool accepts Prometheus' config and rules, amtool accepts
//! Alertmanager's, Caddy adapts the Caddyfile.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeSet;
use std::process::Command;

use obs_e2e::repo_root;

fn run(program: &str, args: &[&str]) -> Option<(bool, String)> {
    let Some(path) = obs_testkit::binary(program) else {
        obs_testkit::require(format!("{program} is not installed"));
        return None;
    };
    let out = Command::new(path)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn compose_file_is_valid_pinned_and_mounts_existing_files() {
    let Some((ok, text)) = run(
        "docker-compose",
        &["-f", "examples/todo-backend/compose.yaml", "config"],
    ) else {
        return;
    };
    assert!(ok, "docker-compose config failed:\n{text}");
    let mut images = 0;
    let mut mounts = 0;
    for line in text.lines().map(str::trim) {
        if let Some(image) = line.strip_prefix("image: ") {
            images += 1;
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest" && tag.chars().any(|c| c.is_ascii_digit()),
                "image {image} is not pinned to a version"
            );
        }
        if let Some(volume) = line.strip_prefix("- ")
            && volume.starts_with('/')
            && volume.contains(':')
        {
            let host = volume.split(':').next().unwrap();
            if host != "/var/run/docker.sock" {
                mounts += 1;
                assert!(
                    std::path::Path::new(host).exists(),
                    "mounted {host} is missing"
                );
            }
        }
    }
    assert!(
        images >= 12,
        "expected the whole stack, found {images} images"
    );
    assert!(
        mounts >= 8,
        "expected the monitoring configs mounted, found {mounts}"
    );
    for service in [
        "backend-1:",
        "backend-2:",
        "backend-3:",
        "caddy:",
        "postgres:",
        "redis:",
        "prometheus:",
        "alertmanager:",
        "grafana:",
        "loki:",
        "alloy:",
        "jaeger:",
        "postgres-exporter:",
        "redis-exporter:",
    ] {
        assert!(
            text.contains(&format!("  {service}")),
            "{service} missing from compose"
        );
    }
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let Some((ok, text)) = run(
        "promtool",
        &[
            "check",
            "config",
            "--syntax-only",
            "monitoring/prometheus/prometheus.yml",
        ],
    ) else {
        return;
    };
    assert!(ok, "{text}");
    let rules: Vec<String> = std::fs::read_dir(repo_root().join("monitoring/prometheus/rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(!rules.is_empty());
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    let (ok, text) = run("promtool", &args).unwrap();
    assert!(ok, "{text}");
}

#[test]
fn rule_unit_tests_pass() {
    let dir = repo_root().join("monitoring/prometheus/tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".test.yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    let Some((ok, text)) = run("promtool", &args) else {
        return;
    };
    assert!(ok, "promtool test rules failed:\n{text}");
    assert_eq!(text.matches("SUCCESS").count(), files.len(), "{text}");
}

/// The GitHub anchor of a Markdown heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The alert names the promtool unit tests in `dir` evaluate (`alert_rule_test[].alertname`),
/// and those of them some test expects to fire (a non-empty `exp_alerts`).
fn alert_unit_tests(dir: &std::path::Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut tested = BTreeSet::new();
    let mut fired = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.display().to_string().ends_with(".test.yml") {
            continue;
        }
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for test in doc["tests"].as_sequence().unwrap() {
            let Some(cases) = test["alert_rule_test"].as_sequence() else {
                continue;
            };
            for case in cases {
                let name = case["alertname"].as_str().unwrap().to_owned();
                for alert in case["exp_alerts"].as_sequence().into_iter().flatten() {
                    fired.insert(name.clone());
                    // Routing groups by `service` and inhibition matches on it: every alert
                    // that pages or tickets carries it.
                    let labels = &alert["exp_labels"];
                    if labels["severity"] != "none" {
                        assert!(
                            labels["service"].as_str().is_some_and(|s| !s.is_empty()),
                            "{}: {name} fires without a service label: {labels:?}",
                            path.display()
                        );
                    }
                }
                tested.insert(name);
            }
        }
    }
    (tested, fired)
}

#[test]
fn every_alert_is_labelled_documented_and_unit_tested() {
    let root = repo_root();
    let runbook = std::fs::read_to_string(root.join("monitoring/RUNBOOK.md")).unwrap_or_default();
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect();
    let (tested, fired) = alert_unit_tests(&root.join("monitoring/prometheus/tests"));
    let mut alerts = 0;
    for entry in std::fs::read_dir(root.join("monitoring/prometheus/rules")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for block in text.split("- alert: ").skip(1) {
            alerts += 1;
            let name = block.lines().next().unwrap().trim();
            for key in ["severity:", "summary:", "description:", "runbook_url:"] {
                assert!(block.contains(key), "{name} has no {key}");
            }
            let anchor = block
                .split("RUNBOOK.md#")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("{name}: runbook_url must point into RUNBOOK.md"));
            assert!(
                anchors.iter().any(|a| a == anchor),
                "{name}: RUNBOOK.md has no section #{anchor}"
            );
            assert!(tested.contains(name), "{name} has no promtool unit test");
            assert!(
                fired.contains(name),
                "no promtool unit test of {name} expects it to fire"
            );
        }
    }
    assert!(alerts >= 20, "expected the full alert set, found {alerts}");
}

#[test]
fn alertmanager_config_passes_amtool() {
    let Some((ok, text)) = run(
        "amtool",
        &["check-config", "monitoring/alertmanager/alertmanager.yml"],
    ) else {
        return;
    };
    assert!(ok, "{text}");
    // Routing: critical pages, warning tickets, both also reach the development webhook;
    // Watchdog goes to its own receiver, the dead man's switch.
    for (labels, expected) in [
        (
            &[
                "severity=critical",
                "alertname=AvailabilitySLOBudgetBurn",
                "service=todo-backend",
                "slo=availability",
            ][..],
            &["pages", "dev-webhook"][..],
        ),
        (
            &[
                "severity=critical",
                "alertname=ServiceDown",
                "service=todo-backend",
            ],
            &["pages", "dev-webhook"],
        ),
        (
            &[
                "severity=warning",
                "alertname=HighErrorRate",
                "service=todo-backend",
                "slo=availability",
            ],
            &["tickets", "dev-webhook"],
        ),
        (
            &["severity=warning", "alertname=TargetDown", "service=loki"],
            &["tickets", "dev-webhook"],
        ),
        (&["severity=none", "alertname=Watchdog"], &["watchdog"]),
        (
            &["severity=none", "alertname=SomethingElse"],
            &["dev-webhook"],
        ),
    ] {
        assert_eq!(receivers(labels), expected, "{labels:?}");
    }
    // The dead man's switch is re-sent every minute, so a missing heartbeat is noticed.
    let config: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("monitoring/alertmanager/alertmanager.yml"))
            .unwrap(),
    )
    .unwrap();
    let watchdog = config["route"]["routes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["receiver"] == "watchdog")
        .unwrap();
    assert_eq!(watchdog["repeat_interval"], "1m");
    assert_eq!(watchdog["group_interval"], "1m");
    // Inhibition matches only on labels the alerts carry: `service` and `slo` from the rules,
    // `environment` from Prometheus' external labels.
    let carried: BTreeSet<&str> = ["service", "slo", "alertname", "environment"].into();
    for rule in config["inhibit_rules"].as_sequence().unwrap() {
        for label in rule["equal"].as_sequence().unwrap() {
            assert!(
                carried.contains(label.as_str().unwrap()),
                "inhibition on {label:?}, which the alerts do not carry"
            );
        }
    }
}

/// The receivers `amtool config routes test` routes an alert with `labels` to, in order.
fn receivers(labels: &[&str]) -> Vec<String> {
    let mut args = vec![
        "config",
        "routes",
        "test",
        "--config.file",
        "monitoring/alertmanager/alertmanager.yml",
    ];
    args.extend_from_slice(labels);
    let (ok, text) = run("amtool", &args).unwrap();
    assert!(ok, "{text}");
    // amtool prints the receivers comma-separated on one line, after any warnings.
    let line = text
        .lines()
        .find(|l| !l.starts_with("Warning:") && !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no receivers in {text}"));
    line.trim().split(',').map(str::to_owned).collect()
}

#[test]
fn caddyfile_adapts() {
    let Some((ok, text)) = run(
        "caddy",
        &[
            "adapt",
            "--config",
            "monitoring/caddy/Caddyfile",
            "--adapter",
            "caddyfile",
        ],
    ) else {
        return;
    };
    assert!(ok, "{text}");
    assert!(
        text.contains("reverse_proxy") && text.contains("/health"),
        "{text}"
    );
}

/// HighMemoryUsage compares against the limit the kernel enforces, which obs-core exports:
/// compose gives every backend one (the same as the end-to-end stack's, so the live proof runs
/// what compose runs), and no rule pins a number of its own.
#[test]
fn backends_have_the_memory_limit_the_alert_reads() {
    let root = repo_root();
    let alerts =
        std::fs::read_to_string(root.join("monitoring/prometheus/rules/service-alerts.yml"))
            .unwrap();
    let rules: serde_yaml::Value = serde_yaml::from_str(&alerts).unwrap();
    let expr = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .find(|r| r["alert"] == "HighMemoryUsage")
        .unwrap()["expr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        expr.contains(obs_core::names::PROCESS_MEMORY_LIMIT),
        "{expr}"
    );
    assert!(!expr.contains("vector("), "a fixed limit: {expr}");
    let compose: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("examples/todo-backend/compose.yaml")).unwrap(),
    )
    .unwrap();
    for backend in ["backend-1", "backend-2", "backend-3"] {
        // The backends merge the `x-backend` anchor (`<<: *backend`).
        let service = &compose["services"][backend];
        let merged = if service["deploy"].is_null() {
            &service["<<"]
        } else {
            service
        };
        assert_eq!(
            merged["deploy"]["resources"]["limits"]["memory"], "512M",
            "{backend}"
        );
    }
    assert_eq!(obs_e2e::BACKEND_MEMORY_LIMIT, 512 * 1024 * 1024);
}

/// SLO panels look back 30 days: Prometheus keeps more than that. Every job of the stack is
/// scraped with the `service` label routing uses, the telemetry pipeline included.
#[test]
fn prometheus_keeps_the_slo_window_and_scrapes_every_job() {
    let root = repo_root();
    let compose: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("examples/todo-backend/compose.yaml")).unwrap(),
    )
    .unwrap();
    let retention: Vec<&str> = compose["services"]["prometheus"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--storage.tsdb.retention.time="))
        .collect();
    assert_eq!(retention, ["35d"]);
    // Exemplars from the OpenMetrics scrapes are kept (the end-to-end stack runs the same).
    assert!(
        compose["services"]["prometheus"]["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|a| a == "--enable-feature=exemplar-storage")
    );

    let config: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("monitoring/prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    let mut jobs = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        let name = job["job_name"].as_str().unwrap();
        for target in job["static_configs"].as_sequence().unwrap() {
            assert_eq!(
                target["labels"]["service"], name,
                "{name}: no service label"
            );
            for address in target["targets"].as_sequence().unwrap() {
                let host = address.as_str().unwrap().split(':').next().unwrap();
                if host != "localhost" {
                    assert!(
                        compose["services"][host].is_mapping(),
                        "{name} scrapes {host}, which compose does not run"
                    );
                }
            }
        }
        // Prometheus' default scrape protocols ask for OpenMetrics first; a job that sets its
        // own must keep it first, or the backends' exemplars are never scraped.
        if let Some(protocols) = job["scrape_protocols"].as_sequence() {
            assert_eq!(protocols[0], "OpenMetricsText1.0.0", "{name}");
        }
        jobs.insert(name.to_owned());
    }
    let expected: BTreeSet<String> = [
        "todo-backend",
        "caddy",
        "postgres",
        "redis",
        "alertmanager",
        "prometheus",
        "loki",
        "alloy",
        "jaeger",
        "grafana",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_eq!(jobs, expected);
    // Alloy serves /metrics beyond its own container only with this flag.
    assert!(
        compose["services"]["alloy"]["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|a| a == "--server.http.listen-addr=0.0.0.0:12345")
    );
}
