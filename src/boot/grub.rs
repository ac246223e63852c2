//! The entry GRUB would boot, read from `grub.cfg` and `grubenv`.
//!
//! Debian's kexec-load greps `set default` and counts `menuentry` lines; it
//! gets submenus, ids, titles and `next_entry` wrong. Instead this module
//! evaluates the part of GRUB's script language that grub-mkconfig writes:
//! variables (`set`, `load_env`, `$x`, `${x}`), `if`/`elif`/`else` over
//! `[ ... ]` tests, `menuentry`, `submenu`, `function` and its calls,
//! `save_env` and Fedora's `blscfg`. It builds
//! the menu GRUB builds, then resolves `default` exactly like GRUB: a number
//! indexes the menu (a submenu counts as one item), anything else matches an
//! entry's title or `--id`, and `>` descends into a submenu.
//!
//! The chosen entry's body is evaluated for `linux`/`linuxefi`/`linux16` and
//! `initrd`/`initrdefi`/`initrd16`, and the kernel command line is built the
//! way GRUB's loader builds it (`BOOT_IMAGE=` plus each argument, quoted and
//! escaped as GRUB does), so the kexec'd kernel sees what a firmware boot
//! would have given it. What GRUB's `save_env` would write on the way
//! (next_entry consumed, `savedefault` saving `chosen`, the entry's ids
//! joined with `>`) is returned too, for the caller to write to grubenv.

use std::collections::BTreeMap;

use crate::boot::bls::BlsEntry;

/// What the evaluator needs from outside: files, facts about the machine.
pub trait GrubHost {
    /// Whether a GRUB path (device prefix already stripped) names a file
    /// with content, for `[ -s ... ]`, `[ -f ... ]`, `[ -e ... ]`.
    fn file_exists(&self, grub_path: &str, non_empty: bool) -> bool;
    /// `grubenv`'s variables, for `load_env`.
    fn grubenv(&self) -> BTreeMap<String, String>;
    /// The BLS entries, sorted as blscfg sorts them, for `blscfg`.
    fn bls_entries(&self) -> Vec<BlsEntry>;
}

/// A boot entry as GRUB would boot it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEntry {
    pub title: String,
    pub id: Option<String>,
    /// `>`-separated titles of the submenus leading to the entry and the entry.
    pub path: String,
    /// Kernel path as GRUB sees it (relative to its root partition),
    /// device prefix such as `($root)` or `(hd0,gpt2)` removed.
    pub kernel: Option<String>,
    /// The kernel path as written after variable expansion (for BOOT_IMAGE=).
    pub kernel_arg: Option<String>,
    pub initrds: Vec<String>,
    /// Arguments after the kernel path on the `linux` line.
    pub args: Vec<String>,
    /// Which command loaded the kernel (`linux`, `linuxefi`, `linux16`).
    pub loader: Option<String>,
    /// The entry came from a BLS file through `blscfg`.
    pub bls: bool,
}

impl GrubEntry {
    /// The command line GRUB's Linux loader passes: `BOOT_IMAGE=<kernel>`
    /// then every argument; an argument containing a space is put in double
    /// quotes and `\`, `'` and `"` are escaped with a backslash.
    pub fn cmdline(&self) -> String {
        let mut parts = Vec::new();
        if let Some(kernel) = &self.kernel_arg {
            // `($root)` with `root` unknown expands to `()`: leave it out.
            let kernel = kernel.strip_prefix("()").unwrap_or(kernel);
            parts.push(format!("BOOT_IMAGE={}", grub_escape(kernel)));
        }
        parts.extend(self.args.iter().map(|a| grub_escape(a)));
        parts.join(" ")
    }
}

fn grub_escape(arg: &str) -> String {
    let mut out = String::new();
    let space = arg.contains(' ');
    if space {
        out.push('"');
    }
    for c in arg.chars() {
        if matches!(c, '\\' | '\'' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    if space {
        out.push('"');
    }
    out
}

/// Why no entry could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubError {
    pub line: Option<usize>,
    pub message: String,
}

type GResult<T> = Result<T, GrubError>;

fn err<T>(line: Option<usize>, message: impl Into<String>) -> GResult<T> {
    Err(GrubError {
        line,
        message: message.into(),
    })
}

// ---------------------------------------------------------------------------
// Lexing and parsing

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    /// `$name` / `${name}`; unquoted expansions are split into words.
    Var {
        name: String,
        quoted: bool,
    },
}

type Word = Vec<Piece>;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(Word, usize),
    /// Newline or `;`.
    End,
    Open(usize),
    Close(usize),
}

