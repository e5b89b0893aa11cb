//! Passwords: a length policy at the edge, argon2id for storage.
//!
//! Parameters follow OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane), which
//! costs tens of milliseconds: hashing runs on the blocking pool so it never stalls the
//! async runtime. Verifying against a fixed dummy hash when an account does not exist
//! keeps login timing the same for known and unknown emails.

use std::{fmt, sync::LazyLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use platform::error::{Error, Result};

pub const MIN_CHARS: usize = 8;
/// An upper bound keeps a 1 MB "password" from becoming a hashing DoS.
pub const MAX_CHARS: usize = 128;

/// A password that meets the policy. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl Password {
    /// Checks a new password against the policy (`field` names it in the 400).
    pub fn parse_new(raw: &str, field: &str) -> Result<Self> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(Error::invalid(
                field,
                format!("password must be at least {MIN_CHARS} characters"),
            ));
        }
        if chars > MAX_CHARS {
            return Err(Error::invalid(
                field,
                format!("password must be at most {MAX_CHARS} characters"),
            ));
        }
        if raw.trim().is_empty() || raw.chars().collect::<std::collections::HashSet<_>>().len() < 3
        {
            return Err(Error::invalid(field, "password is too weak"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password offered at login: only the length bound applies, so the
    /// policy can change without locking anyone out.
    pub fn parse_attempt(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.chars().count() > MAX_CHARS {
            return Err(Error::Unauthorized("invalid email or password".into()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub async fn hash(password: &Password) -> Result<String> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        let salt: [u8; 16] = rand::random();
        hasher()
            .hash_password_with_salt(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::internal(format!("argon2: {e}")))
    })
    .await
    .map_err(Error::internal)?
}

/// Hash of a random password nobody knows, verified against when an account is missing.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt: [u8; 16] = rand::random();
    let secret: [u8; 16] = rand::random();
    hasher()
        .hash_password_with_salt(&secret, &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Checks a password against a stored hash (or, with `None`, burns the same time).
pub async fn verify(password: &Password, stored: Option<&str>) -> bool {
    let password = password.clone();
    let known = stored.is_some();
    let stored = stored.map_or_else(|| DUMMY_HASH.clone(), str::to_owned);
    tokio::task::spawn_blocking(move || {
        hasher()
            .verify_password(password.expose().as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
        && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds_length_and_variety() {
        assert!(Password::parse_new("correct horse", "password").is_ok());
        assert!(Password::parse_new("变现之路变现之路", "password").is_ok());
        for weak in ["short", "aaaaaaaaaaaa", "        ", &"x1!".repeat(50)] {
            let err = Password::parse_new(weak, "password").unwrap_err();
            assert_eq!(err.status(), 400, "{weak:?}");
        }
        assert!(
            !format!("{:?}", Password::parse_new("correct horse", "p").unwrap()).contains("horse")
        );
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let password = Password::parse_new("correct horse battery", "password").unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify(&password, Some(&stored)).await);
        let wrong = Password::parse_attempt("correct horse battery!").unwrap();
        assert!(!verify(&wrong, Some(&stored)).await);
        assert!(!verify(&password, None).await);
        assert_ne!(stored, hash(&password).await.unwrap(), "salts differ");
    }
}
