//! The lexer: template text to tokens, following Go's `text/template/parse/lex.go` rules
//! (`{{- ` / ` -}}` trim markers need the space, comments sit directly inside the delimiters,
//! newlines are allowed inside actions).

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Plain text between actions (already trimmed by any trim marker).
    Text(String),
    LeftDelim,
    RightDelim,
    /// A comment action, kept so `{{/* */}}` alone is not an empty action.
    Comment,
    /// `.Name` (one link of a field chain).
    Field(String),
    /// `$` or `$name`.
    Variable(String),
    /// A bare identifier: a function name.
    Identifier(String),
    /// Keywords: `if`, `else`, `end`, `range`, `with`, `define`, `template`, `block`,
    /// `break`, `continue`, `nil`, `true`, `false` (`true`/`false` are [`Tok::Bool`]).
    Keyword(&'static str),
    Bool(bool),
    /// A quoted or raw string, already unquoted.
    Str(String),
    /// A character constant, as its code point.
    Char(i64),
    /// A number's text, parsed by the parser.
    Number(String),
    Dot,
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    /// Spaces inside an action (they separate operands of a command).
    Space,
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset of the token's start in the source.
    pub pos: usize,
}

/// A lexing error at a byte offset.
#[derive(Debug)]
pub(crate) struct LexError {
    pub pos: usize,
    pub message: String,
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil",
];

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Token>,
    paren_depth: usize,
}

/// Split `src` into tokens; the last one is [`Tok::Eof`].
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
        paren_depth: 0,
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.tokens.push(Token { tok, pos });
    }

    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            message: message.into(),
        })
    }

    fn run(&mut self) -> Result<(), LexError> {
        let mut trim_next_text = false;
        loop {
            let text_start = self.pos;
            let Some(found) = self.rest().find("{{") else {
                let mut text = self.rest();
                if trim_next_text {
                    text = text.trim_start_matches([' ', '\t', '\r', '\n']);
                }
                if !text.is_empty() {
                    self.emit(Tok::Text(text.to_string()), text_start);
                }
                self.pos = self.src.len();
                self.emit(Tok::Eof, self.pos);
                return Ok(());
            };
            let delim = self.pos + found;
            let after = &self.src[delim + 2..];
            let left_trim =
                after.len() >= 2 && after.as_bytes()[0] == b'-' && is_space(after.as_bytes()[1]);
            let mut text = &self.src[self.pos..delim];
            if trim_next_text {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), text_start);
            }
            self.pos = delim + 2 + if left_trim { 2 } else { 0 };
            // A comment must start right after the delimiter (and trim marker).
            if self.rest().starts_with("/*") {
                trim_next_text = self.lex_comment(delim)?;
                continue;
            }
            self.emit(Tok::LeftDelim, delim);
            trim_next_text = self.lex_inside_action(delim)?;
        }
    }

    /// At `/*`: skip to `*/` and the right delimiter; returns whether it had a right trim.
    fn lex_comment(&mut self, delim: usize) -> Result<bool, LexError> {
        let Some(end) = self.rest().find("*/") else {
            return self.err(delim, "unclosed comment");
        };
        self.pos += end + 2;
        let (at, trim) = self.at_right_delim();
        if !at {
            return self.err(delim, "comment ends before closing delimiter");
        }
        self.pos += if trim { 4 } else { 2 };
        self.emit(Tok::Comment, delim);
        Ok(trim)
    }

    /// Whether the input is at a right delimiter, and whether it carries a trim marker.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest().as_bytes();
        if rest.len() >= 4 && is_space(rest[0]) && rest[1] == b'-' && &rest[2..4] == b"}}" {
            return (true, true);
        }
        (rest.starts_with(b"}}"), false)
    }

    /// Lex the inside of an action up to its right delimiter; returns the right trim flag.
    fn lex_inside_action(&mut self, delim: usize) -> Result<bool, LexError> {
        self.paren_depth = 0;
        loop {
            let (at, trim) = self.at_right_delim();
            if at {
                if self.paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                let pos = self.pos;
                self.pos += if trim { 4 } else { 2 };
                self.emit(Tok::RightDelim, pos);
                return Ok(trim);
            }
            let start = self.pos;
            let Some(c) = self.rest().chars().next() else {
                return self.err(delim, "unclosed action");
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    while let Some(&b) = self.rest().as_bytes().first() {
                        if !is_space(b) || self.at_right_delim() == (true, true) {
                            break;
                        }
                        self.pos += 1;
                    }
                    self.emit(Tok::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, start);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                ',' => {
                    self.pos += 1;
                    self.emit(Tok::Comma, start);
                }
                '"' => self.lex_quote(start)?,
                '`' => self.lex_raw_quote(start)?,
                '\'' => self.lex_char(start)?,
                '$' => {
                    self.pos += 1;
                    let name = self.take_alnum();
                    self.emit(Tok::Variable(format!("${name}")), start);
                }
                '.' => {
                    let next = self.rest()[1..].chars().next();
                    match next {
                        Some(d) if d.is_ascii_digit() => self.lex_number(start)?,
                        Some(a) if is_alnum(a) => {
                            self.pos += 1;
                            let name = self.take_alnum();
                            self.emit(Tok::Field(name), start);
                        }
                        _ => {
                            self.pos += 1;
                            self.emit(Tok::Dot, start);
                        }
                    }
                }
                '+' | '-' | '0'..='9' => self.lex_number(start)?,
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.err(start, "unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.pos += 1;
                    self.emit(Tok::RightParen, start);
                }
                c if is_alnum(c) => {
                    let word = self.take_alnum();
                    self.check_terminator()?;
                    let tok = match word.as_str() {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        w => match KEYWORDS.iter().find(|k| **k == w) {
                            Some(k) => Tok::Keyword(k),
                            None => Tok::Identifier(word),
                        },
                    };
                    self.emit(tok, start);
                }
                c => return self.err(start, format!("unrecognized character in action: {c:?}")),
            }
        }
    }

    fn take_alnum(&mut self) -> String {
        let len: usize = self
            .rest()
            .chars()
            .take_while(|c| is_alnum(*c))
            .map(char::len_utf8)
            .sum();
        let word = self.rest()[..len].to_string();
        self.pos += len;
        word
    }

    /// After an identifier, Go requires a space, punctuation or the end of the action.
    fn check_terminator(&self) -> Result<(), LexError> {
        match self.rest().chars().next() {
            None => Ok(()),
            Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | ')' | '(' | '=') => Ok(()),
            Some(_) if self.at_right_delim().0 => Ok(()),
            Some(c) => self.err(self.pos, format!("bad character {c:?}")),
        }
    }

    fn lex_quote(&mut self, start: usize) -> Result<(), LexError> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None | Some(b'\n') => return self.err(start, "unterminated quoted string"),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        if i > bytes.len() {
            return self.err(start, "unterminated quoted string");
        }
        let raw = &self.src[start + 1..i];
        let value = unquote(raw).map_err(|m| LexError {
            pos: start,
            message: m,
        })?;
        self.pos = i + 1;
        self.emit(Tok::Str(value), start);
        Ok(())
    }

    fn lex_raw_quote(&mut self, start: usize) -> Result<(), LexError> {
        let Some(end) = self.src[start + 1..].find('`') else {
            return self.err(start, "unterminated raw quoted string");
        };
        let value = self.src[start + 1..start + 1 + end].replace('\r', "");
        self.pos = start + 1 + end + 1;
        self.emit(Tok::Str(value), start);
        Ok(())
    }

    fn lex_char(&mut self, start: usize) -> Result<(), LexError> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None | Some(b'\n') => return self.err(start, "unterminated character constant"),
                Some(b'\\') => i += 2,
                Some(b'\'') => break,
                Some(_) => i += 1,
            }
        }
        let raw = self.src.get(start + 1..i).unwrap_or("");
        let value = unquote(raw).map_err(|m| LexError {
            pos: start,
            message: m,
        })?;
        let mut chars = value.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return self.err(start, format!("malformed character constant: '{raw}'"));
        };
        self.pos = i + 1;
        self.emit(Tok::Char(c as i64), start);
        Ok(())
    }

    /// Go's number syntax, loosely: sign, base prefix, digits, `.`, exponent; the parser
    /// decides whether the text is a valid int or float.
    fn lex_number(&mut self, start: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let mut len = 0;
        let bytes = rest.as_bytes();
        if matches!(bytes.first(), Some(b'+' | b'-')) {
            len += 1;
        }
        let mut prev = 0u8;
        while let Some(&b) = bytes.get(len) {
            let ok = b.is_ascii_alphanumeric()
                || b == b'_'
                || b == b'.'
                || ((b == b'+' || b == b'-')
                    && matches!(prev, b'e' | b'E' | b'p' | b'P')
                    && !is_hex_prefixed(&rest[..len], prev));
            if !ok {
                break;
            }
            prev = b;
            len += 1;
        }
        let text = &rest[..len];
        if text == "+" || text == "-" {
            return self.err(start, format!("bad number syntax: {text:?}"));
        }
        self.pos += len;
        if let Some(c) = self.rest().chars().next() {
            if is_alnum(c) {
                return self.err(start, format!("bad number syntax: \"{text}{c}\""));
            }
        }
        self.emit(Tok::Number(text.to_string()), start);
        Ok(())
    }
}

