//! Running GRUB script as GRUB's engine does (`grub-core/script/execute.c`,
//! `normal/context.c`, `kern/env.c`).
//!
//! State is GRUB's: a stack of environment contexts, each with its own
//! menu (`configfile` and entering a submenu open one, copying only the
//! *exported* variables); functions, global and defined as they are
//! parsed; positional parameters of the running function or menu entry;
//! GRUB's loop, `break` and `return` flags; the loaded kernel. Words are
//! expanded as GRUB's `grub_script_arglist_to_argv` does: an unquoted
//! variable is split on blanks *without* separating it from adjacent text,
//! an empty unquoted expansion leaves no argument, any quoted piece makes
//! one. `$?` is the last command's status as GRUB numbers it.
//!
//! Commands that decide what boots are modelled (`set`, `unset`, `export`,
//! `menuentry`, `submenu`, `source`, `configfile`, `eval`, `load_env`,
//! `save_env`, `test`, `linux`, `initrd`, `boot`, `chainloader` and other
//! loaders, `fwsetup`, `blscfg`, `break`, `continue`, `return`, `shift`,
//! `setparams`, `true`, `false`). Every other GRUB command succeeds without
//! effect (`insmod`, `search`, `echo`, `loadfont`, …); a name that is
//! neither a command nor a function is an assignment when it contains `=`
//! and otherwise succeeds, as in GRUB (which prints "can't find command").
//!
//! GRUB has no bounds; this evaluator has: [`MAX_STEPS`] commands (weighted
//! by the bytes they handle), [`MAX_DEPTH`] nested calls (functions,
//! `source`, `configfile`, `eval`, menu entries), [`MAX_VALUE`] bytes per
//! value. Exceeding one is an error, so any input ends.

use std::collections::HashMap;
use std::rc::Rc;

use super::lex::{Line, Piece, Word, code_lines, config_lines};
use super::parse::{Item, Parser, Stmt};
use super::{Flavor, GrubEntry, GrubHost, GrubenvWrite, MenuEntry, RefusedWrite};
use crate::boot::grubenv;

/// Commands run (each weighted by 1 + bytes of arguments / 256) before
/// evaluation gives up.
pub const MAX_STEPS: u64 = 100_000;
/// Nested function calls, sourced files, `eval`s, menu entries and
/// compound commands (`if`, `for`, `while`) together: deeper is an error
/// (GRUB has no bound; this keeps evaluation on a 2 MiB thread stack).
pub const MAX_DEPTH: usize = 150;
/// The longest variable value or argument, in bytes.
pub const MAX_VALUE: usize = 1 << 20;
/// Error messages kept for the report.
const MAX_MESSAGES: usize = 50;

/// GRUB's error numbers (`include/grub/err.h`) that scripts can see in `$?`.
pub mod status {
    pub const NONE: i32 = 0;
    pub const TEST_FAILURE: i32 = 1;
    pub const FILE_NOT_FOUND: i32 = 5;
    pub const BAD_FILE_TYPE: i32 = 4;
    pub const BAD_NUMBER: i32 = 10;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const BAD_DEVICE: i32 = 13;
    pub const WRITE_ERROR: i32 = 15;
    pub const UNKNOWN_COMMAND: i32 = 16;
    pub const INVALID_COMMAND: i32 = 17;
    pub const BAD_ARGUMENT: i32 = 18;
    pub const NO_KERNEL: i32 = 22;
    pub const ACCESS_DENIED: i32 = 30;
}

/// Variables GRUB attaches hooks to: `unset` empties them instead.
const HOOKED: &[&str] = &[
    "root",
    "prefix",
    "pager",
    "color_normal",
    "color_highlight",
    "debug",
    "lang",
    "locale_dir",
    "secondary_locale_dir",
    "check_signatures",
];

