//! An article's Markdown body rendered to the HTML the public API serves, and its
//! reading time.
//!
//! The HTML is safe by construction rather than by cleaning afterwards: pulldown-cmark
//! parses the Markdown into events, and before its HTML writer sees them every raw HTML
//! event becomes plain text (which the writer escapes), except the exact
//! [`MARKER`](super::teaser::MARKER) the teaser splits on, and every link or image whose
//! URL has a scheme other than http, https or mailto loses its URL (the link text or
//! image alt text stays, as text). Nothing the author writes can therefore reach the
//! page as a tag, an attribute or a `javascript:` URL, and there is no allow-list of
//! tags and attributes to keep up to date.
//!
//! Reading time follows the usual rates: about 400 Chinese (CJK) characters a minute
//! and 200 words a minute for everything else, rounded up, at least one minute for a
//! non-empty body.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

use super::teaser::MARKER;

const CJK_PER_MINUTE: usize = 400;
const WORDS_PER_MINUTE: usize = 200;
const ALLOWED_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// A body as saved: its HTML and how long it takes to read.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    pub reading_minutes: i32,
}

const OPTIONS: Options = Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH);

/// Renders Markdown to safe HTML and counts its reading time.
///
/// The free part before the members-only marker and the paid part after it are
/// rendered apart: a reference link in the free part whose definition sits in the
/// paid part would otherwise carry the paid URL into the teaser (and the other way
/// round). The marker is a block boundary, and references do not cross it.
pub fn render(markdown: &str) -> Rendered {
    let (html, text) = match marker(markdown) {
        Some(at) => {
            let (free, free_text) = render_part(&markdown[..at.start]);
            let (paid, paid_text) = render_part(&markdown[at.end..]);
            (
                format!("{free}{MARKER}\n{paid}"),
                format!("{free_text} {paid_text}"),
            )
        }
        None => render_part(markdown),
    };
    Rendered {
        html,
        reading_minutes: reading_minutes(&text),
    }
}

/// Where the first members-only marker stands, as Markdown sees it (a marker inside
/// a code block is text, not a marker).
fn marker(markdown: &str) -> Option<std::ops::Range<usize>> {
    Parser::new_ext(markdown, OPTIONS)
        .into_offset_iter()
        .find_map(|(event, range)| match event {
            Event::Html(raw) | Event::InlineHtml(raw) if raw.trim() == MARKER => Some(range),
            _ => None,
        })
}

/// One part of a body: its safe HTML and its text, for the reading time.
fn render_part(markdown: &str) -> (String, String) {
    let mut text = String::new();
    // One entry per open link or image: whether its start tag was dropped, so the
    // matching end tag is dropped too (images may sit inside links).
    let mut open: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, OPTIONS).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) if raw.trim() == MARKER => {
            Some(Event::Html(CowStr::Borrowed(MARKER)))
        }
        Event::Html(raw) | Event::InlineHtml(raw) => {
            text.push_str(&raw);
            Some(Event::Text(raw))
        }
        Event::Start(Tag::Link { ref dest_url, .. } | Tag::Image { ref dest_url, .. }) => {
            let allowed = url_allowed(dest_url);
            open.push(!allowed);
            allowed.then_some(event)
        }
        Event::End(TagEnd::Link | TagEnd::Image) => {
            let dropped = open.pop().unwrap_or(false);
            (!dropped).then_some(event)
        }
        Event::Text(ref t) | Event::Code(ref t) => {
            text.push_str(t);
            text.push(' ');
            Some(event)
        }
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    (out, text)
}

