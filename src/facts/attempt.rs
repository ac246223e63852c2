//! kexecctl's persistent memory of guarded kexec attempts: the last
//! attempt (`/var/lib/kexecctl/attempt.json`, written at load time while
//! the file systems are writable) and the quarantined kernels
//! (`quarantine.json`). The kernel a guarded kexec boots carries the
//! attempt's id on its command line (`kexecctl.attempt=ID`), which is how
//! a boot tells whether it is that attempt or came up through the
//! firmware.
//!
//! Both files live on the root file system (not /run): they must outlive
//! a firmware reset.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::root::Root;

pub const ATTEMPT_RECORD: &str = "/var/lib/kexecctl/attempt.json";
pub const QUARANTINE: &str = "/var/lib/kexecctl/quarantine.json";
/// The kernel command-line parameter carrying the attempt id.
pub const ATTEMPT_PARAMETER: &str = "kexecctl.attempt";
/// A fresh random UUID on every read.
pub const RANDOM_UUID: &str = "/proc/sys/kernel/random/uuid";

/// Which file a kernel is: the path the attempt resolved to, its size and
/// modification time. A kernel package that replaces the file, or a
/// configuration that names another one, makes it another kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelId {
    pub path: PathBuf,
    pub size: u64,
    pub mtime: i64,
}

impl KernelId {
    /// Looks at `kernel` (a path inside the root, symlinks resolved in it).
    pub fn stat(root: &Root, kernel: &Path) -> Option<KernelId> {
        let resolved = root.resolve(kernel).ok()?;
        let meta = fs::metadata(&resolved.host).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs() as i64;
        Some(KernelId {
            path: resolved.inside,
            size: meta.len(),
            mtime,
        })
    }
}

/// The watchdog the exec step arms for an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArmedGuard {
    pub device: PathBuf,
    pub timeout_sec: u32,
    /// The driver, for messages (`i6300esb`).
    pub driver: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptState {
    /// Loaded; the new boot has not confirmed it (yet).
    Pending,
    /// The new boot came up and confirmed it.
    Confirmed,
    /// A later boot came up through the firmware without it ever
    /// confirming: the kexec (or the new kernel) failed.
    Failed,
    /// Failed, and the admin cleared the quarantine.
    Cleared,
}

/// One guarded kexec attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: String,
    pub state: AttemptState,
    pub kernel: PathBuf,
    pub kernel_id: Option<KernelId>,
    pub initrds: Vec<PathBuf>,
    /// The command line the new kernel gets (with `kexecctl.attempt=ID`).
    pub cmdline: String,
    pub entry: Option<String>,
    /// Seconds since the epoch, when it was loaded.
    pub loaded_at: i64,
    /// The boot that loaded it.
    pub from_boot_id: Option<String>,
    pub from_release: Option<String>,
    /// What the exec step arms; `None`: the kexec is not guarded (the
    /// guard was not ready and KEXECCTL_WATCHDOG_REQUIRED=no).
    pub guard: Option<ArmedGuard>,
    /// When and in which boot it was confirmed, or found failed.
    pub settled_at: Option<i64>,
    pub settled_boot_id: Option<String>,
    /// Failed: whether the watchdog reset the machine (its boot status),
    /// when the driver can tell.
    pub watchdog_reset: Option<bool>,
}

/// A kernel the next reboots do not kexec into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub kernel: PathBuf,
    pub kernel_id: Option<KernelId>,
    pub attempt_id: String,
    /// Seconds since the epoch: when the failure was found.
    pub since: i64,
    pub reason: String,
}

impl Quarantined {
    /// Whether `id` is this quarantined kernel (the same file, unchanged).
    pub fn matches(&self, id: Option<&KernelId>) -> bool {
        match (&self.kernel_id, id) {
            (Some(q), Some(k)) => q == k,
            // Unknown identity: the same path is the same kernel.
            (None, Some(k)) => self.kernel == k.path,
            _ => false,
        }
    }
}

/// What the attempt files and this boot's command line say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFacts {
    pub record: Option<Attempt>,
    pub quarantine: Vec<Quarantined>,
    /// `kexecctl.attempt=` of the running kernel's command line.
    pub this_boot: Option<String>,
    /// Seconds since the epoch, now.
    pub now: i64,
    /// A fresh id for a new attempt.
    pub fresh_id: String,
    /// The attempt file exists but cannot be read as one.
    pub unreadable: Option<String>,
}

