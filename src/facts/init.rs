//! Which init system runs the machine and whether it is going down for a
//! reboot — Debian's gate: kexec-load never loads a kernel on poweroff or
//! halt.
//!
//! systemd: the directory `/run/systemd/system` exists, and a job for
//! `reboot.target` is queued (asked through [`System::reboot_job`], only
//! when the root is the running system). sysvinit: the runlevel record of
//! utmp says 6 — read from the file, as `runlevel` reads it, instead of
//! running the tree's `runlevel` on the host. The version of systemd (from
//! its shared library's name) tells whether it kexecs on its own when a
//! kernel is loaded (255 and later).

use std::fs;

use serde::Serialize;

use crate::root::Root;
use crate::system::{RebootJob, System};

/// The utmp file `runlevel` reads (glibc's _PATH_UTMP).
pub const UTMP_PATH: &str = "/var/run/utmp";
/// Debian's script consults the runlevel only where this program exists.
pub const RUNLEVEL_PATH: &str = "/sbin/runlevel";
/// Present while systemd is PID 1.
pub const SYSTEMD_RUNNING_PATH: &str = "/run/systemd/system";
/// Where Debian keeps systemd's shared library, whose name has the version.
const SYSTEMD_LIB_DIRS: &[&str] = &[
    "/usr/lib/systemd",
    "/usr/lib/x86_64-linux-gnu/systemd",
    "/usr/lib/aarch64-linux-gnu/systemd",
    "/usr/lib/powerpc64le-linux-gnu/systemd",
    "/usr/lib/s390x-linux-gnu/systemd",
    "/usr/lib64/systemd",
];

/// systemd 255 and later turn `systemctl reboot` into a kexec when a
/// kernel is loaded (unless SYSTEMCTL_SKIP_AUTO_KEXEC=1).
pub const SYSTEMD_AUTO_KEXEC_SINCE: u32 = 255;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "init", rename_all = "snake_case")]
pub enum InitSystem {
    Systemd {
        /// From the name of libsystemd-shared; `None` when not found.
        version: Option<u32>,
    },
    Sysvinit {
        /// The current runlevel from utmp; `None` without a record.
        runlevel: Option<char>,
        /// `/sbin/runlevel` exists (Debian's gate consults it only then).
        has_runlevel_program: bool,
    },
}

impl InitSystem {
    pub fn read(root: &Root) -> Self {
        if root.host(SYSTEMD_RUNNING_PATH).is_dir() {
            return InitSystem::Systemd {
                version: systemd_version(root),
            };
        }
        InitSystem::Sysvinit {
            runlevel: fs::read(root.host(UTMP_PATH))
                .ok()
                .and_then(|b| runlevel_from_utmp(&b)),
            has_runlevel_program: root.host(RUNLEVEL_PATH).is_file(),
        }
    }

    pub fn is_systemd(&self) -> bool {
        matches!(self, InitSystem::Systemd { .. })
    }

    /// Whether `systemctl reboot` kexecs a loaded kernel by itself.
    pub fn auto_kexec(&self) -> bool {
        matches!(self, InitSystem::Systemd { version: Some(v) } if *v >= SYSTEMD_AUTO_KEXEC_SINCE)
    }
}

fn systemd_version(root: &Root) -> Option<u32> {
    SYSTEMD_LIB_DIRS.iter().find_map(|dir| {
        fs::read_dir(root.host(dir)).ok()?.find_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let rest = name.strip_prefix("libsystemd-shared-")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    })
}

/// The current runlevel from utmp's RUN_LVL record (type 1): `ut_pid`
/// holds the runlevel character in its low byte, as `runlevel` prints it.
/// Records are 384 bytes on the 64-bit ABIs glibc uses.
pub fn runlevel_from_utmp(bytes: &[u8]) -> Option<char> {
    const RECORD: usize = 384;
    const RUN_LVL: i16 = 1;
    bytes
        .chunks_exact(RECORD)
        .rev()
        .filter(|r| i16::from_le_bytes([r[0], r[1]]) == RUN_LVL)
        .filter_map(|r| {
            let pid = i32::from_le_bytes([r[4], r[5], r[6], r[7]]);
            let level = (pid & 0xff) as u8;
            level.is_ascii_graphic().then_some(level as char)
        })
        .next()
}

/// Is the system going down for a reboot? The answer of the gate, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebootIntent {
    Rebooting(String),
    NotRebooting(String),
    /// Cannot be known from here (a tree that is not the running system).
    Unknown(String),
}

