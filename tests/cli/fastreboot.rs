//! fastreboot through the built binary: the running kernel's files on
//! Debian and Red Hat layouts, `--remove`/`--append`, `--default` (the boot
//! loader's entry), `systemctl kexec` under systemd and the marker plus
//! `reboot` under sysvinit, the refusal without a terminal, and the
//! dialogue through a pseudo-terminal (`script` from bsdutils).

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::util::{Host, RHEL9_VER as VER, Run, run};

#[test]
fn test_fastreboot_yes_under_systemd() {
    let host = Host::debian12();
    host.write("/run/systemd/system/.keep", "");
    let out = host.run("fastreboot", &["-y"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let calls = host.calls();
    assert_eq!(calls[0]["call"], "file_load");
    assert!(
        calls[0]["kernel"]
            .as_str()
            .unwrap()
            .ends_with("/boot/vmlinuz-6.1.0-28-amd64")
    );
    assert!(
        calls[0]["initrd"]
            .as_str()
            .unwrap()
            .ends_with("/boot/initrd.img-6.1.0-28-amd64")
    );
    assert_eq!(
        calls[0]["cmdline"],
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=UUID=7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d ro"
    );
    assert_eq!(
        calls[1],
        serde_json::json!({"call": "run", "program": "systemctl", "args": ["kexec"], "env": [], "chroot": null})
    );
}

#[test]
fn test_fastreboot_red_hat_names_remove_append_and_sysvinit() {
    let host = Host::fixture("rhel-9");
    // A sysvinit machine: no /run/systemd.
    std::fs::remove_dir_all(host.path("/run/systemd")).unwrap();
    let out = host.run(
        "fastreboot",
        &[
            "--dry-run",
            "--json",
            "--remove",
            "rhgb",
            "--remove",
            "resume",
            "--append",
            "console=ttyS0",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["load"]["kernel"], format!("/boot/vmlinuz-{VER}"));
    assert_eq!(
        plan["load"]["initrds"][0],
        format!("/boot/initramfs-{VER}.img")
    );
    let cmdline = plan["load"]["cmdline"].as_str().unwrap();
    assert!(
        cmdline.ends_with("rd.lvm.lv=rhel/swap quiet console=ttyS0"),
        "{cmdline}"
    );
    assert!(
        !cmdline.contains("rhgb") && !cmdline.contains("resume="),
        "{cmdline}"
    );
    assert_eq!(plan["steps"][1]["step"], "create-marker");
    assert_eq!(plan["steps"][2]["program"]["path"], "reboot");
    // sysvinit: a one-shot marker lets the exec step kexec, then `reboot`.
    let out = host.run("fastreboot", &["--yes"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(host.exists("/run/kexecctl/kexec-requested"));
    let calls = host.calls();
    assert_eq!(calls[2]["call"], "run");
    assert_eq!(calls[2]["program"], "reboot");
}

#[test]
fn test_fastreboot_default_entry() {
    let host = Host::debian12();
    let out = host.run("fastreboot", &["--dry-run", "--json", "--default"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(plan["load"]["kernel"], "/boot/vmlinuz-6.1.0-27-amd64");
    assert_eq!(plan["load"]["entry"]["source"], "grub");
}

#[test]
fn test_fastreboot_refuses_without_terminal() {
    let host = Host::debian12();
    let out = run(host.cmd("fastreboot", &[]).stdin(Stdio::null()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("use --yes"), "{}", out.stderr);
    assert!(host.calls().is_empty());
}

/// Runs fastreboot under a pseudo-terminal (script(1)) answering `answer`.
fn dialogue(host: &Host, answer: &str) -> Run {
    let cmd = host.cmd("fastreboot", &[]);
    let mut line = vec![cmd.get_program().to_string_lossy().into_owned()];
    line.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut script = Command::new("script");
    script
        .args(["-q", "-e", "-c", &shell_words::join(&line), "/dev/null"])
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = script.spawn().expect("script(1) from bsdutils");
    use std::io::Write;
    std::thread::sleep(Duration::from_millis(300));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

#[test]
fn test_fastreboot_dialogue_through_a_pty() {
    let host = Host::debian12();
    let out = dialogue(&host, "n\n");
    assert!(
        out.stdout
            .contains("Do you want to perform a fast reboot (without hardware reboot) ? (y/n)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Fast reboot cancelled"),
        "{}",
        out.stdout
    );
    assert!(host.calls().is_empty());
    let out = dialogue(&host, "y\n");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let calls = host.calls();
    assert_eq!(calls[0]["call"], "file_load", "{calls:?}");
    assert_eq!(calls.last().unwrap()["call"], "run");
}

#[test]
fn test_a_root_tree_is_refused() {
    // fastreboot reboots the running system: never for a --root tree.
    let host = Host::debian12();
    let ran = host.tripwires();
    host.sysvinit_runlevel_6();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = run(&mut host.cmd_real("fastreboot", &["--yes"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!ran.exists());
}
