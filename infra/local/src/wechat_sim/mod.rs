//! A local WeChat Pay (API v3), because the real one cannot run here: the endpoints
//! `commerce::wechat` calls, answering like WeChat Pay does, so development and tests
//! run the production client, signatures included.
//!
//! Every `/v3/` request must carry our merchant's valid `Authorization` (the right
//! mchid and certificate serial, a timestamp within five minutes, a signature by the
//! merchant key), else it is answered 401 `SIGN_ERROR`; every `/v3/` answer is signed
//! with the platform key and named by `platform_serial`, which is a certificate
//! serial or a `PUB_KEY_ID_…` (public-key mode). Transactions and refunds live in
//! memory for as long as the server runs.
//!
//! What a payer does is simulated: `{public_url}/pay/{out_trade_no}` is a page with a
//! 确认支付 button (H5 payments send the browser there), and `POST
//! /_sim/pay/{out_trade_no}` pays, from that button or from a test. A payment, and a
//! refund a moment after it is accepted, is notified to its `notify_url` as WeChat
//! Pay does it: sealed under the APIv3 key, signed, and delivered again after 1, 2, 4,
//! 8 and 16 s until the answer is a 2xx.
//!
//! It also plays WeChat's web authorisation ([`oauth`]), which gives the openids
//! JSAPI payments and signing in with WeChat need.

mod oauth;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::payment_sims::escape;
use bytes::Bytes;
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use commerce::crypto::{RsaSigner, RsaVerifier};
use commerce::wechat::{self, signing::Authorization};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::Rng;
use rand::distr::{Alphanumeric, Uniform};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// WeChat Pay's requests are a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// The pauses before each delivery of a notification: six tries in about half a
/// minute, so a local receiver that was down a moment still gets it.
const DELIVERY_DELAYS: [u64; 6] = [0, 1, 2, 4, 8, 16];
/// How long an accepted refund stays `PROCESSING`.
const REFUND_DELAY: Duration = Duration::from_millis(200);

/// What the simulator knows of the merchant and signs with.
#[derive(Clone)]
pub struct WechatSimConfig {
    pub mch_id: String,
    pub app_id: String,
    /// 32 bytes: seals notifications.
    pub apiv3_key: String,
    /// The merchant certificate serial our `Authorization` must name.
    pub merchant_serial: String,
    /// Verifies our requests (PEM `PUBLIC KEY`).
    pub merchant_public_key_pem: String,
    /// Signs answers and notifications (PEM, PKCS#8 or PKCS#1).
    pub platform_private_key_pem: String,
    /// `Wechatpay-Serial`: the platform certificate's serial, or a `PUB_KEY_ID_…`.
    pub platform_serial: String,
    /// The official account's AppSecret, which trades authorisation codes.
    pub app_secret: String,
    /// Where a browser reaches this server (`http://127.0.0.1:4010`).
    pub public_url: String,
}

impl std::fmt::Debug for WechatSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatSimConfig")
            .field("mch_id", &self.mch_id)
            .field("app_id", &self.app_id)
            .field("platform_serial", &self.platform_serial)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Which way the merchant verifies the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimMode {
    /// By the platform certificate (`WECHATPAY_PLATFORM_CERTS`).
    Certificate,
    /// By the public key and its id (`WECHATPAY_PUBLIC_KEY`, `WECHATPAY_PUBLIC_KEY_ID`).
    PublicKey,
}

/// A fresh set of both sides' keys, for `scripts/dev` and tests.
#[derive(Clone)]
pub struct SimKeys {
    pub mch_id: String,
    pub app_id: String,
    pub app_secret: String,
    pub apiv3_key: String,
    pub merchant_serial: String,
    /// PKCS#8 PEM.
    pub merchant_private_key_pem: String,
    pub merchant_public_key_pem: String,
    /// PKCS#8 PEM.
    pub platform_private_key_pem: String,
    pub platform_public_key_pem: String,
    /// A self-signed certificate of the platform key.
    pub platform_certificate_pem: String,
    /// Its serial, upper-case hex.
    pub platform_certificate_serial: String,
    /// The id of the platform key in public-key mode (`PUB_KEY_ID_…`).
    pub public_key_id: String,
}

