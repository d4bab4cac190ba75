//! Tokens of the SQL form.
//!
//! The whole query is tokenized up front (queries are short and capped by
//! `QUERY_BYTES_MAX`), so the parser can look ahead freely and every token
//! knows its character span for error columns and for partition names,
//! which are re-read from the source text (see `Parser::partition_name`).
//! Keywords are not told apart here: a keyword is a `Word` the parser
//! compares case-insensitively, so `tags.order` can still use `order` as a
//! key after a dot.

use super::error::{ParseError, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An unquoted name or keyword as written: a letter or `_`, then
    /// letters, digits and `_`.
    Word(String),
    /// A `"double-quoted"` name, unescaped (`""` is one `"`); never a
    /// keyword and never empty.
    QuotedName(String),
    /// A `'single-quoted'` string, unescaped (`''` is one `'`).
    Str(String),
    /// An unsigned number as written: digits, an optional fraction and an
    /// optional exponent. A sign is a separate `Minus`/`Plus` token.
    Number(String),
    Punct(Punct),
    /// After the last character; always the final token.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Punct {
    Star,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    Semicolon,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Minus,
    Plus,
}

impl Punct {
    pub fn text(self) -> &'static str {
        match self {
            Punct::Star => "*",
            Punct::Comma => ",",
            Punct::LParen => "(",
            Punct::RParen => ")",
            Punct::LBracket => "[",
            Punct::RBracket => "]",
            Punct::Dot => ".",
            Punct::Semicolon => ";",
            Punct::Eq => "=",
            Punct::Ne => "!=",
            Punct::Lt => "<",
            Punct::Le => "<=",
            Punct::Gt => ">",
            Punct::Ge => ">=",
            Punct::Minus => "-",
            Punct::Plus => "+",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Character index of the first character.
    pub start: usize,
    /// Character index one past the last character.
    pub end: usize,
}

impl Token {
    /// How an error message names this token after "found".
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Word(word) => format!("\"{word}\""),
            Tok::QuotedName(name) => format!("name \"{name}\""),
            Tok::Str(text) => format!("string '{}'", shorten(text)),
            Tok::Number(number) => format!("number {number}"),
            Tok::Punct(punct) => format!("'{}'", punct.text()),
            Tok::End => "end of query".to_string(),
        }
    }

    /// Whether this is the keyword `keyword` (given in uppercase).
    pub fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.tok, Tok::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

/// Long strings are cut in messages so the message stays one readable line.
fn shorten(text: &str) -> String {
    const SHOWN_CHARS_MAX: usize = 32;
    if text.chars().count() <= SHOWN_CHARS_MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(SHOWN_CHARS_MAX).collect();
        format!("{head}...")
    }
}

pub fn tokenize(chars: &[char]) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < chars.len() {
        let c = chars[position];
        if c.is_whitespace() {
            position += 1;
            continue;
        }
        let (tok, end) = if c.is_alphabetic() || c == '_' {
            let end = scan_while(chars, position, |c| c.is_alphanumeric() || c == '_');
            (Tok::Word(chars[position..end].iter().collect()), end)
        } else if c.is_ascii_digit() {
            let end = scan_number(chars, position);
            (Tok::Number(chars[position..end].iter().collect()), end)
        } else if c == '\'' {
            let (text, end) = scan_quoted(chars, position, '\'', "string")?;
            (Tok::Str(text), end)
        } else if c == '"' {
            let (text, end) = scan_quoted(chars, position, '"', "quoted name")?;
            if text.is_empty() {
                return Err(ParseError::at(
                    position,
                    "empty quoted name; expected a name between the double quotes",
                ));
            }
            (Tok::QuotedName(text), end)
        } else {
            let (punct, length) = scan_punct(chars, position)?;
            (Tok::Punct(punct), position + length)
        };
        tokens.push(Token {
            tok,
            start: position,
            end,
        });
        position = end;
    }
    tokens.push(Token {
        tok: Tok::End,
        start: chars.len(),
        end: chars.len(),
    });
    Ok(tokens)
}

fn scan_while(chars: &[char], start: usize, keep: impl Fn(char) -> bool) -> usize {
    start + chars[start..].iter().take_while(|c| keep(**c)).count()
}

