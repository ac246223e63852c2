//! The machine, behind one trait: everything kexecctl does that changes the
//! system or runs a program goes through [`System`] — kexec_file_load,
//! unload, sync, the kexec reboot, running `reboot`/`systemctl`/`mkdumprd`/
//! `/sbin/kexec`, asking systemd whether a reboot is queued, arming and
//! disarming a hardware watchdog, and writing markers, records, grubenv
//! and sysctls.
//!
//! `main` creates one implementation and passes it down: [`linux::Linux`]
//! (the real thing, holding the crate's only `unsafe`) or, in test builds
//! only, [`fake::Recorder`], which records every call, applies file writes to
//! the test tree and injects errors. Planners never see a `System`: they
//! describe what to do, and [`crate::act`] does it through this trait.

#[cfg(any(test, feature = "test-fake"))]
pub mod fake;
pub mod linux;

use std::ffi::{CStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use nix::errno::Errno;

/// `kexec_file_load` flags (include/uapi/linux/kexec.h).
pub const KEXEC_FILE_UNLOAD: u64 = 0x01;
pub const KEXEC_FILE_ON_CRASH: u64 = 0x02;
pub const KEXEC_FILE_NO_INITRAMFS: u64 = 0x04;
/// The kernel logs its loader decisions (Linux 6.7+).
pub const KEXEC_FILE_DEBUG: u64 = 0x08;

/// A program to run, as a plan names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Program {
    /// The program, as its own system names it (e.g. `/usr/sbin/mkdumprd`).
    pub path: PathBuf,
    #[serde(serialize_with = "lossy_strings")]
    pub args: Vec<OsString>,
    /// Extra environment for the program.
    pub env: Vec<(String, String)>,
    /// Run it chrooted into this host directory: a program of a tree given
    /// with `--root` never runs on the host as it is.
    pub chroot: Option<PathBuf>,
    /// Killed after this many seconds (programs on the shutdown path must
    /// not hold the reboot); `None`: no limit.
    pub timeout_secs: Option<u64>,
}

impl Program {
    pub fn new(path: impl Into<PathBuf>, args: &[&str]) -> Self {
        Program {
            path: path.into(),
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            chroot: None,
            timeout_secs: None,
        }
    }

    /// The command line as an admin would type it, for messages.
    pub fn display(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_words::quote(v)))
            .collect();
        if let Some(dir) = &self.chroot {
            words.push(format!("chroot {}", dir.display()));
        }
        words.push(self.path.display().to_string());
        words.extend(
            self.args
                .iter()
                .map(|a| shell_words::quote(&a.to_string_lossy()).into_owned()),
        );
        words.join(" ")
    }
}

fn lossy_strings<S: serde::Serializer>(args: &[OsString], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(args.iter().map(|a| a.to_string_lossy()))
}

/// The lock that serialises kexecctl's commands, held until dropped.
pub struct Lock {
    _file: Option<nix::fcntl::Flock<File>>,
}

impl Lock {
    /// No lock (where none could be made: a read-only /run).
    pub fn none() -> Self {
        Lock { _file: None }
    }
}

/// What the running systemd says about the coming shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootJob {
    /// A job for `reboot.target` is queued: the system is rebooting.
    Queued,
    /// No such job (poweroff, halt, `systemctl stop`, package removal).
    NotQueued,
}

pub trait System {
    /// `kexec_file_load(kernel, initrd, cmdline, flags)`; the command line
    /// is passed with its trailing NUL.
    fn kexec_file_load(
        &self,
        kernel: BorrowedFd<'_>,
        initrd: Option<BorrowedFd<'_>>,
        cmdline: &CStr,
        flags: u64,
    ) -> Result<(), Errno>;

    /// Unloads the normal (or crash) image.
    fn kexec_unload(&self, crash: bool) -> Result<(), Errno>;

    fn sync(&self);

