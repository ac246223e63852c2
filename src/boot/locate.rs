//! Where GRUB's files are, and what its paths mean on this system.
//!
//! GRUB names files relative to the partition that holds them: with a
//! separate `/boot`, `/vmlinuz-6.1.0-13-amd64` in grub.cfg is
//! `/boot/vmlinuz-6.1.0-13-amd64` here; on a btrfs root mounted from
//! subvolume `@`, `/@/boot/vmlinuz-...` is `/boot/vmlinuz-...`. Debian's
//! script guesses with `mountpoint -q /boot`; this module reads the mount
//! table (`/proc/self/mountinfo` under the root) instead.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::boot::bls::{self, BlsEntry};
use crate::boot::grub::{FileStat, Flavor, GrubHost};
use crate::root::Root;

pub const MOUNTINFO_PATH: &str = "/proc/self/mountinfo";

/// Where GRUB's configuration can be, in the order they are tried.
pub const GRUB_CFG_PATHS: &[&str] = &["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Which directory of its file system is mounted there (`/`, `/@`).
    pub fs_root: String,
    /// The file system type (`ext4`, `btrfs`, …); empty when unknown.
    pub fstype: String,
    /// The mount source (`/dev/vda2`, `/dev/mapper/vg-root`, …).
    pub source: String,
}

/// Parses `/proc/self/mountinfo` (mount root, mount point, and after the
/// ` - ` separator the type and source; octal escapes decoded).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let fs_root = unescape(fields.nth(3)?);
            let mount_point = unescape(fields.next()?);
            let mut after = line.split(" - ").nth(1).unwrap_or("").split(' ');
            let fstype = unescape(after.next().unwrap_or(""));
            let source = unescape(after.next().unwrap_or(""));
            Some(Mount {
                mount_point: PathBuf::from(mount_point),
                fs_root,
                fstype,
                source,
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let n = u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(n);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount holding `path` (the last mounted of the longest prefix).
pub fn mount_of<'m>(mounts: &'m [Mount], path: &Path) -> Option<&'m Mount> {
    mounts
        .iter()
        .rev()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
}

/// GRUB's files on this system.
pub struct GrubFiles<'r> {
    pub root: &'r Root,
    /// grub.cfg, inside the root.
    pub cfg: PathBuf,
    /// The partition GRUB's paths are relative to.
    pub partition: Mount,
    /// How the partition was decided, for messages.
    pub partition_source: &'static str,
}

