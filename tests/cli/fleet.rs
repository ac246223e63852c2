//! What an orchestrator rolling kexec reboots through a fleet (issue #16,
//! contrib/ansible) asks kexecctl, through the built binary: the release
//! the next reboot kexecs into (read from the kernel image), and the
//! checks `kexecctl status --expect-next[=RELEASE]` (pre-check) and
//! `--expect-booted[=RELEASE]` (the reboot's test command and post-check)
//! with their exit codes and one-line reasons.

use serde_json::Value;

use crate::util::{Host, Run, bzimage};
use crate::watchdog::{boot, guarded_host};

/// The example host's GRUB default entry boots this kernel.
const NEXT: &str = "/boot/vmlinuz-6.1.0-27-amd64";

/// A bzImage whose setup header names `release` (kernel_version).
fn kernel_naming(release: &str) -> Vec<u8> {
    let mut image = bzimage();
    image.resize(0x2000, 0);
    let text = format!("{release} (debian-kernel@lists.debian.org) #1 SMP Debian\0");
    image[0x20e..0x210].copy_from_slice(&0x1000u16.to_le_bytes());
    image[0x1200..0x1200 + text.len()].copy_from_slice(text.as_bytes());
    image
}

fn status(host: &Host, args: &[&str]) -> (Run, Value) {
    let mut full = vec!["status", "--json"];
    full.extend_from_slice(args);
    let out = host.run("kexecctl", &full);
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {}", out.stdout, out.stderr));
    assert_eq!(json["exit_code"], out.code);
    (out, json)
}

/// A failed check: the exit code, and the reason as the one line on stderr.
fn assert_fails(out: &Run, code: i32, reason: &str) {
    assert_eq!(out.code, code, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("kexecctl: ") && out.stderr.contains(reason),
        "{:?} lacks {reason:?}",
        out.stderr
    );
}

#[test]
fn test_next_reboot_names_the_release_from_the_image() {
    let host = Host::debian12();
    // The file name says 27; the image says what it really is.
    host.write_bytes(NEXT, &kernel_naming("6.1.0-27-amd64+rebuilt"));
    let (out, json) = status(&host, &[]);
    assert_eq!(out.code, 3, "nothing loaded: status' own exit code");
    assert_eq!(json["next_reboot"]["via"], "kexec");
    assert_eq!(json["next_reboot"]["kernel"], NEXT);
    assert_eq!(json["next_reboot"]["release"], "6.1.0-27-amd64+rebuilt");
    assert_eq!(json["system"]["release"], "6.1.0-28-amd64");
    assert!(json.get("expect").is_none());
    let text = host.run("kexecctl", &["status"]).stdout;
    assert!(
        text.contains(&format!(
            "next reboot:   kexec into {NEXT} (6.1.0-27-amd64+rebuilt)"
        )),
        "{text}"
    );
    // An image without a version string: its file name.
    host.write_bytes(NEXT, &bzimage());
    let (_, json) = status(&host, &[]);
    assert_eq!(json["next_reboot"]["release"], "6.1.0-27-amd64");
}

