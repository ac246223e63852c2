//! The native commands (`kexecctl load|status|config|...`) through the
//! built binary: what reaches the configuration, where a decision came
//! from, personalities as commands, status that never contradicts itself,
//! exit codes, and output to a closed pipe.

use std::os::fd::AsFd;
use std::process::Stdio;

use serde_json::Value;

use crate::util::{Host, kexecctl, run};

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
