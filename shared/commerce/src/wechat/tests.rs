use std::collections::HashMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use platform::config::Env;
use serde_json::json;

use super::{signing::*, *};
use crate::crypto::tests::{certificate, key, second_key};

const MCH_ID: &str = "1900009191";
const APP_ID: &str = "wxd678efh567hg6787";
const APIV3_KEY: &str = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
const MERCHANT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const CERT_SERIAL: [u8; 4] = [0x3c, 0x5a, 0x01, 0x02];
const PUBLIC_KEY_ID: &str = "PUB_KEY_ID_0119000091912025010100000000000001";
const NOW: i64 = 1_750_000_000;

#[derive(Clone, Copy)]
enum Mode {
    Certificate,
    PublicKey,
}

fn vars(mode: Mode) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("WECHATPAY_MCH_ID", MCH_ID.to_owned()),
        ("WECHATPAY_APP_ID", APP_ID.to_owned()),
        ("WECHATPAY_APIV3_KEY", APIV3_KEY.to_owned()),
        ("WECHATPAY_MCH_SERIAL", MERCHANT_SERIAL.to_owned()),
        ("WECHATPAY_MCH_PRIVATE_KEY", key().0.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    match mode {
        Mode::Certificate => {
            vars.insert(
                "WECHATPAY_PLATFORM_CERTS".into(),
                certificate(&second_key().0, &CERT_SERIAL),
            );
        }
        Mode::PublicKey => {
            vars.insert("WECHATPAY_PUBLIC_KEY".into(), second_key().2.clone());
            vars.insert("WECHATPAY_PUBLIC_KEY_ID".into(), PUBLIC_KEY_ID.into());
        }
    }
    vars
}

fn read(vars: HashMap<String, String>) -> std::result::Result<WechatPayConfig, String> {
    Env::from_map(vars)
        .section::<WechatPayConfig>()
        .map_err(|e| e.to_string())
}

fn account(mode: Mode) -> Account {
    read(vars(mode)).unwrap().account.unwrap()
}

fn serial(mode: Mode) -> &'static str {
    match mode {
        Mode::Certificate => "3C5A0102",
        Mode::PublicKey => PUBLIC_KEY_ID,
    }
}

