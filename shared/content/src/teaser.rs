//! What a reader without access sees of a gated article (Ghost's model).
//!
//! Authors mark where the free part ends with [`MARKER`]; everything before it is the
//! teaser, in Markdown (`body`) and in HTML (`bodyHtml`) alike, because the comment
//! survives Markdown rendering. An article without the marker teases with its excerpt,
//! so a forgotten marker never publishes the whole body. Pure functions: the response
//! assembly decides when to call them.

/// Where the members-only part of a body begins.
pub const MARKER: &str = "<!--members-only-->";

/// The teaser of a Markdown body: the text before [`MARKER`], else the excerpt.
pub fn markdown(body: &str, excerpt: Option<&str>) -> String {
    match body.split_once(MARKER) {
        Some((free, _)) => free.trim_end().to_owned(),
        None => excerpt.unwrap_or_default().to_owned(),
    }
}

/// The teaser of an HTML body: the markup before [`MARKER`], else the excerpt as an
/// escaped paragraph (it is plain text, and an empty excerpt gives an empty body).
pub fn html(body: &str, excerpt: Option<&str>) -> String {
    match body.split_once(MARKER) {
        Some((free, _)) => free.trim_end().to_owned(),
        None => match excerpt.map(str::trim).filter(|e| !e.is_empty()) {
            Some(excerpt) => format!("<p>{}</p>", escape(excerpt)),
            None => String::new(),
        },
    }
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_ends_the_free_part() {
        let body =
            "# 开篇\n\n免费部分。\n\n<!--members-only-->\n\n付费部分。<!--members-only-->更多";
        assert_eq!(markdown(body, Some("摘要")), "# 开篇\n\n免费部分。");
        let html_body = "<p>免费部分。</p>\n<!--members-only-->\n<p>付费部分。</p>";
        assert_eq!(html(html_body, Some("摘要")), "<p>免费部分。</p>");
    }

    #[test]
    fn without_a_marker_the_excerpt_is_the_teaser() {
        assert_eq!(markdown("整篇付费内容", Some("摘要")), "摘要");
        assert_eq!(markdown("整篇付费内容", None), "");
        assert_eq!(
            html("<p>整篇付费内容</p>", Some("Tips & <tricks>")),
            "<p>Tips &amp; &lt;tricks&gt;</p>"
        );
        assert_eq!(html("<p>整篇付费内容</p>", Some("  ")), "");
        assert_eq!(html("<p>整篇付费内容</p>", None), "");
    }

    #[test]
    fn a_marker_at_the_start_leaves_nothing_free() {
        assert_eq!(markdown("<!--members-only-->全部付费", Some("摘要")), "");
    }
}