impl std::fmt::Debug for SimKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimKeys")
            .field("mch_id", &self.mch_id)
            .field("merchant_serial", &self.merchant_serial)
            .field(
                "platform_certificate_serial",
                &self.platform_certificate_serial,
            )
            .field("public_key_id", &self.public_key_id)
            .finish_non_exhaustive()
    }
}

impl SimKeys {
    /// The simulator's side, signing as `mode` says, reached by browsers at `public_url`.
    pub fn sim_config(&self, mode: SimMode, public_url: &str) -> WechatSimConfig {
        WechatSimConfig {
            mch_id: self.mch_id.clone(),
            app_id: self.app_id.clone(),
            apiv3_key: self.apiv3_key.clone(),
            merchant_serial: self.merchant_serial.clone(),
            merchant_public_key_pem: self.merchant_public_key_pem.clone(),
            platform_private_key_pem: self.platform_private_key_pem.clone(),
            app_secret: self.app_secret.clone(),
            platform_serial: match mode {
                SimMode::Certificate => self.platform_certificate_serial.clone(),
                SimMode::PublicKey => self.public_key_id.clone(),
            },
            public_url: public_url.to_owned(),
        }
    }

    /// The merchant's side: the `WECHATPAY_*` variables of `commerce::wechat` for a
    /// simulator at `api_base`.
    pub fn merchant_env(&self, mode: SimMode, api_base: &str) -> Vec<(String, String)> {
        let mut vars = vec![
            ("WECHATPAY_MCH_ID", self.mch_id.clone()),
            ("WECHATPAY_APP_ID", self.app_id.clone()),
            ("WECHATPAY_APIV3_KEY", self.apiv3_key.clone()),
            ("WECHATPAY_MCH_SERIAL", self.merchant_serial.clone()),
            (
                "WECHATPAY_MCH_PRIVATE_KEY",
                self.merchant_private_key_pem.clone(),
            ),
            ("WECHATPAY_API_BASE", api_base.to_owned()),
        ];
        match mode {
            SimMode::Certificate => {
                vars.push((
                    "WECHATPAY_PLATFORM_CERTS",
                    self.platform_certificate_pem.clone(),
                ));
            }
            SimMode::PublicKey => {
                vars.push(("WECHATPAY_PUBLIC_KEY", self.platform_public_key_pem.clone()));
                vars.push(("WECHATPAY_PUBLIC_KEY_ID", self.public_key_id.clone()));
            }
        }
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The official account's side: the `WECHAT_*` variables of `identity::wechat`
    /// for a simulator at `base`.
    pub fn login_env(&self, base: &str) -> Vec<(String, String)> {
        let base = base.trim_end_matches('/');
        vec![
            ("WECHAT_APP_ID".into(), self.app_id.clone()),
            ("WECHAT_APP_SECRET".into(), self.app_secret.clone()),
            (
                "WECHAT_AUTHORIZE_URL".into(),
                format!("{base}/connect/oauth2/authorize"),
            ),
            ("WECHAT_API_BASE".into(), format!("{base}/")),
        ]
    }
}

/// Generates two 2048-bit RSA key pairs (merchant, platform), a self-signed platform
/// certificate, a random APIv3 key and a public-key id.
pub fn generate_keys() -> SimKeys {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::{RsaPrivateKey, pkcs1v15::SigningKey, sha2::Sha256};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::EncodePem;
    use x509_cert::{
        name::Name, serial_number::SerialNumber, spki::SubjectPublicKeyInfoOwned, time::Validity,
    };

    let generate = || {
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .expect("the system's random source generates an RSA key")
    };
    let pems = |key: &RsaPrivateKey| {
        (
            key.to_pkcs8_pem(LineEnding::LF)
                .expect("a generated key encodes")
                .to_string(),
            key.to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("a generated key encodes"),
        )
    };
    let merchant = generate();
    let platform = generate();
    // A positive serial without a leading zero byte, so its hex is what WeChat Pay's
    // `Wechatpay-Serial` would carry.
    let mut serial: [u8; 20] = rand::random();
    serial[0] = serial[0].clamp(0x10, 0x7f);
    let certificate = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::new(&serial).expect("a 20-byte serial"),
        Validity::from_now(Duration::from_secs(5 * 365 * 24 * 3600)).expect("a valid validity"),
        Name::from_str("CN=WeChat Pay Simulator,O=bianxian").expect("a valid name"),
        SubjectPublicKeyInfoOwned::from_key(platform.to_public_key()).expect("an RSA key encodes"),
        &SigningKey::<Sha256>::new(platform.clone()),
    )
    .expect("a self-signed certificate")
    .build::<rsa::pkcs1v15::Signature>()
    .expect("the platform key signs its certificate")
    .to_pem(LineEnding::LF)
    .expect("a certificate encodes");
    let (merchant_private_key_pem, merchant_public_key_pem) = pems(&merchant);
    let (platform_private_key_pem, platform_public_key_pem) = pems(&platform);
    SimKeys {
        mch_id: "1900000109".into(),
        app_id: "wxd678efh567hg6787".into(),
        app_secret: random_text(32),
        apiv3_key: random_text(32),
        merchant_serial: upper_hex(&rand::random::<[u8; 20]>()),
        merchant_private_key_pem,
        merchant_public_key_pem,
        platform_private_key_pem,
        platform_public_key_pem,
        platform_certificate_pem: certificate,
        platform_certificate_serial: upper_hex(&serial),
        public_key_id: format!("PUB_KEY_ID_01{}", random_digits(30)),
    }
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn random_text(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn random_digits(len: usize) -> String {
    let digits = Uniform::new_inclusive(b'0', b'9').expect("a valid range");
    rand::rng()
        .sample_iter(digits)
        .take(len)
        .map(char::from)
        .collect()
}

fn china_time(at: DateTime<Utc>) -> String {
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    at.with_timezone(&china)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TradeState {
    NotPay,
    Success,
    Closed,
}

struct Trade {
    /// The prepay request as received, so a retry of it is answered the same.
    request: Value,
    /// What the prepay request was answered.
    prepay: Value,
    appid: String,
    description: String,
    notify_url: String,
    total: i64,
    trade_type: &'static str,
    openid: Option<String>,
    expires_at: Option<DateTime<FixedOffset>>,
    state: TradeState,
    transaction_id: Option<String>,
    success_time: Option<String>,
    /// Refunds accepted so far, in fen.
    refunded: i64,
}

impl Trade {
    fn current_state(&mut self, now: DateTime<Utc>) -> TradeState {
        if self.state == TradeState::NotPay && self.expires_at.is_some_and(|end| now > end) {
            self.state = TradeState::Closed;
        }
        self.state
    }

    fn trade_state(&self) -> &'static str {
        match self.state {
            TradeState::NotPay => "NOTPAY",
            TradeState::Success if self.refunded > 0 => "REFUND",
            TradeState::Success => "SUCCESS",
            TradeState::Closed => "CLOSED",
        }
    }

    fn describe(&self, mch_id: &str, out_trade_no: &str) -> Value {
        let mut tx = json!({
            "appid": self.appid,
            "mchid": mch_id,
            "out_trade_no": out_trade_no,
            "trade_type": self.trade_type,
            "trade_state": self.trade_state(),
            "trade_state_desc": match self.trade_state() {
                "SUCCESS" => "支付成功",
                "REFUND" => "转入退款",
                "CLOSED" => "已关闭",
                _ => "未支付",
            },
            "amount": { "total": self.total, "currency": "CNY" },
        });
        if let Some(transaction_id) = &self.transaction_id {
            tx["transaction_id"] = json!(transaction_id);
            tx["bank_type"] = json!("OTHERS");
            tx["success_time"] = json!(self.success_time);
            tx["payer"] = json!({ "openid": self.openid });
            tx["amount"] = json!({
                "total": self.total, "payer_total": self.total,
                "currency": "CNY", "payer_currency": "CNY",
            });
        }
        tx
    }
}

struct Refund {
    request: Value,
    out_trade_no: String,
    transaction_id: String,
    refund_id: String,
    refund: i64,
    total: i64,
    notify_url: Option<String>,
    create_time: String,
    success_time: Option<String>,
    succeeded: bool,
}

impl Refund {
    fn describe(&self, out_refund_no: &str) -> Value {
        json!({
            "refund_id": self.refund_id,
            "out_refund_no": out_refund_no,
            "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "success_time": self.success_time,
            "create_time": self.create_time,
            "status": if self.succeeded { "SUCCESS" } else { "PROCESSING" },
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.total, "refund": self.refund,
                "payer_total": self.total, "payer_refund": self.refund,
                "settlement_total": self.total, "settlement_refund": self.refund,
                "discount_refund": 0, "currency": "CNY",
            },
        })
    }

    fn notice(&self, mch_id: &str, out_refund_no: &str) -> Value {
        json!({
            "mchid": mch_id,
            "out_trade_no": self.out_trade_no,
            "transaction_id": self.transaction_id,
            "out_refund_no": out_refund_no,
            "refund_id": self.refund_id,
            "refund_status": "SUCCESS",
            "success_time": self.success_time,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": self.total, "refund": self.refund,
                "payer_total": self.total, "payer_refund": self.refund,
            },
        })
    }
}

