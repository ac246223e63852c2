//! `kexec-load`: Debian's `/etc/init.d/kexec-load`, kept action for action.
//!
//! `start` does nothing; `stop` loads the kernel for the coming reboot, but
//! only when the system is really rebooting (systemd: a reboot.target job is
//! queued; sysvinit: runlevel 6), LOAD_KEXEC is `true`, no kernel is loaded
//! yet and no cold reboot was asked for. `status` is added (LSB requires it).

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use crate::applet::Applet;
use crate::cli::{self, Ctx, Exit, GlobalArgs, Status};
use crate::error::Result;
use crate::plan::{Action, Plan};
use crate::reboot::{self, Gate};
use crate::state::KexecState;
use crate::sys::{self, Kexec};

#[derive(Debug, Parser)]
#[command(
    name = "kexec-load",
    version,
    about = "Load the next kernel for a kexec reboot (Debian's /etc/init.d/kexec-load)",
    after_help = "Actions: start (nothing), stop (load for the coming reboot), status \
                  (0 = loaded, 3 = not); restart, reload and force-reload are not supported."
)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// start | stop | status
    pub action: Option<String>,
}

pub fn main(args: Vec<OsString>) -> Result<Status, Exit> {
    let (args, ctx) = cli::start::<Args>(Applet::KexecLoad, args, |a| &a.global)?;
    match args.action.as_deref() {
        Some("start") => Ok(0),
        // Debian answers these with an error message and success (#996986).
        Some(a @ ("restart" | "reload" | "force-reload")) => {
            eprintln!("Error: argument '{a}' not supported");
            Ok(0)
        }
        Some("stop") => Ok(stop(&ctx, &*sys::from_env())?),
        Some("status") => Ok(status(&ctx)),
        _ => {
            eprintln!("Usage: kexec-load start|stop|status");
            Ok(3)
        }
    }
}

fn stop(ctx: &Ctx, sys: &dyn Kexec) -> Result<Status> {
    let plan = match reboot::reboot_gate(&ctx.root) {
        Gate::NotRebooting(reason) => Plan::skip(reason),
        Gate::Rebooting => reboot::load_for_reboot(ctx)?,
    };
    if ctx.dry_run || plan.action == Action::Skip {
        reboot::show_plan(ctx, &plan)?;
        return Ok(0);
    }
    if !ctx.json {
        print!("Loading new kernel image into memory...");
        let _ = std::io::stdout().flush();
    }
    match reboot::load_plan(ctx, &plan, sys) {
        Ok(_) => {
            // The reboot goes to this entry: leave grubenv as GRUB would
            // on its way there (next_entry consumed, savedefault). A
            // failure costs that only, never the reboot.
            if let Some(update) = plan.entry.as_ref().and_then(|e| e.grubenv.as_ref()) {
                if let Err(e) = crate::boot::grubenv::apply(&ctx.root, update) {
                    log::warn!("{e}");
                }
            }
            if ctx.json {
                cli::print_json(&plan)?;
            } else {
                println!("done.");
            }
            Ok(0)
        }
        Err(e) => {
            if !ctx.json {
                println!("failed.");
            }
            Err(e)
        }
    }
}

fn status(ctx: &Ctx) -> Status {
    let state = KexecState::read(&ctx.root);
    if state.loaded {
        match reboot::read_record(&ctx.root) {
            Some(r) => println!("kexec kernel loaded: {}", r.kernel.display()),
            None => println!("kexec kernel loaded"),
        }
        0
    } else {
        println!("no kexec kernel loaded");
        3
    }
}
