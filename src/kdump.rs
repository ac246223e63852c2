//! Arming kdump: which capture kernel, which initrd, which command line —
//! the way Red Hat's kdumpctl (RHEL 9 / kdump-utils) decides them, or
//! Debian's kdump-config when the system has `/etc/default/kdump-tools`.
//!
//! The command line follows kdumpctl's token algorithm: the base is split
//! like a shell splits words, tokens whose key is in the removal set are
//! dropped (exact key: `rootflags` survives `root`), empty `key=` tokens go,
//! `KDUMP_COMMANDLINE_APPEND` is appended verbatim, then on x86 the boot
//! CPU's `disable_cpu_apicid=N`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, ExitCode, Result};
use crate::root::Root;

/// Removed from every capture command line by kdumpctl (RHEL 7 and later).
pub const ALWAYS_REMOVED: &[&str] = &[
    "crashkernel",
    "panic_on_warn",
    "root",
    "rd.lvm.lv",
    "rd.luks.uuid",
    "rd.dm.uuid",
    "rd.md.uuid",
    "fcoe",
    "netroot",
    "rd.iscsi.initiator",
    "iscsi_initiator",
];

/// kdumpctl's default search list for the capture kernel (RHEL 8+).
pub const DEFAULT_BOOTDIRS: &str = "/boot /boot/efi /efi /";

/// Where the kdump initrd goes when the kernel's directory is read-only.
pub const VAR_LIB_KDUMP: &str = "/var/lib/kdump";

/// One token of a kernel command line: `key` or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    key: String,
    value: Option<String>,
}

/// Splits like `xargs -n 1`: quotes and backslashes honoured, then removed.
/// Unbalanced quotes fall back to splitting on blanks.
fn tokens(text: &str) -> Vec<Token> {
    let words = shell_words::split(text)
        .unwrap_or_else(|_| text.split_whitespace().map(str::to_string).collect());
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Token {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => Token {
                key: w,
                value: None,
            },
        })
        .collect()
}

fn render(token: &Token) -> Option<String> {
    match &token.value {
        // `key=` with nothing after it is dropped, as kdumpctl does.
        Some(v) if v.is_empty() => None,
        Some(v) if v.contains(char::is_whitespace) => Some(format!("{}=\"{v}\"", token.key)),
        Some(v) => Some(format!("{}={v}", token.key)),
        None => Some(token.key.clone()),
    }
}

/// Drops the tokens of `base` whose key is in `remove` (exact keys; `key=`
/// tokens with an empty value go too) and appends `append` verbatim.
pub fn edit_cmdline(base: &str, remove: &[String], append: &str) -> String {
    let mut parts: Vec<String> = tokens(base)
        .iter()
        .filter(|t| !remove.contains(&t.key))
        .filter_map(render)
        .collect();
    parts.push(append.to_string());
    squeeze(&parts.join(" "))
}

/// kdumpctl's `prepare_cmdline` (RHEL 9.3 / kdump-utils).
pub fn capture_cmdline(base: &str, remove: &str, append: &str, apicid: Option<u32>) -> String {
    let removed: Vec<String> = tokens(remove)
        .into_iter()
        .map(|t| t.key)
        .chain(ALWAYS_REMOVED.iter().map(|s| s.to_string()))
        .collect();
    let cmdline = edit_cmdline(base, &removed, append);
    match apicid {
        Some(id) => squeeze(&format!("{cmdline} disable_cpu_apicid={id}")),
        None => cmdline,
    }
}

fn squeeze(s: &str) -> String {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `apicid` of processor 0 in `/proc/cpuinfo` (x86 only has one).
pub fn boot_cpu_apicid(cpuinfo: &str) -> Option<u32> {
    let mut in_cpu0 = false;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => in_cpu0 = value.trim() == "0",
            "apicid" if in_cpu0 => return value.trim().parse().ok(),
            _ => {}
        }
    }
    None
}

/// kdump-config's default command line: `/proc/cmdline` without the
/// `crashkernel=`, `hugepages=`, `hugepagesz=` and `abm=` parameters.
pub fn debian_cmdline(base: &str, append: &str) -> String {
    let kept: Vec<&str> = base
        .split_whitespace()
        .filter(|w| {
            !["crashkernel=", "hugepages=", "hugepagesz=", "abm="]
                .iter()
                .any(|p| w.starts_with(p))
        })
        .collect();
    squeeze(&format!("{} {append}", kept.join(" ")))
}

