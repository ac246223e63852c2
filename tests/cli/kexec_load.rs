//! The Debian path through the built binary, on fixture root trees: GRUB
//! default forms on Debian 12's real grub-mkconfig layout, Fedora/RHEL BLS
//! layouts, separate and btrfs /boot, kexec.d, LOAD_KEXEC values, bad
//! kernels, the reboot gate, markers, and the load/exec/coldreboot actions
//! with the recording fake standing in for the syscalls.

use std::fs;

use serde_json::Value;

use crate::util::{Host, UUID, kernel_of, run};

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

// ---------------------------------------------------------------------------
// /etc/default/kexec semantics

#[test]
fn test_load_kexec_values() {
    for (value, action) in [
        ("true", "load"),
        ("\"true\"", "load"),
        ("false", "skip"),
        ("1", "skip"),
        ("yes", "skip"),
        ("TRUE", "skip"),
    ] {
        let host = Host::debian12();
        host.kexec_config(&format!("LOAD_KEXEC={value}\n"));
        let plan = host.plan();
        assert_eq!(plan["action"], action, "LOAD_KEXEC={value}");
        if action == "skip" {
            assert!(
                plan["reason"].as_str().unwrap().contains("LOAD_KEXEC"),
                "{plan}"
            );
        }
    }
    // No file at all: disabled, like a missing LOAD_KEXEC.
    let host = Host::debian12();
    fs::remove_file(host.root().join("etc/default/kexec")).unwrap();
    assert_eq!(host.plan()["action"], "skip");
}

#[test]
fn test_defaults_and_empty_append_reuse_proc_cmdline() {
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\n");
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let plan = host.plan();
    // /vmlinuz and /initrd.img are symlinks inside the tree.
    assert_eq!(kernel_of(&plan), "/vmlinuz");
    assert_eq!(plan["load"]["initrds"][0], "/initrd.img");
    assert_eq!(
        plan["load"]["cmdline"],
        host.read("/proc/cmdline").trim_end()
    );
    host.kexec_config("LOAD_KEXEC=true\nINITRD=\"\"\n");
    assert_eq!(host.plan()["load"]["initrds"], serde_json::json!([]));
}

#[test]
fn test_kexec_d_snippets_override_in_run_parts_order() {
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nAPPEND=\"root=/dev/vda1 ro\"\n");
    host.write(
        "/etc/default/kexec.d/50-serial",
        "APPEND=\"${APPEND:+$APPEND }console=ttyS0,115200n8\"\n",
    );
    host.write(
        "/etc/default/kexec.d/60-quiet",
        "APPEND=\"$APPEND quiet\"\n",
    );
    host.write("/etc/default/kexec.d/70-ignored.conf", "APPEND=ignored\n");
    let plan = host.plan();
    assert_eq!(
        plan["load"]["cmdline"],
        "root=/dev/vda1 ro console=ttyS0,115200n8 quiet"
    );
    host.write("/etc/default/kexec.d/99-off", "LOAD_KEXEC=false\n");
    assert_eq!(host.plan()["action"], "skip");
}

