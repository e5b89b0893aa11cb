//! The media bucket template.yaml creates in AWS (`MediaBucket`), made on moto: the
//! bucket named by `MEDIA_BUCKET`, with the CORS rule that lets the site's origins
//! PUT to presigned URLs from a browser, and anonymous reads of its objects: in AWS
//! readers get them through CloudFront (`MEDIA_BASE_URL`), locally from the bucket's
//! own URL, so a cover shows in the console and the site as it would there.

use aws_sdk_s3::types::{
    BucketLocationConstraint, CorsConfiguration, CorsRule, CreateBucketConfiguration,
};
use content_admin::uploads::MediaConfig;
use platform::Platform;

/// Creates the bucket if it is missing. `Ok(None)` when no bucket is configured.
pub async fn ensure_bucket(platform: &Platform) -> Result<Option<String>, String> {
    let media: MediaConfig = platform.config.section().map_err(|e| e.to_string())?;
    let Some(bucket) = media.bucket else {
        return Ok(None);
    };
    let s3 = content_admin::uploads::s3_client(&platform.config.aws).await;
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
