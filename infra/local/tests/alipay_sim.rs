//! The production Alipay client (`commerce::alipay`) against the simulator: every
//! call signed, every answer and notification verified, as against Alipay itself.
//! Each test starts its own simulator and its own notification receiver.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bianxian_local::alipay_sim::{AlipaySimConfig, SimKeys, generate_keys, serve};
use bytes::Bytes;
use chrono::Utc;
use commerce::{
    alipay::{Alipay, Notification, Scheme, verify_notification, verify_params},
    crypto::{RsaSigner, RsaVerifier},
    money::{Amount, Currency},
    notification::Signal,
    provider::{Method, Payment, PaymentRequest, Provider, RefundRequest, RefundState, Remote},
};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use reqwest::StatusCode;
use tokio::{
    net::TcpListener,
    sync::mpsc::{UnboundedReceiver, unbounded_channel},
    task::JoinHandle,
};
use url::Url;

const APP_ID: &str = "2021000000000001";
const SELLER_ID: &str = "2088000000000001";

fn keys() -> &'static SimKeys {
    static KEYS: OnceLock<SimKeys> = OnceLock::new();
    KEYS.get_or_init(generate_keys)
}

struct Stack {
    base: String,
    alipay: Alipay,
    notify_url: Url,
    return_url: Url,
    /// Notification bodies as the receiver got them, acknowledged or not.
    notifications: UnboundedReceiver<Vec<u8>>,
    http: reqwest::Client,
    servers: Vec<JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

/// A simulator, a client for it, and a receiver that refuses the first
/// `refusals` deliveries (answering `fail`) and acknowledges the rest.
async fn stack(refusals: usize) -> Stack {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let keys = keys();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = AlipaySimConfig {
        app_id: APP_ID.into(),
        seller_id: SELLER_ID.into(),
        merchant_public_key_pem: keys.merchant_public_pem.clone(),
        alipay_private_key_pem: keys.alipay_private_pem.clone(),
        public_url: base.clone(),
    };
    let simulator = tokio::spawn(async move {
        serve(listener, config).await.unwrap();
    });
    let (receiver_url, notifications, receiver) = receiver(refusals).await;
    Stack {
        alipay: client(&base, &keys.merchant_private_pem),
        base,
        notify_url: receiver_url,
        return_url: Url::parse("http://localhost:5173/checkout/return?from=alipay").unwrap(),
        notifications,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        servers: vec![simulator, receiver],
    }
}

fn client(base: &str, private_key_pem: &str) -> Alipay {
    Alipay::new(
        APP_ID,
        SELLER_ID,
        RsaSigner::from_pem(private_key_pem).unwrap(),
        RsaVerifier::from_pem(&keys().alipay_public_pem).unwrap(),
        Url::parse(&format!("{base}/gateway.do")).unwrap(),
    )
    .unwrap()
}

async fn receiver(refusals: usize) -> (Url, UnboundedReceiver<Vec<u8>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "http://{}/webhooks/alipay",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let (sender, bodies) = unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let sender = sender.clone();
                    let seen = Arc::clone(&seen);
                    async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        sender.send(body.to_vec()).unwrap();
                        let answer = if seen.fetch_add(1, Ordering::SeqCst) < refusals {
                            "fail"
                        } else {
                            "success"
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(answer))))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, bodies, server)
}

impl Stack {
    fn request<'a>(&'a self, order: &'a str, description: &'a str) -> PaymentRequest<'a> {
        PaymentRequest {
            order,
            description,
            currency: Currency::Cny,
            amount: Amount::new(1230).unwrap(),
            expires_at: Utc::now() + chrono::TimeDelta::minutes(30),
            return_url: &self.return_url,
            notify_url: &self.notify_url,
            client_ip: None,
            openid: None,
        }
    }

    async fn notification(&mut self) -> Notification {
        let body = tokio::time::timeout(Duration::from_secs(10), self.notifications.recv())
            .await
            .expect("a notification within 10 s")
            .unwrap();
        verify_notification(&self.alipay, &body).unwrap()
    }

    async fn pay(&self, order: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/_sim/pay/{order}", self.base))
            .send()
            .await
            .unwrap()
    }

    fn refund<'a>(
        &'a self,
        order: &'a str,
        trade_no: &'a str,
        id: &'a str,
        fen: i64,
    ) -> RefundRequest<'a> {
        RefundRequest {
            order,
            provider_ref: trade_no,
            request_id: id,
            total: Amount::new(1230).unwrap(),
            amount: Amount::new(fen).unwrap(),
            currency: Currency::Cny,
            reason: Some("会员申请退款"),
            notify_url: &self.notify_url,
        }
    }
}

