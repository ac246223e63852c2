//! `fastreboot`: a one-shot kexec reboot into the running kernel (or, with
//! `--default`, the boot loader's default entry).
//!
//! The seed script asked "Do you want to perform a fast reboot (without
//! hardware reboot) ? (y/n)", loaded `/boot/vmlinuz-$(uname -r)` with
//! `/boot/initramfs-$(uname -r).img` and `/proc/cmdline` minus ` rhgb` and
//! ` quiet`, then ran `reboot`. This keeps the dialogue, finds the kernel on
//! Debian, Red Hat and BLS layouts, loads through the shared loader, and
//! asks the init system for a clean kexec reboot.

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

use crate::applet::Applet;
use crate::boot;
use crate::cli::{self, Ctx, Exit, GlobalArgs, Status};
use crate::config;
use crate::error::{Error, Result};
use crate::kdump;
use crate::loader::{self, LoadSpec};
use crate::reboot::{KEXEC_REQUESTED, proc_cmdline};
use crate::root::Root;
use crate::state::KexecState;
use crate::sys::{self, Kexec};

const QUESTION: &str = "Do you want to perform a fast reboot (without hardware reboot) ? (y/n)";

#[derive(Debug, Parser)]
#[command(
    name = "fastreboot",
    version,
    about = "Reboot now into the running (or default) kernel via kexec, skipping the firmware"
)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,

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

#[derive(Debug, Serialize)]
struct FastPlan {
    action: &'static str,
    kernel: PathBuf,
    initrd: Option<PathBuf>,
    cmdline: String,
    entry: Option<boot::BootEntry>,
    /// How the reboot is asked for.
    reboot: String,
}

/// The running kernel's image and initrd: BOOT_IMAGE, then the Debian and
/// Red Hat names in /boot, then the BLS layout.
fn running_kernel(root: &Root, cmdline: &str) -> Result<(PathBuf, Option<PathBuf>)> {
    let release = config::kernel_release(root)?;
    let machine_id = fs::read_to_string(root.host("/etc/machine-id"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut kernels: Vec<PathBuf> = Vec::new();
    if let Some(image) = cmdline
        .split_whitespace()
        .find_map(|t| t.strip_prefix("BOOT_IMAGE="))
    {
        let image = image.rsplit_once(')').map(|(_, p)| p).unwrap_or(image);
        if image.ends_with(&release) {
            kernels.push(PathBuf::from(image));
            kernels.push(PathBuf::from("/boot").join(image.trim_start_matches('/')));
        }
    }
    kernels.push(format!("/boot/vmlinuz-{release}").into());
    for top in ["/boot", "/efi", "/boot/efi"] {
        kernels.push(format!("{top}/{machine_id}/{release}/linux").into());
    }
    let Some(kernel) = kernels.into_iter().find(|k| root.host(k).is_file()) else {
        return Err(Error::not_installed(format!(
            "cannot find the running kernel's image (release {release}) in /boot or a BLS \
             directory; use --default to boot the boot loader's default entry"
        )));
    };
    let dir = kernel.parent().unwrap_or(std::path::Path::new("/boot"));
    let initrd = [
        format!("initrd.img-{release}"),
        format!("initramfs-{release}.img"),
        "initrd".to_string(),
    ]
    .into_iter()
    .map(|name| dir.join(name))
    .find(|p| root.host(p).is_file());
    if initrd.is_none() {
        log::warn!("no initrd found for {release}; booting without one");
    }
    Ok((kernel, initrd))
}

fn confirm() -> Result<bool> {
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return Err(Error::usage(
            "refusing to reboot without confirmation: standard input is not a terminal \
             (use --yes)",
        ));
    }
    print!("{QUESTION} ");
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

pub fn main(args: Vec<OsString>) -> Result<Status, Exit> {
    let (args, ctx) = cli::start::<Args>(Applet::FastReboot, args, |a| &a.global)?;
    Ok(run(&args, &ctx, &*sys::from_env())?)
}

fn run(args: &Args, ctx: &Ctx, sys: &dyn Kexec) -> Result<Status> {
    let current = proc_cmdline(&ctx.root)?;
    let remove: Vec<String> = args
        .remove
        .iter()
        .filter(|w| !w.is_empty())
        .cloned()
        .collect();
    let (kernel, initrd, base, entry) = if args.default {
        let Some(entry) = boot::grub_default(&ctx.root, &current)? else {
            return Err(Error::not_configured(
                "--default: no GRUB configuration (grub.cfg) under the root",
            ));
        };
        let initrd = match entry.initrds.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => {
                return Err(Error::not_configured(
                    "--default: the entry has several initrds; use `kexecctl load`",
                ));
            }
        };
        (
            entry.kernel.clone(),
            initrd,
            entry.cmdline.clone(),
            Some(entry),
        )
    } else {
        let (kernel, initrd) = running_kernel(&ctx.root, &current)?;
        (kernel, initrd, current.clone(), None)
    };
    let cmdline = kdump::edit_cmdline(&base, &remove, &args.append);
    let systemd = ctx.root.host("/run/systemd/system").is_dir();
    let plan = FastPlan {
        action: "load",
        kernel,
        initrd,
        cmdline,
        entry,
        reboot: if systemd {
            "systemctl kexec".into()
        } else {
            "reboot".into()
        },
    };
    let spec = LoadSpec::new(
        plan.kernel.clone(),
        plan.initrd.iter().cloned().collect(),
        plan.cmdline.clone(),
    );
    let state = KexecState::read(&ctx.root);
    let checked = loader::preflight(&ctx.root, &spec, &state, std::env::consts::ARCH)?;
    if ctx.dry_run {
        if ctx.json {
            cli::print_json(&plan)?;
        } else {
            println!(
                "would load {} (initrd {}) with `{}`, then run `{}`",
                plan.kernel.display(),
                plan.initrd
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "none".into()),
                plan.cmdline,
                plan.reboot
            );
        }
        return Ok(0);
    }
    if !args.yes && !confirm()? {
        println!("Fast reboot cancelled");
        return Ok(0);
    }
    loader::load(&checked, sys, std::env::consts::ARCH)?;
    // Never a raw reboot syscall while services run: the init system shuts
    // down cleanly, then kexecs.
    if systemd {
        return sys
            .run("systemctl".as_ref(), &["kexec".into()], &[])
            .map_err(|e| Error::failure(format!("running systemctl kexec: {e}")));
    }
    let marker = ctx.root.host(KEXEC_REQUESTED);
    if let Some(dir) = marker.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Err(e) = fs::write(&marker, b"") {
        log::warn!("cannot create {KEXEC_REQUESTED}: {e}");
    }
    sys.run("reboot".as_ref(), &[], &[])
        .map_err(|e| Error::failure(format!("running reboot: {e}")))
}
