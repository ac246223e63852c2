//! Differential test: `kexecctl config --json` against the shell that
//! sources the file originally — dash for Debian's files, bash for
//! `/etc/sysconfig/kdump` (read with `--set sysconfig-kdump`, kdumpctl's
//! defaults set first on both sides) — on thousands of generated files and
//! on the realistic corpus under `tests/corpus/`.
//!
//! The generator covers the subset the reader promises (quoting, escapes,
//! continuations, parameter expansions, `$(uname -r)`, export/unset/`:`),
//! and for bash also `+=`, `declare`/`typeset`, `export -n`, `$'...'` and
//! `$"..."`. Every generated file must give exactly the shell's values; the
//! shell itself must accept it (so a generator bug fails too). A second
//! generator splices unsupported constructs into valid files: those must be
//! refused with exit code 6 and the line and column of the construct, and
//! are never run by a shell.
//!
//! `KEXECCTL_DIFF_CASES=N` changes the number of cases, `KEXECCTL_DIFF_SEED`
//! the first seed; each test prints its count and seeds, a failure prints
//! the seed and the file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Rng, kexecctl, require_program, run, write_files};

const RELEASE: &str = "6.1.0-99-kexecctl-test-amd64";

/// Names the generator assigns and reads.
const NAMES: &[&str] = &[
    "A",
    "B",
    "C",
    "LOAD_KEXEC",
    "KERNEL_IMAGE",
    "APPEND",
    "x",
    "_u9",
    "KDUMP_COMMANDLINE_APPEND",
];
/// Names only read (some set in the environment, some never set).
const READ_ONLY_NAMES: &[&str] = &["EV", "EMPTY", "HOME", "NEVER", "A_B"];

/// The shell a file is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sh {
    Dash,
    /// bash, reading the file as kdumpctl does (`--set sysconfig-kdump`).
    Bash,
}

/// kdumpctl's values before it sources `/etc/sysconfig/kdump`, as
/// kexecctl's `sysconfig-kdump` set applies them.
const KDUMPCTL_DEFAULTS: &[(&str, &str)] = &[
    ("KDUMP_KERNELVER", ""),
    ("KDUMP_COMMANDLINE", ""),
    ("KEXEC_ARGS", ""),
    (
        "KDUMP_COMMANDLINE_REMOVE",
        "hugepages hugepagesz slub_debug",
    ),
];

/// Writes a line to the test's stderr past libtest's capture, so counts
/// and seeds show in every run.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The shared environment: the same for the shell and kexecctl.
struct Oracle {
    dir: tempfile::TempDir,
    sh: Sh,
    program: PathBuf,
}

