//! Slugs: the URL names of articles and authors.
//!
//! A slug is lower-case ASCII words joined by hyphens (`^[a-z0-9]+(-[a-z0-9]+)*$`),
//! the form Strapi's `uid` fields produce. When the client gives none, it is made from
//! the title: ASCII letters and digits are kept as lower-cased words, everything else
//! separates words. A title with other letters (a Chinese title, usually) would lose
//! them, and two such titles would collide, so its slug gets a six-character random
//! suffix: `AI变现之路` → `ai-8f3k2a`, `变现之路` → `8f3k2a`. Transliterating to pinyin
//! would read better but needs a dictionary and still has to break ties; editors can
//! always set a slug by hand. The slug is made once, on create, and kept when the
//! title changes so published URLs stay put.

use rand::Rng;

use platform::error::{Error, Result};

pub const MAX_LEN: usize = 96;
const SUFFIX_LEN: usize = 6;
const SUFFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Checks a slug the client chose.
pub fn validate(slug: &str, field: &str) -> Result<()> {
    let well_formed = !slug.is_empty()
        && slug.len() <= MAX_LEN
        && slug.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if well_formed {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{field} must be lower-case letters and digits joined by single hyphens, at most {MAX_LEN} characters"
            ),
        ))
    }
}

/// A slug for `title`, with a random suffix when the title has non-ASCII letters.
pub fn from_title(title: &str) -> String {
    let needs_suffix = title
        .chars()
        .any(|c| c.is_alphanumeric() && !c.is_ascii_alphanumeric());
    with_suffix(title, needs_suffix)
}

/// A slug for `name` that is always suffixed: names of people repeat.
pub fn unique_from_name(name: &str) -> String {
    with_suffix(name, true)
}

fn with_suffix(text: &str, suffix: bool) -> String {
    let mut slug = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() + 1 > MAX_LEN - SUFFIX_LEN - 1 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    if suffix || slug.is_empty() {
        if !slug.is_empty() {
            slug.push('-');
        }
        let mut rng = rand::rng();
        slug.extend(
            (0..SUFFIX_LEN)
                .map(|_| char::from(SUFFIX_ALPHABET[rng.random_range(0..SUFFIX_ALPHABET.len())])),
        );
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_titles_become_words() {
        assert_eq!(from_title("Hello, World: 10 Ways!"), "hello-world-10-ways");
        assert!(validate(&from_title("Hello, World: 10 Ways!"), "slug").is_ok());
    }

    #[test]
    fn chinese_titles_keep_their_ascii_part_and_get_a_suffix() {
        let slug = from_title("AI变现之路");
        assert!(
            slug.starts_with("ai-") && slug.len() == 3 + SUFFIX_LEN,
            "{slug}"
        );
        assert!(validate(&slug, "slug").is_ok());
        let bare = from_title("变现之路");
        assert_eq!(bare.len(), SUFFIX_LEN);
        assert!(validate(&bare, "slug").is_ok());
        assert_ne!(from_title("变现之路"), from_title("变现之路"));
    }

    #[test]
    fn long_titles_are_cut_at_a_word() {
        let slug = from_title(&"word ".repeat(100));
        assert!(
            slug.len() <= MAX_LEN && validate(&slug, "slug").is_ok(),
            "{slug}"
        );
    }

    #[test]
    fn explicit_slugs_are_checked() {
        for good in ["a", "ai-tools", "2025-plan"] {
            assert!(validate(good, "slug").is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "A",
            "a_b",
            "变现",
            "a b",
            &"a".repeat(97),
        ] {
            assert!(validate(bad, "slug").is_err(), "{bad}");
        }
    }
}
