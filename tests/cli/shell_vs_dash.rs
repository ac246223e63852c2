//! Differential test: `kexecctl config --json` against dash sourcing the
//! same file, on thousands of generated files and on the realistic corpus
//! under `tests/corpus/`.
//!
//! The generator covers the subset the reader promises (quoting, escapes,
//! continuations, parameter expansions, `$(uname -r)`, export/unset/`:`).
//! Every generated file must give exactly dash's values; dash itself must
//! accept it (so a generator bug fails too). A second generator splices
//! unsupported constructs into valid files: those must be refused with exit
//! code 6 and the line of the construct, and are never run by dash.
//!
//! `KEXECCTL_DIFF_CASES=N` changes the number of cases, `KEXECCTL_DIFF_SEED`
//! the first seed; a failure prints the seed and the file.

use std::collections::BTreeMap;
use std::fs;
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

/// The shared environment: the same for dash and kexecctl.
struct Oracle {
    dir: tempfile::TempDir,
    dash: PathBuf,
}

impl Oracle {
    fn new() -> Self {
        let dash = require_program("dash", "dash");
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
        Oracle { dir, dash }
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

    /// The variables dash has set after sourcing `file`, among `names`.
    fn dash(&self, file: &Path, names: &[String]) -> Result<BTreeMap<String, String>, String> {
        let mut script = String::from(". \"$1\"\n");
        for name in names {
            script.push_str(&format!(
                "if [ \"${{{name}+set}}\" = set ]; then printf '%s\\n%s\\0' {name} \"${name}\"; fi\n"
            ));
        }
        let mut cmd = Command::new(&self.dash);
        cmd.env_clear()
            .envs(self.env())
            .arg("-c")
            .arg(script)
            .arg("dash")
            .arg(file);
        let out = run(&mut cmd);
        if out.code != 0 || !out.stderr.is_empty() {
            return Err(format!("dash exit {}: {}", out.code, out.stderr));
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
        let theirs = self.dash(path, &names)?;
        let env: BTreeMap<String, String> = self.env().into_iter().collect();
        for name in &names {
            match (ours.get(name), theirs.get(name)) {
                (Some((a, origin)), Some(b)) if a == b => {
                    if !origin.starts_with(&format!("{}:", path.display())) {
                        return Err(format!("{name}: origin {origin:?} does not name the file"));
                    }
                }
                // Inherited and not assigned by the file: kexecctl lists
                // only what the file set.
                (None, Some(b)) if env.get(name) == Some(b) => {}
                (None, None) => {}
                (a, b) => return Err(format!("{name}: kexecctl {a:?}, dash {b:?}")),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Generator of files inside the supported subset.

struct Gen {
    rng: Rng,
}

const UNQUOTED_CHARS: &str = "abcXYZ019_-./,=+@%^{}[]*?!:#";
const ESCAPABLE: &str = " '\"$`\\#;&|<>()*~{}abc\t=:";
const SINGLE_QUOTED_CHARS: &str = "a b\"$`\\#;&|~*{}\n\t:=(";
const DOUBLE_QUOTED_CHARS: &str = "a b'#;&|~*{}\n\t:=(";
const BRACE_UNQUOTED_CHARS: &str = "ab9 ;|&<>()\n\t#=.:/";

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
                    Ctx::Brace { .. } => BRACE_UNQUOTED_CHARS,
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
            _ => self.expansion(ctx, depth),
        }
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
            0 => self.rng.pick_char("a b'#;&|~*{\n:=(").to_string(),
            1 => self
                .rng
                .pick(&["\\$", "\\`", "\\\"", "\\\\", "\\a", "\\}", "\\'"])
                .to_string(),
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

    fn command(&mut self) -> String {
        match self.rng.below(10) {
            0..=5 => {
                let n = 1 + self.rng.below(3);
                (0..n)
                    .map(|_| {
                        let name = self.assignable();
                        format!("{name}={}", self.word(Ctx::Assignment, 0))
                    })
                    .collect::<Vec<_>>()
                    .join(self.rng.pick(&[" ", "\t", "  "]))
            }
            6 | 7 => {
                let mut s = String::from("export");
                for _ in 0..1 + self.rng.below(3) {
                    let name = self.assignable();
                    if self.rng.chance(70) {
                        s.push_str(&format!(" {name}={}", self.word(Ctx::Assignment, 0)));
                    } else {
                        s.push_str(&format!(" {name}"));
                    }
                }
                s
            }
            8 => format!("unset {}", self.assignable()),
            _ => {
                let mut s = String::from(":");
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
/// every failure (seed, file, difference).
fn run_seeds(check: impl Fn(u64, &Path) -> Result<(), String> + Sync) {
    let (first, count) = cases();
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for lane in 0..2u64 {
            let check = &check;
            let failures = &failures;
            s.spawn(move || {
                let dir = tempfile::tempdir().unwrap();
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
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{count} generated files checked (seeds {first}..{})",
        first + count
    );
}

#[test]
fn test_generated_files_agree_with_dash() {
    let oracle = Oracle::new();
    run_seeds(|seed, path| {
        let text = Gen {
            rng: Rng::new(seed),
        }
        .file();
        oracle.compare(path, &text)
    });
}

/// Lines outside the subset, each with the column kexecctl must report.
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
    ("export -n A", 8),
];

#[test]
fn test_unsupported_constructs_are_refused_with_their_line() {
    let oracle = Oracle::new();
    run_seeds(|seed, path| {
        let mut rng = Rng::new(seed);
        let valid = Gen {
            rng: Rng::new(seed),
        }
        .file();
        let mut lines: Vec<&str> = valid.lines().collect();
        let (bad, column) = rng.pick(UNSUPPORTED);
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

/// The realistic files: each must agree with dash, name by name.
#[test]
fn test_corpus_agrees_with_dash() {
    let oracle = Oracle::new();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = Vec::new();
    collect_files(&corpus, &mut files);
    assert!(files.len() >= 25, "corpus too small: {} files", files.len());
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let copy = tmp.path().join("config");
        match oracle.compare(&copy, &text) {
            Ok(()) => {}
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
        // Real files must set something, or the comparison proves nothing.
        let vars = oracle.kexecctl(&copy).unwrap_or_default();
        if vars.is_empty() {
            failures.push(format!("{}: no variables read", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
