//! The guard's decisions, from literals only.

use std::path::{Path, PathBuf};

use super::*;
use crate::config::settings::KexecSettings;
use crate::facts::attempt::AttemptFacts;
use crate::facts::systemd::{SystemdWatchdog, WatchdogSec};
use crate::facts::{InitSystem, KexecState, Markers};
use crate::plan::LoadPlan;

fn guard(timeout: &str, required: &str) -> GuardSettings {
    KexecSettings::literal("true", "/vmlinuz", "", "", "false")
        .with_guard(timeout, required, "")
        .guard()
        .unwrap()
}

fn esb(nowayout: bool) -> WatchdogDevice {
    WatchdogDevice {
        device: "/dev/watchdog0".into(),
        identity: Some("i6300ESB timer".into()),
        driver: Some("i6300esb".into()),
        timeout: Some(30),
        min_timeout: Some(1),
        max_timeout: Some(2046),
        nowayout: Some(nowayout),
        state: Some("inactive".into()),
        bootstatus: Some(0),
    }
}

fn watchdogs(devices: Vec<WatchdogDevice>, stop_on_reboot: Option<i32>) -> WatchdogFacts {
    WatchdogFacts {
        devices,
        stop_on_reboot,
        handle_boot_enabled: Some(true),
        open_timeout: Some(0),
        systemd: SystemdWatchdog::default(),
    }
}

fn ready_watchdogs() -> WatchdogFacts {
    watchdogs(vec![esb(false)], Some(0))
}

fn facts(w: WatchdogFacts) -> Facts {
    Facts {
        arch: "x86_64",
        cmdline: Ok("root=/dev/vda ro".into()),
        release: Ok("6.1".into()),
        machine_id: None,
        boot_id: Some("boot-a".into()),
        boot_cpu_apicid: None,
        kexec: KexecState::default(),
        init: InitSystem::Sysvinit {
            runlevel: Some('6'),
            has_runlevel_program: true,
        },
        markers: Markers::default(),
        record: None,
        live: true,
        watchdog: w,
        attempts: AttemptFacts {
            now: 1000,
            fresh_id: "0123456789abcdef".into(),
            ..Default::default()
        },
        // GRUB 2 started this kernel (x86 boot protocol id 7, version 2).
        loader_type: Some(0x72),
    }
}

fn load_plan() -> Plan {
    Plan {
        load: Some(LoadPlan::new(
            "/vmlinuz",
            vec!["/initrd.img".into()],
            "root=/dev/vda ro",
        )),
        steps: vec![
            Step::Load,
            Step::WriteRecord {
                path: "/run/kexecctl/loaded.json".into(),
            },
        ],
        ..Plan::new(Action::Load)
    }
}

fn kernel_id() -> KernelId {
    KernelId {
        path: "/boot/vmlinuz-6.1".into(),
        size: 100,
        mtime: 5,
    }
}

fn pending(from_boot: &str, guarded: bool) -> Attempt {
    Attempt {
        id: "feedfacecafebeef".into(),
        state: AttemptState::Pending,
        kernel: "/vmlinuz".into(),
        kernel_id: Some(kernel_id()),
        initrds: vec![],
        cmdline: "ro kexecctl.attempt=feedfacecafebeef".into(),
        entry: None,
        loaded_at: 900,
        from_boot_id: Some(from_boot.into()),
        from_release: Some("6.1".into()),
        guard: guarded.then(|| ArmedGuard {
            device: "/dev/watchdog0".into(),
            timeout_sec: 60,
            driver: Some("i6300esb".into()),
        }),
        settled_at: None,
        settled_boot_id: None,
        watchdog_reset: None,
    }
}

fn readiness_of(g: &GuardSettings, w: &WatchdogFacts) -> Readiness {
    readiness(g, w, false, None)
}

#[test]
fn test_off_by_default() {
    let r = readiness_of(&guard("", ""), &ready_watchdogs());
    assert!(!r.enabled && !r.ready);
    let plan = guard_load(
        load_plan(),
        &guard("", ""),
        &r,
        &facts(ready_watchdogs()),
        None,
    );
    assert_eq!(plan, load_plan(), "the guard off changes nothing");
}

