//! `bianxian-local load`: a fixed number of requests at a fixed concurrency against a
//! running stack, every answer checked. scripts/test's quick load test sends 10,000
//! at 64 and fails on a single error; `scripts/bench` reports the same numbers.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use url::Url;

/// One request to repeat: a GET of `path` with its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Target {
    /// `PATH`, then tab-separated `Name: value` headers.
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut fields = line.split('\t');
        let path = fields.next().unwrap_or_default().trim();
        if !path.starts_with('/') {
            return Err(format!("`{line}`: a target starts with its path, `/…`"));
        }
        let headers = fields
            .map(|field| {
                field
                    .split_once(": ")
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                    .ok_or_else(|| format!("`{field}` is not `Name: value`"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            path: path.to_owned(),
            headers,
        })
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no HTTP answer (refused, reset, timed out).
    pub transport_errors: usize,
    pub elapsed: Duration,
    /// Every answered request's latency, sorted.
    latencies: Vec<Duration>,
}

impl Report {
    pub fn answered(&self) -> usize {
        self.statuses.values().sum()
    }

    /// Answers that are not 2xx or 304, and requests with no answer.
    pub fn errors(&self) -> usize {
        let bad: usize = self
            .statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status) && **status != 304)
            .map(|(_, count)| count)
            .sum();
        bad + self.transport_errors
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    pub fn summary(&self, concurrency: usize) -> String {
        let total = self.answered() + self.transport_errors;
        let rate = total as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON);
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        format!(
            "{total} requests at concurrency {concurrency} in {:.1} s: {rate:.0} req/s, \
             p50 {:.1} ms, p99 {:.1} ms; {} errors ({}; {} without an answer)",
            self.elapsed.as_secs_f64(),
            self.percentile(50.0).as_secs_f64() * 1000.0,
            self.percentile(99.0).as_secs_f64() * 1000.0,
            self.errors(),
            statuses.join(", "),
            self.transport_errors,
        )
    }
}

/// Sends `requests` requests, `concurrency` at a time, cycling through `targets`.
pub async fn run(
    base: &Url,
    targets: Vec<Target>,
    requests: usize,
    concurrency: usize,
) -> Result<Report, String> {
    if targets.is_empty() || concurrency == 0 {
        return Err("nothing to send".into());
    }
    platform::install_crypto_provider();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let urls = targets
        .iter()
        .map(|t| {
            base.join(t.path.trim_start_matches('/'))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let targets = Arc::new((targets, urls));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, targets, next) = (http.clone(), targets.clone(), next.clone());
            tokio::spawn(async move {
                let mut report = Report::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        return report;
                    }
                    let (targets, urls) = &*targets;
                    let target = &targets[i % targets.len()];
                    let mut request = http.get(urls[i % urls.len()].clone());
                    for (name, value) in &target.headers {
                        request = request.header(name, value);
                    }
                    let sent = Instant::now();
                    match request.send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            // Read to the end: the answer is only complete then.
                            let complete = response.bytes().await.is_ok();
                            if complete {
                                report.latencies.push(sent.elapsed());
                                *report.statuses.entry(status).or_default() += 1;
                            } else {
                                report.transport_errors += 1;
                            }
                        }
                        Err(_) => report.transport_errors += 1,
                    }
                }
            })
        })
        .collect();
    let mut total = Report::default();
    for worker in workers {
        let report = worker.await.map_err(|e| e.to_string())?;
        for (status, count) in report.statuses {
            *total.statuses.entry(status).or_default() += count;
        }
        total.transport_errors += report.transport_errors;
        total.latencies.extend(report.latencies);
    }
    total.elapsed = started.elapsed();
    total.latencies.sort_unstable();
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_a_path_and_headers() {
        let target = Target::parse("/auth/me\tAuthorization: Bearer bxs_x\tAccept: */*").unwrap();
        assert_eq!(target.path, "/auth/me");
        assert_eq!(
            target.headers,
            vec![
                ("Authorization".into(), "Bearer bxs_x".into()),
                ("Accept".into(), "*/*".into())
            ]
        );
        assert!(Target::parse("auth/me").is_err());
        assert!(Target::parse("/a\tnot a header").is_err());
    }

    #[test]
    fn errors_are_what_is_not_2xx_or_304_and_what_got_no_answer() {
        let report = Report {
            statuses: BTreeMap::from([(200, 90), (304, 5), (429, 3), (503, 1)]),
            transport_errors: 2,
            elapsed: Duration::from_secs(1),
            latencies: (1..=100).map(Duration::from_millis).collect(),
        };
        assert_eq!(report.answered(), 99);
        assert_eq!(report.errors(), 6);
        assert_eq!(report.percentile(50.0), Duration::from_millis(50));
        assert_eq!(report.percentile(99.0), Duration::from_millis(99));
    }
}
