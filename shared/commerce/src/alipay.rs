//! Alipay (支付宝) over its OpenAPI gateway, signed RSA2 both ways. The desktop and
//! mobile cashiers are signed gateway URLs the browser is sent to (never fetched by
//! us); a QR code comes from `alipay.trade.precreate`; query, close, refund and
//! refund query are form posts whose JSON answers are verified with Alipay's public
//! key over the exact text it signed. Its asynchronous notifications (`POST
//! /webhooks/alipay`, a form) are verified, checked to be for our app and seller,
//! recorded once per `notify_id` and handed to fulfilment; the route then answers
//! `success`, the one reply that stops Alipay's retries.
//!
//! [`signing_string`], [`sign_params`] and [`sign_response`] are public so the local
//! simulator and tests sign exactly as Alipay does.

use std::{collections::BTreeMap, collections::HashMap, sync::Arc, time::Duration};
use tracing::Instrument;

use chrono::{DateTime, FixedOffset, Utc};
use platform::{
    config::{Section, Vars},
    db::Db,
    error::{Error, Result},
};
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize, de::DeserializeOwned, de::IgnoredAny};
use serde_json::{Value, json, value::RawValue};
use url::{Url, form_urlencoded};

use crate::{
    crypto::{RsaSigner, RsaVerifier},
    fulfilment::{self, Fulfilment},
    money::{Amount, Currency},
    notification::{self, Signal},
    provider::{
        Method, Payment, PaymentRequest, Provider, RefundRequest, RefundState, Remote, Started,
    },
    refunds::Settlement,
};

/// The provider's name in `payment_events`.
pub const PROVIDER: &str = "alipay";
pub const DEFAULT_GATEWAY_URL: &str = "https://openapi.alipay.com/gateway.do";
/// Alipay's notifications are a few kilobytes; anything far larger is not one.
pub const MAX_NOTIFICATION_BYTES: usize = 64 * 1024;
/// The `code` of an answer that did what was asked.
pub const SUCCESS_CODE: &str = "10000";
/// What a notification's receiver answers so that Alipay stops sending it.
pub const ACKNOWLEDGEMENT: &str = "success";
/// How Alipay writes a time: Beijing time, without an offset.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

const BEIJING: FixedOffset = FixedOffset::east_opt(8 * 3600).unwrap();
const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";

/// `at` as Alipay states times.
pub fn beijing_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&BEIJING).format(TIME_FORMAT).to_string()
}

/// Which parameters a signature covers besides the rule that `sign` and empty values
/// never count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// A call to the gateway: `sign_type` is signed too.
    Request,
    /// A notification or the browser's return parameters: without `sign_type`.
    Notification,
}

/// The text an RSA2 signature is over: the parameters with a value, sorted by key
/// (byte order, which `BTreeMap<String, _>` keeps), as `k=v&k=v` with raw values.
pub fn signing_string(params: &BTreeMap<String, String>, scheme: Scheme) -> String {
    let mut text = String::new();
    for (key, value) in params {
        let excluded = key == "sign" || (scheme == Scheme::Notification && key == "sign_type");
        if excluded || value.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push('&');
        }
        text.push_str(key);
        text.push('=');
        text.push_str(value);
    }
    text
}

/// The base64 SHA256withRSA signature of `params` under `scheme`: the value of `sign`.
pub fn sign_params(
    signer: &RsaSigner,
    params: &BTreeMap<String, String>,
    scheme: Scheme,
) -> String {
    signer.sign_base64(signing_string(params, scheme).as_bytes())
}

/// Whether `params` carry a `sign` that verifies under `scheme` with `verifier`.
pub fn verify_params(
    verifier: &RsaVerifier,
    params: &BTreeMap<String, String>,
    scheme: Scheme,
) -> bool {
    params
        .get("sign")
        .is_some_and(|sign| verifier.verify_base64(signing_string(params, scheme).as_bytes(), sign))
}

/// The key a method's answer is under: `alipay.trade.query` → `alipay_trade_query_response`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// A synchronous answer as Alipay writes one: `node`, a JSON object's text, under
/// the method's key, and `sign` over exactly that text.
pub fn sign_response(signer: &RsaSigner, method: &str, node: &str) -> String {
    let sign = Value::from(signer.sign_base64(node.as_bytes()));
    format!("{{\"{}\":{node},\"sign\":{sign}}}", response_key(method))
}

/// The text of `method`'s answer in `body` (or the gateway's `error_response`),
/// exactly as it appears in the bytes, when its `sign` verifies: re-serialising it
/// would change what was signed (key order, escapes, number forms).
fn verified_node<'a>(verifier: &RsaVerifier, method: &str, body: &'a [u8]) -> Option<&'a str> {
    let envelope: HashMap<String, &'a RawValue> = serde_json::from_slice(body).ok()?;
    let node: &'a RawValue = envelope
        .get(&response_key(method))
        .or_else(|| envelope.get("error_response"))
        .copied()?;
    let sign: String = serde_json::from_str(envelope.get("sign")?.get()).ok()?;
    verifier
        .verify_base64(node.get().as_bytes(), &sign)
        .then_some(node.get())
}

