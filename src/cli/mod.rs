//! The command-line front end: which personality runs ([`personality`]),
//! the clap definitions of each (one file per personality), the options
//! they share, logging, and the one output path ([`output`]). Each command
//! reads like the others: parse → read facts → plan → show → act. Nothing
//! below this folder imports it.

pub mod coldreboot;
pub mod config;
pub mod docs;
pub mod fastreboot;
pub mod kdump_setup;
pub mod kexec_load;
pub mod kexecctl;
pub mod output;
pub mod personality;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser};

use crate::act::{self, Outcome};
use crate::boot;
use crate::config::settings::{GuardSettings, KexecSettings};
use crate::context::Ctx;
use crate::error::{Error, ExitCode, Result};
use crate::facts::attempt::KernelId;
use crate::facts::{Facts, InitSystem};
use crate::loader::Prepared;
use crate::plan::Plan;
use crate::plan::guard::{self, Readiness};
use crate::plan::reboot::BootChoice;
use crate::root::Root;
use crate::system::System;
use output::Output;
use personality::{Dispatch, Personality};

/// Options accepted by every personality, anywhere on the command line.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Resolve every system path (etc/, boot/, proc/, sys/, run/, var/)
    /// beneath DIR, symlinks included: for chroots, images and tests.
    /// Programs of DIR run only chrooted into it; commands that load, unload
    /// or reboot change this machine and need the running system (/).
    #[arg(long, value_name = "DIR", default_value = "/", global = true)]
    pub root: PathBuf,

    /// Print what would be done, after the same checks; never load, unload,
    /// write, run a program or reboot.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Print the result as one JSON object (docs/json-schema.json), errors
    /// included.
    #[arg(long, global = true)]
    pub json: bool,

    /// More messages (-v: decisions, -vv: debugging); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Fewer messages (-q: errors only, -qq: none but the final error).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
}

/// Runs the program with this argument vector on `system`; returns the exit
/// code.
pub fn main(args: Vec<OsString>, system: &dyn System) -> i32 {
    match personality::dispatch(args) {
        Dispatch::Unknown(name) => {
            eprintln!("kexecctl: unknown personality `{name}`; known names:");
            for p in Personality::PERSONALITIES
                .into_iter()
                .chain([Personality::Kexecctl])
            {
                eprintln!("  {:<12} {}", p.name(), p.summary());
            }
            ExitCode::Usage.code()
        }
        Dispatch::Run(personality, args) => match personality {
            Personality::Kexecctl => kexecctl::main(args, system),
            Personality::KexecLoad => kexec_load::main(args, system),
            Personality::ColdReboot => coldreboot::main(args, system),
            Personality::KdumpSetup => kdump_setup::main(args, system),
            Personality::FastReboot => fastreboot::main(args, system),
        },
    }
}

fn init_logging(personality: &'static str, global: &GlobalArgs) {
    use log::LevelFilter;
    let level = match (global.verbose, global.quiet) {
        (0, 0) => LevelFilter::Warn,
        (0, 1) => LevelFilter::Error,
        (0, _) => LevelFilter::Off,
        (1, _) => LevelFilter::Info,
        (2, _) => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    // No timestamps or module paths: journald adds its own, and admins read
    // these lines. Only our own crate logs. When stderr is the journal, a
    // `<N>` prefix gives each line its syslog priority (systemd's
    // SyslogLevelPrefix=, on by default), so errors are found with `-p err`.
    let journal = stderr_is_journal();
    let _ = env_logger::Builder::new()
        .filter_level(LevelFilter::Off)
        .filter_module("kexecctl", level)
        .parse_default_env()
        .format(move |buf, record| {
            let level = match record.level() {
                log::Level::Error => "error: ",
                log::Level::Warn => "warning: ",
                _ => "",
            };
            let priority = if journal {
                journal_priority(record.level())
            } else {
                ""
            };
            writeln!(buf, "{priority}{personality}: {level}{}", record.args())
        })
        .try_init();
}

/// The `<N>` syslog priority prefix of a line at `level` (SyslogLevelPrefix=).
pub fn journal_priority(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "<3>",
        log::Level::Warn => "<4>",
        log::Level::Info => "<6>",
        _ => "<7>",
    }
}

/// Whether stderr is connected to systemd's journal: `$JOURNAL_STREAM`
/// names the stream's device and inode, and stderr must still be it (a
/// redirection in between makes it something else).
pub fn stderr_is_journal() -> bool {
    static JOURNAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *JOURNAL.get_or_init(stderr_is_journal_now)
}

fn stderr_is_journal_now() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr()) else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(stat.st_dev) && ino.parse::<u64>().ok() == Some(stat.st_ino)
}

/// How an unknown action is answered: the legacy script's usage line and
/// exit code (Debian's kexec-load: 3; kdumpctl: 1).
pub struct ActionUsage {
    pub text: &'static str,
    pub code: i32,
}

/// Parses `args` with clap; clap's own messages are printed here. `Err`
/// carries the exit code when parsing ends the program.
pub fn parse<P: Parser>(
    args: Vec<OsString>,
    usage: Option<&ActionUsage>,
) -> std::result::Result<P, i32> {
    P::try_parse_from(args).map_err(|e| {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        if let (ErrorKind::InvalidValue, Some(usage)) = (e.kind(), usage) {
            let on_action = matches!(e.get(ContextKind::InvalidArg),
                Some(ContextValue::String(arg)) if arg.contains("ACTION"));
            if on_action {
                output::usage(usage.text);
                return usage.code;
            }
        }
        let _ = e.print();
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
            _ => ExitCode::Usage.code(),
        }
    })
}

