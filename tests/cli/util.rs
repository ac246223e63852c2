//! Helpers shared by the integration tests: run the built binary under a
//! personality name, build fixture trees, compare outputs.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kexecctl"))
}

/// A directory holding links to the binary named after each personality.
pub struct Links {
    pub dir: tempfile::TempDir,
}

impl Links {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "kexecctl",
            "kexec-load",
            "coldreboot",
            "kdump-setup",
            "fastreboot",
        ] {
            symlink(binary(), dir.path().join(name)).unwrap();
        }
        Links { dir }
    }

    /// A command running the binary as `name`, with a clean environment.
    pub fn cmd(&self, name: &str) -> Command {
        command_as(self.dir.path().join(name))
    }
}

/// Runs the binary through `path` (a link to it), with an empty environment
/// so the host's variables cannot leak into configuration values.
pub fn command_as(path: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(path);
    cmd.env_clear();
    cmd
}

/// The binary under its own name.
pub fn kexecctl() -> Command {
    command_as(binary())
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn run(cmd: &mut Command) -> Run {
    cmd.output().expect("running kexecctl").into()
}

/// Writes `files` (path inside the tree, contents) under a new temp dir.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path(), files);
    tmp
}

pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
}

/// Finds a program on the host or fails the test naming what to install.
pub fn require_program(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("this test needs `{name}`: install the Debian package `{package}`");
}

/// A small deterministic PRNG (SplitMix64), so generated cases are
/// reproducible from their seed without another dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub fn pick_char(&mut self, chars: &str) -> char {
        let chars: Vec<char> = chars.chars().collect();
        self.pick(&chars)
    }
}
