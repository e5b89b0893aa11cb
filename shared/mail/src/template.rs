//! Mail templates: minijinja sources embedded in the binary.
//!
//! Each template is a directory under `templates/` with `subject.txt`, `body.html`
//! and `body.txt`, sharing `layout.html` / `layout.txt` through `{% extends %}`.
//! Escaping follows the file extension: variables are HTML-escaped in `.html` and
//! left alone in `.txt` (the subject is a header, made safe by `mime`). A variable
//! the template uses but the job does not carry is an error, never an empty string:
//! a mail with a blank link is worse than a mail that fails loudly.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior, value::Serde};

/// Every template name a [`super::MailJob`] may use.
pub const NAMES: &[&str] = &[
    "verify-email",
    "reset-password",
    "password-changed",
    "account-exists",
    "no-account",
    "receipt",
    "newsletter-confirm",
    // A mail rendered elsewhere (a marketing template's test send): its subject,
    // HTML and text as they are.
    "rendered",
];

macro_rules! parts {
    ($name:literal) => {
        [
            (
                concat!($name, "/subject.txt"),
                include_str!(concat!("templates/", $name, "/subject.txt")),
            ),
            (
                concat!($name, "/body.html"),
                include_str!(concat!("templates/", $name, "/body.html")),
            ),
            (
                concat!($name, "/body.txt"),
                include_str!(concat!("templates/", $name, "/body.txt")),
            ),
        ]
    };
}

const SOURCES: &[[(&str, &str); 3]] = &[
    parts!("verify-email"),
    parts!("reset-password"),
    parts!("password-changed"),
    parts!("account-exists"),
    parts!("no-account"),
    parts!("receipt"),
    parts!("newsletter-confirm"),
    parts!("rendered"),
];

const LAYOUTS: [(&str, &str); 2] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("layout.txt", include_str!("templates/layout.txt")),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in LAYOUTS.iter().chain(SOURCES.iter().flatten()) {
        // The sources are compiled in, so a syntax error is a bug that the unit
        // tests below catch before anything ships.
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("mail template {name}: {e}"));
    }
    env
});

/// A rendered mail, ready for `mime::Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown mail template `{0}`")]
    Unknown(String),
    #[error("mail template `{name}`: {source}")]
    Render {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Renders all three parts of `name` with `variables` (a JSON object).
pub fn render(name: &str, variables: &serde_json::Value) -> Result<Rendered, TemplateError> {
    if !exists(name) {
        return Err(TemplateError::Unknown(name.to_owned()));
    }
    let part = |file: &str| {
        ENVIRONMENT
            .get_template(&format!("{name}/{file}"))
            .and_then(|template| template.render(Serde(variables)))
            .map_err(|source| TemplateError::Render {
                name: name.to_owned(),
                source,
            })
    };
    Ok(Rendered {
        subject: part("subject.txt")?.trim().to_owned(),
        html: part("body.html")?,
        text: part("body.txt")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_template_renders_with_its_variables() {
        assert_eq!(NAMES.len(), SOURCES.len());
        let variables = json!({
            "name": "读者",
            "link": "https://example.com/x?token=t",
            "login_link": "https://example.com/login",
            "reset_link": "https://example.com/forgot-password",
            "register_link": "https://example.com/register",
            "product": "专业会员",
            "amount": "CNY 99.00",
            "access_until": "2026-12-28",
            "order": "o1",
            "lists": "每周精选",
        });
        for name in NAMES.iter().filter(|name| **name != "rendered") {
            let rendered = render(name, &variables).unwrap();
            assert!(rendered.subject.contains("AI变现之路"), "{name}");
            assert!(!rendered.subject.contains('\n'), "{name}");
            assert!(rendered.html.starts_with("<!doctype html>"), "{name}");
            assert!(rendered.html.contains("读者，你好"), "{name}");
            assert!(rendered.text.contains("读者，你好"), "{name}");
            assert!(rendered.text.contains("请勿直接回复"), "{name}");
        }
    }

    #[test]
    fn a_mail_rendered_elsewhere_goes_as_it_is() {
        let variables =
            json!({ "subject": "[测试] 本周精选", "html": "<p>a &amp; b</p>", "text": "a & b" });
        let rendered = render("rendered", &variables).unwrap();
        assert_eq!(rendered.subject, "[测试] 本周精选");
        assert_eq!(rendered.html, "<p>a &amp; b</p>");
        assert_eq!(rendered.text, "a & b");
    }

    #[test]
    fn links_reach_both_bodies_and_the_subject_uses_the_name() {
        let link = "https://example.com/auth/verify?token=abc&next=%2F";
        let rendered = render("verify-email", &json!({ "name": "小明", "link": link })).unwrap();
        assert_eq!(rendered.subject, "小明，请验证你的邮箱 · AI变现之路");
        assert!(rendered.text.contains(link));
        // minijinja escapes `/` too (`&#x2f;`); a browser reads the same URL back.
        let unescaped = rendered.html.replace("&#x2f;", "/").replace("&amp;", "&");
        assert!(
            unescaped.contains(&format!("href=\"{link}\"")),
            "{}",
            rendered.html
        );
        let anonymous = render("verify-email", &json!({ "name": "", "link": link })).unwrap();
        assert_eq!(anonymous.subject, "请验证你的邮箱 · AI变现之路");
    }

    #[test]
    fn variables_are_escaped_in_html_only() {
        let name = "<script>alert(\"x\")</script>&";
        let rendered = render(
            "reset-password",
            &json!({ "name": name, "link": "https://example.com/\"><img src=x>" }),
        )
        .unwrap();
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(!rendered.html.contains("<img"), "{}", rendered.html);
        assert!(
            rendered.html.contains("&lt;script&gt;"),
            "{}",
            rendered.html
        );
        assert!(rendered.text.contains(name));
        assert!(rendered.subject.contains(name));
    }

    #[test]
    fn missing_variables_and_unknown_templates_fail() {
        assert!(matches!(
            render("verify-email", &json!({ "name": "x" })),
            Err(TemplateError::Render { .. })
        ));
        assert!(matches!(
            render("nope", &json!({})),
            Err(TemplateError::Unknown(_))
        ));
        assert!(!exists("layout.html"));
    }
}
