//! GRUB's script grammar (`grub-core/script/parser.y`), one logical line
//! at a time.
//!
//! GRUB parses a file as a series of logical lines — a physical line, plus
//! the following ones while a block, `if`, loop or quote is open — and
//! runs each before parsing the next. A syntax error discards the logical
//! line it is in (nothing of it runs) and parsing resumes at the next
//! physical line; functions are defined as soon as they are parsed. The
//! grammar itself is GRUB's: `function` only at the top of a script, a
//! block only as the last argument of a command, keywords allowed as
//! arguments, and a mandatory delimiter before a function's closing `}`.

use std::rc::Rc;

use super::lex::{Keyword, Lexer, Line, Tok, Token, Word};

/// Blocks, `if`s and loops nested deeper than this are refused (GRUB's own
/// parser would go on until memory runs out).
pub const MAX_NESTING: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stmt {
    Cmd(Cmd),
    If {
        cond: Vec<Stmt>,
        then: Vec<Stmt>,
        /// `else`, or an `elif` as a nested `If`.
        otherwise: Option<Vec<Stmt>>,
    },
    For {
        var: String,
        words: Vec<Word>,
        body: Vec<Stmt>,
    },
    While {
        until: bool,
        cond: Vec<Stmt>,
        body: Vec<Stmt>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub words: Vec<Word>,
    /// A `{ … }` block after the arguments (`menuentry`, `submenu`).
    pub block: Option<Rc<Vec<Stmt>>>,
    /// 1-based line number of the command, for messages.
    pub line: usize,
}

/// A top-level item of a logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Function { name: String, body: Rc<Vec<Stmt>> },
    Stmt(Stmt),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
    /// Functions parsed before the error: GRUB has defined them already.
    pub functions: Vec<Item>,
}

/// Parses a script one logical line at a time.
pub struct Parser<'l> {
    lines: &'l [Line],
    lexer: Lexer,
    buf: Vec<Token>,
    idx: usize,
    /// Open constructs: what closes them, and the line (index) they opened on.
    open: Vec<(&'static str, usize)>,
    done: bool,
}

type PResult<T> = Result<T, (usize, String)>;

/// What the next token is, without its text (cheap to look at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Newline,
    Semi,
    LBrace,
    RBrace,
    Keyword(Keyword),
    Name,
    Word,
    Bad,
}

fn kind(tok: &Tok) -> Kind {
    match tok {
        Tok::Newline => Kind::Newline,
        Tok::Semi => Kind::Semi,
        Tok::LBrace => Kind::LBrace,
        Tok::RBrace => Kind::RBrace,
        Tok::Keyword(k) => Kind::Keyword(*k),
        Tok::Name(_) => Kind::Name,
        Tok::Word(_) => Kind::Word,
        Tok::Bad(_) => Kind::Bad,
    }
}

impl<'l> Parser<'l> {
    pub fn new(lines: &'l [Line]) -> Self {
        Parser {
            lines,
            lexer: Lexer::new(lines),
            buf: Vec::new(),
            idx: 0,
            open: Vec::new(),
            done: lines.is_empty(),
        }
    }

    /// The next logical line: its items, or the syntax error that
    /// discarded it. `None` at the end of the input.
    pub fn next_line(&mut self) -> Option<Result<Vec<Item>, SyntaxError>> {
        if self.done {
            return None;
        }
        // Tokens looked at but not used belong to the next logical line.
        self.buf.drain(..self.idx);
        self.idx = 0;
        self.open.clear();
        self.peek()?;
        let mut items = Vec::new();
        match self.logical_line(&mut items) {
            Ok(()) => Some(Ok(items)),
            Err((line_index, message)) => {
                // GRUB has read through the line of the offending token;
                // it starts afresh on the next one.
                self.buf.clear();
                self.idx = 0;
                if line_index >= self.lexer.last_line() {
                    self.done = true;
                } else {
                    self.lexer.restart_at_line(line_index + 1);
                }
                let functions = items
                    .into_iter()
                    .filter(|i| matches!(i, Item::Function { .. }))
                    .collect();
                Some(Err(SyntaxError {
                    line: self.number(line_index),
                    message,
                    functions,
                }))
            }
        }
    }

