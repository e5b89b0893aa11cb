//! WeChat's web authorisation (网页授权, OAuth 2.0 with scope `snsapi_base`): inside
//! WeChat's browser, a page sends the reader to WeChat, which sends them back to
//! `/auth/wechat/callback` with a single-use `code` that our server trades for their
//! openid. The openid is how WeChat Pay's JSAPI names the payer, and an identity a
//! member can sign in with ([`crate::identities`]).
//!
//! Each flow has a `state`: 256 random bits, in hex (WeChat allows only letters and
//! digits), kept in Redis (hashed) for ten minutes with what the flow is for, and
//! set in a cookie for the callback's path, so a callback completes only the flow
//! its own browser started, once (login CSRF: someone else's code cannot sign this
//! browser in as them).

use std::time::Duration;
use tracing::Instrument;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use platform::{
    cmd,
    config::{Section, Vars},
    error::{Error, Result},
    secret::Secret,
    upstash::Upstash,
};

use crate::session::token_hash;

pub const DEFAULT_AUTHORIZE_URL: &str = "https://open.weixin.qq.com/connect/oauth2/authorize";
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com/";
/// The cookie binding a flow to the browser that started it.
pub const STATE_COOKIE: &str = "bx_wechat_state";
/// How long a reader has to come back from WeChat.
pub const STATE_TTL: Duration = Duration::from_secs(600);
/// The longest `next` path kept for the way back.
const MAX_NEXT_BYTES: usize = 512;

/// `WECHAT_APP_ID` (the official account whose web authorisation this is; WeChat
/// Pay's JSAPI needs openids of `WECHATPAY_APP_ID`, normally the same app),
/// `WECHAT_APP_SECRET`, and, for a local simulator, `WECHAT_AUTHORIZE_URL` and
/// `WECHAT_API_BASE`. Off without `WECHAT_APP_ID`.
#[derive(Debug, Clone, Default)]
pub struct WechatLoginConfig {
    pub app: Option<App>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub app_id: String,
    pub app_secret: Secret,
    pub authorize_url: Url,
    pub api_base: Url,
}

impl Section for WechatLoginConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let Some(app_id) = vars.optional("WECHAT_APP_ID") else {
            return Self::default();
        };
        let app_id = app_id.trim().to_owned();
        if !app_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            vars.problem("WECHAT_APP_ID", "must be the app id (wx…)");
        }
        let app_secret = vars
            .required("WECHAT_APP_SECRET")
            .map(|s| Secret::new(s.trim()));
        let authorize_url = vars
            .http_url("WECHAT_AUTHORIZE_URL", "must be an http(s) URL")
            .unwrap_or_else(|| Url::parse(DEFAULT_AUTHORIZE_URL).expect("a valid constant URL"));
        let api_base = vars
            .base_url("WECHAT_API_BASE")
            .unwrap_or_else(|| Url::parse(DEFAULT_API_BASE).expect("a valid constant URL"));
        Self {
            app: app_secret.map(|app_secret| App {
                app_id,
                app_secret,
                authorize_url,
                api_base,
            }),
        }
    }
}

/// What a flow is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "camelCase")]
pub enum Intent {
    /// Sign in as the member with this WeChat identity, or as a new one.
    SignIn,
    /// Link the WeChat identity to the member (by documentId) who asked.
    Link { member: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    #[serde(flatten)]
    intent: Intent,
    next: String,
}

/// A flow that came back: what it was for, where the reader goes next (a path of
/// the site), and who WeChat says they are.
#[derive(Debug)]
pub struct Returned {
    pub intent: Intent,
    pub next: String,
    pub openid: String,
}

/// WeChat's web authorisation for one app, with the flows in Redis.
#[derive(Debug, Clone)]
pub struct WechatLogin {
    app: App,
    redis: Upstash,
    key_prefix: String,
    http: reqwest::Client,
}

/// A flow to start: where to send the browser, and the cookie that binds it.
#[derive(Debug)]
pub struct Started {
    pub authorize_url: Url,
    pub state: Secret,
}

impl WechatLogin {
    pub fn new(app: App, redis: Upstash, key_prefix: &str) -> Result<Self> {
        platform::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            app,
            redis,
            key_prefix: key_prefix.to_owned(),
            http,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app.app_id
    }

