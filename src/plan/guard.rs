//! The kexec guard: "kexec, or else a firmware reboot within N seconds".
//!
//! Pure decisions from [`Facts`] and [`GuardSettings`]:
//!
//! - [`readiness`]: whether the watchdog can guard a kexec at all — a
//!   device, a timeout it accepts, staying armed across the jump (the
//!   kernel's stop-on-reboot, `watchdog.stop_on_reboot`, a hardware lock,
//!   the IPMI watchdog), someone to take it over in the new boot — with
//!   what the admin must change when it cannot, and how far it covers;
//! - [`guard_load`]: a load for a reboot becomes a recorded attempt (its id
//!   on the new kernel's command line), is refused when the guard is
//!   required but not ready, and never boots a quarantined kernel;
//! - [`guard_exec`] / [`arm`]: the exec step arms the watchdog as its last
//!   act before the jump (or refuses: the kernel is unloaded and the
//!   reboot goes through the firmware);
//! - [`confirm`]: in the new boot, confirm the attempt and hand the
//!   watchdog over (to systemd's RuntimeWatchdogSec=, or disarm it); in a
//!   firmware boot after an attempt that never confirmed, record the
//!   failure and quarantine its kernel;
//! - [`clear_quarantine`], [`last_boot`].

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::settings::GuardSettings;
use crate::facts::Facts;
use crate::facts::attempt::{
    ATTEMPT_RECORD, ArmedGuard, Attempt, AttemptState, KernelId, QUARANTINE, Quarantined,
    with_attempt,
};
use crate::facts::watchdog::{WatchdogDevice, WatchdogFacts};
use crate::plan::{Action, OnError, Plan, Step};

/// Something that keeps the guard from protecting a kexec, and the change
/// that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub why: String,
    pub fix: String,
}

/// Who looks after the watchdog once the new boot is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handover {
    /// systemd pings it (RuntimeWatchdogSec=).
    Systemd,
    /// `kexecctl confirm` stops it.
    Disarm,
}

/// What `kexecctl status` reports as `guard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// KEXECCTL_WATCHDOG_TIMEOUT is set.
    pub enabled: bool,
    /// KEXECCTL_WATCHDOG_REQUIRED: refuse (true) or warn (false).
    pub required: bool,
    pub timeout_sec: Option<u32>,
    /// Enabled and without problems: a kexec now would be guarded.
    pub ready: bool,
    pub device: Option<PathBuf>,
    pub driver: Option<String>,
    pub identity: Option<String>,
    /// Why the watchdog stays armed across the jump, when it does.
    pub survives_kexec: Option<String>,
    /// From the jump until when a hang is caught.
    pub covers: Option<String>,
    pub handover: Option<Handover>,
    pub problems: Vec<Finding>,
    /// Limits and advice that do not stop the guard.
    pub notes: Vec<String>,
}

/// How a driver behaves at reboot and kexec, as far as kexecctl knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DriverKind {
    /// The driver asks the watchdog core to stop it at reboot (and kexec,
    /// which runs the same notifiers). `locks`: nowayout sets a hardware
    /// lock no stop can undo. `probe`: what its probe in the new kernel
    /// does to a running timer.
    StopsOnReboot {
        locks: bool,
        probe: Probe,
    },
    /// Keeps a running watchdog armed across a restart (IPMI: the BMC's
    /// countdown is raised to at least 120 s).
    KeepsRunning,
    /// A timer of the kernel itself: it dies with the kernel.
    Software,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Stops the timer (unless it is locked).
    Stops,
    /// Finds it running and lets the watchdog core ping it until
    /// userspace opens it (`watchdog.handle_boot_enabled`).
    HandsToCore,
}

fn driver_kind(driver: Option<&str>) -> DriverKind {
    match driver {
        Some("i6300esb") => DriverKind::StopsOnReboot {
            locks: true,
            probe: Probe::Stops,
        },
        Some("iTCO_wdt") => DriverKind::StopsOnReboot {
            locks: false,
            probe: Probe::HandsToCore,
        },
        Some("ipmi_watchdog") => DriverKind::KeepsRunning,
        Some("softdog") => DriverKind::Software,
        _ => DriverKind::Unknown,
    }
}