struct State {
    config: WechatSimConfig,
    public_url: String,
    platform: RsaSigner,
    merchant: RsaVerifier,
    trades: Mutex<HashMap<String, Trade>>,
    refunds: Mutex<HashMap<String, Refund>>,
    codes: oauth::Codes,
    http: reqwest::Client,
}

impl State {
    fn trades(&self) -> MutexGuard<'_, HashMap<String, Trade>> {
        self.trades
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refunds(&self) -> MutexGuard<'_, HashMap<String, Refund>> {
        self.refunds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves the simulator on `listener` until this future is dropped; an unusable key
/// in `config` is an `InvalidInput` error before anything is served.
pub async fn serve(listener: TcpListener, config: WechatSimConfig) -> io::Result<()> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let platform = RsaSigner::from_pem(&config.platform_private_key_pem)
        .map_err(|e| invalid(format!("platform_private_key_pem: {e}")))?;
    let merchant = RsaVerifier::from_pem(&config.merchant_public_key_pem)
        .map_err(|e| invalid(format!("merchant_public_key_pem: {e}")))?;
    if config.apiv3_key.len() != 32 {
        return Err(invalid("apiv3_key must be 32 bytes".into()));
    }
    platform::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(io::Error::other)?;
    let state = Arc::new(State {
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        config,
        platform,
        merchant,
        trades: Mutex::default(),
        refunds: Mutex::default(),
        codes: oauth::Codes::default(),
        http,
    });
    crate::listen::accept(listener, |stream| {
        serve_connection(stream, Arc::clone(&state))
    })
    .await
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) {
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(state, request).await) }
    });
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "wechat pay simulator: connection ended with an error");
    }
}

