//! The public newsletter endpoints: the lists the site offers, subscribing (double
//! opt-in where a list asks for it; the same answer whatever the address), the
//! confirmation, one-click unsubscribing (RFC 8058) and preferences. Links in mail
//! carry signed tokens (`marketing::links`), so none of this needs a session.
//!
//! Campaign mail's opens (`/t/o/{token}`, a pixel) and clicks (`/t/c/{token}`, a
//! redirect only to the URL its signed token names) are recorded here too.
//!
//! `/newsletter/unsubscribe` is the `List-Unsubscribe` URL of marketing mail: a GET
//! (which link scanners prefetch) only shows a page asking to confirm; a POST, with
//! no cookie or sign-in, unsubscribes at once and answers a page, never a redirect.

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use identity::route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of};
use lambda_http::{Body, Response};
use mail::MailConfig;
use marketing::{
    MarketingConfig,
    links::LinkKey,
    lists::{self, PublicList},
    newsletter::{self, Changed, Preferences, PreferencesInput, SubscribeRequest},
    tracking,
};
use platform::{
    Error, Platform, Result,
    http::{client_ip, data, parse_json, path_param, query_param, raw_body},
    outbox::Queue,
    ratelimit::Policy,
};
use schemars::json_schema;
use serde::Deserialize;
use serde_json::json;

const MAX_BODY: usize = 16 * 1024;
/// RFC 8058's body is `List-Unsubscribe=One-Click`.
const MAX_UNSUBSCRIBE_BODY: usize = 4 * 1024;

const SUBSCRIBE_PER_IP: Policy = Policy {
    name: "newsletter-ip",
    limit: 20,
    window: std::time::Duration::from_secs(3600),
};
/// Confirmation mails to one address: nobody can flood a mailbox with them. Past it
/// the subscription is still recorded and the answer is the same, without a mail.
const SUBSCRIBE_PER_ADDRESS: Policy = Policy {
    name: "newsletter-address",
    limit: 3,
    window: std::time::Duration::from_secs(3600),
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// The function's state: what its handlers share.
pub struct Newsletter {
    platform: Arc<Platform>,
    mail: Queue,
    links: Option<LinkKey>,
}

type Answer = Result<Response<Body>>;

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Newsletter>] = &[
    identity::route!(GET "/newsletter/lists", Guard::Public, Newsletter::lists,
        Doc::new("The lists the site offers", schema_of::<Vec<PublicList>>)),
    identity::route!(POST "/newsletter/subscribe", Guard::Public, Newsletter::subscribe,
        Doc::new("Subscribe an address to public lists (every one when none is named); a double opt-in list mails a confirmation link first. The same answer whatever the address", accepted_schema)
            .body(schema_of::<SubscribeRequest>).status(202)),
    identity::route!(POST "/newsletter/confirm", Guard::Public, Newsletter::confirm,
        Doc::new("Confirm the subscriptions a mailed link is for: the lists confirmed (none when already done)", schema_of::<Changed>)
            .body(schema_of::<TokenBody>)),
    identity::route!(GET "/newsletter/unsubscribe", Guard::Public, Newsletter::unsubscribe_page,
        Doc::new("The page of an unsubscribe link: asks to confirm, changes nothing (scanners prefetch links)", html_schema)
            .query(token_query)
            .text(200, "text/html", html_schema)),
    identity::route!(POST "/newsletter/unsubscribe", Guard::Public, Newsletter::unsubscribe,
        Doc::new("RFC 8058 one-click unsubscribe: at once, without a cookie or sign-in; from the link's list, or from every list (which suppresses the address)", html_schema)
            .query(token_query)
            .form(one_click_schema)
            .text(200, "text/html", html_schema)),
    identity::route!(GET "/t/o/{token}", Guard::Public, Newsletter::opened,
        Doc::new("A campaign mail's open pixel: records the open (a machine's flagged) and answers a 1×1 GIF", binary_schema)
            .text(200, "image/gif", binary_schema)),
    identity::route!(GET "/t/c/{token}", Guard::Public, Newsletter::clicked,
        Doc::redirect("A tracked link of a campaign mail: records the click and goes on to the URL its signed token names (only there)")),
    identity::route!(GET "/newsletter/preferences", Guard::Public, Newsletter::preferences,
        Doc::new("The lists a preferences link's subscriber may be on, and which they are on", schema_of::<Preferences>)
            .query(token_query)),
    identity::route!(PUT "/newsletter/preferences", Guard::Public, Newsletter::set_preferences,
        Doc::new("Be on exactly these of the offered lists (confirmed at once: the link came to the mailbox)", schema_of::<Preferences>)
            .query(token_query)
            .body(schema_of::<PreferencesInput>)),
];

impl Newsletter {
    fn links(&self) -> Result<&LinkKey> {
        self.links
            .as_ref()
            .ok_or_else(|| Error::NotFound("the newsletter is not available".into()))
    }

    fn token(call: &Call) -> Result<&str> {
        query_param(&call.req, "token")
            .ok_or_else(|| Error::invalid("token", "this link is invalid or has expired"))
    }

    async fn lists(self: Arc<Self>, _: Call) -> Answer {
        let client = self.platform.db.client().await?;
        Ok(data(StatusCode::OK, lists::public(&**client).await?))
    }