fn lex(text: &str) -> GResult<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\r' => i += 1,
            '\n' | ';' => {
                if c == '\n' {
                    line += 1;
                }
                tokens.push(Token::End);
                i += 1;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            _ => {
                let start_line = line;
                let mut word = Word::new();
                let mut lit = String::new();
                let mut any_quote = false;
                while i < chars.len() {
                    let c = chars[i];
                    match c {
                        ' ' | '\t' | '\r' | '\n' | ';' => break,
                        '\\' => {
                            if chars.get(i + 1) == Some(&'\n') {
                                line += 1;
                            } else if let Some(&n) = chars.get(i + 1) {
                                lit.push(n);
                            }
                            i += 2;
                        }
                        '\'' => {
                            any_quote = true;
                            i += 1;
                            while i < chars.len() && chars[i] != '\'' {
                                if chars[i] == '\n' {
                                    line += 1;
                                }
                                lit.push(chars[i]);
                                i += 1;
                            }
                            if i >= chars.len() {
                                return err(Some(start_line), "unterminated single quote");
                            }
                            i += 1;
                        }
                        '"' => {
                            any_quote = true;
                            i += 1;
                            loop {
                                match chars.get(i) {
                                    None => {
                                        return err(Some(start_line), "unterminated double quote");
                                    }
                                    Some('"') => {
                                        i += 1;
                                        break;
                                    }
                                    Some('\\') => {
                                        match chars.get(i + 1) {
                                            Some(&n @ ('$' | '"' | '\\')) => lit.push(n),
                                            Some('\n') => line += 1,
                                            Some(&n) => {
                                                lit.push('\\');
                                                lit.push(n);
                                            }
                                            None => lit.push('\\'),
                                        }
                                        i += 2;
                                    }
                                    Some('$') => {
                                        if let Some((name, len)) = var_at(&chars, i) {
                                            flush(&mut word, &mut lit);
                                            word.push(Piece::Var { name, quoted: true });
                                            i += len;
                                        } else {
                                            lit.push('$');
                                            i += 1;
                                        }
                                    }
                                    Some(&c) => {
                                        if c == '\n' {
                                            line += 1;
                                        }
                                        lit.push(c);
                                        i += 1;
                                    }
                                }
                            }
                        }
                        '$' => {
                            if let Some((name, len)) = var_at(&chars, i) {
                                flush(&mut word, &mut lit);
                                word.push(Piece::Var {
                                    name,
                                    quoted: false,
                                });
                                i += len;
                            } else {
                                lit.push('$');
                                i += 1;
                            }
                        }
                        c => {
                            lit.push(c);
                            i += 1;
                        }
                    }
                }
                flush(&mut word, &mut lit);
                let bare = |s: &str| !any_quote && word == [Piece::Lit(s.into())];
                if bare("{") {
                    tokens.push(Token::Open(start_line));
                } else if bare("}") {
                    tokens.push(Token::Close(start_line));
                } else {
                    tokens.push(Token::Word(word, start_line));
                }
            }
        }
    }
    Ok(tokens)
}

/// `$name`, `${name}`, `$1`, `$?` ... at `i`: the name and the length.
fn var_at(chars: &[char], i: usize) -> Option<(String, usize)> {
    match chars.get(i + 1) {
        Some('{') => {
            let end = chars[i + 2..].iter().position(|&c| c == '}')?;
            Some((chars[i + 2..i + 2 + end].iter().collect(), end + 3))
        }
        Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
            let len = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .count();
            Some((chars[i + 1..i + 1 + len].iter().collect(), len + 1))
        }
        Some(c @ ('?' | '#' | '@' | '*')) => Some((c.to_string(), 2)),
        _ => None,
    }
}

