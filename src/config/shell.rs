//! Reads shell-fragment configuration files without executing them.
//!
//! `/etc/default/kexec`, `/etc/sysconfig/kdump` and `/etc/default/kdump-tools`
//! are shell code that the legacy init scripts source as root. Admins keep
//! them unchanged, so kexecctl must see exactly the values `/bin/sh` (dash)
//! would, while running nothing. This module implements the subset of the
//! POSIX shell language such files use in practice, with dash's semantics:
//!
//! * comments, blank lines, `;` and newlines between commands, `\`-newline
//!   continuations (removed everywhere but inside single quotes and comments);
//! * `NAME=value` (several per line; each sees the ones before it),
//!   `export NAME=value...` (all arguments expanded before any is assigned, as
//!   dash does for declaration utilities), `export NAME`, `unset NAME`, and
//!   `: word...` (for the `: ${NAME:=default}` idiom);
//! * unquoted, 'single-quoted', "double-quoted" and concatenated words,
//!   backslash escapes, `~` and `~/...` (from `HOME`, as dash does);
//! * `$NAME`, `${NAME}`, and `${NAME[:]-word}`, `${NAME[:]+word}`,
//!   `${NAME[:]=word}` with nested words, evaluated lazily like the shell;
//! * `$(uname -r)` and `` `uname -r` ``, answered from the kernel release
//!   under `--root` instead of running anything.
//!
//! Everything else (other commands and substitutions, arithmetic, compound
//! commands, redirections, pipelines, special parameters, pattern operators,
//! unbalanced quotes, `~user`) is an error naming `file:line:column` and the
//! construct. The reader never guesses: a value is either dash's or an error.
//!
//! The whole file is parsed before anything is evaluated, so a syntax error
//! on the last line leaves no variable changed.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built into the program that reads the file (set before sourcing).
    Default,
    /// Inherited from the process environment.
    Environment,
    /// Assigned at this line of this file.
    File { path: PathBuf, line: usize },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Environment => f.write_str("environment"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub value: String,
    pub origin: Origin,
}

/// Variables dash sets itself at start-up; their values depend on the shell
/// process, so a file that reads them without setting them is refused.
const SHELL_INTERNAL: &[&str] = &[
    "IFS", "PS1", "PS2", "PS4", "PPID", "OPTIND", "LINENO", "PWD", "OLDPWD",
];

/// Answers `$(uname -r)`: the release of the running kernel.
pub type KernelRelease<'a> = dyn FnMut() -> Result<String> + 'a;

/// The variable table of one shell that sources one or more files in turn.
pub struct Shell<'a> {
    vars: BTreeMap<String, Var>,
    /// Environment names whose values are not UTF-8: an error if referenced.
    opaque_env: BTreeSet<String>,
    kernel_release: Box<KernelRelease<'a>>,
    release_cache: Option<String>,
}

impl<'a> Shell<'a> {
    /// A shell started with `env` as its environment.
    pub fn new(
        env: impl IntoIterator<Item = (OsString, OsString)>,
        kernel_release: impl FnMut() -> Result<String> + 'a,
    ) -> Self {
        let mut shell = Shell {
            vars: BTreeMap::new(),
            opaque_env: BTreeSet::new(),
            kernel_release: Box::new(kernel_release),
            release_cache: None,
        };
        for (name, value) in env {
            let Some(name) = name.to_str().filter(|n| is_name(n)) else {
                continue; // dash ignores such entries too
            };
            if SHELL_INTERNAL.contains(&name) {
                continue;
            }
            match value.into_string() {
                Ok(value) => {
                    shell.vars.insert(
                        name.to_string(),
                        Var {
                            value,
                            origin: Origin::Environment,
                        },
                    );
                }
                Err(_) => {
                    shell.opaque_env.insert(name.to_string());
                }
            }
        }
        shell
    }

