//! Stage 1 of the reader: source text to a syntax tree, in one dialect.
//!
//! The parser accepts exactly the subset described in [`super`] and turns
//! everything else into an error naming `file:line:column` and the
//! construct. It never evaluates: the tree it returns is run by
//! [`super::eval`] only once the whole file has parsed, so a syntax error on
//! the last line leaves no variable changed.
//!
//! The dialect decides the few places where dash and bash read the same
//! bytes differently (`$'…'`, `$"…"`, `NAME+=`) or where only bash has a
//! construct (`declare`/`typeset`, brace expansion of arguments, arrays).

use std::path::Path;

use super::{Dialect, LineIndex, Pos, config_error, is_name};
use crate::error::{Error, Result};

// ---------------------------------------------------------------------------
// Syntax tree

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Command {
    /// `A=1 B=$A`: assigned left to right.
    Assign(Vec<Assignment>),
    /// `export A=1 B`, bash's `declare`/`typeset`: every argument expanded
    /// first, then assigned in order.
    Declare(Vec<DeclArg>),
    Unset(Vec<String>),
    /// `: word...`: words expanded for their `${X:=y}` side effects.
    Colon(Vec<Word>),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Assignment {
    pub name: String,
    pub pos: Pos,
    /// bash's `NAME+=value`: appended to the current value.
    pub append: bool,
    pub value: Word,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum DeclArg {
    /// A bare name: its value is unchanged.
    Name,
    Assign(Assignment),
}

pub(super) type Word = Vec<Part>;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Literal(String),
    /// An unquoted `~` that the shell replaces with `$HOME`.
    Tilde(Pos),
    Param {
        name: String,
        pos: Pos,
        op: Option<(ParamOp, Word)>,
    },
    /// `$(uname -r)` or `` `uname -r` ``.
    KernelRelease(Pos),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ParamOp {
    /// `-` / `:-`: use the word when unset (or empty).
    Default { colon: bool },
    /// `=` / `:=`: assign the word when unset (or empty).
    Assign { colon: bool },
    /// `+` / `:+`: use the word when set (and not empty).
    Alternative { colon: bool },
}

// ---------------------------------------------------------------------------
// Parser

/// How a word is being read: decides where tilde expansion happens and which
/// characters end the word.
#[derive(Debug, Clone, Copy, PartialEq)]
enum WordContext {
    /// The value of `NAME=`: `~` expands at the start and after each `:`.
    AssignmentValue,
    /// A command argument: `~` expands at the start only.
    Argument,
    /// The word inside an unquoted `${NAME-word}`; ends at `}`; blanks and
    /// operators are ordinary characters. `~` expands at its start; with
    /// `colon_tilde` also after each `:` (dash's EXP_VARTILDE), which the
    /// word inherits from an assignment value through `-` and `+`, but not
    /// through `=`.
    Brace { colon_tilde: bool },
}

/// Where double-quoted text ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QuotedEnd {
    /// At the closing `"`; `in_brace` when the quotes are inside `${...}`.
    Quote { in_brace: bool },
    /// At the `}` of `"${NAME-word}"`.
    Brace,
}

impl WordContext {
    /// Whether `~` after an unquoted `:` is a tilde expansion.
    fn colon_tilde(self) -> bool {
        match self {
            WordContext::AssignmentValue => true,
            WordContext::Argument => false,
            WordContext::Brace { colon_tilde } => colon_tilde,
        }
    }
}

pub(super) struct Parser<'p> {
    path: &'p Path,
    dialect: Dialect,
    chars: Vec<char>,
    pos: Pos,
    lines: LineIndex,
    /// Nesting of quotes and `${...}`, bounded so that hostile input cannot
    /// exhaust the stack of this recursive-descent parser.
    depth: usize,
    /// Set while reading the arguments of a builtin, where bash performs
    /// brace expansion (`export A={a,b}` is `export A=a A=b`).
    in_arguments: bool,
}

/// Far beyond any real configuration file.
const MAX_NESTING: usize = 64;

const RESERVED_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "{", "}", "!",
];

