//! End-to-end tests over HTTP against an in-process local stack.

mod accounts;
mod admin;
mod auth;
mod automations;
mod campaigns;
mod checkout;
mod commerce;
mod content_access;
mod content_admin;
mod content_api;
mod content_cache;
mod content_schedule;
mod content_sql;
mod content_taxonomy;
mod errors;
mod health;
mod mail;
mod newsletter;
mod platform;
mod refunds;
mod routes;
mod subscriptions;
mod transactional;
mod uploads;
mod webhooks;
mod wechat_login;
