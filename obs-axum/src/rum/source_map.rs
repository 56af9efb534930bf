//! Resolving minified stack frames through source maps, loaded once at startup from a
//! directory, so exceptions read like the code that was written.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use sourcemap::SourceMap;

/// Most maps loaded from one directory.
const MAX_FILES: usize = 256;
/// Largest map file loaded, in bytes.
const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// A frame's position in the original source.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Original<'a> {
    pub(crate) source: &'a str,
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) name: Option<&'a str>,
}

/// The maps of one directory, keyed by the script they describe (`app.js` for `app.js.map`).
#[derive(Default)]
pub(crate) struct SourceMaps {
    maps: HashMap<String, SourceMap>,
}

impl std::fmt::Debug for SourceMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceMaps")
            .field("scripts", &self.maps.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SourceMaps {
    /// Loads every `*.map` in `dir` (not recursively). Files that cannot be read or parsed are
    /// skipped with a warning; a missing directory yields no maps.
    pub(crate) fn load(dir: &Path) -> Self {
        let mut maps = HashMap::new();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(target: "obs_axum::rum", dir = %dir.display(), %error, "cannot read the source map directory");
                return SourceMaps { maps };
            }
        };
        for entry in entries.flatten() {
            if maps.len() >= MAX_FILES {
                tracing::warn!(target: "obs_axum::rum", dir = %dir.display(), "more than {MAX_FILES} source maps; the rest are ignored");
                break;
            }
            let path = entry.path();
            let Some(script) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".map"))
            else {
                continue;
            };
            let too_big = entry
                .metadata()
                .map_or(true, |m| !m.is_file() || m.len() > MAX_FILE_BYTES);
            if too_big {
                continue;
            }
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| SourceMap::from_slice(&bytes).map_err(|e| e.to_string()))
            {
                Ok(map) => {
                    maps.insert(script.to_owned(), map);
                }
                Err(error) => {
                    tracing::warn!(target: "obs_axum::rum", path = %path.display(), %error, "skipping a source map");
                }
            }
        }
        SourceMaps { maps }
    }

    /// The original position of `line:column` (1-based, as browsers report) in the script at
    /// `url`, if a map for that script is loaded.
    pub(crate) fn resolve(&self, url: &str, line: u64, column: u64) -> Option<Original<'_>> {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let script = path.rsplit('/').next().unwrap_or(path);
        let map = self.maps.get(script)?;
        let line = u32::try_from(line.checked_sub(1)?).ok()?;
        let column = u32::try_from(column.saturating_sub(1)).ok()?;
        let token = map.lookup_token(line, column)?;
        Some(Original {
            source: token.get_source()?,
            line: token.get_src_line().saturating_add(1),
            column: token.get_src_col().saturating_add(1),
            name: token.get_name(),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_resolve_through_a_map() {
        let dir = std::env::temp_dir().join(format!("obs-rum-maps-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("app.min.js.map"),
            r#"{"version":3,"file":"app.min.js","sources":["src/todo.ts"],"names":["completeTodo"],"mappings":"AAAAA;AAEAA"}"#,
        )
        .unwrap();
        fs::write(dir.join("broken.js.map"), "not a map").unwrap();
        let maps = SourceMaps::load(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert!(!maps.is_empty());
        assert_eq!(
            maps.resolve("https://h/static/app.min.js?v=3", 2, 1),
            Some(Original {
                source: "src/todo.ts",
                line: 3,
                column: 1,
                name: Some("completeTodo"),
            })
        );
        assert_eq!(maps.resolve("https://h/static/other.js", 2, 1), None);
        assert_eq!(maps.resolve("https://h/static/app.min.js", 0, 1), None);
        assert!(SourceMaps::load(Path::new("/nonexistent/obs")).is_empty());
    }
}
