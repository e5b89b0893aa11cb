//! What a frontend puts in an article page's `<head>` so the page previews well when
//! shared: the canonical URL, Open Graph and Twitter card tags (Ghost's set), and the
//! fields of WeChat's JS-SDK share call (`updateAppMessageShareData({title, desc,
//! link, imgUrl})`).
//!
//! Every article carries it as the field `share`. The SQL layer selects its inputs as
//! one JSON value (`crate::sql`); [`finish`] turns that into the answer with the
//! site's links, at every level an article appears (`crate::documents`). The tags are keyed by their `property`
//! or `name`, so a frontend writes `<meta property={key} content={value}>` for each.
//! The image is the cover's `large` format (else the cover itself); WeChat's is the
//! cover's 300-pixel share square.

use serde_json::{Map, Value, json};

use super::Links;
use crate::schema::Entry;

/// The field's name in article entries.
pub const FIELD: &str = "share";

/// What `finish` needs besides the row: where pages live and what the site is called.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub links: Links<'a>,
    pub name: &'a str,
}

/// Turns each entry's `share` inputs into the answer.
pub fn finish(entries: &mut [Entry], site: Site<'_>) {
    for entry in entries {
        if let Some(inputs) = entry.get_mut(FIELD) {
            let answer = shape(inputs, site);
            *inputs = answer;
        }
    }
}

fn shape(inputs: &Value, site: Site<'_>) -> Value {
    let text = |name: &str| inputs[name].as_str().map(str::to_owned);
    let (Some(slug), Some(locale)) = (text("slug"), text("locale")) else {
        return Value::Null;
    };
    let url = site.links.article(&locale, &slug);
    let title = text("title");
    let description = text("description");
    let image = &inputs["image"];
    let image_url = image["url"].as_str();

    let mut og = Map::new();
    let put = |map: &mut Map<String, Value>, key: &str, value: Value| {
        if !value.is_null() {
            map.insert(key.to_owned(), value);
        }
    };
    put(&mut og, "og:type", json!("article"));
    put(&mut og, "og:site_name", json!(site.name));
    put(&mut og, "og:locale", json!(locale.replace('-', "_")));
    put(&mut og, "og:title", json!(title));
    put(&mut og, "og:description", json!(description));
    put(&mut og, "og:url", json!(url));
    put(&mut og, "og:image", json!(image_url));
    put(&mut og, "og:image:width", image["width"].clone());
    put(&mut og, "og:image:height", image["height"].clone());
    put(&mut og, "og:image:alt", image["alt"].clone());
    put(
        &mut og,
        "article:published_time",
        inputs["publishedAt"].clone(),
    );
    put(
        &mut og,
        "article:modified_time",
        inputs["modifiedAt"].clone(),
    );

    let mut twitter = Map::new();
    let card = if image_url.is_some() {
        "summary_large_image"
    } else {
        "summary"
    };
    put(&mut twitter, "twitter:card", json!(card));
    put(&mut twitter, "twitter:title", json!(title));
    put(&mut twitter, "twitter:description", json!(description));
    put(&mut twitter, "twitter:image", json!(image_url));
    put(&mut twitter, "twitter:image:alt", image["alt"].clone());

    json!({
        "canonicalUrl": url,
        "title": title,
        "description": description,
        "openGraph": og,
        "twitter": twitter,
        "wechat": {
            "title": title,
            "desc": description.unwrap_or_default(),
            "link": url,
            "imgUrl": image["square"].as_str().or(image_url),
        },
    })
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;

    fn site<'a>(site: &'a Url, api: &'a Url) -> Site<'a> {
        Site {
            links: Links { site, api },
            name: "AI变现之路",
        }
    }

    #[test]
    fn an_article_with_a_cover_gets_a_large_card_and_a_square_for_wechat() {
        let (base, api) = (
            "https://example.com/".parse().unwrap(),
            "https://api.example.com/".parse().unwrap(),
        );
        let mut entries = vec![Entry::from_iter([(
            FIELD.to_owned(),
            json!({
                "slug": "prompts", "locale": "zh-CN", "title": "提示词入门",
                "description": "摘要", "publishedAt": "2026-03-01T08:00:00+00:00",
                "modifiedAt": "2026-03-02T08:00:00+00:00",
                "image": { "url": "https://m/large.jpg", "width": 1000, "height": 750,
                           "alt": "封面", "square": "https://m/square.jpg" },
            }),
        )])];
        finish(&mut entries, site(&base, &api));
        let share = &entries[0][FIELD];
        assert_eq!(
            share["canonicalUrl"],
            "https://example.com/articles/prompts"
        );
        assert_eq!(share["openGraph"]["og:url"], share["canonicalUrl"]);
        assert_eq!(share["openGraph"]["og:image"], "https://m/large.jpg");
        assert_eq!(share["openGraph"]["og:image:width"], 1000);
        assert_eq!(share["openGraph"]["og:locale"], "zh_CN");
        assert_eq!(share["openGraph"]["og:site_name"], "AI变现之路");
        assert_eq!(share["twitter"]["twitter:card"], "summary_large_image");
        assert_eq!(
            share["wechat"],
            json!({ "title": "提示词入门", "desc": "摘要",
                    "link": "https://example.com/articles/prompts",
                    "imgUrl": "https://m/square.jpg" })
        );
    }

    #[test]
    fn without_a_cover_the_card_is_a_summary_and_no_tag_is_null() {
        let (base, api) = (
            "https://example.com/".parse().unwrap(),
            "https://api.example.com/".parse().unwrap(),
        );
        let mut entries = vec![Entry::from_iter([(
            FIELD.to_owned(),
            json!({ "slug": "hello", "locale": "en", "title": "Hello",
                    "description": null, "publishedAt": null, "modifiedAt": "2026-03-02T08:00:00+00:00",
                    "image": null }),
        )])];
        finish(&mut entries, site(&base, &api));
        let share = &entries[0][FIELD];
        assert_eq!(
            share["canonicalUrl"],
            "https://example.com/en/articles/hello"
        );
        assert_eq!(share["twitter"]["twitter:card"], "summary");
        for tags in [&share["openGraph"], &share["twitter"]] {
            assert!(
                tags.as_object().unwrap().values().all(|v| !v.is_null()),
                "{tags}"
            );
        }
        assert!(share["openGraph"].get("og:image").is_none());
        assert!(share["wechat"]["imgUrl"].is_null());
        assert_eq!(share["wechat"]["desc"], "");
    }
}
