//! Signing in with WeChat and linking it, as a phone's WeChat browser goes through
//! it: our API sends the browser to WeChat's web authorisation (the simulator),
//! which sends it back to our callback with a code, and the callback signs in or
//! links and sends the browser on to the site. Every hop is followed by hand, with
//! the cookies each side set, so each is checked.

use std::collections::HashMap;

use bianxian_e2e::{TestStack, json};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    checkout::{checkout, entitlements, pay_at_simulator, poll, shop},
    content_api::member_token,
};

/// One phone: its WeChat user (the simulator's cookie) and our cookies.
struct Phone {
    http: reqwest::Client,
    /// Cookies by name, for our API and for WeChat.
    api: HashMap<String, String>,
    wechat: HashMap<String, String>,
}

/// Where a flow ended: the last response's status and Location.
struct Hop {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

impl Phone {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            api: HashMap::new(),
            wechat: HashMap::new(),
        }
    }

    fn session(&self) -> Option<&str> {
        self.api
            .get("bx_session")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// One GET with this phone's cookies for `url`'s side, keeping what it sets.
    async fn get(&mut self, stack: &TestStack, url: &str) -> Hop {
        let ours = url.starts_with(&stack.base_url);
        let jar = if ours {
            &mut self.api
        } else {
            &mut self.wechat
        };
        let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut request = self.http.request(Method::GET, url);
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie.join("; "));
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            jar.insert(name.to_owned(), value.to_owned());
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.json().await.unwrap_or(Value::Null);
        Hop {
            status,
            location,
            body,
        }
    }

    /// Starts at our `path` and follows redirects through WeChat and back until one
    /// leaves both (the site) or something answers without redirecting.
    async fn follow(&mut self, stack: &TestStack, path: &str) -> Hop {
        let mut url = stack.url(path);
        loop {
            let hop = self.get(stack, &url).await;
            match &hop.location {
                Some(next)
                    if hop.status == StatusCode::FOUND
                        && (next.starts_with(&stack.base_url)
                            || next.starts_with(&stack.wechat_sim)) =>
                {
                    url = next.clone();
                }
                _ => return hop,
            }
        }
    }

    /// Signs in with WeChat: the member the session belongs to.
    async fn sign_in(&mut self, stack: &TestStack) -> Value {
        let hop = self.follow(stack, "/auth/wechat/login?next=/pricing").await;
        assert_eq!(hop.status, StatusCode::FOUND, "{}", hop.body);
        let site = stack.platform.config.site_url.join("pricing").unwrap();
        assert_eq!(hop.location.as_deref(), Some(site.as_str()));
        me(stack, self.session().expect("a session cookie")).await
    }
}

/// The `state` parameter of a URL.
fn state_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