/// Our Alipay application: its ids, our signing key, Alipay's public key, and one
/// HTTP client for the gateway.
pub struct Alipay {
    app_id: String,
    seller_id: String,
    signer: RsaSigner,
    verifier: RsaVerifier,
    gateway: Url,
    http: reqwest::Client,
}

impl std::fmt::Debug for Alipay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alipay")
            .field("app_id", &self.app_id)
            .field("seller_id", &self.seller_id)
            .field("gateway", &self.gateway.as_str())
            .finish_non_exhaustive()
    }
}

/// The Alipay channel's settings: off (`None`) without `ALIPAY_APP_ID`.
#[derive(Debug, Clone, Default)]
pub struct AlipayConfig(pub Option<Arc<Alipay>>);

impl Section for AlipayConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let Some(app_id) = vars.optional("ALIPAY_APP_ID") else {
            return Self(None);
        };
        let seller_id = vars.required("ALIPAY_SELLER_ID");
        let signer = vars
            .required("ALIPAY_PRIVATE_KEY")
            .and_then(|pem| match RsaSigner::from_pem(&pem) {
                Ok(signer) => Some(signer),
                Err(e) => {
                    vars.problem("ALIPAY_PRIVATE_KEY", &format!("is {e}"));
                    None
                }
            });
        let verifier =
            vars.required("ALIPAY_PUBLIC_KEY")
                .and_then(|pem| match RsaVerifier::from_pem(&pem) {
                    Ok(verifier) => Some(verifier),
                    Err(e) => {
                        vars.problem("ALIPAY_PUBLIC_KEY", &format!("is {e}"));
                        None
                    }
                });
        let gateway = match vars.optional("ALIPAY_GATEWAY_URL") {
            None => Url::parse(DEFAULT_GATEWAY_URL).ok(),
            Some(_) => vars.http_url("ALIPAY_GATEWAY_URL", "must be an http(s) URL"),
        };
        let (Some(seller_id), Some(signer), Some(verifier), Some(gateway)) =
            (seller_id, signer, verifier, gateway)
        else {
            return Self(None);
        };
        match Alipay::new(app_id.trim(), seller_id.trim(), signer, verifier, gateway) {
            Ok(alipay) => Self(Some(Arc::new(alipay))),
            Err(e) => {
                vars.problem("ALIPAY_APP_ID", &format!("cannot be used: {e}"));
                Self(None)
            }
        }
    }
}

/// What every answer says, besides the method's own fields.
#[derive(Debug, Deserialize)]
struct Status {
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    sub_code: String,
    #[serde(default)]
    sub_msg: String,
}

/// A verified answer: the method's fields, or why Alipay did not do it.
enum Reply<T> {
    Done(T),
    Refused(Refusal),
}

struct Refusal {
    method: &'static str,
    status: Status,
}

impl Refusal {
    fn sub_code(&self) -> &str {
        &self.status.sub_code
    }

    fn text(&self) -> String {
        let s = &self.status;
        format!(
            "Alipay refused {}: {} {} ({} {})",
            self.method, s.code, s.sub_code, s.msg, s.sub_msg
        )
    }

    /// Alipay's outage is ours to retry; a business refusal (40004) is the caller's
    /// to see; anything else means our request or credentials are wrong, which needs
    /// someone to look (reported as internal).
    fn into_error(self) -> Error {
        let text = self.text();
        if self.is_transient() {
            Error::ServiceUnavailable(text)
        } else if self.status.code == "40004" {
            Error::Conflict(text)
        } else {
            Error::internal(text)
        }
    }

    fn is_transient(&self) -> bool {
        self.status.code == "20000" || self.status.sub_code == "ACQ.SYSTEM_ERROR"
    }

    /// A refund Alipay refused for a business reason has failed; other refusals stay
    /// errors, since the same request may still go through.
    fn into_refund_state(self) -> Result<RefundState> {
        if self.status.code == "40004" && !self.is_transient() {
            let s = &self.status;
            Ok(RefundState::Failed {
                reason: format!("{}: {}", s.sub_code, s.sub_msg),
            })
        } else {
            Err(self.into_error())
        }
    }
}

/// The business content of a new trade, for the three ways of paying.
#[derive(Serialize)]
struct NewTrade<'a> {
    out_trade_no: &'a str,
    total_amount: String,
    subject: &'a str,
    time_expire: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quit_url: Option<&'a str>,
}

#[derive(Deserialize)]
struct Precreated {
    qr_code: String,
}

#[derive(Deserialize)]
struct Queried {
    #[serde(default)]
    out_trade_no: String,
    #[serde(default)]
    trade_status: String,
    #[serde(default)]
    trade_no: String,
    #[serde(default)]
    total_amount: String,
}

#[derive(Deserialize)]
struct Refunded {
    #[serde(default)]
    trade_no: String,
    #[serde(default)]
    fund_change: String,
}

#[derive(Deserialize)]
struct RefundQueried {
    #[serde(default)]
    trade_no: String,
    #[serde(default)]
    refund_amount: String,
    #[serde(default)]
    refund_status: String,
}

