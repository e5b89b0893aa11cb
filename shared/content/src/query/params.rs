//! `qs`-style decoding: the raw query string becomes a tree of names and values.
//!
//! Strapi reads its query with `qs`, so clients (and `@strapi/client`) write nested
//! objects as bracketed names, percent-encoded or not, and lists in three spellings:
//! `a[0]=x&a[1]=y`, `a[]=x&a[]=y` and `a=x&a=y`. An empty list is `a[]` with no `=`
//! (what `@strapi/client` sends for `[]`, its `qs` runs with `allowEmptyArrays`),
//! while `a[]=` is a list of one empty string, as `qs` itself reads them. Decoding all
//! of them into one tree here means the rest of the parser sees structure, never
//! spelling, which is also why equivalent spellings end up with the same cache key.
//!
//! Where `qs` guesses (a name used both as a value and as an object, unbalanced
//! brackets, broken percent-encoding, bytes that are not UTF-8) this decoder refuses,
//! and every size it accepts is bounded so that a hostile query costs little.

use super::{MAX_KEY_DEPTH, MAX_PARAMS, MAX_QUERY_BYTES, invalid};
use platform::error::Result;

/// One name's content in the decoded tree.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// Every value given for this name, in order.
    Values(Vec<String>),
    /// Named children in first-seen order; names like `0`, `1` make it a list.
    Object(Vec<(String, Node)>),
}

/// Decodes a raw query string into its top-level names and their trees.
pub(super) fn decode(raw: &str) -> Result<Vec<(String, Node)>> {
    if raw.len() > MAX_QUERY_BYTES {
        return Err(invalid(
            "query",
            format_args!("is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let mut root = Vec::new();
    for (count, pair) in raw.split('&').filter(|p| !p.is_empty()).enumerate() {
        if count == MAX_PARAMS {
            return Err(invalid(
                "query",
                format_args!("has more than {MAX_PARAMS} parameters"),
            ));
        }
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(raw_key, raw_key)?;
        let value = if key.ends_with("[]") && !pair.contains('=') {
            None
        } else {
            Some(percent_decode(raw_value, &key)?)
        };
        let names = split_key(&key).ok_or_else(|| invalid(&key, "is not a well-formed name"))?;
        if names.len() > MAX_KEY_DEPTH {
            return Err(invalid(
                &key,
                format_args!("is nested more than {MAX_KEY_DEPTH} levels deep"),
            ));
        }
        insert(&mut root, &names, value, &key)?;
    }
    Ok(root)
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space), strict about `%`.
fn percent_decode(raw: &str, path: &str) -> Result<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex_digit);
                let low = bytes.get(i + 2).copied().and_then(hex_digit);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(invalid(path, "has a malformed percent-encoding"));
                };
                out.push(high << 4 | low);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| invalid(path, "is not valid UTF-8 once percent-decoded"))
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// `a[b][c]` → `[a, b, c]`; a trailing `[]` (the `qs` "brackets" list spelling) adds
/// nothing, because repeated names already collect into a list.
fn split_key(key: &str) -> Option<Vec<&str>> {
    let (name, mut rest) = key.split_at(key.find('[').unwrap_or(key.len()));
    if name.is_empty() || name.contains(']') {
        return None;
    }
    let mut names = vec![name];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let (segment, after) = inner.split_once(']')?;
        if segment.contains('[') || (segment.is_empty() && !after.is_empty()) {
            return None;
        }
        if !segment.is_empty() {
            names.push(segment);
        }
        rest = after;
    }
    Some(names)
}

/// Adds `value` under `names`; `None` (an empty list) only makes sure the list exists.
fn insert(
    root: &mut Vec<(String, Node)>,
    names: &[&str],
    value: Option<String>,
    key: &str,
) -> Result<()> {
    let conflict = || invalid(key, "is given both as a value and as an object");
    let Some((last, parents)) = names.split_last() else {
        return Err(invalid(key, "is not a well-formed name"));
    };
    let mut entries = root;
    for name in parents {
        match child(entries, name, || Node::Object(Vec::new())) {
            Node::Object(children) => entries = children,
            Node::Values(_) => return Err(conflict()),
        }
    }
    match child(entries, last, || Node::Values(Vec::new())) {
        Node::Values(values) => values.extend(value),
        Node::Object(_) => return Err(conflict()),
    }
    Ok(())
}

