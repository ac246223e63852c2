//! The real [`System`]: system calls, programs and files of the running
//! machine. The only module allowed `unsafe`: one raw `syscall(2)` for
//! `kexec_file_load`, which neither libc nor nix wraps, and the watchdog
//! ioctls (linux/watchdog.h).

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::libc;

use super::{
    Errno, KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_ON_CRASH, KEXEC_FILE_UNLOAD, Lock, Program,
    RebootJob, System,
};

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

/// How long `systemctl list-jobs` may take: it runs on the shutdown path, and
/// a hung systemctl must not hold the reboot.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Linux;

// linux/watchdog.h; nix computes each architecture's request numbers.
nix::ioctl_read!(wdioc_setoptions, b'W', 4, libc::c_int);
nix::ioctl_read!(wdioc_keepalive, b'W', 5, libc::c_int);
nix::ioctl_readwrite!(wdioc_settimeout, b'W', 6, libc::c_int);
const WDIOS_DISABLECARD: libc::c_int = 0x0001;

fn nix_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

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

/// Runs `command` and waits at most `timeout` (then kills it: ETIMEDOUT).
fn status_within(mut command: Command, timeout: Option<Duration>) -> io::Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    let mut child = command.spawn()?;
    let status = match timeout {
        None => child.wait()?,
        Some(limit) => {
            let start = Instant::now();
            loop {
                if let Some(status) = child.try_wait()? {
                    break status;
                }
                if start.elapsed() > limit {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn command_of(program: &Program) -> Command {
    let mut command = match &program.chroot {
        Some(dir) => {
            let mut c = Command::new("chroot");
            c.arg(dir).arg(&program.path);
            c
        }
        None => Command::new(&program.path),
    };
    command
        .args(&program.args)
        .envs(program.env.iter().map(|(k, v)| (k, v)));
    command
}

impl System for Linux {
    fn kexec_file_load(
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

    fn kexec_unload(&self, crash: bool) -> Result<(), Errno> {
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

    fn run(&self, program: &Program) -> io::Result<i32> {
        status_within(
            command_of(program),
            program.timeout_secs.map(Duration::from_secs),
        )
    }

    fn reboot_job(&self) -> io::Result<RebootJob> {
        let mut command = Command::new("systemctl");
        command
            .args(["list-jobs", "--no-legend", "--no-pager", "reboot.target"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn()?;
        let mut stdout = child.stdout.take().expect("piped");
        // Read in a thread so a hung systemctl is bounded by the timeout.
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        let start = Instant::now();
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if start.elapsed() > SYSTEMCTL_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "systemctl list-jobs did not answer within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = reader.join().unwrap_or_default();
        Ok(parse_reboot_job(&text))
    }

    fn replace_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.kexecctl-{}", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(contents)?;
            file.sync_all()?;
            if let Ok(meta) = fs::metadata(path) {
                // Keep the replaced file's permissions (grubenv is 0644).
                fs::set_permissions(&tmp, meta.permissions())?;
            }
            fs::rename(&tmp, path)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_in_place(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?
            .write_all(contents)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn lock(&self, path: &Path, wait: Duration) -> io::Result<Lock> {
        use nix::fcntl::{Flock, FlockArg};
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        let start = Instant::now();
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => {
                    return Ok(Lock {
                        _file: Some(locked),
                    });
                }
                Err((back, Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                    file = back;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((_, Errno::EWOULDBLOCK)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "another kexecctl command has held {} for {} s",
                            path.display(),
                            wait.as_secs()
                        ),
                    ));
                }
                Err((_, e)) => return Err(io::Error::from(e)),
            }
        }
    }

    fn watchdog_arm(&self, device: &Path, timeout_secs: u32) -> io::Result<u32> {
        // Opening starts the watchdog; closing without 'V' leaves it
        // running (the kernel says "watchdog did not stop!": intended).
        let file = OpenOptions::new().write(true).open(device)?;
        let fd = file.as_raw_fd();
        let mut timeout = libc::c_int::try_from(timeout_secs).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is open for the duration of the calls; each ioctl
        // reads or writes one c_int through a valid pointer.
        unsafe { wdioc_settimeout(fd, &mut timeout) }.map_err(nix_io)?;
        let mut ignored: libc::c_int = 0;
        // SAFETY: as above.
        unsafe { wdioc_keepalive(fd, &mut ignored) }.map_err(nix_io)?;
        drop(file);
        Ok(u32::try_from(timeout).unwrap_or(timeout_secs))
    }

    fn watchdog_disarm(&self, device: &Path) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).open(device)?;
        let mut disable = WDIOS_DISABLECARD;
        // SAFETY: `file` is open; the ioctl reads one c_int.
        let stopped = unsafe { wdioc_setoptions(file.as_raw_fd(), &mut disable) };
        // The magic close whatever the ioctl said: drivers without
        // WDIOS_DISABLECARD stop on it.
        let magic = file.write_all(b"V");
        drop(file);
        match stopped {
            // A positive value is a driver's "still enabled" (i6300esb
            // with its hardware lock set), passed through by the core.
            Ok(n) if n > 0 => Err(io::Error::other(
                "the driver could not stop it (the hardware is locked)",
            )),
            // ENOTTY/EINVAL: no such option; the magic close did it.
            Ok(_) | Err(Errno::ENOTTY) | Err(Errno::EINVAL) => magic,
            Err(e) => Err(nix_io(e)),
        }
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// `systemctl list-jobs --no-legend reboot.target` prints the job's line
/// when one is queued, nothing otherwise.
pub fn parse_reboot_job(output: &str) -> RebootJob {
    let queued = output
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some("reboot.target"));
    if queued {
        RebootJob::Queued
    } else {
        RebootJob::NotQueued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reboot_job_from_systemctl_output() {
        assert_eq!(
            parse_reboot_job("1234 reboot.target start waiting\n"),
            RebootJob::Queued
        );
        assert_eq!(
            parse_reboot_job("1234 poweroff.target start waiting\n"),
            RebootJob::NotQueued
        );
        assert_eq!(parse_reboot_job(""), RebootJob::NotQueued);
    }

    #[test]
    fn test_replace_file_is_atomic_and_keeps_mode() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/file");
        Linux.replace_file(&path, b"one").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        Linux.replace_file(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(tmp.path().join("a/b")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn test_a_program_past_its_time_is_killed() {
        let mut p = Program::new("/bin/sleep", &["30"]);
        p.timeout_secs = Some(1);
        let start = Instant::now();
        let e = Linux.run(&p).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ETIMEDOUT));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn test_the_lock_is_exclusive_and_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("run/kexecctl/lock");
        let held = Linux.lock(&path, Duration::from_secs(1)).unwrap();
        let e = Linux
            .lock(&path, Duration::from_millis(200))
            .err()
            .expect("a second lock waits, then gives up");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(held);
        assert!(Linux.lock(&path, Duration::from_millis(200)).is_ok());
    }

    #[test]
    fn test_run_reports_status_and_chroot_in_display() {
        let mut p = Program::new("/bin/sh", &["-c", "exit 3"]);
        assert_eq!(Linux.run(&p).unwrap(), 3);
        p.chroot = Some("/srv/tree".into());
        p.env.push(("A".into(), "1".into()));
        assert_eq!(p.display(), "A=1 chroot /srv/tree /bin/sh -c 'exit 3'");
    }
}
