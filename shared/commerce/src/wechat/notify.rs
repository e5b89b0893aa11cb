//! What WeChat Pay posts to `/webhooks/wechat`: an envelope signed like its answers,
//! whose resource is sealed with AES-256-GCM under the APIv3 key. We answer 204 to
//! one we recorded (or had recorded before), and a 4xx/5xx with
//! [`failure_body`] to one we refuse, which WeChat Pay delivers again later.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{FixedOffset, SecondsFormat, Utc};
use http::HeaderMap;
use platform::{
    db::Db,
    error::{Error, Result},
};
use rand::{Rng, distr::Alphanumeric};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Account, Transaction, WechatPay, WechatPayConfig};
use crate::{
    crypto::{self, CryptoError},
    fulfilment::{Fulfilment, Payment},
    money::{Amount, Currency},
    notification::{self, Signal},
    refunds::Settlement,
};

/// What a refund notification settles: `SUCCESS` succeeded, `CLOSED` and
/// `ABNORMAL` failed (an abnormal refund needs finance to act at WeChat Pay).
fn refunded(refund: &RefundNotice) -> Signal<'_> {
    let settlement = match refund.refund_status.as_str() {
        "SUCCESS" => Settlement::Succeeded {
            provider_ref: refund.refund_id.clone(),
        },
        "CLOSED" | "ABNORMAL" => Settlement::Failed {
            reason: format!("WeChat Pay: refund {}", refund.refund_status),
        },
        _ => return Signal::Ignored,
    };
    Signal::Refunded {
        request_id: &refund.out_refund_no,
        settlement,
    }
}

/// A notification is about a kilobyte; anything far larger is not one.
pub const MAX_NOTIFICATION_BYTES: usize = 64 * 1024;
const ALGORITHM: &str = "AEAD_AES_256_GCM";

#[derive(Deserialize)]
struct Envelope {
    id: String,
    create_time: String,
    event_type: String,
    resource_type: String,
    #[serde(default)]
    summary: String,
    resource: Sealed,
}

#[derive(Deserialize)]
struct Sealed {
    algorithm: String,
    ciphertext: String,
    nonce: String,
    #[serde(default)]
    associated_data: String,
}

