//! kdump-setup against kdump-utils' own `prepare_cmdline`, on the cases and
//! answers recorded in `tests/kdump-oracle/cases.json` by
//! `scripts/record-kdump-oracle` (which names the kdump-utils commit).
//!
//! Each case is a host: `/etc/sysconfig/kdump` (read by kexecctl with bash
//! semantics, as kdumpctl sources it), `/proc/cmdline`, `/proc/cpuinfo`,
//! `/sys/class/watchdog/*/device/modalias` with the capture kernel's
//! `modules.alias`, and an SMBIOS table whose processor is the BIOS model
//! lscpu reported to kdumpctl. `kdump-setup --dry-run --json start` must
//! give exactly kdumpctl's command line, except for the differences kexecctl
//! keeps on purpose (README, "Differences from kdumpctl"), where the test
//! asserts both answers:
//!
//! * an unmatched quote in the base (kdumpctl: xargs stops, every parameter
//!   from there on is silently dropped) or in KDUMP_COMMANDLINE_REMOVE, a
//!   re-rendered parameter keeping a stray `"`, or an open `"` in
//!   KDUMP_COMMANDLINE_APPEND (the kernel reads the rest of the line as one
//!   value): kexecctl refuses with exit 6 naming the source; kdumpctl's
//!   recorded answer is checked to be the truncated or swallowed line;
//! * `key=` in KDUMP_COMMANDLINE_REMOVE: kexecctl removes `key` (as for a
//!   plain `key`); kdumpctl's answer equals kexecctl's with that entry gone.
//!
//! The test prints the count, the seed, the kdump-utils commit and the time.

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;

use crate::shell_vs_dash::report;
use crate::util::{Links, run};

/// The first load's kernel, initrds and command line of a dry-run plan,
/// in today's shape (top-level `kernel`, `initrd`, `cmdline`) or the
/// planned one (`load: {kernel, initrds, cmdline}`).
#[allow(dead_code)] // initrds: read by the kdump-tools oracle
pub struct Load {
    pub kernel: Option<String>,
    pub initrds: Vec<String>,
    pub cmdline: Option<String>,
}

pub fn load_of(plan: &Value) -> Load {
    let load = if plan["load"].is_object() {
        &plan["load"]
    } else {
        plan
    };
    let initrds = match (&load["initrds"], &load["initrd"]) {
        (Value::Array(list), _) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        (_, Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Load {
        kernel: load["kernel"].as_str().map(str::to_string),
        initrds,
        cmdline: load["cmdline"].as_str().map(str::to_string),
    }
}

/// An SMBIOS table with one Processor Information structure whose Version
/// is `model`, then the end-of-table structure.
pub fn dmi_table(model: &str) -> Vec<u8> {
    let mut s = vec![4u8, 0x28, 0x04, 0x00];
    s.resize(0x28, 0);
    s[0x04] = 1; // socket designation: string 1
    s[0x07] = 2; // manufacturer: string 2
    s[0x10] = 3; // version: string 3
    for text in ["CPU0", "Vendor", model] {
        s.extend_from_slice(text.as_bytes());
        s.push(0);
    }
    s.push(0);
    s.extend([127u8, 4, 0xff, 0xfe, 0, 0]);
    s
}

struct Oracle {
    doc: Value,
    bzimage: Vec<u8>,
    links: Links,
}

impl Oracle {
    fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kdump-oracle/cases.json");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: record it with scripts/record-kdump-oracle",
                path.display()
            )
        });
        Oracle {
            doc: serde_json::from_str(&text).unwrap(),
            bzimage: bzimage(),
            links: Links::new(),
        }
    }

    fn version(&self) -> &str {
        self.doc["version"].as_str().unwrap()
    }
}

