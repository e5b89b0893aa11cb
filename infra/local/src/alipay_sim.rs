//! A local stand-in for Alipay's OpenAPI gateway, for the endpoints
//! `commerce::alipay` calls, so development and tests run the production client,
//! signatures and all, against a payer they control.
//!
//! - `GET|POST /gateway.do` checks the app id and our RSA2 signature (with the
//!   merchant public key) before anything else, as Alipay does, then serves
//!   `alipay.trade.page.pay` and `alipay.trade.wap.pay` (an HTML cashier page),
//!   `alipay.trade.precreate` (a QR code pointing at `/qr/{out_trade_no}`),
//!   `alipay.trade.query`, `alipay.trade.close`, `alipay.trade.refund` and
//!   `alipay.trade.fastpay.refund.query`, answering JSON in Alipay's shape signed with
//!   Alipay's private key over the exact text of the answer.
//! - `POST /_sim/pay/{out_trade_no}` is the payer confirming on the cashier page: the
//!   trade becomes `TRADE_SUCCESS`, its notification is sent to the trade's
//!   `notify_url` (retried after 1, 2, 4, 8 and 16 s until answered exactly
//!   `success`, each retry with the same `notify_id`), and the browser goes back to
//!   the trade's `return_url` with the signed return parameters.
//! - A refund (never above what was paid, idempotent per `out_request_no`) sends its
//!   own notification, with `refund_fee`, `gmt_refund` and `out_biz_no`; a trade
//!   refunded in full is `TRADE_CLOSED`.
//!
//! Trades live in memory, keyed by `out_trade_no`, and close on their `time_expire`.

use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    io,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::payment_sims::escape;
use bytes::Bytes;
use chrono::{FixedOffset, NaiveDateTime, Utc};
use commerce::{
    alipay::{
        ACKNOWLEDGEMENT, SUCCESS_CODE, Scheme, TIME_FORMAT, beijing_time, sign_params,
        sign_response, verify_params,
    },
    crypto::{RsaSigner, RsaVerifier},
    money::Amount,
};
use http::{
    HeaderValue, Method, Request, Response, StatusCode,
    header::{CONTENT_TYPE, LOCATION},
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rsa::{
    RsaPrivateKey,
    pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding},
};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use url::{Url, form_urlencoded};

/// The gateway takes forms of a few kilobytes; this only stops a runaway client.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Alipay retries over a day; locally a short schedule shows the same behaviour.
const RETRY_DELAYS: [u64; 6] = [0, 1, 2, 4, 8, 16];
const BEIJING: FixedOffset = FixedOffset::east_opt(8 * 3600).unwrap();
/// What a path segment escapes: all but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The payer every simulated payment comes from.
const BUYER_ID: &str = "2088000000000009";
const BUYER_LOGON_ID: &str = "188****8888";

pub struct AlipaySimConfig {
    /// The app id our requests must carry and notifications state.
    pub app_id: String,
    pub seller_id: String,
    /// Verifies our requests.
    pub merchant_public_key_pem: String,
    /// Signs answers and notifications.
    pub alipay_private_key_pem: String,
    /// The simulator's own base URL, for the QR codes it hands out.
    pub public_url: String,
}

/// Both parties' key pairs, PEM: PKCS#8 private keys, SubjectPublicKeyInfo public keys.
#[derive(Clone)]
pub struct SimKeys {
    pub merchant_private_pem: String,
    pub merchant_public_pem: String,
    pub alipay_private_pem: String,
    pub alipay_public_pem: String,
}

impl std::fmt::Debug for SimKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimKeys(..)")
    }
}

/// Fresh 2048-bit key pairs for us and for the simulated Alipay.
pub fn generate_keys() -> SimKeys {
    let (merchant_private_pem, merchant_public_pem) = key_pair();
    let (alipay_private_pem, alipay_public_pem) = key_pair();
    SimKeys {
        merchant_private_pem,
        merchant_public_pem,
        alipay_private_pem,
        alipay_public_pem,
    }
}

fn key_pair() -> (String, String) {
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .expect("the operating system's random generator works");
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a generated RSA key encodes as PKCS#8")
        .to_string();
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a generated RSA public key encodes as SPKI");
    (private, public)
}