/// A verified, opened notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The same for every delivery of one notification.
    pub id: String,
    pub create_time: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`, ...
    pub event_type: String,
    pub resource_type: String,
    pub summary: String,
    pub resource: Resource,
}

/// The opened resource, by the notification's event type.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Transaction(Transaction),
    Refund(RefundNotice),
    /// An event type we do not read.
    Other(Value),
}

/// The resource of a `REFUND.*` notification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundNotice {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    /// `SUCCESS`, `CLOSED` or `ABNORMAL`.
    pub refund_status: String,
    pub success_time: Option<String>,
    pub user_received_account: Option<String>,
    pub amount: RefundAmount,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundAmount {
    pub total: i64,
    pub refund: i64,
    pub payer_total: Option<i64>,
    pub payer_refund: Option<i64>,
}

/// The body of our answer to a notification we refuse, as WeChat Pay asks for it.
pub fn failure_body(message: &str) -> Value {
    json!({ "code": "FAIL", "message": message })
}

/// Verifies a delivery's signature and freshness, opens its resource and checks it
/// is for our merchant (and app): any failure is a 400 that records nothing.
pub fn verify_notification(
    pay: &WechatPay,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Notification> {
    open(pay.account(), headers, body, now)
}

fn open(account: &Account, headers: &HeaderMap, body: &[u8], now: i64) -> Result<Notification> {
    if body.len() > MAX_NOTIFICATION_BYTES {
        return Err(Error::PayloadTooLarge {
            limit: MAX_NOTIFICATION_BYTES,
        });
    }
    account
        .platform
        .verify(headers, body, now)
        .map_err(|e| Error::invalid("Wechatpay-Signature", e.to_string()))?;
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|_| Error::invalid("body", "not a WeChat Pay notification"))?;
    let sealed = &envelope.resource;
    if sealed.algorithm != ALGORITHM {
        return Err(Error::invalid(
            "resource.algorithm",
            format!("only {ALGORITHM} is supported"),
        ));
    }
    let undecryptable =
        |_| Error::invalid("resource", "the resource does not open with our APIv3 key");
    let ciphertext = STANDARD
        .decode(sealed.ciphertext.trim())
        .map_err(|_| Error::invalid("resource.ciphertext", "not base64"))?;
    let plain = crypto::aes_256_gcm_open(
        account.apiv3_key.expose().as_bytes(),
        sealed.nonce.as_bytes(),
        sealed.associated_data.as_bytes(),
        &ciphertext,
    )
    .map_err(undecryptable)?;
    let unreadable = |_| Error::invalid("resource", "the resource is not what its event says");
    let resource = if envelope.event_type.starts_with("TRANSACTION.") {
        let tx: Transaction = serde_json::from_slice(&plain).map_err(unreadable)?;
        if tx.mchid != account.mch_id {
            return Err(Error::invalid(
                "mchid",
                "the notification is for another merchant",
            ));
        }
        if tx.appid != account.app_id {
            return Err(Error::invalid(
                "appid",
                "the notification is for another app",
            ));
        }
        Resource::Transaction(tx)
    } else if envelope.event_type.starts_with("REFUND.") {
        let refund: RefundNotice = serde_json::from_slice(&plain).map_err(unreadable)?;
        if refund.mchid != account.mch_id {
            return Err(Error::invalid(
                "mchid",
                "the notification is for another merchant",
            ));
        }
        Resource::Refund(refund)
    } else {
        Resource::Other(serde_json::from_slice(&plain).map_err(unreadable)?)
    };
    Ok(Notification {
        id: envelope.id,
        create_time: envelope.create_time,
        event_type: envelope.event_type,
        resource_type: envelope.resource_type,
        summary: envelope.summary,
        resource,
    })
}

/// What a `TRANSACTION.SUCCESS` says was paid, or why fulfilment cannot use it. An
/// unexpected but known currency goes on to fulfilment, which flags the mismatch.
fn paid(tx: &Transaction) -> Signal<'_> {
    if tx.trade_state != "SUCCESS" {
        return Signal::Unusable("TRANSACTION.SUCCESS whose trade_state is not SUCCESS");
    }
    let Some(provider_ref) = tx.transaction_id.as_deref() else {
        return Signal::Unusable("no transaction_id");
    };
    let Some(amount) = &tx.amount else {
        return Signal::Unusable("no amount");
    };
    let Ok(currency) = Currency::parse(&amount.currency) else {
        return Signal::Unusable("an unknown currency");
    };
    let Ok(total) = Amount::new(amount.total) else {
        return Signal::Unusable("an impossible amount");
    };
    Signal::Paid(Payment {
        order: &tx.out_trade_no,
        source: "webhook:wechat",
        provider_ref,
        currency,
        amount: total,
    })
}

/// Handles one delivery to `POST /webhooks/wechat` (`now` in unix seconds): a
/// verified notification is recorded once and its payment fulfilled; refund
/// notifications are recorded and otherwise ignored for now.
pub async fn handle(
    fulfilment: &Fulfilment,
    db: &Db,
    config: &WechatPayConfig,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<&'static str> {
    let account = config
        .account
        .as_ref()
        .ok_or_else(|| Error::NotFound("the WeChat Pay channel is not configured".into()))?;
    let notification = open(account, headers, body, now)?;
    let (order, signal) = match &notification.resource {
        Resource::Transaction(tx) if notification.event_type == "TRANSACTION.SUCCESS" => {
            (Some(tx.out_trade_no.as_str()), paid(tx))
        }
        Resource::Transaction(tx) => (Some(tx.out_trade_no.as_str()), Signal::Ignored),
        Resource::Refund(refund) => (Some(refund.out_trade_no.as_str()), refunded(refund)),
        Resource::Other(_) => (None, Signal::Ignored),
    };
    notification::process(
        db,
        fulfilment,
        notification::Event {
            provider: "wechat",
            id: &notification.id,
            kind: &notification.event_type,
            order,
            signal,
        },
    )
    .await
}

/// A notification body as WeChat Pay sends it: `resource` (a transaction or a
/// refund, by `event_type`) sealed under `apiv3_key`. For the local simulator and
/// tests; sign it with [`super::signed_headers`].
pub fn seal_notification(
    apiv3_key: &str,
    id: &str,
    event_type: &str,
    resource: &Value,
) -> Result<String, CryptoError> {
    let original_type = if event_type.starts_with("REFUND.") {
        "refund"
    } else {
        "transaction"
    };
    let nonce: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(12)
        .map(char::from)
        .collect();
    let ciphertext = crypto::aes_256_gcm_seal(
        apiv3_key.as_bytes(),
        nonce.as_bytes(),
        original_type.as_bytes(),
        resource.to_string().as_bytes(),
    )?;
    let summary = match event_type {
        "TRANSACTION.SUCCESS" => "支付成功",
        "REFUND.SUCCESS" => "退款成功",
        "REFUND.ABNORMAL" => "退款异常",
        "REFUND.CLOSED" => "退款关闭",
        _ => "",
    };
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    Ok(json!({
        "id": id,
        "create_time": Utc::now().with_timezone(&china).to_rfc3339_opts(SecondsFormat::Secs, false),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": ALGORITHM,
            "ciphertext": STANDARD.encode(ciphertext),
            "associated_data": original_type,
            "nonce": nonce,
        },
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(state: &str, currency: &str, total: i64) -> Transaction {
        serde_json::from_value(json!({
            "appid": "wx1", "mchid": "1", "out_trade_no": "ord1",
            "transaction_id": "4200001", "trade_state": state,
            "amount": { "total": total, "currency": currency }
        }))
        .unwrap()
    }

    #[test]
    fn a_success_pays_what_it_states_or_says_why_it_cannot() {
        let paid_tx = tx("SUCCESS", "CNY", 9900);
        let Signal::Paid(payment) = paid(&paid_tx) else {
            panic!("not paid");
        };
        assert_eq!(
            (payment.order, payment.source, payment.provider_ref),
            ("ord1", "webhook:wechat", "4200001")
        );
        assert_eq!(
            (payment.currency, payment.amount.minor()),
            (Currency::Cny, 9900)
        );
        // A currency fulfilment knows but the order does not use is its to flag.
        let usd = tx("SUCCESS", "USD", 9900);
        assert!(matches!(
            paid(&usd),
            Signal::Paid(Payment {
                currency: Currency::Usd,
                ..
            })
        ));
        for (unusable, why) in [
            (
                tx("NOTPAY", "CNY", 9900),
                "TRANSACTION.SUCCESS whose trade_state is not SUCCESS",
            ),
            (tx("SUCCESS", "HKD", 9900), "an unknown currency"),
            (tx("SUCCESS", "CNY", 0), "an impossible amount"),
        ] {
            assert!(
                matches!(paid(&unusable), Signal::Unusable(w) if w == why),
                "{why}"
            );
        }
    }
}