impl Alipay {
    pub fn new(
        app_id: impl Into<String>,
        seller_id: impl Into<String>,
        signer: RsaSigner,
        verifier: RsaVerifier,
        gateway: Url,
    ) -> Result<Self> {
        platform::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            app_id: app_id.into(),
            seller_id: seller_id.into(),
            signer,
            verifier,
            gateway,
            http,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn seller_id(&self) -> &str {
        &self.seller_id
    }

    /// The common parameters of a call with its `biz_content`, signed.
    fn signed(
        &self,
        method: &str,
        biz_content: &str,
        notify_url: Option<&Url>,
        return_url: Option<&Url>,
    ) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.app_id.as_str()),
            ("method", method),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("version", "1.0"),
            ("biz_content", biz_content),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        params.insert("timestamp".into(), beijing_time(Utc::now()));
        if let Some(url) = notify_url {
            params.insert("notify_url".into(), url.as_str().to_owned());
        }
        if let Some(url) = return_url {
            params.insert("return_url".into(), url.as_str().to_owned());
        }
        let sign = sign_params(&self.signer, &params, Scheme::Request);
        params.insert("sign".into(), sign);
        params
    }

    /// The gateway URL a browser opens for a cashier page: every signed parameter in
    /// its query string.
    fn cashier_url(
        &self,
        method: &str,
        trade: &NewTrade<'_>,
        request: &PaymentRequest<'_>,
    ) -> Result<String> {
        let biz_content = serde_json::to_string(trade).map_err(Error::internal)?;
        let params = self.signed(
            method,
            &biz_content,
            Some(request.notify_url),
            Some(request.return_url),
        );
        let mut url = self.gateway.clone();
        url.query_pairs_mut().extend_pairs(&params);
        Ok(url.into())
    }

    /// One server-to-server call, as Alipay's SDKs make it: the common parameters in
    /// the query string, `biz_content` in a UTF-8 form body. An answer that cannot be
    /// verified is Alipay being unavailable to us.
    async fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        biz_content: &str,
        notify_url: Option<&Url>,
    ) -> Result<Reply<T>> {
        let params = self.signed(method, biz_content, notify_url, None);
        let mut url = self.gateway.clone();
        url.query_pairs_mut()
            .extend_pairs(params.iter().filter(|(k, _)| *k != "biz_content"));
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("biz_content", biz_content)
            .finish();
        let unavailable = |why: String| {
            tracing::warn!(method, why, "alipay");
            Error::ServiceUnavailable(format!("Alipay did not answer {method} usably"))
        };
        let span = platform::telemetry::http_span(
            "POST",
            url.as_str(),
            platform::telemetry::UrlDetail::Path,
        );
        let response = self
            .http
            .post(url)
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .instrument(span)
            .await
            .map_err(|e| unavailable(platform::error::with_causes(&e)))?;
        let http_status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(platform::error::with_causes(&e)))?;
        let head = || String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        if !http_status.is_success() {
            return Err(unavailable(format!("HTTP {http_status}: {}", head())));
        }
        let node = verified_node(&self.verifier, method, &bytes)
            .ok_or_else(|| unavailable(format!("not signed by Alipay's key: {}", head())))?;
        let status: Status = serde_json::from_str(node)
            .map_err(|e| unavailable(format!("no code in the answer: {e}")))?;
        if status.code != SUCCESS_CODE {
            return Ok(Reply::Refused(Refusal { method, status }));
        }
        serde_json::from_str(node)
            .map(Reply::Done)
            .map_err(|e| unavailable(format!("an unexpected answer: {e}")))
    }

    /// What Alipay says of a refund asked for with `request_id` (`out_request_no`):
    /// succeeded, or (when Alipay has no such refund done) still processing, which
    /// asking for the same refund again settles safely.
    pub async fn refund_query(&self, order: &str, request_id: &str) -> Result<RefundState> {
        let biz = json!({ "out_trade_no": order, "out_request_no": request_id });
        match self
            .call::<RefundQueried>("alipay.trade.fastpay.refund.query", &biz.to_string(), None)
            .await?
        {
            Reply::Done(found) => {
                // Alipay's rule: a refund that is found with REFUND_SUCCESS, or found
                // without any status, has succeeded.
                let succeeded = found.refund_status == "REFUND_SUCCESS"
                    || (found.refund_status.is_empty() && !found.refund_amount.is_empty());
                let provider_ref = found.trade_no;
                Ok(if succeeded {
                    RefundState::Succeeded { provider_ref }
                } else {
                    RefundState::Processing { provider_ref }
                })
            }
            Reply::Refused(refusal) => refusal.into_refund_state(),
        }
    }
}

fn cny_only(currency: Currency) -> Result<()> {
    if currency == Currency::Cny {
        Ok(())
    } else {
        Err(Error::invalid("price", "Alipay takes renminbi (CNY) only"))
    }
}

