//! The native CLI, `kexecctl <command>`, for admins and automation:
//! `config`, `load`, `unload`, `exec`, `status`, the kexec guard's `arm`,
//! `confirm` and `clear-quarantine`, and every personality as a command
//! (`kexecctl kexec-load status`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::cli::config::ConfigArgs;
use crate::cli::output::Output;
use crate::cli::personality::Personality;
use crate::cli::{self, Access, GlobalArgs, coldreboot, fastreboot, kdump_setup, kexec_load};
use crate::config::settings::KexecSettings;
use crate::context::Ctx;
use crate::error::Result;
use crate::facts::init::{self, RebootIntent};
use crate::facts::{Facts, InitSystem, LoadedRecord};
use crate::plan::{self, Action};
use crate::system::System;

#[derive(Debug, Parser)]
#[command(
    name = "kexecctl",
    version,
    about = "Load, inspect and boot kexec and kdump kernels",
    long_about = "kexecctl loads, inspects and boots kexec and kdump kernels. It replaces \
        Debian's kexec-tools init scripts and Red Hat's kdump service, reading their \
        configuration files (/etc/default/kexec, /etc/sysconfig/kdump, \
        /etc/default/kdump-tools) without running them. Installed links run its \
        personalities: kexec-load, coldreboot, kdump-setup, fastreboot.",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// List the personalities this binary answers to, and exit.
    #[arg(long, exclusive = true)]
    pub list: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the variables the legacy configuration files set, as the shell
    /// that sources them would, with the file and line of each.
    Config(ConfigArgs),
    /// Load the kernel /etc/default/kexec (or GRUB's default entry) names,
    /// now.
    Load {
        /// Load even when LOAD_KEXEC is not "true".
        #[arg(long)]
        force: bool,
    },
    /// Unload the kexec kernel.
    Unload,
    /// Reboot into the loaded kernel now (sync, then kexec): the reboot-time
    /// step of /etc/init.d/kexec and of the systemd shutdown hook. Without a
    /// loaded kernel, or with LOAD_KEXEC not "true": nothing. With the kexec
    /// guard on (KEXECCTL_WATCHDOG_TIMEOUT), the watchdog is armed as the
    /// last act before the jump.
    Exec {
        /// Kexec even when LOAD_KEXEC is not "true".
        #[arg(long)]
        force: bool,
    },
    /// What is loaded, what the next reboot will do and why, the crash
    /// reservation, lockdown, the kexec guard (ready or not, and the fix),
    /// how this boot came up (kexec or firmware, confirmed or not, a failed
    /// attempt) and the quarantine. Exit 0 when a kexec kernel is loaded, 3
    /// when not. With --expect-next or --expect-booted, a check for
    /// orchestrators (a rolling reboot's pre-check and test command): exit 0
    /// when every expectation is met, else 1 with the reason on one line of
    /// stderr (3 while a kexec boot's confirmation is still to come).
    Status {
        /// Expect the next reboot to kexec (into this kernel release, as
        /// `uname -r` prints it, read from the kernel image): the kernel
        /// kexec-load would load at shutdown, which must pass the checks it
        /// runs before loading (image format, room for the command line,
        /// lockdown).
        #[arg(long, value_name = "RELEASE", num_args = 0..=1, default_missing_value = "")]
        expect_next: Option<String>,
        /// Expect this boot to have come through kexec (into this release),
        /// and its guarded kexec attempt, if any, to be confirmed.
        #[arg(long, value_name = "RELEASE", num_args = 0..=1, default_missing_value = "")]
        expect_booted: Option<String>,
    },
    /// The kexec guard's part of the exec step alone: arm the watchdog for
    /// a kexec another program makes (systemd-shutdown's kexec verb runs
    /// it from kexecctl's hook). When the guard is required and cannot
    /// arm, the kexec kernel is unloaded: the reboot goes through the
    /// firmware.
    Arm,
    /// Run once the system is up (kexecctl-confirm.service, after
    /// multi-user.target): confirm this boot's guarded kexec and hand the
    /// watchdog over (to systemd's RuntimeWatchdogSec=, or disarm it); in a
    /// boot that came through the firmware after a kexec that never
    /// confirmed, record the failure and quarantine its kernel.
    Confirm,
    /// Let the quarantined kernels be kexeced again (after a failed,
    /// unconfirmed kexec the next reboots go through the firmware).
    ClearQuarantine,
    /// Debian's /etc/init.d/kexec-load (see kexec-load(8)).
    #[command(name = "kexec-load")]
    KexecLoad(kexec_load::Command),
    /// Reboot through the firmware, never kexec (see coldreboot(8)).
    #[command(name = "coldreboot")]
    ColdReboot(coldreboot::Command),
    /// Red Hat's kdump service (see kdump-setup(8)).
    #[command(name = "kdump-setup")]
    KdumpSetup(kdump_setup::Command),
    /// Reboot now through kexec (see fastreboot(8)).
    #[command(name = "fastreboot")]
    FastReboot(fastreboot::Command),
}

