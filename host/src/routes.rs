//! HTTP routes in Spin's syntax and the table that picks a component for a path.
//!
//! A route is either exact (`/healthz`) or a prefix wildcard ending in `/...`
//! (`/api/platform/bluesky/...`, which matches `/api/platform/bluesky` and everything
//! below it). Segments may also be named parameters (`/users/:id`), which match any one
//! segment. Lookup prefers an exact route, then a route with parameters, then the
//! wildcard with the longest prefix, as Spin does.

use thiserror::Error;

/// Why a route was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    /// The route does not start with `/`.
    #[error("route {0:?} must start with `/`")]
    NotAbsolute(String),
    /// `...` appears somewhere else than as the last segment.
    #[error("route {0:?} may use `...` only as its last segment, as in `/prefix/...`")]
    MisplacedWildcard(String),
    /// A segment is empty (`//`) or holds characters a route cannot hold.
    #[error("route {0:?} has an empty or invalid segment")]
    BadSegment(String),
    /// Two triggers claim the same route.
    #[error("route {0:?} is declared twice")]
    Duplicate(String),
}

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter,
}

/// A parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    source: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

impl Route {
    /// Parses a route as written in `[[trigger.http]] route = "..."`.
    pub fn parse(source: &str) -> Result<Self, RouteError> {
        let rest = source
            .strip_prefix('/')
            .ok_or_else(|| RouteError::NotAbsolute(source.to_owned()))?;

        let (body, wildcard) = if rest == "..." {
            ("", true)
        } else if let Some(body) = rest.strip_suffix("/...") {
            (body, true)
        } else {
            (rest.strip_suffix('/').unwrap_or(rest), false)
        };

        let mut segments = Vec::new();
        if !body.is_empty() {
            for segment in body.split('/') {
                segments.push(parse_segment(source, segment)?);
            }
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
            wildcard,
        })
    }

    /// The route as written in the manifest.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fixed part of the route: for `/api/platform/bluesky/...`, `/api/platform/bluesky`
    /// (Spin's `spin-component-route`).
    pub fn component_route(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            out.push('/');
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Parameter => out.push('*'),
            }
        }
        out
    }

    /// If `path` matches, the part of it the route did not consume (Spin's `spin-path-info`).
    pub fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        if !path.starts_with('/') {
            return None;
        }
        // `pos` always points at a `/` that starts the next segment, or at the end.
        let mut pos = 0;
        for segment in &self.segments {
            if pos >= path.len() {
                return None;
            }
            let start = pos + 1;
            let end = path[start..].find('/').map_or(path.len(), |i| start + i);
            let head = &path[start..end];
            let matched = match segment {
                Segment::Literal(text) => head == text,
                Segment::Parameter => !head.is_empty(),
            };
            if !matched {
                return None;
            }
            pos = end;
        }
        let remainder = &path[pos..];
        if self.wildcard {
            Some(remainder)
        } else if remainder.is_empty() || remainder == "/" {
            Some("")
        } else {
            None
        }
    }

    /// How specific the route is; a higher rank wins.
    fn rank(&self) -> (u8, usize) {
        let has_params = self.segments.contains(&Segment::Parameter);
        let class = match (self.wildcard, has_params) {
            (false, false) => 3,
            (false, true) => 2,
            (true, _) => 1,
        };
        (class, self.segments.len())
    }
}

fn parse_segment(source: &str, segment: &str) -> Result<Segment, RouteError> {
    if segment == "..." || segment.contains("...") {
        return Err(RouteError::MisplacedWildcard(source.to_owned()));
    }
    if segment.is_empty() || segment.contains(['?', '#', '*', ' ']) {
        return Err(RouteError::BadSegment(source.to_owned()));
    }
    match segment.strip_prefix(':') {
        Some("") => Err(RouteError::BadSegment(source.to_owned())),
        Some(_) => Ok(Segment::Parameter),
        None => Ok(Segment::Literal(segment.to_owned())),
    }
}

/// A request path matched to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch<'t, 'p> {
    /// The component that serves the route.
    pub component: &'t str,
    /// The route that matched.
    pub route: &'t Route,
    /// The rest of the path after the route's fixed part (`spin-path-info`).
    pub path_info: &'p str,
}

/// All routes of an application.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Route, String)>,
}