fn flush(word: &mut Word, lit: &mut String) {
    if !lit.is_empty() {
        word.push(Piece::Lit(std::mem::take(lit)));
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Stmt {
    Command(Vec<Word>),
    If {
        branches: Vec<(Vec<Stmt>, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    Menu {
        submenu: bool,
        args: Vec<Word>,
        body: Vec<Stmt>,
        line: usize,
    },
    /// `function NAME { ... }`: defined when evaluated, run when called.
    Function {
        name: String,
        body: Vec<Stmt>,
    },
    /// `for`, `while`, `until`: parsed, not evaluated.
    Skipped,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn literal(word: &Word) -> Option<&str> {
    match word.as_slice() {
        [Piece::Lit(s)] => Some(s),
        _ => None,
    }
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w, _)) => literal(w),
            _ => None,
        }
    }

    fn line(&self) -> Option<usize> {
        self.tokens[self.pos.min(self.tokens.len().saturating_sub(1))..]
            .iter()
            .find_map(|t| match t {
                Token::Word(_, l) | Token::Open(l) | Token::Close(l) => Some(*l),
                Token::End => None,
            })
    }

    /// Statements until one of `stops` (a keyword at command start) or `}`.
    fn list(&mut self, stops: &[&str]) -> GResult<Vec<Stmt>> {
        let mut out = Vec::new();
        loop {
            match self.tokens.get(self.pos) {
                None | Some(Token::Close(_)) => return Ok(out),
                Some(Token::End) => self.pos += 1,
                Some(Token::Open(l)) => return err(Some(*l), "unexpected `{`"),
                Some(Token::Word(..)) => {
                    if self.peek_word().is_some_and(|w| stops.contains(&w)) {
                        return Ok(out);
                    }
                    out.push(self.statement()?);
                }
            }
        }
    }

    fn expect_word(&mut self, keyword: &str) -> GResult<()> {
        if self.peek_word() == Some(keyword) {
            self.pos += 1;
            Ok(())
        } else {
            err(self.line(), format!("expected `{keyword}`"))
        }
    }

    fn statement(&mut self) -> GResult<Stmt> {
        let keyword = self.peek_word().map(str::to_string);
        match keyword.as_deref() {
            Some("if") => {
                self.pos += 1;
                let mut branches = Vec::new();
                let mut otherwise = Vec::new();
                loop {
                    let cond = self.list(&["then"])?;
                    self.expect_word("then")?;
                    let body = self.list(&["elif", "else", "fi"])?;
                    branches.push((cond, body));
                    match self.peek_word() {
                        Some("elif") => self.pos += 1,
                        Some("else") => {
                            self.pos += 1;
                            otherwise = self.list(&["fi"])?;
                            self.expect_word("fi")?;
                            break;
                        }
                        _ => {
                            self.expect_word("fi")?;
                            break;
                        }
                    }
                }
                Ok(Stmt::If {
                    branches,
                    otherwise,
                })
            }
            Some(kw @ ("menuentry" | "submenu")) => {
                let line = self.line().unwrap_or(0);
                self.pos += 1;
                let mut args = Vec::new();
                loop {
                    match self.tokens.get(self.pos) {
                        Some(Token::Word(w, _)) => {
                            args.push(w.clone());
                            self.pos += 1;
                        }
                        Some(Token::Open(_)) => break,
                        _ => return err(Some(line), format!("`{kw}` without `{{`")),
                    }
                }
                let body = self.block()?;
                Ok(Stmt::Menu {
                    submenu: kw == "submenu",
                    args,
                    body,
                    line,
                })
            }
            Some("function") => {
                self.pos += 1;
                let mut name = None;
                while let Some(Token::Word(w, _)) = self.tokens.get(self.pos) {
                    name = name.or_else(|| literal(w).map(str::to_string));
                    self.pos += 1;
                }
                let body = self.block()?;
                Ok(match name {
                    Some(name) => Stmt::Function { name, body },
                    None => Stmt::Skipped,
                })
            }
            Some("for" | "while" | "until") => {
                self.pos += 1;
                self.list(&["do"])?;
                self.expect_word("do")?;
                self.list(&["done"])?;
                self.expect_word("done")?;
                Ok(Stmt::Skipped)
            }
            _ => {
                let mut words = Vec::new();
                while let Some(Token::Word(w, _)) = self.tokens.get(self.pos) {
                    words.push(w.clone());
                    self.pos += 1;
                }
                Ok(Stmt::Command(words))
            }
        }
    }

    /// `{ ... }` at the cursor.
    fn block(&mut self) -> GResult<Vec<Stmt>> {
        let open_line = self.line();
        match self.tokens.get(self.pos) {
            Some(Token::Open(_)) => self.pos += 1,
            _ => return err(open_line, "expected `{`"),
        }
        let body = self.list(&[])?;
        match self.tokens.get(self.pos) {
            Some(Token::Close(_)) => {
                self.pos += 1;
                Ok(body)
            }
            _ => err(open_line, "`{` without a matching `}`"),
        }
    }
}

fn parse(text: &str) -> GResult<Vec<Stmt>> {
    let mut parser = Parser {
        tokens: lex(text)?,
        pos: 0,
    };
    let program = parser.list(&[])?;
    if parser.pos < parser.tokens.len() {
        return err(parser.line(), "`}` without a matching `{`");
    }
    Ok(program)
}

// ---------------------------------------------------------------------------
// Evaluation

#[derive(Debug, Clone)]
enum Item {
    /// GRUB runs the body only when the entry is booted, with the
    /// environment as it is then; so do we.
    Entry {
        title: String,
        id: Option<String>,
        body: Vec<Stmt>,
        line: usize,
        bls: bool,
    },
    /// Likewise a submenu's body runs when the submenu is entered.
    Submenu {
        title: String,
        id: Option<String>,
        body: Vec<Stmt>,
    },
}

impl Item {
    fn title(&self) -> &str {
        match self {
            Item::Entry { title, .. } | Item::Submenu { title, .. } => title,
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            Item::Entry { id, .. } | Item::Submenu { id, .. } => id.as_deref(),
        }
    }
}

struct Eval<'h> {
    vars: BTreeMap<String, String>,
    host: &'h dyn GrubHost,
    /// `function` definitions seen so far (GRUB's functions are global).
    functions: BTreeMap<String, Vec<Stmt>>,
    /// What `save_env` wrote, in order: the value, or `None` (unset:
    /// GRUB deletes the variable from grubenv).
    saves: Vec<(String, Option<String>)>,
    /// Function call depth, against runaway recursion.
    depth: usize,
}

impl<'h> Eval<'h> {
    fn new(vars: BTreeMap<String, String>, host: &'h dyn GrubHost) -> Self {
        Eval {
            vars,
            host,
            functions: BTreeMap::new(),
            saves: Vec::new(),
            depth: 0,
        }
    }

