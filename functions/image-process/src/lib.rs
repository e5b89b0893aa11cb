//! The image-process function: S3 announces every object created under `uploads/`
//! (through EventBridge, template.yaml's `ImageProcessFunction`; locally the gateway
//! after `POST /admin/uploads/{documentId}/complete`), and this makes the upload's
//! responsive formats ([`resize`]), writes them beside it under `formats/`, and
//! records them on the upload as Strapi v5's `formats` object.
//!
//! Exactly once in effect: only an upload still `pending` is processed, and the
//! record is conditional on that, so a repeated event, or the one S3 raises when an
//! original is rewritten without its metadata, changes nothing. A file that is not the
//! image it claims, or is over the pixel budget, is recorded as `failed` with the
//! reason and acknowledged (retrying cannot fix it); S3 or the database out of reach
//! fails the invocation, and Lambda retries it.

pub mod resize;

use std::sync::Arc;
use tracing::Instrument;

use aws_sdk_s3::{error::DisplayErrorContext, primitives::ByteStream};
use content::{
    media::{self, Made, MediaConfig, Pending},
    schema::FILES,
};
use platform::{Error, Platform, Result, runtime::EventFuture};
use resize::{Kind, Processed};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

/// The settings this function reads besides the core.
pub type Settings = MediaConfig;

/// What an object written here is, which decides how it is cached and tagged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// A format or the share square: never changed under its key (a new upload gets
    /// a new key), so cached for a year.
    Derived,
    /// The original, rewritten without its metadata: its URL is public and stable, so
    /// revalidated daily; tagged, so a completion after the rewrite knows why it is
    /// smaller than announced.
    Original,
}

pub struct ImageProcess {
    platform: Arc<Platform>,
    media: MediaConfig,
    s3: OnceCell<aws_sdk_s3::Client>,
}

/// The event handler the Lambda runtime and the local gateway invoke.
pub fn handler(
    platform: Arc<Platform>,
    media: Settings,
) -> Result<impl Fn(Value) -> EventFuture + Send + Sync + 'static> {
    let app = Arc::new(ImageProcess {
        platform,
        media,
        s3: OnceCell::new(),
    });
    Ok(move |event: Value| {
        let app = app.clone();
        Box::pin(async move { app.handle(&event).await }) as EventFuture
    })
}

/// The EventBridge event S3 sends when `key` is created in `bucket`: what the local
/// gateway invokes this function with.
pub fn object_created(bucket: &str, key: &str, size: u64) -> Value {
    json!({
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": { "name": bucket },
            "object": { "key": key, "size": size },
            "reason": "PutObject",
        },
    })
}

