//! The local stack: what API Gateway and Upstash are in production, run on this
//! machine in front of the real PostgreSQL and Redis.

pub mod functions;
pub mod gateway;
pub mod template;
pub mod upstash;
