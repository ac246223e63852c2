//! Hostile input and I/O faults through the built binary with the recording
//! system: GRUB and BLS paths that try to leave `--root`, thousands of
//! initrds, NUL bytes and invalid UTF-8 in every file kexecctl reads, FIFOs
//! where files are expected, newlines on their way to the command line, EIO
//! from the kernel's read of the image, a read-only /boot when grubenv must
//! be written, and a kernel replaced between the checks and the load.
//! Each ends in a defined state, with a message naming the file.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Host, Run, run};

/// The names of the calls the recording fake saw.
fn calls(host: &Host) -> Vec<String> {
    host.calls()
        .iter()
        .map(|c| c["call"].as_str().unwrap().to_string())
        .collect()
}

/// Runs `cmd` under `timeout` (coreutils) and `prlimit` (util-linux): a
/// hang is killed and reported as one, an allocation beyond `mib` MiB of
/// address space aborts the run.
fn bounded(cmd: &Command, secs: u32, mib: u64) -> Run {
    crate::util::require_program("timeout", "coreutils");
    crate::util::require_program("prlimit", "util-linux");
    let (secs_arg, limit) = (secs.to_string(), format!("--as={}", mib << 20));
    let wrapper = [
        "timeout",
        "--kill-after=5",
        &secs_arg,
        "prlimit",
        &limit,
        "--",
    ];
    let out = run(&mut crate::util::wrapped(&wrapper, cmd, true));
    assert_ne!(out.code, 124, "hung: killed after {secs} s: {}", out.stderr);
    assert_ne!(out.code, 137, "hung: killed after {secs} s: {}", out.stderr);
    out
}

