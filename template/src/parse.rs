//! The parser: tokens to a tree per template, following Go's `text/template/parse/parse.go`
//! (its error messages included, so DRP users see familiar ones). Unknown functions and
//! undefined variables are parse errors, as in Go.

use std::collections::BTreeMap;

use crate::ast::{Arg, Branch, Command, Const, List, Node, Pipe};
use crate::lex::{lex, Tok, Token};

/// A parse failure at a byte offset of the source.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub pos: usize,
    pub message: String,
}

/// The result of parsing one source text: its main list and every `define`/`block` body.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub root: List,
    pub defines: BTreeMap<String, List>,
}

/// Deeper nesting than this is refused, so hostile input cannot exhaust the parser's stack.
const MAX_NESTING: usize = 100;

pub(crate) fn parse(src: &str, is_func: &dyn Fn(&str) -> bool) -> Result<Parsed, SyntaxError> {
    let tokens = lex(src).map_err(|e| SyntaxError {
        pos: e.pos,
        message: e.message,
    })?;
    let mut parser = Parser {
        tokens,
        at: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        nesting: 0,
        is_func,
        parsed: Parsed::default(),
    };
    parser.parse_top()?;
    Ok(parser.parsed)
}

/// What ended an item list.
enum ListEnd {
    End,
    Else(usize),
}

struct Parser<'f> {
    tokens: Vec<Token>,
    at: usize,
    vars: Vec<String>,
    range_depth: usize,
    nesting: usize,
    is_func: &'f dyn Fn(&str) -> bool,
    parsed: Parsed,
}

