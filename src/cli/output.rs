//! The one place that prints results: text for admins, or one JSON object
//! per command for machines (`--json`; the shapes are documented in
//! `docs/json-schema.json`). Diagnostics go to stderr through `log`;
//! errors are printed once by [`Output::finish`].
//!
//! In JSON mode a command puts its fields ([`Output::plan`],
//! [`Output::put`]) and the object is printed once, at the end, with an
//! `error` member when the command failed — so a failing command still
//! prints what it had decided. A closed pipe (`kexecctl … | head`) ends
//! output quietly.

use std::cell::RefCell;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, ExitCode};
use crate::plan::{Action, LoadPlan, Plan, Step};

pub struct Output {
    pub json: bool,
    pub dry_run: bool,
    /// `kexec-load stop`, `kexecctl status`, ... (the personality and the
    /// action or command).
    command: String,
    fields: RefCell<Map<String, Value>>,
}

/// Writes to stdout; a closed pipe is not an error (the reader is gone).
fn write_stdout(text: &str) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            log::warn!("writing to standard output: {e}");
        }
    }
}

impl Output {
    pub fn new(command: impl Into<String>, json: bool, dry_run: bool) -> Self {
        Output {
            json,
            dry_run,
            command: command.into(),
            fields: RefCell::new(Map::new()),
        }
    }

    /// Renames the command once its action is known (`kexec-load stop`).
    pub fn set_command(&mut self, command: impl Into<String>) {
        self.command = command.into();
    }

    /// A line of text for admins (nothing in JSON mode).
    pub fn line(&self, text: impl AsRef<str>) {
        if !self.json {
            write_stdout(&format!("{}\n", text.as_ref()));
        }
    }

    /// Text without a newline (Debian's "Loading ...done." message).
    pub fn partial(&self, text: impl AsRef<str>) {
        if !self.json {
            write_stdout(text.as_ref());
        }
    }

    /// A status message on stderr (kdumpctl's `kdump: ...` lines), in
    /// both modes: machines read stdout.
    pub fn message(&self, text: impl AsRef<str>) {
        eprintln!("{}", text.as_ref());
    }

    /// A field of the JSON object.
    pub fn put(&self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.fields.borrow_mut().insert(key.to_string(), value);
    }

    /// The plan's fields (`action`, `reason`, `load`, `steps`, ...).
    pub fn plan(&self, plan: &Plan) {
        if let Ok(Value::Object(map)) = serde_json::to_value(plan) {
            self.fields.borrow_mut().extend(map);
        }
    }

    /// Prints what a dry run would do, as text (nothing in a real run).
    pub fn describe(&self, plan: &Plan) {
        if !self.json && self.dry_run {
            write_stdout(&format!("{}\n", describe(plan)));
        }
    }

    /// Ends the command: prints the JSON object (with `error` when it
    /// failed) and the error's one line on stderr; returns the exit code.
    pub fn finish(&self, personality: &str, result: Result<i32, Error>) -> i32 {
        let code = match &result {
            Ok(code) => *code,
            Err(e) => {
                // The error priority for the journal (see init_logging).
                let priority = if super::stderr_is_journal() {
                    super::journal_priority(log::Level::Error)
                } else {
                    ""
                };
                eprintln!("{priority}{personality}: {e}");
                e.code.code()
            }
        };
        if self.json {
            let mut object = Map::new();
            object.insert("command".into(), json!(self.command));
            object.insert("dry_run".into(), json!(self.dry_run));
            object.extend(self.fields.borrow().clone());
            object.insert("exit_code".into(), json!(code));
            if let Err(e) = &result {
                object.insert("error".into(), error_json(e));
            }
            let text = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
            write_stdout(&format!("{text}\n"));
        }
        code
    }
}

/// An error as JSON: its exit code and name, message, and location.
pub fn error_json(e: &Error) -> Value {
    let location = e.location.as_ref();
    json!({
        "exit_code": e.code.code(),
        "kind": e.code.name(),
        "message": e.message,
        "file": location.map(|l| l.path.display().to_string()),
        "line": location.and_then(|l| l.line),
        "column": location.and_then(|l| l.column),
    })
}

/// The usage message an unknown action gets (Debian's and kdumpctl's).
pub fn usage(text: &str) {
    eprintln!("{text}");
}

