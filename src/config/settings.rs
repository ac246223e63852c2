//! The typed settings of `/etc/default/kexec` (and `kexec.d`), each with
//! where its value came from, so that every decision can name the line
//! that made it (`LOAD_KEXEC is "false" (/etc/default/kexec:3)`).

use std::path::PathBuf;

use crate::config::{self, Config, LegacySet, Origin};
use crate::error::Result;
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
    /// The files read, in order (empty: none exist, defaults only).
    pub files: Vec<PathBuf>,
}

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
            files: vec!["/etc/default/kexec".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