type PResult<T> = Result<T, SyntaxError>;

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Text(t) => format!("{t:?}"),
        Tok::LeftDelim => "\"{{\"".into(),
        Tok::RightDelim => "\"}}\"".into(),
        Tok::Comment => "comment".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Variable(v) => format!("{v:?}"),
        Tok::Identifier(i) => format!("{i:?}"),
        Tok::Keyword(k) => format!("<{k}>"),
        Tok::Bool(b) => format!("\"{b}\""),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Char(c) => format!("{c}"),
        Tok::Number(n) => format!("{n:?}"),
        Tok::Dot => "<.>".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LeftParen => "\"(\"".into(),
        Tok::RightParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Space => "space".into(),
        Tok::Eof => "EOF".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // The lexer always ends with Eof, and `next` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let tok = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        tok
    }

    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.at += 1;
        }
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn err<T>(&self, pos: usize, message: impl Into<String>) -> PResult<T> {
        Err(SyntaxError {
            pos,
            message: message.into(),
        })
    }

    fn unexpected<T>(&self, token: &Token, context: &str) -> PResult<T> {
        self.err(
            token.pos,
            format!("unexpected {} in {context}", describe(&token.tok)),
        )
    }

    fn enter(&mut self, pos: usize) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.err(
                pos,
                format!("template nested deeper than {MAX_NESTING} levels"),
            );
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<()> {
        loop {
            let token = self.peek().clone();
            match token.tok {
                Tok::Eof => return Ok(()),
                Tok::LeftDelim => {
                    let save = self.at;
                    self.next();
                    if self.peek_non_space().tok == Tok::Keyword("define") {
                        self.next();
                        self.parse_definition()?;
                        continue;
                    }
                    self.at = save;
                }
                _ => {}
            }
            match self.text_or_action()? {
                Item::Node(n) => self.parsed.root.push(n),
                Item::Skip => {}
                Item::End(pos) => return self.err(pos, "unexpected {{end}}"),
                Item::Else(pos) => return self.err(pos, "unexpected {{else}}"),
            }
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let token = self.next_non_space();
        let name_pos = token.pos;
        let Tok::Str(name) = token.tok else {
            return self.unexpected(&token, context);
        };
        let close = self.next_non_space();
        if close.tok != Tok::RightDelim {
            return self.unexpected(&close, context);
        }
        let body = self.fresh_scope(|p| p.item_list_to_end(context))?;
        self.add_define(name_pos, name, body)
    }

    /// Go keeps an existing definition when a later one is empty (whitespace only).
    /// Go: an empty (whitespace-only) definition never replaces one, and two non-empty
    /// definitions of a name in one text are an error.
    fn add_define(&mut self, pos: usize, name: String, body: List) -> PResult<()> {
        let is_empty = |list: &List| {
            list.iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.parsed.defines.get(&name) {
            Some(existing) if !is_empty(existing) => {
                if is_empty(&body) {
                    return Ok(());
                }
                self.err(
                    pos,
                    format!("template: multiple definition of template {name:?}"),
                )
            }
            _ => {
                self.parsed.defines.insert(name, body);
                Ok(())
            }
        }
    }

    /// Run `f` with the variables and range depth of a new template body.
    fn fresh_scope<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let depth = std::mem::replace(&mut self.range_depth, 0);
        let result = f(self);
        self.vars = vars;
        self.range_depth = depth;
        result
    }

    fn item_list_to_end(&mut self, context: &str) -> PResult<List> {
        let (list, end) = self.item_list()?;
        match end {
            ListEnd::End => Ok(list),
            ListEnd::Else(pos) => self.err(pos, format!("unexpected {{{{else}}}} in {context}")),
        }
    }

    fn item_list(&mut self) -> PResult<(List, ListEnd)> {
        let mut list = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                let pos = self.peek().pos;
                return self.err(pos, "unexpected EOF");
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::Skip => {}
                Item::End(_) => return Ok((list, ListEnd::End)),
                Item::Else(pos) => return Ok((list, ListEnd::Else(pos))),
            }
        }
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let token = self.next();
        match token.tok {
            Tok::Text(t) => Ok(Item::Node(Node::Text(t))),
            Tok::Comment => Ok(Item::Skip),
            Tok::LeftDelim => {
                self.enter(token.pos)?;
                let result = self.action();
                self.nesting -= 1;
                result
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let token = self.peek_non_space().clone();
        if let Tok::Keyword(k) = token.tok {
            if k != "nil" {
                self.next();
            }
            match k {
                "block" => return self.block_control(token.pos).map(Item::Node),
                "break" | "continue" => return self.loop_control(k, token.pos).map(Item::Node),
                "else" => return self.else_control(token.pos),
                "end" => {
                    self.expect_right_delim("end")?;
                    return Ok(Item::End(token.pos));
                }
                "if" | "range" | "with" => return self.control(k).map(Item::Node),
                "template" => return self.template_control().map(Item::Node),
                "define" => return self.unexpected(&token, "command"),
                _ => {}
            }
        }
        let pipe = self.pipeline("command", &Tok::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn expect_right_delim(&mut self, context: &str) -> PResult<()> {
        let token = self.next_non_space();
        if token.tok != Tok::RightDelim {
            return self.unexpected(&token, context);
        }
        Ok(())
    }

    fn loop_control(&mut self, k: &str, pos: usize) -> PResult<Node> {
        self.expect_right_delim(k)?;
        if self.range_depth == 0 {
            return self.err(pos, format!("{{{{{k}}}}} outside {{{{range}}}}"));
        }
        Ok(if k == "break" {
            Node::Break
        } else {
            Node::Continue
        })
    }

    fn else_control(&mut self, pos: usize) -> PResult<Item> {
        // `else if` / `else with`: leave the keyword for the enclosing control to consume.
        let peek = self.peek_non_space().tok.clone();
        if peek == Tok::Keyword("if") || peek == Tok::Keyword("with") {
            return Ok(Item::Else(pos));
        }
        self.expect_right_delim("else")?;
        Ok(Item::Else(pos))
    }

    fn control(&mut self, context: &'static str) -> PResult<Node> {
        let vars_len = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(vars_len);
        result
    }

    fn control_inner(&mut self, context: &'static str) -> PResult<Node> {
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = listed?;
        let mut else_list = None;
        if let ListEnd::Else(else_pos) = end {
            let chained = self.peek_non_space().tok.clone();
            if (context == "if" && chained == Tok::Keyword("if"))
                || (context == "with" && chained == Tok::Keyword("with"))
            {
                // `{{else if}}`: a nested control that consumes the single {{end}}.
                self.next();
                self.enter(else_pos)?;
                let nested = self.control(context);
                self.nesting -= 1;
                else_list = Some(vec![nested?]);
            } else if chained == Tok::Keyword("if") || chained == Tok::Keyword("with") {
                let token = self.peek().clone();
                return self.unexpected(&token, "else");
            } else {
                let (list, end) = self.item_list()?;
                if let ListEnd::Else(pos) = end {
                    return self.err(pos, "expected end; found {{else}}");
                }
                else_list = Some(list);
            }
        }
        let branch = Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        };
        Ok(match context {
            "if" => Node::If(branch),
            "range" => Node::Range(branch),
            _ => Node::With(branch),
        })
    }

    fn template_name(&mut self, context: &str) -> PResult<(usize, String)> {
        let token = self.next_non_space();
        match token.tok {
            Tok::Str(name) => Ok((token.pos, name)),
            _ => self.unexpected(&token, context),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let (pos, name) = self.template_name(context)?;
        let pipe = if self.peek_non_space().tok == Tok::RightDelim {
            self.next();
            None
        } else {
            Some(self.pipeline(context, &Tok::RightDelim)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block_control(&mut self, _pos: usize) -> PResult<Node> {
        let context = "block clause";
        let (pos, name) = self.template_name(context)?;
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        let body = self.fresh_scope(|p| p.item_list_to_end(context))?;
        self.add_define(pos, name.clone(), body)?;
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let token = self.next_non_space();
            if &token.tok == end {
                self.check_pipeline(&pipe, context, token.pos)?;
                return Ok(pipe);
            }
            match token.tok {
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Identifier(_)
                | Tok::Number(_)
                | Tok::Keyword("nil")
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.at -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    /// `$x :=`, `$x =`, and range's `$i, $e :=`.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> PResult<()> {
        loop {
            let start = self.at;
            let token = self.next_non_space();
            let Tok::Variable(name) = token.tok else {
                self.at = start;
                return Ok(());
            };
            let next = self.peek_non_space().clone();
            match next.tok {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    pipe.is_assign = next.tok == Tok::Assign;
                    // Go checks that an assigned variable exists only when executing.
                    pipe.decl.push(name.clone());
                    if !pipe.is_assign {
                        self.vars.push(name);
                    }
                    return Ok(());
                }
                Tok::Comma => {
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) => continue,
                            _ => {
                                let pos = self.peek().pos;
                                return self.err(pos, "range can only initialize variables");
                            }
                        }
                    }
                    return self.err(token.pos, format!("too many declarations in {context}"));
                }
                _ => {
                    self.at = start;
                    return Ok(());
                }
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str, pos: usize) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.err(pos, format!("missing value for {context}"));
        }
        // Only a function, method or field can take a piped value.
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(first) = cmd.args.first() {
                if matches!(first, Arg::Const(..) | Arg::Nil(_) | Arg::Dot(_)) {
                    return self.err(
                        first.pos(),
                        format!("non executable command in pipeline stage {}", i + 1),
                    );
                }
            }
        }
        if !pipe.decl.is_empty() && pipe.is_assign && pipe.decl.len() > 1 {
            return self.err(pipe.pos, format!("too many declarations in {context}"));
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let token = self.next();
            match token.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.at -= 1,
                Tok::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.err(pos, "empty command");
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut chain = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            chain.push(f.clone());
            self.next();
        }
        if chain.is_empty() {
            return Ok(Some(term));
        }
        Ok(Some(match term {
            Arg::Field { pos, chain: mut c } => {
                c.extend(chain);
                Arg::Field { pos, chain: c }
            }
            Arg::Variable {
                pos,
                name,
                chain: mut c,
            } => {
                c.extend(chain);
                Arg::Variable {
                    pos,
                    name,
                    chain: c,
                }
            }
            Arg::Pipe {
                pos,
                pipe,
                chain: mut c,
            } => {
                c.extend(chain);
                Arg::Pipe {
                    pos,
                    pipe,
                    chain: c,
                }
            }
            other => {
                return self.err(other.pos(), "unexpected . after term");
            }
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.tok {
            Tok::Identifier(name) => {
                if !(self.is_func)(&name) {
                    return self.err(pos, format!("function {name:?} not defined"));
                }
                Arg::Ident { pos, name }
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Keyword("nil") => Arg::Nil(pos),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.err(pos, format!("undefined variable {name:?}"));
                }
                Arg::Variable {
                    pos,
                    name,
                    chain: Vec::new(),
                }
            }
            Tok::Field(f) => Arg::Field {
                pos,
                chain: vec![f],
            },
            Tok::Bool(b) => Arg::Const(pos, Const::Bool(b)),
            Tok::Char(c) => Arg::Const(pos, Const::Int(c)),
            Tok::Str(s) => Arg::Const(pos, Const::Str(s)),
            Tok::Number(text) => match parse_number(&text) {
                Some(c) => Arg::Const(pos, c),
                None if is_plain_integer(&text) => {
                    return self.err(pos, format!("integer overflow: {text:?}"))
                }
                None => return self.err(pos, format!("illegal number syntax: {text:?}")),
            },
            Tok::LeftParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen);
                self.nesting -= 1;
                Arg::Pipe {
                    pos,
                    pipe: Box::new(pipe?),
                    chain: Vec::new(),
                }
            }
            _ => {
                self.at -= 1;
                return Ok(None);
            }
        }))
    }
}