/// A `+debug`/`-debug` release's non-debug sibling.
pub fn non_debug(release: &str) -> Option<&str> {
    release
        .strip_suffix("+debug")
        .or_else(|| release.strip_suffix("-debug"))
}

/// kdumpctl's kernel search: for each directory of the search list, the
/// `BOOT_IMAGE=` path (device prefix removed) when it ends with the
/// version, `KDUMP_IMG-VERSION KDUMP_IMG_EXT`, then the BLS layout
/// `MACHINE-ID/VERSION/KDUMP_IMG`. The first regular file wins.
pub struct KernelSearch<'a> {
    pub dirs: Vec<String>,
    pub img: &'a str,
    pub img_ext: &'a str,
    pub boot_image: Option<&'a str>,
    pub machine_id: Option<&'a str>,
}

impl KernelSearch<'_> {
    pub fn candidates(&self, version: &str) -> Vec<PathBuf> {
        let mut names = Vec::new();
        if let Some(image) = self.boot_image {
            let image = match image.find(')') {
                Some(i) if image.starts_with('(') => &image[i + 1..],
                _ => image,
            };
            if image.ends_with(version) {
                names.push(image.to_string());
            }
        }
        names.push(format!("{}-{version}{}", self.img, self.img_ext));
        if let Some(id) = self.machine_id {
            names.push(format!("{id}/{version}/{}", self.img));
        }
        let mut out = Vec::new();
        for dir in &self.dirs {
            for name in &names {
                let joined = format!("{dir}/{name}");
                // kdumpctl squeezes repeated slashes.
                let squeezed: String = joined
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .fold(String::new(), |acc, p| acc + "/" + p);
                out.push(PathBuf::from(if squeezed.is_empty() {
                    "/".into()
                } else {
                    squeezed
                }));
            }
        }
        out
    }

    pub fn find(&self, root: &Root, version: &str) -> Option<PathBuf> {
        self.candidates(version)
            .into_iter()
            .find(|p| root.host(p).is_file())
    }
}

/// The kdump initrd's name from the default initrd's: `initramfs-X.img` →
/// `initramfs-Xkdump.img`, `initrd` → `initrdkdump`; none: the
/// `initramfs-VERSIONkdump.img` convention.
pub fn kdump_initrd_name(default_initrd: Option<&str>, version: &str) -> String {
    match default_initrd {
        Some(name) => match name.strip_suffix(".img") {
            Some(stem) => format!("{stem}kdump.img"),
            None => format!("{name}kdump"),
        },
        None => format!("initramfs-{version}kdump.img"),
    }
}

/// Whether the kdump initrd must be (re)built, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rebuild {
    pub needed: bool,
    pub reason: String,
}

/// `force_rebuild` / `force_no_rebuild` from `/etc/kdump.conf`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildPolicy {
    pub force: bool,
    pub never: bool,
}

/// Reads the two rebuild directives of kdump.conf (`name value` lines,
/// `#` comments); values other than 0/1, or both set, are errors as in
/// kdumpctl.
pub fn parse_kdump_conf(path: &Path, text: &str) -> Result<RebuildPolicy> {
    let mut policy = RebuildPolicy::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let (Some(key), value) = (words.next(), words.next()) else {
            continue;
        };
        let slot = match key {
            "force_rebuild" => &mut policy.force,
            "force_no_rebuild" => &mut policy.never,
            _ => continue,
        };
        *slot =
            match value {
                Some("1") => true,
                Some("0") => false,
                _ => {
                    return Err(Error::not_configured(format!(
                        "{key} value is invalid (use 0 or 1)"
                    ))
                    .at(path, n + 1, 1));
                }
            };
    }
    if policy.force && policy.never {
        return Err(Error::not_configured(
            "force_rebuild and force_no_rebuild are enabled simultaneously",
        )
        .in_file(path));
    }
    Ok(policy)
}

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// kdumpctl's decision: never with force_no_rebuild; always with
/// force_rebuild; when the initrd is missing; when the kernel, kdump.conf
/// or sysconfig is newer than it (whole seconds, strictly newer).
pub fn rebuild_needed(
    root: &Root,
    policy: RebuildPolicy,
    initrd: &Path,
    inputs: &[&Path],
) -> Rebuild {
    let yes = |reason: String| Rebuild {
        needed: true,
        reason,
    };
    if policy.never {
        return Rebuild {
            needed: false,
            reason: "force_no_rebuild is set in /etc/kdump.conf".into(),
        };
    }
    if policy.force {
        return yes("force_rebuild is set in /etc/kdump.conf".into());
    }
    let Some(built) = mtime(&root.host(initrd)) else {
        return yes("no kdump initial ramdisk found".into());
    };
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    for input in inputs {
        if let Some(t) = mtime(&root.host(input)) {
            if secs(t) > secs(built) {
                return yes(format!(
                    "{} is newer than the kdump initrd",
                    input.display()
                ));
            }
        }
    }
    Rebuild {
        needed: false,
        reason: "the kdump initrd is up to date".into(),
    }
}