#[test]
fn test_i6300esb_needs_stop_on_reboot_0() {
    let g = guard("60", "yes");
    let r = readiness_of(&g, &watchdogs(vec![esb(false)], Some(-1)));
    assert!(!r.ready);
    assert!(
        r.problems[0]
            .why
            .contains("stops /dev/watchdog0 (i6300esb)"),
        "{r:?}"
    );
    assert!(
        r.problems[0]
            .fix
            .contains("watchdog.stop_on_reboot=0 to GRUB_CMDLINE_LINUX")
    );
    let r = readiness_of(&g, &watchdogs(vec![esb(false)], Some(1)));
    assert!(r.problems[0].why.contains("watchdog.stop_on_reboot=1"));
    let r = readiness_of(&g, &ready_watchdogs());
    assert!(r.ready, "{r:?}");
    assert_eq!(r.handover, Some(Handover::Disarm));
    assert!(
        r.covers
            .unwrap()
            .contains("until the new kernel loads i6300esb")
    );
    assert_eq!(r.device.as_deref(), Some(Path::new("/dev/watchdog0")));
}

#[test]
fn test_locked_i6300esb_survives_but_needs_a_pinger() {
    let g = guard("60", "yes");
    let w = watchdogs(vec![esb(true)], Some(-1));
    let r = readiness_of(&g, &w);
    assert!(
        r.survives_kexec
            .as_deref()
            .unwrap()
            .contains("hardware lock")
    );
    assert_eq!(r.problems.len(), 1, "{r:?}");
    assert!(r.problems[0].why.contains("cannot be stopped once armed"));
    assert!(r.problems[0].fix.contains("RuntimeWatchdogSec="));
    let mut w = w;
    w.systemd.runtime_watchdog_sec = WatchdogSec::Secs(30);
    w.systemd.kexec_watchdog_sec = WatchdogSec::Secs(600);
    let r = readiness(&g, &w, true, Some(257));
    assert!(r.ready, "{r:?}");
    assert_eq!(r.handover, Some(Handover::Systemd));
    assert!(r.covers.unwrap().contains("until systemd starts"));
    // systemd pings another watchdog: nobody would ping the locked one.
    w.systemd.device = Some("/dev/watchdog1".into());
    let r = readiness(&g, &w, true, Some(257));
    assert!(!r.ready);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("systemd pings /dev/watchdog1"))
    );
}

#[test]
fn test_no_device_softdog_ipmi_unknown_and_limits() {
    let g = guard("60", "yes");
    let r = readiness_of(&g, &watchdogs(vec![], Some(0)));
    assert!(r.problems[0].why.contains("there is no watchdog device"));
    assert!(r.problems[0].fix.contains("iTCO_wdt"));
    let named = KexecSettings::literal("true", "/vmlinuz", "", "", "false")
        .with_guard("60", "yes", "/dev/watchdog1")
        .guard()
        .unwrap();
    let r = readiness_of(&named, &ready_watchdogs());
    assert!(
        r.problems[0]
            .why
            .contains("no watchdog device /dev/watchdog1")
    );
    let soft = WatchdogDevice {
        driver: Some("softdog".into()),
        ..esb(false)
    };
    let r = readiness_of(&g, &watchdogs(vec![soft], Some(0)));
    assert!(r.problems[0].why.contains("softdog"));
    let ipmi = WatchdogDevice {
        device: "/dev/watchdog".into(),
        driver: Some("ipmi_watchdog".into()),
        max_timeout: Some(6553),
        ..esb(false)
    };
    let r = readiness_of(&g, &watchdogs(vec![ipmi], None));
    assert!(r.ready, "{r:?}");
    assert!(r.notes.iter().any(|n| n.contains("120 s")));
    let other = WatchdogDevice {
        driver: Some("sp5100_tco".into()),
        ..esb(false)
    };
    let r = readiness_of(&g, &watchdogs(vec![other.clone()], None));
    assert!(r.problems[0].why.contains("cannot tell"));
    assert!(readiness_of(&g, &watchdogs(vec![other], Some(0))).ready);
    let r = readiness_of(&guard("3000", "yes"), &ready_watchdogs());
    assert_eq!(
        r.problems[0].fix,
        "set KEXECCTL_WATCHDOG_TIMEOUT within 1 to 2046 s"
    );
}