    /// Sets a value the way the legacy script does before sourcing the file.
    pub fn set_default(&mut self, name: &str, value: &str) {
        self.vars.insert(
            name.to_string(),
            Var {
                value: value.to_string(),
                origin: Origin::Default,
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.value.as_str())
    }

    pub fn var(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    /// Variables set by defaults or files (not merely inherited), by name.
    pub fn assigned(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.vars
            .iter()
            .filter(|(_, v)| v.origin != Origin::Environment)
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Sources `text` as the file `path` (used in messages and origins).
    /// On error the shell may hold some of the file's assignments: callers
    /// discard it, as they discard everything on a configuration error.
    pub fn source(&mut self, path: &Path, text: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(text).map_err(|e| {
            let (line, column) = byte_position(text, e.valid_up_to());
            config_error(
                path,
                line,
                column,
                "invalid UTF-8 in the file: kexecctl reads text configuration only",
            )
        })?;
        let program = Parser::new(path, text).parse_program()?;
        let mut eval = Evaluator {
            shell: self,
            path,
            lines: LineIndex::new(text),
        };
        for command in &program {
            eval.run(command)?;
        }
        Ok(())
    }
}

/// `true` for a valid shell variable name.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn config_error(path: &Path, line: usize, column: usize, message: impl Into<String>) -> Error {
    Error::not_configured(message).at(path, line, column)
}

fn byte_position(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

// ---------------------------------------------------------------------------
// Syntax tree

/// A position in the source, as an index into its characters.
type Pos = usize;

#[derive(Debug, Clone, PartialEq)]
enum Command {
    /// `A=1 B=$A`: assigned left to right.
    Assign(Vec<Assignment>),
    /// `export A=1 B`: every argument expanded first, then assigned.
    Export(Vec<ExportArg>),
    Unset(Vec<String>),
    /// `: word...`: words expanded for their `${X:=y}` side effects.
    Colon(Vec<Word>),
}

#[derive(Debug, Clone, PartialEq)]
struct Assignment {
    name: String,
    pos: Pos,
    value: Word,
}

#[derive(Debug, Clone, PartialEq)]
enum ExportArg {
    Name(String),
    Assign(Assignment),
}

type Word = Vec<Part>;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// An unquoted `~` that dash replaces with `$HOME` (when HOME is set).
    Tilde,
    Param {
        name: String,
        pos: Pos,
        op: Option<(ParamOp, Word)>,
    },
    /// `$(uname -r)` or `` `uname -r` ``.
    KernelRelease(Pos),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ParamOp {
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

struct Parser<'p> {
    path: &'p Path,
    chars: Vec<char>,
    pos: Pos,
    lines: LineIndex,
    /// Nesting of quotes and `${...}`, bounded so that hostile input cannot
    /// exhaust the stack of this recursive-descent parser.
    depth: usize,
}

/// Far beyond any real configuration file.
const MAX_NESTING: usize = 64;

const RESERVED_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "{", "}", "!",
];

impl<'p> Parser<'p> {
    fn new(path: &'p Path, text: &str) -> Self {
        Parser {
            path,
            chars: text.chars().collect(),
            pos: 0,
            lines: LineIndex::new(text),
            depth: 0,
        }
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

    fn parse_program(mut self) -> Result<Vec<Command>> {
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

    /// At a command's start, or after assignments: tries to read `NAME=`.
    fn try_assignment_prefix(&mut self) -> Option<(String, Pos)> {
        let start = self.pos;
        self.skip_continuations();
        let name_pos = self.pos;
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c == '_' || c.is_ascii_alphanumeric() {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if is_name(&name) && self.peek() == Some('=') {
            self.pos += 1;
            Some((name, name_pos))
        } else {
            self.pos = start;
            None
        }
    }

    fn parse_command(&mut self) -> Result<Command> {
        let mut assignments = Vec::new();
        loop {
            self.skip_blanks();
            if self.at_word_end() || self.peek() == Some('#') {
                return Ok(Command::Assign(assignments));
            }
            match self.try_assignment_prefix() {
                Some((name, pos)) => {
                    let value = self.parse_word(WordContext::AssignmentValue)?;
                    assignments.push(Assignment { name, pos, value });
                }
                None => break,
            }
        }
        // A command word follows.
        let word_pos = self.pos;
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
        match name.as_str() {
            "export" => self.parse_export(),
            "unset" => self.parse_unset(),
            ":" => {
                let mut words = Vec::new();
                while self.next_argument_start().is_some() {
                    words.push(self.parse_word(WordContext::Argument)?);
                }
                Ok(Command::Colon(words))
            }
            "." | "source" => Err(self.unsupported(word_pos, "sourcing another file")),
            w if RESERVED_WORDS.contains(&w) => {
                Err(self.unsupported(word_pos, &format!("the compound command `{w}`")))
            }
            w => {
                self.skip_blanks();
                if self.peek() == Some('(') {
                    return Err(self.unsupported(word_pos, "a function definition"));
                }
                Err(self.unsupported(word_pos, &format!("running the command `{w}`")))
            }
        }
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

    fn parse_export(&mut self) -> Result<Command> {
        let mut args = Vec::new();
        while let Some(pos) = self.next_argument_start() {
            if let Some((name, pos)) = self.try_assignment_prefix() {
                let value = self.parse_word(WordContext::AssignmentValue)?;
                args.push(ExportArg::Assign(Assignment { name, pos, value }));
                continue;
            }
            let word = self.parse_word(WordContext::Argument)?;
            match literal_of(&word) {
                Some(name) if is_name(&name) => args.push(ExportArg::Name(name)),
                Some(opt) if opt.starts_with('-') => {
                    return Err(self.unsupported(pos, &format!("`export {opt}`")));
                }
                _ => {
                    return Err(self.error_at(pos, "export: not a valid variable name"));
                }
            }
        }
        Ok(Command::Export(args))
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
                word.push(Part::Tilde);
                self.pos += 1;
                tilde_allowed = false;
                continue;
            }
            tilde_allowed = false;
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
    /// dash performs (`~` alone or before `/`), a literal (quoted prefix), or
    /// a `~user` lookup, which is refused.
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
        let in_brace = matches!(end, QuotedEnd::Brace | QuotedEnd::Quote { in_brace: true });
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
                        _ => literal.push('\\'),
                    }
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

    /// After `${`.
    fn parse_braced(&mut self, start: Pos, quoted: bool, ctx: WordContext) -> Result<Part> {
        let name = match self.peek() {
            Some('#') => {
                return Err(self.unsupported(start, "`${#...}` (length or argument count)"));
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => self.read_name(),
            Some(c) if c.is_ascii_digit() || "@*?-$!".contains(c) => {
                return Err(self.unsupported(start, &format!("the special parameter `${{{c}`")));
            }
            None => return Err(self.error_at(start, "unterminated `${`")),
            Some(_) => return Err(self.error_at(start, "bad substitution")),
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
            Some(_) => return Err(self.error_at(start, "bad substitution")),
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

/// Maps character indices to 1-based line and column numbers.
struct LineIndex {
    /// Character index at which each line starts.
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        for (i, c) in text.chars().enumerate() {
            if c == '\n' {
                starts.push(i + 1);
            }
        }
        LineIndex { starts }
    }

    fn position(&self, pos: Pos) -> (usize, usize) {
        let line = self.line(pos);
        (line, pos - self.starts[line - 1] + 1)
    }

    fn line(&self, pos: Pos) -> usize {
        self.starts.partition_point(|&s| s <= pos)
    }
}

// ---------------------------------------------------------------------------
// Evaluator

struct Evaluator<'s, 'a> {
    shell: &'s mut Shell<'a>,
    path: &'s Path,
    lines: LineIndex,
}

impl Evaluator<'_, '_> {
    fn origin(&self, pos: Pos) -> Origin {
        Origin::File {
            path: self.path.to_path_buf(),
            line: self.lines.line(pos),
        }
    }

    fn error_at(&self, pos: Pos, message: impl Into<String>) -> Error {
        let (line, column) = self.lines.position(pos);
        config_error(self.path, line, column, message)
    }

    fn set(&mut self, name: &str, value: String, pos: Pos) {
        let origin = self.origin(pos);
        self.shell.opaque_env.remove(name);
        self.shell
            .vars
            .insert(name.to_string(), Var { value, origin });
    }

    fn run(&mut self, command: &Command) -> Result<()> {
        match command {
            Command::Assign(list) => {
                for a in list {
                    let value = self.expand(&a.value)?;
                    self.set(&a.name, value, a.pos);
                }
            }
            Command::Export(args) => {
                let mut values = Vec::new();
                for arg in args {
                    if let ExportArg::Assign(a) = arg {
                        values.push((a, self.expand(&a.value)?));
                    }
                }
                for (a, value) in values {
                    self.set(&a.name, value, a.pos);
                }
            }
            Command::Unset(names) => {
                for name in names {
                    self.shell.vars.remove(name);
                    self.shell.opaque_env.remove(name);
                }
            }
            Command::Colon(words) => {
                for w in words {
                    self.expand(w)?;
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, name: &str, pos: Pos) -> Result<Option<String>> {
        if let Some(var) = self.shell.vars.get(name) {
            return Ok(Some(var.value.clone()));
        }
        if self.shell.opaque_env.contains(name) {
            return Err(self.error_at(
                pos,
                format!("the environment variable {name} is not valid UTF-8"),
            ));
        }
        if SHELL_INTERNAL.contains(&name) {
            return Err(self.error_at(
                pos,
                format!(
                    "${name} is set by the shell itself, not by the configuration; set it first"
                ),
            ));
        }
        Ok(None)
    }

    fn expand(&mut self, word: &Word) -> Result<String> {
        let mut out = String::new();
        for part in word {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Tilde => match self.shell.vars.get("HOME") {
                    Some(home) => out.push_str(&home.value),
                    None => out.push('~'),
                },
                Part::KernelRelease(pos) => out.push_str(&self.kernel_release(*pos)?),
                Part::Param { name, pos, op } => {
                    let value = self.lookup(name, *pos)?;
                    let Some((op, word)) = op else {
                        out.push_str(value.as_deref().unwrap_or(""));
                        continue;
                    };
                    let is_set = |colon: bool| match &value {
                        Some(v) => !(colon && v.is_empty()),
                        None => false,
                    };
                    match *op {
                        ParamOp::Default { colon } => {
                            if is_set(colon) {
                                out.push_str(value.as_deref().unwrap_or(""));
                            } else {
                                out.push_str(&self.expand(word)?);
                            }
                        }
                        ParamOp::Assign { colon } => {
                            if is_set(colon) {
                                out.push_str(value.as_deref().unwrap_or(""));
                            } else {
                                let new = self.expand(word)?;
                                out.push_str(&new);
                                self.set(name, new, *pos);
                            }
                        }
                        ParamOp::Alternative { colon } => {
                            if is_set(colon) {
                                out.push_str(&self.expand(word)?);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn kernel_release(&mut self, pos: Pos) -> Result<String> {
        if let Some(r) = &self.shell.release_cache {
            return Ok(r.clone());
        }
        let release = (self.shell.kernel_release)().map_err(|e| {
            let (line, column) = self.lines.position(pos);
            let at = format!("{}:{line}:{column}", self.path.display());
            Error::new(e.code, format!("{e} (needed for `$(uname -r)` at {at})"))
        })?;
        // Command substitution drops trailing newlines.
        let release = release.trim_end_matches('\n').to_string();
        self.shell.release_cache = Some(release.clone());
        Ok(release)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<BTreeMap<String, String>> {
        read_env(text, &[("HOME", "/root"), ("x", "a  b")])
    }

    fn read_env(text: &str, env: &[(&str, &str)]) -> Result<BTreeMap<String, String>> {
        let env = env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let mut shell = Shell::new(env, || Ok("6.1.0-13-amd64\n".to_string()));
        shell.source(Path::new("/etc/default/kexec"), text.as_bytes())?;
        Ok(shell
            .assigned()
            .map(|(k, v)| (k.to_string(), v.value.clone()))
            .collect())
    }

    fn get(text: &str, name: &str) -> Option<String> {
        read(text).unwrap().get(name).cloned()
    }

    fn error(text: &str) -> String {
        read(text).unwrap_err().to_string()
    }

    #[test]
    fn test_plain_and_quoted_values() {
        assert_eq!(get("A=1\n", "A").as_deref(), Some("1"));
        assert_eq!(get("A=\"a b\"\n", "A").as_deref(), Some("a b"));
        assert_eq!(get("A='a \"$x\"'\n", "A").as_deref(), Some("a \"$x\""));
        assert_eq!(get("A=a\"b\"'c'd\\e\n", "A").as_deref(), Some("abcde"));
        assert_eq!(
            get("A=\"a\\b\\$\\\"\\`\\\\c\"", "A").as_deref(),
            Some("a\\b$\"`\\c")
        );
        assert_eq!(get("A=\n", "A").as_deref(), Some(""));
        assert_eq!(get("A=a#b B=c #d\n", "B").as_deref(), Some("c"));
        assert_eq!(get("A=a#b\n", "A").as_deref(), Some("a#b"));
    }

    #[test]
    fn test_assignments_see_earlier_ones_but_export_does_not() {
        assert_eq!(get("A=1 B=$A", "B").as_deref(), Some("1"));
        assert_eq!(get("export A=1 B=$A", "B").as_deref(), Some(""));
        assert_eq!(get("A=1; export A B=2; C=$B", "C").as_deref(), Some("2"));
    }

    #[test]
    fn test_parameter_expansions() {
        assert_eq!(get("A=${x:-d}", "A").as_deref(), Some("a  b"));
        assert_eq!(get("E=; A=${E:-d} B=${E-d}", "A").as_deref(), Some("d"));
        assert_eq!(get("E=; A=${E:-d} B=${E-d}", "B").as_deref(), Some(""));
        assert_eq!(get("A=${u:+n}${x:+y}", "A").as_deref(), Some("y"));
        assert_eq!(get("A=${new:=q} B=$new", "B").as_deref(), Some("q"));
        assert_eq!(get(": ${N:=def}", "N").as_deref(), Some("def"));
        assert_eq!(get("A=\"${u:-'a b'}\"", "A").as_deref(), Some("'a b'"));
        assert_eq!(get("A=${u:-'a b'}", "A").as_deref(), Some("a b"));
        assert_eq!(get("A=\"${u:-\\a\\}}\"", "A").as_deref(), Some("\\a}"));
        assert_eq!(get("A=${u:-a;b c}", "A").as_deref(), Some("a;b c"));
        assert_eq!(get("A=$x_B B=${x}_B", "B").as_deref(), Some("a  b_B"));
        assert_eq!(get("A=$ B=a$/b C=\"$\"", "B").as_deref(), Some("a$/b"));
    }

    #[test]
    fn test_lazy_default_word_has_no_side_effect() {
        let vars = read("A=${x:-${N:=v}}").unwrap();
        assert_eq!(vars.get("N"), None);
    }

    #[test]
    fn test_continuations() {
        assert_eq!(get("A=a\\\nb", "A").as_deref(), Some("ab"));
        assert_eq!(get("A\\\n=1", "A").as_deref(), Some("1"));
        assert_eq!(get("exp\\\nort A=1", "A").as_deref(), Some("1"));
        assert_eq!(get("A='a\\\nb'", "A").as_deref(), Some("a\\\nb"));
        assert_eq!(get("A=1 # c \\\nB=2", "B").as_deref(), Some("2"));
    }

    #[test]
    fn test_tilde() {
        assert_eq!(get("A=~ B=~/x C=a:~/b", "C").as_deref(), Some("a:/root/b"));
        assert_eq!(get("A=x~ B=~\"x\"", "B").as_deref(), Some("~x"));
        let no_home = read_env("A=~/x", &[]).unwrap();
        assert_eq!(no_home["A"], "~/x");
        assert!(error("A=~root").contains("~user"));
    }

    #[test]
    fn test_uname_r_is_the_kernel_release() {
        assert_eq!(
            get("A=$(uname -r) B=`uname -r`", "A").as_deref(),
            Some("6.1.0-13-amd64")
        );
        assert_eq!(
            get("B=\"/boot/vmlinuz-`uname  -r`\"", "B").as_deref(),
            Some("/boot/vmlinuz-6.1.0-13-amd64")
        );
    }

    #[test]
    fn test_unset_and_export_name() {
        let vars = read("A=1\nunset A\nexport B\n").unwrap();
        assert!(vars.is_empty(), "{vars:?}");
    }

    #[test]
    fn test_origins() {
        let mut shell = Shell::new(Vec::new(), || Ok(String::new()));
        shell.set_default("D", "d");
        shell
            .source(Path::new("/f"), b"# c\nA=1\n\nB=${C:=2}\n")
            .unwrap();
        assert_eq!(shell.var("D").unwrap().origin, Origin::Default);
        assert_eq!(shell.var("A").unwrap().origin.to_string(), "/f:2");
        assert_eq!(shell.var("C").unwrap().origin.to_string(), "/f:4");
    }

    #[test]
    fn test_errors_name_line_column_and_construct() {
        assert_eq!(
            error("A=1\nB=$(ls)\n"),
            "/etc/default/kexec:2:3: the command substitution `$(ls)` (only `$(uname -r)` is \
             understood) is not supported: kexecctl reads assignments without running the file"
        );
        assert!(error("A='x\n").starts_with("/etc/default/kexec:1:3: unterminated single quote"));
        assert!(error("A=\"x\n").contains("1:3: unterminated double quote"));
        assert!(error("if true; then A=1; fi").contains("1:1: the compound command `if`"));
        assert!(error("A=1 make").contains("1:1: an assignment before the command `make`"));
        assert!(error("A=$((1+2))").contains("arithmetic"));
        assert!(error("A=${#x}").contains("length"));
        assert!(error("A=${x%b}").contains("pattern"));
        assert!(error("A=$1").contains("special parameter"));
        assert!(error("A=1 | B=2").contains("1:5: a pipeline"));
        assert!(error("A=1 && B=2").contains("`&&`"));
        assert!(error("A=1 > f").contains("redirection"));
        assert!(error("f() { :; }").contains("function definition"));
        assert!(error(". /etc/other").contains("sourcing"));
        assert!(error("A=1;;").contains("`;;`"));
        assert!(error("; A=1").contains("`;` without a command"));
        assert!(error("A=$PWD").contains("set by the shell"));
        assert!(error("A=${x?}").contains("aborts"));
        assert!(error("A=(1 2)").contains("subshell"));
    }

    #[test]
    fn test_syntax_error_late_in_file_changes_nothing() {
        let mut shell = Shell::new(Vec::new(), || Ok(String::new()));
        let err = shell.source(Path::new("/f"), b"A=1\nB=`ls`\n").unwrap_err();
        assert!(err.to_string().starts_with("/f:2:3:"), "{err}");
        assert_eq!(shell.get("A"), None);
    }

    #[test]
    fn test_invalid_utf8_is_an_error_with_position() {
        let mut shell = Shell::new(Vec::new(), || Ok(String::new()));
        let err = shell.source(Path::new("/f"), b"A=1\nB=\xff\n").unwrap_err();
        assert_eq!(err.code, crate::error::ExitCode::NotConfigured);
        assert!(
            err.to_string().starts_with("/f:2:3: invalid UTF-8"),
            "{err}"
        );
    }
}
