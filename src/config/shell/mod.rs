//! Reads shell-fragment configuration files without executing them.
//!
//! `/etc/default/kexec`, `/etc/sysconfig/kdump` and `/etc/default/kdump-tools`
//! are shell code that the legacy scripts source as root. Admins keep them
//! unchanged, so kexecctl must see exactly the values the sourcing shell
//! would, while running nothing. Each file is read in the [`Dialect`] of the
//! shell that sources it originally: dash for Debian's files (`#!/bin/sh`
//! scripts), bash for `/etc/sysconfig/kdump` (kdumpctl and RHEL 6's init
//! script are bash scripts). Both dialects understand:
//!
//! * comments, blank lines, `;` and newlines between commands, `\`-newline
//!   continuations (removed everywhere but inside single quotes and comments);
//! * `NAME=value` (several per line; each sees the ones before it),
//!   `export NAME=value...` (all arguments expanded before any is assigned,
//!   as both shells do for declaration utilities), `export NAME`,
//!   `unset NAME`, and `: word...` (for the `: ${NAME:=default}` idiom);
//! * unquoted, 'single-quoted', "double-quoted" and concatenated words,
//!   backslash escapes, `~` and `~/...` (from `HOME`);
//! * `$NAME`, `${NAME}`, and `${NAME[:]-word}`, `${NAME[:]+word}`,
//!   `${NAME[:]=word}` with nested words, evaluated lazily like the shell;
//! * `$(uname -r)` and `` `uname -r` ``, answered from the kernel release
//!   under `--root` instead of running anything.
//!
//! Bash adds `NAME+=value` (also after `export`/`declare`), `declare` and
//! `typeset` of plain variables (options `-x`, `+x`, `-g`), `export -n`,
//! `$'...'` (ASCII escapes) and `$"..."`.
//!
//! Everything else (other commands and substitutions, arithmetic, compound
//! commands, redirections, pipelines, special parameters, pattern operators,
//! unbalanced quotes, `~user`, bash's arrays, brace expansion of arguments
//! and other `${...}` forms) is an error naming `file:line:column` and the
//! construct. The reader never guesses: a value is either the shell's or an
//! error.
//!
//! The stages: [`parse`] turns the whole file into a syntax tree (so a
//! syntax error on the last line leaves no variable changed), [`eval`] runs
//! the tree against the variable table of this module's [`Shell`].

mod eval;
mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The shell whose semantics a file is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Debian's `/bin/sh`: the files of kexec-tools and kdump-tools.
    #[default]
    Dash,
    /// `/bin/bash`: `/etc/sysconfig/kdump`, sourced by kdumpctl.
    Bash,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Dash => "dash",
            Dialect::Bash => "bash",
        }
    }
}

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

/// Answers `$(uname -r)`: the release of the running kernel.
pub type KernelRelease<'a> = dyn FnMut() -> Result<String> + 'a;

/// The variable table of one shell that sources one or more files in turn.
pub struct Shell<'a> {
    vars: BTreeMap<String, Var>,
    /// Environment names whose values are not UTF-8: an error if referenced.
    opaque_env: BTreeSet<String>,
    kernel_release: Box<KernelRelease<'a>>,
    release_cache: Option<String>,
    dialect: Dialect,
}

impl<'a> Shell<'a> {
    /// A dash started with `env` as its environment.
    pub fn new(
        env: impl IntoIterator<Item = (OsString, OsString)>,
        kernel_release: impl FnMut() -> Result<String> + 'a,
    ) -> Self {
        Self::with_dialect(Dialect::Dash, env, kernel_release)
    }

