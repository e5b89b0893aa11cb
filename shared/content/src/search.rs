//! How `_q` text becomes what the article index is searched for.
//!
//! Articles are tokenized at write time by the SQL function `search_tokens`
//! (`0031_article_search.sql`): runs of CJK characters become their overlapping
//! bigrams and trigrams plus the run's last character, runs of letters and digits
//! lower-case words of at most 64 characters. A query is cut the same way here, in Rust, and sent as a tsquery:
//! the SQL tokenizer's regular expressions cost about 0.3 ms per call, more than the
//! index lookup of a rare word. [`tests`] hold the two cuts to one definition.

/// The characters of a word, after lower-casing: ASCII digits and letters and the
/// Latin-1 and Latin Extended-A/B letters.
const WORD_RANGES: [(char, char); 3] = [('0', '9'), ('a', 'z'), ('\u{c0}', '\u{24f}')];
/// The characters cut into bigrams: kana, CJK ideographs (with Extension A and the
/// compatibility block) and Hangul syllables.
const CJK_RANGES: [(char, char); 5] = [
    ('\u{3040}', '\u{30ff}'),
    ('\u{3400}', '\u{4dbf}'),
    ('\u{4e00}', '\u{9fff}'),
    ('\u{ac00}', '\u{d7af}'),
    ('\u{f900}', '\u{faff}'),
];
/// Longest word token; a longer run is cut into several (a lexeme may not pass 2 KB).
const MAX_WORD_CHARS: usize = 64;

fn within(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

pub(crate) fn is_word_char(c: char) -> bool {
    within(&WORD_RANGES, c)
}

pub(crate) fn is_cjk(c: char) -> bool {
    within(&CJK_RANGES, c)
}

/// A run of one kind of searchable character, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Run {
    Word(Vec<char>),
    Cjk(Vec<char>),
}

/// The runs of `text`, in order; words already cut at [`MAX_WORD_CHARS`].
pub(crate) fn runs(text: &str) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut word: Vec<char> = Vec::new();
    let mut cjk: Vec<char> = Vec::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if is_word_char(c) {
            if !cjk.is_empty() {
                runs.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
            if word.len() == MAX_WORD_CHARS {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
            word.push(c);
        } else {
            if !word.is_empty() {
                runs.push(Run::Word(std::mem::take(&mut word)));
            }
            if is_cjk(c) {
                cjk.push(c);
            } else if !cjk.is_empty() {
                runs.push(Run::Cjk(std::mem::take(&mut cjk)));
            }
        }
    }
    if !word.is_empty() {
        runs.push(Run::Word(word));
    }
    if !cjk.is_empty() {
        runs.push(Run::Cjk(cjk));
    }
    runs
}

/// The tsquery for `_q`: every token required; words and lone CJK characters by
/// prefix, a CJK pair as itself, longer CJK runs as their trigrams. `None` when
/// nothing in the text can be searched for (punctuation only): such a search finds
/// nothing.
pub fn tsquery(search: &str) -> Option<String> {
    let mut lexemes: Vec<String> = Vec::new();
    for run in runs(search) {
        match run {
            Run::Word(word) => lexemes.push(format!("'{}':*", String::from_iter(word))),
            Run::Cjk(run) if run.len() == 1 => lexemes.push(format!("'{}':*", run[0])),
            Run::Cjk(run) => {
                for gram in run.windows(run.len().min(3)) {
                    lexemes.push(format!("'{}'", String::from_iter(gram)));
                }
            }
        }
    }
    lexemes.dedup();
    (!lexemes.is_empty()).then(|| lexemes.join(" & "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A character class of PostgreSQL's regular expressions for `ranges`.
    fn class(ranges: &[(char, char)]) -> String {
        ranges
            .iter()
            .map(|(low, high)| {
                let escape = |c: char| {
                    if c.is_ascii_alphanumeric() {
                        c.to_string()
                    } else {
                        format!("\\u{:04x}", u32::from(c))
                    }
                };
                format!("{}-{}", escape(*low), escape(*high))
            })
            .collect()
    }

    #[test]
    fn the_migration_tokenizes_with_the_same_characters() {
        let migration = include_str!("../../../infra/migrations/0031_article_search.sql");
        let pattern = format!(
            "'([{}]{{1,{MAX_WORD_CHARS}}})|([{}]+)'",
            class(&WORD_RANGES),
            class(&CJK_RANGES)
        );
        assert!(migration.contains(&pattern), "{pattern}");
    }

    #[test]
    fn chinese_runs_are_grams_and_words_and_single_characters_prefixes() {
        assert_eq!(
            tsquery("提示词 Prompt 词").as_deref(),
            Some("'提示词' & 'prompt':* & '词':*")
        );
        assert_eq!(
            tsquery("提示词工程").as_deref(),
            Some("'提示词' & '示词工' & '词工程'")
        );
        assert_eq!(
            tsquery("GPT-4：AI变现").as_deref(),
            Some("'gpt':* & '4':* & 'ai':* & '变现'")
        );
        assert_eq!(tsquery("！？ -- '\"").as_deref(), None);
        assert_eq!(tsquery("Café").as_deref(), Some("'café':*"));
    }

    #[test]
    fn quotes_and_operators_never_reach_the_tsquery() {
        let hostile = "'; DROP TABLE articles; -- a&b|!c:* (d)";
        let query = tsquery(hostile).unwrap();
        assert_eq!(
            query,
            "'drop':* & 'table':* & 'articles':* & 'a':* & 'b':* & 'c':* & 'd':*"
        );
    }

    #[test]
    fn long_words_are_cut_as_the_index_cuts_them() {
        let long = "x".repeat(MAX_WORD_CHARS + 6);
        assert_eq!(
            tsquery(&long).unwrap(),
            format!("'{}':* & '{}':*", "x".repeat(MAX_WORD_CHARS), "x".repeat(6))
        );
    }
}
