#![allow(clippy::unwrap_used, missing_docs)]
//! Lighthouse's performance audit of the todo page through Caddy, in the Debian Chromium
//! (`tests/browser/lighthouse.mjs`): the performance score must stay at or above, and the
//! JavaScript the page transfers at or below, what `tests/browser/budget.json` commits to.
//! The numbers of a run are in benches/BASELINE.md ("Frontend").

use std::collections::BTreeMap;
use std::time::Duration;

use obs_e2e::{BackendOptions, BrowserTools, Stack, repo_root};
use obs_testkit::unique;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_keeps_its_performance_score_and_script_budget() {
    let Some(BrowserTools { node, chromium, .. }) = BrowserTools::ready().await else {
        return;
    };
    let driver = repo_root().join("tests/browser");
    let frontend = repo_root().join("examples/todo-backend/frontend");
    let budget: Value =
        serde_json::from_str(&std::fs::read_to_string(driver.join("budget.json")).unwrap())
            .unwrap();

    let data = std::env::temp_dir().join(unique("lighthouse"));
    std::fs::create_dir_all(&data).unwrap();
    let options = BackendOptions {
        database_url: format!("sqlite://{}?mode=rwc", data.join("todo.db").display()),
        // The page as compose serves it: the Faro SDK from the local npm copy.
        extra_env: BTreeMap::from([("FRONTEND_DIR".to_owned(), frontend.display().to_string())]),
        ..Default::default()
    };
    let Some(stack) = Stack::start(1, &options).await else {
        return;
    };

    let run = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new(&node)
            .arg(driver.join("lighthouse.mjs"))
            .current_dir(&driver)
            .env("PAGE_URL", format!("{}/", stack.url))
            .env("CHROMIUM", &chromium)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Lighthouse run timed out")
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "lighthouse failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    println!("lighthouse: {report}");
    let _ = std::fs::remove_dir_all(data);

    let score = report["score"].as_f64().unwrap();
    let min_score = budget["min_performance_score"].as_f64().unwrap();
    assert!(
        score >= min_score,
        "performance score {score} below {min_score}: {report}"
    );
    let js_bytes = report["js_bytes"].as_u64().unwrap();
    let max_js = budget["max_script_bytes"].as_u64().unwrap();
    assert!(
        js_bytes <= max_js,
        "the page transfers {js_bytes} B of JavaScript, over the {max_js} B budget: {report}"
    );
    // The audit measured the page, not an error page: the SDK and the app script loaded.
    assert!(report["js_requests"].as_u64().unwrap() >= 2, "{report}");
    assert!(js_bytes > 10_000, "{report}");
}
