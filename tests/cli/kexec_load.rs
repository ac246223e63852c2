//! `kexec-load start|stop|status`, Debian's `/etc/init.d/kexec-load`,
//! through the built binary on fixture trees: the actions and their exit
//! codes, `stop` loading through the recording fake, the kernel refusing
//! the image, an already loaded kernel, the cold-reboot markers, the
//! systemd and sysvinit reboot gates, and a `--root` tree whose programs
//! are never run on the host.

use std::fs;

use serde_json::Value;

use crate::util::{Host, run};

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

// ---------------------------------------------------------------------------
// The gate: only a reboot, never twice, never after a cold-reboot request

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
    let ran = host.tripwires();
    // A systemd tree: the host's systemctl must not be asked about it.
    host.write("/run/systemd/system/.keep", "");
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
    host.sysvinit_runlevel_6();
    let out = run(&mut host.cmd_real("kexec-load", &["--dry-run", "--json", "stop"]));
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["action"], "load", "{plan}");
    assert!(!ran.exists(), "the tree's runlevel ran on the host");
}
