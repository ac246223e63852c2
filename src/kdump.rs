//! Arming kdump: which capture kernel, which initrd, which command line —
//! the way Red Hat's kdumpctl (kdump-utils v1.0.61) decides them, or
//! Debian's kdump-config (kdump-tools 1.8.1) when the system has
//! `/etc/default/kdump-tools` — as pure functions of plain data, with a
//! pure parser for each machine fact they need (`/proc/cpuinfo`, watchdog
//! modaliases and module aliases, the SMBIOS table, the UKI EFI variable,
//! `/boot/config-*`). Reading the files is the caller's.
//!
//! The capture command line ([`capture_cmdline`]) follows prepare_cmdline
//! token for token (see [`crate::cmdline`] for its splitter); the tests
//! compare it with kdump-utils' own code on recorded cases
//! (tests/kdump-oracle) and the Debian choices with kdump-config itself.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cmdline;
use crate::config::{Config, Origin};
use crate::error::{Error, ExitCode, Location, Result};

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

/// Where a piece of command-line text came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A configuration variable, with where it was set.
    Variable { name: String, origin: Origin },
    /// The running kernel's `/proc/cmdline`.
    ProcCmdline,
}

impl Source {
    pub fn variable(name: &str, origin: Origin) -> Self {
        Source::Variable {
            name: name.to_string(),
            origin,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Variable { name, origin } => write!(f, "{name} ({origin})"),
            Source::ProcCmdline => f.write_str(PROC_CMDLINE),
        }
    }
}

pub const PROC_CMDLINE: &str = "/proc/cmdline";

/// What kdumpctl's `prepare_cmdline` (kdump-utils v1.0.61) looks at.
#[derive(Debug, Clone)]
pub struct CaptureInputs<'a> {
    /// `KDUMP_COMMANDLINE`, or `/proc/cmdline` when that is empty (see
    /// [`capture_base`]).
    pub base: &'a str,
    pub base_source: Source,
    /// `KDUMP_COMMANDLINE_REMOVE`.
    pub remove: &'a str,
    pub remove_source: Source,
    /// `KDUMP_COMMANDLINE_APPEND`, appended verbatim.
    pub append: &'a str,
    pub append_source: Source,
    /// The boot CPU's `apicid` from `/proc/cpuinfo` ([`boot_cpu_apicid`]).
    pub boot_cpu_apicid: Option<&'a str>,
    /// Modules driving the watchdog devices ([`watchdog_drivers`]).
    pub watchdog_drivers: &'a [String],
    /// An AWS Graviton machine ([`is_aws_graviton`]): no `irqpoll`.
    pub aws_graviton: bool,
}

/// The base line as `prepare_cmdline` chooses it (`${1:-$(< /proc/cmdline)}`):
/// `KDUMP_COMMANDLINE` when it is not empty, else `/proc/cmdline` without
/// its trailing newlines.
pub fn capture_base<'a>(kdump_commandline: &'a str, proc_cmdline: &'a str) -> (&'a str, bool) {
    if kdump_commandline.is_empty() {
        (proc_cmdline.trim_end_matches('\n'), true)
    } else {
        (kdump_commandline, false)
    }
}

/// A configuration error about text from `source`, located at the file
/// and line that set it (or `/proc/cmdline`).
fn unbalanced(source: &Source, what: &str, consequence: &str) -> Error {
    let message = |prefix: &str| {
        format!(
            "{prefix}{what}; {consequence}. Balance the quotes: kexecctl arms no capture kernel \
             whose parameters cannot take effect"
        )
    };
    match source {
        Source::Variable {
            name,
            origin: Origin::File { path, line },
        } => {
            let mut error = Error::not_configured(message(&format!("{name}: ")));
            error.location = Some(Location {
                path: path.clone(),
                line: Some(*line),
                column: None,
            });
            error
        }
        Source::Variable { .. } => Error::not_configured(message(&format!("{source}: "))),
        Source::ProcCmdline => Error::not_configured(message("")).in_file(PROC_CMDLINE),
    }
}