    /// `reboot(LINUX_REBOOT_CMD_KEXEC)`: returns only on failure.
    fn reboot_kexec(&self) -> Errno;

    /// Runs a program; returns its exit status (128 + signal when killed).
    fn run(&self, program: &Program) -> io::Result<i32>;

    /// Asks the running systemd whether a reboot job is queued
    /// (`systemctl list-jobs reboot.target`).
    fn reboot_job(&self) -> io::Result<RebootJob>;

    /// Replaces `path` (a host path) atomically with `contents`: a new file
    /// in the same directory, synced, then renamed over the old one, so a
    /// crash or a full disk leaves the old file or the new one, never a
    /// truncated one. Creates missing parent directories.
    fn replace_file(&self, path: &Path, contents: &[u8]) -> io::Result<()>;

    /// Writes into an existing file in place (sysctls under /proc/sys).
    fn write_in_place(&self, path: &Path, contents: &[u8]) -> io::Result<()>;

    /// Removes a file; a missing file is not an error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Creates a directory and its parents (for a kdump initrd's place).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;

    /// Takes the exclusive lock on `path` (created if needed) that
    /// serialises the commands that change the system, waiting at most
    /// `wait` (ETIMEDOUT after that: a stuck command cannot hold a shutdown).
    fn lock(&self, path: &Path, wait: Duration) -> io::Result<Lock>;

    /// Arms the watchdog `device` (a host path) to reset the machine in
    /// `timeout_secs` unless pinged: opens it (which starts it), sets the
    /// timeout, pings once, and closes it without the magic character, so
    /// it goes on counting down. Returns the timeout the driver took
    /// (drivers round to what the hardware can do). Writes nothing to any
    /// file system: it runs after they are read-only.
    fn watchdog_arm(&self, device: &Path, timeout_secs: u32) -> io::Result<u32>;

    /// Stops the watchdog `device`: `WDIOS_DISABLECARD`, then the magic
    /// close (`V`). Fails when it cannot be stopped (nowayout, a hardware
    /// lock) or another process holds it open.
    fn watchdog_disarm(&self, device: &Path) -> io::Result<()>;

    /// The test builds' recording system stands in for a machine whose root
    /// is the tree given with `--root` (see [`crate::context::Ctx::live`]).
    fn stands_in_for_root(&self) -> bool {
        false
    }
}

/// errno names kexecctl knows, for messages and test injection.
const ERRNO_NAMES: &[(Errno, &str)] = &[
    (Errno::EPERM, "EPERM"),
    (Errno::EACCES, "EACCES"),
    (Errno::EKEYREJECTED, "EKEYREJECTED"),
    (Errno::ENOKEY, "ENOKEY"),
    (Errno::ENODATA, "ENODATA"),
    (Errno::EBADMSG, "EBADMSG"),
    (Errno::EMSGSIZE, "EMSGSIZE"),
    (Errno::ENOPKG, "ENOPKG"),
    (Errno::ENOEXEC, "ENOEXEC"),
    (Errno::EINVAL, "EINVAL"),
    (Errno::EBUSY, "EBUSY"),
    (Errno::ENOMEM, "ENOMEM"),
    (Errno::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (Errno::ETXTBSY, "ETXTBSY"),
    (Errno::ENOSYS, "ENOSYS"),
    (Errno::EFBIG, "EFBIG"),
    (Errno::EBADF, "EBADF"),
    (Errno::ENOENT, "ENOENT"),
    (Errno::EOPNOTSUPP, "EOPNOTSUPP"),
    (Errno::EIO, "EIO"),
    (Errno::ENOSPC, "ENOSPC"),
    (Errno::EROFS, "EROFS"),
];

pub fn errno_name(e: Errno) -> &'static str {
    ERRNO_NAMES
        .iter()
        .find(|(errno, _)| *errno == e)
        .map_or("errno", |(_, name)| name)
}

pub fn errno_from_name(name: &str) -> Option<Errno> {
    ERRNO_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(errno, _)| *errno)
}
