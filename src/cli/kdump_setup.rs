//! `kdump-setup ACTION`: Red Hat's kdump service (`kdumpctl`), and Debian's
//! kdump-tools when the system has `/etc/default/kdump-tools` instead of
//! `/etc/sysconfig/kdump`. kdumpctl's messages (`kdump: Starting kdump:
//! [OK]`) go to stderr, as kdumpctl prints them.

use std::ffi::OsString;

use clap::builder::PossibleValue;
use clap::{Args, Parser};

use crate::cli::output::Output;
use crate::cli::personality::Personality;
use crate::cli::{self, Access, ActionUsage, GlobalArgs};
use crate::config;
use crate::context::Ctx;
use crate::error::Result;
use crate::facts::Facts;
use crate::facts::files::FileTable;
use crate::facts::kdump::CaptureFacts;
use crate::plan::kdump::KdumpConfig;
use crate::plan::{self, Action, Plan, Step};
use crate::system::System;

pub const USAGE: ActionUsage = ActionUsage {
    text: "Usage: kdump-setup {start|stop|status|restart|reload|condrestart|try-restart|rebuild|showmem}",
    code: 1,
};

fn actions() -> [PossibleValue; 9] {
    [
        PossibleValue::new("start").help("arm kdump: load the crash kernel"),
        PossibleValue::new("stop").help("unload the crash kernel"),
        PossibleValue::new("status").help("exit 0 when kdump is operational, 3 when not"),
        PossibleValue::new("restart").help("stop, then start"),
        PossibleValue::new("reload").help("load again, without rebuilding the initrd"),
        PossibleValue::new("condrestart").help("restart when a crash kernel is loaded"),
        PossibleValue::new("try-restart").help("restart when a crash kernel is loaded"),
        PossibleValue::new("rebuild").help("rebuild the kdump initrd (Red Hat), do not load"),
        PossibleValue::new("showmem").help("the memory reserved for the crash kernel"),
    ]
}

#[derive(Debug, Clone, Args)]
pub struct Command {
    /// start | stop | status | restart | reload | condrestart | try-restart | rebuild | showmem
    #[arg(value_name = "ACTION", value_parser = actions())]
    pub action: Option<String>,
}

#[derive(Debug, Parser)]
#[command(
    name = "kdump-setup",
    version,
    about = "Arm kdump: load the crash kernel (Red Hat's kdump service, Debian's kdump-tools)",
    long_about = "Arm kdump as Red Hat's kdumpctl does (capture kernel, kdump initrd built \
        with mkdumprd when missing or stale, and command line from /etc/sysconfig/kdump) or \
        as Debian's kdump-config does from /etc/default/kdump-tools, and load the crash \
        kernel with kexec_file_load.",
    after_help = "Actions: start, stop, status (0 operational, 3 not), restart, reload, \
                  condrestart/try-restart, rebuild (the kdump initrd), showmem."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub command: Command,
}

pub fn main(args: Vec<OsString>, system: &dyn System) -> i32 {
    cli::parse_then(args, Some(&USAGE), |cli: Cli| {
        run(&cli.global, &cli.command, system)
    })
}

pub fn run(global: &GlobalArgs, command: &Command, system: &dyn System) -> i32 {
    let action = command.action.as_deref().unwrap_or("");
    let name = format!("kdump-setup {action}");
    cli::run_command(
        Personality::KdumpSetup,
        global,
        &name,
        if matches!(action, "status" | "showmem") {
            Access::Reads
        } else {
            Access::Changes
        },
        system,
        |ctx, out| match action {
            "start" => start(ctx, out, system, false),
            "stop" => stop(ctx, out, system),
            "status" => Ok(status(ctx, out)),
            "restart" => restart(ctx, out, system),
            "reload" => start(ctx, out, system, true),
            "condrestart" | "try-restart" => {
                if Facts::read(ctx).kexec.crash_loaded {
                    restart(ctx, out, system)
                } else {
                    Ok(0)
                }
            }
            "rebuild" => rebuild(ctx, out, system),
            "showmem" => Ok(showmem(ctx, out)),
            _ => {
                cli::output::usage(USAGE.text);
                Ok(USAGE.code)
            }
        },
    )
}

