//! The legacy configuration files, grouped the way the old scripts read them.
//!
//! Each [`LegacySet`] is one shell process of the script it replaces: the
//! files it sources, in order, into one variable table, the defaults it sets
//! before sourcing, and the fall-backs it applies afterwards. [`shell`] is the
//! pure reader; this module finds the files under the root and feeds them in.

pub mod kdump;
pub mod settings;
pub mod shell;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoResultExt, Result};
use crate::root::Root;
pub use shell::{Dialect, Origin, Shell, Var};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacySet {
    /// `/etc/default/kexec` then `/etc/default/kexec.d/*` (Debian kexec-tools).
    DebianKexec,
    /// `/etc/default/kdump-tools` (Debian kdump-tools).
    DebianKdumpTools,
    /// `/etc/sysconfig/kdump` (Red Hat kdump).
    RedHatKdump,
}

/// A value filled in after sourcing, when the files left the variable unset
/// (or, with `when_empty`, empty: kdump-config's `${X:=default}`).
pub struct Fallback {
    pub name: &'static str,
    pub value: &'static str,
    pub when_empty: bool,
}

const fn unset(name: &'static str, value: &'static str) -> Fallback {
    Fallback {
        name,
        value,
        when_empty: false,
    }
}

const fn empty(name: &'static str, value: &'static str) -> Fallback {
    Fallback {
        name,
        value,
        when_empty: true,
    }
}

/// What kexec-load uses when the files do not say: Debian's generated file
/// writes these values, kexecctl assumes them when a variable is absent.
const KEXEC_FALLBACKS: &[Fallback] = &[
    unset("LOAD_KEXEC", "false"),
    unset("KERNEL_IMAGE", "/vmlinuz"),
    unset("INITRD", "/initrd.img"),
    unset("APPEND", ""),
    unset("USE_GRUB_CONFIG", "false"),
];

/// kdump-config's `X=${X:=...}` lines, applied after it sources the file.
const KDUMP_TOOLS_FALLBACKS: &[Fallback] = &[
    empty("KDUMP_COREDIR", "/var/crash"),
    empty("KDUMP_DUMP_DMESG", "1"),
    empty("KDUMP_NUM_DUMPS", "0"),
    empty("MAKEDUMP_ARGS", "-F -c -d 31"),
    empty(
        "KDUMP_CMDLINE_APPEND",
        "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb",
    ),
];

impl LegacySet {
    pub const ALL: [LegacySet; 3] = [
        LegacySet::DebianKexec,
        LegacySet::DebianKdumpTools,
        LegacySet::RedHatKdump,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LegacySet::DebianKexec => "kexec",
            LegacySet::DebianKdumpTools => "kdump-tools",
            LegacySet::RedHatKdump => "sysconfig-kdump",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The main file of the set.
    pub fn main_file(self) -> &'static str {
        match self {
            LegacySet::DebianKexec => "/etc/default/kexec",
            LegacySet::DebianKdumpTools => "/etc/default/kdump-tools",
            LegacySet::RedHatKdump => "/etc/sysconfig/kdump",
        }
    }

    /// The shell that sources the set's files: kdumpctl (and RHEL 6's init
    /// script) are bash scripts, Debian's kexec-load and kdump-config are
    /// `#!/bin/sh`, which is dash.
    pub fn dialect(self) -> Dialect {
        match self {
            LegacySet::RedHatKdump => Dialect::Bash,
            _ => Dialect::Dash,
        }
    }

