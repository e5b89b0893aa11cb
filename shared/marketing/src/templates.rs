//! Marketing templates: staff write a subject, an HTML body and a text body with
//! minijinja variables (`{{ subscriber.name }}`, `{{ subscriber.attributes.city }}`,
//! `{{ campaign.name }}`, ...). A template that does not compile is refused when it
//! is saved, with the part, line and column, never found out at send time. Each body
//! is placed in the base layout ([`LAYOUT_HTML`], [`LAYOUT_TEXT`]), which carries what
//! every marketing mail must: a visible unsubscribe link and the sender's postal
//! address (transactional mail, [`crate::transactional`], only the address). Rendering is bounded (minijinja's fuel), so a runaway loop in a
//! template fails its render instead of holding a sender.

use chrono::{DateTime, Utc};
use minijinja::{Environment, UndefinedBehavior, value::Serde};
use platform::db::GenericClient;
use platform::{
    audit,
    error::{Error, Result},
    http::{at_most, bounded},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};
use url::Url;

use crate::links::{Link, LinkKey, Purpose};

/// Instructions one render may run: far more than any mail needs.
const FUEL: u64 = 200_000;
/// The largest body a template may have.
const MAX_BODY_CHARS: usize = 200_000;

/// Around every HTML body: the unsubscribe link and postal address are not the
/// template's to forget.
pub const LAYOUT_HTML: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{{ subject }}</title></head>
<body style="margin:0;padding:0;background:#f5f6f7;">
<div style="max-width:600px;margin:0 auto;padding:24px;background:#ffffff;font-family:-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;font-size:15px;line-height:1.7;color:#1f2329;">
{{ body }}
<hr style="border:0;border-top:1px solid #dee0e3;margin:32px 0 16px;">
<p style="margin:0;font-size:12px;color:#8f959e;">{% if unsubscribe_url %}你收到这封邮件，是因为你订阅了 AI变现之路。<a href="{{ preferences_url }}" style="color:#8f959e;">管理订阅</a> · <a href="{{ unsubscribe_url }}" style="color:#8f959e;">退订</a><br>{% endif %}{{ postal_address }}</p>
</div></body></html>
"#;

pub const LAYOUT_TEXT: &str = "{{ body }}\n\n——\n{% if unsubscribe_url %}你收到这封邮件，是因为你订阅了 AI变现之路。\n管理订阅：{{ preferences_url }}\n退订：{{ unsubscribe_url }}\n{% endif %}{{ postal_address }}\n";

/// A template as staff see it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub document_id: String,
    pub name: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A template as staff write it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateInput {
    pub name: String,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The three parts of a template, compiled.
struct Parts<'a> {
    subject: &'a str,
    html: &'a str,
    text: &'a str,
}

/// Where in `source` a minijinja error is, as `line L, column C: what`.
fn located(source: &str, error: &minijinja::Error) -> String {
    let what = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    match (error.line(), error.range()) {
        (_, Some(range)) => {
            let start = range.start.min(source.len());
            let before = &source[..start];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {what}")
        }
        (Some(line), None) => format!("line {line}: {what}"),
        (None, None) => what,
    }
}

fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    // Spans for errors: a template refused at save says where.
    env.set_debug(true);
    env
}

