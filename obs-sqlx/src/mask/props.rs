//! Property tests: generated statements never keep a literal's or a comment's content, and no
//! input makes masking or summarising panic or produce unbounded output.

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::{MAX_QUERY_TEXT_LEN, mask};
use crate::lexer::Dialect;
use crate::summary::summarize;
use obs_core::names::OPERATION_OTHER;

/// Statements with literal slots (`{}`), and the operation they summarise to; every one is on
/// the table `users`. The second field says whether the template needs `ARRAY[…]`, which is
/// not SQLite (there `[…]` quotes an identifier).
const TEMPLATES: &[(&str, &str, bool)] = &[
    (
        "SELECT * FROM users WHERE email = {} AND age > {}",
        "SELECT",
        false,
    ),
    (
        "INSERT INTO users (a, b, c) VALUES ({}, {}, {}), (?, {}, ?)",
        "INSERT",
        false,
    ),
    (
        "SELECT id FROM users WHERE name IN ({}, {}, {}) LIMIT {}",
        "SELECT",
        false,
    ),
    (
        "SELECT * FROM users WHERE tags && ARRAY[{}, {}] OR email = ANY(ARRAY[{},{}])",
        "SELECT",
        true,
    ),
    (
        "SELECT lower({}), coalesce(nick, {}) FROM users LIMIT {} OFFSET {}",
        "SELECT",
        false,
    ),
    (
        "UPDATE users SET name = {}, score = {} WHERE id = ? AND note <> {}",
        "UPDATE",
        false,
    ),
    (
        "DELETE FROM users WHERE note LIKE {} ESCAPE {}",
        "DELETE",
        false,
    ),
];

/// The most slots a template has.
const SLOTS: usize = 4;

/// What every string literal and comment carries, and must never be seen in the output.
const SECRET: &str = "S3cr3tZq";

/// Characters that end, escape or open literals and comments in some dialect, and others.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '\'', '"', '`', '\\', '$', '[', ']', '/', '*', '-', '#', '\n', '\r', ' ', '?', ':',
            '@', ';', '(', ')', 'E', 'e', 'é', '€', '😀', '\u{0}', '\u{feff}',
        ]),
        any::<char>(),
        prop::char::range('a', 'z'),
    ]
}

/// Literal content: hostile noise around [`SECRET`].
fn content() -> impl Strategy<Value = String> {
    let noise = || prop::collection::vec(hostile_char(), 0..8);
    (noise(), noise()).prop_map(|(before, after)| {
        let mut s: String = before.into_iter().collect();
        s.push_str(SECRET);
        s.extend(after);
        s
    })
}

/// Comment content: [`SECRET`] and noise without the characters that end a comment.
fn comment_content() -> impl Strategy<Value = String> {
    content().prop_map(|s| s.replace(['*', '/', '\n', '\r'], "."))
}

/// A literal as written in the SQL, and what must not appear in the output.
#[derive(Clone, Debug)]
struct Literal {
    sql: String,
    secret: String,
}

/// Numbers whose digits are the secret: plain, decimal, exponent, leading dot, underscores,
/// hexadecimal.
fn number() -> impl Strategy<Value = Literal> {
    (9_000_000u32..10_000_000, 0usize..6).prop_map(|(n, form)| {
        let (sql, secret) = match form {
            0 => (n.to_string(), n.to_string()),
            1 => (format!("{n}.25"), n.to_string()),
            2 => (format!("{n}e-7"), n.to_string()),
            3 => (format!(".{n}"), n.to_string()),
            4 => (format!("{n}_000"), n.to_string()),
            _ => (format!("0x{n:X}"), format!("{n:X}")),
        };
        Literal { sql, secret }
    })
}

/// A hexadecimal or bit-string literal with a long distinctive body.
fn bytes_literal() -> impl Strategy<Value = Literal> {
    (
        prop::sample::select(vec!["X", "x"]),
        "[0-9A-F]{0,6}",
        any::<bool>(),
    )
        .prop_map(|(prefix, hex, bits)| {
            if bits {
                let body = format!("1011001110001111{}", hex.len() % 2);
                Literal {
                    sql: format!("B'{body}'"),
                    secret: body,
                }
            } else {
                let body = format!("DEADBEEF{hex}");
                Literal {
                    sql: format!("{prefix}'{body}'"),
                    secret: body,
                }
            }
        })
}

