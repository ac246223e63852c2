//! Helpers shared by the integration tests, so that no test file imports
//! another: running the built binary under a personality name, small trees
//! written from a list of files, and [`Host`] — a copy of a fixture tree
//! with the recording fake in place of the system calls.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kexecctl::cli::personality::Personality;
use serde_json::Value;

/// The built kexecctl binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kexecctl"))
}

/// The personalities' names, in `kexecctl --list` order, taken from the
/// code (never retyped in a test).
pub fn personalities() -> Vec<&'static str> {
    Personality::PERSONALITIES.map(Personality::name).to_vec()
}

/// A directory holding links to the binary named after each personality.
pub struct Links {
    pub dir: tempfile::TempDir,
}

impl Links {
    /// A link per personality, and `kexecctl`, in a new temp dir.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for name in personalities()
            .into_iter()
            .chain([Personality::Kexecctl.name()])
        {
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

/// What a run of the binary left: exit code, stdout, stderr.
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

/// Runs `cmd` to completion.
pub fn run(cmd: &mut Command) -> Run {
    cmd.output().expect("running kexecctl").into()
}

/// Writes `files` (path inside the tree, contents) under a new temp dir.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write_files(tmp.path(), files);
    tmp
}

/// Writes `files` (path inside the tree, contents) under `dir`.
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
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
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

    /// One of `items`, uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// One of the characters of `chars`, uniformly.
    pub fn pick_char(&mut self, chars: &str) -> char {
        let chars: Vec<char> = chars.chars().collect();
        self.pick(&chars)
    }
}

// ---------------------------------------------------------------------------
// Fixture trees: a copied tree, run with the recording fake

/// The root file system's UUID in the Debian 12 example's grub.cfg.
pub const UUID: &str = "7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d";

/// The directory of this package's sources.
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the tree `from` to `to`, symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The modification time of every file of a fixture copy (2023-11-14), so
/// that outputs depending on mtimes (kdump's rebuild decision) are the same
/// on every run; a fixture's `mtimes` file sets exceptions.
pub const FIXTURE_TIME: i64 = 1_700_000_000;

/// The fixture trees: `tests/fixtures/<name>/root`.
pub fn fixtures_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures")
}

/// A copy of a fixture tree (`root/` in a temp dir), to be changed by one
/// test and run with the recording fake in place of the system calls.
pub struct Host {
    pub dir: tempfile::TempDir,
    links: Links,
    /// Directory with fake `systemctl` etc., first in PATH.
    bin: PathBuf,
}

