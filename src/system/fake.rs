//! A recording [`System`] for tests, compiled into test builds only (unit
//! tests, and the binary the integration tests run, through the
//! `test-fake` feature that only the self dev-dependency enables).
//!
//! Every call is kept and, when built from the environment, appended as a
//! JSON line to a log; kexec calls touch nothing; file writes are applied
//! (they go to the test's tree); errors can be injected per call. The
//! binary uses it when `KEXECCTL_TEST_SYSCALLS=LOG` is set:
//!
//! * `KEXECCTL_TEST_ERRNO=file_load=EKEYREJECTED,replace_file=ENOSPC,...`
//!   injects failures (call names as in [`Call`], snake case);
//! * `KEXECCTL_TEST_RUN_STATUS=N` is the exit status of programs run;
//! * `KEXECCTL_TEST_REBOOT_JOB=queued|none|error` answers `reboot_job`;
//! * `KEXECCTL_TEST_KERNEL=DIR` makes loads and unloads update
//!   `DIR/sys/kernel/kexec_loaded` and `kexec_crash_loaded`, as the kernel
//!   would, so a later command sees the new state;
//! * watchdog calls succeed when the device exists as a file (the test
//!   tree's `dev/watchdog0`), and fail with ENOENT otherwise;
//! * `KEXECCTL_TEST_EXEC_IN=DIR` runs a program's stand-in `DIR/PROGRAM`
//!   when the tree has one (a fake mkdumprd that writes the initrd), with
//!   `KEXECCTL_TEST_ROOT=DIR` in its environment;
//! * `KEXECCTL_TEST_LOAD_DELAY_MS=N` makes each load take N ms (signals
//!   and races can then arrive in the middle of one).
//!
//! The lock is real (a flock in the tree, not logged), so that concurrent
//! test commands serialise as real ones do.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Errno, Lock, Program, RebootJob, System, errno_from_name};

pub const LOG_VAR: &str = "KEXECCTL_TEST_SYSCALLS";
pub const ERRNO_VAR: &str = "KEXECCTL_TEST_ERRNO";
pub const RUN_STATUS_VAR: &str = "KEXECCTL_TEST_RUN_STATUS";
pub const REBOOT_JOB_VAR: &str = "KEXECCTL_TEST_REBOOT_JOB";
pub const KERNEL_VAR: &str = "KEXECCTL_TEST_KERNEL";
pub const EXEC_IN_VAR: &str = "KEXECCTL_TEST_EXEC_IN";
pub const DELAY_VAR: &str = "KEXECCTL_TEST_LOAD_DELAY_MS";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    FileLoad {
        /// What the fd refers to (`/proc/self/fd` link), or `memfd:...`.
        kernel: String,
        /// Bytes of the file behind the kernel fd (the file checked, even
        /// when the path was replaced since).
        kernel_size: Option<u64>,
        initrd: Option<String>,
        /// Bytes of the initrd, when it is an in-memory concatenation.
        initrd_size: Option<u64>,
        cmdline: String,
        flags: u64,
    },
    FileUnload {
        crash: bool,
    },
    Sync,
    RebootKexec,
    Run {
        program: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        chroot: Option<String>,
    },
    RebootJob,
    ReplaceFile {
        path: String,
        size: usize,
    },
    WriteInPlace {
        path: String,
        contents: String,
    },
    RemoveFile {
        path: String,
    },
    CreateDir {
        path: String,
    },
    WatchdogArm {
        device: String,
        timeout: u32,
    },
    WatchdogDisarm {
        device: String,
    },
}

#[derive(Default)]
pub struct Recorder {
    pub calls: RefCell<Vec<Call>>,
    /// Call name (`file_load`, `replace_file`, ...) → errno.
    pub fail: BTreeMap<String, Errno>,
    pub run_status: i32,
    pub reboot_job: Option<RebootJob>,
    log: Option<PathBuf>,
    kernel_state: Option<PathBuf>,
    exec_in: Option<PathBuf>,
    /// `KEXECCTL_TEST_LOAD_DELAY_MS`: a slow load, for signal tests.
    delay_ms: Option<u64>,
}

