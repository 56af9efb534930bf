//! A forgiving SQL tokenizer shared by the summariser and the query-text masker.
//!
//! It knows just enough SQL to tell keywords and identifiers from literals and comments; it
//! never fails, whatever the input.

/// One token of SQL text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// An unquoted word: a keyword or an identifier, as written.
    Word(&'a str),
    /// A quoted identifier (`"x"`, `` `x` ``, `[x]`), without its quotes.
    Quoted(&'a str),
    /// A string, dollar-quoted or numeric literal, as written.
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
    /// Whether `"…"` is a string literal (MySQL without `ANSI_QUOTES`) instead of an identifier.
    double_quoted_strings: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(sql: &'a str, double_quoted_strings: bool) -> Self {
        Lexer {
            sql,
            pos: 0,
            double_quoted_strings,
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.sql.as_bytes().get(at).copied()
    }

    /// The end of a quoted run starting at `start` (the opening quote), where a doubled closing
    /// quote is an escaped one. Unterminated runs end at the end of the text.
    fn quoted_end(&self, start: usize, close: u8, backslash_escapes: bool) -> usize {
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
                return i + 1;
            }
            i += 1;
        }
        bytes.len()
    }

    /// `$tag$ … $tag$` (PostgreSQL): the end of the literal, if `start` opens one.
    fn dollar_quoted_end(&self, start: usize) -> Option<usize> {
        let bytes = self.sql.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() && is_word_byte(bytes[i]) && !bytes[i].is_ascii_digit() {
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

    fn number_end(&self, start: usize) -> usize {
        let bytes = self.sql.as_bytes();
        let mut i = start;
        if bytes[i] == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                i += 1;
            }
            return i;
        }
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(bytes.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if bytes.get(j).is_some_and(u8::is_ascii_digit) {
                i = j;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
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
        let (end, token): (usize, fn(&'a str) -> Token<'a>) = match first {
            b if b.is_ascii_whitespace() => {
                let mut i = start;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                (i, Token::Space)
            }
            b'-' if self.byte(start + 1) == Some(b'-') => {
                let end = self.sql[start..]
                    .find('\n')
                    .map_or(bytes.len(), |i| start + i);
                (end, Token::Comment)
            }
            b'/' if self.byte(start + 1) == Some(b'*') => {
                let end = self.sql[start + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |i| start + 2 + i + 2);
                (end, Token::Comment)
            }
            b'\'' => (self.quoted_end(start, b'\'', false), Token::Literal),
            b'"' if self.double_quoted_strings => {
                (self.quoted_end(start, b'"', true), Token::Literal)
            }
            b'"' | b'`' => {
                let end = self.quoted_end(start, first, false);
                self.pos = end;
                let inner_end = if end > start + 1 && bytes[end - 1] == first {
                    end - 1
                } else {
                    end
                };
                return Some(Token::Quoted(&self.sql[start + 1..inner_end]));
            }
            b'[' => {
                let end = self.sql[start..]
                    .find(']')
                    .map_or(bytes.len(), |i| start + i);
                self.pos = (end + 1).min(bytes.len());
                return Some(Token::Quoted(&self.sql[start + 1..end]));
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
                if matches!(b, b'E' | b'e' | b'N' | b'n' | b'X' | b'x' | b'B' | b'b')
                    && self.byte(start + 1) == Some(b'\'')
                {
                    let backslash = matches!(b, b'E' | b'e');
                    (self.quoted_end(start + 1, b'\'', backslash), Token::Literal)
                } else {
                    (self.word_end(start), Token::Word)
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
        Lexer::new(sql, false)
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
}
