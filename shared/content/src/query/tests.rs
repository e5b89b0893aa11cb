use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::schema::{ARTICLES, AUTHORS, CONTENT_TYPES, TAGS};

fn parse(raw: &str) -> Query {
    Query::parse(&ARTICLES, raw).unwrap_or_else(|err| panic!("{raw}: {err}"))
}

/// The parameter path and message of the 400 `raw` must produce.
fn reject(raw: &str) -> (String, String) {
    match Query::parse(&ARTICLES, raw) {
        Ok(query) => panic!("{raw} was accepted: {query:?}"),
        Err(Error::Validation { message, details }) => {
            let path = details["errors"][0]["path"][0].as_str().unwrap_or_default();
            (path.to_string(), message)
        }
        Err(other) => panic!("{raw}: {other:?} is not a validation error"),
    }
}

fn rejected_at(raw: &str, path: &str) {
    assert_eq!(reject(raw).0, path, "{raw}");
}

fn condition(filter: Option<&Filter>) -> &Condition {
    match filter {
        Some(Filter::Condition(condition)) => condition,
        other => panic!("not a single condition: {other:?}"),
    }
}

fn names(fields: &[&'static Field]) -> Vec<&'static str> {
    fields.iter().map(|f| f.name).collect()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn date(y: i32, m: u32, d: u32) -> Value {
    Value::DateTime(Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap())
}

// --- filters -----------------------------------------------------------------------

#[test]
fn every_operator_parses_its_operand() {
    let cases = [
        ("filters[title][$eq]=AI", Operator::Eq, text("AI")),
        ("filters[title][$eqi]=ai", Operator::Eqi, text("ai")),
        ("filters[visibility][$ne]=paid", Operator::Ne, text("paid")),
        ("filters[slug][$nei]=A-B", Operator::Nei, text("A-B")),
        (
            "filters[readingMinutes][$lt]=5",
            Operator::Lt,
            Value::Integer(5),
        ),
        (
            "filters[readingMinutes][$lte]=-5",
            Operator::Lte,
            Value::Integer(-5),
        ),
        ("filters[id][$gt]=10", Operator::Gt, Value::Integer(10)),
        (
            "filters[publishedAt][$gte]=2025-01-01",
            Operator::Gte,
            date(2025, 1, 1),
        ),
        (
            "filters[id][$in][0]=1&filters[id][$in][1]=2",
            Operator::In,
            Value::List(vec![Value::Integer(1), Value::Integer(2)]),
        ),
        (
            "filters[visibility][$notIn]=paid",
            Operator::NotIn,
            Value::List(vec![text("paid")]),
        ),
        (
            "filters[title][$contains]=GPT",
            Operator::Contains,
            text("GPT"),
        ),
        (
            "filters[title][$notContains]=GPT",
            Operator::NotContains,
            text("GPT"),
        ),
        (
            "filters[title][$containsi]=gpt",
            Operator::Containsi,
            text("gpt"),
        ),
        (
            "filters[excerpt][$notContainsi]=x",
            Operator::NotContainsi,
            text("x"),
        ),
        (
            "filters[seoTitle][$null]=true",
            Operator::Null,
            Value::Bool(true),
        ),
        (
            "filters[seoTitle][$notNull]=false",
            Operator::NotNull,
            Value::Bool(false),
        ),
        (
            "filters[publishedAt][$between][0]=2025-01-01&filters[publishedAt][$between][1]=2025-02-01T00:00:00Z",
            Operator::Between,
            Value::List(vec![date(2025, 1, 1), date(2025, 2, 1)]),
        ),
        (
            "filters[slug][$startsWith]=ai-",
            Operator::StartsWith,
            text("ai-"),
        ),
        (
            "filters[title][$startsWithi]=ai",
            Operator::StartsWithi,
            text("ai"),
        ),
        (
            "filters[slug][$endsWith]=-2025",
            Operator::EndsWith,
            text("-2025"),
        ),
        (
            "filters[title][$endsWithi]=指南",
            Operator::EndsWithi,
            text("指南"),
        ),
    ];
    let mut seen = Vec::new();
    for (raw, operator, value) in cases {
        let query = parse(raw);
        let condition = condition(query.filters.as_ref());
        assert_eq!(condition.operator, operator, "{raw}");
        assert_eq!(condition.value, value, "{raw}");
        assert!(condition.relations.is_empty(), "{raw}");
        seen.push(operator);
    }
    assert!(Operator::ALL.iter().all(|op| seen.contains(op)));
}

#[test]
fn every_operator_rejects_a_wrong_operand() {
    let cases = [
        ("filters[id][$eq]=abc", "filters[id][$eq]", Operator::Eq),
        (
            "filters[readingMinutes][$eqi]=5",
            "filters[readingMinutes][$eqi]",
            Operator::Eqi,
        ),
        (
            "filters[visibility][$ne]=secret",
            "filters[visibility][$ne]",
            Operator::Ne,
        ),
        (
            "filters[featured][$nei]=true",
            "filters[featured][$nei]",
            Operator::Nei,
        ),
        ("filters[id][$lt]=1.5", "filters[id][$lt]", Operator::Lt),
        (
            "filters[publishedAt][$lte]=yesterday",
            "filters[publishedAt][$lte]",
            Operator::Lte,
        ),
        ("filters[id][$gt]=abc", "filters[id][$gt]", Operator::Gt),
        (
            "filters[visibility][$gte]=paid",
            "filters[visibility][$gte]",
            Operator::Gte,
        ),
        (
            "filters[id][$in][0]=1&filters[id][$in][1]=x",
            "filters[id][$in]",
            Operator::In,
        ),
        (
            "filters[id][$notIn][0]=1e3",
            "filters[id][$notIn]",
            Operator::NotIn,
        ),
        (
            "filters[readingMinutes][$contains]=5",
            "filters[readingMinutes][$contains]",
            Operator::Contains,
        ),
        (
            "filters[id][$notContains]=1",
            "filters[id][$notContains]",
            Operator::NotContains,
        ),
        (
            "filters[publishedAt][$containsi]=2025",
            "filters[publishedAt][$containsi]",
            Operator::Containsi,
        ),
        (
            "filters[visibility][$notContainsi]=p",
            "filters[visibility][$notContainsi]",
            Operator::NotContainsi,
        ),
        (
            "filters[title][$null]=yes",
            "filters[title][$null]",
            Operator::Null,
        ),
        (
            "filters[title][$notNull]=1",
            "filters[title][$notNull]",
            Operator::NotNull,
        ),
        (
            "filters[id][$between][0]=1",
            "filters[id][$between]",
            Operator::Between,
        ),
        (
            "filters[id][$startsWith]=1",
            "filters[id][$startsWith]",
            Operator::StartsWith,
        ),
        (
            "filters[featured][$startsWithi]=t",
            "filters[featured][$startsWithi]",
            Operator::StartsWithi,
        ),
        (
            "filters[publishedAt][$endsWith]=Z",
            "filters[publishedAt][$endsWith]",
            Operator::EndsWith,
        ),
        (
            "filters[readingMinutes][$endsWithi]=0",
            "filters[readingMinutes][$endsWithi]",
            Operator::EndsWithi,
        ),
    ];
    let mut seen = Vec::new();
    for (raw, path, operator) in cases {
        rejected_at(raw, path);
        seen.push(operator);
    }
    assert!(Operator::ALL.iter().all(|op| seen.contains(op)));
}

#[test]
fn operands_have_the_right_shape() {
    rejected_at(
        "filters[id][$between][0]=1&filters[id][$between][1]=2&filters[id][$between][2]=3",
        "filters[id][$between]",
    );
    rejected_at("filters[title][$eq][0]=a", "filters[title][$eq]");
    rejected_at(
        "filters[title][$eq]=a&filters[title][$eq]=b",
        "filters[title][$eq]",
    );
    rejected_at("filters[title][$like]=a", "filters[title][$like]");
    rejected_at("filters[id][$in][x]=1", "filters[id][$in]");
    rejected_at("filters=title", "filters");
    let (_, message) = reject("filters[id][$gt]=abc");
    assert!(message.contains("filters[id][$gt]"), "{message}");
}

#[test]
fn a_bare_value_means_eq_and_a_list_means_in() {
    let query = parse("filters[slug]=ai-tools");
    let single = condition(query.filters.as_ref());
    assert_eq!(
        (single.operator, &single.value),
        (Operator::Eq, &text("ai-tools"))
    );
    for raw in [
        "filters[slug]=a&filters[slug]=b",
        "filters[slug][]=a&filters[slug][]=b",
        "filters[slug][0]=a&filters[slug][1]=b",
    ] {
        let query = parse(raw);
        let list = condition(query.filters.as_ref());
        assert_eq!(list.operator, Operator::In, "{raw}");
        assert_eq!(list.value, Value::List(vec![text("a"), text("b")]), "{raw}");
    }
}

#[test]
fn logical_operators_nest() {
    let query = parse("filters[$or][0][title][$eq]=a&filters[$or][1][title][$eq]=b");
    let Some(Filter::Or(branches)) = &query.filters else {
        panic!("{:?}", query.filters);
    };
    assert_eq!(branches.len(), 2);
    assert_eq!(condition(Some(&branches[1])).value, text("b"));

    let query = parse(
        "filters[$and][0][$or][0][featured]=true&filters[$and][0][$or][1][readingMinutes][$lte]=3\
         &filters[$and][1][$not][visibility][$eq]=paid",
    );
    let Some(Filter::And(parts)) = &query.filters else {
        panic!("{:?}", query.filters);
    };
    assert!(matches!(&parts[0], Filter::Or(inner) if inner.len() == 2));
    assert!(matches!(&parts[1], Filter::Not(inner) if matches!(**inner, Filter::Condition(_))));

    let query = parse("filters[title][$not][$containsi]=spam");
    let Some(Filter::Not(inner)) = &query.filters else {
        panic!("{:?}", query.filters);
    };
    assert_eq!(condition(Some(inner)).operator, Operator::Containsi);

    let query = parse("filters[readingMinutes][$gte]=3&filters[readingMinutes][$lt]=10");
    assert!(matches!(&query.filters, Some(Filter::And(parts)) if parts.len() == 2));
}

#[test]
fn logical_operators_need_their_shapes() {
    rejected_at("filters[$or][title][$eq]=a", "filters[$or]");
    rejected_at("filters[$or]=a", "filters[$or]");
    rejected_at("filters[$or][0]=a", "filters[$or][0]");
    rejected_at("filters[$not]=a", "filters[$not]");
    rejected_at("filters[$eq]=a", "filters[$eq]");
    rejected_at("filters[$nor][0][title]=a", "filters[$nor]");
}

#[test]
fn relation_filters_walk_the_schema() {
    let query = parse("filters[category][slug][$eq]=ai-tools");
    let c = condition(query.filters.as_ref());
    assert_eq!(
        c.relations.iter().map(|r| r.name).collect::<Vec<_>>(),
        ["category"]
    );
    assert_eq!((c.field.name, &c.value), ("slug", &text("ai-tools")));

    let query = parse("filters[tags][slug][$in][0]=a&filters[tags][slug][$in][1]=b");
    let c = condition(query.filters.as_ref());
    assert_eq!(c.relations[0].name, "tags");
    assert_eq!(c.value, Value::List(vec![text("a"), text("b")]));

    let query = parse("filters[author][articles][title][$containsi]=rust");
    let c = condition(query.filters.as_ref());
    let path: Vec<_> = c.relations.iter().map(|r| r.name).collect();
    assert_eq!((path, c.field.name), (vec!["author", "articles"], "title"));

    let query = Query::parse(&AUTHORS, "filters[articles][tags][slug][$eq]=ai").unwrap();
    assert_eq!(condition(query.filters.as_ref()).relations[1].name, "tags");
}

#[test]
fn relation_filters_are_bounded_and_need_a_field() {
    let (path, message) = reject("filters[author][articles][category][slug][$eq]=x");
    assert_eq!(path, "filters[author][articles][category]");
    assert!(message.contains("at most 2 relations"), "{message}");
    rejected_at("filters[author]=3", "filters[author]");
    rejected_at("filters[author][$eq]=3", "filters[author][$eq]");
    rejected_at(
        "filters[author][nickname][$eq]=x",
        "filters[author][nickname]",
    );
    rejected_at("filters[body][$containsi]=x", "filters[body]");
}

#[test]
fn filters_are_limited_in_size() {
    let conditions = |n: usize| {
        (0..n)
            .map(|i| format!("filters[$or][{i}][id]={i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert!(Query::parse(&ARTICLES, &conditions(MAX_CONDITIONS)).is_ok());
    let (_, message) = reject(&conditions(MAX_CONDITIONS + 1));
    assert!(
        message.contains("more than 100 filter conditions"),
        "{message}"
    );

    // Populate filters draw on the same budget.
    let top = conditions(MAX_CONDITIONS - 1);
    assert!(Query::parse(&ARTICLES, &format!("{top}&populate[tags][filters][slug]=x")).is_ok());
    let over = format!("{top}&populate[tags][filters][slug]=x&populate[author][filters][slug]=y");
    assert!(Query::parse(&ARTICLES, &over).is_err());

    let list = |n: usize| {
        (0..n)
            .map(|i| format!("filters[id][$in][{i}]={i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert!(Query::parse(&ARTICLES, &list(MAX_LIST_ITEMS)).is_ok());
    rejected_at(&list(MAX_LIST_ITEMS + 1), "filters[id][$in]");

    let long = "x".repeat(MAX_VALUE_CHARS + 1);
    rejected_at(
        &format!("filters[title][$containsi]={long}"),
        "filters[title][$containsi]",
    );
    rejected_at("filters[title][$eq]=a%00b", "filters[title][$eq]");
}

#[test]
fn datetimes_accept_iso_8601_shapes() {
    let instant = |raw: &str| {
        let query = parse(&format!("filters[publishedAt][$gt]={raw}"));
        condition(query.filters.as_ref()).value.clone()
    };
    let eight_utc = Value::DateTime(Utc.with_ymd_and_hms(2025, 1, 31, 8, 0, 0).unwrap());
    assert_eq!(instant("2025-01-31T08:00:00Z"), eight_utc);
    assert_eq!(instant("2025-01-31T16:00:00%2B08:00"), eight_utc);
    assert_eq!(instant("2025-01-31T08:00:00"), eight_utc);
    assert_eq!(instant("2025-01-31T08:00:00.000Z"), eight_utc);
    assert_eq!(instant("2025-01-31"), date(2025, 1, 31));
    for bad in [
        "2025-13-01",
        "31/01/2025",
        "2025-01-31T25:00:00Z",
        "1738310400",
        "",
    ] {
        rejected_at(
            &format!("filters[publishedAt][$gt]={bad}"),
            "filters[publishedAt][$gt]",
        );
    }
}

#[test]
fn scalar_values_are_typed() {
    let value = |raw: &str| condition(parse(raw).filters.as_ref()).value.clone();
    assert_eq!(value("filters[featured]=true"), Value::Bool(true));
    assert_eq!(value("filters[visibility]=members"), text("members"));
    assert_eq!(
        value("filters[id]=9223372036854775807"),
        Value::Integer(i64::MAX)
    );
    rejected_at("filters[id]=9223372036854775808", "filters[id]");
    rejected_at("filters[featured]=TRUE", "filters[featured]");
    rejected_at("filters[visibility]=Paid", "filters[visibility]");
}

// --- private fields ----------------------------------------------------------------

/// A private field is refused with exactly the words used for a field that does not
/// exist, so the answer does not confirm it.
fn refused_like_unknown(private: &str, unknown: &str, private_name: &str, unknown_name: &str) {
    let (private_path, private_message) = reject(private);
    let (unknown_path, unknown_message) = reject(unknown);
    assert_eq!(
        private_path.replace(private_name, unknown_name),
        unknown_path
    );
    assert_eq!(
        private_message.replace(private_name, unknown_name),
        unknown_message
    );
    assert!(private_message.contains("not allowed"), "{private_message}");
}

#[test]
fn private_fields_cannot_be_filtered_on() {
    refused_like_unknown(
        "filters[internalNotes][$containsi]=x",
        "filters[nothingHere][$containsi]=x",
        "internalNotes",
        "nothingHere",
    );
    refused_like_unknown(
        "filters[author][email][$eq]=a@example.com",
        "filters[author][nothingHere][$eq]=a@example.com",
        "email",
        "nothingHere",
    );
    rejected_at(
        "filters[$or][0][internalNotes][$null]=false",
        "filters[$or][0][internalNotes]",
    );
    rejected_at(
        "populate[author][filters][email][$endsWith]=.cn",
        "populate[author][filters][email]",
    );
}

#[test]
fn private_fields_cannot_be_sorted_on() {
    refused_like_unknown(
        "sort=internalNotes:desc",
        "sort=nothingHere:desc",
        "internalNotes",
        "nothingHere",
    );
    rejected_at("sort[0]=title&sort[1]=internalNotes", "sort[1]");
    rejected_at("sort[internalNotes]=asc", "sort[internalNotes]");
    rejected_at("populate[author][sort]=email", "populate[author][sort]");
}

#[test]
fn private_fields_cannot_be_selected() {
    refused_like_unknown(
        "fields=internalNotes",
        "fields=nothingHere",
        "internalNotes",
        "nothingHere",
    );
    rejected_at("fields[0]=title&fields[1]=internalNotes", "fields");
    rejected_at(
        "populate[author][fields][0]=email",
        "populate[author][fields]",
    );
    assert!(!names(&parse("").fields).contains(&"internalNotes"));
    let query = parse("populate=author");
    assert!(!names(&query.populate[0].fields).contains(&"email"));
}

#[test]
fn private_fields_cannot_be_populated() {
    refused_like_unknown(
        "populate=internalNotes",
        "populate=nothingHere",
        "internalNotes",
        "nothingHere",
    );
    rejected_at("populate[internalNotes]=true", "populate");
    rejected_at(
        "populate[author][populate]=email",
        "populate[author][populate]",
    );
    rejected_at(
        "populate[author][populate][email]=true",
        "populate[author][populate]",
    );
}

// --- fields, populate, sort --------------------------------------------------------

#[test]
fn fields_always_include_the_ids() {
    assert_eq!(
        names(&parse("fields=title").fields),
        ["id", "documentId", "title"]
    );
    assert_eq!(
        names(&parse("fields[0]=slug&fields[1]=title").fields),
        ["id", "documentId", "title", "slug"]
    );
    assert_eq!(parse("fields=*").fields, parse("").fields);
    assert!(names(&parse("").fields).contains(&"body"));
    rejected_at("fields=author", "fields");
    rejected_at("fields=title,,slug", "fields");
    rejected_at("fields[title]=1", "fields");
}

#[test]
fn populate_accepts_strapis_spellings() {
    let relations = |raw: &str| -> Vec<&str> {
        parse(raw)
            .populate
            .iter()
            .map(|p| p.relation.name)
            .collect()
    };
    // Media fields are relations too, as in Strapi.
    assert_eq!(
        relations("populate=*"),
        ["author", "category", "cover", "tags"]
    );
    assert_eq!(relations("populate=cover"), ["cover"]);
    assert_eq!(relations("populate=tags,author"), ["author", "tags"]);
    assert_eq!(
        relations("populate[0]=tags&populate[1]=author"),
        ["author", "tags"]
    );
    assert_eq!(
        relations("populate[author]=true&populate[tags]=false"),
        ["author"]
    );

    let query = parse(
        "populate[author][fields][0]=name&populate[author][populate][articles][fields]=title\
         &populate[tags][filters][slug][$eq]=ai&populate[tags][sort]=name:desc&populate[category][count]=false",
    );
    let [author, category, tags] = query.populate.as_slice() else {
        panic!("{:?}", query.populate);
    };
    assert_eq!(names(&author.fields), ["id", "documentId", "name"]);
    assert_eq!(author.populate[0].relation.name, "articles");
    assert_eq!(
        names(&author.populate[0].fields),
        ["id", "documentId", "title"]
    );
    assert_eq!(category.fields, fields::all(category.relation.target));
    assert_eq!(condition(tags.filters.as_ref()).field.name, "slug");
    assert_eq!(tags.sort[0].direction, Direction::Desc);
    assert!(parse("populate[tags][count]=true").populate[0].count);
}

#[test]
fn populate_is_bounded_and_checked() {
    assert!(Query::parse(&ARTICLES, "populate[author][populate][articles]=true").is_ok());
    let (path, message) = reject("populate[author][populate][articles][populate][tags]=true");
    assert_eq!(path, "populate[author][populate][articles][populate]");
    assert!(message.contains("at most 2"), "{message}");
    rejected_at("populate[author][count]=true", "populate[author][count]");
    rejected_at("populate[author][on]=x", "populate[author][on]");
    rejected_at("populate[author]=yes", "populate[author]");
    rejected_at("populate=*,author", "populate");
    rejected_at("populate=author,author", "populate");
    rejected_at("populate=author.articles", "populate");
    assert_eq!(
        Query::parse(&TAGS, "populate[articles][populate]=*")
            .unwrap()
            .populate[0]
            .populate
            .len(),
        4
    );
}

#[test]
fn sort_accepts_strapis_spellings() {
    let keys =
        |raw: &str| -> Vec<String> { parse(raw).sort.iter().map(|s| s.to_string()).collect() };
    let expected = ["publishedAt:desc", "title:asc"];
    assert_eq!(keys("sort=publishedAt:desc,title"), expected);
    assert_eq!(keys("sort[0]=publishedAt:DESC&sort[1]=title:asc"), expected);
    assert_eq!(keys("sort=publishedAt:desc&sort=title"), expected);
    assert_eq!(keys("sort[]=publishedAt:desc&sort[]=title:asc"), expected);
    assert_eq!(keys("sort[publishedAt]=desc&sort[title]=asc"), expected);
    assert_eq!(
        keys("sort[0][publishedAt]=desc&sort[1][title]=asc"),
        expected
    );
    assert_eq!(
        keys("sort=title,publishedAt:desc"),
        ["title:asc", "publishedAt:desc"]
    );
}

#[test]
fn sort_refuses_what_cannot_be_ordered() {
    rejected_at("sort=body", "sort");
    rejected_at("sort=author", "sort");
    rejected_at("sort=title:up", "sort");
    rejected_at("sort=title,title:desc", "sort");
    rejected_at("sort=id,title,slug,publishedAt,createdAt,updatedAt", "sort");
}

// --- pagination --------------------------------------------------------------------

#[test]
fn pagination_defaults_and_modes() {
    let default = parse("").pagination;
    assert_eq!(
        (default.offset(), default.limit(), default.with_count),
        (0, 25, true)
    );
    let paged =
        parse("pagination[page]=3&pagination[pageSize]=10&pagination[withCount]=false").pagination;
    assert_eq!(
        paged.mode,
        PageMode::Page {
            page: 3,
            page_size: 10
        }
    );
    assert_eq!(
        (paged.offset(), paged.limit(), paged.with_count),
        (20, 10, false)
    );
    let offset = parse("pagination[start]=40&pagination[limit]=100").pagination;
    assert_eq!(
        offset.mode,
        PageMode::Offset {
            start: 40,
            limit: 100
        }
    );
    assert_eq!(offset.offset(), 40);
    assert_eq!(
        parse("pagination[limit]=5").pagination.mode,
        PageMode::Offset { start: 0, limit: 5 }
    );
    assert!(parse("pagination[withCount]=t").pagination.with_count);
    let last = parse("pagination[page]=10000&pagination[pageSize]=100").pagination;
    assert_eq!(last.offset(), 999_900);
}

#[test]
fn pagination_refuses_bad_numbers() {
    for name in ["page", "pageSize", "limit"] {
        for bad in [
            "0",
            "-1",
            "2.5",
            "abc",
            "",
            "%2B1",
            "1e3",
            "1e999",
            "1000000000",
            "99999999999999999999",
        ] {
            rejected_at(
                &format!("pagination[{name}]={bad}"),
                &format!("pagination[{name}]"),
            );
        }
    }
    rejected_at("pagination[pageSize]=101", "pagination[pageSize]");
    rejected_at("pagination[limit]=-1", "pagination[limit]");
    rejected_at("pagination[start]=-1", "pagination[start]");
    rejected_at("pagination[start]=1000001", "pagination[start]");
    rejected_at("pagination[withCount]=yes", "pagination[withCount]");
    assert_eq!(parse("pagination[pageSize]=100").pagination.limit(), 100);
    assert!(reject("pagination[pageSize]=101").1.contains("at most 100"));
}

#[test]
fn pagination_modes_cannot_be_mixed() {
    for raw in [
        "pagination[page]=1&pagination[limit]=10",
        "pagination[pageSize]=10&pagination[start]=0",
    ] {
        rejected_at(raw, "pagination");
    }
    rejected_at("pagination[offset]=10", "pagination[offset]");
    rejected_at("pagination=10", "pagination");
}

// --- top level ---------------------------------------------------------------------

#[test]
fn unknown_parameters_are_named() {
    rejected_at("foo=1", "foo");
    rejected_at("filters[title]=a&utm_source=wechat", "utm_source");
    rejected_at("publicationState=live", "publicationState");
    let (_, message) = reject("populate=author&_sort=title");
    assert!(message.contains("_sort"), "{message}");
}

#[test]
fn the_staff_list_reads_every_state_or_one() {
    let staff = |raw: &str| Query::parse_staff(&ARTICLES, raw);
    assert_eq!(staff("").expect("empty").status, Status::Staff(None));
    for state in State::ALL {
        let query = staff(&format!("status={}", state.as_str())).expect("a state");
        assert_eq!(query.status, Status::Staff(Some(state)));
    }
    for bad in ["modified", "draft,published", "", "DRAFT"] {
        let err = staff(&format!("status={bad}")).expect_err(bad);
        assert_eq!(err.status(), 400, "{bad}");
    }
    // Everything else is the public list's.
    let query = staff("filters[title][$containsi]=变现&sort=title:asc&locale=en&_q=AI")
        .expect("a list query");
    assert_eq!(query.search.as_deref(), Some("AI"));
    assert!(staff("filters[internalNotes][$eq]=x").is_err());
    // One cache key per state, none a public one.
    let keys: Vec<String> = ["", "status=draft", "status=scheduled", "status=published"]
        .iter()
        .map(|raw| staff(raw).expect("query").normalized_key())
        .chain([
            parse("").normalized_key(),
            parse("status=draft").normalized_key(),
        ])
        .collect();
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), keys.len(), "{keys:?}");
}

#[test]
fn repeated_scalars_are_refused() {
    rejected_at("pagination[page]=1&pagination[page]=2", "pagination[page]");
    rejected_at(
        "pagination%5Bpage%5D=1&pagination[page]=1",
        "pagination[page]",
    );
    rejected_at("status=draft&status=published", "status");
    rejected_at("locale=en&locale=zh-CN", "locale");
    rejected_at("_q=a&_q=b", "_q");
}

#[test]
fn status_locale_and_search() {
    assert_eq!(parse("").status, Status::Published);
    assert_eq!(parse("status=draft").status, Status::Draft);
    rejected_at("status=live", "status");

    rejected_at("status=scheduled", "status");

    let locale = |raw: &str| {
        parse(&format!("locale={raw}"))
            .locale
            .map(|l| l.as_str().to_string())
    };
    assert_eq!(locale("zh-CN").as_deref(), Some("zh-CN"));
    assert_eq!(locale("zh-cn").as_deref(), Some("zh-CN"));
    assert_eq!(locale("EN").as_deref(), Some("en"));
    assert_eq!(locale("zh-hans-cn").as_deref(), Some("zh-Hans-CN"));
    assert_eq!(locale("es-419").as_deref(), Some("es-419"));
    for bad in ["zh_CN", "e", "english", "zh-CN-CN", "zh-", "", "zh-CN%00"] {
        rejected_at(&format!("locale={bad}"), "locale");
    }

    assert_eq!(
        parse("_q=%20%20AI+%E5%8F%98%E7%8E%B0%20").search.as_deref(),
        Some("AI 变现")
    );
    assert_eq!(parse("_q=+++").search, None);
    rejected_at(&format!("_q={}", "字".repeat(MAX_SEARCH_CHARS + 1)), "_q");
    assert!(Query::parse(&ARTICLES, &format!("_q={}", "字".repeat(MAX_SEARCH_CHARS))).is_ok());
    rejected_at("_q=a%0Ab", "_q");
    // Terms are a set: order and repeats make the same query (and cache key).
    let reordered = parse("_q=%E5%8F%98%E7%8E%B0+AI+AI");
    assert_eq!(reordered.search.as_deref(), Some("AI 变现"));
    assert_eq!(
        reordered.normalized_key(),
        parse("_q=AI+%E5%8F%98%E7%8E%B0").normalized_key()
    );
    // Their number is bounded: 60 one-character terms are a 400, not 60 scans.
    let many: Vec<String> = ('一'..).take(60).map(String::from).collect();
    rejected_at(&format!("_q={}", many.join("+")), "_q");
    let most = many[..MAX_SEARCH_TERMS].join("+");
    assert!(Query::parse(&ARTICLES, &format!("_q={most}")).is_ok());
}

#[test]
fn broken_encodings_are_a_400() {
    rejected_at("filters[title][$eq]=%FF", "filters[title][$eq]");
    rejected_at("_q=%E5%8F", "_q");
    rejected_at("_q=%ZZ", "_q");
    rejected_at("filters%5Btitle=a", "filters[title");
    rejected_at(
        "filters[title]=a&filters[title][$eq]=b",
        "filters[title][$eq]",
    );
}

// --- equivalence and cache keys ----------------------------------------------------

const BRIEF_EXAMPLE_RAW: &str = "filters[title][$containsi]=AI&populate[author][fields][0]=name\
    &sort[0]=publishedAt:desc&pagination[page]=2";
const BRIEF_EXAMPLE_ENCODED: &str = "filters%5Btitle%5D%5B%24containsi%5D=AI\
    &populate%5Bauthor%5D%5Bfields%5D%5B0%5D=name&sort%5B0%5D=publishedAt%3Adesc\
    &pagination%5Bpage%5D=2";

#[test]
fn raw_and_encoded_brackets_are_the_same_query() {
    let raw = parse(BRIEF_EXAMPLE_RAW);
    let encoded = parse(BRIEF_EXAMPLE_ENCODED);
    assert_eq!(raw, encoded);
    assert_eq!(
        condition(raw.filters.as_ref()).operator,
        Operator::Containsi
    );
    assert_eq!(names(&raw.populate[0].fields), ["id", "documentId", "name"]);
    assert_eq!(raw.pagination.offset(), 25);
}

#[test]
fn qs_list_spellings_are_the_same_query() {
    let groups: [&[&str]; 4] = [
        &[
            "fields=title,slug",
            "fields[0]=title&fields[1]=slug",
            "fields[]=title&fields[]=slug",
            "fields=title&fields=slug",
            "fields=slug,%20title",
        ],
        &[
            "populate=author,tags",
            "populate[0]=author&populate[1]=tags",
            "populate[]=tags&populate[]=author",
            "populate[author]=true&populate[tags]=true",
        ],
        &[
            "filters[id][$in][0]=1&filters[id][$in][1]=2",
            "filters[id][$in][]=1&filters[id][$in][]=2",
            "filters[id][$in]=1&filters[id][$in]=2",
            "filters%5Bid%5D%5B%24in%5D%5B1%5D=2&filters%5Bid%5D%5B%24in%5D%5B0%5D=1",
        ],
        &[
            "sort=publishedAt:desc,title",
            "sort[0]=publishedAt:desc&sort[1]=title",
            "sort[publishedAt]=desc&sort[title]=asc",
        ],
    ];
    for group in groups {
        let first = parse(group[0]);
        for raw in &group[1..] {
            assert_eq!(parse(raw), first, "{raw} differs from {}", group[0]);
            assert_eq!(parse(raw).normalized_key(), first.normalized_key(), "{raw}");
        }
    }
}

/// `@strapi/client` sends `[]` as a bare `name[]` (no `=`): an empty
/// `populate` or `sort` is the default, empty `fields` keeps only the ids (Strapi's own
/// reading of an empty list), `$in: []` matches nothing and `$notIn: []` everything.
#[test]
fn empty_lists_from_strapi_client_mean_empty() {
    assert_eq!(parse("populate[]"), parse(""));
    assert_eq!(parse("sort%5B%5D"), parse(""));
    assert_eq!(parse("sort[]"), parse(""));
    assert_eq!(names(&parse("fields%5B%5D").fields), ["id", "documentId"]);
    assert_eq!(
        names(&parse("populate%5Bauthor%5D%5Bfields%5D%5B%5D").populate[0].fields),
        ["id", "documentId"]
    );
    for (raw, operator) in [
        ("filters%5Bid%5D%5B%24in%5D%5B%5D", Operator::In),
        ("filters%5Bslug%5D%5B%24notIn%5D%5B%5D", Operator::NotIn),
        ("filters%5Bslug%5D%5B%5D", Operator::In),
    ] {
        let query = parse(raw);
        let condition = condition(query.filters.as_ref());
        assert_eq!(condition.operator, operator, "{raw}");
        assert_eq!(condition.value, Value::List(Vec::new()), "{raw}");
    }
    assert_ne!(
        parse("filters[id][$in][]").normalized_key(),
        parse("").normalized_key()
    );
    rejected_at("locale[]", "locale");
    rejected_at("filters[title][$eq][]", "filters[title][$eq]");
    rejected_at("filters[$or][]", "filters[$or]");
}

#[test]
fn normalized_key_names_equivalent_queries_alike() {
    let same = [
        (BRIEF_EXAMPLE_RAW, BRIEF_EXAMPLE_ENCODED),
        (
            "sort=title&filters[slug]=a&filters[featured]=true&populate=tags",
            "populate=tags&filters[featured]=true&sort=title:asc&filters[slug][$eq]=a",
        ),
        (
            "",
            "pagination[page]=1&pagination[pageSize]=25&status=published&fields=*",
        ),
        ("locale=zh-cn&_q=AI", "_q=%20AI%20&locale=zh-CN"),
        (
            "filters[publishedAt][$gt]=2025-01-31T16:00:00%2B08:00",
            "filters[publishedAt][$gt]=2025-01-31T08:00:00Z",
        ),
    ];
    for (a, b) in same {
        assert_eq!(
            parse(a).normalized_key(),
            parse(b).normalized_key(),
            "{a} vs {b}"
        );
    }
}

#[test]
fn normalized_key_tells_different_queries_apart() {
    let different = [
        ("sort=title,slug", "sort=slug,title"),
        ("filters[title]=a", "filters[title]=b"),
        ("filters[title]=a", "filters[slug]=a"),
        ("filters[title]=a", "_q=a"),
        ("filters[title][$eq]=1", "filters[id][$eq]=1"),
        (
            "filters[title]=a%22%29%2C%24or%28",
            "filters[title]=a&filters[slug]=b",
        ),
        ("pagination[page]=2", "pagination[start]=25"),
        ("pagination[withCount]=false", ""),
        ("status=draft", ""),
        ("populate=tags", "populate[tags][count]=true"),
    ];
    for (a, b) in different {
        assert_ne!(
            parse(a).normalized_key(),
            parse(b).normalized_key(),
            "{a} vs {b}"
        );
    }
    let tags = Query::parse(&TAGS, "").unwrap().normalized_key();
    assert_ne!(parse("").normalized_key(), tags);
    assert!(tags.starts_with("tags?"), "{tags}");
}

// --- garbage -----------------------------------------------------------------------

const FRAGMENTS: &[&str] = &[
    "filters",
    "populate",
    "fields",
    "sort",
    "pagination",
    "status",
    "locale",
    "_q",
    "[",
    "]",
    "[]",
    "%5B",
    "%5D",
    "%24",
    "%",
    "%FF",
    "%E5%8F",
    "%00",
    "+",
    "&",
    "=",
    ",",
    ":",
    "*",
    "$eq",
    "$eqi",
    "$in",
    "$notIn",
    "$between",
    "$null",
    "$or",
    "$and",
    "$not",
    "$containsi",
    "0",
    "1",
    "-1",
    "99999999999999999999",
    "1e999",
    "title",
    "slug",
    "id",
    "author",
    "tags",
    "articles",
    "category",
    "internalNotes",
    "email",
    "publishedAt",
    "page",
    "pageSize",
    "start",
    "limit",
    "withCount",
    "count",
    "desc",
    "true",
    "2025-01-01",
    "变现",
    "\u{0}",
    "\u{202e}",
    "%C3%28",
];

/// Valid queries for [`mutated`] to damage, so the fuzzing also reaches deep paths.
const SEEDS: &[&str] = &[
    BRIEF_EXAMPLE_RAW,
    BRIEF_EXAMPLE_ENCODED,
    "filters[$or][0][category][slug][$eq]=ai&filters[$or][1][tags][slug][$in][0]=x&populate=*",
    "filters[publishedAt][$between][0]=2025-01-01&filters[publishedAt][$between][1]=2025-02-01",
    "filters[title][$not][$containsi]=spam&fields=title,slug&sort=publishedAt:desc,title",
    "populate[author][populate][articles][fields]=title&populate[tags][count]=true",
    "populate[tags][filters][$and][0][slug][$null]=false&populate[tags][sort][name]=desc",
    "pagination[start]=10&pagination[limit]=5&pagination[withCount]=f&status=draft&locale=zh-CN&_q=AI",
];

/// Random fragments and characters.
fn garbage(rng: &mut StdRng) -> String {
    let mut out = String::new();
    for _ in 0..rng.random_range(0..48) {
        push_noise(rng, &mut out);
    }
    out
}

/// A valid query with a few random insertions, deletions and splices.
fn mutated(rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = SEEDS[rng.random_range(0..SEEDS.len())].chars().collect();
    for _ in 0..rng.random_range(1..5) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..3) {
            0 => {
                let mut noise = String::new();
                push_noise(rng, &mut noise);
                chars.splice(at..at, noise.chars());
            }
            1 => {
                let end = (at + rng.random_range(1..8)).min(chars.len());
                chars.drain(at..end);
            }
            _ => {
                let other = SEEDS[rng.random_range(0..SEEDS.len())];
                chars.splice(at..at, "&".chars().chain(other.chars()));
            }
        }
    }
    chars.into_iter().collect()
}

fn push_noise(rng: &mut StdRng, out: &mut String) {
    if rng.random_bool(0.8) {
        out.push_str(FRAGMENTS[rng.random_range(0..FRAGMENTS.len())]);
    } else if let Some(c) = char::from_u32(rng.random_range(0..0x11_0000)) {
        out.push(c);
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = StdRng::seed_from_u64(0x6269_616e_7869_616e);
    let (mut accepted, mut accepted_filters) = (0, 0);
    for round in 0..20_000 {
        let raw = if round % 2 == 0 {
            garbage(&mut rng)
        } else {
            mutated(&mut rng)
        };
        for content_type in CONTENT_TYPES {
            match Query::parse(content_type, &raw) {
                Ok(query) => {
                    accepted += 1;
                    accepted_filters += usize::from(query.filters.is_some());
                    assert!(!query.normalized_key().is_empty());
                }
                Err(err) => assert_eq!(err.status(), 400, "{raw:?}: {err}"),
            }
        }
    }
    assert!(
        accepted > 0 && accepted_filters > 0,
        "the generators should reach valid queries too"
    );
}

#[test]
fn huge_and_deep_inputs_are_refused_quickly() {
    let deep = format!("filters{}=1", "[$not]".repeat(MAX_KEY_DEPTH * 4));
    assert!(Query::parse(&ARTICLES, &deep).is_err());
    let nots = format!("filters{}[title]=1", "[$not]".repeat(MAX_KEY_DEPTH - 2));
    assert!(Query::parse(&ARTICLES, &nots).is_ok());
    let wide = vec!["fields=title"; MAX_PARAMS + 1].join("&");
    rejected_at(&wide, "query");
    rejected_at(&"&".repeat(MAX_QUERY_BYTES + 1), "query");
}

#[test]
fn a_single_document_takes_only_fields_populate_status_and_locale() {
    let query = Query::parse_document(
        &ARTICLES,
        "fields[0]=title&populate[author][fields][0]=name&status=draft&locale=zh-cn",
    )
    .expect("valid document query");
    assert_eq!(names(&query.fields), ["id", "documentId", "title"]);
    assert_eq!(query.status, Status::Draft);
    for (raw, path) in [
        ("filters[title][$eq]=x", "filters"),
        ("sort=title", "sort"),
        ("pagination[page]=1", "pagination"),
        ("_q=变现", "_q"),
    ] {
        let err = Query::parse_document(&ARTICLES, raw).expect_err(raw);
        assert!(err.to_string().starts_with(path), "{raw}: {err}");
    }
}

/// The OpenAPI document's query parameters are the parser's: every documented name
/// parses (a value it accepts), and a name outside the list is refused by name.
#[test]
fn documented_parameters_are_the_parsed_ones() {
    let mut generator = schemars::SchemaGenerator::default();
    let valid = |name: &str| match name {
        "filters" => "filters[title][$eq]=x",
        "fields" => "fields[0]=title",
        "populate" => "populate[author]=true",
        "sort" => "sort[0]=title",
        "pagination" => "pagination[page]=1",
        "status" => "status=published",
        "locale" => "locale=en",
        "_q" => "_q=AI",
        other => panic!("documented `{other}` has no example here"),
    };
    let list = Query::list_schema(&mut generator).to_value();
    let names: Vec<&String> = list["properties"].as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 8);
    for name in &names {
        parse(valid(name));
    }
    let document = Query::document_schema(&mut generator).to_value();
    for name in document["properties"].as_object().unwrap().keys() {
        assert!(
            Query::parse_document(&ARTICLES, valid(name)).is_ok(),
            "{name}"
        );
    }
    for name in names {
        let accepted = document["properties"].get(name.as_str()).is_some();
        assert_eq!(
            Query::parse_document(&ARTICLES, valid(name)).is_ok(),
            accepted,
            "{name}"
        );
    }
    rejected_at("limit=1", "limit");
    // The staff's list documents its own `status` values, each of which it parses.
    let staff = Query::staff_list_schema(&mut generator).to_value();
    assert_eq!(staff["properties"].as_object().unwrap().len(), 8);
    for state in staff["properties"]["status"]["enum"].as_array().unwrap() {
        let raw = format!("status={}", state.as_str().unwrap());
        assert!(Query::parse_staff(&ARTICLES, &raw).is_ok(), "{raw}");
    }
}

/// Dates PostgreSQL cannot hold are the client's 400, naming the parameter, not a
/// database error (issue 10, item 3); the edges of the allowed years still parse.
#[test]
fn dates_out_of_range_are_refused_by_name() {
    for raw in [
        "filters[publishedAt][$lt]=-10000-01-01",
        "filters[publishedAt][$gt]=300000-01-01T00:00:00Z",
        "filters[publishedAt][$between][0]=2020-01-01&filters[publishedAt][$between][1]=+20000-01-01",
        "filters[publishedAt][$in][0]=0000-12-31",
    ] {
        let err = Query::parse(&ARTICLES, raw).unwrap_err();
        assert!(
            err.to_string().contains("between the years 1 and 9999"),
            "{raw}: {err}"
        );
    }
    parse("filters[publishedAt][$gte]=0001-01-01&filters[createdAt][$lte]=9999-12-31T23:59:59Z");
}
