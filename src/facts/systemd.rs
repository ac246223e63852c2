//! systemd's watchdog settings — `RuntimeWatchdogSec=`, `RebootWatchdogSec=`,
//! `KExecWatchdogSec=` and `WatchdogDevice=` of the `[Manager]` section —
//! read the way PID 1 reads them: the main `system.conf`, then the
//! drop-ins `system.conf.d/*.conf` of /etc, /run, /usr/local/lib and
//! /usr/lib (a name in an earlier directory hides the same name in a later
//! one; all are applied in file-name order, a later assignment winning,
//! an empty one resetting to the default), and finally
//! `systemd.watchdog_sec=` / `systemd.watchdog_device=` on the kernel
//! command line, which override the files. These files really are INI:
//! they are parsed with the `ini` crate (rust-ini).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::root::Root;

use super::watchdog::cmdline_parameter;

/// Where PID 1 looks, in order of precedence.
const CONFIG_DIRS: &[&str] = &[
    "/etc/systemd",
    "/run/systemd",
    "/usr/local/lib/systemd",
    "/usr/lib/systemd",
];

/// A watchdog timeout as systemd understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogSec {
    Off,
    /// `default`: the hardware's own timeout, unchanged.
    HardwareDefault,
    Secs(u64),
}

impl WatchdogSec {
    pub fn is_on(self) -> bool {
        self != WatchdogSec::Off
    }
}

impl std::fmt::Display for WatchdogSec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchdogSec::Off => f.write_str("off"),
            WatchdogSec::HardwareDefault => f.write_str("default"),
            WatchdogSec::Secs(s) => write!(f, "{s}s"),
        }
    }
}

/// JSON: seconds (0: off) or `"default"`.
impl Serialize for WatchdogSec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            WatchdogSec::Off => s.serialize_u64(0),
            WatchdogSec::HardwareDefault => s.serialize_str("default"),
            WatchdogSec::Secs(n) => s.serialize_u64(*n),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemdWatchdog {
    /// PID 1 pings the watchdog while the system runs.
    pub runtime_watchdog_sec: WatchdogSec,
    /// Armed by PID 1 for the `reboot` verb of the shutdown (default 10min).
    pub reboot_watchdog_sec: WatchdogSec,
    /// Armed by PID 1 for the `kexec` verb (default off).
    pub kexec_watchdog_sec: WatchdogSec,
    /// `WatchdogDevice=`; `None`: `/dev/watchdog0`.
    pub device: Option<PathBuf>,
    /// The files read, in the order applied.
    pub files: Vec<PathBuf>,
    /// Values systemd would not accept either (they are ignored, as PID 1
    /// ignores them with a warning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Default for SystemdWatchdog {
    fn default() -> Self {
        SystemdWatchdog {
            runtime_watchdog_sec: WatchdogSec::Off,
            reboot_watchdog_sec: WatchdogSec::Secs(600),
            kexec_watchdog_sec: WatchdogSec::Off,
            device: None,
            files: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// systemd's time span syntax (`30`, `30s`, `5min`, `1h 30min`), in whole
/// seconds; `None` when it is not one.
pub fn parse_timespan(text: &str) -> Option<u64> {
    const UNITS: &[(&[&str], u64)] = &[
        (&["us", "usec", "µs"], 0),
        (&["ms", "msec"], 0),
        (&["s", "sec", "second", "seconds", ""], 1),
        (&["m", "min", "minute", "minutes"], 60),
        (&["h", "hr", "hour", "hours"], 3600),
        (&["d", "day", "days"], 86_400),
        (&["w", "week", "weeks"], 604_800),
        (&["M", "month", "months"], 2_629_800),
        (&["y", "year", "years"], 31_557_600),
    ];
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_alphabetic() && c != 'µ')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (_, factor) = UNITS.iter().find(|(names, _)| names.contains(&unit))?;
        // Sub-second parts count as nothing at this resolution, but a
        // value made only of them is still a positive timeout.
        total = total.saturating_add(n.saturating_mul(*factor));
        if *factor == 0 && n > 0 && total == 0 {
            total = 1;
        }
    }
    Some(total)
}

/// `RuntimeWatchdogSec=` and friends: `off`, `default`, or a time span
/// (0 is off).
pub fn parse_watchdog_sec(text: &str) -> Option<WatchdogSec> {
    match text.trim() {
        "off" => Some(WatchdogSec::Off),
        "default" => Some(WatchdogSec::HardwareDefault),
        "infinity" => Some(WatchdogSec::HardwareDefault),
        t => Some(match parse_timespan(t)? {
            0 => WatchdogSec::Off,
            n => WatchdogSec::Secs(n),
        }),
    }
}

/// The files PID 1 reads, in the order it applies them.
pub fn config_files(root: &Root) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = CONFIG_DIRS
        .iter()
        .map(|d| Path::new(d).join("system.conf"))
        .find(|p| root.host(p).is_file())
        .into_iter()
        .collect();
    let mut dropins: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in CONFIG_DIRS {
        let dir = Path::new(dir).join("system.conf.d");
        let Ok(entries) = fs::read_dir(root.host(&dir)) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") && !dropins.contains_key(&name) {
                dropins.insert(name.clone(), dir.join(&name));
            }
        }
    }
    // A drop-in linked to /dev/null masks the name.
    files.extend(dropins.into_values().filter(|p| {
        root.host(p).is_file() && fs::metadata(root.host(p)).is_ok_and(|m| m.len() > 0)
    }));
    files
}

