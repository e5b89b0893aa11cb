//! Media uploads: the browser PUTs a file straight to S3 through a presigned URL, so
//! the bytes never pass through a Lambda (API Gateway caps bodies at 10 MB, Lambda's
//! payload at 6 MB, and both would bill for the transfer).
//!
//! `POST /admin/uploads` checks the announced type and size, records a `pending` row
//! and answers with a PUT URL whose signature covers `Content-Type` and
//! `Content-Length`, so S3 itself refuses another type or size. `POST
//! /admin/uploads/{documentId}/complete` asks S3 (HeadObject) whether the object is
//! there as announced and marks the row `ready`; it checks type and size again,
//! because an S3-compatible store that does not enforce signed headers would
//! otherwise let anything through. `GET /admin/uploads` is the media library; each
//! upload shows its image's `width`, `height` and Strapi `formats` once
//! functions/image-process has made them (`processing`: pending, done, failed with
//! `processingError`, or skipped for PDF and AVIF).
//!
//! Only raster images and PDF are accepted. SVG and HTML are refused on purpose: both
//! can carry script, and served from the media domain (or opened directly from the
//! bucket) they would run it in that origin - stored XSS and phishing under our name.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::Instrument;

use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Datelike, Utc};
use content::{media::MediaConfig, write::Envelope};
use http::StatusCode;
use identity::{
    access::{Permission, Principal},
    route::{Call, Schema, SchemaGenerator},
};
use schemars::json_schema;

use crate::ContentAdmin;
use lambda_http::{Body, Request, Response};
use platform::{
    Error, Platform, Result, audit,
    http::{data, page_param, parse_json, path_param},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use tokio_postgres::{Row, types::Type};

/// How long a presigned PUT URL works.
pub const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);
const MAX_FILENAME: usize = 255;
/// Longest sanitised file name in a key, before the extension.
const MAX_SAFE_STEM: usize = 64;
const MAX_BODY: usize = 16 * 1024;
const DEFAULT_PAGE_SIZE: i64 = 25;
const MAX_PAGE_SIZE: i64 = 100;

/// The content types accepted, with the extension the key gets. The extension comes
/// from the type, never from the client's file name, so a key cannot end in `.html`.
const ALLOWED: &[(&str, &str)] = &[
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("image/gif", "gif"),
    ("image/avif", "avif"),
    ("application/pdf", "pdf"),
];

/// The extension for an accepted content type.
pub fn extension_for(content_type: &str) -> Option<&'static str> {
    ALLOWED
        .iter()
        .find(|(allowed, _)| *allowed == content_type)
        .map(|(_, ext)| *ext)
}

