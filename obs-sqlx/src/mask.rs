//! Masking of literals in `db.query.text`, so spans carry the shape of a statement and never
//! the data in it.

use std::ops::Range;

use crate::lexer::{Dialect, Lexer, Token};

/// The longest `db.query.text` obs-sqlx records, in bytes.
///
/// A longer masked statement is cut on a character boundary and ends in `…`, the whole
/// staying within this many bytes.
pub const MAX_QUERY_TEXT_LEN: usize = 4096;

/// What ends a cut `db.query.text`.
const TRUNCATED: &str = "…";

/// `sql` with every string and numeric literal replaced by `?` and comments removed, at most
/// [`MAX_QUERY_TEXT_LEN`] bytes long.
///
/// Identifiers, keywords and bind parameters stay as written. An unterminated literal or
/// comment hides everything after its start. With [`Dialect::Unknown`] the text is read both
/// as PostgreSQL and as SQLite, and whatever either reading takes for a literal or a comment
/// is masked.
pub(crate) fn mask(sql: &str, dialect: impl Into<Dialect>) -> String {
    let dialect = dialect.into();
    let mut hidden = hidden(sql, dialect);
    if dialect == Dialect::Unknown {
        hidden.extend(self::hidden(sql, Dialect::Sqlite));
        hidden.sort_unstable_by_key(|h| h.bytes.start);
    }
    let mut out = String::with_capacity(sql.len().min(MAX_QUERY_TEXT_LEN));
    let mut at = 0;
    let mut complete = true;
    for run in merge(hidden) {
        out.push_str(&sql[at..run.bytes.start]);
        if run.literal {
            out.push('?');
        } else if !out.is_empty() && !out.ends_with(' ') {
            // A comment may carry anything (sqlcommenter tags, user data): drop it, keeping
            // the words on either side apart.
            out.push(' ');
        }
        at = run.bytes.end;
        if out.len() > MAX_QUERY_TEXT_LEN {
            // Already too long: the rest would be cut anyway.
            complete = false;
            break;
        }
    }
    if complete {
        out.push_str(&sql[at..]);
    }
    truncate(out.trim())
}

/// A run of text that must not appear in the output.
#[derive(Debug)]
struct Hidden {
    bytes: Range<usize>,
    /// A literal (shown as `?`) rather than a comment (shown as a space).
    literal: bool,
}

/// The literals and comments of `sql` read in `dialect`, in order.
fn hidden(sql: &str, dialect: Dialect) -> Vec<Hidden> {
    let mut lexer = Lexer::new(sql, dialect);
    let mut hidden = Vec::new();
    loop {
        let start = lexer.offset();
        let literal = match lexer.next() {
            None => return hidden,
            Some(Token::Literal(_)) => true,
            Some(Token::Comment(_)) => false,
            Some(_) => continue,
        };
        hidden.push(Hidden {
            bytes: start..lexer.offset(),
            literal,
        });
    }
}

/// Runs sorted by start, with overlapping ones joined. A joined run is shown as what its
/// first part is (a literal when two start together): a comment that one reading finds
/// inside another reading's comment stays a comment.
fn merge(sorted: Vec<Hidden>) -> Vec<Hidden> {
    let mut merged: Vec<Hidden> = Vec::with_capacity(sorted.len());
    for run in sorted {
        match merged.last_mut() {
            Some(last) if run.bytes.start < last.bytes.end => {
                last.bytes.end = last.bytes.end.max(run.bytes.end);
                if run.bytes.start == last.bytes.start {
                    last.literal |= run.literal;
                }
            }
            _ => merged.push(run),
        }
    }
    merged
}

/// `text`, cut to [`MAX_QUERY_TEXT_LEN`] bytes with a [`TRUNCATED`] marker when longer.
fn truncate(text: &str) -> String {
    obs_core::text::cut(text, MAX_QUERY_TEXT_LEN, TRUNCATED).into_owned()
}