impl<'r> GrubFiles<'r> {
    /// Finds grub.cfg under the root; `None` when there is none.
    pub fn find(root: &'r Root) -> Option<Self> {
        let cfg = GRUB_CFG_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| root.host(p).is_file())?;
        let mountinfo = fs::read_to_string(root.host(MOUNTINFO_PATH)).ok();
        let (partition, partition_source) = match mountinfo {
            Some(text) => {
                let mounts = parse_mountinfo(&text);
                match mount_of(&mounts, &cfg) {
                    Some(m) => (m.clone(), "mount table"),
                    None => (root_mount(), "mount table (no entry; assuming /)"),
                }
            }
            None => (root_mount(), "no mount table; assuming /boot is on /"),
        };
        Some(GrubFiles {
            root,
            cfg,
            partition,
            partition_source,
        })
    }

    pub fn dir(&self) -> PathBuf {
        self.cfg.parent().unwrap_or(Path::new("/")).to_path_buf()
    }

    /// A GRUB path (device prefix removed) as a path on this system.
    /// `.` and `..` are resolved first, within GRUB's partition (at its
    /// top `..` stays there, as in GRUB's file system drivers).
    pub fn system_path(&self, grub_path: &str) -> Option<PathBuf> {
        let mut parts: Vec<&str> = Vec::new();
        for part in grub_path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        let normal = format!("/{}", parts.join("/"));
        let grub_path = normal.as_str();
        let fs_root = self.partition.fs_root.trim_end_matches('/');
        let below = if fs_root.is_empty() {
            grub_path
        } else {
            let rest = grub_path.strip_prefix(fs_root)?;
            if !rest.is_empty() && !rest.starts_with('/') {
                return None;
            }
            rest
        };
        Some(
            self.partition
                .mount_point
                .join(below.trim_start_matches('/')),
        )
    }

    /// A system path as GRUB names it (for `$prefix`).
    pub fn grub_path(&self, system_path: &Path) -> String {
        let below = system_path
            .strip_prefix(&self.partition.mount_point)
            .unwrap_or(system_path);
        let fs_root = self.partition.fs_root.trim_end_matches('/');
        format!("{fs_root}/{}", below.display())
    }

    /// The variables GRUB has before grub.cfg runs (all exported).
    pub fn initial_vars(&self, current_cmdline: &str) -> Vec<(String, String)> {
        let mut vars = BTreeMap::new();
        for feature in [
            "feature_menuentry_id",
            "feature_default_font_path",
            "feature_all_video_module",
            "feature_timeout_style",
            "feature_platform_search_hint",
            "feature_200_final",
            "feature_nativedisk_cmd",
            "feature_chainloader_bpb",
            "feature_menuentry_options",
            "feature_ntldr",
        ] {
            vars.insert(feature.to_string(), "y".to_string());
        }
        let efi = self.efi();
        vars.insert(
            "grub_platform".into(),
            if efi { "efi" } else { "pc" }.into(),
        );
        vars.insert(
            "grub_cpu".into(),
            match (std::env::consts::ARCH, efi) {
                ("x86_64", false) => "i386",
                ("aarch64", _) => "arm64",
                (arch, _) => arch,
            }
            .into(),
        );
        // GRUB's `root` is the boot device; the running kernel's BOOT_IMAGE
        // tells it when GRUB wrote one (`BOOT_IMAGE=(hd0,gpt2)/vmlinuz-...`).
        let device = current_cmdline
            .split_whitespace()
            .find_map(|t| t.strip_prefix("BOOT_IMAGE=("))
            .and_then(|t| t.split_once(')'))
            .map(|(d, _)| d.to_string());
        let dir = self.grub_path(&self.dir());
        match device {
            Some(device) => {
                vars.insert("prefix".into(), format!("({device}){dir}"));
                vars.insert("root".into(), device);
            }
            None => {
                vars.insert("prefix".into(), dir);
                vars.insert("root".into(), String::new());
            }
        }
        // As GRUB 2.12's normal mode has them.
        for name in ["pager", "lang", "locale_dir", "secondary_locale_dir"] {
            vars.insert(name.into(), String::new());
        }
        vars.insert("check_signatures".into(), "no".into());
        vars.insert("color_normal".into(), "light-gray/black".into());
        vars.insert("color_highlight".into(), "black/light-gray".into());
        vars.into_iter().collect()
    }

    fn efi(&self) -> bool {
        self.root.host("/sys/firmware/efi").is_dir()
    }

    /// Red Hat's GRUB (Fedora 30+, RHEL 8+ and rebuilds) matches `default`
    /// differently; told by `/etc/os-release`.
    pub fn flavor(&self) -> Flavor {
        let Ok(text) = fs::read_to_string(self.root.host("/etc/os-release")) else {
            return Flavor::Upstream;
        };
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches(['"', '\'']).to_string())
                .unwrap_or_default()
        };
        let (id, like) = (field("ID"), field("ID_LIKE"));
        let major: u32 = field("VERSION_ID")
            .split('.')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let family = |name: &str| id == name || like.split(' ').any(|l| l == name);
        let fedora = id == "fedora" && major >= 30;
        let rhel_like = (family("rhel") || family("fedora")) && id != "fedora" && major >= 8;
        if fedora || rhel_like {
            Flavor::RedHat
        } else {
            Flavor::Upstream
        }
    }
}

fn root_mount() -> Mount {
    Mount {
        mount_point: PathBuf::from("/"),
        fs_root: "/".into(),
        fstype: String::new(),
        source: String::new(),
    }
}

/// Files larger than this are not read as GRUB configuration.
const MAX_READ: u64 = 16 << 20;

/// EFI variable telling which OS indications the firmware supports.
const OS_INDICATIONS_SUPPORTED: &str =
    "/sys/firmware/efi/efivars/OsIndicationsSupported-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// File systems whose files GRUB's `save_env` can rewrite in place: their
/// drivers report the disk blocks of a file (GRUB's read hook), which
/// `save_env` checks and then writes. Others (btrfs, zfs, f2fs,
/// squashfs, network and memory file systems) make GRUB refuse with
/// "sparse file not allowed" or "disk device required".
const GRUB_WRITABLE_FS: &[&str] = &["ext2", "ext3", "ext4", "vfat", "msdos", "xfs"];

impl GrubFiles<'_> {
    /// Why GRUB's `save_env` would not write `grub_path`, if it would not:
    /// the file is missing, not on a file system GRUB writes, or on a
    /// device-mapper (LVM, LUKS) or MD RAID device, which GRUB's disk
    /// layer refuses to write ("diskfilter writes are not supported").
    pub fn grub_write_refusal(&self, grub_path: &str) -> Option<String> {
        let path = self.system_path(grub_path)?;
        if !self.root.host(&path).is_file() {
            return Some(format!("{} does not exist", path.display()));
        }
        let mountinfo = fs::read_to_string(self.root.host(MOUNTINFO_PATH)).ok()?;
        let mounts = parse_mountinfo(&mountinfo);
        let mount = mount_of(&mounts, &path)?;
        if !GRUB_WRITABLE_FS.contains(&mount.fstype.as_str()) {
            return Some(format!(
                "GRUB cannot rewrite files on {} ({} is on {})",
                if mount.fstype.is_empty() {
                    "this file system"
                } else {
                    &mount.fstype
                },
                path.display(),
                mount.mount_point.display()
            ));
        }
        let source = mount.source.as_str();
        if source.starts_with("/dev/mapper/")
            || source.starts_with("/dev/dm-")
            || source.starts_with("/dev/md")
        {
            return Some(format!(
                "GRUB does not write to {source} (LVM, LUKS or RAID: \"diskfilter writes are not \
                 supported\")"
            ));
        }
        None
    }
}