/// Parses with clap, then runs `body` with the parsed command line.
pub fn parse_then<P: Parser>(
    args: Vec<OsString>,
    usage: Option<&ActionUsage>,
    body: impl FnOnce(P) -> i32,
) -> i32 {
    match parse(args, usage) {
        Ok(parsed) => body(parsed),
        Err(code) => code,
    }
}

/// How long a command waits for another one holding the lock: bounded,
/// so that a stuck command cannot hold a shutdown.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a command changes the system (and so takes the lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Reads,
    Changes,
}

/// Runs one command of a personality: logging, the context and the output,
/// the lock for a command that changes the system, then `body`, whose
/// result (or error) is printed once.
pub fn run_command(
    personality: Personality,
    global: &GlobalArgs,
    command: &str,
    access: Access,
    system: &dyn System,
    body: impl FnOnce(&Ctx, &Output) -> Result<i32>,
) -> i32 {
    let (ctx, out) = match start(personality, global, command, system) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if access == Access::Changes && !ctx.dry_run {
        let path = ctx.root.host(crate::context::LOCK_PATH);
        match system.lock(&path, LOCK_WAIT) {
            Ok(lock) => *ctx.lock.borrow_mut() = Some(lock),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return out.finish(personality.name(), Err(Error::failure(e.to_string())));
            }
            // A read-only /run must not stop a reboot: go on unserialised.
            Err(e) => log::warn!(
                "cannot take the lock {}: {e}; going on without it",
                crate::context::LOCK_PATH
            ),
        }
    }
    let result = body(&ctx, &out);
    out.finish(personality.name(), result)
}

/// The common start of every personality: logging, the context, the
/// output. A `--root` that is not a directory is a usage error.
pub fn start(
    personality: Personality,
    global: &GlobalArgs,
    command: &str,
    system: &dyn System,
) -> std::result::Result<(Ctx, Output), i32> {
    init_logging(personality.name(), global);
    let out = Output::new(command, global.json, global.dry_run);
    if !global.root.is_dir() {
        let e = Error::usage(format!("--root {}: not a directory", global.root.display()));
        return Err(out.finish(personality.name(), Err(e)));
    }
    let ctx = Ctx::new(
        Root::new(&global.root),
        global.dry_run,
        system.stands_in_for_root(),
    );
    Ok((ctx, out))
}

/// GRUB's (or BLS's) default entry, when `wanted`.
pub fn boot_choice(ctx: &Ctx, facts: &Facts, wanted: bool) -> Result<BootChoice> {
    if !wanted {
        return Ok(BootChoice::NotAsked);
    }
    let cmdline = facts.cmdline.as_deref().unwrap_or("");
    Ok(match boot::grub_default(&ctx.root, cmdline)? {
        Some(entry) => BootChoice::Entry(Box::new(entry)),
        None => BootChoice::NoGrubConfig,
    })
}

/// The kexec guard's settings and whether it is ready, from the facts.
pub fn guard_readiness(
    settings: &KexecSettings,
    facts: &Facts,
) -> Result<(GuardSettings, Readiness)> {
    let g = settings.guard()?;
    let version = match facts.init {
        InitSystem::Systemd { version } => version,
        InitSystem::Sysvinit { .. } => None,
    };
    let r = guard::readiness(&g, &facts.watchdog, facts.init.is_systemd(), version);
    Ok((g, r))
}

/// A load for a reboot, through the kexec guard ([`guard::guard_load`]):
/// the kernel's identity is looked at for the quarantine.
pub fn guarded_load(
    ctx: &Ctx,
    plan: Plan,
    settings: &KexecSettings,
    facts: &Facts,
) -> Result<Plan> {
    if plan.load.is_none() {
        return Ok(plan);
    }
    let (g, r) = guard_readiness(settings, facts)?;
    let kernel = plan
        .load
        .as_ref()
        .and_then(|l| KernelId::stat(&ctx.root, &l.kernel));
    Ok(guard::guard_load(plan, &g, &r, facts, kernel))
}

/// Show: the plan in the output, its warnings, the checks a real run makes
/// (the load opened and checked), and for a dry run its description.
pub fn show(
    ctx: &Ctx,
    out: &Output,
    what: &str,
    plan: &Plan,
    facts: &Facts,
) -> Result<Option<Prepared>> {
    out.plan(plan);
    out.put("done", false);
    for warning in &plan.warnings {
        log::warn!("{warning}");
    }
    act::check_live(ctx, plan, what)?;
    let prepared = act::prepare(ctx, plan, facts)?;
    if let Some(p) = &prepared {
        out.put("method", &p.method);
    }
    out.describe(plan);
    Ok(prepared)
}

/// Act: carries the plan out (nothing in a dry run).
pub fn act(
    ctx: &Ctx,
    out: &Output,
    plan: &Plan,
    facts: &Facts,
    prepared: Option<Prepared>,
    system: &dyn System,
) -> Result<Outcome> {
    if ctx.dry_run {
        return Ok(Outcome::default());
    }
    let outcome = act::execute(ctx, plan, facts, prepared, system)?;
    if let Some(method) = &outcome.method {
        out.put("method", method);
    }
    out.put("done", true);
    Ok(outcome)
}

/// [`show`], then [`act`].
pub fn show_and_act(
    ctx: &Ctx,
    out: &Output,
    what: &str,
    plan: &Plan,
    facts: &Facts,
    system: &dyn System,
) -> Result<Outcome> {
    let prepared = show(ctx, out, what, plan, facts)?;
    act(ctx, out, plan, facts, prepared, system)
}
