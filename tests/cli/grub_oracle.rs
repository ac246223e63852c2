//! GRUB itself as the oracle of "the entry GRUB would boot" (issue #10).
//!
//! Debian's grub-emu 2.12 runs each case with an emulated disk and boots
//! the entry it chooses through a recording `kexec` (see `emu`); the cases
//! come from the real grub-mkconfig of Debian 12 and 13 and from shapes of
//! other distributions (see `generate`). Three tests:
//!
//! - every recorded case (`tests/grub-oracle/answers.jsonl.gz`, made by
//!   `scripts/record-grub-oracle`) must get the same answer from kexecctl:
//!   the Linux entry or none, the `linux` and `initrd` arguments, `chosen`,
//!   and the environment block after GRUB's `save_env` writes;
//! - a random sample of the recorded cases is asked of grub-emu again (it
//!   must still give the recorded answer) and of the real binary
//!   (`kexecctl load --dry-run --json` on a tree made from the case: the
//!   kernel, initrds, command line as GRUB's x86 loader builds it, and the
//!   grubenv step's variables), so the oracle path cannot rot;
//! - the grubenv writer agrees byte for byte with the real `grub-editenv`.
//!
//! The live tests need root, debootstrap and the Debian archive; they fail
//! naming what is missing. `ORACLE_SAMPLE` sets the sample size (default 50)
//! and `ORACLE_SAMPLE_SEED` its seed (default: the time, printed).

mod case;
mod emu;
mod generate;

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use case::{Answer, Recording, differences, kexecctl_answer};
use generate::Rng;
use kexecctl::boot::grubenv;

use crate::util::Host;

fn answers_path() -> PathBuf {
    emu::repo().join("tests/grub-oracle/answers.jsonl.gz")
}

/// At least this many recorded answers must be in the repository.
const MIN_RECORDED: usize = 2000;

fn compare_all(rec: &Recording) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, case) in rec.cases.iter().enumerate() {
        let config = &rec.configs[case.config];
        let Some(grub_answer) = &case.answer else {
            failures.push(format!("case {i}: no recorded answer"));
            continue;
        };
        match kexecctl_answer(config, case) {
            Ok(ours) => {
                let diff = differences(grub_answer, &ours);
                if !diff.is_empty() {
                    failures.push(format!(
                        "case {i} ({}; {}; {}):\n  {}",
                        config.origin,
                        case.platform,
                        case.variant,
                        diff.join("\n  ")
                    ));
                }
            }
            Err(e) => failures.push(format!("case {i} ({}): {e}", config.origin)),
        }
    }
    failures
}

