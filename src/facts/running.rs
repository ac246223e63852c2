//! The running kernel's files: the one `BOOT_IMAGE=` parser, and the one
//! search for a kernel image and its initrd in every layout kexecctl meets
//! — Debian (`/boot/vmlinuz-VER`, `initrd.img-VER`), Red Hat
//! (`initramfs-VER.img`) and the Boot Loader Specification's type 1 layout
//! (`/boot/MACHINE-ID/VER/linux`, `initrd`), and unified kernel images
//! (`EFI/Linux/MACHINE-ID-VER.efi`, or the one systemd-stub says it booted).
//! fastreboot and kdump-setup search with it; kdump-setup's search list
//! comes from `/etc/sysconfig/kdump` (kdumpctl's `KDUMP_BOOTDIR`,
//! `KDUMP_IMG`), in kdump-utils v1.0.61's order.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::root::Root;

/// `BOOT_IMAGE=(hd0,gpt2)/vmlinuz-6.1.0-28-amd64` as GRUB passes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootImage {
    /// GRUB's device, without the parentheses (`hd0,gpt2`), when given.
    pub device: Option<String>,
    /// The path on that device.
    pub path: String,
}

/// The `BOOT_IMAGE=` parameter of a kernel command line (GRUB puts it
/// first; the kernel passes it on to init's environment unchanged).
pub fn boot_image(cmdline: &str) -> Option<BootImage> {
    let value = cmdline
        .split_whitespace()
        .find_map(|t| t.trim_matches('"').strip_prefix("BOOT_IMAGE="))?;
    if let Some(rest) = value.strip_prefix('(') {
        if let Some((device, path)) = rest.split_once(')') {
            return Some(BootImage {
                device: Some(device.to_string()),
                path: path.to_string(),
            });
        }
    }
    Some(BootImage {
        device: None,
        path: value.to_string(),
    })
}

/// The release a kernel image will run as (`uname -r` once booted), for
/// orchestrators comparing it with the kernel they expect: the version
/// string of an x86 bzImage's setup header, else the name's
/// `vmlinuz-RELEASE` / `vmlinux-RELEASE` (of a link's target). `kernel` is a path inside the
/// root; `None` when neither tells.
pub fn image_release(root: &Root, kernel: &Path) -> Option<String> {
    let host = root.host(kernel);
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(&host) {
        let _ = file
            .take(crate::image::SETUP_LEN as u64)
            .read_to_end(&mut head);
    }
    crate::image::bzimage_release(&head).or_else(|| {
        // The link's target names it (`/vmlinuz -> boot/vmlinuz-…`).
        let name = host.file_name()?.to_str()?;
        ["vmlinuz-", "vmlinux-"]
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .filter(|r| !r.is_empty())
            .map(str::to_string)
    })
}

/// Where to look for a kernel image of a given release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSearch {
    /// Directories, in order (kdumpctl: `/boot /boot/efi /efi /`).
    pub dirs: Vec<String>,
    /// The image's name before `-VERSION` (`vmlinuz`).
    pub image: String,
    /// Appended after the version (kdumpctl's `KDUMP_IMG_EXT`).
    pub image_ext: String,
    /// Names of the image in a BLS `MACHINE-ID/VERSION/` directory.
    pub bls_names: Vec<String>,
    /// Unified kernel images too: the path systemd-stub's
    /// `StubImageIdentifier` names (relative to each directory) when the
    /// system booted one, else `EFI/Linux/MACHINE-ID-VERSION.efi`.
    pub uki: Option<Uki>,
}

/// Where a unified kernel image may be (kdumpctl since v1.0.59).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uki {
    /// The image systemd-stub booted, from its EFI variable.
    pub booted: Option<String>,
}

impl KernelSearch {
    /// The search for the running kernel of any layout.
    pub fn any_layout() -> Self {
        KernelSearch {
            dirs: ["/boot", "/boot/efi", "/efi"].map(String::from).to_vec(),
            image: "vmlinuz".into(),
            image_ext: String::new(),
            bls_names: ["linux", "vmlinuz"].map(String::from).to_vec(),
            uki: None,
        }
    }

