//! The native CLI, `kexecctl <command>`, for admins and automation.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::applet::Applet;
use crate::applets::config::{self, ConfigArgs};
use crate::cli::{self, Exit, GlobalArgs, Status};

#[derive(Debug, Parser)]
#[command(
    name = "kexecctl",
    version,
    about = "Load, inspect and boot kexec and kdump kernels",
    after_help = "Personalities (also `kexecctl <name> ARGS...`):\n  \
        kexec-load   load the next kernel for a kexec reboot (Debian's kexec-load)\n  \
        coldreboot   reboot through the firmware, never kexec\n  \
        kdump-setup  arm kdump: load the crash kernel (Red Hat's kdump service)\n  \
        fastreboot   reboot now into the running or default kernel via kexec"
)]
pub struct Args {
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
    /// Show the variables the legacy configuration files set, as /bin/sh would.
    Config(ConfigArgs),
}

pub fn main(args: Vec<OsString>) -> Result<Status, Exit> {
    let (args, ctx) = cli::start::<Args>(Applet::Kexecctl, args, |a| &a.global)?;
    if args.list {
        for applet in Applet::PERSONALITIES {
            println!("{}", applet.name());
        }
        return Ok(0);
    }
    match args.command {
        Some(Command::Config(c)) => Ok(config::run(&c, &ctx)?),
        None => {
            use clap::CommandFactory;
            let _ = Args::command().print_help();
            Err(Exit::Code(crate::error::ExitCode::Usage.code()))
        }
    }
}
