//! An HTTP relay in front of a provider (the Alipay or WeChat Pay simulator, or moto
//! standing in for SES) that a test can make fail: answer 502 as an overloaded
//! gateway does, refuse as a throttled AWS API does, or never answer, as a provider
//! that times out.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU8, Ordering},
};

use http_body_util::Full;
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// Requests go through.
    None = 0,
    /// 502 Bad Gateway, at once.
    BadGateway = 1,
    /// No answer for a minute: the caller's timeout decides.
    Hang = 2,
    /// The request goes through and the provider acts on it, but its answer is lost:
    /// the caller times out not knowing it was done.
    LoseAnswer = 3,
    /// 429 `TooManyRequestsException`, as SES v2 answers a sender over its rate.
    Throttle = 4,
}

pub struct FaultyUpstream {
    /// Where the relay listens: the provider's base URL as the stack must see it.
    pub url: String,
    upstream: Arc<Mutex<Option<String>>>,
    fault: Arc<AtomicU8>,
}

impl FaultyUpstream {
    /// A relay with no upstream yet (the simulator it fronts may start later).
    pub async fn start() -> Self {
        platform::install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let upstream: Arc<Mutex<Option<String>>> = Arc::default();
        let fault = Arc::new(AtomicU8::new(Fault::None as u8));
        let http = reqwest::Client::new();
        let (to, mode) = (upstream.clone(), fault.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (to, mode, http) = (to.clone(), mode.clone(), http.clone());
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (to, mode, http) = (to.clone(), mode.clone(), http.clone());
                    async move { Ok::<_, hyper::Error>(relay(req, &to, &mode, &http).await) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self {
            url,
            upstream,
            fault,
        }
    }

    pub fn relay_to(&self, upstream: &str) {
        *self.upstream.lock().expect("lock") = Some(upstream.trim_end_matches('/').to_owned());
    }

    pub fn set(&self, fault: Fault) {
        self.fault.store(fault as u8, Ordering::SeqCst);
    }
}

async fn relay(
    req: Request<hyper::body::Incoming>,
    upstream: &Mutex<Option<String>>,
    fault: &AtomicU8,
    http: &reqwest::Client,
) -> Response<Full<Bytes>> {
    let answer = |status: u16, body: Bytes| {
        Response::builder()
            .status(status)
            .body(Full::new(body))
            .expect("a response")
    };
    match fault.load(Ordering::SeqCst) {
        f if f == Fault::BadGateway as u8 => {
            return answer(502, Bytes::from_static(b"Bad Gateway"));
        }
        f if f == Fault::Throttle as u8 => {
            let mut refused = answer(
                429,
                Bytes::from_static(br#"{"message":"Maximum sending rate exceeded."}"#),
            );
            let headers = refused.headers_mut();
            headers.insert(
                "x-amzn-errortype",
                "TooManyRequestsException".parse().expect("header"),
            );
            headers.insert(
                http::header::CONTENT_TYPE,
                "application/json".parse().expect("header"),
            );
            return refused;
        }
        f if f == Fault::Hang as u8 => {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            return answer(504, Bytes::new());
        }
        _ => {}
    }
    let Some(base) = upstream.lock().expect("lock").clone() else {
        return answer(502, Bytes::from_static(b"no upstream"));
    };
    let target = format!(
        "{base}{}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = crate::body_bytes(req.into_body()).await;
    let mut forward = http.request(method, target).body(body);
    for (name, value) in &headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let answered = forward.send().await;
    if fault.load(Ordering::SeqCst) == Fault::LoseAnswer as u8 {
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        return answer(504, Bytes::new());
    }
    match answered {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap_or_default();
            let mut relayed = answer(status, body);
            for (name, value) in &headers {
                if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                    relayed.headers_mut().insert(name, value.clone());
                }
            }
            relayed
        }
        Err(_) => answer(502, Bytes::from_static(b"upstream unreachable")),
    }
}
