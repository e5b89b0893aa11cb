//! Writing CSV (RFC 4180) that spreadsheets open safely: a field is quoted when it
//! must be, and a text that a spreadsheet would run as a formula (`=`, `+`, `-`,
//! `@`, tab, CR) gets a leading `'`. Exports of orders and subscribers use it.

/// One row of `fields`, ended with CRLF.
pub fn push_row<S: AsRef<str>>(csv: &mut String, fields: &[S]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            csv.push(',');
        }
        push_field(csv, field.as_ref());
    }
    csv.push_str("\r\n");
}

fn push_field(csv: &mut String, field: &str) {
    let guarded = match field.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{field}"),
        _ => field.to_owned(),
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        csv.push('"');
        csv.push_str(&guarded.replace('"', "\"\""));
        csv.push('"');
    } else {
        csv.push_str(&guarded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut csv = String::new();
        push_row(
            &mut csv,
            &[
                "plain",
                "a,b",
                "say \"hi\"",
                "=HYPERLINK(\"x\")",
                "-1",
                "两行\n文本",
            ],
        );
        assert_eq!(
            csv,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"'=HYPERLINK(\"\"x\"\")\",'-1,\"两行\n文本\"\r\n"
        );
    }
}
