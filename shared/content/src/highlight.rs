//! Highlights for a search's results: `_highlight: {title, snippet}` on each found
//! article, HTML-escaped with the searched terms in `<mark>`, so a frontend can show
//! why an article matched without finding the terms again (Meilisearch's
//! `_formatted`, Elasticsearch's `highlight`).
//!
//! Built from the entry as it leaves [`crate::gate`], never from the row: a gated
//! article's snippet comes from the teaser and excerpt its reader may see. Terms
//! are the query's CJK runs and words, as [`search`] cuts them; a word marks where
//! a word starts, as its prefix match found it.

use serde_json::Value;

use crate::{
    schema::Entry,
    search::{self, Run, is_word_char},
};

/// The member carrying the highlights.
pub const HIGHLIGHT_FIELD: &str = "_highlight";

/// Characters of text a snippet shows, before escaping.
const SNIPPET_CHARS: usize = 120;
/// Of those, how many come before the first term.
const LEAD_CHARS: usize = 30;

/// Adds `_highlight` to each entry for the search text `search`.
pub fn annotate(entries: &mut [Entry], search: &str) {
    let terms = terms(search);
    for entry in entries.iter_mut() {
        let title = entry
            .get("title")
            .and_then(Value::as_str)
            .map(|title| marked(&title.chars().collect::<Vec<_>>(), &terms));
        let snippet = snippet(entry, &terms);
        entry.insert(
            HIGHLIGHT_FIELD.into(),
            serde_json::json!({ "title": title, "snippet": snippet }),
        );
    }
}

/// The query's runs as they are searched: a CJK run, or a word (lower-case).
fn terms(search: &str) -> Vec<Vec<char>> {
    let mut terms: Vec<Vec<char>> = search::runs(search)
        .into_iter()
        .map(|run| match run {
            Run::Word(chars) | Run::Cjk(chars) => chars,
        })
        .collect();
    terms.sort_unstable();
    terms.dedup();
    // The longest first, so a term inside another marks the longer match.
    terms.sort_by_key(|term| std::cmp::Reverse(term.len()));
    terms
}

/// The term starting at `at`, if one does, as its length in characters.
fn match_at(text: &[char], at: usize, terms: &[Vec<char>]) -> Option<usize> {
    terms.iter().find_map(|term| {
        let end = at + term.len();
        if end > text.len() {
            return None;
        }
        let same = text[at..end]
            .iter()
            .zip(term)
            .all(|(c, t)| c.to_lowercase().eq(std::iter::once(*t)));
        let starts_word = !is_word_char(term[0])
            || at == 0
            || !text[at - 1].to_lowercase().next().is_some_and(is_word_char);
        (same && starts_word).then_some(term.len())
    })
}

/// `text` escaped, with every term in `<mark>`.
fn marked(text: &[char], terms: &[Vec<char>]) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    let mut at = 0;
    while at < text.len() {
        if let Some(len) = match_at(text, at, terms) {
            out.push_str("<mark>");
            text[at..at + len].iter().for_each(|c| escape(*c, &mut out));
            out.push_str("</mark>");
            at += len;
        } else {
            escape(text[at], &mut out);
            at += 1;
        }
    }
    out
}

fn escape(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// A window of the excerpt or body around the first term, or the start of the
/// excerpt (or body) when only the title matched; `None` without either field.
fn snippet(entry: &Entry, terms: &[Vec<char>]) -> Option<String> {
    let texts: Vec<Vec<char>> = ["excerpt", "body"]
        .iter()
        .filter_map(|field| entry.get(*field).and_then(Value::as_str))
        .map(plain)
        .filter(|text| !text.is_empty())
        .collect();
    let found = texts.iter().find_map(|text| {
        (0..text.len())
            .find(|at| match_at(text, *at, terms).is_some())
            .map(|at| (text, at))
    });
    let (text, start) = match found {
        Some((text, at)) => (text, at.saturating_sub(LEAD_CHARS)),
        None => (texts.first()?, 0),
    };
    let end = (start + SNIPPET_CHARS).min(text.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(&marked(&text[start..end], terms));
    if end < text.len() {
        out.push('…');
    }
    Some(out)
}

/// Markdown as a line of reading text: markers and link targets dropped, runs of
/// whitespace one space.
fn plain(markdown: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(markdown.len());
    let mut chars = markdown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' | '*' | '_' | '`' | '>' | '[' => {}
            ']' if chars.peek() == Some(&'(') => {
                for skipped in chars.by_ref() {
                    if skipped == ')' {
                        break;
                    }
                }
            }
            ']' => {}
            c if c.is_whitespace() => {
                if out.last().is_some_and(|last| *last != ' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    while out.last() == Some(&' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(value: Value) -> Entry {
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn highlighted(value: Value, search: &str) -> Value {
        let mut entries = vec![entry(value)];
        annotate(&mut entries, search);
        entries[0][HIGHLIGHT_FIELD].clone()
    }

    #[test]
    fn terms_are_marked_in_title_and_snippet_and_everything_is_escaped() {
        let got = highlighted(
            json!({
                "title": "写好<提示词>的 5 个 Prompt 技巧",
                "excerpt": "",
                "body": "## 开头\n\n很多人问：**提示词**到底怎么写？答案 & 方法如下。",
            }),
            "提示词 prompt",
        );
        assert_eq!(
            got["title"],
            "写好&lt;<mark>提示词</mark>&gt;的 5 个 <mark>Prompt</mark> 技巧"
        );
        assert_eq!(
            got["snippet"],
            "开头 很多人问：<mark>提示词</mark>到底怎么写？答案 &amp; 方法如下。"
        );
    }

    #[test]
    fn a_word_is_marked_where_a_word_starts_and_long_text_is_windowed() {
        let body = format!(
            "{} said prompts matter. {}",
            "前言".repeat(40),
            "后记".repeat(100)
        );
        let got = highlighted(json!({ "title": "Said", "body": body }), "prompt");
        assert_eq!(got["title"], "Said");
        let snippet = got["snippet"].as_str().unwrap();
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(
            snippet.contains(" said <mark>prompt</mark>s matter."),
            "{snippet}"
        );
        assert!(!snippet.contains("<mark>said"), "{snippet}");
    }

    #[test]
    fn a_title_only_match_shows_the_start_of_the_excerpt_and_links_read_as_text() {
        let got = highlighted(
            json!({
                "title": "AI 变现之路",
                "excerpt": "看[这篇](https://example.com/x)就够了",
                "body": "会员可见"
            }),
            "变现",
        );
        assert_eq!(got["title"], "AI <mark>变现</mark>之路");
        assert_eq!(got["snippet"], "看这篇就够了");
        let bare = highlighted(json!({ "slug": "x" }), "变现");
        assert_eq!(bare, json!({ "title": null, "snippet": null }));
    }
}
