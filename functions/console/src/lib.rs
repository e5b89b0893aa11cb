//! The admin console's web app (console/, react-admin), served from the API's own
//! origin so its session cookie (`bx_admin_session`, `Path=/admin`,
//! `SameSite=Strict`) reaches the admin routes without CORS.
//!
//! The production build is embedded in this binary (build.rs): a release is one
//! artefact, the assets can never disagree with the function that serves them, and
//! no bucket, CloudFront behaviour or upload step is needed. The app is about half a
//! megabyte compressed, well inside Lambda's 6 MB response and 50 MB package limits.
//!
//! - `GET /console` and `/console/`: `index.html`, `no-cache`, with a
//!   Content-Security-Policy carrying a fresh nonce (the only inline code the app
//!   has is the `<style>` elements Emotion inserts, which carry that nonce).
//! - `GET /console/assets/…`: Vite's content-hashed files, cached for a year.
//! - Anything else under /console: the JSON 404 every other route gives.
//!
//! Every file has a strong ETag, and text goes gzipped to clients that accept it.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use platform::{
    Error, Platform, Result, aws,
    config::{Section, Vars},
};
use rand::RngCore;
use url::Url;

/// One embedded file of console/dist.
pub struct File {
    /// Relative to console/dist, e.g. `assets/index-3f9a1c.js`.
    pub path: &'static str,
    pub mime: &'static str,
    /// Strong, quoted.
    pub etag: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/files.rs"));

/// Where Vite writes the per-request nonce (`html.cspNonce` in vite.config.ts).
const NONCE_PLACEHOLDER: &str = "BX_CSP_NONCE";
const INDEX: &str = "index.html";
const PREFIX: &str = "/console";

/// What the Content-Security-Policy must allow beyond this origin: the media bucket
/// the browser uploads covers to and loads images from.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// Origins of `MEDIA_BASE_URL` and of the bucket's own URL (`MEDIA_BUCKET`).
    pub media_origins: Vec<String>,
}

impl Section for ConsoleConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let endpoint = vars.optional("AWS_ENDPOINT_URL");
        let region = vars.optional("AWS_REGION");
        let bucket = vars.optional("MEDIA_BUCKET").and_then(|bucket| {
            aws::bucket_url(bucket.trim(), endpoint.as_deref(), region.as_deref())
        });
        let mut media_origins = Vec::new();
        for url in [vars.base_url("MEDIA_BASE_URL"), bucket]
            .into_iter()
            .flatten()
        {
            let origin = origin(&url);
            if !media_origins.contains(&origin) {
                media_origins.push(origin);
            }
        }
        Self { media_origins }
    }
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The function's state: the policy, built once.
pub struct Console {
    /// With `{nonce}` where each response's nonce goes.
    policy: String,
}

impl Console {
    pub fn new(config: &ConsoleConfig) -> Self {
        let media = config.media_origins.join(" ");
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{{nonce}}'; \
             style-src-attr 'unsafe-inline'; img-src 'self' data: blob: {media}; \
             font-src 'self' data:; connect-src 'self' {media}; manifest-src 'self'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
        );
        Self {
            policy: policy.replace("  ", " ").replace(" ;", ";"),
        }
    }

    pub fn serve(&self, req: &Request) -> Result<Response<Body>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(not_found(req));
        }
        let path = req.uri().path();
        let relative = path
            .strip_prefix(PREFIX)
            .map(|rest| rest.trim_start_matches('/'))
            .ok_or_else(|| not_found(req))?;
        if relative.is_empty() || relative == INDEX {
            return Ok(self.index());
        }
        let file = FILES
            .iter()
            .find(|f| f.path == relative && f.path != INDEX)
            .ok_or_else(|| not_found(req))?;
        Ok(asset(req, file))
    }

    fn index(&self) -> Response<Body> {
        let file = find(INDEX);
        let nonce = nonce();
        let html = std::str::from_utf8(file.body)
            .unwrap_or_default()
            .replace(NONCE_PLACEHOLDER, &nonce);
        let mut response = Response::new(Body::Text(html));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.mime));
        // Revalidated on every load, so a deploy reaches staff at once; the assets it
        // names are immutable.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(policy) = HeaderValue::from_str(&self.policy.replace("{nonce}", &nonce)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        hardening(headers);
        response
    }
}