impl Host {
    /// A copy of `tests/fixtures/<name>/root`, every file dated
    /// [`FIXTURE_TIME`] except as the fixture's `mtimes` file says (lines
    /// `PATH SECONDS`, seconds relative to [`FIXTURE_TIME`]).
    pub fn fixture(name: &str) -> Self {
        let fixture = fixtures_dir().join(name);
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&fixture.join("root"), &dir.path().join("root"));
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let host = Host {
            dir,
            links: Links::new(),
            bin,
        };
        set_mtimes(&host.root(), FIXTURE_TIME);
        if let Ok(text) = fs::read_to_string(fixture.join("mtimes")) {
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (path, secs) = line
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("{name}/mtimes: `PATH SECONDS` expected: {line:?}"));
                let secs: i64 = secs
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}/mtimes: {line:?}: {e}"));
                host.set_mtime(path.trim(), FIXTURE_TIME + secs);
            }
        }
        host
    }

    /// A copy of the `debian-12` fixture (`examples/debian-12`).
    pub fn debian12() -> Self {
        Self::fixture("debian-12")
    }

    /// The tree's root directory (what `--root` gets).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The host path of `path` inside the tree.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root().join(path.trim_start_matches('/'))
    }

    /// Replaces (or creates) a file of the tree, parents included, dated
    /// [`FIXTURE_TIME`]: an edit alone never makes a kdump initrd stale
    /// (that is [`Host::age`]'s job).
    pub fn write(&self, path: &str, text: &str) -> &Self {
        let _ = fs::remove_file(self.path(path));
        self.write_bytes(path, text.as_bytes())
    }

    /// Writes bytes to a file of the tree, parents included, dated
    /// [`FIXTURE_TIME`].
    pub fn write_bytes(&self, path: &str, bytes: &[u8]) -> &Self {
        let p = self.path(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
        self.set_mtime(path, FIXTURE_TIME);
        self
    }

    /// Dates a file of the tree `secs` seconds before [`FIXTURE_TIME`].
    pub fn age(&self, path: &str, secs: i64) -> &Self {
        self.set_mtime(path, FIXTURE_TIME - secs);
        self
    }

    /// Sets the modification time of a file of the tree (seconds since
    /// the epoch).
    pub fn set_mtime(&self, path: &str, secs: i64) {
        let p = self.path(path);
        let f = fs::File::options()
            .write(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        f.set_modified(epoch(secs)).unwrap();
    }

    /// A file of the tree, as text.
    pub fn read(&self, path: &str) -> String {
        fs::read_to_string(self.path(path)).unwrap()
    }

    /// Whether `path` exists in the tree.
    pub fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }

    /// Replaces `from` (which must be there) by `to` in a file of the tree.
    pub fn edit(&self, path: &str, from: &str, to: &str) -> &Self {
        let text = self.read(path);
        assert!(text.contains(from), "{path} does not contain {from:?}");
        self.write(path, &text.replace(from, to))
    }

    /// Sets GRUB's `default` as grub-mkconfig writes it for GRUB_DEFAULT.
    pub fn grub_default(&self, value: &str) -> &Self {
        self.edit(
            "/boot/grub/grub.cfg",
            "set default=\"${saved_entry}\"",
            &format!("set default=\"{value}\""),
        )
    }

    /// Rewrites grubenv with these variables.
    pub fn grubenv(&self, vars: &[(&str, &str)]) -> &Self {
        let mut text = String::from("# GRUB Environment Block\n");
        for (k, v) in vars {
            text.push_str(&format!("{k}={v}\n"));
        }
        text.push_str(&"#".repeat(1024 - text.len()));
        self.write("/boot/grub/grubenv", &text)
    }

    /// Replaces /etc/default/kexec.
    pub fn kexec_config(&self, text: &str) -> &Self {
        self.write("/etc/default/kexec", text)
    }

    /// A fake program in PATH.
    pub fn fake_program(&self, name: &str, script: &str) -> &Self {
        let p = self.bin.join(name);
        fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// A fake program inside the tree (e.g. /sbin/runlevel).
    pub fn fake_program_in_root(&self, path: &str, script: &str) -> &Self {
        self.write(path, &format!("#!/bin/sh\n{script}\n"));
        fs::set_permissions(self.path(path), fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// Tripwires: a `systemctl` in PATH and the tree's `/sbin/runlevel`
    /// that create the returned file if they ever run.
    pub fn tripwires(&self) -> PathBuf {
        let ran = self.dir.path().join("ran");
        let touch = format!("touch {}", ran.display());
        self.fake_program("systemctl", &touch);
        self.fake_program_in_root("/sbin/runlevel", &touch);
        ran
    }

    /// A sysvinit utmp whose RUN_LVL record says runlevel 6.
    pub fn sysvinit_runlevel_6(&self) -> &Self {
        let mut utmp = vec![0u8; 384];
        utmp[0] = 1;
        utmp[4] = b'6';
        self.write_bytes("/var/run/utmp", &utmp)
    }

    /// Where the recording fake logs its calls (outside the tree).
    pub fn syscall_log(&self) -> PathBuf {
        self.dir.path().join("syscalls.jsonl")
    }

    /// The calls the recording fake saw.
    pub fn calls(&self) -> Vec<Value> {
        fs::read_to_string(self.syscall_log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The binary as `personality` with `--root TREE ARGS`, through the
    /// recording fake (its variables: src/system/fake.rs).
    pub fn cmd(&self, personality: &str, args: &[&str]) -> Command {
        let mut cmd = self.links.cmd(personality);
        cmd.env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("KEXECCTL_TEST_SYSCALLS", self.syscall_log())
            .env("KEXECCTL_TEST_KERNEL", self.root())
            .env("KEXECCTL_TEST_EXEC_IN", self.root())
            .arg("--root")
            .arg(self.root())
            .args(args);
        cmd
    }

    /// The binary with the real System (no recording fake): for what must
    /// hold on a real machine given a --root tree.
    pub fn cmd_real(&self, personality: &str, args: &[&str]) -> Command {
        let mut cmd = self.links.cmd(personality);
        cmd.env(
            "PATH",
            format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.bin.display()),
        )
        .arg("--root")
        .arg(self.root())
        .args(args);
        cmd
    }

    /// Runs [`Host::cmd`].
    pub fn run(&self, personality: &str, args: &[&str]) -> Run {
        run(&mut self.cmd(personality, args))
    }

    /// `kexecctl load --dry-run --json`, parsed; panics unless exit 0.
    pub fn plan(&self) -> Value {
        let out = self.run("kexecctl", &["load", "--dry-run", "--json"]);
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    }
}

/// `secs` seconds since the epoch.
fn epoch(secs: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.try_into().unwrap())
}

/// Dates every regular file below `dir` (symlinks are not followed).
fn set_mtimes(dir: &Path, secs: i64) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            set_mtimes(&entry.path(), secs);
        } else if kind.is_file() {
            let f = fs::File::options().write(true).open(entry.path()).unwrap();
            f.set_modified(epoch(secs)).unwrap();
        }
    }
}

/// The kernel a plan loads; panics when it loads none.
pub fn kernel_of(plan: &Value) -> &str {
    plan["load"]["kernel"]
        .as_str()
        .unwrap_or_else(|| panic!("no kernel in {plan}"))
}

// ---------------------------------------------------------------------------
// What the fixtures hold

/// The running kernel of the `rhel-9` fixture.
pub const RHEL9_VER: &str = "5.14.0-362.8.1.el9_3.x86_64";
/// /proc/cmdline of the `rhel-9` fixture.
pub const RHEL9_CMDLINE: &str = "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet";
/// /etc/machine-id of the `rhel-9` fixture.
pub const MACHINE_ID: &str = "0f3c1b2a4d5e6f708192a3b4c5d6e7f8";

/// A file of tests/corpus/redhat.
pub fn corpus(name: &str) -> String {
    fs::read_to_string(manifest_dir().join("tests/corpus/redhat").join(name)).unwrap()
}

/// A tiny bzImage (the example's fake kernel: a boot sector and a setup
/// header, nothing else).
pub fn bzimage() -> Vec<u8> {
    fs::read(manifest_dir().join("examples/debian-12/boot/vmlinuz-6.1.0-28-amd64")).unwrap()
}

/// `cmd` run through a wrapper program (`prlimit --as=…`, `setpriv …`,
/// `unshare … sh -c …`): the wrapper and its arguments, then `cmd`'s
/// program and arguments, with the environment `cmd` set (`clear_env`:
/// nothing else inherited).
pub fn wrapped(wrapper: &[&str], cmd: &Command, clear_env: bool) -> Command {
    let mut outer = Command::new(wrapper[0]);
    outer
        .args(&wrapper[1..])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if clear_env {
        outer.env_clear();
    }
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => outer.env(name, value),
            None => outer.env_remove(name),
        };
    }
    outer
}
