//! End-to-end tests over HTTP against an in-process local stack.

mod auth;
mod errors;
mod health;
mod platform;
