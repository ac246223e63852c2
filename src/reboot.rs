//! The kexec reboot path shared by `kexec-load`, `coldreboot` and the native
//! `kexecctl load|unload|exec|status`: reading `/etc/default/kexec`, deciding
//! whether the system is really rebooting, the cold-reboot markers, loading
//! for the next reboot, and the reboot-time exec step.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::boot;
use crate::cli::Ctx;
use crate::config::{self, LegacySet};
use crate::error::{Error, ExitCode, IoResultExt, Result};
use crate::loader::{self, LoadSpec, Method};
use crate::plan::{self, Action, KexecSettings, Plan};
use crate::root::Root;
use crate::state::{self, KexecState};
use crate::sys::{Kexec, errno_name};

/// One-shot "next reboot goes through firmware" marker written by
/// `coldreboot`. Under /run (tmpfs), so it cannot outlive the boot it was
/// meant for, unlike Debian's `/no-kexec-reboot`.
pub const COLD_MARKER: &str = "/run/kexecctl/cold-reboot";
/// Debian's marker, still honoured (and consumed) for compatibility.
pub const LEGACY_COLD_MARKER: &str = "/no-kexec-reboot";
/// What kexecctl loaded for the next reboot, for `status`.
pub const LOADED_RECORD: &str = "/run/kexecctl/loaded.json";

pub const PROC_CMDLINE: &str = "/proc/cmdline";

/// The running kernel's command line ("" when unreadable).
pub fn proc_cmdline(root: &Root) -> Result<String> {
    let text = fs::read_to_string(root.host(PROC_CMDLINE)).at_path(Path::new(PROC_CMDLINE))?;
    Ok(text.trim_end_matches('\n').to_string())
}

/// Reads `/etc/default/kexec` and `kexec.d` (absent files: the defaults).
pub fn read_settings(root: &Root) -> Result<KexecSettings> {
    let files = LegacySet::DebianKexec.files(root)?;
    let config = config::read_files(
        root,
        &files,
        false,
        std::env::vars_os(),
        Some(LegacySet::DebianKexec),
    )?;
    Ok(KexecSettings::from_config(&config))
}

/// The plan for loading per the configuration (no state checks).
pub fn config_plan(root: &Root, settings: &KexecSettings, force: bool) -> Result<Plan> {
    if !settings.enabled() && !force {
        return Ok(plan::kexec_plan(settings, force, None, ""));
    }
    let current = proc_cmdline(root).ok();
    let entry = if settings.use_grub() {
        match boot::grub_default(root, current.as_deref().unwrap_or(""))? {
            Some(entry) => Some(entry),
            None => {
                log::warn!(
                    "USE_GRUB_CONFIG=true but there is no grub.cfg under {}; using KERNEL_IMAGE, \
                     INITRD and APPEND",
                    root.dir().display()
                );
                None
            }
        }
    } else {
        None
    };
    if entry.is_none() && settings.append.is_empty() && current.is_none() {
        // Surface the read error: APPEND="" means "reuse /proc/cmdline".
        proc_cmdline(root)?;
    }
    Ok(plan::kexec_plan(
        settings,
        force,
        entry,
        current.as_deref().unwrap_or(""),
    ))
}

/// Where a cold reboot was asked for, if it was.
pub fn cold_marker(root: &Root) -> Option<&'static str> {
    [COLD_MARKER, LEGACY_COLD_MARKER]
        .into_iter()
        .find(|m| root.host(m).exists())
}

/// Removes the cold-reboot markers (they are one-shot).
pub fn consume_cold_markers(root: &Root) {
    for marker in [COLD_MARKER, LEGACY_COLD_MARKER] {
        let path = root.host(marker);
        if path.exists() {
            if let Err(e) = fs::remove_file(&path) {
                log::warn!("cannot remove {marker}: {e}");
            }
        }
    }
}

/// Whether the system is going down for a reboot (Debian's gate: never load
/// on poweroff or halt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Rebooting,
    NotRebooting(String),
}