/// `digits [. digits] [(e|E) [+|-] digits]`; a `.` or exponent not followed
/// by a digit is left for the next token.
fn scan_number(chars: &[char], start: usize) -> usize {
    let digit_at = |index: usize| chars.get(index).is_some_and(char::is_ascii_digit);
    let mut end = scan_while(chars, start, |c| c.is_ascii_digit());
    if chars.get(end) == Some(&'.') && digit_at(end + 1) {
        end = scan_while(chars, end + 1, |c| c.is_ascii_digit());
    }
    if matches!(chars.get(end), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(end + 1), Some('+' | '-')));
        if digit_at(end + 1 + sign) {
            end = scan_while(chars, end + 1 + sign, |c| c.is_ascii_digit());
        }
    }
    end
}

/// A string or quoted name; a doubled quote stands for one.
fn scan_quoted(chars: &[char], start: usize, quote: char, what: &str) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut position = start + 1;
    loop {
        match chars.get(position) {
            None => {
                return Err(ParseError::at(
                    start,
                    format!("unterminated {what} starting here; expected a closing {quote}"),
                ))
            }
            Some(c) if *c == quote => {
                if chars.get(position + 1) == Some(&quote) {
                    text.push(quote);
                    position += 2;
                } else {
                    return Ok((text, position + 1));
                }
            }
            Some(c) => {
                text.push(*c);
                position += 1;
            }
        }
    }
}

fn scan_punct(chars: &[char], position: usize) -> Result<(Punct, usize)> {
    let next = chars.get(position + 1).copied();
    let punct = match (chars[position], next) {
        ('!', Some('=')) | ('<', Some('>')) => return Ok((Punct::Ne, 2)),
        ('<', Some('=')) => return Ok((Punct::Le, 2)),
        ('>', Some('=')) => return Ok((Punct::Ge, 2)),
        ('=', Some('=')) => return Ok((Punct::Eq, 2)),
        ('*', _) => Punct::Star,
        (',', _) => Punct::Comma,
        ('(', _) => Punct::LParen,
        (')', _) => Punct::RParen,
        ('[', _) => Punct::LBracket,
        (']', _) => Punct::RBracket,
        ('.', _) => Punct::Dot,
        (';', _) => Punct::Semicolon,
        ('=', _) => Punct::Eq,
        ('<', _) => Punct::Lt,
        ('>', _) => Punct::Gt,
        ('-', _) => Punct::Minus,
        ('+', _) => Punct::Plus,
        ('!', _) => {
            return Err(ParseError::at(
                position,
                "unexpected character '!'; expected '!=' (or NOT before a condition)",
            ))
        }
        (other, _) => {
            return Err(ParseError::at(
                position,
                format!(
                    "unexpected character {other:?}; expected a name, a number, a 'string', \
                     an operator or one of , ( ) [ ] . *"
                ),
            ))
        }
    };
    Ok((punct, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        let chars: Vec<char> = text.chars().collect();
        tokenize(&chars)
            .unwrap()
            .into_iter()
            .map(|token| token.tok)
            .collect()
    }

    #[test]
    fn numbers_strings_and_operators() {
        assert_eq!(
            toks("a>=-1.5e3 'it''s' \"a\"\"b\" <> 2.x"),
            vec![
                Tok::Word("a".into()),
                Tok::Punct(Punct::Ge),
                Tok::Punct(Punct::Minus),
                Tok::Number("1.5e3".into()),
                Tok::Str("it's".into()),
                Tok::QuotedName("a\"b".into()),
                Tok::Punct(Punct::Ne),
                Tok::Number("2".into()),
                Tok::Punct(Punct::Dot),
                Tok::Word("x".into()),
                Tok::End,
            ]
        );
        assert_eq!(
            toks("1e 2e+"),
            vec![
                Tok::Number("1".into()),
                Tok::Word("e".into()),
                Tok::Number("2".into()),
                Tok::Word("e".into()),
                Tok::Punct(Punct::Plus),
                Tok::End
            ]
        );
    }

    #[test]
    fn spans_count_characters() {
        let chars: Vec<char> = "ü = 'ö'".chars().collect();
        let tokens = tokenize(&chars).unwrap();
        assert_eq!((tokens[2].start, tokens[2].end), (4, 7));
        assert_eq!(tokens[3].start, 7);
    }
}
