//! Timestamped HMAC signatures, Stripe's scheme: a header
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The timestamp inside
//! the signed text lets a receiver refuse replays of old deliveries. Outgoing content
//! webhooks sign with it, and Stripe's webhooks are verified with it.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// How far a receiver lets a signature's time stray from its own clock (Stripe's
/// default too).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

type HmacSha256 = Hmac<Sha256>;

fn signed(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let signature = signed(secret.expose(), timestamp, body)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(signature))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is not `t=<seconds>,v1=<hex>`")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches the body")]
    Mismatch,
}

/// Checks a delivery as its receiver got it: `header` is the signature header,
/// `body` the raw bytes, `now` the receiver's clock in unix seconds. Any `v1` may
/// match (more than one may be sent while a secret changes); the comparison is
/// constant-time.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if timestamp.is_none() => {
                timestamp = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?);
            }
            Some(("v1", value)) => {
                signatures.push(hex::decode(value).map_err(|_| VerifyError::Malformed)?);
            }
            // Other schemes may be added later; receivers skip what they do not know.
            Some((key, _)) if key != "t" => {}
            _ => return Err(VerifyError::Malformed),
        }
    }
    let (Some(timestamp), false) = (timestamp, signatures.is_empty()) else {
        return Err(VerifyError::Malformed);
    };
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(VerifyError::Stale);
    }
    let expected = signed(secret, timestamp, body);
    if signatures
        .iter()
        .any(|signature| expected.clone().verify_slice(signature).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_760_000_000;
    const BODY: &[u8] = br#"{"event":"entry.publish","entry":{"id":1}}"#;

    fn secret() -> Secret {
        Secret::new("whsec_test")
    }

    #[test]
    fn a_signed_body_verifies() {
        let header = sign(&secret(), NOW, BODY);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(
            verify(
                secret().expose(),
                &header,
                BODY,
                NOW + 10,
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign(&secret(), NOW, BODY);
        let tampered = br#"{"event":"entry.publish","entry":{"id":2}}"#;
        assert_eq!(
            verify(secret().expose(), &header, tampered, NOW, DEFAULT_TOLERANCE),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn the_wrong_secret_is_refused() {
        let header = sign(&secret(), NOW, BODY);
        let other = Secret::new("whsec_other");
        assert_eq!(
            verify(other.expose(), &header, BODY, NOW, DEFAULT_TOLERANCE),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused() {
        let header = sign(&secret(), NOW, BODY);
        let late = NOW + 301;
        assert_eq!(
            verify(secret().expose(), &header, BODY, late, DEFAULT_TOLERANCE),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(
                secret().expose(),
                &header,
                BODY,
                NOW - 301,
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::Stale)
        );
        // Moving the timestamp forward breaks the signature, which covers it.
        let replayed = header.replace(&format!("t={NOW}"), &format!("t={late}"));
        assert_eq!(
            verify(secret().expose(), &replayed, BODY, late, DEFAULT_TOLERANCE),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(secret().expose(), header, BODY, 1, DEFAULT_TOLERANCE),
                Err(VerifyError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn any_listed_signature_may_match() {
        let good = sign(&secret(), NOW, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t={NOW},v1={},v1={v1},v0=legacy", "00".repeat(32));
        assert_eq!(
            verify(secret().expose(), &header, BODY, NOW, DEFAULT_TOLERANCE),
            Ok(())
        );
    }
}