    fn number(&self, line_index: usize) -> usize {
        self.lines.get(line_index).map_or(0, |l| l.number)
    }

    fn peek(&mut self) -> Option<&Token> {
        while self.buf.len() <= self.idx {
            let token = self.lexer.next_token()?;
            self.buf.push(token);
        }
        self.buf.get(self.idx)
    }

    fn peek_kind(&mut self) -> Option<Kind> {
        self.peek().map(|t| kind(&t.tok))
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.peek()?.clone();
        self.idx += 1;
        Some(t)
    }

    /// An error at the current token (or at the end of the input).
    fn error<T>(&mut self, what: &str) -> PResult<T> {
        match self.peek().cloned() {
            Some(t) => {
                let found = describe(&t.tok);
                let message = match &t.tok {
                    Tok::Bad(m) => m.clone(),
                    _ => format!("syntax error: expected {what}, found {found}"),
                };
                Err((t.line, message))
            }
            None => match self.open.last() {
                Some((closer, line)) => Err((
                    *line,
                    format!("syntax error: {closer} (the file ends first)"),
                )),
                None => Err((
                    self.lexer.last_line(),
                    format!("syntax error: unexpected end of file (expected {what})"),
                )),
            },
        }
    }

    fn line_of_current(&mut self) -> usize {
        let last = self.lexer.last_line();
        let index = self.peek().map_or(last, |t| t.line);
        self.number(index)
    }