fn fd_target(fd: BorrowedFd<'_>) -> String {
    fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| format!("fd:{}", fd.as_raw_fd()))
}

fn fd_size(fd: BorrowedFd<'_>) -> Option<u64> {
    let file = fs::File::from(fd.try_clone_to_owned().ok()?);
    file.metadata().ok().map(|m| m.len())
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            reboot_job: Some(RebootJob::Queued),
            ..Default::default()
        }
    }

    pub fn failing(call: &str, errno: Errno) -> Self {
        let mut r = Self::new();
        r.fail.insert(call.to_string(), errno);
        r
    }

    /// The recorder the binary uses, when the environment asks for one.
    pub fn from_env() -> Option<Self> {
        let log = std::env::var_os(LOG_VAR)?;
        let mut r = Self::new();
        r.log = Some(log.into());
        if let Ok(spec) = std::env::var(ERRNO_VAR) {
            for item in spec.split(',') {
                if let Some((call, name)) = item.split_once('=') {
                    if let Some(e) = errno_from_name(name) {
                        r.fail.insert(call.to_string(), e);
                    }
                }
            }
        }
        r.run_status = std::env::var(RUN_STATUS_VAR)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        r.reboot_job = match std::env::var(REBOOT_JOB_VAR).as_deref() {
            Ok("none") => Some(RebootJob::NotQueued),
            Ok("error") => None,
            _ => Some(RebootJob::Queued),
        };
        r.kernel_state = std::env::var_os(KERNEL_VAR).map(PathBuf::from);
        r.exec_in = std::env::var_os(EXEC_IN_VAR).map(PathBuf::from);
        r.delay_ms = std::env::var(DELAY_VAR).ok().and_then(|s| s.parse().ok());
        Some(r)
    }

    fn record(&self, call: Call) {
        if let Some(log) = &self.log {
            let line = serde_json::to_string(&call).unwrap_or_default();
            if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(log) {
                let _ = writeln!(f, "{line}");
            }
        }
        self.calls.borrow_mut().push(call);
    }

    fn outcome(&self, call: &str) -> Result<(), Errno> {
        match self.fail.get(call) {
            Some(e) => Err(*e),
            None => Ok(()),
        }
    }

    fn io_outcome(&self, call: &str) -> io::Result<()> {
        self.outcome(call)
            .map_err(|e| io::Error::from_raw_os_error(e as i32))
    }

    /// Plays the kernel's part: the sysfs flag of the image changes.
    fn set_loaded(&self, crash: bool, loaded: bool) {
        if let Some(dir) = &self.kernel_state {
            let name = if crash {
                "kexec_crash_loaded"
            } else {
                "kexec_loaded"
            };
            let path = dir.join("sys/kernel").join(name);
            let _ = fs::write(path, if loaded { "1\n" } else { "0\n" });
        }
    }
}

