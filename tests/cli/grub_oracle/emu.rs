//! Asking GRUB: grub-emu 2.12 runs a case and boots through a recording
//! `kexec`.
//!
//! Each case gets a directory holding its files at their GRUB paths and an
//! ext2 image of the same files, which grub-emu uses as its disk `(hd0)`:
//! GRUB reads grub.cfg, grubenv and sourced files through its own file
//! system code and `save_env` writes the image in place, as on a real
//! disk. `tests/grub-oracle/run-case` binds the oracle root's /usr, /opt
//! and /oracle into the directory and chroots into it, inside a private
//! mount and PID namespace, under a pseudo-terminal (`script`); the driver
//! presses a key when GRUB waits after an error.
//!
//! grub.cfg is a wrapper written for the oracle: it sets `grub_platform`
//! (grub-emu's is `emu`), defines `oracle_linux` and `oracle_initrd`, which
//! print their arguments and `chosen` before calling GRUB's `linux` and
//! `initrd`, sources the case's configuration (a copy in which the
//! `linux*`/`initrd*` commands are renamed to those), and sets `timeout=0`.
//! grub-emu's loader keeps only the first initrd and joins the arguments
//! with spaces; the printed arguments give the exact list. Its `kexec -la
//! KERNEL --initrd=… --command-line=…` is checked against them.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::case::{Answer, Block, Case, Config};

/// Seconds one case may take before the oracle counts it as hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("KEXECCTL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kexecctl-tests"))
}

/// Fails loudly unless the oracle can run here.
pub fn require_oracle_tools() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the GRUB oracle needs root (debootstrap, mount namespaces, chroot)"
    );
    for (tool, package) in [
        ("unshare", "util-linux"),
        ("script", "bsdutils"),
        ("mke2fs", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
        ("cc", "gcc"),
        ("nm", "binutils"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the GRUB oracle needs `{tool}` (Debian package {package})"
        );
    }
}

