//! The mail section of the configuration (`MAIL_FROM`, `MAIL_QUEUE_URL`, `SES_REGION`,
//! `MAIL_CONFIGURATION_SET`),
//! read through the platform's `Vars` with the core settings.

use platform::config::{Section, Vars};
use url::Url;

use crate::Mailbox;

/// The `From` of mail when `MAIL_FROM` is not set: fine for moto, refused by SES.
const DEFAULT_MAIL_FROM: &str = "AI变现之路 <no-reply@example.com>";

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `MAIL_FROM`: `Name <address>` or a bare address; the address (or its domain)
    /// must be a verified SES identity.
    pub from: Mailbox,
    /// `MAIL_QUEUE_URL`: the SQS queue the mail-send function consumes. Optional so a
    /// stack without AWS or moto (unit tests, a test run without moto) still starts:
    /// without it jobs wait in the outbox. template.yaml always sets it.
    pub queue_url: Option<Url>,
    /// `SES_REGION`: where SES sends from, when that is not the functions' region
    /// (SES sandbox status and verified identities are per region).
    pub ses_region: Option<String>,
    /// `MAIL_CONFIGURATION_SET`: the SES configuration set every mail is sent with,
    /// whose events (bounces, complaints, ...) reach the ses-events function.
    pub configuration_set: Option<String>,
}

impl Section for MailConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        let from_raw = vars
            .optional("MAIL_FROM")
            .unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
        let from = Mailbox::parse(&from_raw).unwrap_or_else(|e| {
            vars.problem("MAIL_FROM", &format!("is not a mailbox ({e})"));
            Mailbox::parse(DEFAULT_MAIL_FROM).expect("valid default")
        });
        Self {
            from,
            queue_url: vars.http_url("MAIL_QUEUE_URL", "must be an http(s) SQS queue URL"),
            ses_region: vars.optional("SES_REGION").map(|r| r.trim().to_owned()),
            configuration_set: vars
                .optional("MAIL_CONFIGURATION_SET")
                .map(|c| c.trim().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use platform::config::{ConfigError, Env};

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<MailConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_map(pairs.into_iter().collect()).section()
    }

    #[test]
    fn defaults_work_locally() {
        let mail = load(&[]).unwrap();
        assert_eq!(mail.from.address.as_str(), "no-reply@example.com");
        assert_eq!(mail.from.name.as_deref(), Some("AI变现之路"));
        assert!(mail.queue_url.is_none());
    }

    #[test]
    fn settings_are_parsed() {
        let mail = load(&[
            ("MAIL_FROM", "\"AI 变现\" <Hello@Example.com>"),
            (
                "MAIL_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/mail",
            ),
        ])
        .unwrap();
        assert_eq!(mail.from.name.as_deref(), Some("AI 变现"));
        assert_eq!(mail.from.address.as_str(), "hello@example.com");
        assert!(mail.queue_url.is_some());
    }

    #[test]
    fn problems_are_named() {
        let err = load(&[
            ("MAIL_FROM", "Someone <not an address>"),
            ("MAIL_QUEUE_URL", "queue"),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.to_string().contains("MAIL_FROM"), "{err}");
        assert!(err.to_string().contains("MAIL_QUEUE_URL"), "{err}");
    }
}
