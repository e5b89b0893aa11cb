//! Raw MIME messages for SES `SendEmail` with `Content.Raw`.
//!
//! Raw rather than SES's Simple content because only Raw carries our own headers
//! (`List-Unsubscribe` and `List-Unsubscribe-Post` for campaigns), and because the
//! message is then the same bytes in production and in the local emulator.
//!
//! The shape is fixed and deliberately plain: `multipart/alternative` with a
//! `text/plain` and a `text/html` part, both UTF-8 in base64 (7-bit clean whatever the
//! language, no line-length limits to trip over). Non-ASCII header text (a Chinese
//! subject or sender name) becomes RFC 2047 encoded-words short enough that every
//! header line stays within 78 characters. Nothing a caller passes can add a line
//! break to the header block: that is what header injection needs.

use base64::{Engine, engine::general_purpose::STANDARD};

use super::Mailbox;
use identity::email::Email;

/// RFC 5322's recommended line length; header lines are folded to fit.
const LINE: usize = 78;
/// The hard limit; an unfoldable header line longer than this is refused.
const MAX_LINE: usize = 998;
/// Bytes per RFC 2047 encoded-word: a multiple of 3 (no padding mid-text) that keeps
/// `Subject: =?UTF-8?B?…?=` within [`LINE`].
const WORD_BYTES: usize = 39;
/// Headers this module writes itself; extra headers cannot replace or add to them.
const RESERVED: &[&str] = &[
    "bcc",
    "cc",
    "content-transfer-encoding",
    "content-type",
    "date",
    "from",
    "message-id",
    "mime-version",
    "subject",
    "to",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    #[error("header name `{0}` is not allowed")]
    HeaderName(String),
    #[error("header `{0}` must be printable ASCII on one line")]
    HeaderValue(String),
}

/// One mail, ready to be turned into bytes.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub from: &'a Mailbox,
    pub to: &'a Email,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// Extra headers in order, e.g. `("List-Unsubscribe", "<https://…>")`.
    pub headers: &'a [(&'a str, &'a str)],
}

impl Message<'_> {
    /// The complete message with a fresh `Date` and `Message-ID`.
    pub fn to_raw(&self) -> Result<Vec<u8>, MimeError> {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let domain = self.from.address.as_str().rsplit_once('@');
        let message_id = format!("<{id}@{}>", domain.map_or("localhost", |(_, d)| d));
        let date = chrono::Utc::now().to_rfc2822();
        let boundary = format!("=_bx_{}", hex::encode(rand::random::<[u8; 12]>()));
        self.write(&date, &message_id, &boundary)
            .map(String::into_bytes)
    }

    fn write(&self, date: &str, message_id: &str, boundary: &str) -> Result<String, MimeError> {
        let mut out = String::new();
        header(&mut out, "Date", date)?;
        header_words(&mut out, "From", &mailbox(self.from))?;
        header(&mut out, "To", self.to.as_str())?;
        header_words(&mut out, "Subject", &text_words(&one_line(self.subject)))?;
        header(&mut out, "Message-ID", message_id)?;
        header(&mut out, "MIME-Version", "1.0")?;
        for (name, value) in self.headers {
            let valid_name = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
            if !valid_name {
                return Err(MimeError::HeaderName((*name).to_owned()));
            }
            header(&mut out, name, value)?;
        }
        header(
            &mut out,
            "Content-Type",
            &format!("multipart/alternative; boundary=\"{boundary}\""),
        )?;
        out.push_str("\r\n");
        for (content_type, body) in [("text/plain", self.text), ("text/html", self.html)] {
            out.push_str(&format!("--{boundary}\r\n"));
            out.push_str(&format!("Content-Type: {content_type}; charset=utf-8\r\n"));
            out.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            base64_lines(&mut out, &crlf(body));
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        Ok(out)
    }
}

/// A header from ASCII text, folded at spaces to fit [`LINE`].
fn header(out: &mut String, name: &str, value: &str) -> Result<(), MimeError> {
    if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        return Err(MimeError::HeaderValue(name.to_owned()));
    }
    let words: Vec<String> = value.split(' ').map(str::to_owned).collect();
    header_words(out, name, &words)
}

/// A header from words that may not be split: each line gets as many as fit, and
/// lines are joined with CRLF + space (folding whitespace).
fn header_words(out: &mut String, name: &str, words: &[String]) -> Result<(), MimeError> {
    let mut line = format!("{name}:");
    for word in words {
        if line.len() + 1 + word.len() > LINE && line.len() > name.len() + 1 {
            push_line(out, name, &line)?;
            line.clear();
        }
        line.push(' ');
        line.push_str(word);
    }
    push_line(out, name, &line)
}

fn push_line(out: &mut String, name: &str, line: &str) -> Result<(), MimeError> {
    if line.len() > MAX_LINE {
        return Err(MimeError::HeaderValue(name.to_owned()));
    }
    out.push_str(line);
    out.push_str("\r\n");
    Ok(())
}

/// Header text as words: plain ASCII words when that is safe, RFC 2047 otherwise.
fn text_words(text: &str) -> Vec<String> {
    let plain = text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) && !text.contains("=?");
    if plain {
        text.split(' ').map(str::to_owned).collect()
    } else {
        encoded_words(text)
    }
}

/// `=?UTF-8?B?…?=` words of at most [`WORD_BYTES`] bytes each, split between
/// characters (a decoder joins adjacent words without the space between them).
fn encoded_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + WORD_BYTES).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?UTF-8?B?{}?=",
            STANDARD.encode(&text.as_bytes()[start..end])
        ));
        start = end;
    }
    words
}