    /// A shell of `dialect` started with `env` as its environment.
    pub fn with_dialect(
        dialect: Dialect,
        env: impl IntoIterator<Item = (OsString, OsString)>,
        kernel_release: impl FnMut() -> Result<String> + 'a,
    ) -> Self {
        let mut shell = Shell {
            vars: BTreeMap::new(),
            opaque_env: BTreeSet::new(),
            kernel_release: Box::new(kernel_release),
            release_cache: None,
            dialect,
        };
        for (name, value) in env {
            let Some(name) = name.to_str().filter(|n| is_name(n)) else {
                continue; // the shells ignore such entries too
            };
            if eval::shell_internal(dialect, name) {
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

    pub fn dialect(&self) -> Dialect {
        self.dialect
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
        let program = parse::Parser::new(path, text, self.dialect).parse_program()?;
        let mut eval = eval::Evaluator {
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

/// A position in the source, as an index into its characters.
type Pos = usize;

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

    fn read_bash(text: &str) -> Result<BTreeMap<String, String>> {
        let env = [("HOME", "/root"), ("x", "a  b")]
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let mut shell = Shell::with_dialect(Dialect::Bash, env, || Ok("6.1.0-13-amd64".into()));
        shell.source(Path::new("/etc/sysconfig/kdump"), text.as_bytes())?;
        Ok(shell
            .assigned()
            .map(|(k, v)| (k.to_string(), v.value.clone()))
            .collect())
    }

    fn bash_get(text: &str, name: &str) -> Option<String> {
        read_bash(text).unwrap().get(name).cloned()
    }

    fn bash_error(text: &str) -> String {
        read_bash(text).unwrap_err().to_string()
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

    #[test]
    fn test_bash_append_and_declare() {
        assert_eq!(
            bash_get("A=x\nA+=\" rd.kdumploglvl=3\"\n", "A").as_deref(),
            Some("x rd.kdumploglvl=3")
        );
        assert_eq!(bash_get("A+=y", "A").as_deref(), Some("y"));
        assert_eq!(bash_get("x+=c", "x").as_deref(), Some("a  bc"));
        assert_eq!(bash_get("A=1; export A+=2", "A").as_deref(), Some("12"));
        assert_eq!(bash_get("B=0; declare B=1 C=$B", "C").as_deref(), Some("0"));
        assert_eq!(
            bash_get("typeset -x D=~/d", "D").as_deref(),
            Some("/root/d")
        );
        assert_eq!(bash_get("declare +x -g E=e F", "E").as_deref(), Some("e"));
        assert_eq!(bash_get("declare -- G+=g", "G").as_deref(), Some("g"));
        assert_eq!(bash_get("export -n H=h", "H").as_deref(), Some("h"));
        assert!(!read_bash("declare F").unwrap().contains_key("F"));
        assert!(bash_error("declare -r R=1").contains("1:9: `declare -r`"));
        assert!(bash_error("declare -a R=1").contains("`declare -a`"));
        assert!(bash_error("local L=1").contains("1:1: `local` outside a function"));
    }

    #[test]
    fn test_bash_quotes() {
        assert_eq!(
            bash_get("A=$'a\\tb\\x41\\101\\u0042\\cA\\q\\''", "A").as_deref(),
            Some("a\tbAAB\x01\\q'")
        );
        assert_eq!(bash_get("A=$\"v=$x\"", "A").as_deref(), Some("v=a  b"));
        assert_eq!(bash_get("A=\"$'a'\"", "A").as_deref(), Some("$'a'"));
        assert!(bash_error("A=\"${u:-$'\\t'}\"").contains("1:9: `$'...'` or `$\"...\"` inside"));
        // Double quotes nested in a double-quoted `${...}`: bash is
        // inconsistent there, dash reads them as quotes.
        assert!(bash_error("A=\"${u:-\\q\"\\q\"}\"").contains("1:11: double quotes nested"));
        assert_eq!(
            get("A=\"${u:-\\q\"\\q\"}\"", "A").as_deref(),
            Some("\\q\\q")
        );
        assert_eq!(bash_get("A=${u:-\"\\}\"}", "A").as_deref(), Some("\\}"));
        assert_eq!(get("A=${u:-\"\\}\"}", "A").as_deref(), Some("}"));
        assert!(bash_error("A=$'\\x{41}'").contains("1:5: `\\x{...}`"));
        assert_eq!(
            get("A=\"${u:-\\q\"\\q\"}\"", "A").as_deref(),
            Some("\\q\\q")
        );
        assert!(bash_error("A=${u:-a<(ls)}").contains("1:9: bash's process substitution"));
        assert_eq!(bash_get("A=${u:-$'\\t'}", "A").as_deref(), Some("\t"));
        // dash reads the same bytes as `$` and a quoted string.
        assert_eq!(get("A=$'a'", "A").as_deref(), Some("$a"));
        assert!(bash_error("A=$'\\u00e9'").contains("1:5: a non-ASCII escape"));
        assert!(bash_error("A=$'a\\0'").contains("1:6: a NUL character"));
        assert!(bash_error("A=$'a").contains("1:3: unterminated `$'...'`"));
    }

    #[test]
    fn test_bash_only_constructs_are_refused_clearly() {
        assert!(bash_error("export A={a,b}").contains("1:10: bash's brace expansion"));
        assert!(bash_error(": x{1..3}").contains("brace expansion"));
        assert_eq!(bash_get("A={a,b}", "A").as_deref(), Some("{a,b}"));
        assert_eq!(
            bash_get("export A='{a,b}' B=x{} C=x{a", "C").as_deref(),
            Some("x{a")
        );
        assert!(bash_error("A=(1 2)").contains("1:3: a bash array assignment"));
        assert!(bash_error("[[ -f /x ]] && A=1").contains("compound command `[[`"));
        assert!(bash_error("function f { :; }").contains("function definition"));
        assert!(bash_error("A=${x/a/b}").contains("1:3: this `${...}` form"));
        assert!(bash_error("A=${x:1}").contains("this `${...}` form"));
        assert!(bash_error("A=${!x}").contains("this `${...}` form"));
        assert!(bash_error("A=$[1+2]").contains("arithmetic"));
        assert!(bash_error("A=$BASH_VERSION").contains("set by the shell"));
        let env = std::iter::empty::<(OsString, OsString)>();
        let mut shell = Shell::with_dialect(Dialect::Bash, env, || Ok(String::new()));
        let err = shell.source(Path::new("/f"), b"A=~/x").unwrap_err();
        assert!(
            err.to_string().contains("/f:1:3: `~` without HOME"),
            "{err}"
        );
    }

    #[test]
    fn test_dash_refuses_bash_append_naming_it() {
        let err = error("KDUMP_COMMANDLINE_APPEND+=\" rd.kdumploglvl=3\"");
        assert!(
            err.contains("1:1: `NAME+=value` (it appends in bash"),
            "{err}"
        );
    }
}
