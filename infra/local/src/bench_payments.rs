//! What `scripts/bench payments` loads the payment webhooks with: pending orders in
//! the database, and for each one the notification its provider would send (Stripe's
//! HMAC, Alipay's RSA2, WeChat Pay's RSA signature over an AES-GCM-sealed resource),
//! written one request per line for wrk (`scripts/bench-requests.lua`), with the
//! settings a gateway needs to verify them. Every request is a distinct event paying
//! a distinct order, so each one is verified, recorded and fulfilled; `storm.*`
//! repeats one event, for the duplicate storm.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use chrono::Utc;
use commerce::{
    alipay::{self, Scheme},
    crypto::RsaSigner,
    orders,
    provider::Method,
    wechat::{self, signing},
};
use identity::email::Email;
use platform::{Platform, secret::Secret, signature};
use serde_json::json;

use crate::{
    alipay_sim,
    payment_sims::{ALIPAY_APP_ID, ALIPAY_SELLER_ID},
    wechat_sim::{self, SimMode},
};

/// The Stripe endpoint secret the bench's gateway verifies with.
pub const STRIPE_SECRET: &str = "whsec_bianxian_bench";

/// Writes `dir/env` (the gateway's settings) and `dir/{stripe,alipay,wechat}.requests`
/// with `orders` requests each, plus `dir/storm.*.requests` (one event, once) and
/// `dir/storm.orders` (the storm's orders, to count their grants after).
pub async fn prepare(platform: &Platform, orders: usize, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (alipay_keys, wechat_keys) =
        tokio::task::spawn_blocking(|| (alipay_sim::generate_keys(), wechat_sim::generate_keys()))
            .await
            .map_err(|e| e.to_string())?;
    let mut env = vec![
        (
            "STRIPE_WEBHOOK_SECRETS".to_owned(),
            STRIPE_SECRET.to_owned(),
        ),
        ("ALIPAY_APP_ID".into(), ALIPAY_APP_ID.into()),
        ("ALIPAY_SELLER_ID".into(), ALIPAY_SELLER_ID.into()),
        (
            "ALIPAY_PRIVATE_KEY".into(),
            alipay_keys.merchant_private_pem.clone(),
        ),
        (
            "ALIPAY_PUBLIC_KEY".into(),
            alipay_keys.alipay_public_pem.clone(),
        ),
    ];
    env.extend(wechat_keys.merchant_env(SimMode::PublicKey, "http://127.0.0.1:9"));
    let settings: String = env
        .iter()
        .map(|(name, value)| format!("{name}='{value}'\n"))
        .collect();
    write(dir, "env", &settings)?;

    let alipay_signer =
        RsaSigner::from_pem(&alipay_keys.alipay_private_pem).map_err(|e| e.to_string())?;
    let wechat_signer =
        RsaSigner::from_pem(&wechat_keys.platform_private_key_pem).map_err(|e| e.to_string())?;
    let stripe_secret = Secret::new(STRIPE_SECRET);
    let now = Utc::now().timestamp();

    let mut storm_orders = String::new();
    for (provider, method) in [
        ("stripe", Method::PaymentIntent),
        ("alipay", Method::Qr),
        ("wechat", Method::Native),
    ] {
        let pending = pending_orders(platform, provider, method, orders + 1).await?;
        let mut lines = String::new();
        for (i, (order, amount)) in pending.iter().enumerate() {
            let event = format!("{provider}-bench-{i}-{order}");
            let line = match provider {
                "stripe" => {
                    let body = json!({
                        "id": format!("evt_{event}"), "object": "event",
                        "type": "payment_intent.succeeded", "created": now,
                        "data": { "object": {
                            "id": format!("pi_{event}"), "object": "payment_intent",
                            "amount": amount, "amount_received": amount, "currency": "cny",
                            "status": "succeeded", "metadata": { "order": order },
                        }},
                    })
                    .to_string();
                    let signed = signature::sign(&stripe_secret, now, body.as_bytes());
                    request(
                        &[
                            ("Content-Type", "application/json"),
                            ("Stripe-Signature", &signed),
                        ],
                        &body,
                    )
                }
                "alipay" => {
                    let yuan = commerce::money::Amount::new(*amount)
                        .map_err(|e| e.to_string())?
                        .to_decimal();
                    let mut params: BTreeMap<String, String> = [
                        ("notify_id", event.clone()),
                        ("notify_type", "trade_status_sync".into()),
                        ("notify_time", alipay::beijing_time(Utc::now())),
                        ("app_id", ALIPAY_APP_ID.into()),
                        ("seller_id", ALIPAY_SELLER_ID.into()),
                        ("charset", "utf-8".into()),
                        ("version", "1.0".into()),
                        ("sign_type", "RSA2".into()),
                        ("out_trade_no", order.clone()),
                        ("trade_no", format!("2026{i:012}")),
                        ("trade_status", "TRADE_SUCCESS".into()),
                        ("total_amount", yuan),
                        ("subject", "专业会员".into()),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                    let sign = alipay::sign_params(&alipay_signer, &params, Scheme::Notification);
                    params.insert("sign".into(), sign);
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&params)
                        .finish();
                    request(
                        &[("Content-Type", "application/x-www-form-urlencoded")],
                        &body,
                    )
                }
                _ => {
                    let resource = json!({
                        "mchid": wechat_keys.mch_id, "appid": wechat_keys.app_id,
                        "out_trade_no": order, "transaction_id": format!("4200{i:024}"),
                        "trade_type": "NATIVE", "trade_state": "SUCCESS",
                        "trade_state_desc": "支付成功", "bank_type": "OTHERS",
                        "success_time": Utc::now().to_rfc3339(),
                        "payer": { "openid": "bench" },
                        "amount": { "total": amount, "payer_total": amount, "currency": "CNY", "payer_currency": "CNY" },
                    });
                    let body = wechat::seal_notification(
                        &wechat_keys.apiv3_key,
                        &event,
                        "TRANSACTION.SUCCESS",
                        &resource,
                    )
                    .map_err(|e| e.to_string())?;
                    let headers = signing::signed_headers(
                        &wechat_signer,
                        &wechat_keys.public_key_id,
                        now,
                        body.as_bytes(),
                    );
                    let mut all = vec![("Content-Type", "application/json")];
                    all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
                    request(&all, &body)
                }
            };
            // The last order is the storm's: one event, sent by every connection.
            if i == orders {
                write(dir, &format!("storm.{provider}.requests"), &line)?;
                writeln!(storm_orders, "{order}").map_err(|e| e.to_string())?;
            } else {
                lines.push_str(&line);
            }
        }
        write(dir, &format!("{provider}.requests"), &lines)?;
    }
    write(dir, "storm.orders", &storm_orders)
}

