//! Boot entries: which kernel, initrds and command line the next boot would
//! use, from GRUB's configuration ([`grub`], [`grubenv`]) and Boot Loader
//! Specification entries ([`bls`]), and what GRUB would write to its
//! environment block on the way. [`locate`] maps the paths GRUB uses
//! (relative to the partition holding them) to paths in the system.

pub mod bls;
pub mod grub;
pub mod grubenv;
pub mod locate;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::root::Root;

/// The entry the boot loader would boot, with paths on this system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootEntry {
    pub title: String,
    pub id: Option<String>,
    /// `>`-separated titles from the top of the menu.
    pub path: String,
    /// `grub` or `bls`.
    pub source: &'static str,
    #[serde(skip)]
    pub kernel: PathBuf,
    #[serde(skip)]
    pub initrds: Vec<PathBuf>,
    #[serde(skip)]
    pub cmdline: String,
    /// GRUB's environment block: the file GRUB's `save_env` writes when it
    /// boots this entry, else `$prefix/grubenv` when it exists.
    #[serde(skip)]
    pub grubenv: Option<PathBuf>,
    /// What GRUB's `save_env` stores in `grubenv` when it boots this entry:
    /// name → value (`""` for `set x=` then `save_env x`): `next_entry`
    /// cleared after a `grub-reboot`, `saved_entry` by `savedefault`,
    /// Ubuntu's `recordfail`, … Empty when GRUB writes nothing, or could not
    /// write here (see `grubenv_refused`). For GRUB's exact bytes apply
    /// [`BootEntry::grubenv_sequence`] instead.
    #[serde(skip)]
    pub grubenv_writes: BTreeMap<String, String>,
    /// The same writes in GRUB's order, as [`grubenv::apply`] takes them
    /// (`None` deletes a variable that was unset when GRUB saved it): the
    /// order decides where new variables land in the block.
    #[serde(skip)]
    pub grubenv_sequence: Vec<(String, Option<String>)>,
    /// Variables GRUB would try to save but cannot on this system, with the
    /// reason (no grubenv; a file system or device GRUB does not write: a
    /// kexec boot should leave the file alone as well).
    #[serde(skip)]
    pub grubenv_refused: Vec<(String, String)>,
}

/// What GRUB does when it boots by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrubOutcome {
    /// Boots this Linux entry.
    Linux(BootEntry),
    /// Boots no Linux kernel: a chainloader, firmware setup, reboot, an
    /// entry that loads nothing, or GRUB waits at its menu.
    NotLinux {
        /// `>`-separated titles of the entry GRUB ran (empty if none).
        path: String,
        /// What GRUB does instead, e.g. "boots `chainloader /EFI/…`".
        reason: String,
        /// The error [`grub_default`] returns for it.
        error: Error,
    },
}

/// The entry GRUB boots by default, or `None` when there is no grub.cfg.
/// `current_cmdline` is the running kernel's, for GRUB's `root` device.
/// A default that boots no Linux kernel (chainloader, firmware setup, an
/// entry without `linux`) is an error saying so ("not a Linux entry"); use
/// [`grub_outcome`] to tell it apart.
pub fn grub_default(root: &Root, current_cmdline: &str) -> Result<Option<BootEntry>> {
    match grub_outcome(root, current_cmdline)? {
        None => Ok(None),
        Some(GrubOutcome::Linux(entry)) => Ok(Some(entry)),
        Some(GrubOutcome::NotLinux { error, .. }) => Err(error),
    }
}

