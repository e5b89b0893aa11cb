//! What members buy (replacing Medusa): [`money`] as integer minor units with its
//! currency, and the [`catalogue`] of plans and courses with their prices. A product
//! is what an entitlement names (`identity::entitlements::Product`), so buying one
//! grants access to the articles that ask for it.
//!
//! It owns the tables `products` and `prices`.

pub mod catalogue;
pub mod money;
