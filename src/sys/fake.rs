//! A recording [`Kexec`] for tests: every call is kept (and, when built from
//! the environment, appended as a JSON line to a log file), nothing touches
//! the system, and errors can be injected per call.
//!
//! The binary uses it when `KEXECCTL_TEST_SYSCALLS=FILE` is set, so the
//! integration tests can run real applets end to end without loading
//! anything; `KEXECCTL_TEST_ERRNO=file_load=EKEYREJECTED,reboot_kexec=EINVAL`
//! injects failures, and `KEXECCTL_TEST_RUN_STATUS=N` sets the exit code of
//! programs it is asked to run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::{CStr, OsString};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Errno, Kexec, errno_from_name};

pub const LOG_VAR: &str = "KEXECCTL_TEST_SYSCALLS";
pub const ERRNO_VAR: &str = "KEXECCTL_TEST_ERRNO";
pub const RUN_STATUS_VAR: &str = "KEXECCTL_TEST_RUN_STATUS";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    FileLoad {
        /// What the fd refers to (`/proc/self/fd` link), or `memfd:...`.
        kernel: String,
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
    },
}

#[derive(Default)]
pub struct Recorder {
    pub calls: RefCell<Vec<Call>>,
    /// Call name (`file_load`, `file_unload`, `reboot_kexec`) → errno.
    pub fail: BTreeMap<String, Errno>,
    pub run_status: i32,
    log: Option<PathBuf>,
}

fn fd_target(fd: BorrowedFd<'_>) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| format!("fd:{}", fd.as_raw_fd()))
}

fn fd_size(fd: BorrowedFd<'_>) -> Option<u64> {
    let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
    file.metadata().ok().map(|m| m.len())
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn failing(call: &str, errno: Errno) -> Self {
        let mut r = Self::new();
        r.fail.insert(call.to_string(), errno);
        r
    }

    pub fn from_env(log: PathBuf) -> Self {
        let mut r = Self::new();
        r.log = Some(log);
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
        r
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
}

impl Kexec for Recorder {
    fn file_load(
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
        self.record(Call::FileLoad {
            kernel: fd_target(kernel),
            initrd: initrd_name,
            initrd_size,
            cmdline: cmdline.to_string_lossy().into_owned(),
            flags: if initrd.is_none() {
                flags | super::KEXEC_FILE_NO_INITRAMFS
            } else {
                flags
            },
        });
        self.outcome("file_load")
    }

    fn file_unload(&self, crash: bool) -> Result<(), Errno> {
        self.record(Call::FileUnload { crash });
        self.outcome("file_unload")
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

    fn run(&self, program: &Path, args: &[OsString], env: &[(&str, &str)]) -> io::Result<i32> {
        self.record(Call::Run {
            program: program.display().to_string(),
            args: args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        Ok(self.run_status)
    }
}
