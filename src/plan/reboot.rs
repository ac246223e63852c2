//! The kexec reboot path: what `kexec-load stop` and `kexecctl load` load,
//! what the reboot-time exec step does, `unload`, `coldreboot`, and what
//! the next reboot will do (for `status`). Debian's semantics, with its
//! defects fixed where the README says so.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::boot::BootEntry;
use crate::config::settings::KexecSettings;
use crate::error::Result;
use crate::facts::init::RebootIntent;
use crate::facts::{COLD_MARKER, Facts, LEGACY_COLD_MARKER, LOADED_RECORD};
use crate::plan::{Action, LoadPlan, OnError, Plan, Step};
use crate::system::Program;

/// What the boot loader says, when `USE_GRUB_CONFIG=true` asked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootChoice {
    /// The configuration does not use the boot loader's entry.
    NotAsked,
    /// `USE_GRUB_CONFIG=true`, but there is no grub.cfg.
    NoGrubConfig,
    Entry(Box<BootEntry>),
}

/// The kernel, initrd and command line per the configuration: GRUB's
/// default entry when `USE_GRUB_CONFIG=true` found one, else
/// `KERNEL_IMAGE`, `INITRD` (empty: none) and `APPEND` (empty: the running
/// kernel's command line, verbatim) — Debian's semantics.
pub fn configured_load(
    settings: &KexecSettings,
    facts: &Facts,
    boot: &BootChoice,
    warnings: &mut Vec<String>,
) -> Result<LoadPlan> {
    match boot {
        BootChoice::Entry(entry) => {
            let mut load = LoadPlan::new(
                entry.kernel.clone(),
                entry.initrds.clone(),
                entry.cmdline.clone(),
            );
            load.entry = Some((**entry).clone());
            return Ok(load);
        }
        BootChoice::NoGrubConfig => warnings.push(format!(
            "USE_GRUB_CONFIG=true ({}) but there is no grub.cfg; using KERNEL_IMAGE, INITRD and \
             APPEND",
            settings.origin_of(&settings.use_grub_config)
        )),
        BootChoice::NotAsked => {}
    }
    if let Some((at, c)) = crate::loader::control_character(&settings.append.value) {
        return Err(crate::error::Error::not_configured(format!(
            "APPEND ({}) contains a control character ({}) at byte {at}; the kernel \
             command line is one line of text",
            settings.origin_of(&settings.append),
            crate::loader::char_name(c)
        )));
    }
    let cmdline = if settings.append.value.is_empty() {
        let why = format!(
            "because APPEND is empty ({}): the running kernel's command line is reused",
            settings.origin_of(&settings.append)
        );
        facts.cmdline_for(&why)?.to_string()
    } else {
        settings.append.value.clone()
    };
    let initrds = if settings.initrd.value.is_empty() {
        Vec::new()
    } else {
        vec![PathBuf::from(&settings.initrd.value)]
    };
    Ok(LoadPlan::new(
        &settings.kernel_image.value,
        initrds,
        cmdline,
    ))
}

/// The steps of a load for the next reboot: the load, its record, and
/// grubenv's changes GRUB would have made booting the entry.
fn load_steps(load: &LoadPlan) -> Vec<Step> {
    let mut steps = vec![
        Step::Load,
        Step::WriteRecord {
            path: LOADED_RECORD.into(),
        },
    ];
    if let Some(step) = grubenv_step(load.entry.as_ref()) {
        steps.push(step);
    }
    steps
}

/// grubenv's changes for an entry, when GRUB's script would save any.
fn grubenv_step(entry: Option<&BootEntry>) -> Option<Step> {
    let entry = entry?;
    let path = entry.grubenv.clone()?;
    if entry.grubenv_sequence.is_empty() {
        return None;
    }
    Some(Step::UpdateGrubenv {
        path,
        writes: entry.grubenv_sequence.clone(),
    })
}