/// How `KEXEC_ARGS` / `KDUMP_KEXEC_ARGS` affect the load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KexecArgs {
    /// `-d` / `--debug`: KEXEC_FILE_DEBUG.
    pub debug: bool,
    /// Options only kexec-tools understands: the load is delegated.
    pub foreign: Vec<String>,
    /// Every word, for passing to kexec-tools when delegating.
    pub all: Vec<String>,
}

/// Word-splits kexec options (no quote handling, as kdumpctl expands them
/// unquoted). `-s`, `-a` and their long forms are what kexecctl does
/// anyway; `-d` sets the debug flag; anything else needs kexec-tools.
pub fn parse_kexec_args(text: &str) -> KexecArgs {
    let mut args = KexecArgs::default();
    for word in text.split_whitespace() {
        args.all.push(word.to_string());
        match word {
            "-s" | "--kexec-file-syscall" | "-a" | "--kexec-syscall-auto" => {}
            "-d" | "--debug" => args.debug = true,
            other => args.foreign.push(other.to_string()),
        }
    }
    args
}

/// Red Hat's `/etc/sysconfig/kdump` settings, or Debian's kdump-tools'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    RedHat,
    Debian,
}

/// Warnings about variables that look configurable but are not.
pub fn redhat_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["KDUMP_INITRD", "KDUMP_KERNEL"] {
        if let Some(var) = config.shell.var(name) {
            if matches!(var.origin, crate::config::Origin::File { .. }) {
                out.push(format!(
                    "{name} ({}) is internal to kdumpctl and ignored; the capture kernel and \
                     initrd are found from KDUMP_KERNELVER, KDUMP_BOOTDIR and KDUMP_IMG",
                    var.origin
                ));
            }
        }
    }
    if config.get("MKDUMPRD_ARGS").is_some_and(|v| !v.is_empty()) {
        out.push(
            "MKDUMPRD_ARGS is only read by RHEL 5/6's kdump (RHEL 7 and later ignore it); \
             kexecctl passes it to mkdumprd"
                .into(),
        );
    }
    out
}

