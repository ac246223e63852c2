//! Consistency of the packaging with the code: one version everywhere, and
//! every personality installed as a link, with a man page, and with its
//! service entry points where it has them.

use std::fs;
use std::path::Path;

use crate::util::{kexecctl, personalities};

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn test_versions_agree() {
    let cargo = env!("CARGO_PKG_VERSION");
    let changelog = read("debian/changelog");
    let first = changelog.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("kexecctl ({cargo}) ")),
        "debian/changelog says {first:?}, Cargo.toml {cargo}"
    );
    let spec = read("rpm/kexecctl.spec");
    let version = spec
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(str::trim)
        .unwrap();
    assert_eq!(version, cargo, "rpm/kexecctl.spec Version");
    assert!(
        spec.contains(&format!("- {cargo}-1")),
        "the spec's %changelog names {cargo}"
    );
}

#[test]
fn test_every_personality_is_installed_and_documented() {
    let listed = kexecctl().arg("--list").output().unwrap();
    let names: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let personalities = personalities();
    assert_eq!(names, personalities);
    let makefile = read("Makefile");
    let links = makefile
        .lines()
        .find_map(|l| l.strip_prefix("PERSONALITIES = "))
        .unwrap();
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), personalities);
    let spec = read("rpm/kexecctl.spec");
    for name in personalities.iter().chain(&["kexecctl"]) {
        assert!(
            spec.contains(&format!("%{{_sbindir}}/{name}\n")),
            "spec lists {name}"
        );
    }
    // Man pages come from the same clap definitions as the binary.
    let tmp = tempfile::tempdir().unwrap();
    let out = kexecctl()
        .args(["generate-docs", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    for name in personalities.iter().chain(&["kexecctl"]) {
        let page = fs::read_to_string(tmp.path().join(format!("man8/{name}.8"))).unwrap();
        assert!(page.contains(&format!(".TH {name} 8")), "{name}.8");
    }
}

#[test]
fn test_service_entry_points_exist_and_call_their_personality() {
    for (script, personality) in [
        ("etc/init.d/kexec-load", "/usr/sbin/kexec-load"),
        ("etc/init.d/kexec", "/usr/sbin/kexecctl exec"),
        ("etc/init.d/kdump", "/usr/sbin/kdump-setup"),
        (
            "etc/systemd/system/kexec-load.service",
            "ExecStop=/usr/sbin/kexec-load stop",
        ),
        (
            "etc/systemd/system/kdump-setup.service",
            "ExecStart=/usr/sbin/kdump-setup start",
        ),
        (
            "etc/systemd/system-shutdown/kexecctl",
            "exec /usr/sbin/kexecctl exec",
        ),
    ] {
        assert!(
            read(script).contains(personality),
            "{script} calls {personality}"
        );
    }
    // The LSB headers are Debian kexec-tools' own, so the rc links stay valid.
    let load = read("etc/init.d/kexec-load");
    for line in [
        "# Provides:          kexec-load",
        "# Required-Start:    $local_fs $remote_fs kexec",
        "# Default-Stop:      6",
    ] {
        assert!(load.contains(line), "{line}");
    }
    let exec = read("etc/init.d/kexec");
    assert!(exec.contains("# X-Stop-After:      umountroot"));
    assert!(read("etc/init.d/kdump").contains("# chkconfig: - 20 80"));
}