    async fn subscribe(self: Arc<Self>, call: Call) -> Answer {
        let key = self.links()?;
        let limiter = &self.platform.limiter;
        limiter
            .hit(SUBSCRIBE_PER_IP, &client_ip(&call.req))
            .await?
            .check()?;
        let request: SubscribeRequest = parse_json(&call.req, MAX_BODY)?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let job = match newsletter::subscribe(&tx, &request).await? {
            Some(pending)
                if limiter
                    .hit(SUBSCRIBE_PER_ADDRESS, request.email.as_str())
                    .await?
                    .allowed =>
            {
                let site = &self.platform.config.site_url;
                Some(newsletter::confirmation(&tx, key, site, &request.email, pending).await?)
            }
            _ => None,
        };
        tx.commit().await?;
        // Not held while SQS answers: other requests may need it.
        drop(client);
        if let Some(job) = job {
            self.mail.dispatch(&[job]).await;
        }
        Ok(data(StatusCode::ACCEPTED, json!({ "ok": true })))
    }

    async fn confirm(self: Arc<Self>, call: Call) -> Answer {
        let key = self.links()?;
        let body: TokenBody = parse_json(&call.req, MAX_BODY)?;
        let client = self.platform.db.client().await?;
        let changed = newsletter::confirm(&**client, key, &body.token).await?;
        Ok(data(StatusCode::OK, changed))
    }

    async fn unsubscribe_page(self: Arc<Self>, call: Call) -> Answer {
        let key = self.links()?;
        let token = Self::token(&call)?;
        let client = self.platform.db.client().await?;
        let scope = newsletter::unsubscribe_scope(&**client, key, token).await?;
        let what = match scope {
            Some(list) => format!("「{}」", escape(&list)),
            None => "AI变现之路的所有邮件".to_owned(),
        };
        // The form posts back to this very URL: the token rides in its query.
        Ok(html(format!(
            "<h1>退订</h1><p>确定不再接收{what}吗？</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">确认退订</button></form>"
        )))
    }

    async fn unsubscribe(self: Arc<Self>, call: Call) -> Answer {
        let key = self.links()?;
        if raw_body(&call.req).len() > MAX_UNSUBSCRIBE_BODY {
            return Err(Error::PayloadTooLarge {
                limit: MAX_UNSUBSCRIBE_BODY,
            });
        }
        let token = Self::token(&call)?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        newsletter::unsubscribe(&tx, key, token).await?;
        tx.commit().await?;
        Ok(html(
            "<h1>已退订</h1><p>你不会再收到这些邮件。</p>".to_owned(),
        ))
    }

    async fn opened(self: Arc<Self>, call: Call) -> Answer {
        let tracked = self
            .links()?
            .verify_tracked(path_param(&call.req, "token")?)?;
        if tracked.url.is_some() {
            return Err(Error::invalid("token", "this link is invalid"));
        }
        let machine = tracking::machine_open(user_agent(&call));
        let client = self.platform.db.client().await?;
        tracking::record(&**client, &tracked, machine).await?;
        let mut response = Response::new(Body::Binary(PIXEL.to_vec()));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    async fn clicked(self: Arc<Self>, call: Call) -> Answer {
        let tracked = self
            .links()?
            .verify_tracked(path_param(&call.req, "token")?)?;
        let Some(url) = tracked.url.as_deref() else {
            return Err(Error::invalid("token", "this link is invalid"));
        };
        let location = HeaderValue::from_str(url)
            .map_err(|_| Error::invalid("token", "this link is invalid"))?;
        let machine = tracking::machine_open(user_agent(&call));
        let client = self.platform.db.client().await?;
        tracking::record(&**client, &tracked, machine).await?;
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::FOUND;
        let headers = response.headers_mut();
        headers.insert(header::LOCATION, location);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    async fn preferences(self: Arc<Self>, call: Call) -> Answer {
        let key = self.links()?;
        let token = Self::token(&call)?;
        let client = self.platform.db.client().await?;
        let preferences = newsletter::preferences(&**client, key, token).await?;
        Ok(data(StatusCode::OK, preferences))
    }

    async fn set_preferences(self: Arc<Self>, call: Call) -> Answer {
        let key = self.links()?;
        let token = Self::token(&call)?;
        let input: PreferencesInput = parse_json(&call.req, MAX_BODY)?;
        let mut client = self.platform.db.client().await?;
        let tx = client.transaction().await?;
        let preferences = newsletter::set_preferences(&tx, key, token, &input).await?;
        tx.commit().await?;
        Ok(data(StatusCode::OK, preferences))
    }
}

/// A transparent 1×1 GIF.
const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn user_agent(call: &Call) -> Option<&str> {
    call.req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

/// Text as HTML content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small page of ours: no script, no outside resource, never cached.
fn html(main: String) -> Response<Body> {
    let page = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>AI变现之路</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1f2329}}\
         button{{background:#3370ff;color:#fff;border:0;border-radius:6px;padding:.6rem 1.5rem;font-size:1rem}}</style>\
         </head><body><main>{main}</main></body></html>"
    );
    let mut response = Response::new(Body::Text(page));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

fn accepted_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "required": ["ok"], "properties": { "ok": { "const": true } } })
}

fn binary_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "binary" })
}

fn html_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string" })
}

fn token_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["token"],
        "properties": { "token": { "type": "string", "description": "the signed token of a mailed link" } },
    })
}

fn one_click_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": { "List-Unsubscribe": { "const": "One-Click" } },
    })
}

/// The settings this function reads besides the core.
pub type Settings = (MailConfig, MarketingConfig);

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    (mail, marketing): Settings,
) -> Result<impl platform::runtime::Handler> {
    let newsletter = Newsletter {
        mail: mail::queue(&platform, &mail),
        links: marketing.link_key,
        platform: platform.clone(),
    };
    Router::new(&platform, newsletter, ROUTES)
}