/// An API answer before it is signed: a status and a JSON body (none for a 204).
struct Answer {
    status: StatusCode,
    body: Option<Value>,
}

fn ok(body: Value) -> Answer {
    Answer {
        status: StatusCode::OK,
        body: Some(body),
    }
}

fn no_content() -> Answer {
    Answer {
        status: StatusCode::NO_CONTENT,
        body: None,
    }
}

/// WeChat Pay's error body.
fn refuse(status: StatusCode, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: Some(json!({ "code": code, "message": message })),
    }
}

fn param_error(message: &str) -> Answer {
    refuse(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
}

fn sign_error(message: &str) -> Answer {
    refuse(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message)
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let answer = refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PARAM_ERROR",
                "the request body is too large",
            );
            return signed(&state, answer);
        }
    };
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["connect", "oauth2", "authorize"]) => {
            oauth::authorize(&state, parts.uri.query(), &parts.headers)
        }
        (&Method::GET, ["sns", "oauth2", "access_token"]) => {
            oauth::access_token(&state, parts.uri.query())
        }
        (&Method::GET, ["pay", out_trade_no]) => page(&state, out_trade_no),
        (&Method::POST, ["_sim", "pay", out_trade_no]) => {
            let html = parts
                .headers
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"));
            pay(&state, out_trade_no, html)
        }
        (_, ["v3", ..]) => {
            let path_and_query = parts
                .uri
                .path_and_query()
                .map_or(path.as_str(), |pq| pq.as_str());
            let now = Utc::now();
            let answer = match authenticate(
                &state,
                &parts.method,
                path_and_query,
                &parts.headers,
                &body,
                now,
            ) {
                Err(refusal) => refusal,
                Ok(()) => api(
                    &state,
                    &parts.method,
                    &segments,
                    parts.uri.query(),
                    &body,
                    now,
                ),
            };
            signed(&state, answer)
        }
        _ => html_response(StatusCode::NOT_FOUND, "<p>Not found</p>".into()),
    }
}