impl GrubHost for GrubFiles<'_> {
    fn read_file(&self, grub_path: &str) -> Option<Vec<u8>> {
        let path = self.root.host(self.system_path(grub_path)?);
        let meta = fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_READ {
            return None;
        }
        fs::read(path).ok()
    }

    fn stat(&self, grub_path: &str) -> Option<FileStat> {
        let path = self.root.host(self.system_path(grub_path)?);
        let meta = fs::metadata(path).ok()?;
        Some(FileStat {
            dir: meta.is_dir(),
            size: meta.len(),
            mtime: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64),
        })
    }

    fn bls_entries(&self) -> Vec<BlsEntry> {
        // blscfg reads /loader/entries on GRUB's partition; without a
        // separate /boot that is /boot/loader/entries.
        let dirs = [
            self.system_path("/loader/entries"),
            Some(PathBuf::from("/boot/loader/entries")),
        ];
        let dir = dirs
            .into_iter()
            .flatten()
            .find(|d| self.root.host(d).is_dir());
        let Some(dir) = dir else {
            return Vec::new();
        };
        read_bls_dir(self.root, &dir)
    }

    fn env_write_refusal(&self, grub_path: &str) -> Option<String> {
        self.grub_write_refusal(grub_path)
    }

    fn firmware_setup_supported(&self) -> bool {
        match fs::read(self.root.host(OS_INDICATIONS_SUPPORTED)) {
            // 4 bytes of attributes, then a 64-bit mask; bit 0 is
            // EFI_OS_INDICATIONS_BOOT_TO_FW_UI.
            Ok(bytes) => bytes.get(4).is_some_and(|b| b & 1 == 1),
            // efivars not readable (an image, a chroot): assume it is.
            Err(_) => true,
        }
    }
}

/// All `*.conf` entries of a BLS directory, sorted as blscfg sorts them.
pub fn read_bls_dir(root: &Root, dir: &Path) -> Vec<BlsEntry> {
    let Ok(read) = fs::read_dir(root.host(dir)) else {
        return Vec::new();
    };
    let mut entries: Vec<BlsEntry> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let id = name.strip_suffix(".conf")?;
            if id.is_empty() || name.starts_with('.') {
                return None;
            }
            let text = fs::read_to_string(e.path()).ok()?;
            bls::parse_entry(id, &text)
        })
        .collect();
    bls::sort_entries(&mut entries);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 254:2 / /boot rw,relatime shared:2 - ext4 /dev/vda2 rw
24 23 254:3 / /boot/efi rw,relatime shared:3 - vfat /dev/vda3 rw
25 22 0:5 / /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn test_mountinfo_longest_prefix() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts[3].mount_point, Path::new("/mnt/with space"));
        assert_eq!(
            (mounts[2].fstype.as_str(), mounts[2].source.as_str()),
            ("vfat", "/dev/vda3")
        );
        let m = mount_of(&mounts, Path::new("/boot/grub/grub.cfg")).unwrap();
        assert_eq!(m.mount_point, Path::new("/boot"));
        let m = mount_of(&mounts, Path::new("/bootstrap")).unwrap();
        assert_eq!(m.mount_point, Path::new("/"));
    }

    fn files(mount_point: &str, fs_root: &str) -> GrubFiles<'static> {
        static ROOT: std::sync::OnceLock<Root> = std::sync::OnceLock::new();
        GrubFiles {
            root: ROOT.get_or_init(Root::default),
            cfg: PathBuf::from("/boot/grub/grub.cfg"),
            partition: Mount {
                mount_point: PathBuf::from(mount_point),
                fs_root: fs_root.into(),
                fstype: "ext4".into(),
                source: "/dev/vda2".into(),
            },
            partition_source: "test",
        }
    }

    #[test]
    fn test_grub_paths_map_through_the_partition() {
        let separate = files("/boot", "/");
        assert_eq!(
            separate.system_path("/vmlinuz-6.1").unwrap(),
            Path::new("/boot/vmlinuz-6.1")
        );
        assert_eq!(separate.grub_path(Path::new("/boot/grub")), "/grub");
        let same = files("/", "/");
        assert_eq!(
            same.system_path("/boot/vmlinuz-6.1").unwrap(),
            Path::new("/boot/vmlinuz-6.1")
        );
        let btrfs = files("/", "/@");
        assert_eq!(
            btrfs.system_path("/@/boot/vmlinuz-6.1").unwrap(),
            Path::new("/boot/vmlinuz-6.1")
        );
        assert_eq!(btrfs.system_path("/@home/x"), None);
        // `..` cannot leave GRUB's partition.
        assert_eq!(
            separate.system_path("/../../etc/shadow").unwrap(),
            Path::new("/boot/etc/shadow")
        );
        assert_eq!(btrfs.grub_path(Path::new("/boot/grub")), "/@/boot/grub");
    }
}
