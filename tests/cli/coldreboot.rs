//! coldreboot, Debian's `/sbin/coldreboot`, through the built binary: it
//! unloads, leaves the marker and runs reboot; kexecctl's options are
//! recognised in every position, reboot's are passed on, and nothing that
//! looks like one of ours ever reaches reboot; on a `--root` tree only a
//! dry run is allowed.

use serde_json::Value;

use crate::util::{Host, Run, run};

/// coldreboot with exactly these arguments (the tree's --root included
/// where the test puts it), through the recording system.
fn coldreboot(host: &Host, args: &[&str]) -> Run {
    let mut cmd = host.cmd("coldreboot", &[]);
    // Host::cmd puts `--root TREE` first; these tests place it themselves.
    let root = host.root();
    let fixed: Vec<String> = args
        .iter()
        .map(|a| a.replace("TREE", &root.display().to_string()))
        .collect();
    let mut bare = crate::util::command_as(cmd.get_program());
    bare.envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .args(&fixed);
    let _ = &mut cmd;
    run(&mut bare)
}

fn calls(host: &Host) -> Vec<String> {
    host.calls()
        .iter()
        .map(|c| c["call"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn test_our_options_in_every_position() {
    for args in [
        &["--root", "TREE", "-f", "--dry-run"][..],
        &["--root", "TREE", "--dry-run", "-f"],
        &["-f", "--dry-run", "--root", "TREE"],
        &["now", "--dry-run", "--root", "TREE"],
        &["--root=TREE", "now", "-v", "--dry-run"],
        &["--dry-run", "--root", "TREE", "--", "-f"],
    ] {
        let host = Host::debian12();
        host.write("/sys/kernel/kexec_loaded", "1\n");
        let out = coldreboot(&host, args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(
            out.stdout.contains("would"),
            "{args:?}: a dry run: {}",
            out.stdout
        );
        assert!(calls(&host).is_empty(), "{args:?}: {:?}", host.calls());
        assert!(!host.exists("/run/kexecctl/cold-reboot"), "{args:?}");
        assert_eq!(host.read("/sys/kernel/kexec_loaded"), "1\n", "{args:?}");
    }
    // --json anywhere, too.
    let host = Host::debian12();
    let out = coldreboot(
        &host,
        &["now", "--json", "--root", "TREE", "-f", "--dry-run"],
    );
    let plan: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        plan["steps"].as_array().unwrap().last().unwrap()["program"]["args"],
        serde_json::json!(["now", "-f"])
    );
}

#[test]
fn test_reboot_gets_its_own_options_and_nothing_of_ours() {
    let host = Host::debian12();
    let out = coldreboot(
        &host,
        &["-f", "--root", "TREE", "--no-wall", "--", "-x", "arg"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run_call = host
        .calls()
        .into_iter()
        .find(|c| c["call"] == "run")
        .unwrap();
    assert_eq!(
        run_call["args"],
        serde_json::json!(["-f", "--no-wall", "-x", "arg"])
    );
    // A mistyped option of ours, or ours after `--`, is refused: no reboot.
    for args in [
        &["--root", "TREE", "--dry_run"][..],
        &["--root", "TREE", "--jsn"],
        &["--root", "TREE", "--", "--dry-run"],
        &["--root", "TREE", "-f", "--", "--root=/x"],
    ] {
        let host = Host::debian12();
        let out = coldreboot(&host, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(host.calls().is_empty(), "{args:?}: {:?}", host.calls());
    }
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
    assert_eq!(calls[1]["call"], "replace_file");
    assert!(
        calls[1]["path"]
            .as_str()
            .unwrap()
            .ends_with("/run/kexecctl/cold-reboot")
    );
    assert_eq!(calls[2]["call"], "run");
    assert_eq!(calls[2]["program"], "/sbin/reboot");
    assert_eq!(calls[2]["args"], serde_json::json!(["-f", "--no-wall"]));
    assert_eq!(
        calls[2]["env"],
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
fn test_a_root_tree_allows_only_a_dry_run() {
    // Commands that reboot need the running system: refused, nothing
    // written, nothing of the tree's run.
    let host = Host::debian12();
    let ran = host.tripwires();
    host.sysvinit_runlevel_6();
    host.write("/sys/kernel/kexec_loaded", "1\n");
    let out = run(&mut host.cmd_real("coldreboot", &["-f"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("only --dry-run"), "{}", out.stderr);
    assert!(!host.exists("/run/kexecctl/cold-reboot"));
    let out = run(&mut host.cmd_real("coldreboot", &["--dry-run", "-f"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("SYSTEMCTL_SKIP_AUTO_KEXEC=1"),
        "{}",
        out.stdout
    );
    assert!(!ran.exists());
}
