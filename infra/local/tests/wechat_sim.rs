//! The production WeChat Pay client (`commerce::wechat`) against the local simulator,
//! in both ways of verifying WeChat Pay: by platform certificate and by public key.
//! Each test starts its own simulator and notification receiver on 127.0.0.1:0.

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use bianxian_local::wechat_sim::{SimKeys, SimMode, generate_keys, serve};
use bytes::Bytes;
use chrono::Utc;
use commerce::crypto::RsaVerifier;
use commerce::money::{Amount, Currency};
use commerce::provider::{
    Method, Payment, PaymentRequest, Provider, RefundRequest, RefundState, Remote,
};
use commerce::wechat::{self, Notification, Resource, WechatPay, WechatPayConfig};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use platform::config::Env;
use platform::error::Error;
use reqwest::Url;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Key generation takes a second or two: one set for the whole test binary.
fn keys() -> &'static SimKeys {
    static KEYS: OnceLock<SimKeys> = OnceLock::new();
    KEYS.get_or_init(generate_keys)
}

struct Sim {
    url: String,
    server: JoinHandle<std::io::Result<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start_sim(mode: SimMode) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let config = keys().sim_config(mode, &url);
    Sim {
        server: tokio::spawn(serve(listener, config)),
        url,
    }
}

/// Our side of the merchant, configured as `scripts/dev` would, verifying by `mode`.
fn client(mode: SimMode, sim: &Sim, edit: impl FnOnce(&mut Vec<(String, String)>)) -> WechatPay {
    let mut vars = keys().merchant_env(mode, &sim.url);
    edit(&mut vars);
    let config: WechatPayConfig = Env::from_map(vars.into_iter().collect())
        .section()
        .expect("valid configuration");
    WechatPay::new(config.account.expect("the channel is on")).expect("a client")
}

/// A notification receiver that refuses each notification's first delivery with a
/// 500, as a briefly failing endpoint would, and passes on what it accepts.
struct Receiver {
    url: Url,
    deliveries: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
    server: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start_receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = Url::parse(&format!(
        "http://{}/webhooks/wechat",
        listener.local_addr().expect("address")
    ))
    .expect("a URL");
    let (sender, deliveries) = mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (sender, seen) = (sender.clone(), seen.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (sender, seen) = (sender.clone(), seen.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let first = seen.lock().expect("lock").insert(body.clone());
                        let status = if first {
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            let _ = sender.send((parts.headers, body));
                            StatusCode::NO_CONTENT
                        };
                        let mut response = Response::new(Full::<Bytes>::default());
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Receiver {
        url,
        deliveries,
        server,
    }
}

impl Receiver {
    /// The next accepted notification, verified and opened by the production code.
    async fn next(&mut self, pay: &WechatPay) -> Notification {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(10), self.deliveries.recv())
            .await
            .expect("a notification within 10 s")
            .expect("the receiver runs");
        wechat::verify_notification(pay, &headers, &body, Utc::now().timestamp())
            .expect("the notification verifies and opens")
    }
}

fn request<'a>(order: &'a str, notify_url: &'a Url, return_url: &'a Url) -> PaymentRequest<'a> {
    PaymentRequest {
        order,
        description: "年度会员 · Annual membership",
        currency: Currency::Cny,
        amount: Amount::new(9900).expect("an amount"),
        expires_at: Utc::now() + chrono::Duration::minutes(30),
        return_url,
        notify_url,
        client_ip: None,
        openid: None,
    }
}

fn is_invalid(result: Result<impl std::fmt::Debug, Error>, field: &str) -> bool {
    match result {
        Err(Error::Validation { details, .. }) => details["errors"][0]["path"][0] == field,
        other => panic!("expected a 400 naming {field}, got {other:?}"),
    }
}

async fn sim_pay(sim: &Sim, order: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/pay/{order}", sim.url))
        .send()
        .await
        .expect("the simulator answers");
    (response.status(), response.json().await.expect("JSON"))
}

fn refund<'a>(
    order: &'a str,
    provider_ref: &'a str,
    request_id: &'a str,
    amount: i64,
    notify_url: &'a Url,
) -> RefundRequest<'a> {
    RefundRequest {
        order,
        provider_ref,
        request_id,
        total: Amount::new(9900).expect("an amount"),
        amount: Amount::new(amount).expect("an amount"),
        currency: Currency::Cny,
        reason: Some("用户申请退款"),
        notify_url,
    }
}

async fn settled(pay: &WechatPay, out_refund_no: &str) -> RefundState {
    for _ in 0..50 {
        match pay
            .refund_query(out_refund_no)
            .await
            .expect("the refund is known")
        {
            RefundState::Processing { .. } => tokio::time::sleep(Duration::from_millis(50)).await,
            state => return state,
        }
    }
    panic!("the refund {out_refund_no} stayed PROCESSING");
}

