//! The hardware watchdogs as the running kernel shows them, for the kexec
//! guard: each device under `/sys/class/watchdog` (identity, driver
//! module, timeout and its limits, nowayout, state, boot status), the IPMI
//! watchdog (a plain misc device outside that class), the watchdog core's
//! parameters (`stop_on_reboot`, `handle_boot_enabled`, `open_timeout`) —
//! from sysfs, which shows what the kernel used, else from the kernel
//! command line — and systemd's watchdog settings ([`super::systemd`]).
//!
//! Nothing here opens a watchdog device: opening one starts it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::root::Root;

use super::systemd::SystemdWatchdog;

pub const SYSFS_CLASS: &str = "/sys/class/watchdog";
/// The watchdog core's parameters (the module is `watchdog`, built in or not).
pub const CORE_PARAMETERS: &str = "/sys/module/watchdog/parameters";
/// The IPMI watchdog's parameters; the driver registers `/dev/watchdog`
/// itself, outside the watchdog class.
pub const IPMI_PARAMETERS: &str = "/sys/module/ipmi_watchdog/parameters";

/// `WDIOF_CARDRESET` in `bootstatus`: the last reset was the watchdog's.
pub const WDIOF_CARDRESET: u32 = 0x0020;

/// One watchdog device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchdogDevice {
    /// `/dev/watchdog0` (`/dev/watchdog` for the IPMI watchdog).
    pub device: PathBuf,
    /// What the driver calls the hardware (`i6300ESB timer`, `iTCO_wdt`).
    pub identity: Option<String>,
    /// The driver's module (`i6300esb`, `iTCO_wdt`, `ipmi_watchdog`), or
    /// the driver's name when it has no module directory.
    pub driver: Option<String>,
    /// Seconds, as now set.
    pub timeout: Option<u32>,
    pub min_timeout: Option<u32>,
    pub max_timeout: Option<u32>,
    /// Once started it cannot be stopped (the driver's nowayout).
    pub nowayout: Option<bool>,
    /// `active` or `inactive`, as the kernel knows it.
    pub state: Option<String>,
    /// `WDIOF_*` flags of the last boot (`WDIOF_CARDRESET`: the watchdog
    /// reset the machine).
    pub bootstatus: Option<u32>,
}

