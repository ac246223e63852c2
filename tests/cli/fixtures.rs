//! The fixture trees on disk and what every command prints on them,
//! compared as files (the way systemd's zram-generator tests its
//! generator).
//!
//! Each directory `tests/fixtures/<name>/` holds:
//!
//! - `root/`: the tree, passed as `--root` (a copy of it; see [`Host::fixture`]);
//! - `commands`: one command line per line (`#` comments, blank lines
//!   ignored), the personality first, optionally preceded by `NAME=value`
//!   environment assignments for the recording fake (`KEXECCTL_TEST_*`,
//!   src/system/fake.rs), e.g. `kdump-setup --dry-run --json start`;
//! - `expected/<command line, spaces as _>`: for each command, its exit
//!   code, stdout, stderr and the calls the recording fake saw, byte for
//!   byte (the tree's temp path is written `$ROOT`);
//! - optionally `mtimes` (files dated other than [`FIXTURE_TIME`]) and
//!   `grub-mkconfig.conf` (input of `tests/fixtures/regenerate-grub`).
//!
//! Every command runs on a fresh copy of the tree. A missing or stale
//! expected file is a failure, never a silent pass. After a deliberate
//! change, rewrite the expected files and review the diff:
//!
//! ```sh
//! UPDATE_EXPECT=1 cargo test --test cli fixtures
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::util::{
    FIXTURE_TIME, Host, MACHINE_ID, RHEL9_CMDLINE, RHEL9_VER, UUID, fixtures_dir, personalities,
    run,
};

/// The trees the issue asks for; each must exist with its commands.
const REQUIRED: &[&str] = &[
    "debian-12",
    "debian-13",
    "rhel-7",
    "rhel-8",
    "rhel-9",
    "fedora-bls",
    "btrfs-boot",
    "separate-boot",
    "debian-kdump-tools",
];

/// One line of a `commands` file.
struct CommandLine {
    line: String,
    env: Vec<(String, String)>,
    personality: String,
    args: Vec<String>,
}

fn parse_commands(fixture: &str, text: &str) -> Vec<CommandLine> {
    let known = personalities();
    let mut commands = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = shell_words::split(line)
            .unwrap_or_else(|e| panic!("{fixture}/commands: {line:?}: {e}"));
        let mut words = words.into_iter().peekable();
        let mut env = Vec::new();
        while let Some((k, v)) = words.peek().and_then(|w| w.split_once('=')) {
            env.push((k.to_string(), v.to_string()));
            words.next();
        }
        let personality = words
            .next()
            .unwrap_or_else(|| panic!("{fixture}/commands: no command in {line:?}"));
        assert!(
            personality == "kexecctl" || known.contains(&personality.as_str()),
            "{fixture}/commands: {personality:?} is not a personality ({line:?})"
        );
        commands.push(CommandLine {
            line: line.to_string(),
            env,
            personality,
            args: words.collect(),
        });
    }
    commands
}

/// The expected file's name: the command line, each run of characters
/// other than `[A-Za-z0-9._+=,-]` written `_`.
fn file_name(line: &str) -> String {
    let mut name = String::new();
    for c in line.chars() {
        if c.is_ascii_alphanumeric() || "._+=,-".contains(c) {
            name.push(c);
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    name
}

/// One section of an expected file; a missing final newline is said.
fn section(out: &mut String, title: &str, text: &str) {
    out.push_str(&format!("--- {title}\n"));
    out.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        out.push_str("\n\\ no newline at end\n");
    }
}

/// Runs one command on a fresh copy of the fixture; what it did, as text.
fn observe(fixture: &str, command: &CommandLine) -> String {
    let host = Host::fixture(fixture);
    let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
    let mut cmd = host.cmd(&command.personality, &args);
    cmd.envs(command.env.iter().map(|(k, v)| (k, v)));
    let out = run(&mut cmd);
    let calls = fs::read_to_string(host.syscall_log()).unwrap_or_default();
    let mut text = format!("$ {}\nexit: {}\n", command.line, out.code);
    section(&mut text, "stdout", &out.stdout);
    section(&mut text, "stderr", &out.stderr);
    section(&mut text, "calls", &calls);
    let text = text.replace(&host.root().display().to_string(), "$ROOT");
    let temp = host.dir.path().display().to_string();
    assert!(
        !text.contains(&temp),
        "{fixture}: `{}` shows a temp path other than the tree's:\n{text}",
        command.line
    );
    text
}

/// The first line where `expected` and `actual` differ, for the message.
fn first_difference(expected: &str, actual: &str) -> String {
    let (mut e, mut a) = (expected.lines(), actual.lines());
    for n in 1.. {
        match (e.next(), a.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return format!(
                    "line {n}:\n  expected: {}\n  actual:   {}",
                    x.unwrap_or("(end)"),
                    y.unwrap_or("(end)")
                );
            }
        }
    }
    unreachable!()
}