/// Compiles each part, or a 400 naming the part with the line and column.
fn compile<'s>(env: &mut Environment<'s>, parts: &Parts<'s>) -> Result<()> {
    env.set_auto_escape_callback(|name| {
        if name == "html" {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    for (name, source) in [
        ("subject", parts.subject),
        ("html", parts.html),
        ("text", parts.text),
    ] {
        env.add_template(name, source)
            .map_err(|e| Error::invalid(name, located(source, &e)))?;
    }
    Ok(())
}

/// What the layout adds to every mail: where to unsubscribe and manage
/// subscriptions (signed links), and the sender's postal address.
#[derive(Debug, Clone, Serialize)]
pub struct Footer {
    pub unsubscribe_url: String,
    pub preferences_url: String,
    pub postal_address: String,
}

impl Footer {
    /// One recipient's: their signed unsubscribe link on the API (from `list`, or
    /// from every list when `None`), their preferences link on the site, and the
    /// postal address.
    pub fn for_recipient(
        key: &LinkKey,
        (api_url, site_url): (&Url, &Url),
        subscriber: &str,
        list: Option<&str>,
        postal_address: &str,
    ) -> Result<Self> {
        let signed = |base: &Url, path: &str, purpose: Purpose, list: Option<&str>| {
            let mut url = base.join(path).map_err(Error::internal)?;
            let link = Link {
                purpose,
                subscriber: subscriber.to_owned(),
                list: list.map(str::to_owned),
                expires: None,
            };
            url.query_pairs_mut().append_pair("token", &key.sign(&link));
            Ok::<_, Error>(url.to_string())
        };
        Ok(Self {
            unsubscribe_url: signed(
                api_url,
                "newsletter/unsubscribe",
                Purpose::Unsubscribe,
                list,
            )?,
            preferences_url: signed(
                site_url,
                "newsletter/preferences",
                Purpose::Preferences,
                None,
            )?,
            postal_address: postal_address.to_owned(),
        })
    }

    /// A transactional mail's: the postal address only. Such mail answers
    /// something the person did; it is not a subscription to leave.
    pub fn transactional(postal_address: &str) -> Self {
        Self {
            unsubscribe_url: String::new(),
            preferences_url: String::new(),
            postal_address: postal_address.to_owned(),
        }
    }
}

/// Renders `parts` with `context` (the template's variables; the footer's are
/// added) and puts the bodies in the base layout.
fn render_parts(parts: &Parts<'_>, context: &Value, footer: &Footer) -> Result<Rendered> {
    let mut env = environment();
    compile(&mut env, parts)?;
    let mut values = context.clone();
    if let Value::Object(map) = &mut values {
        map.insert("unsubscribe_url".into(), json!(footer.unsubscribe_url));
        map.insert("preferences_url".into(), json!(footer.preferences_url));
    }
    let part = |name: &str, source: &str| {
        env.get_template(name)
            .and_then(|t| t.render(Serde(&values)))
            .map_err(|e| Error::invalid(name, located(source, &e)))
    };
    let subject = part("subject", parts.subject)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let html = part("html", parts.html)?;
    let text = part("text", parts.text)?;
    let layout = |source: &str, body: minijinja::Value, escape: bool| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(move |_| {
            if escape {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.render_str(
            source,
            minijinja::context! {
                body => body,
                subject => subject.as_str(),
                // Our own URLs (serialised by `url`, quotes percent-encoded): as they are.
                unsubscribe_url => minijinja::Value::from_safe_string(footer.unsubscribe_url.clone()),
                preferences_url => minijinja::Value::from_safe_string(footer.preferences_url.clone()),
                postal_address => footer.postal_address.as_str(),
            },
        )
        .map_err(Error::internal)
    };
    Ok(Rendered {
        html: layout(LAYOUT_HTML, minijinja::Value::from_safe_string(html), true)?,
        text: layout(LAYOUT_TEXT, minijinja::Value::from(text), false)?,
        subject,
    })
}

/// Checks a template as staff write it: its name, sizes, and that every part
/// compiles and renders with the sample data.
fn check(input: &TemplateInput) -> Result<String> {
    let name = bounded(&input.name, "name", 100)?;
    bounded(&input.subject, "subject", 500)?;
    at_most(Some(&input.html), "html", MAX_BODY_CHARS)?;
    at_most(Some(&input.text), "text", MAX_BODY_CHARS)?;
    preview(input, &sample())?;
    Ok(name)
}

/// The variables a preview renders with when no others are given.
pub fn sample() -> Value {
    json!({
        "subscriber": {
            "name": "读者",
            "email": "reader@example.com",
            "attributes": {},
        },
        "campaign": { "name": "示例活动" },
    })
}

/// Renders a template as staff write it with `context`, as a recipient would get
/// it (the footer's links are examples).
pub fn preview(input: &TemplateInput, context: &Value) -> Result<Rendered> {
    render(input, context, &example_footer("（寄件地址）"))
}

/// A footer whose links are examples: for previews and test sends, which go to
/// people who are not (necessarily) subscribers.
pub fn example_footer(postal_address: &str) -> Footer {
    Footer {
        unsubscribe_url: "https://example.com/newsletter/unsubscribe?token=preview".into(),
        preferences_url: "https://example.com/newsletter/preferences?token=preview".into(),
        postal_address: postal_address.to_owned(),
    }
}

/// Renders a template's parts for one recipient.
pub fn render(input: &TemplateInput, context: &Value, footer: &Footer) -> Result<Rendered> {
    let parts = Parts {
        subject: &input.subject,
        html: &input.html,
        text: &input.text,
    };
    render_parts(&parts, context, footer)
}

const COLUMNS: &str = "document_id, name, subject, html, text, created_at, updated_at";

fn from_row(row: &Row) -> Template {
    Template {
        document_id: row.get(0),
        name: row.get(1),
        subject: row.get(2),
        html: row.get(3),
        text: row.get(4),
        created_at: row.get(5),
        updated_at: row.get(6),
    }
}

/// Every template, newest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Template>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM mail_templates ORDER BY id DESC"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

pub async fn by_document_id(client: &impl GenericClient, document_id: &str) -> Result<Template> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM mail_templates WHERE document_id = $1"),
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(from_row)
        .ok_or_else(|| Error::NotFound("no such template".into()))
}

pub async fn create(
    tx: &impl platform::db::Transactional,
    actor: &str,
    input: TemplateInput,
) -> Result<Template> {
    let name = check(&input)?;
    let row = tx
        .query_typed(
            &format!(
                "INSERT INTO mail_templates (name, subject, html, text) VALUES ($1, $2, $3, $4)
                 RETURNING {COLUMNS}"
            ),
            &[
                (&name, Type::TEXT),
                (&input.subject, Type::TEXT),
                (&input.html, Type::TEXT),
                (&input.text, Type::TEXT),
            ],
        )
        .await?;
    let template = row
        .first()
        .map(from_row)
        .ok_or_else(|| Error::internal("an insert returned no row"))?;
    audit::record(
        tx,
        actor,
        "template.create",
        &template.document_id,
        json!({ "name": name }),
    )
    .await?;
    Ok(template)
}

pub async fn update(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
    input: TemplateInput,
) -> Result<Template> {
    let name = check(&input)?;
    let row = tx
        .query_typed(
            &format!(
                "UPDATE mail_templates SET name = $2, subject = $3, html = $4, text = $5
                 WHERE document_id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&document_id, Type::TEXT),
                (&name, Type::TEXT),
                (&input.subject, Type::TEXT),
                (&input.html, Type::TEXT),
                (&input.text, Type::TEXT),
            ],
        )
        .await?;
    let template = row
        .first()
        .map(from_row)
        .ok_or_else(|| Error::NotFound("no such template".into()))?;
    audit::record(
        tx,
        actor,
        "template.update",
        document_id,
        json!({ "name": name }),
    )
    .await?;
    Ok(template)
}

pub async fn delete(
    tx: &impl platform::db::Transactional,
    actor: &str,
    document_id: &str,
) -> Result<()> {
    let deleted = tx
        .query_typed(
            "DELETE FROM mail_templates WHERE document_id = $1 RETURNING name",
            &[(&document_id, Type::TEXT)],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
                Error::Conflict("a campaign uses this template".into())
            } else {
                e.into()
            }
        })?;
    let Some(row) = deleted.first() else {
        return Err(Error::NotFound("no such template".into()));
    };
    let name: String = row.get(0);
    audit::record(
        tx,
        actor,
        "template.delete",
        document_id,
        json!({ "name": name }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(subject: &str, html: &str, text: &str) -> TemplateInput {
        TemplateInput {
            name: "周报".into(),
            subject: subject.into(),
            html: html.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_template_renders_in_the_layout_with_its_footer() {
        let template = input(
            "{{ subscriber.name }}，本周精选",
            "<p>你好 {{ subscriber.name }}，来自 {{ subscriber.attributes.city | default('某地') }}</p>",
            "你好 {{ subscriber.name }}",
        );
        let context = json!({ "subscriber": { "name": "<小李>", "email": "a@b.c", "attributes": { "city": "杭州" } } });
        let footer = Footer {
            unsubscribe_url: "https://api.example.com/newsletter/unsubscribe?token=t".into(),
            preferences_url: "https://api.example.com/newsletter/preferences?token=p".into(),
            postal_address: "杭州市 <某路> 1 号".into(),
        };
        let rendered = render(&template, &context, &footer).unwrap();
        assert_eq!(rendered.subject, "<小李>，本周精选");
        assert!(
            rendered.html.contains("你好 &lt;小李&gt;，来自 杭州"),
            "{}",
            rendered.html
        );
        assert!(rendered.html.contains("unsubscribe?token=t"));
        assert!(rendered.html.contains("杭州市 &lt;某路&gt; 1 号"));
        assert!(rendered.text.starts_with("你好 <小李>"));
        assert!(
            rendered
                .text
                .contains("退订：https://api.example.com/newsletter/unsubscribe?token=t")
        );
    }

    #[test]
    fn a_syntax_error_names_the_part_line_and_column() {
        let broken = input("ok", "<p>\n  {{ subscriber.name </p>", "ok");
        let Err(Error::Validation { details, .. }) = check(&broken) else {
            panic!("a broken template is refused");
        };
        let error = &details["errors"][0];
        assert_eq!(error["path"][0], "html");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("line 2, column "), "{message}");
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel() {
        let runaway = input(
            "ok",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "ok",
        );
        assert!(preview(&runaway, &sample()).is_err());
    }
}