/// systemd: a job for reboot.target is queued; sysvinit: runlevel 6; no
/// `runlevel` program: assume rebooting, as Debian's script does.
pub fn reboot_gate(root: &Root) -> Gate {
    if root.host("/run/systemd/system").is_dir() {
        let out = Command::new("systemctl")
            .args(["list-jobs", "--no-legend", "reboot.target"])
            .output();
        return match out {
            Ok(o) if String::from_utf8_lossy(&o.stdout).contains("reboot.target") => {
                Gate::Rebooting
            }
            Ok(_) => Gate::NotRebooting("no reboot.target job is queued (not a reboot)".into()),
            Err(e) => Gate::NotRebooting(format!("cannot ask systemctl for jobs: {e}")),
        };
    }
    let runlevel = root.host("/sbin/runlevel");
    if !runlevel.is_file() {
        return Gate::Rebooting;
    }
    match Command::new(&runlevel).output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            match text.split_whitespace().nth(1) {
                Some("6") => Gate::Rebooting,
                other => Gate::NotRebooting(format!(
                    "runlevel is {}, not 6 (not a reboot)",
                    other.unwrap_or("unknown")
                )),
            }
        }
        Err(e) => Gate::NotRebooting(format!("cannot run {}: {e}", runlevel.display())),
    }
}

/// Left by `fastreboot` on sysvinit: the exec step kexecs even when
/// LOAD_KEXEC is not `true` (the admin asked for this one kexec reboot).
pub const KEXEC_REQUESTED: &str = "/run/kexecctl/kexec-requested";

/// What `status` reports about a load kexecctl made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedRecord {
    pub kernel: PathBuf,
    pub initrd: Vec<PathBuf>,
    pub cmdline: String,
    pub entry: Option<String>,
    pub method: String,
}

fn spec_of(plan: &Plan) -> LoadSpec {
    LoadSpec::new(
        plan.kernel.clone().unwrap_or_default(),
        plan.initrd.0.clone(),
        plan.cmdline.clone().unwrap_or_default(),
    )
}

/// The pre-flight checks of a load plan, without loading (for `--dry-run`).
pub fn check_plan(ctx: &Ctx, plan: &Plan) -> Result<loader::Checked> {
    let state = KexecState::read(&ctx.root);
    loader::preflight(&ctx.root, &spec_of(plan), &state, std::env::consts::ARCH)
}

/// Loads per `plan` (an `Action::Load` plan) and records it under /run.
pub fn load_plan(ctx: &Ctx, plan: &Plan, sys: &dyn Kexec) -> Result<Method> {
    let checked = check_plan(ctx, plan)?;
    let spec = &checked.spec;
    let method = loader::load(&checked, sys, std::env::consts::ARCH)?;
    let record = LoadedRecord {
        kernel: spec.kernel.clone(),
        initrd: spec.initrds.clone(),
        cmdline: spec.cmdline.clone(),
        entry: plan.entry.as_ref().map(|e| e.path.clone()),
        method: match &method {
            Method::KexecFileLoad => "kexec_file_load".into(),
            Method::KexecTools { program, .. } => program.display().to_string(),
        },
    };
    write_record(&ctx.root, &record);
    Ok(method)
}

fn write_record(root: &Root, record: &LoadedRecord) {
    let path = root.host(LOADED_RECORD);
    let result = path
        .parent()
        .map(fs::create_dir_all)
        .unwrap_or(Ok(()))
        .and_then(|()| fs::write(&path, serde_json::to_vec_pretty(record).unwrap_or_default()));
    if let Err(e) = result {
        log::debug!("cannot record the load in {LOADED_RECORD}: {e}");
    }
}

