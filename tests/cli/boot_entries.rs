//! The entry a kexec reboot boots, as the boot loader would pick it, through
//! `kexecctl load --dry-run --json` on copies of the fixture trees: every
//! GRUB default form on Debian 12's grub-mkconfig layout (submenus, ids,
//! titles, paths, `next_entry`), GRUB's quoting, `linuxefi`/`linux16`,
//! where GRUB's paths point (the `separate-boot` and `btrfs-boot` fixtures,
//! read through the mount table), and RHEL's `blscfg` layout (`rhel-9`).
//! Each fixture's own outputs are pinned in tests/fixtures/*/expected.

use std::fs;

use crate::util::{Host, UUID, kernel_of};

// ---------------------------------------------------------------------------
// GRUB default forms on Debian 12's layout

#[test]
fn test_saved_entry_submenu_id_path() {
    let plan = Host::debian12().plan();
    assert_eq!(plan["action"], "load");
    assert_eq!(kernel_of(&plan), "/boot/vmlinuz-6.1.0-27-amd64");
    assert_eq!(
        plan["load"]["initrds"][0],
        "/boot/initrd.img-6.1.0-27-amd64"
    );
    assert_eq!(
        plan["load"]["cmdline"],
        format!("BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID={UUID} ro quiet")
    );
    assert_eq!(
        plan["load"]["entry"]["id"],
        format!("gnulinux-6.1.0-27-amd64-advanced-{UUID}")
    );
    assert_eq!(plan["load"]["entry"]["source"], "grub");
}

#[test]
fn test_every_default_form() {
    let adv = format!("gnulinux-advanced-{UUID}");
    let cases: Vec<(String, &str, &str)> = vec![
        ("0".into(), "6.1.0-28-amd64", "quiet"),
        // A submenu counts as one item; entering it boots its first entry.
        ("1".into(), "6.1.0-28-amd64", "quiet"),
        ("1>1".into(), "6.1.0-28-amd64", "single"),
        ("1>2".into(), "6.1.0-27-amd64", "quiet"),
        ("1>3".into(), "6.1.0-27-amd64", "single"),
        (format!("gnulinux-simple-{UUID}"), "6.1.0-28-amd64", "quiet"),
        ("Debian GNU/Linux".into(), "6.1.0-28-amd64", "quiet"),
        (
            format!("{adv}>gnulinux-6.1.0-27-amd64-recovery-{UUID}"),
            "6.1.0-27-amd64",
            "single",
        ),
        (
            "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-27-amd64 (recovery mode)"
                .into(),
            "6.1.0-27-amd64",
            "single",
        ),
        // Unknown ids and out-of-range numbers fall back to entry 0, as GRUB does.
        ("no-such-entry".into(), "6.1.0-28-amd64", "quiet"),
        ("9".into(), "6.1.0-28-amd64", "quiet"),
    ];
    for (default, version, last_arg) in cases {
        let host = Host::debian12();
        host.grub_default(&default);
        let plan = host.plan();
        assert_eq!(
            kernel_of(&plan),
            format!("/boot/vmlinuz-{version}"),
            "default {default:?}"
        );
        assert!(
            plan["load"]["cmdline"]
                .as_str()
                .unwrap()
                .ends_with(last_arg),
            "default {default:?}: {}",
            plan["load"]["cmdline"]
        );
    }
}

#[test]
fn test_next_entry_wins_over_saved_entry_and_missing_saved_entry_is_0() {
    let host = Host::debian12();
    host.grubenv(&[
        (
            "saved_entry",
            &format!("gnulinux-advanced-{UUID}>gnulinux-6.1.0-27-amd64-advanced-{UUID}"),
        ),
        ("next_entry", "1>1"),
    ]);
    assert!(
        host.plan()["load"]["cmdline"]
            .as_str()
            .unwrap()
            .ends_with("ro single")
    );
    let host = Host::debian12();
    host.grubenv(&[]);
    assert_eq!(kernel_of(&host.plan()), "/boot/vmlinuz-6.1.0-28-amd64");
}