    /// Snippet directory read after the main file, run-parts style.
    fn snippet_dir(self) -> Option<&'static str> {
        match self {
            LegacySet::DebianKexec => Some("/etc/default/kexec.d"),
            _ => None,
        }
    }

    /// Values the legacy script sets before it sources the file, so the file
    /// can refer to them and overrides them.
    pub fn defaults(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // kdumpctl (RHEL 7 and later) clears these and sets REMOVE.
            LegacySet::RedHatKdump => &[
                ("KDUMP_KERNELVER", ""),
                ("KDUMP_COMMANDLINE", ""),
                ("KEXEC_ARGS", ""),
                (
                    "KDUMP_COMMANDLINE_REMOVE",
                    "hugepages hugepagesz slub_debug",
                ),
            ],
            _ => &[],
        }
    }

    /// Values applied after sourcing.
    pub fn fallbacks(self) -> &'static [Fallback] {
        match self {
            LegacySet::DebianKexec => KEXEC_FALLBACKS,
            LegacySet::DebianKdumpTools => KDUMP_TOOLS_FALLBACKS,
            LegacySet::RedHatKdump => &[],
        }
    }

    /// The files of this set present under `root`, in sourcing order, as
    /// paths inside the root.
    pub fn files(self, root: &Root) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let main = root
            .resolve(self.main_file())
            .at_path(Path::new(self.main_file()))?;
        if main.host.is_file() {
            files.push(PathBuf::from(self.main_file()));
        }
        if let Some(dir) = self.snippet_dir() {
            files.extend(run_parts_list(root, Path::new(dir))?);
        }
        Ok(files)
    }
}

/// The names `run-parts --list DIR` prints: entries whose names are made of
/// `[A-Za-z0-9_-]` only (so `10-x.conf` and `x.dpkg-old` are ignored), that
/// are not directories, sorted bytewise. A missing directory lists nothing.
pub fn run_parts_list(root: &Root, dir: &Path) -> Result<Vec<PathBuf>> {
    let host_dir = root.host(dir);
    let entries = match fs::read_dir(&host_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, &e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.at_path(dir)?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            log::info!(
                "{}: skipped, as run-parts skips it (names of letters, digits, `_` and `-` only)",
                dir.join(&name).display()
            );
            continue;
        }
        if root.host(dir.join(&name)).is_dir() {
            log::info!("{}: skipped: a directory", dir.join(&name).display());
            continue;
        }
        names.push(name);
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// One shell's worth of configuration: the files read and the variables.
pub struct Config<'a> {
    pub files: Vec<PathBuf>,
    pub shell: Shell<'a>,
}

impl Config<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.shell.get(name)
    }
}

/// Sources `files` (paths inside `root`, or host paths when `on_host`) in
/// order into one shell started with `env`, with the set's defaults before
/// and fall-backs after, in the set's dialect (dash without a set).
pub fn read_files<'a>(
    root: &'a Root,
    files: &[PathBuf],
    on_host: bool,
    env: impl IntoIterator<Item = (OsString, OsString)>,
    set: Option<LegacySet>,
) -> Result<Config<'a>> {
    let dialect = set.map(LegacySet::dialect).unwrap_or_default();
    let mut shell = Shell::with_dialect(dialect, env, move || crate::facts::kernel_release(root));
    if let Some(set) = set {
        for (name, value) in set.defaults() {
            shell.set_default(name, value);
        }
    }
    for file in files {
        let host = if on_host {
            file.clone()
        } else {
            root.host(file)
        };
        // A file named on purpose that is missing is missing configuration.
        let text = fs::read(&host).map_err(|e| {
            let err = Error::io(file, &e);
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_configured(err.message.clone()).in_file(file)
            } else {
                err
            }
        })?;
        shell.source(file, &text)?;
    }
    if let Some(set) = set {
        for fallback in set.fallbacks() {
            let missing = match shell.get(fallback.name) {
                None => true,
                Some(v) => fallback.when_empty && v.is_empty(),
            };
            if missing {
                shell.set_default(fallback.name, fallback.value);
            }
        }
    }
    Ok(Config {
        files: files.to_vec(),
        shell,
    })
}