impl Provider for Alipay {
    async fn start(&self, request: &PaymentRequest<'_>, method: Method) -> Result<Started> {
        cny_only(request.currency)?;
        let mut trade = NewTrade {
            out_trade_no: request.order,
            total_amount: request.amount.to_decimal(),
            subject: request.description,
            time_expire: beijing_time(request.expires_at),
            product_code: None,
            quit_url: None,
        };
        let payment = match method {
            Method::Page => {
                trade.product_code = Some("FAST_INSTANT_TRADE_PAY");
                Payment::Page {
                    url: self.cashier_url("alipay.trade.page.pay", &trade, request)?,
                }
            }
            Method::Wap => {
                trade.product_code = Some("QUICK_WAP_WAY");
                // Where a payer who gives up on the mobile cashier is sent.
                trade.quit_url = Some(request.return_url.as_str());
                Payment::Wap {
                    url: self.cashier_url("alipay.trade.wap.pay", &trade, request)?,
                }
            }
            Method::Qr => {
                let biz_content = serde_json::to_string(&trade).map_err(Error::internal)?;
                match self
                    .call::<Precreated>(
                        "alipay.trade.precreate",
                        &biz_content,
                        Some(request.notify_url),
                    )
                    .await?
                {
                    Reply::Done(created) => Payment::Qr {
                        qr_code: created.qr_code,
                    },
                    Reply::Refused(refusal) => return Err(refusal.into_error()),
                }
            }
            other => {
                return Err(Error::invalid(
                    "method",
                    format!("{} is not an Alipay method", other.as_str()),
                ));
            }
        };
        Ok(Started {
            payment,
            provider_ref: None,
        })
    }

    /// A trade Alipay does not know is [`Remote::Closed`]; note that a cashier-page
    /// trade exists at Alipay only once the payer has opened it, so before the order's
    /// expiry "closed" may still become paid.
    async fn query(&self, order: &str, _provider_ref: Option<&str>) -> Result<Remote> {
        let biz = json!({ "out_trade_no": order });
        let found = match self
            .call::<Queried>("alipay.trade.query", &biz.to_string(), None)
            .await?
        {
            Reply::Done(found) => found,
            Reply::Refused(refusal) if refusal.sub_code() == TRADE_NOT_EXIST => {
                return Ok(Remote::Closed);
            }
            Reply::Refused(refusal) => return Err(refusal.into_error()),
        };
        // Alipay's signature does not bind an answer to its request: a signed answer
        // about another order, replayed, must not count for this one.
        if found.out_trade_no != order {
            return Err(Error::ServiceUnavailable(
                "Alipay answered about another trade".into(),
            ));
        }
        match found.trade_status.as_str() {
            "WAIT_BUYER_PAY" => Ok(Remote::Pending),
            "TRADE_CLOSED" => Ok(Remote::Closed),
            "TRADE_SUCCESS" | "TRADE_FINISHED" => {
                let amount = Amount::parse_decimal(&found.total_amount);
                match amount {
                    Some(amount) if !found.trade_no.is_empty() => Ok(Remote::Paid {
                        provider_ref: found.trade_no,
                        currency: Currency::Cny,
                        amount,
                    }),
                    _ => Err(Error::ServiceUnavailable(
                        "Alipay's paid trade lacks its trade_no or an exact total_amount".into(),
                    )),
                }
            }
            other => Err(Error::ServiceUnavailable(format!(
                "Alipay answered an unknown trade_status `{other}`"
            ))),
        }
    }

    async fn close(&self, order: &str, _provider_ref: Option<&str>) -> Result<()> {
        let biz = json!({ "out_trade_no": order });
        match self
            .call::<IgnoredAny>("alipay.trade.close", &biz.to_string(), None)
            .await?
        {
            Reply::Done(_) => Ok(()),
            Reply::Refused(refusal) if refusal.sub_code() == TRADE_NOT_EXIST => Ok(()),
            Reply::Refused(refusal) => Err(refusal.into_error()),
        }
    }

    /// Alipay gives a refund no id of its own (it is the trade's, with our
    /// `out_request_no`): `provider_ref` is the trade's `trade_no`. `fund_change`
    /// other than `Y` (also the answer to a repeated request) says nothing about
    /// whether money moved: [`Alipay::refund_query`] tells.
    async fn refund(&self, refund: &RefundRequest<'_>) -> Result<RefundState> {
        cny_only(refund.currency)?;
        let mut biz = json!({
            "out_trade_no": refund.order,
            "refund_amount": refund.amount.to_decimal(),
            "out_request_no": refund.request_id,
        });
        if let (Some(reason), Some(object)) = (refund.reason, biz.as_object_mut()) {
            object.insert("refund_reason".into(), reason.into());
        }
        match self
            .call::<Refunded>(
                "alipay.trade.refund",
                &biz.to_string(),
                Some(refund.notify_url),
            )
            .await?
        {
            Reply::Done(done) if done.fund_change == "Y" => Ok(RefundState::Succeeded {
                provider_ref: done.trade_no,
            }),
            Reply::Done(done) => Ok(RefundState::Processing {
                provider_ref: done.trade_no,
            }),
            Reply::Refused(refusal) => refusal.into_refund_state(),
        }
    }
}

/// A notification whose signature, app and seller have been verified; values are
/// as Alipay sent them, form-decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub notify_id: String,
    /// `trade_status_sync` for trades and their refunds.
    pub notify_type: String,
    pub out_trade_no: String,
    pub trade_no: Option<String>,
    pub trade_status: Option<String>,
    pub total_amount: Option<String>,
    /// The refunded total so far, on a refund's notification.
    pub refund_fee: Option<String>,
    pub gmt_refund: Option<String>,
    /// The refund's `out_request_no`, on a refund's notification.
    pub out_biz_no: Option<String>,
    /// Every parameter, `sign` included.
    pub params: BTreeMap<String, String>,
}

