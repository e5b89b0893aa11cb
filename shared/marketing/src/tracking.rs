//! Opens and clicks of campaign mail. When a campaign tracks (the default), its HTML
//! gets a 1×1 image at `/t/o/{token}` and every `http(s)` link in it (but the
//! unsubscribe and preferences links) goes through `/t/c/{token}`. A token is
//! signed ([`crate::links`]) and carries the campaign, the subscriber and, for a
//! click, the URL written in the mail: the redirect goes only where a signed token
//! says, so it is never an open redirect, and nothing is stored to send a mail.
//!
//! An open fetched by a machine is recorded but flagged, and left out of the open
//! rate: Apple Mail Privacy Protection fetches every image on delivery with the bare
//! user agent `Mozilla/5.0`, and mail security scanners announce themselves. (Gmail's
//! and Yahoo's image proxies fetch when a person opens the mail: those count.)

use platform::error::{Error, Result};
use tokio_postgres::types::Type;
use url::Url;

use crate::links::{LinkKey, Tracked};

/// User agents of machines that fetch images nobody looked at.
const MACHINES: [&str; 8] = [
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "trendmicro",
    "bot",
    "crawler",
    "spider",
];

/// Whether an open with this user agent was a machine's.
pub fn machine_open(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent.map(str::trim) else {
        return true;
    };
    if agent.is_empty() || agent == "Mozilla/5.0" {
        return true;
    }
    let agent = agent.to_ascii_lowercase();
    MACHINES.iter().any(|m| agent.contains(m))
}

/// What rewriting a recipient's HTML needs.
pub struct Rewrite<'a> {
    pub key: &'a LinkKey,
    /// `API_URL`: where `/t/…` is served.
    pub api_url: &'a Url,
    pub campaign: &'a str,
    pub subscriber: &'a str,
    /// Links left as they are (the unsubscribe and preferences links).
    pub keep: &'a [&'a str],
}

fn unescape(href: &str) -> String {
    href.replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
}

impl Rewrite<'_> {
    fn url(&self, path: &str, tracked: &Tracked) -> Result<String> {
        self.api_url
            .join(&format!("{path}{}", self.key.sign_tracked(tracked)))
            .map(String::from)
            .map_err(Error::internal)
    }

    /// `html` with its links tracked and the open pixel before `</body>` (or at
    /// the end).
    pub fn apply(&self, html: &str) -> Result<String> {
        let mut out = String::with_capacity(html.len() + 512);
        let mut rest = html;
        while let Some(at) = rest.find("href=\"") {
            let start = at + "href=\"".len();
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find('"').unwrap_or(rest.len());
            let href = &rest[..end];
            let url = unescape(href);
            let tracked = (url.starts_with("https://") || url.starts_with("http://"))
                && !self.keep.contains(&url.as_str());
            if tracked {
                let click = Tracked {
                    campaign: self.campaign.to_owned(),
                    subscriber: self.subscriber.to_owned(),
                    url: Some(url),
                };
                out.push_str(&self.url("t/c/", &click)?);
            } else {
                out.push_str(href);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        let open = Tracked {
            campaign: self.campaign.to_owned(),
            subscriber: self.subscriber.to_owned(),
            url: None,
        };
        let pixel = format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;\">",
            self.url("t/o/", &open)?
        );
        match out.rfind("</body>") {
            Some(at) => out.insert_str(at, &pixel),
            None => out.push_str(&pixel),
        }
        Ok(out)
    }
}

/// Records an open or a click a token says happened (the campaign and subscriber
/// still existing); a click answers where to go.
pub async fn record(
    client: &impl platform::db::GenericClient,
    tracked: &Tracked,
    machine: bool,
) -> Result<()> {
    let kind = if tracked.url.is_some() {
        "click"
    } else {
        "open"
    };
    client
        .query_typed(
            "INSERT INTO tracking_events (campaign_id, subscriber_id, kind, url, machine)
             SELECT c.id, s.id, $3, $4, $5 FROM campaigns c, subscribers s
             WHERE c.document_id = $1 AND s.document_id = $2",
            &[
                (&tracked.campaign, Type::TEXT),
                (&tracked.subscriber, Type::TEXT),
                (&kind, Type::TEXT),
                (&tracked.url, Type::TEXT),
                (&machine, Type::BOOL),
            ],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use platform::secret::Secret;

    use super::*;

    #[test]
    fn links_are_tracked_but_ours_and_the_pixel_goes_before_body_ends() {
        let key = LinkKey::new(Secret::new("a test link signing key of 32+ chars"));
        let api = Url::parse("https://api.example.com/").unwrap();
        let unsubscribe = "https://api.example.com/newsletter/unsubscribe?token=x";
        let rewrite = Rewrite {
            key: &key,
            api_url: &api,
            campaign: "c1",
            subscriber: "s1",
            keep: &[unsubscribe],
        };
        let html = format!(
            "<body><a href=\"https://example.com/a?x=1&amp;y=2\">a</a> <a href=\"mailto:x@y.z\">m</a> <a href=\"{unsubscribe}\">u</a></body>"
        );
        let out = rewrite.apply(&html).unwrap();
        assert!(!out.contains("https://example.com/a"), "{out}");
        assert!(out.contains("href=\"https://api.example.com/t/c/"));
        assert!(out.contains("href=\"mailto:x@y.z\""));
        assert!(out.contains(&format!("href=\"{unsubscribe}\"")));
        assert!(out.contains("<img src=\"https://api.example.com/t/o/"));
        assert!(out.ends_with("</body>"));
        let token = out
            .split("/t/c/")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let click = key.verify_tracked(token).unwrap();
        assert_eq!(click.url.as_deref(), Some("https://example.com/a?x=1&y=2"));
    }

    #[test]
    fn machine_opens_are_told_apart() {
        assert!(machine_open(Some("Mozilla/5.0")));
        assert!(machine_open(None));
        assert!(machine_open(Some("Mozilla/5.0 (compatible; Barracuda)")));
        assert!(!machine_open(Some(
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
        )));
        assert!(!machine_open(Some(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
        )));
    }
}