impl RouteTable {
    /// Builds a table, refusing a route declared twice.
    pub fn new(routes: Vec<(Route, String)>) -> Result<Self, RouteError> {
        let mut seen = std::collections::BTreeSet::new();
        for (route, _) in &routes {
            let key = (route.segments.clone(), route.wildcard);
            let key = format!("{key:?}");
            if !seen.insert(key) {
                return Err(RouteError::Duplicate(route.source.clone()));
            }
        }
        Ok(Self { routes })
    }

    /// The component serving `path`, if any.
    pub fn lookup<'t, 'p>(&'t self, path: &'p str) -> Option<RouteMatch<'t, 'p>> {
        self.routes
            .iter()
            .filter_map(|(route, component)| {
                route.matches(path).map(|path_info| RouteMatch {
                    component,
                    route,
                    path_info,
                })
            })
            .max_by_key(|found| found.route.rank())
    }

    /// Every `(route, component)` pair, in manifest order.
    pub fn iter(&self) -> impl Iterator<Item = (&Route, &str)> {
        self.routes.iter().map(|(r, c)| (r, c.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        RouteTable::new(
            routes
                .iter()
                .map(|(r, c)| (Route::parse(r).unwrap(), (*c).to_owned()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn wildcard_matches_its_prefix_and_below() {
        let route = Route::parse("/api/platform/bluesky/...").unwrap();
        assert_eq!(route.matches("/api/platform/bluesky"), Some(""));
        assert_eq!(route.matches("/api/platform/bluesky/"), Some("/"));
        assert_eq!(
            route.matches("/api/platform/bluesky/status"),
            Some("/status")
        );
        assert_eq!(route.matches("/api/platform/bluesky/a/b"), Some("/a/b"));
        assert_eq!(route.matches("/api/platform/blueskyx"), None);
        assert_eq!(route.matches("/api/platform"), None);
        assert_eq!(route.component_route(), "/api/platform/bluesky");
    }

    #[test]
    fn exact_route_matches_only_itself() {
        let route = Route::parse("/hello").unwrap();
        assert_eq!(route.matches("/hello"), Some(""));
        assert_eq!(route.matches("/hello/"), Some(""));
        assert_eq!(route.matches("/hello/x"), None);
        assert_eq!(route.matches("/hell"), None);
    }

    #[test]
    fn root_wildcard_matches_everything() {
        let route = Route::parse("/...").unwrap();
        assert_eq!(route.matches("/"), Some("/"));
        assert_eq!(route.matches("/x/y"), Some("/x/y"));
    }

    #[test]
    fn parameters_match_one_segment() {
        let route = Route::parse("/users/:id").unwrap();
        assert_eq!(route.matches("/users/42"), Some(""));
        assert_eq!(route.matches("/users"), None);
        assert_eq!(route.matches("/users/42/x"), None);
    }

    #[test]
    fn longest_prefix_and_exact_routes_win() {
        let routes = table(&[
            ("/...", "fallback"),
            ("/api/...", "api"),
            ("/api/platform/bluesky/...", "bluesky"),
            ("/api/platform/bluesky/status", "status"),
        ]);
        let pick = |path| routes.lookup(path).map(|m| m.component);
        assert_eq!(pick("/api/platform/bluesky/connect"), Some("bluesky"));
        assert_eq!(pick("/api/platform/bluesky/status"), Some("status"));
        assert_eq!(pick("/api/platform/tumblr/connect"), Some("api"));
        assert_eq!(pick("/other"), Some("fallback"));
    }

    #[test]
    fn unmatched_path_finds_nothing() {
        let routes = table(&[("/api/platform/bluesky/...", "bluesky")]);
        assert!(routes.lookup("/").is_none());
        assert!(routes.lookup("/api/platform/tumblr/status").is_none());
    }

    #[test]
    fn refuses_routes_spin_refuses() {
        assert_eq!(
            Route::parse("api/x"),
            Err(RouteError::NotAbsolute("api/x".into()))
        );
        assert!(matches!(
            Route::parse("/a/.../b"),
            Err(RouteError::MisplacedWildcard(_))
        ));
        assert!(matches!(
            Route::parse("/a..."),
            Err(RouteError::MisplacedWildcard(_))
        ));
        assert!(matches!(
            Route::parse("/a//b"),
            Err(RouteError::BadSegment(_))
        ));
        assert!(matches!(
            Route::parse("/a/*"),
            Err(RouteError::BadSegment(_))
        ));
        let duplicate = RouteTable::new(vec![
            (Route::parse("/a/...").unwrap(), "x".into()),
            (Route::parse("/a/...").unwrap(), "y".into()),
        ]);
        assert!(matches!(duplicate, Err(RouteError::Duplicate(_))));
    }
}
