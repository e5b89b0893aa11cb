//! `bianxian-local`: the local stack's one binary.
//!
//! ```text
//! bianxian-local gateway [--addr 127.0.0.1:3000] [--template template.yaml]
//! bianxian-local upstash [--addr 127.0.0.1:8079] [--redis 127.0.0.1:6379]
//! bianxian-local sims [--alipay 127.0.0.1:8431] [--wechat 127.0.0.1:8432] --env-file FILE
//!                (the Alipay and WeChat Pay simulators on fresh keys; FILE gets the
//!                ALIPAY_* and WECHATPAY_* settings that point the functions at them)
//! bianxian-local bench-payments --orders N --dir DIR
//!                (scripts/bench payments: N pending orders per provider and their
//!                signed notifications, one request per line, and the gateway's settings)
//! bianxian-local bench-mail --subscribers N
//!                (scripts/bench mail: a campaign to N subscribers, started and fanned
//!                out into the campaign queue, timed)
//! bianxian-local campaign-worker
//!                (the campaign-send handler alone, on the campaign queue)
//! bianxian-local ses-event [--file EVENT.json]
//!                (invokes the ses-events function with an SES event as EventBridge
//!                delivers it, from the file or stdin; prints what it did)
//! bianxian-local load --base URL --targets FILE [--requests 10000] [--concurrency 64]
//!                (GETs the targets in FILE, one per line: a path, then tab-separated
//!                `Name: value` headers; prints throughput, p50, p99 and every status;
//!                fails on any answer but 2xx or 304 and on any request without one)
//! bianxian-local soak --base URL --alipay URL [--seconds 600] [--concurrency 64]
//!                (a mix of readers through the gateway: content cached and uncached,
//!                /auth/me, sign-ins, checkouts paid at the Alipay simulator, newsletter
//!                sign-ups; then checks the database: every paid order granted once,
//!                every mail sent once; fails on a 5xx or a finding)
//! bianxian-local migrate
//! bianxian-local seed [--articles 60] [--profile demo|strapi] [--reset]
//! bianxian-local admin create-user --email EMAIL --role admin|editor|author|finance [--name NAME]
//!                (password: BIANXIAN_ADMIN_PASSWORD, else the first line of stdin)
//! ```
//! Configuration comes from the same environment variables as in Lambda.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use bianxian_local::{
    campaigns, functions,
    gateway::{self, Gateway},
    mail, media, openapi, payment_sims, scheduler, seed, template,
    upstash::{self, UpstashServerConfig},
    webhooks,
};
use identity::{access::Role, email::Email, password::Password, staff};
use platform::{Platform, audit, runtime::load_config, telemetry};
use tokio::net::TcpListener;

const USAGE: &str = "usage: bianxian-local <gateway|upstash|sims|bench-payments|bench-mail|campaign-worker|ses-event|load|soak|migrate|seed|openapi|admin create-user> [--addr HOST:PORT] [--template FILE] [--redis HOST:PORT] [--alipay HOST:PORT --wechat HOST:PORT --env-file FILE] [--orders N --dir DIR] [--subscribers N] [--file EVENT.json] [--base URL --targets FILE --requests N --concurrency N] [--alipay URL --seconds N] [--articles N] [--profile demo|strapi] [--reset] [--email E --role R --name N]";

/// Flags that take no value: present means `true`.
const SWITCHES: [&str; 1] = ["reset"];

