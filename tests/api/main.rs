//! End-to-end tests over HTTP against an in-process local stack.

mod errors;
mod health;
mod platform;