/// One request line for wrk: `Name: value` headers and the body, tab-separated,
/// the body after an empty field. None of our bodies holds a tab or a newline.
fn request(headers: &[(&str, &str)], body: &str) -> String {
    let mut line = String::new();
    for (name, value) in headers {
        line.push_str(name);
        line.push_str(": ");
        line.push_str(value);
        line.push('\t');
    }
    line.push('\t');
    line.push_str(body);
    line.push('\n');
    line
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `count` members, each with one pending order of the monthly plan by `method`:
/// `(order documentId, amount)`.
async fn pending_orders(
    platform: &Platform,
    provider: &str,
    method: Method,
    count: usize,
) -> Result<Vec<(String, i64)>, String> {
    let mut client = platform.db.client().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    let price: String = tx
        .query_typed(
            "SELECT pr.document_id FROM prices pr JOIN products p ON p.id = pr.product_id
             WHERE p.code = 'pro' AND pr.currency = 'CNY' AND pr.period = 'month' AND pr.active",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?
        .first()
        .map(|row| row.get(0))
        .ok_or("no monthly CNY plan: run `bianxian-local seed` first")?;
    let mut pending = Vec::with_capacity(count);
    for i in 0..count {
        let email = Email::parse(&format!("bench-{provider}-{i}@example.com"))
            .map_err(|e| e.to_string())?;
        let member = identity::members::create(&*tx, &email, "not a usable hash", "")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("a bench member exists already: use a fresh database")?;
        let order = orders::create(&*tx, member.id, &price, method, None)
            .await
            .map_err(|e| e.to_string())?;
        pending.push((order.document_id, order.amount.minor()));
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(pending)
}
