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
    /// The function's binary name (see [`binary_of`]).
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

/// The binary, and crate under `functions/`, that a function's logical id names:
/// `ContentApiFunction` is `content-api`. The Makefile `sam build` runs derives it
/// the same way, so the template holds no second copy of the name.
pub fn binary_of(logical_id: &str) -> Result<String, String> {
    let stem = logical_id
        .strip_suffix("Function")
        .filter(|stem| stem.starts_with(|c: char| c.is_ascii_uppercase()))
        .ok_or_else(|| format!("{logical_id}: a function's logical id is <Name>Function"))?;
    let mut binary = String::with_capacity(stem.len() + 4);
    for (i, c) in stem.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            binary.push('-');
        }
        binary.push(c.to_ascii_lowercase());
    }
    Ok(binary)
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
        let binary = binary_of(name)?;
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
                function: binary.clone(),
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
        assert!(routes.iter().any(|r| r.function == "content-api"));
        let health = routes.iter().find(|r| r.function == "health").unwrap();
        assert_eq!(health.key(), "GET /health");
        assert!(
            routes
                .iter()
                .any(|r| r.pattern == Pattern::Default && r.function == "fallback")
        );
    }

    #[test]
    fn binaries_are_named_after_logical_ids() {
        assert_eq!(binary_of("HealthFunction").unwrap(), "health");
        assert_eq!(binary_of("ContentApiFunction").unwrap(), "content-api");
        assert_eq!(binary_of("SesEventsFunction").unwrap(), "ses-events");
        assert!(binary_of("Function").is_err());
        assert!(binary_of("MailQueue").is_err());
        assert!(binary_of("healthFunction").is_err());
    }

    /// `sam build` copies `functions/<binary>`'s bootstrap for each function, so a
    /// function without its crate, or a crate without its function, fails the build
    /// or ships nothing: caught here instead.
    #[test]
    fn every_function_has_its_crate_and_every_crate_its_function() {
        let doc: Value = serde_norway::from_str(include_str!("../../../template.yaml")).unwrap();
        let mut declared: Vec<String> = doc["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .map(|(id, _)| binary_of(id.as_str().unwrap()).unwrap())
            .collect();
        let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
        let mut crates: Vec<String> = std::fs::read_dir(functions)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.path().join("Cargo.toml").is_file())
            .map(|entry| entry.file_name().into_string().unwrap())
            .collect();
        declared.sort();
        crates.sort();
        assert_eq!(declared, crates);
        assert!(crates.len() >= 22);
    }

    /// What `sam build` runs for each function (`make -n` prints it without running
    /// it): one cargo invocation naming every function's crate, then a copy of the
    /// binary [`binary_of`] names.
    #[test]
    fn the_makefile_builds_every_function_and_copies_each_ones_binary() {
        let doc: Value = serde_norway::from_str(include_str!("../../../template.yaml")).unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let functions: Vec<&str> = doc["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .map(|(id, r)| {
                assert_eq!(
                    r["Metadata"]["BuildMethod"].as_str(),
                    Some("makefile"),
                    "{id:?}"
                );
                id.as_str().unwrap()
            })
            .collect();
        for id in &functions {
            let output = std::process::Command::new("make")
                .current_dir(&root)
                .args(["-n", &format!("build-{id}"), "ARTIFACTS_DIR=/artifacts"])
                .env("CARGO_TARGET_DIR", "/cargo-target")
                .output()
                .expect("make runs");
            assert!(output.status.success(), "{id}: {output:?}");
            let plan = String::from_utf8(output.stdout).unwrap();
            let binary = binary_of(id).unwrap();
            assert!(
                plan.contains(&format!(
                    "cp \"/cargo-target/lambda/{binary}/bootstrap\" \"/artifacts/bootstrap\""
                )),
                "{id}: {plan}"
            );
            assert!(plan.contains("--disable-optimizations"), "{plan}");
            let words: Vec<&str> = plan.split_whitespace().collect();
            let packages: Vec<&str> = words
                .windows(2)
                .filter(|pair| pair[0] == "--package")
                .map(|pair| pair[1])
                .collect();
            for other in &functions {
                let crate_name = binary_of(other).unwrap();
                assert!(
                    packages.contains(&crate_name.as_str()),
                    "{id} does not build {other}: {plan}"
                );
            }
        }
    }

    /// The parts of template.yaml an operator relies on when something breaks, kept
    /// in step with its functions and queues: each function has an errors alarm, a
    /// throttles alarm, a place on the dashboard and either reserved concurrency or
    /// a named reason for none; each dead-letter queue has a depth alarm; every
    /// checkov suppression says why.
    mod operations {
        use serde_norway::{Mapping, Value};

        fn template() -> Value {
            serde_norway::from_str(include_str!("../../../template.yaml")).unwrap()
        }

        fn resources(doc: &Value) -> &Mapping {
            doc["Resources"].as_mapping().unwrap()
        }

        fn of_type<'a>(
            doc: &'a Value,
            kind: &'a str,
        ) -> impl Iterator<Item = (&'a str, &'a Value)> {
            resources(doc)
                .iter()
                .filter(move |(_, r)| r["Type"].as_str() == Some(kind))
                .map(|(id, r)| (id.as_str().unwrap(), r))
        }

        /// The target of `!Ref X` or `!GetAtt X.QueueName`.
        fn target(value: &Value) -> Option<&str> {
            match value {
                Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
                Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
                    tagged.value.as_str()?.strip_suffix(".QueueName")
                }
                _ => None,
            }
        }

        /// What each alarm watches: (metric name, the resource its dimension names).
        fn alarmed(doc: &Value) -> Vec<(String, String)> {
            let mut watched = Vec::new();
            for (_, alarm) in of_type(doc, "AWS::CloudWatch::Alarm") {
                let properties = &alarm["Properties"];
                let stats = match properties["Metrics"].as_sequence() {
                    Some(metrics) => metrics.iter().map(|m| &m["MetricStat"]["Metric"]).collect(),
                    None => vec![properties],
                };
                for stat in stats {
                    let Some(dimensions) = stat["Dimensions"].as_sequence() else {
                        continue;
                    };
                    for dimension in dimensions {
                        if let Some(name) = target(&dimension["Value"]) {
                            let metric = stat["MetricName"].as_str().unwrap_or_default();
                            watched.push((metric.to_owned(), name.to_owned()));
                        }
                    }
                }
            }
            watched
        }

        fn skips(resource: &Value) -> Vec<(&str, &str)> {
            resource["Metadata"]["checkov"]["skip"]
                .as_sequence()
                .map(|skips| {
                    skips
                        .iter()
                        .map(|s| {
                            (
                                s["id"].as_str().unwrap(),
                                s["comment"].as_str().unwrap_or(""),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        }

        #[test]
        fn every_function_is_alarmed_on_and_on_the_dashboard() {
            let doc = template();
            let watched = alarmed(&doc);
            // `!Sub [body, {variables}]`.
            let dashboard = match &resources(&doc)["Dashboard"]["Properties"]["DashboardBody"] {
                Value::Tagged(sub) => sub.value[0].as_str().unwrap().to_owned(),
                other => panic!("DashboardBody is not a !Sub: {other:?}"),
            };
            let functions: Vec<_> = of_type(&doc, "AWS::Serverless::Function").collect();
            assert!(functions.len() >= 22);
            for (name, _) in &functions {
                for metric in ["Errors", "Throttles"] {
                    assert!(
                        watched.contains(&(metric.to_owned(), name.to_string())),
                        "{name} has no {metric} alarm"
                    );
                }
                // Duration (p99), errors and throttles.
                assert_eq!(
                    dashboard.matches(&format!("${{{name}}}")).count(),
                    3,
                    "{name} on the dashboard"
                );
            }
        }

        #[test]
        fn every_dead_letter_queue_is_alarmed_on() {
            let doc = template();
            let watched = alarmed(&doc);
            let mut queues = vec!["AsyncDeadLetterQueue".to_owned()];
            for (_, queue) in of_type(&doc, "AWS::SQS::Queue") {
                if let Value::Tagged(arn) =
                    &queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
                {
                    queues.push(
                        arn.value
                            .as_str()
                            .unwrap()
                            .trim_end_matches(".Arn")
                            .to_owned(),
                    );
                }
            }
            // SAM names the queue it makes for an EventBridge rule's DeadLetterConfig
            // <function><event>Queue.
            for (name, function) in of_type(&doc, "AWS::Serverless::Function") {
                for (event, spec) in function["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                {
                    if !spec["Properties"]["DeadLetterConfig"].is_null() {
                        queues.push(format!("{name}{}Queue", event.as_str().unwrap()));
                    }
                }
            }
            assert!(queues.len() >= 6, "{queues:?}");
            for queue in queues {
                assert!(
                    watched.contains(&(
                        "ApproximateNumberOfMessagesVisible".to_owned(),
                        queue.clone()
                    )),
                    "{queue} has no depth alarm"
                );
            }
        }

        #[test]
        fn concurrency_is_reserved_or_the_reason_named() {
            let doc = template();
            let mut reserved = 0;
            for (name, function) in of_type(&doc, "AWS::Serverless::Function") {
                let properties = &function["Properties"];
                match &properties["ReservedConcurrentExecutions"] {
                    Value::Tagged(choice) => {
                        let branches = choice.value.as_sequence().unwrap();
                        assert_eq!(branches[0].as_str(), Some("ReservingConcurrency"), "{name}");
                        reserved += branches[1].as_u64().unwrap();
                    }
                    Value::Null => {
                        assert!(
                            skips(function).iter().any(|(id, _)| *id == "CKV_AWS_115"),
                            "{name} reserves no concurrency and names no reason"
                        );
                        let queue_events = properties["Events"]
                            .as_mapping()
                            .into_iter()
                            .flatten()
                            .filter(|(_, e)| e["Type"].as_str() == Some("SQS"));
                        for (event, spec) in queue_events {
                            assert!(
                                spec["Properties"]["ScalingConfig"]["MaximumConcurrency"]
                                    .as_u64()
                                    .is_some(),
                                "{name}: {event:?} has no MaximumConcurrency"
                            );
                        }
                    }
                    other => panic!("{name}: ReservedConcurrentExecutions {other:?}"),
                }
            }
            let described = doc["Parameters"]["ReserveConcurrency"]["Description"]
                .as_str()
                .unwrap();
            assert!(
                described.contains(&format!("({reserved} sandboxes")),
                "{described}"
            );
            assert!(
                described.contains(&format!("at least {}", reserved + 100)),
                "{described}"
            );
        }

        #[test]
        fn every_checkov_suppression_names_its_reason() {
            let doc = template();
            let mut count = 0;
            for (name, resource) in resources(&doc) {
                for (id, comment) in skips(resource) {
                    assert!(comment.len() > 30, "{name:?} skips {id} without a reason");
                    count += 1;
                }
            }
            assert!(count > 0);
        }
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