async fn pays_refunds_and_closes(mode: SimMode) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = start_sim(mode).await;
    let pay = client(mode, &sim, |_| {});
    let mut receiver = start_receiver().await;
    let return_url = Url::parse("http://localhost:5173/orders/return").expect("a URL");
    let notify = receiver.url.clone();

    // Native: a QR code's URL. One request, sent twice: a retry carries the same
    // expiry (WeChat Pay refuses an out_trade_no reused with other parameters).
    let native = request("ordnative000001", &notify, &return_url);
    let started = pay
        .start(&native, Method::Native)
        .await
        .expect("native starts");
    let Payment::Native { code_url } = started.payment else {
        panic!("not a native payment: {:?}", started.payment);
    };
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );
    // The same request again is answered the same (a retried checkout).
    let again = pay
        .start(&native, Method::Native)
        .await
        .expect("a retried start");
    assert_eq!(again.payment, Payment::Native { code_url });

    // JSAPI: pay-sign parameters the browser passes on, signed by the merchant key.
    let jsapi = request("ordjsapi0000001", &notify, &return_url);
    assert!(is_invalid(pay.start(&jsapi, Method::Jsapi).await, "openid"));
    let with_openid = PaymentRequest {
        openid: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
        ..jsapi
    };
    let Payment::Jsapi {
        app_id,
        time_stamp,
        nonce_str,
        package,
        sign_type,
        pay_sign,
    } = pay
        .start(&with_openid, Method::Jsapi)
        .await
        .expect("jsapi starts")
        .payment
    else {
        panic!("not a JSAPI payment");
    };
    assert_eq!(
        (app_id.as_str(), sign_type.as_str()),
        (keys().app_id.as_str(), "RSA")
    );
    assert!(package.starts_with("prepay_id=wx"), "{package}");
    let merchant = RsaVerifier::from_pem(&keys().merchant_public_key_pem).expect("a key");
    let signed = format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n");
    assert!(merchant.verify_base64(signed.as_bytes(), &pay_sign));

    // H5: a page to send the browser to, with the payer's IP address.
    let h5 = request("ordh5000000001", &notify, &return_url);
    assert!(is_invalid(pay.start(&h5, Method::H5).await, "client_ip"));
    let with_ip = PaymentRequest {
        client_ip: Some("203.0.113.7"),
        ..h5
    };
    let Payment::H5 { h5_url } = pay
        .start(&with_ip, Method::H5)
        .await
        .expect("h5 starts")
        .payment
    else {
        panic!("not an H5 payment");
    };
    assert_eq!(h5_url, format!("{}/pay/ordh5000000001", sim.url));
    let page = reqwest::get(&h5_url)
        .await
        .expect("the page")
        .text()
        .await
        .expect("HTML");
    assert!(
        page.contains("微信支付模拟") && page.contains("确认支付") && page.contains("¥99.00"),
        "{page}"
    );

    // What WeChat Pay does not take is refused before asking it.
    let usd = PaymentRequest {
        currency: Currency::Usd,
        ..request("ordusd00000001", &notify, &return_url)
    };
    assert!(is_invalid(pay.start(&usd, Method::Native).await, "price"));
    assert!(is_invalid(
        pay.start(&request("ordqr000000001", &notify, &return_url), Method::Qr)
            .await,
        "method"
    ));

    // Unpaid, then paid through the simulator; the notification arrives on its retry.
    assert_eq!(
        pay.query("ordnative000001", None).await.expect("a query"),
        Remote::Pending
    );
    assert_eq!(
        pay.query("ordnever0000001", None).await.expect("a query"),
        Remote::Closed
    );
    let (status, paid) = sim_pay(&sim, "ordnative000001").await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let transaction_id = paid["transaction_id"]
        .as_str()
        .expect("a transaction id")
        .to_owned();
    let notification = receiver.next(&pay).await;
    assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
    let Resource::Transaction(tx) = notification.resource else {
        panic!("not a transaction");
    };
    assert_eq!(tx.out_trade_no, "ordnative000001");
    assert_eq!(tx.trade_state, "SUCCESS");
    assert_eq!(tx.transaction_id.as_deref(), Some(transaction_id.as_str()));
    let amount = tx.amount.expect("an amount");
    assert_eq!((amount.total, amount.currency.as_str()), (9900, "CNY"));
    assert_eq!(
        pay.query("ordnative000001", None).await.expect("a query"),
        Remote::Paid {
            provider_ref: transaction_id.clone(),
            currency: Currency::Cny,
            amount: Amount::new(9900).expect("an amount"),
        }
    );
    assert_eq!(
        sim_pay(&sim, "ordnative000001").await.0,
        StatusCode::CONFLICT
    );
    assert!(matches!(
        pay.close("ordnative000001", None).await,
        Err(Error::Conflict(_))
    ));

    // A partial refund, its retry, its notification; then the rest, and no more.
    let first = refund(
        "ordnative000001",
        &transaction_id,
        "ref000001",
        3000,
        &notify,
    );
    let RefundState::Processing {
        provider_ref: refund_id,
    } = pay.refund(&first).await.expect("a refund")
    else {
        panic!("a new refund is processing");
    };
    let retried = pay.refund(&first).await.expect("a retried refund");
    assert!(
        matches!(&retried, RefundState::Processing { provider_ref } | RefundState::Succeeded { provider_ref } if *provider_ref == refund_id)
    );
    let notice = receiver.next(&pay).await;
    assert_eq!(notice.event_type, "REFUND.SUCCESS");
    let Resource::Refund(notice) = notice.resource else {
        panic!("not a refund");
    };
    assert_eq!(
        (notice.out_refund_no.as_str(), notice.refund_id.as_str()),
        ("ref000001", refund_id.as_str())
    );
    assert_eq!(
        (
            notice.refund_status.as_str(),
            notice.amount.refund,
            notice.amount.total
        ),
        ("SUCCESS", 3000, 9900)
    );
    assert_eq!(
        settled(&pay, "ref000001").await,
        RefundState::Succeeded {
            provider_ref: refund_id
        }
    );
    assert!(matches!(
        pay.refund(&refund(
            "ordnative000001",
            &transaction_id,
            "ref000002",
            7000,
            &notify
        ))
        .await,
        Err(Error::Validation { .. })
    ));
    pay.refund(&refund(
        "ordnative000001",
        &transaction_id,
        "ref000003",
        6900,
        &notify,
    ))
    .await
    .expect("the rest is refunded");
    assert!(matches!(
        settled(&pay, "ref000003").await,
        RefundState::Succeeded { .. }
    ));
    assert_eq!(receiver.next(&pay).await.event_type, "REFUND.SUCCESS");
    assert!(matches!(
        pay.refund(&refund(
            "ordnative000001",
            &transaction_id,
            "ref000004",
            1,
            &notify
        ))
        .await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        pay.refund_query("ref999999").await,
        Err(Error::NotFound(_))
    ));
    // Paid and refunded is still paid.
    assert!(matches!(
        pay.query("ordnative000001", None).await,
        Ok(Remote::Paid { .. })
    ));

    // Closing: the order can no longer be paid; never created is as good as closed.
    pay.close("ordjsapi0000001", None).await.expect("closes");
    assert_eq!(
        pay.query("ordjsapi0000001", None).await.expect("a query"),
        Remote::Closed
    );
    assert_eq!(
        sim_pay(&sim, "ordjsapi0000001").await.0,
        StatusCode::CONFLICT
    );
    pay.close("ordnever0000002", None)
        .await
        .expect("closing what never was");
}