/// GRUB's command names (the i386-pc, x86_64-efi and emu `command.lst` of
/// GRUB 2.12, the core commands, and Red Hat's additions): a function with
/// one of these names is never called, the command is.
const COMMANDS: &[&str] = &[
    ".",
    "915resolution",
    "[",
    "acpi",
    "appleloader",
    "authenticate",
    "background_color",
    "background_image",
    "backtrace",
    "badram",
    "blocklist",
    "blscfg",
    "boot",
    "break",
    "cat",
    "cbmemc",
    "chainloader",
    "clear",
    "cmosclean",
    "cmosdump",
    "cmosset",
    "cmostest",
    "cmp",
    "configfile",
    "continue",
    "coreboot_boottime",
    "cpuid",
    "crc",
    "cryptomount",
    "cutmem",
    "date",
    "devicetree",
    "distrust",
    "drivemap",
    "dump",
    "echo",
    "efiemu_loadcore",
    "efiemu_prepare",
    "efiemu_unload",
    "efitextmode",
    "eval",
    "exit",
    "export",
    "extract_entries_configfile",
    "extract_entries_source",
    "extract_legacy_entries_configfile",
    "extract_legacy_entries_source",
    "extract_syslinux_entries_configfile",
    "extract_syslinux_entries_source",
    "fakebios",
    "false",
    "file",
    "fix_video",
    "freedos",
    "fwsetup",
    "gdbstub",
    "gdbstub_break",
    "gdbstub_stop",
    "gettext",
    "gptsync",
    "halt",
    "hashsum",
    "hdparm",
    "hello",
    "help",
    "hexdump",
    "hwmatch",
    "inb",
    "initrd",
    "initrd16",
    "initrdefi",
    "inl",
    "insmod",
    "inw",
    "keymap",
    "keystatus",
    "kfreebsd",
    "kfreebsd_loadenv",
    "kfreebsd_module",
    "kfreebsd_module_elf",
    "knetbsd",
    "knetbsd_module",
    "knetbsd_module_elf",
    "kopenbsd",
    "kopenbsd_ramdisk",
    "legacy_check_password",
    "legacy_configfile",
    "legacy_initrd",
    "legacy_initrd_nounzip",
    "legacy_kernel",
    "legacy_password",
    "legacy_source",
    "linux",
    "linux16",
    "linuxefi",
    "list_env",
    "list_trusted",
    "load_env",
    "loadbios",
    "loadfont",
    "loopback",
    "ls",
    "lsacpi",
    "lsapm",
    "lscoreboot",
    "lsefi",
    "lsefimmap",
    "lsefisystab",
    "lsfonts",
    "lsmmap",
    "lsmod",
    "lspci",
    "lssal",
    "macppcbless",
    "mactelbless",
    "md5sum",
    "menuentry",
    "module",
    "module2",
    "multiboot",
    "multiboot2",
    "nativedisk",
    "net_add_addr",
    "net_add_dns",
    "net_add_route",
    "net_bootp",
    "net_bootp6",
    "net_del_addr",
    "net_del_dns",
    "net_del_route",
    "net_dhcp",
    "net_get_dhcp_option",
    "net_ipv6_autoconf",
    "net_ls_addr",
    "net_ls_cards",
    "net_ls_dns",
    "net_ls_routes",
    "net_nslookup",
    "net_set_vlan",
    "normal",
    "normal_exit",
    "ntldr",
    "outb",
    "outl",
    "outw",
    "parttool",
    "password",
    "password_pbkdf2",
    "pcidump",
    "plainmount",
    "plan9",
    "play",
    "probe",
    "pxechainloader",
    "rdmsr",
    "read",
    "read_byte",
    "read_dword",
    "read_word",
    "reboot",
    "regexp",
    "return",
    "rmmod",
    "save_env",
    "search",
    "search.file",
    "search.fs_label",
    "search.fs_uuid",
    "sendkey",
    "serial",
    "set",
    "setparams",
    "setpci",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "shift",
    "sleep",
    "smbios",
    "source",
    "submenu",
    "syslinux_configfile",
    "syslinux_source",
    "terminal_input",
    "terminal_output",
    "terminfo",
    "test",
    "test_blockarg",
    "testload",
    "testspeed",
    "time",
    "tr",
    "true",
    "truecrypt",
    "trust",
    "unset",
    "usb",
    "vbeinfo",
    "vbetest",
    "verify_detached",
    "videoinfo",
    "videotest",
    "write_byte",
    "write_dword",
    "write_word",
    "wrmsr",
    "xnu_devprop_load",
    "xnu_kernel",
    "xnu_kernel64",
    "xnu_kext",
    "xnu_kextdir",
    "xnu_mkext",
    "xnu_ramdisk",
    "xnu_resume",
    "xnu_splash",
    "xnu_uuid",
    "zfs-bootfs",
    "zfsinfo",
    "zfskey",
];

/// Loaders other than Linux: booting one of them boots no Linux kernel.
const OTHER_LOADERS: &[&str] = &[
    "chainloader",
    "pxechainloader",
    "multiboot",
    "multiboot2",
    "kfreebsd",
    "knetbsd",
    "kopenbsd",
    "xnu_kernel",
    "xnu_kernel64",
    "appleloader",
    "ntldr",
    "freedos",
    "plan9",
    "truecrypt",
    "legacy_kernel",
];

#[derive(Debug, Clone)]
struct Var {
    value: String,
    exported: bool,
}

/// One environment context and its menu.
#[derive(Debug, Default)]
struct Frame {
    vars: HashMap<String, Var>,
    menu: Vec<MenuEntry>,
}

#[derive(Debug)]
struct Function {
    body: Rc<Vec<Stmt>>,
    executing: u32,
}

/// What GRUB has loaded to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loader {
    Linux {
        command: String,
        kernel: String,
        args: Vec<String>,
        initrds: Vec<String>,
    },
    Other {
        command: String,
        target: String,
    },
}

/// A menu entry being run, for the report.
#[derive(Debug, Clone)]
pub(super) struct Running {
    pub title: String,
    pub id: Option<String>,
    pub chosen: String,
    pub bls: bool,
    pub line: usize,
}

/// How GRUB ends: it boots what is loaded (`loader` set), or leaves
/// otherwise (`action` says how: firmware setup, reboot, waiting for the
/// user).
#[derive(Debug, Clone)]
pub(super) struct Done {
    pub loader: Option<Loader>,
    pub action: String,
    /// The entries being run (outermost first).
    pub entries: Vec<Running>,
}

/// Why evaluation stopped before the end.
#[derive(Debug, Clone)]
pub(super) enum Halt {
    Done(Box<Done>),
    /// One of kexecctl's bounds was hit.
    Limit(String),
}

pub(super) type Run<T> = Result<T, Halt>;

/// The evaluator: GRUB's global state.
pub struct Eval<'h> {
    pub(super) host: &'h dyn GrubHost,
    frames: Vec<Frame>,
    functions: HashMap<String, Function>,
    scope: Option<Vec<String>>,
    function_return: bool,
    active_loops: u64,
    active_breaks: u64,
    is_continue: bool,
    pub(super) loader: Option<Loader>,
    steps: u64,
    depth: usize,
    /// Environment blocks as GRUB's writes left them, by GRUB path.
    blocks: HashMap<String, Option<Vec<u8>>>,
    pub(super) writes: Vec<GrubenvWrite>,
    pub(super) refused: Vec<RefusedWrite>,
    pub(super) messages: Vec<String>,
    pub(super) running: Vec<Running>,
    /// The entries of the last run that did not boot (for messages).
    pub(super) attempted: Vec<Running>,
    pub(super) flavor: Flavor,
    /// Bits of GRUB's `unsigned long` (32 when `grub_cpu` is i386, else 64).
    pub(super) long_bits: u32,
    pub(super) bls_ran: bool,
    /// `default` when the top-level menu was shown.
    pub(super) top_default: Option<String>,
}

