//! `seed --profile strapi`: the Strapi anchor's data set, generated the way its
//! `app-template/scripts/seed.js` generates it (in `../shared/anchors/strapi/`), so
//! `scripts/bench strapi` measures both servers on the same rows: 50 authors, 12
//! categories, 200 tags, 10,000 published English articles with 3 tags each and
//! bodies of about 3.1 KB of Markdown, article #k published at 2024-01-01 + k × 37
//! minutes. The PRNG (mulberry32, seed 20240601) and the order of its draws follow
//! seed.js call for call, so titles, slugs and bodies come out identical (the
//! anchor's `bench.sh` reads the detail slug from Strapi's database and asks both
//! servers for it).

use super::{Article, Fixture};

const SEED: u32 = 20_240_601;
const AUTHORS: usize = 50;
const CATEGORIES: usize = 12;
const TAGS: usize = 200;

const WORDS: &str = "system data cache query server client request response latency throughput \
memory thread async runtime compile build deploy release feature design \
pattern module package service network socket stream buffer index table \
schema record field value token session cookie header payload format parse \
render template layout style component state event handler callback promise \
future channel queue worker job task schedule timer clock metric trace log \
error panic retry backoff timeout limit quota budget cost scale shard replica \
leader follower consensus vote term commit rollback snapshot backup restore \
migrate upgrade version branch merge review test bench profile optimize tune \
fast slow small large simple complex robust fragile secure open closed public \
private shared local remote global static dynamic lazy eager strict loose \
modern legacy portable native hybrid cloud edge core kernel driver device \
storage disk file block page frame packet route path graph tree list map set \
vector matrix tensor model train infer predict learn adapt evolve grow ship \
team people product market growth strategy vision mission culture craft story \
lesson guide primer recipe tour deep dive notes field report journey";

const FIRST: [&str; 25] = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Barbara",
    "Ken",
    "Dennis",
    "Margaret",
    "Edsger",
    "Donald",
    "Frances",
    "John",
    "Radia",
    "Leslie",
    "Guido",
    "Bjarne",
    "Sophie",
    "Tim",
    "Katherine",
    "Niklaus",
    "Hedy",
    "Yukihiro",
    "Anders",
    "Rob",
    "Jean",
];
const LAST: [&str; 25] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Ritchie",
    "Hamilton",
    "Dijkstra",
    "Knuth",
    "Allen",
    "McCarthy",
    "Perlman",
    "Lamport",
    "Rossum",
    "Stroustrup",
    "Wilson",
    "Berners",
    "Johnson",
    "Wirth",
    "Lamarr",
    "Matsumoto",
    "Hejlsberg",
    "Pike",
    "Sammet",
];
const CATEGORY_NAMES: [&str; CATEGORIES] = [
    "Engineering",
    "Design",
    "Product",
    "Culture",
    "Security",
    "Data",
    "DevOps",
    "Mobile",
    "Web",
    "AI",
    "Business",
    "Research",
];
/// seed.js's `VIS`: 7 in 10 public, 2 members, 1 paid.
const VISIBILITY: [&str; 10] = [
    "public", "public", "public", "public", "public", "public", "public", "members", "members",
    "paid",
];

/// seed.js's generator: mulberry32 and the helpers built on it.
struct Generator {
    state: u32,
    words: Vec<&'static str>,
}

impl Generator {
    fn new() -> Generator {
        Generator {
            state: SEED,
            words: WORDS.split_whitespace().collect(),
        }
    }