/// Reserved words bash adds.
const BASH_RESERVED_WORDS: &[&str] = &["[[", "]]", "select", "coproc", "time"];

/// What a builtin's arguments mean.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Builtin {
    Export,
    /// bash's `declare` and `typeset`.
    Declare,
}

impl<'p> Parser<'p> {
    pub(super) fn new(path: &'p Path, text: &str, dialect: Dialect) -> Self {
        Parser {
            path,
            dialect,
            chars: text.chars().collect(),
            pos: 0,
            lines: LineIndex::new(text),
            depth: 0,
            in_arguments: false,
        }
    }

    fn bash(&self) -> bool {
        self.dialect == Dialect::Bash
    }

    /// Runs `parse` one nesting level deeper.
    fn nested<T>(&mut self, start: Pos, parse: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_NESTING {
            return Err(self.error_at(start, "quotes and `${...}` nested too deeply"));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn error_at(&self, pos: Pos, message: impl Into<String>) -> Error {
        let (line, column) = self.lines.position(pos);
        config_error(self.path, line, column, message)
    }

    fn unsupported(&self, pos: Pos, what: &str) -> Error {
        self.error_at(
            pos,
            format!("{what} is not supported: kexecctl reads assignments without running the file"),
        )
    }

    /// Skips `\`-newline pairs: the shell removes them before it tokenises.
    fn skip_continuations(&mut self) {
        while self.chars.get(self.pos) == Some(&'\\') && self.chars.get(self.pos + 1) == Some(&'\n')
        {
            self.pos += 2;
        }
    }

    /// The next character, continuations removed.
    fn peek(&mut self) -> Option<char> {
        self.skip_continuations();
        self.chars.get(self.pos).copied()
    }

    /// The character after the next one, continuations removed.
    fn peek_second(&mut self) -> Option<char> {
        self.skip_continuations();
        let saved = self.pos;
        self.pos += 1;
        let c = self.peek();
        self.pos = saved;
        c
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    fn skip_comment(&mut self) {
        // Continuations do not continue a comment.
        while let Some(&c) = self.chars.get(self.pos) {
            if c == '\n' {
                break;
            }
            self.pos += 1;
        }
    }

    pub(super) fn parse_program(mut self) -> Result<Vec<Command>> {
        let mut program = Vec::new();
        loop {
            self.skip_blanks();
            match self.peek() {
                None => return Ok(program),
                Some('\n') => self.pos += 1,
                Some('#') => self.skip_comment(),
                Some(';') => {
                    return Err(self.error_at(self.pos, "syntax error: `;` without a command"));
                }
                Some(_) => {
                    program.push(self.parse_command()?);
                    self.skip_blanks();
                    match self.peek() {
                        None | Some('\n') | Some('#') => {}
                        Some(';') => {
                            self.pos += 1;
                            self.skip_blanks();
                            if self.peek() == Some(';') {
                                return Err(self.error_at(
                                    self.pos - 1,
                                    "syntax error: `;;` outside a case statement",
                                ));
                            }
                        }
                        Some(_) => return Err(self.operator_error()),
                    }
                }
            }
        }
    }

    /// The error for a shell operator found where a word or the end of a
    /// command was expected.
    fn operator_error(&mut self) -> Error {
        let pos = self.pos;
        let c = self.peek().unwrap_or(' ');
        let next = self.peek_second();
        let what = match (c, next) {
            ('&', Some('&')) => "an `&&` list",
            ('|', Some('|')) => "an `||` list",
            ('&', _) => "running a command in the background (`&`)",
            ('|', _) => "a pipeline (`|`)",
            ('<' | '>', _) => "a redirection",
            ('(', _) if self.bash() && self.pos > 0 && self.chars[self.pos - 1] == '=' => {
                "a bash array assignment `NAME=(...)`"
            }
            ('(' | ')', _) => "a subshell or function definition (`(`)",
            _ => "this syntax",
        };
        self.unsupported(pos, what)
    }

    fn at_word_end(&mut self) -> bool {
        matches!(
            self.peek(),
            None | Some(' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')')
        )
    }

    /// At a command's start, or after assignments: tries to read `NAME=`
    /// (and in bash `NAME+=`). Returns the name, its position and whether
    /// it appends.
    fn try_assignment_prefix(&mut self) -> Option<(String, Pos, bool)> {
        let start = self.pos;
        self.skip_continuations();
        let name_pos = self.pos;
        let name = self.read_name();
        if !is_name(&name) {
            self.pos = start;
            return None;
        }
        let append = self.bash() && self.peek() == Some('+') && self.peek_second() == Some('=');
        if append {
            self.pos += 1;
        }
        if self.peek() == Some('=') {
            self.pos += 1;
            Some((name, name_pos, append))
        } else {
            self.pos = start;
            None
        }
    }

    /// Whether a `NAME+=` follows (without consuming it).
    fn try_append_prefix(&mut self) -> bool {
        let start = self.pos;
        let name = self.read_name();
        let found = is_name(&name) && self.peek() == Some('+') && self.peek_second() == Some('=');
        self.pos = start;
        found
    }

    fn parse_command(&mut self) -> Result<Command> {
        let mut assignments = Vec::new();
        loop {
            self.skip_blanks();
            if self.at_word_end() || self.peek() == Some('#') {
                return Ok(Command::Assign(assignments));
            }
            match self.try_assignment_prefix() {
                Some((name, pos, append)) => {
                    let value = self.parse_word(WordContext::AssignmentValue)?;
                    assignments.push(Assignment {
                        name,
                        pos,
                        append,
                        value,
                    });
                }
                None => break,
            }
        }
        // A command word follows.
        let word_pos = self.pos;
        if !self.bash() && self.try_append_prefix() {
            return Err(self.unsupported(
                word_pos,
                "`NAME+=value` (it appends in bash; dash, which reads this file, runs it as a \
                 command)",
            ));
        }
        let (word, literal) = self.parse_command_name()?;
        if !assignments.is_empty() {
            return Err(self.unsupported(
                assignments[0].pos,
                &format!("an assignment before the command `{word}`"),
            ));
        }
        let Some(name) = literal else {
            return Err(self.unsupported(word_pos, "a command name with quotes or expansions"));
        };
        self.in_arguments = true;
        let command = match name.as_str() {
            "export" => self.parse_declaration(Builtin::Export),
            "declare" | "typeset" if self.bash() => self.parse_declaration(Builtin::Declare),
            "local" if self.bash() => Err(self.unsupported(
                word_pos,
                "`local` outside a function (bash refuses it there)",
            )),
            "unset" => self.parse_unset(),
            ":" => {
                let mut words = Vec::new();
                while self.next_argument_start().is_some() {
                    words.push(self.parse_word(WordContext::Argument)?);
                }
                Ok(Command::Colon(words))
            }
            "." | "source" => Err(self.unsupported(word_pos, "sourcing another file")),
            "function" if self.bash() => Err(self.unsupported(word_pos, "a function definition")),
            w if RESERVED_WORDS.contains(&w)
                || (self.bash() && BASH_RESERVED_WORDS.contains(&w)) =>
            {
                Err(self.unsupported(word_pos, &format!("the compound command `{w}`")))
            }
            w => {
                self.skip_blanks();
                if self.peek() == Some('(') {
                    return Err(self.unsupported(word_pos, "a function definition"));
                }
                Err(self.unsupported(word_pos, &format!("running the command `{w}`")))
            }
        };
        self.in_arguments = false;
        command
    }

    /// Reads the first word of a command. Returns its text for messages and,
    /// when it is a plain unquoted literal, that literal.
    fn parse_command_name(&mut self) -> Result<(String, Option<String>)> {
        let start = self.pos;
        let mut literal = String::new();
        let mut plain = true;
        while !self.at_word_end() {
            match self.peek() {
                Some('\'' | '"' | '\\' | '$' | '`') => {
                    plain = false;
                    // Parse it properly so unbalanced quotes are reported.
                    self.parse_word(WordContext::Argument)?;
                    break;
                }
                Some(c) => {
                    literal.push(c);
                    self.pos += 1;
                }
                None => break,
            }
        }
        let shown: String = self.chars[start..self.pos].iter().collect();
        Ok((shown, plain.then_some(literal)))
    }

    /// Skips blanks; returns the position of the next argument, if any.
    fn next_argument_start(&mut self) -> Option<Pos> {
        self.skip_blanks();
        if self.at_word_end() || self.peek() == Some('#') {
            None
        } else {
            Some(self.pos)
        }
    }

    /// `export ARG...`, or bash's `declare`/`typeset [-x|+x|-g]... ARG...`.
    fn parse_declaration(&mut self, builtin: Builtin) -> Result<Command> {
        let shown = match builtin {
            Builtin::Export => "export",
            Builtin::Declare => "declare",
        };
        let mut args = Vec::new();
        let mut options_done = false;
        while let Some(pos) = self.next_argument_start() {
            if let Some((name, pos, append)) = self.try_assignment_prefix() {
                options_done = true;
                let value = self.parse_word(WordContext::AssignmentValue)?;
                args.push(DeclArg::Assign(Assignment {
                    name,
                    pos,
                    append,
                    value,
                }));
                continue;
            }
            let word = self.parse_word(WordContext::Argument)?;
            match literal_of(&word) {
                Some(name) if is_name(&name) => {
                    options_done = true;
                    args.push(DeclArg::Name);
                }
                Some(opt) if opt == "--" && !options_done => options_done = true,
                Some(opt) if !options_done && self.harmless_option(builtin, &opt) => {}
                Some(opt) if opt.starts_with(['-', '+']) => {
                    return Err(self.unsupported(pos, &format!("`{shown} {opt}`")));
                }
                _ => {
                    return Err(self.error_at(pos, format!("{shown}: not a valid variable name")));
                }
            }
        }
        Ok(Command::Declare(args))
    }

    /// Options that change no value: bash's `export -n` (un-export), and
    /// `declare -x`/`+x` (export or not) and `-g` (global, which a file
    /// sourced at the top level is anyway).
    fn harmless_option(&self, builtin: Builtin, opt: &str) -> bool {
        if !self.bash() {
            return false;
        }
        let allowed = match builtin {
            Builtin::Export => "n",
            Builtin::Declare => "xg",
        };
        let letters = match (builtin, opt.strip_prefix('-'), opt.strip_prefix('+')) {
            (_, Some(l), _) => l,
            (Builtin::Declare, None, Some(l)) if l == "x" => l,
            _ => return false,
        };
        !letters.is_empty() && letters.chars().all(|c| allowed.contains(c))
    }

    fn parse_unset(&mut self) -> Result<Command> {
        let mut names = Vec::new();
        let mut options_done = false;
        while let Some(pos) = self.next_argument_start() {
            let word = self.parse_word(WordContext::Argument)?;
            match literal_of(&word) {
                Some(opt) if opt == "-v" && !options_done => {}
                Some(name) if is_name(&name) => {
                    options_done = true;
                    names.push(name);
                }
                Some(opt) if opt.starts_with('-') => {
                    return Err(self.unsupported(pos, &format!("`unset {opt}`")));
                }
                _ => return Err(self.error_at(pos, "unset: not a valid variable name")),
            }
        }
        Ok(Command::Unset(names))
    }

    fn parse_word(&mut self, ctx: WordContext) -> Result<Word> {
        let mut word = Word::new();
        let mut literal = String::new();
        let mut tilde_allowed = true;
        // bash's brace expansion of builtin arguments: an unquoted `{` with
        // an unquoted `,` or `..` and a closing `}` after it.
        let check_braces =
            self.bash() && self.in_arguments && !matches!(ctx, WordContext::Brace { .. });
        let mut brace_open: Option<Pos> = None;
        let mut brace_separated = false;
        let mut previous_dot = false;
        while let Some(c) = self.peek() {
            let ends_here = match ctx {
                WordContext::Brace { .. } => c == '}',
                _ => self.at_word_end(),
            };
            if ends_here {
                break;
            }
            if tilde_allowed && c == '~' && self.tilde_here(ctx)? {
                flush(&mut word, &mut literal);
                word.push(Part::Tilde(self.pos));
                self.pos += 1;
                tilde_allowed = false;
                continue;
            }
            tilde_allowed = false;
            if self.bash()
                && matches!(ctx, WordContext::Brace { .. })
                && matches!(c, '<' | '>')
                && self.peek_second() == Some('(')
            {
                return Err(self.unsupported(self.pos, "bash's process substitution `<(...)`"));
            }
            let dot = c == '.';
            if check_braces {
                match c {
                    '{' if brace_open.is_none() => brace_open = Some(self.pos),
                    ',' if brace_open.is_some() => brace_separated = true,
                    '.' if brace_open.is_some() && previous_dot => brace_separated = true,
                    '}' if brace_separated => {
                        return Err(self.unsupported(
                            brace_open.unwrap_or(self.pos),
                            "bash's brace expansion `{a,b}` in an argument (quote the braces)",
                        ));
                    }
                    _ => {}
                }
            }
            previous_dot = dot;
            match c {
                '\'' => literal.push_str(&self.parse_single_quoted()?),
                '"' => {
                    flush(&mut word, &mut literal);
                    let in_brace = matches!(ctx, WordContext::Brace { .. });
                    word.extend(self.parse_double_quoted(in_brace)?);
                }
                '\\' => {
                    self.pos += 1;
                    match self.chars.get(self.pos) {
                        Some(&escaped) => {
                            literal.push(escaped);
                            self.pos += 1;
                        }
                        None => literal.push('\\'),
                    }
                }
                '$' if self.bash() && self.peek_second() == Some('\'') => {
                    literal.push_str(&self.parse_ansi_c_quoted()?);
                }
                '$' if self.bash()
                    && self.peek_second() == Some('"')
                    && matches!(ctx, WordContext::Brace { .. }) =>
                {
                    return Err(self.unsupported(
                        self.pos,
                        "`$\"...\"` inside `${...}` (bash re-quotes it there)",
                    ));
                }
                '$' if self.bash() && self.peek_second() == Some('"') => {
                    // `$"..."`: a translatable string, which without a
                    // message catalogue is a double-quoted one.
                    self.pos += 1;
                    flush(&mut word, &mut literal);
                    let in_brace = matches!(ctx, WordContext::Brace { .. });
                    word.extend(self.parse_double_quoted(in_brace)?);
                }
                '$' | '`' => {
                    flush(&mut word, &mut literal);
                    word.push(self.parse_expansion(false, ctx)?);
                }
                ':' => {
                    literal.push(':');
                    self.pos += 1;
                    tilde_allowed = ctx.colon_tilde();
                }
                c => {
                    literal.push(c);
                    self.pos += 1;
                }
            }
        }
        flush(&mut word, &mut literal);
        Ok(word)
    }

    /// Decides whether the unquoted `~` at the cursor is a tilde expansion
    /// the shell performs (`~` alone or before `/`), a literal (quoted
    /// prefix), or a `~user` lookup, which is refused.
    fn tilde_here(&mut self, ctx: WordContext) -> Result<bool> {
        let after = self.peek_second();
        let ends_prefix = match after {
            None | Some('/') => true,
            Some(':') => ctx.colon_tilde(),
            Some('}') => matches!(ctx, WordContext::Brace { .. }),
            Some(' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')') => {
                !matches!(ctx, WordContext::Brace { .. })
            }
            _ => false,
        };
        if ends_prefix {
            return Ok(true);
        }
        match after {
            // A quoted character in the prefix makes the whole prefix literal.
            Some('\'' | '"' | '\\') => Ok(false),
            _ => Err(self.unsupported(
                self.pos,
                "`~user` expansion (it depends on the password database)",
            )),
        }
    }

    fn parse_single_quoted(&mut self) -> Result<String> {
        let open = self.pos;
        self.pos += 1;
        let mut s = String::new();
        // No continuation processing inside single quotes.
        loop {
            match self.chars.get(self.pos) {
                None => return Err(self.error_at(open, "unterminated single quote")),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(&c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// bash's `$'...'` at the cursor: backslash escapes as in C. Escapes
    /// whose result depends on the locale (non-ASCII) or that bash
    /// truncates at (NUL) are refused.
    fn parse_ansi_c_quoted(&mut self) -> Result<String> {
        let open = self.pos;
        self.pos += 2;
        let mut s = String::new();
        // Like single quotes, no continuation processing.
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                return Err(self.error_at(open, "unterminated `$'...'` quote"));
            };
            self.pos += 1;
            match c {
                '\'' => return Ok(s),
                '\\' => {
                    let escape_pos = self.pos - 1;
                    let Some(&e) = self.chars.get(self.pos) else {
                        return Err(self.error_at(open, "unterminated `$'...'` quote"));
                    };
                    self.pos += 1;
                    let simple = match e {
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        'e' | 'E' => Some('\x1b'),
                        'f' => Some('\x0c'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        'v' => Some('\x0b'),
                        '\\' | '\'' | '"' | '?' => Some(e),
                        _ => None,
                    };
                    if let Some(ch) = simple {
                        s.push(ch);
                        continue;
                    }
                    let code = match e {
                        '0'..='7' => {
                            self.pos -= 1;
                            Some(self.read_radix(8, 3))
                        }
                        'x' if self.chars.get(self.pos) == Some(&'{') => {
                            return Err(self.unsupported(
                                escape_pos,
                                "`\\x{...}` in `$'...'` (bash versions read it differently)",
                            ));
                        }
                        'x' => Some(self.read_radix(16, 2)),
                        'u' => Some(self.read_radix(16, 4)),
                        'U' => Some(self.read_radix(16, 8)),
                        'c' => match self.chars.get(self.pos) {
                            Some(&ctl) if ctl.is_ascii() && ctl != '\'' => {
                                self.pos += 1;
                                Some(Some((ctl as u32) & 0x1f))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    match code {
                        // An escape bash does not know stays as it is.
                        None => {
                            s.push('\\');
                            s.push(e);
                        }
                        // `\x` without digits: bash keeps the text.
                        Some(None) => {
                            s.push('\\');
                            s.push(e);
                        }
                        Some(Some(0)) => {
                            return Err(self.unsupported(
                                escape_pos,
                                "a NUL character from `$'...'` (bash cuts the string there)",
                            ));
                        }
                        Some(Some(n)) if n < 0x80 => s.push(char::from(n as u8)),
                        Some(Some(_)) => {
                            return Err(self.unsupported(
                                escape_pos,
                                "a non-ASCII escape in `$'...'` (its bytes depend on bash's locale)",
                            ));
                        }
                    }
                }
                c => s.push(c),
            }
        }
    }

    /// Up to `max` digits in `radix` at the cursor; `None` when there are
    /// none.
    fn read_radix(&mut self, radix: u32, max: usize) -> Option<u32> {
        let mut value: Option<u32> = None;
        for _ in 0..max {
            let Some(d) = self.chars.get(self.pos).and_then(|c| c.to_digit(radix)) else {
                break;
            };
            value = Some(value.unwrap_or(0).wrapping_mul(radix).wrapping_add(d));
            self.pos += 1;
        }
        value
    }

    /// Parses `"..."` at the cursor. Inside a `${...}` word (`in_brace`),
    /// `\}` is an escape too.
    fn parse_double_quoted(&mut self, in_brace: bool) -> Result<Word> {
        let open = self.pos;
        self.pos += 1;
        self.nested(open, |p| {
            p.parse_quoted_text(open, QuotedEnd::Quote { in_brace })
        })
    }

    /// The word of `"${NAME-word}"` (inside double quotes): double-quote
    /// rules, `\}` is an escape, a nested `"..."` quotes, `}` ends it.
    fn parse_quoted_brace_word(&mut self, open: Pos) -> Result<Word> {
        self.parse_quoted_text(open, QuotedEnd::Brace)
    }

    /// Text under double-quote rules up to its end: `\` escapes `$`, `` ` ``,
    /// `"`, `\` (and `}` within `${...}`), other backslashes stay.
    fn parse_quoted_text(&mut self, open: Pos, end: QuotedEnd) -> Result<Word> {
        // Where `\}` is an escape: in the word of a double-quoted `${...}`,
        // and in dash also in "..." inside any `${...}` (bash keeps the
        // backslash of `${X-"\}"}`).
        let in_brace = match end {
            QuotedEnd::Brace => true,
            QuotedEnd::Quote { in_brace } => in_brace && !self.bash(),
        };
        let mut word = Word::new();
        let mut literal = String::new();
        loop {
            match (self.peek(), end) {
                (None, QuotedEnd::Quote { .. }) => {
                    return Err(self.error_at(open, "unterminated double quote"));
                }
                (None, QuotedEnd::Brace) => return Err(self.error_at(open, "unterminated `${`")),
                (Some('"'), QuotedEnd::Quote { .. }) => {
                    self.pos += 1;
                    break;
                }
                (Some('}'), QuotedEnd::Brace) => break,
                // bash matches single quotes in a double-quoted `${...}`
                // word to find its `}` but keeps them in the value, where
                // dash ends the word at the first `}`.
                (Some('\''), QuotedEnd::Brace) if self.bash() => {
                    return Err(self.unsupported(
                        self.pos,
                        "a single quote directly inside a double-quoted `${...}` (bash and dash \
                         end the word at different `}`)",
                    ));
                }
                // bash 5.2 drops the backslash of `"${X-"\q"}"` but not of
                // `"${X-"$Y\\q"}"`, empties `"${X-"$Y\q"}"` and loses text
                // of deeper nestings: such quotes are refused in bash.
                (Some('"'), QuotedEnd::Brace) if self.bash() => {
                    return Err(self.unsupported(
                        self.pos,
                        "double quotes nested in a double-quoted `${...}` (bash reads them \
                         inconsistently)",
                    ));
                }
                (Some('"'), QuotedEnd::Brace) => {
                    flush(&mut word, &mut literal);
                    word.extend(self.parse_double_quoted(true)?);
                }
                (Some('\\'), _) => {
                    self.pos += 1;
                    match self.chars.get(self.pos) {
                        Some(&c @ ('$' | '`' | '"' | '\\')) => {
                            literal.push(c);
                            self.pos += 1;
                        }
                        Some('}') if in_brace => {
                            literal.push('}');
                            self.pos += 1;
                        }
                        // Kept, and not a quote bash would match.
                        Some('\'') if end == QuotedEnd::Brace => {
                            literal.push_str("\\'");
                            self.pos += 1;
                        }
                        _ => literal.push('\\'),
                    }
                }
                // bash's extquote makes `$'...'` and `$"..."` quotes in the
                // word of a double-quoted `${...}`; how its parser then finds
                // the closing `}` differs between versions (5.2 can fail on
                // `"${X+$'{\\"'}"`), so they are refused there.
                (Some('$'), QuotedEnd::Brace)
                    if self.bash() && matches!(self.peek_second(), Some('\'' | '"')) =>
                {
                    return Err(self.unsupported(
                        self.pos,
                        "`$'...'` or `$\"...\"` inside a double-quoted `${...}` (bash versions \
                         read it differently)",
                    ));
                }
                (Some('$' | '`'), _) => {
                    flush(&mut word, &mut literal);
                    word.push(self.parse_expansion(true, WordContext::Argument)?);
                }
                (Some(c), _) => {
                    literal.push(c);
                    self.pos += 1;
                }
            }
        }
        flush(&mut word, &mut literal);
        Ok(word)
    }

    /// Parses `$...` or `` `...` `` at the cursor.
    fn parse_expansion(&mut self, quoted: bool, ctx: WordContext) -> Result<Part> {
        let start = self.pos;
        if self.bump() == Some('`') {
            return self.parse_backquoted(start);
        }
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.nested(start, |p| p.parse_braced(start, quoted, ctx))
            }
            Some('(') => {
                self.pos += 1;
                if self.peek() == Some('(') {
                    return Err(self.unsupported(start, "arithmetic expansion `$((...))`"));
                }
                self.parse_command_substitution(start, ')')
            }
            Some('[') if self.bash() => {
                Err(self.unsupported(start, "arithmetic expansion `$[...]`"))
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let name = self.read_name();
                Ok(Part::Param {
                    name,
                    pos: start,
                    op: None,
                })
            }
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                Err(self.unsupported(start, &format!("the special parameter `${c}`")))
            }
            // A `$` that starts no expansion is an ordinary character.
            _ => Ok(Part::Literal("$".into())),
        }
    }

    fn read_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '_' || c.is_ascii_alphanumeric() {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// The error for an operator after `${NAME` that the subset lacks.
    fn bad_substitution(&self, start: Pos) -> Error {
        if self.bash() {
            self.unsupported(
                start,
                "this `${...}` form (substring, replacement, case change, indirection or \
                 array; only `${NAME}`, `${NAME-word}`, `${NAME=word}`, `${NAME+word}` and \
                 their `:` forms are understood)",
            )
        } else {
            self.error_at(start, "bad substitution")
        }
    }

    /// After `${`.
    fn parse_braced(&mut self, start: Pos, quoted: bool, ctx: WordContext) -> Result<Part> {
        let name = match self.peek() {
            Some('#') => {
                return Err(self.unsupported(start, "`${#...}` (length or argument count)"));
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => self.read_name(),
            Some(c) if c.is_ascii_digit() || "@*?-$!".contains(c) => {
                if c == '!' && self.bash() {
                    return Err(self.bad_substitution(start));
                }
                return Err(self.unsupported(start, &format!("the special parameter `${{{c}`")));
            }
            None => return Err(self.error_at(start, "unterminated `${`")),
            Some(_) => return Err(self.bad_substitution(start)),
        };
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let op = match self.bump() {
            Some('}') if !colon => {
                return Ok(Part::Param {
                    name,
                    pos: start,
                    op: None,
                });
            }
            Some('-') => ParamOp::Default { colon },
            Some('=') => ParamOp::Assign { colon },
            Some('+') => ParamOp::Alternative { colon },
            Some('?') => {
                return Err(self.unsupported(start, "`${NAME?message}` (it aborts the shell)"));
            }
            Some('#' | '%') => {
                return Err(self.unsupported(start, "pattern removal `${NAME#...}`/`${NAME%...}`"));
            }
            None => return Err(self.error_at(start, "unterminated `${`")),
            Some(_) => return Err(self.bad_substitution(start)),
        };
        let word = if quoted {
            self.parse_quoted_brace_word(start)?
        } else {
            // dash expands the word of `=` without EXP_VARTILDE.
            let colon_tilde = ctx.colon_tilde() && !matches!(op, ParamOp::Assign { .. });
            self.parse_word(WordContext::Brace { colon_tilde })?
        };
        if self.bump() != Some('}') {
            return Err(self.error_at(start, "unterminated `${`"));
        }
        Ok(Part::Param {
            name,
            pos: start,
            op: Some((op, word)),
        })
    }

    /// After `$(`; only `uname -r` is answered.
    fn parse_command_substitution(&mut self, start: Pos, close: char) -> Result<Part> {
        let mut body = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(start, "unterminated command substitution")),
                Some(c) if c == close => break,
                Some(c) => body.push(c),
            }
        }
        if is_uname_r(&body) {
            Ok(Part::KernelRelease(start))
        } else {
            let shown = if close == ')' {
                format!("$({body})")
            } else {
                format!("`{body}`")
            };
            Err(self.unsupported(
                start,
                &format!("the command substitution `{shown}` (only `$(uname -r)` is understood)"),
            ))
        }
    }

    fn parse_backquoted(&mut self, start: Pos) -> Result<Part> {
        self.parse_command_substitution(start, '`')
    }
}

fn is_uname_r(body: &str) -> bool {
    let words: Vec<&str> = body
        .split([' ', '\t', '\n'])
        .filter(|w| !w.is_empty())
        .collect();
    words == ["uname", "-r"]
}

fn flush(word: &mut Word, literal: &mut String) {
    if !literal.is_empty() {
        word.push(Part::Literal(std::mem::take(literal)));
    }
}

/// The text of a word made only of literal parts.
fn literal_of(word: &Word) -> Option<String> {
    word.iter()
        .map(|p| match p {
            Part::Literal(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}
