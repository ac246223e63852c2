//! Command-line front end: options every personality shares, logging, and
//! the one place where errors are printed and turned into exit codes.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser};

use crate::applet::{self, Applet, Dispatch};
use crate::applets;
use crate::error::{Error, ExitCode, Result};
use crate::root::Root;

/// Options accepted by every personality.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Resolve every system path (etc/, boot/, proc/, sys/, run/, var/)
    /// beneath DIR, symlinks included: for chroots, images and tests.
    #[arg(long, value_name = "DIR", default_value = "/", global = true)]
    pub root: PathBuf,

    /// Print what would be done; never load, unload, write or reboot.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Print results as JSON for machines.
    #[arg(long, global = true)]
    pub json: bool,

    /// More messages (repeat for more); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Fewer messages (-qq: none but errors printed on exit).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
}

/// What every applet gets to work with.
pub struct Ctx {
    pub root: Root,
    pub dry_run: bool,
    pub json: bool,
}

impl Ctx {
    pub fn new(global: &GlobalArgs) -> Self {
        Ctx {
            root: Root::new(&global.root),
            dry_run: global.dry_run,
            json: global.json,
        }
    }
}

/// Outcome of an applet that succeeded: the exit code to end with. Most
/// return 0; `status` actions return 3 for "not loaded" per LSB.
pub type Status = i32;

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
    // these lines. Only our own crate logs.
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
            writeln!(buf, "{personality}: {level}{}", record.args())
        })
        .try_init();
}

/// Parses `args` with the applet's clap definition; prints clap's own
/// messages and returns the exit code when parsing ends the program.
pub fn parse<P: Parser>(args: Vec<OsString>) -> std::result::Result<P, i32> {
    P::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
            _ => ExitCode::Usage.code(),
        }
    })
}

/// Runs the program with this argument vector; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let (applet, args) = match applet::dispatch(args) {
        Dispatch::Run(applet, args) => (applet, args),
        Dispatch::Unknown(name) => {
            eprintln!("kexecctl: unknown personality `{name}`; known names:");
            for a in Applet::PERSONALITIES.into_iter().chain([Applet::Kexecctl]) {
                eprintln!("  {:<12} {}", a.name(), a.summary());
            }
            return ExitCode::Usage.code();
        }
    };
    let outcome = match applet {
        Applet::Kexecctl => applets::kexecctl::main(args),
        Applet::KexecLoad => applets::kexec_load::main(args),
        Applet::ColdReboot => applets::coldreboot::main(args),
        Applet::KdumpSetup => applets::kdump_setup::main(args),
        Applet::FastReboot => applets::fastreboot::main(args),
    };
    match outcome {
        Ok(status) => status,
        Err(Exit::Code(code)) => code,
        Err(Exit::Error(e)) => {
            eprintln!("{}: {e}", applet.name());
            e.code.code()
        }
    }
}

/// How an applet's `main` ends other than with a status.
pub enum Exit {
    /// Already reported (clap's usage and help output).
    Code(i32),
    Error(Error),
}

impl From<Error> for Exit {
    fn from(e: Error) -> Self {
        Exit::Error(e)
    }
}

/// Shared start of every applet's `main`: parse, set up logging, build Ctx.
pub fn start<P: Parser>(
    applet: Applet,
    args: Vec<OsString>,
    global: impl Fn(&P) -> &GlobalArgs,
) -> std::result::Result<(P, Ctx), Exit> {
    let parsed: P = parse(args).map_err(Exit::Code)?;
    let g = global(&parsed);
    init_logging(applet.name(), g);
    let ctx = Ctx::new(g);
    Ok((parsed, ctx))
}

/// Writes JSON to stdout, one object, pretty-printed, with a final newline.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| Error::failure(format!("writing JSON: {e}")))?;
    let _ = writeln!(out);
    Ok(())
}
