//! The entry GRUB would boot, by running `grub.cfg` the way GRUB runs it.
//!
//! Debian's kexec-load greps `set default` and counts `menuentry` lines; it
//! gets submenus, ids, titles, functions and `next_entry` wrong. This
//! module runs GRUB's script language as GRUB 2.12 does, in stages:
//!
//! - [`lex`]: lines as GRUB reads them, tokens by GRUB's lexer rules;
//! - [`parse`]: GRUB's grammar, one logical line at a time, with GRUB's
//!   recovery from syntax errors;
//! - [`eval`]: GRUB's engine — contexts and exported variables, functions
//!   with positional parameters, loops, word expansion, the commands that
//!   decide what boots, `load_env`/`save_env` on the environment block;
//! - [`test`]: GRUB's `test`/`[`;
//! - [`select`]: `default`, `fallback`, `chosen`, running the entry and
//!   entering submenus as GRUB's menu code does;
//! - [`blscfg`]: Red Hat's `blscfg`, derived from rhboot/grub2.
//!
//! The result is what GRUB would boot — a Linux kernel with its initrds
//! and arguments, or something else (chainloader, firmware setup, nothing)
//! — and the writes GRUB's `save_env` would make to grubenv on the way
//! (`next_entry` cleared, `savedefault`, Ubuntu's `recordfail`).
//! The command line is built the way GRUB's x86 Linux loader builds it
//! (`BOOT_IMAGE=` plus each argument, quoted and escaped as GRUB does), so
//! the kexec'd kernel sees what a firmware boot would have given it.

pub mod blscfg;
pub mod eval;
pub mod lex;
pub mod parse;
pub mod select;
pub mod test;

use std::rc::Rc;

use crate::boot::bls::BlsEntry;
pub use eval::strip_device;
use eval::{Eval, Halt};

/// What the evaluator needs from outside: files and facts about the
/// machine. Paths are GRUB paths with the device part removed (`/boot/…`
/// or `/…` on a separate `/boot`); the host confines them to the system's
/// root.
pub trait GrubHost {
    /// A file GRUB reads (`source`, `configfile`, `load_env`).
    fn read_file(&self, grub_path: &str) -> Option<Vec<u8>>;
    /// What GRUB's `test -e/-f/-d/-s` would find.
    fn stat(&self, grub_path: &str) -> Option<FileStat>;
    /// The BLS entries, sorted as blscfg sorts them, for `blscfg`.
    fn bls_entries(&self) -> Vec<BlsEntry>;
    /// Why GRUB could not write the environment block at this path in
    /// place (`save_env`), if it could not.
    fn env_write_refusal(&self, _grub_path: &str) -> Option<String> {
        None
    }
    /// Whether `fwsetup` can reboot into the firmware settings (EFI
    /// `OsIndicationsSupported`).
    fn firmware_setup_supported(&self) -> bool {
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dir: bool,
    pub size: u64,
    /// Seconds since the epoch, for `-nt`/`-ot`.
    pub mtime: Option<i64>,
}

/// Whose GRUB reads the configuration: default matching differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Upstream GRUB: Debian, Ubuntu, Arch, SUSE, RHEL 7.
    Upstream,
    /// Red Hat's GRUB (Fedora 30+, RHEL 8+): chosen when the configuration
    /// runs `blscfg`, or when the host says so.
    RedHat,
}

/// A menu entry as GRUB stores it.
#[derive(Debug, Clone)]
pub struct MenuEntry {
    pub title: String,
    /// `--id`, if given (GRUB's id is the title otherwise).
    pub id: Option<String>,
    /// The title and any further non-option arguments: `$1`, `$2`, … in
    /// the body.
    pub args: Vec<String>,
    pub body: Body,
    pub submenu: bool,
    /// Needs a password when `superusers` is set (no `--unrestricted`).
    pub restricted: bool,
    /// Line of the `menuentry` command (0 for BLS entries).
    pub line: usize,
    pub bls: bool,
}

impl MenuEntry {
    pub fn id_or_title(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.title)
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    Block(Rc<Vec<parse::Stmt>>),
    /// `--source` text, or a BLS entry's generated script.
    Source(String),
}

/// A Linux entry as GRUB would boot it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEntry {
    pub title: String,
    pub id: Option<String>,
    /// `>`-separated titles of the submenus leading to the entry and the entry.
    pub path: String,
    /// GRUB's `chosen`: the ids (or titles) from the top, `>` doubled,
    /// `>`-separated — what `savedefault` stores.
    pub chosen: String,
    /// Kernel path as GRUB sees it (relative to its root partition),
    /// device prefix such as `($root)` or `(hd0,gpt2)` removed.
    pub kernel: Option<String>,
    /// The kernel path as written after variable expansion (for BOOT_IMAGE=).
    pub kernel_arg: Option<String>,
    pub initrds: Vec<String>,
    /// Arguments after the kernel path on the `linux` line.
    pub args: Vec<String>,
    /// Which command loaded the kernel (`linux`, `linuxefi`, `linux16`).
    pub loader: Option<String>,
    /// The entry came from a BLS file through `blscfg`.
    pub bls: bool,
}

