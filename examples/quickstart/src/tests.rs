//! The README's quick start is this crate's `main.rs`, and what it promises holds: served over
//! TCP, a matched route, two unknown paths and a method the route does not serve each land in
//! `/metrics` under the right labels, each once; the scrapes, by default, do not.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const MAIN_RS: &str = include_str!("main.rs");
const CARGO_TOML: &str = include_str!("../Cargo.toml");
const README: &str = include_str!("../../../README.md");

/// The body of the first fenced block of `lang` in the README's "## Quick start" section.
fn quick_start_block(lang: &str) -> &'static str {
    let section = README
        .split_once("\n## Quick start\n")
        .expect("README has a `## Quick start` section")
        .1;
    let section = section.split("\n## ").next().unwrap_or(section);
    let fence = format!("\n```{lang}\n");
    let start = section
        .find(&fence)
        .unwrap_or_else(|| panic!("no ```{lang} block in the quick start"))
        + fence.len();
    let len = section[start..]
        .find("\n```\n")
        .expect("the block is closed")
        + 1;
    &section[start..start + len]
}

#[test]
fn the_readme_quick_start_is_this_crates_main() {
    let block = quick_start_block("rust");
    let rest = MAIN_RS.strip_prefix(block).unwrap_or_else(|| {
        panic!(
            "README.md's quick start and examples/quickstart/src/main.rs differ; \
             copy main.rs (without its test module) into the README:\n{block}"
        )
    });
    assert_eq!(rest, "\n#[cfg(test)]\nmod tests;\n");
}

/// Dependency names of a `[dependencies]` table, in order.
fn dependency_names(toml: &str) -> Vec<&str> {
    let table = toml
        .split_once("[dependencies]\n")
        .expect("a [dependencies] table")
        .1;
    table
        .lines()
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.trim()))
        .collect()
}

#[test]
fn the_readme_lists_every_dependency_the_quick_start_needs() {
    let readme = dependency_names(quick_start_block("toml"));
    assert_eq!(readme, ["obs-core", "obs-axum", "axum", "tokio"]);
    assert_eq!(readme, dependency_names(CARGO_TOML));
}

/// One HTTP/1.1 request on a fresh connection: the status code and the body.
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn every_request_lands_in_the_exposition_with_its_labels() {
    let telemetry = Telemetry::builder("quickstart")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(&telemetry);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(
        request(addr, "GET", "/todos/7").await,
        (200, "todo".to_owned())
    );
    assert_eq!(request(addr, "GET", "/nope1").await.0, 404);
    assert_eq!(request(addr, "GET", "/nope2").await.0, 404);
    assert_eq!(request(addr, "POST", "/todos/7").await.0, 405);
    assert_eq!(request(addr, "GET", "/metrics").await.0, 200);
    // The second scrape would hold the first, were scrapes recorded.
    let (status, text) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);

    let count = |method: &str, route: &str, status: u16| {
        format!(
            "http_server_request_duration_seconds_count{{error_type=\"\",\
             http_request_method=\"{method}\",http_response_status_code=\"{status}\",\
             http_route=\"{route}\"}}"
        )
    };
    let expected = [
        format!("{} 1", count("GET", "/todos/{id}", 200)),
        format!("{} 2", count("GET", "unmatched", 404)),
        format!("{} 1", count("POST", "/todos/{id}", 405)),
    ];
    let mut found: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("http_server_request_duration_seconds_count"))
        .collect();
    found.sort_unstable();
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(found, expected, "{text}");
    // No raw path becomes a label.
    assert!(!text.contains("/todos/7"), "{text}");
    assert!(!text.contains("nope"), "{text}");

    server.abort();
}