#[test]
fn test_missing_and_bad_kernels() {
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nKERNEL_IMAGE=/boot/vmlinuz-9.9.9\n");
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let out = host.run("kexecctl", &["load", "--dry-run"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "kexecctl: /boot/vmlinuz-9.9.9: the kernel image: no such file or directory\n"
    );
    host.write("/boot/vmlinuz-9.9.9", "this is not a kernel image\n");
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "Loading new kernel image into memory...failed.\n"
    );
    assert!(out.stderr.contains("not a kernel image"), "{}", out.stderr);
    assert!(
        host.calls().is_empty(),
        "nothing may be loaded: {:?}",
        host.calls()
    );
    // A dangling /vmlinuz link inside the tree is a missing kernel too.
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\n");
    fs::remove_file(host.root().join("boot/vmlinuz-6.1.0-28-amd64")).unwrap();
    let out = host.run("kexecctl", &["load", "--dry-run"]);
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("/boot/vmlinuz-6.1.0-28-amd64"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_oversized_command_line() {
    let host = Host::debian12();
    host.kexec_config(&format!(
        "LOAD_KEXEC=true\nAPPEND=\"{}\"\n",
        "a".repeat(2100)
    ));
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let out = host.run("kexecctl", &["load"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("2100 bytes") && out.stderr.contains("at most 2017"),
        "{}",
        out.stderr
    );
    assert!(host.calls().is_empty());
}

// ---------------------------------------------------------------------------
// kexec-load actions, gate and markers

#[test]
fn test_actions_and_exit_codes() {
    let host = Host::debian12();
    let out = host.run("kexec-load", &["start"]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "", "")
    );
    for action in ["restart", "reload", "force-reload"] {
        let out = host.run("kexec-load", &[action]);
        assert_eq!(out.code, 0);
        assert_eq!(
            out.stderr,
            format!("Error: argument '{action}' not supported\n")
        );
    }
    for args in [&["bogus"][..], &[][..]] {
        let out = host.run("kexec-load", args);
        assert_eq!(out.code, 3, "{args:?}");
        assert!(
            out.stderr.starts_with("Usage: kexec-load start|stop"),
            "{}",
            out.stderr
        );
    }
    let out = host.run("kexec-load", &["status"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (3, "no kexec kernel loaded\n")
    );
    host.write("/sys/kernel/kexec_loaded", "1\n");
    assert_eq!(host.run("kexec-load", &["status"]).code, 0);
}

#[test]
fn test_stop_loads_through_the_syscall_and_records_it() {
    let host = Host::debian12();
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "Loading new kernel image into memory...done.\n");
    let calls = host.calls();
    let names: Vec<&Value> = calls.iter().map(|c| &c["call"]).collect();
    assert_eq!(names, ["file_load", "replace_file"], "{calls:?}");
    let load = &calls[0];
    assert!(
        load["kernel"]
            .as_str()
            .unwrap()
            .ends_with("/root/boot/vmlinuz-6.1.0-27-amd64")
    );
    assert!(
        load["initrd"]
            .as_str()
            .unwrap()
            .ends_with("/root/boot/initrd.img-6.1.0-27-amd64")
    );
    assert_eq!(load["flags"], 0);
    assert!(host.exists("/run/kexecctl/loaded.json"));
}

#[test]
fn test_kernel_refusing_the_image() {
    let host = Host::debian12();
    let out = run(host
        .cmd("kexec-load", &["stop"])
        .env("KEXECCTL_TEST_ERRNO", "file_load=EKEYREJECTED"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "Loading new kernel image into memory...failed.\n"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("kexec-load: signature verification of /boot/vmlinuz-6.1.0-27-amd64 failed (EKEYREJECTED)"), "{}", out.stderr);
    assert!(!host.exists("/run/kexecctl/loaded.json"));
}

#[test]
fn test_already_loaded_is_kept() {
    let host = Host::debian12();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    assert!(host.calls().is_empty());
}

#[test]
fn test_cold_markers_are_consumed() {
    for marker in ["/run/kexecctl/cold-reboot", "/no-kexec-reboot"] {
        let host = Host::debian12();
        host.write(marker, "");
        let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
        let plan: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(plan["action"], "skip");
        assert!(host.exists(marker), "a dry run must not consume {marker}");
        let out = host.run("kexec-load", &["stop"]);
        assert_eq!(out.code, 0);
        assert!(!host.exists(marker), "{marker} must be consumed");
        let calls = host.calls();
        assert!(
            calls.iter().all(|c| c["call"] == "remove_file"),
            "nothing but the markers' removal: {calls:?}"
        );
    }
}

#[test]
fn test_systemd_gate_loads_only_for_a_reboot_job() {
    // The recording system answers for systemd (its parsing of `systemctl
    // list-jobs` is unit-tested in src/system/linux.rs).
    let host = Host::debian12();
    host.write("/run/systemd/system/.keep", "");
    let out = run(host
        .cmd("kexec-load", &["--dry-run", "--json", "stop"])
        .env("KEXECCTL_TEST_REBOOT_JOB", "none"));
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "skip", "{plan}");
    assert!(plan["reason"].as_str().unwrap().contains("reboot.target"));
    let out = run(host
        .cmd("kexec-load", &["--dry-run", "--json", "stop"])
        .env("KEXECCTL_TEST_REBOOT_JOB", "queued"));
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "load", "{plan}");
    assert_eq!(host.calls()[0]["call"], "reboot_job");
}

#[test]
fn test_sysvinit_gate_is_runlevel_6() {
    // utmp's RUN_LVL record, as `runlevel` reads it: (previous, current).
    fn utmp(previous: u8, current: u8) -> Vec<u8> {
        let mut record = vec![0u8; 384];
        record[0] = 1; // RUN_LVL
        record[4..8]
            .copy_from_slice(&(i32::from(previous) << 8 | i32::from(current)).to_le_bytes());
        record
    }
    for (record, action) in [
        (Some(utmp(b'N', b'6')), "load"),
        (Some(utmp(b'5', b'6')), "load"),
        (Some(utmp(b'6', b'0')), "skip"),
        (None, "skip"),
    ] {
        let host = Host::debian12();
        // Never run: kexecctl reads utmp itself, as runlevel would.
        host.fake_program_in_root("/sbin/runlevel", "touch /tmp/kexecctl-ran-runlevel; exit 1");
        if let Some(record) = &record {
            host.write_bytes("/var/run/utmp", record);
        }
        let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
        let plan: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(plan["action"], action, "{plan}");
    }
    // No runlevel program at all: Debian's script assumes a reboot.
    let host = Host::debian12();
    let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "load", "{plan}");
}

