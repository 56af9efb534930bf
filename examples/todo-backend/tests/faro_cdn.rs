//! The page's CDN copy of Grafana Faro is the npm copy, byte for byte: `static/index.html`
//! names the pinned version's unpkg URLs, and their `integrity` hashes are the sha384 of the
//! files in `frontend/node_modules`, computed here. No network: the npm copy is the reference.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha384};

/// The version the page, `package.json` and the lock file pin.
const VERSION: &str = "2.12.1";

/// The packages, in the order they must load (the tracing bundle reads the SDK's global).
const PACKAGES: [&str; 2] = ["faro-web-sdk", "faro-web-tracing"];

const INDEX_HTML: &str = include_str!("../static/index.html");
const PACKAGE_JSON: &str = include_str!("../frontend/package.json");

fn frontend() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("frontend")
}

/// The JSON the page's loader reads: `<script id="faro-copies" type="application/json">`.
fn copies() -> Value {
    let open = r#"<script id="faro-copies" type="application/json">"#;
    let start = INDEX_HTML
        .find(open)
        .expect("index.html lists the Faro copies")
        + open.len();
    let len = INDEX_HTML[start..].find("</script>").unwrap();
    serde_json::from_str(&INDEX_HTML[start..start + len]).unwrap()
}

/// Standard base64 with padding (RFC 4648, section 4), as SRI metadata uses.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    let vectors = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (input, expected) in vectors {
        assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
    }
    // The SRI form of a known digest: sha384("abc") from FIPS 180-2, appendix D.1.
    assert_eq!(
        format!("sha384-{}", base64(&Sha384::digest(b"abc"))),
        "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"
    );
}

#[test]
fn versions_are_pinned_exactly() {
    let page = copies();
    assert_eq!(page["version"], VERSION);
    let package: Value = serde_json::from_str(PACKAGE_JSON).unwrap();
    for name in PACKAGES {
        assert_eq!(
            package["dependencies"][format!("@grafana/{name}")],
            VERSION,
            "frontend/package.json must pin {name} exactly, or npm may install a file the \
             page's hashes do not match"
        );
    }
}

#[test]
fn the_npm_copy_comes_first_then_the_pinned_unpkg_urls() {
    let page = copies();
    let copies = page["copies"].as_array().unwrap();
    let names: Vec<&str> = copies.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["npm", "cdn"]);

    let npm: Vec<&Value> = copies[0]["scripts"].as_array().unwrap().iter().collect();
    let cdn: Vec<&Value> = copies[1]["scripts"].as_array().unwrap().iter().collect();
    assert_eq!(npm.len(), PACKAGES.len());
    assert_eq!(cdn.len(), PACKAGES.len());
    for ((name, local), remote) in PACKAGES.iter().zip(npm).zip(cdn) {
        assert_eq!(local["src"], format!("/vendor/{name}.iife.js"));
        assert_eq!(
            local.get("integrity"),
            None,
            "the npm copy is served locally"
        );
        assert_eq!(
            remote["src"],
            format!("https://unpkg.com/@grafana/{name}@{VERSION}/dist/bundle/{name}.iife.js")
        );
        assert!(remote["integrity"].as_str().unwrap().starts_with("sha384-"));
    }
    // The loader sets what the browser checks.
    assert!(INDEX_HTML.contains("script.integrity = file.integrity;"));
    assert!(INDEX_HTML.contains(r#"script.crossOrigin = "anonymous";"#));
}

#[test]
fn integrity_hashes_are_those_of_the_npm_files() {
    let modules = frontend().join("node_modules/@grafana");
    if !modules.is_dir() {
        obs_testkit::require(format!(
            "{} is missing: run `npm ci` in examples/todo-backend/frontend",
            modules.display()
        ));
        return;
    }
    let page = copies();
    let cdn = page["copies"][1]["scripts"].as_array().unwrap();
    for (name, remote) in PACKAGES.iter().zip(cdn) {
        let package: Value = serde_json::from_slice(
            &std::fs::read(modules.join(name).join("package.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(package["version"], VERSION, "installed {name}");
        let file = modules.join(format!("{name}/dist/bundle/{name}.iife.js"));
        let bytes = std::fs::read(&file).unwrap();
        let integrity = format!("sha384-{}", base64(&Sha384::digest(&bytes)));
        assert_eq!(
            remote["integrity"],
            integrity,
            "{} changed: put its new hash in static/index.html (frontend/README.md)",
            file.display()
        );
    }
}