/// Whether a link or image URL may be kept: relative URLs, and absolute ones with an
/// allowed scheme. Browsers ignore ASCII tabs and newlines inside a URL and leading
/// control characters and spaces, so `java\tscript:` is read past them; any other
/// control character drops the URL outright.
fn url_allowed(url: &str) -> bool {
    let cleaned: String = url
        .trim_start_matches(|c: char| c.is_ascii_control() || c == ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    if cleaned.chars().any(|c| c.is_control()) {
        return false;
    }
    match cleaned.find([':', '/', '?', '#']) {
        Some(i) if cleaned[i..].starts_with(':') => ALLOWED_SCHEMES
            .iter()
            .any(|s| cleaned[..i].eq_ignore_ascii_case(s)),
        _ => true,
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'       // kana
        | '\u{3400}'..='\u{4DBF}'     // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'     // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'     // hangul
        | '\u{F900}'..='\u{FAFF}'     // compatibility ideographs
        | '\u{20000}'..='\u{2FFFF}') // extensions B and later
}

fn reading_minutes(text: &str) -> i32 {
    let cjk = text.chars().filter(|c| is_cjk(*c)).count();
    let words = text
        .split(|c: char| c.is_whitespace() || is_cjk(c))
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    if cjk == 0 && words == 0 {
        return 0;
    }
    let minutes = (cjk as f64 / CJK_PER_MINUTE as f64) + (words as f64 / WORDS_PER_MINUTE as f64);
    i32::try_from(minutes.ceil() as i64)
        .unwrap_or(i32::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(markdown: &str) -> String {
        render(markdown).html
    }

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(
            html("# 标题\n\n**粗体** [链接](https://example.com/a?b=1&c=2)"),
            "<h1>标题</h1>\n<p><strong>粗体</strong> <a href=\"https://example.com/a?b=1&amp;c=2\">链接</a></p>\n"
        );
        assert!(
            html("[相对](/articles/x) [邮件](mailto:a@example.com)")
                .contains("href=\"/articles/x\"")
        );
        assert!(html("[邮件](mailto:a@example.com)").contains("href=\"mailto:a@example.com\""));
    }

    #[test]
    fn script_tags_are_text() {
        let out = html("<script>alert(1)</script>\n\n正文 <script>alert(2)</script>");
        assert!(!out.contains("<script"), "{out}");
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        assert!(out.contains("&lt;script&gt;alert(2)"), "{out}");
    }

    #[test]
    fn event_handler_attributes_are_text() {
        for markdown in [
            "<img src=x onerror=alert(1)>",
            "段落 <img src=x onerror=\"alert(1)\"> 结束",
            "<div onmouseover=alert(1)>x</div>",
        ] {
            let out = html(markdown);
            assert!(!out.contains("<img") && !out.contains("<div"), "{out}");
            assert!(out.contains("&lt;"), "{out}");
        }
    }

    #[test]
    fn dangerous_urls_are_dropped() {
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
        ] {
            let link = html(&format!("[点我](<{url}>)"));
            assert!(!link.contains("<a"), "{url}: {link}");
            assert!(link.contains("点我"), "{url}: {link}");
            let image = html(&format!("![图](<{url}>)"));
            assert!(!image.contains("<img"), "{url}: {image}");
        }
        let nested = html("[![图](javascript:x)](https://example.com)");
        assert!(
            nested.contains("<a href=\"https://example.com\">图</a>"),
            "{nested}"
        );
        let autolink = html("<javascript:alert(1)>");
        assert!(!autolink.contains("<a"), "{autolink}");
    }

    #[test]
    fn the_members_marker_survives() {
        let out = html("免费部分\n\n<!--members-only-->\n\n会员部分");
        assert!(
            out.contains("<p>免费部分</p>\n<!--members-only-->"),
            "{out}"
        );
        assert!(html("前 <!--members-only--> 后").contains("<!--members-only-->"));
        let other = html("<!-- members-only --><!--x-->");
        assert!(!other.contains("<!--"), "{other}");
    }

    /// A reference link in the free part cannot borrow a definition from the paid
    /// part (issue 10, item 12): the teaser shows no paid URL.
    #[test]
    fn references_do_not_cross_the_members_marker() {
        let body = "免费：见 [工具][t]。\n\n<!--members-only-->\n\n[t]: https://paid.example.com/secret\n\n付费正文";
        let out = html(body);
        let teaser = super::super::teaser::html(&out, None);
        assert!(!teaser.contains("paid.example.com"), "{teaser}");
        assert!(teaser.contains("[工具][t]"), "{teaser}");
        assert!(out.contains("付费正文"), "{out}");
        let code = html("```\n<!--members-only-->\n```\n\n后");
        assert!(!code.contains("<!--members-only-->\n"), "{code}");
    }

    #[test]
    fn reading_time_counts_chinese_characters_and_english_words() {
        assert_eq!(render("").reading_minutes, 0);
        assert_eq!(render("短").reading_minutes, 1);
        assert_eq!(render(&"字".repeat(800)).reading_minutes, 2);
        assert_eq!(render(&"word ".repeat(401)).reading_minutes, 3);
        let mixed = format!("{}\n\n{}", "中".repeat(400), "word ".repeat(200));
        assert_eq!(render(&mixed).reading_minutes, 2);
    }
}