#[test]
fn test_a_root_tree_is_never_run_on_the_host_nor_asked_about() {
    let host = Host::debian12();
    let ran = host.dir.path().join("ran");
    let touch = format!("touch {}", ran.display());
    // A systemd tree: the host's systemctl must not be asked about it.
    host.write("/run/systemd/system/.keep", "");
    host.fake_program("systemctl", &touch);
    host.fake_program_in_root("/sbin/runlevel", &touch);
    let out = run(&mut host.cmd_real("kexec-load", &["--dry-run", "--json", "stop"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "skip");
    assert!(
        plan["reason"].as_str().unwrap().contains("--root"),
        "says what could not be known: {plan}"
    );
    assert!(!ran.exists(), "a program ran for the tree");
    // A sysvinit tree: the runlevel comes from utmp, not the tree's program.
    fs::remove_dir_all(host.root().join("run/systemd")).unwrap();
    let mut utmp = vec![0u8; 384];
    utmp[0] = 1;
    utmp[4] = b'6';
    host.write_bytes("/var/run/utmp", &utmp);
    let out = run(&mut host.cmd_real("kexec-load", &["--dry-run", "--json", "stop"]));
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "load", "{plan}");
    assert!(!ran.exists(), "the tree's runlevel ran on the host");
    // Commands that reboot need the running system: refused, nothing written.
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = run(&mut host.cmd_real("coldreboot", &["-f"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("only --dry-run"), "{}", out.stderr);
    assert!(!host.exists("/run/kexecctl/cold-reboot"));
    let out = run(&mut host.cmd_real("coldreboot", &["--dry-run", "-f"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("SYSTEMCTL_SKIP_AUTO_KEXEC=1"),
        "{}",
        out.stdout
    );
    let out = run(&mut host.cmd_real("fastreboot", &["--yes"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!ran.exists());
}

// ---------------------------------------------------------------------------
// exec, unload, coldreboot

#[test]
fn test_exec_reboots_into_a_loaded_kernel() {
    let host = Host::debian12();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = host.run("kexecctl", &["exec"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let calls: Vec<Value> = host
        .calls()
        .into_iter()
        .map(|c| c["call"].clone())
        .collect();
    assert_eq!(calls, ["sync", "reboot_kexec"]);
    // If the kexec returns, say so and let the normal reboot go on.
    let host = Host::debian12();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = run(host
        .cmd("kexecctl", &["exec"])
        .env("KEXECCTL_TEST_ERRNO", "reboot_kexec=EINVAL"));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("kexec failed: EINVAL"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_exec_does_nothing_without_kernel_or_when_disabled() {
    let host = Host::debian12();
    let out = host.run("kexecctl", &["exec"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("no kexec kernel is loaded"),
        "{}",
        out.stdout
    );
    host.write("/sys/kernel/kexec_loaded", "1\n");
    host.kexec_config("LOAD_KEXEC=false\n");
    let out = host.run("kexecctl", &["exec"]);
    assert!(out.stdout.contains("LOAD_KEXEC"), "{}", out.stdout);
    assert!(host.calls().is_empty());
    host.write("/run/kexecctl/cold-reboot", "");
    host.kexec_config("LOAD_KEXEC=true\n");
    host.run("kexecctl", &["exec"]);
    let calls: Vec<Value> = host
        .calls()
        .into_iter()
        .map(|c| c["call"].clone())
        .collect();
    assert_eq!(calls, ["file_unload"], "a cold reboot unloads instead");
}

#[test]
fn test_coldreboot_unloads_marks_and_reboots() {
    let host = Host::debian12();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    host.write_bytes("/sbin/reboot", b"");
    let out = host.run("coldreboot", &["-f", "--no-wall"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let calls = host.calls();
    assert_eq!(calls[0]["call"], "file_unload");
    assert_eq!(calls[0]["crash"], false);
    assert_eq!(calls[1]["call"], "replace_file");
    assert!(
        calls[1]["path"]
            .as_str()
            .unwrap()
            .ends_with("/run/kexecctl/cold-reboot")
    );
    assert_eq!(calls[2]["call"], "run");
    assert_eq!(calls[2]["program"], "/sbin/reboot");
    assert_eq!(calls[2]["args"], serde_json::json!(["-f", "--no-wall"]));
    assert_eq!(
        calls[2]["env"],
        serde_json::json!([["SYSTEMCTL_SKIP_AUTO_KEXEC", "1"]])
    );
    assert!(host.exists("/run/kexecctl/cold-reboot"));
    // reboot's exit status is coldreboot's.
    let host = Host::debian12();
    let out = run(host
        .cmd("coldreboot", &[])
        .env("KEXECCTL_TEST_RUN_STATUS", "1"));
    assert_eq!(out.code, 1);
}

#[test]
fn test_status_json() {
    let host = Host::debian12();
    let out = host.run("kexecctl", &["status", "--json"]);
    assert_eq!(out.code, 3);
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["kexec"]["loaded"], false);
    assert_eq!(status["next_reboot"]["via"], "kexec");
    assert_eq!(
        status["next_reboot"]["kernel"],
        "/boot/vmlinuz-6.1.0-27-amd64"
    );
    // The recording system sets kexec_loaded as the kernel would.
    assert_eq!(host.run("kexecctl", &["load"]).code, 0);
    let out = host.run("kexecctl", &["status", "--json"]);
    assert_eq!(out.code, 0);
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        status["kexec"]["record"]["kernel"],
        "/boot/vmlinuz-6.1.0-27-amd64"
    );
    assert_eq!(
        status["next_reboot"]["kernel"],
        "/boot/vmlinuz-6.1.0-27-amd64"
    );
}