fn describe_load(load: &LoadPlan, s: &mut String) {
    if let Some(e) = &load.entry {
        s.push_str(&format!("  entry:   {} ({})\n", e.path, e.source));
    }
    s.push_str(&format!("  kernel:  {}\n", load.kernel.display()));
    match load.initrds.as_slice() {
        [] => s.push_str("  initrd:  (none)\n"),
        list => {
            let names: Vec<String> = list.iter().map(|p| p.display().to_string()).collect();
            s.push_str(&format!("  initrd:  {}\n", names.join(" + ")));
        }
    }
    s.push_str(&format!("  cmdline: {}\n", load.cmdline));
}

fn describe_step(step: &Step, plan: &Plan) -> String {
    match step {
        Step::RemoveFiles { paths, .. } => format!(
            "remove {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Step::Unload { crash: true, .. } => "unload the crash kernel".into(),
        Step::Unload { crash: false, .. } => "unload the kexec kernel".into(),
        Step::BuildInitrd { program, .. } => format!("run {}", program.display()),
        Step::Load => match &plan.load {
            Some(l) if l.crash => "load the crash kernel (kexec_file_load, on crash)".into(),
            _ => "load the kernel (kexec_file_load)".into(),
        },
        Step::WriteRecord { path } => format!("record the load in {}", path.display()),
        Step::UpdateGrubenv { path, writes } => format!(
            "{} in {}, as GRUB would booting the entry",
            writes
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("set {k}={v}"),
                    None => format!("unset {k}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
            path.display()
        ),
        Step::Sysctl { path, value } => format!("write {value} to {}", path.display()),
        Step::CreateMarker { path } => format!("create {}", path.display()),
        Step::Sync => "sync file systems".into(),
        Step::RebootKexec => "reboot into the loaded kernel (kexec)".into(),
        Step::Run { program } => format!("run {}", program.display()),
        Step::WriteAttempt { path, attempt, .. } => format!(
            "record kexec attempt {} ({}) in {}",
            attempt.id,
            format!("{:?}", attempt.state).to_lowercase(),
            path.display()
        ),
        Step::WriteQuarantine { path, kernels } => format!(
            "quarantine {} in {}",
            kernels
                .iter()
                .map(|k| k.kernel.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            path.display()
        ),
        Step::ArmWatchdog {
            device,
            timeout_sec,
            ..
        } => format!(
            "arm the watchdog {}: reset in {timeout_sec} s unless the new system confirms",
            device.display()
        ),
        Step::DisarmWatchdog { device, .. } => {
            format!("disarm the watchdog {}", device.display())
        }
    }
}

/// The plan as admins read it (`--dry-run`).
pub fn describe(plan: &Plan) -> String {
    let mut s = String::new();
    match (plan.action, &plan.load) {
        (Action::Skip, _) => {
            s.push_str(&format!(
                "would do nothing: {}\n",
                plan.reason.as_deref().unwrap_or("")
            ));
        }
        (_, Some(load)) => {
            s.push_str(if load.crash {
                "would load the crash kernel:\n"
            } else {
                "would load:\n"
            });
            describe_load(load, &mut s);
            if let Some(k) = &plan.kdump {
                if let Some(r) = &k.rebuild {
                    s.push_str(&format!(
                        "  rebuild: {} ({})\n",
                        if r.needed { "yes" } else { "no" },
                        r.reason
                    ));
                }
            }
        }
        (action, None) => {
            let what = match action {
                Action::Unload => "would unload",
                Action::Exec => "would reboot into the loaded kernel",
                Action::ColdReboot => "would reboot through the firmware",
                Action::Rebuild => "would rebuild the kdump initrd",
                _ => "would act",
            };
            match &plan.reason {
                Some(reason) => s.push_str(&format!("{what}: {reason}\n")),
                None => s.push_str(&format!("{what}\n")),
            }
        }
    }
    if !plan.steps.is_empty() {
        s.push_str("steps:\n");
        for (i, step) in plan.steps.iter().enumerate() {
            s.push_str(&format!("  {}. {}\n", i + 1, describe_step(step, plan)));
        }
    }
    s.trim_end().to_string()
}

/// The exit code table, as README and man pages show it.
pub fn exit_code_table() -> Vec<(i32, &'static str)> {
    ExitCode::ALL
        .iter()
        .map(|c| (c.code(), c.description()))
        .collect()
}
