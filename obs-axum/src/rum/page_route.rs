//! Mapping a page URL to one of the configured route patterns (`/todos/{id}`).

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// `{name}`: matches any one segment.
    Param,
    /// `{*name}`: matches the rest of the path, however long.
    CatchAll,
}

#[derive(Debug, Clone)]
struct Pattern {
    template: String,
    segments: Vec<Segment>,
}

/// Route patterns in axum's syntax, tried in the order given.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageRoutes {
    patterns: Vec<Pattern>,
}

impl PageRoutes {
    pub(crate) fn new<I, T>(templates: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let patterns = templates
            .into_iter()
            .map(|template| {
                let template = template.into();
                let segments = segments(&template)
                    .map(|s| {
                        if s.starts_with("{*") && s.ends_with('}') {
                            Segment::CatchAll
                        } else if s.starts_with('{') && s.ends_with('}') {
                            Segment::Param
                        } else {
                            Segment::Literal(s.to_owned())
                        }
                    })
                    .collect();
                Pattern { template, segments }
            })
            .collect();
        PageRoutes { patterns }
    }

    /// The first pattern matching the path of `url` (absolute, or a path).
    pub(crate) fn find(&self, url: &str) -> Option<&str> {
        let path = path_of(url);
        self.patterns
            .iter()
            .find(|p| matches(&p.segments, path))
            .map(|p| p.template.as_str())
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn matches(pattern: &[Segment], path: &str) -> bool {
    let mut given = segments(path);
    for segment in pattern {
        match segment {
            Segment::CatchAll => return true,
            Segment::Param => {
                if given.next().is_none() {
                    return false;
                }
            }
            Segment::Literal(text) => {
                if given.next() != Some(text.as_str()) {
                    return false;
                }
            }
        }
    }
    given.next().is_none()
}

/// The path of an absolute URL or of a path, without query or fragment.
fn path_of(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_paths_of_urls() {
        let routes = PageRoutes::new(["/", "/todos/{id}", "/docs/{*rest}"]);
        assert_eq!(routes.find("https://app.example/"), Some("/"));
        assert_eq!(routes.find("https://app.example"), Some("/"));
        assert_eq!(routes.find("http://h:8080/?q=1#x"), Some("/"));
        assert_eq!(routes.find("https://h/todos/42"), Some("/todos/{id}"));
        assert_eq!(routes.find("/todos/42/"), Some("/todos/{id}"));
        assert_eq!(routes.find("https://h/docs/a/b/c"), Some("/docs/{*rest}"));
        assert_eq!(routes.find("https://h/todos"), None);
        assert_eq!(routes.find("https://h/todos/1/2"), None);
        assert_eq!(routes.find("https://h/other"), None);
        assert_eq!(PageRoutes::default().find("/"), None);
    }
}
