//! The native commands (`kexecctl load|unload|exec|status|config`) through
//! the built binary: how `load` reads /etc/default/kexec (LOAD_KEXEC values,
//! defaults, kexec.d snippets, missing and bad kernels, oversized command
//! lines), what reaches the configuration, where a decision came from,
//! `exec`, personalities as commands, status that never contradicts
//! itself, exit codes, and output to a closed pipe. The entry GRUB or BLS
//! would boot is in boot_entries.rs.

use std::fs;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{Host, kernel_of, kexecctl, run};

#[test]
fn test_the_environment_does_not_reach_configuration() {
    let host = Host::debian12();
    host.kexec_config("LOAD_KEXEC=true\nKERNEL_IMAGE=/vmlinuz\n");
    std::fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    // init ran the scripts with a clean environment; so does kexecctl.
    let out = run(host
        .cmd("kexecctl", &["load", "--dry-run", "--json"])
        .env("INITRD", "/srv/x.img")
        .env("APPEND", "from-the-shell"));
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["load"]["initrds"], serde_json::json!(["/initrd.img"]));
    assert_ne!(plan["load"]["cmdline"], "from-the-shell");
    // ... and `config` shows exactly what load used.
    let out = run(host
        .cmd("kexecctl", &["config", "--json"])
        .env("INITRD", "/srv/x.img"));
    let config: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(config["variables"]["INITRD"]["value"], "/initrd.img");
    assert_eq!(config["variables"]["INITRD"]["origin"], "default");
}

