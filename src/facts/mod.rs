//! What the running system says, read once into plain data: the kernel's
//! command line and release, the machine id, the kexec and crash state,
//! the init system, kexecctl's own markers and load record, the hardware
//! watchdogs and systemd's use of them ([`watchdog`], [`systemd`]), and the
//! guarded kexec attempts ([`attempt`]). Planners take
//! these values and nothing else from the system, so they are pure
//! functions that tests feed with literals.
//!
//! Reading is cheap (a dozen small files under /proc, /sys and /run); what
//! costs more is read where a command needs it: the boot loader's default
//! entry ([`crate::boot`]), the reboot gate ([`init::reboot_intent`], which
//! may ask systemd), and file tables for planners ([`files::FileTable`]).

pub mod attempt;
pub mod files;
pub mod init;
pub mod kdump;
pub mod kexec;
pub mod running;
pub mod systemd;
pub mod watchdog;

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::{IoResultExt, Result};
use crate::root::Root;
pub use attempt::AttemptFacts;
pub use init::InitSystem;
pub use kexec::KexecState;
pub use running::BootImage;
pub use watchdog::WatchdogFacts;

pub const PROC_CMDLINE: &str = "/proc/cmdline";
/// The running kernel's release, as `uname -r` prints it.
pub const OSRELEASE_PATH: &str = "/proc/sys/kernel/osrelease";
pub const MACHINE_ID_PATH: &str = "/etc/machine-id";
pub const CPUINFO_PATH: &str = "/proc/cpuinfo";
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// One-shot "next reboot goes through firmware" marker written by
/// `coldreboot`. Under /run (tmpfs), so it cannot outlive the boot it was
/// meant for, unlike Debian's `/no-kexec-reboot`.
pub const COLD_MARKER: &str = "/run/kexecctl/cold-reboot";
/// Debian's marker, still honoured (and consumed) for compatibility.
pub const LEGACY_COLD_MARKER: &str = "/no-kexec-reboot";
/// Left by `fastreboot` on sysvinit: the exec step kexecs even when
/// LOAD_KEXEC is not `true` (the admin asked for this one kexec reboot).
pub const KEXEC_REQUESTED: &str = "/run/kexecctl/kexec-requested";
/// What kexecctl loaded for the next reboot, for `status`.
pub const LOADED_RECORD: &str = "/run/kexecctl/loaded.json";

/// What kexecctl recorded about the kernel it loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedRecord {
    pub kernel: PathBuf,
    pub initrds: Vec<PathBuf>,
    pub cmdline: String,
    /// The boot entry's `>` path, when the kernel came from GRUB or BLS.
    pub entry: Option<String>,
    /// `kexec_file_load`, or the kexec-tools program it was handed to.
    pub method: String,
}

/// The cold-reboot markers and the one-shot kexec request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    /// The first cold-reboot marker present, if any.
    pub cold: Option<&'static str>,
    pub kexec_requested: bool,
}

impl Markers {
    pub fn read(root: &Root) -> Self {
        Markers {
            cold: [COLD_MARKER, LEGACY_COLD_MARKER]
                .into_iter()
                .find(|m| root.host(m).exists()),
            kexec_requested: root.host(KEXEC_REQUESTED).exists(),
        }
    }
}

/// The facts every command starts from.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The running kernel's architecture (`std::env::consts::ARCH` names).
    pub arch: &'static str,
    /// `/proc/cmdline` without its newline (an error when unreadable: a
    /// planner that needs it says why).
    pub cmdline: Result<String>,
    pub release: Result<String>,
    pub machine_id: Option<String>,
    pub boot_id: Option<String>,
    /// The `apicid` of processor 0, as kdumpctl's awk reads it from
    /// /proc/cpuinfo (x86 has one; for `disable_cpu_apicid`).
    pub boot_cpu_apicid: Option<String>,
    pub kexec: KexecState,
    pub init: InitSystem,
    pub markers: Markers,
    pub record: Option<LoadedRecord>,
    /// Whether the root is the running system (see [`Ctx::live`]).
    pub live: bool,
    pub watchdog: WatchdogFacts,
    pub attempts: AttemptFacts,
    /// Who loaded the running kernel, from the x86 boot protocol's
    /// `type_of_loader` (`/sys/kernel/boot_params/data`, byte 0x210): kexec
    /// (both `kexec_file_load` and kexec-tools) writes 0xD0, a boot loader
    /// its own id. `None` where the kernel does not say (other
    /// architectures).
    pub loader_type: Option<u8>,
}

