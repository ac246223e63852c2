//! Stage 2 of the reader: runs a parsed file against the variable table.
//!
//! Only assignments, `export`/`declare`, `unset` and `:` exist here, and
//! expansion is lazy like the shell's (the word of `${X:-word}` is expanded
//! only when used, so its `${Y:=v}` side effects happen only then). Values
//! the shell would take from outside the file — the password database for
//! `~` without `HOME`, the shell's own variables — are refused, not guessed.

use std::path::Path;

use super::parse::{Command, DeclArg, ParamOp, Part, Word};
use super::{Dialect, LineIndex, Origin, Pos, Shell, Var, config_error};
use crate::error::{Error, Result};

/// Variables dash sets itself at start-up; their values depend on the shell
/// process, so a file that reads them without setting them is refused.
const DASH_INTERNAL: &[&str] = &[
    "IFS", "PS1", "PS2", "PS4", "PPID", "OPTIND", "LINENO", "PWD", "OLDPWD",
];

/// The ones bash adds.
const BASH_INTERNAL: &[&str] = &[
    "_",
    "BASH",
    "BASHOPTS",
    "BASHPID",
    "BASH_ALIASES",
    "BASH_ARGC",
    "BASH_ARGV",
    "BASH_ARGV0",
    "BASH_CMDS",
    "BASH_COMMAND",
    "BASH_EXECUTION_STRING",
    "BASH_LINENO",
    "BASH_SOURCE",
    "BASH_SUBSHELL",
    "BASH_VERSINFO",
    "BASH_VERSION",
    "COMP_WORDBREAKS",
    "DIRSTACK",
    "EPOCHREALTIME",
    "EPOCHSECONDS",
    "EUID",
    "FUNCNAME",
    "GROUPS",
    "HISTCMD",
    "HISTFILE",
    "HISTFILESIZE",
    "HISTSIZE",
    "HOSTNAME",
    "HOSTTYPE",
    "MACHTYPE",
    "MAILCHECK",
    "OPTERR",
    "OSTYPE",
    "PIPESTATUS",
    "PS0",
    "RANDOM",
    "SECONDS",
    "SHELLOPTS",
    "SHLVL",
    "SRANDOM",
    "UID",
];

/// Whether `name` is set by the shell of `dialect` itself.
pub(super) fn shell_internal(dialect: Dialect, name: &str) -> bool {
    DASH_INTERNAL.contains(&name) || (dialect == Dialect::Bash && BASH_INTERNAL.contains(&name))
}

pub(super) struct Evaluator<'s, 'a> {
    pub shell: &'s mut Shell<'a>,
    pub path: &'s Path,
    pub lines: LineIndex,
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

    /// Assigns `value`, or with `append` (bash's `+=`) appends it to the
    /// current value.
    fn assign(&mut self, name: &str, value: String, append: bool, pos: Pos) -> Result<()> {
        let value = if append {
            let mut current = self.lookup(name, pos)?.unwrap_or_default();
            current.push_str(&value);
            current
        } else {
            value
        };
        self.set(name, value, pos);
        Ok(())
    }

    pub(super) fn run(&mut self, command: &Command) -> Result<()> {
        match command {
            Command::Assign(list) => {
                for a in list {
                    let value = self.expand(&a.value)?;
                    self.assign(&a.name, value, a.append, a.pos)?;
                }
            }
            Command::Declare(args) => {
                let mut values = Vec::new();
                for arg in args {
                    if let DeclArg::Assign(a) = arg {
                        values.push((a, self.expand(&a.value)?));
                    }
                }
                for (a, value) in values {
                    self.assign(&a.name, value, a.append, a.pos)?;
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
        if shell_internal(self.shell.dialect, name) {
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
                Part::Tilde(pos) => match self.shell.vars.get("HOME") {
                    Some(home) => out.push_str(&home.value),
                    // dash leaves the `~`; bash asks the password database.
                    None if self.shell.dialect == Dialect::Dash => out.push('~'),
                    None => {
                        return Err(self.error_at(
                            *pos,
                            "`~` without HOME set (bash would look the home directory up in \
                             the password database)",
                        ));
                    }
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