/// Reads the kdump configuration and the files its planner asks about,
/// then plans with `planner`.
fn with_kdump_config(
    ctx: &Ctx,
    facts: &Facts,
    planner: impl FnOnce(&KdumpConfig, &CaptureFacts, &FileTable) -> Result<Plan>,
) -> Result<Plan> {
    let (family, config, policy) = config::kdump::read(&ctx.root)?;
    let cfg = KdumpConfig {
        family,
        config: &config,
        policy,
        chroot: crate::act::chroot_dir(ctx),
    };
    let capture = crate::facts::kdump::read(
        &ctx.root,
        &plan::kdump::capture_versions(&cfg, facts),
        facts.release.as_deref().ok(),
    );
    let paths = plan::kdump::paths_to_look_at(&cfg, facts, &capture);
    let files = FileTable::stat(&ctx.root, paths);
    planner(&cfg, &capture, &files)
}

/// The plan of `start` (or `reload`).
fn start_plan(ctx: &Ctx, facts: &Facts, reload: bool) -> Result<Plan> {
    with_kdump_config(ctx, facts, |cfg, capture, files| {
        plan::kdump::start(cfg, facts, capture, files, reload)
    })
}

fn start(ctx: &Ctx, out: &Output, system: &dyn System, reload: bool) -> Result<i32> {
    let facts = Facts::read(ctx);
    if reload && !facts.kexec.crash_loaded {
        out.message("kdump: Kdump was not running: [WARNING]");
    }
    // Whether kdump was started (kdumpctl says [OK] only then).
    let result = start_plan(ctx, &facts, reload).and_then(|plan| {
        if plan.action == Action::Skip {
            out.plan(&plan);
            if facts.kexec.crash_loaded {
                out.message("kdump: Kdump already running: [WARNING]");
            } else {
                log::info!("{}", plan.reason.as_deref().unwrap_or(""));
            }
            out.describe(&plan);
            return Ok(false);
        }
        let prepared = cli::show(ctx, out, "kdump-setup start", &plan, &facts)?;
        for step in &plan.steps {
            if let (Step::BuildInitrd { initrd, .. }, false) = (step, ctx.dry_run) {
                out.message(format!("kdump: Rebuilding {}", initrd.display()));
            }
        }
        cli::act(ctx, out, &plan, &facts, prepared, system)?;
        Ok(true)
    });
    match result {
        Ok(true) if !ctx.dry_run => {
            out.message("kdump: Starting kdump: [OK]");
            Ok(0)
        }
        Ok(_) => Ok(0),
        Err(e) => {
            if !ctx.dry_run {
                out.message("kdump: Starting kdump: [FAILED]");
            }
            Err(e)
        }
    }
}

fn stop(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let plan = plan::kdump::stop(&facts);
    match cli::show_and_act(ctx, out, "kdump-setup stop", &plan, &facts, system) {
        Ok(_) if !ctx.dry_run => {
            out.message("kdump: Stopping kdump: [OK]");
            Ok(0)
        }
        Ok(_) => Ok(0),
        Err(e) => {
            out.message("kdump: Stopping kdump: [FAILED]");
            Err(e)
        }
    }
}

fn restart(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    if ctx.dry_run {
        // Show both halves; the start half is planned as after the stop.
        let facts = Facts::read(ctx);
        out.describe(&plan::kdump::stop(&facts));
        let mut after_stop = facts.clone();
        after_stop.kexec.crash_loaded = false;
        let plan = start_plan(ctx, &after_stop, false)?;
        out.plan(&plan);
        if plan.action != Action::Skip {
            cli::show_and_act(ctx, out, "kdump-setup restart", &plan, &after_stop, system)?;
        } else {
            out.describe(&plan);
        }
        return Ok(0);
    }
    stop(ctx, out, system)?;
    start(ctx, out, system, false)
}

fn status(ctx: &Ctx, out: &Output) -> i32 {
    let loaded = Facts::read(ctx).kexec.crash_loaded;
    out.put("operational", loaded);
    if loaded {
        out.message("kdump: Kdump is operational");
        0
    } else {
        out.message("kdump: Kdump is not operational");
        3
    }
}

fn rebuild(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let plan = with_kdump_config(ctx, &facts, |cfg, capture, files| {
        plan::kdump::rebuild(cfg, &facts, capture, files)
    })?;
    cli::show_and_act(ctx, out, "kdump-setup rebuild", &plan, &facts, system)?;
    Ok(0)
}

fn showmem(ctx: &Ctx, out: &Output) -> i32 {
    let mib = Facts::read(ctx).kexec.crash_size.unwrap_or(0) / (1024 * 1024);
    out.put("reserved_mib", mib);
    out.message(format!("kdump: Reserved {mib} MiB memory for crash kernel"));
    0
}
