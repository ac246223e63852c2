//! The real system calls. The only module allowed `unsafe`: one raw
//! `syscall(2)` for `kexec_file_load`, which neither libc nor nix wraps.

#![allow(unsafe_code)]

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;
use std::process::Command;

use nix::libc;

use super::{Errno, KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_ON_CRASH, KEXEC_FILE_UNLOAD, Kexec};

/// `__NR_kexec_file_load` per architecture (our own table: libc lacks it for
/// some targets, e.g. riscv64 and s390x with glibc).
#[cfg(target_arch = "x86_64")]
const NR_KEXEC_FILE_LOAD: Option<libc::c_long> = Some(320);
#[cfg(any(
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64"
))]
const NR_KEXEC_FILE_LOAD: Option<libc::c_long> = Some(294);
#[cfg(target_arch = "powerpc64")]
const NR_KEXEC_FILE_LOAD: Option<libc::c_long> = Some(382);
#[cfg(target_arch = "s390x")]
const NR_KEXEC_FILE_LOAD: Option<libc::c_long> = Some(381);
/// 32-bit arm and others: no kexec_file_load; callers fall back to kexec-tools.
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "loongarch64",
    target_arch = "powerpc64",
    target_arch = "s390x"
)))]
const NR_KEXEC_FILE_LOAD: Option<libc::c_long> = None;

pub struct Linux;

fn kexec_file_load(
    kernel_fd: libc::c_int,
    initrd_fd: libc::c_int,
    cmdline: Option<&CStr>,
    flags: u64,
) -> Result<(), Errno> {
    let nr = NR_KEXEC_FILE_LOAD.ok_or(Errno::ENOSYS)?;
    let (len, ptr) = match cmdline {
        // The length includes the NUL: the kernel checks for it.
        Some(c) => (c.to_bytes_with_nul().len(), c.as_ptr()),
        None => (0, std::ptr::null()),
    };
    // SAFETY: the fds are valid for the call (borrowed by the caller) or -1
    // with a flag that tells the kernel to ignore them; `ptr` points to
    // `len` readable bytes ending in NUL, or is NULL with `len` 0.
    let ret = unsafe {
        libc::syscall(
            nr,
            kernel_fd as libc::c_long,
            initrd_fd as libc::c_long,
            len as libc::c_ulong,
            ptr,
            flags as libc::c_ulong,
        )
    };
    if ret == 0 { Ok(()) } else { Err(Errno::last()) }
}

impl Kexec for Linux {
    fn file_load(
        &self,
        kernel: BorrowedFd<'_>,
        initrd: Option<BorrowedFd<'_>>,
        cmdline: &CStr,
        flags: u64,
    ) -> Result<(), Errno> {
        let (initrd_fd, flags) = match initrd {
            Some(fd) => (fd.as_raw_fd(), flags),
            None => (-1, flags | KEXEC_FILE_NO_INITRAMFS),
        };
        kexec_file_load(kernel.as_raw_fd(), initrd_fd, Some(cmdline), flags)
    }

    fn file_unload(&self, crash: bool) -> Result<(), Errno> {
        let flags = KEXEC_FILE_UNLOAD | if crash { KEXEC_FILE_ON_CRASH } else { 0 };
        kexec_file_load(-1, -1, None, flags)
    }

    fn sync(&self) {
        nix::unistd::sync();
    }

    fn reboot_kexec(&self) -> Errno {
        match nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_KEXEC) {
            Err(e) => e,
            Ok(never) => match never {},
        }
    }

    fn run(&self, program: &Path, args: &[OsString], env: &[(&str, &str)]) -> io::Result<i32> {
        let status = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .status()?;
        Ok(status.code().unwrap_or(128))
    }
}