/// The admin's way to keep the kernel from stopping the watchdog.
const FIX_STOP_ON_REBOOT: &str = "add watchdog.stop_on_reboot=0 to GRUB_CMDLINE_LINUX in \
    /etc/default/grub, run update-grub and reboot once: the kernel reads it when the driver \
    registers, so it cannot be changed on a running system";

fn device_limits(d: &WatchdogDevice) -> (u32, Option<u32>) {
    let table_max = match d.driver.as_deref() {
        Some("i6300esb") => Some(2046),
        _ => None,
    };
    (
        d.min_timeout.unwrap_or(1).max(1),
        d.max_timeout.or(table_max),
    )
}

/// Whether the guard can protect a kexec now, and how far.
pub fn readiness(
    g: &GuardSettings,
    w: &WatchdogFacts,
    systemd_runs: bool,
    systemd_version: Option<u32>,
) -> Readiness {
    let mut r = Readiness {
        enabled: g.enabled(),
        required: g.required,
        timeout_sec: g.timeout_secs,
        ready: false,
        device: None,
        driver: None,
        identity: None,
        survives_kexec: None,
        covers: None,
        handover: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let Some(timeout) = g.timeout_secs else {
        return r;
    };
    let Some(dev) = w.find(g.device.as_deref()) else {
        r.problems.push(Finding {
            why: match &g.device {
                Some(d) => format!("there is no watchdog device {}", d.display()),
                None => "there is no watchdog device (/sys/class/watchdog is empty and no IPMI \
                         watchdog is loaded)"
                    .into(),
            },
            fix: "load the driver of the machine's hardware watchdog — iTCO_wdt (Intel \
                  chipsets), ipmi_watchdog (a BMC), sp5100_tco (AMD), i6300esb (QEMU/KVM with \
                  -device i6300esb) — and list it in /etc/modules; or name another device in \
                  KEXECCTL_WATCHDOG_DEVICE"
                .into(),
        });
        return r;
    };
    let driver = dev.driver.clone().unwrap_or_else(|| "its driver".into());
    r.device = Some(dev.device.clone());
    r.driver = dev.driver.clone();
    r.identity = dev.identity.clone();
    let (lo, hi) = device_limits(dev);
    if timeout < lo || hi.is_some_and(|hi| timeout > hi) {
        let range = match hi {
            Some(hi) => format!("{lo} to {hi} s"),
            None => format!("at least {lo} s"),
        };
        r.problems.push(Finding {
            why: format!(
                "{} ({driver}) takes timeouts of {range}, not {timeout} s",
                dev.device.display()
            ),
            fix: format!("set KEXECCTL_WATCHDOG_TIMEOUT within {range}"),
        });
    }
    let kind = driver_kind(dev.driver.as_deref());
    let nowayout = dev.nowayout == Some(true);
    // 1. Does it stay armed across the jump?
    match kind {
        DriverKind::Software => r.problems.push(Finding {
            why: format!(
                "{} is softdog, a timer of the running kernel: it dies with the kernel at the \
                 jump and cannot guard a kexec",
                dev.device.display()
            ),
            fix: "use the machine's hardware watchdog (iTCO_wdt, ipmi_watchdog, sp5100_tco, \
                  i6300esb) instead"
                .into(),
        }),
        DriverKind::KeepsRunning => {
            r.survives_kexec =
                Some("ipmi_watchdog keeps the BMC's watchdog running across a restart".into());
            if timeout < 120 {
                r.notes.push(format!(
                    "at the jump ipmi_watchdog raises the BMC's countdown to 120 s, so a hang \
                     is caught within 120 s, not {timeout} s"
                ));
            }
        }
        _ if w.stop_on_reboot == Some(0) => {
            r.survives_kexec =
                Some("watchdog.stop_on_reboot=0: the kernel leaves it running".into());
        }
        DriverKind::StopsOnReboot { locks: true, .. } if nowayout => {
            r.survives_kexec = Some(format!(
                "nowayout sets {driver}'s hardware lock: the kernel cannot stop it at the jump"
            ));
            r.notes.push(format!(
                "with {driver} locked, its stop at the jump fails and ends the kernel's reboot \
                 notifiers early; watchdog.stop_on_reboot=0 avoids that"
            ));
        }
        _ if w.stop_on_reboot == Some(1) => r.problems.push(Finding {
            why: "watchdog.stop_on_reboot=1 makes the kernel stop every watchdog when it \
                  reboots or kexecs"
                .into(),
            fix: format!("replace it: {FIX_STOP_ON_REBOOT}"),
        }),
        DriverKind::StopsOnReboot { .. } => r.problems.push(Finding {
            why: format!(
                "the kernel stops {} ({driver}) when it reboots or kexecs (the driver asks for \
                 stop-on-reboot), so it would not stay armed across the kexec",
                dev.device.display()
            ),
            fix: FIX_STOP_ON_REBOOT.to_string(),
        }),
        DriverKind::Unknown => r.problems.push(Finding {
            why: format!(
                "kexecctl cannot tell whether {} ({driver}) stays armed across a kexec (most \
                 drivers ask the kernel to stop them at reboot)",
                dev.device.display()
            ),
            fix: FIX_STOP_ON_REBOOT.to_string(),
        }),
    }
    // 2. Who takes it over in the new boot, and so how far the guard covers.
    let systemd = &w.systemd;
    let systemd_pings = systemd_runs && systemd.runtime_watchdog_sec.is_on();
    if systemd_pings && !same_watchdog(&systemd.device_or_default(), &dev.device) {
        r.notes.push(format!(
            "systemd pings {}, not the guard's {}: kexecctl confirm disarms the guard's; name \
             the same device in WatchdogDevice= and KEXECCTL_WATCHDOG_DEVICE to hand it to systemd",
            systemd.device_or_default().display(),
            dev.device.display()
        ));
    }
    if systemd_pings && same_watchdog(&systemd.device_or_default(), &dev.device) {
        r.handover = Some(Handover::Systemd);
        r.covers = Some(format!(
            "from the jump until systemd starts in the new boot and pings the watchdog itself \
             (RuntimeWatchdogSec={})",
            systemd.runtime_watchdog_sec
        ));
    } else if nowayout {
        r.problems.push(Finding {
            why: format!(
                "{} cannot be stopped once armed (nowayout): in the new boot nothing would ping \
                 it, and it would reset the machine {timeout} s after every kexec",
                dev.device.display()
            ),
            fix: "set RuntimeWatchdogSec= in /etc/systemd/system.conf (systemd then pings it), \
                  or drop nowayout"
                .into(),
        });
    } else {
        r.handover = Some(Handover::Disarm);
        r.covers = Some(match kind {
            DriverKind::StopsOnReboot {
                probe: Probe::Stops,
                ..
            } => format!(
                "from the jump until the new kernel loads {driver}, whose probe stops the timer: \
                 a hang before that (a dark console after \"kexec_core: Starting new kernel\") \
                 is caught, a later one is not; i6300esb.nowayout=1 with RuntimeWatchdogSec= \
                 covers until systemd runs"
            ),
            DriverKind::StopsOnReboot {
                probe: Probe::HandsToCore,
                ..
            } if w.handle_boot_enabled == Some(false) => {
                "from the jump until `kexecctl confirm` in the new boot \
                 (watchdog.handle_boot_enabled=0: the new kernel does not ping it)"
                    .to_string()
            }
            DriverKind::StopsOnReboot {
                probe: Probe::HandsToCore,
                ..
            } => format!(
                "from the jump until the new kernel loads {driver}, which then pings it until \
                 userspace opens it; watchdog.handle_boot_enabled=0 (or watchdog.open_timeout=) \
                 on the command line covers until `kexecctl confirm`"
            ),
            DriverKind::KeepsRunning => {
                "from the jump until `kexecctl confirm` in the new boot, unless ipmi_watchdog \
                 is told to start on load there"
                    .to_string()
            }
            _ => format!("from the jump until the new kernel's {driver} takes it over"),
        });
    }
    if systemd_runs {
        if !systemd.kexec_watchdog_sec.is_on() {
            r.notes.push(
                "systemd's KExecWatchdogSec= is off: when systemd itself kexecs (systemctl \
                 kexec, fastreboot, systemd 255+'s kexec on reboot) its shutdown runs \
                 unguarded until kexecctl's hook arms the watchdog; set KExecWatchdogSec= (e.g. \
                 to RebootWatchdogSec=) to cover it"
                    .into(),
            );
        }
        if matches!(systemd_version, Some(254 | 255)) {
            r.notes.push(
                "systemd 254 and 255 disarm the watchdog before the shutdown hooks; kexecctl's \
                 hook arms it again"
                    .into(),
            );
        }
    }
    r.ready = r.problems.is_empty();
    r
}

/// Whether two names are the same watchdog (`/dev/watchdog` is the first
/// device's legacy name).
pub fn same_watchdog(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| {
        if p == Path::new("/dev/watchdog") {
            PathBuf::from("/dev/watchdog0")
        } else {
            p.to_path_buf()
        }
    };
    canonical(a) == canonical(b)
}

fn problems_text(r: &Readiness) -> (String, String) {
    let why: Vec<&str> = r.problems.iter().map(|f| f.why.as_str()).collect();
    let fix: Vec<&str> = r.problems.iter().map(|f| f.fix.as_str()).collect();
    (why.join("; "), fix.join("; "))
}

/// Whether a pending attempt never confirmed: this boot does not carry
/// its id and is not the boot that loaded it.
fn never_confirmed(a: &Attempt, facts: &Facts) -> bool {
    a.state == AttemptState::Pending
        && facts.attempts.this_boot.as_deref() != Some(a.id.as_str())
        && match (&a.from_boot_id, &facts.boot_id) {
            (Some(from), Some(now)) => from != now,
            // Without boot ids nothing can be told.
            _ => false,
        }
}

/// The attempt that failed: found failed earlier, or found now.
pub fn failed_attempt(facts: &Facts) -> Option<&Attempt> {
    facts
        .attempts
        .record
        .as_ref()
        .filter(|a| a.state == AttemptState::Failed || never_confirmed(a, facts))
}

/// The watchdog's word on the last reset, for the device an attempt armed.
fn watchdog_reset(a: &Attempt, w: &WatchdogFacts) -> Option<bool> {
    let armed = a.guard.as_ref()?;
    w.find(Some(&armed.device))?.caused_last_reset()
}

fn quarantine_entry(a: &Attempt, facts: &Facts) -> Quarantined {
    let reset = watchdog_reset(a, &facts.watchdog);
    Quarantined {
        kernel: a.kernel.clone(),
        kernel_id: a.kernel_id.clone(),
        attempt_id: a.id.clone(),
        since: facts.attempts.now,
        reason: format!(
            "the kexec into {} (attempt {}) never confirmed{}",
            a.kernel.display(),
            a.id,
            match reset {
                Some(true) => "; the watchdog reset the machine",
                _ => "",
            }
        ),
    }
}

/// Why `kernel` must not be kexeced into, if it is quarantined.
pub fn quarantined(facts: &Facts, kernel: Option<&KernelId>) -> Option<String> {
    let mut entries: Vec<Quarantined> = facts.attempts.quarantine.clone();
    if let Some(a) = failed_attempt(facts) {
        entries.push(quarantine_entry(a, facts));
    }
    entries.iter().find(|q| q.matches(kernel)).map(|q| {
        format!(
            "{} is quarantined: {}; the reboot goes through the firmware until the kernel \
             changes or `kexecctl clear-quarantine`",
            q.kernel.display(),
            q.reason
        )
    })
}

/// A load for a reboot, guarded: refused for a quarantined kernel or when
/// the guard is required but not ready; otherwise recorded as an attempt
/// whose id the new kernel's command line carries. Crash loads and plans
/// without a load pass unchanged.
pub fn guard_load(
    mut plan: Plan,
    g: &GuardSettings,
    r: &Readiness,
    facts: &Facts,
    kernel: Option<KernelId>,
) -> Plan {
    let Some(load) = plan.load.as_mut() else {
        return plan;
    };
    if load.crash {
        return plan;
    }
    if let Some(why) = quarantined(facts, kernel.as_ref()) {
        return Plan::skip(why);
    }
    if !g.enabled() {
        return plan;
    }
    if !r.ready {
        let (why, fix) = problems_text(r);
        if g.required {
            return Plan::skip(format!(
                "the kexec guard is not ready: {why}. To fix: {fix}. The reboot goes through \
                 the firmware ({})",
                g.required_origin
            ));
        }
        plan.warnings.push(format!(
            "the kexec guard is not ready: {why}. To fix: {fix}. Kexecing without it ({})",
            g.required_origin
        ));
    }
    let id = facts.attempts.fresh_id.clone();
    load.cmdline = with_attempt(&load.cmdline, &id);
    let attempt = Attempt {
        id,
        state: AttemptState::Pending,
        kernel: load.kernel.clone(),
        kernel_id: kernel,
        initrds: load.initrds.clone(),
        cmdline: load.cmdline.clone(),
        entry: load.entry.as_ref().map(|e| e.path.clone()),
        loaded_at: facts.attempts.now,
        from_boot_id: facts.boot_id.clone(),
        from_release: facts.release.as_ref().ok().cloned(),
        guard: match (r.ready, &r.device, g.timeout_secs) {
            (true, Some(device), Some(timeout_sec)) => Some(ArmedGuard {
                device: device.clone(),
                timeout_sec,
                driver: r.driver.clone(),
            }),
            _ => None,
        },
        settled_at: None,
        settled_boot_id: None,
        watchdog_reset: None,
    };
    let at = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::WriteRecord { .. }))
        .or_else(|| plan.steps.iter().position(|s| matches!(s, Step::Load)))
        .map_or(plan.steps.len(), |i| i + 1);
    plan.steps.insert(
        at,
        Step::WriteAttempt {
            path: ATTEMPT_RECORD.into(),
            attempt: Box::new(attempt),
            on_error: OnError::Stop,
        },
    );
    plan
}