    /// A new scope (an entry's or a submenu's body): a copy of the
    /// variables and functions; its `save_env` writes are its own.
    fn scope(&self) -> Self {
        Eval {
            vars: self.vars.clone(),
            host: self.host,
            functions: self.functions.clone(),
            saves: Vec::new(),
            depth: self.depth,
        }
    }
}

impl Eval<'_> {
    /// Expands a word into arguments: unquoted variables are split on blanks.
    fn expand(&self, word: &Word) -> Vec<String> {
        if word.is_empty() {
            return vec![String::new()]; // `''` or `""`
        }
        let mut args = Vec::new();
        let mut current: Option<String> = None;
        for piece in word {
            match piece {
                Piece::Lit(s) => current.get_or_insert_with(String::new).push_str(s),
                Piece::Var { name, quoted: true } => {
                    let v = self.vars.get(name).map(String::as_str).unwrap_or("");
                    current.get_or_insert_with(String::new).push_str(v);
                }
                Piece::Var {
                    name,
                    quoted: false,
                } => {
                    let v = self.vars.get(name).map(String::as_str).unwrap_or("");
                    let starts_blank = v.starts_with([' ', '\t', '\n']);
                    let ends_blank = v.ends_with([' ', '\t', '\n']);
                    let fields: Vec<&str> = v
                        .split([' ', '\t', '\n'])
                        .filter(|f| !f.is_empty())
                        .collect();
                    if starts_blank {
                        args.extend(current.take());
                    }
                    for (i, field) in fields.iter().enumerate() {
                        if i > 0 {
                            args.extend(current.take());
                        }
                        current.get_or_insert_with(String::new).push_str(field);
                    }
                    if ends_blank {
                        args.extend(current.take());
                    }
                }
            }
        }
        args.extend(current);
        args
    }

    fn expand_all(&self, words: &[Word]) -> Vec<String> {
        words.iter().flat_map(|w| self.expand(w)).collect()
    }

    /// Runs top-level (or submenu-level) statements, collecting menu items.
    fn run(&mut self, stmts: &[Stmt], menu: &mut Vec<Item>) -> GResult<()> {
        for stmt in stmts {
            match stmt {
                Stmt::Command(words) => {
                    let args = self.expand_all(words);
                    self.command(&args, Some(menu))?;
                }
                Stmt::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if self.condition(cond)? {
                            self.run(body, menu)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.run(otherwise, menu)?;
                    }
                }
                Stmt::Menu {
                    submenu,
                    args,
                    body,
                    line,
                } => {
                    let args = self.expand_all(args);
                    let (title, id) = menu_title_and_id(&args).ok_or_else(|| GrubError {
                        line: Some(*line),
                        message: "menu entry without a title".into(),
                    })?;
                    if *submenu {
                        menu.push(Item::Submenu {
                            title,
                            id,
                            body: body.clone(),
                        });
                    } else {
                        menu.push(Item::Entry {
                            title,
                            id,
                            body: body.clone(),
                            line: *line,
                            bls: false,
                        });
                    }
                }
                Stmt::Function { name, body } => {
                    self.functions.insert(name.clone(), body.clone());
                }
                Stmt::Skipped => {}
            }
        }
        Ok(())
    }

    /// One command. `menu` is None inside an entry body.
    fn command(&mut self, args: &[String], menu: Option<&mut Vec<Item>>) -> GResult<bool> {
        let Some(name) = args.first() else {
            return Ok(true);
        };
        match name.as_str() {
            "set" => {
                for a in &args[1..] {
                    let (k, v) = a.split_once('=').unwrap_or((a, ""));
                    self.vars.insert(k.to_string(), v.to_string());
                }
            }
            "unset" => {
                for a in &args[1..] {
                    self.vars.remove(a);
                }
            }
            "load_env" => {
                // `load_env [-f FILE] [--skip-sig] [NAME...]`: with names,
                // only those are loaded.
                let names: Vec<&String> = args[1..]
                    .iter()
                    .scan(false, |skip_next, a| {
                        let keep = !*skip_next && !a.starts_with('-');
                        *skip_next = a == "-f" || a == "--file";
                        Some(keep.then_some(a))
                    })
                    .flatten()
                    .collect();
                for (k, v) in self.host.grubenv() {
                    if names.is_empty() || names.iter().any(|n| **n == k) {
                        self.vars.insert(k, v);
                    }
                }
            }
            "blscfg" => {
                if let Some(menu) = menu {
                    for entry in self.host.bls_entries() {
                        menu.push(entry.to_item());
                    }
                }
            }
            "save_env" => {
                // `save_env [-f FILE] NAME...`
                let mut skip_next = false;
                for a in &args[1..] {
                    if std::mem::take(&mut skip_next) {
                        continue;
                    }
                    if a == "-f" || a == "--file" {
                        skip_next = true;
                    } else if !a.starts_with('-') {
                        self.saves.push((a.clone(), self.vars.get(a).cloned()));
                    }
                }
            }
            "[" | "test" => return Ok(self.test(&args[1..])),
            "true" => return Ok(true),
            "false" => return Ok(false),
            _ if name.contains('=') && !name.starts_with('=') => {
                let (k, v) = name.split_once('=').unwrap_or((name, ""));
                self.vars.insert(k.to_string(), v.to_string());
            }
            _ if self.functions.contains_key(name.as_str()) && self.depth < 16 => {
                // A function runs in the caller's scope (GRUB's `savedefault`
                // sets saved_entry and saves it).
                let body = self.functions[name.as_str()].clone();
                let mut scratch = Vec::new();
                self.depth += 1;
                let result = self.run(&body, menu.unwrap_or(&mut scratch));
                self.depth -= 1;
                result?;
            }
            _ => {
                // insmod, search, echo, load_video, terminal_*, ...: no
                // effect on which kernel is booted. As a condition an
                // unknown command counts as failed.
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn condition(&mut self, cond: &[Stmt]) -> GResult<bool> {
        let mut status = true;
        for stmt in cond {
            status = match stmt {
                Stmt::Command(words) => {
                    let args = self.expand_all(words);
                    if args.first().is_some_and(|a| a == "!") {
                        !self.command(&args[1..], None)?
                    } else {
                        self.command(&args, None)?
                    }
                }
                _ => false,
            };
        }
        Ok(status)
    }

    /// GRUB's `test`/`[`: string and file tests, `!`, `-a`, `-o`.
    fn test(&self, args: &[String]) -> bool {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        if args.last() == Some(&"]") {
            args.pop();
        }
        self.test_expr(&args)
    }

    fn test_expr(&self, args: &[&str]) -> bool {
        if let Some(i) = args.iter().position(|a| *a == "-o") {
            return self.test_expr(&args[..i]) || self.test_expr(&args[i + 1..]);
        }
        if let Some(i) = args.iter().position(|a| *a == "-a") {
            return self.test_expr(&args[..i]) && self.test_expr(&args[i + 1..]);
        }
        match args {
            [] => false,
            ["!", rest @ ..] => !self.test_expr(rest),
            [s] => !s.is_empty(),
            ["-n", s] => !s.is_empty(),
            ["-z", s] => s.is_empty(),
            ["-e" | "-f" | "-d", p] => self.host.file_exists(strip_device(p), false),
            ["-s", p] => self.host.file_exists(strip_device(p), true),
            [a, "=" | "==", b] => a == b,
            [a, "!=", b] => a != b,
            [a, op @ ("-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge"), b] => {
                let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) else {
                    return false;
                };
                match *op {
                    "-eq" => a == b,
                    "-ne" => a != b,
                    "-lt" => a < b,
                    "-le" => a <= b,
                    "-gt" => a > b,
                    _ => a >= b,
                }
            }
            _ => false,
        }
    }

    /// Evaluates an entry's body: the last `linux*` and `initrd*` win.
    fn entry(
        &self,
        title: &str,
        id: Option<&str>,
        path: &str,
        body: &[Stmt],
        bls: bool,
    ) -> (GrubEntry, Vec<(String, Option<String>)>) {
        let mut eval = self.scope();
        let mut entry = GrubEntry {
            title: title.to_string(),
            id: id.map(str::to_string),
            path: path.to_string(),
            kernel: None,
            kernel_arg: None,
            initrds: Vec::new(),
            args: Vec::new(),
            loader: None,
            bls,
        };
        eval.entry_body(body, &mut entry);
        (entry, eval.saves)
    }

    fn entry_body(&mut self, body: &[Stmt], entry: &mut GrubEntry) {
        for stmt in body {
            match stmt {
                Stmt::Command(words) => {
                    let args = self.expand_all(words);
                    match args.first().map(String::as_str) {
                        Some(cmd @ ("linux" | "linuxefi" | "linux16")) => {
                            if let Some(kernel) = args.get(1) {
                                entry.kernel = Some(strip_device(kernel).to_string());
                                entry.kernel_arg = Some(kernel.clone());
                                entry.args = args[2..].to_vec();
                                entry.loader = Some(cmd.to_string());
                            }
                        }
                        Some("initrd" | "initrdefi" | "initrd16") => {
                            entry.initrds = args[1..]
                                .iter()
                                .filter(|a| !a.starts_with("--"))
                                .map(|a| strip_device(a).to_string())
                                .filter(|a| !a.is_empty())
                                .collect();
                        }
                        _ => {
                            let _ = self.command(&args, None);
                        }
                    }
                }
                Stmt::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, then) in branches {
                        if self.condition(cond).unwrap_or(false) {
                            self.entry_body(then, entry);
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.entry_body(otherwise, entry);
                    }
                }
                Stmt::Function { name, body } => {
                    self.functions.insert(name.clone(), body.clone());
                }
                Stmt::Menu { .. } | Stmt::Skipped => {}
            }
        }
    }
}

