//! Media: the `uploads` table's part of the read and processing paths, and where the
//! media bucket is ([`MediaConfig`]).
//!
//! A file is uploaded under `uploads/…` (functions/content-admin). When it lands,
//! functions/image-process makes Strapi's responsive formats of an image and writes
//! them under `formats/…` ([`format_key`]), a prefix its trigger does not match (an
//! original it rewrites under `uploads/` does raise one more event, which finds the
//! upload no longer pending). What it made is recorded on the upload row
//! ([`record_done`]) as Strapi v5's `formats` object, which the API returns as is.

use platform::db::GenericClient;
use platform::{
    aws,
    config::{Section, Vars},
    error::{Error, Result},
};
use serde::Deserialize;
use serde_json::Value;
use tokio_postgres::types::Type;
use url::Url;

/// The media section of the configuration: files go straight from the browser to S3
/// through presigned PUT URLs.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// `MEDIA_BUCKET`: the private bucket uploads land in. Optional so a stack without
    /// AWS or moto still starts; without it the upload routes answer 503.
    pub bucket: Option<String>,
    /// `MEDIA_BASE_URL`: where the public reads an object, `base_url` + key (e.g. a
    /// CloudFront domain). Always ends with `/`. Default: the bucket's own URL (the
    /// moto endpoint locally), which only serves objects if the bucket allows it.
    pub base_url: Option<Url>,
    /// `MAX_UPLOAD_BYTES`: the largest file a presigned URL accepts (default 20 MiB).
    pub max_upload_bytes: u64,
}

/// S3 takes at most 5 GiB in one PUT.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

impl Section for MediaConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let bucket = vars
            .optional("MEDIA_BUCKET")
            .map(|b| b.trim().to_owned())
            .filter(|bucket| {
                let ok = valid_bucket_name(bucket);
                if !ok {
                    vars.problem(
                        "MEDIA_BUCKET",
                        "must be an S3 bucket name (3-63 lowercase letters, digits, `-` and `.`)",
                    );
                }
                ok
            });
        let base_url = vars.base_url("MEDIA_BASE_URL").or_else(|| {
            let endpoint = vars.optional("AWS_ENDPOINT_URL");
            let region = vars.optional("AWS_REGION");
            bucket
                .as_deref()
                .and_then(|b| aws::bucket_url(b, endpoint.as_deref(), region.as_deref()))
        });
        let max_upload_bytes = vars.parsed("MAX_UPLOAD_BYTES", 20 * 1024 * 1024_u64);
        if !(1..=MAX_SINGLE_PUT).contains(&max_upload_bytes) {
            vars.problem("MAX_UPLOAD_BYTES", "must be between 1 and 5 GiB");
        }
        Self {
            bucket,
            base_url,
            max_upload_bytes,
        }
    }
}

impl MediaConfig {
    /// Where readers fetch the object at `key`: `MEDIA_BASE_URL` + key.
    pub fn url(&self, key: &str) -> Option<String> {
        self.base_url
            .as_ref()
            .and_then(|base| base.join(key).ok())
            .map(String::from)
    }
}

/// S3's naming rules for new buckets, minus the rarely used IP-address check.
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
}

/// The S3 user metadata (`x-amz-meta-…`) image-process puts on an original it rewrote
/// without its metadata, which content-admin's completion check reads.
pub const STRIPPED_METADATA: &str = "bianxian-stripped";

/// Where a format of the object at `original` goes: `uploads/2026/03/ab12/cover.jpg`
/// becomes `formats/2026/03/ab12/small_cover.webp` for `small` in WebP. `None` for a key
/// outside `uploads/` (not ours to process).
pub fn format_key(original: &str, format: &str, extension: &str) -> Option<String> {
    let rest = original.strip_prefix("uploads/")?;
    let (dir, file) = rest.rsplit_once('/')?;
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    Some(format!("formats/{dir}/{format}_{stem}.{extension}"))
}

/// A media field's value in a write (`cover`, `avatar`): Strapi's numeric id of the
/// file, or its documentId.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum MediaRef {
    Id(i64),
    DocumentId(String),
}

/// The id of the upload `reference` names: a 400 naming `field` unless it is a
/// completed image of a type image-process handles whose processing has not failed.
/// One still pending may be named (an editor saves right after uploading): the public
/// API shows its URL only once processing is done (the `files` view), so an original
/// still carrying its GPS position is never handed out.
pub async fn image_id(
    client: &impl GenericClient,
    field: &str,
    reference: &MediaRef,
) -> Result<i64> {
    let (id, document_id) = match reference {
        MediaRef::Id(id) => (Some(*id), None),
        MediaRef::DocumentId(document_id) => (None, Some(document_id.as_str())),
    };
    let rows = client
        .query_typed(
            "SELECT id FROM uploads
             WHERE (id = $1 OR document_id = $2) AND status = 'ready'
               AND content_type IN ('image/jpeg', 'image/png', 'image/gif', 'image/webp')
               AND processing IN ('pending', 'done')",
            &[(&id, Type::INT8), (&document_id, Type::TEXT)],
        )
        .await?;
    rows.first().map(|row| row.get(0)).ok_or_else(|| {
        Error::invalid(
            field,
            format!(
                "{field} must name a completed JPEG, PNG, GIF or WebP upload (its id or \
                 documentId) whose processing has not failed"
            ),
        )
    })
}

