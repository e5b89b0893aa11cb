//! Email addresses, parsed once at the edge.
//!
//! The check is deliberately practical rather than the full RFC 5322 grammar: ASCII
//! local parts of "atext" characters and dots, and a domain of at least two DNS labels
//! (internationalised domains arrive as punycode from browsers). Addresses are stored
//! lower-cased, so one mailbox cannot register twice by changing case.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEmail(&'static str);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let address = raw.trim().to_ascii_lowercase();
        if address.len() > 254 {
            return Err(InvalidEmail("email address is too long"));
        }
        let (local, domain) = address
            .rsplit_once('@')
            .ok_or(InvalidEmail("email address needs an @"))?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
        if !local_ok {
            return Err(InvalidEmail(
                "the part before @ is not a valid mailbox name",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !domain_ok {
            return Err(InvalidEmail("the part after @ is not a valid domain"));
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl schemars::JsonSchema for Email {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Email".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "email", "maxLength": 254 })
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_them() {
        for (raw, parsed) in [
            ("Reader@Example.COM", "reader@example.com"),
            (" a.b+tag@mail.example.cn ", "a.b+tag@mail.example.cn"),
            ("x@xn--fiqs8s.cn", "x@xn--fiqs8s.cn"),
        ] {
            assert_eq!(Email::parse(raw).unwrap().as_str(), parsed);
        }
    }

    #[test]
    fn rejects_what_is_not_a_mailbox() {
        for raw in [
            "",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@localhost",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example..com",
            "<script>@example.com",
            "读者@example.com",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(250)),
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn deserialising_parses() {
        let ok: Email = serde_json::from_str(r#""A@B.co""#).unwrap();
        assert_eq!(ok.as_str(), "a@b.co");
        assert!(serde_json::from_str::<Email>(r#""nope""#).is_err());
    }
}
