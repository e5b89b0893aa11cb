//! What every payment provider does for us, one trait implemented per provider
//! (Stripe, Alipay, WeChat Pay) over its real, signed HTTP API, so checkout,
//! reconciliation and refunds are written once and tests point each at a local
//! server (localstripe, the Alipay and WeChat Pay simulators) by its base URL.

use std::{future::Future, sync::Arc};

use chrono::{DateTime, Utc};
use platform::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{
    alipay::{Alipay, AlipayConfig},
    money::{Amount, Currency},
    orders::Channel,
    stripe::{Stripe, StripeConfig},
    wechat::{WechatPay, WechatPayConfig},
};

/// How the payer pays, within a channel (the "sub-channel").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Stripe: a PaymentIntent for the Payment Element.
    PaymentIntent,
    /// Stripe: a hosted Checkout Session.
    CheckoutSession,
    /// Stripe: a subscription to a renewing price, billed to the card given.
    Subscription,
    /// Alipay: the desktop cashier page (`alipay.trade.page.pay`).
    Page,
    /// Alipay: the mobile web cashier (`alipay.trade.wap.pay`).
    Wap,
    /// Alipay: a QR code to scan (`alipay.trade.precreate`).
    Qr,
    /// WeChat Pay: a QR code to scan (`/v3/pay/transactions/native`).
    Native,
    /// WeChat Pay: inside WeChat's browser, for a payer's openid (`/v3/pay/transactions/jsapi`).
    Jsapi,
    /// WeChat Pay: a mobile browser outside WeChat (`/v3/pay/transactions/h5`).
    H5,
}

impl Method {
    pub fn channel(self) -> Channel {
        match self {
            Method::PaymentIntent | Method::CheckoutSession | Method::Subscription => {
                Channel::Stripe
            }
            Method::Page | Method::Wap | Method::Qr => Channel::Alipay,
            Method::Native | Method::Jsapi | Method::H5 => Channel::Wechat,
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "payment_intent" => Method::PaymentIntent,
            "checkout_session" => Method::CheckoutSession,
            "subscription" => Method::Subscription,
            "page" => Method::Page,
            "wap" => Method::Wap,
            "qr" => Method::Qr,
            "native" => Method::Native,
            "jsapi" => Method::Jsapi,
            "h5" => Method::H5,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::PaymentIntent => "payment_intent",
            Method::CheckoutSession => "checkout_session",
            Method::Subscription => "subscription",
            Method::Page => "page",
            Method::Wap => "wap",
            Method::Qr => "qr",
            Method::Native => "native",
            Method::Jsapi => "jsapi",
            Method::H5 => "h5",
        }
    }
}

/// What checkout asks a provider to collect.
#[derive(Debug, Clone)]
pub struct PaymentRequest<'a> {
    /// Our order's documentId: Alipay's and WeChat Pay's `out_trade_no`, Stripe's
    /// `metadata[order]`, and the idempotency key of the provider call.
    pub order: &'a str,
    /// What the payer sees they are paying for.
    pub description: &'a str,
    pub currency: Currency,
    pub amount: Amount,
    /// After this the provider must refuse to take the money.
    pub expires_at: DateTime<Utc>,
    /// Where the payer's browser comes back to (our frontend, never a URL the client chose).
    pub return_url: &'a Url,
    /// Where the provider notifies us (our `payment-webhook` route for it).
    pub notify_url: &'a Url,
    /// The payer's IP address (WeChat Pay H5 requires it).
    pub client_ip: Option<&'a str>,
    /// The payer's openid for our WeChat app id (JSAPI requires it).
    pub openid: Option<&'a str>,
}

/// What the frontend needs to take the payer to the provider, by method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Payment {
    /// Confirm with Stripe.js's Payment Element.
    #[serde(rename_all = "camelCase")]
    PaymentIntent {
        payment_intent: String,
        client_secret: String,
    },
    /// Send the browser to Stripe's hosted page.
    CheckoutSession {
        url: String,
    },
    /// Subscribed: `status` is Stripe's (`active` once the first invoice is paid);
    /// with `clientSecret`, the payer must still confirm (3-D Secure) with Stripe.js.
    #[serde(rename_all = "camelCase")]
    Subscription {
        subscription: String,
        status: String,
        client_secret: Option<String>,
    },
    /// Send the browser to this signed Alipay URL (never fetched server to server).
    Page {
        url: String,
    },
    Wap {
        url: String,
    },
    /// Show this as a QR code.
    #[serde(rename_all = "camelCase")]
    Qr {
        qr_code: String,
    },
    /// Show this as a QR code.
    #[serde(rename_all = "camelCase")]
    Native {
        code_url: String,
    },
    /// Pass to `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` as they are.
    Jsapi {
        #[serde(rename = "appId")]
        app_id: String,
        #[serde(rename = "timeStamp")]
        time_stamp: String,
        #[serde(rename = "nonceStr")]
        nonce_str: String,
        package: String,
        #[serde(rename = "signType")]
        sign_type: String,
        #[serde(rename = "paySign")]
        pay_sign: String,
    },
    /// Send the browser here.
    #[serde(rename_all = "camelCase")]
    H5 {
        h5_url: String,
    },
}

