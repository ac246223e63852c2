//! What an admin reads: every installed man page renders without a warning
//! (groff, man), the completions complete actions and commands, and the
//! README's exit-code table is the one of src/error.rs.

use std::path::Path;
use std::process::Command;

use kexecctl::cli::personality::Personality;
use kexecctl::error::ExitCode;

use crate::util::{kexecctl, require_program, run};

fn generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = run(kexecctl().arg("generate-docs").arg("--out").arg(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    dir
}

fn names() -> impl Iterator<Item = &'static str> {
    Personality::PERSONALITIES
        .into_iter()
        .chain([Personality::Kexecctl])
        .map(Personality::name)
}

#[test]
fn test_every_man_page_renders_without_warnings() {
    require_program("groff", "groff-base");
    require_program("man", "man-db");
    let docs = generated();
    for name in names() {
        let page = docs.path().join(format!("man8/{name}.8"));
        let out = run(Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page));
        assert_eq!((out.code, out.stderr.as_str()), (0, ""), "groff {name}.8");
        // man keeps bold and underline whenever MAN_KEEP_FORMATTING is set,
        // even to "0"; as SGR escapes with groff 1.23 (Debian 13), which
        // `plain` cannot remove. Unset, man strips them from a pipe.
        let out = run(Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING"));
        assert_eq!(out.code, 0, "man -l {name}.8: {}", out.stderr);
        assert_eq!(out.stderr, "", "man -l {name}.8");
        let text = plain(&out.stdout);
        for section in [
            "DESCRIPTION",
            "FILES",
            "ENVIRONMENT",
            "EXIT STATUS",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(text.contains(section), "{name}.8 has no {section}");
        }
        // SEE ALSO names only pages this package installs, and reboot(8).
        let see_also = text.split("SEE ALSO").nth(1).unwrap_or("");
        for word in see_also.split(|c: char| c == ',' || c.is_whitespace()) {
            if let Some(page) = word.strip_suffix("(8)") {
                assert!(
                    names().any(|n| n == page) || page == "reboot",
                    "{name}.8 refers to {page}(8), which is not installed"
                );
            }
        }
    }
}

/// man's output without the overstrikes (`X\bX`) it makes bold with.
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

/// What bash completes after `words` (the last one being completed).
fn complete(docs: &Path, command: &str, words: &[&str]) -> String {
    let function = format!("_{}", command.replace('-', "__"));
    let script = format!(
        "source {}/bash-completion/{command}.bash\nCOMP_WORDS=({})\nCOMP_CWORD={}\n{function} {command} '{}' '{}'\necho \"${{COMPREPLY[@]}}\"",
        docs.display(),
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        words.len() - 1,
        words.last().unwrap(),
        words[words.len() - 2],
    );
    let out = run(Command::new("bash").arg("-c").arg(script));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn test_completions_offer_actions_and_commands() {
    let docs = generated();
    let actions = complete(docs.path(), "kexec-load", &["kexec-load", ""]);
    for action in ["start", "stop", "status"] {
        assert!(actions.split_whitespace().any(|w| w == action), "{actions}");
    }
    let kdump = complete(docs.path(), "kdump-setup", &["kdump-setup", "re"]);
    assert!(
        kdump.contains("restart") && kdump.contains("rebuild"),
        "{kdump}"
    );
    let commands = complete(docs.path(), "kexecctl", &["kexecctl", ""]);
    for command in ["load", "status", "config", "kexec-load", "coldreboot"] {
        assert!(
            commands.split_whitespace().any(|w| w == command),
            "{commands}"
        );
    }
    assert!(!commands.contains("generate-docs"), "{commands}");
}

#[test]
fn test_the_readme_exit_code_table_is_the_code_table() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = readme
        .split("| code | meaning |\n|---|---|\n")
        .nth(1)
        .expect("the README has the exit-code table");
    let rows: Vec<&str> = table.lines().take_while(|l| l.starts_with('|')).collect();
    let mut want = vec!["| 0 | success, or nothing to do |".to_string()];
    want.extend(
        ExitCode::ALL
            .iter()
            .map(|c| format!("| {} | {} |", c.code(), c.description())),
    );
    assert_eq!(rows, want);
}
