//! Which request paths a layer leaves out of its metrics, its spans, or both.

use std::collections::HashSet;

/// Paths matched exactly (`/health`) or by prefix (`/static/*`: the pattern ends in `*`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PathRules {
    exact: HashSet<Box<str>>,
    prefixes: Vec<Box<str>>,
}

impl PathRules {
    pub(crate) fn new<I, P>(patterns: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let mut rules = PathRules::default();
        for pattern in patterns {
            let pattern = pattern.into();
            match pattern.strip_suffix('*') {
                Some(prefix) => rules.prefixes.push(prefix.into()),
                None => {
                    rules.exact.insert(pattern.into_boxed_str());
                }
            }
        }
        rules
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        (!self.exact.is_empty() && self.exact.contains(path))
            || self.prefixes.iter().any(|p| path.starts_with(&**p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_prefix_patterns() {
        let rules = PathRules::new(["/health", "/static/*", "/internal*"]);
        assert!(rules.matches("/health"));
        assert!(!rules.matches("/health/deep"));
        assert!(!rules.matches("/healthz"));
        assert!(rules.matches("/static/app.js"));
        assert!(rules.matches("/static/"));
        assert!(!rules.matches("/static"));
        assert!(rules.matches("/internal"));
        assert!(rules.matches("/internal-metrics"));
        assert!(!rules.matches("/api/todos"));
        assert!(!PathRules::default().matches("/"));
    }
}
