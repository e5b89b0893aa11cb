//! Routes read from `template.yaml`, the one source of truth for what API Gateway
//! would send to which function.
//!
//! CloudFormation short-form tags (`!Ref`, `!Sub`, ...) elsewhere in the file are
//! kept as tagged values by the YAML parser and ignored; only functions' build
//! binary names and their `HttpApi` events matter here.

use http::Method;
use serde_norway::Value;

/// One `HttpApi` event of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `None` for `ANY`.
    pub method: Option<Method>,
    pub pattern: Pattern,
    /// The function's binary name (`Metadata.BuildProperties.Binary`).
    pub function: String,
}

impl Route {
    /// The `routeKey` API Gateway reports, e.g. `GET /api/articles/{documentId}`.
    pub fn key(&self) -> String {
        match &self.pattern {
            Pattern::Default => "$default".into(),
            Pattern::Segments(_) => format!(
                "{} {}",
                self.method.as_ref().map_or("ANY", Method::as_str),
                self.pattern.source()
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one segment.
    Param(String),
    /// `{name+}`: the rest of the path (at least one segment).
    Greedy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `$default`: whatever no other route matched.
    Default,
    Segments(Vec<Segment>),
}

impl Pattern {
    pub fn parse(path: &str) -> Result<Self, String> {
        if path == "$default" {
            return Ok(Pattern::Default);
        }
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| format!("route path `{path}` must start with /"))?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(name) if i + 1 == parts.len() => Segment::Greedy(name.into()),
                    Some(_) => return Err(format!("`{path}`: a greedy parameter must be last")),
                    None => Segment::Param(name.into()),
                },
                None => Segment::Literal((*part).into()),
            };
            segments.push(segment);
        }
        Ok(Pattern::Segments(segments))
    }

    fn source(&self) -> String {
        match self {
            Pattern::Default => "$default".into(),
            Pattern::Segments(segments) => {
                let parts: Vec<String> = segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => l.clone(),
                        Segment::Param(p) => format!("{{{p}}}"),
                        Segment::Greedy(p) => format!("{{{p}+}}"),
                    })
                    .collect();
                format!("/{}", parts.join("/"))
            }
        }
    }

    /// The path parameters when `path` matches.
    pub fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let Pattern::Segments(segments) = self else {
            return None;
        };
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut params = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Literal(literal) => {
                    if parts.get(i) != Some(&literal.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => params.push((name.clone(), (*parts.get(i)?).to_string())),
                Segment::Greedy(name) => {
                    if i >= parts.len() {
                        return None;
                    }
                    params.push((name.clone(), parts[i..].join("/")));
                    return Some(params);
                }
            }
        }
        (parts.len() == segments.len()).then_some(params)
    }

    /// Higher is more specific: API Gateway prefers literal segments over
    /// parameters, and parameters over a greedy tail.
    pub fn specificity(&self) -> (usize, usize, usize) {
        match self {
            Pattern::Default => (0, 0, 0),
            Pattern::Segments(segments) => {
                let literals = segments
                    .iter()
                    .filter(|s| matches!(s, Segment::Literal(_)))
                    .count();
                let greedy = segments.iter().any(|s| matches!(s, Segment::Greedy(_)));
                (usize::from(!greedy), literals, segments.len())
            }
        }
    }
}

/// Reads every function's HttpApi routes from the template's text.
pub fn routes(template: &str) -> Result<Vec<Route>, String> {
    let doc: Value = serde_norway::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or("template.yaml has no Resources")?;
    let mut routes = Vec::new();
    for (logical_id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = logical_id.as_str().unwrap_or("?");
        let binary = resource
            .get("Metadata")
            .and_then(|m| m.get("BuildProperties"))
            .and_then(|b| b.get("Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                format!("{name}: Metadata.BuildProperties.Binary must be a plain string")
            })?;
        let Some(events) = resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
        else {
            continue;
        };
        for (_, event) in events {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let properties = event.get("Properties");
            let path = properties
                .and_then(|p| p.get("Path"))
                .and_then(Value::as_str)
                .unwrap_or("$default");
            let method = properties
                .and_then(|p| p.get("Method"))
                .and_then(Value::as_str)
                .unwrap_or("ANY");
            let method = match method.to_ascii_uppercase().as_str() {
                "ANY" => None,
                other => Some(
                    Method::from_bytes(other.as_bytes())
                        .map_err(|_| format!("{name}: bad method `{other}`"))?,
                ),
            };
            routes.push(Route {
                method,
                pattern: Pattern::parse(path)?,
                function: binary.to_string(),
            });
        }
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_repository_template() {
        let text = include_str!("../../../template.yaml");
        let routes = routes(text).unwrap();
        let health = routes.iter().find(|r| r.function == "health").unwrap();
        assert_eq!(health.key(), "GET /health");
        assert!(
            routes
                .iter()
                .any(|r| r.pattern == Pattern::Default && r.function == "fallback")
        );
    }

    #[test]
    fn patterns_match_like_api_gateway() {
        let item = Pattern::parse("/api/articles/{documentId}").unwrap();
        assert_eq!(
            item.matches("/api/articles/abc"),
            Some(vec![("documentId".into(), "abc".into())])
        );
        assert_eq!(item.matches("/api/articles"), None);
        assert_eq!(item.matches("/api/articles/abc/more"), None);
        let greedy = Pattern::parse("/media/{key+}").unwrap();
        assert_eq!(
            greedy.matches("/media/a/b.png"),
            Some(vec![("key".into(), "a/b.png".into())])
        );
        assert_eq!(greedy.matches("/media"), None);
        assert!(Pattern::parse("/a/{x+}/b").is_err());
        assert!(item.specificity() < Pattern::parse("/api/articles/count").unwrap().specificity());
        assert!(greedy.specificity() < Pattern::parse("/media/{id}").unwrap().specificity());
    }
}