/// `'…'` with quotes doubled, optionally behind a prefix that does not change escaping.
fn standard_string(prefixes: Vec<&'static str>) -> impl Strategy<Value = Literal> {
    (prop::sample::select(prefixes), content()).prop_map(|(prefix, c)| Literal {
        sql: format!("{prefix}'{}'", c.replace('\'', "''")),
        secret: SECRET.to_owned(),
    })
}

/// `quote…quote` with backslashes escaped and quotes escaped by a backslash or doubled.
fn backslash_string(prefix: &'static str, quote: char) -> impl Strategy<Value = Literal> {
    (content(), any::<bool>()).prop_map(move |(c, doubled)| {
        let escaped_quote = if doubled {
            format!("{quote}{quote}")
        } else {
            format!("\\{quote}")
        };
        let body = c.replace('\\', "\\\\").replace(quote, &escaped_quote);
        Literal {
            sql: format!("{prefix}{quote}{body}{quote}"),
            secret: SECRET.to_owned(),
        }
    })
}

/// `$tag$…$tag$`, the tag empty or an identifier that may hold digits.
fn dollar_string() -> impl Strategy<Value = Literal> {
    ("(|[a-z_][a-z0-9_]{0,5})", content()).prop_map(|(tag, c)| {
        let delimiter = format!("${tag}$");
        // The delimiter must first occur where the body ends (`x$` + `$$` would end early).
        let body = if format!("{c}{delimiter}").find(&delimiter) == Some(c.len()) {
            c
        } else {
            c.replace('$', "¤")
        };
        Literal {
            sql: format!("{delimiter}{body}{delimiter}"),
            secret: SECRET.to_owned(),
        }
    })
}

/// Literals of PostgreSQL.
fn postgres_literal() -> BoxedStrategy<Literal> {
    prop_oneof![
        standard_string(vec!["", "N", "n", "U&", "u&"]),
        backslash_string("E", '\''),
        backslash_string("e", '\''),
        dollar_string(),
        bytes_literal(),
        number(),
    ]
    .boxed()
}

/// Literals of SQLite.
fn sqlite_literal() -> BoxedStrategy<Literal> {
    prop_oneof![standard_string(vec![""]), bytes_literal(), number()].boxed()
}

/// Literals of MySQL (without `ANSI_QUOTES` or `NO_BACKSLASH_ESCAPES`).
fn mysql_literal() -> BoxedStrategy<Literal> {
    prop_oneof![
        backslash_string("", '\''),
        backslash_string("N", '\''),
        backslash_string("", '"'),
        bytes_literal(),
        number(),
    ]
    .boxed()
}

/// A comment before the statement and one after it, or nothing, as the dialect writes them.
fn comments(dialect: Dialect) -> impl Strategy<Value = (String, String)> {
    // Nested comments are PostgreSQL's alone.
    let before = match dialect {
        Dialect::Postgres => vec!["", "/* {} */ ", "/* a /* {} */ {} */ "],
        Dialect::Sqlite | Dialect::MySql | Dialect::Unknown => vec!["", "/* {} */ "],
    };
    let after = match dialect {
        Dialect::MySql => vec!["", " -- {}", " #{}", " /* {} */"],
        _ => vec!["", " --{}", " /* {} */"],
    };
    (
        prop::sample::select(before),
        prop::sample::select(after),
        comment_content(),
    )
        .prop_map(|(before, after, c)| (before.replace("{}", &c), after.replace("{}", &c)))
}

/// A generated statement, what masking must give, and the secrets it holds.
#[derive(Debug)]
struct Case {
    sql: String,
    masked: String,
    operation: &'static str,
    secrets: Vec<String>,
}

/// Statements from [`TEMPLATES`] with `literal`s in every slot, for `dialect`.
fn statement(dialect: Dialect, literal: BoxedStrategy<Literal>) -> impl Strategy<Value = Case> {
    let templates: Vec<_> = TEMPLATES
        .iter()
        .filter(|(_, _, array)| !(*array && dialect == Dialect::Sqlite))
        .copied()
        .collect();
    (
        prop::sample::select(templates),
        prop::collection::vec(literal, SLOTS),
        comments(dialect),
    )
        .prop_map(|((template, operation, _), literals, (before, after))| {
            let mut sql = before;
            let mut masked = String::new();
            let mut secrets = Vec::new();
            let mut literals = literals.into_iter();
            for (i, part) in template.split("{}").enumerate() {
                if i > 0 {
                    let literal = literals.next().unwrap_or_else(|| Literal {
                        sql: "0".to_owned(),
                        secret: SECRET.to_owned(),
                    });
                    sql.push_str(&literal.sql);
                    masked.push('?');
                    secrets.push(literal.secret);
                }
                sql.push_str(part);
                masked.push_str(part);
            }
            if !after.is_empty() {
                secrets.push(SECRET.to_owned());
            }
            sql.push_str(&after);
            Case {
                sql,
                masked,
                operation,
                secrets,
            }
        })
}

