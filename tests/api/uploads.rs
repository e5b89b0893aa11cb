//! Media uploads over HTTP: a presigned PUT to S3 (moto), completion checked with
//! HeadObject, the media library, input validation and who may upload.
//!
//! moto accepts any signature (it does not verify SigV4 at all), so what S3 enforces
//! about the signed `Content-Type` and `Content-Length` is asserted on the URL's
//! `X-Amz-SignedHeaders`; what moto does store is caught by the completion check.

use bianxian_e2e::{StackOptions, TestStack, spawn_stack, spawn_stack_with};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::content_admin::call;

pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really an image, but bytes all the same";

/// A completed upload of `content_type`, written straight to the table (no S3 needed):
/// what a cover or avatar may name. Returns (id, documentId).
pub(crate) async fn ready_upload(stack: &TestStack, content_type: &str) -> (i64, String) {
    let key = format!(
        "uploads/2026/11/{}/cover.png",
        bianxian_e2e::random_suffix()
    );
    let row = stack
        .db
        .client()
        .await
        .query_one(
            "INSERT INTO uploads (object_key, original_filename, content_type, size_bytes,
                                  status, completed_at, url, width, height, processing)
             VALUES ($1, '封面.png', $2, 1234, 'ready', now(),
                     'https://media.example.com/' || $1, 1200, 800, 'done')
             RETURNING id, document_id",
            &[&key, &content_type],
        )
        .await
        .expect("upload row");
    (row.get(0), row.get(1))
}

pub(crate) fn request(filename: &str, content_type: &str, size: usize) -> Value {
    json!({ "data": { "filename": filename, "contentType": content_type, "size": size } })
}

pub(crate) async fn create(stack: &TestStack, token: &str, body: Value) -> (StatusCode, Value) {
    call(
        stack,
        Method::POST,
        "/admin/uploads",
        Some(token),
        Some(body),
    )
    .await
}

async fn complete(
    stack: &TestStack,
    token: Option<&str>,
    document_id: &str,
) -> (StatusCode, Value) {
    let path = format!("/admin/uploads/{document_id}/complete");
    call(stack, Method::POST, &path, token, None).await
}