/// kdumpctl's `prepare_cmdline` (kdump-utils v1.0.61, as `load_kdump`
/// calls it): the base's parameters without the removed keys, then
/// `KDUMP_COMMANDLINE_APPEND` verbatim, `disable_cpu_apicid=`, each
/// watchdog driver's `pretimeout=0` (and hpwdt's `kdumptimeout=0`), no
/// `irqpoll` on AWS Graviton, `rd.systemd.gpt_auto=no`; blanks squeezed.
///
/// Where kexecctl differs from kdumpctl, on purpose:
/// * an unmatched quote in the base or REMOVE (kdumpctl silently drops
///   every parameter from there on) and a double quote the kernel would
///   never see closed in the result (everything after it would be one
///   value) are errors naming the variable or `/proc/cmdline`;
/// * `key=` entries of REMOVE remove `key` (kdumpctl ignores them).
pub fn capture_cmdline(inputs: &CaptureInputs) -> Result<String> {
    let mut removed: Vec<String> = ALWAYS_REMOVED.iter().map(|s| s.to_string()).collect();
    let remove = cmdline::kdumpctl_params(inputs.remove, true).map_err(|e| {
        unbalanced(
            &inputs.remove_source,
            &format!("unmatched {} quote at byte {}", e.quote, e.offset + 1),
            "kdumpctl would ignore every name from there on",
        )
    })?;
    removed.extend(remove.into_iter().map(|p| p.key));
    let base = cmdline::kdumpctl_params(inputs.base, false).map_err(|e| {
        unbalanced(
            &inputs.base_source,
            &format!("unmatched {} quote at byte {}", e.quote, e.offset + 1),
            "kdumpctl would silently drop every parameter from there on, and the kernel would \
             read the rest of the line as one value",
        )
    })?;
    let mut out = String::new();
    for param in base.iter().filter(|p| !removed.contains(&p.key)) {
        out.push_str(&param.render());
        out.push(' ');
    }
    if let Some(open) = cmdline::open_quote(&out) {
        return Err(unbalanced(
            &inputs.base_source,
            &format!(
                "a parameter keeps a stray double quote (`{}`)",
                kept_param_at(&out, open.offset)
            ),
            "the capture kernel would read everything after it as one value",
        ));
    }
    if let Some(open) = cmdline::open_quote(inputs.append) {
        return Err(unbalanced(
            &inputs.append_source,
            &format!("unbalanced double quote at byte {}", open.offset + 1),
            "the capture kernel would read everything after it, and the parameters kdump adds, \
             as one value",
        ));
    }
    out.push_str(inputs.append);
    out.push(' ');
    if let Some(id) = inputs.boot_cpu_apicid.filter(|id| !id.is_empty()) {
        out.push_str(&format!("disable_cpu_apicid={id} "));
    }
    for driver in inputs.watchdog_drivers {
        out.push_str(&format!("{driver}.pretimeout=0 "));
        if driver == "hpwdt" {
            out.push_str("hpwdt.kdumptimeout=0 ");
        }
    }
    if inputs.aws_graviton {
        out = without_first_irqpoll(&out);
    }
    out.push_str("rd.systemd.gpt_auto=no ");
    let line = squeeze_lines(&out);
    if let Some(open) = cmdline::open_quote(&line) {
        return Err(unbalanced(
            &inputs.append_source,
            &format!(
                "the capture command line has an unbalanced double quote at byte {}",
                open.offset + 1
            ),
            "the capture kernel would read everything after it as one value",
        ));
    }
    Ok(line)
}

fn kept_param_at(line: &str, offset: usize) -> &str {
    let start = line[..offset].rfind(' ').map_or(0, |i| i + 1);
    let end = line[offset..].find(' ').map_or(line.len(), |i| offset + i);
    &line[start..end]
}