/// What the exec step does about the guard.
enum Arming {
    Arm(Step),
    /// Unload and go through the firmware.
    Refuse(String),
    /// Kexec without the guard, with this warning.
    Unguarded(String),
}

/// The attempt of this boot the loaded kernel belongs to.
fn this_boots_attempt(facts: &Facts) -> Option<&Attempt> {
    facts.attempts.record.as_ref().filter(|a| {
        a.state == AttemptState::Pending
            && a.from_boot_id.is_some()
            && a.from_boot_id == facts.boot_id
    })
}

fn arming(g: &GuardSettings, facts: &Facts) -> Arming {
    let refuse_or_warn = |why: String| {
        if g.required {
            Arming::Refuse(format!(
                "{why}: the kexec kernel is unloaded and the reboot goes through the firmware \
                 ({})",
                g.required_origin
            ))
        } else {
            Arming::Unguarded(format!(
                "{why}: kexecing without the guard ({})",
                g.required_origin
            ))
        }
    };
    match this_boots_attempt(facts) {
        Some(Attempt {
            guard: Some(armed), ..
        }) => Arming::Arm(Step::ArmWatchdog {
            device: armed.device.clone(),
            timeout_sec: armed.timeout_sec,
            on_error: if g.required {
                OnError::Stop
            } else {
                OnError::Warn
            },
        }),
        Some(a) => refuse_or_warn(format!(
            "attempt {} was loaded while the kexec guard was not ready",
            a.id
        )),
        None => refuse_or_warn(
            "the loaded kernel is no guarded attempt of this boot (loaded by another tool, or \
             before the guard was turned on), so the new boot could not confirm it and take \
             the watchdog over"
                .into(),
        ),
    }
}

