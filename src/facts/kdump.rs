//! What kdumpctl and kdump-config look at besides the configuration: the
//! watchdog devices and the capture kernel's module aliases (for the
//! drivers' `pretimeout=0`), the SMBIOS processor names (AWS Graviton), the
//! UKI the system booted, and whether a kernel is relocatable (Debian).
//! Read here; the rules that use them are pure functions of
//! [`crate::kdump`].

use std::collections::BTreeMap;
use std::fs;

use crate::kdump::{self, ModuleAliases, WatchdogDevice};
use crate::root::Root;

pub const WATCHDOG_CLASS: &str = "/sys/class/watchdog";
pub const DMI_TABLE: &str = "/sys/firmware/dmi/tables/DMI";

/// The facts of one kdump plan.
#[derive(Debug, Clone, Default)]
pub struct CaptureFacts {
    pub watchdog_devices: Vec<WatchdogDevice>,
    /// `modules.alias` and `modules.builtin.alias` of each kernel version a
    /// plan may pick (the wanted one and a debug kernel's sibling).
    pub aliases: BTreeMap<String, ModuleAliases>,
    pub aws_graviton: bool,
    /// The UKI the system booted (systemd-stub's EFI variable), if any.
    pub stub_image: Option<String>,
    /// `CONFIG_RELOCATABLE=y` in `/boot/config-RELEASE` of the running
    /// kernel (kdump-config loads the running kernel only then).
    pub relocatable: bool,
}

impl CaptureFacts {
    /// The watchdog drivers kdumpctl names for a capture kernel `version`.
    pub fn watchdog_drivers(&self, version: &str) -> Vec<String> {
        let empty = ModuleAliases::default();
        let aliases = self.aliases.get(version).unwrap_or(&empty);
        kdump::watchdog_drivers(&self.watchdog_devices, aliases)
    }
}

/// Reads the capture facts for the kernel `versions` a plan may load, and
/// the running kernel's `release`.
pub fn read(root: &Root, versions: &[String], release: Option<&str>) -> CaptureFacts {
    let text = |p: &str| fs::read_to_string(root.host(p)).unwrap_or_default();
    let mut watchdog_devices = Vec::new();
    if let Ok(entries) = fs::read_dir(root.host(WATCHDOG_CLASS)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let modalias = fs::read_to_string(entry.path().join("device/modalias")).ok();
            watchdog_devices.push(WatchdogDevice { name, modalias });
        }
    }
    let aliases = versions
        .iter()
        .map(|v| {
            let parsed = ModuleAliases::parse(
                &text(&format!("/lib/modules/{v}/modules.alias")),
                &text(&format!("/lib/modules/{v}/modules.builtin.alias")),
            );
            (v.clone(), parsed)
        })
        .collect();
    let dmi = fs::read(root.host(DMI_TABLE)).unwrap_or_default();
    CaptureFacts {
        watchdog_devices,
        aliases,
        aws_graviton: kdump::is_aws_graviton(&kdump::dmi_processor_names(&dmi)),
        stub_image: fs::read(root.host(kdump::STUB_IMAGE_IDENTIFIER))
            .ok()
            .map(|v| kdump::uki_from_stub_image_identifier(&v)),
        relocatable: release
            .is_some_and(|r| kdump::config_relocatable(&text(&format!("/boot/config-{r}")))),
    }
}