impl SystemdWatchdog {
    pub fn read(root: &Root, cmdline: &str) -> Self {
        let mut out = SystemdWatchdog::default();
        for file in config_files(root) {
            let Ok(text) = fs::read_to_string(root.host(&file)) else {
                continue;
            };
            out.apply(&file, &text);
            out.files.push(file);
        }
        if let Some(v) = cmdline_parameter(cmdline, "systemd.watchdog_sec") {
            // PID 1 sets the runtime and both shutdown timeouts from it.
            match parse_watchdog_sec(v) {
                Some(sec) => {
                    out.runtime_watchdog_sec = sec;
                    out.reboot_watchdog_sec = sec;
                    out.kexec_watchdog_sec = sec;
                }
                None => out.errors.push(format!(
                    "/proc/cmdline: systemd.watchdog_sec={v} is not a time span"
                )),
            }
        }
        if let Some(v) = cmdline_parameter(cmdline, "systemd.watchdog_device") {
            out.device = Some(PathBuf::from(v));
        }
        out
    }

    /// Applies one file's `[Manager]` assignments.
    pub fn apply(&mut self, file: &Path, text: &str) {
        let options = ini::ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..Default::default()
        };
        let parsed = match ini::Ini::load_from_str_opt(text, options) {
            Ok(p) => p,
            Err(e) => {
                self.errors.push(format!("{}: {e}", file.display()));
                return;
            }
        };
        let defaults = SystemdWatchdog::default();
        let assignments = parsed
            .section_all(Some("Manager"))
            .flat_map(|section| section.iter());
        for (key, value) in assignments {
            let slot = match key {
                "RuntimeWatchdogSec" => (
                    &mut self.runtime_watchdog_sec,
                    defaults.runtime_watchdog_sec,
                ),
                "RebootWatchdogSec" | "ShutdownWatchdogSec" => {
                    (&mut self.reboot_watchdog_sec, defaults.reboot_watchdog_sec)
                }
                "KExecWatchdogSec" => (&mut self.kexec_watchdog_sec, defaults.kexec_watchdog_sec),
                "WatchdogDevice" => {
                    self.device = Some(value.trim())
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from);
                    continue;
                }
                _ => continue,
            };
            if value.trim().is_empty() {
                *slot.0 = slot.1;
                continue;
            }
            match parse_watchdog_sec(value) {
                Some(sec) => *slot.0 = sec,
                None => self.errors.push(format!(
                    "{}: {key}={value} is not a time span (ignored, as systemd ignores it)",
                    file.display()
                )),
            }
        }
    }

    /// The device PID 1 uses.
    pub fn device_or_default(&self) -> PathBuf {
        self.device
            .clone()
            .unwrap_or_else(|| PathBuf::from("/dev/watchdog0"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_timespans() {
        assert_eq!(parse_timespan("30"), Some(30));
        assert_eq!(parse_timespan("30s"), Some(30));
        assert_eq!(parse_timespan("10min"), Some(600));
        assert_eq!(parse_timespan("1h 30min"), Some(5400));
        assert_eq!(parse_timespan("2min30s"), Some(150));
        assert_eq!(parse_timespan("500ms"), Some(1));
        assert_eq!(parse_timespan("5 parsecs"), None);
        assert_eq!(parse_timespan(""), None);
        assert_eq!(parse_watchdog_sec("off"), Some(WatchdogSec::Off));
        assert_eq!(parse_watchdog_sec("0"), Some(WatchdogSec::Off));
        assert_eq!(
            parse_watchdog_sec("default"),
            Some(WatchdogSec::HardwareDefault)
        );
    }

    #[test]
    fn test_files_in_systemd_order() {
        let tmp = tempfile::tempdir().unwrap();
        let w = |p: &str, c: &str| {
            let p = tmp.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, c).unwrap();
        };
        // Debian's shipped file: everything commented out.
        w(
            "/etc/systemd/system.conf",
            "[Manager]\n#RuntimeWatchdogSec=off\n#RebootWatchdogSec=10min\nKExecWatchdogSec=1min\n",
        );
        w(
            "/usr/lib/systemd/system.conf.d/10-vendor.conf",
            "[Manager]\nRuntimeWatchdogSec=20s\n",
        );
        // Same name in /etc hides the vendor's.
        w(
            "/usr/lib/systemd/system.conf.d/50-x.conf",
            "[Manager]\nRebootWatchdogSec=1s\n",
        );
        w(
            "/etc/systemd/system.conf.d/50-x.conf",
            "[Manager]\nRebootWatchdogSec=2min\n",
        );
        // Applied after 10-vendor.conf: later wins; empty resets.
        w(
            "/run/systemd/system.conf.d/60-admin.conf",
            "# comment\n[Manager]\nRuntimeWatchdogSec=45\nKExecWatchdogSec=\nWatchdogDevice=/dev/watchdog1\n[Other]\nRuntimeWatchdogSec=1\n",
        );
        w(
            "/etc/systemd/system.conf.d/70-bad.conf",
            "[Manager]\nRuntimeWatchdogSec=soon\n",
        );
        w(
            "/etc/systemd/system.conf.d/README",
            "[Manager]\nRuntimeWatchdogSec=1\n",
        );
        let root = Root::new(tmp.path());
        let files: Vec<String> = config_files(&root)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            files,
            [
                "/etc/systemd/system.conf",
                "/usr/lib/systemd/system.conf.d/10-vendor.conf",
                "/etc/systemd/system.conf.d/50-x.conf",
                "/run/systemd/system.conf.d/60-admin.conf",
                "/etc/systemd/system.conf.d/70-bad.conf",
            ]
        );
        let s = SystemdWatchdog::read(&root, "ro");
        assert_eq!(s.runtime_watchdog_sec, WatchdogSec::Secs(45));
        assert_eq!(s.reboot_watchdog_sec, WatchdogSec::Secs(120));
        assert_eq!(s.kexec_watchdog_sec, WatchdogSec::Off);
        assert_eq!(s.device_or_default(), PathBuf::from("/dev/watchdog1"));
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        // The kernel command line overrides all three.
        let s = SystemdWatchdog::read(&root, "systemd.watchdog_sec=5min");
        assert_eq!(s.kexec_watchdog_sec, WatchdogSec::Secs(300));
        assert_eq!(s.runtime_watchdog_sec, WatchdogSec::Secs(300));
        // Nothing configured: systemd's defaults.
        let s = SystemdWatchdog::read(&Root::new(tmp.path().join("none")), "");
        assert_eq!(s, SystemdWatchdog::default());
    }
}
