//! `coldreboot [OPTIONS] [REBOOT-ARGS]`: the next reboot goes through the
//! firmware.
//!
//! Debian's script drops a `/no-kexec-reboot` flag and calls `reboot`; the
//! flag can linger, a kernel loaded by hand still kexecs, and systemd 255+
//! kexecs on its own when a kernel is loaded. kexecctl unloads any kexec
//! kernel, leaves its marker on tmpfs (`/run`), and runs `reboot ARGS` with
//! `SYSTEMCTL_SKIP_AUTO_KEXEC=1`.
//!
//! kexecctl's own options are recognised wherever they appear; reboot(8)'s
//! options (`-f`, `--no-wall`, ...) and words (`now`) go to reboot, and so
//! does everything after `--`. Anything else that looks like an option is
//! an error: a mistyped `--dry-run` must never reach `reboot`.

use std::ffi::OsString;

use clap::{Args, Parser};

use crate::cli::personality::Personality;
use crate::cli::{self, Access, GlobalArgs};
use crate::error::{Error, ExitCode};
use crate::facts::Facts;
use crate::plan;
use crate::system::System;

/// reboot(8)'s options (systemd's and sysvinit's) passed on as they are.
const REBOOT_OPTIONS: &[&str] = &[
    "-f",
    "--force",
    "-n",
    "--no-sync",
    "-w",
    "--wtmp-only",
    "-d",
    "--no-wtmp",
    "--no-wall",
    "-i",
    "-p",
    "--poweroff",
    "--halt",
    "--reboot",
];

/// Our options that take a value in the next argument.
const OURS_WITH_VALUE: &[&str] = &["--root"];
const OURS: &[&str] = &[
    "--dry-run",
    "--json",
    "--verbose",
    "--quiet",
    "--help",
    "--version",
];

/// The arguments for reboot, as a subcommand of `kexecctl`.
#[derive(Debug, Clone, Args)]
pub struct Command {
    /// Passed on to reboot(8): its options (-f, --no-wall, ...) anywhere,
    /// anything else after `--`.
    #[arg(
        value_name = "REBOOT-ARGS",
        allow_hyphen_values = true,
        trailing_var_arg = true
    )]
    pub reboot_args: Vec<String>,
}

#[derive(Debug, Parser)]
#[command(
    name = "coldreboot",
    version,
    about = "Reboot through the firmware, never via kexec",
    long_about = "Reboot through the firmware (BIOS/UEFI), never via kexec: unload any loaded \
        kexec kernel, leave the one-shot marker /run/kexecctl/cold-reboot (so neither \
        kexec-load nor the exec step kexecs), then run reboot(8) with \
        SYSTEMCTL_SKIP_AUTO_KEXEC=1 (so systemd 255+ does not kexec on its own). Its exit \
        status is reboot's.",
    after_help = "kexecctl's options are recognised anywhere; reboot(8)'s options (-f, -n, -w, \
        -d, --no-wall, ...) and words are passed on, and so is everything after `--`. \
        Example: coldreboot --dry-run -f"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub command: Command,
}

fn is_ours(arg: &str) -> bool {
    OURS.contains(&arg)
        || OURS_WITH_VALUE
            .iter()
            .any(|o| arg == *o || arg.starts_with(&format!("{o}=")))
        || (arg.len() > 1
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && arg[1..].chars().all(|c| matches!(c, 'v' | 'q' | 'h' | 'V')))
}

fn is_reboot_option(arg: &str) -> bool {
    REBOOT_OPTIONS.contains(&arg)
        || (arg.len() > 1
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && arg[1..].chars().all(|c| "fnwdip".contains(c)))
}