struct Args {
    command: String,
    subcommand: Option<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        // `--help` anywhere shows the usage rather than running the command with it.
        if std::env::args().any(|a| a == "--help" || a == "-h") {
            return Err(USAGE.to_owned());
        }
        let mut raw = std::env::args().skip(1);
        let command = raw.next().ok_or(USAGE)?;
        let mut raw = raw.peekable();
        let subcommand = raw.next_if(|a| !a.starts_with("--"));
        let mut flags = Vec::new();
        while let Some(flag) = raw.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument `{flag}`\n{USAGE}"))?;
            let value = if SWITCHES.contains(&name) {
                "true".to_owned()
            } else {
                raw.next()
                    .ok_or_else(|| format!("--{name} needs a value"))?
            };
            flags.push((name.to_owned(), value));
        }
        Ok(Self {
            command,
            subcommand,
            flags,
        })
    }

    fn get(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn required(&self, name: &str) -> Result<String, String> {
        self.optional(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn addr(&self, name: &str, default: &str) -> Result<SocketAddr, String> {
        let raw = self.get(name, default);
        raw.parse()
            .map_err(|_| format!("--{name}: `{raw}` is not HOST:PORT"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Args::parse() {
        Ok(args) => run(args).await,
        Err(message) => Err(message),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bianxian-local: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    match args.command.as_str() {
        "gateway" => {
            let addr = args.addr("addr", "127.0.0.1:3000")?;
            let template_path = args.get("template", "template.yaml");
            let text = std::fs::read_to_string(&template_path)
                .map_err(|e| format!("{template_path}: {e}"))?;
            let routes = template::routes(&text)?;
            let (config, ()) = load_config().await;
            let _telemetry = telemetry::init(&config);
            let platform = Arc::new(Platform::new(config).map_err(|e| e.to_string())?);
            // The mail and webhook tasks run detached for as long as the gateway does.
            if mail::start(platform.clone()).await?.is_some() {
                eprintln!(
                    "gateway: mail-send consumes {}, sweeping every {} s",
                    platform
                        .config
                        .section::<::mail::MailConfig>()
                        .ok()
                        .and_then(|mail| mail.queue_url)
                        .map(String::from)
                        .unwrap_or_default(),
                    mail::SWEEP_EVERY.as_secs()
                );
            }
            if campaigns::start(platform.clone()).await?.is_some() {
                eprintln!(
                    "gateway: campaign-send consumes the campaign queue, running its minute every {} s",
                    mail::SWEEP_EVERY.as_secs()
                );
            }
            if let Some(bucket) = media::ensure_bucket(&platform).await? {
                eprintln!("gateway: media uploads go to S3 bucket {bucket}");
            }
            if webhooks::start(platform.clone()).await?.is_some() {
                eprintln!(
                    "gateway: webhook-send consumes {}, sweeping every {} s",
                    platform
                        .config
                        .section::<content::outgoing_webhooks::WebhookConfig>()
                        .ok()
                        .and_then(|webhooks| webhooks.queue_url)
                        .map(String::from)
                        .unwrap_or_default(),
                    mail::SWEEP_EVERY.as_secs()
                );
            }
            // So does the scheduler, like its `rate(1 minute)` rule in AWS.
            scheduler::start(platform.clone())?;
            eprintln!(
                "gateway: scheduler publishes due articles every {} s",
                scheduler::EVERY.as_secs()
            );
            let mounted = functions::mount(&platform).map_err(|e| e.to_string())?;
            let processor = media::Processor::new(&platform)?;
            let gateway = Gateway::new(routes, mounted, platform)?.with_processor(processor);
            let listener = bind(addr).await?;
            eprintln!("gateway: serving template.yaml routes on http://{addr}");
            gateway::serve(listener, Arc::new(gateway))
                .await
                .map_err(|e| e.to_string())
        }
        "upstash" => {
            let addr = args.addr("addr", "127.0.0.1:8079")?;
            let redis_addr = args.addr("redis", "127.0.0.1:6379")?;
            let token = std::env::var("UPSTASH_REDIS_REST_TOKEN")
                .unwrap_or_else(|_| "bianxian-local".into());
            let listener = bind(addr).await?;
            eprintln!("upstash: REST endpoint on http://{addr} in front of redis {redis_addr}");
            upstash::serve(listener, UpstashServerConfig { redis_addr, token })
                .await
                .map_err(|e| e.to_string())
        }
        "sims" => {
            let alipay = bind(args.addr("alipay", "127.0.0.1:8431")?).await?;
            let wechat = bind(args.addr("wechat", "127.0.0.1:8432")?).await?;
            let env_file = args.required("env-file")?;
            let sims = payment_sims::start(alipay, wechat)
                .await
                .map_err(|e| e.to_string())?;
            // Single-quoted for `source`: PEM has no quotes of its own.
            let settings: String = sims
                .env
                .iter()
                .map(|(name, value)| format!("{name}='{value}'\n"))
                .collect();
            std::fs::write(&env_file, settings).map_err(|e| format!("{env_file}: {e}"))?;
            eprintln!(
                "sims: Alipay on {}/gateway.do, WeChat Pay on {}",
                sims.alipay_url, sims.wechat_url
            );
            for task in sims.tasks {
                task.await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        "bench-payments" => {
            let raw = args.required("orders")?;
            let orders = raw
                .parse()
                .map_err(|_| format!("--orders: `{raw}` is not a number"))?;
            let dir = args.required("dir")?;
            let platform = Platform::new(load_config::<()>().await.0).map_err(|e| e.to_string())?;
            bianxian_local::bench_payments::prepare(&platform, orders, std::path::Path::new(&dir))
                .await
        }
        "bench-mail" => {
            let raw = args.required("subscribers")?;
            let subscribers = raw
                .parse()
                .map_err(|_| format!("--subscribers: `{raw}` is not a number"))?;
            let platform = Platform::new(load_config::<()>().await.0).map_err(|e| e.to_string())?;
            bianxian_local::bench_mail::run(&platform, subscribers).await
        }
        "campaign-worker" => {
            let (config, ()) = load_config().await;
            let _telemetry = telemetry::init(&config);
            let platform = Arc::new(Platform::new(config).map_err(|e| e.to_string())?);
            let worker = campaigns::start(platform)
                .await?
                .ok_or("set CAMPAIGN_QUEUE_URL and LINK_SIGNING_KEY")?;
            worker.await.map_err(|e| e.to_string())
        }
        "load" => {
            let base = args.required("base")?;
            let base = url::Url::parse(&format!("{}/", base.trim_end_matches('/')))
                .map_err(|e| format!("--base: {e}"))?;
            let file = args.required("targets")?;
            let targets = std::fs::read_to_string(&file)
                .map_err(|e| format!("{file}: {e}"))?
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(bianxian_local::load::Target::parse)
                .collect::<Result<Vec<_>, _>>()?;
            let number = |name: &str, default: &str| {
                let raw = args.get(name, default);
                raw.parse::<usize>()
                    .map_err(|_| format!("--{name}: `{raw}` is not a number"))
            };
            let (requests, concurrency) =
                (number("requests", "10000")?, number("concurrency", "64")?);
            let report = bianxian_local::load::run(&base, targets, requests, concurrency).await?;
            println!("{}", report.summary(concurrency));
            match report.errors() {
                0 => Ok(()),
                errors => Err(format!("{errors} requests failed")),
            }
        }
        "soak" => {
            let url = |name: &str| {
                let raw = args.required(name)?;
                url::Url::parse(&format!("{}/", raw.trim_end_matches('/')))
                    .map_err(|e| format!("--{name}: {e}"))
            };
            let number = |name: &str, default: &str| {
                let raw = args.get(name, default);
                raw.parse::<u64>()
                    .map_err(|_| format!("--{name}: `{raw}` is not a number"))
            };
            let options = bianxian_local::soak::Options {
                base: url("base")?,
                alipay: url("alipay")?,
                duration: std::time::Duration::from_secs(number("seconds", "600")?),
                concurrency: number("concurrency", "64")? as usize,
            };
            let concurrency = options.concurrency;
            let platform = Platform::new(load_config::<()>().await.0).map_err(|e| e.to_string())?;
            let outcome = bianxian_local::soak::run(&platform, options).await?;
            println!("{}", outcome.report(concurrency));
            let checked = bianxian_local::soak::check(
                &platform,
                &outcome,
                std::time::Duration::from_secs(600),
            )
            .await;
            match &checked {
                Ok(findings) => println!("{}", findings.join("\n")),
                Err(findings) => println!("{findings}"),
            }
            match (outcome.server_errors(), outcome.client_errors(), checked) {
                (0, 0, Ok(_)) => Ok(()),
                (0, 0, Err(_)) => Err("something was lost, done twice or not done (above)".into()),
                (errors, refused, _) => Err(format!(
                    "{errors} requests answered 5xx or not at all, {refused} answered 4xx"
                )),
            }
        }
        "ses-event" => {
            let text = match args.optional("file") {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?,
                None => std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?,
            };
            let event: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
            let platform =
                Arc::new(Platform::new(load_config::<()>().await.0).map_err(|e| e.to_string())?);
            let handler = ses_events::handler(platform, ()).map_err(|e| e.to_string())?;
            let outcome = handler(event).await.map_err(|e| e.to_string())?;
            println!("{outcome}");
            Ok(())
        }
        "migrate" => {
            let (config, ()) = load_config().await;
            let platform = Platform::new(config).map_err(|e| e.to_string())?;
            let report = migrate::migrate(&platform)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            Ok(())
        }
        "seed" => {
            let raw = args.get("articles", "60");
            let articles = raw
                .parse()
                .map_err(|_| format!("--articles: `{raw}` is not a number"))?;
            let profile = seed::Profile::parse(&args.get("profile", "demo"))?;
            let platform = Platform::new(load_config::<()>().await.0).map_err(|e| e.to_string())?;
            seed::seed(
                &platform,
                profile,
                articles,
                args.get("reset", "false") == "true",
            )
            .await
        }
        "admin" if args.subcommand.as_deref() == Some("create-user") => create_user(&args).await,
        "openapi" => {
            print!("{}", openapi::text());
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Creates a staff account, so a new install can sign in to the admin API.
async fn create_user(args: &Args) -> Result<(), String> {
    let email = Email::parse(&args.required("email")?).map_err(|e| format!("--email: {e}"))?;
    let role = Role::parse(&args.required("role")?).map_err(|e| format!("--role: {e}"))?;
    let name = args.get("name", "");
    let raw_password = match std::env::var("BIANXIAN_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let password = Password::parse_new(&raw_password, "password").map_err(|e| e.to_string())?;
    let platform = Platform::new(load_config::<()>().await.0).map_err(|e| e.to_string())?;
    let mut client = platform.db.client().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    let staff = staff::create(&*tx, &email, &password, role, &name)
        .await
        .map_err(|e| e.to_string())?;
    audit::record(
        &*tx,
        "cli",
        "staff.create",
        &format!("staff:{}", staff.document_id),
        serde_json::json!({ "role": role.as_str() }),
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    println!(
        "created {} {} ({})",
        role.as_str(),
        staff.email,
        staff.document_id
    );
    Ok(())
}
