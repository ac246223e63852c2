//! kdump-setup on Debian against Debian's own kdump-config (kdump-tools):
//! the kernel, initrd and command line of the crash kernel each loads.
//!
//! kdump-tools is fetched with `apt-get download` at test time (cached in
//! `${KEXECCTL_CACHE:-/var/cache/kexecctl-tests}/kdump-tools-oracle`) and
//! unpacked over a Debian 12 root made once with tests/lib/debroot.sh
//! (minbase + file, bsdextrautils, procps: what kdump-config calls). For
//! each generated host (an `/etc/default/kdump-tools`, a `/proc/cmdline`,
//! the running kernel's files, stale or missing `/var/lib/kdump` links),
//! Debian's unmodified `/etc/init.d/kdump-tools start` runs chrooted into a
//! copy of the host in a private mount and PID namespace, with that root's
//! /usr bound read-only, `uname` answering the host's release and a
//! `/sbin/kexec` that records its arguments (and the files its paths
//! resolve to). kexecctl's `kdump-setup --dry-run --json start` runs on
//! another copy. Both must load the same kernel file, initrd file and
//! command line, or both load nothing.
//!
//! Differences kexecctl keeps (kdump-config passes the command line
//! through `eval`, so `"`, `$`, `` ` `` and `\` in it are the shell's) are
//! fixed cases with both answers written out.
//!
//! Needs root, unshare, chroot and apt access; fails naming what is
//! missing. `KEXECCTL_KDUMP_TOOLS_CASES` and `KEXECCTL_KDUMP_TOOLS_SEED`
//! change the number of generated cases and the first seed.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::kdump_oracle::{Tree, bzimage, load_of};
use crate::shell_vs_dash::report;
use crate::util::{Links, Rng, require_program, run};

const KVER: &str = "6.1.0-31-amd64";
const OLD_KVER: &str = "6.1.0-28-amd64";

fn cache_dir() -> PathBuf {
    std::env::var_os("KEXECCTL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kexecctl-tests"))
        .join("kdump-tools-oracle")
}

/// The Debian root with kdump-tools' files unpacked over it, and the
/// package version.
struct Debian {
    root: PathBuf,
    version: String,
}

fn sh(script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn debian() -> &'static Debian {
    static DEBIAN: OnceLock<Debian> = OnceLock::new();
    DEBIAN.get_or_init(|| {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the kdump-tools oracle test needs root (debootstrap, mount namespace, chroot)"
        );
        for (program, package) in [
            ("unshare", "util-linux"),
            ("chroot", "coreutils"),
            ("dpkg-deb", "dpkg"),
            ("apt-get", "apt"),
        ] {
            require_program(program, package);
        }
        let cache = cache_dir();
        fs::create_dir_all(&cache).unwrap();
        let tarball = sh(
            ". tests/lib/debroot.sh && debroot_tarball bookworm minbase file bsdextrautils procps",
        );
        let stem = Path::new(&tarball)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let deb = match find_deb(&cache) {
            Some(deb) => deb,
            None => {
                let fetch = |update: bool| {
                    if update {
                        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
                    }
                    Command::new("apt-get")
                        .args(["download", "-qq", "kdump-tools"])
                        .current_dir(&cache)
                        .status()
                        .is_ok_and(|s| s.success())
                };
                assert!(
                    fetch(false) || fetch(true),
                    "cannot download Debian's kdump-tools with `apt-get download kdump-tools` \
                     into {}",
                    cache.display()
                );
                find_deb(&cache).expect("apt-get download left no kdump-tools .deb")
            }
        };
        let version = sh(&format!("dpkg-deb -f '{}' Version", deb.display()));
        let root = cache.join(format!("{stem}+kdump-tools_{version}"));
        if !root.join("usr/sbin/kdump-config").is_file() {
            let tmp = cache.join(format!("{stem}.tmp"));
            let _ = fs::remove_dir_all(&tmp);
            sh(&format!(
                ". tests/lib/debroot.sh && debroot_extract '{tarball}' '{t}' && \
                 dpkg-deb -x '{deb}' '{t}'",
                t = tmp.display(),
                deb = deb.display()
            ));
            let _ = fs::remove_dir_all(&root);
            fs::rename(&tmp, &root).unwrap();
        }
        Debian { root, version }
    })
}