/// GRUB's own `save_env` would fail here (btrfs, LVM, RAID, a full block):
/// kexecctl does not write either, and says what stays as it is.
fn grubenv_warnings(entry: Option<&BootEntry>) -> Vec<String> {
    entry
        .map(|e| {
            e.grubenv_refused
                .iter()
                .map(|(name, why)| {
                    format!(
                        "GRUB would not save {name} in grubenv here ({why}); kexecctl leaves it \
                         as it is, as a firmware boot would"
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn load_plan(load: LoadPlan, mut warnings: Vec<String>) -> Plan {
    warnings.extend(grubenv_warnings(load.entry.as_ref()));
    Plan {
        steps: load_steps(&load),
        load: Some(load),
        warnings,
        ..Plan::new(Action::Load)
    }
}

/// `kexecctl load [--force]`: load now, per the configuration.
pub fn load_now(
    settings: &KexecSettings,
    facts: &Facts,
    boot: &BootChoice,
    force: bool,
) -> Result<Plan> {
    if !settings.enabled() && !force {
        return Ok(Plan::skip(format!(
            "{} (use --force to load anyway)",
            settings.load_kexec_reason()
        )));
    }
    let mut warnings = Vec::new();
    if facts.kexec.loaded {
        warnings.push("a kexec kernel is already loaded; it is replaced".into());
    }
    let load = configured_load(settings, facts, boot, &mut warnings)?;
    Ok(load_plan(load, warnings))
}

/// Whether [`load_for_reboot`] will use the boot loader's entry: GRUB's
/// configuration is evaluated only then (not on poweroff, not when kexec
/// is off), so a broken grub.cfg cannot disturb a shutdown that does not
/// need it.
pub fn needs_boot_entry(settings: &KexecSettings, facts: &Facts, intent: &RebootIntent) -> bool {
    matches!(intent, RebootIntent::Rebooting(_))
        && settings.enabled()
        && settings.use_grub()
        && !facts.kexec.loaded
        && facts.markers.cold.is_none()
}

/// `kexec-load stop`: Debian's gate, then its `do_stop`.
pub fn load_for_reboot(
    settings: &KexecSettings,
    facts: &Facts,
    intent: &RebootIntent,
    boot: &BootChoice,
) -> Result<Plan> {
    match intent {
        RebootIntent::Rebooting(_) => {}
        RebootIntent::NotRebooting(why) | RebootIntent::Unknown(why) => {
            return Ok(Plan::skip(why.clone()));
        }
    }
    if !settings.enabled() {
        return Ok(Plan::skip(settings.load_kexec_reason()));
    }
    if facts.kexec.loaded {
        return Ok(Plan::skip("a kexec kernel is already loaded; it is kept"));
    }
    if let Some(marker) = facts.markers.cold {
        // One-shot: consumed here, as Debian consumes /no-kexec-reboot.
        return Ok(Plan::skip(format!(
            "a cold reboot was requested ({marker}); the marker is consumed"
        ))
        .with_steps(vec![Step::RemoveFiles {
            paths: vec![COLD_MARKER.into(), LEGACY_COLD_MARKER.into()],
            on_error: OnError::Warn,
        }]));
    }
    let mut warnings = Vec::new();
    let load = configured_load(settings, facts, boot, &mut warnings)?;
    Ok(load_plan(load, warnings))
}

/// The reboot-time exec step (`kexecctl exec`, run by systemd's shutdown
/// hook and sysvinit's `/etc/init.d/kexec stop`).
pub fn exec(settings: &KexecSettings, facts: &Facts, force: bool) -> Plan {
    if !facts.kexec.loaded {
        return Plan::skip("no kexec kernel is loaded");
    }
    if let Some(marker) = facts.markers.cold {
        // Make sure nothing kexecs behind our back (systemd's own
        // auto-kexec, a later hook): the loaded kernel goes.
        return Plan::skip(format!("a cold reboot was requested ({marker})")).with_steps(vec![
            Step::Unload {
                crash: false,
                on_error: OnError::Warn,
            },
        ]);
    }
    if !force && !facts.markers.kexec_requested && !settings.enabled() {
        return Plan::skip(format!(
            "{} (use --force to kexec anyway)",
            settings.load_kexec_reason()
        ));
    }
    let reason = match (force, facts.markers.kexec_requested) {
        (true, _) => "--force".to_string(),
        (false, true) => format!(
            "fastreboot asked for it ({})",
            crate::facts::KEXEC_REQUESTED
        ),
        (false, false) => format!(
            "LOAD_KEXEC is \"true\" ({})",
            settings.origin_of(&settings.load_kexec)
        ),
    };
    Plan::new(Action::Exec)
        .with_reason(reason)
        .with_steps(vec![Step::Sync, Step::RebootKexec])
}

/// `kexecctl unload`.
pub fn unload(facts: &Facts) -> Plan {
    let reason = if facts.kexec.loaded {
        "a kexec kernel is loaded"
    } else {
        "no kexec kernel is loaded (unloading anyway changes nothing)"
    };
    Plan::new(Action::Unload)
        .with_reason(reason)
        .with_steps(vec![
            Step::Unload {
                crash: false,
                on_error: OnError::Stop,
            },
            Step::RemoveFiles {
                paths: vec![LOADED_RECORD.into()],
                on_error: OnError::Warn,
            },
        ])
}

/// The `reboot` program of the system (`/usr/sbin/reboot`, `/sbin/reboot`).
pub fn reboot_program(exists: impl Fn(&Path) -> bool) -> PathBuf {
    ["/usr/sbin/reboot", "/sbin/reboot"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| exists(p))
        .unwrap_or_else(|| PathBuf::from("reboot"))
}

/// `coldreboot [ARGS]`: no kexec on the coming reboot, then `reboot ARGS`
/// with systemd's own auto-kexec turned off.
pub fn cold_reboot(facts: &Facts, reboot: PathBuf, args: &[String]) -> Plan {
    let mut steps = Vec::new();
    if facts.kexec.loaded {
        // Keep going on failure: the marker still stops kexecctl's own
        // exec step, and the reboot must happen.
        steps.push(Step::Unload {
            crash: false,
            on_error: OnError::Warn,
        });
    }
    steps.push(Step::CreateMarker {
        path: COLD_MARKER.into(),
    });
    let mut program = Program::new(reboot, &[]);
    program.args = args.iter().map(Into::into).collect();
    program.env = vec![("SYSTEMCTL_SKIP_AUTO_KEXEC".into(), "1".into())];
    steps.push(Step::Run { program });
    Plan::new(Action::ColdReboot)
        .with_reason("coldreboot asks for it; neither kexecctl nor systemd will kexec")
        .with_steps(steps)
}

/// What the next reboot will do, and why (for `status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextReboot {
    /// `kexec` or `firmware`.
    pub via: &'static str,
    /// The kernel a kexec boots (inside the root), when known.
    pub kernel: Option<PathBuf>,
    /// The release that kernel runs as (`uname -r`), read from the image
    /// by the caller (planners read no files); `None` when unknown.
    pub release: Option<String>,
    pub cmdline: Option<String>,
    /// The boot entry's `>` path, when the kernel comes from one.
    pub entry: Option<String>,
    pub reason: String,
}

impl NextReboot {
    fn firmware(reason: impl Into<String>) -> Self {
        NextReboot {
            via: "firmware",
            kernel: None,
            release: None,
            cmdline: None,
            entry: None,
            reason: reason.into(),
        }
    }
}

/// What a reboot would do now. `stop_runs`: kexecctl's load at shutdown is
/// wired in (kexec-load.service enabled, or the rc6.d link present).
/// `planned`: what `kexec-load stop` would load now (as if rebooting).
pub fn next_reboot(
    settings: &KexecSettings,
    facts: &Facts,
    stop_runs: bool,
    planned: &Result<Plan>,
) -> NextReboot {
    if let Some(marker) = facts.markers.cold {
        return NextReboot::firmware(format!("coldreboot asked for it ({marker})"));
    }
    if facts.kexec.loaded {
        let kexec = |reason: String| NextReboot {
            via: "kexec",
            kernel: facts.record.as_ref().map(|r| r.kernel.clone()),
            release: None,
            cmdline: facts.record.as_ref().map(|r| r.cmdline.clone()),
            entry: facts.record.as_ref().and_then(|r| r.entry.clone()),
            reason,
        };
        if settings.enabled() || facts.markers.kexec_requested {
            return kexec(format!(
                "a kexec kernel is loaded{} and the exec step boots it",
                if facts.record.is_none() {
                    " (not by kexecctl: what it is cannot be told)"
                } else {
                    ""
                }
            ));
        }
        if facts.init.auto_kexec() {
            return kexec(format!(
                "a kexec kernel is loaded and systemd kexecs it on `systemctl reboot` by itself, \
                 although {}",
                settings.load_kexec_reason()
            ));
        }
        return NextReboot::firmware(format!(
            "a kexec kernel is loaded, but {}",
            settings.load_kexec_reason()
        ));
    }
    if !settings.enabled() {
        return NextReboot::firmware(settings.load_kexec_reason());
    }
    if !stop_runs {
        return NextReboot::firmware(if facts.init.is_systemd() {
            "kexec-load.service is not enabled, so nothing loads a kernel at shutdown"
        } else {
            "no /etc/rc6.d/K..kexec-load link, so nothing loads a kernel at shutdown"
        });
    }
    match planned {
        Ok(Plan {
            load: Some(load), ..
        }) => NextReboot {
            via: "kexec",
            kernel: Some(load.kernel.clone()),
            release: None,
            cmdline: Some(load.cmdline.clone()),
            entry: load.entry.as_ref().map(|e| e.path.clone()),
            reason: "kexec-load loads it at shutdown (LOAD_KEXEC is \"true\")".into(),
        },
        Ok(plan) => NextReboot::firmware(plan.reason.clone().unwrap_or_default()),
        Err(e) => NextReboot::firmware(format!("loading at shutdown would fail: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{InitSystem, KexecState, Markers};

    fn facts() -> Facts {
        Facts {
            arch: "x86_64",
            cmdline: Ok("BOOT_IMAGE=/boot/vmlinuz-6.1 root=/dev/vda1 ro quiet".into()),
            release: Ok("6.1".into()),
            machine_id: None,
            boot_id: None,
            boot_cpu_apicid: None,
            kexec: KexecState::default(),
            init: InitSystem::Systemd { version: Some(252) },
            markers: Markers::default(),
            record: None,
            live: true,
            watchdog: Default::default(),
            attempts: Default::default(),
            loader_type: None,
        }
    }

    fn settings(load: &str, initrd: &str, append: &str) -> KexecSettings {
        KexecSettings::literal(load, "/vmlinuz", initrd, append, "false")
    }

    const REBOOTING: RebootIntent = RebootIntent::Rebooting(String::new());

    #[test]
    fn test_only_exact_true_enables() {
        for value in ["false", "1", "yes", "TRUE", " true", ""] {
            let p = load_now(
                &settings(value, "", ""),
                &facts(),
                &BootChoice::NotAsked,
                false,
            )
            .unwrap();
            assert_eq!(p.action, Action::Skip, "{value:?}");
            assert!(p.reason.unwrap().contains("/etc/default/kexec:1"));
        }
        let p = load_now(
            &settings("yes", "", ""),
            &facts(),
            &BootChoice::NotAsked,
            true,
        )
        .unwrap();
        assert_eq!(p.action, Action::Load);
        assert_eq!(p.steps[0], Step::Load);
    }

    #[test]
    fn test_empty_append_reuses_proc_cmdline_verbatim() {
        let f = facts();
        let p = load_now(
            &settings("true", "/initrd.img", ""),
            &f,
            &BootChoice::NotAsked,
            false,
        )
        .unwrap();
        let load = p.load.unwrap();
        assert_eq!(load.cmdline, f.cmdline.unwrap());
        assert_eq!(load.initrds, [PathBuf::from("/initrd.img")]);
        let p = load_now(
            &settings("true", "", "console=ttyS0"),
            &facts(),
            &BootChoice::NotAsked,
            false,
        )
        .unwrap();
        let load = p.load.unwrap();
        assert_eq!(load.cmdline, "console=ttyS0");
        assert!(load.initrds.is_empty());
    }

    #[test]
    fn test_missing_proc_cmdline_says_why_it_was_needed() {
        let mut f = facts();
        f.cmdline = Err(crate::error::Error::not_installed("gone").in_file("/proc/cmdline"));
        let e = load_now(&settings("true", "", ""), &f, &BootChoice::NotAsked, false).unwrap_err();
        assert!(e.to_string().contains("because APPEND is empty"), "{e}");
        // With APPEND set, /proc/cmdline is not needed.
        assert!(
            load_now(
                &settings("true", "", "ro"),
                &f,
                &BootChoice::NotAsked,
                false
            )
            .is_ok()
        );
    }

    #[test]
    fn test_stop_gate_loaded_and_markers() {
        let s = settings("true", "", "");
        let p = load_for_reboot(
            &s,
            &facts(),
            &RebootIntent::NotRebooting("poweroff".into()),
            &BootChoice::NotAsked,
        )
        .unwrap();
        assert_eq!(
            (p.action, p.reason.as_deref()),
            (Action::Skip, Some("poweroff"))
        );
        let mut f = facts();
        f.kexec.loaded = true;
        let p = load_for_reboot(&s, &f, &REBOOTING, &BootChoice::NotAsked).unwrap();
        assert!(p.reason.unwrap().contains("already loaded"));
        assert!(p.steps.is_empty());
        let mut f = facts();
        f.markers.cold = Some(COLD_MARKER);
        let p = load_for_reboot(&s, &f, &REBOOTING, &BootChoice::NotAsked).unwrap();
        assert_eq!(p.action, Action::Skip);
        assert!(matches!(&p.steps[0], Step::RemoveFiles { paths, .. } if paths.len() == 2));
        let p = load_for_reboot(&s, &facts(), &REBOOTING, &BootChoice::NotAsked).unwrap();
        assert_eq!(p.action, Action::Load);
        assert_eq!(
            p.steps,
            [
                Step::Load,
                Step::WriteRecord {
                    path: LOADED_RECORD.into()
                }
            ]
        );
    }

    #[test]
    fn test_exec_conditions() {
        let on = settings("true", "", "");
        let off = settings("false", "", "");
        assert_eq!(exec(&on, &facts(), false).action, Action::Skip);
        let mut f = facts();
        f.kexec.loaded = true;
        let p = exec(&on, &f, false);
        assert_eq!(p.steps, [Step::Sync, Step::RebootKexec]);
        assert_eq!(exec(&off, &f, false).action, Action::Skip);
        assert_eq!(exec(&off, &f, true).action, Action::Exec);
        f.markers.kexec_requested = true;
        assert_eq!(exec(&off, &f, false).action, Action::Exec);
        f.markers.cold = Some(LEGACY_COLD_MARKER);
        let p = exec(&on, &f, true);
        assert_eq!(p.action, Action::Skip);
        assert!(matches!(p.steps[0], Step::Unload { .. }));
    }

    #[test]
    fn test_cold_reboot_steps() {
        let mut f = facts();
        f.kexec.loaded = true;
        let p = cold_reboot(&f, "/sbin/reboot".into(), &["-f".into()]);
        assert_eq!(p.steps.len(), 3);
        let Step::Run { program } = &p.steps[2] else {
            panic!("{p:?}")
        };
        assert_eq!(
            program.display(),
            "SYSTEMCTL_SKIP_AUTO_KEXEC=1 /sbin/reboot -f"
        );
        assert!(p.reboots());
        assert_eq!(cold_reboot(&facts(), "reboot".into(), &[]).steps.len(), 2);
    }

    #[test]
    fn test_next_reboot_never_contradicts_the_loaded_state() {
        let on = settings("true", "", "ro");
        let off = settings("false", "", "ro");
        let planned = load_for_reboot(&on, &facts(), &REBOOTING, &BootChoice::NotAsked);
        let n = next_reboot(&on, &facts(), true, &planned);
        assert_eq!(
            (n.via, n.kernel.as_deref()),
            ("kexec", Some(Path::new("/vmlinuz")))
        );
        // Loaded: the loaded kernel is what a reboot boots, not a new plan.
        let mut f = facts();
        f.kexec.loaded = true;
        f.record = Some(crate::facts::LoadedRecord {
            kernel: "/boot/vmlinuz-old".into(),
            initrds: vec![],
            cmdline: "ro".into(),
            entry: None,
            method: "kexec_file_load".into(),
        });
        let n = next_reboot(&on, &f, true, &planned);
        assert_eq!(n.kernel.as_deref(), Some(Path::new("/boot/vmlinuz-old")));
        // systemd 255+ kexecs a loaded kernel even with LOAD_KEXEC=false.
        f.init = InitSystem::Systemd { version: Some(257) };
        assert_eq!(next_reboot(&off, &f, true, &planned).via, "kexec");
        f.init = InitSystem::Systemd { version: Some(252) };
        assert_eq!(next_reboot(&off, &f, true, &planned).via, "firmware");
        assert_eq!(next_reboot(&on, &facts(), false, &planned).via, "firmware");
        let mut f = facts();
        f.markers.cold = Some(COLD_MARKER);
        assert_eq!(next_reboot(&on, &f, true, &planned).via, "firmware");
    }
}
