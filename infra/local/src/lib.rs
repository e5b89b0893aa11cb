//! The local stack: what API Gateway, Upstash and Lambda's SQS trigger are in
//! production, run on this machine in front of the real PostgreSQL and Redis (and
//! moto for SQS, SES and S3): Lambda's SQS triggers and schedules included. What
//! cannot run locally at all is simulated, answering like the real service:
//! Alipay ([`alipay_sim`]) and WeChat Pay ([`wechat_sim`]).

pub mod alipay_sim;
pub mod bench_mail;
pub mod bench_payments;
pub mod campaigns;
pub mod functions;
pub mod gateway;
pub mod listen;
pub mod load;
pub mod mail;
pub mod media;
pub mod openapi;
pub mod payment_sims;
pub mod queue;
pub mod scheduler;
pub mod seed;
pub mod soak;
pub mod template;
pub mod upstash;
pub mod webhooks;
pub mod wechat_sim;
