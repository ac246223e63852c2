//! Everything that changes the running system goes through [`Kexec`]:
//! loading and unloading images, syncing, rebooting, running programs.
//! [`linux::Linux`] is the real thing and holds the crate's only `unsafe`;
//! [`fake::Recorder`] records the calls and injects errors for tests.

pub mod fake;
pub mod linux;

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

pub use nix::errno::Errno;

/// `kexec_file_load` flags (include/uapi/linux/kexec.h).
pub const KEXEC_FILE_UNLOAD: u64 = 0x01;
pub const KEXEC_FILE_ON_CRASH: u64 = 0x02;
pub const KEXEC_FILE_NO_INITRAMFS: u64 = 0x04;
/// The kernel logs its loader decisions (Linux 6.7+).
pub const KEXEC_FILE_DEBUG: u64 = 0x08;

pub trait Kexec {
    /// `kexec_file_load(kernel, initrd, cmdline, flags)`; the command line
    /// is passed with its trailing NUL.
    fn file_load(
        &self,
        kernel: BorrowedFd<'_>,
        initrd: Option<BorrowedFd<'_>>,
        cmdline: &CStr,
        flags: u64,
    ) -> Result<(), Errno>;

    /// Unloads the normal (or crash) image.
    fn file_unload(&self, crash: bool) -> Result<(), Errno>;

    fn sync(&self);

    /// `reboot(LINUX_REBOOT_CMD_KEXEC)`: returns only on failure.
    fn reboot_kexec(&self) -> Errno;

    /// Runs a program that changes the system (`reboot`, `/sbin/kexec`,
    /// `mkdumprd`, `systemctl kexec`); returns its exit code.
    fn run(&self, program: &Path, args: &[OsString], env: &[(&str, &str)]) -> io::Result<i32>;
}

/// The implementation the binary uses: the real one, or the recorder when
/// the test-only variable `KEXECCTL_TEST_SYSCALLS` names a log file.
pub fn from_env() -> Box<dyn Kexec> {
    match std::env::var_os(fake::LOG_VAR) {
        Some(path) => Box::new(fake::Recorder::from_env(path.into())),
        None => Box::new(linux::Linux),
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
