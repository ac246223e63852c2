//! One module per personality, each with its clap `Args` and a `main` that
//! turns parsed arguments into a plan and (unless `--dry-run`) acts on it.

pub mod coldreboot;
pub mod config;
pub mod docs;
pub mod fastreboot;
pub mod kdump_setup;
pub mod kexec_load;
pub mod kexecctl;
