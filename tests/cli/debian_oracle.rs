//! Differential test against Debian's original `/etc/init.d/kexec-load`.
//!
//! kexec-tools is fetched with `apt-get download` into a cache outside the
//! work tree; its unmodified script runs in a private mount namespace,
//! chrooted into a copy of each fixture tree, with the host's /usr bound
//! read-only and a fake `/sbin/kexec` that records its arguments. kexecctl
//! (`kexec-load --dry-run --json stop`) runs on another copy of the same
//! tree. Where Debian's script is right, both must choose the same kernel,
//! initrd and command line; where it is wrong (README, "Differences from
//! Debian"), the test asserts both answers, so a change on either side is
//! noticed.
//!
//! Needs root (for the namespace and chroot), `unshare` and `chroot`
//! (util-linux, coreutils) and apt access; fails naming what is missing.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::{Host, UUID, copy_tree, require_program, run};

/// The md5 of bookworm's script (kexec-tools 1:2.0.25-3+deb12u3); a
/// different script is still run, with a warning.
const BOOKWORM_MD5: &str = "731e6f14ee4dcf7c077fed08271cc6ab";

fn cache_dir() -> PathBuf {
    std::env::var_os("KEXECCTL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kexecctl-tests"))
}

/// Debian's script, unpacked from the kexec-tools package once per run.
fn debian_script() -> &'static Path {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the Debian oracle test needs root (mount namespace and chroot)"
        );
        require_program("unshare", "util-linux");
        require_program("chroot", "coreutils");
        require_program("dpkg-deb", "dpkg");
        let dir = cache_dir().join("debian-oracle");
        let script = dir.join("unpacked/etc/init.d/kexec-load");
        if !script.is_file() {
            fs::create_dir_all(&dir).unwrap();
            let fetch = |update: bool| {
                if update {
                    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
                }
                Command::new("apt-get")
                    .args(["download", "-qq", "kexec-tools"])
                    .current_dir(&dir)
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            };
            assert!(
                fetch(false) || fetch(true),
                "cannot download Debian's kexec-tools with `apt-get download kexec-tools` into {}",
                dir.display()
            );
            let deb = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == "deb"))
                .expect("apt-get download left no .deb");
            let ok = Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(dir.join("unpacked"))
                .status()
                .unwrap()
                .success();
            assert!(ok, "dpkg-deb -x {} failed", deb.display());
        }
        let md5 = Command::new("md5sum").arg(&script).output().unwrap();
        if !String::from_utf8_lossy(&md5.stdout).starts_with(BOOKWORM_MD5) {
            eprintln!("warning: {} is not bookworm's kexec-load", script.display());
        }
        script
    })
}

/// What Debian's script did: the argv of `kexec -l`, if it ran, and its
/// exit code.
#[derive(Debug)]
struct Debian {
    code: i32,
    load: Option<Load>,
    stderr: String,
}

#[derive(Debug, PartialEq, Eq)]
struct Load {
    kernel: String,
    initrd: Option<String>,
    cmdline: String,
}