    fn state_key(&self, state: &str) -> String {
        format!("{}wechat-state:{}", self.key_prefix, token_hash(state))
    }

    /// Starts a flow for `intent` that comes back to `callback` and then to the
    /// site's `next` (already checked by [`next_path`]).
    pub async fn start(&self, intent: Intent, next: String, callback: &Url) -> Result<Started> {
        let state = Secret::new(hex::encode(rand::random::<[u8; 32]>()));
        let pending = serde_json::to_string(&Pending { intent, next }).map_err(Error::internal)?;
        self.redis
            .cmd(cmd![
                "SET",
                self.state_key(state.expose()),
                pending,
                "EX",
                STATE_TTL.as_secs()
            ])
            .await?;
        // WeChat matches the authorise link strictly, parameters in this order.
        let mut url = self.app.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("appid", &self.app.app_id)
            .append_pair("redirect_uri", callback.as_str())
            .append_pair("response_type", "code")
            .append_pair("scope", "snsapi_base")
            .append_pair("state", state.expose());
        url.set_fragment(Some("wechat_redirect"));
        Ok(Started {
            authorize_url: url,
            state,
        })
    }

    /// Completes the flow `state` names, if this browser (`cookie`) started it and
    /// it is unused and unexpired, by trading `code` for the reader's openid.
    pub async fn finish(&self, state: &str, cookie: Option<&str>, code: &str) -> Result<Returned> {
        let invalid =
            || Error::invalid("state", "this sign-in has expired or was not started here");
        // Compared as hashes, so the time taken says nothing about the cookie.
        let bound = cookie.is_some_and(|c| token_hash(c) == token_hash(state));
        if state.is_empty() || state.len() > 128 || !bound {
            return Err(invalid());
        }
        if code.is_empty() || code.len() > 256 || !code.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid("code", "WeChat's code is missing"));
        }
        // Used up before the code is traded: a replayed callback finds nothing.
        let pending = match self
            .redis
            .cmd(cmd!["GETDEL", self.state_key(state)])
            .await?
        {
            Value::String(json) => {
                serde_json::from_str::<Pending>(&json).map_err(Error::internal)?
            }
            _ => return Err(invalid()),
        };
        let openid = self.openid(code).await?;
        Ok(Returned {
            intent: pending.intent,
            next: pending.next,
            openid,
        })
    }

    /// `GET /sns/oauth2/access_token`: the openid a code stands for. Its access
    /// token is not kept (`snsapi_base` reads nothing more).
    async fn openid(&self, code: &str) -> Result<String> {
        let mut url = self
            .app
            .api_base
            .join("sns/oauth2/access_token")
            .map_err(Error::internal)?;
        url.query_pairs_mut()
            .append_pair("appid", &self.app.app_id)
            .append_pair("secret", self.app.app_secret.expose())
            .append_pair("code", code)
            .append_pair("grant_type", "authorization_code");
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, "wechat: trading an authorisation code failed");
            Error::ServiceUnavailable("WeChat could not be reached; please try again".into())
        };
        let span = platform::telemetry::http_span(
            "GET",
            url.as_str(),
            platform::telemetry::UrlDetail::Path,
        );
        let response = self
            .http
            .get(url)
            .send()
            .instrument(span)
            .await
            // Without the URL: it carries the app secret.
            .map_err(|e| unavailable(&e.without_url()))?;
        if !response.status().is_success() {
            return Err(unavailable(&response.status()));
        }
        let grant: Grant = response
            .json()
            .await
            .map_err(|e| unavailable(&e.without_url()))?;
        grant.openid()
    }
}

