//! The entry a kexec reboot boots, as the boot loader would pick it, through
//! `kexecctl load --dry-run --json` on fixture trees: every GRUB default
//! form on Debian 12's grub-mkconfig layout (submenus, ids, titles, paths,
//! `next_entry`), GRUB's quoting, `linuxefi`/`linux16`, where GRUB's paths
//! point (separate and btrfs `/boot`, from the mount table), and the
//! `blscfg` layouts of Fedora and RHEL.

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
    let host = Host::debian12();
    host.edit(
        "/boot/grub/grub.cfg",
        "linux\t/boot/vmlinuz",
        "linux\t/vmlinuz",
    );
    let cfg = host
        .read("/boot/grub/grub.cfg")
        .replace("initrd\t/boot/", "initrd\t/");
    host.write("/boot/grub/grub.cfg", &cfg);
    let info = host.read("/proc/self/mountinfo")
        + "30 21 254:2 / /boot rw,relatime shared:2 - ext4 /dev/vda2 rw\n";
    host.write("/proc/self/mountinfo", &info);
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
    let host = Host::debian12();
    let cfg = host
        .read("/boot/grub/grub.cfg")
        .replace("\t/boot/vmlinuz", "\t/@/boot/vmlinuz")
        .replace("\t/boot/initrd", "\t/@/boot/initrd");
    host.write("/boot/grub/grub.cfg", &cfg);
    host.write(
        "/proc/self/mountinfo",
        "21 1 0:30 /@ / rw,relatime shared:1 - btrfs /dev/vda1 rw,subvol=/@\n",
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

fn fedora(host: &Host, separate_boot: bool) {
    let machine = "0f3c1b2a4d5e6f708192a3b4c5d6e7f8";
    let boot = if separate_boot { "" } else { "/boot" };
    host.write(
        "/boot/grub2/grub.cfg",
        "set pager=1\nif [ -f ${config_directory}/grubenv ]; then\n  load_env -f ${config_directory}/grubenv\nelif [ -s $prefix/grubenv ]; then\n  load_env\nfi\nif [ \"${next_entry}\" ] ; then\n   set default=\"${next_entry}\"\n   set next_entry=\n   save_env next_entry\n   set boot_once=true\nelse\n   set default=\"${saved_entry}\"\nfi\nif [ x\"${feature_menuentry_id}\" = xy ]; then\n  menuentry_id_option=\"--id\"\nelse\n  menuentry_id_option=\"\"\nfi\nexport menuentry_id_option\nset timeout=5\n### BEGIN /etc/grub.d/10_linux ###\ninsmod part_gpt\ninsmod xfs\nset root='hd0,gpt2'\ninsmod blscfg\nblscfg\n### END /etc/grub.d/10_linux ###\n",
    );
    let _ = fs::remove_dir_all(host.root().join("boot/grub"));
    for (version, title) in [
        (
            "5.14.0-362.8.1.el9_3.x86_64",
            "Red Hat Enterprise Linux (5.14.0-362.8.1.el9_3.x86_64) 9.3 (Plow)",
        ),
        (
            "5.14.0-70.13.1.el9_0.x86_64",
            "Red Hat Enterprise Linux (5.14.0-70.13.1.el9_0.x86_64) 9.0 (Plow)",
        ),
    ] {
        host.write(
            &format!("/boot/loader/entries/{machine}-{version}.conf"),
            &format!(
                "title {title}\nversion {version}\nlinux {boot}/vmlinuz-{version}\ninitrd {boot}/initramfs-{version}.img $tuned_initrd\noptions $kernelopts $tuned_params\ngrub_users $grub_users\ngrub_arg --unrestricted\ngrub_class rhel\n"
            ),
        );
        host.write_bytes(
            &format!("/boot/vmlinuz-{version}"),
            &fs::read(host.root().join("boot/vmlinuz-6.1.0-28-amd64")).unwrap(),
        );
        host.write(&format!("/boot/initramfs-{version}.img"), "initramfs");
    }
    host.write(
        &format!("/boot/loader/entries/{machine}-0-rescue.conf"),
        &format!("title Red Hat Enterprise Linux (0-rescue-{machine}) 9.3 (Plow)\nversion 0-rescue-{machine}\nlinux {boot}/vmlinuz-0-rescue-{machine}\ninitrd {boot}/initramfs-0-rescue-{machine}.img\noptions $kernelopts\n"),
    );
    let mut env = String::from(
        "# GRUB Environment Block\nkernelopts=root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet\n",
    );
    env.push_str(&"#".repeat(1024 - env.len()));
    host.write("/boot/grub2/grubenv", &env);
    host.write(
        "/proc/cmdline",
        "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-362.8.1.el9_3.x86_64 root=/dev/mapper/rhel-root ro\n",
    );
    let mut info =
        String::from("21 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/rhel-root rw\n");
    if separate_boot {
        info.push_str("30 21 252:2 / /boot rw,relatime shared:2 - xfs /dev/vda2 rw\n");
    }
    host.write("/proc/self/mountinfo", &info);
}

#[test]
fn test_bls_newest_entry_by_default_with_kernelopts() {
    for separate in [true, false] {
        let host = Host::debian12();
        fedora(&host, separate);
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
    let host = Host::debian12();
    fedora(&host, true);
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