#[test]
fn test_systemd_notes() {
    let g = guard("60", "yes");
    let r = readiness(&g, &ready_watchdogs(), true, Some(255));
    assert!(r.ready);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("KExecWatchdogSec= is off"))
    );
    assert!(r.notes.iter().any(|n| n.contains("254 and 255")));
}

#[test]
fn test_guarded_load_records_an_attempt() {
    let g = guard("60", "yes");
    let f = facts(ready_watchdogs());
    let r = readiness_of(&g, &f.watchdog);
    let plan = guard_load(load_plan(), &g, &r, &f, Some(kernel_id()));
    assert_eq!(plan.action, Action::Load);
    let load = plan.load.as_ref().unwrap();
    assert_eq!(
        load.cmdline,
        "root=/dev/vda ro kexecctl.attempt=0123456789abcdef"
    );
    assert!(matches!(plan.steps[1], Step::WriteRecord { .. }));
    let Step::WriteAttempt {
        path,
        attempt,
        on_error,
    } = &plan.steps[2]
    else {
        panic!("{plan:?}")
    };
    assert_eq!(path, Path::new(ATTEMPT_RECORD));
    assert_eq!(*on_error, OnError::Stop);
    assert_eq!(attempt.cmdline, load.cmdline);
    assert_eq!(attempt.from_boot_id.as_deref(), Some("boot-a"));
    assert_eq!(attempt.kernel_id, Some(kernel_id()));
    assert_eq!(attempt.guard.as_ref().unwrap().timeout_sec, 60);
    // A crash load is no attempt.
    let mut crash = load_plan();
    crash.load.as_mut().unwrap().crash = true;
    assert_eq!(guard_load(crash.clone(), &g, &r, &f, None), crash);
}

#[test]
fn test_not_ready_refuses_or_warns() {
    let f = facts(watchdogs(vec![esb(false)], Some(-1)));
    let g = guard("60", "yes");
    let r = readiness_of(&g, &f.watchdog);
    let plan = guard_load(load_plan(), &g, &r, &f, None);
    assert_eq!(plan.action, Action::Skip);
    let reason = plan.reason.unwrap();
    assert!(reason.contains("watchdog.stop_on_reboot=0"), "{reason}");
    assert!(
        reason.contains(
            "through the firmware (KEXECCTL_WATCHDOG_REQUIRED=yes (/etc/default/kexec:7))"
        )
    );
    let g = guard("60", "no");
    let plan = guard_load(load_plan(), &g, &r, &f, None);
    assert_eq!(plan.action, Action::Load);
    assert!(plan.warnings[0].contains("Kexecing without it"));
    let Step::WriteAttempt { attempt, .. } = &plan.steps[2] else {
        panic!()
    };
    assert_eq!(attempt.guard, None, "recorded, but not armed");
}

#[test]
fn test_quarantine_blocks_that_kernel_only() {
    let g = guard("60", "yes");
    let mut f = facts(ready_watchdogs());
    f.boot_id = Some("boot-c".into());
    f.attempts.record = Some(pending("boot-a", true));
    let r = readiness_of(&g, &f.watchdog);
    // The unconfirmed attempt of another boot: its kernel goes cold.
    let plan = guard_load(load_plan(), &g, &r, &f, Some(kernel_id()));
    assert_eq!(plan.action, Action::Skip);
    assert!(plan.reason.unwrap().contains("is quarantined"));
    // Another kernel (a new package) may kexec.
    let mut other = kernel_id();
    other.mtime = 6;
    assert_eq!(
        guard_load(load_plan(), &g, &r, &f, Some(other)).action,
        Action::Load
    );
    // Even with the guard off, the quarantine holds.
    let plan = guard_load(load_plan(), &guard("", ""), &r, &f, Some(kernel_id()));
    assert_eq!(plan.action, Action::Skip);
    // From the list alone, too.
    let mut f = facts(ready_watchdogs());
    f.attempts.quarantine = vec![quarantine_entry(&pending("boot-a", true), &f)];
    assert_eq!(
        guard_load(load_plan(), &g, &r, &f, Some(kernel_id())).action,
        Action::Skip
    );
}

