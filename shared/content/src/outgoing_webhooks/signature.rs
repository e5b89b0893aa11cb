//! Signing secrets of outgoing webhooks. A webhook's secret is `whsec_` +
//! hex(HMAC-SHA256(WEBHOOK_SIGNING_KEY, salt)): the database holds only the salt, so
//! it alone cannot sign. A delivery carries `X-Bianxian-Signature` in Stripe's scheme
//! (`platform::signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`), and [`verify`] is what a receiver runs.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use platform::secret::Secret;
pub use platform::signature::{DEFAULT_TOLERANCE, VerifyError, sign, verify};

/// The prefix of every signing secret, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "whsec_";
pub const SIGNATURE_HEADER: &str = "x-bianxian-signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The signing secret of the webhook with `salt`.
pub fn derive_secret(signing_key: &Secret, salt: &str) -> Secret {
    let mut mac = mac(signing_key.expose().as_bytes());
    mac.update(salt.as_bytes());
    Secret::new(format!(
        "{SECRET_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// A fresh random salt: a new webhook, or a rotated secret.
pub fn new_salt() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_derived_per_salt_and_key() {
        let key = Secret::new("k".repeat(32));
        let secret = derive_secret(&key, "salt");
        assert!(secret.expose().starts_with(SECRET_PREFIX));
        assert_eq!(secret.expose().len(), SECRET_PREFIX.len() + 64);
        assert_eq!(derive_secret(&key, "salt"), secret);
        assert_ne!(derive_secret(&key, "other salt"), secret);
        assert_ne!(derive_secret(&Secret::new("j".repeat(32)), "salt"), secret);
        assert_ne!(new_salt(), new_salt());
    }

    #[test]
    fn a_derived_secret_signs_what_receivers_verify() {
        let secret = derive_secret(&Secret::new("k".repeat(32)), "salt");
        let header = sign(&secret, 1_760_000_000, b"{}");
        assert_eq!(
            verify(
                secret.expose(),
                &header,
                b"{}",
                1_760_000_000,
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
    }
}
