//! What members buy (replacing Medusa): [`money`] as integer minor units with its
//! currency, the [`catalogue`] of plans and courses with their prices, [`orders`]
//! and their state machine, and [`fulfilment`], the one path from "paid" to access.
//! A product is what an entitlement names (`identity::entitlements::Product`), so
//! buying one grants access to the articles that ask for it.
//!
//! [`promotions`] are codes that take a percentage or an amount off; [`stripe`]
//! verifies Stripe's webhooks and feeds their payments to fulfilment; [`alipay`] is
//! the Alipay channel (signed cashier URLs, QR codes, query, close and refund over
//! its gateway, verified notifications fed to fulfilment); [`wechat`] is the WeChat
//! Pay API v3 provider (Native, JSAPI, H5, refunds) and its notifications.
//!
//! It owns the tables `products`, `prices`, `orders`, `order_events`, `promotions`,
//! `promotion_redemptions` and `payment_events`.

pub mod alipay;
pub mod catalogue;
pub mod checkout;
pub mod crypto;
pub mod fulfilment;
pub mod money;
pub mod notification;
pub mod orders;
pub mod promotions;
pub mod provider;
pub mod reconcile;
pub mod refunds;
pub mod reports;
pub mod stripe;
pub mod subscriptions;
pub mod wechat;