#[test]
fn test_expect_next() {
    let host = Host::debian12();
    host.write_bytes(NEXT, &kernel_naming("6.1.0-27-amd64"));
    let (out, json) = status(&host, &["--expect-next=6.1.0-27-amd64"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let e = &json["expect"][0];
    assert_eq!(e["check"], "next");
    assert_eq!(e["met"], true);
    assert_eq!(e["release"], "6.1.0-27-amd64");
    // Any release, and the text form.
    let out = host.run("kexecctl", &["status", "--expect-next"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "expect next:   met: the next reboot kexecs into {NEXT} (6.1.0-27-amd64)"
        )),
        "{}",
        out.stdout
    );
    // Another kernel than the one the orchestrator rolls out.
    let (out, json) = status(&host, &["--expect-next", "6.1.0-28-amd64"]);
    assert_fails(
        &out,
        1,
        &format!("the next reboot kexecs into {NEXT} (6.1.0-27-amd64), not 6.1.0-28-amd64"),
    );
    assert_eq!(json["expect"][0]["met"], false);
    assert_eq!(json["error"]["kind"], "failure");
    // A kernel kexec-load would refuse at shutdown (its setup header leaves
    // no room for the command line): the pre-check hears it before the
    // reboot, with the loader's reason, instead of a cold boot after it.
    let mut cramped = kernel_naming("6.1.0-27-amd64");
    cramped[0x238..0x23c].copy_from_slice(&32u32.to_le_bytes());
    host.write_bytes(NEXT, &cramped);
    let (out, json) = status(&host, &["--expect-next"]);
    assert_fails(
        &out,
        1,
        &format!(
            "the next reboot goes through the firmware, not kexec: loading at shutdown would \
             fail: {NEXT}: the command line is"
        ),
    );
    assert!(
        out.stderr.contains("accepts at most 1 through kexec"),
        "{}",
        out.stderr
    );
    assert_eq!(json["next_reboot"]["via"], "firmware");
    let text = host.run("kexecctl", &["status"]).stdout;
    assert!(text.contains("accepts at most 1 through kexec"), "{text}");
    host.write_bytes(NEXT, &kernel_naming("6.1.0-27-amd64"));
    // coldreboot's marker: the reason is status' own.
    host.write("/run/kexecctl/cold-reboot", "");
    let (out, _) = status(&host, &["--expect-next"]);
    assert_fails(
        &out,
        1,
        "the next reboot goes through the firmware, not kexec: coldreboot asked for it",
    );
    // LOAD_KEXEC off.
    std::fs::remove_file(host.path("/run/kexecctl/cold-reboot")).unwrap();
    host.kexec_config("LOAD_KEXEC=false\n");
    let (out, _) = status(&host, &["--expect-next"]);
    assert_fails(
        &out,
        1,
        "goes through the firmware, not kexec: LOAD_KEXEC is",
    );
}

#[test]
fn test_expect_booted_unguarded() {
    let host = Host::debian12();
    let cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro";
    // Booted by GRUB (x86 loader type 0x72).
    boot(&host, "boot-1", cmdline);
    let (out, json) = status(&host, &["--expect-booted=6.1.0-28-amd64"]);
    assert_fails(
        &out,
        1,
        "this boot (6.1.0-28-amd64, boot id boot-1) came through the firmware, not kexec",
    );
    assert_eq!(json["expect"][0]["check"], "booted");
    assert_eq!(json["expect"][0]["pending"], false);
    // Booted by kexec (0xD0) without the guard: nothing to confirm.
    let mut params = vec![0u8; 4096];
    params[0x210] = 0xD0;
    host.write_bytes("/sys/kernel/boot_params/data", &params);
    let (out, json) = status(&host, &["--expect-booted=6.1.0-28-amd64"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        json["expect"][0]["reason"],
        "this boot (6.1.0-28-amd64, boot id boot-1) came through kexec (unguarded: no attempt \
         to confirm)"
    );
    let (out, _) = status(&host, &["--expect-booted=6.1.0-27-amd64"]);
    assert_fails(&out, 1, "came through kexec, but not into 6.1.0-27-amd64");
    // Both checks: the failing one decides.
    let (out, json) = status(&host, &["--expect-booted", "--expect-next=6.1.0-28-amd64"]);
    assert_fails(&out, 1, "not 6.1.0-28-amd64");
    assert_eq!(json["expect"][0]["check"], "next");
    assert_eq!(json["expect"][1]["met"], true);
}

#[test]
fn test_expect_booted_guarded() {
    let host = guarded_host("KEXECCTL_WATCHDOG_TIMEOUT=60\n", "0");
    let next = "/boot/vmlinuz-6.1.0-28-amd64";
    host.write_bytes(next, &kernel_naming("6.1.0-28-amd64"));
    let (out, _) = status(&host, &["--expect-next=6.1.0-28-amd64"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stop = host.run("kexec-load", &["stop", "--json"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    let stop: Value = serde_json::from_str(&stop.stdout).unwrap();
    let cmdline = stop["load"]["cmdline"].as_str().unwrap().to_string();
    // The kexec'd boot, before kexecctl-confirm.service: not yet (exit 3),
    // which a test command retries.
    boot(&host, "boot-2", &cmdline);
    host.write("/sys/kernel/kexec_loaded", "0\n");
    let (out, json) = status(&host, &["--expect-booted=6.1.0-28-amd64"]);
    assert_fails(&out, 3, "not confirmed yet");
    assert_eq!(json["expect"][0]["pending"], true);
    assert_eq!(json["error"]["kind"], "unimplemented");
    // A pending check gives way to a failed one.
    let (out, _) = status(&host, &["--expect-booted", "--expect-next=9.9"]);
    assert_fails(&out, 1, "not 9.9");
    let confirm = host.run("kexecctl", &["confirm"]);
    assert_eq!(confirm.code, 0, "{}", confirm.stderr);
    let (out, json) = status(&host, &["--expect-booted=6.1.0-28-amd64"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reason = json["expect"][0]["reason"].as_str().unwrap();
    assert!(reason.ends_with(", confirmed"), "{reason}");
    // Another attempt that hangs: the watchdog's firmware boot names it.
    host.run("kexec-load", &["stop"]);
    boot(
        &host,
        "boot-3",
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 ro",
    );
    host.write("/sys/kernel/kexec_loaded", "0\n");
    let (out, _) = status(&host, &["--expect-booted"]);
    assert_fails(&out, 1, "never confirmed; that kernel is quarantined");
    assert!(
        out.stderr.contains(&format!("into {next}")),
        "{}",
        out.stderr
    );
    // Confirm quarantines it: the next reboot is cold, and says why.
    host.run("kexecctl", &["confirm"]);
    let (out, _) = status(&host, &["--expect-next"]);
    assert_fails(
        &out,
        1,
        "the next reboot goes through the firmware, not kexec",
    );
    assert!(out.stderr.contains("quarantine"), "{}", out.stderr);
}
