//! The native CLI, `kexecctl <command>`, for admins and automation.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::applet::Applet;
use crate::applets::config::{self, ConfigArgs};
use crate::cli::{self, Ctx, Exit, GlobalArgs, Status};
use crate::error::Result;
use crate::plan::Action;
use crate::reboot::{self, ExecOutcome};
use crate::state::KexecState;
use crate::sys;

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
    /// Load the kernel /etc/default/kexec (or GRUB's default entry) names, now.
    Load {
        /// Load even when LOAD_KEXEC is not "true".
        #[arg(long)]
        force: bool,
    },
    /// Unload the kexec kernel.
    Unload,
    /// Reboot into the loaded kernel now (sync, then kexec); the reboot-time
    /// step of /etc/init.d/kexec. Without a loaded kernel: nothing.
    Exec {
        /// Kexec even when LOAD_KEXEC is not "true".
        #[arg(long)]
        force: bool,
    },
    /// What is loaded, the crash reservation, lockdown, and what the next
    /// kexec would boot. Exit 0 when a kexec kernel is loaded, 3 when not.
    Status,
    /// Write man pages and shell completions (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
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
        Some(Command::Load { force }) => Ok(load(&ctx, force)?),
        Some(Command::Unload) => Ok(unload(&ctx)?),
        Some(Command::Exec { force }) => Ok(exec(&ctx, force)?),
        Some(Command::Status) => Ok(status(&ctx)?),
        Some(Command::GenerateDocs { out }) => {
            crate::applets::docs::generate(&out)?;
            Ok(0)
        }
        None => {
            use clap::CommandFactory;
            let _ = Args::command().print_help();
            Err(Exit::Code(crate::error::ExitCode::Usage.code()))
        }
    }
}

fn load(ctx: &Ctx, force: bool) -> Result<Status> {
    let settings = reboot::read_settings(&ctx.root)?;
    let plan = reboot::config_plan(&ctx.root, &settings, force)?;
    if ctx.dry_run || plan.action == Action::Skip {
        reboot::show_plan(ctx, &plan)?;
        return Ok(0);
    }
    if KexecState::read(&ctx.root).loaded {
        log::info!("a kexec kernel is already loaded; replacing it");
    }
    reboot::load_plan(ctx, &plan, &*sys::from_env())?;
    if ctx.json {
        cli::print_json(&plan)?;
    } else {
        let kernel = plan.kernel.as_ref().map(|k| k.display().to_string());
        match &plan.entry {
            Some(e) => println!("loaded {} ({})", kernel.unwrap_or_default(), e.path),
            None => println!("loaded {}", kernel.unwrap_or_default()),
        }
    }
    Ok(0)
}

/// The JSON answer of `unload` and `exec`.
#[derive(serde::Serialize)]
struct ActionOut<'a> {
    action: &'a str,
    reason: Option<String>,
    dry_run: bool,
}

fn unload(ctx: &Ctx) -> Result<Status> {
    if !ctx.dry_run {
        reboot::unload(&ctx.root, &*sys::from_env())?;
    }
    if ctx.json {
        cli::print_json(&ActionOut {
            action: "unload",
            reason: None,
            dry_run: ctx.dry_run,
        })?;
    } else if ctx.dry_run {
        println!("would unload the kexec kernel");
    }
    Ok(0)
}

fn exec(ctx: &Ctx, force: bool) -> Result<Status> {
    let say = |action: &str, reason: Option<String>, text: String| -> Result<Status> {
        if ctx.json {
            cli::print_json(&ActionOut {
                action,
                reason,
                dry_run: ctx.dry_run,
            })?;
        } else {
            println!("{text}");
        }
        Ok(0)
    };
    if !ctx.json && !ctx.dry_run {
        println!("Will now restart with kexec.");
    }
    match reboot::exec(ctx, &*sys::from_env(), force)? {
        ExecOutcome::Nothing(reason) => say(
            "nothing",
            Some(reason.clone()),
            format!("not restarting with kexec: {reason}"),
        ),
        ExecOutcome::WouldExec => say(
            "exec",
            None,
            "would sync and reboot into the loaded kernel".into(),
        ),
    }
}

#[derive(serde::Serialize)]
struct StatusOut {
    #[serde(flatten)]
    state: KexecState,
    /// What kexecctl loaded (recorded under /run), when it did.
    loaded_by_kexecctl: Option<reboot::LoadedRecord>,
    /// What `kexec-load stop` / `kexecctl load` would load now.
    next: Option<crate::plan::Plan>,
    /// Why `next` could not be computed.
    next_error: Option<String>,
}

fn status(ctx: &Ctx) -> Result<Status> {
    let state = KexecState::read(&ctx.root);
    let (next, next_error) = match reboot::read_settings(&ctx.root)
        .and_then(|s| reboot::config_plan(&ctx.root, &s, false))
    {
        Ok(plan) => (Some(plan), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let out = StatusOut {
        loaded_by_kexecctl: if state.loaded {
            reboot::read_record(&ctx.root)
        } else {
            None
        },
        state,
        next,
        next_error,
    };
    if ctx.json {
        cli::print_json(&out)?;
    } else {
        let s = &out.state;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        println!("kexec kernel loaded:  {}", yes_no(s.loaded));
        if let Some(r) = &out.loaded_by_kexecctl {
            println!("  kernel:             {}", r.kernel.display());
            println!("  cmdline:            {}", r.cmdline);
        }
        println!("crash kernel loaded:  {}", yes_no(s.crash_loaded));
        match s.crash_size {
            Some(n) => println!("crash reservation:    {} MiB", n / (1024 * 1024)),
            None => println!("crash reservation:    unknown"),
        }
        println!("kexec_load_disabled:  {}", yes_no(s.load_disabled));
        println!(
            "lockdown:             {}",
            s.lockdown.as_deref().unwrap_or("unknown")
        );
        match s.secure_boot {
            Some(b) => println!("secure boot:          {}", yes_no(b)),
            None => println!("secure boot:          unknown"),
        }
        match (&out.next, &out.next_error) {
            (Some(plan), _) => println!(
                "next kexec:           {}",
                plan.describe().replace("would ", "")
            ),
            (None, Some(e)) => println!("next kexec:           cannot tell: {e}"),
            _ => {}
        }
    }
    Ok(if out.state.loaded { 0 } else { 3 })
}
