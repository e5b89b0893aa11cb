//! `bianxian-local soak`: a realistic mix of traffic through the gateway for a fixed
//! time at a fixed concurrency, then a check against the database that nothing was
//! lost or done twice. `scripts/bench soak` runs it (10 minutes at 64) with a
//! campaign sending in the background.
//!
//! Each worker is one reader with an account, on an address of its own (127.0.x.y:
//! the per-address limits on sign-in and sign-up apply per reader, as in production):
//! content reads cached and uncached, `/auth/me`, a sign-in at most every 15 s, a
//! checkout paid at the Alipay simulator (which notifies the payment webhook) at most
//! every 30 s, and a newsletter sign-up (a confirmation mail through the outbox) at
//! most every 45 s. The pace of the last three is a reader's, and keeps the mail they
//! cause (receipts, confirmations) within what moto can send: an earlier run with a
//! checkout in every 33 requests made 41,480 orders in ten minutes, whose receipts
//! moto's single-threaded SQS and SES took hours to drain.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use identity::{email::Email, members, password};
use platform::Platform;
use rand::Rng;
use serde_json::{Value, json};
use tokio_postgres::types::Type;
use url::Url;

pub struct Options {
    pub base: Url,
    /// The Alipay simulator, where a reader pays a checkout.
    pub alipay: Url,
    pub duration: Duration,
    pub concurrency: usize,
}

/// What one kind of request did.
#[derive(Debug, Default)]
pub struct Route {
    pub statuses: BTreeMap<u16, usize>,
    pub transport_errors: usize,
    latencies: Vec<Duration>,
}

impl Route {
    fn record(&mut self, outcome: Result<(u16, Duration), ()>) {
        match outcome {
            Ok((status, took)) => {
                *self.statuses.entry(status).or_default() += 1;
                self.latencies.push(took);
            }
            Err(()) => self.transport_errors += 1,
        }
    }

    fn merge(&mut self, other: Route) {
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.transport_errors += other.transport_errors;
        self.latencies.extend(other.latencies);
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    pub fn count(&self) -> usize {
        self.statuses.values().sum::<usize>() + self.transport_errors
    }

    pub fn server_errors(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| **status >= 500)
            .map(|(_, count)| count)
            .sum::<usize>()
            + self.transport_errors
    }
}

/// Everything a run did and what the database says about it afterwards.
#[derive(Debug, Default)]
pub struct Outcome {
    pub routes: BTreeMap<&'static str, Route>,
    pub elapsed: Duration,
    /// Orders a reader paid at the simulator.
    pub paid: Vec<String>,
    /// Addresses that signed up (each owed one confirmation mail).
    pub signed_up: Vec<String>,
}

/// One reader: an account, a session, and an address of its own.
struct Reader {
    email: String,
    password: String,
    session: String,
    http: reqwest::Client,
    last_login: Instant,
    last_checkout: Instant,
    last_signup: Instant,
    signups: usize,
}

const PASSWORD: &str = "soak password";

