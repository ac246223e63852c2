//! The Debian path through the built binary, on fixture root trees: GRUB
//! default forms on Debian 12's real grub-mkconfig layout, Fedora/RHEL BLS
//! layouts, separate and btrfs /boot, kexec.d, LOAD_KEXEC values, bad
//! kernels, the reboot gate, markers, and the load/exec/coldreboot actions
//! with the recording fake standing in for the syscalls.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{Links, Run, run};

pub const UUID: &str = "7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d";

/// A copy of the example Debian 12 tree, to be modified by each test.
pub struct Host {
    pub dir: tempfile::TempDir,
    links: Links,
    /// Directory with fake `systemctl` etc., first in PATH.
    bin: PathBuf,
}

pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Host {
    pub fn debian12() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/debian-12");
        copy_tree(&example, &dir.path().join("root"));
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        Host {
            dir,
            links: Links::new(),
            bin,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn write(&self, path: &str, text: &str) -> &Self {
        let p = self.root().join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&p);
        fs::write(p, text).unwrap();
        self
    }

    pub fn write_bytes(&self, path: &str, bytes: &[u8]) -> &Self {
        let p = self.root().join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
        self
    }

    pub fn read(&self, path: &str) -> String {
        fs::read_to_string(self.root().join(path.trim_start_matches('/'))).unwrap()
    }

    pub fn exists(&self, path: &str) -> bool {
        self.root().join(path.trim_start_matches('/')).exists()
    }

    pub fn edit(&self, path: &str, from: &str, to: &str) -> &Self {
        let text = self.read(path);
        assert!(text.contains(from), "{path} does not contain {from:?}");
        self.write(path, &text.replace(from, to))
    }

    /// Sets GRUB's `default` as grub-mkconfig writes it for GRUB_DEFAULT.
    pub fn grub_default(&self, value: &str) -> &Self {
        self.edit(
            "/boot/grub/grub.cfg",
            "set default=\"${saved_entry}\"",
            &format!("set default=\"{value}\""),
        )
    }

    /// Rewrites grubenv with these variables.
    pub fn grubenv(&self, vars: &[(&str, &str)]) -> &Self {
        let mut text = String::from("# GRUB Environment Block\n");
        for (k, v) in vars {
            text.push_str(&format!("{k}={v}\n"));
        }
        text.push_str(&"#".repeat(1024 - text.len()));
        self.write("/boot/grub/grubenv", &text)
    }

    pub fn kexec_config(&self, text: &str) -> &Self {
        self.write("/etc/default/kexec", text)
    }

    /// A fake program in PATH.
    pub fn fake_program(&self, name: &str, script: &str) -> &Self {
        let p = self.bin.join(name);
        fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// A fake program inside the tree (e.g. /sbin/runlevel).
    pub fn fake_program_in_root(&self, path: &str, script: &str) -> &Self {
        self.write(path, &format!("#!/bin/sh\n{script}\n"));
        let p = self.root().join(path.trim_start_matches('/'));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    pub fn syscall_log(&self) -> PathBuf {
        self.dir.path().join("syscalls.jsonl")
    }

    /// The calls the recording fake saw.
    pub fn calls(&self) -> Vec<Value> {
        fs::read_to_string(self.syscall_log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn cmd(&self, personality: &str, args: &[&str]) -> Command {
        let mut cmd = self.links.cmd(personality);
        cmd.env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("KEXECCTL_TEST_SYSCALLS", self.syscall_log())
            .arg("--root")
            .arg(self.root())
            .args(args);
        cmd
    }

    pub fn run(&self, personality: &str, args: &[&str]) -> Run {
        run(&mut self.cmd(personality, args))
    }

    /// `kexecctl load --dry-run --json`, parsed; panics unless exit 0.
    pub fn plan(&self) -> Value {
        let out = self.run("kexecctl", &["load", "--dry-run", "--json"]);
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    }
}

fn kernel_of(plan: &Value) -> &str {
    plan["kernel"]
        .as_str()
        .unwrap_or_else(|| panic!("no kernel in {plan}"))
}

// ---------------------------------------------------------------------------
// GRUB default forms on Debian 12's layout

#[test]
fn test_saved_entry_submenu_id_path() {
    let plan = Host::debian12().plan();
    assert_eq!(plan["action"], "load");
    assert_eq!(kernel_of(&plan), "/boot/vmlinuz-6.1.0-27-amd64");
    assert_eq!(plan["initrd"], "/boot/initrd.img-6.1.0-27-amd64");
    assert_eq!(
        plan["cmdline"],
        format!("BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID={UUID} ro quiet")
    );
    assert_eq!(
        plan["entry"]["id"],
        format!("gnulinux-6.1.0-27-amd64-advanced-{UUID}")
    );
    assert_eq!(plan["entry"]["source"], "grub");
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
            plan["cmdline"].as_str().unwrap().ends_with(last_arg),
            "default {default:?}: {}",
            plan["cmdline"]
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
        host.plan()["cmdline"]
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
        plan["cmdline"],
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 \"acpi_osi=Windows 2015\" memmap=64K$0x10000"
    );
    assert_eq!(
        plan["initrd"],
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
        assert_eq!(plan["initrd"], "/boot/initrd.img-6.1.0-27-amd64");
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
    assert_eq!(plan["initrd"], "/boot/initrd.img-6.1.0-27-amd64");
    // GRUB's own BOOT_IMAGE names the path on its partition.
    assert!(
        plan["cmdline"]
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
    assert_eq!(plan["initrd"], "/boot/initrd.img-6.1.0-27-amd64");
}

// ---------------------------------------------------------------------------
// Fedora / RHEL: blscfg

pub fn fedora(host: &Host, separate_boot: bool) {
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
            plan["initrd"],
            "/boot/initramfs-5.14.0-362.8.1.el9_3.x86_64.img"
        );
        assert_eq!(plan["entry"]["source"], "bls");
        let boot_image = if separate {
            "(hd0,gpt2)/vmlinuz"
        } else {
            "(hd0,gpt2)/boot/vmlinuz"
        };
        assert_eq!(
            plan["cmdline"],
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
        plan["entry"]["id"],
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
    assert_eq!(plan["initrd"], "/initrd.img");
    assert_eq!(plan["cmdline"], host.read("/proc/cmdline").trim_end());
    host.kexec_config("LOAD_KEXEC=true\nINITRD=\"\"\n");
    assert_eq!(host.plan()["initrd"], Value::Null);
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
        plan["cmdline"],
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
    assert_eq!(calls.len(), 1, "{calls:?}");
    let load = &calls[0];
    assert_eq!(load["call"], "file_load");
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
fn test_stop_leaves_grubenv_as_grub_would() {
    // grub-reboot's next_entry: the load boots it, and the reboot after must
    // not (GRUB consumes it on its way to the entry). A dry run writes nothing.
    let host = Host::debian12();
    host.grubenv(&[("saved_entry", "0"), ("next_entry", "1>1")]);
    let out = host.run("kexec-load", &["--dry-run", "stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        host.read("/boot/grub/grubenv")
            .contains("\nnext_entry=1>1\n")
    );
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let env = host.read("/boot/grub/grubenv");
    assert_eq!(env.len(), 1024);
    assert!(
        env.starts_with("# GRUB Environment Block\nsaved_entry=0\nnext_entry=\n#"),
        "{env}"
    );
    assert!(
        host.calls()[0]["cmdline"]
            .as_str()
            .unwrap()
            .ends_with("ro single")
    );
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
        assert!(host.calls().is_empty());
    }
}

#[test]
fn test_systemd_gate_loads_only_for_a_reboot_job() {
    let host = Host::debian12();
    host.write("/run/systemd/system/.keep", "");
    host.fake_program("systemctl", "echo '123 poweroff.target start waiting'");
    let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "skip", "{plan}");
    assert!(plan["reason"].as_str().unwrap().contains("reboot.target"));
    host.fake_program(
        "systemctl",
        "[ \"$1 $2 $3\" = 'list-jobs --no-legend reboot.target' ] && echo '99 reboot.target start waiting'",
    );
    let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "load", "{plan}");
}

#[test]
fn test_sysvinit_gate_is_runlevel_6() {
    for (output, action) in [
        ("N 6", "load"),
        ("5 6", "load"),
        ("6 0", "skip"),
        ("unknown", "skip"),
    ] {
        let host = Host::debian12();
        host.fake_program_in_root("/sbin/runlevel", &format!("echo '{output}'"));
        let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
        let plan: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(plan["action"], action, "runlevel {output}");
    }
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
    assert_eq!(calls[1]["call"], "run");
    assert_eq!(calls[1]["program"], "/sbin/reboot");
    assert_eq!(calls[1]["args"], serde_json::json!(["-f", "--no-wall"]));
    assert_eq!(
        calls[1]["env"],
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
    assert_eq!(status["loaded"], false);
    assert_eq!(status["next"]["kernel"], "/boot/vmlinuz-6.1.0-27-amd64");
    host.run("kexecctl", &["load"]);
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = host.run("kexecctl", &["status", "--json"]);
    assert_eq!(out.code, 0);
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        status["loaded_by_kexecctl"]["kernel"],
        "/boot/vmlinuz-6.1.0-27-amd64"
    );
}