#[test]
fn test_a_missing_root_is_an_error_and_skips_name_their_origin() {
    let out = run(kexecctl().args(["--root", "/nonexistent/tree", "load", "--dry-run"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "kexecctl: --root /nonexistent/tree: not a directory\n"
    );
    let empty = tempfile::tempdir().unwrap();
    let out = run(kexecctl()
        .arg("--root")
        .arg(empty.path())
        .args(["load", "--dry-run"]));
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains(
            "LOAD_KEXEC is \"false\", not \"true\" (default: /etc/default/kexec is absent)"
        ),
        "{}",
        out.stdout
    );
    let host = Host::debian12();
    host.kexec_config("# generated\nLOAD_KEXEC=false\n");
    let plan = host.run("kexec-load", &["--dry-run", "--json", "stop"]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        plan["reason"],
        "LOAD_KEXEC is \"false\", not \"true\" (/etc/default/kexec:2)"
    );
}

#[test]
fn test_personalities_are_commands_after_global_options() {
    let host = Host::debian12();
    let out = run(kexecctl()
        .arg("--root")
        .arg(host.root())
        .args(["-v", "kexec-load", "status"]));
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (3, "no kexec kernel loaded\n"),
        "{}",
        out.stderr
    );
    let out = run(kexecctl().args(["help", "kexec-load"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("Usage: kexecctl kexec-load"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("stop"), "{}", out.stdout);
    // No command: help on stderr and clap's usage exit code.
    let out = run(&mut kexecctl());
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("Usage: kexecctl"), "{}", out.stderr);
}

#[test]
fn test_status_says_what_is_loaded_and_what_a_reboot_does() {
    let host = Host::debian12();
    // Load one kernel, then change the configuration: the reboot boots what
    // is loaded, and status says so (not what a new load would pick).
    assert_eq!(host.run("kexecctl", &["load"]).code, 0);
    host.grub_default("0");
    let out = host.run("kexecctl", &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("kexec kernel:  loaded: /boot/vmlinuz-6.1.0-27-amd64"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("next reboot:   kexec into /boot/vmlinuz-6.1.0-27-amd64"),
        "{}",
        out.stdout
    );
    // A tree with nothing configured: every line reads `name: value`.
    let empty = tempfile::tempdir().unwrap();
    let out = run(kexecctl().arg("--root").arg(empty.path()).arg("status"));
    assert_eq!(out.code, 3);
    for line in out.stdout.lines() {
        let (key, value) = line.split_once(':').unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            !key.trim().is_empty() && !value.trim().is_empty(),
            "{line:?}"
        );
    }
    assert!(
        out.stdout.contains("next reboot:   firmware"),
        "{}",
        out.stdout
    );
}

#[test]
fn test_exit_codes_as_documented() {
    let host = Host::debian12();
    // No /proc/cmdline while APPEND is empty: 5, saying why it was needed.
    host.kexec_config("LOAD_KEXEC=true\n");
    std::fs::remove_dir_all(host.root().join("etc/default/kexec.d")).unwrap();
    std::fs::remove_file(host.root().join("proc/cmdline")).unwrap();
    let out = host.run("kexecctl", &["load", "--dry-run"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("needed because APPEND is empty"),
        "{}",
        out.stderr
    );
    // A --file that is missing is missing configuration: 6.
    let out = run(kexecctl().args(["config", "--file", "/nonexistent/kexec"]));
    assert_eq!(out.code, 6, "{}", out.stderr);
    // An empty kernel is called empty.
    let host = Host::debian12();
    host.write("/boot/vmlinuz-6.1.0-27-amd64", "");
    let out = host.run("kexecctl", &["load", "--dry-run"]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("is empty"), "{}", out.stderr);
}

#[test]
fn test_a_closed_pipe_ends_output_quietly() {
    let host = Host::debian12();
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let write = std::fs::File::from(write);
    let out = host
        .cmd("kexecctl", &["config"])
        .stdout(Stdio::from(write.as_fd().try_clone_to_owned().unwrap()))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// load: /etc/default/kexec

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
// exec, status

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

#[test]
fn test_a_root_tree_never_loads_into_this_machine() {
    // The running kernel is this machine's, not the tree's: a load, an
    // unload or kdump-setup's load for a --root tree is refused before any
    // system call (CAP_SYS_BOOT is dropped besides, so a regression could
    // not load anything here either).
    crate::util::require_program("setpriv", "util-linux");
    let host = Host::debian12();
    host.sysvinit_runlevel_6();
    let unprivileged = |cmd: Command| {
        crate::util::wrapped(
            &[
                "setpriv",
                "--bounding-set=-sys_boot",
                "--inh-caps=-sys_boot",
                "--",
            ],
            &cmd,
            false,
        )
    };
    for (personality, args) in [
        ("kexecctl", &["load", "--force"][..]),
        ("kexecctl", &["unload"][..]),
        ("kexec-load", &["stop"][..]),
    ] {
        let out = run(&mut unprivileged(host.cmd_real(personality, args)));
        assert_eq!(out.code, 2, "{personality} {args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("acts on the running system")
                && out.stderr.contains("only --dry-run"),
            "{personality} {args:?}: {}",
            out.stderr
        );
    }
    let rhel = Host::fixture("rhel-9");
    let out = run(&mut unprivileged(rhel.cmd_real("kdump-setup", &["start"])));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("only --dry-run"), "{}", out.stderr);
    // A dry run shows the plan.
    let out = run(&mut host.cmd_real("kexecctl", &["load", "--force", "--dry-run"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("would load"), "{}", out.stdout);
}

#[test]
fn test_errors_carry_their_priority_when_stderr_is_the_journal() {
    // Under systemd, stderr is a journal stream named by $JOURNAL_STREAM
    // (device:inode); a `<3>` prefix files the line at error priority, so
    // `journalctl -p err` finds kexecctl-confirm's failed-kexec report.
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let run_with = |stream: Option<String>| {
        let file = fs::File::create(&log).unwrap();
        let meta = file.metadata().unwrap();
        let mut cmd = kexecctl();
        cmd.args(["--root", "/nonexistent-root", "status"])
            .stderr(Stdio::from(file))
            .stdout(Stdio::null());
        match stream {
            Some(s) => cmd.env("JOURNAL_STREAM", s),
            None => cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())),
        };
        cmd.status().unwrap();
        fs::read_to_string(&log).unwrap()
    };
    assert_eq!(
        run_with(None),
        "<3>kexecctl: --root /nonexistent-root: not a directory\n"
    );
    // Another stream (stderr redirected elsewhere): no prefix.
    assert_eq!(
        run_with(Some("1:2".into())),
        "kexecctl: --root /nonexistent-root: not a directory\n"
    );
}