fn exec_plan() -> Plan {
    Plan::new(Action::Exec).with_steps(vec![Step::Sync, Step::RebootKexec])
}

#[test]
fn test_exec_arms_last() {
    let g = guard("60", "yes");
    let mut f = facts(ready_watchdogs());
    f.attempts.record = Some(pending("boot-a", true));
    let plan = guard_exec(exec_plan(), &g, &f);
    assert_eq!(
        plan.steps,
        [
            Step::Sync,
            Step::ArmWatchdog {
                device: "/dev/watchdog0".into(),
                timeout_sec: 60,
                on_error: OnError::Stop
            },
            Step::RebootKexec
        ]
    );
    let plan = guard_exec(exec_plan(), &guard("60", "no"), &f);
    assert!(matches!(
        plan.steps[1],
        Step::ArmWatchdog {
            on_error: OnError::Warn,
            ..
        }
    ));
    // A kernel not loaded as a guarded attempt of this boot.
    f.attempts.record = Some(pending("boot-0", true));
    let plan = guard_exec(exec_plan(), &g, &f);
    assert_eq!(plan.action, Action::Skip);
    assert!(matches!(plan.steps[0], Step::Unload { crash: false, .. }));
    assert!(plan.reason.unwrap().contains("goes through the firmware"));
    let plan = guard_exec(exec_plan(), &guard("60", "no"), &f);
    assert_eq!(plan.steps, exec_plan().steps);
    assert!(plan.warnings[0].contains("kexecing without the guard"));
    // The guard off: unchanged.
    assert_eq!(guard_exec(exec_plan(), &guard("", ""), &f), exec_plan());
}

#[test]
fn test_arm_for_systemds_kexec() {
    let g = guard("60", "yes");
    let mut f = facts(ready_watchdogs());
    assert_eq!(arm(&g, &f).action, Action::Skip);
    f.kexec.loaded = true;
    f.attempts.record = Some(pending("boot-a", true));
    let plan = arm(&g, &f);
    assert_eq!(plan.action, Action::Arm);
    assert!(matches!(plan.steps[..], [Step::ArmWatchdog { .. }]));
    f.attempts.record = Some(pending("boot-a", false));
    let plan = arm(&g, &f);
    assert_eq!(plan.action, Action::Skip);
    assert!(matches!(plan.steps[..], [Step::Unload { .. }]));
    assert!(
        arm(&guard("", ""), &f)
            .reason
            .unwrap()
            .contains("guard is off")
    );
}

#[test]
fn test_confirm_hands_over() {
    let mut f = facts(ready_watchdogs());
    f.boot_id = Some("boot-b".into());
    f.attempts.this_boot = Some("feedfacecafebeef".into());
    f.attempts.record = Some(pending("boot-a", true));
    let plan = confirm(&f);
    assert_eq!(plan.action, Action::Confirm);
    let Step::WriteAttempt { attempt, .. } = &plan.steps[0] else {
        panic!("{plan:?}")
    };
    assert_eq!(attempt.state, AttemptState::Confirmed);
    assert_eq!(attempt.settled_boot_id.as_deref(), Some("boot-b"));
    assert_eq!(
        plan.steps[1],
        Step::DisarmWatchdog {
            device: "/dev/watchdog0".into(),
            on_error: OnError::Stop
        }
    );
    // systemd pings it: nothing to disarm.
    f.init = InitSystem::Systemd { version: Some(257) };
    f.watchdog.systemd.runtime_watchdog_sec = WatchdogSec::Secs(30);
    let plan = confirm(&f);
    assert_eq!(plan.steps.len(), 1);
    assert!(plan.reason.unwrap().contains("systemd's to ping"));
    // systemd pings another device: the armed one is disarmed.
    f.watchdog.systemd.device = Some("/dev/watchdog1".into());
    assert_eq!(confirm(&f).steps.len(), 2);
    f.watchdog.systemd.device = Some("/dev/watchdog".into());
    // Confirmed already, or no record of it.
    let mut done = pending("boot-a", true);
    done.state = AttemptState::Confirmed;
    f.attempts.record = Some(done);
    assert_eq!(confirm(&f).action, Action::Skip);
    f.attempts.record = None;
    assert!(!confirm(&f).warnings.is_empty());
}