/// Splits the command line into kexecctl's arguments (for clap) and
/// reboot's. Errors on an option that is neither.
pub fn split(args: &[OsString]) -> Result<(Vec<OsString>, Vec<String>), Error> {
    let mut ours = vec![args.first().cloned().unwrap_or_else(|| "coldreboot".into())];
    let mut reboot = Vec::new();
    let mut after_dashes = false;
    let mut i = 1;
    while i < args.len() {
        let arg = args[i]
            .to_str()
            .ok_or_else(|| Error::usage(format!("argument {:?} is not valid UTF-8", args[i])))?;
        i += 1;
        if after_dashes {
            if is_ours(arg) {
                return Err(Error::usage(format!(
                    "{arg} after `--` would be passed to reboot: put kexecctl's options before `--`"
                )));
            }
            reboot.push(arg.to_string());
        } else if arg == "--" {
            after_dashes = true;
        } else if OURS_WITH_VALUE.contains(&arg) {
            ours.push(arg.into());
            if let Some(value) = args.get(i) {
                ours.push(value.clone());
                i += 1;
            }
        } else if is_ours(arg) {
            ours.push(arg.into());
        } else if is_reboot_option(arg) || !arg.starts_with('-') {
            reboot.push(arg.to_string());
        } else {
            return Err(Error::usage(format!(
                "unknown option {arg}: not one of kexecctl's (--root, --dry-run, --json, -v, -q) \
                 nor of reboot(8) ({}); put other arguments for reboot after `--`",
                REBOOT_OPTIONS.join(" ")
            )));
        }
    }
    Ok((ours, reboot))
}

pub fn main(args: Vec<OsString>, system: &dyn System) -> i32 {
    let (ours, reboot_args) = match split(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("coldreboot: {e}");
            return ExitCode::Usage.code();
        }
    };
    cli::parse_then(ours, None, |mut cli: Cli| {
        cli.command.reboot_args = reboot_args;
        run(&cli.global, &cli.command, system)
    })
}

pub fn run(global: &GlobalArgs, command: &Command, system: &dyn System) -> i32 {
    cli::run_command(
        Personality::ColdReboot,
        global,
        "coldreboot",
        Access::Changes,
        system,
        |ctx, out| {
            let facts = Facts::read(ctx);
            let reboot = plan::reboot::reboot_program(|p| ctx.root.host(p).is_file());
            let plan = plan::reboot::cold_reboot(&facts, reboot, &command.reboot_args);
            let plan = plan::guard::cancel_attempt(plan, &facts);
            let outcome = cli::show_and_act(ctx, out, "coldreboot", &plan, &facts, system)?;
            Ok(outcome.status.unwrap_or(0))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_str(args: &[&str]) -> Result<(Vec<String>, Vec<String>), Error> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        split(&args).map(|(o, r)| {
            (
                o.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
                r,
            )
        })
    }

    #[test]
    fn test_our_options_anywhere() {
        let (ours, reboot) = split_str(&["coldreboot", "-f", "--dry-run"]).unwrap();
        assert_eq!(ours, ["coldreboot", "--dry-run"]);
        assert_eq!(reboot, ["-f"]);
        let (ours, reboot) =
            split_str(&["coldreboot", "now", "--dry-run", "--root", "/scratch"]).unwrap();
        assert_eq!(ours, ["coldreboot", "--dry-run", "--root", "/scratch"]);
        assert_eq!(reboot, ["now"]);
        let (ours, reboot) =
            split_str(&["coldreboot", "--root=/t", "-vv", "--no-wall", "-fn"]).unwrap();
        assert_eq!(ours, ["coldreboot", "--root=/t", "-vv"]);
        assert_eq!(reboot, ["--no-wall", "-fn"]);
    }

    #[test]
    fn test_unknown_options_and_ours_after_dashes_are_refused() {
        assert!(split_str(&["coldreboot", "--dry_run"]).is_err());
        assert!(split_str(&["coldreboot", "--jsn"]).is_err());
        assert!(split_str(&["coldreboot", "--", "--dry-run"]).is_err());
        let (_, reboot) = split_str(&["coldreboot", "--", "--odd", "x"]).unwrap();
        assert_eq!(reboot, ["--odd", "x"]);
    }
}
