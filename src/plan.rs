//! What kexecctl is about to do, decided without side effects.
//!
//! The applets gather facts (configuration, kexec state, the boot entry,
//! `/proc/cmdline`), [`kexec_plan`] turns them into a [`Plan`], and only then
//! is anything loaded. `--dry-run` prints the plan; `--json` prints it as one
//! JSON object.

use std::path::PathBuf;

use serde::{Serialize, Serializer};

use crate::boot::BootEntry;
use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Load,
    Skip,
}

/// The initrd(s) of a plan: `null`, one path, or several paths that are
/// loaded as one initramfs, concatenated in order (as GRUB does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Initrds(pub Vec<PathBuf>);

impl Serialize for Initrds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [] => s.serialize_none(),
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub action: Action,
    /// Why nothing is loaded (with `skip`).
    pub reason: Option<String>,
    pub kernel: Option<PathBuf>,
    pub initrd: Initrds,
    pub cmdline: Option<String>,
    /// The boot entry the kernel came from (GRUB or BLS), if any.
    pub entry: Option<BootEntry>,
}

impl Plan {
    pub fn skip(reason: impl Into<String>) -> Self {
        Plan {
            action: Action::Skip,
            reason: Some(reason.into()),
            kernel: None,
            initrd: Initrds::default(),
            cmdline: None,
            entry: None,
        }
    }

    /// The plan as admins read it (`--dry-run` without `--json`).
    pub fn describe(&self) -> String {
        match self.action {
            Action::Skip => format!(
                "would not load a kernel: {}",
                self.reason.as_deref().unwrap_or("")
            ),
            Action::Load => {
                let mut s = String::from("would load:\n");
                if let Some(e) = &self.entry {
                    s.push_str(&format!("  entry:   {} ({})\n", e.path, e.source));
                }
                if let Some(k) = &self.kernel {
                    s.push_str(&format!("  kernel:  {}\n", k.display()));
                }
                match self.initrd.0.as_slice() {
                    [] => s.push_str("  initrd:  (none)\n"),
                    list => {
                        let names: Vec<String> =
                            list.iter().map(|p| p.display().to_string()).collect();
                        s.push_str(&format!("  initrd:  {}\n", names.join(" + ")));
                    }
                }
                s.push_str(&format!(
                    "  cmdline: {}",
                    self.cmdline.as_deref().unwrap_or("")
                ));
                s
            }
        }
    }
}

/// The `/etc/default/kexec` settings that decide a kexec load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexecSettings {
    pub load_kexec: String,
    pub kernel_image: String,
    pub initrd: String,
    pub append: String,
    pub use_grub_config: String,
}

impl KexecSettings {
    /// From the `kexec` legacy set (its fall-backs fill what is unset).
    pub fn from_config(config: &Config) -> Self {
        let get = |name: &str| config.get(name).unwrap_or_default().to_string();
        KexecSettings {
            load_kexec: get("LOAD_KEXEC"),
            kernel_image: get("KERNEL_IMAGE"),
            initrd: get("INITRD"),
            append: get("APPEND"),
            use_grub_config: get("USE_GRUB_CONFIG"),
        }
    }

    /// Debian's rule: only the exact string `true` enables.
    pub fn enabled(&self) -> bool {
        self.load_kexec == "true"
    }

    pub fn use_grub(&self) -> bool {
        self.use_grub_config == "true"
    }
}

/// Decides what to load for a kexec reboot.
///
/// * `force` ignores `LOAD_KEXEC` (`kexecctl load --force`);
/// * `entry` is GRUB's default entry when `USE_GRUB_CONFIG=true` found one:
///   its kernel, initrds and command line replace the file's, as a firmware
///   boot would use them;
/// * otherwise `KERNEL_IMAGE`, `INITRD` (empty: none) and `APPEND` (empty:
///   the running kernel's command line, verbatim) — Debian's semantics.
pub fn kexec_plan(
    settings: &KexecSettings,
    force: bool,
    entry: Option<BootEntry>,
    proc_cmdline: &str,
) -> Plan {
    if !settings.enabled() && !force {
        return Plan::skip(format!(
            "LOAD_KEXEC is {:?}, not \"true\"",
            settings.load_kexec
        ));
    }
    if let Some(entry) = entry {
        return Plan {
            action: Action::Load,
            reason: None,
            kernel: Some(entry.kernel.clone()),
            initrd: Initrds(entry.initrds.clone()),
            cmdline: Some(entry.cmdline.clone()),
            entry: Some(entry),
        };
    }
    let cmdline = if settings.append.is_empty() {
        proc_cmdline.trim_end_matches('\n').to_string()
    } else {
        settings.append.clone()
    };
    let initrd = if settings.initrd.is_empty() {
        Vec::new()
    } else {
        vec![PathBuf::from(&settings.initrd)]
    };
    Plan {
        action: Action::Load,
        reason: None,
        kernel: Some(PathBuf::from(&settings.kernel_image)),
        initrd: Initrds(initrd),
        cmdline: Some(cmdline),
        entry: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(load: &str, initrd: &str, append: &str) -> KexecSettings {
        KexecSettings {
            load_kexec: load.into(),
            kernel_image: "/vmlinuz".into(),
            initrd: initrd.into(),
            append: append.into(),
            use_grub_config: "false".into(),
        }
    }

    #[test]
    fn test_only_exact_true_enables() {
        for value in ["false", "1", "yes", "TRUE", " true", ""] {
            let p = kexec_plan(&settings(value, "", ""), false, None, "x");
            assert_eq!(p.action, Action::Skip, "{value:?}");
        }
        let p = kexec_plan(&settings("yes", "", ""), true, None, "x");
        assert_eq!(p.action, Action::Load);
    }

    #[test]
    fn test_empty_append_reuses_proc_cmdline_verbatim() {
        let cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1 root=UUID=x ro quiet crashkernel=256M\n";
        let p = kexec_plan(&settings("true", "/initrd.img", ""), false, None, cmdline);
        assert_eq!(p.cmdline.as_deref(), Some(cmdline.trim_end()));
        assert_eq!(p.initrd.0, [PathBuf::from("/initrd.img")]);
        let p = kexec_plan(&settings("true", "", "console=ttyS0"), false, None, cmdline);
        assert_eq!(p.cmdline.as_deref(), Some("console=ttyS0"));
        assert!(p.initrd.0.is_empty());
    }

    #[test]
    fn test_initrd_json_forms() {
        let json = |v: Vec<&str>| {
            serde_json::to_string(&Initrds(v.into_iter().map(PathBuf::from).collect())).unwrap()
        };
        assert_eq!(json(vec![]), "null");
        assert_eq!(json(vec!["/a"]), "\"/a\"");
        assert_eq!(json(vec!["/a", "/b"]), "[\"/a\",\"/b\"]");
    }
}