/// The x86 boot protocol's id of kexec as a loader (`0xD` in the high
/// nibble; Documentation/arch/x86/boot.rst).
pub const LOADER_TYPE_KEXEC: u8 = 0xD;

/// The running kernel's boot parameters (x86).
pub const BOOT_PARAMS_PATH: &str = "/sys/kernel/boot_params/data";

fn read_trimmed(root: &Root, path: &str) -> Result<String> {
    let text = fs::read_to_string(root.host(path)).at_path(Path::new(path))?;
    Ok(text.trim_end_matches('\n').to_string())
}

impl Facts {
    pub fn read(ctx: &Ctx) -> Self {
        let root = &ctx.root;
        let optional = |path: &str| {
            read_trimmed(root, path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let cmdline = read_trimmed(root, PROC_CMDLINE);
        let words = cmdline.as_deref().unwrap_or("");
        Facts {
            arch: std::env::consts::ARCH,
            watchdog: WatchdogFacts::read(root, words),
            attempts: AttemptFacts::read(root, words),
            cmdline,
            release: read_trimmed(root, OSRELEASE_PATH).map(|s| s.trim().to_string()),
            machine_id: optional(MACHINE_ID_PATH),
            boot_id: optional(BOOT_ID_PATH),
            boot_cpu_apicid: fs::read_to_string(root.host(CPUINFO_PATH))
                .ok()
                .and_then(|c| crate::kdump::boot_cpu_apicid(&c)),
            kexec: KexecState::read(root),
            init: InitSystem::read(root),
            markers: Markers::read(root),
            record: read_record(root),
            live: ctx.live,
            loader_type: fs::read(root.host(BOOT_PARAMS_PATH))
                .ok()
                .and_then(|data| data.get(0x210).copied()),
        }
    }

    /// Whether the running kernel was booted by kexec, as far as the kernel
    /// tells (x86); `None` when it does not say.
    pub fn booted_by_kexec(&self) -> Option<bool> {
        self.loader_type.map(|t| t >> 4 == LOADER_TYPE_KEXEC)
    }

    /// The running kernel's `BOOT_IMAGE=`, if its command line has one.
    pub fn boot_image(&self) -> Option<BootImage> {
        self.cmdline.as_deref().ok().and_then(running::boot_image)
    }

    /// The release, or the error naming the file that could not be read
    /// and what it was needed for.
    pub fn release_for(&self, why: &str) -> Result<&str> {
        self.release
            .as_deref()
            .map_err(|e| e.clone().with_message(|m| format!("{m} (needed {why})")))
    }

    /// The running command line, or the error saying what needed it.
    pub fn cmdline_for(&self, why: &str) -> Result<&str> {
        self.cmdline
            .as_deref()
            .map_err(|e| e.clone().with_message(|m| format!("{m} (needed {why})")))
    }
}

pub fn read_record(root: &Root) -> Option<LoadedRecord> {
    let text = fs::read(root.host(LOADED_RECORD)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Reads the kernel release under the root, for `$(uname -r)` in config
/// files (before the other facts are needed).
pub fn kernel_release(root: &Root) -> Result<String> {
    read_trimmed(root, OSRELEASE_PATH).map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_facts_from_a_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let w = |p: &str, c: &str| {
            let p = tmp.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, c).unwrap();
        };
        w(PROC_CMDLINE, "BOOT_IMAGE=/boot/vmlinuz-6.1 ro\n");
        w(OSRELEASE_PATH, "6.1\n");
        w(COLD_MARKER, "");
        let ctx = Ctx::new(Root::new(tmp.path()), false, false);
        let facts = Facts::read(&ctx);
        assert_eq!(
            facts.cmdline.as_deref().unwrap(),
            "BOOT_IMAGE=/boot/vmlinuz-6.1 ro"
        );
        assert_eq!(facts.release_for("x").unwrap(), "6.1");
        assert_eq!(facts.boot_image().unwrap().path, "/boot/vmlinuz-6.1");
        assert_eq!(facts.markers.cold, Some(COLD_MARKER));
        assert_eq!(facts.machine_id, None);
        fs::remove_file(tmp.path().join("proc/cmdline")).unwrap();
        let facts = Facts::read(&ctx);
        let e = facts.cmdline_for("because APPEND is empty").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/proc/cmdline: no such file or directory (needed because APPEND is empty)"
        );
    }
}