/// The dry-run plan, run bounded; panics unless exit 0.
fn plan_of(host: &Host) -> Value {
    let out = bounded(
        &host.cmd("kexecctl", &["load", "--dry-run", "--json"]),
        60,
        512,
    );
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

// ---------------------------------------------------------------------------
// Paths that try to leave --root

/// A menu entry booting the 6.1.0-28 kernel with `marker` on its command
/// line, made the default.
fn entry_marked(marker: &str) -> String {
    format!(
        "menuentry 'marked' --id marked {{\n\tlinux /boot/vmlinuz-6.1.0-28-amd64 {marker}\n}}\n\
         set default=marked\n"
    )
}

/// A 1024-byte GRUB environment block with these variables.
fn env_block(vars: &[(&str, &str)]) -> String {
    let mut text = String::from("# GRUB Environment Block\n");
    for (k, v) in vars {
        text.push_str(&format!("{k}={v}\n"));
    }
    text.push_str(&"#".repeat(1024 - text.len()));
    text
}

#[test]
fn test_grub_source_configfile_and_load_env_stay_beneath_the_root() {
    // For each way of naming a file above the root: the line appended to
    // grub.cfg, where GRUB's normalisation puts it inside the tree (a
    // decoy there says "inside"), and the file above the root holding the
    // escape marker, which must never reach the plan.
    let cases: &[(&str, &str, &str)] = &[
        ("source /../../outside.cfg", "/outside.cfg", "outside.cfg"),
        (
            "source ($root)/boot/grub/../../../../outside.cfg",
            "/outside.cfg",
            "outside.cfg",
        ),
        (
            ". /boot/../../../../outside.cfg",
            "/outside.cfg",
            "outside.cfg",
        ),
        ("configfile /../outside.cfg", "/outside.cfg", "outside.cfg"),
        (
            "configfile ($root)/../../../outside.cfg",
            "/outside.cfg",
            "outside.cfg",
        ),
    ];
    for &(line, inside, outside) in cases {
        let host = Host::debian12();
        fs::write(host.dir.path().join(outside), entry_marked("ESCAPED")).unwrap();
        host.write(inside, &entry_marked("inside-the-root"));
        let cfg = host.read("/boot/grub/grub.cfg");
        host.write("/boot/grub/grub.cfg", &format!("{cfg}{line}\n"));
        let plan = plan_of(&host);
        let cmdline = plan["load"]["cmdline"].as_str().unwrap();
        assert!(!cmdline.contains("ESCAPED"), "{line}: {cmdline}");
        assert!(cmdline.contains("inside-the-root"), "{line}: {cmdline}");
    }
    // An absolute host path names the tree's file of that name (none here):
    // nothing is sourced, the default stays GRUB's.
    let host = Host::debian12();
    let outside = host.dir.path().join("outside.cfg");
    fs::write(&outside, entry_marked("ESCAPED")).unwrap();
    let cfg = host.read("/boot/grub/grub.cfg");
    host.write(
        "/boot/grub/grub.cfg",
        &format!("{cfg}source {}\n", outside.display()),
    );
    let plan = plan_of(&host);
    assert!(!plan.to_string().contains("ESCAPED"), "{plan}");
    assert_eq!(
        plan["load"]["kernel"], "/boot/vmlinuz-6.1.0-27-amd64",
        "grubenv's saved_entry, as without the line"
    );
    // A link inside the tree to a file above it: followed within the tree.
    let host = Host::debian12();
    fs::write(host.dir.path().join("outside.cfg"), entry_marked("ESCAPED")).unwrap();
    host.write("/outside.cfg", &entry_marked("inside-the-root"));
    symlink("../../../outside.cfg", host.path("/boot/grub/custom.cfg")).unwrap();
    let cfg = host.read("/boot/grub/grub.cfg");
    host.write(
        "/boot/grub/grub.cfg",
        &format!("{cfg}source $prefix/custom.cfg\n"),
    );
    let cmdline = plan_of(&host)["load"]["cmdline"].to_string();
    assert!(cmdline.contains("inside-the-root"), "{cmdline}");
    // load_env -f with `..` and with an absolute host path.
    for (file, expected) in [
        ("/boot/grub/../../../../outside.env", "inside-env"),
        ("($root)/../../outside.env", "inside-env"),
        ("OUTSIDE_ABSOLUTE", "unset"),
    ] {
        let host = Host::debian12();
        let outside = host.dir.path().join("outside.env");
        fs::write(&outside, env_block(&[("mark", "ESCAPED")])).unwrap();
        host.write("/outside.env", &env_block(&[("mark", "inside-env")]));
        let file = file.replace("OUTSIDE_ABSOLUTE", &outside.display().to_string());
        let cfg = host.read("/boot/grub/grub.cfg");
        host.write(
            "/boot/grub/grub.cfg",
            &format!(
                "{cfg}set mark=unset\nload_env -f {file}\nexport mark\n{}",
                entry_marked("mark=$mark")
            ),
        );
        let cmdline = plan_of(&host)["load"]["cmdline"].to_string();
        assert!(!cmdline.contains("ESCAPED"), "{file}: {cmdline}");
        assert!(
            cmdline.contains(&format!("mark={expected}")),
            "{file}: {cmdline}"
        );
    }
}

#[test]
fn test_blscfg_entries_stay_beneath_the_root() {
    let bls = |kernel_arg: &str| {
        format!(
            "title hostile\nversion 9.9.9\nlinux /vmlinuz-5.14.0-362.8.1.el9_3.x86_64\n\
             options {kernel_arg}\n"
        )
    };
    let rhel9 = || {
        let host = Host::fixture("rhel-9");
        host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n");
        host
    };
    // The entries directory a link climbing above the root: the climb
    // stops at the root, the tree's directory is read.
    let host = rhel9();
    let entries = host.path("/boot/loader/entries");
    fs::rename(&entries, host.path("/entries")).unwrap();
    fs::create_dir_all(host.dir.path().join("entries")).unwrap();
    fs::write(
        host.dir
            .path()
            .join("entries/0f3c1b2a4d5e6f708192a3b4c5d6e7f8-9.9.9-1.x86_64.conf"),
        bls("ESCAPED"),
    )
    .unwrap();
    symlink("../../../entries", &entries).unwrap();
    let plan = plan_of(&host);
    assert!(!plan.to_string().contains("ESCAPED"), "{plan}");
    assert_eq!(
        plan["load"]["kernel"],
        "/boot/vmlinuz-5.14.0-362.8.1.el9_3.x86_64"
    );
    // An entry that is an absolute link to a file on the host names the
    // tree's file of that name, which does not exist: no entry.
    let host = rhel9();
    let outside = host
        .dir
        .path()
        .join("0f3c1b2a4d5e6f708192a3b4c5d6e7f8-9.9.9-1.x86_64.conf");
    fs::write(&outside, bls("ESCAPED")).unwrap();
    symlink(
        &outside,
        host.path("/boot/loader/entries/0f3c1b2a4d5e6f708192a3b4c5d6e7f8-9.9.9-1.x86_64.conf"),
    )
    .unwrap();
    let plan = plan_of(&host);
    assert!(!plan.to_string().contains("ESCAPED"), "{plan}");
    assert_eq!(
        plan["load"]["kernel"],
        "/boot/vmlinuz-5.14.0-362.8.1.el9_3.x86_64"
    );
    // ...and the same link resolves inside the tree when the tree has it.
    host.write(&outside.display().to_string(), &bls("inside-the-root"));
    let plan = plan_of(&host);
    assert!(
        plan["load"]["cmdline"]
            .as_str()
            .unwrap()
            .contains("inside-the-root"),
        "{plan}"
    );
}

// ---------------------------------------------------------------------------
// Thousands of initrds

#[test]
fn test_thousands_of_initrds_are_refused_quickly_in_bounded_memory() {
    const MANY: usize = 5_000;
    // GRUB: one `initrd` line with 5,000 paths.
    let host = Host::debian12();
    let paths = vec!["/boot/initrd.img-6.1.0-27-amd64"; MANY].join(" ");
    host.edit(
        "/boot/grub/grub.cfg",
        "\t\tinitrd\t/boot/initrd.img-6.1.0-27-amd64\n\t}\n\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-27-amd64 (recovery mode)'",
        &format!(
            "\t\tinitrd\t{paths}\n\t}}\n\tmenuentry 'Debian GNU/Linux, with Linux 6.1.0-27-amd64 (recovery mode)'"
        ),
    );
    let out = bounded(&host.cmd("kexec-load", &["stop"]), 60, 256);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("5000 initrds are listed; kexecctl loads at most 256"),
        "{}",
        out.stderr
    );
    assert!(calls(&host).is_empty(), "{:?}", host.calls());
    // BLS: 5,000 `initrd` lines.
    let host = Host::fixture("rhel-9");
    host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n");
    let entry =
        "/boot/loader/entries/0f3c1b2a4d5e6f708192a3b4c5d6e7f8-5.14.0-362.8.1.el9_3.x86_64.conf";
    let lines = "initrd /initramfs-5.14.0-362.8.1.el9_3.x86_64.img\n".repeat(MANY);
    let text = host.read(entry);
    host.write(entry, &format!("{text}{lines}"));
    let out = bounded(&host.cmd("kexecctl", &["load"]), 60, 256);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("initrds are listed; kexecctl loads at most 256"),
        "{}",
        out.stderr
    );
    assert!(calls(&host).is_empty(), "{:?}", host.calls());
}