impl Notification {
    /// Alipay's name for what happened, as `payment_events.kind` keeps it.
    pub fn kind(&self) -> &str {
        self.trade_status.as_deref().unwrap_or(&self.notify_type)
    }

    /// A refund's notification keeps the trade's status (`TRADE_SUCCESS` after a
    /// partial refund), so only its refund fields tell it from a payment's.
    pub fn is_refund(&self) -> bool {
        self.refund_fee.is_some() || self.gmt_refund.is_some() || self.out_biz_no.is_some()
    }

    pub fn signal(&self) -> Signal<'_> {
        let paid = matches!(
            self.trade_status.as_deref(),
            Some("TRADE_SUCCESS" | "TRADE_FINISHED")
        );
        if self.is_refund() {
            // A refund's notification names it by our out_request_no.
            return match (self.out_biz_no.as_deref(), self.trade_no.as_deref()) {
                (Some(request_id), Some(trade_no)) => Signal::Refunded {
                    request_id,
                    settlement: Settlement::Succeeded {
                        provider_ref: trade_no.to_owned(),
                    },
                },
                _ => Signal::Unusable("a refund notification without out_biz_no or trade_no"),
            };
        }
        if !paid {
            return Signal::Ignored;
        }
        let Some(trade_no) = self.trade_no.as_deref() else {
            return Signal::Unusable("no trade_no");
        };
        let Some(amount) = self.total_amount.as_deref().and_then(Amount::parse_decimal) else {
            return Signal::Unusable("no exact total_amount");
        };
        Signal::Paid(fulfilment::Payment {
            order: &self.out_trade_no,
            source: "webhook:alipay",
            provider_ref: trade_no,
            currency: Currency::Cny,
            amount,
        })
    }
}

/// Reads and verifies one notification body: 413 above [`MAX_NOTIFICATION_BYTES`],
/// 400 for a parameter given twice, an unsigned or non-RSA2 body, a signature that
/// does not verify with Alipay's key, or another app's or seller's notification.
pub fn verify_notification(alipay: &Alipay, body: &[u8]) -> Result<Notification> {
    if body.len() > MAX_NOTIFICATION_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_NOTIFICATION_BYTES,
        });
    }
    let mut params = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if params
            .insert(key.into_owned(), value.into_owned())
            .is_some()
        {
            return Err(Error::invalid(
                "body",
                "a parameter is given more than once",
            ));
        }
    }
    if params.get("sign").is_none_or(|s| s.is_empty()) {
        return Err(Error::invalid("sign", "the notification is not signed"));
    }
    if params.get("sign_type").map(String::as_str) != Some("RSA2") {
        return Err(Error::invalid(
            "sign_type",
            "only RSA2 notifications are accepted",
        ));
    }
    if params
        .get("charset")
        .is_some_and(|c| !c.eq_ignore_ascii_case("utf-8"))
    {
        return Err(Error::invalid(
            "charset",
            "only UTF-8 notifications are accepted",
        ));
    }
    if !verify_params(&alipay.verifier, &params, Scheme::Notification) {
        return Err(Error::invalid(
            "sign",
            "the signature does not verify with Alipay's public key",
        ));
    }
    if params.get("app_id") != Some(&alipay.app_id) {
        return Err(Error::invalid(
            "app_id",
            "the notification is for another app",
        ));
    }
    if params.get("seller_id") != Some(&alipay.seller_id) {
        return Err(Error::invalid(
            "seller_id",
            "the notification is for another seller",
        ));
    }
    let required = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| Error::invalid(name, format!("the notification has no {name}")))
    };
    let optional = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    Ok(Notification {
        notify_id: required("notify_id")?,
        notify_type: required("notify_type")?,
        out_trade_no: required("out_trade_no")?,
        trade_no: optional("trade_no"),
        trade_status: optional("trade_status"),
        total_amount: optional("total_amount"),
        refund_fee: optional("refund_fee"),
        gmt_refund: optional("gmt_refund"),
        out_biz_no: optional("out_biz_no"),
        params,
    })
}

