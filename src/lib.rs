//! kexecctl: one multi-call binary that replaces the shell init scripts
//! driving kexec reboots (Debian's kexec-load, coldreboot) and kdump (Red
//! Hat's kdump service, Debian's kdump-tools).
//!
//! The layout follows the data flow: [`applet`] picks the personality from
//! argv[0], [`cli`] parses and reports errors, [`config`] reads the legacy
//! shell-fragment files without running them, and every path goes through
//! [`root::Root`] so the same code serves `/`, chroots and test trees.

#![deny(unsafe_code)]
#![deny(unused_must_use)]
#![deny(clippy::dbg_macro)]

pub mod applet;
pub mod applets;
pub mod boot;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod error;
pub mod image;
pub mod kdump;
pub mod loader;
pub mod plan;
pub mod reboot;
pub mod root;
pub mod state;
pub mod sys;