/// `sed -e "s/\<irqpoll\>//"` on each line: the first whole-word `irqpoll`
/// of each line removed.
fn without_first_irqpoll(text: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text.split('\n')
        .map(|line| {
            let mut from = 0;
            while let Some(i) = line[from..].find("irqpoll").map(|i| from + i) {
                let end = i + "irqpoll".len();
                let before = line[..i].chars().next_back().is_none_or(|c| !word(c));
                let after = line[end..].chars().next().is_none_or(|c| !word(c));
                if before && after {
                    return format!("{}{}", &line[..i], &line[end..]);
                }
                from = i + 1;
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `echo "$out" | sed -e "s/^ *//g" -e "s/ *$//g" -e "s/ \+/ /g"` in
/// `$(...)`: per line, spaces trimmed and squeezed (tabs stay), trailing
/// newlines dropped.
fn squeeze_lines(text: &str) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            line.split(' ')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.join("\n").trim_end_matches('\n').to_string()
}

/// Drops the parameters of `base` whose key is in `remove` (as the kernel
/// reads keys), keeps every other token as written, and appends `append`.
/// fastreboot's `--remove`/`--append`; see [`cmdline::edit`].
pub fn edit_cmdline(base: &str, remove: &[String], append: &str) -> String {
    cmdline::edit(base, remove, append)
}

/// What kdumpctl's `get_bootcpu_apicid` prints for `/proc/cpuinfo`:
/// `awk '$1=="processor" && $2==":" { CPU = $NF } CPU=="0" && /^apicid/
/// { print $NF }'` — the last field of each `apicid` line of processor 0
/// (one per line if there were several). None when there is none (not
/// x86).
pub fn boot_cpu_apicid(cpuinfo: &str) -> Option<String> {
    let mut cpu = String::from("-1");
    let mut found = Vec::new();
    for line in cpuinfo.lines() {
        let fields: Vec<&str> = line.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        if fields.first() == Some(&"processor") && fields.get(1) == Some(&":") {
            cpu = fields.last().copied().unwrap_or("").to_string();
        }
        if cpu == "0" && line.starts_with("apicid") {
            found.push(fields.last().copied().unwrap_or("").to_string());
        }
    }
    (!found.is_empty()).then(|| found.join("\n"))
}

/// One entry of `/sys/class/watchdog/`: its name and, when it has a
/// device, the content of `device/modalias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogDevice {
    pub name: String,
    pub modalias: Option<String>,
}

/// The alias tables of the capture kernel: `modules.alias` and
/// `modules.builtin.alias` of `/lib/modules/KDUMP_KERNELVER/`.
#[derive(Debug, Clone, Default)]
pub struct ModuleAliases {
    aliases: Vec<(String, String)>,
    builtin: Vec<(String, String)>,
}

fn alias_lines(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("alias")).then_some(())?;
            // depmod normalises the patterns of the binary index kmod reads.
            Some((normalize_alias(words.next()?), words.next()?.to_string()))
        })
        .collect();
    // kmod keeps the patterns in a trie, searched in byte order.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

impl ModuleAliases {
    pub fn parse(modules_alias: &str, modules_builtin_alias: &str) -> Self {
        ModuleAliases {
            aliases: alias_lines(modules_alias),
            builtin: alias_lines(modules_builtin_alias),
        }
    }

    /// `modprobe -R ALIAS`: the modules whose alias pattern matches (in the
    /// order of the patterns), else the built-in ones. `-` and `_` are the
    /// same character in aliases, as kmod normalises them.
    pub fn resolve(&self, alias: &str) -> Vec<String> {
        let alias = normalize_alias(alias.trim_end_matches('\n'));
        for table in [&self.aliases, &self.builtin] {
            let mut out: Vec<String> = Vec::new();
            for (pattern, module) in table {
                if fnmatch(pattern.as_bytes(), alias.as_bytes()) && !out.contains(module) {
                    out.push(module.clone());
                }
            }
            if !out.is_empty() {
                return out;
            }
        }
        Vec::new()
    }
}

