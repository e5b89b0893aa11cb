//! A local stand-in for API Gateway HTTP API (payload format 2.0).
//!
//! Each HTTP request is turned into the JSON event API Gateway would send to Lambda
//! and parsed by `lambda_http` itself, so handlers see exactly what they see in
//! production: path parameters, query parameters, headers, cookies and a raw body
//! that may arrive base64-encoded. Routes come from `template.yaml`; a request no
//! route matches goes to the `$default` route, as API Gateway does.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use platform::{Error, Platform, runtime::Handler};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::template::{Pattern, Route};

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

pub struct Gateway {
    routes: Vec<Route>,
    functions: HashMap<String, Arc<dyn Handler>>,
    platform: Arc<Platform>,
    processor: Option<crate::media::Processor>,
}

impl Gateway {
    /// Checks that every function the template routes to is mounted.
    pub fn new(
        routes: Vec<Route>,
        functions: HashMap<String, Arc<dyn Handler>>,
        platform: Arc<Platform>,
    ) -> Result<Self, String> {
        for route in &routes {
            if !functions.contains_key(&route.function) {
                return Err(format!(
                    "template.yaml routes `{}` to `{}`, which the local gateway does not mount",
                    route.key(),
                    route.function
                ));
            }
        }
        let mut routes = routes;
        routes.sort_by_key(|r| std::cmp::Reverse(r.pattern.specificity()));
        Ok(Self {
            routes,
            functions,
            platform,
            processor: None,
        })
    }

    /// Invokes image-process after every completed upload, as S3's event would.
    pub fn with_processor(mut self, processor: Option<crate::media::Processor>) -> Self {
        self.processor = processor;
        self
    }

    fn route(&self, method: &http::Method, path: &str) -> Option<(&Route, Vec<(String, String)>)> {
        self.routes
            .iter()
            .filter(|r| r.method.as_ref().is_none_or(|m| m == method))
            .find_map(|r| r.pattern.matches(path).map(|params| (r, params)))
            .or_else(|| {
                self.routes
                    .iter()
                    .find(|r| r.pattern == Pattern::Default)
                    .map(|r| (r, Vec::new()))
            })
    }

    async fn handle(
        &self,
        peer: SocketAddr,
        req: http::Request<Incoming>,
    ) -> http::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_PAYLOAD).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return into_hyper(Error::PayloadTooLarge { limit: MAX_PAYLOAD }.to_response());
            }
        };
        let path = parts.uri.path().to_owned();
        let Some((route, params)) = self.route(&parts.method, &path) else {
            return into_hyper(
                Error::NotFound(format!("no route for {} {path}", parts.method)).to_response(),
            );
        };
        let event = event(&parts, &body, peer, route, &params);
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => request,
            Err(err) => {
                return into_hyper(
                    Error::validation(format!("unrepresentable request: {err}")).to_response(),
                );
            }
        };
        let handler = &self.functions[&route.function];
        let response = platform::runtime::invoke(
            &route.function,
            &self.platform.config,
            handler.as_ref(),
            request,
        )
        .await;
        if let Some(processor) = &self.processor
            && response.status().is_success()
            && route.key() == crate::media::COMPLETE_ROUTE
        {
            processor.completed(response.body().as_ref());
        }
        into_hyper(response)
    }
}

/// The API Gateway HTTP API payload v2 event for one request.
fn event(
    parts: &http::request::Parts,
    body: &Bytes,
    peer: SocketAddr,
    route: &Route,
    params: &[(String, String)],
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query = Map::new();
    for (key, value) in url_pairs(raw_query) {
        match query.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(key, Value::String(value));
            }
        }
    }
    let path_parameters: Map<String, Value> = params
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(percent_decode_str(v).decode_utf8_lossy().into_owned()),
            )
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let request_id = format!("{:x}{:08x}", now.as_millis(), rand_suffix());
    let user_agent = headers.get("user-agent").cloned().unwrap_or(Value::Null);
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or(Value::String("127.0.0.1".into()));
    let (body, is_base64) = encode_body(&parts.headers, body);
    json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": headers,
        "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
        "pathParameters": if path_parameters.is_empty() { Value::Null } else { Value::Object(path_parameters) },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route.key(),
            "stage": "$default",
            "timeEpoch": now.as_millis() as i64,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// Like API Gateway: text bodies travel as text, anything else base64-encoded.
fn encode_body(headers: &http::HeaderMap, body: &Bytes) -> (Value, bool) {
    if body.is_empty() {
        return (Value::Null, false);
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let textual = content_type.starts_with("text/")
        || content_type.contains("json")
        || content_type.contains("xml")
        || content_type.starts_with("application/x-www-form-urlencoded");
    match std::str::from_utf8(body) {
        Ok(text) if textual => (Value::String(text.to_owned()), false),
        _ => (Value::String(STANDARD.encode(body)), true),
    }
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(k), decode(v))
    })
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn into_hyper(response: lambda_http::Response<lambda_http::Body>) -> http::Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    http::Response::from_parts(parts, Full::new(bytes))
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.handle(peer, req).await) }
            });
            if let Err(err) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %err, "connection closed");
            }
        });
    }
}