/// Checks our `Authorization` as WeChat Pay does.
fn authenticate(
    state: &State,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Answer> {
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| sign_error("the Authorization header is missing"))?;
    let auth = Authorization::parse(header)
        .ok_or_else(|| sign_error("the Authorization header is not WECHATPAY2-SHA256-RSA2048"))?;
    if auth.mch_id != state.config.mch_id {
        return Err(sign_error("mchid is not this merchant"));
    }
    if !auth
        .serial_no
        .eq_ignore_ascii_case(&state.config.merchant_serial)
    {
        return Err(sign_error(
            "serial_no names no certificate of this merchant",
        ));
    }
    if auth.timestamp.abs_diff(now.timestamp()) > wechat::signing::TOLERANCE_SECS.unsigned_abs() {
        return Err(sign_error("the timestamp is more than 5 minutes from now"));
    }
    if !auth.verify(&state.merchant, method.as_str(), path_and_query, body) {
        return Err(sign_error("the signature does not verify"));
    }
    Ok(())
}

fn api(
    state: &Arc<State>,
    method: &Method,
    segments: &[&str],
    query: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Answer {
    let json =
        || serde_json::from_slice::<Value>(body).map_err(|_| param_error("the body is not JSON"));
    let result = match (method, segments) {
        (
            &Method::POST,
            [
                "v3",
                "pay",
                "transactions",
                kind @ ("native" | "jsapi" | "h5"),
            ],
        ) => json().and_then(|body| prepay(state, kind, body, now)),
        (&Method::GET, ["v3", "pay", "transactions", "out-trade-no", out_trade_no]) => {
            query_trade(state, out_trade_no, query, now)
        }
        (
            &Method::POST,
            [
                "v3",
                "pay",
                "transactions",
                "out-trade-no",
                out_trade_no,
                "close",
            ],
        ) => json().and_then(|body| close(state, out_trade_no, &body, now)),
        (&Method::POST, ["v3", "refund", "domestic", "refunds"]) => {
            json().and_then(|body| refund(state, body, now))
        }
        (&Method::GET, ["v3", "refund", "domestic", "refunds", out_refund_no]) => {
            match state.refunds().get(*out_refund_no) {
                Some(refund) => Ok(ok(refund.describe(out_refund_no))),
                None => Err(refuse(
                    StatusCode::NOT_FOUND,
                    "RESOURCE_NOT_EXISTS",
                    "no such refund",
                )),
            }
        }
        _ => Err(refuse(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "no such API",
        )),
    };
    result.unwrap_or_else(|refusal| refusal)
}

fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn out_no_ok(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
}

fn prepay(
    state: &Arc<State>,
    kind: &str,
    body: Value,
    now: DateTime<Utc>,
) -> Result<Answer, Answer> {
    let config = &state.config;
    let appid = text(&body, "/appid").ok_or_else(|| param_error("appid is missing"))?;
    if appid != config.app_id {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid and mchid do not match",
        ));
    }
    if text(&body, "/mchid") != Some(config.mch_id.as_str()) {
        return Err(param_error("mchid is not the signing merchant"));
    }
    let description = text(&body, "/description")
        .filter(|d| d.len() <= 127)
        .ok_or_else(|| param_error("description must be 1 to 127 bytes"))?;
    let out_trade_no = text(&body, "/out_trade_no")
        .filter(|no| out_no_ok(no, 6, 32))
        .ok_or_else(|| param_error("out_trade_no must be 6 to 32 letters, digits or _-|*"))?;
    let notify_url = text(&body, "/notify_url")
        .filter(|url| {
            reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        })
        .ok_or_else(|| param_error("notify_url must be an absolute URL"))?;
    let total = body
        .pointer("/amount/total")
        .and_then(Value::as_i64)
        .filter(|t| *t >= 1)
        .ok_or_else(|| param_error("amount.total must be a positive number of fen"))?;
    if body.pointer("/amount/currency").is_some_and(|c| c != "CNY") {
        return Err(param_error("amount.currency must be CNY"));
    }
    let expires_at = match body.get("time_expire") {
        None => None,
        Some(raw) => Some(
            raw.as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .filter(|t| *t > now)
                .ok_or_else(|| param_error("time_expire must be an RFC 3339 time in the future"))?,
        ),
    };
    let (trade_type, openid) = match kind {
        "jsapi" => {
            let openid = text(&body, "/payer/openid")
                .ok_or_else(|| param_error("payer.openid is missing"))?;
            ("JSAPI", Some(openid.to_owned()))
        }
        "h5" => {
            if text(&body, "/scene_info/payer_client_ip").is_none() {
                return Err(param_error("scene_info.payer_client_ip is missing"));
            }
            if text(&body, "/scene_info/h5_info/type").is_none() {
                return Err(param_error("scene_info.h5_info.type is missing"));
            }
            ("MWEB", None)
        }
        _ => ("NATIVE", None),
    };
    let mut trades = state.trades();
    if let Some(trade) = trades.get_mut(out_trade_no) {
        return match trade.current_state(now) {
            TradeState::Success => Err(refuse(
                StatusCode::BAD_REQUEST,
                "ORDERPAID",
                "the order is paid",
            )),
            TradeState::Closed => Err(refuse(
                StatusCode::BAD_REQUEST,
                "ORDER_CLOSED",
                "the order is closed",
            )),
            TradeState::NotPay if trade.request == body => Ok(ok(trade.prepay.clone())),
            TradeState::NotPay => Err(refuse(
                StatusCode::BAD_REQUEST,
                "OUT_TRADE_NO_USED",
                "out_trade_no was used with other parameters",
            )),
        };
    }
    let prepay = match kind {
        "jsapi" => {
            json!({ "prepay_id": format!("wx{}{}", now.format("%d%H%M%S"), random_text(24).to_lowercase()) })
        }
        "h5" => json!({ "h5_url": format!("{}/pay/{out_trade_no}", state.public_url) }),
        _ => json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={}", random_text(9)) }),
    };
    trades.insert(
        out_trade_no.to_owned(),
        Trade {
            appid: appid.to_owned(),
            description: description.to_owned(),
            notify_url: notify_url.to_owned(),
            total,
            trade_type,
            openid,
            expires_at,
            state: TradeState::NotPay,
            transaction_id: None,
            success_time: None,
            refunded: 0,
            prepay: prepay.clone(),
            request: body,
        },
    );
    Ok(ok(prepay))
}

