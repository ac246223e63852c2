//! The typed settings of `/etc/default/kexec` (and `kexec.d`), each with
//! where its value came from, so that every decision can name the line
//! that made it (`LOAD_KEXEC is "false" (/etc/default/kexec:3)`).
//!
//! Besides Debian's variables, the file carries kexecctl's own extension,
//! the kexec guard (`KEXECCTL_WATCHDOG_*`, [`GuardSettings`]): Debian's
//! script sources the file and never reads these names.

use std::path::PathBuf;

use crate::config::{self, Config, LegacySet, Origin};
use crate::error::{Error, Result};
use crate::root::Root;

/// One variable's value and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: Origin,
}

impl Setting {
    pub fn new(value: &str, origin: Origin) -> Self {
        Setting {
            value: value.to_string(),
            origin,
        }
    }
}

/// The `/etc/default/kexec` settings that decide a kexec load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexecSettings {
    pub load_kexec: Setting,
    pub kernel_image: Setting,
    pub initrd: Setting,
    pub append: Setting,
    pub use_grub_config: Setting,
    /// `KEXECCTL_WATCHDOG_TIMEOUT`: seconds the watchdog gives the new
    /// kernel to boot and confirm (empty or 0: the guard is off).
    pub watchdog_timeout: Setting,
    /// `KEXECCTL_WATCHDOG_REQUIRED`: `yes` (default) refuses a kexec the
    /// guard cannot protect, `no` warns and kexecs.
    pub watchdog_required: Setting,
    /// `KEXECCTL_WATCHDOG_DEVICE`: the device to arm (default: the first,
    /// `/dev/watchdog0`).
    pub watchdog_device: Setting,
    /// The files read, in order (empty: none exist, defaults only).
    pub files: Vec<PathBuf>,
}

/// The kexec guard's settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// `None`: the guard is off.
    pub timeout_secs: Option<u32>,
    /// Refuse the kexec (the reboot goes through the firmware) when the
    /// guard cannot protect it; otherwise warn and kexec.
    pub required: bool,
    /// The device to arm; `None`: the first watchdog.
    pub device: Option<PathBuf>,
    /// `KEXECCTL_WATCHDOG_TIMEOUT=30 (/etc/default/kexec:7)`, for messages.
    pub timeout_origin: String,
    pub required_origin: String,
}

