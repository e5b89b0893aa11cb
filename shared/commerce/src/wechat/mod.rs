//! WeChat Pay API v3 (`api.mch.weixin.qq.com`): Native (a QR code), JSAPI (inside
//! WeChat's browser) and H5 (a mobile browser) payments in CNY, their query and
//! close, refunds, and the notifications WeChat Pay posts to `/webhooks/wechat`.
//!
//! Every request is signed with the merchant key ([`signing`]); every answer and
//! notification must carry WeChat Pay's signature, by a platform certificate named
//! by its serial or by the public key named `PUB_KEY_ID_…` (public-key mode),
//! within five minutes of our clock; one that does not is never believed.
//! Notifications carry their resource sealed with AES-256-GCM under the APIv3 key.

mod notify;
pub mod signing;
#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};
use tracing::Instrument;

use chrono::{FixedOffset, SecondsFormat};
use platform::{
    config::{Section, Vars},
    error::{Error, Result},
    secret::Secret,
};
use reqwest::{Method as HttpMethod, StatusCode, header};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};
use url::Url;

pub use notify::{
    MAX_NOTIFICATION_BYTES, Notification, RefundAmount, RefundNotice, Resource, failure_body,
    handle, seal_notification, verify_notification,
};
pub use signing::{PlatformKeys, PublicKey, VerifyError, authorization, signed_headers};

use crate::{
    crypto::{Certificate, RsaSigner, RsaVerifier},
    money::{Amount, Currency},
    provider::{
        Method, Payment, PaymentRequest, Provider, RefundRequest, RefundState, Remote, Started,
    },
};

pub const DEFAULT_API_BASE: &str = "https://api.mch.weixin.qq.com/";
/// WeChat Pay's limit on `description`, in bytes of UTF-8.
const MAX_DESCRIPTION_BYTES: usize = 127;

/// The WeChat Pay channel's settings: off without `WECHATPAY_MCH_ID`.
#[derive(Debug, Clone, Default)]
pub struct WechatPayConfig {
    pub account: Option<Account>,
}

/// A merchant account and what verifies WeChat Pay to it. `Debug` shows no key.
#[derive(Clone)]
pub struct Account {
    /// `WECHATPAY_MCH_ID`: the merchant number.
    pub mch_id: String,
    /// `WECHATPAY_APP_ID`: the official account (or app) the payments are for.
    pub app_id: String,
    /// `WECHATPAY_APIV3_KEY`: 32 bytes; opens notifications.
    pub apiv3_key: Secret,
    /// `WECHATPAY_MCH_SERIAL`: the serial of the merchant API certificate.
    pub merchant_serial: String,
    /// `WECHATPAY_MCH_PRIVATE_KEY`: signs our requests and JSAPI's pay-sign.
    merchant_key: Arc<RsaSigner>,
    /// `WECHATPAY_PLATFORM_CERTS` and `WECHATPAY_PUBLIC_KEY` with `WECHATPAY_PUBLIC_KEY_ID`.
    pub platform: PlatformKeys,
    /// `WECHATPAY_API_BASE`, ending with `/`: a local simulator in development.
    pub api_base: Url,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let certificates: Vec<&str> = self
            .platform
            .certificates
            .iter()
            .map(|c| c.serial.as_str())
            .collect();
        f.debug_struct("Account")
            .field("mch_id", &self.mch_id)
            .field("app_id", &self.app_id)
            .field("merchant_serial", &self.merchant_serial)
            .field("platform_certificates", &certificates)
            .field(
                "public_key_id",
                &self.platform.public_key.as_ref().map(|k| k.id.as_str()),
            )
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

impl Account {
    pub fn merchant_key(&self) -> &RsaSigner {
        &self.merchant_key
    }
}

impl Section for WechatPayConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let Some(mch_id) = vars.optional("WECHATPAY_MCH_ID") else {
            return Self::default();
        };
        let mch_id = mch_id.trim().to_owned();
        if !mch_id.bytes().all(|b| b.is_ascii_digit()) {
            vars.problem("WECHATPAY_MCH_ID", "must be the merchant number (digits)");
        }
        let app_id = vars
            .required("WECHATPAY_APP_ID")
            .map(|id| id.trim().to_owned());
        let apiv3_key = vars.required("WECHATPAY_APIV3_KEY").and_then(|key| {
            let key = key.trim();
            if key.len() == 32 {
                Some(Secret::new(key))
            } else {
                vars.problem("WECHATPAY_APIV3_KEY", "must be the 32-byte APIv3 key");
                None
            }
        });
        let merchant_serial = vars.required("WECHATPAY_MCH_SERIAL").and_then(|serial| {
            let serial = serial.trim();
            if serial.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(serial.to_ascii_uppercase())
            } else {
                vars.problem(
                    "WECHATPAY_MCH_SERIAL",
                    "must be the merchant certificate's serial number in hex",
                );
                None
            }
        });
        let merchant_key = vars.required("WECHATPAY_MCH_PRIVATE_KEY").and_then(|pem| {
            match RsaSigner::from_pem(&unescape_newlines(&pem)) {
                Ok(key) => Some(Arc::new(key)),
                Err(e) => {
                    vars.problem("WECHATPAY_MCH_PRIVATE_KEY", &format!("is {e}"));
                    None
                }
            }
        });
        let (platform, platform_ok) = read_platform_keys(vars);
        let api_base = match vars.base_url("WECHATPAY_API_BASE") {
            Some(url) => url,
            None => Url::parse(DEFAULT_API_BASE).expect("a valid constant URL"),
        };
        let account = (|| {
            Some(Account {
                mch_id,
                app_id: app_id?,
                apiv3_key: apiv3_key?,
                merchant_serial: merchant_serial?,
                merchant_key: merchant_key?,
                platform: platform_ok.then_some(platform)?,
                api_base,
            })
        })();
        Self { account }
    }
}