pub async fn run(platform: &Platform, options: Options) -> Result<Outcome, String> {
    platform::install_crypto_provider();
    let price = catalogue_price(platform).await?;
    let articles = published(platform).await?;
    let mut readers = Vec::new();
    for n in 0..options.concurrency {
        readers.push(reader(platform, &options.base, n).await?);
    }
    let deadline = Instant::now() + options.duration;
    let started = Instant::now();
    let workers: Vec<_> = readers
        .into_iter()
        .map(|reader| {
            let base = options.base.clone();
            let alipay = options.alipay.clone();
            let (price, articles) = (price.clone(), articles.clone());
            tokio::spawn(
                async move { work(reader, &base, &alipay, &price, &articles, deadline).await },
            )
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        let (routes, paid, signed_up) = worker.await.map_err(|e| e.to_string())?;
        for (name, route) in routes {
            outcome.routes.entry(name).or_default().merge(route);
        }
        outcome.paid.extend(paid);
        outcome.signed_up.extend(signed_up);
    }
    outcome.elapsed = started.elapsed();
    for route in outcome.routes.values_mut() {
        route.latencies.sort_unstable();
    }
    Ok(outcome)
}

type WorkerResult = (BTreeMap<&'static str, Route>, Vec<String>, Vec<String>);

async fn work(
    mut reader: Reader,
    base: &Url,
    alipay: &Url,
    price: &str,
    articles: &[(String, String)],
    deadline: Instant,
) -> WorkerResult {
    let mut routes: BTreeMap<&'static str, Route> = BTreeMap::new();
    let (mut paid, mut signed_up) = (Vec::new(), Vec::new());
    let url = |path: &str| base.join(path.trim_start_matches('/')).expect("a path");
    while Instant::now() < deadline {
        let roll = rand::rng().random_range(0..100);
        let (i, size) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..articles.len()),
                rng.random_range(1..=25),
            )
        };
        let document_id = &articles[i].0;
        match roll {
            0..45 => {
                // The pages every reader sees: cached after the first.
                let path = match roll % 3 {
                    0 => "/api/articles?pagination[pageSize]=20&populate[0]=author&populate[1]=category&sort=publishedAt:desc".to_owned(),
                    1 => format!("/api/articles?filters[slug][$eq]={}&populate=*", articles[i % 10].1),
                    _ => "/api/categories".to_owned(),
                };
                let outcome = get(&reader.http, url(&path), None).await;
                routes
                    .entry("content (cached)")
                    .or_default()
                    .record(outcome);
            }
            45..60 => {
                // A detail and a page size nobody asked for yet: read from PostgreSQL.
                let path = format!(
                    "/api/articles?filters[documentId][$eq]={document_id}&pagination[pageSize]={size}&populate=*"
                );
                let outcome = get(&reader.http, url(&path), None).await;
                routes
                    .entry("content (uncached)")
                    .or_default()
                    .record(outcome);
            }
            60..90 => {
                let outcome = get(&reader.http, url("/auth/me"), Some(&reader.session)).await;
                routes.entry("GET /auth/me").or_default().record(outcome);
            }
            90..95 if reader.last_login.elapsed() > Duration::from_secs(15) => {
                reader.last_login = Instant::now();
                let body = json!({ "email": reader.email, "password": reader.password });
                let sent = Instant::now();
                let answer = reader
                    .http
                    .post(url("/auth/login"))
                    .json(&body)
                    .send()
                    .await;
                let outcome = match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        if let Some(token) = body["data"]["token"].as_str() {
                            reader.session = token.to_owned();
                        }
                        Ok((status, sent.elapsed()))
                    }
                    Err(_) => Err(()),
                };
                routes
                    .entry("POST /auth/login")
                    .or_default()
                    .record(outcome);
            }
            95..98 if reader.last_checkout.elapsed() > Duration::from_secs(30) => {
                reader.last_checkout = Instant::now();
                let body = json!({ "price": price, "channel": "alipay", "method": "qr" });
                let sent = Instant::now();
                let answer = reader
                    .http
                    .post(url("/checkout"))
                    .bearer_auth(&reader.session)
                    .json(&body)
                    .send()
                    .await;
                let mut order = None;
                let outcome = match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        order = body["data"]["order"]["documentId"]
                            .as_str()
                            .map(str::to_owned);
                        Ok((status, sent.elapsed()))
                    }
                    Err(_) => Err(()),
                };
                routes.entry("POST /checkout").or_default().record(outcome);
                if let Some(order) = order {
                    // The reader pays; the simulator notifies /webhooks/alipay before
                    // it answers.
                    let sent = Instant::now();
                    let answer = reader
                        .http
                        .post(alipay.join(&format!("_sim/pay/{order}")).expect("a path"))
                        .send()
                        .await;
                    let outcome = answer
                        .map(|r| (r.status().as_u16(), sent.elapsed()))
                        .map_err(|_| ());
                    if matches!(outcome, Ok((status, _)) if status < 400) {
                        paid.push(order);
                    }
                    routes
                        .entry("pay at Alipay → webhook")
                        .or_default()
                        .record(outcome);
                }
            }
            98..100 if reader.last_signup.elapsed() > Duration::from_secs(45) => {
                reader.last_signup = Instant::now();
                reader.signups += 1;
                let email = format!(
                    "soak-signup-{}-{}@example.com",
                    reader.email.trim_end_matches("@example.com"),
                    reader.signups
                );
                let sent = Instant::now();
                let answer = reader
                    .http
                    .post(url("/newsletter/subscribe"))
                    .json(&json!({ "email": email }))
                    .send()
                    .await;
                let outcome = answer
                    .map(|r| (r.status().as_u16(), sent.elapsed()))
                    .map_err(|_| ());
                if matches!(outcome, Ok((status, _)) if status < 300) {
                    signed_up.push(email);
                }
                routes
                    .entry("POST /newsletter/subscribe")
                    .or_default()
                    .record(outcome);
            }
            _ => {
                let outcome = get(&reader.http, url("/api/articles"), None).await;
                routes
                    .entry("content (cached)")
                    .or_default()
                    .record(outcome);
            }
        }
    }
    (routes, paid, signed_up)
}

