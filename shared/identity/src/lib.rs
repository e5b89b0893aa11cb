//! Who is asking, and what they may do: the layer over the platform that knows
//! people. Email addresses and passwords as parsed newtypes, sessions in Redis, staff
//! accounts and API tokens with their permissions ([`access`]), members and their
//! single-use mailed links, the WeChat identities they may sign in with (the web
//! authorisation in [`wechat`]), and entitlements (what a member may read).
//!
//! It owns the tables `staff_users`, `api_tokens`, `members`, `member_tokens`,
//! `member_identities` and `entitlements`: other crates call these modules instead of querying them.

pub mod access;
pub mod email;
pub mod entitlements;
pub mod identities;
pub mod lockout;
pub mod members;
pub mod openapi;
pub mod password;
pub mod route;
pub mod session;
pub mod staff;
pub mod wechat;