/// Serves the simulator on `listener` until it fails; keys that do not parse are an
/// `InvalidInput` error before anything is served.
pub async fn serve(listener: TcpListener, config: AlipaySimConfig) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    platform::install_crypto_provider();
    let sim = Arc::new(Sim {
        merchant: RsaVerifier::from_pem(&config.merchant_public_key_pem)
            .map_err(|e| invalid(&format!("merchant public key: {e}")))?,
        signer: RsaSigner::from_pem(&config.alipay_private_key_pem)
            .map_err(|e| invalid(&format!("Alipay private key: {e}")))?,
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        app_id: config.app_id,
        seller_id: config.seller_id,
        trades: Mutex::new(HashMap::new()),
        sequence: AtomicU64::new(1),
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(io::Error::other)?,
    });
    crate::listen::accept(listener, |stream| {
        serve_connection(stream, Arc::clone(&sim))
    })
    .await
}

async fn serve_connection(stream: TcpStream, sim: Arc<Sim>) {
    let service = service_fn(move |request| {
        let sim = Arc::clone(&sim);
        async move { Ok::<_, Infallible>(sim.respond(request).await) }
    });
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "alipay simulator: connection ended with an error");
    }
}

struct Sim {
    app_id: String,
    seller_id: String,
    merchant: RsaVerifier,
    signer: RsaSigner,
    public_url: String,
    trades: Mutex<HashMap<String, Trade>>,
    sequence: AtomicU64,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    WaitBuyerPay,
    Success,
    Closed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::WaitBuyerPay => "WAIT_BUYER_PAY",
            Status::Success => "TRADE_SUCCESS",
            Status::Closed => "TRADE_CLOSED",
        }
    }
}

#[derive(Debug, Clone)]
struct Trade {
    out_trade_no: String,
    trade_no: String,
    subject: String,
    total: Amount,
    status: Status,
    /// The method that opened it, whose return the browser is sent back with.
    method: String,
    notify_url: Option<String>,
    return_url: Option<String>,
    time_expire: Option<NaiveDateTime>,
    gmt_create: String,
    gmt_payment: Option<String>,
    gmt_close: Option<String>,
    refunds: BTreeMap<String, Refund>,
}

#[derive(Debug, Clone)]
struct Refund {
    amount: Amount,
    gmt: String,
}

impl Trade {
    /// A trade unpaid at its `time_expire` closes, as Alipay closes it.
    fn settle(&mut self) {
        let now = Utc::now().with_timezone(&BEIJING).naive_local();
        if self.status == Status::WaitBuyerPay && self.time_expire.is_some_and(|at| at < now) {
            self.status = Status::Closed;
            self.gmt_close = Some(beijing_time(Utc::now()));
        }
    }

    fn refunded(&self) -> i64 {
        self.refunds.values().map(|r| r.amount.minor()).sum()
    }
}

/// Alipay's refusal of a call: its code and the reason under it.
struct Failure {
    code: &'static str,
    sub_code: &'static str,
    sub_msg: &'static str,
}

fn failure(code: &'static str, sub_code: &'static str, sub_msg: &'static str) -> Failure {
    Failure {
        code,
        sub_code,
        sub_msg,
    }
}

fn business(sub_code: &'static str, sub_msg: &'static str) -> Failure {
    failure("40004", sub_code, sub_msg)
}

fn invalid_parameter() -> Failure {
    business("ACQ.INVALID_PARAMETER", "参数无效")
}

fn trade_not_exist() -> Failure {
    business("ACQ.TRADE_NOT_EXIST", "交易不存在")
}

fn msg(code: &str) -> &'static str {
    match code {
        "40001" => "Missing Required Arguments",
        "40002" => "Invalid Arguments",
        "40004" => "Business Failed",
        _ => "Service Currently Unavailable",
    }
}

/// `minor` fen as Alipay writes yuan, zero included.
fn yuan(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// What a gateway call answers, before it is written out.
enum Answer {
    /// The method's answer fields besides `code` and `msg`.
    Json(Value),
    Html(String),
}

/// What the call is about, from its `biz_content`.
struct Call<'a> {
    method: &'a str,
    params: &'a BTreeMap<String, String>,
    biz: serde_json::Map<String, Value>,
}