/// An upload waiting for the image processor.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub document_id: String,
    pub key: String,
    pub original_filename: String,
    pub content_type: String,
    pub size: i64,
}

/// The upload stored at `key`, when its processing is still `pending`. Anything else
/// (done, failed, skipped, or no such upload) is `None`: S3 delivers an event at least
/// once, and an original the processor rewrote without its metadata raises one more.
pub async fn pending(client: &impl GenericClient, key: &str) -> Result<Option<Pending>> {
    let rows = client
        .query_typed(
            "SELECT id, document_id, object_key, original_filename, content_type, size_bytes
             FROM uploads WHERE object_key = $1 AND processing = 'pending'",
            &[(&key, Type::TEXT)],
        )
        .await?;
    Ok(rows.first().map(|row| Pending {
        id: row.get(0),
        document_id: row.get(1),
        key: row.get(2),
        original_filename: row.get(3),
        content_type: row.get(4),
        size: row.get(5),
    }))
}

/// What the processor made of an upload.
#[derive(Debug)]
pub struct Made {
    /// The upright original's width and height.
    pub dimensions: (i32, i32),
    /// The original's size now (smaller when its metadata was stripped).
    pub size: i64,
    /// Strapi's `formats` object.
    pub formats: Value,
    /// The share square, as a format entry.
    pub square: Value,
}

/// Records what the processor made.
pub async fn record_done(client: &impl GenericClient, id: i64, made: &Made) -> Result<bool> {
    let (width, height) = made.dimensions;
    let updated = client
        .execute_typed(
            "UPDATE uploads SET processing = 'done', processing_error = NULL,
                    processed_at = now(), width = $2, height = $3, size_bytes = $4,
                    formats = $5, square = $6
             WHERE id = $1 AND processing = 'pending'",
            &[
                (&id, Type::INT8),
                (&width, Type::INT4),
                (&height, Type::INT4),
                (&made.size, Type::INT8),
                (&made.formats, Type::JSONB),
                (&made.square, Type::JSONB),
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// Records why an upload got no formats: `failed` (the file is not what it claims, or
/// too large to decode) or `skipped` (a type we keep as uploaded).
pub async fn record_unprocessed(
    client: &impl GenericClient,
    id: i64,
    failed: bool,
    reason: &str,
) -> Result<bool> {
    let state = if failed { "failed" } else { "skipped" };
    let updated = client
        .execute_typed(
            "UPDATE uploads SET processing = $2, processing_error = $3, processed_at = now()
             WHERE id = $1 AND processing = 'pending'",
            &[
                (&id, Type::INT8),
                (&state, Type::TEXT),
                (&reason, Type::TEXT),
            ],
        )
        .await?;
    Ok(updated == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_live_beside_their_original_under_their_own_prefix() {
        assert_eq!(
            format_key("uploads/2026/03/ab12/cover.jpg", "small", "webp").as_deref(),
            Some("formats/2026/03/ab12/small_cover.webp")
        );
        assert_eq!(
            format_key("uploads/2026/03/ab12/cover.png", "thumbnail", "png").as_deref(),
            Some("formats/2026/03/ab12/thumbnail_cover.png")
        );
        assert_eq!(
            format_key("formats/2026/03/ab12/x.png", "small", "png"),
            None
        );
        assert_eq!(format_key("elsewhere.png", "small", "png"), None);
    }

    fn media(
        pairs: &[(&str, &str)],
    ) -> std::result::Result<MediaConfig, platform::config::ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        platform::config::Env::from_map(pairs.into_iter().collect()).section()
    }

    #[test]
    fn media_defaults_to_the_bucket_url() {
        let config = media(&[]).unwrap();
        assert!(config.bucket.is_none());
        assert!(config.base_url.is_none());
        assert_eq!(config.max_upload_bytes, 20 * 1024 * 1024);
        let on_aws = media(&[("MEDIA_BUCKET", "bx-media"), ("AWS_REGION", "ap-east-1")]).unwrap();
        assert_eq!(
            on_aws.base_url.unwrap().as_str(),
            "https://bx-media.s3.ap-east-1.amazonaws.com/"
        );
        let on_moto = media(&[
            ("MEDIA_BUCKET", "bx-media"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(
            on_moto.base_url.unwrap().as_str(),
            "http://127.0.0.1:5000/bx-media/"
        );
        let cdn = media(&[
            ("MEDIA_BUCKET", "bx-media"),
            ("MEDIA_BASE_URL", "https://media.example.com/files"),
            ("MAX_UPLOAD_BYTES", "1048576"),
        ])
        .unwrap();
        assert_eq!(
            cdn.base_url.unwrap().as_str(),
            "https://media.example.com/files/"
        );
        assert_eq!(cdn.max_upload_bytes, 1024 * 1024);
    }

    #[test]
    fn media_problems_are_reported_together() {
        let err = media(&[
            ("MEDIA_BUCKET", "Not_A_Bucket"),
            ("MEDIA_BASE_URL", "ftp://media.example.com"),
            ("MAX_UPLOAD_BYTES", "0"),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        for name in ["MEDIA_BUCKET", "MEDIA_BASE_URL", "MAX_UPLOAD_BYTES"] {
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