/// `(hd0,gpt2)/vmlinuz` → `/vmlinuz`.
fn strip_device(path: &str) -> &str {
    if path.starts_with('(') {
        if let Some(end) = path.find(')') {
            return &path[end + 1..];
        }
    }
    path
}

/// The title (first non-option argument) and `--id` of a menu entry.
fn menu_title_and_id(args: &[String]) -> Option<(String, Option<String>)> {
    let mut title = None;
    let mut id = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--class" | "--users" | "--hotkey" | "--source" => i += 2,
            "--id" => {
                id = args.get(i + 1).cloned();
                i += 2;
            }
            "--unrestricted" => i += 1,
            a => {
                if title.is_none() {
                    title = Some(a.to_string());
                }
                i += 1;
            }
        }
    }
    title.map(|t| (t, id))
}

/// GRUB's comparison of a title or id with a `default` specification up to
/// its first `>` (`>>` stands for a literal `>`).
fn menuentry_eq(name: &str, spec: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let spec: Vec<char> = spec.chars().collect();
    let (mut i, mut j) = (0, 0);
    loop {
        let s = spec.get(j).copied();
        let next = spec.get(j + 1).copied();
        if s == Some('>') && next != Some('>') {
            return i == name.len();
        }
        if s == Some('>') {
            j += 1;
        }
        let n = name.get(i).copied();
        let s = spec.get(j).copied();
        if n != s {
            return false;
        }
        if n.is_none() {
            return true;
        }
        i += 1;
        j += 1;
    }
}