/// kmod's `alias_normalize`: `-` becomes `_` outside `[...]`.
fn normalize_alias(alias: &str) -> String {
    let mut out = String::new();
    let mut in_bracket = false;
    for c in alias.chars() {
        match c {
            '[' => in_bracket = true,
            ']' => in_bracket = false,
            '-' if !in_bracket => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// `fnmatch(pattern, text, 0)`: `*`, `?`, `[...]` (with `!`/`^` and
/// ranges) and backslash escapes.
fn fnmatch(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') => (0..=text.len()).any(|i| fnmatch(&pattern[1..], &text[i..])),
        Some(b'?') => !text.is_empty() && fnmatch(&pattern[1..], &text[1..]),
        Some(b'[') => {
            let Some(&c) = text.first() else {
                return false;
            };
            let mut i = 1;
            let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < pattern.len() && (first || pattern[i] != b']') {
                first = false;
                let lo = pattern[i];
                if pattern.get(i + 1) == Some(&b'-')
                    && pattern.get(i + 2).is_some_and(|&h| h != b']')
                {
                    matched |= (lo..=pattern[i + 2]).contains(&c);
                    i += 3;
                } else {
                    matched |= lo == c;
                    i += 1;
                }
            }
            if i >= pattern.len() {
                // No closing bracket: `[` is an ordinary character.
                return c == b'[' && fnmatch(&pattern[1..], &text[1..]);
            }
            matched != negate && fnmatch(&pattern[i + 1..], &text[1..])
        }
        Some(b'\\') if pattern.len() > 1 => {
            text.first() == Some(&pattern[1]) && fnmatch(&pattern[2..], &text[1..])
        }
        Some(&p) => text.first() == Some(&p) && fnmatch(&pattern[1..], &text[1..]),
    }
}

/// kdumpctl's `get_watchdog_drvs`: for each entry of `/sys/class/watchdog`
/// (in the shell's glob order) that has `device/modalias`, the modules
/// `modprobe --set-version KDUMP_KERNELVER -R` names for it, each once.
pub fn watchdog_drivers(devices: &[WatchdogDevice], aliases: &ModuleAliases) -> Vec<String> {
    let mut sorted: Vec<&WatchdogDevice> = devices.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut drivers: Vec<String> = Vec::new();
    for device in sorted {
        let Some(modalias) = &device.modalias else {
            continue;
        };
        for module in aliases.resolve(modalias) {
            if !drivers.contains(&module) {
                drivers.push(module);
            }
        }
    }
    drivers
}

/// The SMBIOS strings of the Processor Information structures (type 4) in
/// `/sys/firmware/dmi/tables/DMI` (or one `/sys/firmware/dmi/entries/4-*/raw`):
/// each structure's Version and Part Number, which lscpu prints as "BIOS
/// Model name".
pub fn dmi_processor_names(dmi: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= dmi.len() {
        let kind = dmi[at];
        let length = usize::from(dmi[at + 1]);
        if length < 4 || at + length > dmi.len() {
            break;
        }
        let formatted = &dmi[at..at + length];
        // The strings follow, each NUL-terminated, the set ends with NUL.
        let mut strings = Vec::new();
        let mut s = at + length;
        loop {
            let Some(end) = dmi[s..].iter().position(|&b| b == 0).map(|i| s + i) else {
                s = dmi.len();
                break;
            };
            if end == s {
                s += 1;
                if strings.is_empty() && dmi.get(s) == Some(&0) {
                    s += 1;
                }
                break;
            }
            strings.push(String::from_utf8_lossy(&dmi[s..end]).into_owned());
            s = end + 1;
        }
        if kind == 4 {
            for offset in [0x10, 0x22] {
                let index = usize::from(*formatted.get(offset).unwrap_or(&0));
                if index > 0 {
                    if let Some(text) = strings.get(index - 1) {
                        out.push(text.clone());
                    }
                }
            }
        }
        if kind == 127 {
            break;
        }
        at = s;
    }
    out
}

/// kdumpctl's `is_aws_aarch64`: lscpu's "BIOS Model name" contains "AWS
/// Graviton" (an AWS Graviton machine, whose capture kernel must not get
/// `irqpoll`).
pub fn is_aws_graviton(processor_names: &[String]) -> bool {
    processor_names.iter().any(|n| n.contains("AWS Graviton"))
}

/// The UKI kdumpctl looks for (v1.0.61): the path in the EFI variable
/// `StubImageIdentifier-4a67b082-…` (`tr -cd '[:print:]/'`, backslashes
/// made slashes), relative to each boot directory.
pub fn uki_from_stub_image_identifier(efivar: &[u8]) -> String {
    efivar
        .iter()
        .filter(|&&b| (0x20..0x7f).contains(&b))
        .map(|&b| if b == b'\\' { '/' } else { char::from(b) })
        .collect()
}

/// kdump-config's default base (kdump-tools 1.8.1): `/proc/cmdline` through
/// `sed -re 's/(^| )(crashkernel|hugepages|hugepagesz|abm)=[^ ]*//g'`.
pub fn debian_default_base(proc_cmdline: &str) -> String {
    const KEYS: [&str; 4] = ["crashkernel=", "hugepages=", "hugepagesz=", "abm="];
    let line = proc_cmdline.trim_end_matches('\n');
    let mut out = String::new();
    let mut i = 0;
    while i < line.len() {
        // A match starts at the line's start or at a space, which it takes.
        let key_at = match line.as_bytes()[i] {
            b' ' => Some(i + 1),
            _ if i == 0 => Some(0),
            _ => None,
        };
        let key = key_at.and_then(|at| {
            KEYS.iter()
                .find(|k| line[at..].starts_with(**k))
                .map(|k| (at, k))
        });
        if let Some((at, key)) = key {
            let value = at + key.len();
            i = line[value..].find(' ').map_or(line.len(), |j| value + j);
            continue;
        }
        let c = line[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// kdump-config's capture command line (kdump-tools 1.8.1): `KDUMP_CMDLINE`
/// as written, or [`debian_default_base`] of `/proc/cmdline`, then a space
/// and `KDUMP_CMDLINE_APPEND`; the shell's field splitting before `eval`
/// squeezes each run of blanks to one space (one leading or trailing space
/// stays where the text had blanks there).
///
/// kdump-config then `eval`s the text inside double quotes, so `$`, `` ` ``,
/// `\` and `"` in it are interpreted by the shell (and only its first `"`
/// is escaped, wrongly): kexecctl passes the text as written. An unbalanced
/// double quote is an error naming its source.
pub fn debian_cmdline(
    base: &str,
    base_source: &Source,
    append: &str,
    append_source: &Source,
) -> Result<String> {
    for (text, source) in [(base, base_source), (append, append_source)] {
        if let Some(open) = cmdline::open_quote(text) {
            return Err(unbalanced(
                source,
                &format!("unbalanced double quote at byte {}", open.offset + 1),
                "the capture kernel would read everything after it as one value",
            ));
        }
    }
    let text = format!("{base} {append}");
    let blank = |c: char| matches!(c, ' ' | '\t' | '\n');
    let words: Vec<&str> = text.split(blank).filter(|w| !w.is_empty()).collect();
    let mut line = String::new();
    if text.starts_with(blank) {
        line.push(' ');
    }
    line.push_str(&words.join(" "));
    if text.ends_with(blank) && !words.is_empty() {
        line.push(' ');
    }
    Ok(line)
}

/// What kdump-config (kdump-tools 1.8.1) reads to choose the capture
/// kernel and initrd.
#[derive(Debug, Clone)]
pub struct DebianBoot<'a> {
    /// `KDUMP_KERNEL` and `KDUMP_INITRD` of `/etc/default/kdump-tools`.
    pub kdump_kernel: &'a str,
    pub kdump_initrd: &'a str,
    /// `uname -r`.
    pub release: &'a str,
    /// `/boot/config-RELEASE` says `CONFIG_RELOCATABLE=y`
    /// ([`config_relocatable`]).
    pub relocatable: bool,
}

/// kdump-config's `check_relocatable`: `grep -q 'CONFIG_RELOCATABLE=y'`.
pub fn config_relocatable(config: &str) -> bool {
    config.contains("CONFIG_RELOCATABLE=y")
}

pub const DEBIAN_DEFAULTS: &str = "/etc/default/kdump-tools";

/// The kernel and initrd kdump-config loads, as the files they are (kexecctl
/// resolves the `/var/lib/kdump/{vmlinuz,initrd.img}` links to what
/// kdump-config would point them at, instead of rewriting them):
/// * `KDUMP_KERNEL` set: that kernel (`/var/lib/kdump/vmlinuz` is the
///   running kernel's `/boot/vmlinuz-RELEASE`), and `KDUMP_INITRD` if set
///   (`/var/lib/kdump/initrd.img` is `/var/lib/kdump/initrd.img-RELEASE`,
///   which kdump-tools' kernel hook builds), else no initrd;
/// * unset: the running kernel, if it is relocatable, with its own
///   `/boot/initrd.img-RELEASE` (`KDUMP_INITRD` is then ignored, as
///   kdump-config does).
///
/// A file that does not exist is an error (exit 5), as kdump-config fails.
pub fn debian_kernel_initrd(
    boot: &DebianBoot,
    exists: impl Fn(&str) -> bool,
) -> Result<(String, Option<String>)> {
    let release = boot.release;
    let running = [
        format!("/boot/vmlinuz-{release}"),
        format!("/boot/vmlinux-{release}"),
    ]
    .into_iter()
    .find(|k| exists(k));
    let missing = |name: &str, path: &str| {
        Error::not_installed(format!("{name} does not exist: {path}")).in_file(DEBIAN_DEFAULTS)
    };
    if boot.kdump_kernel.is_empty() {
        if !boot.relocatable {
            return Err(Error::not_configured(format!(
                "KDUMP_KERNEL is not set and the running kernel is not relocatable \
                 (/boot/config-{release} lacks CONFIG_RELOCATABLE=y): kdump-config has no \
                 kernel to load"
            ))
            .in_file(DEBIAN_DEFAULTS));
        }
        let Some(kernel) = running else {
            return Err(Error::not_installed(format!(
                "no /boot/vmlinuz-{release} for the running kernel"
            )));
        };
        let initrd = format!("/boot/initrd.img-{release}");
        return Ok((kernel, exists(&initrd).then_some(initrd)));
    }
    let kernel = match boot.kdump_kernel {
        "/var/lib/kdump/vmlinuz" => running.ok_or_else(|| {
            Error::not_installed(format!(
                "no /boot/vmlinuz-{release} for /var/lib/kdump/vmlinuz to point to"
            ))
        })?,
        k if exists(k) => k.to_string(),
        k => return Err(missing("KDUMP_KERNEL", k)),
    };
    let initrd = match boot.kdump_initrd {
        "" => None,
        "/var/lib/kdump/initrd.img" => {
            let built = format!("/var/lib/kdump/initrd.img-{release}");
            if !exists(&built) {
                return Err(Error::not_installed(format!(
                    "the kdump initrd {built} has not been built: run \
                     /etc/kernel/postinst.d/kdump-tools {release}"
                )));
            }
            Some(built)
        }
        i if exists(i) => Some(i.to_string()),
        i => return Err(missing("KDUMP_INITRD", i)),
    };
    Ok((kernel, initrd))
}

/// A `+debug`/`-debug` release's non-debug sibling.
pub fn non_debug(release: &str) -> Option<&str> {
    release
        .strip_suffix("+debug")
        .or_else(|| release.strip_suffix("-debug"))
}

/// The EFI variable naming the UKI the system booted (systemd-stub).
pub const STUB_IMAGE_IDENTIFIER: &str =
    "/sys/firmware/efi/efivars/StubImageIdentifier-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

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

/// Where kdumpctl (v1.0.61) puts the kdump initrd: beside the kernel,
/// named after its default initrd ([`kdump_initrd_name`]); but under
/// `/var/lib/kdump` as `initramfs-VERSIONkdump.img` when the kernel has no
/// default initrd beside it (a UKI) or its directory is not writable.
pub fn kdump_initrd_path(
    kernel_dir: &Path,
    default_initrd: Option<&str>,
    kernel_dir_writable: bool,
    version: &str,
) -> PathBuf {
    match default_initrd {
        Some(name) if kernel_dir_writable => {
            kernel_dir.join(kdump_initrd_name(Some(name), version))
        }
        _ => Path::new(VAR_LIB_KDUMP).join(format!("initramfs-{version}kdump.img")),
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

    fn inputs<'a>(base: &'a str, remove: &'a str, append: &'a str) -> CaptureInputs<'a> {
        let at = |name: &str, line| {
            Source::variable(
                name,
                Origin::File {
                    path: "/etc/sysconfig/kdump".into(),
                    line,
                },
            )
        };
        CaptureInputs {
            base,
            base_source: Source::ProcCmdline,
            remove,
            remove_source: at("KDUMP_COMMANDLINE_REMOVE", 7),
            append,
            append_source: at("KDUMP_COMMANDLINE_APPEND", 9),
            boot_cpu_apicid: Some("0"),
            watchdog_drivers: &[],
            aws_graviton: false,
        }
    }

    fn capture(base: &str, remove: &str, append: &str) -> String {
        capture_cmdline(&inputs(base, remove, append)).unwrap()
    }

    #[test]
    fn test_rhel9_worked_example() {
        let base = "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet";
        assert_eq!(
            capture(base, RHEL9_REMOVE, RHEL9_APPEND),
            "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 ro resume=/dev/mapper/rhel-swap rhgb irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable novmcoredd cma=0 hugetlb_cma=0 disable_cpu_apicid=0 rd.systemd.gpt_auto=no"
        );
    }

    #[test]
    fn test_token_edge_cases() {
        // Empty `a=` dropped, quoting restored, duplicates kept, REMOVE by
        // key (and, unlike kdumpctl, `quiet=` in REMOVE counts).
        assert_eq!(
            capture(
                "a= b=1 c=\"x y\" nr_cpus=4 quiet hugepages=2 mce=1",
                "hugepages=5 quiet mce=",
                "nr_cpus=1"
            ),
            "b=1 c=\"x y\" nr_cpus=4 nr_cpus=1 disable_cpu_apicid=0 rd.systemd.gpt_auto=no"
        );
        // Exact keys: rootflags survives root; dotted keys are keys.
        assert_eq!(
            capture(
                "root=/dev/a rootflags=x rd.lvm.lv=a/b rd.lvm=keep quiet.x=1",
                "quiet",
                ""
            ),
            "rootflags=x rd.lvm=keep quiet.x=1 disable_cpu_apicid=0 rd.systemd.gpt_auto=no"
        );
        // APPEND is verbatim, spaces squeezed, tabs kept.
        assert_eq!(
            capture("  ro  ", "", "  a=\"1  2\"\tb  "),
            "ro a=\"1 2\"\tb disable_cpu_apicid=0 rd.systemd.gpt_auto=no"
        );
    }

    #[test]
    fn test_watchdogs_graviton_and_no_apicid() {
        let drivers = ["iTCO_wdt".to_string(), "hpwdt".to_string()];
        let mut i = inputs("ro irqpoll", "", "irqpoll nr_cpus=1 xirqpoll");
        i.boot_cpu_apicid = None;
        i.watchdog_drivers = &drivers;
        assert_eq!(
            capture_cmdline(&i).unwrap(),
            "ro irqpoll irqpoll nr_cpus=1 xirqpoll iTCO_wdt.pretimeout=0 hpwdt.pretimeout=0 \
             hpwdt.kdumptimeout=0 rd.systemd.gpt_auto=no"
        );
        // Graviton: the first whole-word irqpoll goes (sed without /g).
        i.aws_graviton = true;
        i.watchdog_drivers = &[];
        assert_eq!(
            capture_cmdline(&i).unwrap(),
            "ro irqpoll nr_cpus=1 xirqpoll rd.systemd.gpt_auto=no"
        );
    }

    #[test]
    fn test_unbalanced_quotes_are_refused_naming_the_source() {
        let err = capture_cmdline(&inputs("ro acpi_osi=\"Windows 2015 quiet", "", "irqpoll"))
            .unwrap_err();
        assert_eq!(err.code, ExitCode::NotConfigured);
        assert!(
            err.to_string().starts_with(
                "/proc/cmdline: unmatched \" quote at byte 13; kdumpctl would silently drop"
            ),
            "{err}"
        );
        let err = capture_cmdline(&inputs("ro", "", "irqpoll foo=\"bar")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/etc/sysconfig/kdump:9: KDUMP_COMMANDLINE_APPEND: unbalanced"),
            "{err}"
        );
        let err = capture_cmdline(&inputs("ro a='x\"y'", "", "")).unwrap_err();
        assert!(
            err.to_string().contains("stray double quote (`a=x\"y`)"),
            "{err}"
        );
        let err = capture_cmdline(&inputs("ro", "quiet 'x", "")).unwrap_err();
        assert!(
            err.to_string()
                .contains("KDUMP_COMMANDLINE_REMOVE: unmatched '"),
            "{err}"
        );
    }

    #[test]
    fn test_apicid_of_processor_0() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\napicid\t\t: 2\ninitial apicid\t: 2\n\nprocessor\t: 1\napicid\t\t: 0\n";
        assert_eq!(boot_cpu_apicid(cpuinfo).as_deref(), Some("2"));
        assert_eq!(boot_cpu_apicid("processor : 0\nBogoMIPS : 50\n"), None);
    }

    #[test]
    fn test_watchdog_drivers_from_modalias() {
        let aliases = ModuleAliases::parse(
            "# Aliases extracted from modules themselves.\nalias platform:iTCO_wdt iTCO_wdt\nalias pci:v0000103Cd00003306sv*sd*bc*sc*i* hpwdt\nalias pci:v0000103Cd00003306sv*sd*bc*sc*i* hpwdt_extra\n",
            "alias acpi*:PNP0C14:* wmi\nalias platform:sp5100-tco sp5100_tco\n",
        );
        let devices = [
            WatchdogDevice {
                name: "watchdog1".into(),
                modalias: Some("pci:v0000103Cd00003306sv0000103Csd00001979bc08sc80i00\n".into()),
            },
            WatchdogDevice {
                name: "watchdog0".into(),
                modalias: Some("platform:iTCO_wdt\n".into()),
            },
            WatchdogDevice {
                name: "watchdog2".into(),
                modalias: None,
            },
            WatchdogDevice {
                name: "watchdog3".into(),
                modalias: Some("platform:sp5100_tco".into()),
            },
        ];
        assert_eq!(
            watchdog_drivers(&devices, &aliases),
            ["iTCO_wdt", "hpwdt", "hpwdt_extra", "sp5100_tco"]
        );
        assert!(fnmatch(b"a[0-9]b[!x]\\*", b"a5by*"));
        assert!(!fnmatch(b"a[!0-9]", b"a5"));
    }

    /// An SMBIOS type-4 structure: Version is string 2, Part Number 3.
    fn type4(version: &str) -> Vec<u8> {
        let mut s = vec![4u8, 0x28, 0x04, 0x00];
        s.resize(0x28, 0);
        s[0x04] = 1;
        s[0x10] = 2;
        s[0x22] = 3;
        for text in ["CPU 0", version, "PN"] {
            s.extend_from_slice(text.as_bytes());
            s.push(0);
        }
        s.push(0);
        s
    }

    #[test]
    fn test_graviton_from_dmi() {
        let mut dmi = vec![0u8, 4, 0, 0, 0, 0]; // type 0, no strings
        dmi.extend(type4("AWS Graviton3"));
        dmi.extend([127u8, 4, 0, 0, 0, 0]);
        let names = dmi_processor_names(&dmi);
        assert_eq!(names, ["AWS Graviton3", "PN"]);
        assert!(is_aws_graviton(&names));
        assert!(!is_aws_graviton(&dmi_processor_names(&type4(
            "Ampere(R) Altra(R)"
        ))));
    }

    #[test]
    fn test_uki_path_from_efivar() {
        let mut var = vec![6u8, 0, 0, 0];
        for c in "\\EFI\\Linux\\ffff-6.12.0.efi".encode_utf16() {
            var.extend(c.to_le_bytes());
        }
        var.extend([0, 0]);
        assert_eq!(
            uki_from_stub_image_identifier(&var),
            "/EFI/Linux/ffff-6.12.0.efi"
        );
    }

    #[test]
    fn test_debian_cmdline() {
        let proc = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro quiet crashkernel=384M-:128M hugepages=4 abm=1 hugepagesz=2M\n";
        let base = debian_default_base(proc);
        assert_eq!(
            base,
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro quiet"
        );
        let append = Source::variable("KDUMP_CMDLINE_APPEND", Origin::Default);
        assert_eq!(
            debian_cmdline(
                &base,
                &Source::ProcCmdline,
                "reset_devices  nr_cpus=1",
                &append
            )
            .unwrap(),
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=x ro quiet reset_devices nr_cpus=1"
        );
        // sed only removes keys at the start or after a space.
        assert_eq!(
            debian_default_base("crashkernel=1 xcrashkernel=2\tabm=3 a abm=4"),
            " xcrashkernel=2\tabm=3 a"
        );
        // One leading or trailing blank survives the shell's splitting.
        assert_eq!(
            debian_cmdline(" ro\t", &Source::ProcCmdline, "x ", &append).unwrap(),
            " ro x "
        );
        assert!(
            debian_cmdline("ro a=\"b", &Source::ProcCmdline, "x", &append)
                .unwrap_err()
                .to_string()
                .starts_with("/proc/cmdline: unbalanced double quote at byte 6")
        );
    }

    #[test]
    fn test_debian_kernel_and_initrd_as_kdump_config() {
        let files = [
            "/boot/vmlinuz-6.1.0-31-amd64",
            "/boot/initrd.img-6.1.0-31-amd64",
            "/var/lib/kdump/initrd.img-6.1.0-31-amd64",
            "/srv/k",
        ];
        let exists = |p: &str| files.contains(&p);
        let boot = |kernel, initrd, relocatable| DebianBoot {
            kdump_kernel: kernel,
            kdump_initrd: initrd,
            release: "6.1.0-31-amd64",
            relocatable,
        };
        let pick = |b: DebianBoot| debian_kernel_initrd(&b, exists);
        assert_eq!(
            pick(boot(
                "/var/lib/kdump/vmlinuz",
                "/var/lib/kdump/initrd.img",
                true
            ))
            .unwrap(),
            (
                "/boot/vmlinuz-6.1.0-31-amd64".to_string(),
                Some("/var/lib/kdump/initrd.img-6.1.0-31-amd64".to_string())
            )
        );
        // KDUMP_KERNEL without KDUMP_INITRD: no initrd at all.
        assert_eq!(
            pick(boot("/srv/k", "", false)).unwrap(),
            ("/srv/k".into(), None)
        );
        // Neither: the running kernel and its own initrd; KDUMP_INITRD ignored.
        assert_eq!(
            pick(boot("", "/srv/nope", true)).unwrap().1.as_deref(),
            Some("/boot/initrd.img-6.1.0-31-amd64")
        );
        assert_eq!(
            pick(boot("", "", false)).unwrap_err().code,
            ExitCode::NotConfigured
        );
        let err = pick(boot("/srv/k", "/srv/nope", true)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/default/kdump-tools: KDUMP_INITRD does not exist: /srv/nope"
        );
        assert!(config_relocatable("CONFIG_X=1\nCONFIG_RELOCATABLE=y\n"));
        assert!(!config_relocatable("# CONFIG_RELOCATABLE is not set\n"));
    }

    #[test]
    fn test_initrd_names_and_debug() {
        assert_eq!(
            kdump_initrd_name(Some("initramfs-5.14.img"), "5.14"),
            "initramfs-5.14kdump.img"
        );
        assert_eq!(kdump_initrd_name(Some("initrd"), "5.14"), "initrdkdump");
        assert_eq!(kdump_initrd_name(None, "5.14"), "initramfs-5.14kdump.img");
        let boot = Path::new("/boot");
        assert_eq!(
            kdump_initrd_path(boot, Some("initramfs-5.14.img"), true, "5.14"),
            Path::new("/boot/initramfs-5.14kdump.img")
        );
        for (default, writable) in [(None, true), (Some("initrd"), false)] {
            assert_eq!(
                kdump_initrd_path(boot, default, writable, "5.14"),
                Path::new("/var/lib/kdump/initramfs-5.14kdump.img")
            );
        }
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
