//! The links marketing mail carries (confirm a subscription, unsubscribe, manage
//! preferences) are signed, not stored: every mail of a campaign needs its own, for
//! as long as the mail sits in an inbox, and a stored token would have to be kept
//! in the clear to be put into the next mail. A link names its purpose, the
//! subscriber, the list it is about (or every list) and, for confirmations, when it
//! ends; HMAC-SHA256 under `LINK_SIGNING_KEY` (truncated to 128 bits, enough
//! against forgery and shorter in a URL) makes it unforgeable, and nothing in it is
//! secret. Tracking tokens ([`Tracked`]: the campaign, the subscriber and, for a
//! click, the URL) are sealed the same way.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use platform::{
    error::{Error, Result},
    secret::Secret,
};

const TAG_BYTES: usize = 16;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirms a double opt-in subscription.
    Confirm,
    /// Unsubscribes, at once, from one list or every list.
    Unsubscribe,
    /// Shows and changes which lists the subscriber is on.
    Preferences,
}

impl Purpose {
    fn letter(self) -> char {
        match self {
            Purpose::Confirm => 'c',
            Purpose::Unsubscribe => 'u',
            Purpose::Preferences => 'p',
        }
    }
}

/// What a verified link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub purpose: Purpose,
    /// The subscriber's documentId.
    pub subscriber: String,
    /// The list's documentId; `None` means every list.
    pub list: Option<String>,
    /// Unix seconds after which it no longer works; `None`: it always does.
    pub expires: Option<i64>,
}

/// The payload prefix of tracking tokens: never a [`Link`]'s (a letter and a dot).
const TRACKED: &str = "t:";

/// An open (no `url`) or a click (to `url`) of a campaign mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    /// The campaign's documentId.
    #[serde(rename = "c")]
    pub campaign: String,
    /// The subscriber's documentId.
    #[serde(rename = "s")]
    pub subscriber: String,
    /// Where a click goes: the URL written in the mail.
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `LINK_SIGNING_KEY`.
#[derive(Clone)]
pub struct LinkKey(Secret);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

fn is_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl LinkKey {
    pub fn new(secret: Secret) -> Self {
        Self(secret)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.0.expose().as_bytes())
            .expect("HMAC takes a key of any length")
    }

    /// `payload` and its tag, for a URL.
    fn seal(&self, payload: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    /// The payload of a token this key sealed, if it is one.
    fn open(&self, token: &str, max_len: usize) -> Option<Vec<u8>> {
        if token.len() > max_len {
            return None;
        }
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != TAG_BYTES {
            return None;
        }
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).ok()?;
        Some(payload)
    }

    /// The token of `link`, for a URL's query.
    pub fn sign(&self, link: &Link) -> String {
        let payload = format!(
            "{}.{}.{}.{}",
            link.purpose.letter(),
            link.subscriber,
            link.list.as_deref().unwrap_or("-"),
            link.expires.unwrap_or(0)
        );
        self.seal(payload.as_bytes())
    }

    /// The token of a tracked open or click.
    pub fn sign_tracked(&self, tracked: &Tracked) -> String {
        let json = serde_json::to_string(tracked).unwrap_or_default();
        self.seal(format!("{TRACKED}{json}").as_bytes())
    }

    /// The open or click a token this key signed stands for.
    pub fn verify_tracked(&self, token: &str) -> Result<Tracked> {
        let invalid = || Error::invalid("token", "this link is invalid");
        let payload = self.open(token, 4096).ok_or_else(invalid)?;
        let json = payload
            .strip_prefix(TRACKED.as_bytes())
            .ok_or_else(invalid)?;
        let tracked: Tracked = serde_json::from_slice(json).map_err(|_| invalid())?;
        let url_ok = tracked
            .url
            .as_deref()
            .is_none_or(|u| Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")));
        if !is_id(&tracked.campaign) || !is_id(&tracked.subscriber) || !url_ok {
            return Err(invalid());
        }
        Ok(tracked)
    }

    /// The link `token` is, if this key signed it for `purpose` and it has not
    /// ended at `now` (unix seconds).
    pub fn verify(&self, token: &str, purpose: Purpose, now: i64) -> Result<Link> {
        let invalid = || Error::invalid("token", "this link is invalid or has expired");
        let payload = self.open(token, 512).ok_or_else(invalid)?;
        let payload = String::from_utf8(payload).map_err(|_| invalid())?;
        let parts: Vec<&str> = payload.split('.').collect();
        let [letter, subscriber, list, expires] = parts.as_slice() else {
            return Err(invalid());
        };
        if *letter != purpose.letter().to_string() || !is_id(subscriber) {
            return Err(invalid());
        }
        let list = match *list {
            "-" => None,
            id if is_id(id) => Some(id.to_owned()),
            _ => return Err(invalid()),
        };
        let expires = match expires.parse::<i64>().map_err(|_| invalid())? {
            0 => None,
            at if at >= now => Some(at),
            _ => return Err(invalid()),
        };
        Ok(Link {
            purpose,
            subscriber: (*subscriber).to_owned(),
            list,
            expires,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::new(Secret::new("a test link signing key of 32+ chars"))
    }

    fn unsubscribe(list: Option<&str>) -> Link {
        Link {
            purpose: Purpose::Unsubscribe,
            subscriber: "0f3c".into(),
            list: list.map(str::to_owned),
            expires: None,
        }
    }

    #[test]
    fn a_signed_link_verifies_as_itself_for_its_purpose_only() {
        let link = unsubscribe(Some("a1b2"));
        let token = key().sign(&link);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(key().verify(&token, Purpose::Unsubscribe, 0).unwrap(), link);
        assert!(key().verify(&token, Purpose::Confirm, 0).is_err());
        let every = unsubscribe(None);
        assert_eq!(
            key()
                .verify(&key().sign(&every), Purpose::Unsubscribe, 0)
                .unwrap(),
            every
        );
    }

    #[test]
    fn tampered_foreign_or_ended_links_are_refused() {
        let token = key().sign(&unsubscribe(Some("a1b2")));
        let (payload, tag) = token.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode("u.0f3c.ffff.0");
        assert!(
            key()
                .verify(&format!("{other}.{tag}"), Purpose::Unsubscribe, 0)
                .is_err()
        );
        let foreign = LinkKey::new(Secret::new("another key, also of 32+ characters"));
        assert!(foreign.verify(&token, Purpose::Unsubscribe, 0).is_err());
        assert!(key().verify(payload, Purpose::Unsubscribe, 0).is_err());
        assert!(key().verify("", Purpose::Unsubscribe, 0).is_err());
        assert!(key().verify("..", Purpose::Unsubscribe, 0).is_err());

        let confirm = Link {
            purpose: Purpose::Confirm,
            subscriber: "0f3c".into(),
            list: None,
            expires: Some(1_000),
        };
        let token = key().sign(&confirm);
        assert!(key().verify(&token, Purpose::Confirm, 1_000).is_ok());
        assert!(key().verify(&token, Purpose::Confirm, 1_001).is_err());
    }
}