impl WatchdogDevice {
    /// The last reset was this watchdog's, when the driver can tell.
    pub fn caused_last_reset(&self) -> Option<bool> {
        self.bootstatus.map(|s| s & WDIOF_CARDRESET != 0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchdogFacts {
    /// In the kernel's order: the first is `/dev/watchdog0`.
    pub devices: Vec<WatchdogDevice>,
    /// `watchdog.stop_on_reboot`: -1 (each driver decides), 0 (keep
    /// watching across reboot and kexec), 1 (stop). `None`: unknown (no
    /// watchdog core loaded, nothing on the command line).
    pub stop_on_reboot: Option<i32>,
    /// `watchdog.handle_boot_enabled`: the core pings a watchdog found
    /// running at boot until userspace opens it.
    pub handle_boot_enabled: Option<bool>,
    /// `watchdog.open_timeout`: seconds the core does so (0: forever).
    pub open_timeout: Option<u32>,
    pub systemd: SystemdWatchdog,
}

fn read(root: &Root, path: &Path) -> Option<String> {
    fs::read_to_string(root.host(path))
        .ok()
        .map(|s| s.trim().to_string())
}

fn number<T: std::str::FromStr>(root: &Root, path: &Path) -> Option<T> {
    read(root, path)?.parse().ok()
}

/// `Y`/`N` (bool parameters) or `1`/`0` (sysfs attributes).
fn flag(root: &Root, path: &Path) -> Option<bool> {
    match read(root, path)?.as_str() {
        "Y" | "y" | "1" => Some(true),
        "N" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// `0x20` (bootstatus is printed in decimal by most kernels, hex by none,
/// but be liberal).
fn flags(root: &Root, path: &Path) -> Option<u32> {
    let text = read(root, path)?;
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The last component of a symlink's target (`../../module/i6300esb`).
fn link_name(root: &Root, path: &Path) -> Option<String> {
    // The parent's links are followed inside the root, not the last one.
    let link = root.host(path.parent()?).join(path.file_name()?);
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// `name.param=value` on the kernel command line (the last one wins, as
/// the kernel parses them in order).
pub fn cmdline_parameter<'a>(cmdline: &'a str, name: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .next_back()
}

/// Drivers whose watchdog has no parent device in sysfs (i6300esb
/// registers a virtual one), known by the identity they report.
const DRIVER_OF_IDENTITY: &[(&str, &str)] = &[
    ("i6300ESB timer", "i6300esb"),
    ("iTCO_wdt", "iTCO_wdt"),
    ("Software Watchdog", "softdog"),
    ("SP5100 TCO timer", "sp5100_tco"),
];

fn device_of(root: &Root, dir: &Path, name: &str) -> WatchdogDevice {
    let attr = |a: &str| dir.join(a);
    let identity = read(root, &attr("identity"));
    let driver = link_name(root, &dir.join("device/driver/module"))
        .or_else(|| link_name(root, &dir.join("device/driver")))
        .or_else(|| {
            let id = identity.as_deref()?;
            DRIVER_OF_IDENTITY
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, d)| d.to_string())
        });
    WatchdogDevice {
        device: PathBuf::from("/dev").join(name),
        identity,
        driver,
        timeout: number(root, &attr("timeout")),
        min_timeout: number(root, &attr("min_timeout")),
        max_timeout: number(root, &attr("max_timeout")),
        nowayout: flag(root, &attr("nowayout")),
        state: read(root, &attr("state")),
        bootstatus: flags(root, &attr("bootstatus")),
    }
}

impl WatchdogFacts {
    pub fn read(root: &Root, cmdline: &str) -> Self {
        let mut names: Vec<(u32, String)> = fs::read_dir(root.host(SYSFS_CLASS))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let n = name.strip_prefix("watchdog")?.parse().ok()?;
                        Some((n, name))
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut devices: Vec<WatchdogDevice> = names
            .iter()
            .map(|(_, name)| device_of(root, &Path::new(SYSFS_CLASS).join(name), name))
            .collect();
        let ipmi = Path::new(IPMI_PARAMETERS);
        if root.host(ipmi).is_dir() {
            devices.push(WatchdogDevice {
                device: "/dev/watchdog".into(),
                identity: Some("IPMI".into()),
                driver: Some("ipmi_watchdog".into()),
                timeout: number(root, &ipmi.join("timeout")),
                min_timeout: Some(1),
                // The BMC counts in tenths of a second in 16 bits.
                max_timeout: Some(6553),
                nowayout: flag(root, &ipmi.join("nowayout")),
                state: None,
                bootstatus: None,
            });
        }
        let core = Path::new(CORE_PARAMETERS);
        let stop_on_reboot = number(root, &core.join("stop_on_reboot")).or_else(|| {
            cmdline_parameter(cmdline, "watchdog.stop_on_reboot").and_then(|v| v.parse().ok())
        });
        WatchdogFacts {
            devices,
            stop_on_reboot,
            handle_boot_enabled: flag(root, &core.join("handle_boot_enabled")),
            open_timeout: number(root, &core.join("open_timeout")),
            systemd: SystemdWatchdog::read(root, cmdline),
        }
    }

    /// The device the guard uses: the configured one, else the first.
    pub fn find(&self, wanted: Option<&Path>) -> Option<&WatchdogDevice> {
        match wanted {
            None => self.devices.first(),
            // /dev/watchdog is the first device's legacy name.
            Some(p) if p == Path::new("/dev/watchdog") => self
                .devices
                .iter()
                .find(|d| d.device == p)
                .or_else(|| self.devices.first()),
            Some(p) => self.devices.iter().find(|d| d.device == p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn test_reads_a_sysfs_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let w = |p: &str, c: &str| {
            let p = tmp.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, c).unwrap();
        };
        let dev = "/sys/devices/pci0000:00/0000:00:04.0";
        for (a, v) in [
            ("identity", "i6300ESB timer\n"),
            ("timeout", "30\n"),
            ("min_timeout", "1\n"),
            ("max_timeout", "2046\n"),
            ("nowayout", "0\n"),
            ("state", "inactive\n"),
            ("bootstatus", "32\n"),
        ] {
            w(&format!("{dev}/watchdog/watchdog0/{a}"), v);
        }
        w("/sys/module/i6300esb/parameters/nowayout", "N\n");
        w("/sys/bus/pci/drivers/i6300ESB timer/x", "");
        w("/sys/module/watchdog/parameters/stop_on_reboot", "0\n");
        w("/sys/module/watchdog/parameters/handle_boot_enabled", "Y\n");
        let t = tmp.path();
        fs::create_dir_all(t.join("sys/class/watchdog")).unwrap();
        symlink(
            "../../devices/pci0000:00/0000:00:04.0/watchdog/watchdog0",
            t.join("sys/class/watchdog/watchdog0"),
        )
        .unwrap();
        symlink(
            "../../../bus/pci/drivers/i6300ESB timer",
            t.join("sys/devices/pci0000:00/0000:00:04.0/driver"),
        )
        .unwrap();
        symlink(
            "../../../../module/i6300esb",
            t.join("sys/bus/pci/drivers/i6300ESB timer/module"),
        )
        .unwrap();
        symlink(
            "../..",
            t.join(format!("{}/watchdog/watchdog0/device", &dev[1..])),
        )
        .unwrap();
        let facts = WatchdogFacts::read(&Root::new(t), "ro watchdog.stop_on_reboot=1");
        assert_eq!(facts.devices.len(), 1);
        let d = &facts.devices[0];
        assert_eq!(d.device, PathBuf::from("/dev/watchdog0"));
        assert_eq!(d.driver.as_deref(), Some("i6300esb"));
        assert_eq!(d.identity.as_deref(), Some("i6300ESB timer"));
        assert_eq!(
            (d.timeout, d.min_timeout, d.max_timeout),
            (Some(30), Some(1), Some(2046))
        );
        assert_eq!(d.nowayout, Some(false));
        assert_eq!(d.caused_last_reset(), Some(true));
        // sysfs says what the kernel used; the command line only fills in.
        assert_eq!(facts.stop_on_reboot, Some(0));
        assert_eq!(facts.handle_boot_enabled, Some(true));
        assert_eq!(facts.find(Some(Path::new("/dev/watchdog"))), Some(d));
        assert_eq!(facts.find(Some(Path::new("/dev/watchdog1"))), None);
        // A virtual class device (no parent): known by its identity.
        fs::remove_file(t.join(format!("{}/watchdog/watchdog0/device", &dev[1..]))).unwrap();
        let facts = WatchdogFacts::read(&Root::new(t), "");
        assert_eq!(facts.devices[0].driver.as_deref(), Some("i6300esb"));
        let bare = WatchdogFacts::read(
            &Root::new(tmp.path().join("none")),
            "watchdog.stop_on_reboot=0",
        );
        assert!(bare.devices.is_empty());
        assert_eq!(bare.stop_on_reboot, Some(0));
    }

    #[test]
    fn test_cmdline_parameter_last_wins() {
        let c = "a watchdog.stop_on_reboot=1 x.watchdog.stop_on_reboot=5 watchdog.stop_on_reboot=0";
        assert_eq!(cmdline_parameter(c, "watchdog.stop_on_reboot"), Some("0"));
        assert_eq!(cmdline_parameter("ro", "watchdog.stop_on_reboot"), None);
    }
}