// ---------------------------------------------------------------------------
// NUL bytes and invalid UTF-8 in every file

/// Appends `bytes` to a file of the tree.
fn append(host: &Host, path: &str, bytes: &[u8]) {
    let mut all = fs::read(host.path(path)).unwrap();
    all.extend_from_slice(bytes);
    host.write_bytes(path, &all);
}

const BLS_NEWEST: &str =
    "/boot/loader/entries/0f3c1b2a4d5e6f708192a3b4c5d6e7f8-5.14.0-362.8.1.el9_3.x86_64.conf";

#[test]
fn test_nul_and_invalid_utf8_in_shell_configuration_files_are_refused_with_line() {
    // Every shell-fragment file: refused with file:line:column, exit 6,
    // before any system call (dash and bash would drop a NUL; kexecctl
    // does not guess around damage).
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("debian-12", "/etc/default/kexec", "kexec-load", &["stop"]),
        (
            "debian-12",
            "/etc/default/kexec.d/50-serial",
            "kexec-load",
            &["stop"],
        ),
        ("rhel-9", "/etc/sysconfig/kdump", "kdump-setup", &["start"]),
        (
            "debian-kdump-tools",
            "/etc/default/kdump-tools",
            "kdump-setup",
            &["start"],
        ),
    ];
    for &(fixture, file, personality, args) in cases {
        for (bytes, what) in [
            (&b"X=\"a\0b\"\n"[..], "a NUL byte in the file"),
            (b"# \0\n", "a NUL byte in the file"),
            (b"X=\"a\xffb\"\n", "invalid UTF-8 in the file"),
        ] {
            let host = Host::fixture(fixture);
            let line = host.read(file).lines().count() + 1;
            append(&host, file, bytes);
            let out = bounded(&host.cmd(personality, args), 60, 512);
            assert_eq!(out.code, 6, "{file} {bytes:?}: {}", out.stderr);
            assert!(
                out.stderr.contains(&format!("{file}:{line}:")) && out.stderr.contains(what),
                "{file} {bytes:?}: {}",
                out.stderr
            );
            assert!(calls(&host).is_empty(), "{file}: {:?}", host.calls());
        }
    }
}

