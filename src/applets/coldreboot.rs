//! `coldreboot`: not implemented yet (see the project's issues).

use std::ffi::OsString;

use clap::Parser;

use crate::applet::Applet;
use crate::cli::{self, Exit, GlobalArgs, Status};
use crate::error::{Error, ExitCode};

#[derive(Debug, Parser)]
#[command(name = "coldreboot", version)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// Arguments of the legacy command.
    pub args: Vec<String>,
}

pub fn main(args: Vec<OsString>) -> Result<Status, Exit> {
    let (_args, _ctx) = cli::start::<Args>(Applet::ColdReboot, args, |a| &a.global)?;
    Err(Error::new(ExitCode::Unimplemented, "not implemented yet").into())
}
