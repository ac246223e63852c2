//! What the running kernel says about kexec: loaded images, the crash
//! reservation, whether loading is disabled, lockdown, Secure Boot. Read
//! from sysfs and procfs under the root; a missing file means "unknown",
//! which each caller treats conservatively.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::root::Root;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KexecState {
    /// A normal kexec image is loaded.
    pub loaded: bool,
    /// A crash (kdump) image is loaded.
    pub crash_loaded: bool,
    /// The kernel can load a crash kernel at all (its sysfs file exists).
    pub crash_supported: bool,
    /// Bytes reserved for the crash kernel (`crashkernel=`).
    pub crash_size: Option<u64>,
    /// `kexec_load_disabled`: no load or unload until the next boot.
    pub load_disabled: bool,
    /// The active lockdown mode (`none`, `integrity`, `confidentiality`).
    pub lockdown: Option<String>,
    /// UEFI Secure Boot enforced (SecureBoot=1 and SetupMode=0).
    pub secure_boot: Option<bool>,
}

/// Reads the first of `paths` that exists, trimmed.
fn read_first(root: &Root, paths: &[&str]) -> Option<String> {
    paths
        .iter()
        .find_map(|p| fs::read_to_string(root.host(p)).ok())
        .map(|s| s.trim().to_string())
}

fn efivar_byte(root: &Root, name: &str) -> Option<u8> {
    let path = format!("/sys/firmware/efi/efivars/{name}-8be4df61-93ca-11d2-aa0d-00e098032b8c");
    // 4 bytes of attributes, then the value.
    fs::read(root.host(Path::new(&path))).ok()?.get(4).copied()
}

/// Reads a 0/1 flag; Linux 6.19+ moves these under /sys/kernel/kexec/,
/// so the new name is tried first.
fn flag(root: &Root, new: &str, old: &str) -> bool {
    read_first(root, &[new, old]).as_deref() == Some("1")
}

/// Only whether a kexec image is loaded: what the reboot path needs,
/// without the other reads of [`KexecState::read`].
pub fn kexec_loaded(root: &Root) -> bool {
    flag(root, "/sys/kernel/kexec/loaded", "/sys/kernel/kexec_loaded")
}

impl KexecState {
    pub fn read(root: &Root) -> Self {
        let lockdown = read_first(root, &["/sys/kernel/security/lockdown"]).and_then(|s| {
            let start = s.find('[')?;
            let end = s[start..].find(']')?;
            Some(s[start + 1..start + end].to_string())
        });
        let secure_boot = efivar_byte(root, "SecureBoot")
            .map(|sb| sb == 1 && efivar_byte(root, "SetupMode").unwrap_or(0) == 0);
        KexecState {
            loaded: kexec_loaded(root),
            crash_loaded: flag(
                root,
                "/sys/kernel/kexec/crash_loaded",
                "/sys/kernel/kexec_crash_loaded",
            ),
            crash_supported: [
                "/sys/kernel/kexec/crash_loaded",
                "/sys/kernel/kexec_crash_loaded",
            ]
            .iter()
            .any(|p| root.host(p).exists()),
            crash_size: read_first(
                root,
                &[
                    "/sys/kernel/kexec/crash_size",
                    "/sys/kernel/kexec_crash_size",
                ],
            )
            .and_then(|s| s.parse().ok()),
            load_disabled: read_first(root, &["/proc/sys/kernel/kexec_load_disabled"]).as_deref()
                == Some("1"),
            lockdown,
            secure_boot,
        }
    }

    /// Lockdown is in force (any mode other than `none`).
    pub fn locked_down(&self) -> bool {
        self.lockdown.as_deref().is_some_and(|m| m != "none")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reads_sysfs_under_root() {
        let tmp = tempfile::tempdir().unwrap();
        let w = |p: &str, c: &[u8]| {
            let p = tmp.path().join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, c).unwrap();
        };
        w("sys/kernel/kexec_loaded", b"1\n");
        w("sys/kernel/kexec_crash_size", b"268435456\n");
        w(
            "sys/kernel/security/lockdown",
            b"none [integrity] confidentiality\n",
        );
        w(
            "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
            &[6, 0, 0, 0, 1],
        );
        let s = KexecState::read(&Root::new(tmp.path()));
        assert!(s.loaded && !s.crash_loaded && !s.load_disabled);
        assert_eq!(s.crash_size, Some(268435456));
        assert_eq!(s.lockdown.as_deref(), Some("integrity"));
        assert!(s.locked_down());
        assert_eq!(s.secure_boot, Some(true));
    }
}