fn order_not_exist() -> Answer {
    refuse(
        StatusCode::NOT_FOUND,
        "ORDER_NOT_EXIST",
        "the order does not exist",
    )
}

fn query_trade(
    state: &State,
    out_trade_no: &str,
    query: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Answer, Answer> {
    let mchid = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("mchid="));
    if mchid != Some(state.config.mch_id.as_str()) {
        return Err(param_error(
            "the mchid query parameter must be the signing merchant",
        ));
    }
    let mut trades = state.trades();
    let trade = trades.get_mut(out_trade_no).ok_or_else(order_not_exist)?;
    trade.current_state(now);
    Ok(ok(trade.describe(&state.config.mch_id, out_trade_no)))
}

fn close(
    state: &State,
    out_trade_no: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Answer, Answer> {
    if text(body, "/mchid") != Some(state.config.mch_id.as_str()) {
        return Err(param_error("mchid is not the signing merchant"));
    }
    let mut trades = state.trades();
    let trade = trades.get_mut(out_trade_no).ok_or_else(order_not_exist)?;
    if trade.current_state(now) == TradeState::Success {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "ORDERPAID",
            "the order is paid",
        ));
    }
    trade.state = TradeState::Closed;
    Ok(no_content())
}

fn refund(state: &Arc<State>, body: Value, now: DateTime<Utc>) -> Result<Answer, Answer> {
    let out_refund_no = text(&body, "/out_refund_no")
        .filter(|no| out_no_ok(no, 1, 64))
        .ok_or_else(|| param_error("out_refund_no must be 1 to 64 letters, digits or _-|*@"))?
        .to_owned();
    let amount = |field: &str| {
        body.pointer(&format!("/amount/{field}"))
            .and_then(Value::as_i64)
            .filter(|a| *a >= 1)
            .ok_or_else(|| param_error(&format!("amount.{field} must be a positive number of fen")))
    };
    let (refund, total) = (amount("refund")?, amount("total")?);
    if text(&body, "/amount/currency") != Some("CNY") {
        return Err(param_error("amount.currency must be CNY"));
    }
    let notify_url = text(&body, "/notify_url").map(str::to_owned);
    let mut trades = state.trades();
    let out_trade_no = match (text(&body, "/out_trade_no"), text(&body, "/transaction_id")) {
        (Some(no), _) => Some(no.to_owned()),
        (None, Some(id)) => trades
            .iter()
            .find(|(_, t)| t.transaction_id.as_deref() == Some(id))
            .map(|(no, _)| no.clone()),
        (None, None) => return Err(param_error("out_trade_no or transaction_id is required")),
    };
    let not_found = || {
        refuse(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "the order does not exist",
        )
    };
    let out_trade_no = out_trade_no.ok_or_else(not_found)?;
    let trade = trades.get_mut(&out_trade_no).ok_or_else(not_found)?;
    let mut refunds = state.refunds();
    if let Some(existing) = refunds.get(&out_refund_no) {
        return if existing.request == body {
            Ok(ok(existing.describe(&out_refund_no)))
        } else {
            Err(refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "out_refund_no was used with other parameters",
            ))
        };
    }
    if trade.current_state(now) != TradeState::Success {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the order is not paid",
        ));
    }
    if total != trade.total {
        return Err(param_error("amount.total is not the order's total"));
    }
    if trade.refunded + refund > trade.total {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "the refund is more than what remains refundable",
        ));
    }
    trade.refunded += refund;
    let record = Refund {
        request: body,
        out_trade_no: out_trade_no.clone(),
        transaction_id: trade.transaction_id.clone().unwrap_or_default(),
        refund_id: format!("50{}", random_digits(27)),
        refund,
        total,
        notify_url,
        create_time: china_time(now),
        success_time: None,
        succeeded: false,
    };
    let answer = ok(record.describe(&out_refund_no));
    refunds.insert(out_refund_no.clone(), record);
    tokio::spawn(settle_refund(Arc::clone(state), out_refund_no));
    Ok(answer)
}