/// The exec step, guarded: the watchdog is armed as the last act before
/// the jump.
pub fn guard_exec(mut plan: Plan, g: &GuardSettings, facts: &Facts) -> Plan {
    if plan.action != Action::Exec || !g.enabled() {
        return plan;
    }
    match arming(g, facts) {
        Arming::Arm(step) => {
            let at = plan
                .steps
                .iter()
                .position(|s| matches!(s, Step::RebootKexec))
                .unwrap_or(plan.steps.len());
            plan.steps.insert(at, step);
            plan
        }
        Arming::Refuse(why) => Plan::skip(why).with_steps(vec![Step::Unload {
            crash: false,
            on_error: OnError::Warn,
        }]),
        Arming::Unguarded(warning) => {
            plan.warnings.push(warning);
            plan
        }
    }
}

/// `kexecctl arm`: the guard's part of the exec step, for a kexec that
/// another program makes (systemd-shutdown's `kexec` verb).
pub fn arm(g: &GuardSettings, facts: &Facts) -> Plan {
    if !facts.kexec.loaded {
        return Plan::skip("no kexec kernel is loaded");
    }
    if !g.enabled() {
        return Plan::skip(format!("the kexec guard is off ({})", g.timeout_origin));
    }
    match arming(g, facts) {
        Arming::Arm(step) => Plan::new(Action::Arm)
            .with_reason("the kexec guard: the watchdog is armed before the jump")
            .with_steps(vec![step]),
        Arming::Refuse(why) => Plan::skip(why).with_steps(vec![Step::Unload {
            crash: false,
            on_error: OnError::Warn,
        }]),
        Arming::Unguarded(warning) => {
            let mut plan = Plan::skip(warning.clone());
            plan.warnings.push(warning);
            plan
        }
    }
}