impl<'h> Eval<'h> {
    pub fn new(host: &'h dyn GrubHost, initial: Vec<(String, String)>, flavor: Flavor) -> Self {
        let mut frame = Frame::default();
        for (name, value) in initial {
            frame.vars.insert(
                name,
                Var {
                    value,
                    exported: true,
                },
            );
        }
        // i386-pc GRUB has a 32-bit `unsigned long`; 64-bit platforms 64.
        let long_bits = match frame.vars.get("grub_cpu") {
            Some(v) if v.value == "i386" => 32,
            _ => 64,
        };
        Eval {
            host,
            frames: vec![frame],
            functions: HashMap::new(),
            scope: None,
            function_return: false,
            active_loops: 0,
            active_breaks: 0,
            is_continue: false,
            loader: None,
            steps: 0,
            depth: 0,
            blocks: HashMap::new(),
            writes: Vec::new(),
            refused: Vec::new(),
            messages: Vec::new(),
            running: Vec::new(),
            attempted: Vec::new(),
            flavor,
            long_bits,
            bls_ran: false,
            top_default: None,
        }
    }

    // -- variables ---------------------------------------------------------

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the initial context")
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.frames
            .last()
            .and_then(|f| f.vars.get(name))
            .map(|v| v.value.as_str())
    }

    pub(super) fn set(&mut self, name: &str, value: &str) -> Run<()> {
        if value.len() > MAX_VALUE {
            return Err(Halt::Limit(format!(
                "variable `{name}` would be longer than {MAX_VALUE} bytes"
            )));
        }
        let frame = self.frame();
        match frame.vars.get_mut(name) {
            Some(v) => v.value = value.to_string(),
            None => {
                frame.vars.insert(
                    name.to_string(),
                    Var {
                        value: value.to_string(),
                        exported: false,
                    },
                );
            }
        }
        Ok(())
    }

    pub(super) fn unset(&mut self, name: &str) {
        if HOOKED.contains(&name) {
            if let Some(v) = self.frame().vars.get_mut(name) {
                v.value.clear();
            }
        } else {
            self.frame().vars.remove(name);
        }
    }

    pub(super) fn export(&mut self, name: &str) {
        let frame = self.frame();
        frame
            .vars
            .entry(name.to_string())
            .or_insert(Var {
                value: String::new(),
                exported: false,
            })
            .exported = true;
    }

    /// Opens a context: a copy of the exported variables and an empty menu.
    pub(super) fn open_context(&mut self) {
        let vars = self
            .frames
            .last()
            .map(|f| {
                f.vars
                    .iter()
                    .filter(|(_, v)| v.exported)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.frames.push(Frame {
            vars,
            menu: Vec::new(),
        });
    }

    pub(super) fn close_context(&mut self) {
        if self.frames.len() > 1 {
            self.frames.pop();
        }
    }

    pub(super) fn take_menu(&mut self) -> Vec<MenuEntry> {
        std::mem::take(&mut self.frame().menu)
    }

    pub(super) fn message(&mut self, message: String) {
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(message);
        }
    }

    /// Charges `cost` steps; work proportional to data (copies of blocks,
    /// files, argument lists) is charged per 256 bytes so that no input
    /// makes evaluation slow, only long scripts.
    pub(super) fn step(&mut self, cost: u64) -> Run<()> {
        self.steps += cost;
        if self.steps > MAX_STEPS {
            return Err(Halt::Limit(format!(
                "the script did not finish within {MAX_STEPS} steps (an endless loop?)"
            )));
        }
        Ok(())
    }

    pub(super) fn enter(&mut self, what: &str) -> Run<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Halt::Limit(format!(
                "{what} nested more than {MAX_DEPTH} deep (endless recursion?)"
            )));
        }
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    // -- running scripts ---------------------------------------------------

    /// Runs lines as GRUB runs a file (`stop_on_error` false: a syntax
    /// error skips the logical line) or a string of code (`true`: it stops).
    pub(super) fn run_lines(&mut self, lines: &[Line], stop_on_error: bool) -> Run<i32> {
        let mut parser = Parser::new(lines);
        let mut ret = 0;
        while let Some(chunk) = parser.next_line() {
            let items = match chunk {
                Ok(items) => items,
                Err(e) => {
                    for f in e.functions {
                        self.define(f);
                    }
                    self.message(format!("line {}: {}", e.line, e.message));
                    if stop_on_error {
                        return Ok(status::INVALID_COMMAND);
                    }
                    continue;
                }
            };
            let mut stmts = Vec::new();
            for item in items {
                match item {
                    Item::Function { .. } => self.define(item),
                    Item::Stmt(s) => stmts.push(s),
                }
            }
            ret = self.exec_list(&stmts)?;
            self.set("?", &ret.to_string())?;
        }
        Ok(ret)
    }

    fn define(&mut self, item: Item) {
        let Item::Function { name, body } = item else {
            return;
        };
        match self.functions.get_mut(&name) {
            Some(f) if f.executing > 0 => {
                self.message(format!(
                    "attempt to redefine function `{name}` being executed"
                ));
            }
            Some(f) => f.body = body,
            None => {
                self.functions.insert(name, Function { body, executing: 0 });
            }
        }
    }

    pub(super) fn exec_list(&mut self, stmts: &[Stmt]) -> Run<i32> {
        let mut ret = 0;
        for stmt in stmts {
            if self.active_breaks > 0 {
                break;
            }
            ret = self.exec(stmt)?;
            if self.function_return {
                break;
            }
        }
        Ok(ret)
    }

    /// `grub_script_execute_cmd`: runs one statement and sets `$?`.
    fn exec(&mut self, stmt: &Stmt) -> Run<i32> {
        if matches!(stmt, Stmt::Cmd(_)) {
            return self.exec_statement(stmt);
        }
        self.enter("`if`, `for` and `while` commands")?;
        let result = self.exec_statement(stmt);
        self.leave();
        result
    }

    fn exec_statement(&mut self, stmt: &Stmt) -> Run<i32> {
        let ret = match stmt {
            Stmt::Cmd(cmd) => self.exec_cmdline(&cmd.words, cmd.block.as_ref(), cmd.line)?,
            Stmt::If {
                cond,
                then,
                otherwise,
            } => {
                let ret = self.exec_list(cond)?;
                self.set("?", &ret.to_string())?;
                if self.function_return {
                    ret
                } else if self.get("?") == Some("0") {
                    self.exec_branch(then)?
                } else {
                    match otherwise {
                        Some(body) => self.exec_branch(body)?,
                        None => 0,
                    }
                }
            }
            Stmt::For { var, words, body } => {
                let values = self.expand(words, None)?;
                self.active_loops += 1;
                let mut ret = 0;
                for value in values {
                    self.step(1)?;
                    if self.is_continue && self.active_breaks == 1 {
                        self.active_breaks = 0;
                    }
                    if self.active_breaks == 0 {
                        if !is_special(var) {
                            self.set(var, &value)?;
                        }
                        ret = self.exec_branch(body)?;
                        if self.function_return {
                            break;
                        }
                    }
                }
                if self.active_breaks > 0 {
                    self.active_breaks -= 1;
                }
                self.active_loops -= 1;
                ret
            }
            Stmt::While { until, cond, body } => {
                self.active_loops += 1;
                let mut ret;
                loop {
                    self.step(1)?;
                    ret = self.exec_branch(cond)?;
                    if self.function_return {
                        break;
                    }
                    if if *until { ret == 0 } else { ret != 0 } {
                        break;
                    }
                    ret = self.exec_branch(body)?;
                    if self.function_return {
                        break;
                    }
                    if self.active_breaks == 1 && self.is_continue {
                        self.active_breaks = 0;
                    }
                    if self.active_breaks > 0 {
                        break;
                    }
                }
                if self.active_breaks > 0 {
                    self.active_breaks -= 1;
                }
                self.active_loops -= 1;
                ret
            }
        };
        self.set("?", &ret.to_string())?;
        Ok(ret)
    }

    /// A list run as one command (GRUB sets `$?` after it).
    fn exec_branch(&mut self, stmts: &[Stmt]) -> Run<i32> {
        let ret = self.exec_list(stmts)?;
        self.set("?", &ret.to_string())?;
        Ok(ret)
    }

    /// `grub_script_execute_cmdline`.
    fn exec_cmdline(
        &mut self,
        words: &[Word],
        block: Option<&Rc<Vec<Stmt>>>,
        line: usize,
    ) -> Run<i32> {
        let args = self.expand(words, block.map(|_| ()))?;
        let bytes: usize = args.iter().map(String::len).sum();
        self.step(1 + bytes as u64 / 256)?;
        let Some(first) = args.first() else {
            return Ok(0);
        };
        let (invert, name, rest) = if first == "!" {
            match args.get(1) {
                Some(name) => (true, name.clone(), &args[2..]),
                None => {
                    self.message("no command is specified".into());
                    return Ok(status::BAD_ARGUMENT);
                }
            }
        } else {
            (false, first.clone(), &args[1..])
        };
        let is_command = COMMANDS.contains(&name.as_str());
        let ret = if is_command {
            self.command(&name, rest, block, line)?
        } else if let Some(body) = self.functions.get(&name).map(|f| Rc::clone(&f.body)) {
            self.call_function(&name, body, rest.to_vec())?
        } else {
            match name.split_once('=') {
                Some((var, value)) if !is_special(var) => self.set(var, value)?,
                Some((var, _)) => self.message(format!("invalid variable name `{var}`")),
                None => self.message(format!("can't find command `{name}`")),
            }
            return Ok(0);
        };
        let ret = if invert {
            match ret {
                status::TEST_FAILURE => 0,
                0 => status::TEST_FAILURE,
                _ => 0,
            }
        } else {
            ret
        };
        self.set("?", &ret.to_string())?;
        Ok(ret)
    }

    fn call_function(&mut self, name: &str, body: Rc<Vec<Stmt>>, args: Vec<String>) -> Run<i32> {
        self.enter(&format!("function `{name}`"))?;
        let loops = std::mem::take(&mut self.active_loops);
        let old_scope = self.scope.replace(args);
        if let Some(f) = self.functions.get_mut(name) {
            f.executing += 1;
        }
        let result = self.exec_branch(&body);
        if let Some(f) = self.functions.get_mut(name) {
            f.executing -= 1;
        }
        self.function_return = false;
        self.active_loops = loops;
        self.scope = old_scope;
        self.leave();
        result
    }

    /// Runs `body` with positional parameters `args` (a menu entry's body).
    pub(super) fn with_scope<T>(
        &mut self,
        args: Vec<String>,
        f: impl FnOnce(&mut Self) -> Run<T>,
    ) -> Run<T> {
        let old = self.scope.replace(args);
        let result = f(self);
        self.scope = old;
        result
    }

    // -- expansion ---------------------------------------------------------

    /// The values of a variable reference: split on blanks when unquoted.
    fn values(&self, name: &str, split: bool) -> Vec<String> {
        if !is_special(name) {
            return match self.get(name) {
                Some(v) if !v.is_empty() => {
                    if split {
                        split_blanks(v)
                    } else {
                        vec![v.to_string()]
                    }
                }
                _ => Vec::new(),
            };
        }
        let Some(args) = &self.scope else {
            return Vec::new();
        };
        match name {
            "#" => vec![args.len().to_string()],
            "*" | "@" if split => split_blanks(&args.join(" ")),
            "*" if args.is_empty() => Vec::new(),
            "*" => vec![args.join(" ")],
            "@" => args.clone(),
            digits => {
                let n = digits.parse::<usize>().unwrap_or(usize::MAX);
                match n.checked_sub(1).and_then(|i| args.get(i)) {
                    Some(arg) if split => split_blanks(arg),
                    Some(arg) => vec![arg.clone()],
                    None => Vec::new(),
                }
            }
        }
    }

    /// Words to arguments (`grub_script_arglist_to_argv`). `block` stands
    /// for a `{ … }` block after the words: it is one more argument.
    pub(super) fn expand(&self, words: &[Word], block: Option<()>) -> Run<Vec<String>> {
        let mut args: Vec<Option<String>> = Vec::new();
        let next = |args: &mut Vec<Option<String>>| {
            if !matches!(args.last(), Some(None)) {
                args.push(None);
            }
        };
        let append = |args: &mut Vec<Option<String>>, s: &str| -> Run<()> {
            let slot = args.last_mut().expect("a slot");
            let current = slot.get_or_insert_with(String::new);
            if current.len() + s.len() > MAX_VALUE {
                return Err(Halt::Limit(format!(
                    "an argument would be longer than {MAX_VALUE} bytes"
                )));
            }
            current.push_str(s);
            Ok(())
        };
        for word in words {
            next(&mut args);
            for piece in word {
                match piece {
                    Piece::Text(raw) => {
                        if !raw.is_empty() {
                            append(&mut args, &unescape(raw))?;
                        }
                    }
                    Piece::Dq(s) | Piece::Sq(s) => append(&mut args, s)?,
                    Piece::Gettext(s) => append(&mut args, &self.gettext(s))?,
                    Piece::Var(name) | Piece::DqVar(name) => {
                        let split = matches!(piece, Piece::Var(_));
                        for (i, value) in self.values(name, split).iter().enumerate() {
                            if i > 0 {
                                next(&mut args);
                            }
                            append(&mut args, value)?;
                        }
                    }
                }
            }
        }
        if block.is_some() {
            next(&mut args);
            append(&mut args, "{…}")?;
        }
        if matches!(args.last(), Some(None)) {
            args.pop();
        }
        Ok(args.into_iter().flatten().collect())
    }

    /// `$"…"` without a translation: `$name` replaced, `\\` and `\$`
    /// resolved (GRUB's `parse_string`).
    fn gettext(&self, s: &str) -> String {
        let chars: Vec<char> = s.chars().collect();
        let mut out = String::new();
        let mut escaped = false;
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '\\' => {
                    escaped = !escaped;
                    if !escaped {
                        out.push('\\');
                    }
                    i += 1;
                }
                '$' if escaped => {
                    escaped = false;
                    out.push('$');
                    i += 1;
                }
                '$' => {
                    i += 1;
                    let (name, len) = match chars.get(i) {
                        Some('{') => match chars[i + 1..].iter().position(|&c| c == '}') {
                            Some(end) => (chars[i + 1..i + 1 + end].iter().collect(), end + 2),
                            None => return out,
                        },
                        Some(c) if c.is_ascii_digit() => {
                            let n = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                            (chars[i..i + n].iter().collect::<String>(), n)
                        }
                        Some(&c) if c.is_ascii_alphabetic() || c == '_' => {
                            let n = chars[i..]
                                .iter()
                                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                                .count();
                            (chars[i..i + n].iter().collect(), n)
                        }
                        Some(&c @ ('?' | '#')) => (c.to_string(), 1),
                        _ => {
                            out.push('$');
                            continue;
                        }
                    };
                    i += len;
                    if name == "#" {
                        if let Some(args) = &self.scope {
                            out.push_str(&args.len().to_string());
                            continue;
                        }
                    }
                    out.push_str(self.get(&name).unwrap_or(""));
                }
                c => {
                    if escaped {
                        out.push('\\');
                    }
                    escaped = false;
                    out.push(c);
                    i += 1;
                }
            }
        }
        out
    }

    // -- files -------------------------------------------------------------

    /// A file GRUB reads, as the host has it (the device part ignored).
    pub(super) fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        let path = strip_device(path);
        if !path.starts_with('/') {
            return None;
        }
        self.host.read_file(path)
    }

    /// An environment block, with the writes GRUB made to it so far.
    fn env_block(&mut self, path: &str) -> Run<Option<Vec<u8>>> {
        let key = strip_device(path).to_string();
        if !self.blocks.contains_key(&key) {
            let bytes = self.read_file(path);
            self.blocks.insert(key.clone(), bytes);
        }
        let block = self.blocks.get(&key).cloned().flatten();
        self.step(block.as_ref().map_or(0, |b| b.len() as u64 / 256))?;
        Ok(block)
    }

    fn env_file(&self, file: Option<&str>) -> Option<String> {
        match file {
            Some(f) => Some(f.to_string()),
            None => self.get("prefix").map(|p| format!("{p}/grubenv")),
        }
    }

    pub(super) fn load_env(&mut self, file: Option<&str>, names: &[String]) -> Run<i32> {
        let Some(path) = self.env_file(file) else {
            self.message("variable `prefix' isn't set".into());
            return Ok(status::FILE_NOT_FOUND);
        };
        let Some(block) = self.env_block(&path)? else {
            self.message(format!("file `{path}' not found"));
            return Ok(status::FILE_NOT_FOUND);
        };
        let Some(vars) = grubenv::iterate(&block) else {
            self.message("invalid environment block".into());
            return Ok(status::BAD_FILE_TYPE);
        };
        for (name, value) in vars {
            if names.is_empty() || names.contains(&name) {
                self.set(&name, &value)?;
            }
        }
        Ok(0)
    }

    pub(super) fn save_env(&mut self, file: Option<&str>, names: &[String]) -> Run<i32> {
        if names.is_empty() {
            self.message("no variable is specified".into());
            return Ok(status::BAD_ARGUMENT);
        }
        let Some(path) = self.env_file(file) else {
            self.message("variable `prefix' isn't set".into());
            return Ok(status::FILE_NOT_FOUND);
        };
        let Some(mut block) = self.env_block(&path)? else {
            self.message(format!("file `{path}' not found"));
            return Ok(status::FILE_NOT_FOUND);
        };
        let grub_path = strip_device(&path).to_string();
        let changes: Vec<(String, Option<String>)> = names
            .iter()
            .map(|n| (n.clone(), self.get(n).map(str::to_string)))
            .collect();
        if let Some(reason) = self.host.env_write_refusal(&grub_path) {
            self.message(format!("save_env {}: {reason}", names.join(" ")));
            self.refused
                .extend(changes.into_iter().map(|(name, value)| RefusedWrite {
                    write: GrubenvWrite {
                        file: grub_path.clone(),
                        name,
                        value,
                    },
                    reason: reason.clone(),
                }));
            return Ok(status::BAD_DEVICE);
        }
        if !grubenv::is_block(&block) {
            self.message("invalid environment block".into());
            return Ok(status::BAD_FILE_TYPE);
        }
        for (name, value) in &changes {
            let ok = match value {
                Some(v) => grubenv::set(&mut block, name, v),
                None => {
                    grubenv::delete(&mut block, name);
                    true
                }
            };
            if !ok {
                self.message("environment block too small".into());
                self.refused
                    .extend(changes.iter().map(|(name, value)| RefusedWrite {
                        write: GrubenvWrite {
                            file: grub_path.clone(),
                            name: name.clone(),
                            value: value.clone(),
                        },
                        reason: "environment block too small".into(),
                    }));
                return Ok(status::BAD_ARGUMENT);
            }
        }
        self.blocks.insert(grub_path.clone(), Some(block));
        self.writes
            .extend(changes.into_iter().map(|(name, value)| GrubenvWrite {
                file: grub_path.clone(),
                name,
                value,
            }));
        Ok(0)
    }

    /// `source` (same context, entries join the current menu).
    pub(super) fn source(&mut self, path: &str) -> Run<i32> {
        let Some(bytes) = self.read_file(path) else {
            return Ok(0);
        };
        self.step(bytes.len() as u64 / 256)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.enter(&format!("`source {path}`"))?;
        let result = self.read_config(path, &text);
        self.leave();
        result.map(|_| 0)
    }

    /// GRUB's `read_config_file`: `config_file` and `config_directory`
    /// name the file while it runs.
    pub(super) fn read_config(&mut self, path: &str, text: &str) -> Run<i32> {
        let old_file = self.get("config_file").map(str::to_string);
        let old_dir = self.get("config_directory").map(str::to_string);
        let full = if path.starts_with('(') {
            path.to_string()
        } else {
            format!("({}){path}", self.get("root").unwrap_or(""))
        };
        let dir = match full.rfind('/') {
            Some(i) => full[..i].to_string(),
            None => full.clone(),
        };
        self.set("config_file", &full)?;
        self.set("config_directory", &dir)?;
        self.export("config_file");
        self.export("config_directory");
        let lines = config_lines(text);
        let result = self.run_lines(&lines, false);
        match old_file {
            Some(v) => self.set("config_file", &v)?,
            None => self.unset("config_file"),
        }
        match old_dir {
            Some(v) => self.set("config_directory", &v)?,
            None => self.unset("config_directory"),
        }
        result
    }

    /// `eval`, and the body of an entry given as a string.
    pub(super) fn run_code(&mut self, code: &str) -> Run<i32> {
        let lines = code_lines(code);
        self.run_lines(&lines, true)
    }

    // -- commands ----------------------------------------------------------

    fn command(
        &mut self,
        name: &str,
        args: &[String],
        block: Option<&Rc<Vec<Stmt>>>,
        line: usize,
    ) -> Run<i32> {
        use status::*;
        Ok(match name {
            "set" => match args.first() {
                None => 0,
                Some(a) => match a.split_once('=') {
                    Some((k, v)) => {
                        self.set(k, v)?;
                        0
                    }
                    None => {
                        self.message(format!("not an assignment: `set {a}`"));
                        BAD_ARGUMENT
                    }
                },
            },
            "unset" => match args.first() {
                Some(a) => {
                    self.unset(a);
                    0
                }
                None => BAD_ARGUMENT,
            },
            "export" => {
                if args.is_empty() {
                    BAD_ARGUMENT
                } else {
                    for a in args {
                        self.export(a);
                    }
                    0
                }
            }
            "true" => 0,
            "false" => TEST_FAILURE,
            "[" | "test" => {
                let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
                if args.last() == Some(&"]") {
                    args.pop();
                }
                if super::test::evaluate(self, &args) {
                    0
                } else {
                    TEST_FAILURE
                }
            }
            "menuentry" | "submenu" => self.menuentry(name == "submenu", args, block, line)?,
            "source" | "." => {
                if args.len() != 1 {
                    BAD_ARGUMENT
                } else {
                    self.source(&args[0])?
                }
            }
            "configfile" => {
                if args.len() != 1 {
                    BAD_ARGUMENT
                } else {
                    self.configfile(&args[0])?
                }
            }
            "eval" => {
                self.enter("`eval`")?;
                let result = self.run_code(&args.join(" "));
                self.leave();
                result?
            }
            "load_env" | "save_env" | "list_env" => {
                let Some((file, names)) = env_options(args) else {
                    self.message(format!("{name}: bad option"));
                    return Ok(BAD_ARGUMENT);
                };
                match name {
                    "load_env" => self.load_env(file.as_deref(), &names)?,
                    "save_env" => self.save_env(file.as_deref(), &names)?,
                    _ => 0,
                }
            }
            "linux" | "linux16" | "linuxefi" => match args.split_first() {
                Some((kernel, rest)) => {
                    self.loader = Some(Loader::Linux {
                        command: name.to_string(),
                        kernel: kernel.clone(),
                        args: rest.to_vec(),
                        initrds: Vec::new(),
                    });
                    0
                }
                None => {
                    self.loader = None;
                    self.message("filename expected".into());
                    BAD_ARGUMENT
                }
            },
            "initrd" | "initrd16" | "initrdefi" => match &mut self.loader {
                Some(Loader::Linux { initrds, .. }) if !args.is_empty() => {
                    *initrds = args.to_vec();
                    0
                }
                Some(Loader::Linux { .. }) => {
                    self.message("filename expected".into());
                    BAD_ARGUMENT
                }
                _ => {
                    self.message("you need to load the kernel first".into());
                    NO_KERNEL
                }
            },
            "boot" => {
                if self.loader.is_some() {
                    return Err(self.halt_boot());
                }
                self.message("you need to load the kernel first".into());
                NO_KERNEL
            }
            "fwsetup" => {
                if self.get("grub_platform") != Some("efi") {
                    // Not a command on other platforms.
                    self.message("can't find command `fwsetup'".into());
                    return Ok(0);
                }
                let supported = self.host.firmware_setup_supported();
                if args.first().map(String::as_str) == Some("--is-supported") {
                    if supported { 0 } else { TEST_FAILURE }
                } else if supported {
                    return Err(self.halt_action("reboots into the firmware settings (fwsetup)"));
                } else {
                    self.message("fwsetup: the firmware cannot boot into its settings".into());
                    BAD_DEVICE
                }
            }
            "reboot" => return Err(self.halt_action("reboots (reboot)")),
            "halt" => return Err(self.halt_action("halts the machine (halt)")),
            "exit" | "normal_exit" => return Err(self.halt_action("leaves GRUB (exit)")),
            "blscfg" => {
                self.bls_ran = true;
                self.flavor = Flavor::RedHat;
                self.blscfg()?;
                0
            }
            "break" | "continue" => self.break_loop(name == "continue", args),
            "shift" => {
                let held = self.scope.as_ref().map_or(0, |a| a.len() as u64);
                self.step(held / 256)?;
                self.shift(args)
            }
            "setparams" => match &mut self.scope {
                Some(scope) => {
                    *scope = args.to_vec();
                    0
                }
                None => INVALID_COMMAND,
            },
            "return" => self.return_cmd(args),
            _ if OTHER_LOADERS.contains(&name) => match args.first() {
                Some(target) => {
                    self.loader = Some(Loader::Other {
                        command: name.to_string(),
                        target: target.clone(),
                    });
                    0
                }
                None => {
                    self.message("filename expected".into());
                    BAD_ARGUMENT
                }
            },
            // Every other GRUB command: no effect on what boots.
            _ => 0,
        })
    }

    fn break_loop(&mut self, is_continue: bool, args: &[String]) -> i32 {
        let count = match args {
            [] => 1,
            [n] => match parse_decimal(n) {
                Some(0) | None => return status::BAD_ARGUMENT,
                Some(n) => n,
            },
            _ => return status::BAD_ARGUMENT,
        };
        self.is_continue = is_continue;
        self.active_breaks = count.min(self.active_loops);
        0
    }

    fn shift(&mut self, args: &[String]) -> i32 {
        let Some(scope) = &mut self.scope else {
            return 0;
        };
        let n = match args {
            [] => 1,
            [n] => match parse_decimal(n) {
                Some(n) => n,
                None => return status::BAD_ARGUMENT,
            },
            _ => return status::BAD_ARGUMENT,
        };
        if n > scope.len() as u64 {
            return status::BAD_ARGUMENT;
        }
        scope.drain(..n as usize);
        0
    }

    fn return_cmd(&mut self, args: &[String]) -> i32 {
        if self.scope.is_none() || args.len() > 1 {
            self.message("not in function body".into());
            return status::BAD_ARGUMENT;
        }
        let Some(n) = args.first() else {
            self.function_return = true;
            return self
                .get("?")
                .and_then(|t| {
                    let digits: String = t
                        .trim_start_matches([' ', '\t', '\n', '\r'])
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    digits.parse::<u64>().ok()
                })
                .map_or(0, |v| v as i32);
        };
        match parse_decimal(n) {
            Some(v) => {
                self.function_return = true;
                v as i32
            }
            None => status::BAD_ARGUMENT,
        }
    }

    fn configfile(&mut self, path: &str) -> Run<i32> {
        self.enter(&format!("`configfile {path}`"))?;
        self.open_context();
        let result = (|| -> Run<()> {
            if let Some(bytes) = self.read_file(path) {
                self.step(bytes.len() as u64 / 256)?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.read_config(path, &text)?;
                let menu = self.take_menu();
                if !menu.is_empty() {
                    self.show_menu(menu, true, false)?;
                }
            }
            Ok(())
        })();
        self.close_context();
        self.leave();
        result.map(|_| 0)
    }

    /// `menuentry` / `submenu`: options as GRUB's argument parser takes
    /// them (anywhere, `--opt=value` or `--opt value`, unknown `-x`/`--x`
    /// are arguments), the title first of the rest.
    fn menuentry(
        &mut self,
        submenu: bool,
        args: &[String],
        block: Option<&Rc<Vec<Stmt>>>,
        line: usize,
    ) -> Run<i32> {
        // The block, when there is one, is the last argument.
        let args = if block.is_some() {
            &args[..args.len().saturating_sub(1)]
        } else {
            args
        };
        let mut positional = Vec::new();
        let mut id = None;
        let mut users = None;
        let mut unrestricted = false;
        let mut source = None;
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.starts_with("--") {
                positional.push(a.clone());
                continue;
            }
            if a == "--" {
                positional.extend(args[i..].iter().cloned());
                break;
            }
            let (opt, mut value) = match a[2..].split_once('=') {
                Some((o, v)) => (o, Some(v.to_string())),
                None => (&a[2..], None),
            };
            let takes_value = match opt {
                "class" | "users" | "hotkey" | "source" | "id" => true,
                "unrestricted" => false,
                "help" | "usage" => {
                    self.message(format!("{}: `--{opt}` given", menu_word(submenu)));
                    return Ok(status::BAD_ARGUMENT);
                }
                _ => {
                    positional.push(a.clone());
                    continue;
                }
            };
            if takes_value {
                if value.is_none() && args.get(i).is_some_and(|n| !n.starts_with('-')) {
                    value = Some(args[i].clone());
                    i += 1;
                }
                let Some(value) = value else {
                    self.message(format!("missing mandatory option for `{opt}'"));
                    return Ok(status::BAD_ARGUMENT);
                };
                match opt {
                    "id" => id = Some(value),
                    "users" => users = Some(value),
                    "source" => source = Some(value),
                    _ => {}
                }
            } else {
                if value.is_some() {
                    self.message(format!("a value was assigned to `--{opt}'"));
                    return Ok(status::BAD_ARGUMENT);
                }
                unrestricted = true;
            }
        }
        let body = match (block, source) {
            (Some(_), Some(_)) => {
                self.message("multiple menuentry definitions".into());
                return Ok(status::BAD_ARGUMENT);
            }
            (Some(b), None) => super::Body::Block(Rc::clone(b)),
            (None, Some(s)) => super::Body::Source(s),
            (None, None) => {
                self.message("no menuentry definition".into());
                return Ok(status::BAD_ARGUMENT);
            }
        };
        let Some(title) = positional.first().cloned() else {
            self.message("menuentry is missing title".into());
            return Ok(status::BAD_ARGUMENT);
        };
        let restricted = users.is_some() || !unrestricted;
        self.frame().menu.push(MenuEntry {
            title,
            id,
            args: positional,
            body,
            submenu,
            restricted,
            line,
            bls: false,
        });
        Ok(0)
    }

    /// A halt that boots what is loaded.
    pub(super) fn halt_boot(&self) -> Halt {
        Halt::Done(Box::new(Done {
            loader: self.loader.clone(),
            action: String::new(),
            entries: self.running.clone(),
        }))
    }

    pub(super) fn halt_action(&self, action: &str) -> Halt {
        let entries = if self.running.is_empty() {
            self.attempted.clone()
        } else {
            self.running.clone()
        };
        Halt::Done(Box::new(Done {
            loader: None,
            action: action.to_string(),
            entries,
        }))
    }

    pub(super) fn push_menu_entry(&mut self, entry: MenuEntry) {
        self.frame().menu.push(entry);
    }
}