/// Debian's gate, for `kexec-load stop`. `live`: the root is the running
/// system, so its systemd may be asked.
pub fn reboot_intent(init: &InitSystem, live: bool, system: &dyn System) -> RebootIntent {
    match init {
        InitSystem::Systemd { .. } if !live => RebootIntent::Unknown(
            "whether systemd is rebooting cannot be asked for a tree given with --root (the \
             host's systemd is not asked about it)"
                .into(),
        ),
        InitSystem::Systemd { .. } => match system.reboot_job() {
            Ok(RebootJob::Queued) => {
                RebootIntent::Rebooting("a reboot.target job is queued".into())
            }
            Ok(RebootJob::NotQueued) => RebootIntent::NotRebooting(
                "no reboot.target job is queued (poweroff, halt, or a manual stop)".into(),
            ),
            Err(e) => RebootIntent::NotRebooting(format!("cannot ask systemd for its jobs: {e}")),
        },
        InitSystem::Sysvinit {
            has_runlevel_program: false,
            ..
        } => RebootIntent::Rebooting(format!(
            "no {RUNLEVEL_PATH}: assumed to be a reboot, as Debian's script does"
        )),
        InitSystem::Sysvinit {
            runlevel: Some('6'),
            ..
        } => RebootIntent::Rebooting("the runlevel is 6".into()),
        InitSystem::Sysvinit { runlevel, .. } => RebootIntent::NotRebooting(format!(
            "the runlevel is {}, not 6 (not a reboot)",
            runlevel.map_or("unknown (no utmp record)".to_string(), |c| c.to_string())
        )),
    }
}

/// Whether systemd would run `name` on this system: the unit is enabled
/// (linked into a `.wants` directory) under /etc. The link is followed
/// inside the root: `systemctl enable` writes absolute links.
pub fn systemd_unit_enabled(root: &Root, name: &str) -> bool {
    const DIR: &str = "/etc/systemd/system";
    fs::read_dir(root.host(DIR))
        .map(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                let wants = e.file_name().to_string_lossy().into_owned();
                wants.ends_with(".wants") && root.host(format!("{DIR}/{wants}/{name}")).exists()
            })
        })
        .unwrap_or(false)
}

/// Whether sysv-rc would run the stop script `name` in runlevel 6.
pub fn sysv_stop_link(root: &Root, name: &str) -> bool {
    fs::read_dir(root.host("/etc/rc6.d"))
        .map(|entries| {
            entries.filter_map(|e| e.ok()).any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with('K') && n.len() > 3 && &n[3..] == name
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::fake::Recorder;

    fn utmp_record(kind: i16, pid: i32) -> Vec<u8> {
        let mut r = vec![0u8; 384];
        r[0..2].copy_from_slice(&kind.to_le_bytes());
        r[4..8].copy_from_slice(&pid.to_le_bytes());
        r
    }

    #[test]
    fn test_runlevel_from_utmp() {
        let mut utmp = utmp_record(2, 0); // BOOT_TIME
        utmp.extend(utmp_record(1, (b'5' as i32) << 8 | b'6' as i32));
        assert_eq!(runlevel_from_utmp(&utmp), Some('6'));
        assert_eq!(runlevel_from_utmp(&utmp_record(7, 42)), None);
        assert_eq!(runlevel_from_utmp(b"short"), None);
    }

    #[test]
    fn test_debian_gate() {
        let sys = Recorder::new();
        let sysv = |runlevel, has| InitSystem::Sysvinit {
            runlevel,
            has_runlevel_program: has,
        };
        assert!(matches!(
            reboot_intent(&sysv(Some('6'), true), true, &sys),
            RebootIntent::Rebooting(_)
        ));
        assert!(matches!(
            reboot_intent(&sysv(Some('0'), true), true, &sys),
            RebootIntent::NotRebooting(_)
        ));
        assert!(matches!(
            reboot_intent(&sysv(None, true), true, &sys),
            RebootIntent::NotRebooting(_)
        ));
        // Debian proceeds when there is no runlevel program at all.
        assert!(matches!(
            reboot_intent(&sysv(None, false), true, &sys),
            RebootIntent::Rebooting(_)
        ));
        let systemd = InitSystem::Systemd { version: Some(252) };
        assert!(matches!(
            reboot_intent(&systemd, true, &sys),
            RebootIntent::Rebooting(_)
        ));
        // A tree that is not the running system: its systemd is not asked.
        assert!(matches!(
            reboot_intent(&systemd, false, &sys),
            RebootIntent::Unknown(_)
        ));
        assert_eq!(sys.calls.borrow().len(), 1);
    }

    #[test]
    fn test_enabled_unit_links_resolve_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let wants = tmp
            .path()
            .join("etc/systemd/system/multi-user.target.wants");
        fs::create_dir_all(&wants).unwrap();
        let unit = "kexec-load.service";
        std::os::unix::fs::symlink(format!("/usr/lib/systemd/system/{unit}"), wants.join(unit))
            .unwrap();
        let root = Root::new(tmp.path());
        assert!(!systemd_unit_enabled(&root, unit), "a dangling link");
        let lib = tmp.path().join("usr/lib/systemd/system");
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join(unit), "").unwrap();
        assert!(systemd_unit_enabled(&root, unit));
    }

    #[test]
    fn test_auto_kexec_from_version() {
        assert!(InitSystem::Systemd { version: Some(257) }.auto_kexec());
        assert!(!InitSystem::Systemd { version: Some(252) }.auto_kexec());
        assert!(!InitSystem::Systemd { version: None }.auto_kexec());
    }
}