/// A scratch directory on tmpfs when there is one: the oracle tests build
/// hundreds of small trees, which a busy disk makes slow.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let writable = shm.is_dir() && nix::unistd::access(shm, nix::unistd::AccessFlags::W_OK).is_ok();
    if writable {
        tempfile::Builder::new()
            .prefix("kexecctl-oracle-")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// A fixture root tree.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Self {
        let tree = Tree { dir: scratch() };
        fs::create_dir_all(tree.root()).unwrap();
        tree
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    pub fn write(&self, path: &str, bytes: impl AsRef<[u8]>) {
        let p = self.root().join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }

    /// Makes `path` an hour old.
    pub fn age(&self, path: &str) {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(self.root().join(path.trim_start_matches('/')))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    /// `kdump-setup --root TREE --dry-run --json start`.
    pub fn dry_run(&self, links: &Links) -> crate::util::Run {
        let mut cmd = links.cmd("kdump-setup");
        cmd.env("PATH", "/usr/bin:/bin")
            .arg("--root")
            .arg(self.root())
            .args(["--dry-run", "--json", "start"]);
        run(&mut cmd)
    }
}

/// The example host's kernel, a real bzImage the loader's checks accept.
pub fn bzimage() -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/debian-12/boot/vmlinuz-6.1.0-28-amd64"),
    )
    .unwrap()
}

/// One case's host, with `sysconfig` as /etc/sysconfig/kdump.
fn host(oracle: &Oracle, case: &Value, sysconfig: &str) -> Tree {
    let ver = oracle.version();
    let host = Tree::new();
    for (path, text) in [
        ("/sys/kernel/kexec_crash_loaded", "0\n"),
        ("/sys/kernel/kexec_loaded", "0\n"),
        ("/sys/kernel/kexec_crash_size", "268435456\n"),
        ("/etc/kdump.conf", "path /var/crash\n"),
        ("/etc/machine-id", "0f3c1b2a4d5e6f708192a3b4c5d6e7f8\n"),
        ("/etc/sysconfig/kdump", sysconfig),
        ("/proc/cmdline", case["proc_cmdline"].as_str().unwrap()),
        ("/proc/cpuinfo", case["cpuinfo"].as_str().unwrap()),
    ] {
        host.write(path, text);
    }
    host.write("/proc/sys/kernel/osrelease", format!("{ver}\n"));
    host.write(&format!("/boot/vmlinuz-{ver}"), oracle.bzimage.as_slice());
    host.write(&format!("/boot/initramfs-{ver}.img"), "default initramfs");
    host.write(
        &format!("/boot/initramfs-{ver}kdump.img"),
        "kdump initramfs",
    );
    // Older than the kdump initrd, so no rebuild is planned.
    for f in [
        "/etc/sysconfig/kdump".to_string(),
        "/etc/kdump.conf".to_string(),
        format!("/boot/vmlinuz-{ver}"),
    ] {
        host.age(&f);
    }
    host.write(
        &format!("/lib/modules/{ver}/modules.alias"),
        oracle.doc["modules_alias"].as_str().unwrap(),
    );
    host.write(
        &format!("/lib/modules/{ver}/modules.builtin.alias"),
        oracle.doc["modules_builtin_alias"].as_str().unwrap(),
    );
    for w in case["watchdogs"].as_array().unwrap() {
        let dir = format!("/sys/class/watchdog/{}", w["name"].as_str().unwrap());
        match w["modalias"].as_str() {
            Some(alias) => host.write(&format!("{dir}/device/modalias"), format!("{alias}\n")),
            None => {
                fs::create_dir_all(host.root().join(dir.trim_start_matches('/')).join("device"))
                    .unwrap()
            }
        }
    }
    if let Some(model) = case["bios_model"].as_str() {
        host.write("/sys/firmware/dmi/tables/DMI", dmi_table(model));
    }
    host
}

/// kexecctl's answer: the command line, or the exit code and message.
fn kexecctl(oracle: &Oracle, case: &Value, sysconfig: &str) -> Result<String, (i32, String)> {
    let host = host(oracle, case, sysconfig);
    let out = host.dry_run(&oracle.links);
    if out.code != 0 {
        return Err((out.code, out.stderr));
    }
    let plan: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", out.stdout));
    let load = load_of(&plan);
    assert_eq!(
        load.kernel.as_deref(),
        Some(format!("/boot/vmlinuz-{}", oracle.version()).as_str()),
        "{plan}"
    );
    Ok(load.cmdline.expect("a load has a command line"))
}

/// A sysconfig setting `values` (name -> value), single-quoted.
fn sysconfig_of(values: &serde_json::Map<String, Value>) -> String {
    let mut text = String::from("KDUMP_KERNELVER=\"\"\n");
    for (name, value) in values {
        let v = value.as_str().unwrap().replace('\'', "'\\''");
        text.push_str(&format!("{name}='{v}'\n"));
    }
    text.push_str("KEXEC_ARGS=\"-s\"\nKDUMP_IMG=\"vmlinuz\"\n");
    text
}

