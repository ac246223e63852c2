//! Faults and races on the reboot path, through the built binary with the
//! recording system: full disks and read-only /run, unreadable and looping
//! files, control characters in values, two commands at once, a SIGTERM in
//! the middle of a load. Each ends in a defined state: the old one or the
//! new one, never half of each.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;

use crate::util::Host;
use crate::util::run;

fn calls(host: &Host) -> Vec<String> {
    host.calls()
        .iter()
        .map(|c| c["call"].as_str().unwrap().to_string())
        .collect()
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn test_a_full_disk_or_read_only_run_never_stops_a_load_or_a_reboot() {
    // The record is a nicety: the load stands, with a warning.
    let host = Host::debian12();
    let out = run(host
        .cmd("kexecctl", &["load"])
        .env("KEXECCTL_TEST_ERRNO", "replace_file=ENOSPC"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot record the load"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("no space left on device"),
        "{}",
        out.stderr
    );
    assert_eq!(calls(&host)[0], "file_load");
    // coldreboot: the marker cannot be written, the reboot still happens.
    let host = Host::debian12();
    let out = run(host
        .cmd("coldreboot", &[])
        .env("KEXECCTL_TEST_ERRNO", "replace_file=EROFS,lock=EROFS"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("read-only file system"),
        "{}",
        out.stderr
    );
    assert_eq!(calls(&host).last().unwrap(), "run");
}

#[test]
fn test_unreadable_config_and_a_looping_kernel_link() {
    let host = Host::debian12();
    fs::set_permissions(host.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(
        host.root().join("etc/default/kexec"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = run(host
        .cmd_real("kexecctl", &["load", "--dry-run"])
        .env_remove("PATH")
        .env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.code, 0, "root reads it: {}", out.stderr);
    let as_nobody = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(crate::util::binary())
        .arg("--root")
        .arg(host.root())
        .args(["load", "--dry-run"]));
    assert_eq!(as_nobody.code, 4, "{}", as_nobody.stderr);
    assert!(
        as_nobody
            .stderr
            .starts_with("kexecctl: /etc/default/kexec: permission denied"),
        "{}",
        as_nobody.stderr
    );
    // A symlink loop is named, not followed forever.
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nKERNEL_IMAGE=/boot/loop\n");
    symlink("/boot/loop2", host.root().join("boot/loop")).unwrap();
    symlink("/boot/loop", host.root().join("boot/loop2")).unwrap();
    let out = host.run("kexecctl", &["load"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("/boot/loop"), "{}", out.stderr);
    assert!(out.stderr.contains("symbolic links"), "{}", out.stderr);
    assert!(!calls(&host).contains(&"file_load".to_string()));
}

#[test]
fn test_control_characters_in_values() {
    // A newline is a separator to the kernel, as to Debian's script: passed on.
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nAPPEND=\"ro\nquiet\"\n");
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(host.calls()[0]["cmdline"], "ro\nquiet");
    // Any other control character would sit inside a parameter: refused,
    // naming the line.
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nAPPEND=\"ro\x1bquiet\"\n");
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "APPEND (/etc/default/kexec:2) contains a control character (U+001B (escape))"
        ),
        "{}",
        out.stderr
    );
    assert!(host.calls().iter().all(|c| c["call"] != "file_load"));
}

#[test]
fn test_two_loads_at_once_serialise() {
    let host = Host::debian12();
    let slow = |h: &Host| {
        let mut cmd = h.cmd("kexec-load", &["stop"]);
        cmd.env("KEXECCTL_TEST_LOAD_DELAY_MS", "700");
        spawn(cmd)
    };
    let first = slow(&host);
    sleep(Duration::from_millis(150));
    let second = slow(&host);
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)));
    // The second waited for the lock, then saw the first one's kernel.
    let loads = calls(&host).iter().filter(|c| *c == "file_load").count();
    assert_eq!(loads, 1, "{:?}", host.calls());
    assert_eq!(host.read("/sys/kernel/kexec_loaded"), "1\n");
}

#[test]
fn test_coldreboot_racing_a_load_wins() {
    let host = Host::debian12();
    let mut load = host.cmd("kexecctl", &["load"]);
    load.env("KEXECCTL_TEST_LOAD_DELAY_MS", "800");
    let load = spawn(load);
    sleep(Duration::from_millis(200));
    let cold = run(&mut host.cmd("coldreboot", &[]));
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    assert_eq!(load.wait_with_output().unwrap().status.code(), Some(0));
    // coldreboot waited for the load, then unloaded it and left its marker.
    let sequence: Vec<String> = calls(&host).into_iter().filter(|c| c != "lock").collect();
    assert_eq!(
        sequence,
        [
            "file_load",
            "replace_file",
            "file_unload",
            "replace_file",
            "run"
        ]
    );
    assert_eq!(host.read("/sys/kernel/kexec_loaded"), "0\n");
    assert!(host.exists("/run/kexecctl/cold-reboot"));
    // The exec step then does not kexec.
    let out = host.run("kexecctl", &["exec", "--json"]);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "skip");
}

#[test]
fn test_sigterm_in_the_middle_of_a_load_leaves_a_whole_state() {
    let host = Host::debian12();
    let mut cmd = host.cmd("kexecctl", &["load"]);
    cmd.env("KEXECCTL_TEST_LOAD_DELAY_MS", "1000");
    let child = spawn(cmd);
    sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(15),
        "ends by the signal, after the steps"
    );
    // Loaded, and recorded: the new state, whole.
    assert_eq!(host.read("/sys/kernel/kexec_loaded"), "1\n");
    let record: Value = serde_json::from_str(&host.read("/run/kexecctl/loaded.json")).unwrap();
    assert_eq!(record["kernel"], "/boot/vmlinuz-6.1.0-27-amd64");
}

/// Runs `cmd` with its address space limited to `mib` MiB (util-linux's
/// prlimit): an allocation beyond it aborts the program, so a run that
/// succeeds stayed within the bound.
fn within_address_space(cmd: &Command, mib: u64) -> Command {
    crate::util::require_program("prlimit", "util-linux");
    let limit = format!("--as={}", mib << 20);
    crate::util::wrapped(&["prlimit", &limit, "--"], cmd, false)
}

#[test]
fn test_a_100_mb_configuration_file_is_refused_with_bounded_memory() {
    // A log or an image written over a configuration file: refused with
    // its name, exit 6, after reading at most the limit — never read whole
    // (the shell reader needed 1.2 GiB for 100 MB before the limit).
    const HUNDRED_MB: u64 = 100 * 1000 * 1000;
    for (file, config) in [
        ("/etc/default/kexec", None),
        ("/etc/default/kexec.d/99-big", Some("LOAD_KEXEC=true\n")),
        (
            "/boot/grub/grub.cfg",
            Some("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n"),
        ),
    ] {
        let host = Host::debian12();
        if let Some(text) = config {
            host.kexec_config(text);
        }
        let path = host.path(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut big = String::from("LOAD_KEXEC=true\n");
        while big.len() < 1 << 20 {
            big.push_str("# padding padding padding padding padding padding\n");
        }
        let mut bytes = big.into_bytes();
        bytes.resize(HUNDRED_MB as usize, b'\n');
        fs::write(&path, &bytes).unwrap();
        let out = run(&mut within_address_space(
            &host.cmd("kexec-load", &["stop"]),
            64,
        ));
        assert_eq!(out.code, 6, "{file}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("{file}: larger than kexecctl reads")),
            "{file}: {}",
            out.stderr
        );
        assert!(host.calls().is_empty(), "{file}: {:?}", host.calls());
    }
}
