//! The kexec guard (issue #13) through the built binary, with the recording
//! fake in place of the system calls and a fake sysfs under the tree: the
//! pre-flight, a guarded load (the attempt id on the new kernel's command
//! line, the persistent record), the watchdog armed as the exec step's last
//! act, refusals, `kexecctl arm` for systemd's own kexec, the new boot's
//! `confirm`, a firmware boot after an unconfirmed attempt, the quarantine
//! and `clear-quarantine`. Boots are simulated by changing the tree's
//! boot id and command line.

use std::fs;
use std::os::unix::fs::symlink;

use serde_json::Value;

use crate::util::Host;

const CMDLINE: &str = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro";

/// Debian 12's tree with an i6300ESB watchdog in sysfs and /dev, kexec by
/// KERNEL_IMAGE (no GRUB), and the guard configured with `guard` (lines
/// appended to /etc/default/kexec).
pub fn guarded_host(guard: &str, stop_on_reboot: &str) -> Host {
    let host = Host::debian12();
    let first = host.read("/proc/cmdline");
    boot(&host, "boot-1", first.trim_end());
    host.kexec_config(&format!(
        "LOAD_KEXEC=true\nKERNEL_IMAGE=/boot/vmlinuz-6.1.0-28-amd64\nINITRD=/boot/initrd.img-6.1.0-28-amd64\nAPPEND=\"\"\nUSE_GRUB_CONFIG=false\n{guard}"
    ));
    fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    let dev = "/sys/devices/pci0000:00/0000:00:04.0";
    for (attr, value) in [
        ("identity", "i6300ESB timer"),
        ("timeout", "30"),
        ("min_timeout", "1"),
        ("max_timeout", "2046"),
        ("nowayout", "0"),
        ("state", "inactive"),
        ("bootstatus", "0"),
    ] {
        host.write(
            &format!("{dev}/watchdog/watchdog0/{attr}"),
            &format!("{value}\n"),
        );
    }
    host.write("/sys/bus/pci/drivers/i6300ESB timer/new_id", "");
    host.write("/sys/module/i6300esb/parameters/nowayout", "N\n");
    host.write(
        "/sys/module/watchdog/parameters/stop_on_reboot",
        &format!("{stop_on_reboot}\n"),
    );
    let root = host.root();
    fs::create_dir_all(root.join("sys/class/watchdog")).unwrap();
    symlink(
        "../../devices/pci0000:00/0000:00:04.0/watchdog/watchdog0",
        root.join("sys/class/watchdog/watchdog0"),
    )
    .unwrap();
    symlink(
        "../..",
        root.join(format!("{}/watchdog/watchdog0/device", &dev[1..])),
    )
    .unwrap();
    symlink(
        "../../../bus/pci/drivers/i6300ESB timer",
        root.join(format!("{}/driver", &dev[1..])),
    )
    .unwrap();
    symlink(
        "../../../../module/i6300esb",
        root.join("sys/bus/pci/drivers/i6300ESB timer/module"),
    )
    .unwrap();
    host.write("/dev/watchdog0", "");
    host.write("/sys/kernel/kexec_loaded", "0\n");
    boot(&host, "boot-1", CMDLINE);
    host
}

/// A new boot: its id and command line.
pub fn boot(host: &Host, id: &str, cmdline: &str) {
    host.write("/proc/sys/kernel/random/boot_id", &format!("{id}\n"));
    host.write("/proc/cmdline", &format!("{cmdline}\n"));
    // Who loaded the kernel, as x86's boot protocol tells it: kexec (0xD0)
    // when the command line carries an attempt id, else GRUB 2 (0x72).
    let mut params = vec![0u8; 4096];
    params[0x210] = if cmdline.contains("kexecctl.attempt=") {
        0xD0
    } else {
        0x72
    };
    host.write_bytes("/sys/kernel/boot_params/data", &params);
}

fn json(host: &Host, personality: &str, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.push("--json");
    let out = host.run(personality, &full);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {}", out.stdout, out.stderr))
}

fn calls(host: &Host) -> Vec<String> {
    host.calls()
        .iter()
        .map(|c| c["call"].as_str().unwrap().to_string())
        .collect()
}

