//! argv[0] dispatch through the built binary: links named after each
//! personality, full paths, the `kexecctl <personality>` form, `--list`.

use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;

use crate::util::{Links, binary, command_as, kexecctl, personalities, run};

#[test]
fn test_every_personality_answers_through_a_link() {
    let links = Links::new();
    for name in personalities() {
        let out = run(links.cmd(name).arg("--help"));
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(
            out.stdout.contains(&format!("Usage: {name}")),
            "{name} --help: {}",
            out.stdout
        );
    }
}

#[test]
fn test_full_paths_select_the_personality() {
    // Links at the places they are installed, inside a scratch tree...
    let tmp = tempfile::tempdir().unwrap();
    for path in [
        "usr/sbin/kexec-load",
        "etc/init.d/kexec-load",
        "sbin/coldreboot",
    ] {
        let p = tmp.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(binary(), &p).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let out = run(command_as(&p).arg("--version"));
        assert_eq!(out.code, 0, "{path}: {}", out.stderr);
        assert!(out.stdout.starts_with(&name), "{path}: {}", out.stdout);
    }
    // ...and argv[0] spelled exactly as init systems spell it.
    for argv0 in [
        "/usr/sbin/kexec-load",
        "/etc/init.d/kexec-load",
        "/etc/rc6.d/K01kexec-load",
    ] {
        let out = run(kexecctl().arg0(argv0).arg("--version"));
        assert_eq!(out.code, 0, "{argv0}: {}", out.stderr);
        assert!(
            out.stdout.starts_with("kexec-load "),
            "{argv0}: {}",
            out.stdout
        );
    }
}

#[test]
fn test_own_name_accepts_personality_as_first_argument() {
    for name in personalities() {
        let out = run(kexecctl().args([name, "--version"]));
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(
            out.stdout.starts_with(&format!("{name} ")),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn test_list_prints_the_personalities() {
    let out = run(kexecctl().arg("--list"));
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), personalities());
}

#[test]
fn test_unknown_name_lists_known_ones_and_exits_2() {
    let out = run(kexecctl().arg0("/usr/sbin/kexec-lod"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown personality `kexec-lod`"),
        "{}",
        out.stderr
    );
    for name in personalities() {
        assert!(out.stderr.contains(name), "{}", out.stderr);
    }
}

#[test]
fn test_usage_errors_exit_2_and_print_once() {
    let out = run(kexecctl().arg("--no-such-option"));
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.matches("--no-such-option").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn test_config_error_is_one_line_with_exit_6() {
    let tmp = crate::util::tree(&[(
        "etc/default/kexec",
        "LOAD_KEXEC=true\nAPPEND=\"$(cat /x)\"\n",
    )]);
    let out = run(kexecctl().arg("--root").arg(tmp.path()).arg("config"));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("kexecctl: /etc/default/kexec:2:9: the command substitution `$(cat /x)`"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn test_config_reads_legacy_sets_under_root() {
    let tmp = crate::util::tree(&[
        ("etc/default/kexec", "LOAD_KEXEC=true\nAPPEND=\"quiet\"\n"),
        (
            "etc/default/kexec.d/10-serial",
            "APPEND=\"$APPEND console=ttyS0\"\n",
        ),
        ("etc/default/kexec.d/10-serial.conf", "APPEND=ignored\n"),
        ("etc/sysconfig/kdump", "KEXEC_ARGS=\"-s\"\n"),
    ]);
    let out = run(kexecctl()
        .arg("--root")
        .arg(tmp.path())
        .args(["config", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let vars = &json["variables"];
    assert_eq!(vars["APPEND"]["value"], "quiet console=ttyS0");
    assert_eq!(vars["APPEND"]["origin"], "/etc/default/kexec.d/10-serial:1");
    assert_eq!(vars["KERNEL_IMAGE"]["value"], "/vmlinuz");
    assert_eq!(vars["KERNEL_IMAGE"]["origin"], "default");
    assert_eq!(vars["KEXEC_ARGS"]["origin"], "/etc/sysconfig/kdump:1");
    assert_eq!(
        vars["KDUMP_COMMANDLINE_REMOVE"]["value"],
        "hugepages hugepagesz slub_debug"
    );
    let sets: Vec<_> = json["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["set"].clone())
        .collect();
    assert_eq!(sets, ["kexec", "sysconfig-kdump"]);

    // The text form can be sourced again by a shell.
    let out = run(kexecctl()
        .arg("--root")
        .arg(tmp.path())
        .args(["config", "--set", "kexec"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("APPEND='quiet console=ttyS0'\t# /etc/default/kexec.d/10-serial:1\n"),
        "{}",
        out.stdout
    );
}