#[test]
fn test_recorded_grub_answers_agree_with_kexecctl() {
    let started = Instant::now();
    let rec = Recording::read(&answers_path());
    let failures = compare_all(&rec);
    let linux = rec
        .cases
        .iter()
        .filter(|c| c.answer.as_ref().is_some_and(|a| a.linux))
        .count();
    println!(
        "GRUB oracle: {} recorded answers of grub-emu {} (seed {}, {} configurations; {} boot Linux, \
         {} do not): {} differences, compared in {:.2}s",
        rec.cases.len(),
        rec.grub_emu,
        rec.seed,
        rec.configs.len(),
        linux,
        rec.cases.len() - linux,
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    // The comparison can fail: a changed answer is a difference.
    let linux_case = rec
        .cases
        .iter()
        .find(|c| c.answer.as_ref().is_some_and(|a| a.linux));
    if let Some(case) = linux_case {
        let mut changed = case.answer.clone().unwrap();
        changed.argv.push("extra".into());
        let ours = kexecctl_answer(&rec.configs[case.config], case).unwrap();
        assert!(
            !differences(&changed, &ours).is_empty(),
            "differences() sees nothing"
        );
    }
    assert!(
        rec.cases.len() >= MIN_RECORDED,
        "only {} recorded GRUB answers (at least {MIN_RECORDED} expected): run scripts/record-grub-oracle",
        rec.cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from GRUB:\n{}",
        failures.len(),
        rec.cases.len(),
        failures.join("\n")
    );
}

/// A tree for the real binary: the example Debian 12 system with the
/// case's /boot (kernels are the example's, so the loader checks pass).
fn binary_tree(rec: &Recording, case: &case::Case) -> Host {
    let host = Host::debian12();
    let kernel = fs::read(host.root().join("boot/vmlinuz-6.1.0-27-amd64")).unwrap();
    fs::remove_dir_all(host.root().join("boot")).unwrap();
    let on_boot = |grub_path: &str| {
        let below = grub_path.trim_start_matches('/');
        if case.separate_boot {
            host.root().join("boot").join(below)
        } else {
            host.root().join(below)
        }
    };
    let put = |grub_path: &str, bytes: &[u8]| {
        let p = on_boot(grub_path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    };
    let dir = case.grub_dir();
    put(
        &format!("{dir}/grub.cfg"),
        rec.configs[case.config].text.as_bytes(),
    );
    if let Some(env) = &case.grubenv {
        put(&format!("{dir}/grubenv"), &env.bytes());
    }
    for f in &case.files {
        put(f, &kernel);
    }
    for (p, text) in &case.extra {
        put(p, text.as_bytes());
    }
    let mut mountinfo = String::from("22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n");
    if case.separate_boot {
        mountinfo.push_str("23 22 254:2 / /boot rw,relatime shared:2 - ext4 /dev/vda2 rw\n");
    }
    host.write("proc/self/mountinfo", &mountinfo);
    host.write(
        "proc/cmdline",
        "BOOT_IMAGE=(hd0)/vmlinuz root=/dev/vda1 ro\n",
    );
    let efi = host.root().join("sys/firmware/efi");
    if case.platform == "efi" {
        fs::create_dir_all(&efi).unwrap();
    } else {
        let _ = fs::remove_dir_all(&efi);
    }
    host.kexec_config("LOAD_KEXEC=true\nUSE_GRUB_CONFIG=true\n");
    host
}

/// GRUB's x86 command line from the `linux` arguments
/// (`grub_create_loader_cmdline`, with `BOOT_IMAGE=` first).
fn grub_cmdline(argv: &[String]) -> String {
    argv.iter()
        .enumerate()
        .map(|(i, a)| {
            let mut s = String::new();
            if a.contains(' ') {
                s.push('"');
            }
            for c in a.chars() {
                if matches!(c, '\\' | '\'' | '"') {
                    s.push('\\');
                }
                s.push(c);
            }
            if a.contains(' ') {
                s.push('"');
            }
            if i == 0 { format!("BOOT_IMAGE={s}") } else { s }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The real binary on the case; `None` when it loads nothing.
fn binary_answer(rec: &Recording, case: &case::Case) -> Result<serde_json::Value, String> {
    let host = binary_tree(rec, case);
    let out = host.run("kexecctl", &["load", "--dry-run", "--json"]);
    if out.code != 0 {
        return Err(format!("exit {}: {}", out.code, out.stderr));
    }
    serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))
}

fn check_binary(rec: &Recording, case: &case::Case, grub_answer: &Answer) -> Result<(), String> {
    let plan = binary_answer(rec, case);
    if !grub_answer.linux {
        return match plan {
            Err(e) if e.contains("not a Linux entry") || e.contains("boots no Linux") => Ok(()),
            other => Err(format!("GRUB boots no Linux; the binary says {other:?}")),
        };
    }
    let plan = plan?;
    let load = &plan["load"];
    let boot = if case.separate_boot { "/boot" } else { "" };
    let kernel = format!(
        "{boot}{}",
        kexecctl::boot::grub::strip_device(&grub_answer.argv[0])
    );
    if load["kernel"] != kernel.as_str() {
        return Err(format!("kernel: GRUB {kernel}, binary {}", load["kernel"]));
    }
    let initrds: Vec<String> = grub_answer
        .initrds
        .iter()
        .map(|i| format!("{boot}{}", kexecctl::boot::grub::strip_device(i)))
        .collect();
    let got: Vec<String> = load["initrds"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    if got != initrds {
        return Err(format!("initrds: GRUB {initrds:?}, binary {got:?}"));
    }
    let expected = grub_cmdline(&grub_answer.argv);
    if load["cmdline"] != expected.as_str() {
        return Err(format!(
            "cmdline: GRUB's loader {expected:?}, binary {}",
            load["cmdline"]
        ));
    }
    // The plan's grubenv step leaves the block GRUB's save_env left, byte
    // for byte.
    if let (Some(before), Some(after)) = (&case.grubenv, &grub_answer.grubenv_after) {
        let writes: Vec<(String, Option<String>)> = plan["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["step"] == "update-grubenv")
            .flat_map(|s| s["writes"].as_array().cloned().unwrap_or_default())
            .map(|w| {
                (
                    w[0].as_str().unwrap_or("").to_string(),
                    w[1].as_str().map(str::to_string),
                )
            })
            .collect();
        let planned = if writes.is_empty() {
            before.bytes()
        } else {
            grubenv::apply(&before.bytes(), &writes).map_err(|e| e.to_string())?
        };
        if planned != after.bytes() {
            return Err(format!(
                "grubenv: GRUB leaves {:?}, the binary's plan {:?}",
                grubenv::parse(&after.bytes()),
                grubenv::parse(&planned)
            ));
        }
    }
    Ok(())
}

#[test]
fn test_live_grub_oracle_sample() {
    emu::require_oracle_tools();
    let rec = Recording::read(&answers_path());
    let size: usize = std::env::var("ORACLE_SAMPLE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("ORACLE_SAMPLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    let started = Instant::now();
    let root = emu::oracle_root("trixie");
    let setup = started.elapsed().as_secs_f64();
    let version = emu::emu_version(&root);
    let mut rng = Rng::new(seed);
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < size.min(rec.cases.len()) {
        let i = rng.below(rec.cases.len());
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    let sample: Vec<case::Case> = picked.iter().map(|&i| rec.cases[i].clone()).collect();
    let mut failures = Vec::new();
    let mut seconds = 0.0;
    let mut grub_seconds = 0.0;
    let run_started = Instant::now();
    emu::run_cases(&root, &rec.configs, &sample, 2, |k, result| {
        let i = picked[k];
        let case = &rec.cases[i];
        let config = &rec.configs[case.config];
        match result {
            Err(e) => failures.push(format!("case {i}: the oracle failed: {e}")),
            Ok(run) => {
                seconds += run.seconds;
                grub_seconds += run.emu_seconds;
                let recorded = case.answer.as_ref().unwrap();
                if &run.answer != recorded {
                    failures.push(format!(
                        "case {i} ({}): grub-emu {version} now answers {:?}, recorded {:?}\n\
                         --- grub-emu output ---\n{}",
                        config.origin, run.answer, recorded, run.transcript
                    ));
                }
                match kexecctl_answer(config, case) {
                    Ok(ours) => {
                        let diff = differences(&run.answer, &ours);
                        if !diff.is_empty() {
                            failures.push(format!(
                                "case {i} ({}): {}",
                                config.origin,
                                diff.join("; ")
                            ));
                        }
                    }
                    Err(e) => failures.push(format!("case {i}: {e}")),
                }
            }
        }
    });
    // End to end through the binary: `kexecctl load --dry-run --json` on a
    // tree made from each case.
    let mut binary_checked = 0;
    for &i in &picked {
        let case = &rec.cases[i];
        if let Err(e) = check_binary(&rec, case, case.answer.as_ref().unwrap()) {
            failures.push(format!(
                "case {i} ({}) through the binary: {e}",
                rec.configs[case.config].origin
            ));
        }
        binary_checked += 1;
    }
    println!(
        "GRUB oracle live sample: {} cases (seed {seed}) through grub-emu {version} in {:.1}s \
         ({:.0} ms per case, of which grub-emu {:.0} ms; 2 workers; setup {:.1}s), \
         {binary_checked} through the binary: {} differences",
        sample.len(),
        run_started.elapsed().as_secs_f64(),
        1000.0 * seconds / sample.len().max(1) as f64,
        1000.0 * grub_seconds / sample.len().max(1) as f64,
        setup,
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn test_grubenv_writer_matches_grub_editenv() {
    emu::require_oracle_tools();
    let root = emu::oracle_root("trixie");
    let mut rng = Rng::new(20261129);
    let names = ["saved_entry", "next_entry", "kernelopts", "x", "recordfail"];
    let values = [
        "",
        "0",
        "1>2",
        "gnulinux-advanced-x>gnulinux-6.1.0-28-amd64-advanced-x",
        "a\\b",
        "root=UUID=1 ro quiet",
        "été",
        "#",
        "=",
        "long-value-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ];
    let mut checked = 0;
    for round in 0..40 {
        let mut block = grubenv::create();
        // Some history first, with grub-editenv itself.
        for _ in 0..rng.below(4) {
            let arg = format!("{}={}", rng.pick(&names), rng.pick(&values));
            block = emu::grub_editenv(&root, &block, &["set".into(), arg]).unwrap();
        }
        let mut changes: Vec<(String, Option<String>)> = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let name = rng.pick(&names).to_string();
            if rng.chance(25) {
                changes.push((name, None));
            } else {
                changes.push((name, Some(rng.pick(&values).to_string())));
            }
        }
        if round % 10 == 9 {
            // Too big for the block: both refuse.
            changes.push(("huge".into(), Some("h".repeat(1200))));
        }
        let mut expected = Some(block.clone());
        for (name, value) in &changes {
            let Some(current) = expected.clone() else {
                break;
            };
            let args = match value {
                Some(v) => vec!["set".to_string(), format!("{name}={v}")],
                None => vec!["unset".to_string(), name.clone()],
            };
            expected = emu::grub_editenv(&root, &current, &args).ok();
        }
        let ours = grubenv::apply(&block, &changes).ok();
        assert_eq!(
            ours.as_deref().map(String::from_utf8_lossy),
            expected.as_deref().map(String::from_utf8_lossy),
            "round {round}: changes {changes:?} on {:?}",
            String::from_utf8_lossy(&block)
        );
        if let Some(out) = &ours {
            // The reader sees the last value written for each name.
            assert_eq!(out.len(), block.len());
            let vars = grubenv::parse(out);
            for (name, _) in &changes {
                let last = changes.iter().rev().find(|(n, _)| n == name).unwrap();
                assert_eq!(vars.get(name), last.1.as_ref(), "{name} after {changes:?}");
            }
        }
        checked += 1;
    }
    println!("grubenv writer: {checked} blocks agree byte for byte with grub-editenv");
}

/// Records GRUB's answers: `scripts/record-grub-oracle` runs this with
/// `ORACLE_SEED` and `ORACLE_CASES`.
#[test]
#[ignore = "records GRUB's answers (minutes); run scripts/record-grub-oracle"]
fn record_grub_oracle() {
    emu::require_oracle_tools();
    let seed: u64 = std::env::var("ORACLE_SEED").map_or(1, |s| s.parse().unwrap());
    let target: usize = std::env::var("ORACLE_CASES").map_or(3000, |s| s.parse().unwrap());
    let out = std::env::var_os("ORACLE_OUT").map_or_else(answers_path, PathBuf::from);
    let started = Instant::now();
    let bookworm = emu::oracle_root("bookworm");
    let trixie = emu::oracle_root("trixie");
    let work = tempfile::tempdir_in(emu::cache_dir()).unwrap();
    let (configs, mut cases) = generate::generate(
        seed,
        target,
        &bookworm,
        &trixie,
        &work.path().join("mk"),
        |p| {
            eprint!("\rgenerating: {p}        ");
        },
    );
    eprintln!();
    let generated = started.elapsed().as_secs_f64();
    let run_started = Instant::now();
    let mut failures = Vec::new();
    let mut emu_seconds = 0.0;
    let mut grub_seconds = 0.0;
    let total = cases.len();
    let mut done = 0;
    let mut results: Vec<Option<Answer>> = vec![None; total];
    emu::run_cases(&trixie, &configs, &cases, 2, |i, result| {
        done += 1;
        match result {
            Ok(run) => {
                emu_seconds += run.seconds;
                grub_seconds += run.emu_seconds;
                results[i] = Some(run.answer);
            }
            Err(e) => failures.push(format!(
                "case {i} ({}): {e}",
                configs[cases[i].config].origin
            )),
        }
        eprint!("\rgrub-emu: {done}/{total}        ");
    });
    eprintln!();
    assert!(
        failures.is_empty(),
        "the oracle failed:\n{}",
        failures.join("\n\n")
    );
    for (case, answer) in cases.iter_mut().zip(results) {
        case.answer = answer;
    }
    let rec = Recording {
        grub_emu: emu::emu_version(&trixie),
        seed,
        configs,
        cases,
    };
    rec.write(&out);
    let size = fs::metadata(&out).unwrap().len();
    let disagreements = compare_all(&rec);
    println!(
        "recorded {} GRUB answers (seed {seed}, {} configurations) with grub-emu {} into {} ({} KiB): \
         generation {:.0}s, grub-emu {:.0}s ({:.0} ms per case, of which grub-emu {:.0} ms; 2 workers); \
         kexecctl differs on {}",
        rec.cases.len(),
        rec.configs.len(),
        rec.grub_emu,
        out.display(),
        size / 1024,
        generated,
        run_started.elapsed().as_secs_f64(),
        1000.0 * emu_seconds / total.max(1) as f64,
        1000.0 * grub_seconds / total.max(1) as f64,
        disagreements.len()
    );
    for d in disagreements.iter().take(40) {
        println!("{d}");
    }
}

/// Shows one recorded case: its configuration, GRUB's answer and
/// kexecctl's (`ORACLE_CASE=N cargo test --test cli inspect_grub_oracle_case
/// -- --ignored --nocapture`).
#[test]
#[ignore = "a debugging aid: set ORACLE_CASE"]
fn inspect_grub_oracle_case() {
    let rec = Recording::read(&answers_path());
    let i: usize = std::env::var("ORACLE_CASE")
        .expect("ORACLE_CASE")
        .parse()
        .unwrap();
    let case = &rec.cases[i];
    let config = &rec.configs[case.config];
    println!(
        "--- config {} ({}) ---\n{}",
        case.config, config.origin, config.text
    );
    println!(
        "--- case {i}: {} {} separate_boot={} ---",
        case.platform, case.variant, case.separate_boot
    );
    println!(
        "grubenv: {:?}\nfiles: {:?}\nextra: {:?}",
        case.grubenv, case.files, case.extra
    );
    println!("GRUB:     {:?}", case.answer);
    println!("kexecctl: {:?}", kexecctl_answer(config, case));
    let host = case::CaseHost::new(config, case);
    let evaluation = kexecctl::boot::grub::evaluate(
        &format!("{}/grub.cfg", case.grub_dir()),
        &config.text,
        &host,
        case::initial_vars(case),
        kexecctl::boot::grub::Flavor::Upstream,
    );
    println!("evaluation: {evaluation:#?}");
}