fn find_deb(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "deb")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("kdump-tools_"))
        })
}

/// One generated host.
#[derive(Debug, Clone)]
struct Case {
    #[allow(dead_code)] // shown in failure output via Debug
    seed: u64,
    defaults: String,
    proc_cmdline: String,
    /// `/var/lib/kdump/initrd.img-KVER` is built (kdump-tools' kernel hook
    /// ran).
    kdump_initrd: bool,
    /// Links left by an earlier kernel: `/var/lib/kdump/{vmlinuz,initrd.img}`
    /// pointing to OLD_KVER's files.
    stale_links: bool,
    /// `/boot/config-KVER` says the kernel is relocatable.
    relocatable: bool,
}

const TOKENS: &[&str] = &[
    "ro",
    "quiet",
    "splash",
    "rw",
    "single",
    "root=UUID=7c1b5a3e-2f4d-4a6b-9c8e-1d2f3a4b5c6d",
    "root=/dev/mapper/vg-root",
    "console=ttyS0,115200n8",
    "console=tty0",
    "hugepages=512",
    "hugepagesz=2M",
    "default_hugepagesz=1G",
    "abm=1",
    "abmx=2",
    "xcrashkernel=3",
    "crashkernel=512M",
    "systemd.unit=multi-user.target",
    "net.ifnames=0",
    "apparmor=0",
    "mitigations=auto,nosmt",
    "nvme_core.default_ps_max_latency_us=0",
    "isolcpus=2-3",
    "init=/lib/systemd/systemd",
    "--",
    "nosplash",
];

impl Case {
    fn generate(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut toks = vec![format!("BOOT_IMAGE=/boot/vmlinuz-{KVER}")];
        for _ in 0..3 + rng.below(8) {
            toks.push(rng.pick(TOKENS).to_string());
        }
        // kdump-config requires crashkernel= in /proc/cmdline.
        let at = rng.below(toks.len()) + 1;
        toks.insert(
            at,
            rng.pick(&["crashkernel=384M-:128M", "crashkernel=256M"])
                .into(),
        );
        let mut proc_cmdline = String::new();
        for (i, t) in toks.iter().enumerate() {
            if i > 0 {
                proc_cmdline.push_str(rng.pick(&[" ", " ", " ", " ", "  ", "\t"]));
            }
            proc_cmdline.push_str(t);
        }
        if rng.chance(10) {
            proc_cmdline.push(' ');
        }
        let mut d = String::from("# /etc/default/kdump-tools\n");
        let use_kdump = rng.pick(&[
            "1", "1", "1", "1", "1", "1", "0", "", "2", "01", "yes", "true", "-1",
        ]);
        if !(use_kdump.is_empty() && rng.chance(50)) {
            d.push_str(&format!("USE_KDUMP={use_kdump}\n"));
        }
        match rng.below(5) {
            0 => {}
            1 => d.push_str(&format!("KDUMP_KERNEL=/boot/vmlinuz-{KVER}\n")),
            _ => d.push_str("KDUMP_KERNEL=/var/lib/kdump/vmlinuz\n"),
        }
        match rng.below(5) {
            0 => {}
            1 => d.push_str(&format!("KDUMP_INITRD=/var/lib/kdump/initrd.img-{KVER}\n")),
            _ => d.push_str("KDUMP_INITRD=/var/lib/kdump/initrd.img\n"),
        }
        d.push_str("KDUMP_COREDIR=\"/var/crash\"\n");
        match rng.below(6) {
            0 => d.push_str("KDUMP_CMDLINE=\"root=/dev/sda1 ro  console=ttyS0\"\n"),
            1 => d.push_str("KDUMP_CMDLINE=\"\"\n"),
            _ => {}
        }
        match rng.below(6) {
            0 => d.push_str("KDUMP_CMDLINE_APPEND=\"\"\n"),
            1 => d.push_str(
                "KDUMP_CMDLINE_APPEND=\"reset_devices systemd.unit=kdump-tools-dump.service \
                 nr_cpus=1 irqpoll usbcore.nousb console=ttyS0\"\n",
            ),
            2 => d.push_str("KDUMP_CMDLINE_APPEND=\"nr_cpus=1\tirqpoll  \"\n"),
            _ => {}
        }
        if rng.chance(20) {
            d.push_str("KDUMP_KEXEC_ARGS=\"-d\"\n");
        }
        Case {
            seed,
            defaults: d,
            proc_cmdline: proc_cmdline + "\n",
            kdump_initrd: !rng.chance(10),
            stale_links: rng.chance(30),
            relocatable: !rng.chance(5),
        }
    }