/// GRUB's `get_entry_number`: a number indexes the menu; otherwise
/// the first item whose title or id matches. Out of range or no match → 0.
fn entry_index(items: &[Item], spec: Option<&str>) -> usize {
    let Some(spec) = spec.filter(|s| !s.is_empty()) else {
        return 0;
    };
    // A number only when the whole component is one: BLS ids such as
    // `0f3c...-5.14.0` start with digits (Red Hat's GRUB requires the same).
    let component = spec.split('>').next().unwrap_or("");
    let numeric = !component.is_empty() && component.bytes().all(|b| b.is_ascii_digit());
    let index = if numeric {
        component.parse::<usize>().ok()
    } else {
        items.iter().position(|it| {
            menuentry_eq(it.title(), spec) || it.id().is_some_and(|id| menuentry_eq(id, spec))
        })
    };
    match index {
        Some(i) if i < items.len() => i,
        _ => 0,
    }
}

/// The part of a `default` after its first unescaped `>`, for the submenu.
fn rest_after_gt(spec: &str) -> Option<&str> {
    let bytes = spec.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'>' {
            if bytes.get(i + 1) == Some(&b'>') {
                i += 2;
                continue;
            }
            return Some(&spec[i + 1..]);
        }
        i += 1;
    }
    None
}

/// Where the default came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub entry: GrubEntry,
    /// The value of `default` GRUB ended up with (after next_entry/saved_entry).
    pub default: String,
    /// What GRUB would write to grubenv on the way to this entry
    /// (`save_env`: next_entry consumed, `savedefault`'s saved_entry), in
    /// order; `None` deletes the variable.
    pub env_writes: Vec<(String, Option<String>)>,
}

/// GRUB's `chosen` after selecting `item` below `chosen` (menu.c): the
/// item's id (its title when it has none), `>` doubled, joined with `>`.
fn chosen_after(chosen: Option<&String>, item: &Item) -> String {
    let own = item.id().unwrap_or(item.title()).replace('>', ">>");
    match chosen {
        Some(c) => format!("{c}>{own}"),
        None => own,
    }
}

/// Evaluates `grub.cfg` and returns the entry GRUB would boot by default.
pub fn default_entry(
    text: &str,
    host: &dyn GrubHost,
    initial: BTreeMap<String, String>,
) -> GResult<Choice> {
    let program = parse(text)?;
    let mut eval = Eval::new(initial, host);
    let mut menu = Vec::new();
    eval.run(&program, &mut menu)?;
    let mut env_writes = std::mem::take(&mut eval.saves);
    if menu.is_empty() {
        return err(None, "no menu entries");
    }
    let default = eval.vars.get("default").cloned().unwrap_or_default();
    let mut items = menu;
    let mut spec: Option<&str> = Some(default.as_str());
    let mut path = Vec::new();
    loop {
        let index = entry_index(&items, spec);
        let item = items.swap_remove(index);
        path.push(item.title().to_string());
        let chosen = chosen_after(eval.vars.get("chosen"), &item);
        eval.vars.insert("chosen".into(), chosen);
        match &item {
            Item::Entry {
                title,
                id,
                body,
                line,
                bls,
            } => {
                let (entry, saves) = eval.entry(title, id.as_deref(), &path.join(">"), body, *bls);
                env_writes.extend(saves);
                if entry.kernel.is_none() {
                    return err(
                        Some(*line),
                        format!(
                            "the default entry `{title}` has no `linux` command (it does not boot Linux)"
                        ),
                    );
                }
                return Ok(Choice {
                    entry,
                    default,
                    env_writes,
                });
            }
            Item::Submenu { body, .. } => {
                // Entering a submenu runs its body in a copy of the
                // environment; its default is what follows the first `>`.
                let mut inner = eval.scope();
                let mut sub = Vec::new();
                inner.run(body, &mut sub)?;
                env_writes.extend(std::mem::take(&mut inner.saves));
                if sub.is_empty() {
                    return err(None, format!("submenu `{}` is empty", item.title()));
                }
                spec = spec.and_then(rest_after_gt);
                items = sub;
                eval = inner;
            }
        }
    }
}