/// `kexecctl generate-docs --out DIR`: for packaging only, so it is kept
/// out of the CLI's definition (and so out of its help, man page and
/// completions).
#[derive(Debug, Parser)]
#[command(name = "kexecctl generate-docs")]
struct DocsCli {
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Config(_) => "config",
            Command::Load { .. } => "load",
            Command::Unload => "unload",
            Command::Exec { .. } => "exec",
            Command::Status { .. } => "status",
            Command::Arm => "arm",
            Command::Confirm => "confirm",
            Command::ClearQuarantine => "clear-quarantine",
            Command::KexecLoad(_) => "kexec-load",
            Command::ColdReboot(_) => "coldreboot",
            Command::KdumpSetup(_) => "kdump-setup",
            Command::FastReboot(_) => "fastreboot",
        }
    }
}

pub fn main(args: Vec<OsString>, system: &dyn System) -> i32 {
    if args.get(1).is_some_and(|a| a == "generate-docs") {
        let docs: DocsCli = match cli::parse(args[1..].to_vec(), None) {
            Ok(docs) => docs,
            Err(code) => return code,
        };
        return match crate::cli::docs::generate(&docs.out) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("kexecctl: {e}");
                e.code.code()
            }
        };
    }
    cli::parse_then(args, None, |cli: Cli| run(cli, system))
}

fn run(cli: Cli, system: &dyn System) -> i32 {
    if cli.list {
        for p in Personality::PERSONALITIES {
            println!("{}", p.name());
        }
        return 0;
    }
    let Some(command) = cli.command else {
        return 2; // arg_required_else_help has printed the help
    };
    // Personalities reached through clap (`kexecctl help` and completions
    // know them); dispatch normally sends them to their own parser.
    match &command {
        Command::KexecLoad(c) => return kexec_load::run(&cli.global, c, system),
        Command::KdumpSetup(c) => return kdump_setup::run(&cli.global, c, system),
        Command::FastReboot(c) => return fastreboot::run(&cli.global, c, system),
        Command::ColdReboot(c) => return coldreboot::run(&cli.global, c, system),
        _ => {}
    }
    let name = format!("kexecctl {}", command.name());
    cli::run_command(
        Personality::Kexecctl,
        &cli.global,
        &name,
        match command {
            Command::Load { .. }
            | Command::Unload
            | Command::Exec { .. }
            | Command::Confirm
            | Command::ClearQuarantine => Access::Changes,
            // `arm` is the last act before systemd's own kexec: it writes
            // nothing and must not wait behind anything.
            _ => Access::Reads,
        },
        system,
        |ctx, out| match command {
            Command::Config(c) => crate::cli::config::run(&c, ctx, out),
            Command::Load { force } => load(ctx, out, system, force),
            Command::Unload => unload(ctx, out, system),
            Command::Exec { force } => exec(ctx, out, system, force),
            Command::Status {
                expect_next,
                expect_booted,
            } => status(ctx, out, expect_next, expect_booted),
            Command::Arm => arm(ctx, out, system),
            Command::Confirm => confirm(ctx, out, system),
            Command::ClearQuarantine => clear_quarantine(ctx, out, system),
            _ => unreachable!("personalities are handled above"),
        },
    )
}