/// Ends a refund's `PROCESSING` a moment later, as the bank would, and notifies it.
async fn settle_refund(state: Arc<State>, out_refund_no: String) {
    tokio::time::sleep(REFUND_DELAY).await;
    let delivery = {
        let mut refunds = state.refunds();
        let Some(refund) = refunds.get_mut(&out_refund_no) else {
            return;
        };
        refund.succeeded = true;
        refund.success_time = Some(china_time(Utc::now()));
        refund
            .notify_url
            .clone()
            .map(|url| (url, refund.notice(&state.config.mch_id, &out_refund_no)))
    };
    if let Some((url, notice)) = delivery {
        deliver(state, url, "REFUND.SUCCESS", notice).await;
    }
}

/// The payer pays: from the page's button (`html`: back to the page) or a test.
fn pay(state: &Arc<State>, out_trade_no: &str, html: bool) -> Response<Full<Bytes>> {
    let now = Utc::now();
    let outcome = {
        let mut trades = state.trades();
        match trades.get_mut(out_trade_no) {
            None => Err((
                StatusCode::NOT_FOUND,
                "ORDER_NOT_EXIST",
                "the order does not exist",
            )),
            Some(trade) => match trade.current_state(now) {
                TradeState::Closed => {
                    Err((StatusCode::CONFLICT, "ORDER_CLOSED", "the order is closed"))
                }
                TradeState::Success => {
                    Err((StatusCode::CONFLICT, "ORDERPAID", "the order is paid"))
                }
                TradeState::NotPay => {
                    let transaction_id = format!("4200{}", random_digits(24));
                    trade.state = TradeState::Success;
                    trade.transaction_id = Some(transaction_id.clone());
                    trade.success_time = Some(china_time(now));
                    trade
                        .openid
                        .get_or_insert_with(|| format!("o{}", random_text(27)));
                    let tx = trade.describe(&state.config.mch_id, out_trade_no);
                    tokio::spawn(deliver(
                        Arc::clone(state),
                        trade.notify_url.clone(),
                        "TRANSACTION.SUCCESS",
                        tx,
                    ));
                    Ok(transaction_id)
                }
            },
        }
    };
    if html {
        return Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(LOCATION, format!("{}/pay/{out_trade_no}", state.public_url))
            .body(Full::default())
            .unwrap_or_default();
    }
    match outcome {
        Ok(transaction_id) => json_response(
            StatusCode::OK,
            &json!({ "out_trade_no": out_trade_no, "trade_state": "SUCCESS", "transaction_id": transaction_id }),
        ),
        Err((status, code, message)) => {
            json_response(status, &json!({ "code": code, "message": message }))
        }
    }
}