impl ImageProcess {
    async fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3
            .get_or_init(|| platform::aws::s3_client(&self.platform.config.aws))
            .await
    }

    async fn handle(&self, event: &Value) -> Result<Value> {
        let detail = &event["detail"];
        let (Some(bucket), Some(key)) = (
            detail["bucket"]["name"].as_str(),
            detail["object"]["key"].as_str(),
        ) else {
            tracing::warn!(%event, "image-process: not an S3 object event; ignored");
            return Ok(json!({ "ignored": "not an S3 object event" }));
        };
        if self.media.bucket.as_deref() != Some(bucket) {
            tracing::warn!(
                bucket,
                "image-process: an object of another bucket; ignored"
            );
            return Ok(json!({ "ignored": "another bucket" }));
        }
        let client = self.platform.db.client().await?;
        let Some(upload) = media::pending(&**client, key).await? else {
            return Ok(json!({ "ignored": "no upload is waiting at this key" }));
        };
        let outcome = self.process(bucket, &upload).await?;
        let recorded = match &outcome {
            Outcome::Done(made) => {
                let recorded = media::record_done(&**client, upload.id, made).await?;
                // The formats show in every cached answer that populates this file.
                content::cache::invalidate_after_write(&self.platform.cache, &FILES).await;
                recorded
            }
            Outcome::Failed(reason) => {
                tracing::warn!(key, reason, "image-process: no formats for this upload");
                media::record_unprocessed(&**client, upload.id, true, reason).await?
            }
            Outcome::Skipped(reason) => {
                media::record_unprocessed(&**client, upload.id, false, reason).await?
            }
        };
        Ok(json!({
            "upload": upload.document_id,
            "processing": outcome.state(),
            "recorded": recorded,
        }))
    }

    async fn process(&self, bucket: &str, upload: &Pending) -> Result<Outcome> {
        let Some(kind) = Kind::of(&upload.content_type) else {
            return Ok(Outcome::Skipped(format!(
                "{} is kept as uploaded, without formats",
                upload.content_type
            )));
        };
        let object = self
            .s3()
            .await
            .get_object()
            .bucket(bucket)
            .key(&upload.key)
            .send()
            .instrument(platform::telemetry::aws_span("S3", "GetObject"))
            .await
            .map_err(|e| Error::internal(DisplayErrorContext(e).to_string()))?;
        let stored = object.content_length().unwrap_or_default();
        let length = u64::try_from(stored).unwrap_or(0);
        if length > self.media.max_upload_bytes {
            return Ok(Outcome::Failed(format!(
                "the object is {length} bytes, more than uploads may be ({})",
                self.media.max_upload_bytes
            )));
        }
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Error::internal(format!("reading the object: {e}")))?
            .into_bytes();
        // Decoding and encoding are seconds of CPU: off the async threads, and a
        // decoder that panics on a hostile file fails this upload, not the sandbox.
        let processed =
            match tokio::task::spawn_blocking(move || resize::process(&bytes, kind)).await {
                Ok(Ok(processed)) => processed,
                Ok(Err(refused)) => return Ok(Outcome::Failed(refused.to_string())),
                Err(_) => return Ok(Outcome::Failed("the decoder failed on this file".into())),
            };
        self.store(bucket, upload, kind, processed, stored).await
    }

    /// Writes every format, then the original without its metadata when it had any
    /// (the rewrite raises one more event, which finds the upload still pending until
    /// the record commits, and so may redo the same formats; the record is once).
    async fn store(
        &self,
        bucket: &str,
        upload: &Pending,
        kind: Kind,
        processed: Processed,
        stored: i64,
    ) -> Result<Outcome> {
        let mut formats = Map::new();
        for format in &processed.formats {
            let mut entries = Vec::new();
            for encoded in &format.encodings {
                let key = media::format_key(&upload.key, format.name, encoded.kind.extension())
                    .ok_or_else(|| Error::internal("an upload key outside uploads/"))?;
                let derived = Stored::Derived;
                self.put(bucket, &key, encoded.kind.mime(), derived, &encoded.bytes)
                    .await?;
                entries.push(self.entry(upload, format, encoded, &key));
            }
            let mut entries = entries.into_iter();
            let Some(mut entry) = entries.next() else {
                continue;
            };
            if let Some(webp) = entries.next() {
                entry["webp"] = webp;
            }
            formats.insert(format.name.to_owned(), entry);
        }
        let size = match &processed.stripped_original {
            Some(bytes) => {
                let original = Stored::Original;
                self.put(bucket, &upload.key, kind.mime(), original, bytes)
                    .await?;
                i64::try_from(bytes.len()).unwrap_or(i64::MAX)
            }
            // What S3 holds: an earlier run may have rewritten it already.
            None => stored,
        };
        let square = processed.square;
        let key = media::format_key(&upload.key, "square", Kind::Jpeg.extension())
            .ok_or_else(|| Error::internal("an upload key outside uploads/"))?;
        self.put(
            bucket,
            &key,
            Kind::Jpeg.mime(),
            Stored::Derived,
            &square.jpeg,
        )
        .await?;
        let square = json!({
            "url": self.media.url(&key),
            "width": square.side,
            "height": square.side,
            "mime": Kind::Jpeg.mime(),
            "sizeInBytes": square.jpeg.len(),
        });
        let dimension = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
        Ok(Outcome::Done(Made {
            dimensions: (dimension(processed.width), dimension(processed.height)),
            size,
            formats: Value::Object(formats),
            square,
        }))
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        stored: Stored,
        bytes: &[u8],
    ) -> Result<()> {
        let mut put = self
            .s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type);
        put = match stored {
            Stored::Derived => put.cache_control("public, max-age=31536000, immutable"),
            Stored::Original => put
                .cache_control("public, max-age=86400")
                .metadata(media::STRIPPED_METADATA, "true"),
        };
        put.body(ByteStream::from(bytes.to_vec()))
            .send()
            .instrument(platform::telemetry::aws_span("S3", "PutObject"))
            .await
            .map_err(|e| Error::internal(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// A format as Strapi v5 describes it (`size` in kB with two decimals).
    fn entry(
        &self,
        upload: &Pending,
        format: &resize::Format,
        encoded: &resize::Encoded,
        key: &str,
    ) -> Value {
        let url = self.media.url(key);
        let bytes = encoded.bytes.len();
        let stem = upload
            .original_filename
            .rsplit_once('.')
            .map_or(upload.original_filename.as_str(), |(stem, _)| stem);
        json!({
            "name": format!("{}_{stem}.{}", format.name, encoded.kind.extension()),
            "hash": format!("{}_{}", format.name, upload.document_id),
            "ext": format!(".{}", encoded.kind.extension()),
            "mime": encoded.kind.mime(),
            "path": null,
            "width": format.width,
            "height": format.height,
            "size": (bytes as f64 / 10.0).round() / 100.0,
            "sizeInBytes": bytes,
            "url": url,
        })
    }
}

enum Outcome {
    Done(Made),
    Failed(String),
    Skipped(String),
}

impl Outcome {
    fn state(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "done",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
        }
    }
}