    /// Opens a construct that `closer` describes, at the token just read.
    fn enter(&mut self, closer: &'static str) -> PResult<()> {
        let line = self.buf[self.idx.saturating_sub(1)].line;
        self.open.push((closer, line));
        if self.open.len() > MAX_NESTING {
            return Err((line, format!("blocks nested more than {MAX_NESTING} deep")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.open.pop();
    }

    fn logical_line(&mut self, items: &mut Vec<Item>) -> PResult<()> {
        if self.peek_kind() == Some(Kind::Newline) {
            self.bump();
            return Ok(());
        }
        loop {
            let item = if self.peek_kind() == Some(Kind::Keyword(Keyword::Function)) {
                self.function()?
            } else {
                Item::Stmt(self.command()?)
            };
            items.push(item);
            match self.peek_kind() {
                Some(Kind::Newline) => {
                    self.bump();
                    return Ok(());
                }
                Some(Kind::Semi) => {
                    self.bump();
                    if matches!(self.peek_kind(), Some(Kind::Newline) | None) {
                        self.bump();
                        return Ok(());
                    }
                }
                _ => return self.error("`;` or a new line"),
            }
        }
    }

    fn function(&mut self) -> PResult<Item> {
        self.bump();
        let name = match self.peek().map(|t| &t.tok) {
            Some(Tok::Name(name)) => name.clone(),
            _ => return self.error("a function name"),
        };
        self.bump();
        self.newlines();
        if self.peek_kind() != Some(Kind::LBrace) {
            return self.error("`{`");
        }
        self.bump();
        self.enter("`{` without a matching `}`")?;
        let body = self.commands()?;
        if !self.delimiters() {
            return self.error("`;` or a new line before `}`");
        }
        if self.peek_kind() != Some(Kind::RBrace) {
            return self.error("`}`");
        }
        self.bump();
        self.leave();
        Ok(Item::Function {
            name,
            body: Rc::new(body),
        })
    }

    fn newlines(&mut self) {
        while self.peek_kind() == Some(Kind::Newline) {
            self.bump();
        }
    }

    /// `;` or a new line, then any new lines.
    fn delimiters(&mut self) -> bool {
        if matches!(self.peek_kind(), Some(Kind::Semi | Kind::Newline)) {
            self.bump();
            self.newlines();
            true
        } else {
            false
        }
    }

    fn starts_command(kind: Option<Kind>) -> bool {
        matches!(
            kind,
            Some(
                Kind::Name
                    | Kind::Word
                    | Kind::Keyword(Keyword::If | Keyword::For | Keyword::While | Keyword::Until)
            )
        )
    }

    /// One or more commands separated by delimiters; the delimiters after
    /// the last one are left for the caller.
    fn commands(&mut self) -> PResult<Vec<Stmt>> {
        self.newlines();
        let mut out = vec![self.command()?];
        loop {
            let save = self.idx;
            if self.delimiters() {
                let next = self.peek_kind();
                if Self::starts_command(next) {
                    out.push(self.command()?);
                    continue;
                }
            }
            self.idx = save;
            return Ok(out);
        }
    }

    fn command(&mut self) -> PResult<Stmt> {
        match self.peek_kind() {
            Some(Kind::Keyword(Keyword::If)) => self.if_command(),
            Some(Kind::Keyword(Keyword::For)) => self.for_command(),
            Some(Kind::Keyword(k @ (Keyword::While | Keyword::Until))) => {
                self.while_command(k == Keyword::Until)
            }
            Some(Kind::Name | Kind::Word) => self.simple_command(),
            _ => self.error("a command"),
        }
    }

    fn arguments(&mut self) -> Vec<Word> {
        let mut words = Vec::new();
        loop {
            let word = match self.peek().map(|t| &t.tok) {
                Some(Tok::Name(s)) => vec![super::lex::Piece::Text(s.clone())],
                Some(Tok::Keyword(k)) => vec![super::lex::Piece::Text(k.as_str().into())],
                Some(Tok::Word(w)) => w.clone(),
                _ => return words,
            };
            self.bump();
            words.push(word);
        }
    }

    fn simple_command(&mut self) -> PResult<Stmt> {
        let line = self.line_of_current();
        let first = match self.bump().map(|t| t.tok) {
            Some(Tok::Name(s)) => vec![super::lex::Piece::Text(s)],
            Some(Tok::Word(w)) => w,
            _ => unreachable!("simple_command starts at a word"),
        };
        let mut words = vec![first];
        words.extend(self.arguments());
        let block = if self.peek_kind() == Some(Kind::LBrace) {
            self.bump();
            self.enter("`{` without a matching `}`")?;
            let body = self.commands()?;
            self.delimiters();
            if self.peek_kind() != Some(Kind::RBrace) {
                return self.error("`}`");
            }
            self.bump();
            self.leave();
            Some(Rc::new(body))
        } else {
            None
        };
        Ok(Stmt::Cmd(Cmd { words, block, line }))
    }

    fn expect_keyword(&mut self, k: Keyword) -> PResult<()> {
        if self.peek_kind() == Some(Kind::Keyword(k)) {
            self.bump();
            Ok(())
        } else {
            self.error(&format!("`{}`", k.as_str()))
        }
    }

    fn delimited_commands(&mut self) -> PResult<Vec<Stmt>> {
        let body = self.commands()?;
        if !self.delimiters() {
            return self.error("`;` or a new line");
        }
        Ok(body)
    }

    fn if_command(&mut self) -> PResult<Stmt> {
        self.bump();
        self.enter("`if` without a matching `fi`")?;
        let stmt = self.if_clause()?;
        self.expect_keyword(Keyword::Fi)?;
        self.leave();
        Ok(stmt)
    }

    fn if_clause(&mut self) -> PResult<Stmt> {
        let cond = self.delimited_commands()?;
        self.expect_keyword(Keyword::Then)?;
        let then = self.delimited_commands()?;
        let otherwise = match self.peek_kind() {
            Some(Kind::Keyword(Keyword::Else)) => {
                self.bump();
                Some(self.delimited_commands()?)
            }
            Some(Kind::Keyword(Keyword::Elif)) => {
                self.bump();
                self.enter("`elif` without a matching `fi`")?;
                let nested = self.if_clause()?;
                self.leave();
                Some(vec![nested])
            }
            _ => None,
        };
        Ok(Stmt::If {
            cond,
            then,
            otherwise,
        })
    }

    fn for_command(&mut self) -> PResult<Stmt> {
        self.bump();
        self.enter("`for` without a matching `done`")?;
        let var = match self.peek().map(|t| &t.tok) {
            Some(Tok::Name(name)) => name.clone(),
            _ => return self.error("a variable name"),
        };
        self.bump();
        self.expect_keyword(Keyword::In)?;
        let words = self.arguments();
        if !self.delimiters() {
            return self.error("`;` or a new line");
        }
        self.expect_keyword(Keyword::Do)?;
        let body = self.delimited_commands()?;
        self.expect_keyword(Keyword::Done)?;
        self.leave();
        Ok(Stmt::For { var, words, body })
    }

    fn while_command(&mut self, until: bool) -> PResult<Stmt> {
        self.bump();
        self.enter(if until {
            "`until` without a matching `done`"
        } else {
            "`while` without a matching `done`"
        })?;
        let cond = self.delimited_commands()?;
        self.expect_keyword(Keyword::Do)?;
        let body = self.delimited_commands()?;
        self.expect_keyword(Keyword::Done)?;
        self.leave();
        Ok(Stmt::While { until, cond, body })
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Newline => "a new line".into(),
        Tok::Semi => "`;`".into(),
        Tok::LBrace => "`{`".into(),
        Tok::RBrace => "`}`".into(),
        Tok::Keyword(k) => format!("`{}`", k.as_str()),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Word(_) => "a word".into(),
        Tok::Bad(m) => m.clone(),
    }
}

/// Parses a whole script strictly: the first syntax error is returned.
/// (GRUB itself skips the logical line and goes on; see [`Parser`].)
pub fn parse_strict(lines: &[Line]) -> Result<Vec<Item>, SyntaxError> {
    let mut parser = Parser::new(lines);
    let mut items = Vec::new();
    while let Some(line) = parser.next_line() {
        items.extend(line?);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::super::lex::{Piece, config_lines};
    use super::*;

    fn lines(text: &str) -> Vec<Result<Vec<Item>, SyntaxError>> {
        let lines = config_lines(text);
        let mut parser = Parser::new(&lines);
        std::iter::from_fn(|| parser.next_line()).collect()
    }

    fn cmd_names(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Item::Function { name, .. } => format!("function {name}"),
                Item::Stmt(Stmt::Cmd(c)) => match &c.words[0][0] {
                    Piece::Text(t) => t.clone(),
                    p => format!("{p:?}"),
                },
                Item::Stmt(s) => format!("{s:?}").chars().take(5).collect(),
            })
            .collect()
    }

    #[test]
    fn test_logical_lines() {
        let out = lines("a; b\n\nmenuentry x {\n linux /v\n}\nc\n");
        let names: Vec<_> = out.iter().map(|r| cmd_names(r.as_ref().unwrap())).collect();
        assert_eq!(
            names,
            [vec!["a", "b"], vec![], vec!["menuentry"], vec!["c"]]
        );
    }

    #[test]
    fn test_syntax_error_skips_the_logical_line_only() {
        let out = lines("set a=1; set b=$\nfunction f { x; }; }\nset c=2\n");
        assert!(out[0].is_err());
        let e = out[1].as_ref().unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.functions.len(),
            1,
            "f is defined although the line failed"
        );
        assert_eq!(cmd_names(out[2].as_ref().unwrap()), ["set"]);
    }

    #[test]
    fn test_grammar_corners() {
        // Keywords are arguments; a function needs a delimiter before `}`;
        // a block needs none; `if` needs a command in each branch.
        assert!(lines("echo if then fi\n")[0].is_ok());
        assert!(lines("function f { echo a }\n")[0].is_err());
        assert!(lines("menuentry x { echo a }\n")[0].is_ok());
        assert!(lines("if true; then\nfi\n")[0].is_err());
        assert!(lines("if true; then a; elif b; then c; else d; fi\n")[0].is_ok());
        assert!(lines("for x in a b; do echo $x; done\n")[0].is_ok());
        assert!(lines("while false; do x; done\n")[0].is_ok());
        assert!(
            lines("menuentry x\n{ y }\n")[0].is_ok(),
            "a command without block"
        );
        let deep = "if a; then ".repeat(MAX_NESTING + 1);
        assert!(lines(&deep)[0].is_err());
    }
}