fn menu_word(submenu: bool) -> &'static str {
    if submenu { "submenu" } else { "menuentry" }
}

/// `load_env`/`save_env` options: `-f FILE`, `--file[=]FILE`, `-s`,
/// `--skip-sig`; `None` on an option GRUB rejects.
fn env_options(args: &[String]) -> Option<(Option<String>, Vec<String>)> {
    let mut file = None;
    let mut names = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            names.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a.len() == 1 {
            names.push(a.clone());
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (opt, value) = match long.split_once('=') {
                Some((o, v)) => (o, Some(v.to_string())),
                None => (long, None),
            };
            match opt {
                "file" => {
                    let value = value.or_else(|| {
                        let v = args.get(i).filter(|n| !n.starts_with('-')).cloned();
                        if v.is_some() {
                            i += 1;
                        }
                        v
                    })?;
                    file = Some(value);
                }
                "skip-sig" if value.is_none() => {}
                _ => return None,
            }
            continue;
        }
        // Short options: `-s`, `-f FILE`, clusters such as `-sf FILE`.
        let shorts: Vec<char> = a[1..].chars().collect();
        for (k, c) in shorts.iter().enumerate() {
            match c {
                's' => {}
                'f' if k + 1 == shorts.len() => {
                    file = Some(args.get(i)?.clone());
                    i += 1;
                }
                _ => return None,
            }
        }
    }
    Some((file, names))
}

