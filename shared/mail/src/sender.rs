//! `Sender`: the SES side of the pipeline, the platform outbox's [`Job`] for
//! `mail_outbox`. It renders a claimed job into raw MIME and sends it through SES v2;
//! claiming, recording and sweeping are the outbox's.

use aws_sdk_sesv2::{
    primitives::Blob,
    types::{Destination, EmailContent, MessageTag, RawMessage},
};
use identity::email::Email;
use platform::db::Client;
use platform::{
    Platform,
    config::AwsConfig,
    error::Result,
    outbox::{Consumer, Failure, Job, RowId},
};
use tokio::sync::OnceCell;
use tracing::Instrument;

use crate::{MailConfig, Mailbox, mime::Message, outbox, template};

/// The consumer the mail-send function runs: the mail queue and SES.
pub type MailConsumer = Consumer<Sender>;

#[derive(Debug)]
pub struct Sender {
    config: MailConfig,
    aws: AwsConfig,
    ses: OnceCell<aws_sdk_sesv2::Client>,
}

impl Sender {
    /// Connects nowhere; the SES client is built on first use.
    pub fn new(platform: &Platform, config: MailConfig) -> Self {
        Self {
            config,
            aws: platform.config.aws.clone(),
            ses: OnceCell::new(),
        }
    }

    /// The consumer of the mail queue: what mail-send runs and the local stack mounts.
    pub fn consumer(platform: &Platform, config: MailConfig) -> MailConsumer {
        Consumer::new(crate::queue(platform, &config), Self::new(platform, config))
    }

    pub fn from(&self) -> &Mailbox {
        &self.config.from
    }

    pub async fn ses(&self) -> &aws_sdk_sesv2::Client {
        self.ses
            .get_or_init(|| async {
                let sdk = platform::aws::sdk_config(&self.aws).await;
                let mut ses = aws_sdk_sesv2::config::Builder::from(&sdk);
                if let Some(region) = &self.config.ses_region {
                    ses = ses.region(aws_sdk_sesv2::config::Region::new(region.clone()));
                }
                aws_sdk_sesv2::Client::from_conf(ses.build())
            })
            .await
    }

    /// Sends a raw MIME message to `to` through SES with the configuration set and
    /// these message tags (which SES events carry back): SES's message id, or why
    /// not, retryable unless the message itself is wrong.
    pub async fn send_raw(
        &self,
        to: &Email,
        raw: Vec<u8>,
        tags: &[(&str, &str)],
    ) -> Result<String, Failure<String>> {
        let raw = RawMessage::builder()
            .data(Blob::new(raw))
            .build()
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let tags = tags
            .iter()
            .map(|(name, value)| MessageTag::builder().name(*name).value(*value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let result = self
            .ses()
            .await
            .send_email()
            .from_email_address(self.config.from.address.as_str())
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.config.configuration_set.clone())
            .set_email_tags((!tags.is_empty()).then_some(tags))
            .send()
            .instrument(platform::telemetry::aws_span("SES", "SendEmail"))
            .await;
        match result {
            Ok(output) => Ok(output.message_id().unwrap_or_default().to_owned()),
            Err(err) => {
                // The message itself is wrong: sending it again cannot help. Everything
                // else (throttling, paused sending, timeouts) may pass.
                let permanent = err
                    .as_service_error()
                    .is_some_and(|e| e.is_message_rejected() || e.is_bad_request_exception());
                let message = aws_sdk_sesv2::error::DisplayErrorContext(err).to_string();
                Err(if permanent {
                    Failure::permanent(message)
                } else {
                    Failure::retryable(message)
                })
            }
        }
    }

    /// Renders the job into raw MIME; an error here will not go away on retry.
    fn compose(&self, job: &outbox::Job) -> Result<(Email, Vec<u8>), String> {
        let to = Email::parse(&job.recipient).map_err(|e| format!("recipient: {e}"))?;
        let rendered =
            template::render(&job.template, &job.variables).map_err(|e| e.to_string())?;
        // Marketing mail sent through this outbox (an automation's step) carries
        // RFC 8058's one-click unsubscribe, like a campaign's.
        let list_unsubscribe = job
            .variables
            .get("list_unsubscribe")
            .and_then(serde_json::Value::as_str)
            .map(|url| format!("<{url}>"));
        let headers: Vec<(&str, &str)> = match &list_unsubscribe {
            Some(value) => vec![
                ("List-Unsubscribe", value),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
            None => Vec::new(),
        };
        let raw = Message {
            from: &self.config.from,
            to: &to,
            subject: &rendered.subject,
            text: &rendered.text,
            html: &rendered.html,
            headers: &headers,
        }
        .to_raw()
        .map_err(|e| e.to_string())?;
        Ok((to, raw))
    }
}

impl Job for Sender {
    type Row = outbox::Job;
    /// SES's message id.
    type Receipt = String;

    async fn load(&self, client: &Client, id: RowId) -> Result<outbox::Job> {
        outbox::load(client, id).await
    }

    async fn send(&self, _id: RowId, job: &outbox::Job) -> Result<String, Failure<String>> {
        let (to, raw) = self.compose(job).map_err(Failure::permanent)?;
        self.send_raw(&to, raw, &[]).await
    }
}