/// What a provider said when checkout started a payment.
#[derive(Debug, Clone)]
pub struct Started {
    pub payment: Payment,
    /// The provider's id for it when it gave one (a PaymentIntent's id); Alipay and
    /// WeChat Pay name it by our `out_trade_no` until it is paid.
    pub provider_ref: Option<String>,
}

/// What a provider says of an order when asked (reconciliation, the return-page poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Paid: its id at the provider and what it says was captured.
    Paid {
        provider_ref: String,
        currency: Currency,
        amount: Amount,
    },
    /// Not paid yet, and still payable.
    Pending,
    /// Never created, closed, or failed: it will not be paid.
    Closed,
}

/// A refund to ask for: idempotent per `request_id`.
#[derive(Debug, Clone)]
pub struct RefundRequest<'a> {
    pub order: &'a str,
    /// The provider's payment id ([`Remote::Paid::provider_ref`]).
    pub provider_ref: &'a str,
    /// Our id for this refund: Alipay's `out_request_no`, WeChat Pay's `out_refund_no`,
    /// Stripe's idempotency key.
    pub request_id: &'a str,
    /// What was captured in all.
    pub total: Amount,
    /// What to give back now.
    pub amount: Amount,
    pub currency: Currency,
    pub reason: Option<&'a str>,
    pub notify_url: &'a Url,
}

/// What a provider said of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundState {
    Succeeded {
        provider_ref: String,
    },
    /// Accepted; a notification or a later query says how it ended.
    Processing {
        provider_ref: String,
    },
    Failed {
        reason: String,
    },
}

/// One payment provider's API. Errors are `platform::Error`s: a refusal by the
/// provider is a 4xx naming it, an unreachable or unverifiable provider a 503.
pub trait Provider: Send + Sync {
    fn start(
        &self,
        request: &PaymentRequest<'_>,
        method: Method,
    ) -> impl Future<Output = Result<Started>> + Send;

    /// What the provider says of `order`, which checkout started as `provider_ref`
    /// when the provider named it (Stripe's PaymentIntent; Alipay and WeChat Pay find
    /// it by our order id).
    fn query(
        &self,
        order: &str,
        provider_ref: Option<&str>,
    ) -> impl Future<Output = Result<Remote>> + Send;

    /// Makes an unpaid order unpayable at the provider.
    fn close(
        &self,
        order: &str,
        provider_ref: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    fn refund(
        &self,
        refund: &RefundRequest<'_>,
    ) -> impl Future<Output = Result<RefundState>> + Send;
}

/// Every provider's settings, for the functions that talk to all of them.
pub type ProviderSettings = (StripeConfig, AlipayConfig, WechatPayConfig);

/// The providers whose settings are present; a channel without them is off.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub stripe: Option<Stripe>,
    pub alipay: Option<Arc<Alipay>>,
    pub wechat: Option<Arc<WechatPay>>,
}

/// Calls `$call` on the provider of `$channel`, or answers that it is off.
macro_rules! dispatch {
    ($self:ident, $channel:expr, $provider:ident => $call:expr) => {
        match $channel {
            Channel::Stripe => match &$self.stripe {
                Some($provider) => $call.await,
                None => Err(off(Channel::Stripe)),
            },
            Channel::Alipay => match &$self.alipay {
                Some($provider) => $call.await,
                None => Err(off(Channel::Alipay)),
            },
            Channel::Wechat => match &$self.wechat {
                Some($provider) => $call.await,
                None => Err(off(Channel::Wechat)),
            },
        }
    };
}

fn off(channel: Channel) -> Error {
    Error::invalid("channel", format!("{} is not available", channel.as_str()))
}

impl Providers {
    pub fn from_settings((stripe, alipay, wechat): &ProviderSettings) -> Result<Self> {
        Ok(Self {
            stripe: stripe.client()?,
            alipay: alipay.0.clone(),
            wechat: wechat
                .account
                .clone()
                .map(WechatPay::new)
                .transpose()?
                .map(Arc::new),
        })
    }

    pub fn is_on(&self, channel: Channel) -> bool {
        match channel {
            Channel::Stripe => self.stripe.is_some(),
            Channel::Alipay => self.alipay.is_some(),
            Channel::Wechat => self.wechat.is_some(),
        }
    }

    pub async fn start(&self, request: &PaymentRequest<'_>, method: Method) -> Result<Started> {
        dispatch!(self, method.channel(), p => p.start(request, method))
    }

    pub async fn query(
        &self,
        channel: Channel,
        order: &str,
        provider_ref: Option<&str>,
    ) -> Result<Remote> {
        dispatch!(self, channel, p => p.query(order, provider_ref))
    }

    pub async fn close(
        &self,
        channel: Channel,
        order: &str,
        provider_ref: Option<&str>,
    ) -> Result<()> {
        dispatch!(self, channel, p => p.close(order, provider_ref))
    }

    pub async fn refund(
        &self,
        channel: Channel,
        refund: &RefundRequest<'_>,
    ) -> Result<RefundState> {
        dispatch!(self, channel, p => p.refund(refund))
    }
}