/// WeChat's answer to a code: an openid, or `errcode` (always with HTTP 200).
#[derive(Debug, Deserialize)]
struct Grant {
    openid: Option<String>,
    #[serde(default)]
    is_snapshotuser: i64,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

impl Grant {
    fn openid(self) -> Result<String> {
        match self.errcode {
            0 => {}
            // An invalid, expired or used code: the reader's link, not our setup.
            40029 | 40163 | 41008 => {
                return Err(Error::invalid(
                    "code",
                    "WeChat did not accept this sign-in; please start again",
                ));
            }
            errcode => {
                tracing::error!(errcode, errmsg = %self.errmsg, "wechat: refused our app's authorisation request");
                return Err(Error::ServiceUnavailable(
                    "signing in with WeChat is not available right now".into(),
                ));
            }
        }
        // Snapshot pages (朋友圈快照) get a virtual openid that is nobody.
        if self.is_snapshotuser == 1 {
            return Err(Error::Forbidden(
                "open this page in WeChat to sign in with WeChat".into(),
            ));
        }
        match self.openid {
            Some(openid)
                if !openid.is_empty()
                    && openid.len() <= 64
                    && openid
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                Ok(openid)
            }
            _ => {
                tracing::error!("wechat: an authorisation answer without a usable openid");
                Err(Error::ServiceUnavailable(
                    "signing in with WeChat is not available right now".into(),
                ))
            }
        }
    }
}

/// A `next` parameter as a path of the site to come back to: absent means the
/// site's home; anything that is not a plain path (another origin, `//host`,
/// backslashes, control characters) is refused, so the flow is no open redirect.
pub fn next_path(raw: Option<&str>) -> Result<String> {
    let Some(raw) = raw else {
        return Ok(String::new());
    };
    let refused = || Error::invalid("next", "must be a path on this site, like /pricing");
    if raw.len() > MAX_NEXT_BYTES
        || !raw.starts_with('/')
        || raw.starts_with("//")
        || raw
            .bytes()
            .any(|b| b == b'\\' || b.is_ascii_control() || b == b' ')
    {
        return Err(refused());
    }
    Ok(raw.trim_start_matches('/').to_owned())
}

/// Where the browser goes when a flow ends: `next` under the site, on its origin.
pub fn return_url(site_url: &Url, next: &str) -> Result<Url> {
    let url = site_url.join(next).map_err(Error::internal)?;
    if url.origin() != site_url.origin() {
        return Err(Error::internal("a return path left the site"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(json: &str) -> Result<String> {
        serde_json::from_str::<Grant>(json).unwrap().openid()
    }

    #[test]
    fn an_answer_with_an_openid_names_the_reader() {
        let answer = r#"{"access_token":"AT","expires_in":7200,"refresh_token":"RT",
            "openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","scope":"snsapi_base"}"#;
        assert_eq!(grant(answer).unwrap(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    }

    #[test]
    fn a_used_or_invalid_code_is_the_readers_to_retry_and_other_errors_are_ours() {
        assert!(matches!(
            grant(r#"{"errcode":40163,"errmsg":"code been used"}"#),
            Err(Error::Validation { .. })
        ));
        assert!(matches!(
            grant(r#"{"errcode":40029,"errmsg":"invalid code"}"#),
            Err(Error::Validation { .. })
        ));
        assert!(matches!(
            grant(r#"{"errcode":40125,"errmsg":"invalid appsecret"}"#),
            Err(Error::ServiceUnavailable(_))
        ));
    }

    #[test]
    fn a_snapshot_pages_virtual_user_and_a_strange_openid_are_refused() {
        assert!(matches!(
            grant(r#"{"openid":"oVirtual","is_snapshotuser":1}"#),
            Err(Error::Forbidden(_))
        ));
        assert!(grant(r#"{"openid":"o<script>"}"#).is_err());
        assert!(grant(r#"{"scope":"snsapi_base"}"#).is_err());
    }

    #[test]
    fn next_is_a_path_of_the_site_and_nothing_else() {
        assert_eq!(next_path(None).unwrap(), "");
        assert_eq!(
            next_path(Some("/pricing?plan=1")).unwrap(),
            "pricing?plan=1"
        );
        for hostile in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "/a b",
        ] {
            assert!(next_path(Some(hostile)).is_err(), "{hostile}");
        }
        let site = Url::parse("https://www.example.com/base/").unwrap();
        assert_eq!(
            return_url(&site, &next_path(Some("/pricing")).unwrap())
                .unwrap()
                .as_str(),
            "https://www.example.com/base/pricing"
        );
    }
}