impl GuardSettings {
    /// The guard off (no configuration).
    pub fn off() -> Self {
        GuardSettings {
            timeout_secs: None,
            required: true,
            device: None,
            timeout_origin: "default".into(),
            required_origin: "default".into(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.timeout_secs.is_some()
    }
}

/// The longest timeout accepted: a day (drivers allow far less).
const MAX_GUARD_TIMEOUT: u32 = 86_400;

impl KexecSettings {
    /// Reads `/etc/default/kexec` and `kexec.d` under the root (absent
    /// files: Debian's defaults).
    pub fn read(root: &Root) -> Result<Self> {
        let files = LegacySet::DebianKexec.files(root)?;
        let config = config::read_files(
            root,
            &files,
            false,
            Vec::new(),
            Some(LegacySet::DebianKexec),
        )?;
        Ok(Self::from_config(&config))
    }

    /// From the `kexec` legacy set (its fall-backs fill what is unset).
    pub fn from_config(config: &Config) -> Self {
        let get = |name: &str| match config.shell.var(name) {
            Some(var) => Setting::new(&var.value, var.origin.clone()),
            None => Setting::new("", Origin::Default),
        };
        KexecSettings {
            load_kexec: get("LOAD_KEXEC"),
            kernel_image: get("KERNEL_IMAGE"),
            initrd: get("INITRD"),
            append: get("APPEND"),
            use_grub_config: get("USE_GRUB_CONFIG"),
            watchdog_timeout: get("KEXECCTL_WATCHDOG_TIMEOUT"),
            watchdog_required: get("KEXECCTL_WATCHDOG_REQUIRED"),
            watchdog_device: get("KEXECCTL_WATCHDOG_DEVICE"),
            files: config.files.clone(),
        }
    }

    /// Debian's rule: only the exact string `true` enables.
    pub fn enabled(&self) -> bool {
        self.load_kexec.value == "true"
    }

    pub fn use_grub(&self) -> bool {
        self.use_grub_config.value == "true"
    }

    /// Where a setting came from, as a decision's reason names it.
    pub fn origin_of(&self, setting: &Setting) -> String {
        match &setting.origin {
            Origin::File { .. } => setting.origin.to_string(),
            Origin::Environment => "environment".into(),
            Origin::Default if self.files.is_empty() => {
                format!("default: {} is absent", LegacySet::DebianKexec.main_file())
            }
            Origin::Default => format!(
                "default: not set in {}",
                self.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// `LOAD_KEXEC is "false" (/etc/default/kexec:3)`.
    pub fn load_kexec_reason(&self) -> String {
        format!(
            "LOAD_KEXEC is {:?}, not \"true\" ({})",
            self.load_kexec.value,
            self.origin_of(&self.load_kexec)
        )
    }

    /// An error about a setting, at its file and line.
    fn invalid(&self, name: &str, setting: &Setting, why: &str) -> Error {
        let e = Error::not_configured(format!("{name}={:?}: {why}", setting.value));
        match &setting.origin {
            Origin::File { path, line } => e.at(path, *line, 1),
            _ => e,
        }
    }

    /// The kexec guard's settings, checked: a value kexecctl cannot use
    /// is an error naming its line (exit 6), so a guard the admin asked
    /// for is never silently off.
    pub fn guard(&self) -> Result<GuardSettings> {
        let named = |name: &str, s: &Setting| format!("{name}={} ({})", s.value, self.origin_of(s));
        let timeout = self.watchdog_timeout.value.trim();
        let timeout_secs = match timeout {
            "" | "0" => None,
            t => match t.parse::<u32>() {
                Ok(n) if n <= MAX_GUARD_TIMEOUT => Some(n),
                _ => {
                    return Err(self.invalid(
                        "KEXECCTL_WATCHDOG_TIMEOUT",
                        &self.watchdog_timeout,
                        "not a number of seconds from 1 to 86400 (empty or 0: the guard is off)",
                    ));
                }
            },
        };
        let required = match self.watchdog_required.value.trim() {
            "" | "yes" | "true" | "1" => true,
            "no" | "false" | "0" => false,
            _ => {
                return Err(self.invalid(
                    "KEXECCTL_WATCHDOG_REQUIRED",
                    &self.watchdog_required,
                    "must be yes (refuse a kexec the guard cannot protect) or no (warn)",
                ));
            }
        };
        let device = match self.watchdog_device.value.trim() {
            "" => None,
            d if d.starts_with("/dev/") => Some(PathBuf::from(d)),
            _ => {
                return Err(self.invalid(
                    "KEXECCTL_WATCHDOG_DEVICE",
                    &self.watchdog_device,
                    "must be a device under /dev (e.g. /dev/watchdog0)",
                ));
            }
        };
        Ok(GuardSettings {
            timeout_secs,
            required,
            device,
            timeout_origin: named("KEXECCTL_WATCHDOG_TIMEOUT", &self.watchdog_timeout),
            required_origin: named("KEXECCTL_WATCHDOG_REQUIRED", &self.watchdog_required),
        })
    }

    /// Literal settings for planner tests.
    #[cfg(test)]
    pub fn literal(load: &str, kernel: &str, initrd: &str, append: &str, grub: &str) -> Self {
        let file = |line| Origin::File {
            path: "/etc/default/kexec".into(),
            line,
        };
        KexecSettings {
            load_kexec: Setting::new(load, file(1)),
            kernel_image: Setting::new(kernel, file(2)),
            initrd: Setting::new(initrd, file(3)),
            append: Setting::new(append, file(4)),
            use_grub_config: Setting::new(grub, file(5)),
            watchdog_timeout: Setting::new("", Origin::Default),
            watchdog_required: Setting::new("", Origin::Default),
            watchdog_device: Setting::new("", Origin::Default),
            files: vec!["/etc/default/kexec".into()],
        }
    }

    /// Literal settings with the guard configured (lines 6, 7, 8).
    #[cfg(test)]
    pub fn with_guard(mut self, timeout: &str, required: &str, device: &str) -> Self {
        let file = |line| Origin::File {
            path: "/etc/default/kexec".into(),
            line,
        };
        self.watchdog_timeout = Setting::new(timeout, file(6));
        self.watchdog_required = Setting::new(required, file(7));
        self.watchdog_device = Setting::new(device, file(8));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_guard_settings() {
        let base = KexecSettings::literal("true", "/vmlinuz", "", "", "false");
        let g = base.guard().unwrap();
        assert_eq!(g.timeout_secs, None);
        assert!(g.required && !g.enabled());
        let g = base
            .clone()
            .with_guard("45", "no", "/dev/watchdog1")
            .guard()
            .unwrap();
        assert_eq!(g.timeout_secs, Some(45));
        assert!(!g.required);
        assert_eq!(
            g.device.as_deref(),
            Some(std::path::Path::new("/dev/watchdog1"))
        );
        assert_eq!(
            g.timeout_origin,
            "KEXECCTL_WATCHDOG_TIMEOUT=45 (/etc/default/kexec:6)"
        );
        assert_eq!(
            base.clone()
                .with_guard("0", "", "")
                .guard()
                .unwrap()
                .timeout_secs,
            None
        );
        for (t, r, d, line) in [
            ("30s", "", "", 6),
            ("-1", "", "", 6),
            ("100000", "", "", 6),
            ("30", "maybe", "", 7),
            ("30", "", "watchdog0", 8),
        ] {
            let e = base.clone().with_guard(t, r, d).guard().unwrap_err();
            assert_eq!(e.code, crate::error::ExitCode::NotConfigured, "{e}");
            assert_eq!(e.location.unwrap().line, Some(line));
        }
    }

    #[test]
    fn test_reasons_name_their_origin() {
        let s = KexecSettings::literal("false", "/vmlinuz", "", "", "false");
        assert_eq!(
            s.load_kexec_reason(),
            "LOAD_KEXEC is \"false\", not \"true\" (/etc/default/kexec:1)"
        );
        let tmp = tempfile::tempdir().unwrap();
        let s = KexecSettings::read(&Root::new(tmp.path())).unwrap();
        assert_eq!(
            s.load_kexec_reason(),
            "LOAD_KEXEC is \"false\", not \"true\" (default: /etc/default/kexec is absent)"
        );
        std::fs::create_dir_all(tmp.path().join("etc/default")).unwrap();
        std::fs::write(tmp.path().join("etc/default/kexec"), "APPEND=x\n").unwrap();
        let s = KexecSettings::read(&Root::new(tmp.path())).unwrap();
        assert!(
            s.load_kexec_reason()
                .ends_with("(default: not set in /etc/default/kexec)")
        );
    }
}