fn child<'a>(
    entries: &'a mut Vec<(String, Node)>,
    name: &str,
    empty: fn() -> Node,
) -> &'a mut Node {
    let index = match entries.iter().position(|(n, _)| n == name) {
        Some(index) => index,
        None => {
            entries.push((name.to_string(), empty()));
            entries.len() - 1
        }
    };
    &mut entries[index].1
}

/// `0`, `1`, `42`: the names `qs` gives list elements (no sign, no leading zero).
fn list_index(name: &str) -> Option<u16> {
    name.parse::<u16>()
        .ok()
        .filter(|index| index.to_string() == name)
}

impl Node {
    /// The one value of a scalar parameter.
    pub(super) fn value(&self, path: &str) -> Result<&str> {
        match self {
            Node::Values(values) => match values.as_slice() {
                [value] => Ok(value),
                [] => Err(invalid(path, "must be a single value, not an empty list")),
                _ => Err(invalid(path, "is given more than once")),
            },
            Node::Object(_) => Err(invalid(path, "must be a single value, not an object")),
        }
    }

    /// The values of a list in any `qs` spelling: repeated, `[]` or indexed.
    pub(super) fn values(&self, path: &str) -> Result<Vec<&str>> {
        match self {
            Node::Values(values) => Ok(values.iter().map(String::as_str).collect()),
            Node::Object(_) => self
                .items(path)?
                .into_iter()
                .map(|(item_path, item)| item.value(&item_path))
                .collect(),
        }
    }