/// PUTs `bytes` to the presigned URL with the headers the API named, `content_type`
/// replacing theirs.
pub(crate) async fn put(
    stack: &TestStack,
    upload: &Value,
    content_type: &str,
    bytes: &[u8],
) -> StatusCode {
    let spec = &upload["upload"];
    assert_eq!(spec["method"], "PUT");
    let mut request = stack.http.put(spec["url"].as_str().expect("upload url"));
    for (name, value) in spec["headers"].as_object().expect("headers") {
        if name != "content-length" && name != "content-type" {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    request
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT to S3")
        .status()
}

pub(crate) fn require_moto(stack: &TestStack) {
    assert!(
        stack.aws_endpoint.is_some(),
        "upload tests need moto: run scripts/test or set TEST_AWS_ENDPOINT_URL"
    );
}

async fn audit_actions(stack: &TestStack, document_id: &str) -> Vec<String> {
    let client = stack.db.client().await;
    client
        .query(
            "SELECT action FROM audit_log WHERE subject = $1 ORDER BY id",
            &[&format!("upload:{document_id}")],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn an_author_uploads_through_a_presigned_url_and_completes_it() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (author_id, author) = stack.staff_session(Role::Author).await;

    let (status, body) = create(&stack, &author, request("封面.png", "image/png", PNG.len())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let upload = &body["data"];
    let document_id = upload["documentId"].as_str().unwrap();
    let key = upload["key"].as_str().unwrap();
    let media: content::media::MediaConfig = stack.platform.config.section().unwrap();
    let bucket = media.bucket.unwrap();
    let segments: Vec<&str> = key.split('/').collect();
    assert_eq!(segments.len(), 5, "{key}");
    assert_eq!(segments[0], "uploads");
    assert!(segments[1].len() == 4 && segments[2].len() == 2, "{key}");
    assert!(
        segments[3].len() == 32 && segments[3].bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    assert_eq!(
        segments[4], "file.png",
        "a non-ASCII name leaves a safe placeholder"
    );
    assert_eq!(
        upload["url"],
        format!("{}/{bucket}/{key}", stack.aws_endpoint.as_deref().unwrap())
    );
    assert_eq!(upload["filename"], "封面.png");
    assert_eq!(upload["contentType"], "image/png");
    assert_eq!(upload["size"], PNG.len());
    assert_eq!(upload["status"], "pending");
    assert_eq!(upload["uploadedBy"], author_id);
    assert!(upload["completedAt"].is_null());

    let spec = &upload["upload"];
    let url = reqwest::Url::parse(spec["url"].as_str().unwrap()).unwrap();
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} missing from {url}"))
    };
    // What binds the client to the announced file on real S3.
    let signed: Vec<String> = query("X-Amz-SignedHeaders")
        .split(';')
        .map(str::to_owned)
        .collect();
    assert!(signed.contains(&"content-type".to_owned()), "{signed:?}");
    assert!(signed.contains(&"content-length".to_owned()), "{signed:?}");
    assert_eq!(query("X-Amz-Expires"), "900");
    assert!(url.path().ends_with(key), "{url}");
    assert_eq!(spec["headers"]["content-type"], "image/png");
    assert_eq!(spec["headers"]["content-length"], PNG.len().to_string());
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(spec["expiresAt"].as_str().unwrap()).unwrap();
    let lifetime = expires_at.signed_duration_since(chrono::Utc::now());
    assert!(lifetime <= chrono::Duration::minutes(15) && lifetime > chrono::Duration::minutes(14));

    // Completing before the file is there is a conflict, and changes nothing.
    let (status, body) = complete(&stack, Some(&author), document_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not been uploaded")
    );

    assert_eq!(put(&stack, upload, "image/png", PNG).await, StatusCode::OK);
    let (status, body) = complete(&stack, Some(&author), document_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "ready");
    assert!(body["data"]["completedAt"].is_string());
    assert!(body["data"].get("upload").is_none());
    // Completing again is harmless and records nothing new.
    let (status, again) = complete(&stack, Some(&author), document_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["data"]["completedAt"], body["data"]["completedAt"]);
    assert_eq!(
        audit_actions(&stack, document_id).await,
        ["upload.create", "upload.complete"]
    );

    let s3 = platform::aws::s3_client(&stack.platform.config.aws).await;
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], PNG);

    let (status, library) = call(&stack, Method::GET, "/admin/uploads", Some(&author), None).await;
    assert_eq!(status, StatusCode::OK, "{library}");
    assert_eq!(library["data"][0]["documentId"], document_id);
    assert_eq!(library["data"][0]["status"], "ready");
    assert_eq!(library["meta"]["pagination"]["total"], 1);
}

#[tokio::test]
async fn completion_refuses_an_object_that_is_not_the_announced_file() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, editor) = stack.staff_session(Role::Editor).await;

    let (_, body) = create(&stack, &editor, request("a.png", "image/png", PNG.len())).await;
    let upload = &body["data"];
    let document_id = upload["documentId"].as_str().unwrap();
    // moto stores what it is sent; real S3 would refuse these PUTs (signed headers).
    assert_eq!(put(&stack, upload, "text/html", PNG).await, StatusCode::OK);
    let (status, body) = complete(&stack, Some(&editor), document_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text/html"),
        "{body}"
    );

    assert_eq!(
        put(&stack, upload, "image/png", &PNG[..10]).await,
        StatusCode::OK
    );
    let (status, body) = complete(&stack, Some(&editor), document_id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10 bytes"),
        "{body}"
    );

    assert_eq!(put(&stack, upload, "image/png", PNG).await, StatusCode::OK);
    let (status, body) = complete(&stack, Some(&editor), document_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "ready");
}

