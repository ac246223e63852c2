//! Carries out a [`Plan`] through the [`System`]: the last stage of every
//! command (parse → facts → plan → show → act).
//!
//! Before any step, the plan's load is opened and checked
//! ([`loader::prepare`]), so bad input changes nothing. Steps then run in
//! order; a step that fails with [`OnError::Stop`] ends the plan, undoing
//! what can be undone (a kernel loaded by this plan is unloaded again when
//! a later step it depends on fails), and one with [`OnError::Warn`] is
//! reported and skipped. Programs and reboots act on the running system:
//! for a tree given with `--root` such plans are refused (only `--dry-run`
//! can show them).

use std::path::Path;

use crate::boot::grubenv;
use crate::context::Ctx;
use crate::error::{Error, ExitCode, Result};
use crate::facts::{Facts, LoadedRecord};
use crate::loader::{self, Method, Prepared};
use crate::plan::{OnError, Plan, Step};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};

use crate::system::{Errno, System, errno_name};

/// What carrying out a plan did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// How the kernel was loaded, when a load step ran.
    pub method: Option<Method>,
    /// The exit status of the program a `Run` step ran (reboot's).
    pub status: Option<i32>,
}

/// The chroot directory for programs of a tree that is not the running
/// system; `None` when the root is the running system.
pub fn chroot_dir(ctx: &Ctx) -> Option<std::path::PathBuf> {
    (!ctx.live).then(|| ctx.root.dir().to_path_buf())
}

/// Refuses a plan that would reboot or run the init system's programs for
/// a tree that is not the running system.
pub fn check_live(ctx: &Ctx, plan: &Plan, what: &str) -> Result<()> {
    if plan.reboots() && !ctx.live && !ctx.dry_run {
        return Err(Error::usage(format!(
            "{what} acts on the running system, and {} (--root) is not it: only --dry-run can \
             show what it would do there",
            ctx.root.dir().display()
        )));
    }
    Ok(())
}

/// Opens and checks the plan's load, as far as it can be checked before
/// the steps run (a kdump initrd that a step builds is checked after it).
pub fn prepare(ctx: &Ctx, plan: &Plan, facts: &Facts) -> Result<Option<Prepared>> {
    let Some(load) = &plan.load else {
        return Ok(None);
    };
    let built = plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::BuildInitrd { .. }));
    if built {
        // The initrd does not exist yet: check the kernel alone now.
        let mut kernel_only = load.clone();
        kernel_only.initrds.clear();
        loader::prepare(
            &ctx.root,
            &kernel_only,
            &facts.kexec,
            facts.arch,
            chroot_dir(ctx),
        )?;
        return Ok(None);
    }
    loader::prepare(&ctx.root, load, &facts.kexec, facts.arch, chroot_dir(ctx)).map(Some)
}

fn unload_error(errno: Errno, crash: bool) -> Error {
    Error::new(
        if errno == Errno::EPERM {
            ExitCode::Privilege
        } else {
            ExitCode::Failure
        },
        format!(
            "unloading the {} kernel failed: {} ({})",
            if crash { "crash" } else { "kexec" },
            errno_name(errno),
            errno.desc()
        ),
    )
}

/// Applies a failure policy: `Stop` returns the error, `Warn` logs it.
fn handle(result: Result<()>, on_error: OnError) -> Result<()> {
    match (result, on_error) {
        (Ok(()), _) => Ok(()),
        (Err(e), OnError::Stop) => Err(e),
        (Err(e), OnError::Warn) => {
            log::warn!("{e}");
            Ok(())
        }
    }
}

/// Termination signals are held (blocked) while the steps run and
/// delivered when they are done: a SIGTERM from systemd's stop timeout in
/// the middle of a load leaves the old state or the new one, never a load
/// without its record or grubenv half updated. SIGKILL cannot be held, and
/// the steps are bounded (programs have time limits), so systemd's own
/// timeout still ends a stuck command.
struct HeldSignals(Option<SigSet>);