/// The platform certificates and public key, and whether they were all readable and
/// at least one was given.
fn read_platform_keys(vars: &mut Vars<'_>) -> (PlatformKeys, bool) {
    let mut ok = true;
    let certificates = match vars.optional("WECHATPAY_PLATFORM_CERTS") {
        None => Vec::new(),
        Some(pem) => Certificate::bundle(&unescape_newlines(&pem)).unwrap_or_else(|e| {
            vars.problem("WECHATPAY_PLATFORM_CERTS", &format!("must be {e}s"));
            ok = false;
            Vec::new()
        }),
    };
    let public_key = match (
        vars.optional("WECHATPAY_PUBLIC_KEY"),
        vars.optional("WECHATPAY_PUBLIC_KEY_ID"),
    ) {
        (None, None) => None,
        (Some(pem), Some(id)) => {
            let id = id.trim().to_owned();
            if !id.starts_with(signing::PUBLIC_KEY_ID_PREFIX) {
                vars.problem("WECHATPAY_PUBLIC_KEY_ID", "must start with PUB_KEY_ID_");
                ok = false;
            }
            match RsaVerifier::from_pem(&unescape_newlines(&pem)) {
                Ok(key) => Some(PublicKey { id, key }),
                Err(e) => {
                    vars.problem("WECHATPAY_PUBLIC_KEY", &format!("is {e}"));
                    ok = false;
                    None
                }
            }
        }
        _ => {
            vars.problem(
                "WECHATPAY_PUBLIC_KEY",
                "and WECHATPAY_PUBLIC_KEY_ID must be set together",
            );
            ok = false;
            None
        }
    };
    if ok && certificates.is_empty() && public_key.is_none() {
        vars.problem(
            "WECHATPAY_PLATFORM_CERTS",
            "or WECHATPAY_PUBLIC_KEY must be set to verify WeChat Pay",
        );
        ok = false;
    }
    (
        PlatformKeys {
            certificates,
            public_key,
        },
        ok,
    )
}

/// Single-line environment values (a Lambda's, a `.env` file's) carry a PEM's line
/// breaks as a literal `\n`.
fn unescape_newlines(pem: &str) -> String {
    pem.replace("\\n", "\n")
}

/// The WeChat Pay client of one account: one connection pool per instance.
#[derive(Debug, Clone)]
pub struct WechatPay {
    account: Account,
    http: reqwest::Client,
}

/// An answer whose signature was checked when it had one.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    /// Whether WeChat Pay's signature was on it (and verified).
    signed: bool,
}

/// WeChat Pay's error body.
#[derive(Deserialize)]
struct ApiError {
    code: String,
    #[serde(default)]
    message: String,
}

impl Reply {
    fn error_code(&self) -> Option<String> {
        serde_json::from_slice::<ApiError>(&self.body)
            .ok()
            .map(|e| e.code)
    }

