//! WeChat Pay v3's signature scheme, both ways. We sign each request with the
//! merchant key in an `Authorization` header; WeChat Pay signs each answer and
//! notification with its platform key and names that key by serial in
//! `Wechatpay-Serial`: a platform certificate's serial, or in public-key mode the
//! id of the published public key (`PUB_KEY_ID_…`). Every signed message is a few
//! lines, each ended by `\n`; the timestamp bounds replays.

use http::HeaderMap;
use rand::{Rng, distr::Alphanumeric};

use crate::crypto::{Certificate, RsaSigner, RsaVerifier};

/// The `Authorization` scheme of API v3 (RSA keys of 2048 bits, SHA-256).
pub const SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a signed timestamp may be from our clock, either way: WeChat Pay's own
/// bound for our requests, applied to its answers and notifications too.
pub const TOLERANCE_SECS: i64 = 300;
/// What names a public key rather than a certificate in `Wechatpay-Serial`.
pub const PUBLIC_KEY_ID_PREFIX: &str = "PUB_KEY_ID_";

pub const TIMESTAMP_HEADER: &str = "wechatpay-timestamp";
pub const NONCE_HEADER: &str = "wechatpay-nonce";
pub const SIGNATURE_HEADER: &str = "wechatpay-signature";
pub const SERIAL_HEADER: &str = "wechatpay-serial";

/// A signed message: every part followed by `\n`.
pub fn message(parts: &[&[u8]]) -> Vec<u8> {
    let mut message = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for part in parts {
        message.extend_from_slice(part);
        message.push(b'\n');
    }
    message
}

/// A random string of 32 letters and digits, the nonce of a signature.
pub fn nonce() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// What our request's signature covers: method, path with query, timestamp, nonce
/// and body (empty for a GET).
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    message(&[
        method.as_bytes(),
        path_and_query.as_bytes(),
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ])
}

/// The fields of an `Authorization: WECHATPAY2-SHA256-RSA2048 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub mch_id: String,
    pub nonce: String,
    pub timestamp: i64,
    /// The serial of the merchant certificate whose key signed.
    pub serial_no: String,
    pub signature: String,
}

impl Authorization {
    /// Reads a header value; `None` unless it has the scheme and all five fields.
    pub fn parse(header: &str) -> Option<Self> {
        let fields = header.strip_prefix(SCHEME)?.strip_prefix(' ')?;
        let (mut mch_id, mut nonce, mut timestamp, mut serial_no, mut signature) =
            (None, None, None, None, None);
        for field in fields.split(',') {
            let (name, value) = field.trim().split_once('=')?;
            let value = value.strip_prefix('"')?.strip_suffix('"')?.to_owned();
            let slot = match name {
                "mchid" => &mut mch_id,
                "nonce_str" => &mut nonce,
                "timestamp" => &mut timestamp,
                "serial_no" => &mut serial_no,
                "signature" => &mut signature,
                _ => continue,
            };
            *slot = Some(value);
        }
        Some(Self {
            mch_id: mch_id?,
            nonce: nonce?,
            timestamp: timestamp?.parse().ok()?,
            serial_no: serial_no?,
            signature: signature?,
        })
    }

    /// Whether `key` signed this request.
    pub fn verify(
        &self,
        key: &RsaVerifier,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> bool {
        let message = request_message(method, path_and_query, self.timestamp, &self.nonce, body);
        key.verify_base64(&message, &self.signature)
    }
}

impl std::fmt::Display for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            r#"{SCHEME} mchid="{}",nonce_str="{}",timestamp="{}",serial_no="{}",signature="{}""#,
            self.mch_id, self.nonce, self.timestamp, self.serial_no, self.signature
        )
    }
}

/// The `Authorization` header of a request, signed now with the merchant key.
pub fn authorization(
    key: &RsaSigner,
    mch_id: &str,
    serial_no: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: i64,
) -> String {
    let nonce = nonce();
    let message = request_message(method, path_and_query, now, &nonce, body);
    Authorization {
        mch_id: mch_id.to_owned(),
        signature: key.sign_base64(&message),
        nonce,
        timestamp: now,
        serial_no: serial_no.to_owned(),
    }
    .to_string()
}

/// The `Wechatpay-*` headers WeChat Pay puts on an answer or a notification whose
/// body is `body`, signed with its platform `key` named by `serial`: what the local
/// simulator and tests send.
pub fn signed_headers(
    key: &RsaSigner,
    serial: &str,
    now: i64,
    body: &[u8],
) -> [(&'static str, String); 4] {
    let nonce = nonce();
    let signature = key.sign_base64(&message(&[
        now.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ]));
    [
        (TIMESTAMP_HEADER, now.to_string()),
        (NONCE_HEADER, nonce),
        (SIGNATURE_HEADER, signature),
        (SERIAL_HEADER, serial.to_owned()),
    ]
}

/// WeChat Pay's public key in public-key mode, with the id it is named by.
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// `PUB_KEY_ID_…`.
    pub id: String,
    pub key: RsaVerifier,
}

/// Everything that can verify WeChat Pay: platform certificates by serial, and the
/// public key by its id. Both may be set while a merchant moves from one to the other,
/// when WeChat Pay signs with either.
#[derive(Debug, Clone, Default)]
pub struct PlatformKeys {
    pub certificates: Vec<Certificate>,
    pub public_key: Option<PublicKey>,
}

/// Why a signed answer or notification was not taken as WeChat Pay's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the timestamp is more than {TOLERANCE_SECS} s from our clock")]
    Stale,
    #[error("no platform key named `{0}` is configured (or its certificate expired)")]
    UnknownSerial(String),
    #[error("the signature does not verify")]
    Mismatch,
}

impl PlatformKeys {
    /// The key named by `serial`, if we have it and (a certificate's) still valid at `now`.
    pub fn verifier(&self, serial: &str, now: i64) -> Option<&RsaVerifier> {
        if serial.starts_with(PUBLIC_KEY_ID_PREFIX) {
            return self
                .public_key
                .as_ref()
                .filter(|key| key.id == serial)
                .map(|key| &key.key);
        }
        self.certificates
            .iter()
            .find(|cert| {
                cert.serial.eq_ignore_ascii_case(serial)
                    && i64::try_from(cert.not_after).is_ok_and(|end| end >= now)
            })
            .map(|cert| &cert.key)
    }

    /// Checks the `Wechatpay-*` headers over `body`: a fresh timestamp, a known
    /// serial and its key's signature over `timestamp\nnonce\nbody\n`.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), VerifyError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .ok_or(VerifyError::Missing(name))
        };
        let timestamp = header(TIMESTAMP_HEADER)?;
        let nonce = header(NONCE_HEADER)?;
        let signature = header(SIGNATURE_HEADER)?;
        let serial = header(SERIAL_HEADER)?;
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|ts| ts.abs_diff(now) <= TOLERANCE_SECS.unsigned_abs());
        if !fresh {
            return Err(VerifyError::Stale);
        }
        let key = self
            .verifier(serial, now)
            .ok_or_else(|| VerifyError::UnknownSerial(serial.to_owned()))?;
        let signed = message(&[timestamp.as_bytes(), nonce.as_bytes(), body]);
        if key.verify_base64(&signed, signature) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}