impl Oracle {
    fn new(sh: Sh) -> Self {
        let program = match sh {
            Sh::Dash => require_program("dash", "dash"),
            Sh::Bash => require_program("bash", "bash"),
        };
        let dir = tempfile::tempdir().unwrap();
        write_files(
            dir.path(),
            &[
                ("root/proc/sys/kernel/osrelease", &format!("{RELEASE}\n")),
                (
                    "bin/uname",
                    &format!("#!/bin/sh\n[ \"$1\" = -r ] && echo {RELEASE}\n"),
                ),
            ],
        );
        let uname = dir.path().join("bin/uname");
        fs::set_permissions(&uname, fs::Permissions::from_mode(0o755)).unwrap();
        Oracle { dir, sh, program }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), "/home/adm".into()),
            ("EV".into(), "e  v".into()),
            ("EMPTY".into(), String::new()),
            (
                "PATH".into(),
                format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display()),
            ),
        ]
    }

    /// The variables the shell has set after sourcing `file`, among `names`.
    fn shell(&self, file: &Path, names: &[String]) -> Result<BTreeMap<String, String>, String> {
        let mut script = String::new();
        if self.sh == Sh::Bash {
            for (name, value) in KDUMPCTL_DEFAULTS {
                script.push_str(&format!("{name}='{value}'\n"));
            }
        }
        script.push_str(". \"$1\"\n");
        for name in names {
            script.push_str(&format!(
                "if [ \"${{{name}+set}}\" = set ]; then printf '%s\\n%s\\0' {name} \"${name}\"; fi\n"
            ));
        }
        let mut cmd = Command::new(&self.program);
        cmd.env_clear()
            .envs(self.env())
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(file);
        let out = run(&mut cmd);
        if out.code != 0 || !out.stderr.is_empty() {
            return Err(format!("{:?} exit {}: {}", self.sh, out.code, out.stderr));
        }
        Ok(out
            .stdout
            .split('\0')
            .filter(|r| !r.is_empty())
            .map(|r| {
                let (k, v) = r.split_once('\n').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect())
    }

    /// `kexecctl config --json --file FILE`: name -> (value, origin), or the
    /// exit code and stderr.
    fn kexecctl(&self, file: &Path) -> Result<BTreeMap<String, (String, String)>, (i32, String)> {
        let mut cmd = kexecctl();
        cmd.envs(self.env())
            .arg("--root")
            .arg(self.dir.path().join("root"))
            .args(["config", "--json", "--file"])
            .arg(file);
        if self.sh == Sh::Bash {
            cmd.args(["--set", "sysconfig-kdump"]);
        }
        let out = run(&mut cmd);
        if out.code != 0 {
            return Err((out.code, out.stderr));
        }
        let json: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", out.stdout));
        Ok(json["variables"]
            .as_object()
            .expect("`variables` is an object")
            .iter()
            .map(|(k, v)| {
                let value = v["value"].as_str().expect("value is a string").to_string();
                let origin = v["origin"]
                    .as_str()
                    .expect("origin is a string")
                    .to_string();
                (k.clone(), (value, origin))
            })
            .collect())
    }

    /// Compares both on `text`; returns a description of any difference.
    fn compare(&self, path: &Path, text: &str) -> Result<(), String> {
        fs::write(path, text).unwrap();
        let ours = self
            .kexecctl(path)
            .map_err(|(code, err)| format!("kexecctl refused it (exit {code}): {err}"))?;
        let mut names: Vec<String> = NAMES
            .iter()
            .chain(READ_ONLY_NAMES)
            .map(|s| s.to_string())
            .collect();
        names.extend(ours.keys().cloned());
        names.sort();
        names.dedup();
        if self.sh == Sh::Bash {
            names.extend(KDUMPCTL_DEFAULTS.iter().map(|(n, _)| n.to_string()));
            names.sort();
            names.dedup();
        }
        let theirs = self.shell(path, &names)?;
        let env: BTreeMap<String, String> = self.env().into_iter().collect();
        let default = |name: &str| {
            KDUMPCTL_DEFAULTS
                .iter()
                .find(|(n, _)| *n == name && self.sh == Sh::Bash)
                .map(|(_, v)| *v)
        };
        for name in &names {
            match (ours.get(name), theirs.get(name)) {
                (Some((a, origin)), Some(b)) if a == b => {
                    let untouched_default = origin == "default" && default(name) == Some(a);
                    if !untouched_default && !origin.starts_with(&format!("{}:", path.display())) {
                        return Err(format!("{name}: origin {origin:?} does not name the file"));
                    }
                }
                // Inherited and not assigned by the file: kexecctl lists
                // only what the file set.
                (None, Some(b)) if env.get(name) == Some(b) => {}
                (None, None) => {}
                (a, b) => return Err(format!("{name}: kexecctl {a:?}, {:?} {b:?}", self.sh)),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Generator of files inside the supported subset.

struct Gen {
    rng: Rng,
    /// Adds bash's constructs; keeps brace expansion out of arguments.
    bash: bool,
    /// Inside the arguments of a builtin, where bash brace-expands.
    in_args: bool,
}

impl Gen {
    fn dash(seed: u64) -> Self {
        Gen {
            rng: Rng::new(seed),
            bash: false,
            in_args: false,
        }
    }

    fn bash(seed: u64) -> Self {
        Gen {
            rng: Rng::new(seed),
            bash: true,
            in_args: false,
        }
    }

    fn for_shell(sh: Sh, seed: u64) -> Self {
        match sh {
            Sh::Dash => Self::dash(seed),
            Sh::Bash => Self::bash(seed),
        }
    }
}

const UNQUOTED_CHARS: &str = "abcXYZ019_-./,=+@%^{}[]*?!:#";
const ESCAPABLE: &str = " '\"$`\\#;&|<>()*~{}abc\t=:";
const SINGLE_QUOTED_CHARS: &str = "a b\"$`\\#;&|~*{}\n\t:=(";
const DOUBLE_QUOTED_CHARS: &str = "a b'#;&|~*{}\n\t:=(";
const BRACE_UNQUOTED_CHARS: &str = "ab9 ;|&<>()\n\t#=.:/";
/// In bash, `<(` and `>(` start a process substitution inside `${...}`.
const BASH_BRACE_UNQUOTED_CHARS: &str = "ab9 ;|&()\n\t#=.:/";
/// Unquoted characters of builtin arguments in bash: no braces, which bash
/// would brace-expand there.
const BASH_ARG_UNQUOTED_CHARS: &str = "abcXYZ019_-./,=+@%^[]*?!:#";
/// Text and escapes inside bash's `$'...'`, all ASCII.
const ANSI_C_PIECES: &[&str] = &[
    "a",
    " ",
    "\"",
    "$x",
    "`",
    "{",
    "}",
    "#",
    ";",
    "~",
    "\n",
    "\\t",
    "\\n",
    "\\x41",
    "\\x4g",
    "\\101",
    "\\7",
    "\\8",
    "\\'",
    "\\\\",
    "\\\"",
    "\\?",
    "\\a",
    "\\e",
    "\\E",
    "\\cA",
    "\\cz",
    "\\q",
    "\\u0041",
    "\\U00000042",
    "\\\n",
];

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// Value of `NAME=`.
    Assignment,
    /// Argument of `:`.
    Argument,
    /// Word in an unquoted `${N-word}`; `colon_tilde` as in the reader:
    /// inherited through `-`/`+` from an assignment, dropped by `=`.
    Brace { colon_tilde: bool },
    /// Word in `"${N-word}"`.
    QuotedBrace,
}

impl Gen {
    fn name(&mut self) -> String {
        let pool: Vec<&str> = NAMES.iter().chain(READ_ONLY_NAMES).copied().collect();
        self.rng.pick(&pool).to_string()
    }

    fn assignable(&mut self) -> String {
        self.rng.pick(NAMES).to_string()
    }

    fn continuation(&mut self) -> &'static str {
        if self.rng.chance(4) { "\\\n" } else { "" }
    }

    /// A word in `ctx`; `depth` limits nesting of `${...}`.
    fn word(&mut self, ctx: Ctx, depth: usize) -> String {
        let mut out = String::new();
        let segments = self.rng.below(5);
        let colon_tilde = matches!(ctx, Ctx::Assignment | Ctx::Brace { colon_tilde: true });
        let start_tilde = !matches!(ctx, Ctx::QuotedBrace);
        if start_tilde && self.rng.chance(8) {
            if colon_tilde {
                out.push_str(self.rng.pick(&["~/", "~:", "~/etc"]));
            } else {
                out.push_str(self.rng.pick(&["~/", "~/etc"]));
            }
        }
        for i in 0..segments {
            if i > 0 {
                out.push_str(self.continuation());
            }
            out.push_str(&self.segment(ctx, depth));
        }
        if colon_tilde && self.rng.chance(5) {
            out.push_str(":~");
            if self.rng.chance(50) {
                out.push_str("/d");
            }
        } else if ctx == Ctx::Assignment && self.rng.chance(3) {
            out.push('$'); // a lone `$` at the end of a word is literal
        }
        out
    }

    fn segment(&mut self, ctx: Ctx, depth: usize) -> String {
        match (ctx, self.rng.below(8)) {
            (Ctx::QuotedBrace, _) => self.quoted_brace_segment(depth),
            (_, 0 | 1) => {
                let chars = match ctx {
                    Ctx::Brace { .. } if self.bash => BASH_BRACE_UNQUOTED_CHARS,
                    Ctx::Brace { .. } => BRACE_UNQUOTED_CHARS,
                    _ if self.bash && self.in_args => BASH_ARG_UNQUOTED_CHARS,
                    _ => UNQUOTED_CHARS,
                };
                let mut s = String::new();
                for _ in 0..1 + self.rng.below(4) {
                    s.push(self.rng.pick_char(chars));
                }
                // `#` starting an argument would begin a comment; `~` is
                // generated on purpose only.
                if ctx == Ctx::Argument && s.starts_with('#') {
                    s.insert(0, 'q');
                }
                s
            }
            (_, 2) => format!("\\{}", self.rng.pick_char(ESCAPABLE)),
            (_, 3) => {
                let mut s = String::from("'");
                for _ in 0..self.rng.below(5) {
                    s.push(self.rng.pick_char(SINGLE_QUOTED_CHARS));
                }
                s.push('\'');
                s
            }
            (_, 4) => self.double_quoted(depth),
            (Ctx::Brace { .. }, 5) if self.bash => self.ansi_c_quoted(),
            (_, 5) if self.bash => self.bash_quoted(depth),
            _ => self.expansion(ctx, depth),
        }
    }

    /// bash's `$'...'` or `$"..."`.
    fn bash_quoted(&mut self, depth: usize) -> String {
        if self.rng.chance(70) {
            self.ansi_c_quoted()
        } else {
            format!("${}", self.double_quoted(depth))
        }
    }

    fn ansi_c_quoted(&mut self) -> String {
        let mut s = String::from("$'");
        for _ in 0..self.rng.below(5) {
            s.push_str(self.rng.pick(ANSI_C_PIECES));
        }
        s.push('\'');
        s
    }

    fn double_quoted(&mut self, depth: usize) -> String {
        let mut s = String::from("\"");
        for _ in 0..self.rng.below(5) {
            s.push_str(self.continuation());
            match self.rng.below(5) {
                0 | 1 => s.push(self.rng.pick_char(DOUBLE_QUOTED_CHARS)),
                2 => s.push_str(
                    self.rng
                        .pick(&["\\$", "\\`", "\\\"", "\\\\", "\\a", "\\'", "\\}"]),
                ),
                _ => s.push_str(&self.expansion(Ctx::QuotedBrace, depth)),
            }
        }
        s.push('"');
        s
    }

    fn quoted_brace_segment(&mut self, depth: usize) -> String {
        match self.rng.below(5) {
            // bash refuses a single quote here (it matches them).
            0 if self.bash => self.rng.pick_char("a b#;&|~*{\n:=(").to_string(),
            0 => self.rng.pick_char("a b'#;&|~*{\n:=(").to_string(),
            1 => self
                .rng
                .pick(&["\\$", "\\`", "\\\"", "\\\\", "\\a", "\\}", "\\'"])
                .to_string(),
            // bash refuses double quotes here (it reads them inconsistently).
            2 if self.bash => self.rng.pick_char("ab:=").to_string(),
            2 => self.double_quoted(depth),
            _ => self.expansion(Ctx::QuotedBrace, depth),
        }
    }

    /// `$NAME`, `${NAME}`, `${NAME op word}`, `$(uname -r)`, or a literal `$`.
    fn expansion(&mut self, ctx: Ctx, depth: usize) -> String {
        let quoted = ctx == Ctx::QuotedBrace;
        match self.rng.below(10) {
            0 => "$(uname -r)".into(),
            1 => self
                .rng
                .pick(&["`uname -r`", "$(  uname  -r )", "`uname \\\n-r`"])
                .to_string(),
            // A `$` before a character that starts no expansion.
            2 => format!("${}", self.rng.pick_char("/.,=%")),
            3 | 4 => {
                // `$NAME` then a character that cannot extend the name.
                format!(
                    "${}{}",
                    self.name(),
                    self.rng.pick(&["/", ".", "-", ":", ""])
                )
                .trim_end()
                .to_string()
            }
            5 => format!("${{{}}}", self.name()),
            _ if depth >= 3 => format!("${{{}}}", self.name()),
            _ => {
                let op = self
                    .rng
                    .pick(&[":-", "-", ":+", "+", ":=", "="])
                    .to_string();
                let name = if op.ends_with('=') {
                    self.assignable()
                } else {
                    self.name()
                };
                let inner = if quoted {
                    Ctx::QuotedBrace
                } else {
                    let inherited =
                        matches!(ctx, Ctx::Assignment | Ctx::Brace { colon_tilde: true });
                    Ctx::Brace {
                        colon_tilde: inherited && !op.ends_with('='),
                    }
                };
                format!("${{{name}{op}{}}}", self.word(inner, depth + 1))
            }
        }
    }

    /// `=`, or in bash sometimes `+=`.
    fn assign_op(&mut self) -> &'static str {
        if self.bash && self.rng.chance(30) {
            "+="
        } else {
            "="
        }
    }

    fn command(&mut self) -> String {
        self.in_args = false;
        let command = self.command_inner();
        self.in_args = false;
        command
    }

    fn command_inner(&mut self) -> String {
        match self.rng.below(10) {
            0..=5 => {
                let n = 1 + self.rng.below(3);
                (0..n)
                    .map(|_| {
                        let name = self.assignable();
                        let op = self.assign_op();
                        format!("{name}{op}{}", self.word(Ctx::Assignment, 0))
                    })
                    .collect::<Vec<_>>()
                    .join(self.rng.pick(&[" ", "\t", "  "]))
            }
            6 | 7 => {
                let mut s = if self.bash {
                    self.rng
                        .pick(&[
                            "export",
                            "export",
                            "declare",
                            "typeset",
                            "declare -x",
                            "declare +x",
                            "declare -g",
                            "typeset -gx",
                            "declare --",
                            "export -n",
                        ])
                        .to_string()
                } else {
                    String::from("export")
                };
                self.in_args = true;
                for _ in 0..1 + self.rng.below(3) {
                    let name = self.assignable();
                    if self.rng.chance(70) {
                        let op = self.assign_op();
                        s.push_str(&format!(" {name}{op}{}", self.word(Ctx::Assignment, 0)));
                    } else {
                        s.push_str(&format!(" {name}"));
                    }
                }
                s
            }
            8 => format!("unset {}", self.assignable()),
            _ => {
                let mut s = String::from(":");
                self.in_args = true;
                for _ in 0..1 + self.rng.below(2) {
                    let name = self.assignable();
                    let op = self.rng.pick(&[":=", "="]);
                    let arg = if self.rng.chance(50) {
                        format!(
                            "${{{name}{op}{}}}",
                            self.word(Ctx::Brace { colon_tilde: false }, 1)
                        )
                    } else {
                        format!("\"${{{name}{op}{}}}\"", self.word(Ctx::QuotedBrace, 1))
                    };
                    s.push(' ');
                    s.push_str(&arg);
                }
                s
            }
        }
    }

    fn file(&mut self) -> String {
        let mut out = String::new();
        for _ in 0..1 + self.rng.below(6) {
            match self.rng.below(10) {
                0 => out.push_str("# a comment with 'quotes' and \"$x\" \\\n"),
                1 => out.push('\n'),
                _ => {
                    if self.rng.chance(20) {
                        out.push_str(self.rng.pick(&["  ", "\t"]));
                    }
                    out.push_str(&self.command());
                    while self.rng.chance(20) {
                        out.push_str(self.rng.pick(&["; ", ";", " ; "]));
                        out.push_str(&self.command());
                    }
                    if self.rng.chance(10) {
                        out.push(';');
                    }
                    if self.rng.chance(15) {
                        out.push_str(" # trailing comment; A=ignored");
                    }
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn cases() -> (u64, u64) {
    let count = std::env::var("KEXECCTL_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed = std::env::var("KEXECCTL_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    (seed, count)
}

/// Runs `check` on seeds `first..first+count` on two threads; panics with
/// every failure (seed, file, difference); prints what it checked.
fn run_seeds(what: &str, check: impl Fn(u64, &Path) -> Result<(), String> + Sync) {
    let (first, count) = cases();
    let started = std::time::Instant::now();
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for lane in 0..2u64 {
            let check = &check;
            let failures = &failures;
            s.spawn(move || {
                let dir = crate::kdump_oracle::scratch();
                let path = dir.path().join("config");
                for seed in (first + lane..first + count).step_by(2) {
                    if let Err(e) = check(seed, &path) {
                        failures.lock().unwrap().push(format!(
                            "seed {seed}: {e}\n--- file ---\n{}------------",
                            fs::read_to_string(&path).unwrap_or_default()
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{what}: {} of {count} cases failed (seeds {first}..{}):\n{}",
        failures.len(),
        first + count,
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    report(&format!(
        "{what}: {count} generated cases, 0 failures (seeds {first}..{}, {:.1} s)",
        first + count,
        started.elapsed().as_secs_f64()
    ));
}

fn generated_files_agree(sh: Sh) {
    let oracle = Oracle::new(sh);
    let what = format!("config reader vs {}", format!("{sh:?}").to_lowercase());
    run_seeds(&what, |seed, path| {
        let text = Gen::for_shell(sh, seed).file();
        oracle.compare(path, &text)
    });
}

#[test]
fn test_generated_files_agree_with_dash() {
    generated_files_agree(Sh::Dash);
}

/// The same generator plus bash's constructs, against bash, as kdumpctl
/// reads `/etc/sysconfig/kdump`.
#[test]
fn test_generated_files_agree_with_bash() {
    generated_files_agree(Sh::Bash);
}

/// Lines outside the subset of both dialects, each with the column
/// kexecctl must report.
const UNSUPPORTED: &[(&str, usize)] = &[
    ("A=$(ls /boot)", 3),
    ("A=`cat /etc/hostname`", 3),
    ("A=$((1 + 2))", 3),
    ("if [ -x /sbin/kexec ]; then A=1; fi", 1),
    ("case $x in a) A=1;; esac", 1),
    ("for i in 1 2; do A=$i; done", 1),
    ("while false; do :; done", 1),
    ("A=1 /sbin/kexec -l /vmlinuz", 1),
    ("echo hello", 1),
    ("A=${#x}", 3),
    ("A=${x%.img}", 3),
    ("A=${x#/boot}", 3),
    ("A=$1", 3),
    ("A=$@", 3),
    ("A=${x?missing}", 3),
    ("A='unbalanced", 3),
    ("A=\"unbalanced", 3),
    ("A=1 | B=2", 5),
    ("A=1 && B=2", 5),
    ("A=1 || B=2", 5),
    ("A=1 & B=2", 5),
    ("A=1 > /tmp/x", 5),
    ("f() { A=1; }", 1),
    (". /etc/default/other", 1),
    ("source /etc/default/other", 1),
    ("A=~root/x", 3),
    ("A=(1 2)", 3),
    ("A=1;;", 4),
    ("{ A=1; }", 1),
    ("A=$PPID", 3),
    ("\"export\" A=1", 1),
    ("unset -f A", 7),
];

/// Refused by the dash dialect only (bash understands them).
const UNSUPPORTED_DASH: &[(&str, usize)] = &[
    ("export -n A", 8),
    ("KDUMP_COMMANDLINE_APPEND+=\" rd.kdumploglvl=3\"", 1),
    ("A=1 B+=2", 5),
    ("declare A=1", 1),
];

/// Refused by the bash dialect only.
const UNSUPPORTED_BASH: &[(&str, usize)] = &[
    ("export A={a,b}", 10),
    ("declare B=x{1..3}", 12),
    ("declare -r A=1", 9),
    ("typeset -a A", 9),
    ("declare -i A=1+2", 9),
    ("local A=1", 1),
    ("A=${x/a/b}", 3),
    ("A=${x:1:2}", 3),
    ("A=${x^^}", 3),
    ("A=${!x}", 3),
    ("A=$[1 + 2]", 3),
    ("[[ -n $x ]] && A=1", 1),
    ("function f { A=1; }", 1),
    ("shopt -s extglob", 1),
    ("A=$BASH_VERSION", 3),
    ("A=$RANDOM", 3),
    ("A=$'\\u00e9'", 5),
    ("A=$'a\\0b'", 6),
    ("A=$'unbalanced", 3),
    ("A+=(x)", 4),
];

fn unsupported_constructs_are_refused(sh: Sh) {
    let oracle = Oracle::new(sh);
    let mut table: Vec<(&str, usize)> = UNSUPPORTED.to_vec();
    table.extend_from_slice(match sh {
        Sh::Dash => UNSUPPORTED_DASH,
        Sh::Bash => UNSUPPORTED_BASH,
    });
    let what = format!(
        "unsupported constructs refused ({})",
        format!("{sh:?}").to_lowercase()
    );
    run_seeds(&what, |seed, path| {
        let mut rng = Rng::new(seed);
        let valid = Gen::for_shell(sh, seed).file();
        let mut lines: Vec<&str> = valid.lines().collect();
        let (bad, column) = rng.pick(&table);
        // An unbalanced quote must run to the end of the file (a later quote
        // would close it); anything else goes first or last.
        let at = if bad.contains(['\'', '"']) || rng.chance(50) {
            lines.len()
        } else {
            0
        };
        lines.insert(at, bad);
        let text = lines.join("\n") + "\n";
        fs::write(path, &text).unwrap();
        match oracle.kexecctl(path) {
            Ok(vars) => Err(format!("`{bad}` was accepted: {vars:?}")),
            Err((6, stderr)) => {
                let want = format!("kexecctl: {}:{}:{column}: ", path.display(), at + 1);
                if stderr.starts_with(&want) && stderr.lines().count() == 1 {
                    Ok(())
                } else {
                    Err(format!(
                        "`{bad}`: expected one line starting {want:?}, got {stderr:?}"
                    ))
                }
            }
            Err((code, stderr)) => Err(format!("`{bad}`: exit {code}, want 6: {stderr}")),
        }
    });
}

#[test]
fn test_unsupported_constructs_are_refused_with_their_line() {
    unsupported_constructs_are_refused(Sh::Dash);
}

#[test]
fn test_unsupported_constructs_are_refused_with_their_line_bash() {
    unsupported_constructs_are_refused(Sh::Bash);
}

/// The realistic files: each must agree with the shell that sources it —
/// bash for Red Hat's sysconfig files, dash for Debian's — name by name.
#[test]
fn test_corpus_agrees_with_its_shell() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = Vec::new();
    collect_files(&corpus, &mut files);
    assert!(files.len() >= 25, "corpus too small: {} files", files.len());
    let dash = Oracle::new(Sh::Dash);
    let bash = Oracle::new(Sh::Bash);
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut counts = BTreeMap::new();
    for file in &files {
        let oracle = if file.starts_with(corpus.join("redhat")) {
            &bash
        } else {
            &dash
        };
        *counts.entry(format!("{:?}", oracle.sh)).or_insert(0) += 1;
        let text = fs::read_to_string(file).unwrap();
        let copy = tmp.path().join("config");
        match oracle.compare(&copy, &text) {
            Ok(()) => {}
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
        // Real files must set something, or the comparison proves nothing.
        let vars = oracle.kexecctl(&copy).unwrap_or_default();
        let from_file = vars
            .values()
            .filter(|(_, origin)| origin != "default")
            .count();
        if from_file == 0 {
            failures.push(format!("{}: no variables read", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    report(&format!("corpus: {counts:?} files agree with their shell"));
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}
