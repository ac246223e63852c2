//! What a command is about to do, decided without side effects.
//!
//! Every command follows one shape: parse → read [facts](crate::facts) →
//! plan → show → [act](crate::act). A planner is a pure function of facts
//! and configuration that returns one [`Plan`]: the action and why, the
//! kernel to load (if any), and the ordered [`Step`]s that change the
//! system. `--dry-run` shows the plan; `--json` prints it; the act step
//! carries it out through [`crate::system::System`].
//!
//! One planner per concern: [`reboot`] (kexec-load, kexecctl
//! load/unload/exec/status, coldreboot), [`kdump`] (kdump-setup),
//! [`fastreboot`], [`guard`] (the watchdog-guarded kexec: attempts,
//! arming, confirmation, quarantine), and [`expect`] (an orchestrator's
//! expectations of a reboot, for `status --expect-*`).

pub mod expect;
pub mod fastreboot;
pub mod guard;
pub mod kdump;
pub mod reboot;

use std::path::PathBuf;

use serde::Serialize;

use crate::boot::BootEntry;
use crate::system::Program;

/// What a plan does, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Load a kernel (for a kexec reboot, or as the crash kernel).
    Load,
    /// Nothing to do; `reason` says why.
    Skip,
    /// Unload a kernel.
    Unload,
    /// Reboot into the loaded kernel now.
    Exec,
    /// Make the coming reboot go through the firmware, then reboot.
    ColdReboot,
    /// Load the kernel, then ask the init system for a kexec reboot.
    FastReboot,
    /// Rebuild the kdump initrd.
    Rebuild,
    /// Arm the watchdog for a kexec another program makes.
    Arm,
    /// Confirm the running boot's kexec attempt and hand the watchdog over.
    Confirm,
    /// Record a kexec attempt that never confirmed and quarantine its kernel.
    Quarantine,
    /// Let quarantined kernels be kexeced again.
    ClearQuarantine,
}

/// The kernel a plan loads. Paths are as seen inside the root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadPlan {
    pub kernel: PathBuf,
    /// Loaded as one initramfs, concatenated in this order (as GRUB does).
    pub initrds: Vec<PathBuf>,
    pub cmdline: String,
    /// Load as the crash (kdump) kernel.
    pub crash: bool,
    /// The boot-loader entry the kernel came from, if any.
    pub entry: Option<BootEntry>,
    /// Ask the kernel to log its loader decisions (KEXEC_FILE_DEBUG).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub debug: bool,
    /// Options for `/sbin/kexec` when the load is handed to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kexec_tools_args: Vec<String>,
    /// Why the load must be handed to `/sbin/kexec` (options only
    /// kexec-tools understands were asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kexec_tools_reason: Option<String>,
}

impl LoadPlan {
    pub fn new(
        kernel: impl Into<PathBuf>,
        initrds: Vec<PathBuf>,
        cmdline: impl Into<String>,
    ) -> Self {
        LoadPlan {
            kernel: kernel.into(),
            initrds,
            cmdline: cmdline.into(),
            crash: false,
            entry: None,
            debug: false,
            kexec_tools_args: Vec::new(),
            kexec_tools_reason: None,
        }
    }
}

/// How a failing step is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Stop: nothing after it is done; what was done before is undone where
    /// it can be (a load is unloaded again).
    Stop,
    /// Warn and go on (a reboot must still happen; a record is a nicety).
    Warn,
}

/// One change to the system, in the order a plan makes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Remove one-shot markers (they are consumed).
    RemoveFiles {
        paths: Vec<PathBuf>,
        on_error: OnError,
    },
    /// Unload the kexec (or crash) kernel.
    Unload { crash: bool, on_error: OnError },
    /// Build the kdump initrd (mkdumprd).
    BuildInitrd { program: Program, initrd: PathBuf },
    /// Load the plan's kernel (after its pre-flight checks).
    Load,
    /// Record what was loaded, for `status`.
    WriteRecord { path: PathBuf },
    /// Make grubenv's changes GRUB would make when booting the entry, in
    /// GRUB's order (where a new variable lands depends on it): a value is
    /// set, `None` deletes.
    UpdateGrubenv {
        path: PathBuf,
        writes: Vec<(String, Option<String>)>,
    },
    /// Write a sysctl (`kernel.panic_on_oops`).
    Sysctl { path: PathBuf, value: String },
    /// Create an (empty) marker file.
    CreateMarker { path: PathBuf },
    /// Flush file systems.
    Sync,
    /// `reboot(LINUX_REBOOT_CMD_KEXEC)`: does not return on success.
    RebootKexec,
    /// Run a program (reboot, systemctl kexec); its status ends the command.
    Run { program: Program },
    /// Write the kexec attempt's record (persistent, on the root file
    /// system). `Stop`: a failure unloads the kernel this plan loaded.
    WriteAttempt {
        path: PathBuf,
        attempt: Box<crate::facts::attempt::Attempt>,
        on_error: OnError,
    },
    /// Write the list of quarantined kernels.
    WriteQuarantine {
        path: PathBuf,
        kernels: Vec<crate::facts::attempt::Quarantined>,
    },
    /// Arm the watchdog to reset the machine in `timeout_sec` (the last act
    /// before the jump). `Stop`: a failure unloads the kexec kernel, so the
    /// reboot goes through the firmware.
    ArmWatchdog {
        device: PathBuf,
        timeout_sec: u32,
        on_error: OnError,
    },
    /// Stop the watchdog (the hand-over in a confirmed boot).
    DisarmWatchdog { device: PathBuf, on_error: OnError },
}

/// Details of a kdump plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KdumpDetails {
    /// `redhat` (/etc/sysconfig/kdump) or `debian` (/etc/default/kdump-tools).
    pub family: crate::kdump::Family,
    /// Whether and why the kdump initrd is rebuilt (Red Hat only).
    pub rebuild: Option<crate::kdump::Rebuild>,
    /// The KEXEC_ARGS / KDUMP_KEXEC_ARGS words.
    pub kexec_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub action: Action,
    /// Why: the reason for a skip, or what decided the action.
    pub reason: Option<String>,
    pub load: Option<LoadPlan>,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kdump: Option<KdumpDetails>,
    /// Said before anything is done (and in JSON).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn new(action: Action) -> Self {
        Plan {
            action,
            reason: None,
            load: None,
            steps: Vec::new(),
            kdump: None,
            warnings: Vec::new(),
        }
    }

    pub fn skip(reason: impl Into<String>) -> Self {
        Plan {
            reason: Some(reason.into()),
            ..Plan::new(Action::Skip)
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn with_steps(mut self, steps: Vec<Step>) -> Self {
        self.steps = steps;
        self
    }

    /// Whether the plan acts on the running system — the running kernel
    /// (a load or unload), its watchdog, a program that reboots — rather
    /// than only on files under the root.
    pub fn acts_on_running_system(&self) -> bool {
        self.reboots()
            || self
                .steps
                .iter()
                .any(|s| matches!(s, Step::Load | Step::Unload { .. }))
    }

    /// Whether the plan runs a program or reboots (acts on the running
    /// system, not only on files and kernels).
    pub fn reboots(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                Step::Run { .. }
                    | Step::RebootKexec
                    | Step::ArmWatchdog { .. }
                    | Step::DisarmWatchdog { .. }
            )
        })
    }
}
