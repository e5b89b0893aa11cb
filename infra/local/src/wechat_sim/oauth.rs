//! WeChat's web authorisation (网页授权), as `identity::wechat` uses it: the page a
//! browser is sent to (`open.weixin.qq.com/connect/oauth2/authorize`), which sends
//! it straight back to the `redirect_uri` with a `code` (scope `snsapi_base` asks
//! the user nothing), and the server-to-server trade of that code for the openid
//! (`api.weixin.qq.com/sns/oauth2/access_token`), answered as WeChat does: HTTP
//! 200 with the grant or with `errcode`/`errmsg`.
//!
//! Who "the WeChat user" is, is the browser's: a `wx_sim_openid` cookie this
//! server sets on a browser's first visit, so one browser is one WeChat user, as on
//! a phone. Codes are single-use and live five minutes, like WeChat's.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use url::Url;

use super::{State, html_response, json_response, random_text};
use crate::payment_sims::escape;

const USER_COOKIE: &str = "wx_sim_openid";
const CODE_LIFETIME: Duration = Duration::from_secs(300);

struct Code {
    openid: String,
    scope: String,
    issued: Instant,
    used: bool,
}

#[derive(Default)]
pub(super) struct Codes(Mutex<HashMap<String, Code>>);

impl Codes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Code>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn params(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// WeChat's own error page for a malformed authorisation link.
fn refused(message: &str) -> Response<Full<Bytes>> {
    html_response(
        StatusCode::BAD_REQUEST,
        format!("<p>{}</p>", escape(message)),
    )
}

fn browser_user(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == USER_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|openid| !openid.is_empty() && openid.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `GET /connect/oauth2/authorize`: checks the link as WeChat does, then sends the
/// browser back with a fresh code for its user.
pub(super) fn authorize(
    state: &State,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let params = params(query);
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    if get("appid") != state.config.app_id {
        return refused("appid 参数错误 (invalid appid)");
    }
    if get("response_type") != "code" {
        return refused("response_type 参数错误");
    }
    let scope = get("scope");
    if !matches!(scope, "snsapi_base" | "snsapi_userinfo") {
        return refused("scope 参数错误 (10005)");
    }
    let back = match Url::parse(get("redirect_uri")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return refused("redirect_uri 参数错误 (10003)"),
    };
    let state_param = get("state");
    if state_param.len() > 128 || !state_param.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return refused("state 参数错误");
    }
    let known = browser_user(headers);
    let openid = known
        .clone()
        .unwrap_or_else(|| format!("o{}", random_text(27)));
    let code = random_text(32);
    state.codes.lock().insert(
        code.clone(),
        Code {
            openid: openid.clone(),
            scope: scope.to_owned(),
            issued: Instant::now(),
            used: false,
        },
    );
    let mut back = back;
    back.query_pairs_mut().append_pair("code", &code);
    if !state_param.is_empty() {
        back.query_pairs_mut().append_pair("state", state_param);
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(location) = HeaderValue::from_str(back.as_str()) {
        headers.insert(LOCATION, location);
    }
    if known.is_none()
        && let Ok(cookie) =
            HeaderValue::from_str(&format!("{USER_COOKIE}={openid}; Path=/; HttpOnly"))
    {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

fn wechat_error(errcode: i64, errmsg: &str) -> Response<Full<Bytes>> {
    json_response(
        StatusCode::OK,
        &json!({ "errcode": errcode, "errmsg": errmsg }),
    )
}

/// `GET /sns/oauth2/access_token`: a code, once, for its openid.
pub(super) fn access_token(state: &State, query: Option<&str>) -> Response<Full<Bytes>> {
    let params = params(query);
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    if get("grant_type") != "authorization_code" {
        return wechat_error(40002, "invalid grant_type");
    }
    if get("appid") != state.config.app_id {
        return wechat_error(40013, "invalid appid");
    }
    if get("secret") != state.config.app_secret {
        return wechat_error(40125, "invalid appsecret");
    }
    let mut codes = state.codes.lock();
    let Some(code) = codes.get_mut(get("code")) else {
        return wechat_error(40029, "invalid code");
    };
    if code.issued.elapsed() > CODE_LIFETIME {
        return wechat_error(40029, "invalid code");
    }
    if code.used {
        return wechat_error(40163, "code been used");
    }
    code.used = true;
    let grant: Value = json!({
        "access_token": random_text(64),
        "expires_in": 7200,
        "refresh_token": random_text(64),
        "openid": code.openid,
        "scope": code.scope,
    });
    json_response(StatusCode::OK, &grant)
}
