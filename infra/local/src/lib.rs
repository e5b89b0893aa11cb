//! The local stack: what API Gateway, Upstash and Lambda's SQS trigger are in
//! production, run on this machine in front of the real PostgreSQL and Redis (and
//! moto for SQS, SES and S3): Lambda's SQS triggers and schedules included.

pub mod functions;
pub mod gateway;
pub mod mail;
pub mod media;
pub mod openapi;
pub mod queue;
pub mod scheduler;
pub mod seed;
pub mod template;
pub mod upstash;
pub mod webhooks;
