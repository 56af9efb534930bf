//! The SQL summariser: the operation and the first table of a statement, for low-cardinality
//! labels and span names.

use obs_core::names::OPERATION_OTHER;

use crate::lexer::{Dialect, Lexer, Token};

/// Table names longer than this are cut, so one odd statement cannot produce a huge label.
const MAX_COLLECTION_LEN: usize = 128;

/// Verbs kept as `db_operation_name`; anything else becomes [`OPERATION_OTHER`].
const VERBS: &[&str] = &[
    "ALTER",
    "ANALYZE",
    "ATTACH",
    "BEGIN",
    "CALL",
    "CHECKPOINT",
    "CLOSE",
    "CLUSTER",
    "COMMENT",
    "COMMIT",
    "COPY",
    "CREATE",
    "DEALLOCATE",
    "DECLARE",
    "DELETE",
    "DESCRIBE",
    "DETACH",
    "DISCARD",
    "DO",
    "DROP",
    "END",
    "EXECUTE",
    "EXPLAIN",
    "FETCH",
    "GRANT",
    "INSERT",
    "LISTEN",
    "LOAD",
    "LOCK",
    "MERGE",
    "MOVE",
    "NOTIFY",
    "OPTIMIZE",
    "PRAGMA",
    "PREPARE",
    "REFRESH",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESET",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "SHOW",
    "START",
    "TABLE",
    "TRUNCATE",
    "UNLISTEN",
    "UPDATE",
    "UPSERT",
    "USE",
    "VACUUM",
    "VALUES",
];

/// Keywords after which the next identifier names a table.
const TABLE_BEFORE: &[&str] = &["FROM", "INTO", "JOIN", "UPDATE", "TABLE", "TRUNCATE"];

/// Words between a [`TABLE_BEFORE`] keyword and the table name.
const SKIPPED: &[&str] = &[
    "ONLY",
    "IF",
    "NOT",
    "EXISTS",
    "LOW_PRIORITY",
    "DELAYED",
    "HIGH_PRIORITY",
    "IGNORE",
    "OR",
    "ROLLBACK",
    "ABORT",
    "FAIL",
    "TEMP",
    "TEMPORARY",
    "UNLOGGED",
    "TABLE",
    "QUICK",
];

/// Words that can follow FROM/JOIN/UPDATE but never name a table.
const NOT_A_TABLE: &[&str] = &[
    "SELECT", "SET", "VALUES", "WHERE", "LATERAL", "DEFAULT", "NOWAIT", "SKIP", "OF", "WITH",
    "DUAL", "UNNEST",
];

/// What a statement does and to which table: `("SELECT", "users")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    /// An uppercase verb from the known set, or [`OPERATION_OTHER`].
    pub(crate) operation: &'static str,
    /// The first table, as written without quotes (`public.users`); empty when none.
    pub(crate) collection: String,
}

/// Summarises `sql`, read with the lexical rules of `dialect` (for MySQL, `"…"` is a string
/// rather than an identifier).
pub(crate) fn summarize(sql: &str, dialect: impl Into<Dialect>) -> Summary {
    let mut tokens = Lexer::new(sql, dialect)
        .filter(|t| !matches!(t, Token::Space(_) | Token::Comment(_)))
        .peekable();

    // Leading parentheses: `(SELECT …) UNION (SELECT …)`.
    while matches!(tokens.peek(), Some(Token::Punct("(" | ";"))) {
        tokens.next();
    }
    let Some(Token::Word(first)) = tokens.next() else {
        return Summary::other();
    };

    let verb = if first.eq_ignore_ascii_case("WITH") {
        // Skip the common table expressions: every body sits in parentheses, so the main
        // statement's verb is the first known verb at depth zero.
        let mut depth = 0usize;
        let mut verb = None;
        for token in tokens.by_ref() {
            match token {
                Token::Punct("(") => depth += 1,
                Token::Punct(")") => depth = depth.saturating_sub(1),
                Token::Word(word) if depth == 0 && !word.eq_ignore_ascii_case("AS") => {
                    if let Some(known) = known_verb(word) {
                        verb = Some((known, word));
                        break;
                    }
                }
                _ => {}
            }
        }
        match verb {
            Some(found) => found,
            None => return Summary::other(),
        }
    } else {
        match known_verb(first) {
            Some(known) => (known, first),
            None => return Summary::other(),
        }
    };

    let (operation, verb_word) = verb;
    let rest: Vec<Token<'_>> = tokens.collect();
    let collection = if is_table_before(verb_word) {
        // `UPDATE t`, `TRUNCATE t`, `TABLE t`: the verb itself precedes the table.
        table_after(&rest, 0, false).or_else(|| first_table(&rest))
    } else {
        first_table(&rest)
    }
    .unwrap_or_default();
    Summary {
        operation,
        collection,
    }
}

