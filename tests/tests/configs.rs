//! The bundled configs pass their own tools: compose validates and mounts only files that
//! exist with pinned images, promtool accepts Prometheus' config and rules, amtool accepts
//! Alertmanager's, Caddy adapts the Caddyfile.

#![allow(clippy::unwrap_used, missing_docs)]

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

#[test]
fn every_alert_is_labelled_documented_and_unit_tested() {
    let root = repo_root();
    let runbook = std::fs::read_to_string(root.join("monitoring/RUNBOOK.md")).unwrap_or_default();
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect();
    let tests: String = std::fs::read_dir(root.join("monitoring/prometheus/tests"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
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
            assert!(
                tests.contains(&format!("alertname: {name}")),
                "{name} has no promtool unit test"
            );
        }
    }
    assert!(alerts >= 15, "expected the full alert set, found {alerts}");
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
    // Routing: critical pages, warning tickets, both also reach the development webhook.
    let (ok, text) = run(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file",
            "monitoring/alertmanager/alertmanager.yml",
            "severity=critical",
            "alertname=HighErrorRate",
        ],
    )
    .unwrap();
    assert!(
        ok && text.contains("pages") && text.contains("dev-webhook"),
        "{text}"
    );
    let (ok, text) = run(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file",
            "monitoring/alertmanager/alertmanager.yml",
            "severity=warning",
        ],
    )
    .unwrap();
    assert!(ok && text.contains("tickets"), "{text}");
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