#[tokio::test]
async fn bad_upload_requests_are_refused_before_anything_is_signed() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("MAX_UPLOAD_BYTES", "1000".into())],
        ..Default::default()
    })
    .await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let cases = [
        (request("x.svg", "image/svg+xml", 10), "contentType"),
        (request("x.html", "text/html", 10), "contentType"),
        (
            request("x.png", "image/png; charset=utf-8", 10),
            "contentType",
        ),
        (request("x.png", "image/png", 0), "size"),
        (request("x.png", "image/png", 1001), "size"),
        (request("", "image/png", 10), "filename"),
        // A NUL is refused while parsing, where the whole path is known.
        (request("a\u{0}b.png", "image/png", 10), "data.filename"),
        (request(&"x".repeat(256), "image/png", 10), "filename"),
        (
            json!({ "data": { "filename": "x.png", "contentType": "image/png", "size": -1 } }),
            "body",
        ),
        (
            json!({ "data": { "filename": "x.png", "contentType": "image/png", "size": 10, "acl": "public-read" } }),
            "body",
        ),
        (
            json!({ "data": { "filename": "x.png", "contentType": "image/png" } }),
            "body",
        ),
        (
            json!({ "filename": "x.png", "contentType": "image/png", "size": 10 }),
            "body",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = create(&stack, &author, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(
            answer["error"]["details"]["errors"][0]["path"][0], field,
            "{body} -> {answer}"
        );
    }
    let client = stack.db.client().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM uploads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn the_size_limit_is_inclusive() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("MAX_UPLOAD_BYTES", "1000".into())],
        ..Default::default()
    })
    .await;
    require_moto(&stack);
    let (_, author) = stack.staff_session(Role::Author).await;
    for size in [1, 1000] {
        let (status, body) =
            create(&stack, &author, request("x.pdf", "application/pdf", size)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["data"]["key"].as_str().unwrap().ends_with("/x.pdf"));
    }
}

#[tokio::test]
async fn weird_file_names_make_safe_keys() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, author) = stack.staff_session(Role::Author).await;
    let names = [
        ("../../etc/passwd", "passwd.jpg"),
        ("..\\..\\boot.ini", "boot.jpg"),
        ("%2e%2e%2f.jpg", "2e-2e-2f.jpg"),
        ("my photo (final).JPEG", "my-photo-final.jpg"),
        ("index.html", "index.jpg"),
        ("..", "file.jpg"),
        ("变现 之路 2025.jpg", "2025.jpg"),
        ("\u{202e}gpj.exe", "gpj.jpg"),
    ];
    for (name, expected) in names {
        let (status, body) = create(&stack, &author, request(name, "image/jpeg", 10)).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        let key = body["data"]["key"].as_str().unwrap();
        assert_eq!(key.rsplit('/').next(), Some(expected), "{name}");
        assert_eq!(key.split('/').count(), 5, "{key}");
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)),
            "{key}"
        );
        assert!(!key.contains(".."), "{key}");
        assert_eq!(
            body["data"]["filename"], name,
            "the original name is kept for display"
        );
    }
}

