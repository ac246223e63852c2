//! What `fastreboot` does: load the running kernel (or, with `--default`,
//! the boot loader's default entry) with the command line edited, then ask
//! the init system for a clean kexec reboot — `systemctl kexec` under
//! systemd, `reboot` on sysvinit (whose exec step kexecs; a one-shot marker
//! tells it to even without `LOAD_KEXEC=true`). Never a raw reboot system
//! call while services run.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::facts::files::FileTable;
use crate::facts::running::{KernelSearch, initrd_names};
use crate::facts::{Facts, KEXEC_REQUESTED};
use crate::kdump;
use crate::plan::reboot::{BootChoice, reboot_program};
use crate::plan::{Action, LoadPlan, Plan, Step};
use crate::system::Program;

/// What the admin asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Boot the boot loader's default entry instead of the running kernel.
    pub default_entry: bool,
    /// Parameters removed from the command line (whole token, or key=…).
    pub remove: Vec<String>,
    /// Text appended to the command line.
    pub append: String,
}

/// The running kernel's candidate images and initrds, for the file table.
pub fn paths_to_look_at(facts: &Facts) -> Vec<PathBuf> {
    let Ok(release) = &facts.release else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for kernel in KernelSearch::any_layout().candidates(
        release,
        facts.boot_image().as_ref(),
        facts.machine_id.as_deref(),
    ) {
        let dir = kernel.parent().unwrap_or(Path::new("/")).to_path_buf();
        paths.extend(initrd_names(release).iter().map(|n| dir.join(n)));
        paths.push(kernel);
    }
    paths.extend(["/usr/sbin/reboot", "/sbin/reboot"].map(PathBuf::from));
    paths
}

pub fn plan(
    request: &Request,
    facts: &Facts,
    boot: &BootChoice,
    files: &FileTable,
) -> Result<Plan> {
    let mut warnings = Vec::new();
    let mut load = if request.default_entry {
        let BootChoice::Entry(entry) = boot else {
            return Err(Error::not_configured(
                "--default: no GRUB configuration (grub.cfg) to take the default entry from",
            ));
        };
        let mut load = LoadPlan::new(
            entry.kernel.clone(),
            entry.initrds.clone(),
            entry.cmdline.clone(),
        );
        load.entry = Some((**entry).clone());
        load
    } else {
        let release = facts.release_for("to find the running kernel")?;
        let Some(kernel) = KernelSearch::any_layout()
            .candidates(
                release,
                facts.boot_image().as_ref(),
                facts.machine_id.as_deref(),
            )
            .into_iter()
            .find(|p| files.is_file(p))
        else {
            return Err(Error::not_installed(format!(
                "cannot find the running kernel's image (release {release}) in /boot or a BLS \
                 directory; use --default to boot the boot loader's default entry"
            )));
        };
        let dir = kernel.parent().unwrap_or(Path::new("/boot")).to_path_buf();
        let initrd = initrd_names(release)
            .into_iter()
            .map(|name| dir.join(name))
            .find(|p| files.is_file(p));
        if initrd.is_none() {
            warnings.push(format!(
                "no initrd found for {release}; booting without one"
            ));
        }
        let base = facts.cmdline_for("to reuse the running kernel's command line")?;
        LoadPlan::new(kernel, initrd.into_iter().collect(), base)
    };
    let remove: Vec<String> = request
        .remove
        .iter()
        .filter(|w| !w.is_empty())
        .cloned()
        .collect();
    load.cmdline = kdump::edit_cmdline(&load.cmdline, &remove, &request.append);
    let mut steps = vec![Step::Load];
    if facts.init.is_systemd() {
        steps.push(Step::Run {
            program: Program::new("systemctl", &["kexec"]),
        });
    } else {
        steps.push(Step::CreateMarker {
            path: KEXEC_REQUESTED.into(),
        });
        steps.push(Step::Run {
            program: Program::new(reboot_program(|p| files.is_file(p)), &[]),
        });
    }
    Ok(Plan {
        load: Some(load),
        steps,
        warnings,
        ..Plan::new(Action::FastReboot)
    }
    .with_reason("fastreboot: reboot through kexec, skipping the firmware"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{InitSystem, KexecState, Markers};

    fn facts(init: InitSystem) -> Facts {
        Facts {
            arch: "x86_64",
            cmdline: Ok("BOOT_IMAGE=/vmlinuz-5.14 root=/dev/vda2 ro rhgb quiet".into()),
            release: Ok("5.14".into()),
            machine_id: Some("m".into()),
            boot_id: None,
            boot_cpu_apicid: None,
            kexec: KexecState::default(),
            init,
            markers: Markers::default(),
            record: None,
            live: true,
            watchdog: Default::default(),
            attempts: Default::default(),
            loader_type: None,
        }
    }

    fn request() -> Request {
        Request {
            default_entry: false,
            remove: vec!["rhgb".into(), "quiet".into()],
            append: "x=1".into(),
        }
    }

    #[test]
    fn test_red_hat_names_under_systemd() {
        let files = FileTable::default()
            .with_file("/boot/vmlinuz-5.14", 1)
            .with_file("/boot/initramfs-5.14.img", 1);
        let f = facts(InitSystem::Systemd { version: Some(252) });
        let p = plan(&request(), &f, &BootChoice::NotAsked, &files).unwrap();
        let load = p.load.as_ref().unwrap();
        assert_eq!(load.initrds, [PathBuf::from("/boot/initramfs-5.14.img")]);
        assert_eq!(
            load.cmdline,
            "BOOT_IMAGE=/vmlinuz-5.14 root=/dev/vda2 ro x=1"
        );
        assert!(
            matches!(&p.steps[1], Step::Run { program } if program.display() == "systemctl kexec")
        );
    }

    #[test]
    fn test_bls_layout_on_sysvinit_asks_for_the_kexec_with_a_marker() {
        let files = FileTable::default()
            .with_file("/boot/m/5.14/linux", 1)
            .with_file("/boot/m/5.14/initrd", 1)
            .with_file("/sbin/reboot", 1);
        let f = facts(InitSystem::Sysvinit {
            runlevel: Some('2'),
            has_runlevel_program: true,
        });
        let p = plan(&request(), &f, &BootChoice::NotAsked, &files).unwrap();
        assert_eq!(
            p.load.as_ref().unwrap().kernel,
            PathBuf::from("/boot/m/5.14/linux")
        );
        assert_eq!(
            p.steps[1],
            Step::CreateMarker {
                path: KEXEC_REQUESTED.into()
            }
        );
        assert!(
            matches!(&p.steps[2], Step::Run { program } if program.display() == "/sbin/reboot")
        );
    }

    #[test]
    fn test_missing_kernel_and_default_without_grub() {
        let f = facts(InitSystem::Systemd { version: None });
        let e = plan(&request(), &f, &BootChoice::NotAsked, &FileTable::default()).unwrap_err();
        assert!(e.message.contains("--default"), "{e}");
        let mut r = request();
        r.default_entry = true;
        let e = plan(&r, &f, &BootChoice::NoGrubConfig, &FileTable::default()).unwrap_err();
        assert_eq!(e.code, crate::error::ExitCode::NotConfigured);
    }
}