fn load(ctx: &Ctx, out: &Output, system: &dyn System, force: bool) -> Result<i32> {
    let facts = Facts::read(ctx);
    let settings = KexecSettings::read(&ctx.root)?;
    let wanted = (settings.enabled() || force) && settings.use_grub();
    let boot = cli::boot_choice(ctx, &facts, wanted)?;
    let plan = plan::reboot::load_now(&settings, &facts, &boot, force)?;
    let plan = cli::guarded_load(ctx, plan, &settings, &facts)?;
    cli::show_and_act(ctx, out, "kexecctl load", &plan, &facts, system)?;
    if plan.action == Action::Skip && !ctx.dry_run {
        out.line(format!(
            "not loading a kernel: {}",
            plan.reason.as_deref().unwrap_or("")
        ));
    }
    if let (Some(load), false) = (&plan.load, ctx.dry_run) {
        match &load.entry {
            Some(e) => out.line(format!("loaded {} ({})", load.kernel.display(), e.path)),
            None => out.line(format!("loaded {}", load.kernel.display())),
        }
    }
    Ok(0)
}

fn unload(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let plan = plan::guard::cancel_attempt(plan::reboot::unload(&facts), &facts);
    cli::show_and_act(ctx, out, "kexecctl unload", &plan, &facts, system)?;
    Ok(0)
}

fn exec(ctx: &Ctx, out: &Output, system: &dyn System, force: bool) -> Result<i32> {
    let facts = Facts::read(ctx);
    let settings = KexecSettings::read(&ctx.root)?;
    let plan = plan::reboot::exec(&settings, &facts, force);
    let plan = plan::guard::guard_exec(plan, &settings.guard()?, &facts);
    if plan.action == Action::Skip && !ctx.dry_run {
        out.line(format!(
            "not restarting with kexec: {}",
            plan.reason.as_deref().unwrap_or("")
        ));
    } else if !ctx.dry_run {
        out.line("Will now restart with kexec.");
        armed_line(out, &plan);
    }
    cli::show_and_act(ctx, out, "kexecctl exec", &plan, &facts, system)?;
    Ok(0)
}

/// Says, on the console of a shutting-down machine, what the guard is
/// about to arm (the jump follows at once, so nothing can be said after).
fn armed_line(out: &Output, plan: &plan::Plan) {
    for step in &plan.steps {
        if let plan::Step::ArmWatchdog {
            device,
            timeout_sec,
            ..
        } = step
        {
            out.line(format!(
                "Arming the watchdog {} for {timeout_sec} s: unless the new system confirms the \
                 kexec, it resets the machine through the firmware.",
                device.display()
            ));
        }
    }
}

fn arm(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let settings = KexecSettings::read(&ctx.root)?;
    let plan = plan::guard::arm(&settings.guard()?, &facts);
    if !ctx.dry_run {
        armed_line(out, &plan);
    }
    cli::show_and_act(ctx, out, "kexecctl arm", &plan, &facts, system)?;
    Ok(0)
}

fn confirm(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let plan = plan::guard::confirm(&facts);
    match plan.action {
        // Loud: the journal gets it at error priority.
        Action::Quarantine => log::error!("{}", plan.reason.as_deref().unwrap_or("")),
        _ if !ctx.dry_run => out.line(plan.reason.as_deref().unwrap_or("")),
        _ => {}
    }
    cli::show_and_act(ctx, out, "kexecctl confirm", &plan, &facts, system)?;
    Ok(0)
}

fn clear_quarantine(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let plan = plan::guard::clear_quarantine(&facts);
    if !ctx.dry_run {
        out.line(plan.reason.as_deref().unwrap_or(""));
    }
    cli::show_and_act(ctx, out, "kexecctl clear-quarantine", &plan, &facts, system)?;
    Ok(0)
}

/// `kexecctl status --json`.
#[derive(Debug, Serialize)]
struct Kexec<'a> {
    loaded: bool,
    /// What kexecctl recorded loading (null when not loaded, or loaded by
    /// another tool).
    record: Option<&'a LoadedRecord>,
}

/// `guard` in `kexecctl status --json`.
#[derive(Debug, Serialize)]
struct GuardStatus<'a> {
    #[serde(flatten)]
    readiness: &'a plan::guard::Readiness,
    systemd: &'a crate::facts::systemd::SystemdWatchdog,
}