/// Reads a legacy set from under the root. `None` when none of its files
/// exist. The shell starts with an empty environment: the old scripts ran
/// from init (systemd gives a service a clean environment, sysv-rc sets
/// PATH only), so a variable exported in an admin's login shell never
/// changed what they loaded, and must not change what kexecctl loads.
pub fn read_set(root: &Root, set: LegacySet) -> Result<Option<Config<'_>>> {
    let files = set.files(root)?;
    if files.is_empty() {
        return Ok(None);
    }
    read_files(root, &files, false, Vec::new(), Some(set)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = tmp.path().join(path.trim_start_matches('/'));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        tmp
    }

    #[test]
    fn test_run_parts_rules() {
        let tmp = tree(&[
            ("etc/default/kexec.d/20-b", ""),
            ("etc/default/kexec.d/10-a", ""),
            ("etc/default/kexec.d/10-a.conf", ""),
            ("etc/default/kexec.d/Z_upper", ""),
            ("etc/default/kexec.d/x.dpkg-old", ""),
            ("etc/default/kexec.d/backup~", ""),
            ("etc/default/kexec.d/sub/inner", ""),
        ]);
        let root = Root::new(tmp.path());
        let list = run_parts_list(&root, Path::new("/etc/default/kexec.d")).unwrap();
        let names: Vec<_> = list.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "/etc/default/kexec.d/10-a",
                "/etc/default/kexec.d/20-b",
                "/etc/default/kexec.d/Z_upper"
            ]
        );
    }

    #[test]
    fn test_snippets_override_main_file_and_fallbacks_fill_in() {
        let tmp = tree(&[
            ("etc/default/kexec", "LOAD_KEXEC=true\nAPPEND=\"quiet\"\n"),
            (
                "etc/default/kexec.d/50-mine",
                "APPEND=\"$APPEND console=ttyS0\"\n",
            ),
        ]);
        let root = Root::new(tmp.path());
        let files = LegacySet::DebianKexec.files(&root).unwrap();
        let config = read_files(
            &root,
            &files,
            false,
            Vec::new(),
            Some(LegacySet::DebianKexec),
        )
        .unwrap();
        assert_eq!(config.get("APPEND"), Some("quiet console=ttyS0"));
        assert_eq!(
            config.shell.var("APPEND").unwrap().origin.to_string(),
            "/etc/default/kexec.d/50-mine:1"
        );
        assert_eq!(config.get("KERNEL_IMAGE"), Some("/vmlinuz"));
        assert_eq!(
            config.shell.var("KERNEL_IMAGE").unwrap().origin,
            Origin::Default
        );
    }

    #[test]
    fn test_redhat_defaults_are_visible_to_the_file() {
        let tmp = tree(&[(
            "etc/sysconfig/kdump",
            "KDUMP_COMMANDLINE_REMOVE=\"$KDUMP_COMMANDLINE_REMOVE quiet\"\n",
        )]);
        let root = Root::new(tmp.path());
        let config = read_set(&root, LegacySet::RedHatKdump).unwrap().unwrap();
        assert_eq!(
            config.get("KDUMP_COMMANDLINE_REMOVE"),
            Some("hugepages hugepagesz slub_debug quiet")
        );
    }

    #[test]
    fn test_uname_r_reads_osrelease_under_root() {
        let tmp = tree(&[
            ("proc/sys/kernel/osrelease", "5.14.0-362.8.1.el9_3.x86_64\n"),
            ("etc/sysconfig/kdump", "KDUMP_KERNELVER=$(uname -r)\n"),
        ]);
        let root = Root::new(tmp.path());
        let config = read_set(&root, LegacySet::RedHatKdump).unwrap().unwrap();
        assert_eq!(
            config.get("KDUMP_KERNELVER"),
            Some("5.14.0-362.8.1.el9_3.x86_64")
        );
    }

    #[test]
    fn test_missing_osrelease_is_reported_with_the_use_site() {
        let tmp = tree(&[("etc/sysconfig/kdump", "\nKDUMP_KERNELVER=`uname -r`\n")]);
        let root = Root::new(tmp.path());
        let err = read_set(&root, LegacySet::RedHatKdump).err().unwrap();
        assert_eq!(
            err.to_string(),
            "/proc/sys/kernel/osrelease: no such file or directory (needed for `$(uname -r)` \
             at /etc/sysconfig/kdump:2:17)"
        );
    }
}