    /// The host's tree (before either tool runs).
    fn tree(&self, debian: &Debian) -> Tree {
        let t = Tree::new();
        let kernel = bzimage();
        let files: Vec<(String, Vec<u8>)> = vec![
            (
                "/etc/default/kdump-tools".into(),
                self.defaults.clone().into(),
            ),
            ("/proc/cmdline".into(), self.proc_cmdline.clone().into()),
            (
                "/proc/sys/kernel/osrelease".into(),
                format!("{KVER}\n").into(),
            ),
            ("/sys/kernel/kexec_crash_loaded".into(), b"0\n".to_vec()),
            ("/sys/kernel/kexec_loaded".into(), b"0\n".to_vec()),
            (
                "/sys/kernel/kexec_crash_size".into(),
                b"134217728\n".to_vec(),
            ),
            (format!("/boot/vmlinuz-{KVER}"), kernel.clone()),
            (format!("/boot/vmlinuz-{OLD_KVER}"), kernel),
            (format!("/boot/initrd.img-{KVER}"), b"initrd".to_vec()),
            (
                format!("/boot/initrd.img-{OLD_KVER}"),
                b"old initrd".to_vec(),
            ),
            (
                format!("/var/lib/kdump/initrd.img-{OLD_KVER}"),
                b"old kdump initrd".to_vec(),
            ),
        ];
        for (path, bytes) in files {
            t.write(&path, bytes);
        }
        let config = if self.relocatable {
            "CONFIG_RELOCATABLE=y\n"
        } else {
            "# CONFIG_RELOCATABLE is not set\n"
        };
        t.write(&format!("/boot/config-{KVER}"), config);
        let sysctl = fs::read(debian.root.join("etc/kdump/sysctl.conf")).unwrap();
        t.write("/etc/kdump/sysctl.conf", &sysctl);
        t.write(&format!("/var/lib/kdump/latest_sysctls-{KVER}"), &sysctl);
        if self.kdump_initrd {
            t.write(&format!("/var/lib/kdump/initrd.img-{KVER}"), "kdump initrd");
        }
        if self.stale_links {
            let lib = t.root().join("var/lib/kdump");
            symlink(format!("/boot/vmlinuz-{OLD_KVER}"), lib.join("vmlinuz")).unwrap();
            symlink(
                format!("/var/lib/kdump/initrd.img-{OLD_KVER}"),
                lib.join("initrd.img"),
            )
            .unwrap();
        }
        t
    }
}

/// What a tool loaded: kernel and initrd as the files they resolve to in
/// the tree, and the command line; `None` when it loaded nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loaded {
    kernel: String,
    initrd: Option<String>,
    cmdline: String,
}

/// Resolves `path` inside `root` (absolute links point into the tree).
fn resolve_in(root: &Path, path: &str) -> String {
    let mut current = PathBuf::from(path);
    for _ in 0..40 {
        let host = root.join(current.strip_prefix("/").unwrap_or(&current));
        match fs::read_link(&host) {
            Ok(target) if target.is_absolute() => current = target,
            Ok(target) => current = current.parent().unwrap().join(target),
            Err(_) => break,
        }
    }
    current.display().to_string()
}