/// Handles one delivery to `POST /webhooks/alipay`, `body` being the raw form: 404
/// with the channel off; a body that does not verify is a 4xx and changes nothing; a
/// verified one is recorded once per `notify_id` and its outcome returned, whatever
/// it was, so the route answers [`ACKNOWLEDGEMENT`] (anything else has Alipay retry,
/// which would not help).
pub async fn handle(
    fulfilment: &Fulfilment,
    db: &Db,
    config: &AlipayConfig,
    body: &[u8],
) -> Result<&'static str> {
    let alipay = config
        .0
        .as_deref()
        .ok_or_else(|| Error::NotFound("the Alipay channel is not configured".into()))?;
    let notification = verify_notification(alipay, body)?;
    notification::process(
        db,
        fulfilment,
        notification::Event {
            provider: PROVIDER,
            id: &notification.notify_id,
            kind: notification.kind(),
            order: Some(&notification.out_trade_no),
            signal: notification.signal(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use platform::config::Env;

    use super::*;
    use crate::crypto::tests::{key, second_key};

    const APP_ID: &str = "2021000000000001";
    const SELLER_ID: &str = "2088000000000001";

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Our client: our key (`key()`) signs, Alipay's (`second_key()`) verifies.
    fn alipay() -> Alipay {
        Alipay::new(
            APP_ID,
            SELLER_ID,
            RsaSigner::from_pem(&key().0).unwrap(),
            RsaVerifier::from_pem(&second_key().2).unwrap(),
            Url::parse("https://openapi.alipay.com/gateway.do").unwrap(),
        )
        .unwrap()
    }

    fn alipay_signer() -> RsaSigner {
        RsaSigner::from_pem(&second_key().1).unwrap()
    }

    #[test]
    fn the_signing_string_sorts_drops_empty_values_and_the_signature() {
        let p = params(&[
            ("timestamp", "2025-01-02 00:30:00"),
            ("biz_content", r#"{"subject":"中文 +1"}"#),
            ("app_id", "1"),
            ("sign", "abc"),
            ("sign_type", "RSA2"),
            ("notify_url", ""),
            ("Zeta", "upper case sorts first"),
        ]);
        assert_eq!(
            signing_string(&p, Scheme::Request),
            r#"Zeta=upper case sorts first&app_id=1&biz_content={"subject":"中文 +1"}&sign_type=RSA2&timestamp=2025-01-02 00:30:00"#
        );
        assert_eq!(
            signing_string(&p, Scheme::Notification),
            r#"Zeta=upper case sorts first&app_id=1&biz_content={"subject":"中文 +1"}&timestamp=2025-01-02 00:30:00"#
        );
    }

    fn request<'a>(return_url: &'a Url, notify_url: &'a Url) -> PaymentRequest<'a> {
        PaymentRequest {
            order: "ord_123",
            description: "年度会员 & 课程",
            currency: Currency::Cny,
            amount: Amount::new(1230).unwrap(),
            expires_at: Utc.with_ymd_and_hms(2025, 1, 1, 16, 30, 0).unwrap(),
            return_url,
            notify_url,
            client_ip: None,
            openid: None,
        }
    }

    #[tokio::test]
    async fn a_cashier_url_carries_every_signed_parameter() {
        let return_url = Url::parse("https://example.com/checkout/return?order=ord_123").unwrap();
        let notify_url = Url::parse("https://api.example.com/webhooks/alipay").unwrap();
        let alipay = alipay();
        let merchant = RsaVerifier::from_pem(&key().2).unwrap();
        let cases = [
            (
                Method::Page,
                "alipay.trade.page.pay",
                "FAST_INSTANT_TRADE_PAY",
            ),
            (Method::Wap, "alipay.trade.wap.pay", "QUICK_WAP_WAY"),
        ];
        for (method, name, product_code) in cases {
            let started = alipay
                .start(&request(&return_url, &notify_url), method)
                .await
                .unwrap();
            assert_eq!(started.provider_ref, None);
            let url = match started.payment {
                Payment::Page { url } | Payment::Wap { url } => Url::parse(&url).unwrap(),
                other => panic!("{other:?}"),
            };
            assert!(
                url.as_str()
                    .starts_with("https://openapi.alipay.com/gateway.do?")
            );
            let sent: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            assert!(
                verify_params(&merchant, &sent, Scheme::Request),
                "{method:?}"
            );
            assert_eq!(sent["method"], name);
            assert_eq!(sent["app_id"], APP_ID);
            assert_eq!(sent["charset"], "utf-8");
            assert_eq!(sent["sign_type"], "RSA2");
            assert_eq!(sent["format"], "JSON");
            assert_eq!(sent["version"], "1.0");
            assert_eq!(sent["return_url"], return_url.as_str());
            assert_eq!(sent["notify_url"], notify_url.as_str());
            assert!(chrono::NaiveDateTime::parse_from_str(&sent["timestamp"], TIME_FORMAT).is_ok());
            let biz: Value = serde_json::from_str(&sent["biz_content"]).unwrap();
            assert_eq!(biz["out_trade_no"], "ord_123");
            assert_eq!(biz["total_amount"], "12.30");
            assert_eq!(biz["subject"], "年度会员 & 课程");
            assert_eq!(biz["product_code"], product_code);
            assert_eq!(biz["time_expire"], "2025-01-02 00:30:00");

            let mut tampered = sent.clone();
            tampered.insert(
                "biz_content".into(),
                sent["biz_content"].replace("12.30", "0.01"),
            );
            assert!(!verify_params(&merchant, &tampered, Scheme::Request));
        }
    }

    #[tokio::test]
    async fn other_currencies_and_methods_are_refused() {
        let url = Url::parse("https://example.com/").unwrap();
        let mut usd = request(&url, &url);
        usd.currency = Currency::Usd;
        let err = alipay().start(&usd, Method::Page).await.unwrap_err();
        assert_eq!(err.status(), 400);
        let err = alipay()
            .start(&request(&url, &url), Method::Native)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 400);
    }

    /// A notification as Alipay sends one, signed with Alipay's key; `edit` changes
    /// the parameters before signing.
    fn notification_params(
        edit: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> BTreeMap<String, String> {
        let mut p = params(&[
            ("notify_time", "2025-01-01 12:00:00"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("app_id", APP_ID),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("sign_type", "RSA2"),
            ("trade_no", "2025010122001400001234567890"),
            ("out_trade_no", "ord_123"),
            ("seller_id", SELLER_ID),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "12.30"),
            ("receipt_amount", "12.30"),
            ("buyer_pay_amount", "12.30"),
            ("subject", "年度会员"),
            ("gmt_create", "2025-01-01 11:59:00"),
            ("gmt_payment", "2025-01-01 11:59:58"),
            (
                "fund_bill_list",
                r#"[{"amount":"12.30","fundChannel":"ALIPAYACCOUNT"}]"#,
            ),
        ]);
        edit(&mut p);
        let sign = sign_params(&alipay_signer(), &p, Scheme::Notification);
        p.insert("sign".into(), sign);
        p
    }

    fn form(p: &BTreeMap<String, String>) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p)
            .finish()
            .into_bytes()
    }

    fn refused(body: &[u8]) -> String {
        let err = verify_notification(&alipay(), body).unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        match err {
            Error::Validation { details, .. } => {
                details["errors"][0]["path"][0].as_str().unwrap().to_owned()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_signed_payment_notification_is_a_paid_signal() {
        let n = verify_notification(&alipay(), &form(&notification_params(|_| {}))).unwrap();
        assert_eq!(n.notify_id, "ac05099524730693a8b330c5ecf72da9786");
        assert_eq!(n.kind(), "TRADE_SUCCESS");
        assert!(!n.is_refund());
        assert_eq!(n.params["subject"], "年度会员");
        match n.signal() {
            Signal::Paid(p) => {
                assert_eq!(p.order, "ord_123");
                assert_eq!(p.source, "webhook:alipay");
                assert_eq!(p.provider_ref, "2025010122001400001234567890");
                assert_eq!(p.currency, Currency::Cny);
                assert_eq!(p.amount.minor(), 1230);
            }
            _ => panic!("not paid"),
        }
    }

    #[test]
    fn what_is_not_a_payment_is_a_refund_ignored_or_unusable() {
        let wait = notification_params(|p| {
            p.insert("trade_status".into(), "WAIT_BUYER_PAY".into());
        });
        let n = verify_notification(&alipay(), &form(&wait)).unwrap();
        assert!(matches!(n.signal(), Signal::Ignored));

        let refund = notification_params(|p| {
            p.insert("refund_fee".into(), "2.00".into());
            p.insert("gmt_refund".into(), "2025-01-02 10:00:00.123".into());
            p.insert("out_biz_no".into(), "refund_1".into());
        });
        let n = verify_notification(&alipay(), &form(&refund)).unwrap();
        assert!(n.is_refund());
        assert_eq!(n.refund_fee.as_deref(), Some("2.00"));
        assert_eq!(n.out_biz_no.as_deref(), Some("refund_1"));
        match n.signal() {
            Signal::Refunded {
                request_id,
                settlement: Settlement::Succeeded { provider_ref },
            } => assert_eq!((request_id, provider_ref.is_empty()), ("refund_1", false)),
            _ => panic!("a refund notification settles the refund it names"),
        }

        let inexact = notification_params(|p| {
            p.insert("total_amount".into(), "12.305".into());
        });
        let n = verify_notification(&alipay(), &form(&inexact)).unwrap();
        assert!(matches!(n.signal(), Signal::Unusable(_)));
    }

    #[test]
    fn notifications_that_do_not_verify_are_refused() {
        let good = notification_params(|_| {});

        let mut bad_sign = good.clone();
        let other = RsaSigner::from_pem(&key().0).unwrap();
        let forged = sign_params(&other, &good, Scheme::Notification);
        bad_sign.insert("sign".into(), forged);
        assert_eq!(refused(&form(&bad_sign)), "sign");

        let mut tampered = good.clone();
        tampered.insert("total_amount".into(), "0.01".into());
        assert_eq!(refused(&form(&tampered)), "sign");

        let mut unsigned = good.clone();
        unsigned.remove("sign");
        assert_eq!(refused(&form(&unsigned)), "sign");
        assert_eq!(refused(b""), "sign");

        let rsa1 = notification_params(|p| {
            p.insert("sign_type".into(), "RSA".into());
        });
        assert_eq!(refused(&form(&rsa1)), "sign_type");

        let other_app = notification_params(|p| {
            p.insert("app_id".into(), "2021000000000002".into());
        });
        assert_eq!(refused(&form(&other_app)), "app_id");

        let other_seller = notification_params(|p| {
            p.insert("seller_id".into(), "2088000000000002".into());
        });
        assert_eq!(refused(&form(&other_seller)), "seller_id");

        let mut twice = form(&good);
        twice.extend_from_slice(b"&total_amount=12.30");
        assert_eq!(refused(&twice), "body");

        let no_notify_id = notification_params(|p| {
            p.remove("notify_id");
        });
        assert_eq!(refused(&form(&no_notify_id)), "notify_id");

        let huge = vec![b'a'; MAX_NOTIFICATION_BYTES + 1];
        let err = verify_notification(&alipay(), &huge).unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn values_are_form_decoded_exactly_once() {
        // Alipay signs the decoded value `1+1 = 2 中文%20`: `+` is a space, `%2B` a
        // plus, and `%2520` a literal `%20` that must not be decoded again.
        let signed = notification_params(|p| {
            p.insert("subject".into(), "1+1 = 2 中文%20".into());
        });
        let mut body = String::new();
        for (key, value) in &signed {
            if !body.is_empty() {
                body.push('&');
            }
            let value = if key == "subject" {
                "1%2B1+%3D+2+%E4%B8%AD%E6%96%87%2520".to_owned()
            } else {
                form_urlencoded::byte_serialize(value.as_bytes()).collect()
            };
            body.push_str(&format!("{key}={value}"));
        }
        let n = verify_notification(&alipay(), body.as_bytes()).unwrap();
        assert_eq!(n.params["subject"], "1+1 = 2 中文%20");
    }

    #[test]
    fn answers_verify_over_their_exact_text() {
        let signer = alipay_signer();
        let verifier = RsaVerifier::from_pem(&second_key().2).unwrap();
        // Spacing, escapes and key order as Alipay wrote them: re-serialising would
        // change every one of these.
        let node = r#"{"code":"10000","msg":"Success", "buyer_logon_id":"158****1562","total_amount":"12.30","msg_cn":"\u6210\u529f","trade_no":"2025"}"#;
        let body = sign_response(&signer, "alipay.trade.query", node);
        assert_eq!(
            verified_node(&verifier, "alipay.trade.query", body.as_bytes()),
            Some(node)
        );
        let spaced = body.replacen("\":{", "\": {", 1);
        assert_eq!(
            verified_node(&verifier, "alipay.trade.query", spaced.as_bytes()),
            Some(node)
        );
        assert_eq!(
            verified_node(&verifier, "alipay.trade.close", body.as_bytes()),
            None
        );
        let changed = body.replacen("12.30", "12.31", 1);
        assert_eq!(
            verified_node(&verifier, "alipay.trade.query", changed.as_bytes()),
            None
        );
        let unsigned = format!(r#"{{"alipay_trade_query_response":{node}}}"#);
        assert_eq!(
            verified_node(&verifier, "alipay.trade.query", unsigned.as_bytes()),
            None
        );
        let ours = RsaVerifier::from_pem(&key().2).unwrap();
        assert_eq!(
            verified_node(&ours, "alipay.trade.query", body.as_bytes()),
            None
        );

        let error =
            r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"}"#;
        let gateway_error = format!(
            r#"{{"error_response":{error},"sign":{}}}"#,
            Value::from(signer.sign_base64(error.as_bytes()))
        );
        assert_eq!(
            verified_node(&verifier, "alipay.trade.query", gateway_error.as_bytes()),
            Some(error)
        );
    }

    fn config(
        pairs: &[(&str, &str)],
    ) -> std::result::Result<AlipayConfig, platform::config::ConfigError> {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_map(map).section::<AlipayConfig>()
    }

    #[test]
    fn the_channel_is_off_without_an_app_id_and_complete_with_one() {
        assert!(config(&[]).unwrap().0.is_none());

        let err = config(&[("ALIPAY_APP_ID", APP_ID)])
            .unwrap_err()
            .to_string();
        for name in [
            "ALIPAY_SELLER_ID",
            "ALIPAY_PRIVATE_KEY",
            "ALIPAY_PUBLIC_KEY",
        ] {
            assert!(err.contains(&format!("{name} is missing")), "{err}");
        }

        let err = config(&[
            ("ALIPAY_APP_ID", APP_ID),
            ("ALIPAY_SELLER_ID", SELLER_ID),
            ("ALIPAY_PRIVATE_KEY", "not a key"),
            ("ALIPAY_PUBLIC_KEY", &key().0),
            ("ALIPAY_GATEWAY_URL", "gateway.do"),
        ])
        .unwrap_err()
        .to_string();
        for name in [
            "ALIPAY_PRIVATE_KEY",
            "ALIPAY_PUBLIC_KEY",
            "ALIPAY_GATEWAY_URL",
        ] {
            assert!(err.contains(name), "{err}");
        }
        assert!(!err.contains("PRIVATE KEY-----"), "{err}");

        let config = config(&[
            ("ALIPAY_APP_ID", APP_ID),
            ("ALIPAY_SELLER_ID", SELLER_ID),
            ("ALIPAY_PRIVATE_KEY", &key().1),
            ("ALIPAY_PUBLIC_KEY", &second_key().2),
        ])
        .unwrap();
        let alipay = config.0.as_deref().unwrap();
        assert_eq!(alipay.app_id(), APP_ID);
        assert_eq!(alipay.gateway.as_str(), DEFAULT_GATEWAY_URL);
        let debug = format!("{config:?}");
        let body_line = key().1.lines().nth(1).unwrap();
        assert!(!debug.contains(body_line), "{debug}");
        assert!(debug.contains(APP_ID), "{debug}");
    }
}