impl System for Recorder {
    fn kexec_file_load(
        &self,
        kernel: BorrowedFd<'_>,
        initrd: Option<BorrowedFd<'_>>,
        cmdline: &CStr,
        flags: u64,
    ) -> Result<(), Errno> {
        let initrd_name = initrd.map(fd_target);
        let initrd_size = match (&initrd_name, initrd) {
            (Some(name), Some(fd)) if name.starts_with("/memfd:") => fd_size(fd),
            _ => None,
        };
        if let Some(delay) = self.delay_ms {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        self.record(Call::FileLoad {
            kernel: fd_target(kernel),
            kernel_size: fd_size(kernel),
            initrd: initrd_name,
            initrd_size,
            cmdline: cmdline.to_string_lossy().into_owned(),
            flags: if initrd.is_none() {
                flags | super::KEXEC_FILE_NO_INITRAMFS
            } else {
                flags
            },
        });
        self.outcome("file_load")?;
        self.set_loaded(flags & super::KEXEC_FILE_ON_CRASH != 0, true);
        Ok(())
    }

    fn kexec_unload(&self, crash: bool) -> Result<(), Errno> {
        self.record(Call::FileUnload { crash });
        self.outcome("file_unload")?;
        self.set_loaded(crash, false);
        Ok(())
    }

    fn sync(&self) {
        self.record(Call::Sync);
    }

    fn reboot_kexec(&self) -> Errno {
        self.record(Call::RebootKexec);
        match self.fail.get("reboot_kexec") {
            Some(e) => *e,
            // A real kexec does not return; neither does a recorded one
            // when running as the binary.
            None if self.log.is_some() => std::process::exit(0),
            None => Errno::UnknownErrno,
        }
    }

    fn run(&self, program: &Program) -> io::Result<i32> {
        self.record(Call::Run {
            program: program.path.display().to_string(),
            args: program
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: program.env.clone(),
            chroot: program.chroot.as_ref().map(|p| p.display().to_string()),
        });
        self.io_outcome("run")?;
        if let Some(tree) = &self.exec_in {
            let stand_in = tree.join(program.path.strip_prefix("/").unwrap_or(&program.path));
            let executable = fs::metadata(&stand_in).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            });
            if program.path.is_absolute() && executable {
                let mut call = program.clone();
                call.path = stand_in;
                call.chroot = None;
                call.env
                    .push(("KEXECCTL_TEST_ROOT".into(), tree.display().to_string()));
                return super::linux::Linux.run(&call);
            }
        }
        Ok(self.run_status)
    }

    fn reboot_job(&self) -> io::Result<RebootJob> {
        self.record(Call::RebootJob);
        self.reboot_job
            .clone()
            .ok_or_else(|| io::Error::other("systemctl: test failure"))
    }

    fn replace_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.record(Call::ReplaceFile {
            path: path.display().to_string(),
            size: contents.len(),
        });
        self.io_outcome("replace_file")?;
        super::linux::Linux.replace_file(path, contents)
    }

    fn write_in_place(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.record(Call::WriteInPlace {
            path: path.display().to_string(),
            contents: String::from_utf8_lossy(contents).into_owned(),
        });
        self.io_outcome("write_in_place")?;
        super::linux::Linux.write_in_place(path, contents)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.record(Call::CreateDir {
            path: path.display().to_string(),
        });
        self.io_outcome("create_dir")?;
        fs::create_dir_all(path)
    }

    fn lock(&self, path: &Path, wait: std::time::Duration) -> io::Result<Lock> {
        // Not logged: the lock orders calls, it changes nothing; the order
        // of the logged calls shows it.
        self.io_outcome("lock")?;
        super::linux::Linux.lock(path, wait)
    }

    fn watchdog_arm(&self, device: &Path, timeout_secs: u32) -> io::Result<u32> {
        self.record(Call::WatchdogArm {
            device: device.display().to_string(),
            timeout: timeout_secs,
        });
        self.io_outcome("watchdog_arm")?;
        // Like a driver, refuse a device that is not there.
        if !device.exists() {
            return Err(io::Error::from_raw_os_error(nix::libc::ENOENT));
        }
        Ok(timeout_secs)
    }

    fn watchdog_disarm(&self, device: &Path) -> io::Result<()> {
        self.record(Call::WatchdogDisarm {
            device: device.display().to_string(),
        });
        self.io_outcome("watchdog_disarm")?;
        if !device.exists() {
            return Err(io::Error::from_raw_os_error(nix::libc::ENOENT));
        }
        Ok(())
    }

    fn stands_in_for_root(&self) -> bool {
        true
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.record(Call::RemoveFile {
            path: path.display().to_string(),
        });
        self.io_outcome("remove_file")?;
        super::linux::Linux.remove_file(path)
    }
}