/// Posts a notification until its receiver answers 2xx or the tries run out; every
/// try is the same notification (same id), signed afresh.
async fn deliver(state: Arc<State>, url: String, event_type: &'static str, resource: Value) {
    let id = format!("{}-{}", random_text(8), random_text(16)).to_lowercase();
    let body = match wechat::seal_notification(&state.config.apiv3_key, &id, event_type, &resource)
    {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "wechat pay simulator: cannot seal a notification");
            return;
        }
    };
    for (attempt, delay) in DELIVERY_DELAYS.iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(*delay)).await;
        let mut request = state
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        let headers = wechat::signed_headers(
            &state.platform,
            &state.config.platform_serial,
            Utc::now().timestamp(),
            body.as_bytes(),
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => tracing::info!(
                status = response.status().as_u16(),
                attempt,
                event_type,
                "wechat pay simulator: notification refused, will retry"
            ),
            Err(error) => {
                tracing::info!(%error, attempt, event_type, "wechat pay simulator: notification undelivered, will retry")
            }
        }
    }
    tracing::warn!(
        event_type,
        url,
        "wechat pay simulator: gave up delivering a notification"
    );
}

/// Signs an API answer with the platform key, as every WeChat Pay answer is.
fn signed(state: &State, answer: Answer) -> Response<Full<Bytes>> {
    let body = answer.body.map(|b| b.to_string()).unwrap_or_default();
    let headers = wechat::signed_headers(
        &state.platform,
        &state.config.platform_serial,
        Utc::now().timestamp(),
        body.as_bytes(),
    );
    let mut response = Response::new(Full::new(Bytes::from(body.clone())));
    *response.status_mut() = answer.status;
    let map = response.headers_mut();
    if !body.is_empty() {
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(&random_text(32)) {
        map.insert("request-id", id);
    }
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn html_response(status: StatusCode, main: String) -> Response<Full<Bytes>> {
    let page = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>微信支付模拟</title><style>\
         body{{font-family:system-ui,sans-serif;background:#ededed;margin:0}}\
         main{{max-width:22rem;margin:3rem auto;background:#fff;border-radius:8px;padding:1.5rem;text-align:center}}\
         .amount{{font-size:2rem;font-weight:600}}\
         button{{background:#07c160;color:#fff;border:0;border-radius:6px;padding:.8rem 2rem;font-size:1rem;cursor:pointer}}\
         .muted{{color:#888;font-size:.85rem}}</style></head><body><main>\
         <h1>微信支付模拟</h1>{main}</main></body></html>"
    );
    let mut response = Response::new(Full::new(Bytes::from(page)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The cashier a payer would see in WeChat: what they pay for, and a button to pay.
fn page(state: &State, out_trade_no: &str) -> Response<Full<Bytes>> {
    let mut trades = state.trades();
    let Some(trade) = trades.get_mut(out_trade_no) else {
        return html_response(
            StatusCode::NOT_FOUND,
            "<p>订单不存在 (no such order)</p>".into(),
        );
    };
    let action = match trade.current_state(Utc::now()) {
        TradeState::NotPay => format!(
            "<form method=\"post\" action=\"{}/_sim/pay/{}\"><button type=\"submit\">确认支付</button></form>",
            escape(&state.public_url),
            escape(out_trade_no)
        ),
        TradeState::Success => "<p>支付成功 (paid)</p>".to_owned(),
        TradeState::Closed => "<p>订单已关闭 (closed)</p>".to_owned(),
    };
    html_response(
        StatusCode::OK,
        format!(
            "<p>{}</p><p class=\"amount\">¥{}.{:02}</p><p class=\"muted\">商户订单号 {}</p>{action}",
            escape(&trade.description),
            trade.total / 100,
            trade.total % 100,
            escape(out_trade_no),
        ),
    )
}