fn run_debian(host: &Host) -> Debian {
    let script = debian_script();
    let copy = tempfile::tempdir().unwrap();
    let r = copy.path().join("root");
    copy_tree(&host.root(), &r);
    // The system the script needs: host /usr (read-only), merged-/usr
    // links, alternatives (awk), /dev/null, and a fake kexec first in PATH.
    for dir in ["usr", "sbin", "etc/init.d", "dev"] {
        fs::create_dir_all(r.join(dir)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        if !r.join(link).exists() {
            symlink(target, r.join(link)).unwrap();
        }
    }
    let status = Command::new("cp")
        .args(["-a", "/etc/alternatives"])
        .arg(r.join("etc/"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::write(r.join("dev/null"), "").unwrap();
    fs::copy(script, r.join("etc/init.d/kexec-load")).unwrap();
    let kexec = r.join("sbin/kexec");
    fs::write(&kexec, "#!/bin/sh\nprintf '%s\\0' \"$@\" > /kexec.argv\n").unwrap();
    fs::set_permissions(&kexec, fs::Permissions::from_mode(0o755)).unwrap();
    let inner = format!(
        "mount --bind -o ro /usr {r}/usr && mount --bind /dev/null {r}/dev/null && \
         exec chroot {r} /usr/bin/env -i PATH=/sbin:/bin:/usr/sbin:/usr/bin LANG=C \
         /bin/sh /etc/init.d/kexec-load stop",
        r = r.display()
    );
    let out = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(inner));
    let load = fs::read(r.join("kexec.argv")).ok().map(|bytes| {
        let text = String::from_utf8(bytes).unwrap();
        // NUL-terminated arguments; an empty one stays (an empty kernel path).
        let mut argv: Vec<&str> = text.split('\0').collect();
        argv.pop();
        assert_eq!(argv[0], "-l", "{argv:?}");
        Load {
            kernel: argv[1].to_string(),
            initrd: argv
                .iter()
                .find_map(|a| a.strip_prefix("--initrd="))
                .map(str::to_string),
            cmdline: argv
                .iter()
                .find_map(|a| a.strip_prefix("--append="))
                .unwrap_or("")
                .to_string(),
        }
    });
    Debian {
        code: out.code,
        load,
        stderr: out.stderr,
    }
}

/// kexecctl's choice on the same tree (`kexec-load --dry-run --json stop`).
fn run_kexecctl(host: &Host) -> (i32, Value) {
    let out = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
    let json = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    (out.code, json)
}

fn ours(plan: &Value) -> Option<Load> {
    if plan["action"] != "load" {
        return None;
    }
    Some(Load {
        kernel: plan["load"]["kernel"].as_str().unwrap().to_string(),
        initrd: match plan["load"]["initrds"].as_array().map(Vec::as_slice) {
            Some([one]) => one.as_str().map(str::to_string),
            _ => None,
        },
        cmdline: plan["load"]["cmdline"].as_str().unwrap().to_string(),
    })
}

/// GRUB passes `BOOT_IMAGE=<kernel>` first; Debian's script drops it. Where
/// both pick the same entry, kexecctl's line minus that token is Debian's.
fn without_boot_image(load: Option<Load>) -> Option<Load> {
    load.map(|mut l| {
        if let Some(rest) = l.cmdline.strip_prefix("BOOT_IMAGE=") {
            l.cmdline = rest
                .split_once(' ')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default();
        }
        l
    })
}

fn agree(name: &str, host: &Host) {
    let debian = run_debian(host);
    let (code, plan) = run_kexecctl(host);
    assert_eq!(
        debian.code, 0,
        "{name}: Debian's script failed: {}",
        debian.stderr
    );
    assert_eq!(code, 0, "{name}: kexecctl failed: {plan}");
    let mine = if plan["load"]["entry"].is_object() {
        without_boot_image(ours(&plan))
    } else {
        ours(&plan)
    };
    assert_eq!(
        mine, debian.load,
        "{name}: kexecctl {plan} vs Debian {:?}",
        debian.load
    );
}

fn load(kernel: &str, initrd: Option<&str>, cmdline: &str) -> Option<Load> {
    Some(Load {
        kernel: kernel.into(),
        initrd: initrd.map(Into::into),
        cmdline: cmdline.into(),
    })
}

// ---------------------------------------------------------------------------
// Where Debian's script is right, kexecctl agrees.

#[test]
fn test_agrees_on_config_file_settings() {
    let cases: &[(&str, &str)] = &[
        (
            "generated",
            "LOAD_KEXEC=true\nKERNEL_IMAGE=\"/vmlinuz\"\nINITRD=\"/initrd.img\"\nAPPEND=\"\"\nUSE_GRUB_CONFIG=false\n",
        ),
        (
            "append",
            "LOAD_KEXEC=true\nKERNEL_IMAGE=/vmlinuz\nINITRD=/initrd.img\nAPPEND=\"root=/dev/vda1 ro console=ttyS0,115200n8\"\n",
        ),
        (
            "no initrd",
            "LOAD_KEXEC=true\nKERNEL_IMAGE=/boot/vmlinuz-6.1.0-27-amd64\nINITRD=\"\"\nAPPEND='root=/dev/vda1 quiet'\n",
        ),
        (
            "uname -r",
            "LOAD_KEXEC=true\nKERNEL_IMAGE=\"/boot/vmlinuz-$(uname -r)\"\nINITRD=/boot/initrd.img-`uname -r`\n",
        ),
        ("disabled", "LOAD_KEXEC=false\n"),
        ("not exactly true", "LOAD_KEXEC=yes\n"),
    ];
    for (name, config) in cases {
        let host = Host::debian12();
        host.kexec_config(config);
        fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
        // `uname -r` in Debian's chroot is the build host's kernel: make
        // the tree's release and files match it.
        let release =
            String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
        let release = release.trim();
        host.write("/proc/sys/kernel/osrelease", &format!("{release}\n"));
        host.write_bytes(
            &format!("/boot/vmlinuz-{release}"),
            &fs::read(host.root().join("boot/vmlinuz-6.1.0-28-amd64")).unwrap(),
        );
        host.write(&format!("/boot/initrd.img-{release}"), "initrd");
        agree(name, &host);
    }
}

#[test]
fn test_agrees_on_kexec_d_snippets() {
    let host = Host::debian12();
    host.kexec_config(
        "LOAD_KEXEC=true\nKERNEL_IMAGE=/vmlinuz\nINITRD=/initrd.img\nUSE_GRUB_CONFIG=false\nAPPEND=\"root=/dev/vda1\"\n",
    );
    host.write(
        "/etc/default/kexec.d/20-console",
        "APPEND=\"$APPEND console=ttyS0\"\n",
    );
    host.write(
        "/etc/default/kexec.d/10-quiet",
        "APPEND=\"$APPEND quiet\"\n",
    );
    host.write("/etc/default/kexec.d/30-ignored.conf", "APPEND=ignored\n");
    agree("kexec.d", &host);
}

#[test]
fn test_agrees_on_already_loaded_and_cold_marker() {
    let host = Host::debian12();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    agree("already loaded", &host);
    let host = Host::debian12();
    host.write("/no-kexec-reboot", "");
    agree("no-kexec-reboot", &host);
}

#[test]
fn test_agrees_on_grub_defaults_debian_gets_right() {
    // Entry 0, and 1 (GRUB enters the submenu and boots its first entry,
    // which is also Debian's flattened entry 1).
    for default in ["0", "1"] {
        let host = Host::debian12();
        host.grub_default(default);
        agree(&format!("default={default}"), &host);
    }
    // A separate /boot, which Debian detects with mountpoint(1).
    let host = Host::fixture("separate-boot");
    host.grub_default("0");
    agree("separate /boot", &host);
}

// ---------------------------------------------------------------------------
// Where Debian's script is wrong, kexecctl gives the documented answer.

#[test]
fn test_unset_kernel_image_debian_passes_an_empty_path() {
    // Debian's script has no defaults: without KERNEL_IMAGE in the file it
    // runs `kexec -l ""`, which fails. kexecctl uses the values Debian's
    // postinst would have written (/vmlinuz, /initrd.img).
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\n");
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let debian = run_debian(&host);
    let cmdline = host.read("/proc/cmdline").trim_end().to_string();
    assert_eq!(debian.load, load("", None, &cmdline));
    let (_, plan) = run_kexecctl(&host);
    assert_eq!(ours(&plan), load("/vmlinuz", Some("/initrd.img"), &cmdline));
}

#[test]
fn test_submenu_index_debian_flattens() {
    // default=2 is "UEFI Firmware Settings" to GRUB; Debian counts the
    // submenu's entries and boots the 6.1.0-28 recovery entry.
    let host = Host::debian12();
    host.grub_default("2");
    let debian = run_debian(&host);
    assert_eq!(
        debian.load,
        load(
            "/boot/vmlinuz-6.1.0-28-amd64",
            Some("/boot/initrd.img-6.1.0-28-amd64"),
            &format!("root=UUID={UUID} ro single")
        )
    );
    let (code, _) = run_kexecctl(&host);
    assert_eq!(
        code, 6,
        "kexecctl refuses: GRUB's default does not boot Linux"
    );
}

#[test]
fn test_ids_and_paths_debian_aborts_on() {
    // grub-set-default / GRUB_SAVEDEFAULT store ids: Debian's script dies
    // with "Illegal number" (exit 2) and loads nothing.
    let host = Host::debian12();
    let debian = run_debian(&host);
    assert_eq!(debian.code, 2, "{debian:?}");
    assert!(
        debian.stderr.contains("Illegal number"),
        "{}",
        debian.stderr
    );
    assert_eq!(debian.load, None);
    let (code, plan) = run_kexecctl(&host);
    assert_eq!(code, 0);
    assert_eq!(plan["load"]["kernel"], "/boot/vmlinuz-6.1.0-27-amd64");
    for default in ["1>2", "Debian GNU/Linux"] {
        let host = Host::debian12();
        host.grub_default(default);
        assert_eq!(run_debian(&host).code, 2, "{default}");
        assert_eq!(run_kexecctl(&host).1["action"], "load", "{default}");
    }
}

#[test]
fn test_next_entry_debian_ignores() {
    let host = Host::debian12();
    host.grub_default("0");
    host.grubenv(&[("next_entry", "1>3")]);
    let debian = run_debian(&host);
    assert!(debian.load.unwrap().cmdline.ends_with("ro quiet"));
    let (_, plan) = run_kexecctl(&host);
    assert!(
        plan["load"]["cmdline"]
            .as_str()
            .unwrap()
            .ends_with("ro single"),
        "{plan}"
    );
    assert_eq!(plan["load"]["kernel"], "/boot/vmlinuz-6.1.0-27-amd64");
}

#[test]
fn test_quotes_and_dollars_debian_mangles() {
    let host = Host::debian12();
    host.write(
        "/boot/grub/grub.cfg",
        "set default=\"0\"\nmenuentry 'x' {\n\tlinux\t/boot/vmlinuz-6.1.0-27-amd64 root=/dev/vda1 acpi_osi=\"Windows 2015\" memmap=64K\\$0x10000\n\tinitrd\t/boot/initrd.img-6.1.0-27-amd64\n}\n",
    );
    // Debian's eval breaks on the quote and silently falls back to the
    // config file's kernel with /proc/cmdline.
    let debian = run_debian(&host);
    assert_eq!(
        debian.load.as_ref().unwrap().kernel,
        "/vmlinuz",
        "{debian:?}"
    );
    let (_, plan) = run_kexecctl(&host);
    assert_eq!(
        plan["load"]["cmdline"],
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=/dev/vda1 \"acpi_osi=Windows 2015\" memmap=64K$0x10000"
    );
}

#[test]
fn test_several_initrds_debian_joins_into_one_path() {
    let host = Host::debian12();
    host.write("/boot/intel-ucode.img", "UCODE");
    host.write(
        "/boot/grub/grub.cfg",
        "set default=\"0\"\nmenuentry 'x' {\n\tlinux\t/boot/vmlinuz-6.1.0-27-amd64 ro\n\tinitrd\t/boot/intel-ucode.img /boot/initrd.img-6.1.0-27-amd64\n}\n",
    );
    let debian = run_debian(&host);
    assert_eq!(
        debian.load.unwrap().initrd.as_deref(),
        Some("/boot/intel-ucode.img /boot/initrd.img-6.1.0-27-amd64")
    );
    let (_, plan) = run_kexecctl(&host);
    assert_eq!(
        plan["load"]["initrds"],
        serde_json::json!(["/boot/intel-ucode.img", "/boot/initrd.img-6.1.0-27-amd64"])
    );
}