/// A pending attempt of this boot, cancelled with the kernel it loaded
/// (`kexecctl unload`, `coldreboot`): its record goes before any program
/// runs, so a firmware boot does not take it for a failed kexec.
pub fn cancel_attempt(mut plan: Plan, facts: &Facts) -> Plan {
    if this_boots_attempt(facts).is_none() {
        return plan;
    }
    let at = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Run { .. }))
        .unwrap_or(plan.steps.len());
    plan.steps.insert(
        at,
        Step::RemoveFiles {
            paths: vec![ATTEMPT_RECORD.into()],
            on_error: OnError::Warn,
        },
    );
    plan
}

fn settled(a: &Attempt, state: AttemptState, facts: &Facts) -> Attempt {
    let mut a = a.clone();
    a.state = state;
    a.settled_at = Some(facts.attempts.now);
    a.settled_boot_id = facts.boot_id.clone();
    a
}

/// `kexecctl confirm`, run once the system is up (after multi-user.target).
pub fn confirm(facts: &Facts) -> Plan {
    let attempts = &facts.attempts;
    let record = attempts.record.as_ref();
    if let Some(id) = &attempts.this_boot {
        let Some(a) = record.filter(|a| &a.id == id) else {
            let mut plan = Plan::skip(format!(
                "this boot carries kexec attempt {id}, but {ATTEMPT_RECORD} does not record it"
            ));
            plan.warnings.push(format!(
                "kexec attempt {id}: no record, so the watchdog is not handed over"
            ));
            return plan;
        };
        if a.state != AttemptState::Pending {
            return Plan::skip(
                format!("kexec attempt {id} is already {:?}", a.state).to_lowercase(),
            );
        }
        let mut steps = vec![Step::WriteAttempt {
            path: ATTEMPT_RECORD.into(),
            attempt: Box::new(settled(a, AttemptState::Confirmed, facts)),
            on_error: OnError::Warn,
        }];
        let handover = match &a.guard {
            None => "the kexec was not guarded".to_string(),
            Some(armed)
                if facts.init.is_systemd()
                    && facts.watchdog.systemd.runtime_watchdog_sec.is_on()
                    && same_watchdog(
                        &facts.watchdog.systemd.device_or_default(),
                        &armed.device,
                    ) =>
            {
                format!(
                    "{} is systemd's to ping (RuntimeWatchdogSec={})",
                    armed.device.display(),
                    facts.watchdog.systemd.runtime_watchdog_sec
                )
            }
            Some(armed) => {
                steps.push(Step::DisarmWatchdog {
                    device: armed.device.clone(),
                    on_error: OnError::Stop,
                });
                format!("{} is disarmed", armed.device.display())
            }
        };
        return Plan::new(Action::Confirm)
            .with_reason(format!(
                "this boot is kexec attempt {id} into {}: confirmed; {handover}",
                a.kernel.display()
            ))
            .with_steps(steps);
    }
    match record {
        Some(a) if never_confirmed(a, facts) => {
            let entry = quarantine_entry(a, facts);
            let mut failed = settled(a, AttemptState::Failed, facts);
            failed.watchdog_reset = watchdog_reset(a, &facts.watchdog);
            let mut kernels = facts.attempts.quarantine.clone();
            kernels.retain(|q| q.attempt_id != a.id);
            kernels.push(entry.clone());
            Plan::new(Action::Quarantine)
                .with_reason(format!(
                    "{}: this boot came through the firmware. {} is quarantined: the next \
                     reboots go through the firmware until the kernel changes or `kexecctl \
                     clear-quarantine`",
                    entry.reason,
                    a.kernel.display()
                ))
                .with_steps(vec![
                    Step::WriteAttempt {
                        path: ATTEMPT_RECORD.into(),
                        attempt: Box::new(failed),
                        on_error: OnError::Warn,
                    },
                    Step::WriteQuarantine {
                        path: QUARANTINE.into(),
                        kernels,
                    },
                ])
        }
        Some(a) if a.state == AttemptState::Failed => {
            let mut plan = Plan::skip(format!(
                "kexec attempt {} failed earlier; {} stays quarantined until the kernel \
                 changes or `kexecctl clear-quarantine`",
                a.id,
                a.kernel.display()
            ));
            plan.warnings.push(plan.reason.clone().unwrap_or_default());
            plan
        }
        _ => Plan::skip("nothing to confirm: this boot did not come from a guarded kexec"),
    }
}