/// A file name reduced to lowercase ASCII letters, digits, `-` and `_`, with the
/// extension of its content type. Path separators, dots, spaces, control and
/// non-ASCII characters become single dashes, so no key segment can be `..`, empty
/// or surprising to a shell, a URL or a CDN; a name with nothing left becomes `file`.
pub fn safe_name(filename: &str, extension: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    let mut out = String::with_capacity(stem.len().min(MAX_SAFE_STEM));
    for c in stem.chars() {
        if out.len() >= MAX_SAFE_STEM {
            break;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let stem = out.trim_end_matches('-');
    let stem = if stem.is_empty() { "file" } else { stem };
    format!("{stem}.{extension}")
}

/// `uploads/YYYY/MM/<random>/<safe-name>`: the random segment makes every key unique
/// and unguessable, the date keeps listings of the bucket browsable.
pub fn object_key(now: DateTime<Utc>, random: &str, filename: &str, extension: &str) -> String {
    format!(
        "uploads/{:04}/{:02}/{random}/{}",
        now.year(),
        now.month(),
        safe_name(filename, extension)
    )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UploadInput {
    filename: String,
    content_type: String,
    size: u64,
}

/// An upload request after validation.
struct Checked {
    filename: String,
    content_type: String,
    extension: &'static str,
    size: i64,
}

fn check(input: UploadInput, max_bytes: u64) -> Result<Checked> {
    let filename = input.filename.trim();
    if filename.is_empty()
        || filename.chars().count() > MAX_FILENAME
        || filename.chars().any(char::is_control)
    {
        return Err(Error::invalid(
            "filename",
            format!("filename must be 1 to {MAX_FILENAME} characters without control characters"),
        ));
    }
    let content_type = input.content_type.trim().to_ascii_lowercase();
    let extension = extension_for(&content_type).ok_or_else(|| {
        let allowed: Vec<&str> = ALLOWED.iter().map(|(t, _)| *t).collect();
        Error::invalid(
            "contentType",
            format!("contentType must be one of {}", allowed.join(", ")),
        )
    })?;
    if input.size == 0 || input.size > max_bytes {
        return Err(Error::invalid(
            "size",
            format!("size must be 1 to {max_bytes} bytes"),
        ));
    }
    Ok(Checked {
        filename: filename.to_owned(),
        content_type,
        extension,
        size: i64::try_from(input.size).map_err(|_| Error::invalid("size", "size is too large"))?,
    })
}

const COLUMNS: &str = "u.id, u.document_id, u.object_key, u.original_filename, u.content_type,
     u.size_bytes, u.status, s.document_id, u.created_at, u.updated_at, u.completed_at,
     u.width, u.height, u.formats, u.processing, u.processing_error, u.square";
/// The position of the first column a statement adds after [`COLUMNS`].
const AFTER_COLUMNS: usize = 17;

pub struct Uploads {
    platform: Arc<Platform>,
    media: MediaConfig,
    s3: OnceCell<aws_sdk_s3::Client>,
}

impl Uploads {
    pub fn new(platform: Arc<Platform>, media: MediaConfig) -> Self {
        Self {
            platform,
            media,
            s3: OnceCell::new(),
        }
    }

    fn bucket(&self) -> Result<&str> {
        self.media.bucket.as_deref().ok_or_else(|| {
            Error::ServiceUnavailable("media uploads are not configured (MEDIA_BUCKET)".into())
        })
    }

    /// Built on first use, so a cold start that uploads nothing never loads AWS config.
    async fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3
            .get_or_init(|| platform::aws::s3_client(&self.platform.config.aws))
            .await
    }

    /// The upload as the API answers it.
    fn view(&self, row: &Row) -> Value {
        let key: &str = row.get(2);
        let url = self.media.url(key);
        json!({
            "id": row.get::<_, i64>(0),
            "documentId": row.get::<_, &str>(1),
            "key": key,
            "url": url,
            "filename": row.get::<_, &str>(3),
            "contentType": row.get::<_, &str>(4),
            "size": row.get::<_, i64>(5),
            "status": row.get::<_, &str>(6),
            "uploadedBy": row.get::<_, Option<&str>>(7),
            "createdAt": row.get::<_, DateTime<Utc>>(8),
            "updatedAt": row.get::<_, DateTime<Utc>>(9),
            "completedAt": row.get::<_, Option<DateTime<Utc>>>(10),
            "width": row.get::<_, Option<i32>>(11),
            "height": row.get::<_, Option<i32>>(12),
            "formats": row.get::<_, Value>(13),
            "processing": row.get::<_, &str>(14),
            "processingError": row.get::<_, Option<&str>>(15),
            "square": row.get::<_, Option<Value>>(16),
        })
    }

    async fn create(&self, req: &Request, principal: &Principal) -> Result<Response<Body>> {
        let Envelope::<UploadInput> { data: input } = parse_json(req, MAX_BODY)?;
        let checked = check(input, self.media.max_upload_bytes)?;
        let bucket = self.bucket()?;
        let random = hex(&rand::random::<[u8; 16]>());
        let key = object_key(Utc::now(), &random, &checked.filename, checked.extension);

        let signed_at = SystemTime::now();
        let presigning = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(URL_LIFETIME)
            .build()
            .map_err(Error::internal)?;
        let presigned = self
            .s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type(&checked.content_type)
            .content_length(checked.size)
            .presigned(presigning)
            .await
            .map_err(|e| Error::internal(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        let headers: Map<String, Value> = presigned
            .headers()
            .map(|(name, value)| (name.to_owned(), Value::from(value)))
            .collect();
        let expires_at = DateTime::<Utc>::from(signed_at + URL_LIFETIME);

        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let rows = tx
            .query_typed(
                &format!(
                    "WITH u AS (
                         INSERT INTO uploads (object_key, original_filename, content_type,
                             size_bytes, uploaded_by, url)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
                     SELECT {COLUMNS} FROM u LEFT JOIN staff_users s ON s.id = u.uploaded_by"
                ),
                &[
                    (&key, Type::TEXT),
                    (&checked.filename, Type::TEXT),
                    (&checked.content_type, Type::TEXT),
                    (&checked.size, Type::INT8),
                    (&principal.staff_id(), Type::INT8),
                    // Stored with the upload (as Strapi's providers store it), so the
                    // content API's reads need no configuration.
                    (&self.media.url(&key), Type::TEXT),
                ],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::internal("upload insert returned no row"))?;
        let document_id: &str = row.get(1);
        audit::record(
            &*tx,
            &principal.actor(),
            "upload.create",
            &format!("upload:{document_id}"),
            json!({ "key": key, "contentType": checked.content_type, "size": checked.size }),
        )
        .await?;
        let mut upload = self.view(row);
        tx.commit().await?;
        upload["upload"] = json!({
            "method": presigned.method(),
            "url": presigned.uri(),
            "headers": headers,
            "expiresAt": expires_at,
        });
        Ok(data(StatusCode::CREATED, upload))
    }

    /// Marks an upload ready once S3 holds the object as announced. The HeadObject
    /// happens outside any transaction; the status change is conditional, so two
    /// concurrent completions record one audit entry.
    async fn complete(&self, req: &Request, principal: &Principal) -> Result<Response<Body>> {
        let document_id = path_param(req, "documentId")?.to_owned();
        let bucket = self.bucket()?;
        let mut client = self.platform.db.client().await?;
        let rows = client
            .query_typed(
                &format!(
                    "SELECT {COLUMNS}, u.uploaded_by FROM uploads u
                     LEFT JOIN staff_users s ON s.id = u.uploaded_by WHERE u.document_id = $1"
                ),
                &[(&document_id, Type::TEXT)],
            )
            .await?;
        let row = rows
            .first()
            .ok_or_else(|| Error::NotFound("no such upload".into()))?;
        let owner: Option<i64> = row.get(AFTER_COLUMNS);
        if !principal.can(Permission::WriteAnyContent)
            && (owner.is_none() || owner != principal.staff_id())
        {
            return Err(Error::Forbidden(
                "authors may complete only their own uploads".into(),
            ));
        }
        if row.get::<_, &str>(6) == "ready" {
            return Ok(data(StatusCode::OK, self.view(row)));
        }
        let (id, key, content_type, size): (i64, &str, &str, i64) =
            (row.get(0), row.get(2), row.get(4), row.get(5));
        let head = self
            .s3()
            .await
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .instrument(platform::telemetry::aws_span("S3", "HeadObject"))
            .await;
        let head = match head {
            Ok(head) => head,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Err(Error::Conflict(
                    "the file has not been uploaded yet: PUT it to the upload URL first".into(),
                ));
            }
            Err(err) => {
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&err), key, "HeadObject failed");
                return Err(Error::ServiceUnavailable(
                    "the media store did not answer; try again".into(),
                ));
            }
        };
        let found_type = head.content_type().unwrap_or_default();
        let found_size = head.content_length().unwrap_or_default();
        // An image processed before its completion (S3's event can beat the browser's
        // call) may have been rewritten without its metadata: smaller, same type.
        let rewritten = head
            .metadata()
            .is_some_and(|m| m.contains_key(content::media::STRIPPED_METADATA));
        if (found_size != size && !rewritten) || !found_type.eq_ignore_ascii_case(content_type) {
            return Err(Error::Conflict(format!(
                "the uploaded file is {found_size} bytes of `{found_type}`, but {size} bytes of \
                 `{content_type}` were announced; upload the announced file again"
            )));
        }

        let tx = client.transaction().await?;
        let updated = tx
            .query_typed(
                "UPDATE uploads SET status = 'ready', completed_at = now()
                 WHERE id = $1 AND status = 'pending' RETURNING id",
                &[(&id, Type::INT8)],
            )
            .await?;
        if !updated.is_empty() {
            audit::record(
                &*tx,
                &principal.actor(),
                "upload.complete",
                &format!("upload:{document_id}"),
                json!({ "key": key, "size": size }),
            )
            .await?;
        }
        let rows = tx
            .query_typed(
                &format!(
                    "SELECT {COLUMNS} FROM uploads u
                     LEFT JOIN staff_users s ON s.id = u.uploaded_by WHERE u.id = $1"
                ),
                &[(&id, Type::INT8)],
            )
            .await?;
        let upload = rows
            .first()
            .map(|row| self.view(row))
            .ok_or_else(|| Error::NotFound("no such upload".into()))?;
        tx.commit().await?;
        Ok(data(StatusCode::OK, upload))
    }

    /// The media library, newest first, paged like Strapi's `pagination[page]` and
    /// `pagination[pageSize]`.
    async fn list(&self, req: &Request) -> Result<Response<Body>> {
        let page = page_param(req, "pagination[page]", 1, i64::from(i32::MAX))?;
        let page_size = page_param(
            req,
            "pagination[pageSize]",
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?;
        let offset = (page - 1) * page_size;
        let client = self.platform.db.client().await?;
        let rows = client
            .query_typed(
                &format!(
                    "SELECT {COLUMNS}, count(*) OVER () FROM uploads u
                     LEFT JOIN staff_users s ON s.id = u.uploaded_by
                     ORDER BY u.created_at DESC, u.id DESC LIMIT $1 OFFSET $2"
                ),
                &[(&page_size, Type::INT8), (&offset, Type::INT8)],
            )
            .await?;
        let total = match rows.first() {
            Some(row) => row.get::<_, i64>(AFTER_COLUMNS),
            None => client
                .query_typed("SELECT count(*) FROM uploads", &[])
                .await?[0]
                .get(0),
        };
        let uploads: Vec<Value> = rows.iter().map(|row| self.view(row)).collect();
        Ok(platform::http::json(
            StatusCode::OK,
            &json!({
                "data": uploads,
                "meta": { "pagination": {
                    "page": page,
                    "pageSize": page_size,
                    "pageCount": (total + page_size - 1) / page_size,
                    "total": total,
                }},
            }),
        ))
    }
}

/// Authors upload too: either write permission will do.
/// `POST /admin/uploads`.
pub async fn create(app: Arc<ContentAdmin>, call: Call) -> Result<Response<Body>> {
    app.uploads.create(&call.req, call.principal()?).await
}

/// `POST /admin/uploads/{documentId}/complete`.
pub async fn complete(app: Arc<ContentAdmin>, call: Call) -> Result<Response<Body>> {
    app.uploads.complete(&call.req, call.principal()?).await
}

/// `GET /admin/uploads`, the media library.
pub async fn list(app: Arc<ContentAdmin>, call: Call) -> Result<Response<Body>> {
    app.uploads.list(&call.req).await
}

/// The media library's query, for the OpenAPI document: what [`page_param`] reads.
pub fn query_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "pagination": {
                "type": "object",
                "properties": {
                    "page": { "type": "integer", "minimum": 1 },
                    "pageSize": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE },
                },
            },
        },
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn names_keep_safe_ascii_and_take_the_type_extension() {
        assert_eq!(safe_name("Cover Photo (1).PNG", "png"), "cover-photo-1.png");
        assert_eq!(
            safe_name("my_report-2024.final.pdf", "pdf"),
            "my_report-2024-final.pdf"
        );
        assert_eq!(safe_name("page.html", "png"), "page.png");
        assert_eq!(safe_name("noext", "gif"), "noext.gif");
    }

    #[test]
    fn names_with_nothing_safe_left_become_file() {
        for name in [
            "封面.png",
            "....png",
            ".png",
            "",
            "  ",
            "///",
            "变现之路",
            "🙂.webp",
        ] {
            assert_eq!(safe_name(name, "png"), "file.png", "{name:?}");
        }
        assert_eq!(safe_name("封面 cover.png", "png"), "cover.png");
    }

    #[test]
    fn path_traversal_and_separators_cannot_escape_the_key() {
        assert_eq!(safe_name("../../etc/passwd", "png"), "passwd.png");
        assert_eq!(safe_name("..\\..\\windows\\win.ini", "png"), "win.png");
        assert_eq!(safe_name("a/../b.png", "png"), "b.png");
        assert_eq!(safe_name("x\u{0}y\r\n%2e%2e.png", "png"), "x-y-2e-2e.png");
        assert_eq!(safe_name("..", "png"), "file.png");
    }

    #[test]
    fn long_names_are_cut() {
        let name = format!("{}.png", "a".repeat(500));
        let safe = safe_name(&name, "png");
        assert_eq!(safe, format!("{}.png", "a".repeat(MAX_SAFE_STEM)));
        let dashed = format!("{}.png", "a-".repeat(100));
        assert!(!safe_name(&dashed, "png").contains("-."));
    }

    #[test]
    fn keys_have_the_documented_shape() {
        let now = Utc.with_ymd_and_hms(2025, 3, 7, 12, 0, 0).unwrap();
        assert_eq!(
            object_key(now, "abc123", "../封面 Final.PNG", "png"),
            "uploads/2025/03/abc123/final.png"
        );
    }

    #[test]
    fn every_safe_name_is_a_plain_key_segment() {
        for name in [
            "..",
            ".",
            "a..b",
            "-x-",
            "%00",
            "a b c",
            "ＡＢＣ.png",
            "CON",
            "\u{202e}gnp.exe",
        ] {
            let safe = safe_name(name, "png");
            let (stem, ext) = safe.rsplit_once('.').unwrap();
            assert_eq!(ext, "png");
            assert!(
                !stem.is_empty() && !stem.starts_with('-') && !stem.ends_with('-'),
                "{safe}"
            );
            assert!(
                stem.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'),
                "{safe}"
            );
        }
    }

    #[test]
    fn only_raster_images_and_pdf_are_accepted() {
        for ok in [
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/gif",
            "image/avif",
            "application/pdf",
        ] {
            assert!(extension_for(ok).is_some(), "{ok}");
        }
        for refused in [
            "image/svg+xml",
            "text/html",
            "application/xhtml+xml",
            "text/xml",
            "image/png; charset=utf-8",
            "",
        ] {
            assert!(extension_for(refused).is_none(), "{refused}");
        }
    }

    /// Presigning reads no network, so this runs without moto. A checksum in the URL
    /// (as some SDK versions add by default) would bind the upload to an empty body.
    #[tokio::test]
    async fn presigned_urls_sign_type_and_length_and_carry_no_checksum() {
        let aws = platform::config::AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some("http://127.0.0.1:9".parse().unwrap()),
            credentials: Some(platform::config::AwsCredentials {
                access_key_id: "testing".into(),
                secret_access_key: platform::secret::Secret::new("testing"),
                session_token: None,
            }),
        };
        let presigned = platform::aws::s3_client(&aws)
            .await
            .put_object()
            .bucket("media")
            .key("uploads/2025/01/abc/file.png")
            .content_type("image/png")
            .content_length(5)
            .presigned(PresigningConfig::expires_in(URL_LIFETIME).unwrap())
            .await
            .unwrap();
        let url = presigned.uri();
        assert!(
            url.starts_with("http://127.0.0.1:9/media/uploads/2025/01/abc/file.png?"),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
            "{url}"
        );
        assert!(!url.to_ascii_lowercase().contains("checksum"), "{url}");
    }

    #[test]
    fn inputs_are_checked() {
        let input = |filename: &str, content_type: &str, size: u64| UploadInput {
            filename: filename.into(),
            content_type: content_type.into(),
            size,
        };
        assert!(check(input("a.png", "IMAGE/PNG", 10), 10).is_ok());
        assert!(check(input("a.png", "image/png", 0), 10).is_err());
        assert!(check(input("a.png", "image/png", 11), 10).is_err());
        assert!(check(input("", "image/png", 1), 10).is_err());
        assert!(check(input("a\nb.png", "image/png", 1), 10).is_err());
        assert!(check(input("a.svg", "image/svg+xml", 1), 10).is_err());
        assert!(check(input(&"x".repeat(256), "image/png", 1), 10).is_err());
    }
}