    /// The values of a list whose entries may also be comma-separated (`fields`,
    /// `sort`, `populate`), trimmed; an empty name is an error.
    pub(super) fn names(&self, path: &str) -> Result<Vec<&str>> {
        let mut names = Vec::new();
        for value in self.values(path)? {
            for name in value.split(',').map(str::trim) {
                if name.is_empty() {
                    return Err(invalid(path, "has an empty name in its list"));
                }
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The elements of an indexed list (`a[0]`, `a[1]`, ...) in index order, each with
    /// its path for error messages.
    pub(super) fn items(&self, path: &str) -> Result<Vec<(String, &Node)>> {
        let not_a_list = || invalid(path, "must be a list, e.g. [0]=..&[1]=..");
        let Node::Object(entries) = self else {
            return Err(not_a_list());
        };
        let mut items = entries
            .iter()
            .map(|(name, node)| list_index(name).map(|index| (index, node)))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(not_a_list)?;
        items.sort_by_key(|(index, _)| *index);
        Ok(items
            .into_iter()
            .map(|(index, node)| (format!("{path}[{index}]"), node))
            .collect())
    }

    /// Whether this is an indexed list rather than an object with named members.
    pub(super) fn is_list(&self) -> bool {
        match self {
            Node::Values(_) => false,
            Node::Object(entries) => entries.iter().all(|(name, _)| list_index(name).is_some()),
        }
    }
}

/// An object's members sorted by name: their order carries no meaning in Strapi, and a
/// fixed order gives equivalent queries the same cache key.
pub(super) fn by_name(entries: &[(String, Node)]) -> Vec<(&str, &Node)> {
    let mut members: Vec<(&str, &Node)> = entries
        .iter()
        .map(|(name, node)| (name.as_str(), node))
        .collect();
    members.sort_by_key(|(name, _)| *name);
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(items: &[&str]) -> Node {
        Node::Values(items.iter().map(|s| s.to_string()).collect())
    }

    fn object(entries: Vec<(&str, Node)>) -> Node {
        Node::Object(
            entries
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
        )
    }

    #[test]
    fn brackets_nest_whether_raw_or_encoded() {
        let expected = vec![(
            "filters".to_string(),
            object(vec![("title", object(vec![("$eq", values(&["AI 变现"]))]))]),
        )];
        let raw = "filters[title][$eq]=AI+%E5%8F%98%E7%8E%B0";
        let encoded = "filters%5Btitle%5D%5B%24eq%5D=AI%20%E5%8F%98%E7%8E%B0";
        assert_eq!(decode(raw).unwrap(), expected);
        assert_eq!(decode(encoded).unwrap(), expected);
    }

    #[test]
    fn list_spellings_collect_values() {
        for query in ["a=x&a=y", "a[]=x&a[]=y", "a[1]=y&a[0]=x"] {
            let root = decode(query).unwrap();
            assert_eq!(root.len(), 1, "{query}");
            assert_eq!(root[0].1.values("a").unwrap(), ["x", "y"], "{query}");
        }
    }

    #[test]
    fn a_bare_bracket_name_is_an_empty_list_as_strapi_client_sends_it() {
        // `@strapi/client` stringifies `{ populate: [], filters: { id: { $in: [] } } }`
        // with `allowEmptyArrays`: no `=`, and the brackets left raw (encoded works too).
        let root = decode("populate[]&filters%5Bid%5D%5B%24in%5D%5B%5D").unwrap();
        assert_eq!(
            root,
            vec![
                ("populate".into(), values(&[])),
                (
                    "filters".into(),
                    object(vec![("id", object(vec![("$in", values(&[]))]))])
                ),
            ]
        );
        assert!(root[0].1.names("populate").unwrap().is_empty());
        assert_eq!(decode("a[]=").unwrap(), vec![("a".into(), values(&[""]))]);
        assert_eq!(
            decode("a[]&a[]=x").unwrap(),
            vec![("a".into(), values(&["x"]))]
        );
        assert_eq!(decode("a").unwrap(), vec![("a".into(), values(&[""]))]);
        let err = values(&[]).value("locale").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn empty_pairs_are_skipped_and_missing_values_are_empty() {
        let root = decode("&&a&b=").unwrap();
        assert_eq!(
            root,
            vec![("a".into(), values(&[""])), ("b".into(), values(&[""]))]
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for query in [
            "[a]=1",
            "a]=1",
            "a[b=1",
            "a[b]c=1",
            "a[b[c]]=1",
            "a[][b]=1",
            "a[b]]=1",
        ] {
            let err = decode(query).unwrap_err();
            assert_eq!(err.status(), 400, "{query}");
        }
    }

    #[test]
    fn broken_encodings_are_refused() {
        for query in [
            "a=%", "a=%4", "a=%zz", "a=%+1", "a=%FF", "a%C3=1", "a=%C3%28",
        ] {
            let err = decode(query).unwrap_err();
            assert_eq!(err.status(), 400, "{query}");
        }
    }

    #[test]
    fn a_name_cannot_be_both_value_and_object() {
        assert!(decode("a=1&a[b]=2").is_err());
        assert!(decode("a[b]=2&a=1").is_err());
    }

    #[test]
    fn sizes_are_bounded() {
        let deep = format!("a{}=1", "[b]".repeat(MAX_KEY_DEPTH));
        assert!(decode(&deep).is_err());
        let shallow = format!("a{}=1", "[b]".repeat(MAX_KEY_DEPTH - 1));
        assert!(decode(&shallow).is_ok());
        let many = vec!["a=1"; MAX_PARAMS + 1].join("&");
        assert!(decode(&many).is_err());
        let long = format!("a={}", "x".repeat(MAX_QUERY_BYTES));
        assert!(decode(&long).is_err());
    }

    #[test]
    fn list_indices_are_canonical_numbers() {
        assert_eq!(list_index("0"), Some(0));
        assert_eq!(list_index("17"), Some(17));
        for name in ["01", "-1", "+1", "1.0", "99999", "x", ""] {
            assert_eq!(list_index(name), None, "{name}");
        }
    }
}