/// In a hex literal `e` is a digit, not an exponent (only `p` is).
fn is_hex_prefixed(text: &str, prev: u8) -> bool {
    let t = text.trim_start_matches(['+', '-']);
    (t.starts_with("0x") || t.starts_with("0X")) && matches!(prev, b'e' | b'E')
}

/// Go's `strconv.Unquote` escapes for an interpreted string's body.
pub(crate) fn unquote(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            return Err("unterminated quoted string".into());
        };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' | '"' | '\'' => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == n)
                    .ok_or_else(|| format!("invalid syntax: bad \\{e} escape"))?;
                if e == 'x' {
                    // \xHH is a byte; text here is UTF-8, so only ASCII bytes map to a char.
                    out.push(
                        char::from_u32(code)
                            .filter(|_| code < 0x80)
                            .unwrap_or('\u{FFFD}'),
                    );
                } else {
                    out.push(char::from_u32(code).ok_or("invalid syntax: bad unicode escape")?);
                }
            }
            '0'..='7' => {
                let mut code = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or("invalid syntax: bad octal escape")?;
                    code = code * 8 + d;
                }
                if code > 255 {
                    return Err("invalid syntax: octal escape out of range".into());
                }
                out.push(
                    char::from_u32(code)
                        .filter(|_| code < 0x80)
                        .unwrap_or('\u{FFFD}'),
                );
            }
            other => return Err(format!("invalid syntax: unknown escape \\{other}")),
        }
    }
    Ok(out)
}