    /// The body of a 2xx answer as `T`; anything else as the error it states.
    fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if !self.status.is_success() {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            tracing::error!(error = %e, "an unexpected answer from WeChat Pay");
            Error::ServiceUnavailable("WeChat Pay answered in an unexpected shape".into())
        })
    }

    /// What a refusal means to our caller, with WeChat Pay's code and message.
    fn error(&self) -> Error {
        let Ok(ApiError { code, message }) = serde_json::from_slice(&self.body) else {
            return Error::ServiceUnavailable(format!(
                "WeChat Pay answered {} without an error body",
                self.status.as_u16()
            ));
        };
        let text = format!("WeChat Pay refused ({code}): {message}");
        match code.as_str() {
            "ORDERPAID" | "ORDER_CLOSED" | "OUT_TRADE_NO_USED" => Error::Conflict(text),
            "ORDER_NOT_EXIST" | "ORDERNOTEXIST" | "RESOURCE_NOT_EXISTS" => Error::NotFound(text),
            "SIGN_ERROR"
            | "NO_AUTH"
            | "APPID_MCHID_NOT_MATCH"
            | "MCH_NOT_EXISTS"
            | "ACCOUNT_ERROR"
            | "RULE_LIMIT" => {
                tracing::error!(code, message, "WeChat Pay refused our account or signature");
                Error::internal(text)
            }
            _ if self.status.is_server_error()
                || self.status == StatusCode::TOO_MANY_REQUESTS
                || matches!(
                    code.as_str(),
                    "SYSTEM_ERROR" | "FREQUENCY_LIMITED" | "BANKERROR" | "NOT_ENOUGH"
                ) =>
            {
                Error::ServiceUnavailable(text)
            }
            _ => Error::invalid("wechatpay", text),
        }
    }
}

#[derive(Deserialize)]
struct CodeUrl {
    code_url: String,
}

#[derive(Deserialize)]
struct PrepayId {
    prepay_id: String,
}

#[derive(Deserialize)]
struct H5Url {
    h5_url: String,
}

/// A transaction as WeChat Pay describes it, in a query's answer and in a
/// `TRANSACTION.*` notification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Transaction {
    #[serde(default)]
    pub appid: String,
    #[serde(default)]
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub trade_type: Option<String>,
    /// `SUCCESS`, `REFUND`, `NOTPAY`, `CLOSED`, `REVOKED`, `USERPAYING` or `PAYERROR`.
    pub trade_state: String,
    pub trade_state_desc: Option<String>,
    pub success_time: Option<String>,
    pub amount: Option<TransactionAmount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransactionAmount {
    /// The order's total in fen.
    pub total: i64,
    #[serde(default)]
    pub currency: String,
    pub payer_total: Option<i64>,
}

/// A refund as the refund API describes it.
#[derive(Deserialize)]
struct Refund {
    refund_id: String,
    status: String,
}

/// Our order and refund numbers go into URL paths: WeChat Pay's own alphabet for
/// them keeps those paths safe.
fn check_out_no(field: &str, value: &str) -> Result<()> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b);
    if (1..=64).contains(&value.len()) && value.bytes().all(allowed) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be 1 to 64 letters, digits or _-|*@ for WeChat Pay",
        ))
    }
}

fn cny_only(currency: Currency) -> Result<()> {
    if currency == Currency::Cny {
        Ok(())
    } else {
        Err(Error::invalid(
            "price",
            "WeChat Pay takes payments in CNY only",
        ))
    }
}