enum Item {
    Node(Node),
    Skip,
    End(usize),
    Else(usize),
}

/// A number literal as Go's template parser types it: float when it has a `.`, exponent
/// (and is not hex), otherwise an int (base prefixes and `_` separators allowed).
pub(crate) fn parse_number(text: &str) -> Option<Const> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let digits = body.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let is_hex = lower.starts_with("0x");
    if is_hex && lower.contains('p') {
        let f = parse_hex_float(&lower[2..])?;
        return Some(Const::Float(if neg { -f } else { f }));
    }
    if !is_hex && lower.contains(['.', 'e']) {
        if !lower
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
        {
            return None;
        }
        let f: f64 = lower.parse().ok()?;
        return Some(Const::Float(if neg { -f } else { f }));
    }
    let (radix, rest) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = lower.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = i128::from_str_radix(rest, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    if let Ok(i) = i64::try_from(value) {
        return Some(Const::Int(i));
    }
    // Go parses a uint64 and refuses it only when executing; beyond that it is a parse error.
    (!neg && u64::try_from(value).is_ok()).then(|| Const::Overflow(text.to_string()))
}

/// Digits only (with sign, base prefix, `_`): an integer literal, valid or too large.
fn is_plain_integer(text: &str) -> bool {
    let t = text
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .replace('_', "");
    let (digits, radix) = match t.get(..2) {
        Some("0x") => (&t[2..], 16),
        Some("0o") => (&t[2..], 8),
        Some("0b") => (&t[2..], 2),
        _ => (t.as_str(), 10),
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

/// A hex float's body after `0x`: hex mantissa with an optional `.`, then `p` and a decimal
/// power of two.
fn parse_hex_float(body: &str) -> Option<f64> {
    let (mantissa, exp) = body.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exp.clamp(-2000, 2000)))
}