    /// mulberry32, as JavaScript computes it (`Math.imul` is a wrapping 32-bit product).
    fn next(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x6d2b_79f5);
        let mut t = self.state;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }

    /// `int(n)`: 0..n-1.
    fn int(&mut self, n: usize) -> usize {
        // The product is below n, so the cast cannot truncate.
        (self.next() * n as f64).floor() as usize
    }

    fn word(&mut self) -> &'static str {
        let i = self.int(self.words.len());
        self.words[i]
    }

    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }

    fn sentence(&mut self) -> String {
        let n = 8 + self.int(10);
        format!("{}.", capitalise(&self.words(n)))
    }

    fn paragraph(&mut self) -> String {
        let n = 3 + self.int(3);
        (0..n)
            .map(|_| self.sentence())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// seed.js's `markdownBody`: about 3 KB of Markdown under the title.
    fn body(&mut self, title: &str) -> String {
        let mut parts = vec![format!("# {title}"), self.paragraph()];
        let mut section = 0;
        while parts.join("\n\n").len() < 3000 {
            section += 1;
            let n = 3 + self.int(3);
            let heading = capitalise(&self.words(n));
            parts.push(format!("## {heading}"));
            let paragraph = self.paragraph();
            parts.push(paragraph);
            let extra = match section % 4 {
                1 => (0..3)
                    .map(|_| {
                        let key = self.word();
                        let n = 5 + self.int(6);
                        format!("- **{key}**: {}", self.words(n))
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                2 => {
                    let (a, b, c, d) = (self.word(), self.word(), self.word(), self.word());
                    let number = self.int(1000);
                    let (e, f) = (self.word(), self.word());
                    format!(
                        "```js\nconst {a} = await {b}.{c}({{ {d}: {number} }});\nconsole.log({e}.{f});\n```"
                    )
                }
                3 => format!("> {} {}", self.sentence(), self.sentence()),
                _ => {
                    let text = self.words(2);
                    let target = slugify(&self.words(3));
                    format!("See [{text}](https://example.com/{target}) for details.")
                }
            };
            parts.push(extra);
        }
        let mut body = parts.join("\n\n");
        if body.len() > 3300 {
            // `lastIndexOf('\n\n', 3300)`: the last break starting at or before 3300.
            let cut = body[..(3300 + 2).min(body.len())].rfind("\n\n");
            let end = match cut {
                Some(cut) if cut > 2800 => cut,
                _ => 3300,
            };
            body.truncate(end);
        }
        body.push('\n');
        body
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// seed.js's `slugify`: lower case, runs of anything but `a-z0-9` as one `-`, trimmed.
fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

/// Minutes from 2024-01-01T00:00:00Z to article `k`'s (1-based) publication.
fn published_minutes(k: usize) -> i64 {
    // At most the article count times 37: far below i64::MAX.
    k as i64 * 37
}

/// The anchor's data set with `articles` articles.
pub fn fixture(articles: usize) -> Fixture {
    let mut g = Generator::new();
    let authors = (0..AUTHORS)
        .map(|i| {
            let name = format!(
                "{} {}",
                FIRST[i % FIRST.len()],
                LAST[(i * 7 + i / LAST.len()) % LAST.len()]
            );
            let slug = format!("{}-{}", slugify(&name), i + 1);
            let bio = [g.sentence(), g.sentence(), g.sentence()].join(" ");
            (name, slug, bio)
        })
        .collect();
    let categories = CATEGORY_NAMES
        .iter()
        .map(|name| {
            let description = format!("{} {}", g.sentence(), g.sentence());
            ((*name).to_owned(), slugify(name), description)
        })
        .collect();
    let tags = (0..TAGS)
        .map(|i| {
            let name = format!("{} {}", g.word(), g.word());
            let slug = format!("{}-{}", slugify(&name), i + 1);
            (name, slug, String::new())
        })
        .collect();
    let articles = (0..articles)
        .map(|i| {
            let n = 4 + g.int(5);
            let title = capitalise(&g.words(n));
            let slug = format!("{}-{}", slugify(&title), i + 1);
            let body = g.body(&title);
            // seed.js keeps the tags in the order drawn (a Set); ours are a set too.
            let mut tags: Vec<usize> = Vec::with_capacity(3);
            while tags.len() < 3 {
                let t = g.int(TAGS);
                if !tags.contains(&t) {
                    tags.push(t);
                }
            }
            let excerpt = format!("{} {}", g.sentence(), g.sentence());
            let visibility = VISIBILITY[g.int(VISIBILITY.len())];
            let author = g.int(AUTHORS);
            let category = g.int(CATEGORIES);
            Article::published_at_minutes(
                title,
                slug,
                excerpt,
                body,
                visibility,
                author,
                category,
                tags,
                published_minutes(i + 1),
            )
        })
        .collect();
    Fixture {
        authors,
        categories,
        tags,
        articles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulberry32_matches_javascript() {
        // mulberry32(20240601)() three times, as node prints them.
        let mut g = Generator::new();
        let first: Vec<f64> = (0..3).map(|_| g.next()).collect();
        assert_eq!(
            first,
            [0.35344086796976626, 0.02818377036601305, 0.6889668190851808]
        );
    }

    #[test]
    fn slugs_follow_seed_js() {
        assert_eq!(slugify("Ada Lovelace"), "ada-lovelace");
        assert_eq!(slugify("  Fast, slow -- and AI! "), "fast-slow-and-ai");
    }

    #[test]
    fn the_articles_are_seed_js_articles() {
        // What seed.js printed when it seeded the anchor: "generated 10000 articles
        // (avg body 3137 chars); sample slug #42: vision-replica-…-42".
        let fixture = fixture(10_000);
        assert_eq!(
            fixture.articles[41].slug,
            "vision-replica-index-driver-portable-train-design-version-42"
        );
        let total: usize = fixture.articles.iter().map(|a| a.body.len()).sum();
        assert_eq!((total as f64 / 10_000.0).round(), 3137.0);
    }

    #[test]
    fn articles_have_the_anchor_shape() {
        let fixture = fixture(50);
        assert_eq!(fixture.authors.len(), AUTHORS);
        assert_eq!(fixture.categories[0].1, "engineering");
        assert_eq!(fixture.tags.len(), TAGS);
        for (i, article) in fixture.articles.iter().enumerate() {
            assert!(article.slug.ends_with(&format!("-{}", i + 1)));
            assert_eq!(article.tags.len(), 3);
            assert!(
                (2800..=3301).contains(&article.body.len()),
                "{}",
                article.body.len()
            );
        }
    }
}
