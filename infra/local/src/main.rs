//! `bianxian-local`: the local stack's one binary.
//!
//! ```text
//! bianxian-local gateway [--addr 127.0.0.1:3000] [--template template.yaml]
//! bianxian-local upstash [--addr 127.0.0.1:8079] [--redis 127.0.0.1:6379]
//! bianxian-local migrate
//! ```
//! Configuration comes from the same environment variables as in Lambda.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use bianxian_local::{
    functions,
    gateway::{self, Gateway},
    template,
    upstash::{self, UpstashServerConfig},
};
use shared::{Platform, runtime::load_config, telemetry};
use tokio::net::TcpListener;

const USAGE: &str = "usage: bianxian-local <gateway|upstash|migrate> [--addr HOST:PORT] [--template FILE] [--redis HOST:PORT]";

struct Args {
    command: String,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut raw = std::env::args().skip(1);
        let command = raw.next().ok_or(USAGE)?;
        let mut flags = Vec::new();
        while let Some(flag) = raw.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument `{flag}`\n{USAGE}"))?;
            let value = raw
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            flags.push((name.to_owned(), value));
        }
        Ok(Self { command, flags })
    }

    fn get(&self, name: &str, default: &str) -> String {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or_else(|| default.to_owned(), |(_, v)| v.clone())
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
            let config = load_config();
            let _telemetry = telemetry::init(&config);
            let platform = Arc::new(Platform::new(config).map_err(|e| e.to_string())?);
            let gateway = Gateway::new(routes, functions::mount(&platform), platform)?;
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
        "migrate" => {
            let config = load_config();
            let platform = Platform::new(config).map_err(|e| e.to_string())?;
            let report = migrate::migrate(&platform)
                .await
                .map_err(|e| format!("{e:?}"))?;
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
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
