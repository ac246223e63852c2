//! coldreboot through the built binary: kexecctl's options are recognised
//! in every position, reboot's are passed on, and nothing that looks like
//! one of ours ever reaches reboot.

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