fn find(path: &str) -> &'static File {
    FILES
        .iter()
        .find(|f| f.path == path)
        .expect("build.rs refuses a console build without index.html")
}

fn not_found(req: &Request) -> Error {
    Error::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

/// 128 random bits, as CSP3 asks of a nonce.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

fn asset(req: &Request, file: &'static File) -> Response<Body> {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == file.etag || t.trim() == "*")
        });
    let gzip = file.gzip.filter(|_| accepts_gzip(req));
    let mut response = if fresh {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::Binary(gzip.unwrap_or(file.body).to_vec()))
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.mime));
    headers.insert(header::ETAG, HeaderValue::from_static(file.etag));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip.is_some() && !fresh {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    // Vite names everything under assets/ by its content hash.
    let caching = if file.path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(caching));
    hardening(headers);
    response
}

fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn hardening(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    _platform: Arc<Platform>,
    config: ConsoleConfig,
) -> Result<impl platform::runtime::Handler> {
    let console = Arc::new(Console::new(&config));
    Ok(move |req: Request| {
        let console = console.clone();
        async move { console.serve(&req) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().uri(format!("https://api.example.com{path}"));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    fn console() -> Console {
        Console::new(&ConsoleConfig {
            media_origins: vec!["https://media.example.com".into()],
        })
    }

    fn asset_path() -> String {
        let file = FILES
            .iter()
            .find(|f| f.path.starts_with("assets/") && f.path.ends_with(".js"))
            .expect("the build has a script");
        format!("/console/{}", file.path)
    }

    #[test]
    fn index_gets_a_fresh_nonce_in_body_and_policy() {
        let console = console();
        let a = console.serve(&get("/console/", &[])).unwrap();
        let b = console.serve(&get("/console", &[])).unwrap();
        let policy = |r: &Response<Body>| {
            r.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned()
        };
        let body = |r: &Response<Body>| match r.body() {
            Body::Text(t) => t.clone(),
            _ => panic!("index.html is text"),
        };
        assert_ne!(policy(&a), policy(&b));
        let nonce = policy(&a)
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_owned();
        assert_eq!(nonce.len(), 24);
        assert!(body(&a).contains(&format!("nonce=\"{nonce}\"")));
        assert!(!body(&a).contains(NONCE_PLACEHOLDER));
        assert_eq!(a.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(policy(&a).contains("script-src 'self';"));
        assert!(policy(&a).contains("connect-src 'self' https://media.example.com;"));
        assert!(policy(&a).contains("frame-ancestors 'none'"));
    }

    #[test]
    fn hashed_assets_are_immutable_gzipped_and_revalidate() {
        let console = console();
        let path = asset_path();
        let plain = console.serve(&get(&path, &[])).unwrap();
        assert_eq!(plain.status(), 200);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(
            plain.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let zipped = console
            .serve(&get(&path, &[("accept-encoding", "br, gzip")]))
            .unwrap();
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip");
        let refused = console
            .serve(&get(&path, &[("accept-encoding", "gzip;q=0")]))
            .unwrap();
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
        let etag = plain.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = console
            .serve(&get(&path, &[("if-none-match", &etag)]))
            .unwrap();
        assert_eq!(again.status(), 304);
    }

    #[test]
    fn unknown_paths_and_methods_are_404() {
        let console = console();
        for path in [
            "/console/assets/nope.js",
            "/console/../Cargo.toml",
            "/consoles",
            "/console/%2e%2e/x",
        ] {
            let err = console.serve(&get(path, &[])).unwrap_err();
            assert!(matches!(err, Error::NotFound(_)), "{path}");
        }
        let post = http::Request::builder()
            .method(Method::POST)
            .uri("https://api.example.com/console/")
            .body(Body::Empty)
            .unwrap();
        assert!(matches!(
            console.serve(&post).unwrap_err(),
            Error::NotFound(_)
        ));
    }

    #[test]
    fn media_origins_come_from_the_upload_settings() {
        let vars = [
            ("MEDIA_BUCKET", "bx-media"),
            ("AWS_REGION", "ap-east-1"),
            ("MEDIA_BASE_URL", "https://media.example.com/files/"),
        ];
        let env = platform::config::Env::from_map(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let config: ConsoleConfig = env.section().unwrap();
        assert_eq!(
            config.media_origins,
            [
                "https://media.example.com",
                "https://bx-media.s3.ap-east-1.amazonaws.com"
            ]
        );
    }
}