impl Summary {
    fn other() -> Self {
        Summary {
            operation: OPERATION_OTHER,
            collection: String::new(),
        }
    }
}

fn known_verb(word: &str) -> Option<&'static str> {
    VERBS
        .iter()
        .copied()
        .find(|verb| verb.eq_ignore_ascii_case(word))
}

fn is_table_before(word: &str) -> bool {
    TABLE_BEFORE.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn is_one_of(word: &str, set: &[&str]) -> bool {
    set.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// The first table after a FROM/INTO/JOIN/UPDATE/TABLE keyword, preferring one at the
/// statement's own level over one inside parentheses (`EXTRACT(YEAR FROM ts)`, subqueries).
fn first_table(tokens: &[Token<'_>]) -> Option<String> {
    let mut depth = 0usize;
    let mut nested = None;
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            Token::Punct("(") => depth += 1,
            Token::Punct(")") => depth = depth.saturating_sub(1),
            Token::Word(word) if is_table_before(word) => {
                let from_like = !word.eq_ignore_ascii_case("INTO")
                    && !word.eq_ignore_ascii_case("TABLE")
                    && !word.eq_ignore_ascii_case("TRUNCATE");
                if let Some(table) = table_after(tokens, i + 1, from_like) {
                    if depth == 0 {
                        return Some(table);
                    }
                    nested.get_or_insert(table);
                }
            }
            _ => {}
        }
    }
    nested
}

/// The (possibly schema-qualified) table name starting at `tokens[at]`, after skipping
/// modifiers. `from_like` rejects a name followed by `(`: in FROM that is a function call.
fn table_after(tokens: &[Token<'_>], mut at: usize, from_like: bool) -> Option<String> {
    while let Some(Token::Word(word)) = tokens.get(at) {
        if is_one_of(word, SKIPPED) {
            at += 1;
        } else {
            break;
        }
    }
    let mut name = String::new();
    loop {
        match tokens.get(at)? {
            Token::Word(word) if !is_one_of(word, NOT_A_TABLE) && !is_table_before(word) => {
                name.push_str(word)
            }
            Token::Quoted(ident) => name.push_str(ident),
            _ => return None,
        }
        if matches!(tokens.get(at + 1), Some(Token::Punct("."))) {
            name.push('.');
            at += 2;
        } else {
            break;
        }
    }
    if from_like && matches!(tokens.get(at + 1), Some(Token::Punct("("))) {
        return None;
    }
    name.truncate(name.floor_char_boundary(MAX_COLLECTION_LEN));
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(sql: &str) -> (&'static str, String) {
        let summary = summarize(sql, false);
        (summary.operation, summary.collection)
    }

    /// `sql` summarises to exactly `operation` and `collection`, both literals of the test.
    fn check(sql: &str, operation: &str, collection: &str) {
        let (op, table) = s(sql);
        assert_eq!((op, table.as_str()), (operation, collection), "{sql}");
    }

    #[test]
    fn plain_dml() {
        check(
            "SELECT id, title FROM todos WHERE id = $1",
            "SELECT",
            "todos",
        );
        check(
            "select * from Todos t join users u on u.id = t.owner",
            "SELECT",
            "Todos",
        );
        check(
            "INSERT INTO todos (title) VALUES ($1) RETURNING id",
            "INSERT",
            "todos",
        );
        check(
            "UPDATE todos SET done = true WHERE id = ?",
            "UPDATE",
            "todos",
        );
        check("DELETE FROM todos WHERE id = ?", "DELETE", "todos");
        check("SELECT 1", "SELECT", "");
        check("  \n\tselect now()", "SELECT", "");
        check("REPLACE INTO kv (k, v) VALUES (?, ?)", "REPLACE", "kv");
        check("INSERT OR REPLACE INTO kv VALUES (1, 2)", "INSERT", "kv");
        check("UPDATE OR IGNORE kv SET v = 1", "UPDATE", "kv");
        check("MERGE INTO target USING src ON 1 = 1", "MERGE", "target");
        check("DELETE FROM ONLY audit WHERE true", "DELETE", "audit");
    }

    #[test]
    fn quoted_and_qualified_identifiers() {
        check(
            r#"SELECT * FROM "public"."Users""#,
            "SELECT",
            "public.Users",
        );
        check("SELECT * FROM `shop`.`order`", "SELECT", "shop.order");
        check("SELECT * FROM [dbo].[t]", "SELECT", "dbo.t");
        check("SELECT * FROM app.todos", "SELECT", "app.todos");
        check(r#"UPDATE "weird name" SET a = 1"#, "UPDATE", "weird name");
    }

    #[test]
    fn comments_and_literals_are_skipped() {
        check("-- list\nSELECT * FROM todos", "SELECT", "todos");
        check("/* app=web */ DELETE /* x */ FROM todos", "DELETE", "todos");
        check("SELECT 'FROM users' FROM todos", "SELECT", "todos");
        check("SELECT $$ FROM users $$ FROM todos", "SELECT", "todos");
        check("SELECT * FROM todos -- FROM users", "SELECT", "todos");
    }

    #[test]
    fn ctes_take_the_main_statement() {
        check(
            "WITH recent AS (SELECT * FROM todos WHERE done) SELECT count(*) FROM recent",
            "SELECT",
            "recent",
        );
        check(
            "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t) SELECT * FROM t",
            "SELECT",
            "t",
        );
        check(
            "WITH moved AS (DELETE FROM a RETURNING *), b2 AS NOT MATERIALIZED (SELECT 1) \
             INSERT INTO b SELECT * FROM moved",
            "INSERT",
            "b",
        );
        check("WITH x AS (SELECT 1)", "OTHER", "");
    }

    #[test]
    fn nested_from_is_a_fallback() {
        check(
            "SELECT EXTRACT(YEAR FROM ts) FROM events",
            "SELECT",
            "events",
        );
        check(
            "SELECT * FROM (SELECT * FROM inner_t) sub",
            "SELECT",
            "inner_t",
        );
        check("SELECT * FROM generate_series(1, 3)", "SELECT", "");
        check("(SELECT a FROM x) UNION (SELECT a FROM y)", "SELECT", "x");
        check("SELECT * FROM t FOR UPDATE", "SELECT", "t");
        check(
            "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2",
            "INSERT",
            "t",
        );
    }

    #[test]
    fn ddl_and_transaction_control() {
        check(
            "CREATE TABLE IF NOT EXISTS todos (id int)",
            "CREATE",
            "todos",
        );
        check("create temporary table tmp_x (id int)", "CREATE", "tmp_x");
        check("DROP TABLE IF EXISTS todos", "DROP", "todos");
        check("ALTER TABLE todos ADD COLUMN x int", "ALTER", "todos");
        check("TRUNCATE todos", "TRUNCATE", "todos");
        check("TRUNCATE TABLE todos", "TRUNCATE", "todos");
        check("BEGIN", "BEGIN", "");
        check("COMMIT", "COMMIT", "");
        check("ROLLBACK TO SAVEPOINT sp1", "ROLLBACK", "");
        check("SAVEPOINT sp1", "SAVEPOINT", "");
        check("SET search_path = app", "SET", "");
    }

    #[test]
    fn unknown_input_is_bounded() {
        check("", "OTHER", "");
        check("   -- only a comment", "OTHER", "");
        check("FROBNICATE everything", "OTHER", "");
        check("'literal first'", "OTHER", "");
        check("42", "OTHER", "");
        let long = format!("SELECT * FROM {}", "t".repeat(500));
        assert_eq!(s(&long).1.len(), MAX_COLLECTION_LEN);
    }

    #[test]
    fn mysql_double_quotes_are_strings() {
        let summary = summarize(r#"SELECT "FROM x" FROM t"#, true);
        assert_eq!(summary.collection, "t");
    }
}