#[test]
fn test_firmware_boot_after_an_unconfirmed_attempt() {
    let mut w = ready_watchdogs();
    w.devices[0].bootstatus = Some(0x20);
    let mut f = facts(w);
    f.boot_id = Some("boot-c".into());
    f.attempts.record = Some(pending("boot-a", true));
    let lb = last_boot(&f);
    assert_eq!(lb.via, "firmware");
    // Where the kernel does not say who loaded it, nothing is claimed.
    let mut unknown = f.clone();
    unknown.loader_type = None;
    assert_eq!(last_boot(&unknown).via, "unknown");
    // A kexec the kernel reports is a kexec, even unguarded.
    let mut kexec = f.clone();
    kexec.loader_type = Some(0xD0);
    kexec.attempts.record = None;
    assert_eq!(last_boot(&kexec).via, "kexec");
    let failed = lb.failed_attempt.unwrap();
    assert_eq!(failed.watchdog_reset, Some(true));
    let plan = confirm(&f);
    assert_eq!(plan.action, Action::Quarantine);
    assert!(
        plan.reason
            .unwrap()
            .contains("the watchdog reset the machine")
    );
    let Step::WriteQuarantine { kernels, .. } = &plan.steps[1] else {
        panic!()
    };
    assert_eq!(kernels[0].kernel_id, Some(kernel_id()));
    // The same boot that loaded it: still pending, nothing failed.
    f.boot_id = Some("boot-a".into());
    assert_eq!(last_boot(&f).failed_attempt, None);
    assert_eq!(confirm(&f).action, Action::Skip);
    // Found failed earlier: said again, quarantine kept.
    let mut failed = pending("boot-a", true);
    failed.state = AttemptState::Failed;
    f.attempts.record = Some(failed);
    let plan = confirm(&f);
    assert_eq!(plan.action, Action::Skip);
    assert!(plan.warnings[0].contains("stays quarantined"));
}

#[test]
fn test_clear_quarantine_and_cancel() {
    let mut f = facts(ready_watchdogs());
    assert_eq!(clear_quarantine(&f).action, Action::Skip);
    f.boot_id = Some("boot-c".into());
    f.attempts.record = Some(pending("boot-a", true));
    f.attempts.quarantine = vec![quarantine_entry(&pending("boot-a", true), &f)];
    let plan = clear_quarantine(&f);
    assert_eq!(plan.action, Action::ClearQuarantine);
    assert!(
        matches!(&plan.steps[0], Step::RemoveFiles { paths, .. } if paths == &[PathBuf::from(QUARANTINE)])
    );
    let Step::WriteAttempt { attempt, .. } = &plan.steps[1] else {
        panic!()
    };
    assert_eq!(attempt.state, AttemptState::Cleared);
    // coldreboot/unload in the boot that loaded an attempt cancel it.
    let mut f = facts(ready_watchdogs());
    f.attempts.record = Some(pending("boot-a", true));
    let cold = Plan::new(Action::ColdReboot).with_steps(vec![Step::Run {
        program: crate::system::Program::new("/sbin/reboot", &[]),
    }]);
    let plan = cancel_attempt(cold.clone(), &f);
    assert!(
        matches!(&plan.steps[0], Step::RemoveFiles { paths, .. } if paths == &[PathBuf::from(ATTEMPT_RECORD)])
    );
    f.boot_id = Some("boot-z".into());
    assert_eq!(cancel_attempt(cold.clone(), &f), cold);
}

#[test]
fn test_last_boot_of_a_kexec() {
    let mut f = facts(ready_watchdogs());
    f.boot_id = Some("boot-b".into());
    f.attempts.this_boot = Some("feedfacecafebeef".into());
    f.attempts.record = Some(pending("boot-a", true));
    let lb = last_boot(&f);
    assert_eq!((lb.via, lb.confirmed), ("kexec", Some(false)));
    assert_eq!(lb.failed_attempt, None);
}