#[tokio::test]
async fn uploads_need_write_permission_and_authors_complete_only_their_own() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (_, other_author) = stack.staff_session(Role::Author).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let read_only = {
        let (status, body) = call(
            &stack,
            Method::POST,
            "/admin/tokens",
            Some(&admin),
            Some(json!({ "name": "reader", "type": "read-only", "lifespan": null })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["accessKey"].as_str().unwrap().to_owned()
    };
    let member = stack
        .register("uploader@example.com", "correct horse battery")
        .await;
    let body = request("a.png", "image/png", PNG.len());

    for token in [None, Some(member.as_str())] {
        let (status, _) = call(
            &stack,
            Method::POST,
            "/admin/uploads",
            token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = call(&stack, Method::GET, "/admin/uploads", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = complete(&stack, token, "anything").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = create(&stack, &read_only, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, created) = create(&stack, &author, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let upload = &created["data"];
    let document_id = upload["documentId"].as_str().unwrap();
    assert_eq!(put(&stack, upload, "image/png", PNG).await, StatusCode::OK);
    let (status, _) = complete(&stack, Some(&read_only), document_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = complete(&stack, Some(&other_author), document_id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = complete(&stack, Some(&editor), "no-such-upload").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, done) = complete(&stack, Some(&editor), document_id).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["data"]["status"], "ready");

    // The library is readable with read access; it pages newest first.
    let (status, _) = create(&stack, &editor, request("b.png", "image/png", 1)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, page) = call(
        &stack,
        Method::GET,
        "/admin/uploads?pagination[page]=1&pagination[pageSize]=1",
        Some(&read_only),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["filename"], "b.png");
    assert_eq!(
        page["meta"]["pagination"],
        json!({ "page": 1, "pageSize": 1, "pageCount": 2, "total": 2 })
    );
    let (status, page) = call(
        &stack,
        Method::GET,
        "/admin/uploads?pagination[page]=2&pagination[pageSize]=1",
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["data"][0]["documentId"], document_id);
    let (status, _) = call(
        &stack,
        Method::GET,
        "/admin/uploads?pagination[pageSize]=101",
        Some(&editor),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_a_bucket_uploads_are_unavailable_not_broken() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("MEDIA_BUCKET", String::new())],
        ..Default::default()
    })
    .await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (status, body) = create(&stack, &author, request("a.png", "image/png", 10)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MEDIA_BUCKET")
    );
}

/// A TIFF-structured EXIF payload holding only a GPS IFD with a latitude reference:
/// what a phone writes where it stores the position.
const GPS_EXIF: &[u8] = b"II*\0\x08\0\0\0\x01\0\x25\x88\x04\0\x01\0\0\0\x1a\0\0\0\0\0\0\0\
\x01\0\x01\0\x02\0\x02\0\0\0N\0\0\0\0\0\0\0";

/// A 1600 × 1200 JPEG photo carrying [`GPS_EXIF`].
fn photo() -> Vec<u8> {
    use image::{ExtendedColorType, ImageEncoder, RgbImage, codecs::jpeg::JpegEncoder};
    let pixels = RgbImage::from_fn(1600, 1200, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, 85);
    encoder.set_exif_metadata(GPS_EXIF.to_vec()).unwrap();
    encoder
        .write_image(&pixels, 1600, 1200, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// Uploads `bytes` as `content_type` and completes it: the upload as completed.
async fn uploaded(
    stack: &TestStack,
    token: &str,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> Value {
    let (status, body) = create(stack, token, request(filename, content_type, bytes.len())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        put(stack, &body["data"], content_type, bytes).await,
        StatusCode::OK
    );
    let document_id = body["data"]["documentId"].as_str().unwrap();
    let (status, body) = complete(stack, Some(token), document_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

/// The upload as the media library lists it, once image-process has run (the gateway
/// starts it after the completion, in the background as S3's event would).
async fn processed(stack: &TestStack, token: &str, document_id: &str) -> Value {
    for _ in 0..200 {
        let (status, body) = call(stack, Method::GET, "/admin/uploads", Some(token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let upload = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["documentId"] == document_id)
            .cloned()
            .expect("listed");
        if upload["processing"] != "pending" {
            return upload;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{document_id} was not processed within 20 s");
}

async fn fetch(stack: &TestStack, url: &Value) -> (String, Vec<u8>) {
    let response = stack
        .http
        .get(url.as_str().expect("url"))
        .send()
        .await
        .expect("GET from S3");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn an_uploaded_photo_gets_strapis_formats_in_its_type_and_webp_without_its_gps() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let photo = photo();
    let upload = uploaded(&stack, &editor, "海边.jpg", "image/jpeg", &photo).await;
    let document_id = upload["documentId"].as_str().unwrap();
    let upload = processed(&stack, &editor, document_id).await;
    assert_eq!(upload["processing"], "done", "{upload}");
    assert_eq!(
        (upload["width"].clone(), upload["height"].clone()),
        (json!(1600), json!(1200))
    );

    let formats = upload["formats"].as_object().expect("formats");
    let mut names: Vec<&str> = formats.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["large", "medium", "small", "thumbnail"]);
    for (name, width, height) in [
        ("large", 1000, 750),
        ("medium", 750, 563),
        ("small", 500, 375),
        ("thumbnail", 208, 156),
    ] {
        let format = &formats[name];
        assert_eq!(format["width"], width, "{name}: {format}");
        assert_eq!(format["height"], height, "{name}: {format}");
        assert_eq!(format["mime"], "image/jpeg");
        assert_eq!(format["ext"], ".jpg");
        assert_eq!(format["name"], format!("{name}_海边.jpg"));
        assert!(
            format["url"].as_str().unwrap().contains("/formats/"),
            "{format}"
        );
        // In S3 as announced: the type, the size, the dimensions, and no EXIF.
        let (content_type, bytes) = fetch(&stack, &format["url"]).await;
        assert_eq!(content_type, "image/jpeg");
        assert_eq!(format["sizeInBytes"], bytes.len());
        let decoded = image::load_from_memory(&bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (width, height));
        assert!(!bytes.windows(4).any(|w| w == b"Exif"), "{name}");
        let webp = &format["webp"];
        assert_eq!(webp["mime"], "image/webp", "{name}: {format}");
        let (content_type, bytes) = fetch(&stack, &webp["url"]).await;
        assert_eq!(content_type, "image/webp");
        assert_eq!(webp["sizeInBytes"], bytes.len());
        let decoded =
            image::load_from_memory_with_format(&bytes, image::ImageFormat::WebP).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (width, height));
    }
    // The original at its URL has lost its GPS position too, and the size says so.
    assert!(photo.windows(4).any(|w| w == b"Exif"));
    let (_, original) = fetch(&stack, &upload["url"]).await;
    assert!(!original.windows(4).any(|w| w == b"Exif"));
    assert_eq!(upload["size"], original.len());
    let decoded = image::load_from_memory(&original).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1600, 1200));
    // The share square, apart from the breakpoints.
    let square = &upload["square"];
    assert_eq!(
        (square["width"].clone(), square["height"].clone()),
        (json!(300), json!(300))
    );
    assert_square(&stack, &square["url"]).await;
}

/// The share square at `url` is a 300-pixel JPEG.
async fn assert_square(stack: &TestStack, url: &Value) {
    let (content_type, bytes) = fetch(stack, url).await;
    assert_eq!(content_type, "image/jpeg");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (300, 300));
}

#[tokio::test]
async fn corrupt_images_fail_with_a_reason_and_documents_are_kept_as_uploaded() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let corrupt = uploaded(&stack, &editor, "cover.png", "image/png", PNG).await;
    let corrupt = processed(&stack, &editor, corrupt["documentId"].as_str().unwrap()).await;
    assert_eq!(corrupt["processing"], "failed", "{corrupt}");
    assert!(
        corrupt["processingError"]
            .as_str()
            .unwrap()
            .starts_with("the file is not a readable image"),
        "{corrupt}"
    );
    assert_eq!(corrupt["formats"], json!({}));
    assert_eq!(corrupt["status"], "ready", "the file itself is still there");
    // It cannot be a cover: nothing could be made of it.
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/articles",
        Some(&editor),
        Some(json!({ "data": { "title": "坏封面", "cover": corrupt["documentId"] } })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["path"][0], "cover");

    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    let document = uploaded(&stack, &editor, "讲义.pdf", "application/pdf", pdf).await;
    let document = processed(&stack, &editor, document["documentId"].as_str().unwrap()).await;
    assert_eq!(document["processing"], "skipped", "{document}");
    assert!(document["width"].is_null());
    let (_, stored) = fetch(&stack, &document["url"]).await;
    assert_eq!(stored, pdf);
}

/// The Done-when of issue 16 in one run: a photo uploaded as an article's cover shows in
/// the public API as Strapi's media object once populated, with the four formats and
/// their WebP copies that image-process made, and a cached answer from before the
/// formats existed is not served after.
#[tokio::test]
async fn a_cover_is_populated_as_strapis_media_object_with_its_formats() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let cover = uploaded(&stack, &editor, "封面.jpg", "image/jpeg", &photo()).await;
    let cover_id = cover["documentId"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/articles",
        Some(&editor),
        Some(json!({ "data": { "title": "有封面的文章", "body": "正文", "cover": cover_id } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let article = body["data"]["documentId"].as_str().unwrap().to_owned();
    let publish = format!("/admin/articles/{article}/publish");
    let (status, body) = call(&stack, Method::POST, &publish, Some(&editor), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Without populate a media field is absent, as in Strapi.
    let plain = bianxian_e2e::json(stack.get(&format!("/api/articles/{article}")).await).await;
    assert!(plain["data"].get("cover").is_none(), "{plain}");

    let path = format!("/api/articles/{article}?populate=cover");
    let uploaded = processed(&stack, &editor, &cover_id).await;
    assert_eq!(uploaded["processing"], "done", "{uploaded}");
    let body = bianxian_e2e::json(stack.get(&path).await).await;
    let media = &body["data"]["cover"];
    assert_eq!(media["documentId"], cover_id.as_str(), "{body}");
    assert_eq!(media["name"], "封面.jpg");
    assert_eq!(media["mime"], "image/jpeg");
    assert_eq!(media["ext"], ".jpg");
    assert_eq!(
        (media["width"].clone(), media["height"].clone()),
        (json!(1600), json!(1200))
    );
    assert_eq!(media["url"], uploaded["url"]);
    assert_eq!(media["provider"], "aws-s3");
    assert!(media["size"].as_f64().unwrap() > 0.0, "{media}");
    assert!(media["alternativeText"].is_null() && media["caption"].is_null());
    for name in ["thumbnail", "small", "medium", "large"] {
        let format = &media["formats"][name];
        assert_eq!(format, &uploaded["formats"][name], "{name}");
        let (content_type, _) = fetch(&stack, &format["url"]).await;
        assert_eq!(content_type, "image/jpeg", "{name}");
        let (content_type, _) = fetch(&stack, &format["webp"]["url"]).await;
        assert_eq!(content_type, "image/webp", "{name}");
    }
    // `populate=*` takes media fields too; populate options apply to them.
    let star = bianxian_e2e::json(
        stack
            .get(&format!("/api/articles/{article}?populate=*"))
            .await,
    )
    .await;
    assert_eq!(
        star["data"]["cover"]["documentId"],
        cover_id.as_str(),
        "{star}"
    );
    let narrow = bianxian_e2e::json(
        stack
            .get(&format!(
                "/api/articles/{article}?populate[cover][fields][0]=url"
            ))
            .await,
    )
    .await;
    let fields: Vec<&String> = narrow["data"]["cover"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(fields, ["documentId", "id", "url"], "{narrow}");

    // The social preview every article carries, its images from this cover.
    let plain = bianxian_e2e::json(stack.get(&format!("/api/articles/{article}")).await).await;
    let share = &plain["data"]["share"];
    let canonical = format!(
        "{}articles/{}",
        stack.platform.config.site_url,
        plain["data"]["slug"].as_str().unwrap()
    );
    assert_eq!(share["canonicalUrl"], canonical.as_str(), "{share}");
    assert_eq!(share["title"], "有封面的文章");
    let og = &share["openGraph"];
    assert_eq!(og["og:url"], canonical.as_str());
    assert_eq!(og["og:type"], "article");
    assert_eq!(og["og:image"], media["formats"]["large"]["url"], "{share}");
    assert_eq!(og["og:image:width"], 1000);
    assert_eq!(og["og:image:height"], 750);
    assert!(og["article:published_time"].is_string(), "{share}");
    assert_eq!(share["twitter"]["twitter:card"], "summary_large_image");
    assert_eq!(share["twitter"]["twitter:image"], og["og:image"]);
    assert_eq!(share["wechat"]["link"], canonical.as_str());
    assert_eq!(share["wechat"]["title"], "有封面的文章");
    assert_eq!(
        share["wechat"]["imgUrl"], uploaded["square"]["url"],
        "{share}"
    );
    assert_square(&stack, &share["wechat"]["imgUrl"]).await;
}

/// A cover may name an upload still being processed (an editor saves right after
/// uploading): its URL shows once the processor is done, and the cached answers that
/// showed it without are stale then, because the processor invalidates them.
#[tokio::test]
async fn processing_a_cover_refreshes_cached_answers_that_show_it() {
    let stack = spawn_stack().await;
    require_moto(&stack);
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let photo = photo();
    // Announced and PUT, not yet complete: the cover cannot be set before completion.
    let (status, body) = create(
        &stack,
        &editor,
        request("晚霞.jpg", "image/jpeg", photo.len()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cover_id = body["data"]["documentId"].as_str().unwrap().to_owned();
    assert_eq!(
        put(&stack, &body["data"], "image/jpeg", &photo).await,
        StatusCode::OK
    );
    let (status, refused) = call(
        &stack,
        Method::POST,
        "/admin/articles",
        Some(&editor),
        Some(json!({ "data": { "title": "晚霞", "cover": cover_id } })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    // Completed by hand, so the gateway does not process it: the formats come later.
    stack
        .db
        .client()
        .await
        .execute(
            "UPDATE uploads SET status = 'ready', completed_at = now() WHERE document_id = $1",
            &[&cover_id],
        )
        .await
        .unwrap();
    let (status, body) = call(
        &stack,
        Method::POST,
        "/admin/articles",
        Some(&editor),
        Some(json!({ "data": { "title": "晚霞", "cover": cover_id } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let article = body["data"]["documentId"].as_str().unwrap().to_owned();
    let publish = format!("/admin/articles/{article}/publish");
    assert_eq!(
        call(&stack, Method::POST, &publish, Some(&editor), None)
            .await
            .0,
        StatusCode::OK
    );
    let path = format!("/api/articles/{article}?populate=cover");
    let before = bianxian_e2e::json(stack.get(&path).await).await;
    assert_eq!(before["data"]["cover"]["formats"], json!({}), "{before}");
    // The original still has its EXIF (GPS): no URL is handed out until it is stripped.
    assert!(before["data"]["cover"]["url"].is_null(), "{before}");
    assert!(
        before["data"]["share"]["openGraph"]
            .get("og:image")
            .is_none(),
        "{before}"
    );

    let processor = bianxian_local::media::Processor::new(&stack.platform)
        .unwrap()
        .expect("a bucket");
    let key = body["data"]["labels"]["cover"]["url"]
        .as_str()
        .and_then(|url| url.split_once("/uploads/"))
        .map(|(_, rest)| format!("uploads/{rest}"))
        .expect("key");
    processor
        .run(&key, photo.len() as u64)
        .await
        .expect("processed");
    let after = bianxian_e2e::json(stack.get(&path).await).await;
    assert_eq!(
        after["data"]["cover"]["formats"]["large"]["width"], 1000,
        "{after}"
    );
    let (_, original) = fetch(&stack, &after["data"]["cover"]["url"]).await;
    assert!(!original.windows(4).any(|w| w == b"Exif"));
    assert_eq!(
        after["data"]["share"]["openGraph"]["og:image"],
        after["data"]["cover"]["formats"]["large"]["url"]
    );
}