#[cfg(test)]
mod leaks;
#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::{MAX_QUERY_TEXT_LEN, mask};
    use crate::lexer::Dialect;

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
                Dialect::Postgres
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
        // Quoted identifiers keep their own quotes.
        assert_eq!(
            mask("SELECT `a b`, [c d] FROM [dbo].[t] WHERE x = 'y'", false),
            "SELECT `a b`, [c d] FROM [dbo].[t] WHERE x = ?"
        );
    }

    #[test]
    fn string_forms_of_each_dialect() {
        let pg = Dialect::Postgres;
        assert_eq!(
            mask(
                r"SELECT E'a\'b', e'\\', U&'d\0061t''a', N'x', X'1F', B'101'",
                pg
            ),
            "SELECT ?, ?, ?, ?, ?, ?"
        );
        assert_eq!(
            mask("SELECT $a1$ x $a1$, $_$ y $_$, $$ z $$, $1", pg),
            "SELECT ?, ?, ?, $1"
        );
        assert_eq!(
            mask("SELECT a[1], ARRAY['x', 'y'][2:3] FROM t", pg),
            "SELECT a[?], ARRAY[?, ?][?:?] FROM t"
        );
        assert_eq!(mask("SELECT 1 -- c\r'x'", pg), "SELECT ? \r?");

        let sqlite = Dialect::Sqlite;
        assert_eq!(
            mask(r"SELECT [it's], 'a\', X'00', $name, ?1 FROM [t]", sqlite),
            r"SELECT [it's], ?, ?, $name, ?? FROM [t]"
        );
        assert_eq!(mask("SELECT /* a /* b */'c' */", sqlite), "SELECT ? */");

        let mysql = Dialect::MySql;
        assert_eq!(
            mask(
                r#"SELECT 'a\'b', "c\"d", N'e\'f', _utf8mb4'g\\', X'0A'"#,
                mysql
            ),
            "SELECT ?, ?, ?, _utf8mb4?, ?"
        );
        assert_eq!(
            mask("SELECT $x, a--b, c -- d\nFROM t # e\n", mysql),
            "SELECT $x, a--b, c \nFROM t"
        );
        assert_eq!(
            mask("SELECT `a``b` FROM t WHERE c = '' -- x", mysql),
            "SELECT `a``b` FROM t WHERE c = ?"
        );
    }

    #[test]
    fn numbers_are_masked_whole() {
        assert_eq!(
            mask(
                "SELECT 1_000_000, 0b1011, 0o17, 0x1F, 1.5e-3, .5, 12abc, 1e+9 FROM t LIMIT 10",
                false
            ),
            "SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM t LIMIT ?"
        );
        assert_eq!(mask("SELECT a-1, b+2e3-4", false), "SELECT a-?, b+?-?");
    }

    #[test]
    fn unterminated_runs_hide_the_rest() {
        for dialect in [
            Dialect::Postgres,
            Dialect::Sqlite,
            Dialect::MySql,
            Dialect::Unknown,
        ] {
            assert_eq!(
                mask("SELECT a FROM t WHERE b = 'x, c = 1", dialect),
                "SELECT a FROM t WHERE b = ?",
                "{dialect:?}"
            );
            assert_eq!(
                mask("SELECT a FROM t /* x 'y' c = 1", dialect),
                "SELECT a FROM t",
                "{dialect:?}"
            );
            assert_eq!(
                mask("SELECT `a FROM t WHERE b = 1", dialect),
                "SELECT ?",
                "{dialect:?}"
            );
        }
        assert_eq!(
            mask(r#"SELECT "a FROM t WHERE b = 1"#, Dialect::Postgres),
            "SELECT ?"
        );
        assert_eq!(mask("SELECT $x$ a FROM t", Dialect::Postgres), "SELECT ?");
        assert_eq!(
            mask("SELECT [a FROM t WHERE b = 1", Dialect::Sqlite),
            "SELECT ?"
        );
        assert_eq!(mask(r#"SELECT 'a\", b FROM t"#, Dialect::MySql), "SELECT ?");
        assert_eq!(mask("SELECT 1 -- a\n'", Dialect::MySql), "SELECT ? \n?");
        for edge in [
            "'", "\"", "`", "[", "$$", "/*", "--", "#", "E'", "U&'", "\\", "",
        ] {
            for dialect in [
                Dialect::Postgres,
                Dialect::Sqlite,
                Dialect::MySql,
                Dialect::Unknown,
            ] {
                assert!(mask(edge, dialect).len() <= 3, "{edge:?} {dialect:?}");
            }
        }
    }

    #[test]
    fn unknown_dialect_masks_what_either_reading_hides() {
        // PostgreSQL nests the comment, then finds an unterminated string; SQLite reads the
        // string after the first `*/`.
        assert_eq!(
            mask("SELECT /* a /* b */ 'c */ hunter2' FROM t", false),
            "SELECT"
        );
        // SQLite: `E` then the string `'x\'`, then `y` and an unterminated string.
        assert_eq!(
            mask(r"SELECT E'x\'y' FROM t WHERE a = 1", false),
            "SELECT ?"
        );
        // SQLite reads `$a$` as a parameter, PostgreSQL as a dollar quote.
        assert_eq!(mask("SELECT $a$ x $a$ FROM t", false), "SELECT ? FROM t");
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        assert_eq!(MAX_QUERY_TEXT_LEN, 4096);
        // 8 + 2 × 3000 bytes: the cut at 4093 falls inside an `é`, so 2042 of them stay.
        let sql = format!("SELECT x{} FROM t", "é".repeat(3000));
        let masked = mask(&sql, false);
        assert_eq!(masked, format!("SELECT x{}…", "é".repeat(2042)));
        assert_eq!(masked.len(), 4095);

        let exact = format!("SELECT {}", "a".repeat(4089));
        assert_eq!(mask(&exact, false), exact);
        let over = format!("SELECT {}", "a".repeat(4090));
        assert_eq!(mask(&over, false), format!("SELECT {}…", "a".repeat(4086)));

        // Literals are masked before the cut, also those past it.
        let sql = format!("SELECT {}'secret'", "'secret', ".repeat(2000));
        assert_eq!(mask(&sql, true), format!("SELECT {}…", "?, ".repeat(1362)));
    }
}