#[test]
fn test_nul_and_invalid_utf8_in_grub_files() {
    // grub.cfg: not UTF-8 is refused with its line; GRUB's own reader
    // takes bytes, but kexecctl must not guess what a damaged file boots.
    let host = Host::debian12();
    append(&host, "/boot/grub/grub.cfg", b"# \xff\n");
    let out = bounded(&host.cmd("kexec-load", &["stop"]), 60, 512);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/boot/grub/grub.cfg:201:3: not UTF-8 text"),
        "{}",
        out.stderr
    );
    assert!(calls(&host).is_empty());
    // A NUL ends a line for GRUB (its reader hands lines to the lexer as C
    // strings): in a comment it changes nothing; in the default entry's
    // `linux` line the rest of the line is not there — the command line
    // GRUB itself would boot.
    let host = Host::debian12();
    append(&host, "/boot/grub/grub.cfg", b"# \0\n");
    assert_eq!(
        plan_of(&host)["load"]["kernel"],
        "/boot/vmlinuz-6.1.0-27-amd64"
    );
    let host = Host::debian12();
    host.edit(
        "/boot/grub/grub.cfg",
        "linux\t/boot/vmlinuz-6.1.0-27-amd64 root=UUID=7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d ro  quiet",
        "linux\t/boot/vmlinuz-6.1.0-27-amd64 root=UUID=7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d ro  q\0uiet",
    );
    let out = bounded(&host.cmd("kexec-load", &["stop"]), 60, 512);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        host.calls()[0]["cmdline"],
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID=7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d ro q"
    );
    // grubenv is a block of bytes: a value that is not UTF-8 is read as
    // GRUB reads it (it names no entry: GRUB's default, entry 0, boots).
    let host = Host::debian12();
    host.grubenv(&[("saved_entry", "\u{fffd}")]);
    let mut block = fs::read(host.path("/boot/grub/grubenv")).unwrap();
    let at = block
        .windows(3)
        .position(|w| w == "\u{fffd}".as_bytes())
        .unwrap();
    block.splice(at..at + 3, *b"\xff\xfex");
    host.write_bytes("/boot/grub/grubenv", &block);
    let plan = plan_of(&host);
    assert_eq!(plan["load"]["kernel"], "/boot/vmlinuz-6.1.0-28-amd64");
    // sourced files are bytes to GRUB too; a byte that is not UTF-8 is
    // read as U+FFFD and never reaches a path or the command line here.
    let host = Host::debian12();
    host.write_bytes("/boot/grub/custom.cfg", b"# caf\xe9\nset timeout=5\n");
    append(&host, "/boot/grub/grub.cfg", b"source $prefix/custom.cfg\n");
    assert_eq!(
        plan_of(&host)["load"]["kernel"],
        "/boot/vmlinuz-6.1.0-27-amd64"
    );
}

