//! `coldreboot [ARGS]`: the next reboot goes through the firmware.
//!
//! Debian's script drops a `/no-kexec-reboot` flag and calls `reboot`; the
//! flag can linger, a kernel loaded by hand still kexecs, and systemd 255+
//! kexecs on its own when a kernel is loaded. kexecctl unloads any kexec
//! kernel, leaves its marker on tmpfs (`/run`), and runs `reboot ARGS` with
//! `SYSTEMCTL_SKIP_AUTO_KEXEC=1`.

use std::ffi::OsString;

use clap::Parser;

use crate::applet::Applet;
use crate::cli::{self, Exit, GlobalArgs, Status};
use crate::reboot;
use crate::sys;

#[derive(Debug, Parser)]
#[command(
    name = "coldreboot",
    version,
    about = "Reboot through the firmware, never via kexec"
)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// Arguments passed on to reboot(8).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub reboot_args: Vec<String>,
}

pub fn main(args: Vec<OsString>) -> Result<Status, Exit> {
    let (args, ctx) = cli::start::<Args>(Applet::ColdReboot, args, |a| &a.global)?;
    Ok(reboot::cold_reboot(
        &ctx,
        &*sys::from_env(),
        &args.reboot_args,
    )?)
}