#[tokio::test]
async fn certificate_mode() {
    pays_refunds_and_closes(SimMode::Certificate).await;
}

#[tokio::test]
async fn public_key_mode() {
    pays_refunds_and_closes(SimMode::PublicKey).await;
}

#[tokio::test]
async fn what_is_not_signed_by_the_right_key_is_refused_both_ways() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = start_sim(SimMode::PublicKey).await;

    // Our request signed with another key: WeChat Pay's SIGN_ERROR, signed as ever.
    let impostor = client(SimMode::PublicKey, &sim, |vars| {
        for (name, value) in vars.iter_mut() {
            if name == "WECHATPAY_MCH_PRIVATE_KEY" {
                *value = keys().platform_private_key_pem.clone();
            }
        }
    });
    assert!(matches!(
        impostor.query("ordnative000001", None).await,
        Err(Error::Internal(_))
    ));
    let response = reqwest::get(format!(
        "{}/v3/pay/transactions/out-trade-no/ord000001?mchid={}",
        sim.url,
        keys().mch_id
    ))
    .await
    .expect("an answer");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("wechatpay-signature"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["code"], "SIGN_ERROR");

    // An answer signed by a key we were not told of (the simulator is in public-key
    // mode, we expect its certificate): unverifiable, so unbelieved.
    let certificate_only = client(SimMode::Certificate, &sim, |_| {});
    assert!(matches!(
        certificate_only.query("ordnative000001", None).await,
        Err(Error::ServiceUnavailable(message)) if message.contains("unverifiable")
    ));
}