/// The guard, the way this boot came up, and the quarantine, as text.
fn status_guard_lines(
    out: &Output,
    guard: &Result<(
        crate::config::settings::GuardSettings,
        plan::guard::Readiness,
    )>,
    last_boot: &plan::guard::LastBoot,
    facts: &Facts,
) {
    match guard {
        Err(e) => out.line(format!("kexec guard:   unknown: {e}")),
        Ok((_, r)) if !r.enabled => {
            out.line("kexec guard:   off (KEXECCTL_WATCHDOG_TIMEOUT is not set)");
        }
        Ok((_, r)) => {
            let device = r
                .device
                .as_ref()
                .map_or("no device".to_string(), |d| d.display().to_string());
            out.line(format!(
                "kexec guard:   {}: {} s on {}{}; {}",
                if r.ready { "ready" } else { "NOT READY" },
                r.timeout_sec.unwrap_or(0),
                device,
                r.driver
                    .as_ref()
                    .map_or(String::new(), |d| format!(" ({d})")),
                if r.required {
                    "a kexec it cannot guard is refused"
                } else {
                    "a kexec it cannot guard only warns"
                }
            ));
            for f in &r.problems {
                out.line(format!("  problem:     {}", f.why));
                out.line(format!("  fix:         {}", f.fix));
            }
            if let Some(why) = &r.survives_kexec {
                out.line(format!("  survives:    {why}"));
            }
            if let Some(covers) = &r.covers {
                out.line(format!("  covers:      {covers}"));
            }
            for note in &r.notes {
                out.line(format!("  note:        {note}"));
            }
        }
    }
    out.line(format!(
        "this boot:     via {}{}",
        last_boot.via,
        match (&last_boot.attempt_id, last_boot.confirmed) {
            (Some(id), Some(true)) => format!(" (attempt {id}, confirmed)"),
            (Some(id), Some(false)) => format!(" (attempt {id}, NOT confirmed yet)"),
            (Some(id), None) => format!(" (attempt {id}, no record of it)"),
            (None, _) => String::new(),
        }
    ));
    if let Some(f) = &last_boot.failed_attempt {
        out.line(format!(
            "FAILED KEXEC:  attempt {} into {} never confirmed{}",
            f.id,
            f.kernel.display(),
            match f.watchdog_reset {
                Some(true) => "; the watchdog reset the machine",
                Some(false) => "; the watchdog did not reset the machine",
                None => "",
            }
        ));
    }
    for q in &facts.attempts.quarantine {
        out.line(format!(
            "quarantined:   {} (attempt {}): `kexecctl clear-quarantine` lets it kexec again",
            q.kernel.display(),
            q.attempt_id
        ));
    }
}

#[derive(Debug, Serialize)]
struct Crash {
    supported: bool,
    loaded: bool,
    reserved_mib: Option<u64>,
}

#[derive(Debug, Serialize)]
struct SystemFacts<'a> {
    release: Option<&'a str>,
    boot_id: Option<&'a str>,
    init: &'a InitSystem,
    kexec_load_disabled: bool,
    lockdown: Option<&'a str>,
    secure_boot: Option<bool>,
}

