//! The lexer of the text front end: words, numbers and punctuation, each with its column.

use super::syntax;
use crate::Result;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok<'t> {
    Word(&'t str),
    Number(i128),
    Punct(char),
}

/// A token and its 1-based column.
pub(super) type Token<'t> = (Tok<'t>, usize);

pub(super) fn lex(piece: &str, line: usize, first_column: usize) -> Result<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let bytes = piece.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let column = first_column + piece[..i].chars().count();
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'.' {
            let end = scan(bytes, i, |b| {
                b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
            });
            tokens.push((Tok::Word(&piece[i..end]), column));
            i = end;
        } else if c.is_ascii_digit() {
            let end = scan(bytes, i, |b| b.is_ascii_alphanumeric() || b == b'_');
            let number = parse_number(&piece[i..end])
                .ok_or_else(|| syntax(line, column, format!("bad number `{}`", &piece[i..end])))?;
            tokens.push((Tok::Number(number), column));
            i = end;
        } else if b",[]+-*:".contains(&c) {
            tokens.push((Tok::Punct(c as char), column));
            i += 1;
        } else {
            let ch = piece[i..].chars().next().unwrap_or('?');
            let hint = if ch == '#' || ch == '/' {
                " (`;` separates statements here, so there are no comments)"
            } else {
                ""
            };
            return Err(syntax(
                line,
                column,
                format!("unexpected character `{ch}`{hint}"),
            ));
        }
    }
    Ok(tokens)
}

fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| !keep(b))
        .map_or(bytes.len(), |n| from + n)
}

/// Decimal, `0x` hexadecimal or `0b` binary, with `_` allowed between digits.
fn parse_number(text: &str) -> Option<i128> {
    let digits = text.replace('_', "");
    let (radix, digits) = match digits.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (16, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, &digits[..]),
    };
    if digits.is_empty() {
        return None;
    }
    i128::from_str_radix(digits, radix).ok()
}