#[test]
fn test_nul_and_invalid_utf8_in_bls_entries() {
    let rhel9 = || {
        let host = Host::fixture("rhel-9");
        host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n");
        host
    };
    // A title in Latin-1: the entry still boots (never dropped, which
    // would boot the next kernel), with a warning naming it.
    let host = rhel9();
    let mut bytes = host.read(BLS_NEWEST).into_bytes();
    let at = bytes.windows(6).position(|w| w == b"(Plow)").unwrap();
    bytes.splice(at + 5..at + 5, *b" \xe9");
    host.write_bytes(BLS_NEWEST, &bytes);
    let out = bounded(
        &host.cmd("kexecctl", &["load", "--dry-run", "--json"]),
        60,
        512,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        plan["load"]["kernel"],
        "/boot/vmlinuz-5.14.0-362.8.1.el9_3.x86_64"
    );
    assert!(
        out.stderr.contains(&format!(
            "warning: {BLS_NEWEST}: not UTF-8 text; its invalid bytes are read as U+FFFD"
        )),
        "{}",
        out.stderr
    );
    // A NUL in the options would be inside a kernel parameter: refused.
    let host = rhel9();
    let text = host
        .read(BLS_NEWEST)
        .replace("$tuned_params", "$tuned_params x\0y");
    host.write(BLS_NEWEST, &text);
    let out = bounded(&host.cmd("kexecctl", &["load"]), 60, 512);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("U+0000 (NUL)"), "{}", out.stderr);
    assert!(calls(&host).is_empty(), "{:?}", host.calls());
}

#[test]
fn test_nul_and_invalid_utf8_in_kdump_conf_proc_cmdline_and_mountinfo() {
    // /etc/kdump.conf is mkdumprd's file: kexecctl reads only
    // force_rebuild/force_no_rebuild, so bytes elsewhere change nothing,
    // and a damaged value of those is named with its line.
    let host = Host::fixture("rhel-9");
    append(&host, "/etc/kdump.conf", b"# caf\xe9 \0\n");
    host.set_mtime("/etc/kdump.conf", crate::util::FIXTURE_TIME - 1_000_000);
    let out = bounded(&host.cmd("kdump-setup", &["start"]), 60, 512);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(calls(&host), ["file_load"]);
    let host = Host::fixture("rhel-9");
    append(&host, "/etc/kdump.conf", b"force_rebuild 1\xff\n");
    let line = fs::read(host.path("/etc/kdump.conf"))
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let out = bounded(&host.cmd("kdump-setup", &["start"]), 60, 512);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "/etc/kdump.conf:{line}:1: force_rebuild value is invalid"
        )),
        "{}",
        out.stderr
    );
    assert!(calls(&host).is_empty());
    // /proc/cmdline, needed as the capture kernel's base: not UTF-8 is
    // named; a NUL would sit inside a parameter.
    let host = Host::fixture("rhel-9");
    host.write_bytes("/proc/cmdline", b"ro quiet caf\xe9\n");
    let out = bounded(&host.cmd("kdump-setup", &["start"]), 60, 512);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/proc/cmdline: not UTF-8 text (needed because KDUMP_COMMANDLINE is empty)"),
        "{}",
        out.stderr
    );
    assert!(calls(&host).is_empty());
    let host = Host::fixture("rhel-9");
    host.write_bytes("/proc/cmdline", b"ro quiet a\0b\n");
    let out = bounded(&host.cmd("kdump-setup", &["start"]), 60, 512);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("U+0000 (NUL)"), "{}", out.stderr);
    assert!(calls(&host).is_empty());
    // mountinfo: mount points are bytes; one that is not UTF-8 must not
    // hide /boot's mount (GRUB's paths are relative to it).
    for bytes in [
        &b"99 21 0:5 / /mnt/caf\xe9 rw - tmpfs tmpfs rw\n"[..],
        b"99 21 0:5 / /mnt/a\0b rw - tmpfs tmpfs rw\n",
    ] {
        let host = Host::fixture("separate-boot");
        let before = plan_of(&host);
        append(&host, "/proc/self/mountinfo", bytes);
        assert_eq!(plan_of(&host)["load"], before["load"], "{bytes:?}");
    }
}