/// `description` cut to WeChat Pay's limit at a character boundary.
fn description(text: &str) -> &str {
    let mut end = text.len().min(MAX_DESCRIPTION_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl WechatPay {
    pub fn new(account: Account) -> Result<Self> {
        platform::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            // WeChat Pay refuses requests without a User-Agent.
            .user_agent(concat!("bianxian/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::internal)?;
        Ok(Self { account, http })
    }

    pub fn account(&self) -> &Account {
        &self.account
    }

    /// Sends a signed request to `path` (relative to the API base) and checks the
    /// signature of what comes back: always on a 2xx, and on an error whenever it is
    /// signed (an unsigned error is only ever taken as an error).
    async fn call(&self, method: HttpMethod, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = self.account.api_base.join(path).map_err(Error::internal)?;
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body = body.map(Value::to_string).unwrap_or_default();
        let authorization = authorization(
            &self.account.merchant_key,
            &self.account.mch_id,
            &self.account.merchant_serial,
            method.as_str(),
            &path_and_query,
            body.as_bytes(),
            chrono::Utc::now().timestamp(),
        );
        let span = platform::telemetry::http_span(
            method.as_str(),
            url.as_str(),
            platform::telemetry::UrlDetail::Path,
        );
        let mut request = self
            .http
            .request(method, url)
            .header(header::AUTHORIZATION, authorization)
            .header(header::ACCEPT, "application/json");
        if let Some(key) = &self.account.platform.public_key {
            // Asks WeChat Pay to sign its answer with the public key, not a certificate.
            request = request.header(signing::SERIAL_HEADER, &key.id);
        }
        if !body.is_empty() {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let unreachable = |e: reqwest::Error| {
            tracing::error!(error = %e, "WeChat Pay is unreachable");
            Error::ServiceUnavailable("WeChat Pay is unreachable, try again shortly".into())
        };
        let response = request.send().instrument(span).await.map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(unreachable)?.to_vec();
        let signed = headers.contains_key(signing::SIGNATURE_HEADER);
        if status.is_success() || signed {
            self.account
                .platform
                .verify(&headers, &body, chrono::Utc::now().timestamp())
                .map_err(|e| {
                    tracing::error!(error = %e, status = status.as_u16(), "an unverifiable answer from WeChat Pay");
                    Error::ServiceUnavailable(format!("WeChat Pay's answer is unverifiable: {e}"))
                })?;
        }
        Ok(Reply {
            status,
            body,
            signed,
        })
    }

    /// What `WeixinJSBridge` needs to pay `prepay_id`, signed with the merchant key.
    fn jsapi_payment(&self, prepay_id: &str) -> Payment {
        let time_stamp = chrono::Utc::now().timestamp().to_string();
        let nonce_str = signing::nonce();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = self.account.merchant_key.sign_base64(&signing::message(&[
            self.account.app_id.as_bytes(),
            time_stamp.as_bytes(),
            nonce_str.as_bytes(),
            package.as_bytes(),
        ]));
        Payment::Jsapi {
            app_id: self.account.app_id.clone(),
            time_stamp,
            nonce_str,
            package,
            sign_type: "RSA".into(),
            pay_sign,
        }
    }

    /// A refund's state by our `out_refund_no`.
    pub async fn refund_query(&self, out_refund_no: &str) -> Result<RefundState> {
        check_out_no("request_id", out_refund_no)?;
        let reply = self
            .call(
                HttpMethod::GET,
                &format!("v3/refund/domestic/refunds/{out_refund_no}"),
                None,
            )
            .await?;
        refund_state(reply.json()?)
    }
}

fn refund_state(refund: Refund) -> Result<RefundState> {
    match refund.status.as_str() {
        "SUCCESS" => Ok(RefundState::Succeeded {
            provider_ref: refund.refund_id,
        }),
        "PROCESSING" => Ok(RefundState::Processing {
            provider_ref: refund.refund_id,
        }),
        "ABNORMAL" | "CLOSED" => Ok(RefundState::Failed {
            reason: format!("WeChat Pay says the refund is {}", refund.status),
        }),
        other => Err(Error::ServiceUnavailable(format!(
            "WeChat Pay gave a refund the unknown status {other}"
        ))),
    }
}

/// What a query says of a transaction.
fn remote(order: &str, account: &Account, tx: Transaction) -> Result<Remote> {
    if tx.out_trade_no != order || tx.mchid != account.mch_id {
        return Err(Error::ServiceUnavailable(
            "WeChat Pay answered about another order".into(),
        ));
    }
    match tx.trade_state.as_str() {
        // REFUND: paid, then (partly) refunded; the payment itself stands.
        "SUCCESS" | "REFUND" => {
            let unusable =
                || Error::ServiceUnavailable("WeChat Pay said paid without what was paid".into());
            let amount = tx.amount.ok_or_else(unusable)?;
            Ok(Remote::Paid {
                provider_ref: tx.transaction_id.ok_or_else(unusable)?,
                currency: Currency::parse(&amount.currency).map_err(|_| unusable())?,
                amount: Amount::new(amount.total).map_err(|_| unusable())?,
            })
        }
        "NOTPAY" | "USERPAYING" => Ok(Remote::Pending),
        "CLOSED" | "PAYERROR" | "REVOKED" => Ok(Remote::Closed),
        other => Err(Error::ServiceUnavailable(format!(
            "WeChat Pay gave the unknown trade_state {other}"
        ))),
    }
}

impl Provider for WechatPay {
    async fn start(&self, request: &PaymentRequest<'_>, method: Method) -> Result<Started> {
        cny_only(request.currency)?;
        check_out_no("order", request.order)?;
        let (path, extra) = match method {
            Method::Native => ("v3/pay/transactions/native", json!({})),
            Method::Jsapi => {
                let openid = request
                    .openid
                    .filter(|id| !id.trim().is_empty())
                    .ok_or_else(|| Error::invalid("openid", "JSAPI needs the payer's openid"))?;
                (
                    "v3/pay/transactions/jsapi",
                    json!({ "payer": { "openid": openid } }),
                )
            }
            Method::H5 => {
                let ip = request
                    .client_ip
                    .filter(|ip| !ip.trim().is_empty())
                    .ok_or_else(|| {
                        Error::invalid("client_ip", "H5 needs the payer's IP address")
                    })?;
                (
                    "v3/pay/transactions/h5",
                    json!({ "scene_info": { "payer_client_ip": ip, "h5_info": { "type": "Wap" } } }),
                )
            }
            other => {
                return Err(Error::invalid(
                    "method",
                    format!("WeChat Pay has no `{}` method", other.as_str()),
                ));
            }
        };
        let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
        let mut body = json!({
            "appid": self.account.app_id,
            "mchid": self.account.mch_id,
            "description": description(request.description),
            "out_trade_no": request.order,
            "time_expire": request
                .expires_at
                .with_timezone(&china)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            "notify_url": request.notify_url.as_str(),
            "amount": { "total": request.amount.minor(), "currency": "CNY" },
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let reply = self.call(HttpMethod::POST, path, Some(&body)).await?;
        let payment = match method {
            Method::Jsapi => self.jsapi_payment(&reply.json::<PrepayId>()?.prepay_id),
            Method::H5 => Payment::H5 {
                h5_url: reply.json::<H5Url>()?.h5_url,
            },
            _ => Payment::Native {
                code_url: reply.json::<CodeUrl>()?.code_url,
            },
        };
        Ok(Started {
            payment,
            provider_ref: None,
        })
    }

    async fn query(&self, order: &str, _provider_ref: Option<&str>) -> Result<Remote> {
        check_out_no("order", order)?;
        let path = format!(
            "v3/pay/transactions/out-trade-no/{order}?mchid={}",
            self.account.mch_id
        );
        let reply = self.call(HttpMethod::GET, &path, None).await?;
        // Only WeChat Pay's own word that the order does not exist closes it.
        if reply.status == StatusCode::NOT_FOUND
            && reply.signed
            && reply.error_code().as_deref() == Some("ORDER_NOT_EXIST")
        {
            return Ok(Remote::Closed);
        }
        remote(order, &self.account, reply.json()?)
    }

    async fn close(&self, order: &str, _provider_ref: Option<&str>) -> Result<()> {
        check_out_no("order", order)?;
        let path = format!("v3/pay/transactions/out-trade-no/{order}/close");
        let body = json!({ "mchid": self.account.mch_id });
        let reply = self.call(HttpMethod::POST, &path, Some(&body)).await?;
        if reply.status.is_success() || reply.error_code().as_deref() == Some("ORDER_NOT_EXIST") {
            // Never created is as unpayable as closed.
            return Ok(());
        }
        Err(reply.error())
    }

    async fn refund(&self, refund: &RefundRequest<'_>) -> Result<RefundState> {
        cny_only(refund.currency)?;
        check_out_no("order", refund.order)?;
        check_out_no("request_id", refund.request_id)?;
        let mut body = json!({
            "out_trade_no": refund.order,
            "out_refund_no": refund.request_id,
            "notify_url": refund.notify_url.as_str(),
            "amount": {
                "refund": refund.amount.minor(),
                "total": refund.total.minor(),
                "currency": "CNY",
            },
        });
        if let Some(reason) = refund.reason.filter(|r| !r.trim().is_empty()) {
            // WeChat Pay shows at most 80 characters of it to the payer.
            body["reason"] = Value::from(reason.chars().take(80).collect::<String>());
        }
        let reply = self
            .call(HttpMethod::POST, "v3/refund/domestic/refunds", Some(&body))
            .await?;
        refund_state(reply.json()?)
    }
}