fn attempt(host: &Host) -> Value {
    serde_json::from_str(&host.read("/var/lib/kexecctl/attempt.json")).unwrap()
}

const READY: &str = "KEXECCTL_WATCHDOG_TIMEOUT=60\n";

#[test]
fn test_guard_off_changes_nothing() {
    let host = guarded_host("", "0");
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["guard"]["enabled"], false);
    assert_eq!(status["last_boot"]["via"], "firmware");
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let load = &host.calls()[0];
    assert!(
        !load["cmdline"]
            .as_str()
            .unwrap()
            .contains("kexecctl.attempt")
    );
    assert!(!host.exists("/var/lib/kexecctl/attempt.json"));
    let out = host.run("kexecctl", &["exec"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!calls(&host).contains(&"watchdog_arm".to_string()));
}

#[test]
fn test_pre_flight_in_status() {
    let host = guarded_host(READY, "0");
    let status = json(&host, "kexecctl", &["status"]);
    let guard = &status["guard"];
    assert_eq!(guard["ready"], true, "{guard}");
    assert_eq!(guard["device"], "/dev/watchdog0");
    assert_eq!(guard["driver"], "i6300esb");
    assert_eq!(guard["timeout_sec"], 60);
    assert_eq!(guard["handover"], "disarm");
    assert_eq!(guard["systemd"]["reboot_watchdog_sec"], 600);
    let host = guarded_host(READY, "-1");
    let out = host.run("kexecctl", &["status"]);
    assert!(
        out.stdout
            .contains("kexec guard:   NOT READY: 60 s on /dev/watchdog0 (i6300esb)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("fix:         add watchdog.stop_on_reboot=0 to GRUB_CMDLINE_LINUX")
    );
    // A setting kexecctl cannot use names its line.
    host.kexec_config("LOAD_KEXEC=true\nKEXECCTL_WATCHDOG_TIMEOUT=1min\n");
    let out = host.run("kexecctl", &["load"]);
    assert_eq!(out.code, 6);
    assert!(
        out.stderr
            .contains("/etc/default/kexec:2:1: KEXECCTL_WATCHDOG_TIMEOUT=\"1min\""),
        "{}",
        out.stderr
    );
}

#[test]
fn test_guarded_kexec_end_to_end() {
    let host = guarded_host(READY, "0");
    // Shutdown: kexec-load stop loads, with the attempt's id.
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let load = host.calls()[0].clone();
    let cmdline = load["cmdline"].as_str().unwrap().to_string();
    let a = attempt(&host);
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 16);
    assert_eq!(cmdline, format!("{CMDLINE} kexecctl.attempt={id}"));
    assert_eq!(a["state"], "pending");
    assert_eq!(a["from_boot_id"], "boot-1");
    assert_eq!(a["guard"]["device"], "/dev/watchdog0");
    assert_eq!(a["kernel_id"]["path"], "/boot/vmlinuz-6.1.0-28-amd64");
    // The exec step: sync, arm, jump — the arm last.
    let before = host.calls().len();
    let out = host.run("kexecctl", &["exec"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let exec: Vec<Value> = host.calls()[before..].to_vec();
    let names: Vec<&str> = exec.iter().map(|c| c["call"].as_str().unwrap()).collect();
    assert_eq!(names, ["sync", "watchdog_arm", "reboot_kexec"]);
    assert_eq!(exec[1]["timeout"], 60);
    assert!(
        exec[1]["device"]
            .as_str()
            .unwrap()
            .ends_with("/dev/watchdog0")
    );
    // The new boot: the kernel carries the id; confirm disarms.
    boot(&host, "boot-2", &cmdline);
    host.write("/sys/kernel/kexec_loaded", "0\n");
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["last_boot"]["via"], "kexec");
    assert_eq!(status["last_boot"]["confirmed"], false);
    let out = host.run("kexecctl", &["confirm"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains(&format!("this boot is kexec attempt {id}")),
        "{}",
        out.stdout
    );
    assert_eq!(calls(&host).last().unwrap(), "watchdog_disarm");
    assert_eq!(attempt(&host)["state"], "confirmed");
    assert_eq!(attempt(&host)["settled_boot_id"], "boot-2");
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["last_boot"]["confirmed"], true);
    assert_eq!(status["last_boot"]["failed_attempt"], Value::Null);
    // Confirming again does nothing.
    let n = host.calls().len();
    host.run("kexecctl", &["confirm"]);
    assert_eq!(host.calls().len(), n);
}

#[test]
fn test_a_failed_disarm_fails_confirm() {
    let host = guarded_host(READY, "0");
    host.run("kexec-load", &["stop"]);
    let cmdline = host.calls()[0]["cmdline"].as_str().unwrap().to_string();
    boot(&host, "boot-2", &cmdline);
    let out = crate::util::run(
        host.cmd("kexecctl", &["confirm"])
            .env("KEXECCTL_TEST_ERRNO", "watchdog_disarm=EBUSY"),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("cannot disarm the watchdog /dev/watchdog0"),
        "{}",
        out.stderr
    );
}

#[test]
fn test_arming_fails_so_no_kexec() {
    let host = guarded_host(READY, "0");
    host.run("kexec-load", &["stop"]);
    let before = host.calls().len();
    let out = crate::util::run(
        host.cmd("kexecctl", &["exec"])
            .env("KEXECCTL_TEST_ERRNO", "watchdog_arm=EBUSY"),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot arm the watchdog /dev/watchdog0"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("the reboot goes through the firmware"));
    let names: Vec<String> = calls(&host)[before..].to_vec();
    assert_eq!(names, ["sync", "watchdog_arm", "file_unload"]);
    // With KEXECCTL_WATCHDOG_REQUIRED=no the kexec goes on, unguarded.
    let host = guarded_host(&format!("{READY}KEXECCTL_WATCHDOG_REQUIRED=no\n"), "0");
    host.run("kexec-load", &["stop"]);
    let out = crate::util::run(
        host.cmd("kexecctl", &["exec"])
            .env("KEXECCTL_TEST_ERRNO", "watchdog_arm=EBUSY"),
    );
    assert!(
        out.stderr.contains("kexecing without the guard"),
        "{}",
        out.stderr
    );
    assert_eq!(calls(&host).last().unwrap(), "reboot_kexec");
}

#[test]
fn test_not_ready_refuses_or_warns() {
    let host = guarded_host(READY, "-1");
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0);
    assert!(host.calls().iter().all(|c| c["call"] != "file_load"));
    let plan = json(&host, "kexec-load", &["stop", "--dry-run"]);
    assert_eq!(plan["action"], "skip");
    let reason = plan["reason"].as_str().unwrap();
    assert!(
        reason.contains("the kexec guard is not ready: the kernel stops /dev/watchdog0 (i6300esb)"),
        "{reason}"
    );
    assert!(
        reason
            .contains("The reboot goes through the firmware (KEXECCTL_WATCHDOG_REQUIRED= (default"),
        "{reason}"
    );
    // A kernel loaded by hand is not kexeced unguarded either.
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = host.run("kexecctl", &["exec"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .contains("not restarting with kexec: the loaded kernel is no guarded attempt"),
        "{}",
        out.stdout
    );
    assert_eq!(calls(&host).last().unwrap(), "file_unload");
    // Warn: loaded, unguarded, said so.
    let host = guarded_host(&format!("{READY}KEXECCTL_WATCHDOG_REQUIRED=no\n"), "-1");
    let out = host.run("kexec-load", &["stop"]);
    assert!(
        out.stderr
            .contains("kexec-load: warning: the kexec guard is not ready"),
        "{}",
        out.stderr
    );
    assert_eq!(host.calls()[0]["call"], "file_load");
    assert_eq!(attempt(&host)["guard"], Value::Null);
    let out = host.run("kexecctl", &["exec"]);
    assert!(
        out.stderr
            .contains("was loaded while the kexec guard was not ready"),
        "{}",
        out.stderr
    );
    assert!(!calls(&host).contains(&"watchdog_arm".to_string()));
}

#[test]
fn test_firmware_boot_after_a_hang_quarantines_until_cleared() {
    let host = guarded_host(READY, "0");
    host.run("kexec-load", &["stop"]);
    host.run("kexecctl", &["exec"]);
    // The new kernel hung; the watchdog reset the machine; the firmware
    // booted GRUB's default, without the attempt id.
    boot(&host, "boot-3", CMDLINE);
    host.write("/sys/kernel/kexec_loaded", "0\n");
    host.write(
        "/sys/devices/pci0000:00/0000:00:04.0/watchdog/watchdog0/bootstatus",
        "32\n",
    );
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(status["last_boot"]["via"], "firmware");
    assert_eq!(
        status["last_boot"]["failed_attempt"]["watchdog_reset"],
        true
    );
    let text = host.run("kexecctl", &["status"]).stdout;
    assert!(text.contains("FAILED KEXEC:  attempt"), "{text}");
    let out = host.run("kexecctl", &["confirm"]);
    assert_eq!(out.code, 0);
    assert!(
        out.stderr
            .contains("kexecctl: error: the kexec into /boot/vmlinuz-6.1.0-28-amd64"),
        "{}",
        out.stderr
    );
    assert_eq!(attempt(&host)["state"], "failed");
    assert_eq!(attempt(&host)["watchdog_reset"], true);
    let q: Value = serde_json::from_str(&host.read("/var/lib/kexecctl/quarantine.json")).unwrap();
    assert_eq!(q[0]["kernel"], "/boot/vmlinuz-6.1.0-28-amd64");
    // The next reboots go cold.
    let n = host.calls().len();
    let out = host.run("kexec-load", &["stop"]);
    assert_eq!(out.code, 0);
    assert_eq!(host.calls().len(), n, "nothing loaded");
    let plan = json(&host, "kexecctl", &["load", "--dry-run"]);
    assert!(plan["reason"].as_str().unwrap().contains("is quarantined"));
    let out = host.run("fastreboot", &["--yes", "--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("is quarantined"));
    let status = json(&host, "kexecctl", &["status"]);
    assert_eq!(
        status["quarantine"][0]["kernel"],
        "/boot/vmlinuz-6.1.0-28-amd64"
    );
    // Another kernel (the same bytes elsewhere: another file) may kexec.
    fs::copy(
        host.root().join("boot/vmlinuz-6.1.0-28-amd64"),
        host.root().join("boot/vmlinuz-6.1.0-29-amd64"),
    )
    .unwrap();
    host.edit(
        "/etc/default/kexec",
        "=/boot/vmlinuz-6.1.0-28",
        "=/boot/vmlinuz-6.1.0-29",
    );
    assert_eq!(
        json(&host, "kexecctl", &["load", "--dry-run"])["action"],
        "load"
    );
    host.edit(
        "/etc/default/kexec",
        "=/boot/vmlinuz-6.1.0-29",
        "=/boot/vmlinuz-6.1.0-28",
    );
    // Cleared: loads again.
    let out = host.run("kexecctl", &["clear-quarantine"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!host.exists("/var/lib/kexecctl/quarantine.json"));
    assert_eq!(attempt(&host)["state"], "cleared");
    assert_eq!(
        json(&host, "kexecctl", &["load", "--dry-run"])["action"],
        "load"
    );
    assert_eq!(
        json(&host, "kexecctl", &["clear-quarantine"])["action"],
        "skip"
    );
}

#[test]
fn test_systemds_kexec_verb_and_cancelled_attempts() {
    let host = guarded_host(READY, "0");
    host.run("kexecctl", &["load"]);
    let n = host.calls().len();
    let out = host.run("kexecctl", &["arm"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(calls(&host)[n..], ["watchdog_arm"]);
    // coldreboot cancels the attempt of this boot with its kernel.
    let out = host.run("coldreboot", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!host.exists("/var/lib/kexecctl/attempt.json"));
    // A kernel loaded by another tool, guard required: unloaded.
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let n = host.calls().len();
    let plan = json(&host, "kexecctl", &["arm"]);
    assert_eq!(plan["action"], "skip");
    assert_eq!(calls(&host)[n..], ["file_unload"]);
}