/// The prepared root of `suite` (bookworm or trixie; trixie has grub-emu).
pub fn oracle_root(suite: &str) -> PathBuf {
    let out = Command::new(repo().join("tests/grub-oracle/setup-root"))
        .arg(suite)
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run tests/grub-oracle/setup-root");
    assert!(
        out.status.success(),
        "tests/grub-oracle/setup-root {suite} failed: the GRUB oracle cannot run"
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub fn emu_version(root: &Path) -> String {
    fs::read_to_string(root.join("oracle/grub-emu-version"))
        .expect("no grub-emu version in the oracle root")
        .trim()
        .to_string()
}

const WRAPPER: &str = r#"# The GRUB oracle's wrapper around the case's configuration.
set grub_platform=PLATFORM
function oracle_linux {
  echo "ORACLE-LINUX-BEGIN"
  echo "ORACLE-CHOSEN:${chosen}"
  for oracle_arg in "$@"; do echo "ORACLE-ARG:${oracle_arg}"; done
  echo "ORACLE-LINUX-END"
  linux "$@"
}
function oracle_initrd {
  echo "ORACLE-INITRD-BEGIN"
  for oracle_arg in "$@"; do echo "ORACLE-ARG:${oracle_arg}"; done
  echo "ORACLE-INITRD-END"
  initrd "$@"
}
# Loaders grub-emu lacks boot a stand-in kernel, as real GRUB would boot
# something else; fwsetup reboots into the firmware settings on EFI and is
# an unknown command (status 0) elsewhere.
function oracle_other {
  echo "ORACLE-OTHER:$*"
  linux /oracle-other-loader
}
OTHER_LOADERS
function fwsetup {
  if [ "$grub_platform" != efi ]; then return 0; fi
  if [ "$1" = --is-supported ]; then return 0; fi
  oracle_other fwsetup
}
source $prefix/oracle-real.cfg
set timeout=0
"#;

/// Loaders real GRUB has and grub-emu lacks (the wrapper defines them).
const OTHER_LOADERS: &[&str] = &[
    "chainloader",
    "pxechainloader",
    "multiboot",
    "multiboot2",
    "kfreebsd",
    "knetbsd",
    "kopenbsd",
    "xnu_kernel",
    "xnu_kernel64",
    "appleloader",
    "ntldr",
    "freedos",
    "plan9",
    "truecrypt",
];

/// The kernel the wrapper's stand-in loaders boot.
const OTHER_LOADER: &str = "/oracle-other-loader";

const LINUX_COMMANDS: &[&str] = &["linux", "linux16", "linuxefi"];
const INITRD_COMMANDS: &[&str] = &["initrd", "initrd16", "initrdefi"];

/// The configuration with `linux*`/`initrd*` in command position renamed
/// to the wrapper's functions (outside quotes and comments).
pub fn rename_loaders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut command_start = true;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if let Some(q) = quote {
                if c == '\\' && q == '"' && i + 1 < chars.len() {
                    out.push(c);
                    out.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
                out.push(c);
                i += 1;
                continue;
            }
            if c == ' ' || c == '\t' {
                out.push(c);
                i += 1;
                continue;
            }
            if command_start {
                let word: String = chars[i..]
                    .iter()
                    .take_while(|c| !matches!(c, ' ' | '\t' | '\n' | ';' | '}'))
                    .collect();
                let end = i + word.chars().count();
                let delimited = chars
                    .get(end)
                    .is_none_or(|c| matches!(c, ' ' | '\t' | '\n'));
                if delimited && LINUX_COMMANDS.contains(&word.as_str()) {
                    out.push_str("oracle_linux");
                    i = end;
                    command_start = false;
                    continue;
                }
                if delimited && INITRD_COMMANDS.contains(&word.as_str()) {
                    out.push_str("oracle_initrd");
                    i = end;
                    command_start = false;
                    continue;
                }
                if delimited && matches!(word.as_str(), "then" | "else" | "do" | "!") {
                    out.push_str(&word);
                    i = end;
                    continue;
                }
            }
            match c {
                '#' if command_start => {
                    out.extend(&chars[i..]);
                    break;
                }
                ';' | '{' | '}' => command_start = true,
                '\'' | '"' => {
                    quote = Some(c);
                    command_start = false;
                }
                '\\' if i + 1 < chars.len() => {
                    out.push(c);
                    out.push(chars[i + 1]);
                    i += 2;
                    command_start = false;
                    continue;
                }
                _ => command_start = false,
            }
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Writes the case's files at their GRUB paths under `tree`.
fn write_tree(tree: &Path, config: &Config, case: &Case) {
    let put = |path: &str, bytes: &[u8]| {
        let p = tree.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    };
    let dir = case.grub_dir();
    let others: String = OTHER_LOADERS
        .iter()
        .map(|l| format!("function {l} {{ oracle_other {l} \"$@\"; }}\n"))
        .collect();
    put(
        &format!("{dir}/grub.cfg"),
        WRAPPER
            .replace("PLATFORM", &case.platform)
            .replace("OTHER_LOADERS\n", &others)
            .as_bytes(),
    );
    put(
        &format!("{dir}/oracle-real.cfg"),
        rename_loaders(&config.text).as_bytes(),
    );
    if let Some(env) = &case.grubenv {
        put(&format!("{dir}/grubenv"), &env.bytes());
    }
    for f in &case.files {
        put(f, b"");
    }
    for (path, text) in &case.extra {
        put(path, rename_loaders(text).as_bytes());
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What grub-emu printed and did.
#[derive(Debug)]
pub struct EmuRun {
    pub answer: Answer,
    /// The output, ANSI sequences removed (for messages).
    pub transcript: String,
    /// The whole case, and grub-emu's part of it.
    pub seconds: f64,
    pub emu_seconds: f64,
}

/// Removes terminal escape sequences and carriage returns.
fn plain(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                Some('[') => {
                    chars.next();
                    for n in chars.by_ref() {
                        if n.is_ascii_alphabetic() || n == '@' || n == '~' {
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Runs grub-emu on one case in `work` (a fresh directory).
pub fn run_case(root: &Path, work: &Path, config: &Config, case: &Case) -> Result<EmuRun, String> {
    let started = Instant::now();
    let tree = work.join("tree");
    let case_root = work.join("root");
    write_tree(&tree, config, case);
    write_tree(&case_root, config, case);
    fs::write(case_root.join(OTHER_LOADER.trim_start_matches('/')), b"").unwrap();
    let image = case_root.join("disk.img");
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-d"])
        .arg(&tree)
        .arg(&image)
        .arg("16M"));
    let emu_started = Instant::now();
    let script = format!(
        "unshare --mount --pid --fork --kill-child {} {} {} {}",
        repo().join("tests/grub-oracle/run-case").display(),
        root.display(),
        case_root.display(),
        case.grub_dir()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &script, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start grub-emu: {e}"))?;
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut raw = Vec::new();
    let mut answered = 0;
    let outcome = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(bytes) => raw.extend_from_slice(&bytes),
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let text = plain(&raw);
        let waits = text.matches("Press any key to continue").count();
        if waits > answered {
            answered = waits;
            let _ = stdin.write_all(b"\r");
            let _ = stdin.flush();
        }
        // The menu is drawn only when nothing booted (timeout=0 skips it).
        if text.contains("GNU GRUB  version") || text.contains("Aborted. Press any key to exit") {
            break Ok(());
        }
        if started.elapsed() > CASE_TIMEOUT {
            break Err(format!(
                "grub-emu did not finish within {}s",
                CASE_TIMEOUT.as_secs()
            ));
        }
    };
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = child.wait();
    drop(stdin);
    let _ = reader.join();
    while let Ok(bytes) = rx.try_recv() {
        raw.extend_from_slice(&bytes);
    }
    let emu_seconds = emu_started.elapsed().as_secs_f64();
    let transcript = plain(&raw);
    outcome.map_err(|e| format!("{e}\n{transcript}"))?;
    let record = fs::read(case_root.join("tmp/kexec.rec")).ok();
    let grubenv_after = case.grubenv.as_ref().map(|_| {
        let path = format!("{}/grubenv", case.grub_dir());
        let out = run(Command::new("debugfs")
            .args(["-R", &format!("cat {path}")])
            .arg(&image)
            .stderr(Stdio::null()));
        Block::of(&out.stdout)
    });
    let answer = parse_answer(&transcript, record.as_deref(), grubenv_after)
        .map_err(|e| format!("{e}\n--- grub-emu output ---\n{transcript}"))?;
    Ok(EmuRun {
        answer,
        transcript,
        seconds: started.elapsed().as_secs_f64(),
        emu_seconds,
    })
}

/// GRUB's answer from the printed arguments and the kexec record.
fn parse_answer(
    transcript: &str,
    record: Option<&[u8]>,
    grubenv_after: Option<Block>,
) -> Result<Answer, String> {
    let mut linux: Option<(String, Vec<String>)> = None;
    let mut initrds = Vec::new();
    let mut block: Option<(bool, Vec<String>)> = None;
    let mut chosen = String::new();
    for line in transcript.lines() {
        let Some(rest) = line.strip_prefix("ORACLE-") else {
            // A newline inside an argument continues it.
            if let Some((_, args)) = &mut block {
                if let Some(last) = args.last_mut() {
                    last.push('\n');
                    last.push_str(line);
                }
            }
            continue;
        };
        match rest {
            "LINUX-BEGIN" => block = Some((true, Vec::new())),
            "INITRD-BEGIN" => block = Some((false, Vec::new())),
            "LINUX-END" => {
                if let Some((true, args)) = block.take() {
                    linux = Some((chosen.clone(), args));
                    initrds.clear();
                }
            }
            "INITRD-END" => {
                if let Some((false, args)) = block.take() {
                    initrds = args;
                }
            }
            _ => {
                if let Some(c) = rest.strip_prefix("CHOSEN:") {
                    chosen = c.to_string();
                } else if let Some(a) = rest.strip_prefix("ARG:") {
                    if let Some((_, args)) = &mut block {
                        args.push(a.to_string());
                    }
                }
            }
        }
    }
    let Some(record) = record else {
        return Ok(Answer {
            linux: false,
            argv: Vec::new(),
            initrds: Vec::new(),
            chosen: String::new(),
            grubenv_after,
        });
    };
    let kexec: Vec<String> = record
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if kexec.get(1).map(String::as_str) == Some(OTHER_LOADER) {
        // GRUB boots something other than Linux.
        return Ok(Answer {
            linux: false,
            argv: Vec::new(),
            initrds: Vec::new(),
            chosen: String::new(),
            grubenv_after,
        });
    }
    let Some((chosen, argv)) = linux else {
        return Err(format!(
            "grub-emu ran kexec {kexec:?} but the wrapper printed no linux arguments \
             (a linux command the oracle did not rename?)"
        ));
    };
    // Check the printed arguments against what grub-emu's loader did.
    let mut expected = vec!["-la".to_string(), argv[0].clone()];
    if let Some(first) = initrds.first() {
        expected.push(format!("--initrd={first}"));
    }
    if argv.len() > 1 {
        expected.push(format!("--command-line={}", argv[1..].join(" ")));
    }
    if kexec != expected {
        return Err(format!(
            "grub-emu ran kexec {kexec:?}, the printed arguments say {expected:?}"
        ));
    }
    Ok(Answer {
        linux: true,
        argv,
        initrds,
        chosen,
        grubenv_after,
    })
}

/// Runs cases on `workers` threads; `done` sees each result as it comes.
pub fn run_cases(
    root: &Path,
    configs: &[Config],
    cases: &[Case],
    workers: usize,
    mut done: impl FnMut(usize, Result<EmuRun, String>),
) {
    let base = tempfile::tempdir_in(cache_dir()).unwrap();
    let (tx, rx) = mpsc::channel();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|s| {
        for w in 0..workers {
            let tx = tx.clone();
            let next = next.clone();
            let base = base.path().to_path_buf();
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(case) = cases.get(i) else { break };
                    let work = base.join(format!("w{w}-{i}"));
                    fs::create_dir_all(&work).unwrap();
                    let result = run_case(root, &work, &configs[case.config], case);
                    let _ = fs::remove_dir_all(&work);
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            done(i, result);
        }
    });
}

/// `grub-editenv` of a root, run on a copy of `block` with `args`.
pub fn grub_editenv(root: &Path, block: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir_in(cache_dir()).unwrap();
    let file = dir.path().join("grubenv");
    fs::write(&file, block).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--fork", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$2/mnt" && shift 2 && exec chroot "$0" grub-editenv /mnt/grubenv "$@""#)
        .arg(root)
        .arg(dir.path())
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(fs::read(&file).unwrap())
}