async fn get(
    http: &reqwest::Client,
    url: Url,
    session: Option<&str>,
) -> Result<(u16, Duration), ()> {
    let sent = Instant::now();
    let mut request = http.get(url);
    if let Some(session) = session {
        request = request.bearer_auth(session);
    }
    let response = request.send().await.map_err(|_| ())?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(|_| ())?;
    Ok((status, sent.elapsed()))
}

/// Reader `n`: an account made in the database, signed in over HTTP from its own
/// address.
async fn reader(platform: &Platform, base: &Url, n: usize) -> Result<Reader, String> {
    let email = format!("soak-reader-{n}@example.com");
    let address = IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        1 + (n / 250) as u8,
        1 + (n % 250) as u8,
    ));
    let http = reqwest::Client::builder()
        .local_address(address)
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let parsed = Email::parse(&email).map_err(|e| e.to_string())?;
    let secret = password::Password::parse_new(PASSWORD, "password").map_err(|e| e.to_string())?;
    let hash = password::hash(&secret).await.map_err(|e| e.to_string())?;
    let client = platform.db.client().await.map_err(|e| e.to_string())?;
    // An earlier run's reader is signed in as it is.
    members::create(&**client, &parsed, &hash, "")
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute_typed(
            "UPDATE members SET password_hash = $2 WHERE email = $1",
            &[(&email, Type::TEXT), (&hash, Type::TEXT)],
        )
        .await
        .map_err(|e| e.to_string())?;
    let answer = http
        .post(base.join("auth/login").map_err(|e| e.to_string())?)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .map_err(|e| format!("{email} cannot sign in: {e}"))?;
    let body: Value = answer.json().await.map_err(|e| e.to_string())?;
    let session = body["data"]["token"]
        .as_str()
        .ok_or_else(|| format!("{email} cannot sign in: {body}"))?
        .to_owned();
    Ok(Reader {
        email,
        password: PASSWORD.to_owned(),
        session,
        http,
        last_login: Instant::now(),
        last_checkout: Instant::now() - Duration::from_secs(60),
        last_signup: Instant::now() - Duration::from_secs(60),
        signups: 0,
    })
}

