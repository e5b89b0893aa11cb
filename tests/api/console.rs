//! The admin console's files through the gateway, as a browser fetches them: the
//! page with its per-request Content-Security-Policy nonce, the hashed assets it
//! names (cached for a year, gzipped on request) and a JSON 404 for the rest. What
//! the app does in a browser is tests/console (Playwright).

use bianxian_e2e::{json, spawn_stack};

#[tokio::test]
async fn the_console_page_and_its_assets_are_served_with_strict_headers() {
    let stack = spawn_stack().await;
    let mut nonces = Vec::new();
    let mut script = String::new();
    for path in ["/console/", "/console"] {
        let page = stack.get(path).await;
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(page.headers()["cache-control"], "no-cache");
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let policy = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("default-src 'none'"), "{policy}");
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_owned();
        let html = page.text().await.unwrap();
        assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
        script = html
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page names its script")
            .to_owned();
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce per response");
    assert!(script.starts_with("/console/assets/"), "{script}");

    let asset = stack.get(&script).await;
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = asset.headers()["etag"].to_str().unwrap().to_owned();
    let plain = asset.bytes().await.unwrap();
    let zipped = stack
        .http
        .get(stack.url(&script))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert!(zipped.bytes().await.unwrap().len() * 2 < plain.len());
    let again = stack
        .http
        .get(stack.url(&script))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    for path in [
        "/console/assets/missing.js",
        "/console/../template.yaml",
        "/console/index.htm",
    ] {
        let missing = stack.get(path).await;
        assert_eq!(missing.status(), 404, "{path}");
        assert_eq!(json(missing).await["error"]["status"], 404);
    }
    let post = stack
        .http
        .post(stack.url("/console/"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
}