    /// Candidate paths in kdumpctl's order: in each directory, the
    /// `BOOT_IMAGE` path when it names this version, `IMAGE-VERSION EXT`,
    /// the BLS layout, then the UKI. Repeated slashes are squeezed, as
    /// kdumpctl's paths are.
    pub fn candidates(
        &self,
        release: &str,
        boot_image: Option<&BootImage>,
        machine_id: Option<&str>,
    ) -> Vec<PathBuf> {
        let mut names = Vec::new();
        if let Some(image) = boot_image {
            if image.path.ends_with(release) {
                names.push(image.path.clone());
            }
        }
        names.push(format!("{}-{release}{}", self.image, self.image_ext));
        let machine_id = machine_id.filter(|id| !id.is_empty());
        if let Some(id) = machine_id {
            for name in &self.bls_names {
                names.push(format!("{id}/{release}/{name}"));
            }
        }
        match (&self.uki, machine_id) {
            (Some(Uki { booted: Some(path) }), _) => names.push(path.clone()),
            (Some(Uki { booted: None }), Some(id)) => {
                names.push(format!("EFI/Linux/{id}-{release}.efi"));
            }
            _ => {}
        }
        let mut out = Vec::new();
        for dir in &self.dirs {
            for name in &names {
                let squeezed: String = format!("{dir}/{name}")
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .fold(String::new(), |acc, p| acc + "/" + p);
                let path = PathBuf::from(if squeezed.is_empty() {
                    "/".into()
                } else {
                    squeezed
                });
                if !out.contains(&path) {
                    out.push(path);
                }
            }
        }
        out
    }
}

/// The names an initrd of `release` has beside its kernel, in the order
/// they are tried: Debian's, Red Hat's, the BLS layout's.
pub fn initrd_names(release: &str) -> [String; 3] {
    [
        format!("initrd.img-{release}"),
        format!("initramfs-{release}.img"),
        "initrd".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_boot_image_forms() {
        let b = boot_image("BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14 ro").unwrap();
        assert_eq!(b.device.as_deref(), Some("hd0,gpt2"));
        assert_eq!(b.path, "/vmlinuz-5.14");
        let b = boot_image("ro BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 quiet").unwrap();
        assert_eq!(b.device, None);
        assert_eq!(b.path, "/boot/vmlinuz-6.1.0-28-amd64");
        assert_eq!(boot_image("root=/dev/sda1 ro"), None);
    }

    #[test]
    fn test_candidates_in_kdumpctl_order() {
        let search = KernelSearch {
            dirs: vec!["/boot".into(), "/".into()],
            image: "vmlinuz".into(),
            image_ext: String::new(),
            bls_names: vec!["vmlinuz".into()],
            uki: Some(Uki { booted: None }),
        };
        let image = boot_image("BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.el9.x86_64");
        let c: Vec<String> = search
            .candidates("5.14.0-362.el9.x86_64", image.as_ref(), Some("abc"))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            c,
            [
                "/boot/vmlinuz-5.14.0-362.el9.x86_64",
                "/boot/abc/5.14.0-362.el9.x86_64/vmlinuz",
                "/boot/EFI/Linux/abc-5.14.0-362.el9.x86_64.efi",
                "/vmlinuz-5.14.0-362.el9.x86_64",
                "/abc/5.14.0-362.el9.x86_64/vmlinuz",
                "/EFI/Linux/abc-5.14.0-362.el9.x86_64.efi",
            ]
        );
        // BOOT_IMAGE of another version is not a candidate.
        assert_eq!(
            search.candidates("6.0", image.as_ref(), Some("abc")).len(),
            6
        );
        // The UKI systemd-stub says it booted.
        let booted = KernelSearch {
            dirs: vec!["/boot/efi".into()],
            uki: Some(Uki {
                booted: Some("/EFI/Linux/ffff-6.0.efi".into()),
            }),
            ..search
        };
        assert_eq!(
            booted.candidates("6.0", None, Some("abc")).last().unwrap(),
            &PathBuf::from("/boot/efi/EFI/Linux/ffff-6.0.efi")
        );
    }

    #[test]
    fn test_any_layout_finds_bls_linux() {
        let c = KernelSearch::any_layout().candidates("6.5.6-300.fc39.x86_64", None, Some("m"));
        assert!(c.contains(&PathBuf::from("/boot/m/6.5.6-300.fc39.x86_64/linux")));
        assert_eq!(c[0], PathBuf::from("/boot/vmlinuz-6.5.6-300.fc39.x86_64"));
    }
}
