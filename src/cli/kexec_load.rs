//! `kexec-load start|stop|status`: Debian's `/etc/init.d/kexec-load`, kept
//! action for action. `start` does nothing; `stop` loads the kernel for
//! the coming reboot (only when the system is really rebooting, LOAD_KEXEC
//! is `true`, no kernel is loaded yet and no cold reboot was asked for);
//! `status` is added (LSB requires it).

use std::ffi::OsString;

use clap::builder::PossibleValue;
use clap::{Args, Parser};

use crate::cli::personality::Personality;
use crate::cli::{self, Access, ActionUsage, GlobalArgs, output::Output};
use crate::config::settings::KexecSettings;
use crate::context::Ctx;
use crate::error::Result;
use crate::facts::{Facts, init};
use crate::plan::{self, Action};
use crate::system::System;

pub const USAGE: ActionUsage = ActionUsage {
    text: "Usage: kexec-load start|stop|status",
    code: 3,
};

fn actions() -> [PossibleValue; 6] {
    [
        PossibleValue::new("start").help("nothing (the kernel is loaded when the system stops)"),
        PossibleValue::new("stop").help("load the kernel for the coming reboot"),
        PossibleValue::new("status").help("exit 0 when a kexec kernel is loaded, 3 when not"),
        // Debian answers these with an error message and success (#996986).
        PossibleValue::new("restart").hide(true),
        PossibleValue::new("reload").hide(true),
        PossibleValue::new("force-reload").hide(true),
    ]
}

/// The action, as a subcommand of `kexecctl` or on its own.
#[derive(Debug, Clone, Args)]
pub struct Command {
    /// start | stop | status
    #[arg(value_name = "ACTION", value_parser = actions())]
    pub action: Option<String>,
}

#[derive(Debug, Parser)]
#[command(
    name = "kexec-load",
    version,
    about = "Load the next kernel for a kexec reboot (Debian's /etc/init.d/kexec-load)",
    long_about = "Load the kernel the next reboot boots through kexec, as Debian's \
        /etc/init.d/kexec-load does: at shutdown, when the system is rebooting (never on \
        poweroff or halt), LOAD_KEXEC is \"true\" in /etc/default/kexec, no kexec kernel is \
        loaded yet and no cold reboot was asked for. The kernel is GRUB's default entry \
        (USE_GRUB_CONFIG=true) or KERNEL_IMAGE, INITRD and APPEND.",
    after_help = "Actions: start (nothing), stop (load for the coming reboot), status \
                  (0 = loaded, 3 = not); restart, reload and force-reload are not supported."
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
    let name = format!("kexec-load {action}");
    cli::run_command(
        Personality::KexecLoad,
        global,
        &name,
        if action == "stop" {
            Access::Changes
        } else {
            Access::Reads
        },
        system,
        |ctx, out| match action {
            "start" => Ok(0),
            "restart" | "reload" | "force-reload" => {
                out.message(format!("Error: argument '{action}' not supported"));
                Ok(0)
            }
            "stop" => stop(ctx, out, system),
            "status" => Ok(status(ctx, out)),
            _ => {
                cli::output::usage(USAGE.text);
                Ok(USAGE.code)
            }
        },
    )
}

fn stop(ctx: &Ctx, out: &Output, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let settings = KexecSettings::read(&ctx.root)?;
    let intent = init::reboot_intent(&facts.init, ctx.live, system);
    let wanted = plan::reboot::needs_boot_entry(&settings, &facts, &intent);
    let boot = cli::boot_choice(ctx, &facts, wanted)?;
    let plan = plan::reboot::load_for_reboot(&settings, &facts, &intent, &boot)?;
    let plan = cli::guarded_load(ctx, plan, &settings, &facts)?;
    if plan.action == Action::Skip {
        log::info!(
            "not loading a kernel: {}",
            plan.reason.as_deref().unwrap_or("")
        );
        cli::show_and_act(ctx, out, "kexec-load stop", &plan, &facts, system)?;
        return Ok(0);
    }
    if !ctx.dry_run {
        out.partial("Loading new kernel image into memory...");
    }
    match cli::show_and_act(ctx, out, "kexec-load stop", &plan, &facts, system) {
        Ok(_) => {
            if !ctx.dry_run {
                out.line("done.");
            }
            Ok(0)
        }
        Err(e) => {
            if !ctx.dry_run {
                out.line("failed.");
            }
            Err(e)
        }
    }
}

fn status(ctx: &Ctx, out: &Output) -> i32 {
    let facts = Facts::read(ctx);
    out.put("loaded", facts.kexec.loaded);
    out.put("record", &facts.record);
    if facts.kexec.loaded {
        match &facts.record {
            Some(r) => out.line(format!("kexec kernel loaded: {}", r.kernel.display())),
            None => out.line("kexec kernel loaded"),
        }
        0
    } else {
        out.line("no kexec kernel loaded");
        3
    }
}