#[test]
fn test_default_entry_without_linux_is_an_error() {
    let host = Host::debian12();
    host.grub_default("2");
    let out = host.run("kexecctl", &["load", "--dry-run", "--json"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("/boot/grub/grub.cfg:")
            && out.stderr.contains("UEFI Firmware Settings"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_grub_quoting_escapes_and_several_initrds() {
    let host = Host::debian12();
    host.write_bytes("/boot/intel-ucode.img", b"UCODE");
    host.write(
        "/boot/grub/grub.cfg",
        "set default=0\nmenuentry 'x' {\n\tlinux /boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 acpi_osi=\"Windows 2015\" memmap=64K\\$0x10000 $vt_handoff\n\tinitrd /boot/intel-ucode.img /boot/initrd.img-6.1.0-28-amd64\n}\n",
    );
    let plan = host.plan();
    assert_eq!(
        plan["load"]["cmdline"],
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 \"acpi_osi=Windows 2015\" memmap=64K$0x10000"
    );
    assert_eq!(
        plan["load"]["initrds"],
        serde_json::json!(["/boot/intel-ucode.img", "/boot/initrd.img-6.1.0-28-amd64"])
    );
    // Loaded as one concatenated initramfs.
    let out = host.run("kexecctl", &["load"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let calls = host.calls();
    assert_eq!(calls[0]["call"], "file_load");
    assert!(
        calls[0]["initrd"]
            .as_str()
            .unwrap()
            .starts_with("/memfd:kexecctl-initrd")
    );
    let want = "UCODE".len() + "initramfs for 6.1.0-28-amd64\n".len();
    assert_eq!(calls[0]["initrd_size"], want);
}

#[test]
fn test_linuxefi_and_linux16_are_understood() {
    for cmd in ["linuxefi", "linux16"] {
        let host = Host::debian12();
        let initrd_cmd = cmd.replace("linux", "initrd");
        host.write(
            "/boot/grub/grub.cfg",
            &format!("menuentry 'x' {{\n {cmd} /boot/vmlinuz-6.1.0-27-amd64 ro\n {initrd_cmd} /boot/initrd.img-6.1.0-27-amd64\n}}\n"),
        );
        let plan = host.plan();
        assert_eq!(kernel_of(&plan), "/boot/vmlinuz-6.1.0-27-amd64", "{cmd}");
        assert_eq!(
            plan["load"]["initrds"][0],
            "/boot/initrd.img-6.1.0-27-amd64"
        );
    }
}

// ---------------------------------------------------------------------------
// Where GRUB's paths point: separate /boot, btrfs subvolume

#[test]
fn test_separate_boot_from_the_mount_table() {
    // grub-mkconfig wrote paths relative to /boot's own file system.
    let host = Host::fixture("separate-boot");
    assert!(
        host.read("/boot/grub/grub.cfg")
            .contains("linux\t/vmlinuz-6.1.0-27-amd64 ")
    );
    let plan = host.plan();
    assert_eq!(kernel_of(&plan), "/boot/vmlinuz-6.1.0-27-amd64");
    assert_eq!(
        plan["load"]["initrds"][0],
        "/boot/initrd.img-6.1.0-27-amd64"
    );
    // GRUB's own BOOT_IMAGE names the path on its partition.
    assert!(
        plan["load"]["cmdline"]
            .as_str()
            .unwrap()
            .starts_with("BOOT_IMAGE=/vmlinuz-6.1.0-27-amd64 ")
    );
}

#[test]
fn test_btrfs_subvolume_paths() {
    // grub-mkconfig wrote paths inside the btrfs file system: /@/boot/...
    let host = Host::fixture("btrfs-boot");
    assert!(
        host.read("/boot/grub/grub.cfg")
            .contains("linux\t/@/boot/vmlinuz-6.1.0-27-amd64 ")
    );
    let plan = host.plan();
    assert_eq!(kernel_of(&plan), "/boot/vmlinuz-6.1.0-27-amd64");
    assert_eq!(
        plan["load"]["initrds"][0],
        "/boot/initrd.img-6.1.0-27-amd64"
    );
}

// ---------------------------------------------------------------------------
// Fedora / RHEL: blscfg

/// The `rhel-9` fixture (BLS entries, `$kernelopts` in grubenv, /boot on
/// its own file system) with kexec reboots from the boot loader's entry
/// configured; with `separate_boot` false, changed to /boot on the root
/// file system: no /boot mount, entries naming /boot/vmlinuz-...
fn rhel9_bls(separate_boot: bool) -> Host {
    let host = Host::fixture("rhel-9");
    host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n");
    if !separate_boot {
        let info: String = host
            .read("/proc/self/mountinfo")
            .lines()
            .filter(|l| !l.contains(" /boot "))
            .map(|l| format!("{l}\n"))
            .collect();
        host.write("/proc/self/mountinfo", &info);
        let entries = host.path("/boot/loader/entries");
        for entry in fs::read_dir(entries).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let path = format!("/boot/loader/entries/{name}");
            let text = host
                .read(&path)
                .replace("\nlinux /", "\nlinux /boot/")
                .replace("\ninitrd /", "\ninitrd /boot/");
            host.write(&path, &text);
        }
    }
    host
}

#[test]
fn test_bls_newest_entry_by_default_with_kernelopts() {
    for separate in [true, false] {
        let host = rhel9_bls(separate);
        let plan = host.plan();
        assert_eq!(
            kernel_of(&plan),
            "/boot/vmlinuz-5.14.0-362.8.1.el9_3.x86_64",
            "separate={separate}"
        );
        assert_eq!(
            plan["load"]["initrds"][0],
            "/boot/initramfs-5.14.0-362.8.1.el9_3.x86_64.img"
        );
        assert_eq!(plan["load"]["entry"]["source"], "bls");
        let boot_image = if separate {
            "(hd0,gpt2)/vmlinuz"
        } else {
            "(hd0,gpt2)/boot/vmlinuz"
        };
        assert_eq!(
            plan["load"]["cmdline"],
            format!(
                "BOOT_IMAGE={boot_image}-5.14.0-362.8.1.el9_3.x86_64 root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet"
            )
        );
    }
}

#[test]
fn test_bls_saved_entry_is_the_file_stem() {
    let host = rhel9_bls(true);
    let env = host.read("/boot/grub2/grubenv").replacen(
        "kernelopts=",
        "saved_entry=0f3c1b2a4d5e6f708192a3b4c5d6e7f8-5.14.0-70.13.1.el9_0.x86_64\nkernelopts=",
        1,
    );
    host.write("/boot/grub2/grubenv", &env[..1024]);
    let plan = host.plan();
    assert_eq!(
        kernel_of(&plan),
        "/boot/vmlinuz-5.14.0-70.13.1.el9_0.x86_64"
    );
    assert_eq!(
        plan["load"]["entry"]["id"],
        "0f3c1b2a4d5e6f708192a3b4c5d6e7f8-5.14.0-70.13.1.el9_0.x86_64"
    );
}