/// What GRUB boots by default, or `None` when there is no grub.cfg.
pub fn grub_outcome(root: &Root, current_cmdline: &str) -> Result<Option<GrubOutcome>> {
    let Some(files) = locate::GrubFiles::find(root) else {
        return Ok(None);
    };
    let text = fs::read_to_string(root.host(&files.cfg)).map_err(|e| Error::io(&files.cfg, &e))?;
    let vars = files.initial_vars(current_cmdline);
    let cfg_grub_path = files.grub_path(&files.cfg);
    let to_error = |e: grub::GrubError| {
        let err = Error::not_configured(format!(
            "{} (while choosing GRUB's default entry)",
            e.message
        ));
        match e.line {
            Some(line) => err.at(&files.cfg, line, 1),
            None => err.in_file(&files.cfg),
        }
    };
    let evaluation =
        grub::evaluate(&cfg_grub_path, &text, &files, vars, files.flavor()).map_err(to_error)?;
    for message in &evaluation.messages {
        log::info!("GRUB would report: {message}");
    }
    let entry = match evaluation.outcome {
        grub::Outcome::Linux(entry) => entry,
        grub::Outcome::NotLinux {
            path, line, reason, ..
        } => {
            let error = to_error(grub::not_linux(&path, line, &reason));
            return Ok(Some(GrubOutcome::NotLinux {
                path,
                reason,
                error,
            }));
        }
    };
    let to_system = |grub_path: &str| {
        files.system_path(grub_path).ok_or_else(|| {
            Error::not_configured(format!(
                "GRUB path {grub_path} of entry `{}` is not on the file system mounted at {} \
                 (from the {})",
                entry.title,
                files.partition.mount_point.display(),
                files.partition_source
            ))
            .in_file(&files.cfg)
        })
    };
    let kernel = to_system(entry.kernel.as_deref().unwrap_or_default())?;
    let initrds = entry
        .initrds
        .iter()
        .map(|p| to_system(p))
        .collect::<Result<Vec<_>>>()?;
    // GRUB writes `$prefix/grubenv` (or a `-f` file; one block in every
    // configuration grub-mkconfig writes).
    let grubenv = match evaluation
        .writes
        .first()
        .or(evaluation.refused.first().map(|r| &r.write))
    {
        Some(w) => Some(to_system(&w.file)?),
        None => Some(files.dir().join("grubenv")).filter(|p| root.host(p).is_file()),
    };
    let target = grubenv.clone();
    let mut grubenv_sequence = Vec::new();
    for w in &evaluation.writes {
        if Some(to_system(&w.file)?) == target {
            grubenv_sequence.push((w.name.clone(), w.value.clone()));
        } else {
            log::warn!(
                "GRUB would also save `{}` to {}; kexecctl writes only {}",
                w.name,
                w.file,
                target.as_deref().unwrap_or(Path::new("-")).display()
            );
        }
    }
    let mut grubenv_writes = BTreeMap::new();
    for (name, value) in &grubenv_sequence {
        match value {
            Some(v) => grubenv_writes.insert(name.clone(), v.clone()),
            None => grubenv_writes.remove(name),
        };
    }
    let grubenv_refused = evaluation
        .refused
        .iter()
        .map(|r| (r.write.name.clone(), r.reason.clone()))
        .collect();
    log::info!(
        "GRUB default `{}` ({}): entry `{}`; GRUB paths relative to {} ({})",
        evaluation.default,
        files.cfg.display(),
        entry.path,
        files.partition.mount_point.display(),
        files.partition_source
    );
    Ok(Some(GrubOutcome::Linux(BootEntry {
        cmdline: entry.cmdline(),
        title: entry.title.clone(),
        id: entry.id.clone(),
        path: entry.path.clone(),
        source: if entry.bls { "bls" } else { "grub" },
        kernel,
        initrds,
        grubenv,
        grubenv_writes,
        grubenv_sequence,
        grubenv_refused,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(cfg: &str, env: Option<&[(&str, &str)]>, separate_boot: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let grub = "boot/grub";
        fs::create_dir_all(dir.path().join(grub)).unwrap();
        fs::write(dir.path().join(grub).join("grub.cfg"), cfg).unwrap();
        if let Some(vars) = env {
            let changes: Vec<_> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect();
            let block = grubenv::apply(&grubenv::create(), &changes).unwrap();
            fs::write(dir.path().join(grub).join("grubenv"), block).unwrap();
        }
        let mut mountinfo = String::from("22 1 254:1 / / rw - ext4 /dev/vda1 rw\n");
        if separate_boot {
            mountinfo.push_str("23 22 254:2 / /boot rw - ext4 /dev/vda2 rw\n");
        }
        fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        fs::write(dir.path().join("proc/self/mountinfo"), mountinfo).unwrap();
        dir
    }

    const CFG: &str = "load_env\nif [ \"${next_entry}\" ]; then set default=\"${next_entry}\"; set next_entry=; save_env next_entry; fi\n\
        menuentry 'Windows' --id win { chainloader /EFI/Microsoft/Boot/bootmgfw.efi }\n\
        menuentry 'Linux' --id lin { saved_entry=\"${chosen}\"; save_env saved_entry; linux /vmlinuz-6 ro; initrd /initrd.img-6 }\n";

    #[test]
    fn test_not_a_linux_entry_is_told_apart() {
        let dir = tree(CFG, None, true);
        let root = Root::new(dir.path());
        match grub_outcome(&root, "").unwrap().unwrap() {
            GrubOutcome::NotLinux { path, reason, .. } => {
                assert_eq!(path, "Windows");
                assert!(reason.contains("chainloader"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let err = grub_default(&root, "").unwrap_err();
        assert!(err.to_string().contains("not a Linux entry"), "{err}");
    }

    #[test]
    fn test_grubenv_writes_on_system_paths() {
        let dir = tree(CFG, Some(&[("next_entry", "lin"), ("other", "kept")]), true);
        let root = Root::new(dir.path());
        let entry = grub_default(&root, "").unwrap().unwrap();
        assert_eq!(entry.kernel, PathBuf::from("/boot/vmlinuz-6"));
        assert_eq!(entry.grubenv, Some(PathBuf::from("/boot/grub/grubenv")));
        assert_eq!(
            entry.grubenv_sequence,
            [
                ("next_entry".to_string(), Some(String::new())),
                ("saved_entry".to_string(), Some("lin".to_string())),
            ]
        );
        assert_eq!(
            entry.grubenv_writes,
            BTreeMap::from([
                ("next_entry".to_string(), String::new()),
                ("saved_entry".to_string(), "lin".to_string()),
            ])
        );
        // What the act step does with them: the same block size, unknown
        // variables kept; `update` (by name) gives the same bytes here.
        let before = fs::read(dir.path().join("boot/grub/grubenv")).unwrap();
        let after = grubenv::apply(&before, &entry.grubenv_sequence).unwrap();
        assert_eq!(
            grubenv::update(&before, &entry.grubenv_writes).unwrap(),
            after
        );
        assert_eq!(after.len(), before.len());
        let vars = grubenv::parse(&after);
        assert_eq!(vars["other"], "kept");
        assert_eq!(vars["next_entry"], "");
        assert_eq!(vars["saved_entry"], "lin");
        assert!(entry.grubenv_refused.is_empty());
    }
}
