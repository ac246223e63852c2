//! Boot entries: which kernel, initrds and command line the next boot would
//! use, from GRUB's configuration ([`grub`], [`grubenv`]) and Boot Loader
//! Specification entries ([`bls`]). [`locate`] maps the paths GRUB uses
//! (relative to the partition holding them) to paths in the system.

pub mod bls;
pub mod grub;
pub mod grubenv;
pub mod locate;

use std::fs;
use std::path::PathBuf;

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
    /// What GRUB would write to grubenv booting this entry (none: nothing).
    #[serde(skip)]
    pub grubenv: Option<grubenv::GrubenvUpdate>,
}

/// The entry GRUB boots by default, or `None` when there is no grub.cfg.
/// `current_cmdline` is the running kernel's, for GRUB's `root` device.
pub fn grub_default(root: &Root, current_cmdline: &str) -> Result<Option<BootEntry>> {
    let Some(files) = locate::GrubFiles::find(root) else {
        return Ok(None);
    };
    let text = fs::read_to_string(root.host(&files.cfg)).map_err(|e| Error::io(&files.cfg, &e))?;
    let vars = files.initial_vars(current_cmdline);
    let choice = grub::default_entry(&text, &files, vars).map_err(|e| {
        let err = Error::not_configured(format!(
            "{} (while choosing GRUB's default entry)",
            e.message
        ));
        match e.line {
            Some(line) => err.at(&files.cfg, line, 1),
            None => err.in_file(&files.cfg),
        }
    })?;
    let entry = choice.entry;
    let grubenv = (!choice.env_writes.is_empty()).then(|| grubenv::GrubenvUpdate {
        path: files.dir().join("grubenv"),
        writes: choice.env_writes.clone(),
    });
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
    log::info!(
        "GRUB default `{}` ({}): entry `{}`; GRUB paths relative to {} ({})",
        choice.default,
        files.cfg.display(),
        entry.path,
        files.partition.mount_point.display(),
        files.partition_source
    );
    Ok(Some(BootEntry {
        cmdline: entry.cmdline(),
        title: entry.title.clone(),
        id: entry.id.clone(),
        path: entry.path.clone(),
        source: if entry.bls { "bls" } else { "grub" },
        kernel,
        initrds,
        grubenv,
    }))
}