impl GrubEntry {
    /// The command line GRUB's Linux loader passes: `BOOT_IMAGE=<kernel>`
    /// then every argument; an argument containing a space is put in double
    /// quotes and `\`, `'` and `"` are escaped with a backslash
    /// (`grub_create_loader_cmdline`).
    pub fn cmdline(&self) -> String {
        let mut parts = Vec::new();
        if let Some(kernel) = &self.kernel_arg {
            // `($root)` with `root` unknown expands to `()`: leave it out.
            let kernel = kernel.strip_prefix("()").unwrap_or(kernel);
            parts.push(format!("BOOT_IMAGE={}", grub_escape(kernel)));
        }
        parts.extend(self.args.iter().map(|a| grub_escape(a)));
        parts.join(" ")
    }
}

fn grub_escape(arg: &str) -> String {
    let mut out = String::new();
    let space = arg.contains(' ');
    if space {
        out.push('"');
    }
    for c in arg.chars() {
        if matches!(c, '\\' | '\'' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    if space {
        out.push('"');
    }
    out
}

/// One variable GRUB's `save_env` stores: `value` `None` deletes it (the
/// variable was unset), `Some("")` stores it empty (`set x=` then
/// `save_env x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubenvWrite {
    /// The environment block's GRUB path (device part removed).
    pub file: String,
    pub name: String,
    pub value: Option<String>,
}

/// A write GRUB would attempt but not make, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedWrite {
    pub write: GrubenvWrite,
    pub reason: String,
}

/// What GRUB does at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Boots a Linux kernel.
    Linux(GrubEntry),
    /// Boots something else or nothing.
    NotLinux {
        /// The entry GRUB ran (`>`-separated titles), empty if none.
        path: String,
        title: String,
        /// Line of its `menuentry` (0 if unknown).
        line: usize,
        /// What GRUB does instead: "chainloads …", "reboots into the
        /// firmware settings (fwsetup)", "waits at its menu: …".
        reason: String,
    },
}

/// The result of running a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub outcome: Outcome,
    /// `default` when GRUB showed its top-level menu.
    pub default: String,
    /// The writes GRUB's `save_env` makes, in order.
    pub writes: Vec<GrubenvWrite>,
    /// Writes GRUB would attempt and fail.
    pub refused: Vec<RefusedWrite>,
    /// Errors GRUB would print on the way (syntax errors, unknown commands).
    pub messages: Vec<String>,
}

/// Why no entry could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubError {
    pub line: Option<usize>,
    pub message: String,
}

pub type GResult<T> = Result<T, GrubError>;

/// Runs a configuration file as GRUB's normal mode does and reports what
/// boots. `path` is the file's GRUB path (for `config_file`), `initial`
/// GRUB's variables before it runs (all exported, as GRUB's are).
pub fn evaluate(
    path: &str,
    text: &str,
    host: &dyn GrubHost,
    initial: Vec<(String, String)>,
    flavor: Flavor,
) -> GResult<Evaluation> {
    let mut eval = Eval::new(host, initial, flavor);
    let result = eval.normal_mode(path, text);
    let halt = select::final_halt(result);
    let outcome = match halt {
        Halt::Limit(message) => {
            return Err(GrubError {
                line: None,
                message,
            });
        }
        Halt::Done(done) => {
            let eval::Done {
                loader,
                action,
                entries,
            } = *done;
            let linux = loader.as_ref().and_then(|l| eval::entry_of(l, &entries));
            match (linux, loader) {
                (Some(entry), _) => Outcome::Linux(entry),
                (None, loader) => {
                    let reason = match loader {
                        Some(eval::Loader::Other { command, target }) => {
                            format!("boots `{command} {target}`")
                        }
                        _ => action,
                    };
                    let last = entries.last();
                    Outcome::NotLinux {
                        path: entries
                            .iter()
                            .map(|e| e.title.as_str())
                            .collect::<Vec<_>>()
                            .join(">"),
                        title: last.map(|e| e.title.clone()).unwrap_or_default(),
                        line: last.map_or(0, |e| e.line),
                        reason,
                    }
                }
            }
        }
    };
    Ok(Evaluation {
        outcome,
        default: eval.top_default.clone().unwrap_or_default(),
        writes: eval.writes,
        refused: eval.refused,
        messages: eval.messages,
    })
}

/// Where the default came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub entry: GrubEntry,
    /// The value of `default` GRUB ended up with (after next_entry/saved_entry).
    pub default: String,
    pub writes: Vec<GrubenvWrite>,
    pub refused: Vec<RefusedWrite>,
}

/// Evaluates `grub.cfg` and returns the Linux entry GRUB would boot by
/// default; anything else is an error naming the entry ("not a Linux
/// entry").
pub fn default_entry(
    text: &str,
    host: &dyn GrubHost,
    initial: Vec<(String, String)>,
) -> GResult<Choice> {
    let evaluation = evaluate("/boot/grub/grub.cfg", text, host, initial, Flavor::Upstream)?;
    match evaluation.outcome {
        Outcome::Linux(entry) => Ok(Choice {
            entry,
            default: evaluation.default,
            writes: evaluation.writes,
            refused: evaluation.refused,
        }),
        Outcome::NotLinux {
            path, line, reason, ..
        } => Err(not_linux(&path, line, &reason)),
    }
}

/// The error for a default that boots no Linux kernel.
pub fn not_linux(path: &str, line: usize, reason: &str) -> GrubError {
    let message = if path.is_empty() {
        format!("GRUB boots no Linux kernel: it {reason}")
    } else {
        format!("the default entry `{path}` is not a Linux entry: GRUB {reason}")
    };
    GrubError {
        line: (line > 0).then_some(line),
        message,
    }
}

#[cfg(test)]
mod tests;
