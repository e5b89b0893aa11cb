//! The AWS SDK's shared configuration, built the same way for every AWS client.
//!
//! The SDK crates are compiled without their default HTTPS stack (aws-lc-rs); the one
//! here is hyper + rustls on ring, like the rest of the bundle. Region, endpoint and
//! credentials come from [`AwsConfig`] when it has them (Lambda's own variables, or a
//! test stack's emulator) and from the SDK's default chains otherwise.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig, timeout::TimeoutConfig};
use aws_sdk_sqs::config::Credentials;
use aws_smithy_http_client::{
    Builder,
    tls::{Provider, rustls_provider::CryptoMode},
};

use url::Url;

use crate::config::AwsConfig;

/// Loads the SDK configuration. Reads no network: credentials and region come from
/// configuration or the environment, and the first request connects.
pub async fn sdk_config(config: &AwsConfig) -> SdkConfig {
    let http_client = Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    // Bounded so a slow AWS endpoint cannot eat a function's whole timeout.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .timeout_config(timeouts);
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &config.endpoint_url {
        // `Url` always has a path; a trailing slash would double up in REST paths.
        loader = loader.endpoint_url(url.as_str().trim_end_matches('/'));
    }
    if let Some(credentials) = &config.credentials {
        loader = loader.credentials_provider(Credentials::new(
            &credentials.access_key_id,
            credentials.secret_access_key.expose(),
            credentials
                .session_token
                .as_ref()
                .map(|token| token.expose().to_owned()),
            None,
            "bianxian-config",
        ));
    }
    loader.load().await
}

/// The S3 client, pointed at moto when an endpoint is configured. moto on 127.0.0.1
/// needs path-style addressing (`http://host/bucket/key`): a virtual-hosted name like
/// `bucket.127.0.0.1` does not resolve.
#[cfg(feature = "s3")]
pub async fn s3_client(aws: &AwsConfig) -> aws_sdk_s3::Client {
    let sdk = sdk_config(aws).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(aws.endpoint_url.is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The bucket's own URL: path-style on a custom endpoint (moto), the virtual-hosted
/// AWS name otherwise. An invalid endpoint is the core configuration's problem. Uploads
/// are PUT here, and the console's Content-Security-Policy must allow it.
pub fn bucket_url(bucket: &str, endpoint: Option<&str>, region: Option<&str>) -> Option<Url> {
    let raw = match (endpoint, region) {
        (Some(endpoint), _) => format!("{}/{bucket}/", endpoint.trim().trim_end_matches('/')),
        (None, Some(region)) => format!("https://{bucket}.s3.{}.amazonaws.com/", region.trim()),
        (None, None) => format!("https://{bucket}.s3.amazonaws.com/"),
    };
    Url::parse(&raw).ok()
}