/// A one-off CNY price of the seeded catalogue.
async fn catalogue_price(platform: &Platform) -> Result<String, String> {
    let client = platform.db.client().await.map_err(|e| e.to_string())?;
    let rows = client
        .query_typed(
            "SELECT pr.document_id FROM prices pr JOIN products p ON p.id = pr.product_id
             WHERE pr.currency = 'CNY' AND pr.billing <> 'subscription' AND pr.active
             ORDER BY pr.id LIMIT 1",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    rows.first()
        .map(|row| row.get(0))
        .ok_or_else(|| "no CNY price in the catalogue: seed first".into())
}

/// Published articles: (documentId, slug).
async fn published(platform: &Platform) -> Result<Vec<(String, String)>, String> {
    let client = platform.db.client().await.map_err(|e| e.to_string())?;
    let rows = client
        .query_typed(
            "SELECT document_id, slug FROM articles
             WHERE published_at <= now() AND deleted_at IS NULL ORDER BY id LIMIT 2000",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    if rows.len() < 10 {
        return Err("fewer than 10 published articles: seed first".into());
    }
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What the database says once the pipelines have drained (waiting up to
/// `patience`): every order paid at the simulator paid here and granted exactly once,
/// every sign-up's confirmation mail written once, every mail (confirmations,
/// receipts) and every campaign message sent.
pub async fn check(
    platform: &Platform,
    outcome: &Outcome,
    patience: Duration,
) -> Result<Vec<String>, String> {
    let client = platform.db.client().await.map_err(|e| e.to_string())?;
    let until = Instant::now() + patience;
    loop {
        let rows = client
            .query_typed(
                "SELECT (SELECT count(*) FROM orders WHERE document_id = ANY($1) AND status = 'paid'),
                        (SELECT count(*) FROM orders o WHERE o.document_id = ANY($1)
                           AND (SELECT count(*) FROM entitlements e
                                WHERE e.source = 'purchase' AND e.source_ref = o.document_id) = 1),
                        (SELECT count(DISTINCT recipient) FROM mail_outbox WHERE recipient = ANY($2)),
                        (SELECT count(*) FROM mail_outbox WHERE recipient = ANY($2)),
                        (SELECT count(*) FROM mail_outbox WHERE status = 'sent'),
                        (SELECT count(*) FROM mail_outbox),
                        (SELECT count(*) FROM campaign_messages WHERE status <> 'sent'),
                        (SELECT count(*) FROM campaign_messages),
                        (SELECT count(*) FROM mail_outbox WHERE template = 'receipt')",
                &[
                    (&outcome.paid, Type::TEXT_ARRAY),
                    (&outcome.signed_up, Type::TEXT_ARRAY),
                ],
            )
            .await
            .map_err(|e| e.to_string())?;
        let count = |i: usize| rows[0].get::<_, i64>(i);
        let (paid, granted) = (count(0), count(1));
        let (recipients, confirmations, sent, mails) = (count(2), count(3), count(4), count(5));
        let (campaign_left, campaign) = (count(6), count(7));
        // A grant cannot be doubled (one per order by a unique index), a receipt could.
        // Receipts are written in the grant's transaction; a sent one forgets its
        // variables (the order among them), so they are counted, not told apart.
        let receipts = count(8);
        let ordered = outcome.paid.len() as i64;
        let signed_up = outcome.signed_up.len() as i64;
        let whole = ordered > 0
            && signed_up > 0
            && receipts == ordered
            && paid == ordered
            && granted == ordered
            && recipients == signed_up
            && confirmations == signed_up
            && sent == mails
            && campaign_left == 0;
        if whole || Instant::now() > until {
            let findings = vec![
                format!(
                    "orders paid at the simulator: {ordered}; paid here: {paid}; granted exactly once: {granted}; receipts: {receipts}"
                ),
                format!(
                    "sign-ups: {signed_up}; with one confirmation mail: {recipients} ({confirmations} mails)"
                ),
                format!("mails in the outbox (confirmations, receipts): {mails}; sent: {sent}"),
                format!("campaign messages: {campaign}; not sent: {campaign_left}"),
            ];
            return if whole {
                Ok(findings)
            } else {
                Err(findings.join("\n"))
            };
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

impl Outcome {
    pub fn report(&self, concurrency: usize) -> String {
        let total: usize = self.routes.values().map(Route::count).sum();
        let mut lines = vec![format!(
            "{total} requests at concurrency {concurrency} in {:.0} s: {:.0} req/s",
            self.elapsed.as_secs_f64(),
            total as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
        )];
        lines.push("| route | requests | p50 ms | p99 ms | statuses | 5xx or no answer |".into());
        lines.push("| --- | ---: | ---: | ---: | --- | ---: |".into());
        for (name, route) in &self.routes {
            let statuses: Vec<String> = route
                .statuses
                .iter()
                .map(|(status, count)| format!("{status}: {count}"))
                .collect();
            lines.push(format!(
                "| {name} | {} | {:.1} | {:.1} | {} | {} |",
                route.count(),
                route.percentile(50.0).as_secs_f64() * 1000.0,
                route.percentile(99.0).as_secs_f64() * 1000.0,
                statuses.join(", "),
                route.server_errors()
            ));
        }
        lines.join("\n")
    }

    pub fn server_errors(&self) -> usize {
        self.routes.values().map(Route::server_errors).sum()
    }

    /// 4xx answers: every request of the mix is a valid one, so any is a finding.
    pub fn client_errors(&self) -> usize {
        self.routes
            .values()
            .flat_map(|route| &route.statuses)
            .filter(|(status, _)| (400..500).contains(*status))
            .map(|(_, count)| count)
            .sum()
    }
}