/// The case with some values changed.
fn variant(case: &Value, change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut values = case["sysconfig_values"].as_object().unwrap().clone();
    change(&mut values);
    sysconfig_of(&values)
}

/// The `key=` entries of the case's KDUMP_COMMANDLINE_REMOVE (kdumpctl
/// ignores them, kexecctl removes `key`).
fn key_equals_entries(case: &Value) -> Vec<String> {
    let remove = case["sysconfig_values"]["KDUMP_COMMANDLINE_REMOVE"]
        .as_str()
        .unwrap_or("hugepages hugepagesz slub_debug");
    kexecctl::cmdline::kdumpctl_params(remove, true)
        .map(|params| {
            params
                .into_iter()
                .filter(|p| p.value.as_deref() == Some(""))
                .map(|p| p.key)
                .collect()
        })
        .unwrap_or_default()
}

/// The kept `key=` difference, both ways: kexecctl reads `key=` as `key`,
/// and kdumpctl's answer is kexecctl's without those entries.
fn check_key_equals(
    oracle: &Oracle,
    case: &Value,
    ours: &Result<String, (i32, String)>,
    their_line: &str,
) -> Result<bool, String> {
    let keys = key_equals_entries(case);
    let rewrite = |plain: bool| {
        variant(case, |v| {
            let remove = v["KDUMP_COMMANDLINE_REMOVE"].as_str().unwrap();
            let words: Vec<String> = remove
                .split_whitespace()
                .filter_map(|w| match w.strip_suffix('=') {
                    Some(k) if keys.iter().any(|key| key == k) => plain.then(|| k.to_string()),
                    _ => Some(w.to_string()),
                })
                .collect();
            v.insert("KDUMP_COMMANDLINE_REMOVE".into(), words.join(" ").into());
        })
    };
    let as_plain = kexecctl(oracle, case, &rewrite(true));
    if *ours != as_plain {
        return Err(format!(
            "{keys:?} with `=` in REMOVE: {ours:?}, without: {as_plain:?}"
        ));
    }
    match kexecctl(oracle, case, &rewrite(false)) {
        Ok(line) if line == their_line => Ok(true),
        other => Err(format!(
            "kdumpctl does not simply ignore {keys:?}: kexecctl without them {other:?}, \
             kdumpctl {their_line:?}"
        )),
    }
}

