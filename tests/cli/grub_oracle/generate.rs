//! The cases of the GRUB oracle, generated from a seed.
//!
//! Configurations come from two places:
//! - the real `grub-mkconfig` of Debian 12 (GRUB 2.06) and Debian 13
//!   (2.12) roots (`tests/grub-oracle/mkconfig`), under many
//!   `/etc/default/grub` settings and `/boot` contents, including Ubuntu's
//!   layout: Debian's /etc/grub.d scripts carry Ubuntu's code behind five
//!   build switches (`ubuntu_recovery`, `quiet_boot`, `quick_boot`,
//!   `gfxpayload_dynamic`, `vt_handoff`) that Ubuntu's package sets to 1,
//!   and so does the oracle for "ubuntu" runs; os-prober entries come from
//!   the real 30_os-prober with canned os-prober answers;
//! - shapes written by hand from other distributions' generator scripts
//!   (Ubuntu's `initrdfail`, Arch's fallback initramfs, RHEL 7's `linux16`
//!   flat menu) and script-heavy configurations exercising GRUB's language
//!   (functions, loops, quoting, submenu contexts, syntax errors).
//!
//! Each configuration is then combined with environment blocks (no file,
//! `saved_entry`, `next_entry`, `prev_saved_entry`, `recordfail` as an
//! index, id, title or `>` path, stale or out of range; full blocks; a
//! block without signature) and a platform (`efi` or `pc`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use kexecctl::boot::grubenv;

use super::case::{Block, Case, Config};
use super::emu::repo;

/// SplitMix64: small, seedable, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A menu item found in a generated configuration.
#[derive(Debug, Clone)]
pub struct Item {
    pub title: String,
    pub id: Option<String>,
    pub children: Vec<Item>,
}

/// The menu of a configuration, read from its `menuentry`/`submenu` lines
/// (only to invent plausible defaults; GRUB's answer is GRUB's).
pub fn outline(text: &str) -> Vec<Item> {
    let mut stack: Vec<(usize, Item)> = vec![(
        usize::MAX,
        Item {
            title: String::new(),
            id: None,
            children: Vec::new(),
        },
    )];
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        let submenu = t.starts_with("submenu ");
        if t.starts_with("menuentry ") || submenu {
            let quoted = quoted_strings(t);
            let title = quoted.first().cloned().unwrap_or_default();
            let id = t
                .find("$menuentry_id_option")
                .or_else(|| t.find("--id"))
                .and_then(|at| quoted_strings(&t[at..]).into_iter().next());
            let item = Item {
                title,
                id,
                children: Vec::new(),
            };
            if submenu {
                stack.push((indent, item));
            } else if let Some(top) = stack.last_mut() {
                top.1.children.push(item);
            }
        } else if t == "}" && stack.len() > 1 && stack.last().is_some_and(|(i, _)| *i == indent) {
            let (_, item) = stack.pop().unwrap();
            stack.last_mut().unwrap().1.children.push(item);
        }
    }
    while stack.len() > 1 {
        let (_, item) = stack.pop().unwrap();
        stack.last_mut().unwrap().1.children.push(item);
    }
    stack.pop().unwrap().1.children
}

fn quoted_strings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '"' {
            let mut v = String::new();
            for n in chars.by_ref() {
                if n == c {
                    break;
                }
                v.push(n);
            }
            out.push(v);
        }
    }
    out
}

fn esc_gt(s: &str) -> String {
    s.replace('>', ">>")
}

/// Values for `default`, `saved_entry`, `next_entry` on this menu.
pub fn default_candidates(rng: &mut Rng, menu: &[Item]) -> String {
    let n = menu.len();
    let pick_child = |rng: &mut Rng, item: &Item| -> Option<(usize, Item)> {
        (!item.children.is_empty()).then(|| {
            let j = rng.below(item.children.len());
            (j, item.children[j].clone())
        })
    };
    let i = rng.below(n.max(1));
    let item = menu.get(i).cloned();
    match rng.below(20) {
        0 => rng.below(n + 2).to_string(),
        1 => rng
            .pick(&[
                "99",
                " 1",
                "1 ",
                "01",
                "0x1",
                "-1",
                "2nd",
                "",
                "4294967297",
                "010",
            ])
            .to_string(),
        2 | 3 => i.to_string(),
        4 | 5 => item
            .as_ref()
            .and_then(|m| m.id.clone())
            .unwrap_or_else(|| "0".into()),
        6 => item.map(|m| esc_gt(&m.title)).unwrap_or_default(),
        7..=12 => {
            // A path into a submenu.
            let subs: Vec<(usize, &Item)> = menu
                .iter()
                .enumerate()
                .filter(|(_, m)| !m.children.is_empty())
                .collect();
            let Some(&(si, sub)) = subs.get(rng.below(subs.len().max(1))) else {
                return i.to_string();
            };
            let (j, child) = pick_child(rng, sub).unwrap();
            let head = match rng.below(3) {
                0 => si.to_string(),
                1 => sub.id.clone().unwrap_or_else(|| esc_gt(&sub.title)),
                _ => esc_gt(&sub.title),
            };
            let tail = match rng.below(5) {
                0 => j.to_string(),
                1 => esc_gt(&child.title),
                2 => (sub.children.len() + 3).to_string(),
                _ => child.id.clone().unwrap_or_else(|| esc_gt(&child.title)),
            };
            format!("{head}>{tail}")
        }
        13 => {
            // A stale id: the version changed since it was saved.
            let id = item.and_then(|m| m.id).unwrap_or_default();
            id.replacen('1', "9", 1)
        }
        14 => "saved".into(),
        15 => format!("{i}>"),
        16 => format!(">{i}"),
        17 => "nonexistent-entry".into(),
        _ => {
            let with_children: Vec<&Item> =
                menu.iter().filter(|m| !m.children.is_empty()).collect();
            match with_children.first() {
                Some(sub) => format!(
                    "{}>{}",
                    sub.id.clone().unwrap_or_default(),
                    rng.below(sub.children.len() + 1)
                ),
                None => i.to_string(),
            }
        }
    }
}