impl BlsEntry {
    /// The menu item blscfg creates: a body of GRUB script, `linux
    /// ($root)<kernel> <options>` and `initrd ($root)<initrd>...`, which GRUB
    /// then parses, expanding `$kernelopts` and the like from grubenv.
    fn to_item(&self) -> Item {
        let mut script = format!("linux ($root){} {}\n", self.linux, self.options.join(" "));
        if !self.initrds.is_empty() {
            script.push_str("initrd");
            for initrd in &self.initrds {
                script.push_str(" ($root)");
                script.push_str(initrd);
            }
            script.push('\n');
        }
        Item::Entry {
            title: self.title.clone().unwrap_or_else(|| self.linux.clone()),
            id: Some(self.id.clone()),
            body: parse(&script).unwrap_or_default(),
            line: 0,
            bls: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeHost {
        env: BTreeMap<String, String>,
        bls: Vec<BlsEntry>,
    }

    impl GrubHost for FakeHost {
        fn file_exists(&self, path: &str, _non_empty: bool) -> bool {
            path.ends_with("/grubenv") && !self.env.is_empty()
        }
        fn grubenv(&self) -> BTreeMap<String, String> {
            self.env.clone()
        }
        fn bls_entries(&self) -> Vec<BlsEntry> {
            self.bls.clone()
        }
    }

    fn host(env: &[(&str, &str)]) -> FakeHost {
        FakeHost {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            bls: Vec::new(),
        }
    }

    /// The shape of Debian 12's grub-mkconfig output (trimmed).
    pub const DEBIAN: &str = r#"
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="DEFAULT"
fi
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
### BEGIN /etc/grub.d/10_linux ###
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-UUID' {
	load_video
	insmod gzio
	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	insmod part_gpt
	search --no-floppy --fs-uuid --set=root UUID
	echo	'Loading Linux 6.1.0-13-amd64 ...'
	linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=abc ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-6.1.0-13-amd64
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-UUID' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-13-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-13-amd64-advanced-UUID' {
		linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=abc ro  quiet
		initrd	/boot/initrd.img-6.1.0-13-amd64
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-13-amd64 (recovery mode)' --class debian $menuentry_id_option 'gnulinux-6.1.0-13-amd64-recovery-UUID' {
		linux	/boot/vmlinuz-6.1.0-13-amd64 root=UUID=abc ro single
		initrd	/boot/initrd.img-6.1.0-13-amd64
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-10-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-10-amd64-advanced-UUID' {
		linux	/boot/vmlinuz-6.1.0-10-amd64 root=UUID=abc ro  quiet
		initrd	/boot/initrd.img-6.1.0-10-amd64
	}
}
### END /etc/grub.d/10_linux ###
menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
	fwsetup
}
"#;

    fn choose(default: &str, env: &[(&str, &str)]) -> GResult<GrubEntry> {
        let cfg = DEBIAN.replace("DEFAULT", default);
        let mut vars = BTreeMap::new();
        vars.insert("feature_menuentry_id".to_string(), "y".to_string());
        default_entry(&cfg, &host(env), vars).map(|c| c.entry)
    }

    fn writes(cfg: &str, env: &[(&str, &str)]) -> (String, Vec<(String, Option<String>)>) {
        let mut vars = BTreeMap::new();
        vars.insert("feature_menuentry_id".to_string(), "y".to_string());
        let choice = default_entry(cfg, &host(env), vars).unwrap();
        (choice.entry.title, choice.env_writes)
    }

    #[test]
    fn test_grubenv_writes_as_grub_makes_them() {
        let some = |name: &str, value: &str| (name.to_string(), Some(value.to_string()));
        // grub-reboot: GRUB consumes next_entry on its way to the entry.
        let (title, w) = writes(DEBIAN, &[("next_entry", "1>2")]);
        assert_eq!(title, "Debian GNU/Linux, with Linux 6.1.0-10-amd64");
        assert_eq!(w, vec![some("next_entry", "")]);
        // Nothing to consume, nothing written.
        assert_eq!(writes(DEBIAN, &[("saved_entry", "1>2")]).1, vec![]);
        // GRUB_DEFAULT=saved + GRUB_SAVEDEFAULT=true: the entry calls
        // savedefault, which saves `chosen`: the ids of the submenu and the
        // entry, as GRUB's menu code builds it.
        let saving = DEBIAN
            .replace("DEFAULT", "${saved_entry}")
            .replace("\tlinux\t", "\tsavedefault\n\tlinux\t");
        let (title, w) = writes(&saving, &[("saved_entry", "1>2")]);
        assert_eq!(title, "Debian GNU/Linux, with Linux 6.1.0-10-amd64");
        assert_eq!(
            w,
            vec![some(
                "saved_entry",
                "gnulinux-advanced-UUID>gnulinux-6.1.0-10-amd64-advanced-UUID"
            )]
        );
        let (_, w) = writes(&saving, &[("saved_entry", "0")]);
        assert_eq!(w, vec![some("saved_entry", "gnulinux-simple-UUID")]);
        // A one-time boot (grub-reboot) does not change the saved entry.
        let (title, w) = writes(&saving, &[("saved_entry", "1>2"), ("next_entry", "0")]);
        assert_eq!(title, "Debian GNU/Linux");
        assert_eq!(w, vec![some("next_entry", "")]);
    }