/// Runs Debian's `/etc/init.d/kdump-tools start` on a copy of the host.
fn run_debian(debian: &Debian, case: &Case) -> (Option<Loaded>, Vec<String>, String) {
    let t = case.tree(debian);
    let r = t.root();
    for dir in ["usr", "sbin", "etc/init.d", "dev", "tmp", "run"] {
        fs::create_dir_all(r.join(dir)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        symlink(target, r.join(link)).unwrap();
    }
    let status = Command::new("cp")
        .args(["-a"])
        .arg(debian.root.join("etc/alternatives"))
        .arg(r.join("etc/"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::write(r.join("dev/null"), "").unwrap();
    fs::copy(
        debian.root.join("etc/init.d/kdump-tools"),
        r.join("etc/init.d/kdump-tools"),
    )
    .unwrap();
    let program = |path: &Path, text: &str| {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    };
    program(
        &r.join("sbin/kexec"),
        "#!/bin/sh\n# Records what kexec was asked to load, and the files its paths name.\n\
         printf '%s\\0' \"$@\" > /kexec.argv\n\
         for a in \"$@\"; do case $a in --initrd=*) readlink -f \"${a#--initrd=}\" > /kexec.initrd ;; \
         -*) ;; *) readlink -f \"$a\" > /kexec.kernel ;; esac; done\n",
    );
    program(
        &r.join("sbin/reboot"),
        "#!/bin/sh\necho reboot >> /reboot.calls\n",
    );
    let uname = t.dir.path().join("uname");
    program(
        &uname,
        &format!(
            "#!/bin/sh\ncase \"$1\" in -r) echo {KVER} ;; -m) echo x86_64 ;; *) echo Linux ;; esac\n"
        ),
    );
    let inner = format!(
        "mount --bind -o ro {usr} {r}/usr && mount --bind {uname} {r}/usr/bin/uname && \
         exec chroot {r} /usr/bin/env -i PATH=/sbin:/bin:/usr/sbin:/usr/bin LANG=C \
         /bin/sh /etc/init.d/kdump-tools start",
        usr = debian.root.join("usr").display(),
        r = r.display(),
        uname = uname.display()
    );
    let out = run(Command::new("unshare")
        .args([
            "--mount",
            "--pid",
            "--fork",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg(inner));
    assert!(
        !r.join("reboot.calls").exists(),
        "kdump-config tried to reboot: {}",
        out.stderr
    );
    let read = |name: &str| {
        fs::read_to_string(r.join(name))
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string())
    };
    let argv: Vec<String> = read("kexec.argv")
        .map(|text| {
            let mut v: Vec<String> = text.split('\0').map(str::to_string).collect();
            v.pop();
            v
        })
        .unwrap_or_default();
    let loaded = read("kexec.kernel").map(|kernel| Loaded {
        kernel,
        initrd: read("kexec.initrd"),
        cmdline: argv
            .iter()
            .find_map(|a| a.strip_prefix("--command-line="))
            .unwrap_or("")
            .to_string(),
    });
    (loaded, argv, format!("{}{}", out.stdout, out.stderr))
}

/// kexecctl's plan on another copy of the host.
fn run_kexecctl(debian: &Debian, case: &Case, links: &Links) -> (Option<Loaded>, String) {
    let t = case.tree(debian);
    let out = t.dry_run(links);
    let plan: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let load = load_of(&plan);
    let loaded = match (out.code, plan["action"].as_str(), load.kernel) {
        (0, Some("load"), Some(kernel)) => Some(Loaded {
            kernel: resolve_in(&t.root(), &kernel),
            initrd: load.initrds.first().map(|i| resolve_in(&t.root(), i)),
            cmdline: load.cmdline.unwrap_or_default(),
        }),
        _ => None,
    };
    (
        loaded,
        format!("exit {}: {}{}", out.code, out.stdout, out.stderr),
    )
}

fn cases() -> (u64, u64) {
    let get = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        get("KEXECCTL_KDUMP_TOOLS_SEED", 1),
        get("KEXECCTL_KDUMP_TOOLS_CASES", 160),
    )
}

#[test]
fn test_kdump_setup_matches_kdump_config() {
    let started = std::time::Instant::now();
    let debian = debian();
    let (first, count) = cases();
    let failures = Mutex::new(Vec::new());
    let loads = Mutex::new(0u64);
    std::thread::scope(|s| {
        for lane in 0..2u64 {
            let (failures, loads) = (&failures, &loads);
            s.spawn(move || {
                let links = Links::new();
                for seed in (first + lane..first + count).step_by(2) {
                    let case = Case::generate(seed);
                    let (theirs, argv, log) = run_debian(debian, &case);
                    let (ours, our_log) = run_kexecctl(debian, &case, &links);
                    if theirs.is_some() {
                        *loads.lock().unwrap() += 1;
                    }
                    if theirs != ours {
                        failures.lock().unwrap().push(format!(
                            "seed {seed}: kdump-config {theirs:?}\n  kexecctl {ours:?}\n  \
                             argv {argv:?}\n--- /etc/default/kdump-tools ---\n{}\
                             --- /proc/cmdline ---\n{}--- kdump-config ---\n{log}\n\
                             --- kexecctl ---\n{our_log}",
                            case.defaults, case.proc_cmdline
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ from kdump-tools {} (seeds {first}..{}):\n{}",
        failures.len(),
        debian.version,
        first + count,
        failures
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    report(&format!(
        "kdump-tools oracle: {count} cases ({} loads), 0 differences from kdump-config {} \
         (seeds {first}..{}, {:.1} s)",
        loads.into_inner().unwrap(),
        debian.version,
        first + count,
        started.elapsed().as_secs_f64()
    ));
}

/// The differences kexecctl keeps: kdump-config `eval`s the command line
/// inside double quotes (escaping only the first `"`, and wrongly), so the
/// shell interprets `"`, `$`, `` ` `` and `\`; kexecctl passes the text as
/// written. Both answers are spelled out.
#[test]
fn test_kept_differences_from_kdump_config() {
    let debian = debian();
    let links = Links::new();
    let base = Case::generate(7);
    let with = |proc_cmdline: &str, kdump_cmdline: Option<&str>| Case {
        defaults: format!(
            "USE_KDUMP=1\nKDUMP_KERNEL=/var/lib/kdump/vmlinuz\nKDUMP_INITRD=/var/lib/kdump/initrd.img\n{}",
            kdump_cmdline.map_or(String::new(), |c| format!("KDUMP_CMDLINE='{c}'\n"))
        ),
        proc_cmdline: proc_cmdline.to_string(),
        kdump_initrd: true,
        stale_links: false,
        relocatable: true,
        ..base.clone()
    };
    let append =
        "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb";
    // A quoted value in /proc/cmdline: kdump-config's argv splits.
    let quoted = with(
        "BOOT_IMAGE=/boot/vmlinuz-6.1.0-31-amd64 ro acpi_osi=\"Windows 2015\" quiet crashkernel=256M\n",
        None,
    );
    let (theirs, argv, _) = run_debian(debian, &quoted);
    let (ours, log) = run_kexecctl(debian, &quoted, &links);
    assert_eq!(
        theirs.as_ref().map(|l| l.cmdline.as_str()),
        Some("BOOT_IMAGE=/boot/vmlinuz-6.1.0-31-amd64 ro acpi_osi=\\Windows"),
        "{argv:?}"
    );
    assert!(
        argv.iter().any(|a| a == &format!("2015 quiet {append}")),
        "{argv:?}"
    );
    assert_eq!(
        ours.map(|l| l.cmdline),
        Some(format!(
            "BOOT_IMAGE=/boot/vmlinuz-6.1.0-31-amd64 ro acpi_osi=\"Windows 2015\" quiet {append}"
        )),
        "{log}"
    );
    // `$` and `\` in KDUMP_CMDLINE: expanded and unescaped by eval.
    let shell = with(
        "ro crashkernel=256M\n",
        Some("root=/dev/sda1 x=$HOME y=a\\\\b"),
    );
    let (theirs, argv, _) = run_debian(debian, &shell);
    let (ours, log) = run_kexecctl(debian, &shell, &links);
    assert_eq!(
        theirs.map(|l| l.cmdline),
        Some(format!("root=/dev/sda1 x= y=a\\b {append}")),
        "{argv:?}"
    );
    assert_eq!(
        ours.map(|l| l.cmdline),
        Some(format!("root=/dev/sda1 x=$HOME y=a\\\\b {append}")),
        "{log}"
    );
}
