//! A forgiving SQL tokenizer shared by the summariser and the query-text masker.
//!
//! It knows just enough SQL to tell keywords and identifiers from literals and comments; it
//! never fails, whatever the input. Where the dialects disagree about where a literal or a
//! comment ends, it follows the [`Dialect`] it is given; an unterminated literal, quoted
//! identifier or comment runs to the end of the text.

/// The lexical rules a statement is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// PostgreSQL: nested block comments, dollar quotes (`$tag$…$tag$`), `E'…'` backslash
    /// escapes, `[` for array subscripts and `ARRAY[…]`.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the pool passes the double-quote flag, which cannot tell PostgreSQL from SQLite"
        )
    )]
    Postgres,
    /// SQLite: `[x]` quoted identifiers, `$name` parameters, block comments that do not nest.
    Sqlite,
    /// MySQL and MariaDB: backslash escapes in every string, `"…"` strings, `#` comments,
    /// `--` comments only when followed by whitespace, block comments that do not nest.
    MySql,
    /// PostgreSQL, SQLite or a driver obs-sqlx does not know: read as PostgreSQL, with `[x]`
    /// identifiers when the brackets hold only words. The masker also reads the text as
    /// SQLite and masks what either reading says is a literal or a comment.
    Unknown,
}

impl From<bool> for Dialect {
    /// The dialect implied by a `double_quoted_strings` flag: MySQL when `"…"` is a string,
    /// else [`Dialect::Unknown`], which is safe for both PostgreSQL and SQLite.
    fn from(double_quoted_strings: bool) -> Self {
        if double_quoted_strings {
            Dialect::MySql
        } else {
            Dialect::Unknown
        }
    }
}