#[tokio::test]
async fn a_qr_payment_is_notified_queried_refunded_and_closed() {
    let mut stack = stack(0).await;
    let order = "ord_sim_qr";
    let started = stack
        .alipay
        .start(&stack.request(order, "<年度会员> & 课程"), Method::Qr)
        .await
        .unwrap();
    let Payment::Qr { qr_code } = started.payment else {
        panic!("{:?}", started.payment);
    };
    assert_eq!(qr_code, format!("{}/qr/{order}", stack.base));
    let cashier = stack
        .http
        .get(&qr_code)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cashier.contains("支付宝模拟收银台"), "{cashier}");
    assert!(cashier.contains("确认付款"), "{cashier}");
    assert!(cashier.contains("¥12.30"), "{cashier}");
    assert!(cashier.contains("&lt;年度会员&gt; &amp; 课程"), "{cashier}");

    assert_eq!(
        stack.alipay.query(order, None).await.unwrap(),
        Remote::Pending
    );

    let paid = stack.pay(order).await;
    assert_eq!(paid.status(), StatusCode::OK);
    assert!(paid.text().await.unwrap().contains("支付成功"));

    let notification = stack.notification().await;
    assert_eq!(notification.out_trade_no, order);
    assert_eq!(notification.kind(), "TRADE_SUCCESS");
    assert_eq!(notification.params["subject"], "<年度会员> & 课程");
    let trade_no = notification.trade_no.clone().unwrap();
    let Signal::Paid(payment) = notification.signal() else {
        panic!("not a paid signal: {notification:?}");
    };
    assert_eq!((payment.order, payment.amount.minor()), (order, 1230));

    assert_eq!(
        stack.alipay.query(order, None).await.unwrap(),
        Remote::Paid {
            provider_ref: trade_no.clone(),
            currency: Currency::Cny,
            amount: Amount::new(1230).unwrap(),
        }
    );
    let again = stack.pay(order).await;
    assert_eq!(again.status(), StatusCode::OK);

    // A partial refund, then the same request again: Alipay moves no money the second
    // time and says so, and the refund query confirms the first.
    let partial = stack.refund(order, &trade_no, "refund_1", 200);
    let succeeded = RefundState::Succeeded {
        provider_ref: trade_no.clone(),
    };
    assert_eq!(stack.alipay.refund(&partial).await.unwrap(), succeeded);
    assert_eq!(
        stack.alipay.refund(&partial).await.unwrap(),
        RefundState::Processing {
            provider_ref: trade_no.clone()
        }
    );
    assert_eq!(
        stack.alipay.refund_query(order, "refund_1").await.unwrap(),
        succeeded
    );
    let refunded = stack.notification().await;
    assert!(refunded.is_refund());
    assert_eq!(refunded.kind(), "TRADE_SUCCESS");
    assert_eq!(refunded.refund_fee.as_deref(), Some("2.00"));
    assert_eq!(refunded.out_biz_no.as_deref(), Some("refund_1"));
    assert_ne!(refunded.notify_id, notification.notify_id);
    assert!(matches!(
        refunded.signal(),
        Signal::Refunded {
            request_id: "refund_1",
            ..
        }
    ));

    let too_much = stack.refund(order, &trade_no, "refund_2", 1031);
    let RefundState::Failed { reason } = stack.alipay.refund(&too_much).await.unwrap() else {
        panic!("refunded more than was paid");
    };
    assert!(
        reason.contains("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"),
        "{reason}"
    );
    assert!(matches!(
        stack.alipay.refund_query(order, "refund_2").await.unwrap(),
        RefundState::Processing { .. }
    ));

    let rest = stack.refund(order, &trade_no, "refund_3", 1030);
    assert_eq!(stack.alipay.refund(&rest).await.unwrap(), succeeded);
    let closed = stack.notification().await;
    assert_eq!(closed.kind(), "TRADE_CLOSED");
    assert_eq!(closed.refund_fee.as_deref(), Some("12.30"));
    assert_eq!(
        stack.alipay.query(order, None).await.unwrap(),
        Remote::Closed
    );

    // Closing an unpaid trade makes it unpayable; an unknown one counts as closed.
    let unpaid = "ord_sim_close";
    stack
        .alipay
        .start(&stack.request(unpaid, "课程"), Method::Qr)
        .await
        .unwrap();
    stack.alipay.close(unpaid, None).await.unwrap();
    assert_eq!(
        stack.alipay.query(unpaid, None).await.unwrap(),
        Remote::Closed
    );
    assert_eq!(stack.pay(unpaid).await.status(), StatusCode::CONFLICT);
    stack.alipay.close("ord_sim_unknown", None).await.unwrap();
    assert_eq!(
        stack.alipay.query("ord_sim_unknown", None).await.unwrap(),
        Remote::Closed
    );
    let paid_close = stack.alipay.close(order, None).await;
    assert!(paid_close.is_ok(), "a refunded, closed trade closes again");
}