/// Checks one case; `Ok(true)` when it is a difference kexecctl keeps.
fn check(oracle: &Oracle, case: &Value) -> Result<bool, String> {
    let kind = case["kind"].as_str().unwrap();
    let theirs = &case["kdumpctl"];
    let their_line = theirs["cmdline"].as_str().unwrap();
    let their_err = theirs["stderr"].as_str().unwrap();
    if theirs["status"] != 0 {
        return Err(format!("kdumpctl failed: {theirs}"));
    }
    let sysconfig = case["sysconfig"].as_str().unwrap();
    let ours = kexecctl(oracle, case, sysconfig);
    let refused = |what: &str| -> Result<(), String> {
        match &ours {
            Err((6, msg)) if msg.contains(what) => Ok(()),
            other => Err(format!("kexecctl should refuse naming {what:?}: {other:?}")),
        }
    };
    let open = |line: &str| kexecctl::cmdline::open_quote(line).is_some();
    match kind {
        "ordinary" | "edge" | "unset_remove" => {
            if !their_err.is_empty() {
                return Err(format!("kdumpctl complained: {their_err}"));
            }
            match ours {
                Ok(ref line) if line == their_line => Ok(false),
                // `key=` in REMOVE, as edge cases have it: a kept difference.
                _ if !key_equals_entries(case).is_empty() => {
                    check_key_equals(oracle, case, &ours, their_line)
                }
                other => Err(format!("kexecctl {other:?}\n  kdumpctl {their_line:?}")),
            }
        }
        "unmatched_quote" => {
            let bad = case["bad_token"].as_str().unwrap();
            let values = case["sysconfig_values"].as_object().unwrap();
            let from_file = values
                .get("KDUMP_COMMANDLINE")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty());
            refused(if from_file {
                "/etc/sysconfig/kdump:"
            } else {
                "/proc/cmdline: unmatched"
            })?;
            refused("unmatched")?;
            if !their_err.starts_with("xargs: unmatched") {
                return Err(format!("kdumpctl's xargs did not stop: {their_err:?}"));
            }
            // kdumpctl's answer is the line cut before the bad parameter.
            let cut = |text: &str| text[..text.find(bad).unwrap()].to_string();
            let mut case = case.clone();
            let truncated = if from_file {
                variant(&case, |v| {
                    let line = cut(v["KDUMP_COMMANDLINE"].as_str().unwrap());
                    v.insert("KDUMP_COMMANDLINE".into(), line.into());
                })
            } else {
                let line = cut(case["proc_cmdline"].as_str().unwrap());
                case["proc_cmdline"] = (line + "\n").into();
                sysconfig.to_string()
            };
            match kexecctl(oracle, &case, &truncated) {
                Ok(line) if line == their_line => Ok(true),
                other => Err(format!(
                    "kdumpctl did not just drop the rest: kexecctl on the cut line {other:?}, \
                     kdumpctl {their_line:?}"
                )),
            }
        }
        "remove_unmatched_quote" => {
            refused("KDUMP_COMMANDLINE_REMOVE: unmatched '")?;
            let cut = variant(case, |v| {
                v.insert("KDUMP_COMMANDLINE_REMOVE".into(), "hugepages ".into());
            });
            match kexecctl(oracle, case, &cut) {
                Ok(line) if line == their_line && their_err.starts_with("xargs: unmatched") => {
                    Ok(true)
                }
                other => Err(format!(
                    "kexecctl on the cut REMOVE {other:?}, kdumpctl {theirs}"
                )),
            }
        }
        "stray_quote" => {
            refused("stray double quote")?;
            if !open(their_line) {
                return Err(format!("kdumpctl's line has no open quote: {their_line:?}"));
            }
            Ok(true)
        }
        "append_open_quote" => {
            refused("/etc/sysconfig/kdump:")?;
            refused("KDUMP_COMMANDLINE_APPEND: unbalanced double quote")?;
            if !open(their_line) || !their_line.ends_with("rd.systemd.gpt_auto=no") {
                return Err(format!("kdumpctl's line is not swallowed: {their_line:?}"));
            }
            Ok(true)
        }
        "remove_key_equals" => {
            let key = case["removed_key"].as_str().unwrap();
            if !key_equals_entries(case).contains(&key.to_string()) {
                return Err(format!("REMOVE has no `{key}=`"));
            }
            check_key_equals(oracle, case, &ours, their_line)
        }
        other => Err(format!("unknown kind {other}")),
    }
}

#[test]
fn test_capture_cmdline_matches_kdump_utils() {
    let started = std::time::Instant::now();
    let oracle = Oracle::load();
    let cases = oracle.doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 500, "only {} cases", cases.len());
    let failures = Mutex::new(Vec::new());
    let kept = Mutex::new(0usize);
    std::thread::scope(|s| {
        for lane in 0..2 {
            let (oracle, failures, kept) = (&oracle, &failures, &kept);
            s.spawn(move || {
                for case in cases.iter().skip(lane).step_by(2) {
                    match check(oracle, case) {
                        Ok(true) => *kept.lock().unwrap() += 1,
                        Ok(false) => {}
                        Err(e) => failures.lock().unwrap().push(format!(
                            "case {} ({}): {e}\n--- sysconfig ---\n{}--- /proc/cmdline ---\n{}",
                            case["id"],
                            case["kind"],
                            case["sysconfig"].as_str().unwrap(),
                            case["proc_cmdline"].as_str().unwrap()
                        )),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let kdump_utils = &oracle.doc["kdump_utils"];
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from kdump-utils {} ({}):\n{}",
        failures.len(),
        cases.len(),
        kdump_utils["tag"],
        kdump_utils["commit"],
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    report(&format!(
        "kdump-utils oracle: {} cases, 0 differences ({} of them kept differences, asserted \
         both ways); kdump-utils {} {}, seed {}, {:.1} s",
        cases.len(),
        kept.into_inner().unwrap(),
        kdump_utils["tag"].as_str().unwrap_or("?"),
        kdump_utils["commit"].as_str().unwrap_or("?"),
        oracle.doc["seed"],
        started.elapsed().as_secs_f64()
    ));
}