fn read_json<T: for<'de> Deserialize<'de>>(root: &Root, path: &str) -> Result<Option<T>, String> {
    match fs::read(root.host(path)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{path}: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// The attempt id on a command line.
pub fn attempt_on_cmdline(cmdline: &str) -> Option<String> {
    super::watchdog::cmdline_parameter(cmdline, ATTEMPT_PARAMETER).map(str::to_string)
}

/// `cmdline` without any `kexecctl.attempt=` word, then with `id`'s.
pub fn with_attempt(cmdline: &str, id: &str) -> String {
    let prefix = format!("{ATTEMPT_PARAMETER}=");
    let mut words: Vec<&str> = cmdline
        .split(' ')
        .filter(|w| !w.starts_with(&prefix))
        .collect();
    while words.last() == Some(&"") {
        words.pop();
    }
    let kept = words.join(" ");
    if kept.is_empty() {
        format!("{prefix}{id}")
    } else {
        format!("{kept} {prefix}{id}")
    }
}

impl AttemptFacts {
    pub fn read(root: &Root, cmdline: &str) -> Self {
        let (record, unreadable) = match read_json::<Attempt>(root, ATTEMPT_RECORD) {
            Ok(r) => (r, None),
            Err(e) => (None, Some(e)),
        };
        let quarantine = read_json::<Vec<Quarantined>>(root, QUARANTINE)
            .ok()
            .flatten()
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        // 16 hex digits of the kernel's random UUID; the clock when there
        // is no procfs (a tree given with --root).
        let fresh_id = fs::read_to_string(root.host(RANDOM_UUID))
            .ok()
            .map(|u| {
                u.trim()
                    .replace('-', "")
                    .chars()
                    .take(16)
                    .collect::<String>()
            })
            .filter(|u| u.len() == 16)
            .unwrap_or_else(|| format!("{now:016x}"));
        AttemptFacts {
            record,
            quarantine,
            this_boot: attempt_on_cmdline(cmdline),
            now,
            fresh_id,
            unreadable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_attempt_parameter() {
        assert_eq!(
            with_attempt("ro quiet kexecctl.attempt=old", "abc"),
            "ro quiet kexecctl.attempt=abc"
        );
        assert_eq!(with_attempt("", "abc"), "kexecctl.attempt=abc");
        assert_eq!(
            with_attempt("a  \"b c\" ", "x"),
            "a  \"b c\" kexecctl.attempt=x"
        );
        assert_eq!(
            attempt_on_cmdline("ro kexecctl.attempt=0123 quiet").as_deref(),
            Some("0123")
        );
        assert_eq!(attempt_on_cmdline("ro"), None);
    }

    #[test]
    fn test_reads_records_and_kernel_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        fs::create_dir_all(tmp.path().join("boot")).unwrap();
        fs::write(tmp.path().join("boot/vmlinuz-1"), b"kernel").unwrap();
        std::os::unix::fs::symlink("boot/vmlinuz-1", tmp.path().join("vmlinuz")).unwrap();
        let id = KernelId::stat(&root, Path::new("/vmlinuz")).unwrap();
        assert_eq!(id.path, PathBuf::from("/boot/vmlinuz-1"));
        assert_eq!(id.size, 6);
        let q = Quarantined {
            kernel: "/vmlinuz".into(),
            kernel_id: Some(id.clone()),
            attempt_id: "a".into(),
            since: 1,
            reason: "r".into(),
        };
        assert!(q.matches(Some(&id)));
        let mut other = id.clone();
        other.size = 7;
        assert!(!q.matches(Some(&other)));
        let facts = AttemptFacts::read(&root, "ro kexecctl.attempt=feed");
        assert_eq!(facts.this_boot.as_deref(), Some("feed"));
        assert_eq!(facts.record, None);
        assert_eq!(facts.fresh_id.len(), 16);
        fs::create_dir_all(tmp.path().join("var/lib/kexecctl")).unwrap();
        fs::write(tmp.path().join("var/lib/kexecctl/attempt.json"), "{").unwrap();
        let facts = AttemptFacts::read(&root, "");
        assert!(facts.unreadable.unwrap().starts_with(ATTEMPT_RECORD));
    }
}