/// The error kdumpctl gives when no memory is reserved.
pub fn no_reservation() -> Error {
    Error::new(
        ExitCode::NotConfigured,
        "No memory reserved for crash kernel: add crashkernel= to the kernel command line \
         (e.g. crashkernel=256M, or the value `kdumpctl get-default-crashkernel` suggests), \
         then reboot",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RHEL9_REMOVE: &str = "hugepages hugepagesz slub_debug quiet log_buf_len swiotlb cma hugetlb_cma ignition.firstboot";
    const RHEL9_APPEND: &str = "irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable novmcoredd cma=0 hugetlb_cma=0";

    #[test]
    fn test_rhel9_worked_example() {
        let base = "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet";
        assert_eq!(
            capture_cmdline(base, RHEL9_REMOVE, RHEL9_APPEND, Some(0)),
            "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 ro resume=/dev/mapper/rhel-swap rhgb irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable novmcoredd cma=0 hugetlb_cma=0 disable_cpu_apicid=0"
        );
    }

    #[test]
    fn test_token_edge_cases() {
        // Empty `a=` dropped, quoting restored, duplicates kept, REMOVE by key.
        assert_eq!(
            capture_cmdline(
                "a= b=1 c=\"x y\" nr_cpus=4 quiet hugepages=2",
                "hugepages=5 quiet",
                "nr_cpus=1",
                Some(0)
            ),
            "b=1 c=\"x y\" nr_cpus=4 nr_cpus=1 disable_cpu_apicid=0"
        );
        // Exact keys: rootflags survives root; dotted keys are keys.
        assert_eq!(
            capture_cmdline(
                "root=/dev/a rootflags=x rd.lvm.lv=a/b rd.lvm=keep quiet.x=1",
                "quiet",
                "",
                None
            ),
            "rootflags=x rd.lvm=keep quiet.x=1"
        );
        // APPEND is verbatim, spaces squeezed.
        assert_eq!(
            capture_cmdline("  ro  ", "", "  a=\"1  2\"  ", None),
            "ro a=\"1 2\""
        );
    }

    #[test]
    fn test_apicid_of_processor_0() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\napicid\t\t: 2\n\nprocessor\t: 1\napicid\t\t: 0\n";
        assert_eq!(boot_cpu_apicid(cpuinfo), Some(2));
        assert_eq!(boot_cpu_apicid("processor : 0\nBogoMIPS : 50\n"), None);
    }

    #[test]
    fn test_debian_cmdline() {
        assert_eq!(
            debian_cmdline(
                "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro quiet crashkernel=384M-:128M hugepages=4 abm=1 hugepagesz=2M",
                "reset_devices nr_cpus=1"
            ),
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro quiet reset_devices nr_cpus=1"
        );
    }

    #[test]
    fn test_kernel_candidates_in_kdumpctl_order() {
        let search = KernelSearch {
            dirs: vec!["/boot".into(), "/".into()],
            img: "vmlinuz",
            img_ext: "",
            boot_image: Some("(hd0,gpt2)/vmlinuz-5.14.0-362.el9.x86_64"),
            machine_id: Some("abc"),
        };
        let c: Vec<String> = search
            .candidates("5.14.0-362.el9.x86_64")
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            c,
            [
                "/boot/vmlinuz-5.14.0-362.el9.x86_64",
                "/boot/vmlinuz-5.14.0-362.el9.x86_64",
                "/boot/abc/5.14.0-362.el9.x86_64/vmlinuz",
                "/vmlinuz-5.14.0-362.el9.x86_64",
                "/vmlinuz-5.14.0-362.el9.x86_64",
                "/abc/5.14.0-362.el9.x86_64/vmlinuz",
            ]
        );
        // BOOT_IMAGE of another version is not a candidate.
        assert_eq!(search.candidates("6.0").len(), 4);
    }

    #[test]
    fn test_initrd_names_and_debug() {
        assert_eq!(
            kdump_initrd_name(Some("initramfs-5.14.img"), "5.14"),
            "initramfs-5.14kdump.img"
        );
        assert_eq!(kdump_initrd_name(Some("initrd"), "5.14"), "initrdkdump");
        assert_eq!(kdump_initrd_name(None, "5.14"), "initramfs-5.14kdump.img");
        assert_eq!(
            non_debug("5.14.0-362.el9.x86_64+debug"),
            Some("5.14.0-362.el9.x86_64")
        );
        assert_eq!(
            non_debug("6.5.6-300.fc39.x86_64-debug"),
            Some("6.5.6-300.fc39.x86_64")
        );
        assert_eq!(non_debug("6.1.0-28-amd64"), None);
    }

    #[test]
    fn test_kexec_args() {
        let a = parse_kexec_args("-s -d");
        assert!(a.debug && a.foreign.is_empty());
        let a = parse_kexec_args("--dt-no-old-root -s");
        assert_eq!(a.foreign, ["--dt-no-old-root"]);
        assert_eq!(parse_kexec_args("-c --elf32-core-headers").foreign.len(), 2);
    }

    #[test]
    fn test_kdump_conf_policy() {
        let p = Path::new("/etc/kdump.conf");
        assert!(
            parse_kdump_conf(p, "path /var/crash\nforce_rebuild 1 # yes\n")
                .unwrap()
                .force
        );
        assert!(
            parse_kdump_conf(p, "force_rebuild 2\n")
                .unwrap_err()
                .to_string()
                .contains("/etc/kdump.conf:1:1")
        );
        assert!(parse_kdump_conf(p, "force_rebuild 1\nforce_no_rebuild 1\n").is_err());
        assert_eq!(
            parse_kdump_conf(p, "#force_no_rebuild 1\n").unwrap(),
            RebuildPolicy::default()
        );
    }
}
