//! The media bucket template.yaml creates in AWS (`MediaBucket`), made on moto: the
//! bucket named by `MEDIA_BUCKET`, with the CORS rule that lets the site's origins
//! PUT to presigned URLs from a browser, and anonymous reads of its objects: in AWS
//! readers get them through CloudFront (`MEDIA_BASE_URL`), locally from the bucket's
//! own URL, so a cover shows in the console and the site as it would there.
//!
//! In AWS, S3 announces every new upload to the image-process function through
//! EventBridge. moto announces nothing, so the gateway stands in: after a successful
//! `POST /admin/uploads/{documentId}/complete` it invokes image-process with the
//! event S3 would have sent ([`Processor`]), in the background as Lambda would.

use std::sync::Arc;

use aws_sdk_s3::types::{
    BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration,
};
use content::media::MediaConfig;
use platform::{Platform, runtime::EventFuture};
use serde_json::Value;

/// Creates the bucket if it is missing. `Ok(None)` when no bucket is configured.
pub async fn ensure_bucket(platform: &Platform) -> Result<Option<String>, String> {
    let media: MediaConfig = platform.config.section().map_err(|e| e.to_string())?;
    let Some(bucket) = media.bucket else {
        return Ok(None);
    };
    let s3 = platform::aws::s3_client(&platform.config.aws).await;
    let mut create = s3.create_bucket().bucket(&bucket);
    // us-east-1 is the one region that refuses an explicit location constraint.
    if let Some(region) = platform
        .config
        .aws
        .region
        .as_deref()
        .filter(|r| *r != "us-east-1")
    {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    if let Err(err) = create.send().await {
        let exists = err
            .as_service_error()
            .is_some_and(|e| e.is_bucket_already_owned_by_you());
        if !exists {
            return Err(format!("creating S3 bucket {bucket}: {}", display(err)));
        }
    }
    // The site's origins, and the API's own: the console, served by the API, uploads
    // covers from there (template.yaml gives MediaBucket the same two).
    let mut origins = platform.config.cors_allowed_origins.clone();
    origins.push(platform.config.api_url.origin().ascii_serialization());
    {
        let rule = CorsRule::builder()
            .set_allowed_origins(Some(origins))
            .allowed_methods("PUT")
            .allowed_headers("content-type")
            .max_age_seconds(3600)
            .build()
            .map_err(|e| e.to_string())?;
        s3.put_bucket_cors()
            .bucket(&bucket)
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| format!("setting CORS on S3 bucket {bucket}: {}", display(e)))?;
    }
    let public_reads = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    });
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(public_reads.to_string())
        .send()
        .await
        .map_err(|e| format!("setting the policy of S3 bucket {bucket}: {}", display(e)))?;
    Ok(Some(bucket))
}

fn display(err: impl std::error::Error) -> String {
    aws_sdk_s3::error::DisplayErrorContext(err).to_string()
}

/// The route whose success means an object has landed (template.yaml's key).
pub const COMPLETE_ROUTE: &str = "POST /admin/uploads/{documentId}/complete";

type Handler = dyn Fn(Value) -> EventFuture + Send + Sync;

/// image-process, mounted for the gateway to call once an upload is complete.
#[derive(Clone)]
pub struct Processor {
    bucket: String,
    handler: Arc<Handler>,
}

impl Processor {
    /// `Ok(None)` when no bucket is configured (uploads answer 503 then anyway).
    pub fn new(platform: &Arc<Platform>) -> Result<Option<Self>, String> {
        let media: MediaConfig = platform.config.section().map_err(|e| e.to_string())?;
        let Some(bucket) = media.bucket.clone() else {
            return Ok(None);
        };
        let handler = image_process::handler(platform.clone(), media).map_err(|e| e.to_string())?;
        Ok(Some(Self {
            bucket,
            handler: Arc::new(handler),
        }))
    }

    /// Starts processing the upload a completion answered (`{"data": {"key", "size"}}`).
    pub fn completed(&self, answer: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<Value>(answer) else {
            return;
        };
        let (Some(key), Some(size)) = (
            answer["data"]["key"].as_str(),
            answer["data"]["size"].as_u64(),
        ) else {
            return;
        };
        let processor = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            if let Err(err) = processor.run(&key, size).await {
                eprintln!("gateway: image-process failed for {key}: {err}");
            }
        });
    }

    /// Invokes image-process with the event S3 sends for `key`, and waits for it.
    pub async fn run(&self, key: &str, size: u64) -> platform::Result<Value> {
        (self.handler)(image_process::object_created(&self.bucket, key, size)).await
    }
}
