//! Both Chinese providers' simulators at once, on keys generated once per process:
//! what `scripts/dev` and the test stacks run so checkout can pay end to end through
//! Alipay and WeChat Pay.
//! [`start`] serves them and answers the merchant-side settings (`ALIPAY_*`,
//! `WECHATPAY_*`, and `WECHAT_*` for signing in with WeChat) that point our
//! functions at them.

use std::sync::OnceLock;

use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    alipay_sim::{self, AlipaySimConfig},
    wechat_sim::{self, SimMode},
};

/// The simulated merchant's Alipay ids.
pub const ALIPAY_APP_ID: &str = "2021000000000001";
pub const ALIPAY_SELLER_ID: &str = "2088000000000001";

/// The running simulators: the settings our functions need, and the servers.
pub struct PaymentSims {
    pub env: Vec<(&'static str, String)>,
    pub alipay_url: String,
    pub wechat_url: String,
    pub tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

/// Both providers' keys: RSA key generation takes a while, and every test stack
/// of a process can share one set.
fn keys() -> &'static (alipay_sim::SimKeys, wechat_sim::SimKeys) {
    static KEYS: OnceLock<(alipay_sim::SimKeys, wechat_sim::SimKeys)> = OnceLock::new();
    KEYS.get_or_init(|| (alipay_sim::generate_keys(), wechat_sim::generate_keys()))
}

/// Serves Alipay on `alipay` and WeChat Pay (public-key mode, WeChat's current
/// default) on `wechat`.
pub async fn start(alipay: TcpListener, wechat: TcpListener) -> std::io::Result<PaymentSims> {
    let alipay_url = format!("http://{}", alipay.local_addr()?);
    let wechat_url = format!("http://{}", wechat.local_addr()?);
    let (alipay_keys, wechat_keys) = tokio::task::spawn_blocking(keys)
        .await
        .map_err(std::io::Error::other)?
        .clone();
    let mut env: Vec<(&'static str, String)> = vec![
        ("ALIPAY_APP_ID", ALIPAY_APP_ID.into()),
        ("ALIPAY_SELLER_ID", ALIPAY_SELLER_ID.into()),
        (
            "ALIPAY_PRIVATE_KEY",
            alipay_keys.merchant_private_pem.clone(),
        ),
        ("ALIPAY_PUBLIC_KEY", alipay_keys.alipay_public_pem.clone()),
        ("ALIPAY_GATEWAY_URL", format!("{alipay_url}/gateway.do")),
    ];
    let wechat_env = wechat_keys
        .merchant_env(SimMode::PublicKey, &wechat_url)
        .into_iter()
        .chain(wechat_keys.login_env(&wechat_url));
    for (name, value) in wechat_env {
        let name = WECHAT_SETTINGS
            .iter()
            .find(|known| **known == name)
            .ok_or_else(|| std::io::Error::other(format!("unexpected setting {name}")))?;
        env.push((name, value));
    }
    let alipay_config = AlipaySimConfig {
        app_id: ALIPAY_APP_ID.into(),
        seller_id: ALIPAY_SELLER_ID.into(),
        merchant_public_key_pem: alipay_keys.merchant_public_pem,
        alipay_private_key_pem: alipay_keys.alipay_private_pem,
        public_url: alipay_url.clone(),
    };
    let wechat_config = wechat_keys.sim_config(SimMode::PublicKey, &wechat_url);
    let tasks = vec![
        tokio::spawn(alipay_sim::serve(alipay, alipay_config)),
        tokio::spawn(wechat_sim::serve(wechat, wechat_config)),
    ];
    Ok(PaymentSims {
        env,
        alipay_url,
        wechat_url,
        tasks,
    })
}

const WECHAT_SETTINGS: [&str; 13] = [
    "WECHATPAY_MCH_ID",
    "WECHATPAY_APP_ID",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_MCH_SERIAL",
    "WECHATPAY_MCH_PRIVATE_KEY",
    "WECHATPAY_API_BASE",
    "WECHATPAY_PLATFORM_CERTS",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
    "WECHAT_APP_ID",
    "WECHAT_APP_SECRET",
    "WECHAT_AUTHORIZE_URL",
    "WECHAT_API_BASE",
];

/// Text as HTML content or an attribute value, for the simulators' cashier pages:
/// subjects are the merchant's text.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}