/// `kexecctl clear-quarantine`: the admin has dealt with the failure.
pub fn clear_quarantine(facts: &Facts) -> Plan {
    let mut steps = Vec::new();
    if !facts.attempts.quarantine.is_empty() {
        steps.push(Step::RemoveFiles {
            paths: vec![QUARANTINE.into()],
            on_error: OnError::Stop,
        });
    }
    if let Some(a) = failed_attempt(facts) {
        steps.push(Step::WriteAttempt {
            path: ATTEMPT_RECORD.into(),
            attempt: Box::new(settled(a, AttemptState::Cleared, facts)),
            on_error: OnError::Stop,
        });
    }
    if steps.is_empty() {
        return Plan::skip("no kernel is quarantined");
    }
    Plan::new(Action::ClearQuarantine)
        .with_reason("the quarantine is cleared: the next reboots may kexec again")
        .with_steps(steps)
}

/// The running boot, as `kexecctl status` reports it (`last_boot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastBoot {
    pub boot_id: Option<String>,
    pub release: Option<String>,
    /// `kexec`: a kexec kexecctl guarded (its attempt id is on the command
    /// line), or any kexec the kernel reports (x86's boot protocol names
    /// kexec as the loader); `firmware`: a boot loader started it;
    /// `unknown`: neither tells (no attempt, not x86).
    pub via: &'static str,
    pub attempt_id: Option<String>,
    /// For a kexec boot: whether it confirmed (null: no record of it).
    pub confirmed: Option<bool>,
    /// The attempt before this boot that never confirmed, if any.
    pub failed_attempt: Option<FailedAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedAttempt {
    pub id: String,
    pub kernel: PathBuf,
    pub cmdline: String,
    pub loaded_at: i64,
    /// The watchdog reset the machine (its boot status), when known.
    pub watchdog_reset: Option<bool>,
}

pub fn last_boot(facts: &Facts) -> LastBoot {
    let attempts = &facts.attempts;
    let record = attempts.record.as_ref();
    let confirmed = attempts.this_boot.as_ref().and_then(|id| {
        record
            .filter(|a| &a.id == id)
            .map(|a| a.state == AttemptState::Confirmed)
    });
    LastBoot {
        boot_id: facts.boot_id.clone(),
        release: facts.release.as_ref().ok().cloned(),
        via: match (attempts.this_boot.is_some(), facts.booted_by_kexec()) {
            (true, _) | (false, Some(true)) => "kexec",
            (false, Some(false)) => "firmware",
            (false, None) => "unknown",
        },
        attempt_id: attempts.this_boot.clone(),
        confirmed,
        failed_attempt: failed_attempt(facts).map(|a| FailedAttempt {
            id: a.id.clone(),
            kernel: a.kernel.clone(),
            cmdline: a.cmdline.clone(),
            loaded_at: a.loaded_at,
            watchdog_reset: a
                .watchdog_reset
                .or_else(|| watchdog_reset(a, &facts.watchdog)),
        }),
    }
}

#[cfg(test)]
mod tests;