#[tokio::test]
async fn requests_signed_with_another_key_are_refused() {
    let stack = stack(0).await;
    let impostor = client(&stack.base, &keys().alipay_private_pem);
    let err = impostor.query("ord_sim_any", None).await.unwrap_err();
    assert_eq!(err.status(), 500, "{err}");
    assert!(err.to_string().contains("isv.invalid-signature"), "{err}");

    let answer = stack
        .http
        .post(format!("{}/gateway.do", stack.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("app_id=2021000000000001&method=alipay.trade.query&sign_type=RSA2&sign=AAAA&biz_content=%7B%7D")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let node = &answer["alipay_trade_query_response"];
    assert_eq!(node["code"], "40002", "{answer}");
    assert_eq!(node["sub_code"], "isv.invalid-signature", "{answer}");
}

#[tokio::test]
async fn a_cashier_page_payment_returns_the_browser_signed_and_retries_its_notification() {
    let mut stack = stack(1).await;
    let order = "ord_sim_page";
    let started = stack
        .alipay
        .start(&stack.request(order, "年度会员"), Method::Page)
        .await
        .unwrap();
    let Payment::Page { url } = started.payment else {
        panic!("{:?}", started.payment);
    };
    let cashier = stack.http.get(&url).send().await.unwrap();
    assert_eq!(cashier.status(), StatusCode::OK);
    let cashier = cashier.text().await.unwrap();
    assert!(cashier.contains(&format!("/_sim/pay/{order}")), "{cashier}");

    let paid = stack.pay(order).await;
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let back = Url::parse(paid.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        back.as_str().starts_with(stack.return_url.as_str()),
        "{back}"
    );
    let params: BTreeMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(params["from"], "alipay");
    let without_ours: BTreeMap<String, String> =
        params.into_iter().filter(|(k, _)| k != "from").collect();
    let alipay_key = RsaVerifier::from_pem(&keys().alipay_public_pem).unwrap();
    assert!(verify_params(
        &alipay_key,
        &without_ours,
        Scheme::Notification
    ));
    assert_eq!(without_ours["method"], "alipay.trade.page.pay.return");
    assert_eq!(without_ours["total_amount"], "12.30");
    assert_eq!(without_ours["out_trade_no"], order);

    // Refused once ("fail"), the same notification comes again a second later.
    let first = stack.notification().await;
    let second = stack.notification().await;
    assert_eq!(first, second);
    assert!(matches!(second.signal(), Signal::Paid(_)));

    // A paid trade cannot be opened for payment again.
    let reopened = stack
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(reopened.contains("ACQ.TRADE_HAS_SUCCESS"), "{reopened}");
}
