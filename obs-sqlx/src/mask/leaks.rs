//! Literals that reached `db.query.text` before the lexer learnt each dialect's rules, through
//! the same `bool` the pool passes (`true` for MySQL).

use super::mask;

#[test]
fn postgres_array_literals() {
    assert_eq!(
        mask(
            "SELECT * FROM users WHERE email = ANY(ARRAY['alice@example.com','bob@example.com'])",
            false
        ),
        "SELECT * FROM users WHERE email = ANY(ARRAY[?,?])"
    );
}

#[test]
fn dollar_quote_tags_with_digits() {
    assert_eq!(
        mask(
            "UPDATE users SET pw = $body1$hunter2$body1$ WHERE id = $1",
            false
        ),
        "UPDATE users SET pw = ? WHERE id = $1"
    );
}

#[test]
fn nested_block_comments() {
    assert_eq!(
        mask("/* a /* b */ ssn=123456789 */ SELECT 1", false),
        "SELECT ?"
    );
}

#[test]
fn mysql_backslash_escaped_quotes() {
    assert_eq!(
        mask(r"SELECT * FROM t WHERE note = 'it\'s hunter2'", true),
        "SELECT * FROM t WHERE note = ?"
    );
    assert_eq!(
        mask(r"SELECT * FROM t WHERE note = N'it\'s hunter2'", true),
        "SELECT * FROM t WHERE note = ?"
    );
}

#[test]
fn mysql_hash_comments() {
    assert_eq!(
        mask("SELECT * FROM t # token=abc123\nWHERE id = ?", true),
        "SELECT * FROM t \nWHERE id = ?"
    );
}

#[test]
fn mysql_double_dash_without_space_is_not_a_comment() {
    assert_eq!(mask("SELECT 1--'\n hunter2'", true), "SELECT ?--?");
}

#[test]
fn unterminated_quoted_identifiers() {
    assert_eq!(
        mask(r#"SELECT "name FROM users WHERE pw = 'hunter2'"#, false),
        "SELECT ?"
    );
    assert_eq!(
        mask("SELECT `name FROM users WHERE pw = 'hunter2'", true),
        "SELECT ?"
    );
}

#[test]
fn numbers_with_underscores_and_radix_prefixes() {
    assert_eq!(
        mask(
            "SELECT * FROM cards WHERE pan = 4111_1111_1111_1111 OR pin = 0b1011",
            false
        ),
        "SELECT * FROM cards WHERE pan = ? OR pin = ?"
    );
}