/// One token of SQL text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// An unquoted word: a keyword or an identifier, as written.
    Word(&'a str),
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), without its quotes.
    Quoted(&'a str),
    /// A string, dollar-quoted or numeric literal, as written. Also an unterminated quoted
    /// identifier, which may be a string the dialect rules got wrong.
    Literal(&'a str),
    /// A bind parameter (`$1`, `?`, `:name`, `@p1`).
    Param(&'a str),
    /// A comment, as written.
    Comment(&'a str),
    /// Whitespace.
    Space(&'a str),
    /// Any other character (`(`, `,`, `.`, operators).
    Punct(&'a str),
}

/// Splits SQL text into [`Token`]s.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    sql: &'a str,
    pos: usize,
    dialect: Dialect,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(sql: &'a str, dialect: impl Into<Dialect>) -> Self {
        Lexer {
            sql,
            pos: 0,
            dialect: dialect.into(),
        }
    }

    /// The byte offset where the next token starts.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.sql.as_bytes().get(at).copied()
    }

    /// The end of a quoted run starting at `start` (the opening quote), where a doubled closing
    /// quote is an escaped one, and with `backslash_escapes` so is a quote after a backslash.
    /// `None` when the run is unterminated.
    fn quoted_end(&self, start: usize, close: u8, backslash_escapes: bool) -> Option<usize> {
        let bytes = self.sql.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            let b = bytes[i];
            if backslash_escapes && b == b'\\' {
                i += 2;
                continue;
            }
            if b == close {
                if bytes.get(i + 1) == Some(&close) {
                    i += 2;
                    continue;
                }
                return Some(i + 1);
            }
            i += 1;
        }
        None
    }

    /// The end of a string literal whose opening quote is at `quote`: after its closing
    /// quote, or the end of the text when it has none.
    fn string(&self, quote: usize, backslash_escapes: bool) -> usize {
        let close = self.sql.as_bytes()[quote];
        self.quoted_end(quote, close, backslash_escapes)
            .unwrap_or(self.sql.len())
    }

    /// `$tag$ … $tag$` (PostgreSQL): the end of the literal, if `start` opens one. The tag is
    /// empty or an identifier that does not start with a digit.
    fn dollar_quoted_end(&self, start: usize) -> Option<usize> {
        let bytes = self.sql.as_bytes();
        if bytes.get(start + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut i = start + 1;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'$') {
            return None;
        }
        let tag = &self.sql[start..=i];
        let body = i + 1;
        Some(
            self.sql[body..]
                .find(tag)
                .map_or(bytes.len(), |at| body + at + tag.len()),
        )
    }

    /// A number starting at `start`, with whatever letters, digits, underscores and dots
    /// follow it (`1.5e-3`, `0x1F`, `0b101`, `1_000`, MySQL's `1abc`): masking too much of an
    /// odd token is harmless, keeping part of a number is not.
    fn number_end(&self, start: usize) -> usize {
        let bytes = self.sql.as_bytes();
        let mut i = start;
        while i < bytes.len() {
            let b = bytes[i];
            let exponent_sign = matches!(b, b'+' | b'-')
                && matches!(bytes[i - 1], b'e' | b'E')
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if is_word_byte(b) || b == b'.' || exponent_sign {
                i += 1;
            } else {
                break;
            }
        }
        i
    }

    fn word_end(&self, start: usize) -> usize {
        let bytes = self.sql.as_bytes();
        let mut i = start;
        while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'$') {
            i += 1;
        }
        i
    }

    /// The end of a line comment starting at `start`: the end of its line (PostgreSQL also
    /// ends one at a carriage return).
    fn line_comment_end(&self, start: usize) -> usize {
        let postgres = matches!(self.dialect, Dialect::Postgres | Dialect::Unknown);
        self.sql.as_bytes()[start..]
            .iter()
            .position(|&b| b == b'\n' || (postgres && b == b'\r'))
            .map_or(self.sql.len(), |i| start + i)
    }

    /// The end of the block comment opening at `start`; PostgreSQL nests them.
    fn block_comment_end(&self, start: usize) -> usize {
        let nested = matches!(self.dialect, Dialect::Postgres | Dialect::Unknown);
        let bytes = self.sql.as_bytes();
        let mut depth = 1usize;
        let mut i = start + 2;
        while i + 1 < bytes.len() {
            match (bytes[i], bytes[i + 1]) {
                (b'*', b'/') => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        return i;
                    }
                }
                (b'/', b'*') if nested => {
                    depth += 1;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        bytes.len()
    }

    /// `[` at `start`: the end of a bracket-quoted identifier if this dialect reads one here,
    /// `Some(None)` when it is unterminated.
    ///
    /// SQLite always does. [`Dialect::Unknown`] does only when the brackets hold words
    /// (`[dbo].[weird name]`), which PostgreSQL would keep as written anyway; anything else
    /// (`ARRAY['a']`, `a[1]`) is lexed as ordinary SQL. PostgreSQL and MySQL never do.
    fn bracket_end(&self, start: usize) -> Option<Option<usize>> {
        let bytes = self.sql.as_bytes();
        match self.dialect {
            Dialect::Sqlite => Some(self.sql[start..].find(']').map(|i| start + i + 1)),
            Dialect::Unknown => {
                let mut word_start = true;
                for (i, &b) in bytes.iter().enumerate().skip(start + 1) {
                    match b {
                        b']' if i > start + 1 => return Some(Some(i + 1)),
                        b' ' => word_start = true,
                        b if is_word_byte(b) && !(word_start && b.is_ascii_digit()) => {
                            word_start = false;
                        }
                        _ => return None,
                    }
                }
                None
            }
            Dialect::Postgres | Dialect::MySql => None,
        }
    }

    /// A quoted identifier from `start` to `end`; unterminated, it masks like a literal.
    fn quoted(&self, start: usize, end: Option<usize>) -> (usize, Token<'a>) {
        match end {
            Some(end) => (end, Token::Quoted(&self.sql[start + 1..end - 1])),
            None => (self.sql.len(), Token::Literal(&self.sql[start..])),
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.sql.as_bytes();
        let start = self.pos;
        let first = *bytes.get(start)?;
        let dialect = self.dialect;
        let mysql = dialect == Dialect::MySql;
        let (end, token): (usize, fn(&'a str) -> Token<'a>) = match first {
            b if b.is_ascii_whitespace() => {
                let mut i = start;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                (i, Token::Space)
            }
            // MySQL reads `--` as a comment only before whitespace or a control character.
            b'-' if self.byte(start + 1) == Some(b'-')
                && (!mysql
                    || self
                        .byte(start + 2)
                        .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control())) =>
            {
                (self.line_comment_end(start), Token::Comment)
            }
            b'#' if mysql => (self.line_comment_end(start), Token::Comment),
            b'/' if self.byte(start + 1) == Some(b'*') => {
                (self.block_comment_end(start), Token::Comment)
            }
            b'\'' => (self.string(start, mysql), Token::Literal),
            b'"' if mysql => (self.string(start, true), Token::Literal),
            b'"' | b'`' => {
                let (end, token) = self.quoted(start, self.quoted_end(start, first, false));
                self.pos = end;
                return Some(token);
            }
            b'[' => match self.bracket_end(start) {
                Some(end) => {
                    let (end, token) = self.quoted(start, end);
                    self.pos = end;
                    return Some(token);
                }
                None => (start + 1, Token::Punct),
            },
            b'$' if mysql => (self.word_end(start), Token::Word),
            b'$' if dialect == Dialect::Sqlite => {
                let end = self.word_end(start + 1);
                if end > start + 1 {
                    (end, Token::Param)
                } else {
                    (start + 1, Token::Punct)
                }
            }
            b'$' => {
                if self.byte(start + 1).is_some_and(|b| b.is_ascii_digit()) {
                    let mut i = start + 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    (i, Token::Param)
                } else if let Some(end) = self.dollar_quoted_end(start) {
                    (end, Token::Literal)
                } else {
                    (start + 1, Token::Punct)
                }
            }
            b'?' => (start + 1, Token::Param),
            b':' | b'@'
                if self
                    .byte(start + 1)
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && !(first == b':' && start > 0 && bytes[start - 1] == b':') =>
            {
                (self.word_end(start + 1), Token::Param)
            }
            b if b.is_ascii_digit() => (self.number_end(start), Token::Literal),
            b'.' if self.byte(start + 1).is_some_and(|b| b.is_ascii_digit()) => {
                (self.number_end(start), Token::Literal)
            }
            b if is_word_byte(b) => {
                // String prefixes: E'…' (escapes), N'…', X'…', B'…', U&'…'.
                let prefixed = match b {
                    b'E' | b'e' | b'N' | b'n' | b'X' | b'x' | b'B' | b'b' => Some(start + 1),
                    b'U' | b'u' if self.byte(start + 1) == Some(b'&') => Some(start + 2),
                    _ => None,
                }
                .filter(|&quote| self.byte(quote) == Some(b'\''));
                match prefixed {
                    Some(quote) => {
                        let backslash = mysql
                            || (matches!(b, b'E' | b'e')
                                && matches!(dialect, Dialect::Postgres | Dialect::Unknown));
                        (self.string(quote, backslash), Token::Literal)
                    }
                    None => (self.word_end(start), Token::Word),
                }
            }
            _ => {
                // One character, which may be multi-byte UTF-8.
                let len = self.sql[start..].chars().next().map_or(1, char::len_utf8);
                (start + len, Token::Punct)
            }
        };
        self.pos = end;
        Some(token(&self.sql[start..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str) -> Vec<Token<'_>> {
        tokens_in(sql, Dialect::Unknown)
    }

    fn tokens_in(sql: &str, dialect: Dialect) -> Vec<Token<'_>> {
        Lexer::new(sql, dialect)
            .filter(|t| !matches!(t, Token::Space(_)))
            .collect()
    }

    #[test]
    fn splits_words_literals_and_params() {
        assert_eq!(
            tokens("SELECT a1, 'x''y', 1.5e3 FROM \"T\" WHERE b = $1 -- c"),
            vec![
                Token::Word("SELECT"),
                Token::Word("a1"),
                Token::Punct(","),
                Token::Literal("'x''y'"),
                Token::Punct(","),
                Token::Literal("1.5e3"),
                Token::Word("FROM"),
                Token::Quoted("T"),
                Token::Word("WHERE"),
                Token::Word("b"),
                Token::Punct("="),
                Token::Param("$1"),
                Token::Comment("-- c"),
            ]
        );
    }

    #[test]
    fn dollar_quotes_casts_and_unterminated_input() {
        assert_eq!(
            tokens("SELECT $tag$ a 'b' $tag$::text, x::int"),
            vec![
                Token::Word("SELECT"),
                Token::Literal("$tag$ a 'b' $tag$"),
                Token::Punct(":"),
                Token::Punct(":"),
                Token::Word("text"),
                Token::Punct(","),
                Token::Word("x"),
                Token::Punct(":"),
                Token::Punct(":"),
                Token::Word("int"),
            ]
        );
        // Never panics, whatever it is given.
        for sql in [
            "'", "\"", "/*", "$a", "[", "E'", "é'", "`x", "0x", "1e", ".5",
        ] {
            let _ = tokens(sql);
        }
    }

    #[test]
    fn dialects_disagree_on_brackets_dollars_and_comments() {
        let sql = "[a b] $a$ x $a$ /* /* */ 'y' */";
        assert_eq!(
            tokens_in(sql, Dialect::Postgres),
            vec![
                Token::Punct("["),
                Token::Word("a"),
                Token::Word("b"),
                Token::Punct("]"),
                Token::Literal("$a$ x $a$"),
                Token::Comment("/* /* */ 'y' */"),
            ]
        );
        assert_eq!(
            tokens_in(sql, Dialect::Sqlite),
            vec![
                Token::Quoted("a b"),
                Token::Param("$a$"),
                Token::Word("x"),
                Token::Param("$a$"),
                Token::Comment("/* /* */"),
                Token::Literal("'y'"),
                Token::Punct("*"),
                Token::Punct("/"),
            ]
        );
        assert_eq!(tokens_in(sql, Dialect::Unknown)[0], Token::Quoted("a b"));
        assert_eq!(
            tokens_in("# c\n'a\\'' --x -- y", Dialect::MySql),
            vec![
                Token::Comment("# c"),
                Token::Literal("'a\\''"),
                Token::Punct("-"),
                Token::Punct("-"),
                Token::Word("x"),
                Token::Comment("-- y"),
            ]
        );
    }
}
