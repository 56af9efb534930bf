//! Masking of literals in `db.query.text`, so spans carry the shape of a statement and never
//! the data in it.

use crate::lexer::{Lexer, Token};

/// `sql` with every string and numeric literal replaced by `?` and comments removed.
///
/// Identifiers, keywords and bind parameters stay as written.
pub(crate) fn mask(sql: &str, double_quoted_strings: bool) -> String {
    let mut out = String::with_capacity(sql.len());
    for token in Lexer::new(sql, double_quoted_strings) {
        match token {
            Token::Literal(_) => out.push('?'),
            // A comment may carry anything (sqlcommenter tags, user data): drop it, keeping
            // the words on either side apart.
            Token::Comment(_) => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            Token::Quoted(ident) => {
                out.push('"');
                out.push_str(ident);
                out.push('"');
            }
            Token::Word(s) | Token::Param(s) | Token::Space(s) | Token::Punct(s) => out.push_str(s),
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn literals_become_placeholders() {
        assert_eq!(
            mask(
                "SELECT * FROM users WHERE name = 'O''Brien' AND age > 42 AND id = $1",
                false
            ),
            "SELECT * FROM users WHERE name = ? AND age > ? AND id = $1"
        );
        assert_eq!(
            mask(
                "INSERT INTO t2 (a, b) VALUES (-1.5e3, E'x\\'y', 0xFF, ?)",
                false
            ),
            "INSERT INTO t2 (a, b) VALUES (-?, ?, ?, ?)"
        );
        assert_eq!(mask("SELECT $q$secret$q$", false), "SELECT ?");
    }

    #[test]
    fn identifiers_and_comments() {
        assert_eq!(
            mask(r#"SELECT "Col1" FROM t1 -- user=alice"#, false),
            r#"SELECT "Col1" FROM t1"#
        );
        assert_eq!(
            mask("/* tenant=7 */ SELECT x::int4 FROM s.t", false),
            "SELECT x::int4 FROM s.t"
        );
        // MySQL without ANSI_QUOTES: double quotes delimit strings.
        assert_eq!(
            mask(r#"SELECT * FROM t WHERE a = "secret""#, true),
            "SELECT * FROM t WHERE a = ?"
        );
    }
}