/// `Name <address>`, with the name quoted or encoded as it needs.
fn mailbox(mailbox: &Mailbox) -> Vec<String> {
    let address = format!("<{}>", mailbox.address);
    let Some(name) = mailbox.name.as_deref().map(one_line) else {
        return vec![mailbox.address.to_string()];
    };
    let mut words = if name.is_ascii() && !name.contains("=?") {
        let atoms = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" !#$%&'*+-/=?^_`{|}~".contains(&b));
        if atoms {
            name.split(' ').map(str::to_owned).collect()
        } else {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            vec![format!("\"{escaped}\"")]
        }
    } else {
        encoded_words(&name)
    };
    words.push(address);
    words
}

/// Collapses every run of whitespace (line breaks included) into one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text parts are sent in canonical form: CRLF line ends.
fn crlf(body: &str) -> String {
    body.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn base64_lines(out: &mut String, body: &str) {
    let encoded = STANDARD.encode(body.as_bytes());
    for chunk in encoded.as_bytes().chunks(76) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::*;

    fn from() -> Mailbox {
        Mailbox::parse("AI变现之路 <no-reply@example.com>").unwrap()
    }

    fn to() -> Email {
        Email::parse("reader@example.com").unwrap()
    }

    fn build(subject: &str, headers: &[(&str, &str)]) -> Result<String, MimeError> {
        let (from, to) = (from(), to());
        Message {
            from: &from,
            to: &to,
            subject,
            text: "第一行\n链接: https://example.com/verify?token=a&b=c\n",
            html: "<p>你好 &amp; 欢迎</p>\n",
            headers,
        }
        .write(
            "Tue, 25 Nov 2025 10:00:00 +0000",
            "<id@example.com>",
            "=_bx_test",
        )
    }

    #[test]
    fn an_independent_parser_reads_back_every_part() {
        let subject = "请验证你的邮箱地址，欢迎加入 AI变现之路 —— 一个很长很长很长很长的标题";
        let raw = build(
            subject,
            &[(
                "List-Unsubscribe",
                "<https://example.com/unsubscribe?t=abc>, <mailto:unsubscribe@example.com>",
            )],
        )
        .unwrap();
        let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some(subject));
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("AI变现之路"));
        assert_eq!(from.address(), Some("no-reply@example.com"));
        assert_eq!(
            parsed.to().unwrap().first().unwrap().address(),
            Some("reader@example.com")
        );
        assert_eq!(parsed.message_id(), Some("id@example.com"));
        assert_eq!(
            parsed.body_text(0).unwrap().replace("\r\n", "\n"),
            "第一行\n链接: https://example.com/verify?token=a&b=c\n"
        );
        assert_eq!(
            parsed.body_html(0).unwrap().trim_end(),
            "<p>你好 &amp; 欢迎</p>"
        );
        let unsubscribe = parsed
            .header_raw("List-Unsubscribe")
            .unwrap()
            .replace("\r\n", "");
        assert!(unsubscribe.contains("<mailto:unsubscribe@example.com>"));
    }

    #[test]
    fn lines_are_crlf_seven_bit_and_short() {
        let raw = build(&"长".repeat(200), &[]).unwrap();
        assert!(raw.is_ascii());
        assert!(!raw.replace("\r\n", "").contains('\n'), "bare LF");
        for line in raw.split("\r\n") {
            assert!(line.len() <= LINE, "{line}");
        }
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(headers.starts_with("Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n"));
        assert!(headers.contains("\r\nMIME-Version: 1.0\r\n"));
        assert!(headers.contains("Content-Type: multipart/alternative; boundary=\"=_bx_test\""));
    }

    #[test]
    fn ascii_subjects_stay_readable() {
        let raw = build("Welcome to bianxian", &[]).unwrap();
        assert!(
            raw.contains("\r\nSubject: Welcome to bianxian\r\n"),
            "{raw}"
        );
    }

    #[test]
    fn nothing_can_inject_a_header() {
        let raw = build("Hi\r\nBcc: victim@example.com", &[]).unwrap();
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        let parsed = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some("Hi Bcc: victim@example.com"));

        for headers in [
            &[("X-Tag", "a\r\nBcc: victim@example.com")][..],
            &[("X-Tag", "中文")],
            &[("Bcc", "victim@example.com")],
            &[("subject", "again")],
            &[("Bad Name", "x")],
            &[("X:Y", "x")],
        ] {
            assert!(build("Hi", headers).is_err(), "{headers:?}");
        }
    }

    #[test]
    fn quoted_and_encoded_display_names() {
        let quoted = Mailbox::parse("\"Team, AI\" <team@example.com>").unwrap();
        assert_eq!(
            mailbox(&quoted).join(" "),
            "\"Team, AI\" <team@example.com>"
        );
        let encoded = mailbox(&from()).join(" ");
        assert!(encoded.starts_with("=?UTF-8?B?"), "{encoded}");
        assert!(encoded.ends_with(" <no-reply@example.com>"), "{encoded}");
    }

    #[test]
    fn fresh_ids_and_dates_each_time() {
        let (from, to) = (from(), to());
        let message = Message {
            from: &from,
            to: &to,
            subject: "s",
            text: "t",
            html: "h",
            headers: &[],
        };
        let (a, b) = (message.to_raw().unwrap(), message.to_raw().unwrap());
        let (a, b) = (
            MessageParser::default().parse(&a).unwrap(),
            MessageParser::default().parse(&b).unwrap(),
        );
        assert_ne!(a.message_id(), b.message_id());
        assert!(a.message_id().unwrap().ends_with("@example.com"));
        assert!(a.date().is_some());
    }
}
