//! A mailbox with an optional display name: the `From` of our mail.

use std::fmt;

use identity::email::Email;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Shown by mail clients instead of the address; may be Chinese.
    pub name: Option<String>,
    pub address: Email,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidMailbox(String);

impl Mailbox {
    /// Parses `Name <address>`, `"Name" <address>` or a bare `address`.
    pub fn parse(raw: &str) -> Result<Self, InvalidMailbox> {
        let raw = raw.trim();
        let (name, address) = match raw.strip_suffix('>').and_then(|r| r.rsplit_once('<')) {
            Some((name, address)) => (name.trim(), address),
            None => ("", raw),
        };
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(name)
            .trim();
        if name.chars().any(char::is_control) {
            return Err(InvalidMailbox(
                "the display name has control characters".into(),
            ));
        }
        let address = Email::parse(address).map_err(|e| InvalidMailbox(e.to_string()))?;
        Ok(Self {
            name: (!name.is_empty()).then(|| name.to_owned()),
            address,
        })
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.address),
            None => write!(f, "{}", self.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let with_name = Mailbox::parse("AI变现之路 <No-Reply@Example.com>").unwrap();
        assert_eq!(with_name.name.as_deref(), Some("AI变现之路"));
        assert_eq!(with_name.address.as_str(), "no-reply@example.com");
        let quoted = Mailbox::parse("\"Team, AI\" <team@example.com>").unwrap();
        assert_eq!(quoted.name.as_deref(), Some("Team, AI"));
        let bare = Mailbox::parse(" team@example.com ").unwrap();
        assert_eq!(bare.name, None);
        assert_eq!(bare.to_string(), "team@example.com");
    }

    #[test]
    fn rejects_broken_mailboxes() {
        for raw in [
            "",
            "Name <>",
            "Name <not-an-address>",
            "Evil\r\nBcc: x@example.com <a@example.com>",
        ] {
            assert!(Mailbox::parse(raw).is_err(), "{raw:?}");
        }
    }
}