impl Call<'_> {
    fn text(&self, name: &str) -> Option<&str> {
        self.biz
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, Failure> {
        self.text(name).ok_or_else(invalid_parameter)
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

impl Sim {
    async fn respond(self: &Arc<Self>, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let segment = |prefix: &str| {
            path.strip_prefix(prefix)
                .and_then(|rest| percent_decode_str(rest).decode_utf8().ok())
                .map(|s| s.into_owned())
        };
        match (&parts.method, path.as_str()) {
            (&Method::GET | &Method::POST, "/gateway.do") => {
                let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
                };
                self.gateway(parts.uri.query().unwrap_or_default(), &body)
            }
            (&Method::GET, _) if path.starts_with("/qr/") => match segment("/qr/") {
                Some(order) => self.cashier(&order),
                None => text(StatusCode::NOT_FOUND, "no such trade"),
            },
            (&Method::POST, _) if path.starts_with("/_sim/pay/") => match segment("/_sim/pay/") {
                Some(order) => self.pay(&order),
                None => text(StatusCode::NOT_FOUND, "no such trade"),
            },
            _ => text(StatusCode::NOT_FOUND, "not a simulated Alipay endpoint"),
        }
    }

    fn gateway(self: &Arc<Self>, query: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let mut params = BTreeMap::new();
        let mut repeated = false;
        for (key, value) in
            form_urlencoded::parse(query.as_bytes()).chain(form_urlencoded::parse(body))
        {
            repeated |= params
                .insert(key.into_owned(), value.into_owned())
                .is_some();
        }
        let method = params.get("method").cloned().unwrap_or_default();
        let outcome = if repeated {
            Err(failure("40002", "isv.invalid-parameter", "参数重复"))
        } else {
            self.check(&params).and_then(|biz| {
                let call = Call {
                    method: &method,
                    params: &params,
                    biz,
                };
                self.dispatch(&call)
            })
        };
        let known = METHODS.contains(&method.as_str());
        match outcome {
            Ok(Answer::Html(page)) => html(StatusCode::OK, page),
            Ok(Answer::Json(fields)) => {
                self.signed_answer(&method, SUCCESS_CODE, "Success", fields)
            }
            Err(failure) if is_browser(&method) => html(
                StatusCode::OK,
                page(
                    "支付宝模拟收银台 - 错误",
                    &format!(
                        "<p>错误代码 {}</p><p>{}</p>",
                        escape(failure.sub_code),
                        escape(failure.sub_msg)
                    ),
                ),
            ),
            Err(failure) => {
                let fields = json!({ "sub_code": failure.sub_code, "sub_msg": failure.sub_msg });
                // Alipay answers an unknown method under `error_response`.
                let key = if known { method.as_str() } else { "error" };
                self.signed_answer(key, failure.code, msg(failure.code), fields)
            }
        }
    }

    /// What Alipay checks before a method runs, in its order; the parsed
    /// `biz_content` when all pass.
    fn check(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<serde_json::Map<String, Value>, Failure> {
        let get = |name: &str| {
            params
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        match get("app_id") {
            None => return Err(failure("40001", "isv.missing-app-id", "缺少AppID参数")),
            Some(id) if id != self.app_id => {
                return Err(failure("40002", "isv.invalid-app-id", "无效的AppID参数"));
            }
            Some(_) => {}
        }
        match get("method") {
            None => return Err(failure("40001", "isv.missing-method", "缺少方法名参数")),
            Some(m) if !METHODS.contains(&m) => {
                return Err(failure("40002", "isv.invalid-method", "不存在的方法名"));
            }
            Some(_) => {}
        }
        if get("sign").is_none() {
            return Err(failure("40001", "isv.missing-signature", "缺少签名参数"));
        }
        if get("sign_type") != Some("RSA2") {
            return Err(failure(
                "40002",
                "isv.invalid-signature-type",
                "无效的签名类型",
            ));
        }
        if get("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
            return Err(failure("40002", "isv.invalid-charset", "字符集错误"));
        }
        if !verify_params(&self.merchant, params, Scheme::Request) {
            return Err(failure("40002", "isv.invalid-signature", "验签出错"));
        }
        if get("timestamp").is_none_or(|t| NaiveDateTime::parse_from_str(t, TIME_FORMAT).is_err()) {
            return Err(failure(
                "40002",
                "isv.invalid-timestamp",
                "非法的时间戳参数",
            ));
        }
        match get("biz_content").map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(biz))) => Ok(biz),
            None => Err(failure("40001", "isv.missing-biz-content", "缺少业务参数")),
            Some(_) => Err(failure(
                "40002",
                "isv.invalid-parameter",
                "业务参数不是JSON对象",
            )),
        }
    }

    fn dispatch(self: &Arc<Self>, call: &Call<'_>) -> Result<Answer, Failure> {
        match call.method {
            "alipay.trade.page.pay" | "alipay.trade.wap.pay" => {
                let trade = self.open(call)?;
                Ok(Answer::Html(cashier_page(&trade)))
            }
            "alipay.trade.precreate" => {
                let trade = self.open(call)?;
                let encoded = utf8_percent_encode(&trade.out_trade_no, SEGMENT);
                Ok(Answer::Json(json!({
                    "out_trade_no": trade.out_trade_no,
                    "qr_code": format!("{}/qr/{encoded}", self.public_url),
                })))
            }
            "alipay.trade.query" => self.query(call),
            "alipay.trade.close" => self.close(call),
            "alipay.trade.refund" => self.refund(call),
            "alipay.trade.fastpay.refund.query" => self.refund_query(call),
            _ => Err(failure("40002", "isv.invalid-method", "不存在的方法名")),
        }
    }

    /// Records a new trade, or finds the same one again: a paid or closed trade, or
    /// another amount or subject under the same `out_trade_no`, is refused.
    fn open(&self, call: &Call<'_>) -> Result<Trade, Failure> {
        let out_trade_no = call.required("out_trade_no")?;
        if out_trade_no.len() > 64 {
            return Err(invalid_parameter());
        }
        let total =
            Amount::parse_decimal(call.required("total_amount")?).ok_or_else(invalid_parameter)?;
        let subject = call.required("subject")?;
        let time_expire = match call.text("time_expire") {
            None => None,
            Some(raw) => Some(
                NaiveDateTime::parse_from_str(raw, TIME_FORMAT).map_err(|_| invalid_parameter())?,
            ),
        };
        let mut trades = self.lock();
        if let Some(trade) = trades.get_mut(out_trade_no) {
            trade.settle();
            return match trade.status {
                Status::Success => Err(business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")),
                Status::Closed => Err(business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")),
                Status::WaitBuyerPay if trade.total != total || trade.subject != subject => {
                    Err(business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"))
                }
                Status::WaitBuyerPay => Ok(trade.clone()),
            };
        }
        let now = Utc::now();
        let trade = Trade {
            out_trade_no: out_trade_no.to_owned(),
            trade_no: format!(
                "{}22001{:015}",
                now.with_timezone(&BEIJING).format("%Y%m%d"),
                self.sequence.fetch_add(1, Ordering::Relaxed)
            ),
            subject: subject.to_owned(),
            total,
            status: Status::WaitBuyerPay,
            method: call.method.to_owned(),
            notify_url: call.param("notify_url"),
            return_url: call.param("return_url"),
            time_expire,
            gmt_create: beijing_time(now),
            gmt_payment: None,
            gmt_close: None,
            refunds: BTreeMap::new(),
        };
        trades.insert(trade.out_trade_no.clone(), trade.clone());
        Ok(trade)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Trade>> {
        // A panic elsewhere while holding the lock leaves trades as consistent as
        // each single update made them.
        self.trades
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The trade a call names by `out_trade_no` or `trade_no`, settled, and `act`'s
    /// answer about it.
    fn with_trade<T>(
        &self,
        call: &Call<'_>,
        act: impl FnOnce(&mut Trade) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut trades = self.lock();
        let trade = match (call.text("out_trade_no"), call.text("trade_no")) {
            (Some(order), _) => trades.get_mut(order),
            (None, Some(trade_no)) => trades.values_mut().find(|t| t.trade_no == trade_no),
            (None, None) => return Err(invalid_parameter()),
        }
        .ok_or_else(trade_not_exist)?;
        trade.settle();
        act(trade)
    }

    fn query(&self, call: &Call<'_>) -> Result<Answer, Failure> {
        self.with_trade(call, |trade| {
            let mut fields = json!({
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "trade_status": trade.status.as_str(),
                "total_amount": trade.total.to_decimal(),
            });
            if let (Some(paid_at), Some(object)) = (&trade.gmt_payment, fields.as_object_mut()) {
                let paid = trade.total.to_decimal();
                object.insert("buyer_logon_id".into(), BUYER_LOGON_ID.into());
                object.insert("buyer_user_id".into(), BUYER_ID.into());
                object.insert("buyer_pay_amount".into(), paid.clone().into());
                object.insert("receipt_amount".into(), paid.into());
                object.insert("send_pay_date".into(), paid_at.clone().into());
            }
            Ok(Answer::Json(fields))
        })
    }

    fn close(&self, call: &Call<'_>) -> Result<Answer, Failure> {
        self.with_trade(call, |trade| {
            match trade.status {
                Status::Success => {
                    return Err(business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
                }
                Status::WaitBuyerPay => {
                    trade.status = Status::Closed;
                    trade.gmt_close = Some(beijing_time(Utc::now()));
                }
                Status::Closed => {}
            }
            Ok(Answer::Json(json!({
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
            })))
        })
    }

    fn refund(self: &Arc<Self>, call: &Call<'_>) -> Result<Answer, Failure> {
        let amount =
            Amount::parse_decimal(call.required("refund_amount")?).ok_or_else(invalid_parameter)?;
        let (answer, notification) = self.with_trade(call, |trade| {
            let request_no = call
                .text("out_request_no")
                .unwrap_or(&trade.out_trade_no)
                .to_owned();
            let repeated = trade.refunds.contains_key(&request_no);
            if !repeated {
                if trade.status != Status::Success {
                    return Err(business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
                }
                if trade.refunded() + amount.minor() > trade.total.minor() {
                    return Err(business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"));
                }
                let gmt = Utc::now()
                    .with_timezone(&BEIJING)
                    .format("%Y-%m-%d %H:%M:%S%.3f")
                    .to_string();
                trade
                    .refunds
                    .insert(request_no.clone(), Refund { amount, gmt });
                if trade.refunded() == trade.total.minor() {
                    trade.status = Status::Closed;
                    trade.gmt_close = Some(beijing_time(Utc::now()));
                }
            }
            let refund = trade.refunds.get(&request_no).cloned();
            let answer = json!({
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "buyer_logon_id": BUYER_LOGON_ID,
                "buyer_user_id": BUYER_ID,
                // Alipay's answer to a repeated request: no money moved this time.
                "fund_change": if repeated { "N" } else { "Y" },
                "refund_fee": yuan(trade.refunded()),
                "gmt_refund_pay": refund.as_ref().map(|r| r.gmt.clone()),
            });
            let notification = match (repeated, refund) {
                (false, Some(refund)) => {
                    Some(self.notification(trade, Some((&request_no, &refund))))
                }
                _ => None,
            };
            Ok((answer, notification.zip(trade.notify_url.clone())))
        })?;
        if let Some((params, url)) = notification {
            self.notify(url, params);
        }
        Ok(Answer::Json(answer))
    }

    fn refund_query(&self, call: &Call<'_>) -> Result<Answer, Failure> {
        self.with_trade(call, |trade| {
            let request_no = call.text("out_request_no").unwrap_or(&trade.out_trade_no);
            // Alipay answers a refund it does not have with nothing but success.
            let Some(refund) = trade.refunds.get(request_no) else {
                return Ok(Answer::Json(json!({})));
            };
            Ok(Answer::Json(json!({
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "out_request_no": request_no,
                "total_amount": trade.total.to_decimal(),
                "refund_amount": refund.amount.to_decimal(),
                "refund_status": "REFUND_SUCCESS",
                "gmt_refund_pay": refund.gmt,
            })))
        })
    }

    /// `fields` with `code` and `msg`, under the method's key, signed.
    fn signed_answer(
        &self,
        method: &str,
        code: &str,
        message: &str,
        fields: Value,
    ) -> Response<Full<Bytes>> {
        let mut node = serde_json::Map::new();
        node.insert("code".into(), code.into());
        node.insert("msg".into(), message.into());
        if let Value::Object(fields) = fields {
            node.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
        }
        let node = Value::Object(node).to_string();
        let mut response = Response::new(Full::new(Bytes::from(sign_response(
            &self.signer,
            method,
            &node,
        ))));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        );
        response
    }

    fn cashier(&self, out_trade_no: &str) -> Response<Full<Bytes>> {
        let mut trades = self.lock();
        let Some(trade) = trades.get_mut(out_trade_no) else {
            return text(StatusCode::NOT_FOUND, "no such trade");
        };
        trade.settle();
        html(StatusCode::OK, cashier_page(trade))
    }

    /// The payer confirms: the trade is paid once, its notification sent, and the
    /// browser sent back to the merchant.
    fn pay(self: &Arc<Self>, out_trade_no: &str) -> Response<Full<Bytes>> {
        let (trade, fresh) = {
            let mut trades = self.lock();
            let Some(trade) = trades.get_mut(out_trade_no) else {
                return text(StatusCode::NOT_FOUND, "no such trade");
            };
            trade.settle();
            match trade.status {
                Status::Closed => {
                    return html(
                        StatusCode::CONFLICT,
                        page("支付宝模拟收银台", "<p>交易已关闭，无法付款</p>"),
                    );
                }
                Status::Success => (trade.clone(), false),
                Status::WaitBuyerPay => {
                    trade.status = Status::Success;
                    trade.gmt_payment = Some(beijing_time(Utc::now()));
                    (trade.clone(), true)
                }
            }
        };
        if let (true, Some(url)) = (fresh, trade.notify_url.clone()) {
            self.notify(url, self.notification(&trade, None));
        }
        match trade.return_url.as_deref().and_then(|u| Url::parse(u).ok()) {
            Some(mut back) => {
                back.query_pairs_mut()
                    .extend_pairs(&self.return_params(&trade));
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::SEE_OTHER;
                if let Ok(location) = HeaderValue::from_str(back.as_str()) {
                    response.headers_mut().insert(LOCATION, location);
                }
                response
            }
            None => html(
                StatusCode::OK,
                page(
                    "支付宝模拟收银台",
                    &format!(
                        "<p>支付成功</p><p>¥{} · {}</p>",
                        trade.total.to_decimal(),
                        escape(&trade.subject)
                    ),
                ),
            ),
        }
    }

    /// What the browser brings back to `return_url`, signed like a notification.
    fn return_params(&self, trade: &Trade) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.app_id.clone()),
            ("auth_app_id", self.app_id.clone()),
            ("charset", "utf-8".into()),
            ("method", format!("{}.return", trade.method)),
            ("out_trade_no", trade.out_trade_no.clone()),
            ("seller_id", self.seller_id.clone()),
            ("sign_type", "RSA2".into()),
            ("timestamp", beijing_time(Utc::now())),
            ("total_amount", trade.total.to_decimal()),
            ("trade_no", trade.trade_no.clone()),
            ("version", "1.0".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let sign = sign_params(&self.signer, &params, Scheme::Notification);
        params.insert("sign".into(), sign);
        params
    }

    /// The asynchronous notification of a trade's state, or of one of its refunds.
    fn notification(
        &self,
        trade: &Trade,
        refund: Option<(&str, &Refund)>,
    ) -> BTreeMap<String, String> {
        let total = trade.total.to_decimal();
        let mut params: BTreeMap<String, String> = [
            ("notify_time", beijing_time(Utc::now())),
            ("notify_type", "trade_status_sync".into()),
            ("notify_id", format!("{:032x}", rand::random::<u128>())),
            ("app_id", self.app_id.clone()),
            ("auth_app_id", self.app_id.clone()),
            ("charset", "utf-8".into()),
            ("version", "1.0".into()),
            ("sign_type", "RSA2".into()),
            ("trade_no", trade.trade_no.clone()),
            ("out_trade_no", trade.out_trade_no.clone()),
            ("seller_id", self.seller_id.clone()),
            ("buyer_id", BUYER_ID.into()),
            ("buyer_logon_id", BUYER_LOGON_ID.into()),
            ("trade_status", trade.status.as_str().into()),
            ("total_amount", total.clone()),
            ("receipt_amount", total.clone()),
            ("invoice_amount", total.clone()),
            ("buyer_pay_amount", total.clone()),
            ("point_amount", "0.00".into()),
            ("subject", trade.subject.clone()),
            ("gmt_create", trade.gmt_create.clone()),
            (
                "fund_bill_list",
                json!([{ "amount": total, "fundChannel": "ALIPAYACCOUNT" }]).to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let optional = [
            ("gmt_payment", trade.gmt_payment.clone()),
            ("gmt_close", trade.gmt_close.clone()),
            ("refund_fee", refund.map(|_| yuan(trade.refunded()))),
            ("gmt_refund", refund.map(|(_, r)| r.gmt.clone())),
            ("out_biz_no", refund.map(|(no, _)| no.to_owned())),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                params.insert(key.to_owned(), value);
            }
        }
        let sign = sign_params(&self.signer, &params, Scheme::Notification);
        params.insert("sign".into(), sign);
        params
    }

    /// Delivers `params` to `url` in the background until it is acknowledged.
    fn notify(&self, url: String, params: BTreeMap<String, String>) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        let http = self.http.clone();
        tokio::spawn(async move {
            for (attempt, delay) in RETRY_DELAYS.into_iter().enumerate() {
                tokio::time::sleep(Duration::from_secs(delay)).await;
                let answer = match http
                    .post(&url)
                    .header(
                        CONTENT_TYPE,
                        "application/x-www-form-urlencoded; charset=utf-8",
                    )
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.map_err(|e| e.to_string())
                    }
                    Ok(response) => Err(format!("HTTP {}", response.status())),
                    Err(e) => Err(e.to_string()),
                };
                match answer {
                    Ok(body) if body.as_ref() == ACKNOWLEDGEMENT.as_bytes() => return,
                    Ok(body) => tracing::info!(
                        url,
                        attempt,
                        answer = %String::from_utf8_lossy(&body),
                        "alipay simulator: notification not acknowledged"
                    ),
                    Err(error) => tracing::info!(
                        url,
                        attempt,
                        error,
                        "alipay simulator: notification not delivered"
                    ),
                }
            }
            tracing::warn!(url, "alipay simulator: gave up on a notification");
        });
    }
}

const METHODS: &[&str] = &[
    "alipay.trade.page.pay",
    "alipay.trade.wap.pay",
    "alipay.trade.precreate",
    "alipay.trade.query",
    "alipay.trade.close",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
];

/// Methods a browser opens, answered with pages rather than JSON.
fn is_browser(method: &str) -> bool {
    matches!(method, "alipay.trade.page.pay" | "alipay.trade.wap.pay")
}

fn cashier_page(trade: &Trade) -> String {
    let content = match trade.status {
        Status::WaitBuyerPay => format!(
            r#"<dl><dt>商品</dt><dd>{subject}</dd><dt>金额</dt><dd class="amount">¥{amount}</dd><dt>商户订单号</dt><dd>{order}</dd></dl>
<form method="post" action="/_sim/pay/{path}"><button type="submit">确认付款</button></form>
<p class="note">本地模拟，不会产生真实扣款</p>"#,
            subject = escape(&trade.subject),
            amount = trade.total.to_decimal(),
            order = escape(&trade.out_trade_no),
            path = utf8_percent_encode(&trade.out_trade_no, SEGMENT),
        ),
        Status::Success => "<p>该订单已支付</p>".to_owned(),
        Status::Closed => "<p>交易已关闭</p>".to_owned(),
    };
    page("支付宝模拟收银台", &content)
}

fn page(title: &str, content: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;background:#f5f5f5;margin:0}}main{{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px}}h1{{color:#1677ff;font-size:1.4rem}}dt{{color:#888}}dd{{margin:0 0 .8rem}}.amount{{font-size:1.6rem;color:#f60}}button{{width:100%;padding:.8rem;font-size:1.1rem;background:#1677ff;color:#fff;border:0;border-radius:6px}}.note{{color:#999;font-size:.8rem}}</style>
</head><body><main><h1>{title}</h1>
{content}
</main></body></html>"#
    )
}

fn html(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_escaped_in_pages() {
        assert_eq!(
            escape(r#"<b>"课程" & 'x'</b>"#),
            "&lt;b&gt;&quot;课程&quot; &amp; &#39;x&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn amounts_are_written_in_yuan_zero_included() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(1230), "12.30");
    }
}