/// Checks (or with `update`, rewrites) one fixture's expected files;
/// returns the failures.
fn check_fixture(name: &str, dir: &Path, update: bool) -> Vec<String> {
    let mut failures = Vec::new();
    assert!(
        dir.join("root").is_dir(),
        "tests/fixtures/{name}: no root/ directory"
    );
    let text = fs::read_to_string(dir.join("commands"))
        .unwrap_or_else(|e| panic!("tests/fixtures/{name}/commands: {e}"));
    let commands = parse_commands(name, &text);
    assert!(
        !commands.is_empty(),
        "tests/fixtures/{name}/commands is empty"
    );
    let expected_dir = dir.join("expected");
    let mut wanted = BTreeSet::new();
    for command in &commands {
        let file = file_name(&command.line);
        assert!(
            wanted.insert(file.clone()),
            "tests/fixtures/{name}/commands: two lines give the file name {file}"
        );
        let path = expected_dir.join(&file);
        let actual = observe(name, command);
        if update {
            fs::create_dir_all(&expected_dir).unwrap();
            if fs::read_to_string(&path).ok().as_deref() != Some(actual.as_str()) {
                fs::write(&path, &actual).unwrap();
                eprintln!("updated tests/fixtures/{name}/expected/{file}");
            }
            continue;
        }
        match fs::read_to_string(&path) {
            Err(_) => failures.push(format!(
                "tests/fixtures/{name}/expected/{file} is missing (`{}`)",
                command.line
            )),
            Ok(expected) if expected != actual => failures.push(format!(
                "tests/fixtures/{name}/expected/{file} differs at {}",
                first_difference(&expected, &actual)
            )),
            Ok(_) => {}
        }
    }
    // Expected files whose command is gone.
    if let Ok(entries) = fs::read_dir(&expected_dir) {
        for entry in entries {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            if wanted.contains(&file) {
                continue;
            }
            if update {
                fs::remove_file(expected_dir.join(&file)).unwrap();
                eprintln!("removed tests/fixtures/{name}/expected/{file}");
            } else {
                failures.push(format!(
                    "tests/fixtures/{name}/expected/{file} has no command in commands"
                ));
            }
        }
    }
    failures
}

#[test]
fn test_every_fixture_gives_its_expected_outputs() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    let mut names = Vec::new();
    for entry in fs::read_dir(fixtures_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for required in REQUIRED {
        assert!(
            names.iter().any(|n| n == required),
            "tests/fixtures/{required} is missing"
        );
    }
    let mut failures = Vec::new();
    for name in &names {
        failures.extend(check_fixture(name, &fixtures_dir().join(name), update));
    }
    assert!(
        failures.is_empty(),
        "{} expected file(s) do not match; after a deliberate change run \
         `UPDATE_EXPECT=1 cargo test --test cli fixtures` and review the diff:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn test_file_names_and_mtimes() {
    assert_eq!(
        file_name("KEXECCTL_TEST_REBOOT_JOB=none kexec-load --dry-run --json stop"),
        "KEXECCTL_TEST_REBOOT_JOB=none_kexec-load_--dry-run_--json_stop"
    );
    assert_eq!(
        file_name("fastreboot --append 'console=ttyS0 quiet'"),
        "fastreboot_--append_console=ttyS0_quiet_"
    );
    // Every file of a copy is dated FIXTURE_TIME, except what `mtimes` says.
    let host = Host::fixture("rhel-7");
    let mtime = |path: &str| {
        fs::metadata(host.path(path))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    assert_eq!(mtime("/boot/vmlinuz-3.10.0-1160.el7.x86_64"), FIXTURE_TIME);
    assert_eq!(
        mtime("/boot/initramfs-3.10.0-1160.el7.x86_64kdump.img"),
        FIXTURE_TIME - 86400
    );
}

#[test]
fn test_the_constants_tests_use_describe_the_fixtures() {
    let debian = Host::debian12();
    assert!(
        debian
            .read("/proc/cmdline")
            .contains(&format!("root=UUID={UUID} "))
    );
    let rhel = Host::fixture("rhel-9");
    assert_eq!(rhel.read("/proc/cmdline"), format!("{RHEL9_CMDLINE}\n"));
    assert_eq!(
        rhel.read("/proc/sys/kernel/osrelease"),
        format!("{RHEL9_VER}\n")
    );
    assert_eq!(rhel.read("/etc/machine-id"), format!("{MACHINE_ID}\n"));
}