pub fn read_record(root: &Root) -> Option<LoadedRecord> {
    let text = fs::read(root.host(LOADED_RECORD)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Unloads the kexec image (not the crash image).
pub fn unload(root: &Root, sys: &dyn Kexec) -> Result<()> {
    sys.file_unload(false).map_err(|e| {
        Error::new(
            if e == crate::sys::Errno::EPERM {
                ExitCode::Privilege
            } else {
                ExitCode::Failure
            },
            format!(
                "unloading the kexec kernel failed: {} ({})",
                errno_name(e),
                e.desc()
            ),
        )
    })?;
    let _ = fs::remove_file(root.host(LOADED_RECORD));
    Ok(())
}

/// The reboot-time exec step: when a kernel is loaded, kexec is enabled and
/// no cold reboot was asked for, sync and reboot into it. Returns only when
/// there is nothing to do, or the kexec failed (the caller lets the normal
/// reboot go on).
pub fn exec(ctx: &Ctx, sys: &dyn Kexec, force: bool) -> Result<ExecOutcome> {
    if !state::kexec_loaded(&ctx.root) {
        return Ok(ExecOutcome::Nothing("no kexec kernel is loaded".into()));
    }
    if let Some(marker) = cold_marker(&ctx.root) {
        if !ctx.dry_run {
            // Make sure nothing kexecs behind our back (systemd's own
            // auto-kexec, a later hook).
            if let Err(e) = unload(&ctx.root, sys) {
                log::warn!("{e}");
            }
        }
        return Ok(ExecOutcome::Nothing(format!(
            "a cold reboot was requested ({marker})"
        )));
    }
    let requested = ctx.root.host(KEXEC_REQUESTED).exists();
    if !force && !requested {
        let settings = read_settings(&ctx.root)?;
        if !settings.enabled() {
            return Ok(ExecOutcome::Nothing(format!(
                "LOAD_KEXEC is {:?}, not \"true\" (use --force to kexec anyway)",
                settings.load_kexec
            )));
        }
    }
    if ctx.dry_run {
        return Ok(ExecOutcome::WouldExec);
    }
    sys.sync();
    let errno = sys.reboot_kexec();
    Err(Error::failure(format!(
        "kexec failed: {} ({})",
        errno_name(errno),
        errno.desc()
    )))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    Nothing(String),
    WouldExec,
}

/// `coldreboot`: no kexec on the coming reboot, then `reboot ARGS`.
pub fn cold_reboot(ctx: &Ctx, sys: &dyn Kexec, args: &[String]) -> Result<i32> {
    let reboot = ["/usr/sbin/reboot", "/sbin/reboot"]
        .into_iter()
        .find(|p| ctx.root.host(p).exists())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("reboot"));
    let loaded = state::kexec_loaded(&ctx.root);
    if ctx.dry_run {
        if loaded {
            println!("would unload the loaded kexec kernel");
        }
        println!("would create {COLD_MARKER}");
        println!(
            "would run SYSTEMCTL_SKIP_AUTO_KEXEC=1 {} {}",
            reboot.display(),
            args.join(" ")
        );
        return Ok(0);
    }
    if loaded {
        // Keep going on failure: the marker still stops kexecctl's own
        // exec step, and the reboot must happen.
        if let Err(e) = unload(&ctx.root, sys) {
            log::warn!("{e}");
        }
    }
    let marker = ctx.root.host(COLD_MARKER);
    if let Err(e) = marker
        .parent()
        .map(fs::create_dir_all)
        .unwrap_or(Ok(()))
        .and_then(|()| fs::write(&marker, b""))
    {
        log::warn!("cannot create {COLD_MARKER}: {e}");
    }
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    sys.run(&reboot, &args, &[("SYSTEMCTL_SKIP_AUTO_KEXEC", "1")])
        .map_err(|e| Error::failure(format!("running {}: {e}", reboot.display())))
}

/// `kexec-load stop` after its gate: Debian's `do_stop`.
pub fn load_for_reboot(ctx: &Ctx) -> Result<Plan> {
    let settings = read_settings(&ctx.root)?;
    if !settings.enabled() {
        return Ok(plan::kexec_plan(&settings, false, None, ""));
    }
    let state = KexecState::read(&ctx.root);
    if state.loaded {
        return Ok(Plan::skip("a kexec kernel is already loaded; it is kept"));
    }
    if let Some(marker) = cold_marker(&ctx.root) {
        if !ctx.dry_run {
            consume_cold_markers(&ctx.root);
        }
        return Ok(Plan::skip(format!(
            "a cold reboot was requested ({marker}); the marker is consumed"
        )));
    }
    config_plan(&ctx.root, &settings, false)
}

/// Prints a plan: JSON, the dry-run description, or nothing. A dry run of
/// a load runs the pre-flight checks too, so it fails where the load would.
pub fn show_plan(ctx: &Ctx, plan: &Plan) -> Result<()> {
    if ctx.dry_run && plan.action == Action::Load {
        if let loader::Method::KexecTools { program, reason } = check_plan(ctx, plan)?.method {
            log::warn!("{reason}: would load with {}", program.display());
        }
    }
    if ctx.json {
        crate::cli::print_json(plan)?;
    } else if ctx.dry_run {
        println!("{}", plan.describe());
    } else if plan.action == Action::Skip {
        log::info!(
            "not loading a kernel: {}",
            plan.reason.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
