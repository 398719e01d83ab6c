//! The parse tree, mirroring Go's `text/template/parse` nodes. Every node carries the byte
//! offset it started at, so execution errors can name a line and column.

pub(crate) type List = Vec<Node>;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    /// `{{pipeline}}`: evaluated and printed unless it declares or assigns variables.
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    /// `{{template "name" pipeline}}` (and the call half of `{{block}}`).
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
}

/// The shape shared by `if`, `range` and `with`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    /// `true` for `$x = ...`, `false` for `$x := ...` (when `decl` is not empty).
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.a.b.c` on dot.
    Field {
        pos: usize,
        chain: Vec<String>,
    },
    /// `$x.a.b` (chain may be empty).
    Variable {
        pos: usize,
        name: String,
        chain: Vec<String>,
    },
    Dot(usize),
    Nil(usize),
    /// A constant: bool, number, string or char.
    Const(usize, Const),
    /// A function name.
    Ident {
        pos: usize,
        name: String,
    },
    /// `(pipeline)` optionally followed by `.a.b`.
    Pipe {
        pos: usize,
        pipe: Box<Pipe>,
        chain: Vec<String>,
    },
}

impl Arg {
    pub(crate) fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Pipe { pos, .. } => *pos,
            Arg::Dot(pos) | Arg::Nil(pos) | Arg::Const(pos, _) => *pos,
        }
    }
}

/// A literal in the template text.
#[derive(Debug, Clone)]
pub(crate) enum Const {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// An integer literal too large for Go's `int` (an error when executed).
    Overflow(String),
}