fn assert_hidden(case: &Case, masked: &str) -> Result<(), TestCaseError> {
    for secret in &case.secrets {
        prop_assert!(
            !masked.contains(secret.as_str()),
            "{secret:?} kept in {masked:?} from {:?}",
            case.sql
        );
    }
    Ok(())
}

/// Checks a statement read in its own dialect: exactly the template, `?` for each literal.
fn check_exact(case: &Case, dialect: Dialect) -> Result<(), TestCaseError> {
    let masked = mask(&case.sql, dialect);
    assert_hidden(case, &masked)?;
    prop_assert_eq!(&masked, &case.masked, "from {:?}", case.sql);
    let summary = summarize(&case.sql, dialect);
    prop_assert_eq!(summary.operation, case.operation);
    prop_assert_eq!(summary.collection, "users");
    Ok(())
}

/// Pieces that open, close or escape something in some dialect, for dense odd input.
fn sqlish() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "'", "\"", "`", "[", "]", "$", "$a$", "$1", "$$", "/*", "*/", "--", "-- ", "#", "\n", "\r",
        "\\", "E'", "U&'", "X'", "N'", "e", " ", "SELECT", "FROM", "WITH", "(", ")", "t", "1",
        "0x", ".", "é", "😀", "::", ":x", "@", "?", ";", ",",
    ]);
    prop::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat())
}

/// Every dialect, and the flag values the pool passes.
const DIALECTS: [Dialect; 4] = [
    Dialect::Postgres,
    Dialect::Sqlite,
    Dialect::MySql,
    Dialect::Unknown,
];

fn check_bounded(sql: &str) -> Result<(), TestCaseError> {
    for dialect in DIALECTS {
        let masked = mask(sql, dialect);
        prop_assert!(masked.len() <= MAX_QUERY_TEXT_LEN, "{} bytes", masked.len());
        prop_assert!(masked.len() <= sql.len(), "{masked:?} from {sql:?}");
        let summary = summarize(sql, dialect);
        prop_assert!(summary.collection.len() <= 128);
        prop_assert!(
            summary.operation == OPERATION_OTHER
                || summary.operation.bytes().all(|b| b.is_ascii_uppercase())
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config::with_cases(256))]

    #[test]
    fn postgres_literals_never_kept(case in statement(Dialect::Postgres, postgres_literal())) {
        check_exact(&case, Dialect::Postgres)?;
        // What the pool passes for PostgreSQL: read as PostgreSQL and as SQLite, so it may
        // mask more (`E'\''` is an unterminated string to SQLite), never less.
        assert_hidden(&case, &mask(&case.sql, false))?;
        let summary = summarize(&case.sql, false);
        prop_assert_eq!(summary.operation, case.operation);
        prop_assert_eq!(summary.collection, "users");
    }

    #[test]
    fn sqlite_literals_never_kept(case in statement(Dialect::Sqlite, sqlite_literal())) {
        check_exact(&case, Dialect::Sqlite)?;
        // SQLite's literals read the same in PostgreSQL, so the pool's reading is exact too.
        check_exact(&case, Dialect::Unknown)?;
    }

    #[test]
    fn mysql_literals_never_kept(case in statement(Dialect::MySql, mysql_literal())) {
        check_exact(&case, Dialect::MySql)?;
    }

    #[test]
    fn arbitrary_text_is_bounded(sql in any::<String>()) {
        check_bounded(&sql)?;
    }

    #[test]
    fn arbitrary_bytes_are_bounded(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_bounded(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn odd_sql_is_bounded(sql in sqlish()) {
        check_bounded(&sql)?;
    }
}

proptest! {
    #![proptest_config(Config::with_cases(32))]

    #[test]
    fn long_text_is_cut(sql in sqlish(), repeat in 100usize..400) {
        let sql = sql.repeat(repeat);
        check_bounded(&sql)?;
        let masked = mask(&format!("SELECT {sql}"), Dialect::MySql);
        prop_assert!(masked.len() <= MAX_QUERY_TEXT_LEN);
    }
}
