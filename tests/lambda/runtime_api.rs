//! The Lambda Runtime API, served here, and a function binary run against it.
//!
//! The function is the real release-shaped `main` (`platform::runtime::run_http` or
//! `run_event` inside `lambda_runtime`), started as Lambda starts it: a process with
//! `AWS_LAMBDA_RUNTIME_API` pointing at this server. It long-polls
//! `GET /2018-06-01/runtime/invocation/next`, gets one event, and posts the answer
//! to `/invocation/{id}/response` (or `/error`). Between invocations it waits in that
//! poll exactly as a sandbox waits to be thawed. Its stdout and stderr are kept line
//! by line: they are what CloudWatch would ingest.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::Full;
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
    sync::{mpsc, oneshot},
};

/// What a function answered to one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Value),
    /// The function reported an error (`/invocation/{id}/error`).
    Error(Value),
}

impl Outcome {
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("the invocation failed: {error}"),
        }
    }
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

struct RuntimeApi {
    address: String,
    events: mpsc::UnboundedSender<(String, Value)>,
    waiting: Waiting,
}

impl RuntimeApi {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let (events, queue) = mpsc::unbounded_channel::<(String, Value)>();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let waiting: Waiting = Arc::default();
        let answers = waiting.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let queue = queue.clone();
                let answers = answers.clone();
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let queue = queue.clone();
                    let answers = answers.clone();
                    async move { Ok::<_, hyper::Error>(serve(req, queue, answers).await) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self {
            address,
            events,
            waiting,
        }
    }
}

async fn serve(
    req: Request<hyper::body::Incoming>,
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    answers: Waiting,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let reply = |status: u16, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a response")
    };
    if path == "/2018-06-01/runtime/invocation/next" {
        let Some((id, event)) = queue.lock().await.recv().await else {
            return reply(500, b"{}".to_vec());
        };
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        let mut response = reply(200, event.to_string().into_bytes());
        let headers = response.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
        headers.insert("lambda-runtime-deadline-ms", deadline.into());
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:emulated"
                .parse()
                .expect("header"),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0"
                .parse()
                .expect("header"),
        );
        return response;
    }
    let body = bianxian_e2e::body_bytes(req.into_body()).await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let invocation = path
        .strip_prefix("/2018-06-01/runtime/invocation/")
        .and_then(|rest| rest.split_once('/'));
    match invocation {
        Some((id, kind @ ("response" | "error"))) => {
            let outcome = if kind == "response" {
                Outcome::Response(body)
            } else {
                Outcome::Error(body)
            };
            if let Some(waiter) = answers.lock().expect("lock").remove(id) {
                let _ = waiter.send(outcome);
            }
            reply(202, b"{}".to_vec())
        }
        // An init error ends every pending invocation: the process is about to exit.
        _ if path == "/2018-06-01/runtime/init/error" => {
            for (_, waiter) in answers.lock().expect("lock").drain() {
                let _ = waiter.send(Outcome::Error(json!({ "init": body })));
            }
            reply(202, b"{}".to_vec())
        }
        _ => reply(404, b"{}".to_vec()),
    }
}

/// A function binary of this workspace, running against its own Runtime API.
pub struct Function {
    pub name: &'static str,
    api: RuntimeApi,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    /// The tasks copying stdout and stderr into `logs`; they end at the pipes' EOF.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// Where cargo put the workspace's binaries: next to this test's own `deps` folder.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p {name}`; scripts/test does)",
        path.display()
    );
    path
}

impl Function {
    /// Starts `name` with exactly `env` (plus what Lambda itself sets), no more: a
    /// secret the test did not plant cannot leak from the test's own environment.
    pub async fn start(name: &'static str, env: &[(String, String)]) -> Self {
        let api = RuntimeApi::start().await;
        let mut command = Command::new(binary(name));
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "emulated")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the function starts");
        let logs: Arc<Mutex<Vec<String>>> = Arc::default();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let mut readers = Vec::new();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(stderr),
        ] {
            let logs = logs.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().expect("lock").push(line);
                }
            }));
        }
        Self {
            name,
            api,
            child,
            logs,
            readers,
        }
    }

    /// Hands the function one event and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let id = format!("req-{}", bianxian_e2e::random_suffix());
        self.invoke_as(&id, event).await
    }

    pub async fn invoke_as(&self, id: &str, event: Value) -> Outcome {
        let rx = self.hand_over(id, event);
        match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "{} did not answer invocation {id}; its output:\n{}",
                self.name,
                self.logs().join("\n")
            ),
        }
    }

    /// Hands the function one event without waiting: the answer, if one comes, arrives
    /// on the receiver.
    pub fn hand_over(&self, id: &str, event: Value) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        self.api
            .waiting
            .lock()
            .expect("lock")
            .insert(id.to_owned(), tx);
        self.api
            .events
            .send((id.to_owned(), event))
            .expect("the Runtime API is serving");
        rx
    }

    /// Ends the process at once (SIGKILL), as Lambda ends a sandbox that timed out or
    /// ran out of memory: nothing in it gets to finish or clean up.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("the function is killed");
    }

    /// Every line the process wrote so far, stdout and stderr.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("lock").clone()
    }

    /// How the process ended, when it ends within 20 s (a start-up that failed),
    /// once everything it wrote is in [`Function::logs`].
    pub async fn exit_code(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .ok()?
            .ok()?;
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        status.code()
    }

    /// Whether the process is still running (a panic that escaped would end it).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// An API Gateway HTTP API (payload 2.0) event for `route` (`GET /api/articles`, a
/// route of template.yaml without path parameters), as Lambda receives it.
pub fn http_event(
    route: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (String, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let method = route.split(' ').next().unwrap_or_default();
    let request_id = format!("apigw-{}", bianxian_e2e::random_suffix());
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), "api.example.com".into());
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), (*value).into());
    }
    let event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "emulated",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "runtime-api-test",
            },
            "requestId": request_id,
            "routeKey": route,
            "stage": "$default",
            "time": "29/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "body": body,
        "isBase64Encoded": false,
    });
    (request_id, event)
}

/// An SQS batch of one message, as the event source mapping hands it over.
pub fn sqs_event(queue: &str, message_id: &str, body: &Value) -> Value {
    json!({
        "Records": [{
            "messageId": message_id,
            "receiptHandle": format!("handle-{message_id}"),
            "body": body.to_string(),
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1764374400000",
                "SenderId": "123456789012",
                "ApproximateFirstReceiveTimestamp": "1764374400000",
            },
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}"),
            "awsRegion": "us-east-1",
        }]
    })
}