// -- grub-mkconfig --------------------------------------------------------

struct Kernels {
    versions: Vec<String>,
    /// Files in /boot besides kernels (initrds, microcode).
    files: Vec<String>,
}

fn kernels(rng: &mut Rng, family: &str) -> Kernels {
    let pool: &[&str] = match family {
        "bookworm" => &[
            "6.1.0-9-amd64",
            "6.1.0-10-amd64",
            "6.1.0-13-amd64",
            "6.1.0-18-amd64",
            "6.1.0-26-amd64",
            "6.1.0-27-amd64",
            "6.1.0-28-amd64",
            "6.1.0-28-rt-amd64",
        ],
        "trixie" => &[
            "6.12.27+deb13-amd64",
            "6.12.33+deb13-amd64",
            "6.12.41+deb13-amd64",
            "6.12.48+deb13-amd64",
            "6.12.48+deb13-cloud-amd64",
        ],
        "ubuntu" => &[
            "5.15.0-119-generic",
            "6.8.0-31-generic",
            "6.8.0-45-generic",
            "6.8.0-47-generic",
            "6.8.0-51-generic",
            "6.8.0-51-lowlatency",
        ],
        _ => &["linux", "linux-lts", "linux-zen"],
    };
    let count = 1 + rng.below(3);
    let mut versions: Vec<String> = Vec::new();
    while versions.len() < count {
        let v = rng.pick(pool).to_string();
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    let mut files = Vec::new();
    for v in &versions {
        if rng.chance(85) {
            files.push(if family == "arch" {
                format!("initramfs-{v}.img")
            } else {
                format!("initrd.img-{v}")
            });
        }
    }
    Kernels { versions, files }
}

/// Kernel command lines as an admin writes them in /etc/default/grub (the
/// shell text between the quotes, and the quote).
const CMDLINES: &[(&str, char)] = &[
    ("quiet", '"'),
    ("", '"'),
    ("quiet splash", '"'),
    ("console=tty0 console=ttyS0,115200n8", '"'),
    ("acpi_osi=\\\"Windows 2015\\\" acpi_backlight=vendor", '"'),
    ("memmap=64K\\\\\\$0x10000", '"'),
    ("memmap=64K$0x10000", '\''),
    ("rd.info x=${root} y=$prefix", '\''),
    ("a='b c' d", '"'),
    ("path=C:\\\\dir", '\''),
    ("\"quoted whole\" tail", '\''),
    ("emptyq=\"\" x=1", '\''),
    ("crashkernel=1G-4G:192M,4G-64G:256M", '"'),
    ("lang=fr_FR.UTF-8 titre=été", '"'),
    ("dyndbg=\\\"module usbcore +p\\\"", '"'),
    ("noibrs  nopti   mitigations=off", '"'),
    ("x=$vt_handoff y=${linux_gfx_mode}", '\''),
    ("init=/bin/sh rw", '"'),
    ("it\\'s", '"'),
];

fn shell_quote_dq(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

struct MkSettings {
    suite: &'static str,
    family: &'static str,
    ubuntu: bool,
    separate: bool,
    default_grub: Option<String>,
    lines: Vec<String>,
    custom40: String,
    custom_cfg: Option<String>,
    os_prober: Option<(String, String)>,
    boot_files: Vec<String>,
}

impl MkSettings {
    fn describe(&self) -> String {
        let mut s = format!(
            "{} grub-mkconfig ({} kernels){}{}:",
            self.suite,
            self.family,
            if self.ubuntu {
                " (Ubuntu switches)"
            } else {
                ""
            },
            if self.separate {
                ", separate /boot"
            } else {
                ""
            }
        );
        if let Some(d) = &self.default_grub {
            let _ = write!(s, " GRUB_DEFAULT={d}");
        }
        for l in &self.lines {
            let _ = write!(s, " {l}");
        }
        if !self.custom40.is_empty() {
            s.push_str(" +40_custom");
        }
        if self.custom_cfg.is_some() {
            s.push_str(" +custom.cfg");
        }
        if self.os_prober.is_some() {
            s.push_str(" +os-prober");
        }
        s
    }
}

fn mk_settings(rng: &mut Rng) -> MkSettings {
    let suite = if rng.chance(50) { "bookworm" } else { "trixie" };
    let ubuntu = rng.chance(30);
    let family = if ubuntu {
        "ubuntu"
    } else if rng.chance(10) {
        "arch"
    } else {
        suite
    };
    let separate = rng.chance(30);
    let boot = if separate { "" } else { "/boot" };
    let k = kernels(rng, family);
    let mut boot_files: Vec<String> = k.versions.iter().map(|v| format!("vmlinuz-{v}")).collect();
    boot_files.extend(k.files);
    let mut lines = Vec::new();
    let distributor = if ubuntu {
        "Ubuntu"
    } else if family == "arch" {
        "Arch"
    } else if rng.chance(10) {
        // Quotes in titles: grub-mkconfig writes them as '\''.
        "\"Debian's > test\""
    } else {
        "Debian"
    };
    lines.push(format!("GRUB_DISTRIBUTOR={distributor}"));
    let (cmd, q) = *rng.pick(CMDLINES);
    lines.push(format!("GRUB_CMDLINE_LINUX={q}{cmd}{q}"));
    let (cmd, q) = *rng.pick(CMDLINES);
    lines.push(format!("GRUB_CMDLINE_LINUX_DEFAULT={q}{cmd}{q}"));
    if rng.chance(25) {
        lines.push("GRUB_SAVEDEFAULT=true".into());
    }
    if rng.chance(20) {
        lines.push(format!(
            "GRUB_DISABLE_SUBMENU={}",
            rng.pick(&["y", "true", "false"])
        ));
    }
    if rng.chance(25) {
        lines.push("GRUB_DISABLE_RECOVERY=true".into());
    }
    if rng.chance(15) {
        lines.push("GRUB_TIMEOUT_STYLE=hidden".into());
        lines.push("GRUB_TIMEOUT=0".into());
    }
    if rng.chance(10) {
        lines.push("GRUB_DISABLE_LINUX_UUID=true".into());
    }
    if suite == "trixie" && rng.chance(10) {
        let v = rng.pick(&k.versions).clone();
        lines.push(format!("GRUB_TOP_LEVEL={boot}/vmlinuz-{v}"));
    }
    match rng.below(5) {
        0 => boot_files.push("intel-ucode.img".into()),
        1 => boot_files.push("amd-ucode.img".into()),
        2 => {
            boot_files.push("early-custom.img".into());
            lines.push("GRUB_EARLY_INITRD_LINUX_CUSTOM=early-custom.img".into());
        }
        _ => {}
    }
    let v0 = k.versions[0].clone();
    let mut custom40 = String::new();
    if rng.chance(25) {
        match rng.below(5) {
            0 => {
                let _ = write!(
                    custom40,
                    "menuentry 'Custom kernel' --id custom-linux {{\n\tlinux {boot}/vmlinuz-{v0} root=/dev/vda1 ro custom=1\n}}\n"
                );
            }
            1 => custom40.push_str(
                "menuentry 'EFI shell' --id efi-shell {\n\tchainloader /EFI/shell.efi\n}\n",
            ),
            2 => custom40.push_str("menuentry 'Reboot' {\n\treboot\n}\n"),
            3 => {
                let _ = write!(
                    custom40,
                    "menuentry 'Memory test' {{\n\tlinux16 {boot}/memtest86+x64.bin console=ttyS0\n}}\n"
                );
                boot_files.push("memtest86+x64.bin".into());
            }
            _ => {
                let _ = write!(
                    custom40,
                    "submenu 'Custom submenu' --id custom-sub {{\n\tmenuentry 'Inner A' --id inner-a {{\n\t\tlinux {boot}/vmlinuz-{v0} inner=a\n\t}}\n\tmenuentry 'Inner B' {{\n\t\tlinux {boot}/vmlinuz-{v0} inner=b $1\n\t}}\n}}\n"
                );
            }
        }
    }
    let custom_cfg = rng.chance(10).then(|| {
        format!("menuentry 'From custom.cfg' --id from-custom {{\n\tlinux {boot}/vmlinuz-{v0} from=custom.cfg\n}}\n")
    });
    let os_prober = rng.chance(15).then(|| {
        lines.push("GRUB_DISABLE_OS_PROBER=false".into());
        let mut probes = String::new();
        let mut lbp = String::new();
        if rng.chance(70) {
            probes.push_str("/dev/vda3@/EFI/Microsoft/Boot/bootmgfw.efi:Windows Boot Manager:Windows:efi\n");
        }
        if rng.chance(40) {
            probes.push_str("/dev/vda5:Windows 10:Windows:chain\n");
        }
        if rng.chance(50) {
            probes.push_str("/dev/vda4:Fedora Linux 39:Fedora:linux\n");
            lbp.push_str("/dev/vda4:/dev/vda4:/boot:/boot/vmlinuz-6.5.6-300.fc39.x86_64:/boot/initramfs-6.5.6-300.fc39.x86_64.img:root=UUID=4444 ro rhgb quiet\n");
        }
        (probes, lbp)
    });
    MkSettings {
        suite,
        family,
        ubuntu,
        separate,
        default_grub: None,
        lines,
        custom40,
        custom_cfg,
        os_prober,
        boot_files,
    }
}

/// Runs grub-mkconfig in `root` for these settings.
fn mkconfig(root: &Path, work: &Path, s: &MkSettings) -> Result<String, String> {
    let _ = fs::remove_dir_all(work);
    fs::create_dir_all(work.join("boot/grub")).unwrap();
    fs::create_dir_all(work.join("oracle")).unwrap();
    let mut default = String::from("GRUB_TIMEOUT=5\n");
    if let Some(d) = &s.default_grub {
        let _ = writeln!(default, "GRUB_DEFAULT={}", shell_quote_dq(d));
    }
    for l in &s.lines {
        let _ = writeln!(default, "{l}");
    }
    fs::write(work.join("etc-default-grub"), default).unwrap();
    let grub_d = work.join("grub.d");
    let status = Command::new("cp")
        .arg("-a")
        .arg(root.join("etc/grub.d"))
        .arg(&grub_d)
        .status()
        .unwrap();
    assert!(status.success());
    if s.ubuntu {
        for script in ["00_header", "10_linux"] {
            let p = grub_d.join(script);
            let mut text = fs::read_to_string(&p).unwrap();
            for switch in [
                "ubuntu_recovery",
                "quiet_boot",
                "quick_boot",
                "gfxpayload_dynamic",
                "vt_handoff",
            ] {
                text = text.replace(&format!("{switch}=\"0\""), &format!("{switch}=\"1\""));
            }
            fs::write(&p, text).unwrap();
        }
    }
    if !s.custom40.is_empty() {
        let p = grub_d.join("40_custom");
        let mut text = fs::read_to_string(&p).unwrap();
        text.push_str(&s.custom40);
        fs::write(&p, text).unwrap();
    }
    for f in &s.boot_files {
        fs::write(work.join("boot").join(f), b"").unwrap();
    }
    if let Some((probes, lbp)) = &s.os_prober {
        fs::write(work.join("oracle/os-prober.txt"), probes).unwrap();
        fs::write(work.join("oracle/linux-boot-prober.txt"), lbp).unwrap();
    }
    let out = Command::new(repo().join("tests/grub-oracle/mkconfig"))
        .arg(root)
        .arg(work)
        .arg(if s.separate { "1" } else { "0" })
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "grub-mkconfig failed ({}): {}",
            s.describe(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

// -- environment blocks ---------------------------------------------------

fn block_with(rng: &mut Rng, vars: &[(String, String)]) -> Block {
    let mut changes: Vec<(String, Option<String>)> = Vec::new();
    if rng.chance(10) {
        changes.push(("kernelopts".into(), Some("unknown=kept".into())));
    }
    changes.extend(vars.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
    let size = if rng.chance(10) {
        2048
    } else {
        grubenv::DEFAULT_SIZE
    };
    let mut block = grubenv::SIGNATURE.to_vec();
    if rng.chance(10) {
        block.extend_from_slice(b"# a comment grub-editenv keeps\n");
    }
    block.resize(size, b'#');
    let mut block = grubenv::apply(&block, &changes).expect("generated variables fit");
    if rng.chance(4) {
        // Nearly full: later writes may not fit, and GRUB refuses them.
        let used = block.len() - block.iter().rev().take_while(|&&b| b == b'#').count();
        let room = block.len() - used;
        let filler = room.saturating_sub(8 + rng.below(24) + "filler=\n".len());
        block = grubenv::apply(&block, &[("filler".into(), Some("f".repeat(filler)))]).unwrap();
    }
    Block::of(&block)
}

/// Environment-block variants for a configuration.
fn env_variants(
    rng: &mut Rng,
    menu: &[Item],
    ubuntu: bool,
    count: usize,
) -> Vec<(String, Option<Block>)> {
    let mut out = Vec::new();
    for _ in 0..count {
        let mut vars: Vec<(String, String)> = Vec::new();
        let r = rng.below(100);
        let block = match r {
            0..=11 => None,
            12..=15 => Some(block_with(rng, &[])),
            16..=17 => Some(Block {
                size: 1024,
                text: "saved_entry=1\nnot a block\n".into(),
            }),
            _ => {
                let both = rng.chance(30);
                if r < 55 || both {
                    vars.push(("saved_entry".into(), default_candidates(rng, menu)));
                }
                if r >= 55 || both {
                    vars.push(("next_entry".into(), default_candidates(rng, menu)));
                }
                if rng.chance(8) {
                    vars.push(("prev_saved_entry".into(), default_candidates(rng, menu)));
                }
                if (ubuntu && rng.chance(30)) || rng.chance(5) {
                    vars.push(("recordfail".into(), "1".into()));
                }
                if rng.chance(5) {
                    vars.push(("initrdfail".into(), "1".into()));
                }
                Some(block_with(rng, &vars))
            }
        };
        let describe = match &block {
            None => "no grubenv".to_string(),
            Some(_) if vars.is_empty() => "grubenv without variables".to_string(),
            Some(_) => vars
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(" "),
        };
        out.push((describe, block));
    }
    out
}

fn platform(rng: &mut Rng) -> String {
    if rng.chance(60) { "efi" } else { "pc" }.to_string()
}

// -- hand-made shapes -----------------------------------------------------

const UUID: &str = "7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d";

struct Shape {
    origin: String,
    text: String,
    files: Vec<String>,
    extra: BTreeMap<String, String>,
    ubuntu: bool,
}

/// Ubuntu's cloud-image layout (GRUB_FORCE_PARTUUID): `initrdfail` boots
/// without initrd first, and falls back.
fn ubuntu_initrdfail(rng: &mut Rng) -> Shape {
    let versions = ["6.8.0-45-generic", "6.8.0-51-generic"];
    let v = *rng.pick(&versions);
    let partuuid = "a1b2c3d4-01";
    let mut text = String::from(UBUNTU_HEADER);
    text = text.replace("DEFAULT", &default_value(rng, 2));
    let entry = |title: &str, id: &str, indent: &str, recovery: bool| {
        let args = if recovery {
            "ro recovery nomodeset dis_ucode_ldr"
        } else {
            "ro console=tty1 console=ttyS0 quiet splash $vt_handoff"
        };
        format!(
            "{indent}menuentry '{title}' --class ubuntu --class gnu-linux --class gnu --class os $menuentry_id_option '{id}' {{\n\
{indent}\trecordfail\n{indent}\tload_video\n{indent}\tgfxmode $linux_gfx_mode\n{indent}\tinsmod gzio\n\
{indent}\tif [ \"${{initrdfail}}\" = 1 ]; then\n\
{indent}\t  echo\t'GRUB_FORCE_PARTUUID set, initrdless boot failed. Attempting with initrd.'\n\
{indent}\t  linux\t/boot/vmlinuz-{v} root=LABEL=cloudimg-rootfs {args}\n\
{indent}\t  initrd\t/boot/initrd.img-{v}\n\
{indent}\telse\n\
{indent}\t  echo\t'GRUB_FORCE_PARTUUID set, attempting initrdless boot.'\n\
{indent}\t  linux\t/boot/vmlinuz-{v} root=PARTUUID={partuuid} {args} panic=-1\n\
{indent}\tfi\n{indent}\tinitrdfail\n{indent}}}\n"
        )
    };
    text.push_str(&format!("set partuuid={partuuid}\n"));
    text.push_str(&entry(
        "Ubuntu",
        &format!("gnulinux-simple-{UUID}"),
        "",
        false,
    ));
    text.push_str(&format!(
        "submenu 'Advanced options for Ubuntu' $menuentry_id_option 'gnulinux-advanced-{UUID}' {{\n"
    ));
    text.push_str(&entry(
        &format!("Ubuntu, with Linux {v}"),
        &format!("gnulinux-{v}-advanced-{UUID}"),
        "\t",
        false,
    ));
    text.push_str(&entry(
        &format!("Ubuntu, with Linux {v} (recovery mode)"),
        &format!("gnulinux-{v}-recovery-{UUID}"),
        "\t",
        true,
    ));
    text.push_str("}\n");
    Shape {
        origin: "hand-made: Ubuntu cloud image (GRUB_FORCE_PARTUUID, initrdfail)".into(),
        text,
        files: vec![
            format!("/boot/vmlinuz-{v}"),
            format!("/boot/initrd.img-{v}"),
        ],
        extra: BTreeMap::new(),
        ubuntu: true,
    }
}

const UBUNTU_HEADER: &str = r#"if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${initrdfail}" = 2 ]; then
   set initrdfail=
elif [ "${initrdfail}" = 1 ]; then
   set next_entry="${prev_entry}"
   set prev_entry=
   save_env prev_entry
   if [ "${next_entry}" ]; then
      set initrdfail=2
   fi
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="DEFAULT"
fi

if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "${prev_saved_entry}" ]; then
  set saved_entry="${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
function initrdfail {
    if [ -n "${have_grubenv}" ]; then if [ -n "${partuuid}" ]; then
      if [ -z "${initrdfail}" ]; then
        set initrdfail=1
        if [ -n "${boot_once}" ]; then
          set prev_entry="${default}"
          save_env prev_entry
        fi
      fi
      save_env initrdfail
    fi; fi
}
function recordfail {
  set recordfail=1
  if [ -n "${have_grubenv}" ]; then if [ -z "${boot_once}" ]; then save_env recordfail; fi; fi
}
function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod vbe
  fi
}
if [ "${recordfail}" = 1 ] ; then
  set timeout=30
else
  if [ x$feature_timeout_style = xy ] ; then
    set timeout_style=hidden
    set timeout=0
  else
    set timeout=0
  fi
fi
function gfxmode {
	set gfxpayload="${1}"
	if [ "${1}" = "keep" ]; then
		set vt_handoff=vt.handoff=7
	else
		set vt_handoff=
	fi
}
if [ "${recordfail}" != 1 ]; then
  if [ -e ${prefix}/gfxblacklist.txt ]; then
    if [ ${grub_platform} != pc ]; then
      set linux_gfx_mode=keep
    elif hwmatch ${prefix}/gfxblacklist.txt 3; then
      if [ ${match} = 0 ]; then
        set linux_gfx_mode=keep
      else
        set linux_gfx_mode=text
      fi
    else
      set linux_gfx_mode=text
    fi
  else
    set linux_gfx_mode=keep
  fi
else
  set linux_gfx_mode=text
fi
export linux_gfx_mode
"#;

/// A `default` value, as a config writes it (sometimes via saved_entry).
fn default_value(rng: &mut Rng, n: usize) -> String {
    match rng.below(6) {
        0 | 1 => "${saved_entry}".into(),
        2 => format!("1>{}", rng.below(3)),
        _ => rng.below(n + 1).to_string(),
    }
}

/// Arch Linux: upstream 10_linux with Arch's fallback initramfs entries.
fn arch(rng: &mut Rng) -> Shape {
    let kernels = ["linux", "linux-lts"];
    let count = 1 + rng.below(2);
    let ucode = rng.chance(60);
    let mut text = DEBIANISH_HEADER.replace("DEFAULT", &default_value(rng, 2));
    let mut files = Vec::new();
    let mut entries = String::new();
    for k in &kernels[..count] {
        files.push(format!("/boot/vmlinuz-{k}"));
        files.push(format!("/boot/initramfs-{k}.img"));
        files.push(format!("/boot/initramfs-{k}-fallback.img"));
        let initrd = |img: &str| {
            if ucode {
                format!("/boot/intel-ucode.img /boot/{img}")
            } else {
                format!("/boot/{img}")
            }
        };
        for (suffix, kind, img) in [
            ("", "advanced", format!("initramfs-{k}.img")),
            (
                " (fallback initramfs)",
                "fallback",
                format!("initramfs-{k}-fallback.img"),
            ),
        ] {
            let _ = write!(
                entries,
                "\tmenuentry 'Arch Linux, with Linux {k}{suffix}' --class arch --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-{k}-{kind}-{UUID}' {{\n\
\t\tload_video\n\t\tset gfxpayload=keep\n\t\tinsmod gzio\n\t\tinsmod part_gpt\n\t\tinsmod ext2\n\
\t\tsearch --no-floppy --fs-uuid --set=root {UUID}\n\
\t\techo\t'Loading Linux {k} ...'\n\
\t\tlinux\t/boot/vmlinuz-{k} root=UUID={UUID} rw  loglevel=3 quiet\n\
\t\techo\t'Loading initial ramdisk ...'\n\
\t\tinitrd\t{}\n\t}}\n",
                initrd(&img)
            );
        }
    }
    if ucode {
        files.push("/boot/intel-ucode.img".into());
    }
    let _ = write!(
        text,
        "menuentry 'Arch Linux' --class arch --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-{UUID}' {{\n\
\tload_video\n\tset gfxpayload=keep\n\tinsmod gzio\n\
\tlinux\t/boot/vmlinuz-linux root=UUID={UUID} rw  loglevel=3 quiet\n\
\tinitrd\t{}/boot/initramfs-linux.img\n}}\n\
submenu 'Advanced options for Arch Linux' $menuentry_id_option 'gnulinux-advanced-{UUID}' {{\n{entries}}}\n",
        if ucode { "/boot/intel-ucode.img " } else { "" }
    );
    text.push_str(UEFI_FIRMWARE);
    Shape {
        origin: "hand-made: Arch Linux (fallback initramfs)".into(),
        text,
        files,
        extra: BTreeMap::new(),
        ubuntu: false,
    }
}

const DEBIANISH_HEADER: &str = r#"if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="DEFAULT"
fi

if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "${prev_saved_entry}" ]; then
  set saved_entry="${prev_saved_entry}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}

function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}

if [ x$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=5
else
  set timeout=5
fi
"#;

const UEFI_FIRMWARE: &str = r#"if [ "$grub_platform" = "efi" ]; then
	fwsetup --is-supported
	if [ "$?" = 0 ]; then
		menuentry 'UEFI Firmware Settings' $menuentry_id_option 'uefi-firmware' {
			fwsetup
		}
	fi
fi
"#;

/// RHEL 7 / CentOS 7 (grub2 2.02, non-BLS): a flat menu, `linux16` on
/// BIOS and `linuxefi` on EFI, a rescue entry, and 10_linux's
/// title-correction code for old `Previous Linux versions>` defaults.
fn rhel7(rng: &mut Rng) -> Shape {
    let efi = rng.chance(50);
    let (l, i) = if efi {
        ("linuxefi", "initrdefi")
    } else {
        ("linux16", "initrd16")
    };
    let versions = [
        "3.10.0-1160.el7.x86_64",
        "3.10.0-1160.119.1.el7.x86_64",
        "3.10.0-957.el7.x86_64",
    ];
    let count = 1 + rng.below(3);
    let machine = "3f0e9a7b1c2d4e5f8a9b0c1d2e3f4a5b";
    let mut text = DEBIANISH_HEADER.replace(
        "DEFAULT",
        &match rng.below(3) {
            0 => "${saved_entry}".to_string(),
            1 => format!("CentOS Linux ({}) 7 (Core)", versions[rng.below(count)]),
            _ => rng.below(count + 1).to_string(),
        },
    );
    let mut files = Vec::new();
    let mut all: Vec<String> = versions[..count].iter().map(|s| s.to_string()).collect();
    all.push(format!("0-rescue-{machine}"));
    for v in &all {
        files.push(format!("/vmlinuz-{v}"));
        files.push(format!("/initramfs-{v}.img"));
        let _ = write!(
            text,
            "menuentry 'CentOS Linux ({v}) 7 (Core)' --class centos --class gnu-linux --class gnu --class os --unrestricted $menuentry_id_option 'gnulinux-{v}-advanced-{UUID}' {{\n\
\tload_video\n\tset gfxpayload=keep\n\tinsmod gzio\n\tinsmod part_msdos\n\tinsmod xfs\n\tset root='hd0,msdos1'\n\
\tif [ x$feature_platform_search_hint = xy ]; then\n\t  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,msdos1 --hint-efi=hd0,msdos1 --hint-baremetal=ahci0,msdos1 --hint='hd0,msdos1'  {UUID}\n\telse\n\t  search --no-floppy --fs-uuid --set=root {UUID}\n\tfi\n\
\t{l} /vmlinuz-{v} root=/dev/mapper/centos-root ro crashkernel=auto rd.lvm.lv=centos/root rd.lvm.lv=centos/swap rhgb quiet LANG=en_US.UTF-8\n\
\t{i} /initramfs-{v}.img\n}}\n"
        );
    }
    let old = format!("CentOS Linux ({}) 7 (Core)", versions[0]);
    let _ = writeln!(
        text,
        "if [ \"x$default\" = '{old}' ]; then default='Advanced options for CentOS Linux>{old}'; fi;"
    );
    Shape {
        origin: format!("hand-made: RHEL 7 / CentOS 7 ({l}, flat menu)"),
        text,
        files,
        extra: BTreeMap::new(),
        ubuntu: false,
    }
}

/// Configurations exercising GRUB's script language: each entry's kernel
/// arguments come from a feature whose result GRUB must compute.
fn script_heavy(rng: &mut Rng, boot: &str) -> Shape {
    let mut text = String::new();
    let mut extra = BTreeMap::new();
    let mut args: Vec<String> = Vec::new();
    let features = 3 + rng.below(6);
    for _ in 0..features {
        let (code, arg) = match rng.below(28) {
            0 => (
                "function mkargs { set fa=\"$1-$2\"; set fn=$#; set fs=\"$*\"; }\nmkargs one \"two three\" four\n",
                "fa=$fa fn=$fn \"fs=$fs\"",
            ),
            1 => (
                "set acc=\nfor v in a b c d; do if [ $v = c ]; then continue; fi; set acc=\"${acc}$v\"; done\n",
                "acc=$acc",
            ),
            2 => (
                "set w=\nwhile [ \"$w\" != iii ]; do set w=\"${w}i\"; done\n",
                "w=$w",
            ),
            3 => (
                "function rv { return 3; set never=1; }\nrv\nset rvs=$?\n",
                "rv=$rvs never=$never",
            ),
            4 => (
                "function sh1 { shift; set first=$1; shift 2; set rest=\"$@\"; }\nsh1 a b c d e\n",
                "first=$first \"rest=$rest\"",
            ),
            5 => ("set sp=\"  x   y \"\n", "pre${sp}post"),
            6 => ("set nothing=\n", "$nothing \"$nothing\" e=\"$nothing\""),
            7 => ("", "lit=\\$notvar sq='sq $x' dq=\"a\\\"b\""),
            8 => ("set gx=value\n", "$\"gt $gx\""),
            9 => (
                "if [ a = b -o x ]; then set tst=1; else set tst=0; fi\nif [ ! -e /nonexistent ]; then set ne=yes; fi\n",
                "tst=$tst ne=$ne",
            ),
            10 => (
                "if unknown_command_xyz; then set unk=true; fi\nif ! false; then set bang=1; fi\n",
                "unk=$unk bang=$bang",
            ),
            11 => (
                "set exported=seen\nexport exported\nset hidden=seen\n",
                "exp=$exported hid=$hidden",
            ),
            12 => ("eval set \"ev=evaluated value\"\n", "\"ev=$ev\""),
            13 => {
                extra.insert(
                    format!("{boot}/grub/extra.cfg"),
                    "set sourced=yes\nfunction from_extra { set fe=$1; }\n".to_string(),
                );
                (
                    "source ${prefix}/extra.cfg\nfrom_extra called\n",
                    "sourced=$sourced fe=$fe",
                )
            }
            14 => (
                "set bad=$\nset afterbad=ok\n",
                "afterbad=$afterbad bad=$bad",
            ),
            15 => (
                "set ml='first\n# not a comment to GRUB\nsecond'\n",
                "\"ml=$ml\"",
            ),
            16 => ("", "then fi do done"),
            17 => ("false\nset st=$?\n", "st=$st"),
            18 => (
                "function rec { if [ \"$1\" != xxxx ]; then rec \"${1}x\"; else set recd=$1; fi; }\nrec x\n",
                "recd=$recd",
            ),
            19 => (
                "function redef { set rd=one; }\nfunction redef { set rd=two; }\nredef\n",
                "rd=$rd",
            ),
            20 => ("setparams a b\nset sp2=$1\n", "sp2=$sp2"),
            21 => (
                "set n=010\nif [ $n -eq 8 ]; then set oct=yes; fi\nif [ vmlinuz-2 -plt vmlinuz-11 ]; then set plt=yes; fi\n",
                "oct=$oct plt=$plt",
            ),
            22 => ("x=assigned\n", "x=$x"),
            23 => ("set q=\"it's \\\"quoted\\\" \\\\ back\"\n", "\"q=$q\""),
            24 => ("set utf=été\n", "utf=$utf"),
            25 => (
                // A syntax error inside a block: GRUB drops the lines read so
                // far and runs the following lines as top-level commands.
                "menuentry 'Broken entry' {\n\tlinux /vmlinuz-broken bad=$\n\tset leaked=yes\n}\n",
                "leaked=$leaked",
            ),
            26 => (
                "function cnt { set c=$#; }\ncnt $nothing '' \"\" x\n",
                "c=$c",
            ),
            _ => (
                "for i in 1 2 3 4 5; do if [ $i = 3 ]; then break; fi; set last=$i; done\n",
                "last=$last",
            ),
        };
        text.push_str(code);
        args.push(arg.to_string());
    }
    let kernel = format!("{boot}/vmlinuz-script");
    let mut files = vec![kernel.clone(), format!("{boot}/initrd-script.img")];
    let entries = 2 + rng.below(4);
    let mut body = String::new();
    let mut titles = Vec::new();
    for e in 0..entries {
        let title = match rng.below(6) {
            0 => format!("{e}st entry"),
            1 => format!("Entry {e} >> with gt"),
            2 => format!("Entrée {e}"),
            _ => format!("Entry {e}"),
        };
        titles.push(title.clone());
        let id = if rng.chance(70) {
            format!(" --id 'id-{e}'")
        } else {
            String::new()
        };
        let extra_arg = if rng.chance(20) {
            " extra-positional"
        } else {
            ""
        };
        let arg = args[rng.below(args.len())].clone();
        let more = args[rng.below(args.len())].clone();
        let kind = rng.below(12);
        let entry_body = match kind {
            0 => "\tchainloader /EFI/other/boot.efi\n".to_string(),
            1 => "\techo 'no kernel here'\n".to_string(),
            2 => "\tfwsetup\n".to_string(),
            _ => format!(
                "\tlinux\t{kernel} e={e} {arg} {more} t=\"$1\" p2=$2 n=$#\n\tinitrd\t{boot}/initrd-script.img\n"
            ),
        };
        if rng.chance(25) {
            let _ = write!(
                body,
                "submenu 'Sub {e}'{id}{extra_arg} {{\n\tmenuentry 'Inner {e}' --id inner-{e} {{\n\t\tlinux\t{kernel} inner={e} {arg} exp=$exported hid=$hidden\n\t}}\n\tmenuentry 'Inner2 {e}' {{\n\t{entry_body}\t}}\n}}\n"
            );
        } else {
            let _ = write!(
                body,
                "menuentry '{title}'{id}{extra_arg} {{\n{entry_body}}}\n"
            );
        }
    }
    if rng.chance(10) {
        files.push(format!("{boot}/grub/other.cfg"));
        extra.insert(
            format!("{boot}/grub/other.cfg"),
            format!("menuentry 'In other.cfg' {{ linux {kernel} from=configfile }}\n"),
        );
        body.push_str(&format!(
            "menuentry 'Configfile' {{ configfile {boot}/grub/other.cfg }}\n"
        ));
    }
    let default = match rng.below(8) {
        0 => format!(
            "set default=\"{}\"\n",
            esc_gt(&titles[rng.below(titles.len())])
        ),
        1 => format!("set default=\"id-{}\"\n", rng.below(entries)),
        2 => format!("set default=\"{}>{}\"\n", rng.below(entries), rng.below(2)),
        3 => "load_env\nset default=\"${saved_entry}\"\n".to_string(),
        4 => format!(
            "set default={}\nset fallback=\"{} {}\"\n",
            rng.below(entries),
            rng.below(entries),
            rng.below(entries)
        ),
        _ => format!("set default={}\n", rng.below(entries + 1)),
    };
    text.push_str(&default);
    text.push_str(&body);
    files.retain(|f| !extra.contains_key(f));
    if rng.chance(10) {
        // GRUB drops carriage returns.
        text = text.replace('\n', "\r\n");
    }
    Shape {
        origin: format!("hand-made: GRUB script features ({features} features, {entries} entries)"),
        text,
        files,
        extra,
        ubuntu: false,
    }
}

/// Generates configurations and cases; `progress` reports each step.
pub fn generate(
    seed: u64,
    target: usize,
    bookworm: &Path,
    trixie: &Path,
    work: &Path,
    mut progress: impl FnMut(&str),
) -> (Vec<Config>, Vec<Case>) {
    let mut rng = Rng::new(seed);
    let mut configs: Vec<Config> = Vec::new();
    let mut cases: Vec<Case> = Vec::new();
    let mk_share = target * 2 / 3;
    let mut failures = 0;
    while cases.len() < mk_share {
        let mut s = mk_settings(&mut rng);
        let root = if s.suite == "bookworm" {
            bookworm
        } else {
            trixie
        };
        let first = match mkconfig(root, work, &s) {
            Ok(t) => t,
            Err(e) => {
                failures += 1;
                assert!(failures < 20, "grub-mkconfig keeps failing: {e}");
                progress(&format!("skipped: {e}"));
                continue;
            }
        };
        let menu = outline(&first);
        let text = if rng.chance(70) {
            let d = if rng.chance(40) {
                "saved".to_string()
            } else {
                default_candidates(&mut rng, &menu)
            };
            s.default_grub = Some(d);
            mkconfig(root, work, &s).unwrap_or_else(|e| panic!("{e}"))
        } else {
            first
        };
        let boot = if s.separate { "" } else { "/boot" };
        let mut files: Vec<String> = s.boot_files.iter().map(|f| format!("{boot}/{f}")).collect();
        if s.os_prober.is_some() {
            files.push("/boot/vmlinuz-6.5.6-300.fc39.x86_64".into());
            files.push("/boot/initramfs-6.5.6-300.fc39.x86_64.img".into());
        }
        let mut extra = BTreeMap::new();
        if let Some(c) = &s.custom_cfg {
            extra.insert(format!("{boot}/grub/custom.cfg"), c.clone());
        }
        let config = configs.len();
        configs.push(Config {
            origin: s.describe(),
            text,
        });
        let count = 6 + rng.below(10);
        for (variant, grubenv) in env_variants(&mut rng, &menu, s.ubuntu, count) {
            cases.push(Case {
                config,
                platform: platform(&mut rng),
                separate_boot: s.separate,
                grubenv,
                files: files.clone(),
                extra: extra.clone(),
                variant,
                answer: None,
            });
        }
        progress(&format!("{} configs, {} cases", configs.len(), cases.len()));
    }
    while cases.len() < target {
        let separate = rng.chance(20);
        let boot = if separate { "" } else { "/boot" };
        let shape = match rng.below(10) {
            0 | 1 => ubuntu_initrdfail(&mut rng),
            2 => arch(&mut rng),
            3 => rhel7(&mut rng),
            _ => script_heavy(&mut rng, boot),
        };
        // Shapes with fixed /boot paths live on the root file system;
        // RHEL 7's paths are relative to a separate /boot.
        let separate_boot =
            shape.origin.contains("RHEL 7") || (separate && shape.origin.contains("script"));
        let menu = outline(&shape.text);
        let config = configs.len();
        configs.push(Config {
            origin: shape.origin.clone(),
            text: shape.text.clone(),
        });
        let count = 6 + rng.below(8);
        for (variant, grubenv) in env_variants(&mut rng, &menu, shape.ubuntu, count) {
            cases.push(Case {
                config,
                platform: platform(&mut rng),
                separate_boot,
                grubenv,
                files: shape.files.clone(),
                extra: shape.extra.clone(),
                variant,
                answer: None,
            });
        }
        progress(&format!("{} configs, {} cases", configs.len(), cases.len()));
    }
    (configs, cases)
}