impl HeldSignals {
    fn hold() -> Self {
        let mut set = SigSet::empty();
        for signal in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
            set.add(signal);
        }
        let mut old = SigSet::empty();
        match sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)) {
            Ok(()) => HeldSignals(Some(old)),
            Err(_) => HeldSignals(None),
        }
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        if let Some(old) = &self.0 {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(old), None);
        }
    }
}

/// Carries out `plan`. `prepared` is what [`prepare`] returned.
pub fn execute(
    ctx: &Ctx,
    plan: &Plan,
    facts: &Facts,
    prepared: Option<Prepared>,
    system: &dyn System,
) -> Result<Outcome> {
    let root = &ctx.root;
    let _held = HeldSignals::hold();
    let mut outcome = Outcome::default();
    let mut prepared = prepared;
    let mut loaded_crash = None;
    for step in &plan.steps {
        match step {
            Step::RemoveFiles { paths, on_error } => {
                for path in paths {
                    let result = system.remove_file(&root.host(path)).map_err(|e| {
                        Error::io(path, &e).with_message(|m| format!("cannot remove: {m}"))
                    });
                    handle(result, *on_error)?;
                }
            }
            Step::Unload { crash, on_error } => {
                let result = system
                    .kexec_unload(*crash)
                    .map_err(|e| unload_error(e, *crash));
                handle(result, *on_error)?;
            }
            Step::BuildInitrd { program, initrd } => {
                let host = root.host(initrd);
                if let Some(dir) = host.parent() {
                    system
                        .create_dir_all(dir)
                        .map_err(|e| Error::io(initrd.parent().unwrap_or(Path::new("/")), &e))?;
                }
                let status = system.run(program).map_err(|e| {
                    Error::failure(format!("running {}: {e}", program.path.display()))
                })?;
                if status != 0 {
                    return Err(Error::failure(format!(
                        "mkdumprd: failed to make kdump initrd {} (exit status {status})",
                        initrd.display()
                    )));
                }
            }
            Step::Load => {
                let load = plan.load.as_ref().expect("a Load step has a load");
                let ready = match prepared.take() {
                    Some(p) => p,
                    None => loader::prepare(root, load, &facts.kexec, facts.arch, chroot_dir(ctx))?,
                };
                outcome.method = Some(loader::load(&ready, system, facts.arch)?);
                loaded_crash = Some(load.crash);
            }
            Step::WriteRecord { path } => {
                let load = plan.load.as_ref().expect("a record follows a load");
                let record = LoadedRecord {
                    kernel: load.kernel.clone(),
                    initrds: load.initrds.clone(),
                    cmdline: load.cmdline.clone(),
                    entry: load.entry.as_ref().map(|e| e.path.clone()),
                    method: outcome
                        .method
                        .as_ref()
                        .map_or_else(|| "kexec_file_load".into(), Method::name),
                };
                let text = serde_json::to_vec_pretty(&record).unwrap_or_default();
                let result = system.replace_file(&root.host(path), &text).map_err(|e| {
                    Error::io(path, &e).with_message(|m| format!("cannot record the load: {m}"))
                });
                handle(result, OnError::Warn)?;
            }
            Step::UpdateGrubenv { path, writes } => {
                if let Err(e) = update_grubenv(ctx, path, writes, system) {
                    // A kexec without grubenv's update would boot the
                    // one-shot entry again and again: go through the
                    // firmware instead, where GRUB updates it itself.
                    if let Some(crash) = loaded_crash {
                        if let Err(u) = system.kexec_unload(crash) {
                            log::warn!("{}", unload_error(u, crash));
                        }
                    }
                    return Err(e.with_message(|m| {
                        format!("{m}; the kernel is not left loaded, so the reboot goes through the firmware and GRUB")
                    }));
                }
            }
            Step::Sysctl { path, value } => {
                let result = system
                    .write_in_place(&root.host(path), format!("{value}\n").as_bytes())
                    .map_err(|e| {
                        Error::io(path, &e).with_message(|m| format!("cannot set {value}: {m}"))
                    });
                handle(result, OnError::Warn)?;
            }
            Step::CreateMarker { path } => {
                let result = system.replace_file(&root.host(path), b"").map_err(|e| {
                    Error::io(path, &e).with_message(|m| format!("cannot create: {m}"))
                });
                handle(result, OnError::Warn)?;
            }
            Step::Sync => system.sync(),
            Step::RebootKexec => {
                let errno = system.reboot_kexec();
                return Err(Error::failure(format!(
                    "kexec failed: {} ({})",
                    errno_name(errno),
                    errno.desc()
                )));
            }
            Step::Run { program } => {
                // The init system takes over (reboot, systemctl kexec): its
                // shutdown runs kexecctl again, which must not wait for us.
                ctx.lock.borrow_mut().take();
                let status = system
                    .run(program)
                    .map_err(|e| Error::failure(format!("running {}: {e}", program.display())))?;
                outcome.status = Some(status);
            }
            Step::WriteAttempt {
                path,
                attempt,
                on_error,
            } => {
                let text = serde_json::to_vec_pretty(attempt).unwrap_or_default();
                let result = system.replace_file(&root.host(path), &text).map_err(|e| {
                    Error::io(path, &e).with_message(|m| {
                        format!("cannot record kexec attempt {}: {m}", attempt.id)
                    })
                });
                if let (Err(e), OnError::Stop) = (&result, on_error) {
                    // Without its record the new boot could not confirm the
                    // attempt and take the watchdog over: no kexec.
                    if let Some(crash) = loaded_crash {
                        if let Err(u) = system.kexec_unload(crash) {
                            log::warn!("{}", unload_error(u, crash));
                        }
                        return Err(e.clone().with_message(|m| {
                            format!("{m}; the kernel is not left loaded, so the reboot goes through the firmware")
                        }));
                    }
                }
                handle(result, *on_error)?;
            }
            Step::WriteQuarantine { path, kernels } => {
                let text = serde_json::to_vec_pretty(kernels).unwrap_or_default();
                let result = system.replace_file(&root.host(path), &text).map_err(|e| {
                    Error::io(path, &e)
                        .with_message(|m| format!("cannot record the quarantine: {m}"))
                });
                handle(result, OnError::Warn)?;
            }
            Step::ArmWatchdog {
                device,
                timeout_sec,
                on_error,
            } => match system.watchdog_arm(&root.host(device), *timeout_sec) {
                Ok(took) => log::info!(
                    "watchdog {} armed: it resets the machine in {took} s unless the new \
                     system confirms the kexec",
                    device.display()
                ),
                Err(e) if *on_error == OnError::Stop => {
                    if let Err(u) = system.kexec_unload(false) {
                        log::warn!("{}", unload_error(u, false));
                    }
                    return Err(Error::failure(format!(
                        "cannot arm the watchdog {}: {e}; the kexec kernel is unloaded and the \
                         reboot goes through the firmware",
                        device.display()
                    )));
                }
                Err(e) => log::warn!(
                    "cannot arm the watchdog {}: {e}; kexecing without the guard",
                    device.display()
                ),
            },
            Step::DisarmWatchdog { device, on_error } => {
                let result = system.watchdog_disarm(&root.host(device)).map_err(|e| {
                    Error::failure(format!(
                        "cannot disarm the watchdog {}: {e}; it resets the machine unless \
                         something pings it",
                        device.display()
                    ))
                });
                handle(result, *on_error)?;
            }
        }
    }
    Ok(outcome)
}

/// Writes grubenv's changes GRUB would have made booting the entry: the
/// same 1024-byte block, replaced atomically.
fn update_grubenv(
    ctx: &Ctx,
    path: &Path,
    writes: &[(String, Option<String>)],
    system: &dyn System,
) -> Result<()> {
    let host = ctx.root.host(path);
    let block = std::fs::read(&host).map_err(|e| Error::io(path, &e))?;
    let new = grubenv::apply(&block, writes)
        .map_err(|e| Error::not_configured(e.to_string()).in_file(path))?;
    if new == block {
        return Ok(());
    }
    system.replace_file(&host, &new).map_err(|e| {
        Error::io(path, &e).with_message(|m| format!("cannot update GRUB's environment: {m}"))
    })
}