async fn me(stack: &TestStack, session: &str) -> Value {
    let response = stack
        .authed(Method::GET, "/auth/me", session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await["data"].clone()
}

async fn identities(stack: &TestStack, session: &str) -> Value {
    let response = stack
        .authed(Method::GET, "/auth/me/identities", session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await["data"].clone()
}

#[tokio::test]
async fn a_reader_signs_in_with_wechat_alone_and_pays_inside_wechat() {
    let (stack, monthly, _) = shop().await;
    let mut phone = Phone::new();

    // The first hop: to WeChat, with the link WeChat matches strictly.
    let first = phone.get(&stack, &stack.url("/auth/wechat/login")).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let authorize = first.location.unwrap();
    let prefix = format!(
        "{}/connect/oauth2/authorize?appid=wxd678efh567hg6787&redirect_uri=",
        stack.wechat_sim
    );
    assert!(authorize.starts_with(&prefix), "{authorize}");
    assert!(
        authorize.contains("&response_type=code&scope=snsapi_base&state=")
            && authorize.ends_with("#wechat_redirect"),
        "{authorize}"
    );

    let member = phone.sign_in(&stack).await;
    assert_eq!(member["email"], Value::Null);
    assert_eq!(member["displayName"], "微信用户");
    let session = phone.session().unwrap().to_owned();
    let linked = identities(&stack, &session).await;
    assert_eq!(linked.as_array().unwrap().len(), 1);
    assert_eq!(linked[0]["provider"], "wechat");

    // The same WeChat user again is the same member.
    let mut again = Phone::new();
    again.wechat = phone.wechat.clone();
    assert_eq!(
        again.sign_in(&stack).await["documentId"],
        member["documentId"]
    );

    // JSAPI pays with their openid; there is no mailbox for a receipt, and none is needed.
    let jsapi = json!({ "price": monthly, "channel": "wechat", "method": "jsapi" });
    let (status, started) = checkout(&stack, &session, None, &jsapi).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let payment = &started["data"]["payment"];
    assert_eq!(payment["appId"], "wxd678efh567hg6787");
    assert!(
        payment["package"]
            .as_str()
            .unwrap()
            .starts_with("prepay_id=")
    );
    assert!(!payment["paySign"].as_str().unwrap().is_empty());
    let order = started["data"]["order"]["documentId"].as_str().unwrap();
    assert!(
        pay_at_simulator(&stack.wechat_sim, order)
            .await
            .is_success()
    );
    assert_eq!(poll(&stack, &session, order).await["status"], "paid");
    let member_id: i64 = stack
        .db
        .client()
        .await
        .query_one(
            "SELECT id FROM members WHERE document_id = $1",
            &[&member["documentId"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(entitlements(&stack, member_id).await, 1);

    // WeChat is this account's only way in: it cannot be unlinked.
    let unlink = stack
        .authed(Method::DELETE, "/auth/me/wechat", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), StatusCode::CONFLICT);

    // Deleting the account needs no password it never had, and forgets the
    // identity: the same WeChat user signing in later is a new member.
    let deleted = stack
        .authed(Method::DELETE, "/auth/me", &session)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let mut later = Phone::new();
    later.wechat = phone.wechat.clone();
    assert_ne!(
        later.sign_in(&stack).await["documentId"],
        member["documentId"]
    );
}

#[tokio::test]
async fn a_member_with_an_email_links_wechat_explicitly_and_can_unlink_it() {
    let (stack, monthly, _) = shop().await;
    let (token, _) = member_token(&stack).await;
    // JSAPI before linking: told to link, and no order is made.
    let jsapi = json!({ "price": monthly, "channel": "wechat", "method": "jsapi" });
    let (status, refused) = checkout(&stack, &token, None, &jsapi).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(
        refused["error"]["details"]["errors"][0]["path"][0],
        "openid"
    );

    // Linking needs a signed-in member.
    let mut stranger = Phone::new();
    let hop = stranger.get(&stack, &stack.url("/auth/wechat/link")).await;
    assert_eq!(hop.status, StatusCode::UNAUTHORIZED);

    let mut phone = Phone::new();
    phone.api.insert("bx_session".into(), token.clone());
    let hop = phone
        .follow(&stack, "/auth/wechat/link?next=/account")
        .await;
    assert_eq!(hop.status, StatusCode::FOUND, "{}", hop.body);
    let account = stack.platform.config.site_url.join("account").unwrap();
    assert_eq!(hop.location.as_deref(), Some(account.as_str()));
    assert_eq!(
        phone.session(),
        Some(token.as_str()),
        "linking keeps the session"
    );
    assert_eq!(
        identities(&stack, &token).await.as_array().unwrap().len(),
        1
    );
    // Linking the same WeChat again changes nothing.
    let hop = phone.follow(&stack, "/auth/wechat/link").await;
    assert_eq!(hop.status, StatusCode::FOUND, "{}", hop.body);

    let (status, started) = checkout(&stack, &token, None, &jsapi).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");

    // Signing in with that WeChat is signing in as this member.
    let mut signing_in = Phone::new();
    signing_in.wechat = phone.wechat.clone();
    let member = signing_in.sign_in(&stack).await;
    assert!(member["email"].as_str().unwrap().starts_with("reader-"));

    // Another WeChat user's identity that already has a member cannot be linked here.
    let mut other = Phone::new();
    other.sign_in(&stack).await;
    other.api.insert("bx_session".into(), token.clone());
    let hop = other.follow(&stack, "/auth/wechat/link").await;
    assert_eq!(hop.status, StatusCode::CONFLICT, "{}", hop.body);

    let unlink = |session: String| {
        let stack = &stack;
        async move {
            stack
                .authed(Method::DELETE, "/auth/me/wechat", &session)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(unlink(token.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(unlink(token.clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(identities(&stack, &token).await, json!([]));
}

#[tokio::test]
async fn a_callback_completes_only_the_flow_its_browser_started_once() {
    let stack = bianxian_e2e::spawn_stack().await;
    let mut phone = Phone::new();
    let start = phone.get(&stack, &stack.url("/auth/wechat/login")).await;
    let back = phone.get(&stack, &start.location.unwrap()).await;
    let callback = back.location.unwrap();
    assert!(callback.starts_with(&stack.url("/auth/wechat/callback?")));

    // Another browser (without this flow's cookie) cannot use it: login CSRF.
    let mut attacker_victim = Phone::new();
    let hop = attacker_victim.get(&stack, &callback).await;
    assert_eq!(hop.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        hop.body["error"]["details"]["errors"][0]["path"][0],
        "state"
    );

    let done = phone.get(&stack, &callback).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert!(phone.session().is_some());
    assert_eq!(
        phone.api.get("bx_wechat_state").map(String::as_str),
        Some("")
    );

    // Replayed: the flow is used up (its cookie put back by hand).
    let state = state_of(&callback);
    phone.api.insert("bx_wechat_state".into(), state.clone());
    let replay = phone.get(&stack, &callback).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);

    // A code WeChat does not know, on a fresh flow.
    let mut fresh = Phone::new();
    let start = fresh.get(&stack, &stack.url("/auth/wechat/login")).await;
    let state = state_of(&start.location.unwrap());
    let forged = fresh
        .get(
            &stack,
            &stack.url(&format!("/auth/wechat/callback?code=made-up&state={state}")),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        forged.body["error"]["details"]["errors"][0]["path"][0],
        "code"
    );

    // Malformed callbacks and hostile `next`s are 400s with the error envelope.
    for path in [
        "/auth/wechat/callback",
        "/auth/wechat/callback?state=abc",
        "/auth/wechat/login?next=https://evil.example/",
        "/auth/wechat/login?next=//evil.example/",
        "/auth/wechat/login?next=/%5Cevil.example",
    ] {
        let hop = Phone::new().get(&stack, &stack.url(path)).await;
        assert_eq!(hop.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(hop.body["error"]["status"], 400, "{path}");
    }
}