/// An `--expect-*` value: empty means any release.
fn wanted(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn status(
    ctx: &Ctx,
    out: &Output,
    expect_next: Option<String>,
    expect_booted: Option<String>,
) -> Result<i32> {
    let facts = Facts::read(ctx);
    let settings = KexecSettings::read(&ctx.root);
    let guard = settings
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|s| cli::guard_readiness(s, &facts));
    let (next, settings_error) = match settings {
        Ok(settings) => {
            let stop_runs = match facts.init {
                InitSystem::Systemd { .. } => {
                    init::systemd_unit_enabled(&ctx.root, "kexec-load.service")
                }
                InitSystem::Sysvinit { .. } => init::sysv_stop_link(&ctx.root, "kexec-load"),
            };
            // What kexec-load stop would load if the system rebooted now.
            let intent = RebootIntent::Rebooting("status: as if rebooting".into());
            let planned = cli::boot_choice(
                ctx,
                &facts,
                plan::reboot::needs_boot_entry(&settings, &facts, &intent),
            )
            .and_then(|boot| plan::reboot::load_for_reboot(&settings, &facts, &intent, &boot))
            .and_then(|plan| cli::guarded_load(ctx, plan, &settings, &facts))
            // The checks kexec-load runs on the image before loading it (its
            // format, the command line's room in it, lockdown): a kernel they
            // refuse makes the next reboot a firmware one, and an orchestrator's
            // pre-check should hear it before the reboot, not after.
            .and_then(|plan| crate::act::prepare(ctx, &plan, &facts).map(|_| plan));
            (
                plan::reboot::next_reboot(&settings, &facts, stop_runs, &planned),
                None,
            )
        }
        Err(e) => (
            plan::reboot::NextReboot {
                via: "firmware",
                kernel: None,
                release: None,
                cmdline: None,
                entry: None,
                reason: format!("the configuration cannot be read: {e}"),
            },
            Some(e),
        ),
    };
    let mut next = next;
    if next.via == "kexec" {
        next.release = next
            .kernel
            .as_ref()
            .and_then(|k| crate::facts::running::image_release(&ctx.root, k));
    }
    let record = facts.record.as_ref().filter(|_| facts.kexec.loaded);
    let mib = facts.kexec.crash_size.map(|b| b / (1024 * 1024));
    out.put(
        "kexec",
        Kexec {
            loaded: facts.kexec.loaded,
            record,
        },
    );
    out.put(
        "crash",
        Crash {
            supported: facts.kexec.crash_supported,
            loaded: facts.kexec.crash_loaded,
            reserved_mib: mib,
        },
    );
    out.put("next_reboot", &next);
    out.put(
        "system",
        SystemFacts {
            release: facts.release.as_deref().ok(),
            boot_id: facts.boot_id.as_deref(),
            init: &facts.init,
            kexec_load_disabled: facts.kexec.load_disabled,
            lockdown: facts.kexec.lockdown.as_deref(),
            secure_boot: facts.kexec.secure_boot,
        },
    );
    let last_boot = plan::guard::last_boot(&facts);
    out.put("last_boot", &last_boot);
    out.put("quarantine", &facts.attempts.quarantine);
    match &guard {
        Ok((_, r)) => out.put(
            "guard",
            GuardStatus {
                readiness: r,
                systemd: &facts.watchdog.systemd,
            },
        ),
        Err(_) => out.put("guard", serde_json::Value::Null),
    }
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    match (facts.kexec.loaded, record) {
        (true, Some(r)) => {
            out.line(format!("kexec kernel:  loaded: {}", r.kernel.display()));
            out.line(format!("  cmdline:     {}", r.cmdline));
            if let Some(entry) = &r.entry {
                out.line(format!("  entry:       {entry}"));
            }
        }
        (true, None) => out.line("kexec kernel:  loaded (not by kexecctl: no record of what)"),
        (false, _) => out.line("kexec kernel:  not loaded"),
    }
    match &next.kernel {
        Some(k) if next.via == "kexec" => {
            out.line(format!(
                "next reboot:   kexec into {}{}",
                k.display(),
                next.release
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            ));
        }
        _ => out.line(format!("next reboot:   {}", next.via)),
    }
    out.line(format!("  why:         {}", next.reason));
    out.line(format!(
        "crash kernel:  {}{}",
        if facts.kexec.crash_loaded {
            "loaded"
        } else {
            "not loaded"
        },
        match mib {
            Some(n) => format!(", {n} MiB reserved"),
            None => ", reservation unknown".into(),
        }
    ));
    out.line(format!(
        "running:       {}",
        facts.release.as_deref().unwrap_or("unknown")
    ));
    out.line(format!(
        "lockdown:      {}; secure boot: {}; kexec_load_disabled: {}",
        facts.kexec.lockdown.as_deref().unwrap_or("unknown"),
        facts.kexec.secure_boot.map_or("unknown", yes_no),
        yes_no(facts.kexec.load_disabled)
    ));
    status_guard_lines(out, &guard, &last_boot, &facts);
    if let Some(e) = settings_error {
        log::warn!("{e}");
    }
    let mut expectations = Vec::new();
    if expect_next.is_some() {
        expectations.push(plan::expect::next(&next, wanted(&expect_next)));
    }
    if expect_booted.is_some() {
        expectations.push(plan::expect::booted(&last_boot, wanted(&expect_booted)));
    }
    if expectations.is_empty() {
        return Ok(if facts.kexec.loaded { 0 } else { 3 });
    }
    for e in &expectations {
        out.line(format!(
            "{:<15}{}: {}",
            format!("expect {}:", e.check),
            if e.met { "met" } else { "NOT MET" },
            e.reason
        ));
    }
    out.put("expect", &expectations);
    // The first unmet expectation ends the check; one that is only pending
    // (exit 3) gives way to one that failed for good (exit 1).
    let mut unmet: Vec<&plan::expect::Expectation> =
        expectations.iter().filter(|e| !e.met).collect();
    unmet.sort_by_key(|e| e.pending);
    match unmet.first().and_then(|e| e.error()) {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
