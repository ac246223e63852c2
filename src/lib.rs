//! kexecctl: one multi-call binary that replaces the shell init scripts
//! driving kexec reboots (Debian's kexec-load, coldreboot) and kdump (Red
//! Hat's kdump service, Debian's kdump-tools).
//!
//! Every command follows one path — parse → facts → plan → show → act:
//!
//! - [`cli`]: personalities, clap definitions, the one output module;
//! - [`config`]: the legacy shell-fragment files, read without running them;
//! - [`facts`]: what the running system says, read once into plain data;
//! - [`boot`]: GRUB, grubenv, BLS entries and the mount table: the entry the
//!   boot loader would boot;
//! - [`plan`]: pure planners — facts and configuration in, a [`plan::Plan`] out;
//! - [`act`]: carries a plan out through the [`system::System`] trait;
//! - [`loader`]: opens, checks and loads a kernel (kexec_file_load);
//! - [`kdump`], [`image`]: kdumpctl's and kdump-config's rules; kernel image formats;
//! - [`system`]: the machine behind one trait (real, or a recording fake in tests);
//! - [`context`], [`root`], [`error`]: the root every path is resolved
//!   beneath, and the one error type with its exit code.

#![deny(unsafe_code)]
#![deny(unused_must_use)]
#![deny(clippy::dbg_macro)]

pub mod act;
pub mod boot;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod context;
pub mod error;
pub mod facts;
pub mod image;
pub mod kdump;
pub mod loader;
pub mod plan;
pub mod root;
pub mod system;