#[test]
fn test_a_fifo_where_a_file_is_expected_never_hangs() {
    // Opening a FIFO waits for a writer: on the shutdown path that would
    // be a hang. Each is named, or skipped where the file is optional.
    let refused: &[(&str, i32, &str)] = &[
        (
            "/etc/default/kexec.d/50-serial",
            6,
            "/etc/default/kexec.d/50-serial: not a regular file but a FIFO",
        ),
        (
            "/boot/vmlinuz-6.1.0-27-amd64",
            5,
            "/boot/vmlinuz-6.1.0-27-amd64: the kernel image is not a regular file",
        ),
        (
            "/boot/initrd.img-6.1.0-27-amd64",
            5,
            "/boot/initrd.img-6.1.0-27-amd64: the initrd is not a regular file",
        ),
    ];
    for &(file, code, message) in refused {
        let host = Host::debian12();
        fs::remove_file(host.path(file)).unwrap();
        nix::unistd::mkfifo(&host.path(file), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let out = bounded(&host.cmd("kexec-load", &["stop"]), 20, 512);
        assert_eq!(out.code, code, "{file}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{file}: {}", out.stderr);
        assert!(calls(&host).is_empty(), "{file}: {:?}", host.calls());
    }
    // Not needed for this load: skipped (mountinfo: /boot assumed on /).
    for file in ["/proc/cmdline", "/proc/self/mountinfo"] {
        let host = Host::debian12();
        fs::remove_file(host.path(file)).unwrap();
        nix::unistd::mkfifo(&host.path(file), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let out = bounded(&host.cmd("kexec-load", &["stop"]), 20, 512);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        assert_eq!(calls(&host)[0], "file_load");
    }
    // Facts: sysvinit's utmp (the reboot gate reads it), the kexec state.
    let host = Host::debian12();
    fs::create_dir_all(host.path("/var/run")).unwrap();
    nix::unistd::mkfifo(&host.path("/var/run/utmp"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = bounded(&host.cmd("kexec-load", &["stop"]), 20, 512);
    assert_eq!(out.code, 0, "utmp: {}", out.stderr);
    let host = Host::debian12();
    fs::remove_file(host.path("/sys/kernel/kexec_loaded")).unwrap();
    nix::unistd::mkfifo(
        &host.path("/sys/kernel/kexec_loaded"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    let out = bounded(&host.cmd("kexecctl", &["status"]), 20, 512);
    assert!(
        out.stdout.contains("kexec kernel:  not loaded"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    // Needed: named.
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=false\n");
    fs::remove_dir_all(host.path("/etc/default/kexec.d")).unwrap();
    fs::remove_file(host.path("/proc/cmdline")).unwrap();
    nix::unistd::mkfifo(&host.path("/proc/cmdline"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = bounded(&host.cmd("kexec-load", &["stop"]), 20, 512);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("/proc/cmdline: not a regular file but a FIFO"),
        "{}",
        out.stderr
    );
    assert!(calls(&host).is_empty(), "{:?}", host.calls());
    // The main configuration files: refused, never taken for absent
    // (that would load with the defaults: for kdump, another command line).
    for (fixture, file, personality, args) in [
        (
            "debian-12",
            "/etc/default/kexec",
            "kexec-load",
            &["stop"][..],
        ),
        ("rhel-9", "/etc/sysconfig/kdump", "kdump-setup", &["start"]),
    ] {
        let host = Host::fixture(fixture);
        fs::remove_file(host.path(file)).unwrap();
        nix::unistd::mkfifo(&host.path(file), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let out = bounded(&host.cmd(personality, args), 20, 512);
        assert_eq!(out.code, 6, "{file}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("{file}: not a regular file but a FIFO")),
            "{file}: {}",
            out.stderr
        );
        assert!(calls(&host).is_empty(), "{file}: {:?}", host.calls());
    }
    // kdump.conf is mkdumprd's file, which kdumpctl tests with `-f`: a
    // FIFO is no kdump.conf, the rebuild policy is the default (the FIFO
    // is newer than the initrd, so mkdumprd is asked to rebuild it, as
    // kdumpctl would).
    let host = Host::fixture("rhel-9");
    fs::remove_file(host.path("/etc/kdump.conf")).unwrap();
    nix::unistd::mkfifo(&host.path("/etc/kdump.conf"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = bounded(&host.cmd("kdump-setup", &["start"]), 20, 512);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(calls(&host).last().unwrap(), "file_load");
}

// ---------------------------------------------------------------------------
// Newlines on their way to the command line

#[test]
fn test_newlines_that_reach_the_command_line() {
    // GRUB: a variable holding a newline, unquoted in `linux`, is split
    // like any blank; quoted, the newline stays in the one argument and
    // the kernel reads it as a separator.
    let host = Host::debian12();
    let cfg = host.read("/boot/grub/grub.cfg");
    host.write(
        "/boot/grub/grub.cfg",
        &format!(
            "{cfg}set extra=\"a=1\nb=2\"\nexport extra\n{}",
            entry_marked("$extra \"$extra\"")
        ),
    );
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        host.calls()[0]["cmdline"],
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 a=1 b=2 a=1\nb=2"
    );
    // kdump: KDUMP_COMMANDLINE_APPEND with a newline.
    let host = Host::fixture("rhel-9");
    host.edit(
        "/etc/sysconfig/kdump",
        "KDUMP_COMMANDLINE_APPEND=\"",
        "KDUMP_COMMANDLINE_APPEND=\"first=1\nsecond=2 ",
    );
    let out = host.run("kdump-setup", &["start"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let cmdline = host.calls()[0]["cmdline"].as_str().unwrap().to_string();
    assert!(cmdline.contains("first=1\nsecond=2 "), "{cmdline:?}");
    // BLS: only the first `options` line counts, and blscfg pastes it into
    // the GRUB script of the entry, so a trailing backslash continues that
    // line into the next (`initrd …`), as in GRUB itself: the entry boots
    // without its initrd, with the initrd's words as arguments.
    let host = Host::fixture("rhel-9");
    host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n");
    let text = host.read(BLS_NEWEST).replace(
        "options $kernelopts $tuned_params",
        "options $kernelopts $tuned_params one\\\noptions two",
    );
    host.write(BLS_NEWEST, &text);
    let plan = plan_of(&host);
    let cmdline = plan["load"]["cmdline"].as_str().unwrap();
    assert!(
        cmdline.ends_with(
            " rhgb quiet oneinitrd (hd0,gpt2)/initramfs-5.14.0-362.8.1.el9_3.x86_64.img"
        ),
        "{cmdline:?}"
    );
    assert!(!cmdline.contains("two"), "{cmdline:?}");
    assert_eq!(plan["load"]["initrds"], serde_json::json!([]), "{plan}");
}

// ---------------------------------------------------------------------------
// Faults: EIO, read-only /boot, a kernel replaced during the load

#[test]
fn test_eio_from_the_kernel_reading_the_image_leaves_nothing_loaded() {
    // kexec_file_load reads the kernel and initrd itself: a disk error
    // there comes back as EIO.
    let host = Host::debian12();
    let out = run(host
        .cmd("kexec-load", &["stop"])
        .env("KEXECCTL_TEST_ERRNO", "file_load=EIO"));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("kexec_file_load of /boot/vmlinuz-6.1.0-27-amd64 failed: EIO (I/O error)"),
        "{}",
        out.stderr
    );
    assert_eq!(calls(&host), ["file_load"], "no record, no marker");
    assert!(!host.exists("/run/kexecctl/loaded.json"));
    assert_eq!(host.read("/sys/kernel/kexec_loaded"), "0\n");
}

#[test]
fn test_read_only_boot_when_grubenv_must_be_written_unloads_the_kernel() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root for a read-only bind mount"
    );
    // next_entry is one-shot: GRUB clears it when it boots the entry, so
    // must kexecctl before a kexec. /boot is read-only (a bind mount in a
    // private mount namespace): the write fails for real.
    let host = Host::debian12();
    host.grubenv(&[(
        "next_entry",
        "gnulinux-advanced-7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d>gnulinux-6.1.0-28-amd64-advanced-7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d",
    )]);
    let before = host.read("/boot/grub/grubenv");
    let boot = host.path("/boot");
    let inner = format!(
        "mount --bind -o ro {b} {b} && exec \"$0\" \"$@\"",
        b = boot.display()
    );
    let cmd = host.cmd("kexec-load", &["stop"]);
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &inner,
    ];
    let out = run(&mut crate::util::wrapped(&wrapper, &cmd, true));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "/boot/grub/grubenv: cannot update GRUB's environment: read-only file system; the \
             kernel is not left loaded, so the reboot goes through the firmware and GRUB"
        ),
        "{}",
        out.stderr
    );
    // Loaded and recorded, grubenv refused, then unloaded and the record
    // taken back: the old state, whole.
    let sequence = calls(&host);
    assert_eq!(
        sequence,
        [
            "file_load",
            "replace_file",
            "replace_file",
            "file_unload",
            "remove_file"
        ],
        "{:?}",
        host.calls()
    );
    assert!(
        host.calls()[2]["path"]
            .as_str()
            .unwrap()
            .ends_with("/boot/grub/grubenv")
    );
    assert_eq!(host.calls()[3]["crash"], false);
    assert_eq!(host.read("/sys/kernel/kexec_loaded"), "0\n");
    assert_eq!(host.read("/boot/grub/grubenv"), before, "grubenv unchanged");
    assert!(!host.exists("/run/kexecctl/loaded.json"));
}

#[test]
fn test_a_kernel_replaced_during_the_load_is_the_checked_one() {
    // The load is slow (the fake sleeps inside kexec_file_load, after the
    // checks); meanwhile the kernel is replaced by a bigger file. The fake
    // sees the open file: the checked one, 4 KiB, now unlinked.
    let host = Host::debian12();
    let kernel = host.path("/boot/vmlinuz-6.1.0-27-amd64");
    assert_eq!(fs::metadata(&kernel).unwrap().len(), 4096);
    let mut cmd = host.cmd("kexec-load", &["stop"]);
    cmd.env("KEXECCTL_TEST_LOAD_DELAY_MS", "1500")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    sleep(Duration::from_millis(700));
    let replacement = host.path("/boot/vmlinuz.new");
    let mut bigger = crate::util::bzimage();
    bigger.resize(3 * 4096, 0);
    fs::write(&replacement, &bigger).unwrap();
    fs::rename(&replacement, &kernel).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let load = &host.calls()[0];
    assert_eq!(load["call"], "file_load");
    assert_eq!(load["kernel_size"], 4096, "{load}");
    assert_eq!(
        load["kernel"],
        format!("{} (deleted)", kernel.display()),
        "{load}"
    );
    assert_eq!(fs::metadata(&kernel).unwrap().len(), 3 * 4096);
}
