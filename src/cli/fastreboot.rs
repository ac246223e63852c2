//! `fastreboot`: a one-shot kexec reboot into the running kernel (or, with
//! `--default`, the boot loader's default entry), after the dialogue of the
//! script it replaces: "Do you want to perform a fast reboot (without
//! hardware reboot) ? (y/n)".

use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::{Args, Parser};

use crate::cli::output::Output;
use crate::cli::personality::Personality;
use crate::cli::{self, Access, GlobalArgs};
use crate::config::settings::KexecSettings;
use crate::context::Ctx;
use crate::error::{Error, Result};
use crate::facts::Facts;
use crate::facts::files::FileTable;
use crate::plan::{self, Action, fastreboot::Request};
use crate::system::System;

const QUESTION: &str = "Do you want to perform a fast reboot (without hardware reboot) ? (y/n)";

#[derive(Debug, Clone, Args)]
pub struct Command {
    /// Do not ask; needed when not run from a terminal.
    #[arg(short, long)]
    pub yes: bool,

    /// Boot the boot loader's default entry instead of the running kernel.
    #[arg(long)]
    pub default: bool,

    /// Remove this parameter (whole token or key=value) from the command
    /// line; repeatable; replaces the default list.
    #[arg(long, value_name = "WORD", default_values = ["rhgb", "quiet"])]
    pub remove: Vec<String>,

    /// Append this text to the command line.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub append: String,
}

#[derive(Debug, Parser)]
#[command(
    name = "fastreboot",
    version,
    about = "Reboot now into the running (or default) kernel via kexec, skipping the firmware",
    long_about = "Reboot now through kexec, skipping the firmware: load the running kernel \
        (or, with --default, the boot loader's default entry) with its command line \
        (rhgb and quiet removed), then ask the init system for a clean kexec reboot: \
        `systemctl kexec` under systemd, `reboot` on sysvinit."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub command: Command,
}

pub fn main(args: Vec<OsString>, system: &dyn System) -> i32 {
    cli::parse_then(args, None, |cli: Cli| {
        run(&cli.global, &cli.command, system)
    })
}

pub fn run(global: &GlobalArgs, command: &Command, system: &dyn System) -> i32 {
    cli::run_command(
        Personality::FastReboot,
        global,
        "fastreboot",
        Access::Changes,
        system,
        |ctx, out| fast_reboot(ctx, out, command, system),
    )
}

fn confirm(out: &Output) -> Result<bool> {
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return Err(Error::usage(
            "refusing to reboot without confirmation: standard input is not a terminal \
             (use --yes)",
        ));
    }
    out.partial(format!("{QUESTION} "));
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::failure(format!("reading the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

fn fast_reboot(ctx: &Ctx, out: &Output, command: &Command, system: &dyn System) -> Result<i32> {
    let facts = Facts::read(ctx);
    let request = Request {
        default_entry: command.default,
        remove: command.remove.clone(),
        append: command.append.clone(),
    };
    let boot = cli::boot_choice(ctx, &facts, request.default_entry)?;
    let files = FileTable::stat(&ctx.root, plan::fastreboot::paths_to_look_at(&facts));
    let plan = plan::fastreboot::plan(&request, &facts, &boot, &files)?;
    let settings = KexecSettings::read(&ctx.root)?;
    let plan = cli::guarded_load(ctx, plan, &settings, &facts)?;
    if plan.action == Action::Skip {
        // Quarantined, or the guard refuses: an explicit request fails.
        return Err(Error::failure(format!(
            "not rebooting: {}",
            plan.reason.as_deref().unwrap_or("")
        )));
    }
    // Checked before asking: a bad kernel fails without a question.
    let prepared = cli::show(ctx, out, "fastreboot", &plan, &facts)?;
    if !ctx.dry_run && !command.yes && !confirm(out)? {
        out.line("Fast reboot cancelled");
        out.put("cancelled", true);
        return Ok(0);
    }
    let outcome = cli::act(ctx, out, &plan, &facts, prepared, system)?;
    Ok(outcome.status.unwrap_or(0))
}