fn platform_key() -> RsaSigner {
    RsaSigner::from_pem(&second_key().0).unwrap()
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

/// A delivery as WeChat Pay would post it: sealed, then signed by `signer`.
fn delivery(
    signer: &RsaSigner,
    mode: Mode,
    event_type: &str,
    resource: &Value,
    at: i64,
) -> (HeaderMap, Vec<u8>) {
    let body =
        seal_notification(APIV3_KEY, "EV-2018022511223320873", event_type, resource).unwrap();
    let headers = header_map(&signed_headers(signer, serial(mode), at, body.as_bytes()));
    (headers, body.into_bytes())
}

fn transaction() -> Value {
    json!({
        "appid": APP_ID,
        "mchid": MCH_ID,
        "out_trade_no": "ord1217752501201407033233368018",
        "transaction_id": "1217752501201407033233368018",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "success_time": "2018-06-08T10:34:56+08:00",
        "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
        "amount": { "total": 9900, "payer_total": 9900, "currency": "CNY", "payer_currency": "CNY" }
    })
}

fn verify(mode: Mode, headers: &HeaderMap, body: &[u8], now: i64) -> Result<Notification> {
    verify_notification(&WechatPay::new(account(mode)).unwrap(), headers, body, now)
}

fn refused_field(err: Error) -> String {
    match err {
        Error::Validation { details, .. } => details["errors"][0]["path"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn requests_are_signed_over_method_path_timestamp_nonce_and_body() {
    assert_eq!(
        request_message("GET", "/v3/certificates?a=1", 1554208460, "593BEC0C", b""),
        b"GET\n/v3/certificates?a=1\n1554208460\n593BEC0C\n\n"
    );
    let account = account(Mode::Certificate);
    let body = br#"{"mchid":"1900009191"}"#;
    let header = authorization(
        account.merchant_key(),
        MCH_ID,
        MERCHANT_SERIAL,
        "POST",
        "/v3/pay/transactions/out-trade-no/ord1/close",
        body,
        NOW,
    );
    assert!(
        header.starts_with(&format!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="{MCH_ID}",nonce_str=""#
        )),
        "{header}"
    );
    assert!(header.contains(&format!(
        r#",timestamp="{NOW}",serial_no="{MERCHANT_SERIAL}",signature=""#
    )));
    let parsed = Authorization::parse(&header).unwrap();
    assert_eq!(parsed.to_string(), header);
    assert_eq!((parsed.mch_id.as_str(), parsed.timestamp), (MCH_ID, NOW));
    assert_eq!(parsed.nonce.len(), 32);
    assert!(parsed.nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    let merchant = RsaVerifier::from_pem(&key().2).unwrap();
    let path = "/v3/pay/transactions/out-trade-no/ord1/close";
    assert!(parsed.verify(&merchant, "POST", path, body));
    assert!(!parsed.verify(&merchant, "POST", path, b"{}"));
    assert!(!parsed.verify(&merchant, "GET", path, body));
    let platform = RsaVerifier::from_pem(&second_key().2).unwrap();
    assert!(!parsed.verify(&platform, "POST", path, body));
    for bad in [
        "",
        "Bearer x",
        r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="1",serial_no="s""#,
        r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",timestamp="soon",serial_no="s",signature="x""#,
        r#"WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n",timestamp="1",serial_no="s",signature="x""#,
    ] {
        assert_eq!(Authorization::parse(bad), None, "{bad}");
    }
}

#[test]
fn answers_verify_by_certificate_serial_or_public_key_id() {
    let signer = platform_key();
    let body = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#;
    for mode in [Mode::Certificate, Mode::PublicKey] {
        let keys = account(mode).platform;
        let headers = header_map(&signed_headers(&signer, serial(mode), NOW, body));
        assert_eq!(keys.verify(&headers, body, NOW), Ok(()));
        assert_eq!(keys.verify(&headers, body, NOW + 300), Ok(()));
        assert_eq!(keys.verify(&headers, body, NOW - 300), Ok(()));
        assert_eq!(
            keys.verify(&headers, body, NOW + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            keys.verify(&headers, b"{}", NOW),
            Err(VerifyError::Mismatch)
        );
        let mut missing = headers.clone();
        missing.remove(NONCE_HEADER);
        assert_eq!(
            keys.verify(&missing, body, NOW),
            Err(VerifyError::Missing(NONCE_HEADER))
        );
    }
    let empty = header_map(&signed_headers(&signer, "3C5A0102", NOW, b""));
    assert_eq!(
        account(Mode::Certificate).platform.verify(&empty, b"", NOW),
        Ok(())
    );

    let merchant = account(Mode::Certificate).merchant_key;
    let forged = header_map(&signed_headers(&merchant, "3C5A0102", NOW, body));
    let keys = account(Mode::Certificate).platform;
    assert_eq!(keys.verify(&forged, body, NOW), Err(VerifyError::Mismatch));
    for unknown in ["3C5A0103", PUBLIC_KEY_ID] {
        let headers = header_map(&signed_headers(&signer, unknown, NOW, body));
        assert_eq!(
            keys.verify(&headers, body, NOW),
            Err(VerifyError::UnknownSerial(unknown.into()))
        );
    }
    let keys = account(Mode::PublicKey).platform;
    for unknown in ["PUB_KEY_ID_0000", "3C5A0102"] {
        let headers = header_map(&signed_headers(&signer, unknown, NOW, body));
        assert_eq!(
            keys.verify(&headers, body, NOW),
            Err(VerifyError::UnknownSerial(unknown.into()))
        );
    }
    // A certificate past its validity no longer verifies anything.
    let keys = account(Mode::Certificate).platform;
    let later = chrono::Utc::now().timestamp() + 2 * 3600;
    let headers = header_map(&signed_headers(&signer, "3C5A0102", later, body));
    assert!(matches!(
        keys.verify(&headers, body, later),
        Err(VerifyError::UnknownSerial(_))
    ));
}

#[test]
fn jsapi_pay_sign_verifies_with_the_merchant_public_key() {
    let pay = WechatPay::new(account(Mode::Certificate)).unwrap();
    let Payment::Jsapi {
        app_id,
        time_stamp,
        nonce_str,
        package,
        sign_type,
        pay_sign,
    } = pay.jsapi_payment("wx201410272009395522657a690389285100")
    else {
        panic!("not a JSAPI payment");
    };
    assert_eq!(app_id, APP_ID);
    assert_eq!(package, "prepay_id=wx201410272009395522657a690389285100");
    assert_eq!(sign_type, "RSA");
    assert_eq!(nonce_str.len(), 32);
    assert!(time_stamp.parse::<i64>().is_ok());
    let signed = format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n");
    let merchant = RsaVerifier::from_pem(&key().2).unwrap();
    assert!(merchant.verify_base64(signed.as_bytes(), &pay_sign));
    assert!(!merchant.verify_base64(b"tampered\n", &pay_sign));
}

#[test]
fn notifications_verify_and_open_in_both_modes() {
    let signer = platform_key();
    for mode in [Mode::Certificate, Mode::PublicKey] {
        let (headers, body) = delivery(&signer, mode, "TRANSACTION.SUCCESS", &transaction(), NOW);
        let notification = verify(mode, &headers, &body, NOW).unwrap();
        assert_eq!(notification.id, "EV-2018022511223320873");
        assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
        assert_eq!(notification.resource_type, "encrypt-resource");
        assert_eq!(notification.summary, "支付成功");
        let Resource::Transaction(tx) = notification.resource else {
            panic!("not a transaction");
        };
        assert_eq!(tx.out_trade_no, "ord1217752501201407033233368018");
        assert_eq!(
            tx.transaction_id.as_deref(),
            Some("1217752501201407033233368018")
        );
        assert_eq!(tx.trade_state, "SUCCESS");
        let amount = tx.amount.unwrap();
        assert_eq!((amount.total, amount.currency.as_str()), (9900, "CNY"));
    }
    let refund = json!({
        "mchid": MCH_ID,
        "out_trade_no": "ord1",
        "transaction_id": "1217752501201407033233368018",
        "out_refund_no": "ref1",
        "refund_id": "50000000382019052709732678859",
        "refund_status": "SUCCESS",
        "success_time": "2018-06-08T10:34:56+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": { "total": 999, "refund": 100, "payer_total": 999, "payer_refund": 100 }
    });
    let (headers, body) = delivery(&signer, Mode::PublicKey, "REFUND.SUCCESS", &refund, NOW);
    let Resource::Refund(notice) = verify(Mode::PublicKey, &headers, &body, NOW)
        .unwrap()
        .resource
    else {
        panic!("not a refund");
    };
    assert_eq!(
        (
            notice.out_refund_no.as_str(),
            notice.refund_status.as_str(),
            notice.amount.refund
        ),
        ("ref1", "SUCCESS", 100)
    );
}

#[test]
fn notifications_that_do_not_verify_or_open_are_refused() {
    let signer = platform_key();
    let mode = Mode::Certificate;
    let (headers, body) = delivery(&signer, mode, "TRANSACTION.SUCCESS", &transaction(), NOW);

    let merchant = account(mode).merchant_key;
    let (forged, forged_body) =
        delivery(&merchant, mode, "TRANSACTION.SUCCESS", &transaction(), NOW);
    assert_eq!(
        refused_field(verify(mode, &forged, &forged_body, NOW).unwrap_err()),
        "Wechatpay-Signature"
    );

    let mut tampered = body.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 1;
    assert_eq!(
        refused_field(verify(mode, &headers, &tampered, NOW).unwrap_err()),
        "Wechatpay-Signature"
    );
    assert_eq!(
        refused_field(verify(mode, &headers, &body, NOW + 301).unwrap_err()),
        "Wechatpay-Signature"
    );
    assert_eq!(
        refused_field(verify(Mode::PublicKey, &headers, &body, NOW).unwrap_err()),
        "Wechatpay-Signature"
    );

    for (field, value, path) in [
        ("mchid", "1900000000", "mchid"),
        ("appid", "wx0000000000000000", "appid"),
    ] {
        let mut tx = transaction();
        tx[field] = json!(value);
        let (headers, body) = delivery(&signer, mode, "TRANSACTION.SUCCESS", &tx, NOW);
        assert_eq!(
            refused_field(verify(mode, &headers, &body, NOW).unwrap_err()),
            path
        );
    }

    let sealed_with = |key: &str, associated_data: Option<&str>| {
        let body = seal_notification(key, "EV-1", "TRANSACTION.SUCCESS", &transaction()).unwrap();
        let mut envelope: Value = serde_json::from_str(&body).unwrap();
        if let Some(ad) = associated_data {
            envelope["resource"]["associated_data"] = json!(ad);
        }
        let body = envelope.to_string().into_bytes();
        (
            header_map(&signed_headers(&signer, "3C5A0102", NOW, &body)),
            body,
        )
    };
    for (headers, body) in [
        sealed_with("00000000000000000000000000000000", None),
        sealed_with(APIV3_KEY, Some("certificate")),
    ] {
        assert_eq!(
            refused_field(verify(mode, &headers, &body, NOW).unwrap_err()),
            "resource"
        );
    }

    let garbage = b"<xml>not json</xml>".to_vec();
    let headers = header_map(&signed_headers(&signer, "3C5A0102", NOW, &garbage));
    assert_eq!(
        refused_field(verify(mode, &headers, &garbage, NOW).unwrap_err()),
        "body"
    );

    let huge = vec![b' '; MAX_NOTIFICATION_BYTES + 1];
    let headers = header_map(&signed_headers(&signer, "3C5A0102", NOW, &huge));
    assert!(matches!(
        verify(mode, &headers, &huge, NOW),
        Err(Error::PayloadTooLarge { .. })
    ));
    assert_eq!(
        failure_body("bad signature"),
        json!({"code": "FAIL", "message": "bad signature"})
    );
}

#[test]
fn configuration_is_off_without_a_merchant_and_checked_with_one() {
    assert!(read(HashMap::new()).unwrap().account.is_none());
    let account = account(Mode::Certificate);
    assert_eq!(account.api_base.as_str(), DEFAULT_API_BASE);
    assert_eq!(account.platform.certificates[0].serial, "3C5A0102");
    assert!(account.platform.public_key.is_none());
    let debug = format!("{account:?}");
    assert!(!debug.contains(APIV3_KEY), "{debug}");
    assert!(
        debug.contains("3C5A0102") && debug.contains(MCH_ID),
        "{debug}"
    );

    let mut both = vars(Mode::PublicKey);
    both.extend(vars(Mode::Certificate));
    both.insert("WECHATPAY_API_BASE".into(), "http://127.0.0.1:4010".into());
    let escaped = key().0.replace('\n', "\\n");
    both.insert("WECHATPAY_MCH_PRIVATE_KEY".into(), escaped);
    let account = read(both).unwrap().account.unwrap();
    assert_eq!(account.api_base.as_str(), "http://127.0.0.1:4010/");
    assert!(account.platform.public_key.is_some() && account.platform.certificates.len() == 1);

    let mut broken = vars(Mode::Certificate);
    broken.insert("WECHATPAY_APIV3_KEY".into(), "short".into());
    broken.insert("WECHATPAY_MCH_SERIAL".into(), "not hex".into());
    broken.insert("WECHATPAY_MCH_PRIVATE_KEY".into(), "not a key".into());
    broken.insert(
        "WECHATPAY_PLATFORM_CERTS".into(),
        "not a certificate".into(),
    );
    broken.insert("WECHATPAY_PUBLIC_KEY_ID".into(), PUBLIC_KEY_ID.into());
    broken.insert("WECHATPAY_API_BASE".into(), "ftp://x".into());
    broken.remove("WECHATPAY_APP_ID");
    let problems = read(broken).unwrap_err();
    for name in [
        "WECHATPAY_APP_ID is missing",
        "WECHATPAY_APIV3_KEY",
        "WECHATPAY_MCH_SERIAL",
        "WECHATPAY_MCH_PRIVATE_KEY",
        "WECHATPAY_PLATFORM_CERTS",
        "WECHATPAY_PUBLIC_KEY and",
        "WECHATPAY_API_BASE",
    ] {
        assert!(problems.contains(name), "{name}: {problems}");
    }
    assert!(!problems.contains("BEGIN"), "{problems}");

    let mut neither = vars(Mode::Certificate);
    neither.remove("WECHATPAY_PLATFORM_CERTS");
    assert!(
        read(neither)
            .unwrap_err()
            .contains("or WECHATPAY_PUBLIC_KEY must be set")
    );
    let mut bad_id = vars(Mode::PublicKey);
    bad_id.insert("WECHATPAY_PUBLIC_KEY_ID".into(), "0119000091912025".into());
    assert!(
        read(bad_id)
            .unwrap_err()
            .contains("must start with PUB_KEY_ID_")
    );
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        body: body.to_string().into_bytes(),
        signed: true,
    }
}

#[test]
fn refusals_become_precise_errors() {
    let error =
        |status, code: &str| reply(status, json!({"code": code, "message": "说明"})).error();
    assert!(
        matches!(error(400, "ORDERPAID"), Error::Conflict(m) if m.contains("ORDERPAID") && m.contains("说明"))
    );
    assert!(matches!(error(404, "ORDER_NOT_EXIST"), Error::NotFound(_)));
    assert!(matches!(error(401, "SIGN_ERROR"), Error::Internal(_)));
    assert!(matches!(
        error(429, "FREQUENCY_LIMITED"),
        Error::ServiceUnavailable(_)
    ));
    assert!(matches!(
        error(500, "SYSTEM_ERROR"),
        Error::ServiceUnavailable(_)
    ));
    assert!(matches!(
        error(403, "NOT_ENOUGH"),
        Error::ServiceUnavailable(_)
    ));
    assert!(
        matches!(error(400, "PARAM_ERROR"), Error::Validation { message, .. } if message.contains("PARAM_ERROR"))
    );
    assert!(matches!(
        reply(502, json!("Bad Gateway")).error(),
        Error::ServiceUnavailable(_)
    ));
    assert!(matches!(
        reply(200, json!({"unexpected": 1})).json::<CodeUrl>(),
        Err(Error::ServiceUnavailable(_))
    ));
}

#[test]
fn trade_states_map_to_what_the_order_can_still_become() {
    let account = account(Mode::Certificate);
    let tx = |state: &str| {
        let mut tx = transaction();
        tx["trade_state"] = json!(state);
        serde_json::from_value::<Transaction>(tx).unwrap()
    };
    let order = "ord1217752501201407033233368018";
    assert_eq!(
        remote(order, &account, tx("SUCCESS")).unwrap(),
        Remote::Paid {
            provider_ref: "1217752501201407033233368018".into(),
            currency: Currency::Cny,
            amount: Amount::new(9900).unwrap(),
        }
    );
    for state in ["NOTPAY", "USERPAYING"] {
        assert_eq!(remote(order, &account, tx(state)).unwrap(), Remote::Pending);
    }
    for state in ["CLOSED", "PAYERROR", "REVOKED"] {
        assert_eq!(remote(order, &account, tx(state)).unwrap(), Remote::Closed);
    }
    assert!(remote(order, &account, tx("LOST")).is_err());
    assert!(remote("ord2", &account, tx("SUCCESS")).is_err());
    let mut unpaid = transaction();
    unpaid.as_object_mut().unwrap().remove("transaction_id");
    assert!(remote(order, &account, serde_json::from_value(unpaid).unwrap()).is_err());

    let refund = |status: &str| Refund {
        refund_id: "5000".into(),
        status: status.into(),
    };
    assert_eq!(
        refund_state(refund("SUCCESS")).unwrap(),
        RefundState::Succeeded {
            provider_ref: "5000".into()
        }
    );
    assert_eq!(
        refund_state(refund("PROCESSING")).unwrap(),
        RefundState::Processing {
            provider_ref: "5000".into()
        }
    );
    assert!(matches!(
        refund_state(refund("ABNORMAL")).unwrap(),
        RefundState::Failed { .. }
    ));
    assert!(matches!(
        refund_state(refund("CLOSED")).unwrap(),
        RefundState::Failed { .. }
    ));
}

#[test]
fn inputs_wechat_pay_would_refuse_are_refused_first() {
    assert!(check_out_no("order", "ord_1-2|3*4@5").is_ok());
    for bad in ["", "a/b", "a?b", "订单", &"x".repeat(65)] {
        assert!(check_out_no("order", bad).is_err(), "{bad}");
    }
    assert!(cny_only(Currency::Usd).is_err());
    let long = "课".repeat(50);
    let cut = description(&long);
    assert!(cut.len() <= 127 && cut.len() == 126);
    assert_eq!(description("年度会员"), "年度会员");
}