    #[test]
    fn test_numeric_default_counts_submenu_as_one() {
        assert_eq!(choose("0", &[]).unwrap().title, "Debian GNU/Linux");
        assert_eq!(
            choose("1", &[]).unwrap().title,
            "Debian GNU/Linux, with Linux 6.1.0-13-amd64"
        );
        assert!(
            choose("2", &[])
                .unwrap_err()
                .message
                .contains("UEFI Firmware Settings")
        );
        // Out of range falls back to the first entry, as GRUB does.
        assert_eq!(choose("7", &[]).unwrap().title, "Debian GNU/Linux");
    }

    #[test]
    fn test_submenu_paths_ids_and_titles() {
        let e = choose("1>2", &[]).unwrap();
        assert_eq!(e.kernel.as_deref(), Some("/boot/vmlinuz-6.1.0-10-amd64"));
        assert_eq!(
            e.path,
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-10-amd64"
        );
        let e = choose(
            "gnulinux-advanced-UUID>gnulinux-6.1.0-13-amd64-recovery-UUID",
            &[],
        )
        .unwrap();
        assert_eq!(e.args, ["root=UUID=abc", "ro", "single"]);
        let e = choose(
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-10-amd64",
            &[],
        )
        .unwrap();
        assert_eq!(
            e.id.as_deref(),
            Some("gnulinux-6.1.0-10-amd64-advanced-UUID")
        );
        assert_eq!(
            choose("gnulinux-simple-UUID", &[]).unwrap().title,
            "Debian GNU/Linux"
        );
    }

    #[test]
    fn test_saved_entry_and_next_entry_from_grubenv() {
        let saved = [(
            "saved_entry",
            "gnulinux-advanced-UUID>gnulinux-6.1.0-10-amd64-advanced-UUID",
        )];
        let e = choose("${saved_entry}", &saved).unwrap();
        assert_eq!(e.kernel.as_deref(), Some("/boot/vmlinuz-6.1.0-10-amd64"));
        // grub-reboot's one-shot next_entry wins over saved_entry.
        let both = [saved[0], ("next_entry", "1>1")];
        let e = choose("${saved_entry}", &both).unwrap();
        assert_eq!(e.args, ["root=UUID=abc", "ro", "single"]);
        // saved_entry missing: entry 0.
        assert_eq!(
            choose("${saved_entry}", &[]).unwrap().title,
            "Debian GNU/Linux"
        );
    }

    #[test]
    fn test_cmdline_like_grub_builds_it() {
        let cfg = r#"
set opts="a=1  b=2"
menuentry 'x' {
  linux /vmlinuz-x root=/dev/sda1 acpi_osi="Windows 2015" memmap=64K\$0x10000 $opts $vt_handoff q="it's"
  initrd /intel-ucode.img /initrd.img-x
}"#;
        let e = default_entry(cfg, &host(&[]), BTreeMap::new())
            .unwrap()
            .entry;
        assert_eq!(e.initrds, ["/intel-ucode.img", "/initrd.img-x"]);
        assert_eq!(
            e.cmdline(),
            "BOOT_IMAGE=/vmlinuz-x root=/dev/sda1 \"acpi_osi=Windows 2015\" memmap=64K$0x10000 a=1 b=2 q=it\\'s"
        );
    }

    #[test]
    fn test_linuxefi_and_device_prefix() {
        let cfg = "menuentry 'r' { linuxefi ($root)/vmlinuz-5.14 ro\n initrdefi ($root)/initramfs-5.14.img }";
        let e = default_entry(cfg, &host(&[]), BTreeMap::new())
            .unwrap()
            .entry;
        assert_eq!(e.kernel.as_deref(), Some("/vmlinuz-5.14"));
        assert_eq!(e.initrds, ["/initramfs-5.14.img"]);
        assert_eq!(e.loader.as_deref(), Some("linuxefi"));
    }

    #[test]
    fn test_menuentry_eq_escapes() {
        assert!(menuentry_eq("a>b", "a>>b"));
        assert!(menuentry_eq("a", "a>b"));
        assert!(!menuentry_eq("ab", "a>b"));
        assert_eq!(rest_after_gt("a>>b>c"), Some("c"));
    }

    #[test]
    fn test_syntax_errors_name_a_line() {
        let e = parse("menuentry 'x' {\n linux /v\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("without a matching"), "{e:?}");
        assert!(parse("set x='abc\n").is_err());
    }
}