/// `$1`, `$#`, `$*`, `$@` and digits: GRUB refuses to assign them.
pub(super) fn is_special(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_digit()) || matches!(name, "#" | "*" | "@")
}

/// GRUB's blanks (`grub_isspace`).
pub(super) fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn split_blanks(s: &str) -> Vec<String> {
    s.split(is_blank)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Removes the backslash of each `\x` in unquoted text.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A whole decimal number (`grub_strtoul(s, &end, 10)` with nothing after).
fn parse_decimal(s: &str) -> Option<u64> {
    let t = s.trim_start_matches(is_blank);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// `(hd0,gpt2)/vmlinuz` → `/vmlinuz`.
pub fn strip_device(path: &str) -> &str {
    if path.starts_with('(') {
        if let Some(end) = path.find(')') {
            return &path[end + 1..];
        }
    }
    path
}

/// Turns an evaluated loader into the entry report.
pub(super) fn entry_of(loader: &Loader, entries: &[Running]) -> Option<GrubEntry> {
    let Loader::Linux {
        command,
        kernel,
        args,
        initrds,
    } = loader
    else {
        return None;
    };
    let last = entries.last();
    Some(GrubEntry {
        title: last.map(|e| e.title.clone()).unwrap_or_default(),
        id: last.and_then(|e| e.id.clone()),
        path: entries
            .iter()
            .map(|e| e.title.as_str())
            .collect::<Vec<_>>()
            .join(">"),
        chosen: last.map(|e| e.chosen.clone()).unwrap_or_default(),
        kernel: Some(strip_device(kernel).to_string()),
        kernel_arg: Some(kernel.clone()),
        initrds: initrds
            .iter()
            .map(|p| strip_device(p).to_string())
            .collect(),
        args: args.clone(),
        loader: Some(command.clone()),
        bls: last.is_some_and(|e| e.bls),
    })
}
